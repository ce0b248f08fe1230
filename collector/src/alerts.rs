//! Alerts: a threshold on a calculated metric over a window, evaluated by the collector on a
//! schedule, with firing and resolved notifications POSTed to a webhook in the Alertmanager
//! webhook payload shape (`"version": "4"`), so receivers written for Alertmanager work.
//!
//! ```json
//! {"name": "Slow gold checkouts", "metricId": 1, "operator": "ABOVE", "threshold": 3000,
//!  "windowMinutes": 5, "forEvaluations": 2, "webhookUrl": "http://127.0.0.1:9093/hook", "enabled": true}
//! ```
//!
//! Every evaluation compares the metric's total (no dimensions) over the last `windowMinutes`
//! with the threshold. A breach counts up; after `forEvaluations` breaches in a row the alert is
//! FIRING (before that PENDING) and a `firing` notification is queued; the first evaluation
//! without a breach while FIRING makes it OK again and queues `resolved`. A metric without data
//! (AVG of nothing) is no breach. Every state change is kept in `alert_history`.
//!
//! Notifications live in `alert_notifications` until a receiver answered 2xx: each is tried
//! again with exponential backoff ([`AlertTiming`]) and given up after `max_attempts` (the
//! failure stays visible in the app). An alert's notifications go out in the order they were
//! queued: a `resolved` never overtakes its `firing`.

use crate::export::{parse_url, post};
use crate::calculated;
use crate::store;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The alert loop's clocks. The defaults are the documented behaviour; tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertTiming {
    /// How often every enabled alert is evaluated.
    pub interval_ms: u64,
    /// First wait after a failed delivery; doubles up to `max_backoff_ms`.
    pub min_backoff_ms: u64,
    /// Longest wait between delivery attempts.
    pub max_backoff_ms: u64,
    /// Attempts before a notification is given up.
    pub max_attempts: i64,
}

impl Default for AlertTiming {
    fn default() -> Self {
        AlertTiming { interval_ms: 60_000, min_backoff_ms: 1_000, max_backoff_ms: 60_000, max_attempts: 10 }
    }
}

/// An alert's definition, as the API takes and gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Alert {
    /// The `alertname` label.
    pub name: String,
    /// The calculated metric compared.
    pub metric_id: i64,
    /// `ABOVE` or `BELOW`.
    pub operator: String,
    /// The threshold.
    pub threshold: f64,
    /// The metric's window for this alert.
    #[serde(default = "default_window")]
    pub window_minutes: i64,
    /// Breaches in a row before FIRING.
    #[serde(default = "one")]
    pub for_evaluations: i64,
    /// Where notifications are POSTed (`http://` only).
    pub webhook_url: String,
    /// Disabled alerts are not evaluated.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn default_window() -> i64 {
    5
}
fn one() -> i64 {
    1
}
fn yes() -> bool {
    true
}

impl Alert {
    /// Checks the definition; `Err` names the member.
    pub fn validate(&self, conn: &Connection) -> Result<(), String> {
        let n = self.name.chars().count();
        if n == 0 || n > 200 {
            return Err("name: 1 to 200 characters".to_owned());
        }
        if self.operator != "ABOVE" && self.operator != "BELOW" {
            return Err("operator: ABOVE or BELOW".to_owned());
        }
        if !self.threshold.is_finite() {
            return Err("threshold: a finite number".to_owned());
        }
        if !(1..=60 * 24 * 31).contains(&self.window_minutes) {
            return Err("windowMinutes: 1 to 44640".to_owned());
        }
        if !(1..=100).contains(&self.for_evaluations) {
            return Err("forEvaluations: 1 to 100".to_owned());
        }
        parse_url(&self.webhook_url).map_err(|e| format!("webhookUrl: {e}"))?;
        if calculated::get(conn, self.metric_id).map_err(|e| e.to_string())?.is_none() {
            return Err(format!("metricId: no metric {}", self.metric_id));
        }
        Ok(())
    }

    fn breached(&self, v: f64) -> bool {
        if self.operator == "ABOVE" {
            v > self.threshold
        } else {
            v < self.threshold
        }
    }
}

/// Reads a definition from a request body (checked against the store); `Err` is a 400 message.
pub fn parse(conn: &Connection, body: &[u8]) -> Result<Alert, String> {
    let a: Alert = serde_json::from_slice(body).map_err(|e| format!("alert: {e}"))?;
    a.validate(conn)?;
    Ok(a)
}

fn decode(def: &str) -> rusqlite::Result<Alert> {
    serde_json::from_str(def).map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

const SELECT: &str = "SELECT id, definition, state, breaches, last_value, last_evaluated, active_since FROM alerts";

fn row_json(r: &rusqlite::Row) -> rusqlite::Result<(i64, Alert, Value)> {
    let id: i64 = r.get(0)?;
    let alert = decode(&r.get::<_, String>(1)?)?;
    let mut v = serde_json::to_value(&alert).unwrap_or(Value::Null);
    v["id"] = Value::from(id);
    v["state"] = Value::from(r.get::<_, String>(2)?);
    v["breaches"] = Value::from(r.get::<_, i64>(3)?);
    v["lastValue"] = json!(r.get::<_, Option<f64>>(4)?);
    v["lastEvaluated"] = json!(r.get::<_, Option<i64>>(5)?);
    v["activeSince"] = json!(r.get::<_, Option<i64>>(6)?);
    Ok((id, alert, v))
}

/// Every alert with its state, as the API's JSON.
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<Value>> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} ORDER BY id"))?;
    let rows = stmt.query_map([], |r| row_json(r).map(|(_, _, v)| v))?;
    rows.collect()
}

/// One alert with its state, its last 100 history entries and its notifications.
pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Value>> {
    let Some(mut v) = conn.query_row(&format!("{SELECT} WHERE id = ?1"), params![id], |r| row_json(r).map(|(_, _, v)| v)).optional()?
    else {
        return Ok(None);
    };
    let mut stmt =
        conn.prepare_cached("SELECT time, state, value, message FROM alert_history WHERE alert_id = ?1 ORDER BY id DESC LIMIT 100")?;
    let history: Vec<Value> = stmt
        .query_map(params![id], |r| {
            Ok(json!({"time": r.get::<_, i64>(0)?, "state": r.get::<_, String>(1)?, "value": r.get::<_, Option<f64>>(2)?,
                "message": r.get::<_, String>(3)?}))
        })?
        .collect::<Result<_, _>>()?;
    v["history"] = Value::Array(history);
    let mut stmt = conn.prepare_cached(
        "SELECT status, created_at, attempts, delivered_at, last_error FROM alert_notifications WHERE alert_id = ?1 ORDER BY id DESC LIMIT 100",
    )?;
    let sent: Vec<Value> = stmt
        .query_map(params![id], |r| {
            Ok(json!({"status": r.get::<_, String>(0)?, "createdAt": r.get::<_, i64>(1)?, "attempts": r.get::<_, i64>(2)?,
                "deliveredAt": r.get::<_, Option<i64>>(3)?, "lastError": r.get::<_, Option<String>>(4)?}))
        })?
        .collect::<Result<_, _>>()?;
    v["notifications"] = Value::Array(sent);
    Ok(Some(v))
}

/// Stores a new alert (state OK).
pub fn create(conn: &Connection, a: &Alert, now_ms: i64) -> rusqlite::Result<i64> {
    let def = serde_json::to_string(a).unwrap_or_default();
    conn.execute(
        "INSERT INTO alerts (metric_id, definition, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
        params![a.metric_id, def, now_ms],
    )?;
    let id = conn.last_insert_rowid();
    conn.execute(
        "INSERT INTO alert_history (alert_id, time, state, value, message) VALUES (?1, ?2, 'OK', NULL, 'created')",
        params![id, now_ms],
    )?;
    Ok(id)
}

/// Replaces an alert's definition; its state stays (the next evaluation applies the change).
/// `false`: no such alert.
pub fn update(conn: &Connection, id: i64, a: &Alert, now_ms: i64) -> rusqlite::Result<bool> {
    let def = serde_json::to_string(a).unwrap_or_default();
    let n = conn.execute(
        "UPDATE alerts SET metric_id = ?2, definition = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, a.metric_id, def, now_ms],
    )?;
    if n > 0 {
        conn.execute(
            "INSERT INTO alert_history (alert_id, time, state, value, message) SELECT id, ?2, state, last_value, 'edited' FROM alerts WHERE id = ?1",
            params![id, now_ms],
        )?;
    }
    Ok(n > 0)
}

/// Deletes an alert with its history and undelivered notifications. `false`: no such alert.
pub fn delete(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM alerts WHERE id = ?1", params![id])? > 0)
}

/// RFC 3339 in UTC with milliseconds, from epoch ms.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem % 3600 / 60, rem % 60, ms.rem_euclid(1000))
}

/// What one notification says.
#[derive(Debug, Clone, Copy)]
pub struct Notice<'a> {
    /// `firing` or `resolved`.
    pub status: &'a str,
    /// The metric's value at the evaluation.
    pub value: Option<f64>,
    /// When the alert started firing (epoch ms).
    pub starts_at: i64,
    /// When it resolved (`None` while firing).
    pub ends_at: Option<i64>,
}

/// The Alertmanager webhook body (version 4) of one alert's firing or resolved notification.
pub fn payload(id: i64, a: &Alert, metric_key: &str, n: Notice, external_url: &str) -> Value {
    let Notice { status, value, starts_at, ends_at } = n;
    let labels = json!({"alertname": a.name, "metric": format!("{}{metric_key}", calculated::EXPOSED_PREFIX), "alert_id": id.to_string()});
    let value_text = value.map(|v| v.to_string()).unwrap_or_else(|| "no data".to_owned());
    let annotations = json!({
        "summary": format!("{} {} {} (now {value_text}, over {} min)", metric_key, if a.operator == "ABOVE" { "above" } else { "below" },
            a.threshold, a.window_minutes),
        "value": value_text,
        "threshold": a.threshold.to_string(),
    });
    let fingerprint = &crate::auth::hash(&format!("alertname={}\0alert_id={id}", a.name))[..16];
    let group_key = format!("{{}}:{{alertname={:?}}}", a.name);
    json!({
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "rumprops",
        "groupLabels": {"alertname": a.name},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": external_url,
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": annotations,
            "startsAt": rfc3339(starts_at),
            "endsAt": ends_at.map(rfc3339).unwrap_or_else(|| "0001-01-01T00:00:00Z".to_owned()),
            "generatorURL": format!("{external_url}/app/#/alerts/{id}"),
            "fingerprint": fingerprint,
        }],
    })
}

/// Evaluates every enabled alert once at `now_ms`: updates state and history in `conn`, queues
/// notifications; the metrics' queries go to `run` (the store holding the beacons). Returns how
/// many alerts were evaluated.
pub fn evaluate_all(conn: &Connection, run: calculated::Run<'_>, now_ms: i64, session_timeout_ms: i64, external_url: &str) -> Result<usize, String> {
    let rows: Vec<(i64, String, String, i64, Option<i64>)> = {
        let mut stmt = conn.prepare_cached("SELECT id, definition, state, breaches, active_since FROM alerts ORDER BY id").map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .map_err(|e| e.to_string())?;
        rows.collect::<Result<_, _>>().map_err(|e| e.to_string())?
    };
    let mut evaluated = 0;
    for (id, def, state, breaches, active_since) in rows {
        let Ok(alert) = decode(&def) else { continue };
        if !alert.enabled {
            continue;
        }
        let Some(metric) = calculated::get(conn, alert.metric_id).map_err(|e| e.to_string())? else { continue };
        let value = calculated::total(run, &metric.metric, alert.window_minutes, now_ms, session_timeout_ms);
        let (value, error) = match value {
            Ok(v) => (v, None),
            Err(e) => (None, Some(e)),
        };
        let breach = value.is_some_and(|v| alert.breached(v));
        let breaches = if breach { breaches + 1 } else { 0 };
        let next = match (state.as_str(), breach) {
            ("FIRING", true) => "FIRING",
            (_, true) if breaches >= alert.for_evaluations => "FIRING",
            (_, true) => "PENDING",
            (_, false) => "OK",
        };
        let tx = conn.unchecked_transaction().map_err(|e| e.to_string())?;
        let since = match (state.as_str(), next) {
            ("FIRING", "FIRING") => active_since,
            (_, "FIRING") => Some(now_ms),
            _ => None,
        };
        tx.execute(
            "UPDATE alerts SET state = ?2, breaches = ?3, last_value = ?4, last_evaluated = ?5, active_since = ?6 WHERE id = ?1",
            params![id, next, breaches, value, now_ms, since],
        )
        .map_err(|e| e.to_string())?;
        if next != state || error.is_some() {
            let message = match (&error, state.as_str(), next) {
                (Some(e), _, _) => format!("metric failed: {e}"),
                (None, _, "FIRING") => "firing".to_owned(),
                (None, "FIRING", "OK") => "resolved".to_owned(),
                (None, _, "PENDING") => format!("breach 1 of {}", alert.for_evaluations),
                _ => "back to normal".to_owned(),
            };
            tx.execute(
                "INSERT INTO alert_history (alert_id, time, state, value, message) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, now_ms, next, value, message],
            )
            .map_err(|e| e.to_string())?;
        }
        let notify = match (state.as_str(), next) {
            (s, "FIRING") if s != "FIRING" => Some(("firing", now_ms, None)),
            ("FIRING", "OK") => Some(("resolved", active_since.unwrap_or(now_ms), Some(now_ms))),
            _ => None,
        };
        if let Some((status, starts, ends)) = notify {
            let notice = Notice { status, value, starts_at: starts, ends_at: ends };
            let body = payload(id, &alert, &metric.metric.key, notice, external_url);
            tx.execute(
                "INSERT INTO alert_notifications (alert_id, status, url, payload, created_at, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![id, status, alert.webhook_url, body.to_string(), now_ms],
            )
            .map_err(|e| e.to_string())?;
        }
        tx.commit().map_err(|e| e.to_string())?;
        evaluated += 1;
    }
    Ok(evaluated)
}

/// A notification due for delivery.
struct Due {
    id: i64,
    alert_id: i64,
    url: String,
    payload: String,
    attempts: i64,
}

fn due(conn: &Connection, now_ms: i64, max_attempts: i64) -> rusqlite::Result<Vec<Due>> {
    // The oldest undelivered notification of each alert, if its time has come.
    let mut stmt = conn.prepare_cached(
        "SELECT n.id, n.alert_id, n.url, n.payload, n.attempts FROM alert_notifications n
         WHERE n.id IN (SELECT MIN(id) FROM alert_notifications WHERE delivered_at IS NULL AND attempts < ?2 GROUP BY alert_id)
           AND n.next_attempt_at <= ?1 ORDER BY n.id",
    )?;
    let rows = stmt.query_map(params![now_ms, max_attempts], |r| {
        Ok(Due { id: r.get(0)?, alert_id: r.get(1)?, url: r.get(2)?, payload: r.get(3)?, attempts: r.get(4)? })
    })?;
    rows.collect()
}

/// Sends the due notifications once each; records deliveries and failures.
pub async fn deliver(db: &Path, timing: AlertTiming) {
    let db2 = db.to_path_buf();
    let Ok(Ok(list)) = tokio::task::spawn_blocking(move || {
        let conn = store::open_reader(&db2).map_err(|e| e.to_string())?;
        due(&conn, store::now_ms(), timing.max_attempts).map_err(|e| e.to_string())
    })
    .await
    else {
        return;
    };
    for n in list {
        let result = match parse_url(&n.url) {
            Ok(target) => post(&target, "application/json", n.payload.as_bytes()).await,
            Err(e) => Err(e),
        };
        let attempts = n.attempts + 1;
        if let Err(e) = &result {
            let _ = writeln!(std::io::stderr(), "rumprops: alert {} webhook {} failed (attempt {attempts}): {e}", n.alert_id, n.url);
        }
        let backoff = timing.min_backoff_ms.saturating_mul(1u64 << (attempts - 1).clamp(0, 20)).min(timing.max_backoff_ms);
        let db2 = db.to_path_buf();
        let _ = tokio::task::spawn_blocking(move || -> Result<(), String> {
            let conn = store::open_reader(&db2).map_err(|e| e.to_string())?;
            let now = store::now_ms();
            match result {
                Ok(()) => conn.execute(
                    "UPDATE alert_notifications SET attempts = ?2, delivered_at = ?3, last_error = NULL WHERE id = ?1",
                    params![n.id, attempts, now],
                ),
                Err(e) => conn.execute(
                    "UPDATE alert_notifications SET attempts = ?2, next_attempt_at = ?3, last_error = ?4 WHERE id = ?1",
                    params![n.id, attempts, now + backoff as i64, e],
                ),
            }
            .map(|_| ())
            .map_err(|e| e.to_string())
        })
        .await;
    }
}

/// Starts the alert loop on the current runtime: evaluates every `interval_ms`, and delivers
/// due notifications (also between evaluations, so retries keep their backoff). The alerts live
/// in `db`; `query` runs the metrics' USQL on the store of the beacons.
pub fn spawn(db: PathBuf, query: calculated::Query, session_timeout_ms: i64, timing: AlertTiming, external_url: String) {
    tokio::spawn(async move {
        let tick = Duration::from_millis(timing.min_backoff_ms.clamp(10, 1000).min(timing.interval_ms.max(10)));
        let mut next_eval = tokio::time::Instant::now() + Duration::from_millis(timing.interval_ms);
        // A failure that stays the same is reported once, not at every evaluation.
        let mut failing: Option<String> = None;
        loop {
            tokio::time::sleep(tick).await;
            if tokio::time::Instant::now() >= next_eval {
                next_eval = tokio::time::Instant::now() + Duration::from_millis(timing.interval_ms);
                let (db2, url, query) = (db.clone(), external_url.clone(), std::sync::Arc::clone(&query));
                let r = tokio::task::spawn_blocking(move || {
                    let conn = store::open_reader(&db2).map_err(|e| e.to_string())?;
                    evaluate_all(&conn, &|q, o| query(&conn, q, o), store::now_ms(), session_timeout_ms, &url)
                })
                .await;
                match r {
                    Ok(Err(e)) if failing.as_ref() != Some(&e) => {
                        let _ = writeln!(std::io::stderr(), "rumprops: alert evaluation failed: {e}");
                        failing = Some(e);
                    }
                    Ok(Ok(_)) => failing = None,
                    _ => {}
                }
            }
            deliver(&db, timing).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_732_600_000_123), "2024-11-26T05:46:40.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
