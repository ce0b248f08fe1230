//! Recursive-descent parser for the USQL subset of DESIGN.md §8, and the checks that need the
//! whole query (types of comparisons, grouping). Field names resolve here against the fixed
//! field list, so the translator only ever sees known fields and validated property keys.

use super::fields::{self, FieldDef, UsqlTable, ValueType};
use super::lexer::{tokenize, Tok, Token};
use super::UsqlError;
use rumprops::config::is_valid_key;

/// The largest `LIMIT`.
pub const MAX_LIMIT: u32 = 5000;

/// The table a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `usersession`: one row per session (per action when action fields are selected).
    UserSession,
    /// `useraction`: one row per action.
    UserAction,
}

/// Whose field: the session's or the action's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A session field or property.
    Session,
    /// An action field or property.
    Action,
}

/// How values of a field compare: text with strings, numbers with numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// Compared with string literals.
    Text,
    /// Compared with number literals (longs, doubles, dates as epoch ms).
    Number,
    /// Compared with `TRUE` and `FALSE`.
    Boolean,
}

/// A property type, as in the beacon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropKind {
    /// `stringProperties`
    String,
    /// `longProperties`
    Long,
    /// `doubleProperties`
    Double,
    /// `dateProperties`
    Date,
}

impl PropKind {
    /// The type name stored in the property tables.
    pub fn name(self) -> &'static str {
        match self {
            PropKind::String => "string",
            PropKind::Long => "long",
            PropKind::Double => "double",
            PropKind::Date => "date",
        }
    }
}

/// What a field refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// A built-in field.
    Builtin(&'static FieldDef),
    /// A typed property with a validated key.
    Prop(PropKind, String),
}

/// A resolved field reference.
#[derive(Debug, Clone)]
pub struct Field {
    /// Whose field.
    pub scope: Scope,
    /// Which field.
    pub kind: FieldKind,
    /// Where it starts in the query.
    pub pos: usize,
}

impl PartialEq for Field {
    /// Two references to the same field are equal wherever they are written.
    fn eq(&self, other: &Field) -> bool {
        self.scope == other.scope && self.kind == other.kind
    }
}

impl Field {
    /// Value kind of the field.
    pub fn value_kind(&self) -> ValueKind {
        match &self.kind {
            FieldKind::Builtin(b) => match b.ty {
                ValueType::Text | ValueType::TextArray | ValueType::Ip => ValueKind::Text,
                ValueType::Long | ValueType::Double | ValueType::Date => ValueKind::Number,
                ValueType::Boolean => ValueKind::Boolean,
            },
            FieldKind::Prop(PropKind::String, _) => ValueKind::Text,
            FieldKind::Prop(_, _) => ValueKind::Number,
        }
    }
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A string.
    Str(String),
    /// An integer (exact i64).
    Int(i64),
    /// A decimal number.
    Float(f64),
    /// `TRUE` or `FALSE`.
    Bool(bool),
}

impl Literal {
    fn kind(&self) -> ValueKind {
        match self {
            Literal::Str(_) => ValueKind::Text,
            Literal::Bool(_) => ValueKind::Boolean,
            _ => ValueKind::Number,
        }
    }
}

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFunc {
    /// `COUNT`
    Count,
    /// `SUM`
    Sum,
    /// `AVG`
    Avg,
    /// `MIN`
    Min,
    /// `MAX`
    Max,
    /// `MEDIAN`
    Median,
    /// `PERCENTILE(x, p)`
    Percentile,
}

/// A select-list expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A plain field.
    Field(Field),
    /// `COUNT(*)`.
    CountStar,
    /// An aggregate over a field; `pct` is set for `PERCENTILE` (and 50 for `MEDIAN`).
    Agg {
        /// The function.
        func: AggFunc,
        /// Its argument.
        field: Field,
        /// `COUNT(DISTINCT …)`.
        distinct: bool,
        /// The percentile of MEDIAN (50) and PERCENTILE.
        pct: Option<f64>,
    },
}

impl Expr {
    /// Whether the expression aggregates rows.
    pub fn is_aggregate(&self) -> bool {
        !matches!(self, Expr::Field(_))
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `!=` or `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A WHERE condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// `a AND b`
    And(Box<Cond>, Box<Cond>),
    /// `a OR b`
    Or(Box<Cond>, Box<Cond>),
    /// `NOT a`
    Not(Box<Cond>),
    /// `field op literal`
    Cmp(Field, CmpOp, Literal),
    /// `field [NOT] IN (literals)`
    In(Field, Vec<Literal>, bool),
    /// `field IS [NOT] NULL` (the flag is true for `IS NOT NULL`)
    IsNull(Field, bool),
    /// `field [NOT] LIKE pattern`
    Like(Field, String, bool),
    /// `field [NOT] STARTSWITH prefix`
    StartsWith(Field, String, bool),
    /// `field [NOT] BETWEEN lo AND hi`
    Between(Field, Literal, Literal, bool),
}

/// One select-list item.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectItem {
    /// The expression.
    pub expr: Expr,
    /// The column name: the alias, or the expression as written.
    pub name: String,
}

/// What an ORDER BY item sorts by.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderKey {
    /// A select-list column (by alias or position), 0-based.
    Column(usize),
    /// An expression.
    Expr(Expr),
}

/// A parsed, checked query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// `SELECT DISTINCT`.
    pub distinct: bool,
    /// The select list.
    pub items: Vec<SelectItem>,
    /// The FROM table.
    pub table: Table,
    /// The WHERE condition.
    pub filter: Option<Cond>,
    /// GROUP BY fields.
    pub group_by: Vec<Field>,
    /// ORDER BY keys and whether descending.
    pub order_by: Vec<(OrderKey, bool)>,
    /// LIMIT, if given.
    pub limit: Option<u32>,
}

impl Query {
    /// Whether the query aggregates (GROUP BY or an aggregate in the select list).
    pub fn is_aggregated(&self) -> bool {
        !self.group_by.is_empty() || self.items.iter().any(|i| i.expr.is_aggregate())
    }
}

/// Parses and checks a USQL query.
pub fn parse(input: &str) -> Result<Query, UsqlError> {
    let tokens = tokenize(input)?;
    let chars: Vec<char> = input.chars().collect();
    let mut p = Parser { tokens, i: 0, chars, table: Table::UserSession };
    p.query()
}

struct Parser {
    tokens: Vec<Token>,
    i: usize,
    chars: Vec<char>,
    table: Table,
}

const KEYWORDS: &[&str] = &[
    "select", "distinct", "from", "where", "group", "by", "order", "asc", "desc", "limit", "and", "or", "not", "in",
    "is", "null", "like", "startswith", "between", "as",
];

impl Parser {
    fn peek(&self) -> &Token {
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[self.i.min(last)]
    }

    fn pos(&self) -> usize {
        self.peek().pos
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.tokens.len() {
            self.i += 1;
        }
        t
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.peek().tok, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), UsqlError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("expected {}", kw.to_ascii_uppercase())))
        }
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<(), UsqlError> {
        if self.peek().tok == tok {
            self.i += 1;
            Ok(())
        } else {
            Err(self.unexpected(&format!("expected {what}")))
        }
    }

    fn unexpected(&self, expected: &str) -> UsqlError {
        let t = self.peek();
        let found = match &t.tok {
            Tok::End => "end of query".to_owned(),
            _ => format!("{:?}", self.text(t.pos, t.end)),
        };
        UsqlError::new(t.pos, format!("{expected}, found {found}"))
    }

    fn text(&self, from: usize, to: usize) -> String {
        self.chars.get(from..to).map(|c| c.iter().collect()).unwrap_or_default()
    }

    fn query(&mut self) -> Result<Query, UsqlError> {
        self.expect_kw("select")?;
        let distinct = self.eat_kw("distinct");
        // The FROM table decides what unprefixed names mean, so find it before reading the list.
        self.table = self.find_table()?;
        let mut items = Vec::new();
        loop {
            let start = self.pos();
            let expr = self.select_expr()?;
            let end = self.tokens.get(self.i.saturating_sub(1)).map_or(start, |t| t.end);
            let name = if self.eat_kw("as") {
                match self.bump() {
                    Token { tok: Tok::Str(s), .. } => s,
                    Token { tok: Tok::Word(w), .. } if !is_keyword(&w) => w,
                    t => return Err(UsqlError::new(t.pos, "expected an alias after AS")),
                }
            } else {
                self.text(start, end)
            };
            items.push(SelectItem { expr, name });
            if self.peek().tok != Tok::Comma {
                break;
            }
            self.i += 1;
        }
        self.expect_kw("from")?;
        self.i += 1; // the table name, read by find_table
        let filter = if self.eat_kw("where") { Some(self.or_cond()?) } else { None };
        let mut group_by = Vec::new();
        if self.eat_kw("group") {
            self.expect_kw("by")?;
            loop {
                group_by.push(self.field()?);
                if self.peek().tok != Tok::Comma {
                    break;
                }
                self.i += 1;
            }
        }
        let mut order_by = Vec::new();
        if self.eat_kw("order") {
            self.expect_kw("by")?;
            loop {
                let key = self.order_key(&items)?;
                let desc = if self.eat_kw("desc") {
                    true
                } else {
                    self.eat_kw("asc");
                    false
                };
                order_by.push((key, desc));
                if self.peek().tok != Tok::Comma {
                    break;
                }
                self.i += 1;
            }
        }
        let limit = if self.eat_kw("limit") {
            let t = self.bump();
            match &t.tok {
                Tok::Int(text) => match text.parse::<u32>() {
                    Ok(n) if n <= MAX_LIMIT => Some(n),
                    _ => return Err(UsqlError::new(t.pos, format!("LIMIT must be at most {MAX_LIMIT}"))),
                },
                _ => return Err(UsqlError::new(t.pos, "expected a row count after LIMIT")),
            }
        } else {
            None
        };
        if self.peek().tok != Tok::End {
            return Err(self.unexpected("expected end of query"));
        }
        let q = Query { distinct, items, table: self.table, filter, group_by, order_by, limit };
        check_grouping(&q)?;
        Ok(q)
    }

    /// Finds `FROM usersession|useraction` at nesting depth 0 without consuming anything.
    fn find_table(&mut self) -> Result<Table, UsqlError> {
        let mut depth = 0i32;
        for (j, t) in self.tokens.iter().enumerate().skip(self.i) {
            match &t.tok {
                Tok::LParen => depth += 1,
                Tok::RParen => depth -= 1,
                Tok::Word(w) if depth == 0 && w.eq_ignore_ascii_case("from") => {
                    let next = self.tokens.get(j + 1);
                    return match next.map(|t| &t.tok) {
                        Some(Tok::Word(n)) if n.eq_ignore_ascii_case("usersession") => Ok(Table::UserSession),
                        Some(Tok::Word(n)) if n.eq_ignore_ascii_case("useraction") => Ok(Table::UserAction),
                        _ => Err(UsqlError::new(
                            next.map_or(t.end, |n| n.pos),
                            "expected usersession or useraction after FROM",
                        )),
                    };
                }
                _ => {}
            }
        }
        let end = self.tokens.last().map_or(0, |t| t.pos);
        Err(UsqlError::new(end, "missing FROM usersession|useraction"))
    }

    fn select_expr(&mut self) -> Result<Expr, UsqlError> {
        let is_call = matches!(self.tokens.get(self.i + 1).map(|t| &t.tok), Some(Tok::LParen));
        let Tok::Word(w) = &self.peek().tok else {
            return Err(self.unexpected("expected a field or an aggregate"));
        };
        if !is_call {
            return Ok(Expr::Field(self.field()?));
        }
        let func_pos = self.pos();
        let func = match w.to_ascii_lowercase().as_str() {
            "count" => AggFunc::Count,
            "sum" => AggFunc::Sum,
            "avg" => AggFunc::Avg,
            "min" => AggFunc::Min,
            "max" => AggFunc::Max,
            "median" => AggFunc::Median,
            "percentile" => AggFunc::Percentile,
            _ => return Err(UsqlError::new(func_pos, format!("unknown function {w}"))),
        };
        self.i += 2; // name and (
        if func == AggFunc::Count && self.peek().tok == Tok::Star {
            self.i += 1;
            self.expect(Tok::RParen, ")")?;
            return Ok(Expr::CountStar);
        }
        let distinct = func == AggFunc::Count && self.eat_kw("distinct");
        let field = self.field()?;
        if matches!(func, AggFunc::Sum | AggFunc::Avg | AggFunc::Median | AggFunc::Percentile)
            && field.value_kind() != ValueKind::Number
        {
            return Err(UsqlError::new(field.pos, "this aggregate needs a numeric field"));
        }
        let pct = match func {
            AggFunc::Median => Some(50.0),
            AggFunc::Percentile => {
                self.expect(Tok::Comma, ", and a percentile")?;
                let t = self.bump();
                let p = match &t.tok {
                    Tok::Int(s) => s.parse::<f64>().ok(),
                    Tok::Float(x) => Some(*x),
                    _ => None,
                };
                match p {
                    Some(p) if (0.0..=100.0).contains(&p) => Some(p),
                    _ => return Err(UsqlError::new(t.pos, "percentile must be a number from 0 to 100")),
                }
            }
            _ => None,
        };
        self.expect(Tok::RParen, ")")?;
        Ok(Expr::Agg { func, field, distinct, pct })
    }

    fn order_key(&mut self, items: &[SelectItem]) -> Result<OrderKey, UsqlError> {
        let t = self.peek().clone();
        match &t.tok {
            Tok::Str(alias) => {
                self.i += 1;
                items
                    .iter()
                    .position(|it| &it.name == alias)
                    .map(OrderKey::Column)
                    .ok_or_else(|| UsqlError::new(t.pos, format!("no column named {alias:?}")))
            }
            Tok::Int(n) => {
                self.i += 1;
                match n.parse::<usize>() {
                    Ok(k) if (1..=items.len()).contains(&k) => Ok(OrderKey::Column(k - 1)),
                    _ => Err(UsqlError::new(t.pos, "no such column number")),
                }
            }
            _ => {
                let expr = self.select_expr()?;
                Ok(items.iter().position(|it| it.expr == expr).map_or(OrderKey::Expr(expr), OrderKey::Column))
            }
        }
    }

    /// `[useraction.|usersession.] (name | <type>Properties.key)`
    fn field(&mut self) -> Result<Field, UsqlError> {
        let start = self.pos();
        let mut scope = match self.table {
            Table::UserSession => Scope::Session,
            Table::UserAction => Scope::Action,
        };
        let first = self.word("a field name")?;
        let name = match first.to_ascii_lowercase().as_str() {
            "useraction" | "usersession" if self.peek().tok == Tok::Dot => {
                scope = if first.eq_ignore_ascii_case("useraction") { Scope::Action } else { Scope::Session };
                self.i += 1;
                self.word("a field name")?
            }
            _ => first,
        };
        let prop = match name.to_ascii_lowercase().as_str() {
            "stringproperties" => Some(PropKind::String),
            "longproperties" => Some(PropKind::Long),
            "doubleproperties" => Some(PropKind::Double),
            "dateproperties" => Some(PropKind::Date),
            _ => None,
        };
        if let Some(kind) = prop {
            self.expect(Tok::Dot, ". and a property key")?;
            let key_pos = self.pos();
            let mut key = self.word("a property key")?;
            // Keys are dotted (`cart.total`): read `word(.word)*` with nothing in between.
            while self.peek().tok == Tok::Dot && self.tokens.get(self.i + 1).is_some_and(|t| matches!(t.tok, Tok::Word(_))) {
                key.push('.');
                self.i += 1;
                key.push_str(&self.word("a property key")?);
            }
            if !is_valid_key(&key) {
                return Err(UsqlError::new(key_pos, format!("invalid property key {key:?}")));
            }
            return Ok(Field { scope, kind: FieldKind::Prop(kind, key), pos: start });
        }
        let table = |scope| match scope {
            Scope::Session => UsqlTable::UserSession,
            Scope::Action => UsqlTable::UserAction,
        };
        fields::lookup(table(scope), &name)
            .map(|b| Field { scope, kind: FieldKind::Builtin(b), pos: start })
            .ok_or_else(|| {
                let (whose, other, prefix) = match scope {
                    Scope::Session => ("session", Scope::Action, "useraction"),
                    Scope::Action => ("action", Scope::Session, "usersession"),
                };
                let hint = match fields::lookup(table(other), &name) {
                    Some(b) => format!(" (write {prefix}.{} for the field of the {})", b.name, if other == Scope::Session { "session" } else { "action" }),
                    None => String::new(),
                };
                UsqlError::new(start, format!("unknown {whose} field {name:?}{hint}"))
            })
    }

    fn word(&mut self, what: &str) -> Result<String, UsqlError> {
        match &self.peek().tok {
            Tok::Word(w) => {
                let w = w.clone();
                self.i += 1;
                Ok(w)
            }
            _ => Err(self.unexpected(&format!("expected {what}"))),
        }
    }

    fn or_cond(&mut self) -> Result<Cond, UsqlError> {
        let mut left = self.and_cond()?;
        while self.eat_kw("or") {
            let right = self.and_cond()?;
            left = Cond::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_cond(&mut self) -> Result<Cond, UsqlError> {
        let mut left = self.not_cond()?;
        while self.eat_kw("and") {
            let right = self.not_cond()?;
            left = Cond::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not_cond(&mut self) -> Result<Cond, UsqlError> {
        if self.eat_kw("not") {
            return Ok(Cond::Not(Box::new(self.not_cond()?)));
        }
        if self.peek().tok == Tok::LParen {
            self.i += 1;
            let c = self.or_cond()?;
            self.expect(Tok::RParen, ")")?;
            return Ok(c);
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Cond, UsqlError> {
        if matches!(self.tokens.get(self.i + 1).map(|t| &t.tok), Some(Tok::LParen)) {
            return Err(UsqlError::new(self.pos(), "aggregates are not allowed in WHERE"));
        }
        let field = self.field()?;
        if let Tok::Op(op) = self.peek().tok {
            self.i += 1;
            let op = match op {
                "=" => CmpOp::Eq,
                "!=" => CmpOp::Ne,
                "<" => CmpOp::Lt,
                "<=" => CmpOp::Le,
                ">" => CmpOp::Gt,
                _ => CmpOp::Ge,
            };
            let lit = self.literal_for(&field)?;
            return Ok(Cond::Cmp(field, op, lit));
        }
        if self.eat_kw("is") {
            let not = self.eat_kw("not");
            self.expect_kw("null")?;
            return Ok(Cond::IsNull(field, not));
        }
        let negated = self.eat_kw("not");
        if self.eat_kw("in") {
            self.expect(Tok::LParen, "(")?;
            let mut list = vec![self.literal_for(&field)?];
            while self.peek().tok == Tok::Comma {
                self.i += 1;
                list.push(self.literal_for(&field)?);
            }
            self.expect(Tok::RParen, ")")?;
            return Ok(Cond::In(field, list, negated));
        }
        if self.is_kw("like") || self.is_kw("startswith") {
            let like = self.is_kw("like");
            self.i += 1;
            if field.value_kind() != ValueKind::Text {
                return Err(UsqlError::new(field.pos, "LIKE and STARTSWITH need a string field"));
            }
            let Literal::Str(s) = self.literal_for(&field)? else {
                return Err(UsqlError::new(self.pos(), "expected a string"));
            };
            return Ok(if like { Cond::Like(field, s, negated) } else { Cond::StartsWith(field, s, negated) });
        }
        if self.eat_kw("between") {
            let lo = self.literal_for(&field)?;
            self.expect_kw("and")?;
            let hi = self.literal_for(&field)?;
            return Ok(Cond::Between(field, lo, hi, negated));
        }
        Err(self.unexpected("expected a comparison, IN, IS, LIKE, STARTSWITH or BETWEEN"))
    }

    /// A literal whose kind matches the field's: strings for text fields, numbers otherwise.
    fn literal_for(&mut self, field: &Field) -> Result<Literal, UsqlError> {
        let pos = self.pos();
        let negative = self.peek().tok == Tok::Minus;
        if negative {
            self.i += 1;
        }
        let t = self.bump();
        let lit = match (&t.tok, negative) {
            (Tok::Str(s), false) => Literal::Str(s.clone()),
            (Tok::Int(s), _) => {
                let text = if negative { format!("-{s}") } else { s.clone() };
                match text.parse::<i64>() {
                    Ok(n) => Literal::Int(n),
                    Err(_) => return Err(UsqlError::new(pos, "integer out of the i64 range")),
                }
            }
            (Tok::Float(x), _) => Literal::Float(if negative { -x } else { *x }),
            (Tok::Word(w), false) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            (Tok::Word(w), false) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            _ => return Err(UsqlError::new(t.pos, "expected a value (a string or a number)")),
        };
        if lit.kind() != field.value_kind() {
            let msg = match field.value_kind() {
                ValueKind::Text => "this field holds strings: compare it with a quoted string",
                ValueKind::Number => "this field holds numbers: compare it with a number",
                ValueKind::Boolean => "this field holds booleans: compare it with TRUE or FALSE",
            };
            return Err(UsqlError::new(pos, msg));
        }
        Ok(lit)
    }
}

fn is_keyword(w: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(w))
}

/// In an aggregated query every plain field of the select list and ORDER BY must be grouped.
fn check_grouping(q: &Query) -> Result<(), UsqlError> {
    if !q.is_aggregated() {
        for (key, _) in &q.order_by {
            if let OrderKey::Expr(e) = key {
                if e.is_aggregate() {
                    return Err(UsqlError::new(expr_pos(e), "ORDER BY an aggregate needs GROUP BY or aggregates in SELECT"));
                }
            }
        }
        return Ok(());
    }
    let grouped = |f: &Field| q.group_by.contains(f);
    for item in &q.items {
        if let Expr::Field(f) = &item.expr {
            if !grouped(f) {
                return Err(UsqlError::new(f.pos, "a field in SELECT must be in GROUP BY when the query aggregates"));
            }
        }
    }
    for (key, _) in &q.order_by {
        if let OrderKey::Expr(Expr::Field(f)) = key {
            if !grouped(f) {
                return Err(UsqlError::new(f.pos, "ORDER BY a field that is not in GROUP BY"));
            }
        }
    }
    Ok(())
}

fn expr_pos(e: &Expr) -> usize {
    match e {
        Expr::Field(f) | Expr::Agg { field: f, .. } => f.pos,
        Expr::CountStar => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(q: &str) -> (usize, String) {
        let e = parse(q).unwrap_err();
        (e.position, e.message)
    }

    #[test]
    fn seed_query_parses() {
        let q = parse("SELECT stringProperties.loyalty_status AS \"Loyalty status\", COUNT(useraction.requestErrorCount) AS \"HTTP error count\" FROM usersession WHERE stringProperties.loyalty_status IS NOT NULL GROUP BY stringProperties.loyalty_status").unwrap();
        assert_eq!(q.items[0].name, "Loyalty status");
        assert_eq!(q.items[1].name, "HTTP error count");
        assert_eq!(q.group_by.len(), 1);
        assert!(matches!(q.items[1].expr, Expr::Agg { func: AggFunc::Count, field: Field { scope: Scope::Action, .. }, .. }));
    }

    #[test]
    fn keywords_are_case_insensitive_and_names_default_to_source_text() {
        let q = parse("select count(*), max(duration) from UserSession where userType = 'REAL_USER' limit 7").unwrap();
        assert_eq!(q.items[0].name, "count(*)");
        assert_eq!(q.items[1].name, "max(duration)");
        assert_eq!(q.limit, Some(7));
    }

    #[test]
    fn table_decides_unprefixed_names() {
        let q = parse("SELECT name, usersession.userId FROM useraction").unwrap();
        let Expr::Field(f) = &q.items[0].expr else { panic!() };
        assert_eq!(f.scope, Scope::Action);
        let Expr::Field(f) = &q.items[1].expr else { panic!() };
        assert_eq!(f.scope, Scope::Session);
        assert_eq!(err("SELECT name FROM usersession"), (7, "unknown session field \"name\" (write useraction.name for the field of the action)".to_owned()));
    }

    #[test]
    fn dotted_keys_and_extremes() {
        let q = parse("SELECT COUNT(*) FROM usersession WHERE longProperties.cart.items = -9223372036854775808").unwrap();
        let Some(Cond::Cmp(f, CmpOp::Eq, Literal::Int(n))) = q.filter else { panic!() };
        assert_eq!(n, i64::MIN);
        assert_eq!(f.kind, FieldKind::Prop(PropKind::Long, "cart.items".into()));
    }

    #[test]
    fn error_positions() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "expected SELECT"),
            ("SELECT", 6, "missing FROM"),
            ("SELECT userId FROM sessions", 19, "expected usersession or useraction"),
            ("SELECT userId FROM usersession WHERE", 36, "expected a field name"),
            ("SELECT userId FROM usersession WHERE userId = 3", 46, "compare it with a quoted string"),
            ("SELECT userId FROM usersession WHERE duration = 'x'", 48, "compare it with a number"),
            ("SELECT userId FROM usersession WHERE stringProperties.Bad = 'x'", 54, "invalid property key"),
            ("SELECT bogus FROM usersession", 7, "unknown session field"),
            ("SELECT FOO(userId) FROM usersession", 7, "unknown function"),
            ("SELECT userId, COUNT(*) FROM usersession", 7, "must be in GROUP BY"),
            ("SELECT userId FROM usersession LIMIT 5001", 37, "at most 5000"),
            ("SELECT userId FROM usersession WHERE userId = 'a' extra", 50, "expected end of query"),
            ("SELECT userId FROM usersession WHERE COUNT(userId) > 1", 37, "not allowed in WHERE"),
            ("SELECT SUM(userId) FROM usersession", 11, "numeric field"),
            ("SELECT userId FROM usersession WHERE userId = 'x' OR", 52, "expected a field name"),
            ("SELECT userId FROM usersession WHERE longProperties.n = 9223372036854775808", 56, "out of the i64 range"),
            ("SELECT userId FROM usersession ORDER BY \"nope\"", 40, "no column named"),
            ("SELECT userId FROM usersession WHERE userId = 'it''s", 46, "unterminated string"),
            ("SELECT userId FROM usersession; DROP TABLE sessions", 30, "unexpected character"),
        ];
        for (q, pos, msg) in cases {
            let (p, m) = err(q);
            assert!(m.contains(msg), "{q}: {m:?} should contain {msg:?}");
            assert_eq!(p, *pos, "{q}: position ({m})");
        }
    }
}
