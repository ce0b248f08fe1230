//! Translation of a checked USQL query into one parameterized SQLite statement, and its run.
//!
//! Everything that comes from the query text reaches SQLite as a bound parameter: literals,
//! property keys, percentiles. SQL text is assembled only from fixed fragments (the field table
//! in the parser, operators, function names). Identical parameters share one number, so the
//! same field written in SELECT and GROUP BY becomes the same SQL expression and SQLite groups by it.

use super::parser::{AggFunc, CmpOp, Cond, Expr, Field, FieldKind, Literal, OrderKey, PropKind, Query, Scope, Table, ValueKind};
use super::{QueryOptions, QueryResult};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::Connection;
use serde_json::Value as Json;

/// Rows a query returns when it gives no LIMIT.
pub const DEFAULT_LIMIT: u32 = 50;

/// A statement and its parameters (`?1`, `?2`, … in order).
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// SQL text.
    pub sql: String,
    /// Parameter values.
    pub params: Vec<SqlValue>,
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

#[derive(Default)]
struct Builder {
    params: Vec<SqlValue>,
    /// Property joins: frame 0 belongs to the outermost SELECT and takes every session
    /// property (the session row is there in every query shape); a subquery over actions
    /// pushes a frame for its action properties.
    frames: Vec<Vec<Join>>,
    aliases: usize,
    /// Render action fields as NULL: the condition as seen by a session without actions.
    actions_null: bool,
}

impl Builder {
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
        self.param(match lit {
            Literal::Str(s) => SqlValue::Text(s.clone()),
            Literal::Int(n) => SqlValue::Integer(*n),
            Literal::Float(x) => SqlValue::Real(*x),
            Literal::Bool(v) => SqlValue::Integer(i64::from(*v)),
        })
    }

    fn field(&mut self, f: &Field) -> String {
        match &f.kind {
            _ if self.actions_null && f.scope == Scope::Action => "NULL".to_owned(),
            FieldKind::Builtin(b) => b.sql.to_owned(),
            FieldKind::Prop(kind, key) => {
                let key_param = self.param(SqlValue::Text(key.clone()));
                if self.frames.is_empty() {
                    self.frames.push(Vec::new());
                }
                let next_alias = self.aliases;
                let frame = match f.scope {
                    Scope::Session => self.frames.first_mut(),
                    Scope::Action => self.frames.last_mut(),
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
                Scope::Session => ("session_props", "session_id", "s.id"),
                Scope::Action => ("action_props", "action_id", "a.id"),
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
        match (&f.kind, f.scope) {
            (FieldKind::Builtin(b), Scope::Action) if !b.nullable && !self.actions_null => "a.id".to_owned(),
            (FieldKind::Builtin(b), Scope::Session) if !b.nullable => "s.id".to_owned(),
            _ => self.field(f),
        }
    }

    fn expr(&mut self, e: &Expr) -> String {
        match e {
            Expr::Field(f) => self.field(f),
            Expr::CountStar => "COUNT(*)".to_owned(),
            Expr::Agg { func: AggFunc::Count, field, distinct: false, .. } => format!("COUNT({})", self.count_arg(field)),
            Expr::Agg { func, field, distinct, pct } => {
                let f = self.field(field);
                match func {
                    AggFunc::Count if *distinct => format!("COUNT(DISTINCT {f})"),
                    AggFunc::Count => format!("COUNT({f})"),
                    AggFunc::Sum => format!("SUM({f})"),
                    AggFunc::Avg => format!("AVG({f})"),
                    AggFunc::Min => format!("MIN({f})"),
                    AggFunc::Max => format!("MAX({f})"),
                    AggFunc::Median | AggFunc::Percentile => {
                        let p = self.param(SqlValue::Real(pct.unwrap_or(50.0)));
                        format!("usql_percentile({f}, {p})")
                    }
                }
            }
        }
    }

    fn cond(&mut self, c: &Cond) -> String {
        let not = |negated: bool| if negated { "NOT " } else { "" };
        match c {
            Cond::And(a, b) => format!("({} AND {})", self.cond(a), self.cond(b)),
            Cond::Or(a, b) => format!("({} OR {})", self.cond(a), self.cond(b)),
            Cond::Not(a) => format!("(NOT {})", self.cond(a)),
            Cond::Cmp(f, op, lit) => {
                let f = self.field(f);
                let op = match op {
                    CmpOp::Eq => "=",
                    CmpOp::Ne => "!=",
                    CmpOp::Lt => "<",
                    CmpOp::Le => "<=",
                    CmpOp::Gt => ">",
                    CmpOp::Ge => ">=",
                };
                format!("({f} {op} {})", self.literal(lit))
            }
            Cond::In(f, list, negated) => {
                let f = self.field(f);
                let items: Vec<String> = list.iter().map(|l| self.literal(l)).collect();
                format!("({f} {}IN ({}))", not(*negated), items.join(", "))
            }
            Cond::IsNull(f, is_not) => format!("({} IS {}NULL)", self.field(f), not(*is_not)),
            Cond::Like(f, pattern, negated) => {
                let f = self.field(f);
                let p = self.param(SqlValue::Text(pattern.clone()));
                format!("({}usql_like({f}, {p}))", not(*negated))
            }
            Cond::StartsWith(f, prefix, negated) => {
                let f = self.field(f);
                let p = self.param(SqlValue::Text(prefix.clone()));
                format!("({}usql_startswith({f}, {p}))", not(*negated))
            }
            Cond::Between(f, lo, hi, negated) => {
                let f = self.field(f);
                format!("({f} {}BETWEEN {} AND {})", not(*negated), self.literal(lo), self.literal(hi))
            }
        }
    }
}

fn cond_touches_actions(c: &Cond) -> bool {
    match c {
        Cond::And(a, b) | Cond::Or(a, b) => cond_touches_actions(a) || cond_touches_actions(b),
        Cond::Not(a) => cond_touches_actions(a),
        Cond::Cmp(f, ..) | Cond::In(f, ..) | Cond::IsNull(f, _) | Cond::Like(f, ..) | Cond::StartsWith(f, ..) | Cond::Between(f, ..) => {
            f.scope == Scope::Action
        }
    }
}

fn expr_touches_actions(e: &Expr) -> bool {
    match e {
        Expr::Field(f) | Expr::Agg { field: f, .. } => f.scope == Scope::Action,
        Expr::CountStar => false,
    }
}

/// Whether a `FROM usersession` query has one row per action: an action field appears in the
/// select list, GROUP BY or ORDER BY. Action fields only in WHERE keep one row per session.
pub fn rows_per_action(q: &Query) -> bool {
    q.table == Table::UserAction
        || q.items.iter().any(|i| expr_touches_actions(&i.expr))
        || q.group_by.iter().any(|f| f.scope == Scope::Action)
        || q.order_by.iter().any(|(k, _)| matches!(k, OrderKey::Expr(e) if expr_touches_actions(e)))
}

/// The FROM clause: sessions and their property joins first, then actions and theirs, so SQLite
/// looks up a session property once per session even when rows are per action.
fn from_sql(table: Table, per_action: bool, frame: &[Join]) -> String {
    let sessions = Builder::joins_sql(frame, Scope::Session);
    let actions = Builder::joins_sql(frame, Scope::Action);
    match table {
        Table::UserAction => format!(" FROM actions a JOIN sessions s ON s.id = a.session_id{sessions}{actions}"),
        Table::UserSession if per_action => {
            format!(" FROM sessions s{sessions} LEFT JOIN actions a ON a.session_id = s.id{actions}")
        }
        Table::UserSession => format!(" FROM sessions s{sessions}"),
    }
}

/// Whether a grouped `FROM usersession` query over action rows can be computed in two steps:
/// first one row per session (GROUP BY s.id, which follows the scan order and needs no sort),
/// then the groups over those session rows. That holds when every group key is a session field
/// and every aggregate can be combined from per-session parts (COUNT, SUM, MIN, MAX, AVG).
/// It turns a sort of all action rows into a sort of the session rows.
fn two_step(q: &Query, per_action: bool) -> bool {
    q.table == Table::UserSession
        && per_action
        && q.is_aggregated()
        && !q.distinct
        && q.group_by.iter().all(|f| f.scope == Scope::Session)
        && combinable(q)
        && q.order_by.iter().all(|(k, _)| match k {
            OrderKey::Expr(Expr::Field(f)) => f.scope == Scope::Session,
            _ => true,
        })
}

/// The per-session value of an aggregate over a session's action rows, when the session row
/// already holds it: the action count and the error and request counters kept by ingest.
/// (A session without actions has one row with NULL action fields, hence `MAX(…, 1)` for
/// `COUNT(*)` and NULL for the sums.)
fn session_counter(e: &Expr) -> Option<&'static str> {
    let Expr::Agg { func, field: Field { scope: Scope::Action, kind: FieldKind::Builtin(b), .. }, distinct: false, .. } = e
    else {
        return matches!(e, Expr::CountStar).then_some("MAX(s.action_count, 1)");
    };
    match (func, b.name) {
        (AggFunc::Count, _) if !b.nullable => Some("s.action_count"),
        (AggFunc::Sum, "requestErrorCount") => Some("CASE WHEN s.action_count = 0 THEN NULL ELSE s.request_error_count END"),
        (AggFunc::Sum, "javascriptErrorCount") => Some("CASE WHEN s.action_count = 0 THEN NULL ELSE s.js_error_count END"),
        (AggFunc::Sum, "requestCount") => Some("CASE WHEN s.action_count = 0 THEN NULL ELSE s.request_count END"),
        _ => None,
    }
}

/// Whether a two-step query needs no action rows at all: no action condition, and every
/// aggregate is a counter the session row holds. The seed query is one: it then reads one row
/// per session instead of joining a million actions.
fn counters_suffice(q: &Query) -> bool {
    q.filter.as_ref().is_none_or(|c| !cond_touches_actions(c))
        && q.items.iter().all(|i| matches!(i.expr, Expr::Field(_)) || session_counter(&i.expr).is_some())
}

/// Whether a grouped `FROM usersession` query over action rows whose group keys are all action
/// fields can be computed from the actions alone plus the sessions without actions: the action
/// rows (an inner join, which SQLite can read in the order of an index on the group keys, such
/// as `actions_name`, instead of sorting them), and one row per session without actions (every
/// action field NULL), the two combined from partial aggregates as in [`two_step`].
fn split_groups(q: &Query, per_action: bool) -> bool {
    q.table == Table::UserSession
        && per_action
        && !q.distinct
        && !q.group_by.is_empty()
        && q.group_by.iter().all(|f| f.scope == Scope::Action)
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
    }) && q.order_by.iter().all(|(k, _)| matches!(k, OrderKey::Column(_) | OrderKey::Expr(Expr::Field(_))))
}

/// Pushes the group keys (`g0`, …) and the partial aggregates (`k0`, `n0`, …) of a two-step or
/// split query to `inner`, and returns the outer select list that combines them.
fn partials(b: &mut Builder, q: &Query, counters: bool, inner: &mut Vec<String>) -> Vec<String> {
    for (i, f) in q.group_by.iter().enumerate() {
        inner.push(format!("{} AS g{i}", b.field(f)));
    }
    let mut outer_items = Vec::new();
    for (k, item) in q.items.iter().enumerate() {
        let outer = match &item.expr {
            Expr::Field(f) => format!("g{}", q.group_by.iter().position(|g| g == f).unwrap_or(0)),
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
        };
        outer_items.push(outer);
    }
    outer_items
}

/// Action columns outside the `actions_name` index. When a query reads one of them, its
/// action-field group keys are written `+a.name` (the same value), which keeps SQLite from
/// reading the actions in index order with a lookup of each action row: that costs more than
/// sorting them.
const UNINDEXED_ACTION_COLUMNS: [&str; 3] = ["a.kind", "a.url", "a.app"];

fn reads_unindexed_action_column(q: &Query) -> bool {
    fn unindexed(f: &Field) -> bool {
        matches!(&f.kind, FieldKind::Builtin(b) if f.scope == Scope::Action && UNINDEXED_ACTION_COLUMNS.contains(&b.sql))
    }
    fn in_cond(c: &Cond) -> bool {
        match c {
            Cond::And(a, b) | Cond::Or(a, b) => in_cond(a) || in_cond(b),
            Cond::Not(a) => in_cond(a),
            Cond::Cmp(f, ..) | Cond::In(f, ..) | Cond::IsNull(f, _) | Cond::Like(f, ..) | Cond::StartsWith(f, ..) | Cond::Between(f, ..) => {
                unindexed(f)
            }
        }
    }
    let in_expr = |e: &Expr| matches!(e, Expr::Field(f) | Expr::Agg { field: f, .. } if unindexed(f));
    q.items.iter().any(|i| in_expr(&i.expr))
        || q.group_by.iter().any(unindexed)
        || q.order_by.iter().any(|(k, _)| matches!(k, OrderKey::Expr(e) if in_expr(e)))
        || q.filter.as_ref().is_some_and(in_cond)
}

/// A GROUP BY key over action rows: see [`UNINDEXED_ACTION_COLUMNS`].
fn group_key(b: &mut Builder, f: &Field, unindexed: bool) -> String {
    let sql = b.field(f);
    if unindexed && f.scope == Scope::Action && matches!(f.kind, FieldKind::Builtin(_)) {
        format!("+{sql}")
    } else {
        sql
    }
}

/// Builds the statement for `q` under `opts`.
pub fn translate(q: &Query, opts: &QueryOptions) -> Statement {
    let mut b = Builder { frames: vec![Vec::new()], ..Builder::default() };
    let per_action = rows_per_action(q);
    let two_step = two_step(q, per_action);
    let split = split_groups(q, per_action);
    let counters = two_step && counters_suffice(q);
    let unindexed = reads_unindexed_action_column(q);
    // Select list: plain, or (for two steps and split groups) the partial aggregates and the
    // combining outer list.
    let mut inner_items = Vec::new();
    let mut null_items = Vec::new();
    let outer_items = if two_step || split {
        let outer = partials(&mut b, q, counters, &mut inner_items);
        if split {
            // The rows of sessions without actions: every action field NULL.
            b.actions_null = true;
            partials(&mut b, q, false, &mut null_items);
            b.actions_null = false;
        }
        outer
    } else {
        q.items.iter().map(|i| b.expr(&i.expr)).collect()
    };
    let mut wheres = Vec::new();
    // For split groups: the filter on action rows and on sessions without actions.
    let mut split_filters = None;
    if !opts.include_live {
        let cutoff = b.param(SqlValue::Integer(opts.now_ms.saturating_sub(opts.session_timeout_ms)));
        wheres.push(format!("(s.end_reason IS NOT NULL OR s.last_seen <= {cutoff})"));
    }
    let time = if q.table == Table::UserAction { "a.start_time" } else { "s.start_time" };
    if let Some(t) = opts.start_timestamp {
        wheres.push(format!("{time} >= {}", b.param(SqlValue::Integer(t))));
    }
    if let Some(t) = opts.end_timestamp {
        wheres.push(format!("{time} <= {}", b.param(SqlValue::Integer(t))));
    }
    if let Some(c) = &q.filter {
        if q.table == Table::UserSession && !per_action && cond_touches_actions(c) {
            // One row per session: it qualifies when one of its actions satisfies the condition,
            // or, without actions, when the condition holds with every action field NULL (the
            // LEFT JOIN row of such a session). EXISTS stops at the first matching action.
            b.frames.push(Vec::new());
            let with_action = b.cond(c);
            let frame = b.frames.pop().unwrap_or_default();
            b.actions_null = true;
            let without = b.cond(c);
            b.actions_null = false;
            wheres.push(format!(
                "(EXISTS (SELECT 1 FROM actions a{} WHERE a.session_id = s.id AND {with_action}) OR (s.action_count = 0 AND {without}))",
                Builder::joins_sql(&frame, Scope::Action)
            ));
        } else if split {
            split_filters = Some((b.cond(c), {
                b.actions_null = true;
                let without = b.cond(c);
                b.actions_null = false;
                without
            }));
        } else {
            wheres.push(b.cond(c));
        }
    }
    let groups: Vec<String> = if two_step || split {
        (0..q.group_by.len()).map(|i| format!("g{i}")).collect()
    } else {
        q.group_by.iter().map(|f| group_key(&mut b, f, unindexed)).collect()
    };
    let orders: Vec<String> = q
        .order_by
        .iter()
        .map(|(k, desc)| {
            let key = match k {
                OrderKey::Column(i) => (i + 1).to_string(),
                OrderKey::Expr(Expr::Field(f)) if two_step || split => {
                    format!("g{}", q.group_by.iter().position(|g| g == f).unwrap_or(0))
                }
                OrderKey::Expr(e) => b.expr(e),
            };
            format!("{key}{}", if *desc { " DESC" } else { "" })
        })
        .collect();
    // The group keys of the action rows as expressions, so SQLite can match them to an index.
    let split_keys: Vec<String> =
        if split { q.group_by.iter().map(|f| group_key(&mut b, f, unindexed)).collect() } else { Vec::new() };
    let frame = b.frames.pop().unwrap_or_default();
    if split {
        let (with_action, without) = match split_filters {
            Some((w, wo)) => (vec![w], vec![wo]),
            None => (Vec::new(), Vec::new()),
        };
        let actions_where: Vec<&String> = wheres.iter().chain(&with_action).collect();
        let empty = "s.action_count = 0".to_owned();
        let sessions_where: Vec<&String> = std::iter::once(&empty).chain(&wheres).chain(&without).collect();
        let mut actions_part = format!("SELECT {}{}", inner_items.join(", "), from_sql(Table::UserAction, true, &frame));
        if !actions_where.is_empty() {
            let w: Vec<&str> = actions_where.iter().map(|s| s.as_str()).collect();
            actions_part.push_str(&format!(" WHERE {}", w.join(" AND ")));
        }
        let w: Vec<&str> = sessions_where.iter().map(|s| s.as_str()).collect();
        let g: Vec<String> = (0..q.group_by.len()).map(|i| format!("g{i}")).collect();
        let sessions_part = format!(
            "SELECT {}{} WHERE {} GROUP BY {}",
            null_items.join(", "),
            from_sql(Table::UserSession, false, &frame),
            w.join(" AND "),
            g.join(", ")
        );
        let from = format!(" FROM ({actions_part} GROUP BY {} UNION ALL {sessions_part})", split_keys.join(", "));
        return finish(q, opts, b, outer_items, from, &groups, &orders);
    }
    let mut from = from_sql(q.table, per_action && !counters, &frame);
    if !wheres.is_empty() {
        from.push_str(" WHERE ");
        from.push_str(&wheres.join(" AND "));
    }
    if counters {
        from = format!(" FROM (SELECT s.id, {}{from})", inner_items.join(", "));
    } else if two_step {
        from = format!(" FROM (SELECT s.id, {}{from} GROUP BY s.id)", inner_items.join(", "));
    }
    finish(q, opts, b, outer_items, from, &groups, &orders)
}

/// The outer SELECT over `from`, with its GROUP BY, ORDER BY and the page's LIMIT.
fn finish(
    q: &Query,
    opts: &QueryOptions,
    mut b: Builder,
    outer_items: Vec<String>,
    from: String,
    groups: &[String],
    orders: &[String],
) -> Statement {
    let mut sql = format!("SELECT {}{}", if q.distinct { "DISTINCT " } else { "" }, outer_items.join(", "));
    sql.push_str(&from);
    if !groups.is_empty() {
        sql.push_str(" GROUP BY ");
        sql.push_str(&groups.join(", "));
    }
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
    Statement { sql, params: b.params }
}

/// Runs a translated statement and converts its rows to JSON values.
pub fn execute(conn: &Connection, q: &Query, st: &Statement) -> rusqlite::Result<QueryResult> {
    let mut stmt = conn.prepare(&st.sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(st.params.iter()))?;
    let n = q.items.len();
    // A plain boolean field answers true/false (stored as 1/0).
    let booleans: Vec<bool> = q
        .items
        .iter()
        .map(|i| matches!(&i.expr, Expr::Field(f) if f.value_kind() == ValueKind::Boolean))
        .collect();
    let mut values = Vec::new();
    while let Some(row) = rows.next()? {
        let mut out = Vec::with_capacity(n);
        for (i, &boolean) in booleans.iter().enumerate() {
            out.push(match row.get_ref(i)? {
                ValueRef::Null => Json::Null,
                ValueRef::Integer(v) if boolean => Json::Bool(v != 0),
                ValueRef::Integer(v) => Json::from(v),
                ValueRef::Real(x) => serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number),
                ValueRef::Text(t) => Json::String(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(_) => Json::Null,
            });
        }
        values.push(out);
    }
    Ok(QueryResult {
        column_names: q.items.iter().map(|i| i.name.clone()).collect(),
        is_branch: q.items.iter().map(|i| !i.expr.is_aggregate()).collect(),
        values,
    })
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
    }

    #[test]
    fn seed_query_reads_session_counters_only() {
        let st = sql("SELECT stringProperties.loyalty_status AS \"Loyalty status\", COUNT(useraction.requestErrorCount) AS \"HTTP error count\" FROM usersession WHERE stringProperties.loyalty_status IS NOT NULL GROUP BY stringProperties.loyalty_status");
        assert!(!st.sql.contains("actions a"), "{}", st.sql);
        assert!(st.sql.contains("s.action_count"), "{}", st.sql);
        // An action condition needs the actions again.
        let st = sql("SELECT stringProperties.loyalty_status, COUNT(*) FROM usersession WHERE useraction.name = 'x' GROUP BY stringProperties.loyalty_status");
        assert!(st.sql.contains("actions a"), "{}", st.sql);
    }

    #[test]
    fn action_groups_read_actions_apart_from_sessions_without_actions() {
        let st = sql("SELECT useraction.name, COUNT(*), AVG(useraction.duration) FROM usersession WHERE useraction.requestCount > 1 GROUP BY useraction.name");
        assert!(st.sql.contains("FROM actions a JOIN sessions s") && st.sql.contains("GROUP BY a.name UNION ALL"), "{}", st.sql);
        assert!(st.sql.contains("s.action_count = 0 AND (NULL > ?"), "{}", st.sql);
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
