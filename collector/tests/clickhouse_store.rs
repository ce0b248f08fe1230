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
use serde_json::json;
use std::net::SocketAddr;

/// A collector storing beacons in database `db` of `ch` (its SQLite file in a temp dir).
fn collector(ch: &clickhouse::ClickHouse, db: &str) -> (SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::new(dir.path().join("app.db"), "127.0.0.1:0".parse().unwrap());
    config.store = Some(ch.store_url(db).parse().unwrap());
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
    assert_eq!(one(ch, &db, "SELECT max(version) FROM schema_migrations"), "1");
}

#[test]
fn migrations_run_once_and_a_newer_schema_is_refused() {
    let ch = clickhouse::server();
    let db = clickhouse::fresh_database();
    let (_a, _da) = collector(ch, &db);
    let (_b, _db) = collector(ch, &db);
    assert_eq!(one(ch, &db, "SELECT count() FROM schema_migrations FINAL"), "1");
    ch.query_in(&db, "INSERT INTO schema_migrations VALUES (99, 0)").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::new(dir.path().join("app.db"), "127.0.0.1:0".parse().unwrap());
    config.store = Some(ch.store_url(&db).parse().unwrap());
    let err = start_in_thread(config).unwrap_err();
    assert!(err.contains("schema version 99"), "{err}");
}

#[test]
fn clickhouse_down_is_503_with_retry_after_and_usql_is_refused_clearly() {
    let own = clickhouse::start_own();
    let (a, _d) = collector(&own.ch, "rum");
    let body = |seq| beacon("d1", seq, None, json!({}), json!([action(&format!("a{seq}"), 1_732_599_000_000, 0, json!({}))])).to_string();
    assert_eq!(post_beacon(a, &body(1), &[]).status, 204);
    let q = common::usql(a, "table", "SELECT count(*) FROM useraction", "");
    assert_eq!(q.status, 400);
    assert!(q.body.contains("not yet translated to ClickHouse"), "{}", q.body);
    own.stop();
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
