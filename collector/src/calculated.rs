//! Calculated metrics: an aggregate over actions or sessions with a property filter, stored in
//! the collector's store and exposed at `GET /metrics` in the Prometheus text format.
//!
//! A metric is the USQL query its definition builds ([`Metric::usql`]), so it means exactly
//! what the same query means in the app:
//!
//! ```json
//! {"key": "gold_checkout_p90", "description": "…", "table": "useraction",
//!  "aggregation": "PERCENTILE", "percentile": 90, "field": "duration",
//!  "filters": [{"field": "stringProperties.loyalty_status", "operator": "EQUALS", "value": "Gold"}],
//!  "dimensions": ["stringProperties.campaign"], "windowMinutes": 120}
//! ```
//!
//! `aggregation` is COUNT (no field; like Dynatrace's COUNTER), SUM, AVG, MIN, MAX, MEDIAN or
//! PERCENTILE; the filter operators are Dynatrace's (USQL.md §11): EQUALS, NOT_EQUAL, IS_NULL,
//! IS_NOT_NULL, LIKE, LESS_THAN, LESS_THAN_OR_EQUAL_TO, GREATER_THAN,
//! GREATER_THAN_OR_EQUAL_TO, ANDed; up to 10 filters and 10 dimensions. A metric's value covers
//! the sessions that started in the last `windowMinutes` (default 120, USQL's default time
//! frame) and are closed, as USQL's default. `GET /metrics` names it `rumprops_metric_<key>`,
//! one sample per dimension combination with the dimensions as labels (`.` becomes `_`; a null
//! dimension is the string `null`).

use crate::usql::{self, QueryOptions};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt::Write;

/// Most filters and dimensions of a metric (Dynatrace's limit).
pub const MAX_PARTS: usize = 10;
/// Default window of a metric's value.
pub const DEFAULT_WINDOW_MINUTES: i64 = 120;
/// Prefix of every calculated metric at `/metrics`.
pub const EXPOSED_PREFIX: &str = "rumprops_metric_";

/// One filter of a metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// A USQL field of the metric's table, or `stringProperties.key` etc.
    pub field: String,
    /// EQUALS, NOT_EQUAL, IS_NULL, …
    pub operator: String,
    /// The value compared with (absent for IS_NULL and IS_NOT_NULL): a string or a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// A metric's definition, as the API takes and gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metric {
    /// The name at `/metrics` after `rumprops_metric_`: `[a-z_][a-z0-9_]*`, at most 64.
    pub key: String,
    /// Shown in the app and as `# HELP`.
    #[serde(default)]
    pub description: String,
    /// `useraction` or `usersession`.
    pub table: String,
    /// COUNT, SUM, AVG, MIN, MAX, MEDIAN, PERCENTILE.
    pub aggregation: String,
    /// The aggregated field (not for COUNT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For PERCENTILE: 1 to 99.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentile: Option<i64>,
    /// ANDed.
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// Fields the value is split by (labels at `/metrics`).
    #[serde(default)]
    pub dimensions: Vec<String>,
    /// The value covers sessions started in the last this many minutes.
    #[serde(default = "default_window")]
    pub window_minutes: i64,
}

fn default_window() -> i64 {
    DEFAULT_WINDOW_MINUTES
}

const OPERATORS: &[(&str, &str)] = &[
    ("EQUALS", "="),
    ("NOT_EQUAL", "!="),
    ("LESS_THAN", "<"),
    ("LESS_THAN_OR_EQUAL_TO", "<="),
    ("GREATER_THAN", ">"),
    ("GREATER_THAN_OR_EQUAL_TO", ">="),
    ("LIKE", "LIKE"),
    ("IS_NULL", "IS NULL"),
    ("IS_NOT_NULL", "IS NOT NULL"),
];

const AGGREGATIONS: &[&str] = &["COUNT", "SUM", "AVG", "MIN", "MAX", "MEDIAN", "PERCENTILE"];

/// A field name as USQL writes it: words joined by dots, nothing that could end the expression.
fn field_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s.split('.').all(|w| {
            let mut c = w.chars();
            c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_') && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
        })
}

/// A USQL string literal.
pub fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn literal(v: &Value, at: &str) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(quote(s)),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(if *b { "true" } else { "false" }.to_owned()),
        _ => Err(format!("{at}.value: a string, a number or a boolean")),
    }
}

impl Metric {
    /// Checks the definition and returns the USQL query it stands for; `Err` names the member.
    pub fn validate(&self) -> Result<String, String> {
        let key_ok = !self.key.is_empty()
            && self.key.len() <= 64
            && self.key.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && self.key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !key_ok {
            return Err("key: 1 to 64 of a-z, 0-9 and _, not starting with a digit".to_owned());
        }
        if self.description.chars().count() > 500 {
            return Err("description: at most 500 characters".to_owned());
        }
        if self.table != "useraction" && self.table != "usersession" {
            return Err("table: useraction or usersession".to_owned());
        }
        if !AGGREGATIONS.contains(&self.aggregation.as_str()) {
            return Err(format!("aggregation: one of {}", AGGREGATIONS.join(", ")));
        }
        match (&self.field, self.aggregation.as_str()) {
            (Some(_), "COUNT") => return Err("field: COUNT takes no field".to_owned()),
            (None, a) if a != "COUNT" => return Err(format!("field: {a} needs a field")),
            (Some(f), _) if !field_name(f) => return Err("field: a USQL field name".to_owned()),
            _ => {}
        }
        match (self.percentile, self.aggregation.as_str()) {
            (Some(p), "PERCENTILE") if (1..=99).contains(&p) => {}
            (_, "PERCENTILE") => return Err("percentile: 1 to 99 for PERCENTILE".to_owned()),
            (Some(_), _) => return Err("percentile: only for PERCENTILE".to_owned()),
            _ => {}
        }
        if self.filters.len() > MAX_PARTS {
            return Err(format!("filters: at most {MAX_PARTS}"));
        }
        if self.dimensions.len() > MAX_PARTS {
            return Err(format!("dimensions: at most {MAX_PARTS}"));
        }
        for (i, d) in self.dimensions.iter().enumerate() {
            if !field_name(d) {
                return Err(format!("dimensions[{i}]: a USQL field name"));
            }
        }
        if !(1..=60 * 24 * 366).contains(&self.window_minutes) {
            return Err("windowMinutes: 1 to 527040".to_owned());
        }
        let q = self.usql_with(&self.dimensions)?;
        usql::parser::parse(&q).map_err(|e| format!("the metric's query is not valid USQL: {} in {q}", e.message))?;
        Ok(q)
    }

    /// The USQL query of the metric, split by its dimensions.
    pub fn usql(&self) -> Result<String, String> {
        self.usql_with(&self.dimensions)
    }

    /// The USQL query of the metric split by `dimensions` (none: one total).
    pub fn usql_with(&self, dimensions: &[String]) -> Result<String, String> {
        let value = match (self.aggregation.as_str(), &self.field) {
            ("COUNT", _) => "COUNT(*)".to_owned(),
            ("PERCENTILE", Some(f)) => format!("PERCENTILE({f}, {})", self.percentile.unwrap_or(90)),
            (a, Some(f)) => format!("{a}({f})"),
            (a, None) => return Err(format!("field: {a} needs a field")),
        };
        let mut conds = Vec::new();
        for (i, f) in self.filters.iter().enumerate() {
            let at = format!("filters[{i}]");
            if !field_name(&f.field) {
                return Err(format!("{at}.field: a USQL field name"));
            }
            let Some((_, op)) = OPERATORS.iter().find(|(n, _)| *n == f.operator) else {
                let names: Vec<&str> = OPERATORS.iter().map(|(n, _)| *n).collect();
                return Err(format!("{at}.operator: one of {}", names.join(", ")));
            };
            match (op.starts_with("IS"), &f.value) {
                (true, None) => conds.push(format!("{} {op}", f.field)),
                (true, Some(_)) => return Err(format!("{at}.value: {} takes no value", f.operator)),
                (false, Some(v)) => conds.push(format!("{} {op} {}", f.field, literal(v, &at)?)),
                (false, None) => return Err(format!("{at}.value: {} needs a value", f.operator)),
            }
        }
        let mut q = String::from("SELECT ");
        for d in dimensions {
            let _ = write!(q, "{d}, ");
        }
        let _ = write!(q, "{value} FROM {}", self.table);
        if !conds.is_empty() {
            let _ = write!(q, " WHERE {}", conds.join(" AND "));
        }
        if !dimensions.is_empty() {
            let _ = write!(q, " GROUP BY {} LIMIT 5000", dimensions.join(", "));
        }
        Ok(q)
    }

    /// The query's time options for a value at `now_ms`.
    pub fn options(&self, now_ms: i64, session_timeout_ms: i64) -> QueryOptions {
        let mut o = QueryOptions::now(session_timeout_ms);
        o.now_ms = now_ms;
        o.start_timestamp = Some(now_ms - self.window_minutes * 60_000);
        o.end_timestamp = Some(now_ms);
        o
    }
}

/// Reads a definition from a request body; `Err` is a 400 message naming the member.
pub fn parse(body: &[u8]) -> Result<Metric, String> {
    let m: Metric = serde_json::from_slice(body).map_err(|e| format!("metric: {e}"))?;
    m.validate()?;
    Ok(m)
}

/// A stored metric.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Row id.
    pub id: i64,
    /// The definition.
    pub metric: Metric,
}

impl Stored {
    /// The API's JSON: the definition with `id` and the USQL `query` it runs.
    pub fn json(&self) -> Value {
        let mut v = serde_json::to_value(&self.metric).unwrap_or(Value::Null);
        v["id"] = Value::from(self.id);
        v["query"] = Value::from(self.metric.usql().unwrap_or_default());
        v["exposedAs"] = Value::from(format!("{EXPOSED_PREFIX}{}", self.metric.key));
        v
    }
}

fn from_row(id: i64, def: &str) -> rusqlite::Result<Stored> {
    let metric = serde_json::from_str(def)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))?;
    Ok(Stored { id, metric })
}

/// Every stored metric, by id.
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<Stored>> {
    let mut stmt = conn.prepare_cached("SELECT id, definition FROM metrics ORDER BY id")?;
    let rows: Vec<(i64, String)> = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
    rows.iter().map(|(id, d)| from_row(*id, d)).collect()
}

/// One metric.
pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Stored>> {
    let row: Option<String> =
        conn.query_row("SELECT definition FROM metrics WHERE id = ?1", params![id], |r| r.get(0)).optional()?;
    row.map(|d| from_row(id, &d)).transpose()
}

/// What a write did.
#[derive(Debug)]
pub enum WriteError {
    /// 404.
    NotFound,
    /// 409, with why.
    Conflict(String),
    /// 500.
    Store(String),
}

impl From<rusqlite::Error> for WriteError {
    fn from(e: rusqlite::Error) -> Self {
        WriteError::Store(e.to_string())
    }
}

fn key_taken(e: &rusqlite::Error, key: &str) -> Option<WriteError> {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::ConstraintViolation))
        .then(|| WriteError::Conflict(format!("key: a metric {key:?} exists")))
}

/// Stores a new metric.
pub fn create(conn: &Connection, m: &Metric, now_ms: i64) -> Result<Stored, WriteError> {
    let def = serde_json::to_string(m).map_err(|e| WriteError::Store(e.to_string()))?;
    conn.execute(
        "INSERT INTO metrics (key, definition, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
        params![m.key, def, now_ms],
    )
    .map_err(|e| key_taken(&e, &m.key).unwrap_or(e.into()))?;
    Ok(Stored { id: conn.last_insert_rowid(), metric: m.clone() })
}

/// Replaces a metric's definition.
pub fn update(conn: &Connection, id: i64, m: &Metric, now_ms: i64) -> Result<Stored, WriteError> {
    let def = serde_json::to_string(m).map_err(|e| WriteError::Store(e.to_string()))?;
    let n = conn
        .execute("UPDATE metrics SET key = ?2, definition = ?3, updated_at = ?4 WHERE id = ?1", params![id, m.key, def, now_ms])
        .map_err(|e| key_taken(&e, &m.key).unwrap_or(e.into()))?;
    if n == 0 {
        return Err(WriteError::NotFound);
    }
    Ok(Stored { id, metric: m.clone() })
}

/// Deletes a metric no alert uses.
pub fn delete(conn: &Connection, id: i64) -> Result<(), WriteError> {
    let used: Option<i64> =
        conn.query_row("SELECT id FROM alerts WHERE metric_id = ?1 LIMIT 1", params![id], |r| r.get(0)).optional()?;
    if let Some(alert) = used {
        return Err(WriteError::Conflict(format!("alert {alert} uses this metric; delete it first")));
    }
    match conn.execute("DELETE FROM metrics WHERE id = ?1", params![id])? {
        0 => Err(WriteError::NotFound),
        _ => Ok(()),
    }
}

/// One sample: its labels (name, value) and its value (`None`: no data).
pub type Sample = (Vec<(String, String)>, Option<f64>);

/// Runs a USQL query on the store that holds the beacons (SQLite or ClickHouse): metrics are
/// defined in the collector's own SQLite file but evaluated wherever the data is.
pub type Run<'a> = &'a dyn Fn(&str, &QueryOptions) -> Result<usql::QueryResult, usql::QueryError>;

/// A [`Run`] for background tasks: given a connection to the collector's SQLite file (where
/// the beacons are unless a ClickHouse store holds them), runs a USQL query on the beacons.
pub type Query = std::sync::Arc<dyn Fn(&Connection, &str, &QueryOptions) -> Result<usql::QueryResult, usql::QueryError> + Send + Sync>;

/// The metric's samples now: one per dimension combination.
pub fn samples(run: Run<'_>, m: &Metric, now_ms: i64, session_timeout_ms: i64) -> Result<Vec<Sample>, String> {
    let q = m.usql()?;
    let r = run(&q, &m.options(now_ms, session_timeout_ms)).map_err(|e| e.to_string())?;
    let n = m.dimensions.len();
    let mut out = Vec::new();
    for row in &r.values {
        let labels = m
            .dimensions
            .iter()
            .zip(row.iter())
            .map(|(d, v)| {
                let text = match v {
                    Value::Null => "null".to_owned(),
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (label_name(d), text)
            })
            .collect();
        out.push((labels, row.get(n).and_then(Value::as_f64)));
    }
    if out.is_empty() && n == 0 {
        out.push((Vec::new(), None));
    }
    Ok(out)
}

/// The metric's single value over `window_minutes` (no dimensions): what alerts compare.
/// COUNT and SUM of nothing are 0; the others of nothing are `None` (no data).
pub fn total(run: Run<'_>, m: &Metric, window_minutes: i64, now_ms: i64, session_timeout_ms: i64) -> Result<Option<f64>, String> {
    let q = m.usql_with(&[])?;
    let mut o = m.options(now_ms, session_timeout_ms);
    o.start_timestamp = Some(now_ms - window_minutes * 60_000);
    let r = run(&q, &o).map_err(|e| e.to_string())?;
    let v = r.values.first().and_then(|row| row.first()).and_then(Value::as_f64);
    Ok(match (v, m.aggregation.as_str()) {
        (None, "COUNT" | "SUM") => Some(0.0),
        (v, _) => v,
    })
}

/// A Prometheus label name for a USQL field: `stringProperties.campaign` → `stringProperties_campaign`.
pub fn label_name(field: &str) -> String {
    field.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

/// A label value in the text format: `\`, `"` and newlines escaped.
pub fn label_value(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn help_text(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        v.to_string()
    }
}

/// The users' block of `/metrics`: every stored metric (read from `conn`), evaluated now by
/// `run`. A metric whose query fails is reported in a comment and left out, so one broken
/// metric never hides the others.
pub fn exposition(conn: &Connection, run: Run<'_>, now_ms: i64, session_timeout_ms: i64) -> Result<String, String> {
    let mut out = String::new();
    for s in list(conn).map_err(|e| e.to_string())? {
        let m = &s.metric;
        let name = format!("{EXPOSED_PREFIX}{}", m.key);
        let help = if m.description.is_empty() { m.usql().unwrap_or_default() } else { m.description.clone() };
        match samples(run, m, now_ms, session_timeout_ms) {
            Ok(rows) => {
                let _ = writeln!(out, "# HELP {name} {}", help_text(&help));
                let _ = writeln!(out, "# TYPE {name} gauge");
                for (labels, v) in rows {
                    let Some(v) = v else { continue };
                    let _ = write!(out, "{name}");
                    if !labels.is_empty() {
                        let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", label_value(v))).collect();
                        let _ = write!(out, "{{{}}}", parts.join(","));
                    }
                    let _ = writeln!(out, " {}", number(v));
                }
            }
            Err(e) => {
                let _ = writeln!(out, "# {name} failed: {}", help_text(&e));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(json: &str) -> Result<Metric, String> {
        parse(json.as_bytes())
    }

    #[test]
    fn definitions_become_usql() {
        let m = metric(
            r#"{"key":"gold_p90","table":"useraction","aggregation":"PERCENTILE","percentile":90,"field":"duration",
               "filters":[{"field":"stringProperties.loyalty_status","operator":"EQUALS","value":"Go\"ld"},
                          {"field":"requestErrorCount","operator":"GREATER_THAN","value":0},
                          {"field":"usersession.userId","operator":"IS_NOT_NULL"}],
               "dimensions":["stringProperties.campaign"]}"#,
        )
        .unwrap();
        assert_eq!(
            m.usql().unwrap(),
            "SELECT stringProperties.campaign, PERCENTILE(duration, 90) FROM useraction WHERE stringProperties.loyalty_status = \"Go\"\"ld\" AND requestErrorCount > 0 AND usersession.userId IS NOT NULL GROUP BY stringProperties.campaign LIMIT 5000"
        );
        assert_eq!(m.window_minutes, 120);
    }

    #[test]
    fn bad_definitions_name_the_member() {
        let e = |j: &str| metric(j).unwrap_err();
        assert!(e(r#"{"key":"Bad","table":"useraction","aggregation":"COUNT"}"#).starts_with("key:"));
        assert!(e(r#"{"key":"a","table":"x","aggregation":"COUNT"}"#).starts_with("table:"));
        assert!(e(r#"{"key":"a","table":"useraction","aggregation":"SUM"}"#).starts_with("field:"));
        assert!(e(r#"{"key":"a","table":"useraction","aggregation":"SUM","field":"duration) FROM x"}"#).starts_with("field:"));
        assert!(e(r#"{"key":"a","table":"useraction","aggregation":"COUNT","filters":[{"field":"name","operator":"EQ","value":1}]}"#)
            .starts_with("filters[0].operator:"));
        assert!(e(r#"{"key":"a","table":"useraction","aggregation":"COUNT","filters":[{"field":"name","operator":"EQUALS"}]}"#)
            .starts_with("filters[0].value:"));
        assert!(e(r#"{"key":"a","table":"useraction","aggregation":"AVG","field":"nosuchfield"}"#).contains("not valid USQL"));
        assert!(e(r#"{"key":"a","table":"useraction","aggregation":"COUNT","bogus":1}"#).contains("unknown field"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(label_name("stringProperties.campaign"), "stringProperties_campaign");
    }
}
