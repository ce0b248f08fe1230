//! Session export over the ClickHouse store, against a real `clickhouse-server` (Debian's
//! 18.16, `tests/common/clickhouse.rs`) and a real receiver on loopback that fails first:
//! two collectors sharing the sessions (`--export-partition 0/2` and `1/2`) send every finished
//! session exactly once, in the same JSON as the SQLite store's export of the same beacons (on one
//! server, and on a two-shard cluster with a collector on each shard's server); a restarted
//! exporter sends nothing again, a new beacon sends the updated session once more.

mod common;

use common::{clickhouse, post_beacon, receiver, Log};
use rumprops_collector::export::{ExportTiming, Partition};
use rumprops_collector::server::{Server, ServeConfig};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const FAST: ExportTiming = ExportTiming { poll_ms: 20, flush_interval_ms: 0, min_backoff_ms: 30, max_backoff_ms: 100, settle_ms: 0 };

/// A collector on its own runtime that [`Running::stop`] ends (its exporter with it).
struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Running {
    fn stop(mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        let _ = self.thread.take().map(|t| t.join());
    }
}

fn run(edit: impl FnOnce(&mut ServeConfig)) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::new(dir.path().join("app.db"), "127.0.0.1:0".parse().unwrap());
    config.rate_limit = rumprops_collector::ratelimit::RateLimit { per_sec: 10_000.0, burst: 10_000.0 };
    config.export_timing = FAST;
    // One beacon at a time from these tests: no waiting for company.
    config.clickhouse_batching.max_wait = Duration::from_millis(10);
    edit(&mut config);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let server = Server::bind(config).await.unwrap();
            tx.send(server.local_addr().unwrap()).unwrap();
            server
                .run_until(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        // Dropping the runtime ends the exporter task.
    });
    let addr = rx.recv().unwrap();
    Running { addr, stop: Some(stop), thread: Some(thread), _dir: dir }
}

fn on_clickhouse(ch: &clickhouse::ClickHouse, db: &str, export_url: &str, partition: Partition) -> impl FnOnce(&mut ServeConfig) {
    on_store(ch.store_url(db), None, export_url, partition)
}

fn on_store(store: String, cluster: Option<&str>, export_url: &str, partition: Partition) -> impl FnOnce(&mut ServeConfig) {
    let (url, cluster) = (export_url.to_owned(), cluster.map(str::to_owned));
    move |c| {
        c.store = Some(store.parse().unwrap());
        c.cluster = cluster;
        c.export_url = Some(url);
        c.export_partition = partition;
    }
}

/// The sessions the receiver accepted (answered 200), in order of arrival.
fn delivered(log: &Log) -> Vec<Value> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|(status, _)| *status == 200)
        .flat_map(|(_, body)| body.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).collect::<Vec<_>>())
        .collect()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Beacon `seq` of session `sid`: two actions (one with request errors and properties), the
/// session's properties of every type; the last beacon ends the session.
fn beacon(i: usize, seq: i64, last: bool) -> String {
    let start = 1_732_599_000_000_i64 + i as i64 * 60_000;
    let at = start + seq * 5_000;
    let tier = ["Gold", "Silver"][i % 2];
    json!({
        "v": 1, "app": "easytravel", "vid": format!("visitor{}", i % 7), "sid": format!("s{i:03}"), "seq": seq,
        "sentAt": at + 2_000,
        "session": {"start": start, "userId": if seq == 0 { Value::Null } else { json!(format!("user{i}")) },
            "ended": if last { json!("end_session") } else { Value::Null },
            "props": {"string": {"tier": tier, "step": format!("step{seq}")}, "long": {"items": i as i64 * 3 + seq},
                "double": {"cart": 12.5 + i as f64}, "date": {"since": 1_700_000_000_000_i64 + i as i64}}},
        "actions": [
            {"id": format!("a{seq}"), "kind": "load", "name": format!("page {seq}"), "start": at, "end": at + 1_200 + i as i64,
             "url": "https://shop.example/", "requests": 4, "requestErrors": (i % 3) as i64, "jsErrors": 1,
             "props": {"string": {"campaign": "spring"}, "long": {"n": seq}},
             "timings": {"navigationStart": at, "requestStart": 40, "responseStart": 180, "responseEnd": 260,
                 "largestContentfulPaint": 700 + i as i64, "cumulativeLayoutShift": 0.02},
             "errors": [{"message": "TypeError: x is undefined", "file": "https://shop.example/app.js", "line": 3, "column": 9, "time": at + 100}]},
            {"id": format!("b{seq}"), "kind": "click", "name": "Book trip", "start": at + 2_000, "end": at + 2_150,
             "url": "https://shop.example/book", "requests": 1, "requestErrors": 0, "jsErrors": 0, "props": {}}
        ],
        "issues": []
    })
    .to_string()
}

/// Sessions by `userSessionId`; a session delivered twice fails.
fn by_sid(sessions: Vec<Value>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for s in sessions {
        let sid = s["userSessionId"].as_str().unwrap().to_owned();
        assert!(out.insert(sid.clone(), s).is_none(), "session {sid} exported twice");
    }
    out
}

#[test]
fn two_exporters_send_each_finished_session_once_as_sqlite_exports_it() {
    let ch = clickhouse::server();
    let db = clickhouse::fresh_database();
    two_exporters([ch.store_url(&db), ch.store_url(&db)], None, ch, &db);
}

#[test]
fn two_exporters_on_the_two_shards_of_a_cluster_send_each_session_once() {
    let c = clickhouse::cluster();
    let db = c.fresh_database();
    two_exporters([c.shards[0].ch.store_url(&db), c.shards[1].ch.store_url(&db)], Some(clickhouse::CLUSTER), &c.shards[0].ch, &db);
}

/// Two collectors exporting the shares 0/2 and 1/2 of the stores at `stores` (one database,
/// sharded over `cluster` if given) to one receiver that fails first, and a SQLite collector
/// exporting the same beacons: the same sessions, once each, equal to SQLite's.
fn two_exporters(stores: [String; 2], cluster: Option<&str>, ch: &clickhouse::ClickHouse, db: &str) {
    let (url, log) = receiver(2);
    let [sa, sb] = stores;
    let a = run(on_store(sa, cluster, &url, "0/2".parse().unwrap()));
    let b = run(on_store(sb, cluster, &url, "1/2".parse().unwrap()));
    let (sqlite_url, sqlite_log) = receiver(0);
    let reference = run(|c| c.export_url = Some(sqlite_url));

    // 30 sessions of three beacons, each beacon to one of the two collectors and every third
    // resent to the other; the same beacons once to the SQLite collector. One more session
    // stays live (no end beacon, not idle): it is not exported.
    const SESSIONS: usize = 30;
    for i in 0..SESSIONS {
        for seq in 0..3 {
            let body = beacon(i, seq, seq == 2);
            let (first, other) = if (i + seq as usize).is_multiple_of(2) { (a.addr, b.addr) } else { (b.addr, a.addr) };
            let r = post_beacon(first, &body, &[]);
            assert_eq!(r.status, 204, "{}", r.body);
            if (i + seq as usize).is_multiple_of(3) {
                let r = post_beacon(other, &body, &[]);
                assert_eq!(r.status, 204, "{}", r.body);
            }
            assert_eq!(post_beacon(reference.addr, &body, &[]).status, 204);
        }
    }
    assert_eq!(post_beacon(a.addr, &beacon(99, 0, false), &[]).status, 204);

    wait_for("every session exported from ClickHouse", || delivered(&log).len() >= SESSIONS);
    wait_for("every session exported from SQLite", || delivered(&sqlite_log).len() >= SESSIONS);
    // Some more polls of both exporters: nothing further is sent.
    std::thread::sleep(Duration::from_millis(500));
    let attempts = log.lock().unwrap().len();
    assert!(attempts >= 3, "the first two sends fail and are retried: {attempts} requests");
    let got = by_sid(delivered(&log));
    let want = by_sid(delivered(&sqlite_log));
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "the live session s099 is not exported");
    assert_eq!(got.len(), SESSIONS);
    for (sid, session) in &got {
        assert_eq!(session, &want[sid], "session {sid}: ClickHouse's export differs from SQLite's");
    }
    let first = &got["s000"];
    assert_eq!(first["userActions"].as_array().unwrap().len(), 6);
    assert_eq!(first["errors"].as_array().unwrap().len(), 3);
    assert_eq!(first["properties"]["string"]["step"], json!("step2"));
    assert_eq!(first["endReason"], json!("END_EVENT"));
    assert_eq!(first["userId"], json!("user0"));

    // USQL's JSON column over ClickHouse is the same record as over SQLite.
    for q in [
        "SELECT userSessionId, JSON FROM usersession ORDER BY userSessionId LIMIT 5000",
        "SELECT usersession.userSessionId, name, JSON FROM useraction ORDER BY usersession.userSessionId, startTime, name LIMIT 5000",
    ] {
        let rows = |addr| {
            let r = common::usql(addr, "table", q, "&startTimestamp=1");
            assert_eq!(r.status, 200, "{q}: {}", r.body);
            let values = r.json()["values"].as_array().unwrap().clone();
            values
                .into_iter()
                .map(|row| row.as_array().unwrap().iter().map(|v| v.as_str().map_or(v.clone(), |s| serde_json::from_str(s).unwrap_or(json!(s)))).collect())
                .collect::<Vec<Vec<Value>>>()
        };
        let (got, want) = (rows(a.addr), rows(reference.addr));
        assert_eq!(got.len(), want.len(), "{q}");
        assert!(!got.is_empty(), "{q}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{q}");
        }
    }

    // Both collectors exported: each its share.
    let shares: Vec<u64> = ch
        .query_in(db, "SELECT cityHash64(sid) % 2 AS k, count() FROM exports FINAL GROUP BY k ORDER BY k")
        .unwrap()
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(shares.len(), 2, "both shares hold sessions: {shares:?}");
    assert_eq!(shares.iter().sum::<u64>(), SESSIONS as u64);
    a.stop();
    b.stop();
    reference.stop();
}

#[test]
fn a_restarted_exporter_sends_only_sessions_that_changed() {
    let ch = clickhouse::server();
    let db = clickhouse::fresh_database();
    let (url, log) = receiver(0);
    let first = run(on_clickhouse(ch, &db, &url, Partition::default()));
    for i in 0..3 {
        for seq in 0..2 {
            assert_eq!(post_beacon(first.addr, &beacon(i, seq, seq == 1), &[]).status, 204);
        }
    }
    wait_for("three sessions exported", || delivered(&log).len() >= 3);
    first.stop();

    let second = run(on_clickhouse(ch, &db, &url, Partition::default()));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(delivered(&log).len(), 3, "nothing is sent again after a restart");

    // A late beacon of s001: the updated session goes out again, once; a resent copy of it
    // changes nothing.
    let late = beacon(1, 2, true);
    assert_eq!(post_beacon(second.addr, &late, &[]).status, 204);
    wait_for("the updated session", || delivered(&log).len() >= 4);
    assert_eq!(post_beacon(second.addr, &late, &[]).status, 204);
    std::thread::sleep(Duration::from_millis(500));
    let sessions = delivered(&log);
    assert_eq!(sessions.len(), 4, "{sessions:?}");
    assert_eq!(sessions[3]["userSessionId"], json!("s001"));
    assert_eq!(sessions[3]["userActions"].as_array().unwrap().len(), 6);
    second.stop();
}

#[test]
fn a_session_that_idles_out_after_the_exporter_caught_up_is_exported() {
    // Polls after a poll that found nothing due fold only the sessions with a recent beacon
    // (export.rs, the watermark): one that finishes by idling out, with no beacon since, is
    // among them. No settle time here, so a watermark set a moment too late would miss it.
    let ch = clickhouse::server();
    let db = clickhouse::fresh_database();
    let (url, log) = receiver(0);
    let c = run(|cfg| {
        on_clickhouse(ch, &db, &url, Partition::default())(cfg);
        cfg.session_timeout_ms = 1_500;
    });
    assert_eq!(post_beacon(c.addr, &beacon(7, 0, false), &[]).status, 204);
    std::thread::sleep(Duration::from_millis(700));
    assert!(delivered(&log).is_empty(), "an open session is not exported");
    wait_for("the idle session", || !delivered(&log).is_empty());
    assert_eq!(post_beacon(c.addr, &beacon(8, 0, true), &[]).status, 204);
    wait_for("the ended session", || delivered(&log).len() >= 2);
    std::thread::sleep(Duration::from_millis(300));
    let sids: Vec<Value> = delivered(&log).iter().map(|s| s["userSessionId"].clone()).collect();
    assert_eq!(sids, vec![json!("s007"), json!("s008")]);
    c.stop();
}

#[test]
fn an_export_partition_names_its_share() {
    assert_eq!("1/3".parse::<Partition>().unwrap(), Partition { index: 1, count: 3 });
    for bad in ["3/3", "0/0", "1", "a/2", "-1/2"] {
        let e = bad.parse::<Partition>().unwrap_err();
        assert!(e.contains("INDEX/COUNT"), "{bad}: {e}");
    }
    // Over SQLite one collector exports everything: a share is refused.
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::new(dir.path().join("a.db"), "127.0.0.1:0".parse().unwrap());
    config.export_url = Some("http://127.0.0.1:9/x".to_owned());
    config.export_partition = "0/2".parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let e = rt.block_on(Server::bind(config)).err().unwrap();
    assert!(e.contains("--export-partition"), "{e}");
}
