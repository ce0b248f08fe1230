//! Session export: batches bounded by count and bytes, and an end-to-end run against a real
//! receiver on loopback that fails first: nothing is lost, sessions are marked only when delivered.

mod common;

use common::*;
use rumprops_collector::beacon::parse_beacon;
use rumprops_collector::export::{self, ExportTiming, MAX_BATCH_BYTES, MAX_BATCH_SESSIONS};
use rumprops_collector::store;
use serde_json::json;
use std::time::{Duration, Instant};

fn ingest_sessions(conn: &mut rusqlite::Connection, n: usize, padding: usize) {
    for i in 0..n {
        let b = beacon(&format!("s{i:05}"), 0, Some("idle"), json!({"string": {"pad": "x".repeat(padding)}}), json!([]));
        store::ingest(conn, &parse_beacon(b.to_string().as_bytes()).unwrap(), None, 0).unwrap();
    }
}

#[test]
fn batches_stop_at_1000_sessions_or_896000_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = store::open(&dir.path().join("a.db")).unwrap();
    ingest_sessions(&mut conn, MAX_BATCH_SESSIONS + 1, 10);
    let batch = export::next_batch(&conn, 0, 0).unwrap();
    assert_eq!((batch.ids.len(), batch.full), (MAX_BATCH_SESSIONS, true));

    let mut conn = store::open(&dir.path().join("b.db")).unwrap();
    ingest_sessions(&mut conn, 1000, 1000);
    let batch = export::next_batch(&conn, 0, 0).unwrap();
    assert!(batch.full && batch.body.len() <= MAX_BATCH_BYTES && batch.ids.len() < 1000, "{} sessions", batch.ids.len());
    for line in String::from_utf8(batch.body).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["properties"]["string"]["pad"].as_str().unwrap().len(), 1000);
    }
}

fn exported_sids(db: &std::path::Path) -> Vec<String> {
    let conn = store::open_reader(db).unwrap();
    let mut stmt = conn.prepare("SELECT sid FROM sessions WHERE exported = 1 ORDER BY sid").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

#[test]
fn receiver_failures_lose_nothing() {
    let (url, seen) = receiver(2);
    let c = start(|cfg| {
        cfg.export_url = Some(url);
        cfg.export_timing = ExportTiming { poll_ms: 20, flush_interval_ms: 0, min_backoff_ms: 30, max_backoff_ms: 100, settle_ms: 0 };
    });
    for sid in ["a", "b", "c"] {
        let b = beacon(sid, 0, Some("end_session"), json!({"long": {"big": i64::MAX}}), json!([action("x", 1_732_599_100_000, 1, json!({}))]));
        assert_eq!(post_beacon(c.addr, &b.to_string(), &[]).status, 204);
    }
    let live = beacon("live", 0, None, json!({}), json!([]));
    assert_eq!(post_beacon(c.addr, &live.to_string(), &[]).status, 204);

    let deadline = Instant::now() + Duration::from_secs(10);
    while exported_sids(&c.db).len() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(exported_sids(&c.db), ["a", "b", "c"], "the live session is not exported");
    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() >= 3, "two failures, then success: {seen:?}");
    assert_eq!(seen[0].0, 500);
    assert_eq!(seen[1].0, 500);
    // The failed batch is sent again (possibly with sessions that finished meanwhile).
    for line in seen[0].1.lines() {
        assert!(seen[1].1.lines().any(|l| l == line), "{line} not resent");
    }
    let delivered: Vec<serde_json::Value> = seen
        .iter()
        .filter(|(status, _)| *status == 200)
        .flat_map(|(_, body)| body.lines().map(|l| serde_json::from_str(l).unwrap()).collect::<Vec<_>>())
        .collect();
    let sids: Vec<&str> = delivered.iter().map(|s| s["userSessionId"].as_str().unwrap()).collect();
    assert_eq!(sids, ["a", "b", "c"]);
    assert_eq!(delivered[0]["properties"]["long"]["big"], json!(i64::MAX));
    assert_eq!(delivered[0]["userActions"][0]["requestErrorCount"], json!(1));
    assert_eq!(delivered[0]["endReason"], json!("END_EVENT"));
    // Every USQL field is exported under its USQL name, typed as USQL answers it; a null one
    // is left out.
    use rumprops_collector::usql::fields::UsqlTable;
    for (table, object) in [(UsqlTable::UserSession, &delivered[0]), (UsqlTable::UserAction, &delivered[0]["userActions"][0])] {
        for f in table.fields() {
            assert!(object.get(f.name).is_some() || f.nullable, "{} field {} missing: {object}", table.name(), f.name);
            assert_ne!(object.get(f.name), Some(&json!(null)), "{} is null", f.name);
        }
    }
    assert_eq!(delivered[0]["userId"], json!("alice"));
    assert!(delivered[0].get("city").is_none());
    assert_eq!(delivered[0]["bounce"], json!(true));
    assert_eq!(delivered[0]["matchingConversionGoals"], json!([]));
    assert_eq!(delivered[0]["userActions"][0]["apdexCategory"], json!("UNKNOWN"));
    assert_eq!(delivered[0]["userActions"][0]["keyUserAction"], json!(false));
    assert_eq!(delivered[0]["errors"], json!([]));
}
