//! The ClickHouse store against a real `clickhouse-server` (Debian's 18.16, see
//! `tests/common/clickhouse.rs`).

mod common;

use common::clickhouse;

#[test]
fn the_test_server_answers_and_deduplicates_with_final() {
    let ch = clickhouse::server();
    let version = ch.query("SELECT version()").unwrap();
    let major: u32 = version.trim().split('.').next().unwrap().parse().unwrap();
    assert!(major >= 18, "ClickHouse {version}");
    let db = clickhouse::fresh_database();
    ch.query_in(
        &db,
        "CREATE TABLE t (day Date, sid String, seq Int64) ENGINE = ReplacingMergeTree(seq)
         PARTITION BY toYYYYMM(day) ORDER BY (day, sid)",
    )
    .unwrap();
    ch.query_in(&db, "INSERT INTO t VALUES ('2026-12-02', 's', 1)").unwrap();
    ch.query_in(&db, "INSERT INTO t VALUES ('2026-12-02', 's', 2)").unwrap();
    assert_eq!(ch.query_in(&db, "SELECT count(), max(seq) FROM t FINAL").unwrap().trim(), "1\t2");
}

use common::{action, beacon, post_beacon};
use rumprops_collector::server::{start_in_thread, ServeConfig};
use rumprops_collector::writer::Batching;
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A collector storing beacons in database `db` of `ch` (its SQLite file in a temp dir).
fn collector(ch: &clickhouse::ClickHouse, db: &str) -> (SocketAddr, tempfile::TempDir) {
    // These tests post one beacon after another: a batch waits at most 10 ms for company.
    collector_with(ch, db, Batching { max_wait: Duration::from_millis(10), ..Batching::CLICKHOUSE })
}

/// [`collector`] with its own batching of inserts.
fn collector_with(ch: &clickhouse::ClickHouse, db: &str, batching: Batching) -> (SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::new(dir.path().join("app.db"), "127.0.0.1:0".parse().unwrap());
    config.store = Some(ch.store_url(db).parse().unwrap());
    config.clickhouse_batching = batching;
    // These tests post from one address faster than the default per-client limit allows.
    config.rate_limit = rumprops_collector::ratelimit::RateLimit { per_sec: 10_000.0, burst: 10_000.0 };
    (start_in_thread(config).unwrap(), dir)
}

fn one(ch: &clickhouse::ClickHouse, db: &str, sql: &str) -> String {
    ch.query_in(db, sql).unwrap().trim().to_owned()
}

#[test]
fn beacons_resent_to_any_collector_are_stored_once() {
    let ch = clickhouse::server();
    let db = clickhouse::fresh_database();
    let (a, _da) = collector(ch, &db);
    let (b, _db) = collector(ch, &db);
    let mut sent = 0;
    for s in 0..5 {
        for seq in 1..=3 {
            let actions = json!([
                action(&format!("a{seq}x"), 1_732_599_000_000 + seq * 1000, 0, json!({"long": {"cart": seq}})),
                action(&format!("a{seq}y"), 1_732_599_000_500 + seq * 1000, 1, json!({}))
            ]);
            let body = beacon(&format!("s{s}"), seq, None, json!({"string": {"plan": "gold"}}), actions).to_string();
            // Every beacon to one collector, and every second one resent to the other.
            assert_eq!(post_beacon(a, &body, &[]).status, 204);
            if (s + seq) % 2 == 0 {
                assert_eq!(post_beacon(b, &body, &[]).status, 204);
                assert_eq!(post_beacon(a, &body, &[]).status, 204);
            }
            sent += 2;
        }
    }
    assert_eq!(one(ch, &db, "SELECT count() FROM actions FINAL"), sent.to_string());
    assert_eq!(one(ch, &db, "SELECT count() FROM beacons FINAL"), "15");
    assert_eq!(one(ch, &db, "SELECT uniqExact(sid, action_id) FROM actions"), sent.to_string());
    // Rows were written more than once; the merge collapses them as FINAL does.
    assert!(one(ch, &db, "SELECT count() FROM actions").parse::<i64>().unwrap() > sent);
    ch.query_in(&db, "OPTIMIZE TABLE actions FINAL").unwrap();
    assert_eq!(one(ch, &db, "SELECT count() FROM actions"), sent.to_string());
    // Sessions fold at query time: one per sid.
    assert_eq!(
        one(ch, &db, "SELECT count() FROM (SELECT sid, argMax(user_id, seq) FROM beacons FINAL GROUP BY sid)"),
        "5"
    );
}

#[test]
fn properties_are_typed_and_absent_ones_are_null() {
    let ch = clickhouse::server();
    let db = clickhouse::fresh_database();
    let (a, _d) = collector(ch, &db);
    let props = json!({"string": {"tier": "b"}, "long": {"big": 9_007_199_254_740_993_i64}, "double": {"ratio": 0.25}, "date": {"paid": 1_732_599_000_123_i64}});
    let body = beacon("p1", 1, Some("u"), json!({"string": {"plan": "gold"}}), json!([action("x", 1_732_599_000_000, 0, props)])).to_string();
    assert_eq!(post_beacon(a, &body, &[]).status, 204);
    let row = one(
        ch,
        &db,
        "SELECT string_values[indexOf(string_keys, 'tier')], long_values[indexOf(long_keys, 'big')],
                double_values[indexOf(double_keys, 'ratio')], date_values[indexOf(date_keys, 'paid')],
                if(indexOf(long_keys, 'nope') = 0, NULL, long_values[indexOf(long_keys, 'nope')]), day, kind
         FROM actions FINAL",
    );
    assert_eq!(row, "b\t9007199254740993\t0.25\t1732599000123\t\\N\t2024-11-26\tclick");
    assert_eq!(one(ch, &db, "SELECT string_values, ended, user_id, day FROM beacons FINAL"), "['gold']\tu\talice\t2024-11-26");
    assert_eq!(one(ch, &db, "SELECT max(version) FROM schema_migrations"), rumprops_collector::clickhouse::schema_version().to_string());
}

#[test]
fn migrations_run_once_and_a_newer_schema_is_refused() {
    let ch = clickhouse::server();
    let db = clickhouse::fresh_database();
    let (_a, _da) = collector(ch, &db);
    let (_b, _db) = collector(ch, &db);
    assert_eq!(one(ch, &db, "SELECT count() FROM schema_migrations FINAL"), rumprops_collector::clickhouse::schema_version().to_string());
    ch.query_in(&db, "INSERT INTO schema_migrations VALUES (99, 0)").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::new(dir.path().join("app.db"), "127.0.0.1:0".parse().unwrap());
    config.store = Some(ch.store_url(&db).parse().unwrap());
    let err = start_in_thread(config).unwrap_err();
    assert!(err.contains("schema version 99"), "{err}");
}

#[test]
fn clickhouse_down_is_503_with_retry_after_and_usql_fails_clearly() {
    let own = clickhouse::start_own();
    let (a, _d) = collector(&own.ch, "rum");
    let body = |seq| beacon("d1", seq, None, json!({}), json!([action(&format!("a{seq}"), 1_732_599_000_000, 0, json!({}))])).to_string();
    assert_eq!(post_beacon(a, &body(1), &[]).status, 204);
    // USQL is answered from ClickHouse: the table and the tree, an invalid query with its position.
    let q = common::usql(a, "table", "SELECT name, COUNT(*) FROM useraction GROUP BY name", "&includeLive=true");
    assert_eq!(q.status, 200, "{}", q.body);
    assert_eq!(q.json()["values"], json!([["click on a1", 1]]));
    let q = common::usql(a, "tree", "SELECT name, COUNT(*) FROM useraction GROUP BY name", "&includeLive=true");
    assert_eq!(q.json()["values"], json!({"click on a1": [1]}), "{}", q.body);
    let q = common::usql(a, "table", "SELECT COUNT(*) FROM useraction", "");
    assert_eq!(q.json()["values"], json!([[0]]), "an open session is not counted without includeLive");
    let q = common::usql(a, "table", "SELECT nope FROM useraction", "");
    assert_eq!(q.status, 400);
    assert_eq!(q.json()["position"], 7, "{}", q.body);
    assert_eq!(common::request(a, "GET", "/readyz", &[], b"").status, 200);
    own.stop();
    // Readiness follows ClickHouse: a load balancer takes this collector out of rotation.
    let r = common::request(a, "GET", "/readyz", &[], b"");
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("clickhouse:"), "{}", r.body);
    let q = common::usql(a, "table", "SELECT COUNT(*) FROM useraction", "");
    assert_eq!(q.status, 400);
    assert!(q.body.contains("query failed") && q.body.contains("unavailable"), "{}", q.body);
    let r = post_beacon(a, &body(2), &[]);
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.header("Retry-After"), Some("5"));
    assert!(r.body.contains("unavailable"), "{}", r.body);
    // A collector cannot start over a ClickHouse that does not answer.
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::new(dir.path().join("app.db"), "127.0.0.1:0".parse().unwrap());
    config.store = Some(own.ch.store_url("rum").parse().unwrap());
    let err = start_in_thread(config).unwrap_err();
    assert!(err.contains("unavailable"), "{err}");
}

#[test]
fn clickhouse_killed_mid_ingest_and_restarted_loses_nothing_and_doubles_nothing() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let own = clickhouse::start_own();
    let (a, _d) = collector(&own.ch, "rum");
    let acked = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    const BEACONS: i64 = 120;
    let agent = {
        let (acked, refused) = (Arc::clone(&acked), Arc::clone(&refused));
        std::thread::spawn(move || {
            // A bound for a hang, not a timing: on two cores shared with other test binaries an
            // insert can take a second.
            let deadline = Instant::now() + Duration::from_secs(480);
            for i in 0..BEACONS {
                let (sid, seq) = (format!("f{}", i / 4), i % 4 + 1);
                let actions = json!([
                    action(&format!("{seq}a"), 1_732_599_000_000 + i * 10, 0, json!({"long": {"i": i}})),
                    action(&format!("{seq}b"), 1_732_599_000_001 + i * 10, 0, json!({})),
                    action(&format!("{seq}c"), 1_732_599_000_002 + i * 10, 1, json!({}))
                ]);
                let body = beacon(&sid, seq, None, json!({}), actions).to_string();
                // The agent's outbox: the beacon stays until a 204, retried after each refusal.
                let send = || loop {
                    assert!(Instant::now() < deadline, "beacon {i} never acknowledged");
                    match common::try_request(a, "POST", "/beacon", &[("Content-Type", "text/plain")], body.as_bytes()) {
                        Ok(r) if r.status == 204 => break,
                        Ok(r) => {
                            assert_eq!(r.status, 503, "{}", r.body);
                            assert!(r.header("Retry-After").is_some());
                            refused.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => panic!("collector unreachable: {e}"),
                    }
                    std::thread::sleep(Duration::from_millis(50));
                };
                send();
                acked.fetch_add(1, Ordering::SeqCst);
                // Every third acknowledgement is "lost" on the way back: the agent sends again.
                if i % 3 == 0 {
                    send();
                }
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(300);
    while acked.load(Ordering::SeqCst) < 30 {
        assert!(Instant::now() < deadline, "ingest did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    own.stop();
    let while_down = acked.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(700));
    own.restart();
    agent.join().unwrap();
    assert!(refused.load(Ordering::SeqCst) > 0, "no beacon was refused while ClickHouse was down");
    assert!(while_down < BEACONS as usize, "ClickHouse was stopped after ingest ended");
    let ch = &own.ch;
    assert_eq!(one(ch, "rum", "SELECT count(), uniqExact(sid, action_id) FROM actions FINAL"), format!("{0}\t{0}", BEACONS * 3));
    assert_eq!(one(ch, "rum", "SELECT count() FROM beacons FINAL"), BEACONS.to_string());
    assert_eq!(one(ch, "rum", "SELECT sum(long_values[indexOf(long_keys, 'i')]) FROM actions FINAL"), (BEACONS * (BEACONS - 1) / 2).to_string());
}

#[test]
fn four_collector_processes_with_resends_and_a_sigkill_store_every_action_once() {
    use common::fleet::{assert_each_once, clickhouse_actions, serve, spread_with_resends, Process};
    use std::sync::{Arc, Mutex};
    let ch = clickhouse::server();
    let db = clickhouse::fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let store = ch.store_url(&db);
    let start = |i: usize| -> Process {
        let args = ["--store", store.as_str(), "--batch-max-wait-ms", "20"];
        serve(&dir.path().join(format!("app{i}.db")), "127.0.0.1:0", &args, dir.path().join(format!("c{i}.err")))
            .unwrap_or_else(|e| panic!("collector {i} did not start: {e}"))
    };
    let mut procs: Vec<Process> = (0..4).map(start).collect();
    let addrs = Arc::new(Mutex::new(procs.iter().map(|p| p.addr).collect::<Vec<SocketAddr>>()));
    // After 40 acknowledgements collector 0 is SIGKILLed and a new one takes its place.
    let (sent, _) = spread_with_resends(&addrs, 4, 60, 40, || {
        procs[0].signal("-KILL");
        let _ = procs[0].child.wait();
        procs[0] = start(4);
        addrs.lock().unwrap()[0] = procs[0].addr;
    });
    assert_each_once(&sent, &clickhouse_actions(ch, &db));
    assert_eq!(sent.len(), 4 * 60 * 3);
    assert_eq!(one(ch, &db, "SELECT count() FROM beacons FINAL"), (4 * 60).to_string());
    assert_eq!(one(ch, &db, "SELECT uniqExact(sid) FROM beacons FINAL"), (4 * 30).to_string());
}

/// Inserts into `actions` that the server finished (its query log), in any database.
fn action_inserts(ch: &clickhouse::ClickHouse) -> usize {
    ch.query("SYSTEM FLUSH LOGS").unwrap();
    let sql = "SELECT count() FROM system.query_log WHERE type = 2 AND query LIKE 'INSERT INTO `actions`(%) FORMAT RowBinary%'";
    ch.query(sql).unwrap().trim().parse().unwrap()
}

/// Inserts into `actions` since `before` (an [`action_inserts`] count), once the query log has
/// `want` of them or 10 s have passed, and 200 ms later (a finished insert's log entry may come
/// a moment after its answer).
fn inserts_since(ch: &clickhouse::ClickHouse, before: usize, want: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    while action_inserts(ch) - before < want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    action_inserts(ch) - before
}

/// Posts `bodies` at the same time, one thread each; their statuses.
fn post_together(addr: SocketAddr, bodies: Vec<String>) -> Vec<u16> {
    let posts: Vec<_> = bodies.into_iter().map(|b| std::thread::spawn(move || post_beacon(addr, &b, &[]).status)).collect();
    posts.into_iter().map(|p| p.join().unwrap()).collect()
}

#[test]
fn beacons_go_in_batches_by_count_or_by_the_oldest_ones_wait() {
    // A server of its own: its query log counts this test's inserts alone.
    let own = clickhouse::start_own();
    let ch = &own.ch;
    let body = |sid: &str| beacon(sid, 1, None, json!({}), json!([action("a", 1_732_599_000_000, 0, json!({}))])).to_string();
    // Batches of 8 or a minute's wait: eight beacons posted together fill a batch, go as one
    // insert and are acknowledged without waiting for the minute.
    let (a, _da) = collector_with(ch, "rum", Batching { max_beacons: 8, max_wait: Duration::from_secs(60) });
    let before = action_inserts(ch);
    let started = Instant::now();
    assert_eq!(post_together(a, (0..8).map(|i| body(&format!("n{i}"))).collect()), vec![204; 8]);
    assert!(started.elapsed() < Duration::from_secs(30), "a full batch waited for the time");
    assert_eq!(inserts_since(ch, before, 1), 1, "eight beacons of a full batch in more than one insert");
    assert_eq!(one(ch, "rum", "SELECT count() FROM actions FINAL"), "8");
    // Batches of 256 or 400 ms: a lone beacon is acknowledged once it waited 400 ms, alone in its
    // insert; three posted together share one.
    let wait = Duration::from_millis(400);
    let (b, _db) = collector_with(ch, "rum", Batching { max_beacons: 256, max_wait: wait });
    let before = action_inserts(ch);
    let started = Instant::now();
    assert_eq!(post_beacon(b, &body("lone"), &[]).status, 204);
    assert!(started.elapsed() >= wait, "a lone beacon was inserted before its wait was over");
    assert_eq!(inserts_since(ch, before, 1), 1);
    assert_eq!(post_together(b, (0..3).map(|i| body(&format!("t{i}"))).collect()), vec![204; 3]);
    assert_eq!(inserts_since(ch, before, 2), 2, "three beacons posted together in more than one insert");
    assert_eq!(one(ch, "rum", "SELECT count() FROM actions FINAL"), "12");
}

#[test]
fn rumprops_query_reads_the_clickhouse_store() {
    let ch = clickhouse::server();
    let db = clickhouse::fresh_database();
    let (a, _d) = collector(ch, &db);
    let body = beacon("q1", 1, Some("end_session"), json!({"string": {"tier": "gold"}}), json!([action("x", 1_732_599_000_000, 2, json!({}))]));
    assert_eq!(post_beacon(a, &body.to_string(), &[]).status, 204);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rumprops"))
        .args(["query", "--store", &ch.store_url(&db), "--json", "SELECT stringProperties.tier, SUM(useraction.requestErrorCount) FROM usersession GROUP BY stringProperties.tier"])
        .env_remove("RUMPROPS_DB")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["values"], json!([["gold", 2]]));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rumprops")).args(["query", "SELECT 1"]).env_remove("RUMPROPS_DB").env_remove("RUMPROPS_STORE").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--db"), "{}", String::from_utf8_lossy(&out.stderr));
}
