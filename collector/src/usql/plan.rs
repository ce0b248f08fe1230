//! The typed query plan: what the parser produces once names are resolved against the field
//! catalog and types and grouping are checked, and what a store backend turns into its SQL.
//! Nothing here is store text: fields point into the catalog, values are typed literals, time
//! values are resolved against [`QueryOptions`](super::QueryOptions) by [`TimeValue::resolve`].

use super::fields::{FieldDef, UsqlTable, ValueType};
use super::time::{self, DatePart, Interval, Unit};

/// Whose a field is: the USQL table it belongs to.
pub type Scope = UsqlTable;

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

    /// The value type of such properties.
    pub fn ty(self) -> ValueType {
        match self {
            PropKind::String => ValueType::Text,
            PropKind::Long => ValueType::Long,
            PropKind::Double => ValueType::Double,
            PropKind::Date => ValueType::Date,
        }
    }
}

/// What a field refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// A built-in field of the catalog.
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
    /// The field's value type.
    pub fn ty(&self) -> ValueType {
        match &self.kind {
            FieldKind::Builtin(b) => b.ty,
            FieldKind::Prop(k, _) => k.ty(),
        }
    }

    /// Never NULL on an existing row of its table.
    pub fn not_null(&self) -> bool {
        matches!(&self.kind, FieldKind::Builtin(b) if !b.nullable)
    }

    /// The catalog entry, for a built-in field.
    pub fn builtin(&self) -> Option<&'static FieldDef> {
        match &self.kind {
            FieldKind::Builtin(b) => Some(b),
            FieldKind::Prop(..) => None,
        }
    }
}

/// What a time value counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBase {
    /// `$NOW`: the collector's clock.
    Now,
    /// `$TIME_FRAME_START`
    FrameStart,
    /// `$TIME_FRAME_END`
    FrameEnd,
    /// A date-time string without its own offset: local time, shifted by `offsetUTC`.
    Local(i64),
    /// Epoch ms (a number or an ISO string with an offset).
    Utc(i64),
    /// Nothing: a bare `DURATION(…)`, a length of time in ms.
    Zero,
}

/// A point in time (or a bare duration) as written: a base and `± DURATION` steps.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeValue {
    /// Where it counts from.
    pub base: TimeBase,
    /// Added steps: count (signed) and unit; plain ms numbers are steps of `None`.
    pub steps: Vec<(i64, Option<Unit>)>,
}

/// The time frame and clock a query runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// `$NOW`, epoch ms.
    pub now: i64,
    /// `$TIME_FRAME_START`.
    pub start: i64,
    /// `$TIME_FRAME_END`.
    pub end: i64,
    /// `offsetUTC` in minutes: the local time of date functions and date strings.
    pub offset_min: i64,
}

impl TimeValue {
    /// The value in epoch ms (or ms for a bare duration); `None` when it leaves the i64 range.
    pub fn resolve(&self, f: &Frame) -> Option<i64> {
        let mut t = match self.base {
            TimeBase::Now => f.now,
            TimeBase::FrameStart => f.start,
            TimeBase::FrameEnd => f.end,
            TimeBase::Local(ms) => ms.checked_sub(f.offset_min.checked_mul(60_000)?)?,
            TimeBase::Utc(ms) => ms,
            TimeBase::Zero => 0,
        };
        for (n, unit) in &self.steps {
            t = match unit {
                // Calendar steps are taken in local time.
                Some(u @ (Unit::Year | Unit::Quarter | Unit::Month)) => {
                    let off = f.offset_min.checked_mul(60_000)?;
                    time::add(t.checked_add(off)?, *n, *u)?.checked_sub(off)?
                }
                Some(u) => time::add(t, *n, *u)?,
                None => t.checked_add(*n)?,
            };
        }
        Some(t)
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
    /// A time: `$NOW - DURATION("2h")`, a date-time string, `DURATION("5m")`.
    Time(TimeValue),
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

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`: of two integers, the quotient rounded half away from zero (`4800 / 1000` is 5).
    Div,
    /// `%` or `MOD`
    Mod,
}

/// A select-list, GROUP BY or ORDER BY expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A plain field.
    Field(Field),
    /// A number (arithmetic operand).
    Num(Literal),
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
    /// `CONDITION(aggregate, WHERE cond)`: the aggregate over the rows meeting `cond`.
    Condition(Box<Expr>, Box<Cond>),
    /// `YEAR(x)` … `MINUTE(x)` of a date expression.
    DatePart(DatePart, Box<Expr>),
    /// `DATETIME(x, format, interval)`: the bucket of `x` as text.
    DateTime {
        /// The date expression.
        arg: Box<Expr>,
        /// The format (Java-style letters).
        format: String,
        /// The bucket size.
        interval: Interval,
    },
    /// `TOP(field, n)` in GROUP BY: a group key limited to its `n` most frequent values.
    Top(Field, u32),
    /// `TOP(field, n)` not grouped: the `n` most frequent values as a list in one cell.
    TopList(Field, u32),
    /// `KEYS(<type>Properties)`: one row per property key of that type.
    Keys(Scope, PropKind),
    /// Arithmetic.
    Arith(ArithOp, Box<Expr>, Box<Expr>),
}

impl Expr {
    /// Whether the expression aggregates rows.
    pub fn is_aggregate(&self) -> bool {
        match self {
            Expr::CountStar | Expr::Agg { .. } | Expr::Condition(..) | Expr::TopList(..) => true,
            Expr::DatePart(_, a) | Expr::DateTime { arg: a, .. } => a.is_aggregate(),
            Expr::Arith(_, a, b) => a.is_aggregate() || b.is_aggregate(),
            Expr::Field(_) | Expr::Num(_) | Expr::Top(..) | Expr::Keys(..) => false,
        }
    }

    /// The type of the expression's values.
    pub fn ty(&self) -> ValueType {
        match self {
            Expr::Field(f) | Expr::Top(f, _) => f.ty(),
            Expr::Num(Literal::Float(_)) => ValueType::Double,
            Expr::Num(_) | Expr::CountStar | Expr::DatePart(..) => ValueType::Long,
            Expr::Agg { func, field, .. } => match func {
                AggFunc::Count => ValueType::Long,
                AggFunc::Sum if field.ty() == ValueType::Double => ValueType::Double,
                AggFunc::Sum => ValueType::Long,
                AggFunc::Min | AggFunc::Max => field.ty(),
                AggFunc::Avg | AggFunc::Median | AggFunc::Percentile => ValueType::Double,
            },
            Expr::Condition(a, _) => a.ty(),
            Expr::DateTime { .. } | Expr::Keys(..) => ValueType::Text,
            Expr::TopList(..) => ValueType::TextArray,
            Expr::Arith(_, a, b) => {
                if a.ty() == ValueType::Double || b.ty() == ValueType::Double {
                    ValueType::Double
                } else {
                    ValueType::Long
                }
            }
        }
    }

    /// Calls `f` on every field the expression reads, outside CONDITION's condition.
    pub fn for_each_field(&self, f: &mut dyn FnMut(&Field)) {
        match self {
            Expr::Field(x) | Expr::Agg { field: x, .. } | Expr::Top(x, _) | Expr::TopList(x, _) => f(x),
            Expr::Condition(a, _) | Expr::DatePart(_, a) | Expr::DateTime { arg: a, .. } => a.for_each_field(f),
            Expr::Arith(_, a, b) => {
                a.for_each_field(f);
                b.for_each_field(f);
            }
            Expr::Num(_) | Expr::CountStar | Expr::Keys(..) => {}
        }
    }

    /// Calls `f` on every sub-expression, this one first.
    pub fn walk(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Condition(a, _) | Expr::DatePart(_, a) | Expr::DateTime { arg: a, .. } => a.walk(f),
            Expr::Arith(_, a, b) => {
                a.walk(f);
                b.walk(f);
            }
            _ => {}
        }
    }

    /// The scopes whose fields the expression reads (KEYS reads its properties' owner).
    pub fn scopes(&self) -> Vec<Scope> {
        let mut out = Vec::new();
        self.for_each_field(&mut |x| out.push(x.scope));
        self.walk(&mut |e| {
            if let Expr::Keys(s, _) = e {
                out.push(*s);
            }
        });
        out
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=` or `IS`
    Eq,
    /// `!=`, `<>` or `IS NOT`
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

/// A WHERE (or CONDITION, or FUNNEL step) condition.
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
    /// `field [NOT] BETWEEN lo AND hi` (inclusive)
    Between(Field, Literal, Literal, bool),
}

impl Cond {
    /// The field of a leaf condition.
    pub fn leaf_field(&self) -> Option<&Field> {
        match self {
            Cond::And(..) | Cond::Or(..) | Cond::Not(_) => None,
            Cond::Cmp(f, ..)
            | Cond::In(f, ..)
            | Cond::IsNull(f, _)
            | Cond::Like(f, ..)
            | Cond::StartsWith(f, ..)
            | Cond::Between(f, ..) => Some(f),
        }
    }

    /// Calls `f` on every leaf condition.
    pub fn for_each_leaf<'a>(&'a self, f: &mut dyn FnMut(&'a Cond)) {
        match self {
            Cond::And(a, b) | Cond::Or(a, b) => {
                a.for_each_leaf(f);
                b.for_each_leaf(f);
            }
            Cond::Not(a) => a.for_each_leaf(f),
            leaf => f(leaf),
        }
    }

    /// Whether any leaf reads a field of `scope`.
    pub fn touches(&self, scope: Scope) -> bool {
        let mut hit = false;
        self.for_each_leaf(&mut |l| hit |= l.leaf_field().is_some_and(|f| f.scope == scope));
        hit
    }
}

/// One select-list item.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectItem {
    /// The expression.
    pub expr: Expr,
    /// The column name: the alias, or the expression as written.
    pub name: String,
    /// `FILTER op value` after an aggregate: keep only groups whose value satisfies it.
    pub filter: Option<(CmpOp, f64)>,
    /// Where the item starts in the query.
    pub pos: usize,
}

/// What an ORDER BY item sorts by.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderKey {
    /// A select-list column (by alias or position), 0-based.
    Column(usize),
    /// An expression.
    Expr(Expr),
}

/// A checked query: the plan a backend turns into SQL.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// `SELECT DISTINCT` without aggregates (with aggregates it became GROUP BY).
    pub distinct: bool,
    /// The select list (a FUNNEL is one `CONDITION(COUNT(*), …)` column per step).
    pub items: Vec<SelectItem>,
    /// The FROM table.
    pub table: Scope,
    /// The WHERE condition.
    pub filter: Option<Cond>,
    /// GROUP BY keys.
    pub group_by: Vec<Expr>,
    /// ORDER BY keys and whether descending; empty means the default order (grouped results
    /// by frequency, most frequent first).
    pub order_by: Vec<(OrderKey, bool)>,
    /// LIMIT, if given.
    pub limit: Option<u32>,
    /// `JSON`: a last column with each row's whole record.
    pub json: bool,
}

impl Query {
    /// Whether the query aggregates (GROUP BY or an aggregate in the select list).
    pub fn is_aggregated(&self) -> bool {
        !self.group_by.is_empty() || self.items.iter().any(|i| i.expr.is_aggregate())
    }

    /// The owner and type of the properties a `KEYS(…)` in the select list lists, if any.
    pub fn keys(&self) -> Option<(Scope, PropKind)> {
        let mut found = None;
        for it in &self.items {
            it.expr.walk(&mut |e| {
                if let Expr::Keys(s, k) = e {
                    found = Some((*s, *k));
                }
            });
        }
        found
    }

    /// For `FROM usersession`: the secondary table whose rows the query has (one row per action,
    /// error or event), because a field of it is selected, grouped or ordered; `None` for one
    /// row per session. For other tables, the table itself.
    pub fn row_scope(&self) -> Option<Scope> {
        if self.table != Scope::UserSession {
            return Some(self.table);
        }
        let mut found = None;
        let mut see = |e: &Expr| {
            for s in e.scopes() {
                if s != Scope::UserSession && found.is_none() {
                    found = Some(s);
                }
            }
        };
        self.items.iter().for_each(|i| see(&i.expr));
        self.group_by.iter().for_each(&mut see);
        for (k, _) in &self.order_by {
            if let OrderKey::Expr(e) = k {
                see(e);
            }
        }
        found
    }
}
