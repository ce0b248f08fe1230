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

use crate::store;
use crate::usql::fields::{FieldDef, USERACTION, USERERROR, USERSESSION};
use rusqlite::{params, Connection};
use serde_json::{Map, Value};
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
}

impl Default for ExportTiming {
    fn default() -> Self {
        ExportTiming { poll_ms: 1_000, flush_interval_ms: FLUSH_INTERVAL_MS, min_backoff_ms: 1_000, max_backoff_ms: 60_000 }
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

/// Starts the exporter task on the current runtime.
pub fn spawn(db: PathBuf, url: &str, session_timeout_ms: i64, timing: ExportTiming) -> Result<(), String> {
    let target = parse_url(url)?;
    tokio::spawn(async move { run(db, target, session_timeout_ms, timing).await });
    Ok(())
}

/// The export loop; never returns.
async fn run(db: PathBuf, target: Target, session_timeout_ms: i64, timing: ExportTiming) {
    let mut last_flush = Instant::now();
    let mut backoff_ms = timing.min_backoff_ms;
    loop {
        tokio::time::sleep(Duration::from_millis(timing.poll_ms)).await;
        let db2 = db.clone();
        let batch = tokio::task::spawn_blocking(move || {
            let conn = store::open_reader(&db2).map_err(|e| e.to_string())?;
            next_batch(&conn, store::now_ms(), session_timeout_ms).map_err(|e| e.to_string())
        })
        .await;
        let Ok(Ok(batch)) = batch else { continue };
        if batch.ids.is_empty() {
            last_flush = Instant::now();
            continue;
        }
        if !batch.full && last_flush.elapsed() < Duration::from_millis(timing.flush_interval_ms) {
            continue;
        }
        match send(&target, &batch.body).await {
            Ok(()) => {
                let db2 = db.clone();
                let ids = batch.ids;
                let _ = tokio::task::spawn_blocking(move || -> Result<(), String> {
                    let mut conn = store::open_reader(&db2).map_err(|e| e.to_string())?;
                    mark_exported(&mut conn, &ids).map_err(|e| e.to_string())
                })
                .await;
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

/// One batch of sessions ready to send.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Session row ids in the batch.
    pub ids: Vec<(i64, i64)>,
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
    let mut batch = Batch::default();
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
