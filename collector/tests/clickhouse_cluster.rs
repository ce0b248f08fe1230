//! The ClickHouse store sharded over a two-shard cluster (`serve --cluster`), against two real
//! `clickhouse-server` 18.16 processes configured as one cluster (`tests/common/clickhouse.rs`).

mod common;

use common::clickhouse::{self, ClickHouse, CLUSTER};
use common::{action, beacon, post_beacon};
use rumprops_collector::server::{start_in_thread, ServeConfig};
use serde_json::json;
use std::collections::BTreeSet;
use std::net::SocketAddr;

/// An in-process collector over database `db` of `ch`, sharded over the test cluster unless
/// `cluster` is `None`; its SQLite file in a temporary directory.
fn collector(ch: &ClickHouse, db: &str, cluster: Option<&str>) -> Result<(SocketAddr, tempfile::TempDir), String> {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::new(dir.path().join("app.db"), "127.0.0.1:0".parse().unwrap());
    config.store = Some(ch.store_url(db).parse().unwrap());
    config.cluster = cluster.map(str::to_owned);
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
            "actions\tDistributed\nactions_local\tReplacingMergeTree\nbeacons\tDistributed\nbeacons_local\tReplacingMergeTree\nschema_migrations\tReplacingMergeTree"
        );
        assert_eq!(
            one(ch, &db, "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'beacons'"),
            format!("Distributed({CLUSTER}, {db}, beacons_local, cityHash64(sid))")
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
        assert_eq!(one(ch, &db, "SELECT count(), max(version) FROM schema_migrations FINAL"), "1\t1");
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
    // Each session (its beacons and its actions) lives on exactly one shard: the one its
    // cityHash64(sid) names, and both shards have some.
    let on: Vec<BTreeSet<String>> = c.shards.iter().map(|sh| sids(&sh.ch, &db, "beacons_local")).collect();
    assert!(on[0].is_disjoint(&on[1]), "a session on both shards: {:?}", on[0].intersection(&on[1]).collect::<Vec<_>>());
    assert_eq!(on[0].len() + on[1].len(), sessions as usize);
    assert!(!on[0].is_empty() && !on[1].is_empty(), "one shard got every session: {on:?}");
    for (i, sh) in c.shards.iter().enumerate() {
        assert_eq!(sids(&sh.ch, &db, "actions_local"), on[i]);
        assert_eq!(one(&sh.ch, &db, &format!("SELECT count() FROM beacons_local WHERE cityHash64(sid) % 2 != {i}")), "0");
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
