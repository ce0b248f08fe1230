//! Session export: finished sessions as NDJSON (one session per line) POSTed to `--export-url`.
//!
//! A batch is sent when it holds 1000 sessions or 896,000 bytes, or 30 s after the last send
//! while sessions wait. A session is marked `exported` in SQLite only after the receiver answered
//! 2xx, in the same transaction for the whole batch, so a receiver failure or a collector restart
//! never loses one: it is sent again (at-least-once; receivers deduplicate by `sid`). Failures are
//! retried with exponential backoff and jitter. A beacon arriving for an exported session clears
//! the mark, and the updated session is exported again.
//!
//! The client is a minimal HTTP/1.1 writer for `http://` URLs (no TLS in the collector: put a
//! TLS-terminating proxy in front of an `https` receiver).

use crate::clickhouse::ClickHouse;
use crate::store;
use crate::usql::fields::{FieldDef, USERACTION, USERERROR, USERSESSION};
use rusqlite::{params, Connection};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sessions per batch at most.
pub const MAX_BATCH_SESSIONS: usize = 1000;
/// Bytes per batch at most (a single larger session is sent alone).
pub const MAX_BATCH_BYTES: usize = 896_000;
/// Longest wait of a non-full batch.
pub const FLUSH_INTERVAL_MS: u64 = 30_000;

/// The exporter's clocks. The defaults are the documented behaviour; tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportTiming {
    /// How often the exporter looks for finished sessions.
    pub poll_ms: u64,
    /// Longest wait of a non-full batch.
    pub flush_interval_ms: u64,
    /// First wait after a failed send; doubles up to `max_backoff_ms`.
    pub min_backoff_ms: u64,
    /// Longest wait between retries.
    pub max_backoff_ms: u64,
    /// ClickHouse store: [`ClickHouseSource::settle_ms`].
    pub settle_ms: i64,
}

impl Default for ExportTiming {
    fn default() -> Self {
        ExportTiming { poll_ms: 1_000, flush_interval_ms: FLUSH_INTERVAL_MS, min_backoff_ms: 1_000, max_backoff_ms: 60_000, settle_ms: SETTLE_MS }
    }
}
/// A receiver that does not answer within this is a failure.
const SEND_TIMEOUT_MS: u64 = 10_000;

/// Where to send: host, port, and path of an `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or address.
    pub host: String,
    /// TCP port (80 by default).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

/// Reads an `http://host[:port][/path]` URL.
pub fn parse_url(url: &str) -> Result<Target, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("export URL {url:?}: only http:// is supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("export URL {url:?}: bad port"))?),
        None => (authority, 80),
    };
    if host.is_empty() || host.contains(['@', ' ']) {
        return Err(format!("export URL {url:?}: bad host"));
    }
    Ok(Target { host: host.to_owned(), port, path: path.to_owned() })
}

/// Where the exporter reads finished sessions and records which it sent.
pub trait Source: Send + Sync + 'static {
    /// What marks one sent session.
    type Key: Send + 'static;
    /// The oldest finished sessions not yet exported, as one batch.
    fn batch(&self, now_ms: i64) -> Result<Batch<Self::Key>, String>;
    /// Records the sessions of a batch the receiver accepted.
    fn mark(&self, keys: Vec<Self::Key>) -> Result<(), String>;
}

/// The SQLite store: sessions carry an `exported` flag.
pub struct Sqlite {
    /// The database file.
    pub db: PathBuf,
    /// Idle time after which a session without an end beacon is finished.
    pub session_timeout_ms: i64,
}

impl Source for Sqlite {
    type Key = (i64, i64);
    fn batch(&self, now_ms: i64) -> Result<Batch, String> {
        let conn = store::open_reader(&self.db).map_err(|e| e.to_string())?;
        next_batch(&conn, now_ms, self.session_timeout_ms).map_err(|e| e.to_string())
    }
    fn mark(&self, keys: Vec<(i64, i64)>) -> Result<(), String> {
        let mut conn = store::open_reader(&self.db).map_err(|e| e.to_string())?;
        mark_exported(&mut conn, &keys).map_err(|e| e.to_string())
    }
}

/// Starts the exporter task on the current runtime.
pub fn spawn<S: Source>(source: S, url: &str, timing: ExportTiming) -> Result<(), String> {
    let target = parse_url(url)?;
    tokio::spawn(async move { run(std::sync::Arc::new(source), target, timing).await });
    Ok(())
}

/// The export loop; never returns.
async fn run<S: Source>(source: std::sync::Arc<S>, target: Target, timing: ExportTiming) {
    let mut last_flush = Instant::now();
    let mut backoff_ms = timing.min_backoff_ms;
    // A store that stays unreadable is reported once, not at every poll.
    let mut read_error: Option<String> = None;
    loop {
        tokio::time::sleep(Duration::from_millis(timing.poll_ms)).await;
        let src = std::sync::Arc::clone(&source);
        let batch = tokio::task::spawn_blocking(move || src.batch(store::now_ms())).await;
        let Batch { ids: keys, body, full } = match batch {
            Ok(Ok(b)) => {
                read_error = None;
                b
            }
            Ok(Err(e)) => {
                if read_error.as_ref() != Some(&e) {
                    let _ = writeln!(std::io::stderr(), "rumprops: export: reading sessions failed: {e}");
                    read_error = Some(e);
                }
                continue;
            }
            Err(_) => continue,
        };
        if keys.is_empty() {
            last_flush = Instant::now();
            continue;
        }
        if !full && last_flush.elapsed() < Duration::from_millis(timing.flush_interval_ms) {
            continue;
        }
        match send(&target, &body).await {
            Ok(()) => {
                let src = std::sync::Arc::clone(&source);
                let marked = tokio::task::spawn_blocking(move || src.mark(keys)).await;
                if let Ok(Err(e)) = marked {
                    // The batch is sent again (at-least-once): receivers deduplicate by sid.
                    let _ = writeln!(std::io::stderr(), "rumprops: export: recording a delivered batch failed: {e}");
                }
                last_flush = Instant::now();
                backoff_ms = timing.min_backoff_ms;
            }
            Err(e) => {
                // Logged to stderr; a closed stderr must not stop the exporter.
                let _ = writeln!(
                    std::io::stderr(),
                    "rumprops: export to {}:{}{} failed, retrying in {backoff_ms} ms: {e}",
                    target.host,
                    target.port,
                    target.path
                );
                let jitter = (store::now_ms().unsigned_abs() % 1000) * backoff_ms / 4000;
                tokio::time::sleep(Duration::from_millis(backoff_ms + jitter)).await;
                backoff_ms = (backoff_ms * 2).min(timing.max_backoff_ms);
            }
        }
    }
}

/// Which share of the sessions a collector exports when several export from one ClickHouse
/// store (`--export-partition INDEX/COUNT`): those whose `cityHash64(sid) % COUNT` is INDEX.
/// Every session falls in exactly one share, so collectors given the shares `0/N` … `N-1/N`
/// never send a session twice between them, and none is left out (docs/decisions.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// This collector's share, `0..count`.
    pub index: u32,
    /// How many shares there are.
    pub count: u32,
}

impl Default for Partition {
    /// One exporter takes every session.
    fn default() -> Self {
        Partition { index: 0, count: 1 }
    }
}

impl std::str::FromStr for Partition {
    type Err = String;
    fn from_str(s: &str) -> Result<Partition, String> {
        let bad = || format!("{s:?}: INDEX/COUNT with 0 <= INDEX < COUNT, e.g. 0/2");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (i.trim().parse::<u32>().map_err(|_| bad())?, n.trim().parse::<u32>().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Partition { index, count })
    }
}

/// The ClickHouse store: the sessions are folded from the `beacons` rows, and the `exports`
/// table (`ReplacingMergeTree` keyed by sid, version the number of beacons exported) records
/// what was sent, shared by every collector and kept across restarts. A session is due when it
/// is finished (an end beacon, or idle past the session timeout) and has more beacons (distinct
/// seqs) than its last export had: a beacon arriving after the export sends the updated session
/// again, as on SQLite; a resent copy of a beacon adds none (beacons are keyed by `(sid, seq)`).
///
/// A poll does not fold every stored session. Once a poll finds nothing due at time `t`, every
/// session finished by `t` has been exported, so later polls only fold the sessions with a
/// beacon received after `t − session timeout − settle` (the watermark): a session can only
/// become due by a new beacon (received after `t`, stamped at most `settle` earlier by the
/// batching and the collectors' clocks) or by idling out (its last beacon after `t − session
/// timeout`, else it was due at `t`). A restarted collector starts with a full fold.
pub struct ClickHouseSource {
    /// A client of the store (not the writer's).
    pub ch: ClickHouse,
    /// This collector's share of the sessions.
    pub partition: Partition,
    /// Idle time after which a session without an end beacon is finished.
    pub session_timeout_ms: i64,
    /// Longest time between a beacon's `received_at` stamp and its rows being readable by
    /// every collector: the insert batching, a slow insert, the collectors' clock skew.
    pub settle_ms: i64,
    /// Sessions whose last beacon was received before this are exported as they are (None: not
    /// known yet, fold them all).
    watermark: std::sync::Mutex<Option<i64>>,
}

/// [`ClickHouseSource::settle_ms`] by default: far above a batch's wait (1 s) and NTP skew.
pub const SETTLE_MS: i64 = 300_000;

impl ClickHouseSource {
    /// The exporter over `ch` for this share of the sessions.
    pub fn new(ch: ClickHouse, partition: Partition, session_timeout_ms: i64, settle_ms: i64) -> ClickHouseSource {
        ClickHouseSource { ch, partition, session_timeout_ms, settle_ms, watermark: std::sync::Mutex::new(None) }
    }

    /// The finished sessions of this share not exported with as many beacons, oldest first:
    /// (sid, beacons); only those with a beacon received after `since` when given. Every
    /// aggregate is indifferent to a resent copy of a beacon, so no `FINAL` is needed.
    fn due(&self, now_ms: i64, since: Option<i64>, limit: usize) -> Result<Vec<(String, u64)>, String> {
        let Partition { index, count } = self.partition;
        let cutoff = now_ms.saturating_sub(self.session_timeout_ms);
        // The candidates, and the export records of only them.
        let recent = match since {
            Some(t) => format!(" AND sid GLOBAL IN (SELECT sid FROM beacons WHERE received_at > {t})"),
            None => String::new(),
        };
        let exported = match since {
            Some(_) => format!("SELECT sid, beacons FROM exports WHERE 1{recent}"),
            None => "SELECT sid, beacons FROM exports".to_owned(),
        };
        let sql = format!(
            "SELECT sid, n FROM (
                SELECT sid, toUInt64(uniqExact(seq)) AS n, min(received_at) AS first_seen, max(received_at) AS last_seen,
                       countIf(ended IS NOT NULL) AS ends
                FROM beacons WHERE cityHash64(sid) % {count} = {index}{recent} GROUP BY sid)
             WHERE (ends > 0 OR last_seen <= {cutoff}) AND (sid, n) GLOBAL NOT IN ({exported})
             ORDER BY first_seen, sid LIMIT {limit}"
        );
        select(&self.ch, &sql)?
            .into_iter()
            .map(|row| match (row.first().and_then(Value::as_str), row.get(1).and_then(Value::as_u64)) {
                (Some(sid), Some(n)) => Ok((sid.to_owned(), n)),
                _ => Err(format!("unexpected export row {row:?}")),
            })
            .collect()
    }
}

impl Source for ClickHouseSource {
    type Key = (String, u64);
    fn batch(&self, now_ms: i64) -> Result<Batch<(String, u64)>, String> {
        let since = *self.watermark.lock().map_err(|_| "export watermark poisoned".to_owned())?;
        let due = self.due(now_ms, since, MAX_BATCH_SESSIONS + 1)?;
        if due.is_empty() {
            // Everything finished by now is exported (see the type's documentation).
            let next = now_ms.saturating_sub(self.session_timeout_ms).saturating_sub(self.settle_ms);
            if let Ok(mut w) = self.watermark.lock() {
                *w = Some(w.map_or(next, |old| old.max(next)));
            }
        }
        let mut full = due.len() > MAX_BATCH_SESSIONS;
        let due = &due[..due.len().min(MAX_BATCH_SESSIONS)];
        let sids: Vec<&str> = due.iter().map(|(s, _)| s.as_str()).collect();
        let sessions: HashMap<String, Value> =
            session_json_clickhouse(&self.ch, &sids)?.into_iter().collect();
        let (mut keys, mut body) = (Vec::new(), Vec::new());
        for (sid, n) in due {
            let Some(session) = sessions.get(sid) else { continue };
            let mut line = session.to_string().into_bytes();
            line.push(b'\n');
            if !keys.is_empty() && body.len() + line.len() > MAX_BATCH_BYTES {
                full = true;
                break;
            }
            body.extend_from_slice(&line);
            keys.push((sid.clone(), *n));
        }
        if body.len() >= MAX_BATCH_BYTES {
            full = true;
        }
        Ok(Batch { ids: keys, body, full })
    }

    fn mark(&self, keys: Vec<(String, u64)>) -> Result<(), String> {
        let now = store::now_ms();
        let rows: Vec<Value> = keys.iter().map(|(sid, n)| json!({"sid": sid, "beacons": n, "exported_at": now})).collect();
        self.ch.insert("exports", &rows).map_err(|e| e.to_string())
    }
}

/// Runs a SELECT on ClickHouse with the USQL backend's settings (64-bit integers as JSON
/// numbers, outer-join misses as NULL, the query time limit): its rows as JSON arrays.
pub fn select(ch: &ClickHouse, sql: &str) -> Result<Vec<Vec<Value>>, String> {
    let opts = crate::usql::QueryOptions::now(0);
    let timeout = Duration::from_millis(opts.time_limit_ms.saturating_add(5_000));
    let text = ch.query(&format!("{sql} FORMAT JSONCompact"), &crate::usql::clickhouse::settings(&opts), timeout).map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("ClickHouse answer: {e}"))?;
    match v.get("data") {
        Some(Value::Array(rows)) => Ok(rows.iter().map(|r| r.as_array().cloned().unwrap_or_default()).collect()),
        _ => Err("ClickHouse answer without data".to_owned()),
    }
}

/// An empty `{"string": {}, "long": {}, "double": {}, "date": {}}`.
fn empty_props() -> Value {
    let mut out = Map::new();
    for t in ["string", "long", "double", "date"] {
        out.insert(t.to_owned(), Value::Object(Map::new()));
    }
    Value::Object(out)
}

/// The session properties of `sids` (a list of literals), by sid: each key's value from the
/// beacon with the highest seq that carries the key, as the SQLite fold keeps it.
fn session_props_clickhouse(ch: &ClickHouse, sids: &str) -> Result<HashMap<String, Value>, String> {
    let mut out: HashMap<String, Value> = HashMap::new();
    for ty in ["string", "long", "double", "date"] {
        let sql = format!(
            "SELECT sid, k, argMax(v, seq) FROM beacons FINAL ARRAY JOIN {ty}_keys AS k, {ty}_values AS v
             WHERE sid IN ({sids}) GROUP BY sid, k"
        );
        for row in select(ch, &sql)? {
            let (Some(sid), Some(key), Some(v)) = (row.first().and_then(Value::as_str), row.get(1).and_then(Value::as_str), row.get(2)) else {
                continue;
            };
            let props = out.entry(sid.to_owned()).or_insert_with(empty_props);
            if let Some(Value::Object(m)) = props.get_mut(ty) {
                m.insert(key.to_owned(), v.clone());
            }
        }
    }
    Ok(out)
}

/// The properties of the actions of `sids` (a list of literals), by (sid, action id).
fn action_props_clickhouse(ch: &ClickHouse, sids: &str) -> Result<HashMap<(String, String), Value>, String> {
    let sql = format!(
        "SELECT sid, action_id, string_keys, string_values, long_keys, long_values, double_keys, double_values,
                date_keys, date_values
         FROM actions FINAL WHERE sid IN ({sids})"
    );
    let mut out = HashMap::new();
    for row in select(ch, &sql)? {
        let (Some(sid), Some(id)) = (row.first().and_then(Value::as_str), row.get(1).and_then(Value::as_str)) else { continue };
        let mut props = empty_props();
        for (i, ty) in ["string", "long", "double", "date"].iter().enumerate() {
            let keys = row.get(2 + 2 * i).and_then(Value::as_array).cloned().unwrap_or_default();
            let values = row.get(3 + 2 * i).and_then(Value::as_array).cloned().unwrap_or_default();
            if let Some(Value::Object(m)) = props.get_mut(*ty) {
                for (k, v) in keys.iter().zip(values.iter()) {
                    if let Some(k) = k.as_str() {
                        m.insert(k.to_owned(), v.clone());
                    }
                }
            }
        }
        out.insert((sid.to_owned(), id.to_owned()), props);
    }
    Ok(out)
}

/// The exported JSON of the sessions `sids` in the ClickHouse store, with their sids, in the
/// order of `sids` (a sid not stored is left out): the same shape and values as
/// [`session_json`] gives over SQLite. The sessions, actions and errors are read through the
/// USQL backend's subqueries (`crate::usql::clickhouse`: the session fold, the deduplicated
/// actions, the errors) with the field catalog's ClickHouse expressions, so every field has the
/// value USQL answers for it.
pub fn session_json_clickhouse(ch: &ClickHouse, sids: &[&str]) -> Result<Vec<(String, Value)>, String> {
    use crate::usql::clickhouse as chq;
    if sids.is_empty() {
        return Ok(Vec::new());
    }
    let list = sids.iter().map(|s| chq::quote(s)).collect::<Vec<_>>().join(", ");
    let rows = |sql: String| select(ch, &sql);
    let exprs = |fields: &[FieldDef]| fields.iter().map(|f| chq::unqualify(f.ch_sql())).collect::<Vec<_>>().join(", ");
    let object = |fields: &[FieldDef], row: &[Value], first: usize| -> Map<String, Value> {
        let mut out = Map::new();
        for (i, f) in fields.iter().enumerate() {
            let v = chq::json_value(row.get(first + i).cloned().unwrap_or(Value::Null), f.ty);
            if !v.is_null() {
                out.insert(f.name.to_owned(), v);
            }
        }
        out
    };
    let mut session_props = session_props_clickhouse(ch, &list)?;
    let mut action_props = action_props_clickhouse(ch, &list)?;
    let sessions = chq::sessions_sql(&[], None, true, ch.goals());
    let mut found: HashMap<String, Map<String, Value>> = HashMap::new();
    for row in rows(format!("SELECT s_sid, s_app, s_vid, {} FROM {sessions} AS s WHERE s_sid IN ({list})", exprs(USERSESSION)))? {
        let Some(sid) = row.first().and_then(Value::as_str).map(str::to_owned) else { continue };
        let mut s = object(USERSESSION, &row, 3);
        s.insert("application".to_owned(), row.get(1).cloned().unwrap_or(Value::Null));
        s.insert("visitorId".to_owned(), row.get(2).cloned().unwrap_or(Value::Null));
        s.insert("properties".to_owned(), session_props.remove(&sid).unwrap_or_else(empty_props));
        s.insert("userActions".to_owned(), Value::Array(Vec::new()));
        s.insert("errors".to_owned(), Value::Array(Vec::new()));
        found.insert(sid, s);
    }
    let actions = chq::actions_sql(&[], None, "");
    let action_sql = format!(
        "SELECT session_id, a_action_id, {} FROM {actions} AS a WHERE session_id IN ({list})
         ORDER BY session_id, a_start_time, a_seq, a_action_id",
        exprs(USERACTION)
    );
    for row in rows(action_sql)? {
        let (Some(sid), Some(id)) = (row.first().and_then(Value::as_str), row.get(1).and_then(Value::as_str)) else { continue };
        let mut a = Map::new();
        a.insert("id".to_owned(), Value::from(id));
        a.extend(object(USERACTION, &row, 2));
        a.insert("properties".to_owned(), action_props.remove(&(sid.to_owned(), id.to_owned())).unwrap_or_else(empty_props));
        if let Some(Value::Array(list)) = found.get_mut(sid).and_then(|s| s.get_mut("userActions")) {
            list.push(Value::Object(a));
        }
    }
    let error_sql = format!(
        "SELECT session_id, {} FROM {} AS e WHERE session_id IN ({list}) ORDER BY session_id, e_start_time",
        exprs(USERERROR),
        chq::ERRORS
    );
    for row in rows(error_sql)? {
        let Some(sid) = row.first().and_then(Value::as_str) else { continue };
        let e = object(USERERROR, &row, 1);
        if let Some(Value::Array(list)) = found.get_mut(sid).and_then(|s| s.get_mut("errors")) {
            list.push(Value::Object(e));
        }
    }
    Ok(sids.iter().filter_map(|sid| found.remove(*sid).map(|s| ((*sid).to_owned(), Value::Object(s)))).collect())
}

/// One batch of sessions ready to send.
#[derive(Debug, Clone)]
pub struct Batch<K = (i64, i64)> {
    /// What marks the batch's sessions as sent (over SQLite: row id and `last_seen`).
    pub ids: Vec<K>,
    /// NDJSON body.
    pub body: Vec<u8>,
    /// Whether a size limit was reached (send now rather than waiting for the interval).
    pub full: bool,
}

/// Collects the oldest finished, not yet exported sessions into one batch.
/// Each id comes with the session's `last_seen`, so a session updated while the batch was in
/// flight is not marked exported by mistake.
pub fn next_batch(conn: &Connection, now_ms: i64, session_timeout_ms: i64) -> rusqlite::Result<Batch> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, last_seen FROM sessions WHERE exported = 0
           AND (end_reason IS NOT NULL OR last_seen <= ?1) ORDER BY id LIMIT ?2",
    )?;
    let candidates: Vec<(i64, i64)> = stmt
        .query_map(params![now_ms.saturating_sub(session_timeout_ms), MAX_BATCH_SESSIONS as i64 + 1], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut batch = Batch { ids: Vec::new(), body: Vec::new(), full: false };
    for (id, last_seen) in candidates {
        if batch.ids.len() == MAX_BATCH_SESSIONS {
            batch.full = true;
            break;
        }
        let mut line = session_json(conn, id)?.to_string().into_bytes();
        line.push(b'\n');
        if !batch.ids.is_empty() && batch.body.len() + line.len() > MAX_BATCH_BYTES {
            batch.full = true;
            break;
        }
        batch.body.extend_from_slice(&line);
        batch.ids.push((id, last_seen));
    }
    if batch.body.len() >= MAX_BATCH_BYTES {
        batch.full = true;
    }
    Ok(batch)
}

/// Marks sessions exported in one transaction, unless they changed since the batch was built.
pub fn mark_exported(conn: &mut Connection, ids: &[(i64, i64)]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached("UPDATE sessions SET exported = 1 WHERE id = ?1 AND last_seen = ?2")?;
        for (id, last_seen) in ids {
            stmt.execute(params![id, last_seen])?;
        }
    }
    tx.commit()
}

fn props_json(conn: &Connection, sql: &str, owner: i64) -> rusqlite::Result<Value> {
    let mut out = Map::new();
    for t in ["string", "long", "double", "date"] {
        out.insert(t.to_owned(), Value::Object(Map::new()));
    }
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params![owner])?;
    while let Some(r) = rows.next()? {
        let ty: String = r.get(0)?;
        let key: String = r.get(1)?;
        let v = match r.get_ref(2)? {
            rusqlite::types::ValueRef::Integer(n) => Value::from(n),
            rusqlite::types::ValueRef::Real(x) => Value::from(x),
            rusqlite::types::ValueRef::Text(t) => Value::from(String::from_utf8_lossy(t).into_owned()),
            _ => Value::Null,
        };
        if let Some(Value::Object(m)) = out.get_mut(&ty) {
            m.insert(key, v);
        }
    }
    Ok(Value::Object(out))
}

/// `SELECT <every catalog field of the table> FROM <table> <alias> <rest>`: the export writes
/// each field exactly as USQL answers it, under its USQL name.
fn catalog_select(fields: &[FieldDef], from: &str) -> String {
    let columns: Vec<&str> = fields.iter().map(|f| f.sql).collect();
    format!("SELECT {} {from}", columns.join(", "))
}

/// The catalog fields of one row as a JSON object, keyed by USQL name; null fields are left out.
fn catalog_object(fields: &[FieldDef], row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<serde_json::Map<String, Value>> {
    let mut out = serde_json::Map::new();
    for (i, f) in fields.iter().enumerate() {
        let v = crate::usql::sqlite::json_value(row.get_ref(first + i)?, f.ty);
        if !v.is_null() {
            out.insert(f.name.to_owned(), v);
        }
    }
    Ok(out)
}

/// One session with its properties, actions and errors, as exported: every non-null
/// `usersession` field of the USQL catalog, `application` and `visitorId`, `properties`, `userActions` (every
/// `useraction` field, the agent's action `id`, `properties`) and `errors` (every `usererror`
/// field but the session's).
pub fn session_json(conn: &Connection, id: i64) -> rusqlite::Result<Value> {
    let session_sql = catalog_select(USERSESSION, "FROM sessions s WHERE s.id = ?1");
    let mut s = conn.query_row(&session_sql, params![id], |r| catalog_object(USERSESSION, r, 0))?;
    let (app, vid): (String, Option<String>) =
        conn.query_row("SELECT app, vid FROM sessions WHERE id = ?1", params![id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    s.insert("application".to_owned(), Value::from(app));
    s.insert("visitorId".to_owned(), vid.map_or(Value::Null, Value::from));
    s.insert("properties".to_owned(), props_json(conn, "SELECT type, key, value FROM session_props WHERE session_id = ?1", id)?);
    let action_sql = catalog_select(USERACTION, "FROM actions a WHERE a.session_id = ?1 ORDER BY a.start_time, a.id");
    let action_sql = action_sql.replacen("SELECT ", "SELECT a.id, a.action_id, ", 1);
    let mut stmt = conn.prepare_cached(&action_sql)?;
    let rows: Vec<(i64, serde_json::Map<String, Value>)> = stmt
        .query_map(params![id], |r| {
            let mut a = serde_json::Map::new();
            a.insert("id".to_owned(), Value::from(r.get::<_, String>(1)?));
            a.extend(catalog_object(USERACTION, r, 2)?);
            Ok((r.get::<_, i64>(0)?, a))
        })?
        .collect::<Result<_, _>>()?;
    let mut actions = Vec::with_capacity(rows.len());
    for (row_id, mut a) in rows {
        a.insert("properties".to_owned(), props_json(conn, "SELECT type, key, value FROM action_props WHERE action_id = ?1", row_id)?);
        actions.push(Value::Object(a));
    }
    s.insert("userActions".to_owned(), Value::Array(actions));
    let error_sql = catalog_select(USERERROR, "FROM errors e WHERE e.session_id = ?1 ORDER BY e.start_time, e.id");
    let errors: Vec<Value> = conn
        .prepare_cached(&error_sql)?
        .query_map(params![id], |r| catalog_object(USERERROR, r, 0).map(Value::Object))?
        .collect::<Result<_, _>>()?;
    s.insert("errors".to_owned(), Value::Array(errors));
    Ok(Value::Object(s))
}

/// POSTs one NDJSON body; `Ok` only for a 2xx answer.
pub async fn send(target: &Target, body: &[u8]) -> Result<(), String> {
    post(target, "application/x-ndjson", body).await
}

/// POSTs one body of `content_type`; `Ok` only for a 2xx answer within the send timeout.
pub async fn post(target: &Target, content_type: &str, body: &[u8]) -> Result<(), String> {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            target.path,
            target.host,
            target.port,
            body.len()
        );
        stream.write_all(head.as_bytes()).await.map_err(|e| format!("write: {e}"))?;
        stream.write_all(body).await.map_err(|e| format!("write: {e}"))?;
        let mut response = Vec::new();
        let mut buf = [0u8; 1024];
        // Only the status line matters; read until it is complete or the peer closes.
        while !response.windows(2).any(|w| w == b"\r\n") {
            let n = stream.read(&mut buf).await.map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&response);
        let status = line.split_whitespace().nth(1).and_then(|s| s.parse::<u16>().ok());
        match status {
            Some(s) if (200..300).contains(&s) => Ok(()),
            Some(s) => Err(format!("receiver answered {s}")),
            None => Err("no HTTP status from receiver".to_owned()),
        }
    };
    match tokio::time::timeout(Duration::from_millis(SEND_TIMEOUT_MS), attempt).await {
        Ok(r) => r,
        Err(_) => Err("timed out".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:9000/ingest?x=1").unwrap(),
            Target { host: "127.0.0.1".into(), port: 9000, path: "/ingest?x=1".into() }
        );
        assert_eq!(parse_url("http://example.com").unwrap().port, 80);
        assert!(parse_url("https://example.com").is_err());
    }
}
