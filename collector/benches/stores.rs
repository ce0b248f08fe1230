//! SQLite and ClickHouse side by side (not a test): ingest through the collector's HTTP path and
//! USQL latencies at 1M and 10M actions, in one run on one machine.
//!
//! Two `rumprops serve` processes (this package's binary): one on a SQLite file, one with
//! `--store clickhouse://…` on Debian's clickhouse-server, started on free loopback ports by
//! `tests/common/clickhouse.rs` (as the tests do; a bench that cannot start it fails).
//!
//! - Ingest: the same posted sample (`RUMPROPS_BENCH_POSTED` sessions of 10 actions, the
//!   beacons of `benches/data`) to each collector by `RUMPROPS_BENCH_CLIENTS` (256) kept-alive
//!   clients, as many browsers post at once (each waits for its answer, and the ClickHouse
//!   collector inserts a batch when 256 beacons are waiting or the oldest has waited 1 s);
//!   every beacon answered 204; actions/s from the first post to the last answer.
//! - Loading the rest, to 1M and then 10M actions: posting 10M actions through HTTP would take an
//!   hour, so the rest goes in fast, the same sessions on both stores. SQLite: the store's own
//!   ingest path in-process (`store::ingest_group`, 64 beacons per transaction, the collector
//!   stopped meanwhile). ClickHouse: `INSERT … SELECT` from `numbers()` cross-joined with the
//!   rows the collector stored for session 0, replacing only what depends on the session number
//!   (sid, times, day, the tier…). Before it is used the generator is checked: it rebuilds the
//!   first posted sessions into scratch tables, which must equal the stored rows column by column.
//!   Then `OPTIMIZE TABLE … FINAL` until each partition is one part (as a store settles). The two
//!   stores load at the same time (nothing else is timed meanwhile).
//! - Queries: each USQL query over the collectors' `/api/v1/userSessionQueryLanguage/table`,
//!   one warm-up then `RUMPROPS_BENCH_RUNS` timed runs, p50 and p95; both stores' answers must
//!   be equal. A ClickHouse collector that does not answer USQL yet gets the equivalent
//!   ClickHouse SQL sent to the server directly instead (labelled so in the output).
//!
//! `CARGO_PROFILE_RELEASE_PANIC=unwind cargo bench -p rumprops-collector --bench stores`;
//! `RUMPROPS_BENCH_ACTIONS` (`1000000,10000000`), `RUMPROPS_BENCH_POSTED` (5,000 sessions),
//! `RUMPROPS_BENCH_RUNS` (7; a list gives one per size), `RUMPROPS_BENCH_CLIENTS` (256),
//! `RUMPROPS_BENCH_SQLITE_ACTIONS` (the largest size: SQLite loaded and queried up to it). The last line is `stores-json: {…}` for `bench/run.mjs`.

use rumprops_collector::beacon::parse_beacon;
use rumprops_collector::store;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod data;
mod stats;
use stats::quantile;
use data::{beacon_text, ACTIONS_PER_SESSION};
#[path = "../tests/common/mod.rs"]
mod common;
use common::encode;

/// The user agent every posted beacon carries (and the loaded ones are stored with).
const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
/// How the collector stores a loopback client's address (masked, the default).
const STORED_IP: &str = "127.0.0.0";
/// The time frame of every query: all the generated sessions (session `i` starts at
/// 1,732,000,000,000 + i s).
const FRAME: (i64, i64) = (1_731_990_000_000, 1_733_200_000_000);
/// Sessions the generator is checked on.
const CHECKED: usize = 300;

/// The queries people run, as the app and the API send them.
const QUERIES: [(&str, &str); 6] = [
    ("COUNT of sessions", "SELECT COUNT(*) FROM usersession"),
    ("GROUP BY an action property", "SELECT stringProperties.page, COUNT(*) FROM useraction GROUP BY stringProperties.page"),
    (
        "GROUP BY a session property",
        "SELECT stringProperties.loyalty_status, COUNT(*), AVG(duration) FROM usersession GROUP BY stringProperties.loyalty_status",
    ),
    ("percentiles of a timing, by action name", "SELECT name, MEDIAN(duration), PERCENTILE(duration, 95) FROM useraction GROUP BY name"),
    ("filter by an action property", "SELECT COUNT(*), AVG(duration) FROM useraction WHERE longProperties.items >= 5"),
    (
        "DATETIME histogram of actions, 1h buckets",
        "SELECT DATETIME(startTime, 'yyyy-MM-dd HH:mm', '1h'), COUNT(*) FROM useraction GROUP BY DATETIME(startTime, 'yyyy-MM-dd HH:mm', '1h') LIMIT 5000",
    ),
];

fn env_list(name: &str, default: &str) -> Vec<usize> {
    std::env::var(name).unwrap_or_else(|_| default.to_owned()).split(',').map(|v| v.trim().parse().expect(name)).collect()
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------------------
// HTTP: one kept-alive connection, Content-Length or chunked answers.

struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    timeout: Duration,
}

impl Conn {
    fn new(addr: SocketAddr, timeout: Duration) -> Conn {
        Conn { addr, stream: None, timeout }
    }

    /// Sends one request and reads its answer: status and body. A kept-alive connection the
    /// server closed while idle is opened again once.
    fn send(&mut self, method: &str, path: &str, headers: &str, body: &[u8]) -> Result<(u16, String), String> {
        let reused = self.stream.is_some();
        match self.send_once(method, path, headers, body) {
            Err(_) if reused => self.send_once(method, path, headers, body),
            r => r,
        }
    }

    fn send_once(&mut self, method: &str, path: &str, headers: &str, body: &[u8]) -> Result<(u16, String), String> {
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr).map_err(|e| format!("{}: {e}", self.addr))?;
            s.set_nodelay(true).map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(self.timeout)).map_err(|e| e.to_string())?;
            self.stream = Some(s);
        }
        let s = self.stream.as_mut().unwrap();
        let head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n{headers}Content-Length: {}\r\n\r\n", self.addr, body.len());
        let r = (|| {
            s.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
            s.write_all(body).map_err(|e| e.to_string())?;
            read_response(s)
        })();
        match r {
            Ok((status, body, keep)) => {
                if !keep {
                    self.stream = None;
                }
                Ok((status, body))
            }
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }
}

/// Reads one response: status, body, whether the connection stays open.
fn read_response(s: &mut TcpStream) -> Result<(u16, String, bool), String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head.split_whitespace().nth(1).and_then(|v| v.parse().ok()).ok_or("no status")?;
    let header = |name: &str| head.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()));
    let keep = header("connection:").is_none_or(|v| v != "close");
    let mut body = buf[head_end..].to_vec();
    if let Some(len) = header("content-length:") {
        let len: usize = len.parse().map_err(|_| "bad content-length")?;
        while body.len() < len {
            let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("answer cut".into());
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if header("transfer-encoding:").is_some_and(|v| v.contains("chunked")) {
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            // One chunk: its size line, then its bytes and CRLF.
            let line_end = loop {
                if let Some(p) = body[at..].windows(2).position(|w| w == b"\r\n") {
                    break at + p;
                }
                let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("answer cut".into());
                }
                body.extend_from_slice(&chunk[..n]);
            };
            let size_text = String::from_utf8_lossy(&body[at..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).map_err(|_| "bad chunk size")?;
            let need = line_end + 2 + size + 2;
            while body.len() < need {
                let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("answer cut".into());
                }
                body.extend_from_slice(&chunk[..n]);
            }
            if size == 0 {
                break;
            }
            out.extend_from_slice(&body[line_end + 2..line_end + 2 + size]);
            at = need;
        }
        body = out;
    } else if status != 204 && status != 304 {
        // Neither: the body runs to the end of the connection.
        s.read_to_end(&mut body).map_err(|e| e.to_string())?;
        return Ok((status, String::from_utf8_lossy(&body).into_owned(), false));
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned(), keep))
}

// ---------------------------------------------------------------------------------------------
// ClickHouse over HTTP, with room for long statements (the loads, OPTIMIZE).

struct Ch {
    conn: Conn,
    db: String,
}

impl Ch {
    fn query(&mut self, sql: &str) -> Result<String, String> {
        let path = format!("/?database={}", self.db);
        // A connection of its own per statement: ClickHouse closes idle ones after a few seconds.
        self.conn.stream = None;
        match self.conn.send("POST", &path, "", sql.as_bytes())? {
            (200, body) => Ok(body),
            (status, body) => Err(format!("ClickHouse answered {status}: {}", body.trim())),
        }
    }

    fn run(&mut self, sql: &str) -> String {
        self.query(sql).unwrap_or_else(|e| panic!("{e}\n  in: {sql}"))
    }

    fn scalar(&mut self, sql: &str) -> i64 {
        let t = self.run(sql);
        t.trim().parse().unwrap_or_else(|_| panic!("not a number: {t:?} from {sql}"))
    }

    /// `(name, type)` of a table's columns, in order.
    fn columns(&mut self, table: &str) -> Vec<(String, String)> {
        let db = self.db.clone();
        self.run(&format!("SELECT name, type FROM system.columns WHERE database = '{db}' AND table = '{table}' FORMAT TabSeparated"))
            .lines()
            .map(|l| {
                let (n, t) = l.split_once('\t').unwrap();
                (n.to_owned(), t.to_owned())
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Collector processes.

struct Collector {
    child: Child,
    addr: SocketAddr,
}

impl Collector {
    fn spawn(db: &Path, store: Option<&str>, log: &Path) -> Collector {
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rumprops"));
        cmd.arg("serve").arg("--db").arg(db).arg("--addr").arg(addr.to_string());
        cmd.args(["--no-auth", "--rate-per-sec", "1000000000", "--rate-burst", "1000000000"]);
        if let Some(url) = store {
            // Rollups read, sealed by the bench (`rumprops seal`) once the load is in.
            cmd.arg("--store").arg(url).args(["--rollups", "--seal-interval-ms", "0"]);
        }
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        cmd.stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log);
        let child = cmd.spawn().expect("rumprops serve");
        let c = Collector { child, addr };
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut conn = Conn::new(addr, Duration::from_secs(5));
        loop {
            if matches!(conn.send("GET", "/readyz", "", b""), Ok((200, _))) {
                return c;
            }
            assert!(Instant::now() < deadline, "the collector on {addr} did not get ready");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Posts `bodies` with `clients` kept-alive connections until every beacon is answered 204; a
/// 503 (store unavailable) is posted again after 50 ms, as the agent's outbox would (sooner
/// than its `Retry-After`, to keep the clock on the store). Returns the seconds from the first
/// post to the last answer and the number of 503s.
fn post_all(addr: SocketAddr, bodies: &[String], clients: usize) -> (f64, usize) {
    let t = Instant::now();
    let retries: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|c| {
                scope.spawn(move || {
                    let mut conn = Conn::new(addr, Duration::from_secs(60));
                    let headers = format!("Content-Type: text/plain;charset=UTF-8\r\nUser-Agent: {UA}\r\n");
                    let mut retries = 0;
                    for body in bodies.iter().skip(c).step_by(clients) {
                        loop {
                            match conn.send("POST", "/beacon", &headers, body.as_bytes()).expect("post") {
                                (204, _) => break,
                                (503, _) if retries < 1000 => {
                                    retries += 1;
                                    std::thread::sleep(Duration::from_millis(50));
                                }
                                (status, text) => panic!("beacon refused with {status}: {text}"),
                            }
                        }
                    }
                    retries
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    (t.elapsed().as_secs_f64(), retries)
}

// ---------------------------------------------------------------------------------------------
// Fast loads.

/// Stores sessions `from..to` in the SQLite file through the store's ingest path.
fn sqlite_load(db: &Path, from: usize, to: usize) {
    let mut conn = store::open(db).unwrap();
    let now = store::now_ms();
    let client = store::ClientInfo { user_agent: Some(UA.to_owned()), ip: Some(STORED_IP.to_owned()), geo: Default::default() };
    let mut i = from;
    while i < to {
        let end = (i + 64).min(to);
        let group: Vec<store::Pending> = (i..end).map(|k| (parse_beacon(beacon_text(k).as_bytes()).unwrap(), client.clone())).collect();
        for r in store::ingest_group(&mut conn, &group, &Default::default(), now).unwrap() {
            r.unwrap();
        }
        i = end;
    }
}

/// What depends on the session number `i` (and the action number `k`) in `benches/data`, as
/// ClickHouse expressions; every other column is copied from session 0's stored rows.
fn generated(table: &str) -> Vec<(&'static str, &'static str)> {
    const SID: &str = "concat('s', substring(toString(100000000 + i), 2))";
    match table {
        "actions" => vec![
            ("sid", SID),
            ("day", "toDate(toDateTime(intDiv(1732000000000 + i * 1000 + k * 500, 1000), 'UTC'))"),
            ("start_time", "1732000000000 + i * 1000 + k * 500"),
            ("end_time", "1732000000000 + i * 1000 + k * 500 + 120"),
            ("request_errors", "toInt64((i + k) % 3 = 0)"),
        ],
        "beacons" => vec![
            ("sid", SID),
            ("day", "toDate(toDateTime(intDiv(1732000000000 + i * 1000, 1000), 'UTC'))"),
            ("sent_at", "1732000000000 + i * 1000"),
            ("session_start", "1732000000000 + i * 1000"),
            ("vid", "concat('v', toString(i))"),
            ("user_id", "concat('user', toString(i % 1000))"),
            ("string_values", "[arrayElement(['Gold', 'Silver', 'Bronze', 'Platinum'], i % 4 + 1)]"),
            ("long_values", "[toInt64(i % 50)]"),
        ],
        _ => unreachable!(),
    }
}

/// Writes sessions `from..to` into `into` (a table shaped like `table`) from session 0's rows.
fn ch_generate(ch: &mut Ch, table: &str, into: &str, from: usize, to: usize) {
    let gen = generated(table);
    let cols = ch.columns(table);
    let exprs: Vec<String> = cols
        .iter()
        .map(|(name, ty)| match gen.iter().find(|(n, _)| n == name) {
            Some((_, e)) => format!("CAST({e} AS {ty})"),
            None => format!("t.{name}"),
        })
        .collect();
    let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
    // The action's number from its id (`a0` … `a9`); beacons have none.
    let k = if table == "actions" { ", toInt64(substring(action_id, 2)) AS k" } else { "" };
    let step = 100_000;
    let mut i = from;
    while i < to {
        let n = step.min(to - i);
        ch.run(&format!(
            "INSERT INTO {into} ({}) SELECT {} FROM (SELECT toInt64(number) + {i} AS i FROM system.numbers LIMIT {n}) \
             CROSS JOIN (SELECT *{k} FROM {table} WHERE sid = 's00000000') AS t",
            names.join(", "),
            exprs.join(", ")
        ));
        i += n;
    }
}

/// Seals the loaded hours into rollups with `rumprops seal` and returns its time. The generator
/// writes rows with the posted sample's receipt times, which a seal cannot tell from rows that
/// were there, so every earlier seal is withdrawn first; and a seal takes an hour only once its
/// newest beacon is `SEAL_MARGIN_MS` old, so this waits that long after the posts.
fn seal(ch: &mut Ch, store_url: &str, posted_at: Instant) -> f64 {
    let now = store::now_ms();
    ch.run(&format!("INSERT INTO rollup_seals (hour, gen, sealed_at, timeout_ms) SELECT DISTINCT hour, 0, {now}, 0 FROM rollup_seals"));
    let margin = Duration::from_millis(rumprops_collector::rollups::SEAL_MARGIN_MS as u64 + 2_000);
    if let Some(left) = margin.checked_sub(posted_at.elapsed()) {
        println!("waiting {:.0} s for the posted beacons to settle", left.as_secs_f64());
        std::thread::sleep(left);
    }
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_rumprops")).args(["seal", "--store", store_url]).output().expect("rumprops seal");
    assert!(out.status.success(), "rumprops seal: {}", String::from_utf8_lossy(&out.stderr));
    println!("  {}", String::from_utf8_lossy(&out.stdout).trim());
    t.elapsed().as_secs_f64()
}

/// `OPTIMIZE TABLE … FINAL` until every partition of `table` is one part: 18.16 answers it
/// without merging while a background merge holds some of the parts, so it is asked again once
/// that merge is done.
fn ch_optimize(ch: &mut Ch, table: &str) {
    let db = ch.db.clone();
    for _ in 0..300 {
        ch.run(&format!("OPTIMIZE TABLE {table} FINAL"));
        let split = ch.scalar(&format!(
            "SELECT count() FROM (SELECT partition FROM system.parts WHERE database = '{db}' AND table = '{table}' AND active \
             GROUP BY partition HAVING count() > 1)"
        ));
        if split == 0 {
            return;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    panic!("{table}: partitions of several parts after 300 OPTIMIZE … FINAL");
}

/// Rebuilds the first [`CHECKED`] posted sessions with the generator into scratch tables and
/// compares them with what the collector stored, column by column (`received_at`, the ingest
/// time, aside).
fn ch_check_generator(ch: &mut Ch) {
    for (table, key) in [("actions", "sid, action_id"), ("beacons", "sid, seq")] {
        let scratch = format!("{table}_generated");
        ch.run(&format!("DROP TABLE IF EXISTS {scratch}"));
        ch.run(&format!("CREATE TABLE {scratch} AS {table}"));
        ch_generate(ch, table, &scratch, 0, CHECKED);
        let cols: Vec<String> = ch.columns(table).into_iter().map(|(n, _)| n).filter(|n| n != "received_at").collect();
        let list = cols.join(", ");
        let last = format!("s{CHECKED:08}");
        let stored = ch.run(&format!("SELECT {list} FROM {table} FINAL WHERE sid < '{last}' ORDER BY {key} FORMAT JSONEachRow"));
        let made = ch.run(&format!("SELECT {list} FROM {scratch} ORDER BY {key} FORMAT JSONEachRow"));
        let (a, b): (Vec<&str>, Vec<&str>) = (stored.lines().collect(), made.lines().collect());
        assert!(!a.is_empty(), "no stored {table} rows to check the generator on");
        assert_eq!(a.len(), b.len(), "{table}: {} stored rows, {} generated", a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x, y, "{table}: the generator's row differs from the stored one");
        }
        ch.run(&format!("DROP TABLE {scratch}"));
        println!("generator check: {} {table} rows of {CHECKED} sessions equal the stored ones", a.len());
    }
}

// ---------------------------------------------------------------------------------------------
// Queries.

/// The equivalent ClickHouse SQL of [`QUERIES`], for a collector that does not translate USQL
/// to ClickHouse yet: sessions folded from their beacons (`FINAL`, `argMax` by `seq`), closed
/// ones in the time frame; action rows deduplicated with `FINAL`.
fn hand_sql(label: &str, now_ms: i64, timeout_ms: i64) -> String {
    let (from, to) = FRAME;
    let cutoff = now_ms - timeout_ms;
    let sessions = format!(
        "SELECT sid, min(session_start) AS start_time, argMax(ended, seq) AS end_reason, max(received_at) AS last_seen, \
         argMax(if(indexOf(string_keys, 'loyalty_status') = 0, NULL, string_values[indexOf(string_keys, 'loyalty_status')]), seq) AS tier \
         FROM beacons FINAL GROUP BY sid \
         HAVING (end_reason IS NOT NULL OR last_seen <= {cutoff}) AND start_time >= {from} AND start_time <= {to}"
    );
    // The action columns a query reads, of closed sessions in the frame.
    let actions = |cols: &str| format!("SELECT {cols} FROM actions FINAL WHERE sid IN (SELECT sid FROM ({sessions}))");
    let prop = |ty: &str, key: &str| format!("if(indexOf({ty}_keys, '{key}') = 0, NULL, {ty}_values[indexOf({ty}_keys, '{key}')])");
    // Linear interpolation between the closest ranks, as the SQLite store computes it.
    let pct = |p: f64| {
        format!(
            "arrayElement(v, toUInt64(floor((length(v) - 1) * {p})) + 1) + \
             (arrayElement(v, toUInt64(ceil((length(v) - 1) * {p})) + 1) - arrayElement(v, toUInt64(floor((length(v) - 1) * {p})) + 1)) \
             * ((length(v) - 1) * {p} - floor((length(v) - 1) * {p}))"
        )
    };
    match label {
        "COUNT of sessions" => format!("SELECT count() FROM ({sessions})"),
        "GROUP BY an action property" => {
            format!("SELECT {} AS g, count() FROM ({}) GROUP BY g ORDER BY g LIMIT 1000", prop("string", "page"), actions("string_keys, string_values"))
        }
        "GROUP BY a session property" => format!(
            "SELECT tier AS g, count(), avg(d) FROM (SELECT sid, tier FROM ({sessions})) ANY LEFT JOIN \
             (SELECT sid, max(end_time) - min(start_time) AS d FROM actions FINAL GROUP BY sid) USING sid GROUP BY g ORDER BY g LIMIT 1000"
        ),
        "percentiles of a timing, by action name" => format!(
            "SELECT name, {}, {} FROM (SELECT name, arraySort(groupArray(end_time - start_time)) AS v FROM ({}) GROUP BY name) ORDER BY name LIMIT 1000",
            pct(0.5),
            pct(0.95),
            actions("name, start_time, end_time")
        ),
        "filter by an action property" => {
            format!(
                "SELECT count(), avg(end_time - start_time) FROM ({}) WHERE {} >= 5",
                actions("start_time, end_time, long_keys, long_values"),
                prop("long", "items")
            )
        }
        "DATETIME histogram of actions, 1h buckets" => format!(
            "SELECT formatDateTime(toDateTime(intDiv(start_time, 3600000) * 3600, 'UTC'), '%Y-%m-%d %H:%M') AS b, count() \
             FROM ({}) GROUP BY b ORDER BY b LIMIT 5000",
            actions("start_time")
        ),
        _ => unreachable!("{label}"),
    }
}

/// Where the time of the GROUP BY an action property goes on ClickHouse: the same grouping with
/// and without `FINAL` and the session fold, as SQL sent to the server.
fn anatomy(ch: &mut Ch, runs: usize) -> Vec<Value> {
    let full = hand_sql("GROUP BY an action property", store::now_ms(), store::DEFAULT_SESSION_TIMEOUT_MS);
    let g = "if(indexOf(string_keys, 'page') = 0, NULL, string_values[indexOf(string_keys, 'page')])";
    let sessions = hand_sql("COUNT of sessions", store::now_ms(), store::DEFAULT_SESSION_TIMEOUT_MS);
    let variants = [
        ("closed sessions in the time frame (folded from beacons, FINAL), their actions with FINAL", full),
        ("actions with FINAL, no session condition", format!("SELECT {g} AS g, count() FROM actions FINAL GROUP BY g ORDER BY g")),
        (
            "actions deduplicated by a subquery (argMax by seq per sid, action id) instead of FINAL, no session condition",
            format!("SELECT g, count() FROM (SELECT argMax({g}, seq) AS g FROM actions GROUP BY sid, action_id) GROUP BY g ORDER BY g"),
        ),
        (
            "actions without FINAL, no session condition (a lower bound: would count a resent beacon twice)",
            format!("SELECT {g} AS g, count() FROM actions GROUP BY g ORDER BY g"),
        ),
        ("the session fold alone (COUNT of sessions)", sessions),
    ];
    let mut out = Vec::new();
    for (label, sql) in variants {
        let r = timed(runs, || ch.query(&sql));
        match &r {
            Ok((p50, p95, ..)) => println!("  anatomy: {label}: p50 {p50:.1} ms, p95 {p95:.1} ms"),
            Err(e) => println!("  anatomy: {label}: failed: {e}"),
        }
        out.push(match r {
            Ok((p50, p95, ..)) => json!({ "label": label, "sql": sql, "p50": round2(p50), "p95": round2(p95) }),
            Err(e) => json!({ "label": label, "sql": sql, "error": e }),
        });
    }
    out
}

/// Times `run` once to warm up and then `runs` times: (p50, p95, the answer of the last run).
fn timed(runs: usize, mut run: impl FnMut() -> Result<String, String>) -> Result<(f64, f64, Vec<f64>, String), String> {
    run()?;
    let mut times = Vec::new();
    let mut last = String::new();
    for _ in 0..runs {
        let t = Instant::now();
        last = run()?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((quantile(&times, 0.5), quantile(&times, 0.95), times, last))
}

fn usql_path(q: &str) -> String {
    format!(
        "/api/v1/userSessionQueryLanguage/table?query={}&startTimestamp={}&endTimestamp={}",
        encode(q),
        FRAME.0,
        FRAME.1
    )
}

/// Runs the queries on both stores at one size.
fn run_queries(sqlite: Option<SocketAddr>, clickhouse: SocketAddr, ch: &mut Ch, runs: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let timeout = Duration::from_secs(600);
    let mut sq = sqlite.map(|a| Conn::new(a, timeout));
    let mut cq = Conn::new(clickhouse, timeout);
    for (label, q) in QUERIES {
        let path = usql_path(q);
        let get = |c: &mut Conn| -> Result<String, String> {
            match c.send("GET", &path, "", b"")? {
                (200, body) => Ok(body),
                (status, body) => Err(format!("{status}: {}", body.trim())),
            }
        };
        let s = match &mut sq {
            Some(c) => timed(runs, || get(c)),
            None => Err("not loaded at this size".to_owned()),
        };
        // The ClickHouse collector's answer to the query, or, while it does not translate USQL,
        // the equivalent SQL sent to ClickHouse.
        let (via, c) = match get(&mut cq) {
            Err(e) if e.contains("not yet translated") => {
                let sql = hand_sql(label, store::now_ms(), store::DEFAULT_SESSION_TIMEOUT_MS);
                ("ClickHouse SQL sent to the server (the collector does not translate USQL yet)", timed(runs, || ch.query(&sql)))
            }
            _ => ("USQL over the ClickHouse collector's HTTP API", timed(runs, || get(&mut cq))),
        };
        let rows = |body: &str| -> Value {
            serde_json::from_str::<Value>(body).ok().and_then(|v| v.get("values").cloned()).unwrap_or(Value::Null)
        };
        let stat = |r: &Result<(f64, f64, Vec<f64>, String), String>| match r {
            Ok((p50, p95, times, _)) => json!({ "p50": round2(*p50), "p95": round2(*p95), "runs": times.iter().map(|t| round2(*t)).collect::<Vec<_>>() }),
            Err(e) => json!({ "error": e }),
        };
        let same = match (&s, &c) {
            (Ok(a), Ok(b)) if via.starts_with("USQL") => Some(rows(&a.3) == rows(&b.3)),
            _ => None,
        };
        let line = |r: &Result<(f64, f64, Vec<f64>, String), String>| match r {
            Ok((p50, p95, ..)) => format!("p50 {p50:.1} ms, p95 {p95:.1} ms"),
            Err(e) => format!("failed: {e}"),
        };
        println!("  {label}: SQLite {}; ClickHouse {} ({via})", line(&s), line(&c));
        if let Some(false) = same {
            println!("    answers differ:\n    SQLite     {}\n    ClickHouse {}", s.as_ref().unwrap().3, c.as_ref().unwrap().3);
        }
        let sqlite_rows = s.as_ref().ok().map(|r| rows(&r.3));
        out.push(json!({
            "label": label, "usql": q, "sqlite": stat(&s), "clickhouse": stat(&c), "clickhouseVia": via,
            "same": same, "sqliteAnswer": sqlite_rows,
        }));
    }
    out
}

// ---------------------------------------------------------------------------------------------

fn main() {
    let sizes = env_list("RUMPROPS_BENCH_ACTIONS", "1000000,10000000");
    let posted = env_list("RUMPROPS_BENCH_POSTED", "5000")[0];
    // Timed runs per query at each size (the last figure for the sizes after).
    let runs_at = env_list("RUMPROPS_BENCH_RUNS", "7");
    let clients = env_list("RUMPROPS_BENCH_CLIENTS", "256")[0];
    // SQLite is loaded and queried up to this size only (its load runs at a few thousand
    // actions/s on this machine, so 10M takes the better part of an hour).
    let sqlite_max = env_list("RUMPROPS_BENCH_SQLITE_ACTIONS", &sizes.iter().max().unwrap().to_string())[0];
    assert!(posted > CHECKED, "RUMPROPS_BENCH_POSTED must be over {CHECKED}");
    let dir = tempfile::Builder::new().prefix("rumprops-stores-").tempdir().unwrap();
    let log = dir.path().join("collectors.log");
    let sqlite_db = dir.path().join("bench.db");

    let server = common::clickhouse::server();
    let database = "bench";
    let mut ch = Ch { conn: Conn::new(server.http, Duration::from_secs(1800)), db: "default".to_owned() };
    ch.run(&format!("CREATE DATABASE {database}"));
    ch.db = database.to_owned();
    let version = ch.run("SELECT version()").trim().to_owned();
    let store_url = server.store_url(database);
    let ch_home = dir.path().join("ch-home.db");
    println!("ClickHouse {version} on {}; SQLite file {}", server.http, sqlite_db.display());

    // Ingest: the same sample through each collector's HTTP path.
    let bodies: Vec<String> = (0..posted).map(beacon_text).collect();
    let mut ingest = json!({});
    let mut sqlite = Some(Collector::spawn(&sqlite_db, None, &log));
    let clickhouse = Collector::spawn(&ch_home, Some(&store_url), &log);
    for (name, addr) in [("sqlite", sqlite.as_ref().unwrap().addr), ("clickhouse", clickhouse.addr)] {
        let (secs, retries) = post_all(addr, &bodies, clients);
        let actions = posted * ACTIONS_PER_SESSION;
        println!(
            "ingest over HTTP into {name} ({clients} clients, keep-alive): {posted} beacons, {actions} actions in {secs:.2} s = {:.0} actions/s ({retries} answered 503 and posted again)",
            actions as f64 / secs
        );
        ingest[name] = json!({ "clients": clients, "retries": retries, "beacons": posted, "actions": actions, "secs": round2(secs), "actionsPerSec": (actions as f64 / secs).round() });
    }
    let posted_at = Instant::now();
    let stored = ch.scalar("SELECT count() FROM actions FINAL");
    assert_eq!(stored as usize, posted * ACTIONS_PER_SESSION, "ClickHouse holds {stored} actions after the posts");
    ch_check_generator(&mut ch);

    let mut at_sizes = Vec::new();
    let mut have = posted;
    for (n, actions) in sizes.into_iter().enumerate() {
        let runs = runs_at[n.min(runs_at.len() - 1)];
        let sessions = actions / ACTIONS_PER_SESSION;
        assert!(sessions >= have, "sizes must grow and exceed the posted sample");
        // SQLite: the collector stops while the store's ingest path writes the rest.
        // The two loads run side by side (nothing is timed meanwhile but the loads themselves).
        let with_sqlite = actions <= sqlite_max;
        if with_sqlite {
            drop(sqlite.take());
        }
        let (sqlite_secs, ch_secs, optimize_secs) = std::thread::scope(|scope| {
            let db = &sqlite_db;
            let sqlite_loader = scope.spawn(move || {
                let t = Instant::now();
                if with_sqlite {
                    sqlite_load(db, have, sessions);
                }
                t.elapsed().as_secs_f64()
            });
            let t = Instant::now();
            ch_generate(&mut ch, "actions", "actions", have, sessions);
            ch_generate(&mut ch, "beacons", "beacons", have, sessions);
            let ch_secs = t.elapsed().as_secs_f64();
            let t = Instant::now();
            ch_optimize(&mut ch, "actions");
            ch_optimize(&mut ch, "beacons");
            let optimize_secs = t.elapsed().as_secs_f64();
            (sqlite_loader.join().unwrap(), ch_secs, optimize_secs)
        });
        if with_sqlite {
            sqlite = Some(Collector::spawn(&sqlite_db, None, &log));
        }
        let ch_actions = ch.scalar("SELECT count() FROM actions");
        assert_eq!(ch_actions as usize, actions, "ClickHouse holds {ch_actions} action rows");
        let sqlite_bytes = if with_sqlite { std::fs::metadata(&sqlite_db).map(|m| m.len()).unwrap_or(0) } else { 0 };
        let ch_bytes = ch.scalar(&format!("SELECT sum(bytes) FROM system.parts WHERE database = '{database}' AND active"));
        let sqlite_line = if with_sqlite {
            format!("loaded the rest into SQLite in {sqlite_secs:.1} s (file {:.0} MB)", sqlite_bytes as f64 / 1e6)
        } else {
            format!("SQLite not loaded (over RUMPROPS_BENCH_SQLITE_ACTIONS={sqlite_max})")
        };
        println!(
            "{actions} actions ({sessions} sessions): {sqlite_line}; loaded the rest into ClickHouse in {ch_secs:.1} s \
             (+ OPTIMIZE FINAL {optimize_secs:.1} s, parts {:.0} MB)",
            ch_bytes as f64 / 1e6
        );
        let seal_secs = seal(&mut ch, &store_url, posted_at);
        println!("sealed the hours into rollups in {seal_secs:.1} s (rumprops seal)");
        let queries = run_queries(sqlite.as_ref().filter(|_| with_sqlite).map(|c| c.addr), clickhouse.addr, &mut ch, runs);
        let anatomy = anatomy(&mut ch, runs.min(3));
        at_sizes.push(json!({
            "actions": actions, "sessions": sessions, "runs": runs,
            "sqlite": with_sqlite,
            "load": { "sqliteSecs": if with_sqlite { json!(round2(sqlite_secs)) } else { Value::Null }, "clickhouseSecs": round2(ch_secs), "optimizeSecs": round2(optimize_secs), "sealSecs": round2(seal_secs) },
            "bytes": { "sqlite": if with_sqlite { json!(sqlite_bytes) } else { Value::Null }, "clickhouse": ch_bytes },
            "queries": queries, "anatomy": anatomy,
        }));
        have = sessions;
    }
    drop(sqlite);
    drop(clickhouse);
    let out = json!({ "clickhouseVersion": version, "posted": posted, "ingest": ingest, "sizes": at_sizes });
    println!("stores-json: {out}");
}
