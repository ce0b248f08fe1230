//! The ClickHouse backend: a checked [`Query`] plan becomes one ClickHouse SQL statement that
//! runs on ClickHouse 18.16 (Debian's, the test server) and on current releases, over the
//! `beacons` and `actions` tables of [`crate::clickhouse`].
//!
//! Sessions are folded at query time, with the rules of the SQLite store (`store.rs`): the
//! subquery `s` groups a session's deduplicated beacon rows (`FINAL`) by `sid` (start: the
//! earliest; user id and end code: the highest seq that carries one; a session property: the
//! highest seq that carries the key; screen and connection: the lowest seq that carries them;
//! the user agent and the address: the lowest seq) and joins its actions' counters (action,
//! request and error counts, rage clicks, the end time, the experience score). The subqueries
//! `a` (actions), `e` (errors, one per element of an action's error arrays) and `v` (events)
//! expose the SQLite store's column names, so the field catalog's expressions serve both stores
//! (a field whose SQLite expression is not portable has a ClickHouse one beside it).
//!
//! 18.16 has no query parameters: literals are inlined, strings with [`quote`] (backslash and
//! quote escaped), numbers as numbers, so text from a query never changes the statement's
//! structure. 18.16's `AND`/`OR` are NULL when an argument is NULL, so conditions are
//! computed in three-valued logic by hand: every condition is a number, 0 false, 1 unknown,
//! 2 true; AND is the least, OR the greatest, NOT is 2 minus it.
//!
//! Grouped queries with TOP keys are grouped by ClickHouse and ranked here (18.16 has no window
//! functions), with SQLite's order of values.

use super::fields::ValueType;
use super::plan::*;
use super::time::{self, DatePart, Interval};
use super::{QueryError, QueryOptions, QueryResult};
use crate::goals::{Criterion, Goals};
use serde_json::Value as Json;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::time::Duration;

/// Rows a query returns when it gives no LIMIT (as for SQLite).
pub const DEFAULT_LIMIT: u32 = super::sqlite::DEFAULT_LIMIT;

const DAY_MS: i64 = 86_400_000;

/// A ClickHouse string literal of `s`: backslash and single quote escaped, so any text stays
/// one literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn float(x: f64) -> String {
    if x.is_finite() {
        format!("{x:?}")
    } else {
        "NULL".to_owned()
    }
}

/// The JSON text of a string array (`["a","b"]`), built in ClickHouse.
fn json_array(arr: &str) -> String {
    format!("concat('[', arrayStringConcat(arrayMap(x -> {}, {arr}), ','), ']')", json_string("x"))
}

/// The JSON text of a string value, built in ClickHouse (quote and backslash escaped).
fn json_string(x: &str) -> String {
    format!("concat('\"', replaceAll(replaceAll({x}, '\\\\', '\\\\\\\\'), '\"', '\\\\\"'), '\"')")
}

/// The statement for a query, and how to read its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// SQL text.
    pub sql: String,
    /// For TOP queries: the rows are groups (items, keys, row count, ORDER BY values) to rank,
    /// filter, order and page here.
    pub top: bool,
}

struct Builder {
    frame: Frame,
    /// Besides the session, whose fields the current rows have (`None`: session rows).
    rows: Option<Scope>,
    /// Session properties read: `s.sp{i}`.
    sprops: Vec<(PropKind, String)>,
    /// Action properties read: `a.ap{i}`.
    aprops: Vec<(PropKind, String)>,
    /// What `COUNT(*)` counts: `count()`, or over rollup rows the sum of their weights.
    count: &'static str,
}

/// A catalog expression over this backend's column names: `s.start_time` is `s_start_time`
/// (every subquery column carries its alias as a prefix: 18.16 resolves a qualified name
/// wrongly when both sides of a join have a column of that name).
pub fn unqualify(sql: &str) -> String {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for (i, c) in sql.char_indices() {
        if c == '\'' {
            quoted = !quoted;
        }
        let qualifier = i > 0
            && c == '.'
            && !quoted
            && matches!(b[i - 1], b's' | b'a' | b'e' | b'v')
            && (i == 1 || !(b[i - 2].is_ascii_alphanumeric() || b[i - 2] == b'_'));
        out.push(if qualifier { '_' } else { c });
    }
    out
}

/// Whether a condition is true (in three-valued logic, see the module comment).
fn holds(tri: &str) -> String {
    format!("({tri}) = 2")
}

/// The three-valued form of a predicate that is NULL when unknown.
fn tri_of(p: &str) -> String {
    format!("toUInt8(ifNull(({p}) * 2, 1))")
}

fn cmp_op(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "=",
        CmpOp::Ne => "!=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
    }
}

/// An IP address key (16 bytes, IPv4 mapped into IPv6) of a text column, as `time::ip_key`.
fn ip_key_sql(x: &str) -> String {
    // One conversion of both families (IPv4 written as `::ffff:a.b.c.d`): current ClickHouse
    // evaluates both branches of an `if` here and fails on an address of the other family.
    format!("IPv6StringToNum(if(position({x}, ':') > 0, {x}, concat('::ffff:', {x})))")
}

/// The byte pattern of a USQL `LIKE` pattern, as `functions::like` matches: `%`/`*` any run
/// of characters, `?` one (UTF-8) character, `\` escapes the next; the whole value must match.
pub fn like_regex(pattern: &str) -> String {
    let mut out = String::from("^");
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => push_literal(&mut out, it.next().unwrap_or('\\')),
            '%' | '*' => out.push_str("(?:[\\x00-\\x7F\\xC0-\\xFF][\\x80-\\xBF]*)*"),
            '?' => out.push_str("(?:[\\x00-\\x7F\\xC0-\\xFF][\\x80-\\xBF]*)"),
            c => push_literal(&mut out, c),
        }
    }
    out.push('$');
    out
}

fn push_literal(out: &mut String, c: char) {
    // Punctuation as `\c`, not `\xHH`: 18.16's `match` takes the literal text a pattern needs
    // from the pattern before running it, and reads `\x2F` as the letters `x2F`.
    if c.is_ascii_alphanumeric() || c == ' ' || !c.is_ascii() {
        out.push(c);
    } else if c.is_ascii_punctuation() {
        out.push('\\');
        out.push(c);
    } else {
        out.push_str(&format!("\\x{:02X}", c as u32));
    }
}

impl Builder {
    fn new(q: &Query, opts: &QueryOptions) -> Builder {
        Builder { frame: opts.frame(), rows: q.row_scope(), sprops: Vec::new(), aprops: Vec::new(), count: "count()" }
    }

    fn literal(&self, lit: &Literal) -> String {
        match lit {
            Literal::Str(s) => quote(s),
            Literal::Int(n) => n.to_string(),
            Literal::Float(x) => float(*x),
            Literal::Bool(v) => u8::from(*v).to_string(),
            Literal::Time(t) => t.resolve(&self.frame).map_or("NULL".to_owned(), |n| n.to_string()),
        }
    }

    fn is_null_literal(&self, lit: &Literal) -> bool {
        matches!(lit, Literal::Time(t) if t.resolve(&self.frame).is_none())
    }

    fn field(&mut self, f: &Field) -> String {
        match &f.kind {
            FieldKind::Builtin(b) => unqualify(b.ch_sql()),
            FieldKind::Prop(kind, key) => {
                let (list, prefix) = match f.scope {
                    Scope::UserSession => (&mut self.sprops, "s_sp"),
                    Scope::UserAction => (&mut self.aprops, "a_ap"),
                    _ => return "NULL".to_owned(),
                };
                let i = match list.iter().position(|(k, n)| k == kind && n == key) {
                    Some(i) => i,
                    None => {
                        list.push((*kind, key.clone()));
                        list.len() - 1
                    }
                };
                format!("{prefix}{i}")
            }
        }
    }

    fn agg(&mut self, func: AggFunc, x: &str, ty: ValueType, distinct: bool, pct: Option<f64>) -> String {
        let long = ty != ValueType::Double;
        match (func, distinct) {
            (AggFunc::Count, false) => format!("count({x})"),
            (AggFunc::Count, true) => format!("toUInt64(ifNull(uniqExact({x}), 0))"),
            (AggFunc::Sum, false) if long => format!(
                "(sum(toNullable({x})) + throwIf(abs(sum(toDecimal128({x}, 0))) > toDecimal128('9223372036854775807', 0)))"
            ),
            (AggFunc::Sum, false) => format!("sum(toNullable({x}))"),
            (AggFunc::Sum, true) => format!("if(ifNull(uniqExact({x}), 0) = 0, NULL, arraySum(groupUniqArray({x})))"),
            (AggFunc::Avg, false) if long => format!("(toFloat64(sum(toDecimal128({x}, 0))) / count({x}))"),
            (AggFunc::Avg, false) => format!("avg(toNullable({x}))"),
            (AggFunc::Avg, true) => {
                format!("if(ifNull(uniqExact({x}), 0) = 0, NULL, toFloat64(arraySum(groupUniqArray({x}))) / uniqExact({x}))")
            }
            (AggFunc::Min, _) => format!("min(toNullable({x}))"),
            (AggFunc::Max, _) => format!("max(toNullable({x}))"),
            (AggFunc::Median | AggFunc::Percentile, _) => {
                // functions::percentile: linear interpolation between the two closest ranks.
                let q = pct.unwrap_or(50.0).clamp(0.0, 100.0) / 100.0;
                let arr = format!("arraySort(groupArray(toFloat64({x})))");
                let rank = format!("({} * toFloat64(length({arr}) - 1))", float(q));
                let lo = format!("{arr}[toUInt64(floor({rank})) + 1]");
                let hi = format!("{arr}[toUInt64(ceil({rank})) + 1]");
                format!("if(length({arr}) = 0, NULL, {lo} + ({hi} - {lo}) * ({rank} - floor({rank})))")
            }
        }
    }

    fn expr(&mut self, e: &Expr) -> String {
        match e {
            Expr::Field(f) | Expr::Top(f, _) => self.field(f),
            Expr::Num(Literal::Int(n)) => format!("toInt64({n})"),
            Expr::Num(l) => self.literal(l),
            Expr::CountStar => self.count.to_owned(),
            Expr::Agg { func, field, distinct, pct } => {
                let f = self.field(field);
                self.agg(*func, &f, field.ty(), *distinct, *pct)
            }
            Expr::Condition(inner, c) => {
                let rows = self.rows;
                let c = holds(&self.cond(c, rows));
                match inner.as_ref() {
                    Expr::Agg { func, field, distinct, pct } => {
                        let f = self.field(field);
                        self.agg(*func, &format!("if({c}, {f}, NULL)"), field.ty(), *distinct, *pct)
                    }
                    _ => format!("countIf({c})"),
                }
            }
            Expr::DatePart(part, a) => {
                let t = self.local(a);
                date_part(*part, &t)
            }
            Expr::DateTime { arg, format, interval } => {
                let t = self.local(arg);
                let b = floor_interval(&t, *interval);
                format_time(&b, format)
            }
            Expr::TopList(f, n) => {
                let x = self.field(f);
                let text = if f.ty() == ValueType::Text { json_string("v") } else { "toString(v)".to_owned() };
                format!(
                    "arraySlice(arrayMap(t -> t.2, arraySort(t -> (-t.1, t.3), arrayMap(v -> (toInt64(countEqual(groupArray({x}), v)), v, {text}), groupUniqArray({x})))), 1, {n})"
                )
            }
            Expr::Keys(..) => "kp_key".to_owned(),
            Expr::Arith(op, a, b) => {
                let long = e.ty() == ValueType::Long;
                let (x, y) = (self.expr(a), self.expr(b));
                match (op, long) {
                    (ArithOp::Add, _) => format!("({x} + {y})"),
                    (ArithOp::Sub, _) => format!("({x} - {y})"),
                    (ArithOp::Mul, _) => format!("({x} * {y})"),
                    // SQLite's ROUND: half away from zero, then CAST truncates.
                    (ArithOp::Div, true) => {
                        let q = format!("(toFloat64({x}) / {y})");
                        format!("if({y} = 0, NULL, toInt64({q} + if({q} < 0, -0.5, 0.5)))")
                    }
                    (ArithOp::Div, false) => format!("if({y} = 0, NULL, toFloat64({x}) / {y})"),
                    (ArithOp::Mod, true) => format!("if({y} = 0, NULL, {x} % if({y} = 0, 1, {y}))"),
                    (ArithOp::Mod, false) => {
                        format!("if({y} = 0, NULL, toFloat64({x}) - {y} * toInt64(toFloat64({x}) / if({y} = 0, 1, {y})))")
                    }
                }
            }
        }
    }

    /// Local time (epoch ms shifted by `offsetUTC`) of a date expression.
    fn local(&mut self, e: &Expr) -> String {
        let x = self.expr(e);
        match self.frame.offset_min.checked_mul(60_000) {
            Some(0) | None => x,
            Some(off) => format!("({x} + {off})"),
        }
    }

    /// A condition over the current rows, in three-valued form: fields of the session and of
    /// `rows` are read from the row; a leaf on another secondary table holds when one of the
    /// session's rows of that table meets it (or, for a session without such rows, when it
    /// holds with the field NULL).
    fn cond(&mut self, c: &Cond, rows: Option<Scope>) -> String {
        match c {
            Cond::And(a, b) => format!("least({}, {})", self.cond(a, rows), self.cond(b, rows)),
            Cond::Or(a, b) => format!("greatest({}, {})", self.cond(a, rows), self.cond(b, rows)),
            Cond::Not(a) => format!("(2 - {})", self.cond(a, rows)),
            leaf => {
                let scope = leaf.leaf_field().map_or(Scope::UserSession, |f| f.scope);
                if scope == Scope::UserSession || Some(scope) == rows {
                    return self.leaf(leaf);
                }
                let saved = self.rows.replace(scope);
                let with = self.leaf(leaf);
                self.rows = saved;
                let without = null_leaf(leaf);
                let (src, none) = match scope {
                    Scope::UserError => ("errors", "session_id NOT IN (SELECT session_id FROM <errors>)"),
                    Scope::UserEvent => ("events", "session_id NOT IN (SELECT session_id FROM <events>)"),
                    _ => ("actions", "s_action_count = 0"),
                };
                format!(
                    "greatest(if(session_id IN (SELECT session_id FROM <{src}> WHERE {}), 2, 0), least(if({none}, 2, 0), {without}))",
                    holds(&with)
                )
            }
        }
    }

    fn leaf(&mut self, c: &Cond) -> String {
        let neg = |negated: bool, t: String| if negated { format!("(2 - {t})") } else { t };
        match c {
            Cond::Cmp(f, op, lit) => {
                let x = self.field(f);
                let v = self.literal(lit);
                let op = cmp_op(*op);
                match f.ty() {
                    ValueType::Ip => {
                        let k = ip_literal(lit);
                        tri_of(&format!("if(isNull({x}), NULL, {} {op} {k})", ip_key_sql(&format!("assumeNotNull({x})"))))
                    }
                    ValueType::TextArray => {
                        let has = format!("position({x}, {}) > 0", quote(&json_text(lit)));
                        let p = if op == "=" { has } else { format!("NOT ({has})") };
                        tri_of(&format!("if(isNull({x}), NULL, {p})"))
                    }
                    _ => tri_of(&format!("{x} {op} {v}")),
                }
            }
            Cond::In(f, list, negated) => {
                let x = self.field(f);
                let has_null = list.iter().any(|l| self.is_null_literal(l));
                let present: Vec<&Literal> = list.iter().filter(|l| !self.is_null_literal(l)).collect();
                let found = match f.ty() {
                    ValueType::TextArray => {
                        let parts: Vec<String> =
                            present.iter().map(|l| format!("position({x}, {}) > 0", quote(&json_text(l)))).collect();
                        if parts.is_empty() { "0".to_owned() } else { parts.join(" OR ") }
                    }
                    ValueType::Ip => {
                        let keys: Vec<String> = present.iter().map(|l| ip_literal(l)).collect();
                        if keys.is_empty() {
                            "0".to_owned()
                        } else {
                            format!("{} IN ({})", ip_key_sql(&format!("assumeNotNull({x})")), keys.join(", "))
                        }
                    }
                    _ => {
                        let items: Vec<String> = present.iter().map(|l| self.literal(l)).collect();
                        if items.is_empty() { "0".to_owned() } else { format!("{x} IN ({})", items.join(", ")) }
                    }
                };
                let miss = if has_null { "NULL" } else { "0" };
                let p = format!("if(isNull({x}), NULL, if({found}, 1, {miss}))");
                neg(*negated, tri_of(&p))
            }
            Cond::IsNull(f, is_not) => {
                let x = self.field(f);
                if *is_not {
                    format!("if(isNull({x}), 0, 2)")
                } else {
                    format!("if(isNull({x}), 2, 0)")
                }
            }
            Cond::Like(f, pattern, negated) => {
                let x = self.field(f);
                neg(*negated, tri_of(&format!("match({x}, {})", quote(&like_regex(pattern)))))
            }
            Cond::StartsWith(f, prefix, negated) => {
                let x = self.field(f);
                neg(*negated, tri_of(&format!("substring({x}, 1, {}) = {}", prefix.len(), quote(prefix))))
            }
            Cond::Between(f, lo, hi, negated) => {
                let x = self.field(f);
                let t = if f.ty() == ValueType::Ip {
                    let k = ip_key_sql(&format!("assumeNotNull({x})"));
                    let (l, h) = (ip_literal(lo), ip_literal(hi));
                    format!(
                        "least({}, {})",
                        tri_of(&format!("if(isNull({x}), NULL, {k} >= {l})")),
                        tri_of(&format!("if(isNull({x}), NULL, {k} <= {h})"))
                    )
                } else {
                    let (l, h) = (self.literal(lo), self.literal(hi));
                    format!("least({}, {})", tri_of(&format!("{x} >= {l}")), tri_of(&format!("{x} <= {h}")))
                };
                neg(*negated, t)
            }
            Cond::And(..) | Cond::Or(..) | Cond::Not(_) => self.cond(c, self.rows),
        }
    }
}

/// A leaf as seen by a session without rows of the leaf's table: its field NULL.
fn null_leaf(c: &Cond) -> &'static str {
    match c {
        Cond::IsNull(_, true) => "0",
        Cond::IsNull(_, false) => "2",
        _ => "1",
    }
}

/// The JSON text of a literal as an element of a stored JSON array (`"name"`).
fn json_text(lit: &Literal) -> String {
    match lit {
        Literal::Str(s) => Json::String(s.clone()).to_string(),
        Literal::Int(n) => n.to_string(),
        Literal::Float(x) => x.to_string(),
        Literal::Bool(b) => u8::from(*b).to_string(),
        Literal::Time(_) => String::new(),
    }
}

/// The 16-byte key of an IP literal, or NULL when it is no address.
fn ip_literal(lit: &Literal) -> String {
    match lit {
        Literal::Str(s) => match super::time::ip_key(s) {
            Some(k) => {
                let hex: String = k.iter().map(|b| format!("{b:02X}")).collect();
                format!("toFixedString(unhex('{hex}'), 16)")
            }
            None => "NULL".to_owned(),
        },
        _ => "NULL".to_owned(),
    }
}

/// `floor(x / d)` for a positive constant `d` (ClickHouse's intDiv truncates). Written
/// without `%`: 18.16 gives `x % 60000` the type of the divisor (Int16), which wraps.
pub(crate) fn floor_div(x: &str, d: i64) -> String {
    format!("(intDiv({x}, {d}) - if({x} < intDiv({x}, {d}) * {d}, 1, 0))")
}

/// The date of a day number (1970 to 2149).
fn date_of(days: &str) -> String {
    format!("toDate(toUInt16({days}))")
}

fn date_part(part: DatePart, t: &str) -> String {
    let days = floor_div(t, DAY_MS);
    let rem = format!("({t} - {days} * {DAY_MS})");
    match part {
        DatePart::Year => format!("toInt64(toYear({}))", date_of(&days)),
        DatePart::Month => format!("toInt64(toMonth({}))", date_of(&days)),
        DatePart::Day => format!("toInt64(toDayOfMonth({}))", date_of(&days)),
        DatePart::Hour => format!("intDiv({rem}, 3600000)"),
        DatePart::Minute => format!("(intDiv({rem}, 60000) % toInt64(60))"),
    }
}

/// `Interval::floor` of a local time.
fn floor_interval(t: &str, interval: Interval) -> String {
    let days = floor_div(t, DAY_MS);
    match interval {
        Interval::None => t.to_owned(),
        Interval::Fixed(size) => format!("({} * {size})", floor_div(t, size)),
        Interval::Week => format!("(({days} - ((({days} + 3) % toInt64(7)) + 7) % toInt64(7)) * {DAY_MS})"),
        Interval::Month => format!("(toInt64(toUInt16(toStartOfMonth({}))) * {DAY_MS})", date_of(&days)),
        Interval::Year => format!("(toInt64(toUInt16(toStartOfYear({}))) * {DAY_MS})", date_of(&days)),
    }
}

const DAY_NAMES: &str = "['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']";
const DAY_NAMES_LONG: &str = "['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday']";
const MONTH_NAMES: &str = "['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']";
const MONTH_NAMES_LONG: &str = "['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December']";

/// A number as text, zero-padded to `width` (Rust's `{v:0width$}` for v ≥ 0).
fn pad(v: &str, width: usize) -> String {
    let s = format!("toString({v})");
    if width <= 1 {
        return s;
    }
    format!("if(length({s}) >= {width}, {s}, concat(substring('{}', 1, {width} - length({s})), {s}))", "0".repeat(width))
}

/// `time::format` of a local time `t` (ms), as a concatenation of its parts.
fn format_time(t: &str, fmt: &str) -> String {
    let days = floor_div(t, DAY_MS);
    let date = date_of(&days);
    let rem = format!("({t} - {days} * {DAY_MS})");
    let hour = format!("intDiv({rem}, 3600000)");
    let weekday = format!("((({days} + 3) % toInt64(7) + 7) % toInt64(7) + 1)");
    let mut parts: Vec<String> = Vec::new();
    for piece in time::format_pieces(fmt) {
        let (c, run) = match piece {
            time::FormatPiece::Text(text) => {
                parts.push(quote(&text));
                continue;
            }
            time::FormatPiece::Field(c, run) => (c, run),
        };
        parts.push(match c {
            'y' | 'u' if run == 2 => pad(&format!("(toYear({date}) % toInt64(100))"), run),
            'y' | 'u' => pad(&format!("toYear({date})"), run),
            'M' if run >= 4 => format!("{MONTH_NAMES_LONG}[toMonth({date})]"),
            'M' if run == 3 => format!("{MONTH_NAMES}[toMonth({date})]"),
            'M' => pad(&format!("toMonth({date})"), run),
            'd' => pad(&format!("toDayOfMonth({date})"), run),
            'D' => pad(&format!("({days} - toInt64(toUInt16(toStartOfYear({date}))) + 1)"), run),
            'H' => pad(&hour, run),
            'h' => pad(&format!("(({hour} + 11) % toInt64(12) + 1)"), run),
            'a' => format!("if({hour} < 12, 'AM', 'PM')"),
            'm' => pad(&format!("(intDiv({rem}, 60000) % toInt64(60))"), run),
            's' => pad(&format!("(intDiv({rem}, 1000) % toInt64(60))"), run),
            'S' => pad(&format!("({rem} % toInt64(1000))"), run),
            'E' | 'c' if run >= 4 => format!("{DAY_NAMES_LONG}[{weekday}]"),
            'E' | 'c' => format!("{DAY_NAMES}[{weekday}]"),
            _ => pad(&format!("({weekday} % toInt64(7) + 1)"), run), // 'e'
        });
    }
    match parts.len() {
        0 => format!("if(isNull({t}), NULL, '')"),
        1 => format!("concat({}, '')", parts[0]),
        _ => format!("concat({})", parts.join(", ")),
    }
}

/// The deduplicated action rows with the SQLite store's column names (and the query's action
/// properties as `ap0`, … and, for KEYS, the property keys as `keys_<type>`). Without array
/// columns, as the right side of a LEFT JOIN must be (NULL-filled there).
/// `only` is a `WHERE` clause on the rows read (or empty).
pub(crate) fn actions_sql(aprops: &[(PropKind, String)], keys: Option<PropKind>, only: &str) -> String {
    let mut cols: Vec<String> = vec!["sid AS session_id".to_owned(), "1 AS a_id".to_owned()];
    for c in [
        "action_id", "seq", "app", "kind", "name", "start_time", "end_time", "url", "requests", "request_errors", "js_errors",
        "navigation_start", "request_start", "response_start", "response_end", "document_interactive_time", "dom_content_loaded_time",
        "dom_complete_time", "load_event_start", "load_event_end", "largest_contentful_paint", "first_input_delay",
        "interaction_to_next_paint", "visually_complete_time", "speed_index", "cumulative_layout_shift", "server_time",
        "network_time", "frontend_time", "first_party_resources", "third_party_resources", "cdn_resources", "apdex_category",
        "rage_clicks", "key_user_action",
    ] {
        cols.push(format!("{c} AS a_{c}"));
    }
    cols.push(format!("{} AS a_goals_json", json_array("matching_goals")));
    for (i, (kind, key)) in aprops.iter().enumerate() {
        let t = kind.name();
        let k = quote(key);
        cols.push(format!("if(has({t}_keys, {k}), {t}_values[indexOf({t}_keys, {k})], NULL) AS a_ap{i}"));
    }
    if let Some(kind) = keys {
        cols.push(format!("{t}_keys AS a_keys_{t}", t = kind.name()));
    }
    format!("(SELECT {} FROM actions FINAL{only})", cols.join(", "))
}

/// One row per JavaScript error: the elements of the actions' error arrays.
pub(crate) const ERRORS: &str = "(SELECT session_id, err_app AS e_app, err_action_name AS e_action_name, err_action_url AS e_action_url, \
     et AS e_start_time, en AS e_name, es AS e_source, el AS e_line, ec AS e_col, 'Error' AS e_type \
     FROM (SELECT sid AS session_id, app AS err_app, name AS err_action_name, url AS err_action_url, error_times, error_names, \
     error_sources, error_lines, error_cols FROM actions FINAL) \
     ARRAY JOIN error_times AS et, error_names AS en, error_sources AS es, error_lines AS el, error_cols AS ec)";

/// The `userevent` rows: errors as `Error`, page loads and route changes as `PageChange`,
/// actions with rage clicks as `RageClick` (the SQLite store's events view).
fn events_sql() -> String {
    format!(
        "(SELECT session_id, ev_app AS v_app, ev_type AS v_type, ev_name AS v_name, ev_start AS v_start_time, ev_page AS v_page FROM (\
         SELECT session_id, e_app AS ev_app, e_type AS ev_type, e_name AS ev_name, e_start_time AS ev_start, e_action_url AS ev_page FROM {ERRORS} \
         UNION ALL SELECT sid AS session_id, app AS ev_app, 'PageChange' AS ev_type, name AS ev_name, start_time AS ev_start, url AS ev_page \
         FROM actions FINAL WHERE kind IN ('load', 'route') \
         UNION ALL SELECT sid AS session_id, app AS ev_app, 'RageClick' AS ev_type, name AS ev_name, start_time AS ev_start, url AS ev_page \
         FROM actions FINAL WHERE rage_clicks > 0))"
    )
}

/// The sessions, folded from their beacons and actions as the SQLite store folds them.
/// `from` (the folded sessions) with the earliest start of each visitor of an application
/// (`visitor_first`): a new user is one whose session starts no later (sessions that start
/// at the same time are all new); unknown without a visitor id on the first beacon.
fn visitors(beacons: &str, from: &str) -> String {
    let key = "concat(b_app, '\\x00', ifNull(b_vid, ''))";
    format!(
        "(SELECT *, {key} AS visitor_key FROM {from}) AS bc ANY LEFT JOIN \
         (SELECT {key} AS visitor_key, min(b_start_time) AS visitor_first FROM {beacons} AS b GROUP BY visitor_key) AS vf \
         USING visitor_key"
    )
}

/// Whether `sql` names the column `name` (as a whole word).
fn mentions(sql: &str, name: &str) -> bool {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    sql.match_indices(name).any(|(i, _)| !word(sql[..i].chars().next_back()) && !word(sql[i + name.len()..].chars().next()))
}

/// The value of column `c` in the session's beacon of the lowest seq, NULL included: NULL when
/// that beacon's is, else the lowest seq's among the non-NULL ones (`argMin` skips NULL), which
/// is that beacon's. Not `argMin(tuple(c), seq).1`: over a `Distributed` table 18.16's shards
/// crash sending that state for a `Nullable` column (checked on the two-shard test cluster).
fn lowest_seqs(c: &str) -> String {
    format!("if(argMin(isNull({c}), seq) = 1, NULL, argMin({c}, seq))")
}

/// The sessions subquery with every column (`s_new_user` when `new_user`).
pub(crate) fn sessions_sql(sprops: &[(PropKind, String)], keys: Option<PropKind>, new_user: bool, goals: &Goals) -> String {
    sessions_reading(sprops, keys, &|c: &str| c != "new_user" || new_user, goals, "")
}

/// The sessions subquery, with the columns `used` names (by their names without `s_`).
/// `only` is a `WHERE` clause on the beacon and action rows read (or empty).
fn sessions_reading(sprops: &[(PropKind, String)], keys: Option<PropKind>, used: &dyn Fn(&str) -> bool, goals: &Goals, only: &str) -> String {
    let new_user = used("new_user");
    // Folded columns are named `b_<column>` inside (an alias may not reuse the name of a column
    // it reads) and renamed outside.
    let mut folded: Vec<(String, &str)> = vec![
        ("min(session_start)".to_owned(), "start_time"),
        ("max(received_at)".to_owned(), "last_seen"),
        ("argMin(app, seq)".to_owned(), "app"),
        // The highest seq that carries one (argMax skips NULL).
        ("argMax(user_id, seq)".to_owned(), "user_id"),
        ("argMax(ended, seq)".to_owned(), "end_reason"),
        ("argMin(vid, seq)".to_owned(), "vid"),
        (lowest_seqs("vid"), "first_vid"),
    ];
    for c in [
        "user_type", "browser_type", "browser_family", "browser_version", "os_family", "os_version", "device", "manufacturer", "ip",
        "city", "region", "country", "continent", "isp",
    ] {
        folded.push((lowest_seqs(c), c));
    }
    // The lowest seq that carries them.
    for c in ["screen_width", "screen_height", "screen_orientation", "display_resolution", "connection_type"] {
        folded.push((format!("argMin({c}, seq)"), c));
    }
    // Only what the query reads (the start also gives the end time; the visitor, new users).
    folded.retain(|(_, c)| used(c) || *c == "start_time" || (new_user && matches!(*c, "app" | "vid" | "first_vid")));
    let mut b: Vec<String> = vec!["sid".to_owned(), "sid AS session_id".to_owned()];
    b.extend(folded.iter().map(|(e, c)| format!("{e} AS b_{c}")));
    for (i, (kind, key)) in sprops.iter().enumerate() {
        let t = kind.name();
        let k = quote(key);
        b.push(format!(
            "if(countIf(has({t}_keys, {k})) = 0, NULL, argMaxIf({t}_values[indexOf({t}_keys, {k})], seq, has({t}_keys, {k}))) AS sp{i}"
        ));
    }
    if let Some(kind) = keys {
        b.push(format!("groupUniqArrayArray({t}_keys) AS keys_{t}", t = kind.name()));
    }
    let beacons = format!("(SELECT {} FROM beacons FINAL{only} GROUP BY sid)", b.join(", "));
    let mut c = vec![
        "sid AS session_id".to_owned(),
        "toInt64(count()) AS n_actions".to_owned(),
        "sum(requests) AS n_requests".to_owned(),
        "sum(request_errors) AS n_request_errors".to_owned(),
        "sum(js_errors) AS n_js_errors".to_owned(),
        "sum(rage_clicks) AS n_rage".to_owned(),
        "max(end_time) AS max_end".to_owned(),
        "toInt64(countIf(ifNull(apdex_category, '') = 'SATISFIED')) AS n_satisfied".to_owned(),
        "toInt64(countIf(ifNull(apdex_category, '') = 'TOLERATING')) AS n_tolerating".to_owned(),
        "toInt64(countIf(ifNull(apdex_category, '') = 'FRUSTRATED')) AS n_frustrated".to_owned(),
        // The last action by start (ties: the later beacon, then the action id).
        "argMax(ifNull(apdex_category, ''), tuple(start_time, seq, action_id)) AS last_apdex".to_owned(),
    ];
    if !goals.goals.is_empty() {
        c.push("arrayStringConcat(groupUniqArrayArray(matching_goals), '\\x01') AS reached".to_owned());
    }
    let counters = format!("(SELECT {} FROM actions FINAL{only} GROUP BY sid)", c.join(", "));
    let f = "(ifNull(n_frustrated, 0) + ifNull(n_js_errors, 0) + ifNull(n_rage, 0))";
    let total = format!("({f} + ifNull(n_tolerating, 0) + ifNull(n_satisfied, 0))");
    let fs = crate::derive::FRUSTRATED_SHARE_PERCENT;
    let ss = crate::derive::SATISFIED_SHARE_PERCENT;
    let mut s: Vec<String> = vec!["session_id".to_owned(), "sid AS s_sid".to_owned()];
    s.extend(folded.iter().map(|(_, c)| format!("b_{c} AS s_{c}")));
    s.extend((0..sprops.len()).map(|i| format!("sp{i} AS s_sp{i}")));
    if let Some(kind) = keys {
        s.push(format!("keys_{t} AS s_keys_{t}", t = kind.name()));
    }
    let counted = [
        "action_count", "request_count", "request_error_count", "js_error_count", "rage_click_count", "end_time", "experience_score",
        "matching_goals", "matching_goals_count",
    ];
    if !counted.iter().any(|c| used(c)) {
        if new_user {
            s.push("if(isNull(b_first_vid), NULL, b_start_time <= visitor_first) AS s_new_user".to_owned());
            return format!("(SELECT {} FROM {})", s.join(", "), visitors(&beacons, &format!("{beacons} AS b")));
        }
        return format!("(SELECT {} FROM {beacons} AS b)", s.join(", "));
    }
    s.extend([
        "ifNull(n_actions, 0) AS s_action_count".to_owned(),
        "ifNull(n_requests, 0) AS s_request_count".to_owned(),
        "ifNull(n_request_errors, 0) AS s_request_error_count".to_owned(),
        "ifNull(n_js_errors, 0) AS s_js_error_count".to_owned(),
        "ifNull(n_rage, 0) AS s_rage_click_count".to_owned(),
        "greatest(b_start_time, ifNull(max_end, b_start_time)) AS s_end_time".to_owned(),
        format!(
            "multiIf({total} = 0, 'UNDEFINED', ifNull(last_apdex, '') = 'FRUSTRATED' OR {f} * 100 >= {fs} * {total}, 'FRUSTRATED', \
             {f} = 0 AND ifNull(n_satisfied, 0) * 100 >= {ss} * {total}, 'SATISFIED', 'TOLERATED') AS s_experience_score"
        ),
    ]);
    if goals.goals.is_empty() {
        s.push("'[]' AS s_matching_goals".to_owned());
        s.push("toInt64(0) AS s_matching_goals_count".to_owned());
    } else {
        let reached = "splitByChar('\\x01', ifNull(reached, ''))";
        let picks: Vec<String> = goals
            .goals
            .iter()
            .map(|g| {
                let hit = match &g.criterion {
                    Criterion::Url(_) | Criterion::Action(_) => format!("has({reached}, {})", quote(&g.name)),
                    Criterion::SessionDuration(ms) => format!("(greatest(b_start_time, ifNull(max_end, b_start_time)) - b_start_time) >= {ms}"),
                    Criterion::ActionCount(n) => format!("ifNull(n_actions, 0) >= {n}"),
                };
                format!("if({hit}, {}, '')", quote(&g.name))
            })
            .collect();
        let list = format!("arrayFilter(x -> x != '', [{}])", picks.join(", "));
        s.push(format!("{} AS s_matching_goals", json_array(&list)));
        s.push(format!("toInt64(length({list})) AS s_matching_goals_count"));
    }
    let mut from = format!("{beacons} AS b ANY LEFT JOIN {counters} AS c USING session_id");
    if new_user {
        s.push("if(isNull(b_first_vid), NULL, b_start_time <= visitor_first) AS s_new_user".to_owned());
        from = visitors(&beacons, &from);
    }
    format!("(SELECT {} FROM {from})", s.join(", "))
}

/// The session-level WHERE parts: closed sessions, the time frame on the session start, and
/// the query's condition (for `FROM usersession`, on sessions; otherwise on the rows).
fn wheres(b: &mut Builder, q: &Query, opts: &QueryOptions) -> Vec<String> {
    let mut w = Vec::new();
    if !opts.include_live {
        let cutoff = opts.now_ms.saturating_sub(opts.session_timeout_ms);
        w.push(format!("(isNotNull(s_end_reason) OR s_last_seen <= {cutoff})"));
    }
    if let Some(t) = opts.start_timestamp {
        w.push(format!("s_start_time >= {t}"));
    }
    if let Some(t) = opts.end_timestamp {
        w.push(format!("s_start_time <= {t}"));
    }
    if let Some(c) = &q.filter {
        let rows = if q.table == Scope::UserSession { None } else { Some(q.table) };
        w.push(holds(&b.cond(c, rows)));
    }
    w
}

fn order_dir(desc: bool) -> &'static str {
    // SQLite's order: NULL before every value ascending, after every value descending.
    if desc {
        " DESC NULLS LAST"
    } else {
        " ASC NULLS FIRST"
    }
}

/// HAVING (the items' FILTERs and `extra`), ORDER BY (ties by the group keys) and the page of
/// a query that is not ranked here.
fn order_and_page(b: &mut Builder, q: &Query, opts: &QueryOptions, groups: &[String], extra: &[String]) -> String {
    let mut tail = String::new();
    let mut having: Vec<String> = extra.to_vec();
    having.extend(
        q.items.iter().enumerate().filter_map(|(k, i)| i.filter.map(|(op, v)| format!("c{k} {} {}", cmp_op(op), float(v)))),
    );
    if !having.is_empty() {
        tail.push_str(" HAVING ");
        tail.push_str(&having.join(" AND "));
    }
    let mut orders: Vec<String> = Vec::new();
    for (k, desc) in &q.order_by {
        let key = match k {
            OrderKey::Column(i) => format!("c{i}"),
            OrderKey::Expr(e) => b.expr(e),
        };
        orders.push(format!("{key}{}", order_dir(*desc)));
    }
    if q.order_by.is_empty() && !q.group_by.is_empty() {
        orders.push(format!("{} DESC", b.count));
    }
    // Ties keep one order: by the group keys.
    orders.extend(groups.iter().map(|g| format!("{g}{}", order_dir(false))));
    if !orders.is_empty() {
        tail.push_str(" ORDER BY ");
        tail.push_str(&orders.join(", "));
    }
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    let offset = opts.page_offset.min(limit);
    let rows = opts.page_size.unwrap_or(limit).min(limit - offset);
    tail.push_str(&format!(" LIMIT {offset}, {rows}"));
    tail
}

/// Builds the statement for `q` under `opts`, evaluating session goals with `goals`.
pub fn translate(q: &Query, opts: &QueryOptions, goals: &Goals) -> Statement {
    let mut b = Builder::new(q, opts);
    let top = q.group_by.iter().any(|g| matches!(g, Expr::Top(..)));
    let mut items: Vec<String> = q.items.iter().enumerate().map(|(k, i)| format!("{} AS c{k}", b.expr(&i.expr))).collect();
    if q.json {
        items.push("s_sid AS json_sid".to_owned());
        items.push(if q.table == Scope::UserAction { "a_action_id AS json_action".to_owned() } else { "NULL AS json_action".to_owned() });
    }
    let wheres = wheres(&mut b, q, opts);
    let groups: Vec<String> = q.group_by.iter().map(|g| b.expr(g)).collect();
    let mut tail = String::new();
    if top {
        for (j, g) in groups.iter().enumerate() {
            items.push(format!("{g} AS g{j}"));
        }
        items.push("count() AS _n".to_owned());
        for (k, (key, _)) in q.order_by.iter().enumerate() {
            if let OrderKey::Expr(e) = key {
                if !q.group_by.contains(e) {
                    items.push(format!("{} AS o{k}", b.expr(e)));
                }
            }
        }
    }
    if !groups.is_empty() {
        tail.push_str(" GROUP BY ");
        tail.push_str(&groups.join(", "));
    }
    if !top {
        tail.push_str(&order_and_page(&mut b, q, opts, &groups, &[]));
    }
    // FROM: the rows' table, the session beside it, and the KEYS rows.
    let keys = q.keys();
    let action_keys = keys.filter(|(s, _)| *s == Scope::UserAction).map(|(_, k)| k);
    let session_keys = keys.filter(|(s, _)| *s == Scope::UserSession).map(|(_, k)| k);
    let mut from = match (q.table, q.row_scope()) {
        (_, _) if action_keys.is_some() => "<actions_keys> ARRAY JOIN a_keys_K AS kp_key ALL INNER JOIN <sessions> USING session_id".to_owned(),
        (Scope::UserAction, _) if session_keys.is_some() => {
            "<sessions> ARRAY JOIN s_keys_K AS kp_key ALL INNER JOIN <actions> USING session_id".to_owned()
        }
        (Scope::UserAction, _) => "<actions> ALL INNER JOIN <sessions> USING session_id".to_owned(),
        (Scope::UserError, _) => "<errors> ALL INNER JOIN <sessions> USING session_id".to_owned(),
        (Scope::UserEvent, _) => "<events> ALL INNER JOIN <sessions> USING session_id".to_owned(),
        (_, Some(r)) => {
            let src = match r {
                Scope::UserError => "<errors>",
                Scope::UserEvent => "<events>",
                _ => "<actions>",
            };
            let arr = if session_keys.is_some() { " ARRAY JOIN s_keys_K AS kp_key" } else { "" };
            format!("<sessions>{arr} ALL LEFT JOIN {src} USING session_id")
        }
        _ if session_keys.is_some() => "<sessions> ARRAY JOIN s_keys_K AS kp_key".to_owned(),
        _ => "<sessions>".to_owned(),
    };
    if let Some((_, k)) = keys {
        from = from.replace("keys_K", &format!("keys_{}", k.name()));
    }
    let mut sql = format!("SELECT {}{} FROM {from}", if q.distinct { "DISTINCT " } else { "" }, items.join(", "));
    if !wheres.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&wheres.join(" AND "));
    }
    sql.push_str(&tail);
    // The subqueries, with what this query reads of them.
    let used = |c: &str| mentions(&sql, &format!("s_{c}"));
    let sessions = sessions_reading(&b.sprops, session_keys, &used, goals, "");
    // Current ClickHouse wants an alias for every joined subquery.
    let sql = sql
        .replace("<actions_keys>", &format!("{} AS a", actions_sql(&b.aprops, action_keys, "")))
        .replace("<actions>", &format!("{} AS a", actions_sql(&b.aprops, None, "")))
        .replace("<errors>", &format!("{ERRORS} AS e"))
        .replace("<events>", &format!("{} AS v", events_sql()))
        .replace("<sessions>", &format!("{sessions} AS s"));
    Statement { sql, top }
}

/// Whether the rollups of sealed hours can answer `q` (crate::rollups): `FROM useraction`
/// without a condition, grouped by any of an action's `name`, `type`, `application` and at
/// most one action property, selecting those keys and `COUNT(*)` (ordered by them, with
/// FILTERs and a LIMIT as written).
pub fn rollup_shape(q: &Query) -> bool {
    if q.table != Scope::UserAction || q.distinct || q.json || q.filter.is_some() || q.keys().is_some() {
        return false;
    }
    let mut props: Vec<&FieldKind> = Vec::new();
    for g in &q.group_by {
        let Expr::Field(f) = g else { return false };
        if f.scope != Scope::UserAction {
            return false;
        }
        match &f.kind {
            FieldKind::Builtin(b) if matches!(b.name, "name" | "type" | "application") => {}
            FieldKind::Builtin(_) => return false,
            k @ FieldKind::Prop(..) => {
                if !props.contains(&k) {
                    props.push(k);
                }
            }
        }
    }
    let plain = |e: &Expr| matches!(e, Expr::CountStar) || q.group_by.contains(e);
    props.len() <= 1
        && q.items.iter().all(|i| plain(&i.expr))
        && q.order_by.iter().all(|(k, _)| match k {
            OrderKey::Column(_) => true,
            OrderKey::Expr(e) => plain(e),
        })
}

/// The statement for a query of [`rollup_shape`] over the rollups' `coverage`: the rollup rows
/// of the valid sealed hours wholly inside the time frame, each with its count as a weight
/// (the actions without the grouped property: the totals less the property's counts), beside
/// the action rows of every other session in the frame, read as [`translate`] reads them.
pub fn translate_rollup(q: &Query, opts: &QueryOptions, goals: &Goals, coverage: &crate::rollups::Coverage) -> Statement {
    let mut b = Builder::new(q, opts);
    b.count = "sum(w)";
    let items: Vec<String> = q.items.iter().enumerate().map(|(k, i)| format!("{} AS c{k}", b.expr(&i.expr))).collect();
    let groups: Vec<String> = q.group_by.iter().map(|g| b.expr(g)).collect();
    let mut tail = String::new();
    let mut extra = Vec::new();
    if !groups.is_empty() {
        tail.push_str(" GROUP BY ");
        tail.push_str(&groups.join(", "));
        // A group is there because rows are: one whose weights sum to nothing has none.
        extra.push("sum(w) > 0".to_owned());
    }
    tail.push_str(&order_and_page(&mut b, q, opts, &groups, &extra));
    let (start, end) = (opts.start_timestamp, opts.end_timestamp);
    let covered = coverage.covered(start, end);
    let prop = b.aprops.first().cloned();
    let ty = match prop.as_ref().map(|(k, _)| *k) {
        Some(PropKind::String) => "Nullable(String)",
        Some(PropKind::Double) => "Nullable(Float64)",
        _ => "Nullable(Int64)",
    };
    let null = format!("CAST(NULL AS {ty})");
    let mut parts: Vec<String> = Vec::new();
    if !covered.is_empty() {
        let seals = crate::rollups::generations(covered.iter().copied());
        let cols = "app AS a_app, name AS a_name, kind AS a_kind";
        match &prop {
            None => parts.push(format!("SELECT {cols}, toInt64(n) AS w FROM action_rollups WHERE ({seals}) AND ptype = ''")),
            Some((kind, key)) => {
                let value = match kind {
                    PropKind::String => "sval",
                    PropKind::Double => "dval",
                    _ => "lval",
                };
                let is_prop = format!("ptype = {} AND pkey = {}", quote(kind.name()), quote(key));
                parts.push(format!(
                    "SELECT {cols}, if(ptype = '', {null}, CAST({value} AS {ty})) AS a_ap0, toInt64(n) AS w FROM action_rollups \
                     WHERE ({seals}) AND (ptype = '' OR ({is_prop}))"
                ));
                parts.push(format!(
                    "SELECT {cols}, {null} AS a_ap0, -toInt64(n) AS w FROM action_rollups WHERE ({seals}) AND {is_prop}"
                ));
            }
        }
    }
    let ap = if prop.is_some() { ", a_ap0" } else { "" };
    let uncovered = coverage.uncovered(start, end);
    if !uncovered.is_empty() {
        let mut w = wheres(&mut b, q, opts);
        if !covered.is_empty() {
            let hours: Vec<i64> = covered.iter().map(|(h, _)| *h).collect();
            w.push(format!("{} NOT IN ({})", crate::rollups::hour_sql("s_start_time"), crate::rollups::list(&hours)));
        }
        let rows = format!(
            "SELECT a_app, a_name, a_kind{ap}, toInt64(1) AS w FROM <actions> ALL INNER JOIN <sessions> USING session_id WHERE {}",
            w.join(" AND ")
        );
        // Only sessions with a beacon that starts in an uncovered hour can start in one (a
        // session starts at its beacons' earliest start).
        let only = format!(" WHERE sid IN (SELECT sid FROM beacons WHERE {} IN ({}))", crate::rollups::hour_sql("session_start"), crate::rollups::list(&uncovered));
        let used = |c: &str| mentions(&rows, &format!("s_{c}"));
        let sessions = sessions_reading(&[], None, &used, goals, &only);
        parts.push(
            rows.replace("<actions>", &format!("{} AS a", actions_sql(&b.aprops, None, &only)))
                .replace("<sessions>", &format!("{sessions} AS s")),
        );
    }
    if parts.is_empty() {
        let ap = if prop.is_some() { format!(", {null} AS a_ap0") } else { String::new() };
        parts.push(format!("SELECT '' AS a_app, '' AS a_name, '' AS a_kind{ap}, toInt64(0) AS w FROM system.one WHERE 0"));
    }
    let sql = format!("SELECT {} FROM ({}) AS r{tail}", items.join(", "), parts.join(" UNION ALL "));
    Statement { sql, top: false }
}

/// The statement a query runs as on `ch`: over the rollups where they can answer it
/// ([`ClickHouse::set_rollups`](crate::clickhouse::ClickHouse::set_rollups), [`rollup_shape`],
/// and at least one valid seal), else [`translate`]. A store whose rollups cannot be read
/// answers the usual way.
pub fn statement(ch: &crate::clickhouse::ClickHouse, q: &Query, opts: &QueryOptions) -> Statement {
    if ch.rollups() && !opts.include_live && rollup_shape(q) {
        if let Ok(coverage) = crate::rollups::coverage(ch, opts.session_timeout_ms, opts.now_ms) {
            if !coverage.valid.is_empty() {
                return translate_rollup(q, opts, ch.goals(), &coverage);
            }
        }
    }
    translate(q, opts, ch.goals())
}

/// The text sent for a statement: the SELECT with the settings every query runs with (outer-join
/// misses as NULL, as SQL has them; 64-bit integers as JSON numbers; the time limit) and the
/// answer's format. The settings are in the text, so the same text runs anywhere (the tests
/// also run it in chDB, current ClickHouse).
pub fn text(st: &Statement, opts: &QueryOptions) -> String {
    format!(
        "{} SETTINGS join_use_nulls = 1, output_format_json_quote_64bit_integers = 0, max_execution_time = {} FORMAT JSONCompact",
        st.sql,
        opts.time_limit_ms.div_ceil(1000).max(1)
    )
}

/// Settings every query runs with, as URL parameters (for statements sent without [`text`]):
/// outer-join misses as NULL (as SQL has them), 64-bit integers as JSON numbers, and the time
/// limit.
pub(crate) fn settings(opts: &QueryOptions) -> Vec<(&'static str, String)> {
    vec![
        ("join_use_nulls", "1".to_owned()),
        ("output_format_json_quote_64bit_integers", "0".to_owned()),
        ("max_execution_time", opts.time_limit_ms.div_ceil(1000).max(1).to_string()),
    ]
}

/// Parses, translates and runs a query on ClickHouse.
pub fn run(ch: &crate::clickhouse::ClickHouse, query: &str, opts: &QueryOptions) -> Result<QueryResult, QueryError> {
    let q = super::parser::parse(query).map_err(QueryError::Invalid)?;
    let st = statement(ch, &q, opts);
    let timeout = Duration::from_millis(opts.time_limit_ms.saturating_add(5_000));
    // 18.16 takes the output format's settings from the URL only.
    let settings = [("output_format_json_quote_64bit_integers", "0".to_owned())];
    let body = ch.query(&text(&st, opts), &settings, timeout).map_err(|e| failure(&e.0, opts))?;
    answer(&q, &st, opts, &body, Some(ch))
}

/// The result of a statement from ClickHouse's `JSONCompact` answer; `ch` reads the records of
/// a `JSON` query.
pub fn answer(
    q: &Query,
    st: &Statement,
    opts: &QueryOptions,
    body: &str,
    ch: Option<&crate::clickhouse::ClickHouse>,
) -> Result<QueryResult, QueryError> {
    // The answer may come as one JSON document per block; an error met while it streams comes
    // after the JSON written so far.
    let mut stream = serde_json::Deserializer::from_str(body).into_iter::<Json>();
    let mut rows: Vec<Vec<Json>> = Vec::new();
    let mut documents = 0;
    loop {
        let at = stream.byte_offset();
        match stream.next() {
            None => break,
            Some(Ok(doc)) => {
                documents += 1;
                if let Some(Json::Array(data)) = doc.get("data") {
                    rows.extend(data.iter().map(|r| r.as_array().cloned().unwrap_or_default()));
                }
            }
            Some(Err(_)) => return Err(failure(body[at..].trim(), opts)),
        }
    }
    if documents == 0 {
        return Err(failure(body.trim(), opts));
    }
    let rows = if st.top { rank_top(q, opts, rows) } else { rows };
    let types: Vec<ValueType> = q.items.iter().map(|i| i.expr.ty()).collect();
    let n = q.items.len();
    // JSON: the row's session (or, over useraction, its action) as the session export writes it.
    let records = match (q.json, ch) {
        (false, _) => None,
        (true, Some(ch)) => Some(json_records(ch, &rows, n)?),
        (true, None) => return Err(QueryError::Failed("JSON records need the store".to_owned())),
    };
    let mut values: Vec<Vec<Json>> = rows
        .into_iter()
        .map(|row| row.into_iter().take(n).zip(&types).map(|(v, ty)| json_value(v, *ty)).collect())
        .collect();
    let mut column_names: Vec<String> = q.items.iter().map(|i| i.name.clone()).collect();
    let mut is_branch: Vec<bool> = q.items.iter().map(|i| !i.expr.is_aggregate()).collect();
    if let Some(records) = records {
        column_names.push("JSON".to_owned());
        is_branch.push(true);
        for (row, record) in values.iter_mut().zip(records) {
            row.push(Json::String(record.to_string()));
        }
    }
    Ok(QueryResult { column_names, is_branch, values })
}

/// The JSON column of `rows` (whose columns after the first `n` are the session id and the
/// action id, if any): the session export's record of each row's session, or of its action.
fn json_records(ch: &crate::clickhouse::ClickHouse, rows: &[Vec<Json>], n: usize) -> Result<Vec<Json>, QueryError> {
    let mut sids: Vec<&str> = rows.iter().filter_map(|r| r.get(n).and_then(Json::as_str)).collect();
    sids.sort_unstable();
    sids.dedup();
    let mut sessions: HashMap<String, Json> = HashMap::new();
    for chunk in sids.chunks(crate::export::MAX_BATCH_SESSIONS) {
        sessions.extend(crate::export::session_json_clickhouse(ch, chunk).map_err(QueryError::Failed)?);
    }
    Ok(rows
        .iter()
        .map(|r| {
            let session = r.get(n).and_then(Json::as_str).and_then(|sid| sessions.get(sid)).cloned().unwrap_or(Json::Null);
            match r.get(n + 1).and_then(Json::as_str) {
                Some(id) => session["userActions"]
                    .as_array()
                    .and_then(|list| list.iter().find(|a| a["id"] == Json::String(id.to_owned())).cloned())
                    .unwrap_or(Json::Null),
                None => session,
            }
        })
        .collect())
}

/// A ClickHouse error as the query's failure, in the words the SQLite backend uses.
pub fn failure(message: &str, opts: &QueryOptions) -> QueryError {
    if message.contains("Code: 395") {
        // The throwIf of a SUM beyond the 64-bit range.
        QueryError::Failed("integer overflow".to_owned())
    } else if message.contains("Code: 159") {
        QueryError::Failed(format!("stopped after {} ms (the query time limit)", opts.time_limit_ms))
    } else {
        QueryError::Failed(message.to_owned())
    }
}

/// A ClickHouse JSON value as USQL answers it: booleans as `true`/`false`, string arrays as
/// arrays, doubles as doubles.
pub fn json_value(v: Json, ty: ValueType) -> Json {
    match (v, ty) {
        (Json::Number(n), ValueType::Boolean) => Json::Bool(n.as_f64() != Some(0.0)),
        (Json::Number(n), ValueType::Double) => n.as_f64().and_then(serde_json::Number::from_f64).map_or(Json::Null, Json::Number),
        (Json::String(t), ValueType::TextArray) => serde_json::from_str(&t).unwrap_or(Json::String(t)),
        (v, _) => v,
    }
}

/// SQLite's order of values: NULL, then numbers by value, then text by bytes.
fn sqlite_cmp(a: &Json, b: &Json) -> Ordering {
    let rank = |v: &Json| match v {
        Json::Null => 0,
        Json::Bool(_) | Json::Number(_) => 1,
        _ => 2,
    };
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => x.as_f64().unwrap_or(0.0).total_cmp(&y.as_f64().unwrap_or(0.0)),
        },
        (Json::String(x), Json::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// The TOP plan of the SQLite backend over the groups ClickHouse computed: each key level's
/// values ranked by their row totals within the previous keys (ties by value), a TOP key keeping
/// its `n` best values, FILTER, then the order and the page.
fn rank_top(q: &Query, opts: &QueryOptions, rows: Vec<Vec<Json>>) -> Vec<Vec<Json>> {
    let k = q.items.len();
    let n = q.group_by.len();
    let key = |row: &[Json], upto: usize| serde_json::to_string(&row[k..k + upto]).unwrap_or_default();
    let count = |row: &[Json]| row.get(k + n).and_then(Json::as_i64).unwrap_or(0);
    // Totals per level: the row counts of the groups sharing the keys up to that level.
    let mut totals: Vec<HashMap<String, i64>> = vec![HashMap::new(); n];
    for row in &rows {
        for (j, t) in totals.iter_mut().enumerate() {
            *t.entry(key(row, j + 1)).or_default() += count(row);
        }
    }
    let total = |row: &[Json], j: usize| totals[j].get(&key(row, j + 1)).copied().unwrap_or(0);
    // Dense ranks per level within the previous keys, by total (descending) then value.
    let mut ranks: Vec<HashMap<String, usize>> = vec![HashMap::new(); n];
    for (j, rank) in ranks.iter_mut().enumerate() {
        let mut parts: HashMap<String, Vec<(i64, Json, String)>> = HashMap::new();
        for row in &rows {
            let entry = parts.entry(key(row, j)).or_default();
            let full = key(row, j + 1);
            if !entry.iter().any(|(_, _, f)| *f == full) {
                entry.push((total(row, j), row[k + j].clone(), full));
            }
        }
        for (_, mut list) in parts {
            list.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| sqlite_cmp(&a.1, &b.1)));
            for (i, (_, _, full)) in list.into_iter().enumerate() {
                rank.insert(full, i + 1);
            }
        }
    }
    let kept = |row: &[Json]| {
        let tops = q.group_by.iter().enumerate().all(|(j, g)| match g {
            Expr::Top(_, size) => ranks[j].get(&key(row, j + 1)).is_some_and(|r| *r <= *size as usize),
            _ => true,
        });
        let filters = q.items.iter().enumerate().all(|(c, i)| match i.filter {
            None => true,
            Some((op, v)) => row[c].as_f64().is_some_and(|x| match op {
                CmpOp::Eq => x == v,
                CmpOp::Ne => x != v,
                CmpOp::Lt => x < v,
                CmpOp::Le => x <= v,
                CmpOp::Gt => x > v,
                CmpOp::Ge => x >= v,
            }),
        });
        tops && filters
    };
    let mut rows: Vec<Vec<Json>> = rows.into_iter().filter(|r| kept(r)).collect();
    // Hidden ORDER BY columns follow the row count, in ORDER BY order.
    let mut hidden = HashMap::new();
    let mut next = k + n + 1;
    for (i, (o, _)) in q.order_by.iter().enumerate() {
        if let OrderKey::Expr(e) = o {
            if !q.group_by.contains(e) {
                hidden.insert(i, next);
                next += 1;
            }
        }
    }
    let order_col = |i: usize, o: &OrderKey| -> usize {
        match o {
            OrderKey::Column(c) => *c,
            OrderKey::Expr(e) => match q.group_by.iter().position(|g| g == e) {
                Some(j) => k + j,
                None => hidden.get(&i).copied().unwrap_or(0),
            },
        }
    };
    rows.sort_by(|a, b| {
        let mut o = Ordering::Equal;
        if q.order_by.is_empty() {
            for j in 0..n {
                o = o.then_with(|| total(b, j).cmp(&total(a, j))).then_with(|| sqlite_cmp(&a[k + j], &b[k + j]));
            }
        } else {
            for (i, (key, desc)) in q.order_by.iter().enumerate() {
                let c = order_col(i, key);
                let x = sqlite_cmp(&a[c], &b[c]);
                o = o.then(if *desc { x.reverse() } else { x });
            }
            for j in 0..n {
                o = o.then_with(|| sqlite_cmp(&a[k + j], &b[k + j]));
            }
        }
        o
    });
    let mut out: Vec<Vec<Json>> = rows.into_iter().map(|mut r| {
        r.truncate(k);
        r
    }).collect();
    if q.distinct {
        let mut seen = std::collections::HashSet::new();
        out.retain(|r| seen.insert(serde_json::to_string(r).unwrap_or_default()));
    }
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    let offset = opts.page_offset.min(limit) as usize;
    let take = opts.page_size.unwrap_or(limit).min(limit - offset as u32) as usize;
    out.into_iter().skip(offset).take(take).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usql::parser::parse;

    fn sql(q: &str) -> String {
        let mut opts = QueryOptions::now(0);
        opts.include_live = true;
        translate(&parse(q).unwrap(), &opts, &Goals::default()).sql
    }

    #[test]
    fn strings_stay_one_literal() {
        assert_eq!(quote("it's"), "'it\\'s'");
        assert_eq!(quote("a\\'b"), "'a\\\\\\'b'");
        assert_eq!(quote("\\"), "'\\\\'");
        let st = sql("SELECT COUNT(*) FROM usersession WHERE stringProperties.note = '\\''; DROP TABLE beacons; --' AND userId = 'x\\'");
        assert!(st.contains("'\\\\\\'; DROP TABLE beacons; --'"), "{st}");
        assert!(st.contains("'x\\\\'"), "{st}");
    }

    #[test]
    fn failures_read_as_the_sqlite_backend_words_them() {
        let mut opts = QueryOptions::now(0);
        opts.time_limit_ms = 1500;
        let timeout = "ClickHouse at h answered 500: Code: 159, e.displayText() = DB::Exception: Timeout exceeded: elapsed 2.0 seconds";
        assert_eq!(failure(timeout, &opts).to_string(), "query failed: stopped after 1500 ms (the query time limit)");
        let overflow = "Code: 395. DB::Exception: Value passed to 'throwIf' function is non-zero";
        assert_eq!(failure(overflow, &opts).to_string(), "query failed: integer overflow");
        assert!(text(&translate(&parse("SELECT COUNT(*) FROM usersession").unwrap(), &opts, &Goals::default()), &opts).contains("max_execution_time = 2 "));
    }

    #[test]
    fn like_patterns_become_anchored_byte_patterns() {
        assert_eq!(like_regex("G%"), "^G(?:[\\x00-\\x7F\\xC0-\\xFF][\\x80-\\xBF]*)*$");
        assert_eq!(like_regex("a\\%b.c/d e"), "^a\\%b\\.c\\/d e$");
    }
}
