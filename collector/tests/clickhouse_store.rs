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
