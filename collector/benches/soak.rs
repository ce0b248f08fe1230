//! The collector under a bounded soak (not a test): 4 clients posting beacons over kept-alive
//! loopback connections for 60 s while a heavy USQL query loop runs, then every action checked
//! against what was acknowledged. Ingest is reported as a ratio to a raw baseline measured in
//! the same run on the same disk (a plain SQLite insert loop of the same rows), so the figure
//! compares across machines; and the cost of several collectors sharing one SQLite file.
//!
//! `CARGO_PROFILE_RELEASE_PANIC=unwind cargo bench -p rumprops-collector --bench soak`;
//! `RUMPROPS_SOAK_SECS` (60), `RUMPROPS_SOAK_CLIENTS` (4), `RUMPROPS_SOAK_SHARED_SECS` (15),
//! `RUMPROPS_SOAK_PREFILL` (20,000 sessions before the soak, so the queries have work).
//! The last line is `soak-json: {…}` for `bench/run.mjs`.

use rumprops_collector::beacon::parse_beacon;
use rumprops_collector::server::{start_in_thread, ServeConfig};
use rumprops_collector::store;
use serde_json::json;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod data;
use data::{beacon_text, ACTIONS_PER_SESSION};
#[path = "../tests/common/mod.rs"]
mod common;
use common::encode;

/// The soak's sessions are numbered from here (sids of 10 characters, prefill ones have 9).
const SOAK_BASE: usize = 100_000_000;
/// Sessions per client index range.
const PER_CLIENT: usize = 10_000_000;

const QUERIES: [&str; 3] = [
    "SELECT stringProperties.page, COUNT(*) FROM useraction GROUP BY stringProperties.page",
    "SELECT useraction.name, COUNT(*), AVG(useraction.duration) FROM usersession GROUP BY useraction.name",
    "SELECT stringProperties.loyalty_status, AVG(useraction.duration), MAX(useraction.requestErrorCount) FROM usersession GROUP BY stringProperties.loyalty_status",
];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Percentiles (nearest rank) of latencies in ms.
fn percentiles(mut xs: Vec<f64>) -> serde_json::Value {
    xs.sort_by(f64::total_cmp);
    let at = |q: f64| -> f64 {
        if xs.is_empty() {
            return f64::NAN;
        }
        let rank = ((q * xs.len() as f64).ceil() as usize).clamp(1, xs.len());
        (xs[rank - 1] * 100.0).round() / 100.0
    };
    json!({ "n": xs.len(), "p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": at(1.0) })
}

/// A kept-alive HTTP/1.1 connection, reopened after any failure.
struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
}

impl Conn {
    /// Sends one request and returns the status; `None` on a broken connection.
    fn send(&mut self, method: &str, path: &str, body: &[u8]) -> Option<u16> {
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr).ok()?;
            s.set_nodelay(true).ok()?;
            s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
            self.stream = Some(s);
        }
        let s = self.stream.as_mut()?;
        let head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n", body.len());
        let answer = (|| {
            s.write_all(head.as_bytes()).ok()?;
            s.write_all(body).ok()?;
            read_response(s)
        })();
        if !matches!(answer, Some((_, true))) {
            self.stream = None;
        }
        answer.map(|(status, _)| status)
    }
}

/// Reads one response (headers and a `Content-Length` body): its status, and whether the
/// connection stays open.
fn read_response(s: &mut TcpStream) -> Option<(u16, bool)> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let len: usize =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    while raw.len() < end + len {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    Some((status, !head.contains("connection: close")))
}

fn collector(db: &Path) -> SocketAddr {
    let mut cfg = ServeConfig::new(db.to_path_buf(), "127.0.0.1:0".parse().unwrap());
    cfg.rate_limit.per_sec = 1e9;
    cfg.rate_limit.burst = 1e9;
    start_in_thread(cfg).unwrap()
}

/// What the clients got: acknowledged sids, latencies, failed tries.
struct Ingest {
    acked: Vec<String>,
    latencies_ms: Vec<f64>,
    retries: usize,
    secs: f64,
}

/// `clients` threads post beacons for `secs`, client `c` to `addrs[c % addrs.len()]`; a beacon
/// that fails (broken connection, 5xx) is posted again until a 204.
fn ingest(addrs: &[SocketAddr], clients: usize, secs: f64, first: usize) -> Ingest {
    let stop = Arc::new(AtomicBool::new(false));
    let t = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let (stop, addr) = (Arc::clone(&stop), addrs[c % addrs.len()]);
            std::thread::spawn(move || {
                let mut conn = Conn { addr, stream: None };
                let (mut acked, mut lat, mut retries) = (Vec::new(), Vec::new(), 0);
                let mut k = 0;
                while !stop.load(Ordering::Relaxed) {
                    let i = first + c * PER_CLIENT + k;
                    let body = beacon_text(i);
                    loop {
                        let t = Instant::now();
                        match conn.send("POST", "/beacon", body.as_bytes()) {
                            Some(204) => {
                                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                                break;
                            }
                            Some(s) if s < 500 && s != 429 => panic!("beacon refused with {s}"),
                            _ => {
                                retries += 1;
                                std::thread::sleep(Duration::from_millis(10));
                            }
                        }
                    }
                    acked.push(format!("s{i:08}"));
                    k += 1;
                }
                (acked, lat, retries)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    let mut out = Ingest { acked: Vec::new(), latencies_ms: Vec::new(), retries: 0, secs: 0.0 };
    for h in handles {
        let (a, l, r) = h.join().unwrap();
        out.acked.extend(a);
        out.latencies_ms.extend(l);
        out.retries += r;
    }
    out.secs = t.elapsed().as_secs_f64();
    out
}

/// Lost (acknowledged, not all stored), duplicated (stored more than once), and stored without
/// an acknowledgement, over the sessions numbered from `first`.
fn check(db: &Path, acked: &[String], first: usize) -> (usize, usize, usize) {
    let conn = store::open_reader(db).unwrap();
    let min = format!("s{first:08}");
    let mut st = conn
        .prepare("SELECT s.sid, a.action_id, COUNT(*) FROM actions a JOIN sessions s ON s.id = a.session_id WHERE s.sid >= ?1 AND length(s.sid) = length(?1) GROUP BY s.sid, a.action_id")
        .unwrap();
    let mut per_session: HashMap<String, (usize, usize)> = HashMap::new();
    for row in st.query_map([&min], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(2)?))).unwrap() {
        let (sid, n) = row.unwrap();
        let e = per_session.entry(sid).or_insert((0, 0));
        e.0 += 1;
        if n > 1 {
            e.1 += 1;
        }
    }
    let lost = acked.iter().filter(|sid| per_session.get(*sid).map(|e| e.0) != Some(ACTIONS_PER_SESSION)).count();
    let duplicated = per_session.values().map(|e| e.1).sum();
    let acked_set: std::collections::HashSet<&String> = acked.iter().collect();
    let unacked = per_session.keys().filter(|s| !acked_set.contains(s)).count();
    (lost, duplicated, unacked)
}

/// The raw baseline: the rows one beacon becomes (a session, its beacon, 10 actions, their 30
/// property rows and 2 session property rows), inserted by prepared statements in one
/// transaction per beacon, with the collector's pragmas, no parsing and no folding.
fn raw_baseline(db: &Path, beacons: usize) -> f64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    conn.execute_batch(
        "CREATE TABLE sessions (id INTEGER PRIMARY KEY, sid TEXT NOT NULL UNIQUE, app TEXT, start_time INTEGER, end_time INTEGER, end_reason TEXT);
         CREATE TABLE beacons (sid TEXT, seq INTEGER, sent_at INTEGER, PRIMARY KEY (sid, seq)) WITHOUT ROWID;
         CREATE TABLE actions (id INTEGER PRIMARY KEY, session_id INTEGER, action_id TEXT, kind TEXT, name TEXT, start_time INTEGER, end_time INTEGER, url TEXT, requests INTEGER, request_errors INTEGER, js_errors INTEGER);
         CREATE TABLE action_props (action_id INTEGER, type TEXT, key TEXT, value ANY, PRIMARY KEY (action_id, type, key)) WITHOUT ROWID;
         CREATE TABLE session_props (session_id INTEGER, type TEXT, key TEXT, value ANY, PRIMARY KEY (session_id, type, key)) WITHOUT ROWID;",
    )
    .unwrap();
    let t = Instant::now();
    for i in 0..beacons {
        let start = 1_732_000_000_000_i64 + i as i64 * 1000;
        let sid = format!("s{i:08}");
        let tx = conn.unchecked_transaction().unwrap();
        tx.prepare_cached("INSERT INTO sessions (sid, app, start_time, end_time, end_reason) VALUES (?1, 'easytravel', ?2, ?3, 'end_session')")
            .unwrap()
            .execute(rusqlite::params![sid, start, start + 5000])
            .unwrap();
        let session = tx.last_insert_rowid();
        tx.prepare_cached("INSERT INTO beacons VALUES (?1, 0, ?2)").unwrap().execute(rusqlite::params![sid, start]).unwrap();
        let mut sp = tx.prepare_cached("INSERT INTO session_props VALUES (?1, ?2, ?3, ?4)").unwrap();
        sp.execute(rusqlite::params![session, "string", "loyalty_status", "Gold"]).unwrap();
        sp.execute(rusqlite::params![session, "long", "visits", (i % 50) as i64]).unwrap();
        let mut ins = tx
            .prepare_cached("INSERT INTO actions (session_id, action_id, kind, name, start_time, end_time, url, requests, request_errors, js_errors) VALUES (?1, ?2, 'click', ?3, ?4, ?5, ?6, 3, ?7, 0)")
            .unwrap();
        let mut ap = tx.prepare_cached("INSERT INTO action_props VALUES (?1, ?2, ?3, ?4)").unwrap();
        for k in 0..ACTIONS_PER_SESSION {
            let s = start + k as i64 * 500;
            ins.execute(rusqlite::params![
                session,
                format!("a{k}"),
                format!("click on item {k}"),
                s,
                s + 120,
                format!("https://shop.example/p/{k}"),
                i64::from((i + k).is_multiple_of(3))
            ])
            .unwrap();
            let action = tx.last_insert_rowid();
            ap.execute(rusqlite::params![action, "string", "page", format!("p{k}")]).unwrap();
            ap.execute(rusqlite::params![action, "long", "items", k as i64]).unwrap();
            ap.execute(rusqlite::params![action, "double", "total", k as f64 * 7.0 + 0.5]).unwrap();
        }
        drop((sp, ins, ap));
        tx.commit().unwrap();
    }
    (beacons * ACTIONS_PER_SESSION) as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let secs = env_usize("RUMPROPS_SOAK_SECS", 60) as f64;
    let clients = env_usize("RUMPROPS_SOAK_CLIENTS", 4);
    let shared_secs = env_usize("RUMPROPS_SOAK_SHARED_SECS", 15) as f64;
    let prefill = env_usize("RUMPROPS_SOAK_PREFILL", 20_000);
    // The same disk for every figure: the system temp directory.
    let dir = std::env::temp_dir().join(format!("rumprops-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // The raw baseline before and after the rest, averaged: on a shared machine the load drifts.
    let raw_beacons = 10_000;
    let raw_before = raw_baseline(&dir.join("raw-before.db"), raw_beacons);

    // The soak database, prefilled through the store so the queries read real volume.
    let db = dir.join("soak.db");
    let mut conn = store::open(&db).unwrap();
    for chunk in (0..prefill).collect::<Vec<_>>().chunks(64) {
        let pending: Vec<store::Pending> =
            chunk.iter().map(|&i| (parse_beacon(beacon_text(i).as_bytes()).unwrap(), store::ClientInfo::with_user_agent(Some("Mozilla/5.0 Chrome/131.0")))).collect();
        store::ingest_group(&mut conn, &pending, &Default::default(), 0).unwrap();
    }
    drop(conn);
    let addr = collector(&db);

    // The heavy query loop beside the ingest, on a connection of its own.
    let stop = Arc::new(AtomicBool::new(false));
    let queries = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut conn = Conn { addr, stream: None };
            let (mut lat, mut refused, mut n) = (Vec::new(), 0usize, 0usize);
            while !stop.load(Ordering::Relaxed) {
                let q = QUERIES[n % QUERIES.len()];
                // The whole stored time (the API's default frame is the last two hours).
                let path = format!("/api/v1/userSessionQueryLanguage/table?query={}&startTimestamp=1&endTimestamp=9000000000000", encode(q));
                let t = Instant::now();
                match conn.send("GET", &path, b"") {
                    Some(200) => lat.push(t.elapsed().as_secs_f64() * 1000.0),
                    Some(429) => refused += 1,
                    other => panic!("query answered {other:?}"),
                }
                n += 1;
            }
            (lat, refused)
        })
    };
    let soak = ingest(&[addr], clients, secs, SOAK_BASE);
    stop.store(true, Ordering::Relaxed);
    let (query_lat, refused) = queries.join().unwrap();
    let (lost, duplicated, unacked) = check(&db, &soak.acked, SOAK_BASE);
    let soak_rate = (soak.acked.len() * ACTIONS_PER_SESSION) as f64 / soak.secs;
    let ingest_p = percentiles(soak.latencies_ms.clone());
    let query_p = percentiles(query_lat);
    println!(
        "soak ({clients} clients × {secs:.0} s + a USQL query loop, {prefill} sessions prefilled): {} beacons, {soak_rate:.0} actions/s; {} retries; lost {lost}, duplicated {duplicated}, stored unacknowledged {unacked}",
        soak.acked.len(),
        soak.retries
    );
    println!("soak ingest latency ms: {ingest_p}");
    println!("soak query latency ms: {query_p} ({refused} refused by the per-client limit)");

    // Several collectors on one file: the same clients against one collector, then against
    // four collectors sharing one file (each client to its own), no queries.
    let one_db = dir.join("one.db");
    let one = ingest(&[collector(&one_db)], clients, shared_secs, SOAK_BASE);
    let one_rate = (one.acked.len() * ACTIONS_PER_SESSION) as f64 / one.secs;
    let shared_db = dir.join("shared.db");
    let addrs: Vec<SocketAddr> = (0..4).map(|_| collector(&shared_db)).collect();
    let shared = ingest(&addrs, clients, shared_secs, SOAK_BASE);
    let shared_rate = (shared.acked.len() * ACTIONS_PER_SESSION) as f64 / shared.secs;
    let (s_lost, s_dup, s_unacked) = check(&shared_db, &shared.acked, SOAK_BASE);
    let one_p = percentiles(one.latencies_ms);
    let shared_p = percentiles(shared.latencies_ms);
    println!("one collector ({clients} clients × {shared_secs:.0} s): {one_rate:.0} actions/s; latency ms {one_p}");
    println!(
        "four collectors on one file ({clients} clients × {shared_secs:.0} s): {shared_rate:.0} actions/s; latency ms {shared_p}; {} retries; lost {s_lost}, duplicated {s_dup}, stored unacknowledged {s_unacked}",
        shared.retries
    );
    let raw_after = raw_baseline(&dir.join("raw-after.db"), raw_beacons);
    let raw = (raw_before + raw_after) / 2.0;
    println!(
        "raw baseline (plain SQLite inserts of the same rows, 1 tx per beacon): {raw_beacons} beacons before and after, {raw_before:.0} and {raw_after:.0} actions/s, mean {raw:.0}"
    );
    let ratio = |rate: f64| rate / raw;
    println!(
        "ratios to the raw baseline: soak {:.2}×, one collector {:.2}×, four collectors on one file {:.2}×",
        ratio(soak_rate),
        ratio(one_rate),
        ratio(shared_rate)
    );
    let out = json!({
        "clients": clients, "secs": secs, "sharedSecs": shared_secs, "prefill": prefill,
        "raw": { "beacons": raw_beacons, "actionsPerSec": raw.round(), "before": raw_before.round(), "after": raw_after.round() },
        "soak": { "beacons": soak.acked.len(), "actionsPerSec": soak_rate.round(), "ratio": ratio(soak_rate), "retries": soak.retries,
                  "lost": lost, "duplicated": duplicated, "unacknowledged": unacked, "ingestMs": ingest_p, "queryMs": query_p, "queriesRefused": refused },
        "one": { "actionsPerSec": one_rate.round(), "ratio": ratio(one_rate), "latencyMs": one_p },
        "shared": { "collectors": 4, "actionsPerSec": shared_rate.round(), "ratio": ratio(shared_rate), "latencyMs": shared_p, "retries": shared.retries,
                    "lost": s_lost, "duplicated": s_dup, "unacknowledged": s_unacked },
    });
    println!("soak-json: {out}");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(lost == 0 && duplicated == 0 && s_lost == 0 && s_dup == 0, "actions lost or duplicated");
}
