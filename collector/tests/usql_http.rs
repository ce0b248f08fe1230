//! The USQL endpoints over loopback HTTP on data ingested through `POST /beacon`: the seed
//! queries, time windows, the tree shape, paging, live versus closed sessions, and errors.

mod common;

use common::*;
use serde_json::json;

const T: i64 = 1_732_599_000_000;

/// Three closed sessions: Gold with 3 actions (2 with request errors), Silver with 1, and one
/// without a loyalty status; a second application on one action.
fn seed(c: &Collector) {
    let sessions = [
        ("g1", Some("Gold"), T, vec![action("a1", T + 10, 1, json!({})), action("a2", T + 20, 0, json!({})), action("a3", T + 30, 2, json!({}))]),
        ("s1", Some("Silver"), T + 3_600_000, vec![action("b1", T + 3_600_010, 0, json!({"long": {"items": 2}}))]),
        ("n1", None, T + 7_200_000, vec![action("c1", T + 7_200_010, 5, json!({}))]),
    ];
    for (sid, tier, start, actions) in sessions {
        let props = match tier {
            Some(t) => json!({"string": {"loyalty_status": t}}),
            None => json!({}),
        };
        let mut b = beacon(sid, 0, Some("end_session"), props, json!(actions));
        b["session"]["start"] = json!(start);
        assert_eq!(post_beacon(c.addr, &b.to_string(), &[]).status, 204);
    }
    // An action of another application in the Silver session (a later beacon).
    let mut b = beacon("s1", 1, Some("end_session"), json!({}), json!([action("b2", T + 3_600_020, 0, json!({}))]));
    b["app"] = json!("other");
    b["session"]["start"] = json!(T + 3_600_000);
    assert_eq!(post_beacon(c.addr, &b.to_string(), &[]).status, 204);
}

#[test]
fn seed_query_groups_by_loyalty_status() {
    let c = start(|_| {});
    seed(&c);
    let q = "SELECT stringProperties.loyalty_status AS \"Loyalty status\", COUNT(useraction.requestErrorCount) AS \"HTTP error count\" FROM usersession WHERE stringProperties.loyalty_status IS NOT NULL GROUP BY stringProperties.loyalty_status";
    let r = usql(c.addr, "table", q, "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"extrapolationLevel": 1, "columnNames": ["Loyalty status", "HTTP error count"], "values": [["Gold", 3], ["Silver", 2]]})
    );
    let r = usql(c.addr, "tree", q, "");
    assert_eq!(
        r.json(),
        json!({"branchNames": ["Loyalty status"], "leafNames": ["HTTP error count"], "values": {"Gold": [3], "Silver": [2]}, "extrapolationLevel": 1})
    );
    // SUM counts the errors themselves.
    let r = usql(c.addr, "table", &q.replace("COUNT(", "SUM("), "");
    assert_eq!(r.json()["values"], json!([["Gold", 3], ["Silver", 0]]));
}

#[test]
fn time_window_queries_count_sessions() {
    let c = start(|_| {});
    seed(&c);
    let q = "SELECT COUNT(*) FROM usersession WHERE userType = \"REAL_USER\" AND useraction.application = \"easytravel\"";
    let count = |extra: &str| usql(c.addr, "table", q, extra).json()["values"].clone();
    assert_eq!(count(""), json!([[3]]), "sessions, not actions");
    assert_eq!(count(&format!("&startTimestamp={}&endTimestamp={}", T, T + 3_600_000)), json!([[2]]));
    assert_eq!(count(&format!("&startTimestamp={}", T + 1)), json!([[2]]));
    assert_eq!(count(&format!("&endTimestamp={}", T - 1)), json!([[0]]));
    let q2 = "SELECT COUNT(*) FROM usersession WHERE userType = \"REAL_USER\" AND useraction.application = \"other\"";
    assert_eq!(usql(c.addr, "table", q2, "").json()["values"], json!([[1]]));
    // The time frame selects sessions by their start, whatever the table (USQL.md §6): the
    // actions of the Silver session only, although a2 and a3 of Gold start inside the window.
    let q3 = "SELECT COUNT(*) FROM useraction WHERE application = 'easytravel'";
    assert_eq!(usql(c.addr, "table", q3, &format!("&startTimestamp={}&endTimestamp={}", T + 15, T + 3_600_010)).json()["values"], json!([[1]]));
}

#[test]
fn fields_aggregates_order_and_paging() {
    let c = start(|_| {});
    seed(&c);
    let r = usql(c.addr, "table", "SELECT userSessionId, userActionCount, totalErrorCount, endReason, duration FROM usersession ORDER BY userActionCount DESC, userSessionId", "");
    assert_eq!(
        r.json()["values"],
        json!([["g1", 3, 3, "END_EVENT", 130], ["s1", 2, 0, "END_EVENT", 120], ["n1", 1, 5, "END_EVENT", 110]])
    );
    let r = usql(c.addr, "table", "SELECT userSessionId FROM usersession ORDER BY startTime", "&pageSize=1&pageOffset=1");
    assert_eq!(r.json()["values"], json!([["s1"]]));
    let r = usql(c.addr, "table", "SELECT userSessionId FROM usersession ORDER BY startTime LIMIT 2", "&pageSize=5&pageOffset=1");
    assert_eq!(r.json()["values"], json!([["s1"]]), "LIMIT bounds all pages");
    let r = usql(c.addr, "table", "SELECT MEDIAN(requestErrorCount), PERCENTILE(requestErrorCount, 100), AVG(requestErrorCount), MIN(name), MAX(duration) FROM useraction", "");
    assert_eq!(r.json()["values"], json!([[0.5, 5.0, 1.3333333333333333, "click on a1", 100]]));
    let r = usql(c.addr, "table", "SELECT DISTINCT application FROM useraction ORDER BY application DESC", "");
    assert_eq!(r.json()["values"], json!([["other"], ["easytravel"]]));
    let r = usql(c.addr, "table", "select name from useraction where name like 'click on ?1' and not requestErrorCount between 1 and 4 order by name", "");
    assert_eq!(r.json()["values"], json!([["click on b1"], ["click on c1"]]));
    let r = usql(c.addr, "table", "SELECT COUNT(*) FROM useraction WHERE usersession.stringProperties.loyalty_status IN ('Gold', 'Platinum') OR longProperties.items >= 2", "");
    assert_eq!(r.json()["values"], json!([[4]]));
}

#[test]
fn live_sessions_only_on_request() {
    let c = start(|_| {});
    let b = beacon("live1", 0, None, json!({"string": {"loyalty_status": "Gold"}}), json!([action("x", T, 0, json!({}))]));
    assert_eq!(post_beacon(c.addr, &b.to_string(), &[]).status, 204);
    let q = "SELECT COUNT(*) FROM usersession";
    assert_eq!(usql(c.addr, "table", q, "").json()["values"], json!([[0]]));
    assert_eq!(usql(c.addr, "table", q, "&includeLive=true").json()["values"], json!([[1]]));
    // An idle timeout of 0 closes every session at once.
    let c0 = start(|cfg| cfg.session_timeout_ms = 0);
    assert_eq!(post_beacon(c0.addr, &b.to_string(), &[]).status, 204);
    assert_eq!(usql(c0.addr, "table", q, "").json()["values"], json!([[1]]));
}

#[test]
fn bad_queries_give_positions() {
    let c = start(|_| {});
    let r = usql(c.addr, "table", "SELECT COUNT(*) FROM usersession WHERE userType = 5", "");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["position"], 50);
    let r = usql(c.addr, "tree", "SELECT nope FROM usersession", "");
    assert_eq!((r.status, r.json()["position"].clone()), (400, json!(7)));
    let r = request(c.addr, "GET", "/api/v1/userSessionQueryLanguage/table", &[], b"");
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("query"));
    let r = request(c.addr, "GET", "/api/v1/userSessionQueryLanguage/table?query=%FF%FE", &[], b"");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["position"], 0, "invalid UTF-8 is read as U+FFFD and refused by the lexer");
    let r = usql(c.addr, "table", "SELECT COUNT(*) FROM usersession", "&pageSize=0");
    assert_eq!(r.status, 400);
    let r = usql(c.addr, "table", "SELECT COUNT(*) FROM usersession", "&startTimestamp=yesterday");
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().starts_with("startTimestamp"));
}

#[test]
fn query_command_prints_a_table() {
    let c = start(|_| {});
    seed(&c);
    let out = rumprops_collector::cli::query(&[
        "--db".into(),
        c.db.display().to_string(),
        "SELECT stringProperties.loyalty_status AS \"Loyalty status\", COUNT(*) AS \"Sessions\" FROM usersession GROUP BY stringProperties.loyalty_status ORDER BY \"Loyalty status\"".into(),
    ])
    .unwrap();
    assert_eq!(out, "Loyalty status | Sessions\n---------------+---------\nnull           |        1\nGold           |        1\nSilver         |        1\n(3 rows)");
    let err = rumprops_collector::cli::query(&["--db".into(), c.db.display().to_string(), "SELECT x FROM usersession".into()])
        .unwrap_err();
    assert!(err.contains("unknown usersession field") && err.contains("\n         ^"), "{err}");
}

#[test]
fn static_files_are_served() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<h1>dash</h1>").unwrap();
    let path = dir.path().to_path_buf();
    let c = start(move |cfg| cfg.static_dir = Some(path));
    let r = request(c.addr, "GET", "/", &[], b"");
    assert_eq!((r.status, r.body.as_str()), (200, "<h1>dash</h1>"));
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(request(c.addr, "GET", "/../Cargo.toml", &[], b"").status, 404);
    assert_eq!(request(c.addr, "GET", "/missing.js", &[], b"").status, 404);
}

#[test]
fn queries_stop_at_the_time_limit() {
    use rumprops_collector::{beacon::parse_beacon, store, usql};
    let dir = tempfile::tempdir().unwrap();
    let mut conn = store::open(&dir.path().join("t.db")).unwrap();
    for i in 0..200 {
        let actions: Vec<_> = (0..5).map(|k| action(&format!("a{k}"), T + k, 0, json!({}))).collect();
        let b = beacon(&format!("s{i}"), 0, Some("idle"), json!({}), json!(actions));
        store::ingest(&mut conn, &parse_beacon(b.to_string().as_bytes()).unwrap(), None, 0).unwrap();
    }
    let mut opts = usql::QueryOptions::now(0);
    let q = "SELECT useraction.name, COUNT(*) FROM usersession GROUP BY useraction.name";
    assert!(usql::run(&conn, q, &opts).is_ok());
    opts.time_limit_ms = 0;
    let e = usql::run(&conn, q, &opts).unwrap_err().to_string();
    assert!(e.contains("query time limit"), "{e}");
    // The connection works normally afterwards.
    opts.time_limit_ms = 10_000;
    assert_eq!(usql::run(&conn, q, &opts).unwrap().values.len(), 5);
}
