//! The collector under faults and abuse, as the real `rumprops` binary (and, for the slow
//! clients, the in-process server) on loopback: a start-up race of four collectors and a
//! `rumprops query` on one new file, slow and half-open clients, SIGKILL during parallel
//! ingest, SIGTERM with slow clients connected. Every count and wait is bounded.

mod common;

use common::fleet::{assert_each_once, clickhouse_actions, crash_during_ingest, serve, spread_with_resends, BIN};
use common::*;
use std::collections::HashMap;
use serde_json::json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

/// Every stored action as `(sid, action id)` with how often it is stored.
fn stored_actions(db: &Path) -> HashMap<(String, String), usize> {
    let conn = rumprops_collector::store::open_reader(db).unwrap();
    let mut st = conn.prepare("SELECT s.sid, a.action_id FROM actions a JOIN sessions s ON s.id = a.session_id").unwrap();
    let mut out = HashMap::new();
    for row in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).unwrap() {
        *out.entry(row.unwrap()).or_insert(0) += 1;
    }
    out
}

#[test]
fn four_collectors_and_a_query_start_together_then_store_every_action_once() {
    let dir = tempfile::tempdir().unwrap();
    // Three rounds on fresh files: the race is won by a different process each time.
    for round in 0..3 {
        let db = dir.path().join(format!("race{round}.db"));
        // `rumprops query` refuses a path where no file exists at all (a typo); an empty file is
        // what SQLite itself creates first, so all five start on a file with no schema.
        std::fs::File::create(&db).unwrap();
        let start = Arc::new(Barrier::new(5));
        let mut handles = Vec::new();
        for i in 0..4 {
            let (db, start, err) = (db.clone(), Arc::clone(&start), dir.path().join(format!("race{round}-{i}.err")));
            handles.push(std::thread::spawn(move || {
                start.wait();
                serve(&db, "127.0.0.1:0", &[], err)
            }));
        }
        let query = {
            let (db, start) = (db.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                Command::new(BIN).args(["query", "--db", db.to_str().unwrap(), "--json", "SELECT COUNT(*) FROM usersession"]).output().unwrap()
            })
        };
        let collectors: Vec<common::fleet::Process> =
            handles.into_iter().map(|h| h.join().unwrap().unwrap_or_else(|e| panic!("round {round}: a collector did not start: {e}"))).collect();
        let out = query.join().unwrap();
        assert!(out.status.success(), "round {round}: query failed: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), r#"{"columnNames":["COUNT(*)"],"values":[[0]]}"#);
        if round < 2 {
            continue;
        }
        // Beacons spread over the four, 30 % of them resent to another collector.
        let addrs = Arc::new(Mutex::new(collectors.iter().map(|c| c.addr).collect::<Vec<SocketAddr>>()));
        let (sent, _) = spread_with_resends(&addrs, 4, 60, 0, || {});
        assert_eq!(sent.len(), 4 * 60 * 3);
        assert_each_once(&sent, &stored_actions(&db));
        assert_eq!(counts(&db).iter().find(|(t, _)| *t == "sessions").map(|(_, n)| *n), Some(4 * 30));
    }
}

#[test]
fn sigkill_during_parallel_ingest_keeps_every_acknowledged_action_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    crash_during_ingest(&db, &[], || stored_actions(&db));
}

/// The same on the ClickHouse store (a real server, see `tests/common/clickhouse.rs`): what
/// queries read (`FINAL`, the deduplicated rows) holds every acknowledged action exactly once.
#[test]
fn sigkill_during_parallel_ingest_on_clickhouse_keeps_every_acknowledged_action_once() {
    let ch = common::clickhouse::server();
    let database = common::clickhouse::fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let url = ch.store_url(&database);
    // Inserts wait at most 20 ms for company (the default second would make each client's
    // sequential posts crawl).
    crash_during_ingest(&dir.path().join("app.db"), &["--store", &url, "--batch-max-wait-ms", "20"], || clickhouse_actions(ch, &database));
}

/// Opens a connection and sends the first half of a request header.
fn half_open(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"POST /beacon HTTP/1.1\r\nHost: x\r\nContent-Ty").unwrap();
    s
}

/// True when the server closed the connection (EOF or reset) within `wait`; any bytes it sent
/// first are returned too.
fn closed_within(s: &mut TcpStream, wait: Duration) -> (bool, String) {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (true, String::from_utf8_lossy(&got).into_owned()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                return (false, String::from_utf8_lossy(&got).into_owned())
            }
            Err(_) => return (true, String::from_utf8_lossy(&got).into_owned()),
        }
    }
}

/// Sends a request header announcing `len` body bytes, then `first` of them.
fn trickle_start(addr: SocketAddr, len: usize, first: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    let head = format!("POST /beacon HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: {len}\r\n\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(first).unwrap();
    s
}

#[test]
fn slow_clients_are_cut_by_the_timeouts_while_a_normal_client_is_served() {
    let c = start(|cfg| {
        cfg.connections.header_timeout = Duration::from_millis(600);
        cfg.body_rate.grace = Duration::from_millis(600);
        cfg.body_rate.min_bytes_per_sec = 2000;
        cfg.connections.max_connections = 100;
    });
    let opened = Instant::now();
    let mut half: Vec<TcpStream> = (0..40).map(|_| half_open(c.addr)).collect();
    // A kept-alive connection that answers one request and then sits idle.
    let mut idle = TcpStream::connect(c.addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    // A valid beacon announced in full, of which 10 bytes arrive, then one byte every 200 ms.
    let cut = beacon("cut", 0, Some("end_session"), json!({}), json!([action("x", 1_732_599_100_000, 0, json!({}))])).to_string();
    let trickle = trickle_start(c.addr, cut.len(), &cut.as_bytes()[..10]);
    // Read the answer as soon as it comes: a byte written after the server closed would
    // make it reset the connection, and a reset can drop an answer not yet read.
    let answer = {
        let mut s = trickle.try_clone().unwrap();
        std::thread::spawn(move || closed_within(&mut s, Duration::from_secs(5)))
    };
    let stop = Arc::new(AtomicBool::new(false));
    let trickler = {
        let mut s = trickle.try_clone().unwrap();
        let (stop, cut) = (Arc::clone(&stop), cut.clone());
        std::thread::spawn(move || {
            for b in cut.as_bytes()[10..cut.len() - 1].iter() {
                if stop.load(Ordering::SeqCst) || s.write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    // A slow but steady body (4 KB at about 4 KB/s, twice the minimum rate) gets through.
    let padding = "p".repeat(900);
    let slow_actions: Vec<serde_json::Value> =
        (0..4).map(|i| action(&format!("s{i}"), 1_732_599_100_000, 0, json!({"string": {"pad": padding}}))).collect();
    let slow = beacon("slow", 0, Some("end_session"), json!({}), json!(slow_actions)).to_string();
    let steady = {
        let (addr, slow) = (c.addr, slow.clone());
        std::thread::spawn(move || {
            let mut s = trickle_start(addr, slow.len(), b"");
            for chunk in slow.as_bytes().chunks(400) {
                s.write_all(chunk).unwrap();
                std::thread::sleep(Duration::from_millis(100));
            }
            let mut raw = Vec::new();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut buf = [0u8; 1024];
            while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => raw.extend_from_slice(&buf[..n]),
                }
            }
            parse_response(&raw).status
        })
    };
    // A normal client is served throughout, each request well within a second.
    let mut served = 0;
    while opened.elapsed() < Duration::from_millis(1500) {
        let b = beacon(&format!("normal{served}"), 0, Some("end_session"), json!({}), json!([action("n", 1_732_599_100_000, 0, json!({}))]));
        let t = Instant::now();
        assert_eq!(post_beacon(c.addr, &b.to_string(), &[]).status, 204);
        assert_eq!(usql(c.addr, "table", "SELECT COUNT(*) FROM usersession", "").status, 200);
        assert!(t.elapsed() < Duration::from_secs(1), "normal client waited {:?}", t.elapsed());
        served += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    // By now (header timeout 600 ms) every half-open connection is closed, without an answer.
    for s in &mut half {
        let (closed, got) = closed_within(s, Duration::from_millis(500));
        assert!(closed, "half-open connection still open after {:?}", opened.elapsed());
        assert!(!got.contains("204"), "{got}");
    }
    // The idle kept-alive connection got its answer and was then closed by the same timeout.
    let (closed, got) = closed_within(&mut idle, Duration::from_millis(500));
    assert!(closed && got.starts_with("HTTP/1.1 200"), "idle: closed={closed} {got:?}");
    // The trickled body (10 bytes + 5/s against a 2000 B/s minimum) got a 408 and lost its connection.
    let (closed, got) = answer.join().unwrap();
    stop.store(true, Ordering::SeqCst);
    trickler.join().unwrap();
    assert!(closed && got.starts_with("HTTP/1.1 408"), "trickle: closed={closed} {got:?}");
    assert_eq!(steady.join().unwrap(), 204, "a slow but steady body is stored");
    // Nothing of the cut requests was stored; every normal beacon was.
    let sessions = counts(&c.db).into_iter().find(|(t, _)| *t == "sessions").map(|(_, n)| n);
    assert_eq!(sessions, Some(served + 1));
    let r = usql(c.addr, "table", "SELECT COUNT(*) FROM usersession WHERE userSessionId = 'cut'", "");
    assert_eq!(r.json()["values"][0][0], 0);
    let metrics = request(c.addr, "GET", "/metrics", &[], b"").body;
    assert!(metrics.contains("rumprops_collector_connections_cut_total{reason=\"body_too_slow\"} 1"), "{metrics}");
    let header_cuts: u64 = metrics
        .lines()
        .find(|l| l.starts_with("rumprops_collector_connections_cut_total{reason=\"header_timeout\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0);
    assert!(header_cuts >= 40, "{metrics}");
}

#[test]
fn at_the_connection_cap_new_clients_wait_and_the_cap_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let c = serve(
        &dir.path().join("cap.db"),
        "127.0.0.1:0",
        &["--max-connections", "4", "--header-timeout-ms", "800"],
        dir.path().join("cap.err"),
    )
    .unwrap();
    let held: Vec<TcpStream> = (0..4).map(|_| half_open(c.addr)).collect();
    std::thread::sleep(Duration::from_millis(100));
    // The fifth waits in the backlog until the header timeout frees a slot, then is served.
    let t = Instant::now();
    let r = request(c.addr, "GET", "/healthz", &[], b"");
    assert_eq!(r.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(500), "served at once ({:?}): the cap did not hold", t.elapsed());
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(c.stderr().contains("connection limit reached (4 open, --max-connections)"), "{}", c.stderr());
    drop(held);
}

#[test]
fn sigterm_with_slow_clients_connected_exits_within_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("term.db");
    // Timeouts far beyond the grace period: only the shutdown can close these clients.
    let mut c = serve(
        &db,
        "127.0.0.1:0",
        &["--shutdown-grace-ms", "1500", "--header-timeout-ms", "60000", "--body-timeout-ms", "60000"],
        dir.path().join("term.err"),
    )
    .unwrap();
    let mut acknowledged = 0;
    for i in 0..20 {
        let b = beacon(&format!("t{i}"), 0, Some("end_session"), json!({}), json!([action("a", 1_732_599_100_000, 0, json!({}))]));
        assert_eq!(post_beacon(c.addr, &b.to_string(), &[]).status, 204);
        acknowledged += 1;
    }
    assert_eq!(request(c.addr, "GET", "/readyz", &[], b"").status, 200);
    let _half: Vec<TcpStream> = (0..20).map(|_| half_open(c.addr)).collect();
    let cut = beacon("cut", 0, Some("end_session"), json!({}), json!([])).to_string();
    let _trickle = trickle_start(c.addr, cut.len(), &cut.as_bytes()[..10]);
    // Four clients keep posting through the signal: whatever got its 204 must be stored.
    let addr = c.addr;
    let posting: Vec<_> = (0..4)
        .map(|p| {
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                for k in 0..100_000 {
                    let sid = format!("p{p}-{k}");
                    let b = beacon(&sid, 0, Some("end_session"), json!({}), json!([action("a", 1_732_599_100_000, 0, json!({}))]));
                    match try_request(addr, "POST", "/beacon", &[("Content-Type", "text/plain")], b.to_string().as_bytes()) {
                        Ok(r) if r.status == 204 => acked.push(sid),
                        _ => break,
                    }
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    c.signal("-TERM");
    let status = loop {
        if let Some(s) = c.child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "still running 10 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = t.elapsed();
    assert!(status.success(), "{status:?}: {}", c.stderr());
    assert!(took < Duration::from_millis(1500 + 1500), "exit took {took:?} with a 1.5 s grace period");
    assert!(c.stderr().contains("shutdown grace period over: closing"), "{}", c.stderr());
    assert!(!dir.path().join("term.db-wal").exists(), "the database was closed cleanly");
    let during: Vec<String> = posting.into_iter().flat_map(|h| h.join().unwrap()).collect();
    assert!(!during.is_empty(), "no beacon was posted around the signal");
    let stored = stored_actions(&db);
    for sid in &during {
        assert_eq!(stored.get(&(sid.clone(), "a".to_owned())), Some(&1), "acknowledged {sid} not stored once");
    }
    let during = during.len();
    // Every acknowledged beacon is stored; a beacon whose answer the shutdown cut may be stored
    // too (the agent resends it, and `(sid, seq)` makes that a duplicate): never the trickled one.
    assert!(stored.len() >= acknowledged + during, "{} stored, {} acknowledged", stored.len(), acknowledged + during);
    assert!(stored.len() <= acknowledged + during + 4, "at most one unanswered beacon per client");
    assert!(!stored.keys().any(|(sid, _)| sid == "cut"));
}
