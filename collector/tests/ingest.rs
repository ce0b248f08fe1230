//! `POST /beacon` over real loopback HTTP into a real SQLite file: the right status for each
//! kind of bad input, and nothing partial stored.

mod common;

use common::*;
use serde_json::json;

const NOTHING: [(&str, i64); 6] =
    [("sessions", 0), ("beacons", 0), ("actions", 0), ("session_props", 0), ("action_props", 0), ("issues", 0)];

fn good() -> serde_json::Value {
    beacon(
        "s1",
        0,
        None,
        json!({"string": {"loyalty_status": "Gold"}}),
        json!([action("a1", 1_732_599_100_000, 1, json!({"long": {"items": 3}, "double": {"total": 59.9}}))]),
    )
}

#[test]
fn refusals_store_nothing() {
    let c = start(|_| {});
    let mut cases: Vec<(String, u16, &str)> = vec![
        ("{\"v\":1,".to_owned(), 400, "$: malformed JSON"),
        ("[]".to_owned(), 400, "$: not an object"),
        ("".to_owned(), 400, "$: malformed JSON"),
    ];
    type Edit = fn(&mut serde_json::Value);
    let edits: Vec<(Edit, &str)> = vec![
        (|b| b["v"] = json!(2), "v: unsupported beacon version 2"),
        (|b| b["v"] = json!(null), "v: not an integer"),
        (|b| b["seq"] = json!("3"), "seq: not an i64"),
        (|b| b["sentAt"] = json!(1.5), "sentAt: not an i64"),
        (|b| b["session"]["start"] = json!(true), "session.start: not an i64"),
        (|b| b["session"]["userId"] = json!(7), "session.userId: not a string"),
        (|b| b["actions"][0]["requests"] = json!(-1), "actions[0].requests: negative"),
        (|b| b["actions"][0]["props"]["long"]["items"] = json!(3.5), "actions[0].props.long.items: not an i64"),
        (|b| b["actions"][0]["props"]["long"]["items"] = json!("3"), "actions[0].props.long.items: not an i64"),
        (|b| b["actions"][0]["props"]["double"]["total"] = json!("59.9"), "actions[0].props.double.total: not a finite number"),
        (|b| b["session"]["props"]["string"]["loyalty_status"] = json!(1), "session.props.string.loyalty_status: not a string"),
        (|b| b["session"]["props"]["string"]["Loyalty"] = json!("x"), "session.props.string.Loyalty: invalid property key"),
        (|b| b["session"]["props"]["string"]["a..b"] = json!("x"), "session.props.string.a..b: invalid property key"),
        (
            |b| b["session"]["props"]["string"]["x'; DROP TABLE sessions; --"] = json!("x"),
            "session.props.string.x'; DROP TABLE sessions; --: invalid property key",
        ),
        (|b| b["session"]["props"]["string"]["k".repeat(101).as_str()] = json!("x"), "invalid property key"),
        // The first action is fine; the second is not: neither may be stored.
        (
            |b| b["actions"].as_array_mut().unwrap().push(json!({"id": "a2", "kind": "click"})),
            "actions[1].name: missing",
        ),
        (|b| b["issues"] = json!([{"key": "k"}]), "issues[0].reason: missing"),
    ];
    for (edit, want) in edits {
        let mut b = good();
        edit(&mut b);
        cases.push((b.to_string(), 400, want));
    }
    for (body, status, want) in &cases {
        let r = post_beacon(c.addr, body, &[]);
        assert_eq!(r.status, *status, "{want}: {}", r.body);
        let err = r.json()["error"].as_str().unwrap().to_owned();
        assert!(err.contains(want), "{err:?} should contain {want:?}");
        assert_eq!(counts(&c.db), NOTHING, "after {want}");
    }
}

#[test]
fn oversized_body_is_413() {
    let c = start(|_| {});
    let mut b = good();
    b["session"]["props"]["string"]["padding"] = json!("x".repeat(900));
    let mut actions = Vec::new();
    for i in 0..80 {
        actions.push(action(&format!("a{i}"), 1_732_599_100_000, 0, json!({"string": {"blob": "y".repeat(900)}})));
    }
    b["actions"] = json!(actions);
    let body = b.to_string();
    assert!(body.len() > 64 * 1024);
    let r = post_beacon(c.addr, &body, &[]);
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("larger than 65536"));
    assert_eq!(counts(&c.db), NOTHING);
}

#[test]
fn duplicates_are_acknowledged_once() {
    let c = start(|_| {});
    let body = good().to_string();
    assert_eq!(post_beacon(c.addr, &body, &[]).status, 204);
    let after_first = counts(&c.db);
    assert_eq!(after_first[0], ("sessions", 1));
    assert_eq!(after_first[2], ("actions", 1));
    for _ in 0..3 {
        assert_eq!(post_beacon(c.addr, &body, &[]).status, 204);
    }
    assert_eq!(counts(&c.db), after_first);
}

#[test]
fn origins_and_cors() {
    let c = start(|cfg| cfg.allow_origins = vec!["https://shop.example".into()]);
    let body = good().to_string();
    let r = post_beacon(c.addr, &body, &[("Origin", "https://evil.example")]);
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"], "origin not allowed");
    assert_eq!(counts(&c.db), NOTHING);
    let r = request(c.addr, "OPTIONS", "/beacon", &[("Origin", "https://evil.example")], b"");
    assert_eq!(r.status, 403);

    let r = request(c.addr, "OPTIONS", "/beacon", &[("Origin", "https://shop.example")], b"");
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("https://shop.example"));
    assert_eq!(r.header("access-control-allow-methods"), Some("POST, OPTIONS"));

    let r = post_beacon(c.addr, &body, &[("Origin", "https://shop.example")]);
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("https://shop.example"));
    // Query results are readable by the allowed origin only.
    let path = format!("/api/v1/userSessionQueryLanguage/table?query={}", encode("SELECT COUNT(*) FROM usersession"));
    let r = request(c.addr, "GET", &path, &[("Origin", "https://shop.example")], b"");
    assert_eq!((r.status, r.header("access-control-allow-origin")), (200, Some("https://shop.example")));
    let r = request(c.addr, "GET", &path, &[("Origin", "https://evil.example")], b"");
    assert_eq!((r.status, r.header("access-control-allow-origin")), (200, None));
    // No Origin header (not a browser): allowed.
    let mut b = good();
    b["seq"] = json!(1);
    assert_eq!(post_beacon(c.addr, &b.to_string(), &[]).status, 204);
    assert_eq!(counts(&c.db)[1], ("beacons", 2));
}

#[test]
fn any_origin_when_no_allowlist() {
    let c = start(|_| {});
    let r = post_beacon(c.addr, &good().to_string(), &[("Origin", "https://anywhere.example")]);
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("https://anywhere.example"));
}

#[test]
fn rate_limit_is_per_client() {
    let c = start(|cfg| {
        cfg.rate_limit.per_sec = 0.0;
        cfg.rate_limit.burst = 2.0;
    });
    for seq in 0..2 {
        let mut b = good();
        b["seq"] = json!(seq);
        assert_eq!(post_beacon(c.addr, &b.to_string(), &[]).status, 204);
    }
    let mut b = good();
    b["seq"] = json!(2);
    let r = post_beacon(c.addr, &b.to_string(), &[]);
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    assert_eq!(counts(&c.db)[1], ("beacons", 2));
}

#[test]
fn i64_extremes_round_trip_exactly() {
    let c = start(|cfg| cfg.session_timeout_ms = 0);
    let body = good()
        .to_string()
        .replace("\"items\":3", "\"items\":9223372036854775807,\"low\":-9223372036854775808,\"past_2_53\":9007199254740993");
    assert_eq!(post_beacon(c.addr, &body, &[]).status, 204);
    let q = "SELECT useraction.longProperties.items, useraction.longProperties.low, useraction.longProperties.past_2_53 FROM usersession";
    let r = usql(c.addr, "table", q, "");
    assert_eq!(r.status, 200, "{}", r.body);
    // Check the raw text: no float rounding anywhere on the way.
    assert!(r.body.contains("[[9223372036854775807,-9223372036854775808,9007199254740993]]"), "{}", r.body);
    for (cond, want) in [
        ("longProperties.items = 9223372036854775807", 1),
        ("longProperties.items = 9223372036854775806", 0),
        ("longProperties.low = -9223372036854775808", 1),
        ("longProperties.past_2_53 = 9007199254740992", 0),
        ("longProperties.past_2_53 > 9007199254740992", 1),
    ] {
        let r = usql(c.addr, "table", &format!("SELECT COUNT(*) FROM useraction WHERE {cond}"), "");
        assert_eq!(r.json()["values"], json!([[want]]), "{cond}");
    }
}

#[test]
fn sql_metacharacters_are_data() {
    let c = start(|cfg| cfg.session_timeout_ms = 0);
    let evil = "'; DROP TABLE sessions; --";
    let mut b = good();
    b["session"]["props"]["string"]["note"] = json!(evil);
    b["session"]["userId"] = json!("\"); DELETE FROM actions; --");
    b["actions"][0]["name"] = json!("Robert'); DROP TABLE actions;--");
    assert_eq!(post_beacon(c.addr, &b.to_string(), &[]).status, 204);
    let r = usql(c.addr, "table", &format!("SELECT stringProperties.note, userId FROM usersession WHERE stringProperties.note = '{}'", evil.replace('\'', "''")), "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["values"], json!([[evil, "\"); DELETE FROM actions; --"]]));
    let r = usql(c.addr, "table", "SELECT name FROM useraction WHERE name STARTSWITH \"Robert'); DROP\"", "");
    assert_eq!(r.json()["values"], json!([["Robert'); DROP TABLE actions;--"]]));
    // Keys with metacharacters never reach SQL: refused by the parser with a position.
    let r = usql(c.addr, "table", "SELECT stringProperties.note'; DROP TABLE sessions; -- FROM usersession", "");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["position"], 28);
    let r = usql(c.addr, "table", "SELECT COUNT(*) FROM usersession; DROP TABLE sessions", "");
    assert_eq!(r.status, 400);
    assert_eq!(counts(&c.db)[0], ("sessions", 1));
    assert_eq!(counts(&c.db)[2], ("actions", 1));
}

#[test]
fn concurrent_beacons_are_all_stored_once() {
    let c = start(|cfg| {
        cfg.rate_limit.per_sec = 1e6;
        cfg.rate_limit.burst = 1e6;
    });
    let addr = c.addr;
    std::thread::scope(|scope| {
        for t in 0..8 {
            scope.spawn(move || {
                for i in 0..25 {
                    let mut b = good();
                    b["sid"] = json!(format!("t{t}"));
                    b["seq"] = json!(i);
                    b["actions"][0]["id"] = json!(format!("a{i}"));
                    // Every beacon twice: the duplicate may land in the same write group.
                    assert_eq!(post_beacon(addr, &b.to_string(), &[]).status, 204);
                    assert_eq!(post_beacon(addr, &b.to_string(), &[]).status, 204);
                }
            });
        }
    });
    let n = counts(&c.db);
    assert_eq!(&n[..3], &[("sessions", 8), ("beacons", 200), ("actions", 200)]);
    let r = usql(c.addr, "table", "SELECT userSessionId, userActionCount FROM usersession ORDER BY userSessionId", "&includeLive=true");
    let rows = r.json()["values"].clone();
    assert_eq!(rows.as_array().unwrap().len(), 8);
    assert!(rows.as_array().unwrap().iter().all(|row| row[1] == json!(25)), "{rows}");
}
