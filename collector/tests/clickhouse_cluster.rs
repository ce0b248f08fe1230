//! The ClickHouse store sharded over a two-shard cluster (`serve --cluster`), against two real
//! `clickhouse-server` 18.16 processes configured as one cluster (`tests/common/clickhouse.rs`).

mod common;

use common::clickhouse::{self, ClickHouse, CLUSTER};
use common::{action, beacon, post_beacon};
use rumprops_collector::server::{start_in_thread, ServeConfig};
use serde_json::json;
use common::fleet::{assert_each_once, clickhouse_actions, crash_during_ingest, serve, spread_with_resends, Process};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An in-process collector over database `db` of `ch`, sharded over the test cluster unless
/// `cluster` is `None`; its SQLite file in a temporary directory.
fn collector(ch: &ClickHouse, db: &str, cluster: Option<&str>) -> Result<(SocketAddr, tempfile::TempDir), String> {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::new(dir.path().join("app.db"), "127.0.0.1:0".parse().unwrap());
    config.store = Some(ch.store_url(db).parse().unwrap());
    config.cluster = cluster.map(str::to_owned);
    // These tests post one beacon after another: a batch waits at most 10 ms for company.
    config.clickhouse_batching.max_wait = Duration::from_millis(10);
    config.rate_limit = rumprops_collector::ratelimit::RateLimit { per_sec: 10_000.0, burst: 10_000.0 };
    Ok((start_in_thread(config)?, dir))
}

fn one(ch: &ClickHouse, db: &str, sql: &str) -> String {
    ch.query_in(db, sql).unwrap_or_else(|e| panic!("{sql}: {e}")).trim().to_owned()
}

/// The distinct session ids in `table` of one shard's server.
fn sids(ch: &ClickHouse, db: &str, table: &str) -> BTreeSet<String> {
    one(ch, db, &format!("SELECT DISTINCT sid FROM {table}")).lines().map(str::to_owned).filter(|s| !s.is_empty()).collect()
}

#[test]
fn the_cluster_layout_is_made_on_every_shard_once() {
    let c = clickhouse::cluster();
    let db = c.fresh_database();
    // A collector on each shard's server: both find the cluster in system.clusters and migrate
    // both servers; the second finds the work done.
    let (_a, _da) = collector(&c.shards[0].ch, &db, Some(CLUSTER)).unwrap();
    let (_b, _db) = collector(&c.shards[1].ch, &db, Some(CLUSTER)).unwrap();
    for s in &c.shards {
        let ch = &s.ch;
        assert_eq!(
            one(ch, &db, "SELECT name, engine FROM system.tables WHERE database = currentDatabase() ORDER BY name"),
            "action_rollups\tDistributed\naction_rollups_local\tReplacingMergeTree\nactions\tDistributed\nactions_local\tReplacingMergeTree\nbeacons\tDistributed\nbeacons_local\tReplacingMergeTree\nexports\tDistributed\nexports_local\tReplacingMergeTree\nrollup_seals\tDistributed\nrollup_seals_local\tReplacingMergeTree\nschema_migrations\tReplacingMergeTree\nsealed_sessions\tDistributed\nsealed_sessions_local\tReplacingMergeTree"
        );
        assert_eq!(
            one(ch, &db, "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'beacons'"),
            format!("Distributed({CLUSTER}, {db}, beacons_local, cityHash64(sid))")
        );
        assert_eq!(
            one(ch, &db, "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'action_rollups'"),
            format!("Distributed({CLUSTER}, {db}, action_rollups_local, cityHash64(hour))")
        );
        let local = one(ch, &db, "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'actions_local'");
        assert!(
            local.starts_with("ReplacingMergeTree(seq) PARTITION BY toYYYYMM(day) ORDER BY (app, day, name, sid, action_id)"),
            "{local}"
        );
        // The Distributed table has the local table's columns.
        assert_eq!(
            one(ch, &db, "SELECT count() FROM system.columns WHERE database = currentDatabase() AND table = 'beacons'"),
            one(ch, &db, "SELECT count() FROM system.columns WHERE database = currentDatabase() AND table = 'beacons_local'")
        );
        let v = rumprops_collector::clickhouse::schema_version();
        assert_eq!(one(ch, &db, "SELECT count(), max(version) FROM schema_migrations FINAL"), format!("{v}\t{v}"));
    }
}

#[test]
fn resends_to_collectors_on_both_shards_are_read_once_and_each_session_lives_on_one_shard() {
    let c = clickhouse::cluster();
    let db = c.fresh_database();
    let collectors = [collector(&c.shards[0].ch, &db, Some(CLUSTER)).unwrap(), collector(&c.shards[1].ch, &db, Some(CLUSTER)).unwrap()];
    let (sessions, beacons_per_session) = (24_i64, 3_i64);
    let mut k = 0;
    for s in 0..sessions {
        for seq in 1..=beacons_per_session {
            let actions = json!([
                action(&format!("{seq}x"), 1_732_599_000_000 + seq * 1000, 0, json!({"long": {"k": k}})),
                action(&format!("{seq}y"), 1_732_599_000_500 + seq * 1000, 1, json!({}))
            ]);
            k += 1;
            let sid = format!("cs{s}");
            let body = beacon(&sid, seq, None, json!({"string": {"plan": "gold"}}), actions).to_string();
            let to = ((s + seq) % 2) as usize;
            assert_eq!(post_beacon(collectors[to].0, &body, &[]).status, 204);
            // Acknowledged means on its shard already: the local tables (not the Distributed
            // ones, whose async inserts would still sit in a send queue) hold the beacon.
            let here: i64 = c
                .shards
                .iter()
                .map(|sh| one(&sh.ch, &db, &format!("SELECT count() FROM beacons_local WHERE sid = '{sid}' AND seq = {seq}")).parse::<i64>().unwrap())
                .sum();
            assert!(here >= 1, "beacon {sid}/{seq} acknowledged but on no shard");
            // Every third is resent to the other collector (a lost acknowledgement).
            if k % 3 == 0 {
                assert_eq!(post_beacon(collectors[1 - to].0, &body, &[]).status, 204);
            }
        }
    }
    let n = sessions * beacons_per_session;
    for sh in &c.shards {
        // Read through the Distributed tables on either server, FINAL collapses every resend.
        let ch = &sh.ch;
        assert_eq!(one(ch, &db, "SELECT count(), uniqExact(sid, action_id) FROM actions FINAL"), format!("{0}\t{0}", n * 2));
        assert_eq!(one(ch, &db, "SELECT count() FROM beacons FINAL"), n.to_string());
        assert_eq!(one(ch, &db, "SELECT sum(long_values[indexOf(long_keys, 'k')]) FROM actions FINAL"), (n * (n - 1) / 2).to_string());
        assert_eq!(
            one(ch, &db, "SELECT count() FROM (SELECT sid, argMax(user_id, seq) FROM beacons FINAL GROUP BY sid)"),
            sessions.to_string()
        );
    }
    assert!(one(&c.shards[0].ch, &db, "SELECT count() FROM actions").parse::<i64>().unwrap() > n * 2, "no resend was written twice");
    sessions_live_on_one_shard(c, &db, sessions as usize);
}

/// Each session (its beacons and its actions) lives on exactly one shard, the one its
/// `cityHash64(sid)` names; there are `sessions` of them and both shards have some.
fn sessions_live_on_one_shard(c: &clickhouse::Cluster, db: &str, sessions: usize) {
    let on: Vec<BTreeSet<String>> = c.shards.iter().map(|sh| sids(&sh.ch, db, "beacons_local")).collect();
    assert!(on[0].is_disjoint(&on[1]), "a session on both shards: {:?}", on[0].intersection(&on[1]).collect::<Vec<_>>());
    assert_eq!(on[0].len() + on[1].len(), sessions);
    assert!(!on[0].is_empty() && !on[1].is_empty(), "one shard got every session: {on:?}");
    for (i, sh) in c.shards.iter().enumerate() {
        assert_eq!(sids(&sh.ch, db, "actions_local"), on[i]);
        assert_eq!(one(&sh.ch, db, &format!("SELECT count() FROM beacons_local WHERE cityHash64(sid) % 2 != {i}")), "0");
    }
}

#[test]
fn a_database_holds_one_layout_and_an_unknown_cluster_is_refused_by_name() {
    let c = clickhouse::cluster();
    let ch = &c.shards[0].ch;
    let single = c.fresh_database();
    let (_a, _da) = collector(ch, &single, None).unwrap();
    let err = collector(ch, &single, Some(CLUSTER)).unwrap_err();
    assert!(err.contains("not Distributed (made without --cluster)"), "{err}");
    let sharded = c.fresh_database();
    let (_b, _db) = collector(ch, &sharded, Some(CLUSTER)).unwrap();
    let err = collector(&c.shards[1].ch, &sharded, None).unwrap_err();
    assert!(err.contains("is a Distributed table (made with --cluster)"), "{err}");
    let err = collector(ch, &c.fresh_database(), Some("no_such_cluster")).unwrap_err();
    assert!(err.contains("knows no cluster no_such_cluster"), "{err}");
}

/// The tests that run four collector processes take turns: on two cores, three such runs at once
/// (twelve collectors, four servers) mostly measure the scheduler.
fn one_fleet_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// Beacons each of the four clients sends in the fleet tests.
const PER_CLIENT: usize = 40;

/// `rumprops serve` over database `db` of the cluster, on shard `shard`'s server; `extra`
/// options after the store's.
fn start_process(c: &clickhouse::Cluster, db: &str, shard: usize, dir: &std::path::Path, i: usize, extra: &[&str]) -> Process {
    let store = c.shards[shard].ch.store_url(db);
    let args: Vec<&str> = ["--store", store.as_str(), "--cluster", CLUSTER].into_iter().chain(extra.iter().copied()).collect();
    serve(&dir.join(format!("app{i}.db")), "127.0.0.1:0", &args, dir.join(format!("c{i}.err")))
        .unwrap_or_else(|e| panic!("collector {i} did not start: {e}"))
}

/// Beacons a collector holds in its writer queue and unsent batch (its `/metrics`).
fn waiting_beacons(addr: SocketAddr) -> i64 {
    let text = common::request(addr, "GET", "/metrics", &[], b"").body;
    let line = text.lines().find(|l| l.starts_with("rumprops_collector_writer_queue_depth ")).expect("queue depth metric");
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// Checks what the four-collector runs stored: every action once, read through the
/// `Distributed` tables with `FINAL` on either server, and each session on one shard.
fn stored_once(c: &clickhouse::Cluster, db: &str, sent: &[(String, String)], beacons: usize, sessions: usize) {
    for sh in &c.shards {
        assert_each_once(sent, &clickhouse_actions(&sh.ch, db));
        assert_eq!(one(&sh.ch, db, "SELECT count() FROM beacons FINAL"), beacons.to_string());
    }
    sessions_live_on_one_shard(c, db, sessions);
}

#[test]
fn four_collector_processes_over_two_shards_with_resends_and_a_sigkill_mid_batch_store_every_action_once() {
    let _turn = one_fleet_at_a_time();
    let c = clickhouse::cluster();
    let db = c.fresh_database();
    let dir = tempfile::tempdir().unwrap();
    // Two collectors on each shard's server. Collector 0 holds its batch for a minute (or 100,000
    // beacons), so the SIGKILL below surely hits beacons it accepted and has not inserted.
    let quick = ["--batch-max-wait-ms", "20"];
    let hold = ["--batch-max-wait-ms", "60000", "--batch-max-beacons", "100000"];
    let mut procs: Vec<Process> = (0..4).map(|i| start_process(c, &db, i % 2, dir.path(), i, if i == 0 { &hold } else { &quick })).collect();
    let addrs = Arc::new(Mutex::new(procs.iter().map(|p| p.addr).collect::<Vec<SocketAddr>>()));
    let (sent, failures) = spread_with_resends(&addrs, 4, PER_CLIENT, 0, || {
        let deadline = Instant::now() + Duration::from_secs(300);
        while waiting_beacons(procs[0].addr) < 2 {
            assert!(Instant::now() < deadline, "collector 0 never held a batch");
            std::thread::sleep(Duration::from_millis(10));
        }
        procs[0].signal("-KILL");
        let _ = procs[0].child.wait();
        procs[0] = start_process(c, &db, 0, dir.path(), 4, &quick);
        addrs.lock().unwrap()[0] = procs[0].addr;
    });
    assert!(failures >= 2, "the kill cut no waiting beacon ({failures} failed tries)");
    assert_eq!(sent.len(), 4 * PER_CLIENT * 3);
    stored_once(c, &db, &sent, 4 * PER_CLIENT, 4 * PER_CLIENT / 2);
}

#[test]
fn a_shard_sigkilled_mid_ingest_and_restarted_loses_nothing_and_doubles_nothing() {
    let _turn = one_fleet_at_a_time();
    // A cluster of this test's own: the others in this binary keep theirs running.
    let c = clickhouse::start_own_cluster();
    let db = c.fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let procs: Vec<Process> = (0..4).map(|i| start_process(&c, &db, i % 2, dir.path(), i, &["--batch-max-wait-ms", "20"])).collect();
    let addrs = Arc::new(Mutex::new(procs.iter().map(|p| p.addr).collect::<Vec<SocketAddr>>()));
    // After 40 acknowledgements the second shard is SIGKILLed, and restarted on its data 0.7 s
    // later: meanwhile its collectors and every insert with one of its sessions get 503.
    let (sent, failures) = spread_with_resends(&addrs, 4, PER_CLIENT, 40, || {
        c.shards[1].stop();
        std::thread::sleep(Duration::from_millis(700));
        c.shards[1].restart();
    });
    assert!(failures > 0, "no beacon was refused while a shard was down");
    assert_eq!(sent.len(), 4 * PER_CLIENT * 3);
    stored_once(&c, &db, &sent, 4 * PER_CLIENT, 4 * PER_CLIENT / 2);
    drop(procs);
}

#[test]
fn a_collector_sigkilled_five_times_during_ingest_over_the_cluster_keeps_every_action_once() {
    let _turn = one_fleet_at_a_time();
    let c = clickhouse::cluster();
    let db = c.fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let store = c.shards[1].ch.store_url(&db);
    let args = ["--store", store.as_str(), "--cluster", CLUSTER, "--batch-max-wait-ms", "50"];
    crash_during_ingest(&dir.path().join("app.db"), &args, || clickhouse_actions(&c.shards[0].ch, &db));
    let sessions = one(&c.shards[0].ch, &db, "SELECT uniqExact(sid) FROM beacons FINAL").parse().unwrap();
    sessions_live_on_one_shard(c, &db, sessions);
}
