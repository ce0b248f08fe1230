//! The command line of `serve` and `query` (clap derive), and the terminal table.
//!
//! Every `serve` option also reads a `RUMPROPS_<NAME>` environment variable (`--db` from
//! `RUMPROPS_DB`, `--rate-per-sec` from `RUMPROPS_RATE_PER_SEC`, …); a flag on the command line
//! wins over the variable. Parse errors become one line that names the option
//! ([`error_line`]).

use crate::connections::ConnectionLimits;
use crate::limits::BodyRate;
use crate::ratelimit::RateLimit;
use crate::client::IpMode;
use crate::server::{ServeConfig, Server, QUERIES_PER_CLIENT};
use crate::store::{self, DEFAULT_SESSION_TIMEOUT_MS};
use crate::usql::{self, QueryOptions, QueryResult};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Parser;
use serde_json::Value;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `rumprops serve`: the options of a running collector.
///
/// A new option is one field here (with `env = "RUMPROPS_…"`) and one line in
/// [`ServeArgs::config`]; checks that need more than one field go there too.
#[derive(Parser, Debug, Clone)]
#[command(name = "serve", about = "Store beacons in SQLite (or ClickHouse, --store) and answer USQL over HTTP")]
pub struct ServeArgs {
    /// The SQLite file; created and migrated when new.
    #[arg(long, env = "RUMPROPS_DB", value_name = "FILE")]
    pub db: PathBuf,
    /// Store beacons in ClickHouse instead of the SQLite file (which keeps the app's tokens,
    /// metrics, alerts and dashboards): `clickhouse://HOST:8123/DB`, the HTTP port; the
    /// database is created and migrated when new; USQL is answered from it too.
    #[arg(long, env = "RUMPROPS_STORE", value_name = "URL", value_parser = parse_store)]
    pub store: Option<crate::clickhouse::StoreUrl>,
    /// Shard the ClickHouse store over this cluster (as named in every server's
    /// `remote_servers`): `beacons_local`/`actions_local` on every server, `Distributed` tables
    /// `beacons`/`actions` over them by `cityHash64(sid)`. Every server must answer HTTP on the
    /// --store URL's port (docs/scale-out.md).
    #[arg(long, env = "RUMPROPS_CLUSTER", value_name = "NAME", value_parser = crate::clickhouse::parse_cluster_name)]
    pub cluster: Option<String>,
    /// With --cluster: the local tables are ReplicatedReplacingMergeTree, each shard's replicas
    /// kept alike through ZooKeeper or ClickHouse Keeper (every server needs `zookeeper` and the
    /// macros `shard` and `replica` in its configuration, and the cluster
    /// `internal_replication` true; docs/scale-out.md).
    #[arg(long, env = "RUMPROPS_REPLICATED")]
    pub replicated: bool,
    /// ClickHouse store (one server): every minute seal the settled hours into rollups, and
    /// answer grouped counts of actions from them (docs/scale-out.md, "Rollups").
    #[arg(long, env = "RUMPROPS_ROLLUPS")]
    pub rollups: bool,
    /// With --rollups: how often this collector seals (0: never; another collector or
    /// `rumprops seal` does).
    #[arg(long, env = "RUMPROPS_SEAL_INTERVAL_MS", value_name = "MS", default_value_t = ms(crate::rollups::SEAL_INTERVAL), requires = "rollups")]
    pub seal_interval_ms: u64,
    /// ClickHouse store: most beacons in one insert; a batch goes when it has this many
    /// [default: 256].
    #[arg(long, env = "RUMPROPS_BATCH_MAX_BEACONS", value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub batch_max_beacons: Option<u64>,
    /// ClickHouse store: longest a beacon waits for company before its batch is inserted (and
    /// it is acknowledged) [default: 1000].
    #[arg(long, env = "RUMPROPS_BATCH_MAX_WAIT_MS", value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub batch_max_wait_ms: Option<u64>,
    /// Listen address (an IP and a port; port 0 picks a free one, printed at start).
    #[arg(long, env = "RUMPROPS_ADDR", value_name = "HOST:PORT", value_parser = parse_addr)]
    pub addr: SocketAddr,
    /// An origin allowed to post beacons; repeat it (or comma-separate in the variable).
    /// Without any, every origin is allowed.
    #[arg(long = "allow-origin", env = "RUMPROPS_ALLOW_ORIGIN", value_name = "ORIGIN", value_delimiter = ',')]
    pub allow_origins: Vec<String>,
    /// Where finished sessions are exported as NDJSON (POST, http:// only).
    #[arg(long, env = "RUMPROPS_EXPORT_URL", value_name = "URL")]
    pub export_url: Option<String>,
    /// With several collectors exporting from one ClickHouse --store: this one's share of the
    /// sessions, INDEX/COUNT (give the collectors 0/N … N-1/N; each session goes out once).
    #[arg(long, env = "RUMPROPS_EXPORT_PARTITION", value_name = "INDEX/COUNT", default_value = "0/1")]
    pub export_partition: crate::export::Partition,
    /// A directory served for every other GET (the dashboard and demo pages).
    #[arg(long = "static", env = "RUMPROPS_STATIC", value_name = "DIR")]
    pub static_dir: Option<PathBuf>,
    /// Idle time after which a session without an end beacon is closed.
    #[arg(long, env = "RUMPROPS_SESSION_TIMEOUT_MS", value_name = "MS", allow_negative_numbers = true, default_value_t = DEFAULT_SESSION_TIMEOUT_MS,
          value_parser = clap::value_parser!(i64).range(0..))]
    pub session_timeout_ms: i64,
    /// Beacons per second each client IP may send (token bucket refill; 0 = only the burst).
    #[arg(long, env = "RUMPROPS_RATE_PER_SEC", value_name = "N", allow_negative_numbers = true, default_value_t = RateLimit::default().per_sec)]
    pub rate_per_sec: f64,
    /// Beacons a client IP may send at once (token bucket size, at least 1).
    #[arg(long, env = "RUMPROPS_RATE_BURST", value_name = "N", default_value_t = RateLimit::default().burst)]
    pub rate_burst: f64,
    /// Open connections at most; at the cap new ones wait to be accepted (logged once).
    #[arg(long, env = "RUMPROPS_MAX_CONNECTIONS", value_name = "N", default_value_t = ConnectionLimits::default().max_connections as u64,
          value_parser = clap::value_parser!(u64).range(1..1_000_000))]
    pub max_connections: u64,
    /// Time to send a request header, counted from when the connection waits for one: also
    /// how long a kept-alive connection may sit idle.
    #[arg(long, env = "RUMPROPS_HEADER_TIMEOUT_MS", value_name = "MS", default_value_t = ms(ConnectionLimits::default().header_timeout),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_ms: u64,
    /// Time a request body may take before --body-min-bytes-per-sec applies.
    #[arg(long, env = "RUMPROPS_BODY_TIMEOUT_MS", value_name = "MS", default_value_t = ms(BodyRate::default().grace))]
    pub body_timeout_ms: u64,
    /// Average rate a body must keep after --body-timeout-ms (a request slower than that gets 408).
    #[arg(long, env = "RUMPROPS_BODY_MIN_BYTES_PER_SEC", value_name = "N", default_value_t = BodyRate::default().min_bytes_per_sec)]
    pub body_min_bytes_per_sec: u64,
    /// At SIGTERM, time requests in progress get before the connections left are closed.
    #[arg(long, env = "RUMPROPS_SHUTDOWN_GRACE_MS", value_name = "MS", default_value_t = ms(ConnectionLimits::default().shutdown_grace))]
    pub shutdown_grace_ms: u64,
    /// USQL queries one client (IP address) may run at once; more get 429 (0: no limit).
    #[arg(long, env = "RUMPROPS_QUERIES_PER_CLIENT", value_name = "N", default_value_t = QUERIES_PER_CLIENT)]
    pub queries_per_client: usize,
    /// Serve the API without tokens (local demos only: anyone who reaches the collector reads
    /// every session). Without it, every endpoint but /beacon and the probes needs
    /// `Authorization: Api-Token <token>` (see `rumprops token create`).
    #[arg(long, env = "RUMPROPS_NO_AUTH")]
    pub no_auth: bool,
    /// How often alerts are evaluated.
    #[arg(long, env = "RUMPROPS_ALERT_INTERVAL_MS", value_name = "MS", default_value_t = crate::alerts::AlertTiming::default().interval_ms,
          value_parser = clap::value_parser!(u64).range(10..))]
    pub alert_interval_ms: u64,
    /// A MaxMind-format database (GeoLite2/GeoIP2 City or Country, DB-IP lite, ASN/ISP) for
    /// city, region, country, continent and isp; repeat it to combine. Without one they stay null.
    #[arg(long, env = "RUMPROPS_GEOIP", value_name = "FILE", value_delimiter = ',')]
    pub geoip: Vec<PathBuf>,
    /// A reverse proxy (CIDR or address) whose X-Forwarded-For / Forwarded headers name the client;
    /// repeat it. Headers from other peers are ignored.
    #[arg(long = "trusted-proxy", env = "RUMPROPS_TRUSTED_PROXY", value_name = "CIDR", value_delimiter = ',',
          value_parser = crate::client::parse_network)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How the client address is stored: full, masked (IPv4 last octet, IPv6 last 80 bits
    /// zeroed) or none.
    #[arg(long = "ip", env = "RUMPROPS_IP", value_name = "MODE", default_value = "masked", value_parser = parse_ip_mode)]
    pub ip_mode: IpMode,
    /// A JSON file of conversion goals (destination URL pattern, action name, session duration or
    /// action count) and key user action names; see collector/README.md.
    #[arg(long, env = "RUMPROPS_GOALS", value_name = "FILE")]
    pub goals: Option<PathBuf>,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn parse_ip_mode(s: &str) -> Result<IpMode, String> {
    s.parse()
}

fn parse_store(s: &str) -> Result<crate::clickhouse::StoreUrl, String> {
    s.parse()
}

fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| "expected HOST:PORT with an IP address, e.g. 127.0.0.1:8080".to_owned())
}

impl ServeArgs {
    /// The collector settings these options give, or what is wrong with them.
    pub fn config(&self) -> Result<ServeConfig, String> {
        let mut config = ServeConfig::new(self.db.clone(), self.addr);
        config.store = self.store.clone();
        config.cluster = self.cluster.clone();
        config.replicated = self.replicated;
        if config.cluster.is_some() && config.store.is_none() {
            return Err("--cluster shards the ClickHouse store: it needs --store clickhouse://HOST:8123/DB".to_owned());
        }
        if config.replicated && config.cluster.is_none() {
            return Err("--replicated makes the cluster's local tables replicated: it needs --cluster NAME".to_owned());
        }
        config.rollups = self.rollups;
        config.seal_interval = Duration::from_millis(self.seal_interval_ms);
        if self.rollups && config.store.is_none() {
            return Err("--rollups seals hours of the ClickHouse store: it needs --store clickhouse://HOST:8123/DB".to_owned());
        }
        if self.rollups && config.cluster.is_some() {
            return Err("--rollups is built for one ClickHouse server: not with --cluster yet".to_owned());
        }
        if config.store.is_none() && (self.batch_max_beacons.is_some() || self.batch_max_wait_ms.is_some()) {
            return Err("--batch-max-beacons and --batch-max-wait-ms batch inserts into ClickHouse: they need --store (SQLite commits at once)".to_owned());
        }
        if let Some(n) = self.batch_max_beacons {
            config.clickhouse_batching.max_beacons = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(ms) = self.batch_max_wait_ms {
            config.clickhouse_batching.max_wait = Duration::from_millis(ms);
        }
        config.allow_origins = self.allow_origins.iter().filter(|o| !o.is_empty()).cloned().collect();
        config.export_url = self.export_url.clone();
        config.export_partition = self.export_partition;
        if let Some(url) = &config.export_url {
            crate::export::parse_url(url).map_err(|e| format!("--export-url: {e}"))?;
        }
        config.static_dir = self.static_dir.clone();
        if let Some(dir) = &config.static_dir {
            if !dir.is_dir() {
                return Err(format!("--static: {} is not a directory", dir.display()));
            }
        }
        config.session_timeout_ms = self.session_timeout_ms;
        let limit = RateLimit { per_sec: self.rate_per_sec, burst: self.rate_burst };
        if !(limit.per_sec.is_finite() && limit.per_sec >= 0.0 && limit.burst.is_finite() && limit.burst >= 1.0) {
            return Err("--rate-per-sec must be >= 0 and --rate-burst >= 1".to_owned());
        }
        config.rate_limit = limit;
        config.auth = !self.no_auth;
        config.alert_timing.interval_ms = self.alert_interval_ms;
        config.connections = ConnectionLimits {
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            header_timeout: Duration::from_millis(self.header_timeout_ms),
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
        };
        config.body_rate =
            BodyRate { grace: Duration::from_millis(self.body_timeout_ms), min_bytes_per_sec: self.body_min_bytes_per_sec };
        config.queries_per_client = self.queries_per_client;
        config.geoip = self.geoip.clone();
        config.trusted_proxies = self.trusted_proxies.clone();
        config.ip_mode = self.ip_mode;
        if let Some(path) = &self.goals {
            config.goals = crate::goals::Goals::load(path)?;
        }
        Ok(config)
    }
}

/// `rumprops token create`: a new API token, printed once (only its hash is stored).
#[derive(Parser, Debug, Clone)]
#[command(name = "create", about = "Create an API token and print it once")]
pub struct TokenCreateArgs {
    /// The collector's SQLite file (created and migrated when new).
    #[arg(long, env = "RUMPROPS_DB", value_name = "FILE")]
    pub db: PathBuf,
    /// A scope of the token: read (USQL and the app), write (metrics, alerts, dashboards),
    /// export (the session export); repeat it for several.
    #[arg(long = "scope", value_name = "SCOPE", required = true, value_parser = crate::auth::Scope::parse)]
    pub scopes: Vec<crate::auth::Scope>,
    /// A name to tell tokens apart.
    #[arg(long, default_value = "")]
    pub name: String,
}

/// `rumprops token create` with parsed options: the token, alone on its line.
pub fn run_token_create(args: &TokenCreateArgs) -> Result<String, String> {
    let conn = store::open(&args.db).map_err(|e| e.to_string())?;
    let t = crate::auth::create(&conn, &args.scopes, &args.name, store::now_ms())?;
    Ok(t.token)
}

/// `rumprops dashboard import`: stores a dashboard from a JSON file (as the API takes it),
/// unless one with its name exists.
#[derive(Parser, Debug, Clone)]
#[command(name = "import", about = "Store a dashboard from a JSON file unless one of its name exists")]
pub struct DashboardImportArgs {
    /// The collector's SQLite file (created and migrated when new).
    #[arg(long, env = "RUMPROPS_DB", value_name = "FILE")]
    pub db: PathBuf,
    /// The dashboard: `{"name": …, "tiles": […]}` (www/app/packs/ has the Web property pack).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// `rumprops dashboard import` with parsed options: what it did, one line.
pub fn run_dashboard_import(args: &DashboardImportArgs) -> Result<String, String> {
    let body = std::fs::read(&args.file).map_err(|e| format!("cannot read {}: {e}", args.file.display()))?;
    let conn = store::open(&args.db).map_err(|e| e.to_string())?;
    let d = crate::dashboards::parse(&conn, &body).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let existing = crate::dashboards::list(&conn).map_err(|e| e.to_string())?;
    if let Some(v) = existing.iter().find(|v| v["name"] == d.name.as_str()) {
        return Ok(format!("dashboard {:?} exists (id {})", d.name, v["id"]));
    }
    let id = crate::dashboards::create(&conn, &d, store::now_ms()).map_err(|e| e.to_string())?;
    Ok(format!("dashboard {:?} stored (id {id})", d.name))
}

/// `rumprops query`: a USQL query on a collector database, printed as a table.
#[derive(Parser, Debug, Clone)]
#[command(name = "query", about = "Run a USQL query on a collector database and print a table")]
pub struct QueryArgs {
    /// The collector's SQLite file.
    #[arg(long, env = "RUMPROPS_DB", value_name = "FILE", required_unless_present = "store")]
    pub db: Option<PathBuf>,
    /// Query the beacons in ClickHouse instead: `clickhouse://HOST:8123/DB`, as `serve --store`.
    #[arg(long, env = "RUMPROPS_STORE", value_name = "URL", value_parser = parse_store, conflicts_with = "db")]
    pub store: Option<crate::clickhouse::StoreUrl>,
    /// Also count sessions that are still open.
    #[arg(long)]
    pub include_live: bool,
    /// With --store: read the rollups of sealed hours where they answer the query.
    #[arg(long, requires = "store")]
    pub rollups: bool,
    /// Idle time after which a session without an end beacon counts as closed.
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_SESSION_TIMEOUT_MS, value_parser = clap::value_parser!(i64).range(0..))]
    pub session_timeout_ms: i64,
    /// Print `{"columnNames": …, "values": …}` instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The query, as one argument (quote it): "SELECT … FROM usersession …".
    #[arg(value_name = "QUERY")]
    pub query: String,
}

/// `rumprops seal`: seal the settled hours of a ClickHouse store into rollups now.
#[derive(Parser, Debug, Clone)]
#[command(name = "seal", about = "Seal the settled hours of a ClickHouse store into rollups now")]
pub struct SealArgs {
    /// The store: `clickhouse://HOST:8123/DB`, as `serve --store` (migrated if older).
    #[arg(long, env = "RUMPROPS_STORE", value_name = "URL", value_parser = parse_store)]
    pub store: crate::clickhouse::StoreUrl,
    /// Idle time after which a session without an end beacon counts as closed (as the
    /// collectors that query the rollups have it).
    #[arg(long, env = "RUMPROPS_SESSION_TIMEOUT_MS", value_name = "MS", default_value_t = DEFAULT_SESSION_TIMEOUT_MS,
          value_parser = clap::value_parser!(i64).range(0..))]
    pub session_timeout_ms: i64,
}

/// `rumprops seal` with parsed options: what it sealed.
pub fn run_seal(args: &SealArgs) -> Result<String, String> {
    let ch = crate::clickhouse::ClickHouse::open(args.store.clone(), None, false).map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    let p = crate::rollups::seal_all(&ch, store::now_ms(), args.session_timeout_ms).map_err(|e| e.to_string())?;
    Ok(format!(
        "sealed {} hours ({} sessions) in {:.1} s; {} hours wait (recent, or with sessions still open)",
        p.hours,
        p.sessions,
        started.elapsed().as_secs_f64(),
        p.waiting
    ))
}

/// Parses one subcommand's arguments (without the command name) into its options; the error is
/// [`error_line`]'s.
pub fn parse<T: Parser>(name: &str, args: &[String]) -> Result<T, String> {
    T::try_parse_from(std::iter::once(name.to_owned()).chain(args.iter().cloned())).map_err(|e| error_line(&e, args))
}

/// One line for a command-line error, naming the option (and the environment variable when the
/// value came from one): `unknown option --bogus`, `missing --addr <HOST:PORT>`,
/// `--rules needs a value`, `--addr (from RUMPROPS_ADDR): expected HOST:PORT …`.
/// `args` are the command-line arguments, to tell a flag from its variable.
pub fn error_line(e: &clap::Error, args: &[String]) -> String {
    let ctx = |k: ContextKind| match e.get(k) {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(v)) => v.join(", "),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let arg = ctx(ContextKind::InvalidArg);
    let flag = arg.split([' ', '=']).next().unwrap_or("").to_owned();
    let named = || {
        let given = args.iter().any(|a| a == &flag || a.starts_with(&format!("{flag}=")));
        let var = format!("RUMPROPS_{}", flag.trim_start_matches('-').replace('-', "_").to_uppercase());
        if flag.starts_with("--") && !given && std::env::var_os(&var).is_some() {
            format!("{flag} (from {var})")
        } else {
            flag.clone()
        }
    };
    let value = ctx(ContextKind::InvalidValue);
    match e.kind() {
        ErrorKind::UnknownArgument if arg.starts_with('-') => format!("unknown option {arg}"),
        ErrorKind::UnknownArgument => format!("unexpected argument {arg:?}"),
        ErrorKind::MissingRequiredArgument => format!("missing {arg}"),
        ErrorKind::InvalidValue if value.is_empty() => format!("{flag} needs a value"),
        ErrorKind::InvalidValue => format!("{}: {value:?} is not one of {}", named(), ctx(ContextKind::ValidValue)),
        ErrorKind::ValueValidation => {
            let why = std::error::Error::source(e).map(|s| s.to_string()).unwrap_or_default();
            format!("{}: invalid value {value:?}: {why}", named())
        }
        ErrorKind::ArgumentConflict if ctx(ContextKind::PriorArg) == arg || ctx(ContextKind::PriorArg).is_empty() => {
            format!("{flag} given twice")
        }
        ErrorKind::ArgumentConflict => format!("{arg} cannot be used with {}", ctx(ContextKind::PriorArg)),
        ErrorKind::InvalidSubcommand => format!("unknown command {:?}", ctx(ContextKind::InvalidSubcommand)),
        _ => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            first.strip_prefix("error: ").unwrap_or(first).to_owned()
        }
    }
}

/// `rumprops serve` with its arguments: runs until SIGTERM or Ctrl-C.
pub fn serve(args: &[String]) -> Result<String, String> {
    run_serve(&parse::<ServeArgs>("serve", args)?)
}

/// `rumprops serve` with parsed options.
pub fn run_serve(args: &ServeArgs) -> Result<String, String> {
    let config = args.config()?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let static_dir = config.static_dir.clone();
        let auth = config.auth;
        let server = Server::bind(config).await?;
        let addr = server.local_addr()?;
        // The banner may go to a closed pipe (a supervisor that read the address and left):
        // a failed write must not stop the collector.
        let mut banner = format!(
            "rumprops collector listening on http://{addr}\n  beacons: POST http://{addr}/beacon\n  USQL:    GET  http://{addr}/api/v1/userSessionQueryLanguage/table?query=…\n"
        );
        if static_dir.is_some() {
            banner.push_str(&format!("  pages:   http://{addr}/  (the app: http://{addr}/app/)\n"));
        }
        if auth {
            banner.push_str("  access:  every endpoint but /beacon needs Authorization: Api-Token <token> (rumprops token create)\n");
        } else {
            banner.push_str("  access:  --no-auth: NO TOKENS NEEDED, anyone who reaches this address reads every session (local demos only)\n");
        }
        let mut out = std::io::stdout();
        let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
        server.run_until_signal().await
    })?;
    let _ = writeln!(std::io::stderr(), "rumprops collector stopped");
    Ok(String::new())
}

/// `rumprops query` with its arguments: the result as an aligned table (or JSON with `--json`).
pub fn query(args: &[String]) -> Result<String, String> {
    run_query(&parse::<QueryArgs>("query", args)?)
}

/// `rumprops query` with parsed options.
pub fn run_query(args: &QueryArgs) -> Result<String, String> {
    let text = &args.query;
    let mut qo = QueryOptions::now(args.session_timeout_ms);
    qo.include_live = args.include_live;
    let result = match (&args.store, &args.db) {
        (Some(url), _) => {
            let mut ch = crate::clickhouse::ClickHouse::new(url.clone()).map_err(|e| e.to_string())?;
            ch.set_rollups(args.rollups);
            usql::clickhouse::run(&ch, text, &qo)
        }
        (None, Some(db)) => {
            if !db.exists() {
                return Err(format!("no database at {}", db.display()));
            }
            // The same open as `serve`: a file that a collector is creating this instant, or one
            // of an older schema, is migrated under the exclusive lock (or waited for) instead of
            // refused.
            let conn = store::open(db).map_err(|e| e.to_string())?;
            usql::run(&conn, text, &qo)
        }
        (None, None) => return Err("--db or --store names the beacons to query".to_owned()),
    };
    let result = result.map_err(|e| match e {
        usql::QueryError::Invalid(e) => format!("{}\n  {text}\n  {}^", e.message, " ".repeat(e.position)),
        other => other.to_string(),
    })?;
    if args.json {
        return Ok(serde_json::json!({"columnNames": result.column_names, "values": result.values}).to_string());
    }
    Ok(render_table(&result))
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Renders a result as an aligned text table: numbers right-aligned, text left-aligned, and a
/// row count underneath.
pub fn render_table(r: &QueryResult) -> String {
    let rows: Vec<Vec<String>> = r.values.iter().map(|row| row.iter().map(cell).collect()).collect();
    let numeric: Vec<bool> = (0..r.column_names.len())
        .map(|i| r.values.iter().all(|row| row.get(i).is_some_and(|v| v.is_number() || v.is_null())))
        .collect();
    let widths: Vec<usize> = r
        .column_names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            rows.iter().filter_map(|row| row.get(i)).map(|c| c.chars().count()).chain([name.chars().count()]).max().unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String], out: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let w = widths.get(i).copied().unwrap_or(0);
                if numeric.get(i).copied().unwrap_or(false) {
                    format!("{c:>w$}")
                } else {
                    format!("{c:<w$}")
                }
            })
            .collect();
        out.push_str(parts.join(" | ").trim_end());
        out.push('\n');
    };
    let mut out = String::new();
    line(&r.column_names, &mut out);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&rule.join("-+-"));
    out.push('\n');
    for row in &rows {
        line(row, &mut out);
    }
    out.push_str(&format!("({} row{})", rows.len(), if rows.len() == 1 { "" } else { "s" }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_aligned() {
        let r = QueryResult {
            column_names: vec!["Loyalty status".into(), "n".into()],
            is_branch: vec![true, false],
            values: vec![vec!["Gold".into(), 12.into()], vec!["Platinum".into(), 3.into()]],
        };
        assert_eq!(
            render_table(&r),
            "Loyalty status |  n\n---------------+---\nGold           | 12\nPlatinum       |  3\n(2 rows)"
        );
    }

    #[test]
    fn serve_arguments() {
        let args: Vec<String> = ["--db", "x.db", "--addr", "127.0.0.1:0", "--allow-origin", "https://a", "--allow-origin", "https://b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let c = parse::<ServeArgs>("serve", &args).unwrap().config().unwrap();
        assert_eq!(c.allow_origins, vec!["https://a", "https://b"]);
        assert_eq!(c.session_timeout_ms, DEFAULT_SESSION_TIMEOUT_MS);
        assert_eq!(c.rate_limit, RateLimit::default());
        let e = parse::<ServeArgs>("serve", &args[..2]).unwrap_err();
        assert!(e.starts_with("missing --addr"), "{e}");
        let mut bad = args.clone();
        bad.push("--bogus".into());
        assert_eq!(parse::<ServeArgs>("serve", &bad).unwrap_err(), "unknown option --bogus");
        let twice: Vec<String> = ["--db", "a", "--db", "b", "--addr", "127.0.0.1:0"].iter().map(|s| s.to_string()).collect();
        assert_eq!(parse::<ServeArgs>("serve", &twice).unwrap_err(), "--db given twice");
        let neg: Vec<String> = ["--db", "a", "--addr", "127.0.0.1:0", "--session-timeout-ms", "-5"].iter().map(|s| s.to_string()).collect();
        assert!(parse::<ServeArgs>("serve", &neg).unwrap_err().starts_with("--session-timeout-ms"));
        let addr: Vec<String> = ["--db", "a", "--addr", "localhost"].iter().map(|s| s.to_string()).collect();
        let e = parse::<ServeArgs>("serve", &addr).unwrap_err();
        assert!(e.starts_with("--addr: invalid value \"localhost\": expected HOST:PORT"), "{e}");
        let burst: Vec<String> = ["--db", "a", "--addr", "127.0.0.1:0", "--rate-burst", "0"].iter().map(|s| s.to_string()).collect();
        assert!(parse::<ServeArgs>("serve", &burst).unwrap().config().unwrap_err().contains("--rate-burst"));
    }

    #[test]
    fn cluster_arguments() {
        let args = |extra: &[&str]| -> Vec<String> {
            ["--db", "a", "--addr", "127.0.0.1:0"].iter().chain(extra).map(|s| s.to_string()).collect()
        };
        let c = parse::<ServeArgs>("serve", &args(&["--store", "clickhouse://ch/rum", "--cluster", "two_shards"])).unwrap().config().unwrap();
        assert_eq!(c.cluster.as_deref(), Some("two_shards"));
        assert_eq!(c.store.unwrap().database, "rum");
        let c = parse::<ServeArgs>("serve", &args(&["--store", "clickhouse://ch/rum", "--cluster", "r", "--replicated"])).unwrap().config().unwrap();
        assert!(c.replicated);
        let e = parse::<ServeArgs>("serve", &args(&["--store", "clickhouse://ch/rum", "--replicated"])).unwrap().config().unwrap_err();
        assert!(e.contains("--replicated") && e.contains("needs --cluster"), "{e}");
        let e = parse::<ServeArgs>("serve", &args(&["--cluster", "two_shards"])).unwrap().config().unwrap_err();
        assert!(e.contains("--cluster") && e.contains("needs --store"), "{e}");
        let e = parse::<ServeArgs>("serve", &args(&["--store", "clickhouse://ch/rum", "--cluster", "a-b"])).unwrap_err();
        assert!(e.starts_with("--cluster: invalid value \"a-b\""), "{e}");
    }

    #[test]
    fn batch_arguments() {
        use crate::writer::Batching;
        let args = |extra: &[&str]| -> Vec<String> {
            ["--db", "a", "--addr", "127.0.0.1:0"].iter().chain(extra).map(|s| s.to_string()).collect()
        };
        let c = parse::<ServeArgs>("serve", &args(&["--store", "clickhouse://ch/rum"])).unwrap().config().unwrap();
        assert_eq!(c.clickhouse_batching, Batching::CLICKHOUSE);
        let c = parse::<ServeArgs>("serve", &args(&["--store", "clickhouse://ch/rum", "--batch-max-beacons", "8", "--batch-max-wait-ms", "0"]))
            .unwrap()
            .config()
            .unwrap();
        assert_eq!(c.clickhouse_batching, Batching { max_beacons: 8, max_wait: Duration::ZERO });
        let e = parse::<ServeArgs>("serve", &args(&["--batch-max-wait-ms", "50"])).unwrap().config().unwrap_err();
        assert!(e.contains("need --store"), "{e}");
        let e = parse::<ServeArgs>("serve", &args(&["--store", "clickhouse://ch/rum", "--batch-max-beacons", "0"])).unwrap_err();
        assert!(e.starts_with("--batch-max-beacons: invalid value \"0\""), "{e}");
    }
}
