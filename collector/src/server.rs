//! `rumprops serve`: the HTTP collector.
//!
//! `POST /beacon` checks, in order: origin (403), rate limit (429), body size (413), beacon
//! validity (400), then stores the beacon in one transaction (204, also for a duplicate). Every
//! refusal happens before the database is touched, so a refused beacon leaves nothing behind.
//! Beacons are parsed on the blocking pool and stored by the single writer thread
//! ([`crate::writer`]), which commits queued beacons together; queries run on the blocking pool
//! with a small pool of read connections (WAL lets them read while the writer writes).
//!
//! Connections are bounded by [`crate::connections`] (cap, header and idle timeout, shutdown
//! grace), request bodies by a minimum rate ([`crate::limits`]), queries by a per-client limit.
//! `GET /healthz` answers while the process runs, `GET /readyz` while it can take beacons (the
//! store answers and no shutdown has begun), `GET /metrics` the operator metrics.

use crate::auth;
use crate::beacon::parse_beacon;
use crate::connections::ConnectionLimits;
use crate::limits::{BodyError, BodyRate, ClientKey, PerClientLimit};
use crate::metrics::Metrics;
use crate::ratelimit::{RateLimit, RateLimiter};
use crate::client::IpMode;
use crate::geo::GeoDb;
use crate::store::{self, BeaconStore, ClientInfo, IngestOutcome, DEFAULT_SESSION_TIMEOUT_MS};
use crate::usql::{self, QueryError, QueryOptions};
use crate::writer::{Batching, SubmitError, WriteError, Writer, WriterThread};
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use rusqlite::Connection;
use serde_json::json;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The largest beacon body (DESIGN.md §4: the browser's keepalive budget).
pub const MAX_BEACON_BYTES: usize = 64 * 1024;
/// Read connections kept open for queries.
const READER_POOL_SIZE: usize = 4;
/// Default of [`ServeConfig::queries_per_client`].
pub const QUERIES_PER_CLIENT: usize = 2;

/// Settings of a running collector.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The SQLite file: the beacons (unless `store` is set) and the app's own state (tokens,
    /// metrics, alerts, dashboards).
    pub db: PathBuf,
    /// The ClickHouse store for beacons (`--store clickhouse://HOST:8123/DB`); `None`: SQLite.
    pub store: Option<crate::clickhouse::StoreUrl>,
    /// The ClickHouse cluster (`--cluster NAME`, in every server's `remote_servers`) the
    /// store's tables are sharded over; `None`: the tables live on the store's one server.
    pub cluster: Option<String>,
    /// The cluster's local tables are replicated (`--replicated`, see
    /// [`crate::clickhouse::Layout::Cluster`]).
    pub replicated: bool,
    /// Seal settled hours into rollups and answer grouped action counts from them
    /// (`--rollups`, crate::rollups; one ClickHouse server).
    pub rollups: bool,
    /// How often this collector seals with `rollups` (zero: never).
    pub seal_interval: std::time::Duration,
    /// When the writer sends a group of beacons to ClickHouse (`--batch-max-beacons`,
    /// `--batch-max-wait-ms`); SQLite always uses [`Batching::SQLITE`].
    pub clickhouse_batching: Batching,
    /// Listen address; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Origins allowed to post beacons; empty allows every origin.
    pub allow_origins: Vec<String>,
    /// Where finished sessions are exported as NDJSON, if anywhere.
    pub export_url: Option<String>,
    /// The share of the sessions this collector exports over a ClickHouse store several
    /// collectors export from (`--export-partition`; all of them by default).
    pub export_partition: crate::export::Partition,
    /// A directory served for every other GET (the dashboard and demo pages).
    pub static_dir: Option<PathBuf>,
    /// Idle time after which a session without an end beacon is closed.
    pub session_timeout_ms: i64,
    /// Per-client beacon rate limit.
    pub rate_limit: RateLimit,
    /// Clocks of the session export.
    pub export_timing: crate::export::ExportTiming,
    /// Whether the API needs tokens ([`crate::auth`]). Off in [`ServeConfig::new`] (the
    /// in-process tests); on for `rumprops serve` unless `--no-auth`.
    pub auth: bool,
    /// Clocks of the alert evaluation and webhook delivery.
    pub alert_timing: crate::alerts::AlertTiming,
    /// Reverse proxies whose `X-Forwarded-For` / `Forwarded` name the client (`--trusted-proxy`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How the client address is stored (`--ip`).
    pub ip_mode: IpMode,
    /// MaxMind-format databases for the geo fields (`--geoip`).
    pub geoip: Vec<PathBuf>,
    /// Conversion goals and key user actions (`--goals`).
    pub goals: crate::goals::Goals,
    /// Connection cap, header/idle timeout and shutdown grace.
    pub connections: ConnectionLimits,
    /// The rate a request body must arrive at.
    pub body_rate: BodyRate,
    /// USQL queries one client may run at once (0: no per-client limit); more get 429.
    pub queries_per_client: usize,
}

impl ServeConfig {
    /// Defaults for a database and an address.
    pub fn new(db: PathBuf, addr: SocketAddr) -> ServeConfig {
        ServeConfig {
            db,
            store: None,
            cluster: None,
            replicated: false,
            rollups: false,
            seal_interval: crate::rollups::SEAL_INTERVAL,
            clickhouse_batching: Batching::CLICKHOUSE,
            addr,
            allow_origins: Vec::new(),
            export_url: None,
            export_partition: crate::export::Partition::default(),
            static_dir: None,
            session_timeout_ms: DEFAULT_SESSION_TIMEOUT_MS,
            rate_limit: RateLimit::default(),
            export_timing: crate::export::ExportTiming::default(),
            auth: false,
            alert_timing: crate::alerts::AlertTiming::default(),
            trusted_proxies: Vec::new(),
            ip_mode: IpMode::default(),
            geoip: Vec::new(),
            goals: crate::goals::Goals::default(),
            connections: ConnectionLimits::default(),
            body_rate: BodyRate::default(),
            queries_per_client: QUERIES_PER_CLIENT,
        }
    }
}

/// Shared state of the handlers.
pub(crate) struct AppState {
    pub(crate) config: ServeConfig,
    writer: Writer,
    readers: Mutex<Vec<Connection>>,
    /// Where USQL reads beacons: the SQLite file or ClickHouse.
    pub(crate) beacons: BeaconReader,
    /// At most [`READER_POOL_SIZE`] queries run at once; more wait their turn, so a burst of
    /// queries cannot open connections and threads without bound.
    query_slots: tokio::sync::Semaphore,
    /// Queries running per client.
    query_clients: PerClientLimit,
    limiter: RateLimiter,
    /// The `--geoip` databases (none: the geo fields stay null).
    geo: GeoDb,
    metrics: Metrics,
    /// Set when shutdown begins: `/readyz` then answers 503.
    shutting_down: AtomicBool,
}

impl AppState {
    /// Runs `f` with a read connection from the pool (opening one if the pool is empty).
    pub(crate) fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> T) -> Result<T, String> {
        let pooled = self.readers.lock().ok().and_then(|mut p| p.pop());
        let conn = match pooled {
            Some(c) => c,
            None => store::open_reader(&self.config.db).map_err(|e| e.to_string())?,
        };
        let out = f(&conn);
        if let Ok(mut pool) = self.readers.lock() {
            if pool.len() < READER_POOL_SIZE {
                pool.push(conn);
            }
        }
        Ok(out)
    }
}

/// Where queries over the beacons (USQL) read: the SQLite file, or the ClickHouse store. The
/// one place that picks the store for a read; endpoints call [`BeaconReader::usql`] or, for
/// reads of their own, match on it and use [`AppState::with_reader`] or
/// [`BeaconReader::with_clickhouse`].
pub(crate) enum BeaconReader {
    /// The SQLite file of [`ServeConfig::db`], read through [`AppState::with_reader`].
    Sqlite,
    /// ClickHouse: a pool of HTTP clients (each with its own small runtime).
    ClickHouse {
        /// The store.
        url: crate::clickhouse::StoreUrl,
        /// The goals session goal fields are evaluated with.
        goals: crate::goals::Goals,
        /// Queries read the rollups where they answer them (`--rollups`).
        rollups: bool,
        /// Idle clients.
        pool: Mutex<Vec<crate::clickhouse::ClickHouse>>,
    },
}

impl BeaconReader {
    fn new(config: &ServeConfig) -> BeaconReader {
        match &config.store {
            None => BeaconReader::Sqlite,
            Some(url) => BeaconReader::ClickHouse {
                url: url.clone(),
                goals: config.goals.clone(),
                rollups: config.rollups,
                pool: Mutex::new(Vec::new()),
            },
        }
    }

    /// Runs `f` with a ClickHouse client from the pool (`Err` on the SQLite store). Blocking:
    /// call it on the blocking pool.
    pub(crate) fn with_clickhouse<T>(&self, f: impl FnOnce(&crate::clickhouse::ClickHouse) -> T) -> Result<T, String> {
        let BeaconReader::ClickHouse { url, goals, rollups, pool } = self else {
            return Err("the beacons are in the SQLite file, not in ClickHouse".to_owned());
        };
        let pooled = pool.lock().ok().and_then(|mut p| p.pop());
        let ch = match pooled {
            Some(c) => c,
            None => {
                let mut c = crate::clickhouse::ClickHouse::new(url.clone()).map_err(|e| e.to_string())?;
                c.set_goals(goals.clone());
                c.set_rollups(*rollups);
                c
            }
        };
        let out = f(&ch);
        if let Ok(mut p) = pool.lock() {
            if p.len() < READER_POOL_SIZE {
                p.push(ch);
            }
        }
        Ok(out)
    }

    /// Whether the beacons are in ClickHouse.
    pub(crate) fn is_clickhouse(&self) -> bool {
        matches!(self, BeaconReader::ClickHouse { .. })
    }

    /// Runs a USQL query on the store (blocking), reading the SQLite file through `conn`.
    pub(crate) fn usql_on(&self, conn: &Connection, text: &str, opts: &QueryOptions) -> Result<usql::QueryResult, QueryError> {
        match self {
            BeaconReader::Sqlite => usql::run(conn, text, opts),
            BeaconReader::ClickHouse { .. } => {
                self.with_clickhouse(|ch| usql::clickhouse::run(ch, text, opts)).unwrap_or_else(|e| Err(QueryError::Failed(e)))
            }
        }
    }

    /// Runs a USQL query on the store (blocking). The outer `Err` is a reader that could not be
    /// had (an SQLite file that cannot be opened).
    pub(crate) fn usql(&self, state: &AppState, text: &str, opts: &QueryOptions) -> Result<Result<usql::QueryResult, QueryError>, String> {
        match self {
            BeaconReader::Sqlite => state.with_reader(|conn| usql::run(conn, text, opts)),
            BeaconReader::ClickHouse { .. } => self.with_clickhouse(|ch| usql::clickhouse::run(ch, text, opts)),
        }
    }
}

/// A bound, not yet running collector.
pub struct Server {
    listener: tokio::net::TcpListener,
    router: Router,
    state: Arc<AppState>,
    writer_thread: WriterThread,
}

impl Server {
    /// Opens (and migrates) the database and binds the address.
    pub async fn bind(config: ServeConfig) -> Result<Server, String> {
        let geo = GeoDb::open(&config.geoip)?;
        if geo.is_empty() {
            eprintln!("rumprops: no --geoip database: city, region, country, continent and isp stay null");
        } else {
            for line in geo.describe() {
                eprintln!("rumprops: geo fields from {line}");
            }
        }
        crate::useragent::warm_up();
        let metrics = Metrics::new()?;
        let db = config.db.clone();
        let conn = tokio::task::spawn_blocking(move || store::open(&db))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let beacons: Box<dyn BeaconStore> = match config.store.clone() {
            None if config.cluster.is_some() => {
                return Err("--cluster shards the ClickHouse store: it needs --store clickhouse://HOST:8123/DB".to_owned());
            }
            _ if config.replicated && config.cluster.is_none() => {
                return Err("--replicated makes the cluster's local tables replicated: it needs --cluster NAME".to_owned());
            }
            None => Box::new(conn),
            Some(url) => {
                // Its own thread: the ClickHouse client runs a runtime of its own.
                let (cluster, replicated) = (config.cluster.clone(), config.replicated);
                let opened = std::thread::spawn(move || crate::clickhouse::ClickHouse::open(url, cluster.as_deref(), replicated))
                    .join()
                    .map_err(|_| "the ClickHouse store thread failed".to_owned())?
                    .map_err(|e| e.to_string())?;
                Box::new(opened)
            }
        };
        if let (Some(url), true) = (&config.store, config.rollups) {
            if config.cluster.is_some() {
                return Err("--rollups is built for one ClickHouse server: not with --cluster yet".to_owned());
            }
            if !config.seal_interval.is_zero() {
                let ch = crate::clickhouse::ClickHouse::new(url.clone()).map_err(|e| e.to_string())?;
                crate::rollups::spawn(ch, config.session_timeout_ms, config.seal_interval);
            }
        }
        let batching = if config.store.is_some() { config.clickhouse_batching } else { Batching::SQLITE };
        let (writer, writer_thread) = Writer::start(beacons, metrics.clone(), config.goals.clone(), batching)?;
        let listener =
            tokio::net::TcpListener::bind(config.addr).await.map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
        if let Some(url) = &config.export_url {
            let timeout = config.session_timeout_ms;
            match &config.store {
                None if config.export_partition != crate::export::Partition::default() => {
                    return Err("--export-partition shares the sessions of a ClickHouse --store between collectors; over SQLite one collector exports them all".to_owned());
                }
                None => crate::export::spawn(crate::export::Sqlite { db: config.db.clone(), session_timeout_ms: timeout }, url, config.export_timing)?,
                Some(store_url) => {
                    let mut ch = match &config.cluster {
                        None => crate::clickhouse::ClickHouse::new(store_url.clone()),
                        Some(name) => crate::clickhouse::ClickHouse::new_in_cluster(store_url.clone(), name, config.replicated),
                    }
                    .map_err(|e| e.to_string())?;
                    ch.set_goals(config.goals.clone());
                    let source = crate::export::ClickHouseSource::new(ch, config.export_partition, timeout, config.export_timing.settle_ms);
                    crate::export::spawn(source, url, config.export_timing)?;
                }
            }
        }
        let state = Arc::new(AppState {
            limiter: RateLimiter::new(config.rate_limit),
            geo,
            writer,
            readers: Mutex::new(Vec::new()),
            beacons: BeaconReader::new(&config),
            query_slots: tokio::sync::Semaphore::new(READER_POOL_SIZE),
            query_clients: PerClientLimit::new(config.queries_per_client),
            metrics,
            shutting_down: AtomicBool::new(false),
            config,
        });
        let st = Arc::clone(&state);
        crate::alerts::spawn(
            config_db(&state),
            Arc::new(move |conn, q, o| st.beacons.usql_on(conn, q, o)),
            state.config.session_timeout_ms,
            state.config.alert_timing,
            external_url(&state),
        );
        let router = Router::new()
            .route("/beacon", post(post_beacon).options(preflight))
            .route("/api/v1/userSessionQueryLanguage/table", get(usql_table))
            .route("/api/v1/userSessionQueryLanguage/tree", get(usql_tree))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics_text))
            .merge(crate::api::routes())
            .fallback(static_file)
            .layer(axum::middleware::from_fn_with_state(Arc::clone(&state), require_token))
            .with_state(Arc::clone(&state));
        Ok(Server { listener, router, state, writer_thread })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> Result<SocketAddr, String> {
        self.listener.local_addr().map_err(|e| e.to_string())
    }

    /// Serves until the process ends.
    pub async fn run(self) -> Result<(), String> {
        self.run_until(std::future::pending()).await
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully (see [`Server::run_until`]).
    pub async fn run_until_signal(self) -> Result<(), String> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` resolves. Then: `/readyz` turns 503 and the listener closes;
    /// requests in progress get up to the grace period to finish, and the connections left
    /// (idle, slow, half-sent) are closed; the writer stores what is queued and closes the
    /// database, so SQLite folds its WAL back into the file.
    pub async fn run_until(self, shutdown: impl std::future::Future<Output = ()>) -> Result<(), String> {
        let Server { listener, router, state, writer_thread } = self;
        let st = Arc::clone(&state);
        let signal = async move {
            shutdown.await;
            st.shutting_down.store(true, Ordering::SeqCst);
        };
        let limits = state.config.connections;
        crate::connections::serve(listener, router, limits, state.metrics.clone(), signal).await;
        let _ = tokio::task::spawn_blocking(move || {
            state.writer.stop();
            if let Ok(mut pool) = state.readers.lock() {
                pool.clear();
            }
            drop(state);
            writer_thread.join();
        })
        .await;
        Ok(())
    }
}

fn config_db(state: &AppState) -> PathBuf {
    state.config.db.clone()
}

/// The collector's own URL, for links in alert notifications.
fn external_url(state: &AppState) -> String {
    format!("http://{}", state.config.addr)
}

/// Refuses a request without the token its route needs ([`crate::auth::required`]): 401
/// without a (known) token, 403 without the scope. Off with `--no-auth`.
async fn require_token(
    State(state): State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if !state.config.auth {
        return next.run(req).await;
    }
    let need = auth::required(req.method(), req.uri().path());
    if need == auth::Need::Open {
        return next.run(req).await;
    }
    let header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let st = Arc::clone(&state);
    let decided = tokio::task::spawn_blocking(move || {
        auth::check(need, header.as_deref(), |token| st.with_reader(|conn| auth::lookup(conn, token))?)
    })
    .await
    .unwrap_or_else(|_| Err(auth::Refusal::Unauthorized("token check failed".to_owned())));
    match decided {
        Ok(()) => next.run(req).await,
        Err(auth::Refusal::Unauthorized(m)) => {
            let mut r = error_response(StatusCode::UNAUTHORIZED, &m);
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Api-Token"));
            r
        }
        Err(auth::Refusal::Forbidden(m)) => error_response(StatusCode::FORBIDDEN, &m),
    }
}

/// Resolves on Ctrl-C or SIGTERM (what `kill` and process supervisors send).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Starts a collector on its own thread and runtime and returns its address: for tests and
/// benchmarks that talk to it over real loopback HTTP from blocking code.
pub fn start_in_thread(config: ServeConfig) -> Result<SocketAddr, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                let _ = tx.send(Err(e.to_string()));
                return;
            }
        };
        rt.block_on(async move {
            match Server::bind(config).await {
                Ok(server) => {
                    let _ = tx.send(server.local_addr());
                    let _ = server.run().await;
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        });
    });
    rx.recv().map_err(|e| e.to_string())?
}

pub(crate) fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub(crate) fn error_response(status: StatusCode, message: &str) -> Response {
    json_response(status, &json!({ "error": message }))
}

fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

/// The request's Origin if it is allowed, `Err` if it is present and not allowed.
/// No Origin header (curl, server-to-server) is always allowed.
fn check_origin<'h>(config: &ServeConfig, headers: &'h HeaderMap) -> Result<Option<&'h HeaderValue>, ()> {
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(None) };
    if config.allow_origins.is_empty() {
        return Ok(Some(origin));
    }
    let text = origin.to_str().map_err(|_| ())?;
    if config.allow_origins.iter().any(|o| o == text) {
        Ok(Some(origin))
    } else {
        Err(())
    }
}

fn add_cors(r: &mut Response, origin: Option<&HeaderValue>) {
    if let Some(o) = origin {
        r.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
    }
    r.headers_mut().insert(header::VARY, HeaderValue::from_static("Origin"));
}

async fn preflight(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Ok(origin) = check_origin(&state.config, &headers) else {
        return error_response(StatusCode::FORBIDDEN, "origin not allowed");
    };
    let mut r = empty(StatusCode::NO_CONTENT);
    add_cors(&mut r, origin);
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST, OPTIONS"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("Content-Type"));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    r
}

async fn post_beacon(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Ok(origin) = check_origin(&state.config, &headers) else {
        return error_response(StatusCode::FORBIDDEN, "origin not allowed");
    };
    let origin = origin.cloned();
    let mut r = ingest_response(&state, peer, &headers, body).await;
    state.metrics.beacon_answered(r.status().as_u16());
    add_cors(&mut r, origin.as_ref());
    r
}

/// The client's address: the TCP peer, or what a trusted proxy says it forwarded
/// ([`crate::client::client_ip`]). The one place a request's origin address is read: the rate
/// limit, the per-client query limit, the geo fields and the stored `ip` all use it.
fn client_ip(config: &ServeConfig, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    crate::client::client_ip(peer.ip(), headers, &config.trusted_proxies)
}

/// Who the per-client query limit counts: the request's API token when it carries one (checked
/// by [`require_token`] before any handler runs), else the client's address.
pub(crate) fn query_client(config: &ServeConfig, peer: SocketAddr, headers: &HeaderMap) -> ClientKey {
    let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(auth::token_of);
    match token {
        Some(t) => ClientKey::Token(auth::hash(t)),
        None => ClientKey::Ip(client_ip(config, peer, headers)),
    }
}

impl AppState {
    /// A place among the client's running queries and exports; `None` when it runs its limit
    /// (answer [`AppState::per_client_refusal`]).
    pub(crate) fn client_slot(&self, client: ClientKey) -> Option<crate::limits::ClientSlot> {
        let slot = self.query_clients.try_acquire(client);
        if slot.is_none() {
            self.metrics.queries_refused.with_label_values(&["per_client"]).inc();
        }
        slot
    }

    /// The 429 for a client over its query limit.
    pub(crate) fn per_client_refusal(&self) -> Response {
        let mut r = error_response(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("at most {} queries or exports at a time per client", self.config.queries_per_client),
        );
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        r
    }
}

async fn ingest_response(state: &Arc<AppState>, peer: SocketAddr, headers: &HeaderMap, body: Body) -> Response {
    let ip = client_ip(&state.config, peer, headers);
    if let Err(retry_after) = state.limiter.check(ip, Instant::now()) {
        let mut r = error_response(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded");
        if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let too_large = || error_response(StatusCode::PAYLOAD_TOO_LARGE, "beacon larger than 65536 bytes");
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BEACON_BYTES as u64) {
        return too_large();
    }
    let bytes = match crate::limits::read_body(body, MAX_BEACON_BYTES, state.config.body_rate).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return too_large(),
        Err(BodyError::TooSlow) => {
            state.metrics.connections_cut.with_label_values(&["body_too_slow"]).inc();
            let mut r = error_response(StatusCode::REQUEST_TIMEOUT, "beacon body arrived too slowly");
            r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
        Err(BodyError::Broken) => return error_response(StatusCode::BAD_REQUEST, "beacon body incomplete"),
    };
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let beacon = match tokio::task::spawn_blocking(move || parse_beacon(&bytes)).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return error_response(StatusCode::BAD_REQUEST, &e.to_string()),
        Err(_) => return error_response(StatusCode::INTERNAL_SERVER_ERROR, "validation task failed"),
    };
    let client = ClientInfo { user_agent, ip: state.config.ip_mode.store(ip), geo: state.geo.lookup(ip) };
    let outcome = match state.writer.submit(beacon, client) {
        Ok(rx) => rx.await,
        Err(SubmitError::Busy) => {
            let mut r = error_response(StatusCode::SERVICE_UNAVAILABLE, "collector busy, retry later");
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return r;
        }
        Err(SubmitError::Stopped) => return error_response(StatusCode::INTERNAL_SERVER_ERROR, "store unavailable"),
    };
    match outcome {
        Ok(Ok(IngestOutcome::Stored | IngestOutcome::Duplicate)) => empty(StatusCode::NO_CONTENT),
        Ok(Err(WriteError::Unavailable(message))) => {
            let mut r = error_response(StatusCode::SERVICE_UNAVAILABLE, &format!("store unavailable, retry later: {message}"));
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
        Ok(Err(WriteError::Failed(message))) => {
            error_response(StatusCode::INTERNAL_SERVER_ERROR, &format!("store failed: {message}"))
        }
        Err(_) => error_response(StatusCode::INTERNAL_SERVER_ERROR, "store unavailable"),
    }
}

/// The time frame of a query that gives none: the last two hours.
pub const DEFAULT_TIME_FRAME_MS: i64 = 2 * 3_600_000;

/// Reads the query options of the USQL endpoints; `Err` is a 400 message.
fn query_options(params: &HashMap<String, String>, session_timeout_ms: i64) -> Result<(String, QueryOptions), String> {
    let query = params.get("query").filter(|q| !q.trim().is_empty()).ok_or("missing query parameter \"query\"")?;
    let mut opts = QueryOptions::now(session_timeout_ms);
    let int = |name: &str| -> Result<Option<i64>, String> {
        params.get(name).map(|v| v.parse::<i64>().map_err(|_| format!("{name}: not an integer"))).transpose()
    };
    // As documented for the API: without a time frame (or with 0), the last two hours.
    opts.start_timestamp = Some(int("startTimestamp")?.filter(|t| *t != 0).unwrap_or(opts.now_ms - DEFAULT_TIME_FRAME_MS));
    opts.end_timestamp = Some(int("endTimestamp")?.filter(|t| *t != 0).unwrap_or(opts.now_ms));
    opts.offset_utc_min = match int("offsetUTC")? {
        None => 0,
        Some(m) if (-14 * 60..=14 * 60).contains(&m) => m,
        Some(_) => return Err("offsetUTC: minutes from -840 to 840".to_owned()),
    };
    opts.page_size = match int("pageSize")? {
        None => None,
        Some(n) if (1..=i64::from(usql::parser::MAX_LIMIT)).contains(&n) => Some(n as u32),
        Some(_) => return Err("pageSize: must be 1 to 5000".to_owned()),
    };
    opts.page_offset = match int("pageOffset")? {
        None => 0,
        Some(n) if (0..=i64::from(usql::parser::MAX_LIMIT)).contains(&n) => n as u32,
        Some(_) => return Err("pageOffset: must be 0 to 5000".to_owned()),
    };
    opts.include_live = match params.get("includeLive").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err("includeLive: must be true or false".to_owned()),
    };
    Ok((query.clone(), opts))
}

async fn run_query(state: Arc<AppState>, client: ClientKey, params: HashMap<String, String>, tree: bool) -> Response {
    let (text, opts) = match query_options(&params, state.config.session_timeout_ms) {
        Ok(x) => x,
        Err(m) => return error_response(StatusCode::BAD_REQUEST, &m),
    };
    let Some(_client_slot) = state.client_slot(client) else { return state.per_client_refusal() };
    let Ok(_slot) = state.query_slots.acquire().await else {
        return error_response(StatusCode::SERVICE_UNAVAILABLE, "collector stopping");
    };
    let st = Arc::clone(&state);
    let result = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let r = st.beacons.usql(&st, &text, &opts);
        st.metrics.query_seconds.observe(started.elapsed().as_secs_f64());
        r
    })
    .await;
    let result = match result {
        Ok(Ok(r)) => r,
        Ok(Err(m)) => return error_response(StatusCode::INTERNAL_SERVER_ERROR, &m),
        Err(_) => return error_response(StatusCode::INTERNAL_SERVER_ERROR, "query task failed"),
    };
    match result {
        Ok(r) if tree => json_response(StatusCode::OK, &tree_json(&r)),
        Ok(r) => json_response(
            StatusCode::OK,
            &json!({ "extrapolationLevel": 1, "columnNames": r.column_names, "values": r.values }),
        ),
        Err(QueryError::Invalid(e)) => {
            json_response(StatusCode::BAD_REQUEST, &json!({ "error": e.message, "position": e.position }))
        }
        Err(e @ QueryError::Failed(_)) => error_response(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

/// The `/tree` shape: branch (plain) columns nest the rows as objects keyed by their values
/// (as text; `null` for a missing value), the leaf (aggregate) values of a row are the array at
/// the bottom. Rows on the same path add their leaves to the same array. Without branches the
/// values are the leaf array itself.
pub fn tree_json(r: &usql::QueryResult) -> serde_json::Value {
    use serde_json::Value;
    let pick = |branch: bool| -> Vec<usize> { (0..r.is_branch.len()).filter(|&i| r.is_branch[i] == branch).collect() };
    let (branches, leaves) = (pick(true), pick(false));
    let names = |idx: &[usize]| -> Vec<String> { idx.iter().filter_map(|&i| r.column_names.get(i).cloned()).collect() };
    let key = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut root = if branches.is_empty() { Value::Array(Vec::new()) } else { Value::Object(serde_json::Map::new()) };
    for row in &r.values {
        let mut node = &mut root;
        for (depth, &b) in branches.iter().enumerate() {
            let k = row.get(b).map(key).unwrap_or_default();
            let last = depth + 1 == branches.len();
            let Value::Object(map) = node else { break };
            node = map.entry(k).or_insert_with(|| if last { Value::Array(Vec::new()) } else { Value::Object(serde_json::Map::new()) });
        }
        if let Value::Array(list) = node {
            list.extend(leaves.iter().filter_map(|&i| row.get(i).cloned()));
        }
    }
    json!({ "branchNames": names(&branches), "leafNames": names(&leaves), "values": root, "extrapolationLevel": 1 })
}

/// A dashboard on an allowed origin may read query results (CORS); others get no CORS headers,
/// so a browser keeps the response from their scripts.
async fn with_query_cors(
    state: Arc<AppState>,
    peer: SocketAddr,
    headers: HeaderMap,
    params: HashMap<String, String>,
    tree: bool,
) -> Response {
    let origin = check_origin(&state.config, &headers).ok().flatten().cloned();
    let mut r = run_query(Arc::clone(&state), query_client(&state.config, peer, &headers), params, tree).await;
    add_cors(&mut r, origin.as_ref());
    r
}

/// Query-string parameters, or the reason they could not be read (a JSON 400 like any other).
type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

async fn usql_table(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    params: Params,
) -> Response {
    match params {
        Ok(Query(params)) => with_query_cors(state, peer, headers, params, false).await,
        Err(e) => error_response(StatusCode::BAD_REQUEST, &format!("query string: {}", e.body_text())),
    }
}

async fn usql_tree(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    params: Params,
) -> Response {
    match params {
        Ok(Query(params)) => with_query_cors(state, peer, headers, params, true).await,
        Err(e) => error_response(StatusCode::BAD_REQUEST, &format!("query string: {}", e.body_text())),
    }
}

/// `GET /healthz`: the process is alive.
async fn healthz() -> Response {
    json_response(StatusCode::OK, &json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 while the stores answer and no shutdown has begun, else 503 with the
/// reason. The SQLite file (the app's state, and the beacons without `--store`) answers a read;
/// with `--store`, ClickHouse answers `SELECT 1` within [`READY_PROBE_TIMEOUT`] too, so a load
/// balancer takes a collector whose ClickHouse is unreachable out of rotation.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.shutting_down.load(Ordering::SeqCst) {
        return json_response(StatusCode::SERVICE_UNAVAILABLE, &json!({ "status": "shutting down" }));
    }
    let st = Arc::clone(&state);
    let probe = tokio::task::spawn_blocking(move || -> Result<(), String> {
        st.with_reader(|conn| conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)).map_err(|e| e.to_string()))
            .and_then(|r| r)
            .map_err(|e| format!("store: {e}"))?;
        if st.beacons.is_clickhouse() {
            st.beacons
                .with_clickhouse(|ch| ch.query("SELECT 1", &[], READY_PROBE_TIMEOUT).map_err(|e| e.to_string()))
                .and_then(|r| r)
                .map_err(|e| format!("clickhouse: {e}"))?;
        }
        Ok(())
    })
    .await;
    match probe {
        Ok(Ok(())) => json_response(StatusCode::OK, &json!({ "status": "ready" })),
        Ok(Err(e)) => json_response(StatusCode::SERVICE_UNAVAILABLE, &json!({ "status": e })),
        Err(_) => json_response(StatusCode::SERVICE_UNAVAILABLE, &json!({ "status": "store probe failed" })),
    }
}

/// How long `/readyz` waits for ClickHouse's answer.
const READY_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /metrics`: the operator metrics in the Prometheus text format.
async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    // The operator block, then the users' calculated metrics in a block of their own.
    let mut text = state.metrics.render();
    text.push_str(&crate::api::calculated_block(state).await);
    let mut r = Response::new(Body::from(text));
    if let Ok(v) = HeaderValue::from_str(&crate::metrics::content_type()) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

/// Serves `--static DIR` for GET and HEAD; `/` and directories mean their `index.html`.
async fn static_file(State(state): State<Arc<AppState>>, method: Method, uri: Uri) -> Response {
    let not_found = || error_response(StatusCode::NOT_FOUND, "not found");
    let Some(dir) = state.config.static_dir.clone() else { return not_found() };
    if method != Method::GET && method != Method::HEAD {
        return error_response(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    }
    let Some(path) = safe_path(&dir, uri.path()) else { return not_found() };
    let read = tokio::task::spawn_blocking(move || {
        let path = if path.is_dir() { path.join("index.html") } else { path };
        std::fs::read(&path).map(|bytes| (bytes, content_type(&path)))
    })
    .await;
    match read {
        Ok(Ok((bytes, ct))) => {
            let mut r = Response::new(Body::from(bytes));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            if uri.path() == "/app" || uri.path().starts_with("/app/") {
                r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(APP_CSP));
                r.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
                r.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
            }
            r
        }
        _ => not_found(),
    }
}

/// The Content-Security-Policy of the app's pages (`/app/`): scripts only from the collector's
/// own origin (no inline script, no eval), data only from it, no framing, no plugins.
pub const APP_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Joins a URL path under `dir`, refusing `..`, hidden names and anything that is not a plain name.
fn safe_path(dir: &Path, url_path: &str) -> Option<PathBuf> {
    let mut out = dir.to_path_buf();
    for seg in url_path.split('/').filter(|s| !s.is_empty()) {
        if seg.starts_with('.') || seg.contains('\\') || seg.contains('%') {
            return None;
        }
        let mut comps = Path::new(seg).components();
        match (comps.next(), comps.next()) {
            (Some(Component::Normal(c)), None) => out.push(c),
            _ => return None,
        }
    }
    Some(out)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_limit_counts_a_token_else_the_address() {
        let config = ServeConfig::new(PathBuf::from("x.db"), "127.0.0.1:0".parse().unwrap());
        let peer: SocketAddr = "10.1.2.3:5555".parse().unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(query_client(&config, peer, &headers), ClientKey::Ip("10.1.2.3".parse().unwrap()));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Api-Token rp_secret"));
        let key = query_client(&config, peer, &headers);
        assert_eq!(key, ClientKey::Token(auth::hash("rp_secret")));
        assert!(!format!("{key:?}").contains("rp_secret"), "the secret is not kept");
    }

    #[test]
    fn static_paths_stay_inside() {
        let d = Path::new("/srv");
        assert_eq!(safe_path(d, "/a/b.js"), Some(PathBuf::from("/srv/a/b.js")));
        assert_eq!(safe_path(d, "/"), Some(PathBuf::from("/srv")));
        assert_eq!(safe_path(d, "/../etc/passwd"), None);
        assert_eq!(safe_path(d, "/.git/config"), None);
        assert_eq!(safe_path(d, "/%2e%2e/x"), None);
    }
}
