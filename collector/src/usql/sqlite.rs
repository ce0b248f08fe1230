//! The SQLite backend: a checked [`Query`] plan becomes one parameterized SQLite statement,
//! which is run and its rows turned into JSON. Every SQLite specific of USQL is here (and the
//! SQL functions in `functions.rs`).
//!
//! Everything that comes from the query text reaches SQLite as a bound parameter: literals,
//! property keys, percentiles, formats. SQL text is assembled only from fixed fragments (the
//! field catalog, operators, function names). Identical parameters share one number, so the
//! same field written in SELECT and GROUP BY becomes the same SQL expression and SQLite groups by it.
//!
//! Rows: `FROM usersession` has one row per session, or one per action (error, event) when a
//! field of that table is selected, grouped or ordered. Its WHERE always selects sessions: a
//! condition on a secondary field holds for a session when one of the session's rows of that
//! table meets it (each condition on its own), and the session keeps all its rows.

use super::plan::*;
use super::time::Interval;
use super::{QueryOptions, QueryResult};
use crate::usql::fields::ValueType;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::Connection;
use serde_json::Value as Json;

/// Rows a query returns when it gives no LIMIT.
pub const DEFAULT_LIMIT: u32 = 50;

/// The `userevent` rows over the store: errors as `Error` events, page loads and route changes
/// as `PageChange` events, actions with rage clicks as `RageClick` events.
const EVENTS: &str = "(SELECT er.session_id AS session_id, er.app AS app, 'Error' AS type, er.name AS name, \
     er.start_time AS start_time, ea.url AS page FROM errors er LEFT JOIN actions ea ON ea.id = er.action_row \
     UNION ALL SELECT pa.session_id, pa.app, 'PageChange', pa.name, pa.start_time, pa.url FROM actions pa \
     WHERE pa.kind IN ('load', 'route') \
     UNION ALL SELECT ra.session_id, ra.app, 'RageClick', ra.name, ra.start_time, ra.url FROM actions ra \
     WHERE ra.rage_clicks > 0)";

/// A statement, its parameters (`?1`, `?2`, … in order), and how to read its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// SQL text.
    pub sql: String,
    /// Parameter values.
    pub params: Vec<SqlValue>,
    /// Whether two hidden columns after the items hold the session row id and action id (JSON).
    pub json: bool,
}

/// A property lookup joined into the FROM clause: one LEFT JOIN per distinct property, so a
/// session property costs one index lookup per session, not one per row or per mention.
#[derive(Debug, Clone)]
struct Join {
    scope: Scope,
    kind: PropKind,
    key_param: String,
    alias: String,
}

struct Builder {
    params: Vec<SqlValue>,
    /// Property joins: frame 0 belongs to the outermost SELECT and takes every session
    /// property (the session row is there in every query shape); a subquery over a secondary
    /// table pushes a frame for its properties.
    frames: Vec<Vec<Join>>,
    aliases: usize,
    /// Render fields of this scope as NULL: a condition as seen by a session without such rows.
    null_scope: Option<Scope>,
    /// Besides the session, whose fields the current rows have (`None`: session rows).
    rows: Option<Scope>,
    /// The clock and time frame for `$NOW` and friends.
    frame: Frame,
}

impl Builder {
    fn new(q: &Query, opts: &QueryOptions) -> Builder {
        Builder {
            params: Vec::new(),
            frames: vec![Vec::new()],
            aliases: 0,
            null_scope: None,
            rows: q.row_scope(),
            frame: opts.frame(),
        }
    }

    fn param(&mut self, v: SqlValue) -> String {
        let n = match self.params.iter().position(|p| p == &v) {
            Some(i) => i + 1,
            None => {
                self.params.push(v);
                self.params.len()
            }
        };
        format!("?{n}")
    }

    fn literal(&mut self, lit: &Literal) -> String {
        let v = match lit {
            Literal::Str(s) => SqlValue::Text(s.clone()),
            Literal::Int(n) => SqlValue::Integer(*n),
            Literal::Float(x) => SqlValue::Real(*x),
            Literal::Bool(v) => SqlValue::Integer(i64::from(*v)),
            Literal::Time(t) => t.resolve(&self.frame).map_or(SqlValue::Null, SqlValue::Integer),
        };
        self.param(v)
    }

    fn field(&mut self, f: &Field) -> String {
        match &f.kind {
            _ if self.null_scope == Some(f.scope) => "NULL".to_owned(),
            FieldKind::Builtin(b) => b.sql.to_owned(),
            FieldKind::Prop(kind, key) => {
                let key_param = self.param(SqlValue::Text(key.clone()));
                let next_alias = self.aliases;
                let frame = match f.scope {
                    Scope::UserSession => self.frames.first_mut(),
                    _ => self.frames.last_mut(),
                };
                let Some(frame) = frame else { return "NULL".to_owned() };
                if let Some(j) = frame.iter().find(|j| j.scope == f.scope && j.kind == *kind && j.key_param == key_param) {
                    return format!("{}.value", j.alias);
                }
                let alias = format!("p{next_alias}");
                self.aliases += 1;
                frame.push(Join { scope: f.scope, kind: *kind, key_param, alias: alias.clone() });
                format!("{alias}.value")
            }
        }
    }

    /// The LEFT JOINs of `frame` whose owner is `scope`.
    fn joins_sql(frame: &[Join], scope: Scope) -> String {
        let mut out = String::new();
        for j in frame.iter().filter(|j| j.scope == scope) {
            let (table, owner, owner_id) = match scope {
                Scope::UserSession => ("session_props", "session_id", "s.id"),
                _ => ("action_props", "action_id", "a.id"),
            };
            let (a, ty, k) = (&j.alias, j.kind.name(), &j.key_param); // all fixed text or ?N
            out.push_str(&format!(
                " LEFT JOIN {table} {a} ON {a}.{owner} = {owner_id} AND {a}.type = '{ty}' AND {a}.key = {k}"
            ));
        }
        out
    }

    /// The argument of `COUNT(field)`: the row id when the field is never NULL on its row.
    fn count_arg(&mut self, f: &Field) -> String {
        match f.scope {
            Scope::UserAction if f.not_null() && self.null_scope.is_none() && matches!(self.rows, Some(Scope::UserAction)) => {
                "a.id".to_owned()
            }
            Scope::UserSession if f.not_null() => "s.id".to_owned(),
            _ => self.field(f),
        }
    }

    fn agg(&mut self, func: AggFunc, f: &str, distinct: bool, pct: Option<f64>) -> String {
        let d = if distinct { "DISTINCT " } else { "" };
        match func {
            AggFunc::Count => format!("COUNT({d}{f})"),
            AggFunc::Sum => format!("SUM({d}{f})"),
            AggFunc::Avg => format!("AVG({d}{f})"),
            AggFunc::Min => format!("MIN({f})"),
            AggFunc::Max => format!("MAX({f})"),
            AggFunc::Median | AggFunc::Percentile => {
                let p = self.param(SqlValue::Real(pct.unwrap_or(50.0)));
                format!("usql_percentile({f}, {p})")
            }
        }
    }

    fn expr(&mut self, e: &Expr) -> String {
        match e {
            Expr::Field(f) | Expr::Top(f, _) => self.field(f),
            Expr::Num(l) => self.literal(l),
            Expr::CountStar => "COUNT(*)".to_owned(),
            Expr::Agg { func: AggFunc::Count, field, distinct: false, .. } => format!("COUNT({})", self.count_arg(field)),
            Expr::Agg { func, field, distinct, pct } => {
                let f = self.field(field);
                self.agg(*func, &f, *distinct, *pct)
            }
            Expr::Condition(inner, c) => {
                let rows = self.rows;
                let c = self.cond(c, rows);
                match inner.as_ref() {
                    Expr::Agg { func, field, distinct, pct } => {
                        let f = self.field(field);
                        self.agg(*func, &format!("CASE WHEN {c} THEN {f} END"), *distinct, *pct)
                    }
                    _ => format!("COUNT(CASE WHEN {c} THEN 1 END)"),
                }
            }
            Expr::DatePart(part, a) => {
                let a = self.expr(a);
                let off = self.param(SqlValue::Integer(self.frame.offset_min));
                format!("usql_datepart({a}, {}, {off})", part.code())
            }
            Expr::DateTime { arg, format, interval } => {
                let a = self.expr(arg);
                let fmt = self.param(SqlValue::Text(format.clone()));
                let iv = self.param(SqlValue::Integer(interval_code(*interval)));
                let off = self.param(SqlValue::Integer(self.frame.offset_min));
                format!("usql_datetime({a}, {fmt}, {iv}, {off})")
            }
            Expr::TopList(f, n) => {
                let f = self.field(f);
                format!("usql_top({f}, {n})")
            }
            Expr::Keys(..) => "kp.key".to_owned(),
            Expr::Arith(op, a, b) => {
                let long = e.ty() == ValueType::Long;
                let (x, y) = (self.expr(a), self.expr(b));
                match (op, long) {
                    (ArithOp::Add, _) => format!("({x} + {y})"),
                    (ArithOp::Sub, _) => format!("({x} - {y})"),
                    (ArithOp::Mul, _) => format!("({x} * {y})"),
                    (ArithOp::Div, true) => format!("CAST(ROUND(CAST({x} AS REAL) / {y}) AS INTEGER)"),
                    (ArithOp::Div, false) => format!("(CAST({x} AS REAL) / {y})"),
                    (ArithOp::Mod, true) => format!("({x} % {y})"),
                    (ArithOp::Mod, false) => format!("(CAST({x} AS REAL) - {y} * CAST(CAST({x} AS REAL) / {y} AS INTEGER))"),
                }
            }
        }
    }

    /// A condition over the current rows: fields of the session and of `rows` are read from
    /// the row; a leaf on another secondary table holds when one of the session's rows of that
    /// table meets it (or, for a session without such rows, when it holds with the field NULL).
    fn cond(&mut self, c: &Cond, rows: Option<Scope>) -> String {
        match c {
            Cond::And(a, b) => format!("({} AND {})", self.cond(a, rows), self.cond(b, rows)),
            Cond::Or(a, b) => format!("({} OR {})", self.cond(a, rows), self.cond(b, rows)),
            Cond::Not(a) => format!("(NOT {})", self.cond(a, rows)),
            leaf => {
                let scope = leaf.leaf_field().map_or(Scope::UserSession, |f| f.scope);
                if scope == Scope::UserSession || Some(scope) == rows || self.null_scope == Some(scope) {
                    return self.leaf(leaf);
                }
                self.frames.push(Vec::new());
                let saved = self.rows.replace(scope);
                let with = self.leaf(leaf);
                self.rows = saved;
                let frame = self.frames.pop().unwrap_or_default();
                let saved_null = self.null_scope.replace(scope);
                let without = self.leaf(leaf);
                self.null_scope = saved_null;
                let (from, link, none) = secondary(scope);
                let joins = Builder::joins_sql(&frame, scope);
                format!("(EXISTS (SELECT 1 FROM {from}{joins} WHERE {link} AND {with}) OR ({none} AND {without}))")
            }
        }
    }

    fn leaf(&mut self, c: &Cond) -> String {
        let not = |negated: bool| if negated { "NOT " } else { "" };
        match c {
            Cond::Cmp(f, op, lit) => {
                let op = match op {
                    CmpOp::Eq => "=",
                    CmpOp::Ne => "!=",
                    CmpOp::Lt => "<",
                    CmpOp::Le => "<=",
                    CmpOp::Gt => ">",
                    CmpOp::Ge => ">=",
                };
                let x = self.field(f);
                let v = self.literal(lit);
                match f.ty() {
                    ValueType::Ip => format!("(usql_ip({x}) {op} usql_ip({v}))"),
                    ValueType::TextArray => {
                        let has = format!("EXISTS (SELECT 1 FROM json_each({x}) WHERE value = {v})");
                        let neg = if op == "=" { "" } else { "NOT " };
                        format!("(CASE WHEN {x} IS NULL THEN NULL ELSE {neg}{has} END)")
                    }
                    _ => format!("({x} {op} {v})"),
                }
            }
            Cond::In(f, list, negated) => {
                let x = self.field(f);
                let items: Vec<String> = list.iter().map(|l| self.literal(l)).collect();
                match f.ty() {
                    ValueType::Ip => {
                        let keys: Vec<String> = items.iter().map(|v| format!("usql_ip({v})")).collect();
                        format!("(usql_ip({x}) {}IN ({}))", not(*negated), keys.join(", "))
                    }
                    ValueType::TextArray => format!(
                        "(CASE WHEN {x} IS NULL THEN NULL ELSE {}EXISTS (SELECT 1 FROM json_each({x}) WHERE value IN ({})) END)",
                        not(*negated),
                        items.join(", ")
                    ),
                    _ => format!("({x} {}IN ({}))", not(*negated), items.join(", ")),
                }
            }
            Cond::IsNull(f, is_not) => format!("({} IS {}NULL)", self.field(f), not(*is_not)),
            Cond::Like(f, pattern, negated) => {
                let x = self.field(f);
                let p = self.param(SqlValue::Text(pattern.clone()));
                format!("({}usql_like({x}, {p}))", not(*negated))
            }
            Cond::StartsWith(f, prefix, negated) => {
                let x = self.field(f);
                let p = self.param(SqlValue::Text(prefix.clone()));
                format!("({}usql_startswith({x}, {p}))", not(*negated))
            }
            Cond::Between(f, lo, hi, negated) => {
                let x = self.field(f);
                let (lo, hi) = (self.literal(lo), self.literal(hi));
                if f.ty() == ValueType::Ip {
                    format!("(usql_ip({x}) {}BETWEEN usql_ip({lo}) AND usql_ip({hi}))", not(*negated))
                } else {
                    format!("({x} {}BETWEEN {lo} AND {hi})", not(*negated))
                }
            }
            Cond::And(..) | Cond::Or(..) | Cond::Not(_) => self.cond(c, self.rows),
        }
    }
}

/// The FROM of a secondary table's rows of session `s`, the link, and "the session has none".
fn secondary(scope: Scope) -> (String, &'static str, String) {
    match scope {
        Scope::UserError => (
            "errors e".to_owned(),
            "e.session_id = s.id",
            "NOT EXISTS (SELECT 1 FROM errors e0 WHERE e0.session_id = s.id)".to_owned(),
        ),
        Scope::UserEvent => (
            format!("{EVENTS} v"),
            "v.session_id = s.id",
            format!("NOT EXISTS (SELECT 1 FROM {EVENTS} v0 WHERE v0.session_id = s.id)"),
        ),
        _ => ("actions a".to_owned(), "a.session_id = s.id", "s.action_count = 0".to_owned()),
    }
}

fn interval_code(i: Interval) -> i64 {
    match i {
        Interval::None => 0,
        Interval::Fixed(ms) => ms,
        Interval::Week => -1,
        Interval::Month => -2,
        Interval::Year => -3,
    }
}

/// The interval of a code from [`interval_code`].
pub fn interval_of_code(code: i64) -> Interval {
    match code {
        0 => Interval::None,
        -1 => Interval::Week,
        -2 => Interval::Month,
        -3 => Interval::Year,
        ms if ms > 0 => Interval::Fixed(ms),
        _ => Interval::None,
    }
}

/// The FROM clause: sessions and their property joins first, then the secondary rows and
/// theirs, so SQLite looks up a session property once per session even when rows are per action.
fn from_sql(table: Scope, rows: Option<Scope>, frame: &[Join], keys: Option<(Scope, PropKind)>) -> String {
    let sessions = Builder::joins_sql(frame, Scope::UserSession);
    let actions = Builder::joins_sql(frame, Scope::UserAction);
    let mut out = match (table, rows) {
        (Scope::UserAction, _) => format!(" FROM actions a JOIN sessions s ON s.id = a.session_id{sessions}{actions}"),
        (Scope::UserError, _) => format!(" FROM errors e JOIN sessions s ON s.id = e.session_id{sessions}"),
        (Scope::UserEvent, _) => format!(" FROM {EVENTS} v JOIN sessions s ON s.id = v.session_id{sessions}"),
        (_, Some(Scope::UserAction)) => format!(" FROM sessions s{sessions} LEFT JOIN actions a ON a.session_id = s.id{actions}"),
        (_, Some(Scope::UserError)) => format!(" FROM sessions s{sessions} LEFT JOIN errors e ON e.session_id = s.id"),
        (_, Some(Scope::UserEvent)) => format!(" FROM sessions s{sessions} LEFT JOIN {EVENTS} v ON v.session_id = s.id"),
        _ => format!(" FROM sessions s{sessions}"),
    };
    if let Some((scope, kind)) = keys {
        let ty = kind.name();
        out.push_str(&match scope {
            Scope::UserSession => format!(" JOIN session_props kp ON kp.session_id = s.id AND kp.type = '{ty}'"),
            _ => format!(" JOIN action_props kp ON kp.action_id = a.id AND kp.type = '{ty}'"),
        });
    }
    out
}

/// Whether the query has the shape the two-step and split plans below handle: plain fields,
/// COUNT(*) and aggregates over fields, plain group keys, no FILTER.
fn simple(q: &Query) -> bool {
    matches!(q.table, Scope::UserSession | Scope::UserAction)
        && matches!(q.row_scope(), None | Some(Scope::UserAction))
        && !q.json
        && q.items.iter().all(|i| i.filter.is_none() && matches!(i.expr, Expr::Field(_) | Expr::CountStar | Expr::Agg { .. }))
        && q.group_by.iter().all(|g| matches!(g, Expr::Field(_)))
        && q.order_by.iter().all(|(k, _)| matches!(k, OrderKey::Column(_) | OrderKey::Expr(Expr::Field(_))))
}

fn group_fields(q: &Query) -> Vec<&Field> {
    q.group_by.iter().filter_map(|g| if let Expr::Field(f) = g { Some(f) } else { None }).collect()
}

/// Whether a grouped `FROM usersession` query over action rows can be computed in two steps:
/// first one row per session (GROUP BY s.id, which follows the scan order and needs no sort),
/// then the groups over those session rows. That holds when every group key is a session field
/// and every aggregate can be combined from per-session parts (COUNT, SUM, MIN, MAX, AVG).
/// It turns a sort of all action rows into a sort of the session rows.
fn two_step(q: &Query, per_action: bool) -> bool {
    q.table == Scope::UserSession
        && per_action
        && simple(q)
        && q.is_aggregated()
        && !q.distinct
        && group_fields(q).iter().all(|f| f.scope == Scope::UserSession)
        && combinable(q)
        && q.order_by.iter().all(|(k, _)| match k {
            OrderKey::Expr(Expr::Field(f)) => f.scope == Scope::UserSession,
            _ => true,
        })
}

/// The per-session value of an aggregate over a session's action rows, when the session row
/// already holds it: the action count and the error and request counters kept by ingest.
/// (A session without actions has one row with NULL action fields, hence `MAX(…, 1)` for
/// `COUNT(*)` and NULL for the sums.)
fn session_counter(e: &Expr) -> Option<&'static str> {
    let Expr::Agg { func, field: f @ Field { scope: Scope::UserAction, kind: FieldKind::Builtin(b), .. }, distinct: false, .. } = e
    else {
        return matches!(e, Expr::CountStar).then_some("MAX(s.action_count, 1)");
    };
    match (func, b.name) {
        (AggFunc::Count, _) if f.not_null() => Some("s.action_count"),
        (AggFunc::Sum, "requestErrorCount") => Some("CASE WHEN s.action_count = 0 THEN NULL ELSE s.request_error_count END"),
        (AggFunc::Sum, "javascriptErrorCount") => Some("CASE WHEN s.action_count = 0 THEN NULL ELSE s.js_error_count END"),
        (AggFunc::Sum, "requestCount") => Some("CASE WHEN s.action_count = 0 THEN NULL ELSE s.request_count END"),
        _ => None,
    }
}

/// Whether a two-step query needs no action rows at all: every aggregate is a counter the
/// session row holds (WHERE selects sessions, so it never filters action rows). The seed query
/// is one: it then reads one row per session instead of joining a million actions.
fn counters_suffice(q: &Query) -> bool {
    q.items.iter().all(|i| matches!(i.expr, Expr::Field(_)) || session_counter(&i.expr).is_some())
}

/// Whether a grouped `FROM usersession` query over action rows whose group keys are all action
/// fields can be computed from the actions alone plus the sessions without actions: the action
/// rows (an inner join, which SQLite can read in the order of an index on the group keys, such
/// as `actions_name`, instead of sorting them), and one row per session without actions (every
/// action field NULL), the two combined from partial aggregates as in [`two_step`].
fn split_groups(q: &Query, per_action: bool) -> bool {
    q.table == Scope::UserSession
        && per_action
        && simple(q)
        && !q.distinct
        && !q.group_by.is_empty()
        && group_fields(q).iter().all(|f| f.scope == Scope::UserAction)
        && combinable(q)
}

/// Whether every aggregate can be combined from partial aggregates (COUNT, SUM, MIN, MAX, AVG)
/// and ORDER BY names only columns and plain fields.
fn combinable(q: &Query) -> bool {
    q.items.iter().all(|i| match &i.expr {
        Expr::Field(_) | Expr::CountStar => true,
        Expr::Agg { func, distinct, .. } => {
            !distinct && matches!(func, AggFunc::Count | AggFunc::Sum | AggFunc::Min | AggFunc::Max | AggFunc::Avg)
        }
        _ => false,
    }) && q.order_by.iter().all(|(k, _)| matches!(k, OrderKey::Column(_) | OrderKey::Expr(Expr::Field(_))))
}

/// Pushes the group keys (`g0`, …), the partial aggregates (`k0`, `n0`, …) and the partial row
/// count (`kn`) of a two-step or split query to `inner`, and returns the outer select list that
/// combines them and the outer row count.
fn partials(b: &mut Builder, q: &Query, counters: bool, inner: &mut Vec<String>) -> (Vec<String>, String) {
    let keys = group_fields(q);
    for (i, f) in keys.iter().enumerate() {
        inner.push(format!("{} AS g{i}", b.field(f)));
    }
    let mut outer_items = Vec::new();
    for (k, item) in q.items.iter().enumerate() {
        let outer = match &item.expr {
            Expr::Field(f) => format!("g{}", keys.iter().position(|g| *g == f).unwrap_or(0)),
            e if counters => {
                inner.push(format!("{} AS k{k}", session_counter(e).unwrap_or("NULL")));
                match e {
                    Expr::Agg { func: AggFunc::Sum, .. } => format!("SUM(k{k})"),
                    _ => format!("COALESCE(SUM(k{k}), 0)"),
                }
            }
            Expr::CountStar => {
                inner.push(format!("COUNT(*) AS k{k}"));
                format!("COALESCE(SUM(k{k}), 0)")
            }
            Expr::Agg { func, field, .. } => {
                let f = if *func == AggFunc::Count { b.count_arg(field) } else { b.field(field) };
                match func {
                    AggFunc::Count => {
                        inner.push(format!("COUNT({f}) AS k{k}"));
                        format!("COALESCE(SUM(k{k}), 0)")
                    }
                    AggFunc::Min => {
                        inner.push(format!("MIN({f}) AS k{k}"));
                        format!("MIN(k{k})")
                    }
                    AggFunc::Max => {
                        inner.push(format!("MAX({f}) AS k{k}"));
                        format!("MAX(k{k})")
                    }
                    AggFunc::Avg => {
                        inner.push(format!("TOTAL({f}) AS k{k}, COUNT({f}) AS n{k}"));
                        format!("(TOTAL(k{k}) / SUM(n{k}))")
                    }
                    _ => {
                        inner.push(format!("SUM({f}) AS k{k}"));
                        format!("SUM(k{k})")
                    }
                }
            }
            _ => "NULL".to_owned(),
        };
        outer_items.push(outer);
    }
    inner.push(if counters { "MAX(s.action_count, 1) AS kn".to_owned() } else { "COUNT(*) AS kn".to_owned() });
    (outer_items, "SUM(kn)".to_owned())
}

/// The action fields the `actions_name` index holds. When a query reads any other action
/// column, its action-field group keys are written `+a.name` (the same value), which keeps
/// SQLite from reading the actions in index order with a lookup of each action row: that
/// costs more than sorting them.
const INDEXED_ACTION_FIELDS: [&str; 7] =
    ["a.name", "a.start_time", "a.end_time", "(a.end_time - a.start_time)", "a.requests", "a.request_errors", "a.js_errors"];

fn reads_unindexed_action_column(q: &Query) -> bool {
    let unindexed = |f: &Field| matches!(&f.kind, FieldKind::Builtin(b) if f.scope == Scope::UserAction && !INDEXED_ACTION_FIELDS.contains(&b.sql));
    let mut hit = false;
    let mut see = |e: &Expr| e.for_each_field(&mut |f| hit |= unindexed(f));
    q.items.iter().for_each(|i| see(&i.expr));
    q.group_by.iter().for_each(&mut see);
    for (k, _) in &q.order_by {
        if let OrderKey::Expr(e) = k {
            see(e);
        }
    }
    if let Some(c) = &q.filter {
        c.for_each_leaf(&mut |l| hit |= l.leaf_field().is_some_and(unindexed));
    }
    hit
}

/// A GROUP BY key over action rows: see [`INDEXED_ACTION_FIELDS`].
fn group_key(b: &mut Builder, e: &Expr, unindexed: bool) -> String {
    let sql = b.expr(e);
    match e {
        Expr::Field(f) if unindexed && f.scope == Scope::UserAction && matches!(f.kind, FieldKind::Builtin(_)) => format!("+{sql}"),
        _ => sql,
    }
}

fn cmp_sql(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "=",
        CmpOp::Ne => "!=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
    }
}

/// The session-level WHERE parts: closed sessions, the time frame on the session start, and
/// the query's condition (for `FROM usersession`, on sessions; otherwise on the rows).
fn wheres(b: &mut Builder, q: &Query, opts: &QueryOptions) -> Vec<String> {
    let mut w = Vec::new();
    if !opts.include_live {
        let cutoff = b.param(SqlValue::Integer(opts.now_ms.saturating_sub(opts.session_timeout_ms)));
        w.push(format!("(s.end_reason IS NOT NULL OR s.last_seen <= {cutoff})"));
    }
    if let Some(t) = opts.start_timestamp {
        w.push(format!("s.start_time >= {}", b.param(SqlValue::Integer(t))));
    }
    if let Some(t) = opts.end_timestamp {
        w.push(format!("s.start_time <= {}", b.param(SqlValue::Integer(t))));
    }
    if let Some(c) = &q.filter {
        let rows = if q.table == Scope::UserSession { None } else { Some(q.table) };
        w.push(b.cond(c, rows));
    }
    w
}

/// Builds the statement for `q` under `opts`.
pub fn translate(q: &Query, opts: &QueryOptions) -> Statement {
    let per_action = q.row_scope() == Some(Scope::UserAction);
    if two_step(q, per_action) || split_groups(q, per_action) {
        return translate_partials(q, opts, per_action);
    }
    if q.group_by.iter().any(|g| matches!(g, Expr::Top(..))) {
        return translate_top(q, opts);
    }
    let mut b = Builder::new(q, opts);
    let unindexed = per_action && reads_unindexed_action_column(q);
    let mut items: Vec<String> = q.items.iter().map(|i| b.expr(&i.expr)).collect();
    if q.json {
        items.push("s.id".to_owned());
        items.push(if q.table == Scope::UserAction { "a.action_id".to_owned() } else { "NULL".to_owned() });
    }
    let wheres = wheres(&mut b, q, opts);
    let groups: Vec<String> = q.group_by.iter().map(|g| group_key(&mut b, g, unindexed)).collect();
    let having: Vec<String> = q
        .items
        .iter()
        .enumerate()
        .filter_map(|(k, i)| i.filter.map(|(op, v)| (k, op, v)))
        .map(|(k, op, v)| {
            let x = items[k].clone();
            format!("{x} {} {}", cmp_sql(op), b.param(SqlValue::Real(v)))
        })
        .collect();
    let mut orders: Vec<String> = q
        .order_by
        .iter()
        .map(|(k, desc)| {
            let key = match k {
                OrderKey::Column(i) => (i + 1).to_string(),
                OrderKey::Expr(e) => b.expr(e),
            };
            format!("{key}{}", if *desc { " DESC" } else { "" })
        })
        .collect();
    if q.order_by.is_empty() && !q.group_by.is_empty() {
        orders.push("COUNT(*) DESC".to_owned());
    }
    // Ties keep one order: by the group keys.
    orders.extend(groups.iter().cloned());
    let frame = b.frames.pop().unwrap_or_default();
    let mut from = from_sql(q.table, q.row_scope(), &frame, q.keys());
    if !wheres.is_empty() {
        from.push_str(" WHERE ");
        from.push_str(&wheres.join(" AND "));
    }
    finish(q, opts, b, items, from, &groups, &having, &orders)
}

/// The two-step and split plans (see [`two_step`], [`split_groups`]).
fn translate_partials(q: &Query, opts: &QueryOptions, per_action: bool) -> Statement {
    let mut b = Builder::new(q, opts);
    let split = split_groups(q, per_action);
    let counters = !split && counters_suffice(q);
    let unindexed = reads_unindexed_action_column(q);
    let mut inner_items = Vec::new();
    let mut null_items = Vec::new();
    let (outer_items, freq) = partials(&mut b, q, counters, &mut inner_items);
    if split {
        // The rows of sessions without actions: every action field NULL.
        b.null_scope = Some(Scope::UserAction);
        partials(&mut b, q, false, &mut null_items);
        b.null_scope = None;
    }
    let wheres = wheres(&mut b, q, opts);
    let keys = group_fields(q);
    let groups: Vec<String> = (0..keys.len()).map(|i| format!("g{i}")).collect();
    let mut orders: Vec<String> = q
        .order_by
        .iter()
        .map(|(k, desc)| {
            let key = match k {
                OrderKey::Column(i) => (i + 1).to_string(),
                OrderKey::Expr(Expr::Field(f)) => format!("g{}", keys.iter().position(|g| *g == f).unwrap_or(0)),
                OrderKey::Expr(e) => b.expr(e),
            };
            format!("{key}{}", if *desc { " DESC" } else { "" })
        })
        .collect();
    if q.order_by.is_empty() && !groups.is_empty() {
        orders.push(format!("{freq} DESC"));
    }
    orders.extend(groups.iter().cloned());
    // The group keys of the action rows as expressions, so SQLite can match them to an index.
    let split_keys: Vec<String> = if split { q.group_by.iter().map(|g| group_key(&mut b, g, unindexed)).collect() } else { Vec::new() };
    let frame = b.frames.pop().unwrap_or_default();
    if split {
        let empty = "s.action_count = 0".to_owned();
        let sessions_where: Vec<&String> = std::iter::once(&empty).chain(&wheres).collect();
        let mut actions_part = format!("SELECT {}{}", inner_items.join(", "), from_sql(Scope::UserAction, None, &frame, None));
        if !wheres.is_empty() {
            actions_part.push_str(&format!(" WHERE {}", wheres.join(" AND ")));
        }
        let w: Vec<&str> = sessions_where.iter().map(|s| s.as_str()).collect();
        let sessions_part = format!(
            "SELECT {}{} WHERE {} GROUP BY {}",
            null_items.join(", "),
            from_sql(Scope::UserSession, None, &frame, None),
            w.join(" AND "),
            groups.join(", ")
        );
        let from = format!(" FROM ({actions_part} GROUP BY {} UNION ALL {sessions_part})", split_keys.join(", "));
        return finish(q, opts, b, outer_items, from, &groups, &[], &orders);
    }
    let rows = if counters { None } else { Some(Scope::UserAction) };
    let mut from = from_sql(q.table, rows, &frame, None);
    if !wheres.is_empty() {
        from.push_str(" WHERE ");
        from.push_str(&wheres.join(" AND "));
    }
    if counters {
        from = format!(" FROM (SELECT s.id, {}{from})", inner_items.join(", "));
    } else {
        from = format!(" FROM (SELECT s.id, {}{from} GROUP BY s.id)", inner_items.join(", "));
    }
    finish(q, opts, b, outer_items, from, &groups, &[], &orders)
}

/// Grouped queries with `TOP(field, n)` keys: the groups are ranked level by level by their
/// row counts (the first key's values by their total, each next key's values within the
/// previous keys), and a TOP key keeps its `n` best values per level.
fn translate_top(q: &Query, opts: &QueryOptions) -> Statement {
    let mut b = Builder::new(q, opts);
    let mut inner: Vec<String> = q.items.iter().enumerate().map(|(k, i)| format!("{} AS c{k}", b.expr(&i.expr))).collect();
    let groups: Vec<String> = q.group_by.iter().map(|g| b.expr(g)).collect();
    for (j, g) in groups.iter().enumerate() {
        inner.push(format!("{g} AS g{j}"));
    }
    inner.push("COUNT(*) AS _n".to_owned());
    // ORDER BY expressions that are not columns are computed as hidden columns.
    let mut orders = Vec::new();
    for (k, (key, desc)) in q.order_by.iter().enumerate() {
        let col = match key {
            OrderKey::Column(i) => format!("c{i}"),
            OrderKey::Expr(e) => match q.group_by.iter().position(|g| g == e) {
                Some(j) => format!("g{j}"),
                None => {
                    inner.push(format!("{} AS o{k}", b.expr(e)));
                    format!("o{k}")
                }
            },
        };
        orders.push(format!("{col}{}", if *desc { " DESC" } else { "" }));
    }
    let wheres = wheres(&mut b, q, opts);
    let frame = b.frames.pop().unwrap_or_default();
    let mut from = from_sql(q.table, q.row_scope(), &frame, q.keys());
    if !wheres.is_empty() {
        from.push_str(" WHERE ");
        from.push_str(&wheres.join(" AND "));
    }
    let n = q.group_by.len();
    let part = |j: usize| (0..j).map(|i| format!("g{i}")).collect::<Vec<_>>().join(", ");
    let totals: Vec<String> = (0..n).map(|j| format!("SUM(_n) OVER (PARTITION BY {}) AS _t{j}", part(j + 1))).collect();
    let ranks: Vec<String> = (0..n)
        .map(|j| {
            let p = if j == 0 { String::new() } else { format!("PARTITION BY {} ", part(j)) };
            format!("DENSE_RANK() OVER ({p}ORDER BY _t{j} DESC, g{j}) AS _r{j}")
        })
        .collect();
    let mut keep: Vec<String> = q
        .group_by
        .iter()
        .enumerate()
        .filter_map(|(j, g)| if let Expr::Top(_, n) = g { Some(format!("_r{j} <= {n}")) } else { None })
        .collect();
    for (k, i) in q.items.iter().enumerate() {
        if let Some((op, v)) = i.filter {
            keep.push(format!("c{k} {} {}", cmp_sql(op), b.param(SqlValue::Real(v))));
        }
    }
    if orders.is_empty() {
        for j in 0..n {
            orders.push(format!("_t{j} DESC"));
            orders.push(format!("g{j}"));
        }
    } else {
        orders.extend((0..n).map(|j| format!("g{j}")));
    }
    let cols: Vec<String> = (0..q.items.len()).map(|k| format!("c{k}")).collect();
    let sql_from = format!(
        " FROM (SELECT *, {} FROM (SELECT *, {} FROM (SELECT {}{from} GROUP BY {}))) WHERE {}",
        ranks.join(", "),
        totals.join(", "),
        inner.join(", "),
        groups.join(", "),
        if keep.is_empty() { "1".to_owned() } else { keep.join(" AND ") }
    );
    finish_plain(q, opts, b, cols, sql_from, &orders)
}

/// The outer SELECT over `from`, with its GROUP BY, HAVING, ORDER BY and the page's LIMIT.
#[allow(clippy::too_many_arguments)]
fn finish(
    q: &Query,
    opts: &QueryOptions,
    b: Builder,
    outer_items: Vec<String>,
    mut from: String,
    groups: &[String],
    having: &[String],
    orders: &[String],
) -> Statement {
    if !groups.is_empty() {
        from.push_str(" GROUP BY ");
        from.push_str(&groups.join(", "));
    }
    if !having.is_empty() {
        from.push_str(" HAVING ");
        from.push_str(&having.join(" AND "));
    }
    finish_plain(q, opts, b, outer_items, from, orders)
}

fn finish_plain(q: &Query, opts: &QueryOptions, mut b: Builder, outer_items: Vec<String>, from: String, orders: &[String]) -> Statement {
    let mut sql = format!("SELECT {}{}", if q.distinct { "DISTINCT " } else { "" }, outer_items.join(", "));
    sql.push_str(&from);
    if !orders.is_empty() {
        sql.push_str(" ORDER BY ");
        sql.push_str(&orders.join(", "));
    }
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    let offset = opts.page_offset.min(limit);
    let rows = opts.page_size.unwrap_or(limit).min(limit - offset);
    let limit_p = b.param(SqlValue::Integer(i64::from(rows)));
    let offset_p = b.param(SqlValue::Integer(i64::from(offset)));
    sql.push_str(&format!(" LIMIT {limit_p} OFFSET {offset_p}"));
    Statement { sql, params: b.params, json: q.json }
}

/// Runs a translated statement and converts its rows to JSON values.
pub fn execute(conn: &Connection, q: &Query, st: &Statement) -> rusqlite::Result<QueryResult> {
    let mut stmt = conn.prepare(&st.sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(st.params.iter()))?;
    let types: Vec<ValueType> = q.items.iter().map(|i| i.expr.ty()).collect();
    let n = q.items.len();
    let mut values = Vec::new();
    let mut records = Vec::new();
    while let Some(row) = rows.next()? {
        let mut out = Vec::with_capacity(n + 1);
        for (i, ty) in types.iter().enumerate() {
            out.push(json_value(row.get_ref(i)?, *ty));
        }
        if st.json {
            records.push((row.get::<_, i64>(n)?, row.get::<_, Option<String>>(n + 1)?));
        }
        values.push(out);
    }
    drop(rows);
    let mut column_names: Vec<String> = q.items.iter().map(|i| i.name.clone()).collect();
    let mut is_branch: Vec<bool> = q.items.iter().map(|i| !i.expr.is_aggregate()).collect();
    if st.json {
        column_names.push("JSON".to_owned());
        is_branch.push(true);
        for (row, (session, action)) in values.iter_mut().zip(records) {
            let mut record = crate::export::session_json(conn, session)?;
            if let Some(id) = action {
                let found = record["userActions"].as_array().and_then(|list| list.iter().find(|a| a["id"] == Json::String(id.clone())).cloned());
                record = found.unwrap_or(Json::Null);
            }
            row.push(Json::String(record.to_string()));
        }
    }
    Ok(QueryResult { column_names, is_branch, values })
}

/// A stored value as USQL answers it: booleans as `true`/`false`, string arrays as arrays.
pub fn json_value(v: ValueRef<'_>, ty: ValueType) -> Json {
    match (v, ty) {
        (ValueRef::Null, _) => Json::Null,
        (ValueRef::Integer(n), ValueType::Boolean) => Json::Bool(n != 0),
        (ValueRef::Integer(n), _) => Json::from(n),
        (ValueRef::Real(x), _) => serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number),
        (ValueRef::Text(t), ValueType::TextArray) => {
            serde_json::from_slice(t).unwrap_or_else(|_| Json::String(String::from_utf8_lossy(t).into_owned()))
        }
        (ValueRef::Text(t), _) => Json::String(String::from_utf8_lossy(t).into_owned()),
        (ValueRef::Blob(_), _) => Json::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usql::parser::parse;

    fn sql(q: &str) -> Statement {
        let mut opts = QueryOptions::now(0);
        opts.include_live = true;
        translate(&parse(q).unwrap(), &opts)
    }

    #[test]
    fn user_values_are_parameters() {
        let st = sql("SELECT COUNT(*) FROM usersession WHERE stringProperties.note = '''; DROP TABLE sessions; --' AND userId IN ('a', 'b')");
        assert!(!st.sql.contains("DROP") && !st.sql.contains("note") && !st.sql.contains("'a'"), "{}", st.sql);
        assert!(st.params.contains(&SqlValue::Text("'; DROP TABLE sessions; --".into())));
        assert!(st.params.contains(&SqlValue::Text("note".into())));
        let st = sql("SELECT DATETIME(startTime, 'HH'':''mm', '5m'), COUNT(*) FROM usersession GROUP BY DATETIME(startTime, 'HH'':''mm', '5m')");
        assert!(!st.sql.contains("HH"), "{}", st.sql);
    }

    #[test]
    fn seed_query_reads_session_counters_only() {
        let st = sql("SELECT stringProperties.loyalty_status AS \"Loyalty status\", COUNT(useraction.requestErrorCount) AS \"HTTP error count\" FROM usersession WHERE stringProperties.loyalty_status IS NOT NULL GROUP BY stringProperties.loyalty_status");
        assert!(!st.sql.contains("actions a"), "{}", st.sql);
        assert!(st.sql.contains("s.action_count"), "{}", st.sql);
        // An action condition selects sessions; the counters still suffice.
        let st = sql("SELECT stringProperties.loyalty_status, COUNT(*) FROM usersession WHERE useraction.name = 'x' GROUP BY stringProperties.loyalty_status");
        assert!(st.sql.contains("EXISTS (SELECT 1 FROM actions a"), "{}", st.sql);
        assert!(!st.sql.contains("LEFT JOIN actions a"), "{}", st.sql);
    }

    #[test]
    fn action_groups_read_actions_apart_from_sessions_without_actions() {
        let st = sql("SELECT useraction.name, COUNT(*), AVG(useraction.duration) FROM usersession WHERE useraction.requestCount > 1 GROUP BY useraction.name");
        assert!(st.sql.contains("FROM actions a JOIN sessions s") && st.sql.contains("GROUP BY a.name UNION ALL"), "{}", st.sql);
        // A column outside the name index: the key is written so SQLite sorts instead.
        let st = sql("SELECT name, MIN(targetUrl) FROM useraction GROUP BY name");
        assert!(st.sql.contains("GROUP BY +a.name"), "{}", st.sql);
        // MEDIAN cannot be combined from parts: one query over the LEFT JOIN.
        let st = sql("SELECT useraction.name, MEDIAN(useraction.duration) FROM usersession GROUP BY useraction.name");
        assert!(!st.sql.contains("UNION ALL") && st.sql.contains("LEFT JOIN actions a"), "{}", st.sql);
    }

    #[test]
    fn same_property_is_joined_once() {
        let st = sql("SELECT stringProperties.tier, COUNT(*) FROM usersession WHERE stringProperties.tier != 'x' GROUP BY stringProperties.tier ORDER BY stringProperties.tier");
        assert_eq!(st.sql.matches("LEFT JOIN session_props").count(), 1, "{}", st.sql);
    }
}
