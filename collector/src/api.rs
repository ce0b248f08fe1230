//! The JSON endpoints of the analysis app (`www/app/`), besides USQL's `/table` and `/tree`:
//!
//! | route | scope | what |
//! |---|---|---|
//! | `GET /api/v1/auth/self` | any token | the token's scopes (the app's sign-in check) |
//! | `GET /api/v1/fields` | read | the USQL fields of each table with their value types |
//! | `GET /api/v1/properties` | read | the stored property keys per table and type |
//! | `GET /api/v1/sessions/{userSessionId}` | read | one session: fields, properties, actions in order |
//! | `GET /api/v1/export/sessions?from=&to=` | export | sessions started in `[from, to]` (epoch ms) as NDJSON, at most 10,000 |
//! | `GET, POST /api/v1/metrics`, `GET, PUT, DELETE /api/v1/metrics/{id}` | read / write | calculated metrics ([`crate::calculated`]) |
//! | `GET, POST /api/v1/alerts`, `GET, PUT, DELETE /api/v1/alerts/{id}` | read / write | alerts, with state and history ([`crate::alerts`]) |
//! | `GET, POST /api/v1/dashboards`, `GET, PUT, DELETE /api/v1/dashboards/{id}` | read / write | dashboards ([`crate::dashboards`]) |
//! | `GET /metrics` | read | Prometheus text format: the collector's own metrics, then the calculated metrics ([`calculated_block`]) |
//!
//! Errors are `{"error": "…"}` naming what is wrong: 400 for a bad body (the member's path),
//! 404, 409 (a key taken, a metric an alert uses).

use crate::server::{error_response, json_response, AppState};
use crate::usql::fields::UsqlTable;
use crate::{alerts, calculated, dashboards, store};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

type St = State<Arc<AppState>>;

/// The app's routes (merged into the collector's router).
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/auth/self", get(auth_self))
        .route("/api/v1/fields", get(fields))
        .route("/api/v1/properties", get(properties))
        .route("/api/v1/sessions/{sid}", get(session))
        .route("/api/v1/export/sessions", get(export_sessions))
        .route("/api/v1/metrics", get(metrics_list).post(metric_create))
        .route("/api/v1/metrics/{id}", get(metric_get).put(metric_update).delete(metric_delete))
        .route("/api/v1/alerts", get(alerts_list).post(alert_create))
        .route("/api/v1/alerts/{id}", get(alert_get).put(alert_update).delete(alert_delete))
        .route("/api/v1/dashboards", get(dashboards_list).post(dashboard_create))
        .route("/api/v1/dashboards/{id}", get(dashboard_get).put(dashboard_update).delete(dashboard_delete))
}

/// Runs `f` on a store connection on the blocking pool.
async fn with_conn(state: Arc<AppState>, f: impl FnOnce(&Connection) -> Response + Send + 'static) -> Response {
    let r = tokio::task::spawn_blocking(move || state.with_reader(f)).await;
    match r {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => error_response(StatusCode::INTERNAL_SERVER_ERROR, &format!("store: {e}")),
        Err(_) => error_response(StatusCode::INTERNAL_SERVER_ERROR, "task failed"),
    }
}

fn ok(v: &Value) -> Response {
    json_response(StatusCode::OK, v)
}

fn store_error(e: impl std::fmt::Display) -> Response {
    error_response(StatusCode::INTERNAL_SERVER_ERROR, &format!("store: {e}"))
}

fn not_found(what: &str, id: i64) -> Response {
    error_response(StatusCode::NOT_FOUND, &format!("no {what} {id}"))
}

fn parse_id(s: &str) -> Result<i64, Box<Response>> {
    s.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Box::new(error_response(StatusCode::BAD_REQUEST, &format!("{s:?}: not an id"))))
}

async fn auth_self(State(state): St, headers: HeaderMap) -> Response {
    let auth = state.config.auth;
    let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(crate::auth::token_of).map(str::to_owned);
    with_conn(state, move |conn| {
        let scopes: Vec<&str> = match (&token, auth) {
            (Some(t), true) => match crate::auth::lookup(conn, t) {
                Ok(s) => s.unwrap_or_default().iter().map(|s| s.name()).collect(),
                Err(e) => return store_error(e),
            },
            _ => crate::auth::Scope::ALL.iter().map(|s| s.name()).collect(),
        };
        ok(&json!({"scopes": scopes, "auth": auth}))
    })
    .await
}

async fn fields() -> Response {
    let table = |t: UsqlTable| -> Vec<Value> {
        t.fields()
            .iter()
            .map(|f| json!({"name": f.name, "type": format!("{:?}", f.ty).to_lowercase(), "nullable": f.nullable}))
            .collect()
    };
    ok(&json!({"usersession": table(UsqlTable::UserSession), "useraction": table(UsqlTable::UserAction)}))
}

/// Most property keys listed per table.
const MAX_KEYS: usize = 2000;

/// The distinct property keys of one table, by type.
fn keys(conn: &Connection, table: &str) -> rusqlite::Result<Value> {
    let mut out = json!({"string": [], "long": [], "double": [], "date": []});
    // A seek per distinct (type, key) on the `(type, key)` index: the cost grows with the keys,
    // not with the property rows.
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT type, key FROM {table} INDEXED BY {table}_key WHERE (type, key) > (?1, ?2) ORDER BY type, key LIMIT 1"
    ))?;
    let (mut ty, mut key) = (String::new(), String::new());
    for _ in 0..MAX_KEYS {
        let next = stmt.query_row(params![ty, key], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).optional()?;
        let Some((t, k)) = next else { break };
        if let Some(Value::Array(a)) = out.get_mut(&t) {
            a.push(Value::from(k.clone()));
        }
        (ty, key) = (t, k);
    }
    Ok(out)
}

/// [`keys`] over the ClickHouse store: the distinct keys of the four key arrays of `table`
/// (`beacons` for session properties, `actions` read `FINAL`, as a replaced action's keys are
/// gone), ordered and limited as over SQLite.
fn keys_clickhouse(ch: &crate::clickhouse::ClickHouse, table: &str) -> Result<Value, String> {
    let final_ = if table == "actions" { " FINAL" } else { "" };
    let parts: Vec<String> = ["string", "long", "double", "date"]
        .iter()
        .map(|t| format!("SELECT '{t}' AS type, arrayJoin({t}_keys) AS key FROM {table}{final_}"))
        .collect();
    let sql = format!("SELECT DISTINCT type, key FROM ({}) ORDER BY type, key LIMIT {MAX_KEYS}", parts.join(" UNION ALL "));
    let mut out = json!({"string": [], "long": [], "double": [], "date": []});
    for row in crate::export::select(ch, &sql)? {
        if let (Some(t), Some(k)) = (row.first().and_then(Value::as_str), row.get(1)) {
            if let Some(Value::Array(a)) = out.get_mut(t) {
                a.push(k.clone());
            }
        }
    }
    Ok(out)
}

/// Runs `f` with a client of the ClickHouse store on the blocking pool; `Err` is a store failure.
async fn with_clickhouse(
    state: Arc<AppState>,
    f: impl FnOnce(&crate::clickhouse::ClickHouse) -> Result<Response, String> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(move || state.beacons.with_clickhouse(f)).await {
        Ok(Ok(Ok(r))) => r,
        Ok(Ok(Err(e)) | Err(e)) => store_error(e),
        Err(_) => error_response(StatusCode::INTERNAL_SERVER_ERROR, "task failed"),
    }
}

async fn properties(State(state): St) -> Response {
    if state.beacons.is_clickhouse() {
        return with_clickhouse(state, |ch| {
            let s = keys_clickhouse(ch, "beacons")?;
            let a = keys_clickhouse(ch, "actions")?;
            Ok(ok(&json!({"usersession": s, "useraction": a})))
        })
        .await;
    }
    with_conn(state, |conn| {
        let s = keys(conn, "session_props");
        let a = keys(conn, "action_props");
        match (s, a) {
            (Ok(s), Ok(a)) => ok(&json!({"usersession": s, "useraction": a})),
            (Err(e), _) | (_, Err(e)) => store_error(e),
        }
    })
    .await
}

async fn session(State(state): St, Path(sid): Path<String>) -> Response {
    if state.beacons.is_clickhouse() {
        return with_clickhouse(state, move |ch| {
            match crate::export::session_json_clickhouse(ch, &[sid.as_str()])?.pop() {
                Some((_, v)) => Ok(ok(&v)),
                None => Ok(error_response(StatusCode::NOT_FOUND, "no such session")),
            }
        })
        .await;
    }
    with_conn(state, move |conn| {
        let id: Option<i64> = match conn.query_row("SELECT id FROM sessions WHERE sid = ?1", params![sid], |r| r.get(0)).optional() {
            Ok(v) => v,
            Err(e) => return store_error(e),
        };
        let Some(id) = id else { return error_response(StatusCode::NOT_FOUND, "no such session") };
        match crate::export::session_json(conn, id) {
            Ok(v) => ok(&v),
            Err(e) => store_error(e),
        }
    })
    .await
}

/// At most this many sessions per export request.
const EXPORT_LIMIT: i64 = 10_000;

async fn export_sessions(
    State(state): St,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    // An export reads up to 10,000 sessions: it counts against the client's query limit.
    let Some(slot) = state.client_slot(crate::server::query_client(&state.config, peer, &headers)) else {
        return state.per_client_refusal();
    };
    let int = |k: &str, d: i64| q.get(k).map(|v| v.parse::<i64>().map_err(|_| format!("{k}: not an integer"))).unwrap_or(Ok(d));
    let (from, to) = match (int("from", 0), int("to", i64::MAX)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => return error_response(StatusCode::BAD_REQUEST, &e),
    };
    if state.beacons.is_clickhouse() {
        return with_clickhouse(state, move |ch| {
            let _slot = slot;
            let sql = format!(
                "SELECT sid FROM (SELECT sid, min(session_start) AS start FROM beacons FINAL GROUP BY sid)
                 WHERE start BETWEEN {from} AND {to} ORDER BY start, sid LIMIT {EXPORT_LIMIT}"
            );
            let sids: Vec<String> =
                crate::export::select(ch, &sql)?.into_iter().filter_map(|r| r.first().and_then(Value::as_str).map(str::to_owned)).collect();
            let mut body = Vec::new();
            for chunk in sids.chunks(crate::export::MAX_BATCH_SESSIONS) {
                let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
                for (_, v) in crate::export::session_json_clickhouse(ch, &chunk)? {
                    body.extend_from_slice(v.to_string().as_bytes());
                    body.push(b'\n');
                }
            }
            Ok(ndjson(body))
        })
        .await;
    }
    with_conn(state, move |conn| {
        let _slot = slot;
        let ids: Result<Vec<i64>, _> = conn
            .prepare_cached("SELECT id FROM sessions WHERE start_time BETWEEN ?1 AND ?2 ORDER BY start_time, id LIMIT ?3")
            .and_then(|mut s| s.query_map(params![from, to, EXPORT_LIMIT], |r| r.get(0))?.collect());
        let mut body = Vec::new();
        for id in ids.unwrap_or_default() {
            match crate::export::session_json(conn, id) {
                Ok(v) => {
                    body.extend_from_slice(v.to_string().as_bytes());
                    body.push(b'\n');
                }
                Err(e) => return store_error(e),
            }
        }
        ndjson(body)
    })
    .await
}

fn ndjson(body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    r
}

fn write_error(e: calculated::WriteError, what: &str, id: i64) -> Response {
    match e {
        calculated::WriteError::NotFound => not_found(what, id),
        calculated::WriteError::Conflict(m) => error_response(StatusCode::CONFLICT, &m),
        calculated::WriteError::Store(m) => store_error(m),
    }
}

async fn metrics_list(State(state): St) -> Response {
    with_conn(state, |conn| match calculated::list(conn) {
        Ok(l) => ok(&json!({"metrics": l.iter().map(calculated::Stored::json).collect::<Vec<_>>()})),
        Err(e) => store_error(e),
    })
    .await
}

async fn metric_create(State(state): St, body: Bytes) -> Response {
    let m = match calculated::parse(&body) {
        Ok(m) => m,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, &e),
    };
    with_conn(state, move |conn| match calculated::create(conn, &m, store::now_ms()) {
        Ok(s) => json_response(StatusCode::CREATED, &s.json()),
        Err(e) => write_error(e, "metric", 0),
    })
    .await
}

async fn metric_get(State(state): St, Path(id): Path<String>) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let timeout = state.config.session_timeout_ms;
    let st = Arc::clone(&state);
    with_conn(state, move |conn| match calculated::get(conn, id) {
        Ok(Some(s)) => {
            let mut v = s.json();
            match calculated::samples(&|q, o| st.beacons.usql_on(conn, q, o), &s.metric, store::now_ms(), timeout) {
                Ok(rows) => {
                    v["samples"] = rows.into_iter().map(|(labels, value)| json!({"labels": labels.into_iter().collect::<HashMap<_, _>>(), "value": value})).collect();
                }
                Err(e) => v["error"] = Value::from(e),
            }
            ok(&v)
        }
        Ok(None) => not_found("metric", id),
        Err(e) => store_error(e),
    })
    .await
}

async fn metric_update(State(state): St, Path(id): Path<String>, body: Bytes) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let m = match calculated::parse(&body) {
        Ok(m) => m,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, &e),
    };
    with_conn(state, move |conn| match calculated::update(conn, id, &m, store::now_ms()) {
        Ok(s) => ok(&s.json()),
        Err(e) => write_error(e, "metric", id),
    })
    .await
}

async fn metric_delete(State(state): St, Path(id): Path<String>) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    with_conn(state, move |conn| match calculated::delete(conn, id) {
        Ok(()) => json_response(StatusCode::OK, &json!({"deleted": id})),
        Err(e) => write_error(e, "metric", id),
    })
    .await
}

async fn alerts_list(State(state): St) -> Response {
    with_conn(state, |conn| match alerts::list(conn) {
        Ok(l) => ok(&json!({"alerts": l})),
        Err(e) => store_error(e),
    })
    .await
}

async fn alert_get(State(state): St, Path(id): Path<String>) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    with_conn(state, move |conn| match alerts::get(conn, id) {
        Ok(Some(v)) => ok(&v),
        Ok(None) => not_found("alert", id),
        Err(e) => store_error(e),
    })
    .await
}

async fn alert_create(State(state): St, body: Bytes) -> Response {
    with_conn(state, move |conn| {
        let a = match alerts::parse(conn, &body) {
            Ok(a) => a,
            Err(e) => return error_response(StatusCode::BAD_REQUEST, &e),
        };
        match alerts::create(conn, &a, store::now_ms()).and_then(|id| alerts::get(conn, id)) {
            Ok(Some(v)) => json_response(StatusCode::CREATED, &v),
            Ok(None) => store_error("alert vanished"),
            Err(e) => store_error(e),
        }
    })
    .await
}

async fn alert_update(State(state): St, Path(id): Path<String>, body: Bytes) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    with_conn(state, move |conn| {
        let a = match alerts::parse(conn, &body) {
            Ok(a) => a,
            Err(e) => return error_response(StatusCode::BAD_REQUEST, &e),
        };
        match alerts::update(conn, id, &a, store::now_ms()) {
            Ok(true) => match alerts::get(conn, id) {
                Ok(Some(v)) => ok(&v),
                Ok(None) => not_found("alert", id),
                Err(e) => store_error(e),
            },
            Ok(false) => not_found("alert", id),
            Err(e) => store_error(e),
        }
    })
    .await
}

async fn alert_delete(State(state): St, Path(id): Path<String>) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    with_conn(state, move |conn| match alerts::delete(conn, id) {
        Ok(true) => ok(&json!({"deleted": id})),
        Ok(false) => not_found("alert", id),
        Err(e) => store_error(e),
    })
    .await
}

async fn dashboards_list(State(state): St) -> Response {
    with_conn(state, |conn| match dashboards::list(conn) {
        Ok(l) => ok(&json!({"dashboards": l})),
        Err(e) => store_error(e),
    })
    .await
}

async fn dashboard_get(State(state): St, Path(id): Path<String>) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    with_conn(state, move |conn| match dashboards::get(conn, id) {
        Ok(Some(v)) => ok(&v),
        Ok(None) => not_found("dashboard", id),
        Err(e) => store_error(e),
    })
    .await
}

async fn dashboard_create(State(state): St, body: Bytes) -> Response {
    with_conn(state, move |conn| {
        let d = match dashboards::parse(conn, &body) {
            Ok(d) => d,
            Err(e) => return error_response(StatusCode::BAD_REQUEST, &e),
        };
        match dashboards::create(conn, &d, store::now_ms()).and_then(|id| dashboards::get(conn, id)) {
            Ok(Some(v)) => json_response(StatusCode::CREATED, &v),
            Ok(None) => store_error("dashboard vanished"),
            Err(e) => store_error(e),
        }
    })
    .await
}

async fn dashboard_update(State(state): St, Path(id): Path<String>, body: Bytes) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    with_conn(state, move |conn| {
        let d = match dashboards::parse(conn, &body) {
            Ok(d) => d,
            Err(e) => return error_response(StatusCode::BAD_REQUEST, &e),
        };
        match dashboards::update(conn, id, &d, store::now_ms()) {
            Ok(true) => match dashboards::get(conn, id) {
                Ok(Some(v)) => ok(&v),
                _ => not_found("dashboard", id),
            },
            Ok(false) => not_found("dashboard", id),
            Err(e) => store_error(e),
        }
    })
    .await
}

async fn dashboard_delete(State(state): St, Path(id): Path<String>) -> Response {
    let id = match parse_id(&id) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    with_conn(state, move |conn| match dashboards::delete(conn, id) {
        Ok(true) => ok(&json!({"deleted": id})),
        Ok(false) => not_found("dashboard", id),
        Err(e) => store_error(e),
    })
    .await
}

/// The users' block of `GET /metrics`: every calculated metric, headed by a comment line (the
/// collector's own `rumprops_collector_*` block comes before it).
pub(crate) async fn calculated_block(state: Arc<AppState>) -> String {
    let timeout = state.config.session_timeout_ms;
    let r = tokio::task::spawn_blocking(move || {
        state.with_reader(|conn| calculated::exposition(conn, &|q, o| state.beacons.usql_on(conn, q, o), store::now_ms(), timeout))
    })
    .await;
    let body = match r {
        Ok(Ok(Ok(t))) => t,
        Ok(Ok(Err(e))) | Ok(Err(e)) => format!("# calculated metrics failed: {e}\n"),
        Err(_) => "# calculated metrics failed: task failed\n".to_owned(),
    };
    format!("# Calculated metrics (defined in the app; rumprops_metric_*)\n{body}")
}
