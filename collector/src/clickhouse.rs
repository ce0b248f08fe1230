//! The ClickHouse store: beacons written over ClickHouse's HTTP interface, for deployments past
//! one machine (`serve --store clickhouse://HOST:8123/DB`).
//!
//! The collector keeps no state of its own over ClickHouse: every beacon becomes one row in
//! `beacons` (keyed by `(sid, seq)`) and one row per action in `actions` (keyed by
//! `(sid, action_id)`), both `ReplacingMergeTree`, so a resent beacon (to this or any other
//! collector, at any time) collapses into the first copy. Sessions are not written: they are
//! folded at query time from the session's beacon rows (`argMax` by `seq`), which keeps ingest
//! an append and lets any number of collectors write side by side (docs/scale-out.md).
//! Duplicates collapse at merge time, so readers read with `FINAL`.
//!
//! Properties are four key/value array pairs per row (ClickHouse 18.16, Debian's, has no `Map`);
//! times are epoch-ms `Int64`; partitions are months of the row's `day` (the session start's
//! UTC day for beacons, the action start's for actions), so every copy of a row lands in the same
//! partition and replaces its twin.
//!
//! Rows go in as `JSONEachRow` over plain HTTP (hyper): the official `clickhouse` crate reads
//! with `RowBinaryWithNamesAndTypes` by default, which 18.16 does not have (docs/decisions.md).

use crate::beacon::{Beacon, Props};
use crate::goals::Goals;
use crate::store::{BeaconStore, IngestOutcome, Pending, StoreError};

use crate::{derive, useragent};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// One step of a migration. A step is written once and rendered for either layout
/// ([`Layout::statements`]): on one server a table is created as named; on a cluster it becomes
/// `NAME_local` on every server plus a `Distributed` table `NAME` over them, so readers and
/// writers use the same names everywhere.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// A `MergeTree`-family table: its name, its column list, its `ENGINE = …` clause and, on
    /// a cluster, the `Distributed` table's sharding key.
    Table { name: &'static str, columns: &'static str, engine: &'static str, shard_by: &'static str },
}

/// Schema migrations, applied in order; every statement they render is idempotent
/// (`IF NOT EXISTS`), so collectors starting together may run one twice. `schema_migrations`
/// records which ran (on a cluster: on each server, see [`ClickHouse::migrate`]). Never edit a
/// shipped migration: append a new one.
const MIGRATIONS: &[&[Step]] = &[
    // 1: beacons and actions.
    &[
        Step::Table {
            name: "beacons",
            columns: "
            app String, day Date, sid String, seq Int64,
            sent_at Int64, received_at Int64, session_start Int64,
            vid Nullable(String), user_id Nullable(String), ended Nullable(String),
            action_count Int64,
            user_agent Nullable(String), user_type String, browser_type String, browser_family String,
            browser_version Nullable(String), browser_major_version Nullable(Int64), os_family String,
            os_version Nullable(String), device Nullable(String), manufacturer Nullable(String),
            ip Nullable(String), city Nullable(String), region Nullable(String), country Nullable(String),
            continent Nullable(String), isp Nullable(String),
            screen_width Nullable(Int64), screen_height Nullable(Int64), screen_orientation Nullable(String),
            display_resolution Nullable(String), connection_type Nullable(String),
            string_keys Array(String), string_values Array(String),
            long_keys Array(String), long_values Array(Int64),
            double_keys Array(String), double_values Array(Float64),
            date_keys Array(String), date_values Array(Int64),
            issue_keys Array(String), issue_reasons Array(String)
        ",
            engine: "ReplacingMergeTree(received_at) PARTITION BY toYYYYMM(day) ORDER BY (app, day, sid, seq)",
            shard_by: SID,
        },
        Step::Table {
            name: "actions",
            columns: "
            app String, day Date, name String, sid String, action_id String, seq Int64,
            kind String, start_time Int64, end_time Int64, url String,
            requests Int64, request_errors Int64, js_errors Int64,
            navigation_start Nullable(Int64), request_start Nullable(Int64), response_start Nullable(Int64),
            response_end Nullable(Int64), document_interactive_time Nullable(Int64),
            dom_content_loaded_time Nullable(Int64), dom_complete_time Nullable(Int64),
            load_event_start Nullable(Int64), load_event_end Nullable(Int64),
            largest_contentful_paint Nullable(Int64), first_input_delay Nullable(Int64),
            interaction_to_next_paint Nullable(Int64), visually_complete_time Nullable(Int64),
            speed_index Nullable(Int64), cumulative_layout_shift Nullable(Float64),
            server_time Nullable(Int64), network_time Nullable(Int64), frontend_time Nullable(Int64),
            first_party_resources Nullable(Int64), third_party_resources Nullable(Int64), cdn_resources Nullable(Int64),
            apdex_category Nullable(String), rage_clicks Int64,
            matching_goals Array(String), key_user_action UInt8,
            string_keys Array(String), string_values Array(String),
            long_keys Array(String), long_values Array(Int64),
            double_keys Array(String), double_values Array(Float64),
            date_keys Array(String), date_values Array(Int64),
            error_times Array(Int64), error_names Array(String), error_sources Array(Nullable(String)),
            error_lines Array(Nullable(Int64)), error_cols Array(Nullable(Int64))
        ",
            engine: "ReplacingMergeTree(seq) PARTITION BY toYYYYMM(day) ORDER BY (app, day, name, sid, action_id)",
            shard_by: SID,
        },
    ],
    // 2: the session export's record of what it sent (crate::export::ClickHouseSource): per
    // session the number of beacons it had when exported; the highest export wins. Over a
    // cluster sharded by sid like the beacons, so a session's rows meet on one shard.
    &[Step::Table {
        name: "exports",
        columns: "sid String, beacons UInt64, exported_at Int64",
        engine: "ReplacingMergeTree(beacons) ORDER BY sid",
        shard_by: SID,
    }],
    // 3: the rollups of sealed hours (crate::rollups): which sessions each seal took, the
    // action counts it made, and the seals themselves; a seal's rows are told apart by `gen`,
    // and the newest seal of an hour is the one read.
    &[
        Step::Table {
            name: "sealed_sessions",
            columns: "hour Int64, gen UInt64, sid String",
            engine: "ReplacingMergeTree() PARTITION BY intDiv(hour, 2592000000) ORDER BY (sid, hour, gen)",
            shard_by: SID,
        },
        Step::Table {
            name: "action_rollups",
            columns: "hour Int64, gen UInt64, app String, name String, kind String, ptype String, pkey String, \
                      sval String, lval Int64, dval Float64, n UInt64",
            engine: "ReplacingMergeTree() PARTITION BY intDiv(hour, 2592000000) \
                     ORDER BY (hour, gen, ptype, pkey, app, name, kind, sval, lval, dval)",
            shard_by: "cityHash64(hour)",
        },
        Step::Table {
            name: "rollup_seals",
            columns: "hour Int64, gen UInt64, sealed_at Int64, timeout_ms Int64",
            engine: "ReplacingMergeTree() ORDER BY (hour, gen)",
            shard_by: "cityHash64(hour)",
        },
    ],
];

/// The sharding key of the tables keyed by session.
const SID: &str = "cityHash64(sid)";

/// The newest schema version this build knows.
pub fn schema_version() -> u32 {
    MIGRATIONS.len() as u32
}

/// The table that records which migrations ran, on each server that holds tables.
pub const SCHEMA_MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, applied_at Int64)
             ENGINE = ReplacingMergeTree() ORDER BY version";

/// The tables readers and writers name (`beacons`, `actions`), whatever the layout.
pub fn tables() -> Vec<&'static str> {
    MIGRATIONS.iter().flat_map(|m| m.iter()).map(|Step::Table { name, .. }| *name).collect()
}

/// How the tables are laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// `beacons` and `actions` are `ReplacingMergeTree` tables on the one server.
    Single,
    /// Every server of the cluster holds `beacons_local` and `actions_local`
    /// (`ReplacingMergeTree`), and `beacons` and `actions` are `Distributed` tables over them,
    /// sharded by `cityHash64(sid)`: a session and all its resends live on one shard, where
    /// `FINAL` collapses them.
    Cluster {
        /// The cluster, as the servers' `remote_servers` configuration names it.
        name: String,
        /// The database on every server.
        database: String,
        /// The local tables are `ReplicatedReplacingMergeTree` (`--replicated`): the replicas of
        /// a shard keep the same rows through ZooKeeper (or Keeper), each server naming its
        /// shard and itself in the `shard` and `replica` macros of its configuration.
        replicated: bool,
    },
}

impl Layout {
    /// The statements of migration `version` (from 1) for this layout, in order; none for a
    /// version this build does not know.
    pub fn statements(&self, version: u32) -> Vec<String> {
        let steps = version.checked_sub(1).and_then(|i| MIGRATIONS.get(i as usize)).copied().unwrap_or_default();
        steps.iter().flat_map(|step| self.render(step)).collect()
    }

    fn render(&self, step: &Step) -> Vec<String> {
        let Step::Table { name, columns, engine, shard_by } = step;
        match self {
            Layout::Single => vec![format!("CREATE TABLE IF NOT EXISTS {name} ({columns}) ENGINE = {engine}")],
            Layout::Cluster { name: cluster, database, replicated } => vec![
                format!("CREATE TABLE IF NOT EXISTS {name}_local ({columns}) ENGINE = {}", local_engine(engine, database, name, *replicated)),
                format!(
                    "CREATE TABLE IF NOT EXISTS {name} AS {name}_local \
                     ENGINE = Distributed({cluster}, {database}, {name}_local, {shard_by})"
                ),
            ],
        }
    }
}

/// The engine of a cluster's local table `name`: `engine` as written, or its replicated form,
/// whose ZooKeeper path names the shard (the `shard` macro), the database and the table, and
/// whose replica is the server's `replica` macro.
fn local_engine(engine: &str, database: &str, name: &str, replicated: bool) -> String {
    match engine.strip_prefix("ReplacingMergeTree(") {
        Some(rest) if replicated => {
            let sep = if rest.starts_with(')') { "" } else { ", " };
            format!("ReplicatedReplacingMergeTree('/clickhouse/tables/{{shard}}/{database}/{name}_local', '{{replica}}'{sep}{rest}")
        }
        _ => engine.to_owned(),
    }
}

/// Checks a cluster name given to `--cluster`: letters, digits and `_`, as it is written
/// unquoted into the `Distributed` engine and the `system.clusters` lookup.
pub fn parse_cluster_name(s: &str) -> Result<String, String> {
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err("a cluster name must be letters, digits and _ (as in remote_servers)".to_owned());
    }
    Ok(s.to_owned())
}

/// Where the store is: `clickhouse://HOST:PORT/DB` (the HTTP port, 8123 by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUrl {
    /// `HOST:PORT` of the HTTP interface.
    pub authority: String,
    /// The database (created if missing).
    pub database: String,
}

impl std::str::FromStr for StoreUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<StoreUrl, String> {
        let rest = s.strip_prefix("clickhouse://").ok_or_else(|| format!("{s:?} does not start with clickhouse://"))?;
        let (host, db) = rest.split_once('/').ok_or_else(|| format!("{s:?} names no database (clickhouse://HOST:8123/DB)"))?;
        if host.is_empty() {
            return Err(format!("{s:?} names no host"));
        }
        if db.is_empty() || !db.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("{s:?}: the database name must be letters, digits and _"));
        }
        let authority = if host.contains(':') { host.to_owned() } else { format!("{host}:8123") };
        Ok(StoreUrl { authority, database: db.to_owned() })
    }
}

/// An HTTP connection pool to the ClickHouse store (one server, or the servers of a cluster),
/// with a runtime of its own so the (synchronous) writer thread can use it.
pub struct ClickHouse {
    url: StoreUrl,
    layout: Layout,
    client: Client<HttpConnector, Full<Bytes>>,
    /// The writer's inserts: the `clickhouse` crate, `RowBinary` (validation off, as 18.16 has
    /// no `RowBinaryWithNamesAndTypes`), 1.8× as fast as `JSONEachRow` here
    /// (`benches/ch_client.rs`).
    rows_client: ::clickhouse::Client,
    runtime: OwnRuntime,
    /// The conversion goals that session goal fields are evaluated with at query time.
    goals: Goals,
    /// Grouped counts of actions read from the rollups of sealed hours where a query allows
    /// (`--rollups`, crate::rollups).
    rollups: bool,
}

/// A client's own runtime. Dropped without waiting for its (finished) work, since a client may
/// be dropped on an async worker thread (an app state or an exporter released at shutdown),
/// where dropping a runtime the usual way panics.
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl std::ops::Deref for OwnRuntime {
    type Target = tokio::runtime::Runtime;
    fn deref(&self) -> &tokio::runtime::Runtime {
        self.0.as_ref().expect("the runtime lives until the client is dropped")
    }
}

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// How long one statement may take before the store reports ClickHouse unavailable.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an idle connection to ClickHouse is kept for reuse: under the server's default
/// `keep_alive_timeout` of 3 s.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(1);

/// The `clickhouse` crate's client of the store, over a hyper client that drops idle
/// connections as [`ClickHouse::new`]'s does.
fn rows_client(url: &StoreUrl) -> ::clickhouse::Client {
    let http = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_timer(hyper_util::rt::TokioTimer::new())
        .build_http();
    ::clickhouse::Client::with_http_client(http)
        .with_url(format!("http://{}", url.authority))
        .with_database(url.database.clone())
        .with_validation(false)
}

impl ClickHouse {
    /// A client of `url` with the tables on that one server (nothing is sent yet).
    pub fn new(url: StoreUrl) -> Result<ClickHouse, StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError(format!("cannot start the ClickHouse client: {e}")))?;
        // ClickHouse closes a kept-alive connection idle for `keep_alive_timeout` (3 s by
        // default); a request sent on one it closed fails ("SendRequest"), which turned the
        // first beacons after a pause into 503s. Idle connections are dropped well before that.
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .build_http();
        let rows_client = rows_client(&url);
        Ok(ClickHouse { url, layout: Layout::Single, client, rows_client, runtime: OwnRuntime(Some(runtime)), goals: Goals::default(), rollups: false })
    }

    /// Sets the conversion goals that queries evaluate session goals with (`--goals`).
    pub fn set_goals(&mut self, goals: Goals) {
        self.goals = goals;
    }

    /// The conversion goals of [`ClickHouse::set_goals`].
    pub fn goals(&self) -> &Goals {
        &self.goals
    }

    /// Lets queries read the rollups of sealed hours (`--rollups`; crate::rollups).
    pub fn set_rollups(&mut self, on: bool) {
        self.rollups = on;
    }

    /// Whether queries may read the rollups ([`ClickHouse::set_rollups`]).
    pub fn rollups(&self) -> bool {
        self.rollups
    }

    /// The store's URL.
    pub fn url(&self) -> &StoreUrl {
        &self.url
    }

    /// Runs one read statement in the store's database on the store URL's server, with
    /// `settings` (`name`, `value`) on the URL, and returns the answer's body. The statement
    /// goes in the request body, so its length is not bound by URL limits; the answer must come
    /// within `timeout`.
    pub fn query(&self, sql: &str, settings: &[(&str, String)], timeout: Duration) -> Result<String, StoreError> {
        let at = &self.url.authority;
        let mut uri = format!("http://{at}/?database={}", self.url.database);
        for (k, v) in settings {
            uri.push_str(&format!("&{k}={}", encode(v)));
        }
        self.send(at, uri, sql.as_bytes().to_vec(), timeout)
    }

    /// A client of `url` with the tables sharded over `cluster`, replicated or not (see
    /// [`Layout::Cluster`]).
    pub fn new_in_cluster(url: StoreUrl, cluster: &str, replicated: bool) -> Result<ClickHouse, StoreError> {
        let name = parse_cluster_name(cluster).map_err(StoreError)?;
        let database = url.database.clone();
        let mut ch = ClickHouse::new(url)?;
        ch.layout = Layout::Cluster { name, database, replicated };
        // Inserts into the `Distributed` tables answer once every shard wrote its rows.
        ch.rows_client = ch.rows_client.clone().with_setting("insert_distributed_sync", "1");
        Ok(ch)
    }

    /// The layout this client writes.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Runs one statement (`sql`, then `body` as its data) on the server at `at` (`HOST:PORT`)
    /// in `database` (or the server's default), with `settings` (`&name=value…`) on the URL,
    /// and returns the answer's body.
    fn run_on(&self, at: &str, database: Option<&str>, sql: &str, body: Vec<u8>, settings: &str) -> Result<String, StoreError> {
        let mut uri = format!("http://{at}/?query={}", encode(sql));
        if let Some(db) = database {
            uri.push_str("&database=");
            uri.push_str(db);
        }
        uri.push_str(settings);
        self.send(at, uri, body, STATEMENT_TIMEOUT)
    }

    /// POSTs `body` to `uri` (on the server at `at`) and returns the answer's body on a 2xx
    /// status, or an error naming the server.
    fn send(&self, at: &str, uri: String, body: Vec<u8>, timeout: Duration) -> Result<String, StoreError> {
        let body = Bytes::from(body);
        // 18.16 wants a Content-Length even for an empty body.
        let request = || {
            hyper::Request::post(uri.as_str())
                .header(hyper::header::CONTENT_LENGTH, body.len())
                .body(Full::new(body.clone()))
                .map_err(|e| StoreError(format!("ClickHouse request: {e}")))
        };
        self.runtime.block_on(async {
            let answer = tokio::time::timeout(timeout, async {
                let response = match self.client.request(request()?).await {
                    Ok(r) => Ok(r),
                    // A kept-alive connection the server closed meanwhile: once more on a new
                    // one (every statement is safe to repeat: inserts collapse by their keys,
                    // DDL is IF NOT EXISTS). A server that cannot be reached fails at once.
                    Err(e) if !e.is_connect() => self.client.request(request()?).await,
                    Err(e) => Err(e),
                }
                .map_err(|e| StoreError(format!("ClickHouse at {at} unavailable: {e}")))?;
                let status = response.status();
                let bytes = response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| StoreError(format!("ClickHouse at {at}: answer cut: {e}")))?
                    .to_bytes();
                let text = String::from_utf8_lossy(&bytes).into_owned();
                if status.is_success() {
                    Ok(text)
                } else {
                    Err(StoreError(format!("ClickHouse at {at} answered {status}: {}", text.trim())))
                }
            })
            .await;
            answer.unwrap_or_else(|_| Err(StoreError(format!("ClickHouse at {at} gave no answer within {timeout:?}"))))
        })
    }

    /// Runs a statement in the store's database on the store URL's server.
    pub fn execute(&self, sql: &str) -> Result<String, StoreError> {
        self.run_on(&self.url.authority, Some(&self.url.database), sql, Vec::new(), "")
    }

    /// The HTTP addresses of the servers that hold tables: the store URL's server alone, or
    /// every host `system.clusters` of that server lists for the cluster, at the store URL's
    /// port (every server of a cluster answers HTTP on the same port).
    pub fn servers(&self) -> Result<Vec<String>, StoreError> {
        let Layout::Cluster { name, .. } = &self.layout else {
            return Ok(vec![self.url.authority.clone()]);
        };
        let at = &self.url.authority;
        let sql = format!("SELECT host_name FROM system.clusters WHERE cluster = '{name}' ORDER BY shard_num, replica_num FORMAT TSV");
        let hosts = self.run_on(at, None, &sql, Vec::new(), "")?;
        let port = at.rsplit_once(':').map_or("8123", |(_, p)| p);
        let mut servers: Vec<String> = Vec::new();
        for host in hosts.lines().map(str::trim).filter(|h| !h.is_empty()) {
            let server = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
            if !servers.contains(&server) {
                servers.push(server);
            }
        }
        if servers.is_empty() {
            return Err(StoreError(format!(
                "ClickHouse at {at} knows no cluster {name}: it must be in the remote_servers configuration of every server (system.clusters)"
            )));
        }
        Ok(servers)
    }

    /// Creates the database if missing and applies the migrations it has not seen, on every
    /// server that holds tables ([`ClickHouse::servers`]). Without ZooKeeper (18.16 has no
    /// Keeper) `ON CLUSTER` cannot run, so each server is migrated over its own HTTP interface
    /// and keeps its own `schema_migrations`; a server added to the cluster gets the schema when
    /// the next collector starts.
    pub fn migrate(&self) -> Result<(), StoreError> {
        for at in self.servers()? {
            self.migrate_server(&at).map_err(|e| match &self.layout {
                Layout::Single => e,
                Layout::Cluster { name, .. } => StoreError(format!("cluster {name}, server {at}: {e}")),
            })?;
        }
        Ok(())
    }

    fn migrate_server(&self, at: &str) -> Result<(), StoreError> {
        let db = &self.url.database;
        let run = |sql: &str| self.run_on(at, Some(db), sql, Vec::new(), "");
        self.run_on(at, None, &format!("CREATE DATABASE IF NOT EXISTS {db}"), Vec::new(), "")?;
        run(SCHEMA_MIGRATIONS)?;
        let have: u32 = run("SELECT max(version) FROM schema_migrations")?.trim().parse().unwrap_or(0);
        if have > schema_version() {
            return Err(StoreError(format!(
                "the ClickHouse database {db} has schema version {have}, newer than this collector's {}: upgrade the collector",
                schema_version()
            )));
        }
        for version in have + 1..=schema_version() {
            for sql in self.layout.statements(version) {
                run(&sql).map_err(|e| StoreError(format!("ClickHouse migration {version}: {e}")))?;
            }
            run(&format!("INSERT INTO schema_migrations (version, applied_at) VALUES ({version}, {})", crate::store::now_ms()))?;
        }
        self.check_layout(at)
    }

    /// Refuses a database whose tables were made for the other layout: `CREATE TABLE IF NOT
    /// EXISTS` would keep them, and a collector would then write past the shards (or into a
    /// `Distributed` table without waiting for its shards).
    fn check_layout(&self, at: &str) -> Result<(), StoreError> {
        let db = &self.url.database;
        let mut names: Vec<String> = tables().iter().map(|t| format!("'{t}'")).collect();
        if matches!(self.layout, Layout::Cluster { .. }) {
            names.extend(tables().iter().map(|t| format!("'{t}_local'")));
        }
        let sql = format!(
            "SELECT name, engine, engine_full FROM system.tables WHERE database = '{db}' AND name IN ({}) FORMAT TSV",
            names.join(", ")
        );
        for line in self.run_on(at, None, &sql, Vec::new(), "")?.lines() {
            let mut cols = line.split('\t');
            let (name, engine, full) = (cols.next().unwrap_or(""), cols.next().unwrap_or(""), cols.next().unwrap_or(""));
            if let Some(table) = name.strip_suffix("_local") {
                let want = matches!(self.layout, Layout::Cluster { replicated: true, .. });
                if engine.starts_with("Replicated") != want {
                    let how = if want { "without --replicated" } else { "with --replicated" };
                    return Err(StoreError(format!(
                        "{db}.{name} on {at} is a {engine} table (made {how}): start the collector as it was made, or use another database for {table}"
                    )));
                }
                continue;
            }
            match &self.layout {
                Layout::Single if engine == "Distributed" => {
                    return Err(StoreError(format!(
                        "{db}.{name} is a Distributed table (made with --cluster): start the collector with --cluster too"
                    )))
                }
                Layout::Cluster { name: cluster, .. } if engine != "Distributed" => {
                    return Err(StoreError(format!(
                        "{db}.{name} is a {engine} table, not Distributed (made without --cluster): use another database for --cluster {cluster}"
                    )))
                }
                Layout::Cluster { name: cluster, .. } if !full.starts_with(&format!("Distributed({cluster},")) => {
                    return Err(StoreError(format!("{db}.{name} is {full}, not over cluster {cluster}")))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Opens the store at `url`, sharded over `cluster` if given (its local tables replicated
    /// when `replicated`): connects and migrates.
    pub fn open(url: StoreUrl, cluster: Option<&str>, replicated: bool) -> Result<ClickHouse, StoreError> {
        let ch = match cluster {
            None => ClickHouse::new(url)?,
            Some(name) => ClickHouse::new_in_cluster(url, name, replicated)?,
        };
        ch.migrate()?;
        Ok(ch)
    }

    /// Writes rows (JSON objects) to `table` in one insert. Over a cluster the insert goes to
    /// the `Distributed` table with `insert_distributed_sync=1`: the server splits the rows by
    /// the table's own sharding key and answers only after every shard wrote its part, so an
    /// acknowledged beacon is on its shard, not in a send queue (docs/decisions.md).
    pub fn insert(&self, table: &str, rows: &[Value]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut body = Vec::new();
        for row in rows {
            serde_json::to_writer(&mut body, row).map_err(|e| StoreError(e.to_string()))?;
            body.push(b'\n');
        }
        let settings = match self.layout {
            Layout::Single => "",
            Layout::Cluster { .. } => "&insert_distributed_sync=1",
        };
        let sql = format!("INSERT INTO {table} FORMAT JSONEachRow");
        self.run_on(&self.url.authority, Some(&self.url.database), &sql, body, settings).map(|_| ())
    }
}

impl ClickHouse {
    /// Writes typed rows to `table` in one `RowBinary` insert. A kept-alive connection the
    /// server closed meanwhile is tried once more on a new one (an insert is safe to repeat:
    /// its rows collapse by their keys); a server that cannot be reached fails at once.
    pub fn insert_rows<T: ::clickhouse::RowOwned + ::clickhouse::RowWrite>(&self, table: &str, rows: &[T]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let at = &self.url.authority;
        let once = || async {
            let mut insert = self.rows_client.insert::<T>(table).await?;
            for r in rows {
                insert.write(r).await?;
            }
            insert.end().await
        };
        self.runtime.block_on(async {
            let mut failure = String::new();
            for first in [true, false] {
                let e = match tokio::time::timeout(STATEMENT_TIMEOUT, once()).await {
                    Ok(Ok(())) => return Ok(()),
                    Ok(Err(e)) => e,
                    Err(_) => return Err(StoreError(format!("ClickHouse at {at} unavailable: no answer within {STATEMENT_TIMEOUT:?}"))),
                };
                if let ::clickhouse::error::Error::BadResponse(_) = e {
                    return Err(StoreError(format!("ClickHouse at {at} refused the insert into {table}: {e}")));
                }
                failure = format!("ClickHouse at {at} unavailable: {e}");
                let stale = matches!(e, ::clickhouse::error::Error::Network(_)) && !refused(&e);
                if !(first && stale) {
                    break;
                }
            }
            Err(StoreError(failure))
        })
    }
}

/// Whether a network error is a refused connection (the server is not there).
fn refused(e: &::clickhouse::error::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(h) = err.downcast_ref::<hyper_util::client::legacy::Error>() {
            if h.is_connect() {
                return true;
            }
        }
        source = err.source();
    }
    false
}

impl BeaconStore for ClickHouse {
    /// One insert per table for the whole group; both must be accepted before any beacon of the
    /// group is acknowledged. A failed group is written again in full by the agents' retries,
    /// which the `ReplacingMergeTree` keys make harmless.
    fn ingest_group(
        &mut self,
        beacons: &[Pending],
        goals: &Goals,
        now_ms: i64,
    ) -> Result<Vec<Result<IngestOutcome, StoreError>>, StoreError> {
        let (beacon_rows, action_rows) = rows(beacons, goals, now_ms);
        // Actions first: a beacon row is then only ever present with its actions.
        self.insert_rows("actions", &action_rows)?;
        self.insert_rows("beacons", &beacon_rows)?;
        Ok(beacons.iter().map(|_| Ok(IngestOutcome::Stored)).collect())
    }

    fn failures_are_transient(&self) -> bool {
        true
    }
}

/// The rows a group of beacons becomes, as sent (`RowBinary`): one per beacon for `beacons`,
/// one per action for `actions`.
pub fn rows(beacons: &[Pending], goals: &Goals, now_ms: i64) -> (Vec<BeaconRow>, Vec<ActionRow>) {
    let mut beacon_rows = Vec::with_capacity(beacons.len());
    let mut action_rows = Vec::new();
    for (b, client) in beacons {
        beacon_rows.push(beacon_row(b, client, now_ms));
        for a in &b.actions {
            action_rows.push(action_row(b, a, goals));
        }
    }
    (beacon_rows, action_rows)
}

/// A `Date` value (days since 1970-01-01, `UInt16` in `RowBinary`) of an epoch-ms time (UTC),
/// held to the type's range.
fn date(ms: i64) -> u16 {
    ms.div_euclid(86_400_000).clamp(0, i64::from(u16::MAX)) as u16
}

/// Rows as `JSONEachRow` text, a `Date` as `YYYY-MM-DD`: for inserts given as statement text
/// (the tests give chDB its rows so; the writer sends `RowBinary`).
pub fn json_each_row<T: Serialize>(rows: &[T]) -> String {
    let mut out = String::new();
    for r in rows {
        let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
        if let Some(day) = v.get_mut("day") {
            if let Some(n) = day.as_i64() {
                let (y, m, d) = crate::usql::time::civil_from_days(n);
                *day = Value::String(format!("{y:04}-{m:02}-{d:02}"));
            }
        }
        out.push_str(&v.to_string());
        out.push('\n');
    }
    out
}

/// The eight property array columns of a row (`string_keys`, `string_values`, … `date_values`).
type PropColumns = (Vec<String>, Vec<String>, Vec<String>, Vec<i64>, Vec<String>, Vec<f64>, Vec<String>, Vec<i64>);

fn prop_columns(p: &Props) -> PropColumns {
    (
        p.string.keys().cloned().collect(),
        p.string.values().cloned().collect(),
        p.long.keys().cloned().collect(),
        p.long.values().copied().collect(),
        p.double.keys().cloned().collect(),
        p.double.values().copied().collect(),
        p.date.keys().cloned().collect(),
        p.date.values().copied().collect(),
    )
}

/// A row of `beacons`, its fields the table's columns (migration 1) in their order.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Serialize, ::clickhouse::Row)]
#[clickhouse(crate = "::clickhouse")]
pub struct BeaconRow {
    pub app: String,
    pub day: u16,
    pub sid: String,
    pub seq: i64,
    pub sent_at: i64,
    pub received_at: i64,
    pub session_start: i64,
    pub vid: Option<String>,
    pub user_id: Option<String>,
    pub ended: Option<String>,
    pub action_count: i64,
    pub user_agent: Option<String>,
    pub user_type: String,
    pub browser_type: String,
    pub browser_family: String,
    pub browser_version: Option<String>,
    pub browser_major_version: Option<i64>,
    pub os_family: String,
    pub os_version: Option<String>,
    pub device: Option<String>,
    pub manufacturer: Option<String>,
    pub ip: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub country: Option<String>,
    pub continent: Option<String>,
    pub isp: Option<String>,
    pub screen_width: Option<i64>,
    pub screen_height: Option<i64>,
    pub screen_orientation: Option<String>,
    pub display_resolution: Option<String>,
    pub connection_type: Option<String>,
    pub string_keys: Vec<String>,
    pub string_values: Vec<String>,
    pub long_keys: Vec<String>,
    pub long_values: Vec<i64>,
    pub double_keys: Vec<String>,
    pub double_values: Vec<f64>,
    pub date_keys: Vec<String>,
    pub date_values: Vec<i64>,
    pub issue_keys: Vec<String>,
    pub issue_reasons: Vec<String>,
}

/// A row of `actions`, its fields the table's columns (migration 1) in their order.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Serialize, ::clickhouse::Row)]
#[clickhouse(crate = "::clickhouse")]
pub struct ActionRow {
    pub app: String,
    pub day: u16,
    pub name: String,
    pub sid: String,
    pub action_id: String,
    pub seq: i64,
    pub kind: String,
    pub start_time: i64,
    pub end_time: i64,
    pub url: String,
    pub requests: i64,
    pub request_errors: i64,
    pub js_errors: i64,
    pub navigation_start: Option<i64>,
    pub request_start: Option<i64>,
    pub response_start: Option<i64>,
    pub response_end: Option<i64>,
    pub document_interactive_time: Option<i64>,
    pub dom_content_loaded_time: Option<i64>,
    pub dom_complete_time: Option<i64>,
    pub load_event_start: Option<i64>,
    pub load_event_end: Option<i64>,
    pub largest_contentful_paint: Option<i64>,
    pub first_input_delay: Option<i64>,
    pub interaction_to_next_paint: Option<i64>,
    pub visually_complete_time: Option<i64>,
    pub speed_index: Option<i64>,
    pub cumulative_layout_shift: Option<f64>,
    pub server_time: Option<i64>,
    pub network_time: Option<i64>,
    pub frontend_time: Option<i64>,
    pub first_party_resources: Option<i64>,
    pub third_party_resources: Option<i64>,
    pub cdn_resources: Option<i64>,
    pub apdex_category: Option<String>,
    pub rage_clicks: i64,
    pub matching_goals: Vec<String>,
    pub key_user_action: u8,
    pub string_keys: Vec<String>,
    pub string_values: Vec<String>,
    pub long_keys: Vec<String>,
    pub long_values: Vec<i64>,
    pub double_keys: Vec<String>,
    pub double_values: Vec<f64>,
    pub date_keys: Vec<String>,
    pub date_values: Vec<i64>,
    pub error_times: Vec<i64>,
    pub error_names: Vec<String>,
    pub error_sources: Vec<Option<String>>,
    pub error_lines: Vec<Option<i64>>,
    pub error_cols: Vec<Option<i64>>,
}

fn beacon_row(b: &Beacon, client: &crate::store::ClientInfo, now_ms: i64) -> BeaconRow {
    let ua = client.user_agent.as_deref().map(useragent::parse).unwrap_or_default();
    let screen = &b.session.screen;
    let orientation = screen.orientation.as_deref().or_else(|| derive::orientation(screen.width, screen.height));
    let (string_keys, string_values, long_keys, long_values, double_keys, double_values, date_keys, date_values) =
        prop_columns(&b.session.props);
    BeaconRow {
        app: b.app.clone(),
        day: date(b.session.start),
        sid: b.sid.clone(),
        seq: b.seq,
        sent_at: b.sent_at,
        received_at: now_ms,
        session_start: b.session.start,
        vid: b.vid.clone(),
        user_id: b.session.user_id.clone(),
        ended: b.session.ended.clone(),
        action_count: b.actions.len() as i64,
        user_agent: client.user_agent.clone(),
        user_type: ua.user_type.into(),
        browser_type: ua.browser_type.into(),
        browser_family: ua.browser_family,
        browser_version: ua.browser_version,
        browser_major_version: ua.browser_major_version,
        os_family: ua.os_family,
        os_version: ua.os_version,
        device: ua.device,
        manufacturer: ua.manufacturer,
        ip: client.ip.clone(),
        city: client.geo.city.clone(),
        region: client.geo.region.clone(),
        country: client.geo.country.clone(),
        continent: client.geo.continent.clone(),
        isp: client.geo.isp.clone(),
        screen_width: screen.width,
        screen_height: screen.height,
        screen_orientation: orientation.map(Into::into),
        display_resolution: derive::display_resolution(screen.width, screen.height).map(Into::into),
        connection_type: b.session.connection.as_deref().map(|c| derive::connection_type(c).into()),
        string_keys,
        string_values,
        long_keys,
        long_values,
        double_keys,
        double_values,
        date_keys,
        date_values,
        issue_keys: b.issues.iter().map(|i| i.key.clone()).collect(),
        issue_reasons: b.issues.iter().map(|i| i.reason.clone()).collect(),
    }
}

fn action_row(b: &Beacon, a: &crate::beacon::Action, goals: &Goals) -> ActionRow {
    let t = &a.timings;
    let (server_time, network_time, frontend_time) = derive::derived_times(t, a.end - a.start);
    let [navigation_start, request_start, response_start, response_end, document_interactive_time, dom_content_loaded_time, dom_complete_time, load_event_start, load_event_end, largest_contentful_paint, first_input_delay, interaction_to_next_paint, visually_complete_time, speed_index] =
        t.integers();
    let (string_keys, string_values, long_keys, long_values, double_keys, double_values, date_keys, date_values) =
        prop_columns(&a.props);
    ActionRow {
        app: b.app.clone(),
        day: date(a.start),
        name: a.name.clone(),
        sid: b.sid.clone(),
        action_id: a.id.clone(),
        seq: b.seq,
        kind: a.kind.clone(),
        start_time: a.start,
        end_time: a.end,
        url: a.url.clone(),
        requests: a.requests,
        request_errors: a.request_errors,
        js_errors: a.js_errors,
        navigation_start,
        request_start,
        response_start,
        response_end,
        document_interactive_time,
        dom_content_loaded_time,
        dom_complete_time,
        load_event_start,
        load_event_end,
        largest_contentful_paint,
        first_input_delay,
        interaction_to_next_paint,
        visually_complete_time,
        speed_index,
        cumulative_layout_shift: t.cumulative_layout_shift,
        server_time,
        network_time,
        frontend_time,
        first_party_resources: a.resources.first_party,
        third_party_resources: a.resources.third_party,
        cdn_resources: a.resources.cdn,
        apdex_category: a.apdex.clone(),
        rage_clicks: a.rage_clicks.unwrap_or(0),
        matching_goals: if goals.goals.is_empty() { Vec::new() } else { goals.action_goals(&a.name, &a.url).into_iter().map(str::to_owned).collect() },
        key_user_action: u8::from(goals.is_key_user_action(&a.name)),
        string_keys,
        string_values,
        long_keys,
        long_values,
        double_keys,
        double_values,
        date_keys,
        date_values,
        error_times: a.errors.iter().map(|e| e.time).collect(),
        error_names: a.errors.iter().map(|e| e.message.clone()).collect(),
        error_sources: a.errors.iter().map(|e| e.file.clone()).collect(),
        error_lines: a.errors.iter().map(|e| e.line).collect(),
        error_cols: a.errors.iter().map(|e| e.column).collect(),
    }
}

/// Percent-encodes a query-string value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usql::time::civil_from_days;

    #[test]
    fn store_urls() {
        let u: StoreUrl = "clickhouse://127.0.0.1:8123/rum".parse().unwrap();
        assert_eq!(u, StoreUrl { authority: "127.0.0.1:8123".into(), database: "rum".into() });
        let u: StoreUrl = "clickhouse://ch/rum".parse().unwrap();
        assert_eq!(u.authority, "ch:8123");
        assert!("http://ch/rum".parse::<StoreUrl>().unwrap_err().contains("clickhouse://"));
        assert!("clickhouse://ch".parse::<StoreUrl>().unwrap_err().contains("no database"));
        assert!("clickhouse://ch/a;b".parse::<StoreUrl>().unwrap_err().contains("database name"));
    }

    #[test]
    fn migrations_render_for_one_server_and_for_a_cluster() {
        let single = Layout::Single.statements(1);
        assert_eq!(single.len(), 2);
        assert!(single[0].starts_with("CREATE TABLE IF NOT EXISTS beacons (\n            app String, day Date,"), "{}", single[0]);
        assert!(single[0].ends_with("issue_reasons Array(String)\n        ) ENGINE = ReplacingMergeTree(received_at) PARTITION BY toYYYYMM(day) ORDER BY (app, day, sid, seq)"));
        let cluster = Layout::Cluster { name: "two".into(), database: "rum".into(), replicated: false }.statements(1);
        assert_eq!(cluster.len(), 4);
        assert_eq!(cluster[0], single[0].replacen("beacons", "beacons_local", 1));
        assert!(cluster[1].starts_with("CREATE TABLE IF NOT EXISTS beacons AS beacons_local"), "{}", cluster[1]);
        assert!(cluster[1].ends_with("ENGINE = Distributed(two, rum, beacons_local, cityHash64(sid))"), "{}", cluster[1]);
        assert_eq!(cluster[2], single[1].replacen("actions", "actions_local", 1));
        assert!(cluster[3].ends_with("Distributed(two, rum, actions_local, cityHash64(sid))"));
        let replicated = Layout::Cluster { name: "two".into(), database: "rum".into(), replicated: true }.statements(1);
        assert!(
            replicated[0].ends_with(
                "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/rum/beacons_local', '{replica}', received_at) \
                 PARTITION BY toYYYYMM(day) ORDER BY (app, day, sid, seq)"
            ),
            "{}",
            replicated[0]
        );
        assert_eq!(replicated[1], cluster[1]);
        assert!(replicated[2].contains("ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/rum/actions_local', '{replica}', seq)"));
        assert_eq!(local_engine("ReplacingMergeTree() ORDER BY v", "d", "t", true), "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/d/t_local', '{replica}') ORDER BY v");
        assert!(Layout::Single.statements(0).is_empty());
        assert!(Layout::Single.statements(schema_version() + 1).is_empty());
        assert_eq!(tables(), ["beacons", "actions", "exports", "sealed_sessions", "action_rollups", "rollup_seals"]);
        // The rollups' tables are sharded by what they are keyed by.
        let rollups = Layout::Cluster { name: "c".into(), database: "rum".into(), replicated: false }.statements(3);
        assert!(rollups[1].ends_with("Distributed(c, rum, sealed_sessions_local, cityHash64(sid))"), "{}", rollups[1]);
        assert!(rollups[3].ends_with("Distributed(c, rum, action_rollups_local, cityHash64(hour))"), "{}", rollups[3]);
        assert_eq!(parse_cluster_name("two_shards").unwrap(), "two_shards");
        assert!(parse_cluster_name("a-b").unwrap_err().contains("letters, digits and _"));
        assert!(parse_cluster_name("").is_err());
    }

    #[test]
    fn days_are_utc() {
        assert_eq!(date(0), 0);
        assert_eq!(civil_from_days(i64::from(date(1_764_633_600_000))), (2025, 12, 2));
        assert_eq!(date(1_764_633_599_999), date(1_764_633_600_000) - 1);
        // Outside the `Date` type's range: held to its ends.
        assert_eq!(date(-1), 0);
        assert_eq!(date(i64::MAX), u16::MAX);
    }
}
