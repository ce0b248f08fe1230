//! Recursive-descent parser for USQL. It reads the text, resolves every name against the field
//! catalog (tables, prefixes, properties), types every value, and checks what needs the whole
//! query (grouping, FUNNEL, limits); the result is the typed [`Query`] plan. Every refusal is a
//! [`UsqlError`] with the character position it is about.

use super::fields::{self, UsqlTable, ValueType};
use super::lexer::{tokenize, Tok, Token};
use super::plan::*;
use super::time::{self, DatePart, Interval};
use super::UsqlError;
use rumprops::config::is_valid_key;

/// The largest `LIMIT`.
pub const MAX_LIMIT: u32 = 5000;
/// The most FUNNEL steps.
pub const MAX_FUNNEL_STEPS: usize = 10;
/// The most ORDER BY columns.
pub const MAX_ORDER_COLUMNS: usize = 5;
/// The largest product of the `TOP` sizes of a query's group keys (bucket limit).
pub const MAX_BUCKETS: u64 = 100_000;
/// A query with this many `LIKE` patterns whose wildcard is not only trailing is refused.
pub const MAX_INNER_LIKES: usize = 10;

/// Fields on which `COUNT(DISTINCT …)` is refused (too many different values), per table.
const NO_COUNT_DISTINCT: &[(UsqlTable, &[&str])] = &[
    (UsqlTable::UserSession, &["startTime", "endTime", "replayEnd", "clientTimeOffset", "duration", "replayStart"]),
    (
        UsqlTable::UserAction,
        &[
            "domContentLoadedTime", "startTime", "firstPartyBusyTime", "documentInteractiveTime", "navigationStart",
            "totalBlockingTime", "largestContentfulPaint", "visuallyCompleteTime", "cdnBusyTime", "endTime",
            "domCompleteTime", "networkTime", "loadEventStart", "serverTime", "firstInputDelay", "responseStart",
            "thirdPartyBusyTime", "duration", "loadEventEnd", "responseEnd", "frontendTime", "requestStart",
        ],
    ),
    (UsqlTable::UserEvent, &["startTime"]),
    (UsqlTable::UserError, &["startTime"]),
];

/// Parses and checks a USQL query.
pub fn parse(input: &str) -> Result<Query, UsqlError> {
    let tokens = tokenize(input)?;
    let chars: Vec<char> = input.chars().collect();
    let mut p = Parser { tokens, i: 0, chars, table: UsqlTable::UserSession, likes: Vec::new(), step_likes: Vec::new(), star: None };
    p.query()
}

struct Parser {
    tokens: Vec<Token>,
    i: usize,
    chars: Vec<char>,
    table: UsqlTable,
    /// Positions of the LIKE patterns seen whose wildcard is leading or inner.
    likes: Vec<usize>,
    /// Such LIKEs per FUNNEL step.
    step_likes: Vec<usize>,
    /// Where a `*` item is.
    star: Option<usize>,
}

const KEYWORDS: &[&str] = &[
    "select", "distinct", "from", "where", "group", "by", "order", "asc", "desc", "limit", "and", "or", "not", "in",
    "is", "null", "like", "startswith", "between", "as", "filter", "funnel", "json", "true", "false", "mod",
];

fn is_keyword(w: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(w))
}

/// A select item as read, before the whole-query checks.
struct Item {
    expr: Expr,
    name: String,
    filter: Option<(CmpOp, f64)>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[self.i.min(last)]
    }

    fn peek_at(&self, k: usize) -> &Tok {
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[(self.i + k).min(last)].tok
    }

    fn pos(&self) -> usize {
        self.peek().pos
    }

    /// Where the previous token ends.
    fn end(&self) -> usize {
        self.tokens.get(self.i.saturating_sub(1)).map_or(0, |t| t.end)
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

    fn is_call(&self) -> bool {
        matches!(self.peek().tok, Tok::Word(_)) && *self.peek_at(1) == Tok::LParen
    }

    fn query(&mut self) -> Result<Query, UsqlError> {
        self.expect_kw("select")?;
        let distinct_pos = self.pos();
        let distinct = self.eat_kw("distinct");
        // The FROM table decides what unprefixed names mean, so find it before reading the list.
        self.table = self.find_table()?;
        let mut items = Vec::new();
        let mut json = None;
        let mut funnel = None;
        if self.is_kw("funnel") && *self.peek_at(1) == Tok::LParen {
            funnel = Some(self.pos());
            items = self.funnel()?;
        } else {
            loop {
                if self.is_kw("json") && matches!(self.peek_at(1), Tok::Comma | Tok::Word(_)) {
                    json = Some(self.pos());
                    self.i += 1;
                } else {
                    self.select_item(&mut items)?;
                }
                if self.peek().tok != Tok::Comma {
                    break;
                }
                self.i += 1;
            }
        }
        self.expect_kw("from")?;
        self.i += 1; // the table name, read by find_table
        let before_where = self.likes.len();
        let filter = if self.eat_kw("where") { Some(self.or_cond()?) } else { None };
        let where_likes = self.likes.len() - before_where;
        let mut group_by = Vec::new();
        let group_pos = self.pos();
        if self.eat_kw("group") {
            self.expect_kw("by")?;
            loop {
                let pos = self.pos();
                let e = self.group_key(&items)?;
                if e.is_aggregate() {
                    return Err(UsqlError::new(pos, "aggregates are not allowed in GROUP BY"));
                }
                group_by.push(e);
                if self.peek().tok != Tok::Comma {
                    break;
                }
                self.i += 1;
            }
        }
        let mut order_by = Vec::new();
        let mut order_positions = Vec::new();
        let order_pos = self.pos();
        if self.eat_kw("order") {
            self.expect_kw("by")?;
            loop {
                let pos = self.pos();
                let key = self.order_key(&items)?;
                let desc = if self.eat_kw("desc") {
                    true
                } else {
                    self.eat_kw("asc");
                    false
                };
                if order_by.len() == MAX_ORDER_COLUMNS {
                    return Err(UsqlError::new(pos, format!("at most {MAX_ORDER_COLUMNS} ORDER BY columns")));
                }
                order_by.push((key, desc));
                order_positions.push(pos);
                if self.peek().tok != Tok::Comma {
                    break;
                }
                self.i += 1;
            }
        }
        let limit_pos = self.pos();
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
        if let Some(fpos) = funnel {
            let refuse = |pos: usize, what: &str| Err(UsqlError::new(pos, format!("FUNNEL cannot be used with {what}")));
            if distinct {
                return refuse(distinct_pos, "DISTINCT");
            }
            if !group_by.is_empty() {
                return refuse(group_pos, "GROUP BY");
            }
            if !order_by.is_empty() {
                return refuse(order_pos, "ORDER BY");
            }
            if limit.is_some() {
                return refuse(limit_pos, "LIMIT");
            }
            // A funnel is N counting queries with cumulative conditions, each also under WHERE:
            // step i (from 0) is in N - i of them.
            let n = self.step_likes.len();
            let steps: usize = self.step_likes.iter().enumerate().map(|(i, k)| k * (n - i)).sum();
            if where_likes * n + steps > MAX_INNER_LIKES {
                return Err(UsqlError::new(fpos, too_many_likes()));
            }
        } else if let Some(&pos) = self.likes.get(MAX_INNER_LIKES) {
            return Err(UsqlError::new(pos, too_many_likes()));
        }
        if let (true, Some(p)) = (distinct, self.star) {
            return Err(UsqlError::new(p, "DISTINCT cannot be combined with SELECT *"));
        }
        let q = Query {
            distinct,
            items: Vec::new(),
            table: self.table,
            filter,
            group_by,
            order_by,
            limit,
            json: json.is_some(),
        };
        check(q, items, distinct_pos, json, &order_positions)
    }

    /// Finds `FROM <table>` at nesting depth 0 without consuming anything.
    fn find_table(&mut self) -> Result<UsqlTable, UsqlError> {
        let mut depth = 0i32;
        for (j, t) in self.tokens.iter().enumerate().skip(self.i) {
            match &t.tok {
                Tok::LParen => depth += 1,
                Tok::RParen => depth -= 1,
                Tok::Word(w) if depth == 0 && w.eq_ignore_ascii_case("from") => {
                    let next = self.tokens.get(j + 1);
                    return match next.map(|t| &t.tok) {
                        Some(Tok::Word(n)) if UsqlTable::from_name(n).is_some() => {
                            Ok(UsqlTable::from_name(n).unwrap_or(UsqlTable::UserSession))
                        }
                        _ => Err(UsqlError::new(
                            next.map_or(t.end, |n| n.pos),
                            "expected usersession, useraction, usererror or userevent after FROM",
                        )),
                    };
                }
                _ => {}
            }
        }
        let end = self.tokens.last().map_or(0, |t| t.pos);
        Err(UsqlError::new(end, "missing FROM usersession|useraction|usererror|userevent"))
    }

    /// One select-list item (several for `*` and `table.*`).
    fn select_item(&mut self, items: &mut Vec<Item>) -> Result<(), UsqlError> {
        let start = self.pos();
        // `*` and `<table>.*`
        let star_scope = match (&self.peek().tok, self.peek_at(1), self.peek_at(2)) {
            (Tok::Star, _, _) => Some((self.table, 1)),
            (Tok::Word(w), Tok::Dot, Tok::Star) => match UsqlTable::from_name(w) {
                Some(t) => Some((t, 3)),
                None => return Err(UsqlError::new(start, format!("unknown table {w:?}"))),
            },
            _ => None,
        };
        if let Some((scope, n)) = star_scope {
            self.check_reach(scope, start)?;
            self.star.get_or_insert(start);
            self.i += n;
            let defs = scope.fields();
            if defs.is_empty() {
                return Err(UsqlError::new(start, format!("{} has no fields to select", scope.name())));
            }
            for d in defs {
                let name = if scope == self.table { d.name.to_owned() } else { format!("{}.{}", scope.name(), d.name) };
                let field = Field { scope, kind: FieldKind::Builtin(d), pos: start };
                items.push(Item { expr: Expr::Field(field), name, filter: None, pos: start });
            }
            return Ok(());
        }
        let expr = self.expr()?;
        let end = self.end();
        let filter = if self.is_kw("filter") {
            let fpos = self.pos();
            self.i += 1;
            if !expr.is_aggregate() || !is_numeric(expr.ty()) {
                return Err(UsqlError::new(fpos, "FILTER follows a numeric aggregate (COUNT, SUM, AVG, …)"));
            }
            let op = self.cmp_op().ok_or_else(|| self.unexpected("expected a comparison after FILTER"))?;
            let vpos = self.pos();
            let v = match self.number_literal()? {
                Some(Literal::Int(n)) => n as f64,
                Some(Literal::Float(x)) => x,
                _ => return Err(UsqlError::new(vpos, "FILTER compares with a number")),
            };
            Some((op, v))
        } else {
            None
        };
        let name = if self.eat_kw("as") { self.alias()? } else { self.text(start, end) };
        items.push(Item { expr, name, filter, pos: start });
        Ok(())
    }

    fn alias(&mut self) -> Result<String, UsqlError> {
        match self.bump() {
            Token { tok: Tok::Str(s), .. } => Ok(s),
            Token { tok: Tok::Word(w), .. } if !is_keyword(&w) => Ok(w),
            t => Err(UsqlError::new(t.pos, "expected an alias after AS")),
        }
    }

    /// `FUNNEL(cond [AS alias], …)`: step k counts the rows meeting steps 1..=k.
    fn funnel(&mut self) -> Result<Vec<Item>, UsqlError> {
        let fpos = self.pos();
        self.i += 2; // FUNNEL (
        let mut items: Vec<Item> = Vec::new();
        let mut acc: Option<Cond> = None;
        loop {
            let start = self.pos();
            let likes = self.likes.len();
            let c = self.or_cond()?;
            self.step_likes.push(self.likes.len() - likes);
            let end = self.end();
            let name = if self.eat_kw("as") { self.alias()? } else { self.text(start, end) };
            if items.len() == MAX_FUNNEL_STEPS {
                return Err(UsqlError::new(start, format!("a FUNNEL has at most {MAX_FUNNEL_STEPS} steps")));
            }
            let cum = match acc.take() {
                None => c,
                Some(prev) => Cond::And(Box::new(prev), Box::new(c)),
            };
            acc = Some(cum.clone());
            items.push(Item { expr: Expr::Condition(Box::new(Expr::CountStar), Box::new(cum)), name, filter: None, pos: start });
            if self.peek().tok != Tok::Comma {
                break;
            }
            self.i += 1;
        }
        self.expect(Tok::RParen, ") to close FUNNEL")?;
        if self.peek().tok == Tok::Comma {
            return Err(UsqlError::new(fpos, "FUNNEL cannot be combined with other columns"));
        }
        Ok(items)
    }

    /// `a + b`, `a - b`
    fn expr(&mut self) -> Result<Expr, UsqlError> {
        let mut left = self.term()?;
        loop {
            let op = match self.peek().tok {
                Tok::Plus => ArithOp::Add,
                Tok::Minus => ArithOp::Sub,
                _ => return Ok(left),
            };
            let pos = self.pos();
            self.i += 1;
            let right = self.term()?;
            left = arith(op, left, right, pos)?;
        }
    }

    /// `a * b`, `a / b`, `a % b`, `a MOD b`
    fn term(&mut self) -> Result<Expr, UsqlError> {
        let mut left = self.factor()?;
        loop {
            let op = match &self.peek().tok {
                Tok::Star => ArithOp::Mul,
                Tok::Slash => ArithOp::Div,
                Tok::Percent => ArithOp::Mod,
                Tok::Word(w) if w.eq_ignore_ascii_case("mod") => ArithOp::Mod,
                _ => return Ok(left),
            };
            let pos = self.pos();
            self.i += 1;
            let right = self.factor()?;
            left = arith(op, left, right, pos)?;
        }
    }

    fn factor(&mut self) -> Result<Expr, UsqlError> {
        let pos = self.pos();
        match &self.peek().tok {
            Tok::Minus => {
                self.i += 1;
                match self.factor()? {
                    Expr::Num(Literal::Int(n)) => Ok(Expr::Num(Literal::Int(n.wrapping_neg()))),
                    Expr::Num(Literal::Float(x)) => Ok(Expr::Num(Literal::Float(-x))),
                    e => arith(ArithOp::Sub, Expr::Num(Literal::Int(0)), e, pos),
                }
            }
            Tok::Int(_) | Tok::Float(_) => match self.number_literal()? {
                Some(l) => Ok(Expr::Num(l)),
                None => Err(UsqlError::new(pos, "expected a number")),
            },
            Tok::LParen => {
                self.i += 1;
                let e = self.expr()?;
                self.expect(Tok::RParen, ")")?;
                Ok(e)
            }
            Tok::Word(_) if self.is_call() => self.call(),
            Tok::Word(_) => Ok(Expr::Field(self.field()?)),
            _ => Err(self.unexpected("expected a field, a function or a number")),
        }
    }

    /// An unsigned number token (a leading `-` is read by the caller); `None` if not a number.
    fn number_literal(&mut self) -> Result<Option<Literal>, UsqlError> {
        let negative = self.peek().tok == Tok::Minus && matches!(self.peek_at(1), Tok::Int(_) | Tok::Float(_));
        let pos = self.pos();
        if negative {
            self.i += 1;
        }
        match self.peek().tok.clone() {
            Tok::Int(s) => {
                self.i += 1;
                let text = if negative { format!("-{s}") } else { s };
                match text.parse::<i64>() {
                    Ok(n) => Ok(Some(Literal::Int(n))),
                    Err(_) => Err(UsqlError::new(pos, "integer out of the i64 range")),
                }
            }
            Tok::Float(x) => {
                self.i += 1;
                Ok(Some(Literal::Float(if negative { -x } else { x })))
            }
            _ => Ok(None),
        }
    }

    /// A function call.
    fn call(&mut self) -> Result<Expr, UsqlError> {
        let Tok::Word(w) = self.peek().tok.clone() else { return Err(self.unexpected("expected a function")) };
        let func_pos = self.pos();
        let lower = w.to_ascii_lowercase();
        let agg = match lower.as_str() {
            "count" => Some(AggFunc::Count),
            "sum" => Some(AggFunc::Sum),
            "avg" => Some(AggFunc::Avg),
            "min" => Some(AggFunc::Min),
            "max" => Some(AggFunc::Max),
            "median" => Some(AggFunc::Median),
            "percentile" => Some(AggFunc::Percentile),
            _ => None,
        };
        self.i += 2; // name and (
        let e = if let Some(func) = agg {
            self.aggregate(func)?
        } else {
            match lower.as_str() {
                "year" | "month" | "day" | "hour" | "minute" => {
                    let part = match lower.as_str() {
                        "year" => DatePart::Year,
                        "month" => DatePart::Month,
                        "day" => DatePart::Day,
                        "hour" => DatePart::Hour,
                        _ => DatePart::Minute,
                    };
                    let apos = self.pos();
                    let arg = self.expr()?;
                    if arg.ty() != ValueType::Date {
                        return Err(UsqlError::new(apos, format!("{} needs a date (a time field or MIN/MAX of one)", w.to_ascii_uppercase())));
                    }
                    Expr::DatePart(part, Box::new(arg))
                }
                "datetime" => {
                    let apos = self.pos();
                    let arg = self.expr()?;
                    if arg.ty() != ValueType::Date {
                        return Err(UsqlError::new(apos, "DATETIME needs a date (a time field or MIN/MAX of one)"));
                    }
                    let mut format = time::DEFAULT_FORMAT.to_owned();
                    let mut interval = Interval::None;
                    if self.peek().tok == Tok::Comma {
                        self.i += 1;
                        let t = self.bump();
                        let Tok::Str(f) = t.tok else { return Err(UsqlError::new(t.pos, "expected a format string")) };
                        if let Err(c) = time::check_format(&f) {
                            return Err(UsqlError::new(t.pos, format!("unknown format letter {c:?} (put text in '…')")));
                        }
                        format = f;
                        if self.peek().tok == Tok::Comma {
                            self.i += 1;
                            let t = self.bump();
                            interval = match &t.tok {
                                Tok::Str(s) => Interval::parse(s).ok_or_else(|| {
                                    UsqlError::new(t.pos, "interval must be year, month, week, day, hour, minute, second or a number and d/h/m/s (5m)")
                                })?,
                                _ => return Err(UsqlError::new(t.pos, "expected an interval string such as \"5m\"")),
                            };
                        }
                    }
                    Expr::DateTime { arg: Box::new(arg), format, interval }
                }
                "top" => {
                    let field = self.field()?;
                    let n = if self.peek().tok == Tok::Comma {
                        self.i += 1;
                        let t = self.bump();
                        match &t.tok {
                            Tok::Int(s) => match s.parse::<u32>() {
                                Ok(n) if (1..=MAX_BUCKETS as u32).contains(&n) => n,
                                _ => return Err(UsqlError::new(t.pos, format!("TOP takes 1 to {MAX_BUCKETS} values"))),
                            },
                            _ => return Err(UsqlError::new(t.pos, "expected the number of top values")),
                        }
                    } else {
                        1
                    };
                    Expr::Top(field, n)
                }
                "keys" => {
                    let pos = self.pos();
                    let field = self.field_ref(true)?;
                    match field {
                        FieldRef::Map(scope, kind) => Expr::Keys(scope, kind),
                        FieldRef::Field(_) => return Err(UsqlError::new(pos, "KEYS takes stringProperties, longProperties, doubleProperties or dateProperties")),
                    }
                }
                "condition" => {
                    let apos = self.pos();
                    let inner = self.expr()?;
                    if !matches!(inner, Expr::CountStar | Expr::Agg { .. }) {
                        return Err(UsqlError::new(apos, "CONDITION takes an aggregate (COUNT, SUM, AVG, MIN, MAX, MEDIAN, PERCENTILE)"));
                    }
                    self.expect(Tok::Comma, ", and WHERE with a condition")?;
                    self.eat_kw("where");
                    let c = self.or_cond()?;
                    Expr::Condition(Box::new(inner), Box::new(c))
                }
                "duration" => return Err(UsqlError::new(func_pos, "DURATION is a value for conditions (startTime > $NOW - DURATION(\"2h\"))")),
                _ => return Err(UsqlError::new(func_pos, format!("unknown function {w}"))),
            }
        };
        self.expect(Tok::RParen, ")")?;
        Ok(e)
    }

    /// The arguments of an aggregate, after `(`; leaves the `)`.
    fn aggregate(&mut self, func: AggFunc) -> Result<Expr, UsqlError> {
        if func == AggFunc::Count && self.peek().tok == Tok::Star {
            self.i += 1;
            return Ok(Expr::CountStar);
        }
        let distinct = func == AggFunc::Count && self.eat_kw("distinct");
        let field = self.field()?;
        if matches!(func, AggFunc::Sum | AggFunc::Avg | AggFunc::Median | AggFunc::Percentile) && !is_numeric(field.ty()) {
            return Err(UsqlError::new(field.pos, "this aggregate needs a numeric field"));
        }
        if matches!(func, AggFunc::Min | AggFunc::Max) && matches!(field.ty(), ValueType::TextArray) {
            return Err(UsqlError::new(field.pos, "MIN and MAX need a single-valued field"));
        }
        if distinct {
            if let Some(b) = field.builtin() {
                let refused = NO_COUNT_DISTINCT.iter().any(|(t, names)| *t == field.scope && names.iter().any(|n| n.eq_ignore_ascii_case(b.name)));
                if refused {
                    return Err(UsqlError::new(field.pos, format!("COUNT(DISTINCT {}) is not supported: too many different values", b.name)));
                }
            }
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
        Ok(Expr::Agg { func, field, distinct, pct })
    }

    /// A GROUP BY key: a select alias, or an expression.
    fn group_key(&mut self, items: &[Item]) -> Result<Expr, UsqlError> {
        if let Some(k) = self.alias_ref(items) {
            return Ok(items[k].expr.clone());
        }
        self.expr()
    }

    /// A select item named by the next token (a quoted alias, or a bare word equal to an alias
    /// ignoring case and not the start of a field path or call); consumes it.
    fn alias_ref(&mut self, items: &[Item]) -> Option<usize> {
        let t = self.peek().clone();
        let name = match &t.tok {
            Tok::Str(s) => s.clone(),
            Tok::Word(w) if !matches!(self.peek_at(1), Tok::Dot | Tok::LParen) => w.clone(),
            _ => return None,
        };
        let exact = items.iter().position(|it| it.name == name);
        let found = exact.or_else(|| items.iter().position(|it| it.name.eq_ignore_ascii_case(&name)))?;
        self.i += 1;
        Some(found)
    }

    fn order_key(&mut self, items: &[Item]) -> Result<OrderKey, UsqlError> {
        let t = self.peek().clone();
        if let Tok::Int(n) = &t.tok {
            if !matches!(self.peek_at(1), Tok::Plus | Tok::Minus | Tok::Star | Tok::Slash | Tok::Percent) {
                self.i += 1;
                return match n.parse::<usize>() {
                    Ok(k) if (1..=items.len()).contains(&k) => Ok(OrderKey::Column(k - 1)),
                    _ => Err(UsqlError::new(t.pos, "no such column number")),
                };
            }
        }
        if let Some(k) = self.alias_ref(items) {
            return Ok(OrderKey::Column(k));
        }
        if let Tok::Str(alias) = &t.tok {
            return Err(UsqlError::new(t.pos, format!("no column named {alias:?}")));
        }
        let expr = self.expr()?;
        Ok(items.iter().position(|it| it.expr == expr).map_or(OrderKey::Expr(expr), OrderKey::Column))
    }

    /// A field that holds values.
    fn field(&mut self) -> Result<Field, UsqlError> {
        let pos = self.pos();
        match self.field_ref(false)? {
            FieldRef::Field(f) => Ok(f),
            FieldRef::Map(..) => Err(UsqlError::new(pos, "name a property key (stringProperties.key)")),
        }
    }

    /// `[table.] (name | <type>Properties[.key])`; the bare map only when `map_ok`.
    fn field_ref(&mut self, map_ok: bool) -> Result<FieldRef, UsqlError> {
        let start = self.pos();
        let first = self.word("a field name")?;
        let (prefix, name) = match UsqlTable::from_name(&first) {
            Some(t) if self.peek().tok == Tok::Dot => {
                self.i += 1;
                (Some(t), self.word("a field name")?)
            }
            _ => (None, first),
        };
        if let Some(kind) = prop_kind(&name) {
            let scope = match prefix {
                Some(t) => t,
                None => self.table,
            };
            if !matches!(scope, UsqlTable::UserSession | UsqlTable::UserAction) {
                return Err(UsqlError::new(start, format!("{} has no properties", scope.name())));
            }
            self.check_reach(scope, start)?;
            if self.peek().tok != Tok::Dot {
                if map_ok {
                    return Ok(FieldRef::Map(scope, kind));
                }
                return Err(self.unexpected("expected . and a property key"));
            }
            self.i += 1;
            let key_pos = self.pos();
            let mut key = self.word("a property key")?;
            // Keys are dotted (`cart.total`): read `word(.word)*` with nothing in between.
            while self.peek().tok == Tok::Dot && matches!(self.peek_at(1), Tok::Word(_)) {
                key.push('.');
                self.i += 1;
                key.push_str(&self.word("a property key")?);
            }
            if !is_valid_key(&key) {
                return Err(UsqlError::new(key_pos, format!("invalid property key {key:?}")));
            }
            return Ok(FieldRef::Field(Field { scope, kind: FieldKind::Prop(kind, key), pos: start }));
        }
        let r = self.resolve(prefix, &name, start)?;
        if let FieldRef::Field(f) = &r {
            self.check_reach(f.scope, start)?;
        }
        Ok(r)
    }

    /// A built-in field by name: the prefix's table, or the FROM table and then the table
    /// unprefixed names fall back to (usersession → useraction; a secondary table → usersession).
    fn resolve(&self, prefix: Option<UsqlTable>, name: &str, pos: usize) -> Result<FieldRef, UsqlError> {
        let tables: Vec<UsqlTable> = match prefix {
            Some(t) => vec![t],
            None if self.table == UsqlTable::UserSession => vec![UsqlTable::UserSession, UsqlTable::UserAction],
            None => vec![self.table, UsqlTable::UserSession],
        };
        for t in &tables {
            if let Some(d) = fields::lookup(*t, name) {
                return Ok(FieldRef::Field(Field { scope: *t, kind: FieldKind::Builtin(d), pos }));
            }
        }
        let whose = tables[0].name();
        Err(UsqlError::new(pos, format!("unknown {whose} field {name:?}")))
    }

    /// From a secondary table only its own fields and usersession's are reachable.
    fn check_reach(&self, scope: UsqlTable, pos: usize) -> Result<(), UsqlError> {
        if self.table == UsqlTable::UserSession || scope == self.table || scope == UsqlTable::UserSession {
            return Ok(());
        }
        Err(UsqlError::new(
            pos,
            format!("a {} query reaches only its own fields and usersession fields, not {}", self.table.name(), scope.name()),
        ))
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

    fn cmp_op(&mut self) -> Option<CmpOp> {
        let Tok::Op(op) = self.peek().tok else { return None };
        self.i += 1;
        Some(match op {
            "=" => CmpOp::Eq,
            "!=" => CmpOp::Ne,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            _ => CmpOp::Ge,
        })
    }

    fn predicate(&mut self) -> Result<Cond, UsqlError> {
        if self.is_call() {
            return Err(UsqlError::new(self.pos(), "functions and aggregates are not allowed in WHERE"));
        }
        if matches!(self.peek().tok, Tok::Word(ref w) if w.eq_ignore_ascii_case("true") || w.eq_ignore_ascii_case("false")) {
            return Err(UsqlError::new(self.pos(), "a condition compares a field (WHERE true is not a condition)"));
        }
        let field = self.field()?;
        let op_pos = self.pos();
        if let Some(op) = self.cmp_op() {
            if self.eat_kw("null") {
                return match op {
                    CmpOp::Eq => Ok(Cond::IsNull(field, false)),
                    CmpOp::Ne => Ok(Cond::IsNull(field, true)),
                    _ => Err(UsqlError::new(op_pos, "NULL compares only with =, != or IS")),
                };
            }
            if self.is_field_next() {
                return Err(UsqlError::new(self.pos(), "a field compares with a value, not with another field"));
            }
            let lit = self.value_for(&field)?;
            check_op(&field, op, op_pos)?;
            return Ok(Cond::Cmp(field, op, lit));
        }
        // `IS [NOT] NULL|value`, and the old `NOT IS value`
        let not_is = self.is_kw("not") && matches!(self.peek_at(1), Tok::Word(w) if w.eq_ignore_ascii_case("is"));
        if not_is {
            self.i += 1;
        }
        if self.eat_kw("is") {
            let not = self.eat_kw("not") != not_is;
            if self.eat_kw("null") {
                return Ok(Cond::IsNull(field, not));
            }
            let lit = self.value_for(&field)?;
            let op = if not { CmpOp::Ne } else { CmpOp::Eq };
            return Ok(Cond::Cmp(field, op, lit));
        }
        let negated = self.eat_kw("not");
        if self.eat_kw("in") {
            self.expect(Tok::LParen, "(")?;
            let mut list = vec![self.value_for(&field)?];
            while self.peek().tok == Tok::Comma {
                self.i += 1;
                list.push(self.value_for(&field)?);
            }
            self.expect(Tok::RParen, ")")?;
            return Ok(Cond::In(field, list, negated));
        }
        if self.is_kw("like") || self.is_kw("startswith") {
            let like = self.is_kw("like");
            self.i += 1;
            if !matches!(field.ty(), ValueType::Text) {
                return Err(UsqlError::new(field.pos, "LIKE and STARTSWITH need a string field"));
            }
            let t = self.bump();
            let Tok::Str(s) = t.tok else {
                return Err(UsqlError::new(t.pos, "expected a quoted string"));
            };
            if like && inner_wildcard(&s) {
                self.likes.push(t.pos);
            }
            return Ok(if like { Cond::Like(field, s, negated) } else { Cond::StartsWith(field, s, negated) });
        }
        if self.eat_kw("between") {
            check_op(&field, CmpOp::Lt, op_pos)?;
            let lo = self.value_for(&field)?;
            self.expect_kw("and")?;
            let hi = self.value_for(&field)?;
            return Ok(Cond::Between(field, lo, hi, negated));
        }
        Err(self.unexpected("expected a comparison, IN, IS, LIKE, STARTSWITH or BETWEEN"))
    }

    /// Whether the next tokens are a field name (for the field-to-field error).
    fn is_field_next(&self) -> bool {
        match &self.peek().tok {
            Tok::Word(w) => {
                !is_keyword(w) && !w.eq_ignore_ascii_case("duration") && (self.resolve(None, w, 0).is_ok() || UsqlTable::from_name(w).is_some() || prop_kind(w).is_some())
            }
            _ => false,
        }
    }

    /// A value of the field's type: strings for text, numbers (or times) for numbers and dates,
    /// TRUE/FALSE for booleans, an address string for IP fields.
    fn value_for(&mut self, field: &Field) -> Result<Literal, UsqlError> {
        let pos = self.pos();
        let ty = field.ty();
        let t = self.peek().clone();
        match ty {
            ValueType::Boolean => {
                let v = match &t.tok {
                    Tok::Word(w) if w.eq_ignore_ascii_case("true") => true,
                    Tok::Word(w) if w.eq_ignore_ascii_case("false") => false,
                    _ => return Err(UsqlError::new(pos, "this field holds booleans: compare it with TRUE or FALSE")),
                };
                self.i += 1;
                Ok(Literal::Bool(v))
            }
            ValueType::Text | ValueType::TextArray | ValueType::Ip => match t.tok {
                Tok::Str(s) => {
                    if ty == ValueType::Ip && time::ip_key(&s).is_none() {
                        return Err(UsqlError::new(pos, format!("{s:?} is not an IPv4 or IPv6 address")));
                    }
                    self.i += 1;
                    Ok(Literal::Str(s))
                }
                _ => Err(UsqlError::new(pos, "this field holds strings: compare it with a quoted string")),
            },
            ValueType::Long | ValueType::Double | ValueType::Date => self.time_value(ty == ValueType::Date),
        }
    }

    /// A number; or a time: `$NOW`, `$TIME_FRAME_START`, `$TIME_FRAME_END`, a date-time string
    /// (for dates), or `DURATION("…")`, followed by `± DURATION("…")` or `± ms` steps.
    fn time_value(&mut self, date: bool) -> Result<Literal, UsqlError> {
        let pos = self.pos();
        if let Some(n) = self.number_literal()? {
            return Ok(n);
        }
        let t = self.bump();
        let mut steps = Vec::new();
        let base = match &t.tok {
            Tok::Var(v) => match v.to_ascii_uppercase().as_str() {
                "NOW" => TimeBase::Now,
                "TIME_FRAME_START" => TimeBase::FrameStart,
                "TIME_FRAME_END" => TimeBase::FrameEnd,
                _ => return Err(UsqlError::new(pos, format!("unknown variable ${v} (use $NOW, $TIME_FRAME_START or $TIME_FRAME_END)"))),
            },
            Tok::Str(s) if date => match time::parse_datetime(s) {
                Some((ms, true)) => TimeBase::Utc(ms),
                Some((ms, false)) => TimeBase::Local(ms),
                None => {
                    return Err(UsqlError::new(
                        pos,
                        format!("{s:?} is not a date-time (yyyy-MM-dd HH:mm:ss, yyyy/MM/dd, MM/dd/yyyy, dd.MM.yyyy, ISO with offset, or epoch ms)"),
                    ))
                }
            },
            Tok::Word(w) if w.eq_ignore_ascii_case("duration") => {
                self.i -= 1;
                steps.push(self.duration(1)?);
                TimeBase::Zero
            }
            Tok::Str(_) => return Err(UsqlError::new(pos, "this field holds numbers: compare it with a number")),
            _ => {
                let what = if date { "a date: a number (epoch ms), a date-time string or $NOW" } else { "a number" };
                return Err(UsqlError::new(pos, format!("this field holds numbers: compare it with {what}")));
            }
        };
        loop {
            let sign = match self.peek().tok {
                Tok::Plus => 1,
                Tok::Minus => -1,
                _ => break,
            };
            self.i += 1;
            if self.is_kw("duration") {
                steps.push(self.duration(sign)?);
            } else {
                let p = self.pos();
                match self.number_literal()? {
                    Some(Literal::Int(n)) => steps.push((sign * n, None)),
                    _ => return Err(UsqlError::new(p, "expected DURATION(\"…\") or a number of ms")),
                }
            }
        }
        let v = TimeValue { base, steps };
        if v.base == TimeBase::Zero && v.steps.iter().any(|(_, u)| matches!(u, Some(time::Unit::Year | time::Unit::Quarter | time::Unit::Month))) {
            return Err(UsqlError::new(pos, "a DURATION in months, quarters or years needs a time to count from ($NOW - DURATION(\"1M\"))"));
        }
        Ok(Literal::Time(v))
    }

    /// `DURATION("<n><unit>")` as a signed step.
    fn duration(&mut self, sign: i64) -> Result<(i64, Option<time::Unit>), UsqlError> {
        self.i += 1;
        self.expect(Tok::LParen, "( after DURATION")?;
        let t = self.bump();
        let Tok::Str(s) = &t.tok else { return Err(UsqlError::new(t.pos, "expected a duration string such as \"2h\"")) };
        let Some((n, unit)) = time::parse_duration(s) else {
            return Err(UsqlError::new(t.pos, "a duration is a number and a unit: y, q, M, w, d, h, m or s (\"2h\")"));
        };
        self.expect(Tok::RParen, ")")?;
        Ok((sign * n, Some(unit)))
    }
}

/// A name that is a field or a whole property map.
enum FieldRef {
    Field(Field),
    Map(UsqlTable, PropKind),
}

fn prop_kind(name: &str) -> Option<PropKind> {
    match name.to_ascii_lowercase().as_str() {
        "stringproperties" => Some(PropKind::String),
        "longproperties" => Some(PropKind::Long),
        "doubleproperties" => Some(PropKind::Double),
        "dateproperties" => Some(PropKind::Date),
        _ => None,
    }
}

fn is_numeric(t: ValueType) -> bool {
    t.is_numeric()
}

fn too_many_likes() -> String {
    format!("more than {MAX_INNER_LIKES} LIKE conditions with a leading or inner wildcard (a FUNNEL counts each step once per later step)")
}

/// Whether a LIKE pattern has a `%` or `*` that is not only trailing.
fn inner_wildcard(p: &str) -> bool {
    let mut wild_at = Vec::new();
    let mut n = 0;
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '%' | '*' => wild_at.push(n),
            _ => {}
        }
        n += 1;
    }
    // Trailing wildcards are the run at the very end.
    let mut end = n;
    let mut inner = false;
    for &w in wild_at.iter().rev() {
        if w + 1 == end {
            end = w;
        } else {
            inner = true;
        }
    }
    inner
}

/// Ordered comparisons need an ordered type; arrays and booleans only compare for equality.
fn check_op(field: &Field, op: CmpOp, pos: usize) -> Result<(), UsqlError> {
    match (field.ty(), op) {
        (ValueType::TextArray | ValueType::Boolean, CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge) => {
            Err(UsqlError::new(pos, "this field compares only with =, != or IN"))
        }
        _ => Ok(()),
    }
}

/// Builds an arithmetic expression; both sides must be numbers, numeric fields or dates.
fn arith(op: ArithOp, a: Expr, b: Expr, pos: usize) -> Result<Expr, UsqlError> {
    for e in [&a, &b] {
        if !is_numeric(e.ty()) {
            return Err(UsqlError::new(pos, "arithmetic needs numbers, numeric fields or dates on both sides"));
        }
    }
    Ok(Expr::Arith(op, Box::new(a), Box::new(b)))
}

/// Whether `e` is computed from the group keys only (so it has one value per group).
fn grouped(e: &Expr, keys: &[Expr]) -> bool {
    if keys.contains(e) {
        return true;
    }
    match e {
        Expr::Num(_) => true,
        // A field grouped by TOP(field, n) is that group key.
        Expr::Field(f) => keys.iter().any(|k| matches!(k, Expr::Top(g, _) if g == f)),
        Expr::Keys(..) => false,
        // TOP(f, n) of a grouped f is f limited to its n most frequent values.
        Expr::Top(f, _) => keys.iter().any(|k| matches!(k, Expr::Field(g) if g == f)),
        Expr::DatePart(_, a) | Expr::DateTime { arg: a, .. } => grouped(a, keys),
        Expr::Arith(_, a, b) => grouped(a, keys) && grouped(b, keys),
        Expr::CountStar | Expr::Agg { .. } | Expr::Condition(..) | Expr::TopList(..) => true,
    }
}

/// The whole-query checks and normalisations: DISTINCT with aggregates becomes GROUP BY,
/// ungrouped TOP becomes the list form, every plain column must be grouped, bucket limits,
/// one secondary table per row, JSON only on plain rows.
fn check(mut q: Query, items: Vec<Item>, distinct_pos: usize, json: Option<usize>, order_pos: &[usize]) -> Result<Query, UsqlError> {
    let has_agg = items.iter().any(|i| i.expr.is_aggregate() && !matches!(i.expr, Expr::Top(..)));
    // DISTINCT adds implicit grouping by the plain columns (fields, date functions, TOP).
    if q.distinct && (has_agg || items.iter().any(|i| matches!(i.expr, Expr::Top(..)))) {
        if let Some(p) = json {
            return Err(UsqlError::new(p, "JSON cannot be combined with DISTINCT"));
        }
        if q.group_by.is_empty() {
            q.group_by = items.iter().filter(|i| !i.expr.is_aggregate()).map(|i| i.expr.clone()).collect();
        }
        q.distinct = false;
    }
    if q.distinct && json.is_some() {
        return Err(UsqlError::new(distinct_pos, "DISTINCT cannot be combined with JSON"));
    }
    // A TOP group key; TOP of a field grouped plainly is the same key.
    let top_keys: Vec<Expr> = q.group_by.clone();
    let aggregated = !q.group_by.is_empty() || has_agg || items.iter().any(|i| matches!(i.expr, Expr::Top(..)));
    let mut out = Vec::with_capacity(items.len());
    for it in items {
        let expr = match it.expr {
            Expr::Top(f, n) if !grouped(&Expr::Top(f.clone(), n), &top_keys) => Expr::TopList(f, n),
            e => e,
        };
        out.push(SelectItem { expr, name: it.name, filter: it.filter, pos: it.pos });
    }
    q.items = out;
    // A TOP key whose field is grouped plainly too is just that field.
    if aggregated {
        for it in &q.items {
            if !grouped(&it.expr, &q.group_by) {
                return Err(UsqlError::new(it.pos, "a field in SELECT must be in GROUP BY when the query aggregates"));
            }
        }
        for ((key, _), pos) in q.order_by.iter().zip(order_pos) {
            if let OrderKey::Expr(e) = key {
                if !grouped(e, &q.group_by) {
                    return Err(UsqlError::new(*pos, "ORDER BY a field that is not in GROUP BY"));
                }
            }
        }
        if let Some(p) = json {
            return Err(UsqlError::new(p, "JSON lists whole records: it cannot be combined with aggregates or GROUP BY"));
        }
    } else {
        for ((key, _), pos) in q.order_by.iter().zip(order_pos) {
            if let OrderKey::Expr(e) = key {
                if e.is_aggregate() {
                    return Err(UsqlError::new(*pos, "ORDER BY an aggregate needs GROUP BY or aggregates in SELECT"));
                }
            }
        }
    }
    // Bucket limits: the product of the TOP sizes of the group keys.
    let mut buckets: u64 = 1;
    for k in &q.group_by {
        if let Expr::Top(_, n) = k {
            buckets = buckets.saturating_mul(u64::from(*n));
        }
    }
    if buckets > MAX_BUCKETS {
        let pos = q.items.iter().find(|i| matches!(i.expr, Expr::Top(..))).map_or(0, |i| i.pos);
        return Err(UsqlError::new(pos, format!("the TOP sizes of the groups multiply to more than {MAX_BUCKETS} buckets")));
    }
    // One KEYS per query, and rows of at most one secondary table.
    let mut keys = 0;
    let mut secondary: Option<UsqlTable> = None;
    for it in &q.items {
        it.expr.walk(&mut |e| keys += usize::from(matches!(e, Expr::Keys(..))));
        if keys > 1 {
            return Err(UsqlError::new(it.pos, "one KEYS per query"));
        }
        if q.table == UsqlTable::UserSession {
            for s in it.expr.scopes() {
                if s == UsqlTable::UserSession {
                    continue;
                }
                match secondary {
                    None => secondary = Some(s),
                    Some(t) if t != s => {
                        return Err(UsqlError::new(
                            it.pos,
                            format!("{} and {} rows cannot be related: select fields of one secondary table", t.name(), s.name()),
                        ))
                    }
                    _ => {}
                }
            }
        }
    }
    if let Some(p) = json {
        if !matches!(q.table, UsqlTable::UserSession | UsqlTable::UserAction) {
            return Err(UsqlError::new(p, "JSON is available FROM usersession and useraction"));
        }
    }
    if keys > 0 && q.json {
        return Err(UsqlError::new(json.unwrap_or(0), "JSON cannot be combined with KEYS"));
    }
    Ok(q)
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
        assert!(matches!(q.items[1].expr, Expr::Agg { func: AggFunc::Count, field: Field { scope: UsqlTable::UserAction, .. }, .. }));
    }

    #[test]
    fn keywords_are_case_insensitive_and_names_default_to_source_text() {
        let q = parse("select count (*), max(duration) from UserSession where userType = 'REAL_USER' limit 7").unwrap();
        assert_eq!(q.items[0].name, "count (*)");
        assert_eq!(q.items[1].name, "max(duration)");
        assert_eq!(q.limit, Some(7));
    }

    #[test]
    fn table_decides_unprefixed_names_and_falls_back() {
        let q = parse("SELECT name, usersession.userId, STARTTIME FROM useraction").unwrap();
        let scopes: Vec<UsqlTable> = q.items.iter().map(|i| i.expr.scopes()[0]).collect();
        assert_eq!(scopes, [UsqlTable::UserAction, UsqlTable::UserSession, UsqlTable::UserAction]);
        // `name` is not a session field: from usersession it is the action's.
        let q = parse("SELECT name FROM usersession").unwrap();
        assert_eq!(q.items[0].expr.scopes(), [UsqlTable::UserAction]);
        assert_eq!(err("SELECT bogus FROM usersession"), (7, "unknown usersession field \"bogus\"".to_owned()));
    }

    #[test]
    fn dotted_keys_and_extremes() {
        let q = parse("SELECT COUNT(*) FROM usersession WHERE longProperties.cart.items = -9223372036854775808").unwrap();
        let Some(Cond::Cmp(f, CmpOp::Eq, Literal::Int(n))) = q.filter else { panic!() };
        assert_eq!(n, i64::MIN);
        assert_eq!(f.kind, FieldKind::Prop(PropKind::Long, "cart.items".into()));
    }

    #[test]
    fn inner_wildcards() {
        assert!(!inner_wildcard("abc%"));
        assert!(!inner_wildcard("abc%*"));
        assert!(inner_wildcard("%abc"));
        assert!(inner_wildcard("a%c"));
        assert!(!inner_wildcard("a\\%c"));
        assert!(!inner_wildcard("abc"));
    }

    #[test]
    fn error_positions() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "expected SELECT"),
            ("SELECT", 6, "missing FROM"),
            ("SELECT userId FROM sessions", 19, "expected usersession, useraction"),
            ("SELECT userId FROM usersession WHERE", 36, "expected a field name"),
            ("SELECT userId FROM usersession WHERE userId = 3", 46, "compare it with a quoted string"),
            ("SELECT userId FROM usersession WHERE duration = 'x'", 48, "compare it with a number"),
            ("SELECT userId FROM usersession WHERE stringProperties.Bad = 'x'", 54, "invalid property key"),
            ("SELECT bogus FROM usersession", 7, "unknown usersession field"),
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
