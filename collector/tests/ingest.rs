//! `POST /beacon` over real loopback HTTP into a real SQLite file: the right status for each
//! kind of bad input, and nothing partial stored.

mod common;

use common::*;
use serde_json::json;

const NOTHING: [(&str, i64); 7] =
    [("sessions", 0), ("beacons", 0), ("actions", 0), ("session_props", 0), ("action_props", 0), ("issues", 0), ("errors", 0)];

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
        // The beacon additions of issue 9: each member checked, with a valid error beside the bad one.
        (|b| b["actions"][0]["timings"] = json!({"requestStart": -3}), "actions[0].timings.requestStart: not a non-negative integer"),
        (|b| b["actions"][0]["timings"] = json!({"loadEventEnd": 12.5}), "actions[0].timings.loadEventEnd: not a non-negative integer"),
        (|b| b["actions"][0]["timings"] = json!({"largestContentfulPaint": null}), "actions[0].timings.largestContentfulPaint: not a non-negative integer"),
        (|b| b["actions"][0]["timings"] = json!({"cumulativeLayoutShift": "0"}), "actions[0].timings.cumulativeLayoutShift: not a finite number >= 0"),
        (|b| b["actions"][0]["resources"] = json!({"cdn": -1}), "actions[0].resources.cdn: not a non-negative integer"),
        (|b| b["actions"][0]["apdex"] = json!("satisfied"), "actions[0].apdex: not SATISFIED, TOLERATING or FRUSTRATED"),
        (|b| b["actions"][0]["rageClicks"] = json!("1"), "actions[0].rageClicks: not a non-negative integer"),
        (
            |b| b["actions"][0]["errors"] = json!([{"message": "ok", "time": 5}, {"message": "bad", "time": 5, "column": 1.5}]),
            "actions[0].errors[1].column: not a non-negative integer",
        ),
        (|b| b["actions"][0]["errors"] = json!([{"message": "no time"}]), "actions[0].errors[0].time: missing"),
        (|b| b["session"]["screen"] = json!({"height": -1}), "session.screen.height: not a non-negative integer"),
        (|b| b["session"]["screen"] = json!({"orientation": "UPSIDE_DOWN"}), "session.screen.orientation: not LANDSCAPE or PORTRAIT"),
        (|b| b["session"]["connection"] = json!(4), "session.connection: not a string"),
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

#[test]
fn measurements_errors_screen_and_connection_are_stored() {
    let c = start(|_| {});
    let start_ms = 1_732_599_100_000;
    let mut b = beacon("m1", 0, None, json!({}), json!([measured_load("a1", start_ms, json!([
        {"message": "TypeError: x is undefined", "file": "https://shop.example/app.js", "line": 10, "column": 4, "time": start_ms + 50},
        {"message": "ReferenceError: y", "time": start_ms + 60}
    ]))]));
    b["session"]["screen"] = json!({"width": 1920, "height": 1080, "orientation": "LANDSCAPE"});
    b["session"]["connection"] = json!("ethernet");
    let r = post_beacon(c.addr, &b.to_string(), &[]);
    assert_eq!(r.status, 204, "{}", r.body);
    let conn = rumprops_collector::store::open_reader(&c.db).unwrap();
    let row: Vec<Option<i64>> = conn
        .query_row(
            "SELECT navigation_start, request_start, response_start, response_end, document_interactive_time,
                dom_content_loaded_time, dom_complete_time, load_event_start, load_event_end, largest_contentful_paint,
                first_input_delay, interaction_to_next_paint, visually_complete_time, speed_index, server_time,
                network_time, frontend_time, first_party_resources, third_party_resources, cdn_resources, rage_clicks
             FROM actions",
            [],
            |r| (0..21).map(|i| r.get(i)).collect(),
        )
        .unwrap();
    let want = [start_ms, 20, 120, 150, 400, 420, 700, 700, 710, 380, 4, 48, 650, 300, 100, 50, 560, 7, 2, 1, 1];
    assert_eq!(row, want.map(Some).to_vec());
    let (cls, apdex): (f64, String) =
        conn.query_row("SELECT cumulative_layout_shift, apdex_category FROM actions", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((cls, apdex.as_str()), (0.125, "SATISFIED"));
    type SessionRow = (i64, i64, String, String, String, i64, String, Option<bool>);
    let s: SessionRow = conn
        .query_row(
            "SELECT screen_width, screen_height, screen_orientation, display_resolution, connection_type, rage_click_count,
                experience_score, new_user FROM sessions",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?)),
        )
        .unwrap();
    // One satisfied action, two JS errors and a rage click: 3 of 4 elements frustrating.
    assert_eq!(s, (1920, 1080, "LANDSCAPE".into(), "FHD".into(), "LAN".into(), 1, "FRUSTRATED".into(), Some(true)));
    type ErrorRow = (String, Option<String>, Option<i64>, Option<i64>, i64, String, String);
    let errors: Vec<ErrorRow> = conn
        .prepare("SELECT e.name, e.source, e.line, e.col, e.start_time, e.type, e.app FROM errors e JOIN actions a ON a.id = e.action_row ORDER BY e.start_time")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        errors,
        vec![
            ("TypeError: x is undefined".into(), Some("https://shop.example/app.js".into()), Some(10), Some(4), start_ms + 50, "Error".into(), "easytravel".into()),
            ("ReferenceError: y".into(), None, None, None, start_ms + 60, "Error".into(), "easytravel".into()),
        ]
    );
    drop(conn);

    // The same action resent in a later beacon replaces its errors; an older copy changes nothing.
    let mut again = beacon("m1", 2, None, json!({}), json!([measured_load("a1", start_ms, json!([
        {"message": "only this one", "time": start_ms + 70}
    ]))]));
    again["session"]["screen"] = json!({"width": 800, "height": 600});
    assert_eq!(post_beacon(c.addr, &again.to_string(), &[]).status, 204);
    let older = beacon("m1", 1, None, json!({}), json!([measured_load("a1", start_ms, json!([{"message": "stale", "time": 1}]))]));
    assert_eq!(post_beacon(c.addr, &older.to_string(), &[]).status, 204);
    let conn = rumprops_collector::store::open_reader(&c.db).unwrap();
    let names: Vec<String> =
        conn.prepare("SELECT name FROM errors").unwrap().query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(names, vec!["only this one".to_owned()]);
    let (width, rage): (i64, i64) =
        conn.query_row("SELECT screen_width, rage_click_count FROM sessions", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((width, rage), (1920, 1), "the first screen stays; the resent action's rage click counts once");
    assert_eq!(counts(&c.db)[6], ("errors", 1));

    // The same values through USQL, with their documented names, on both tables.
    let q = "SELECT navigationStart, requestStart, responseStart, responseEnd, documentInteractiveTime, domContentLoadedTime, \
             domCompleteTime, loadEventStart, loadEventEnd, largestContentfulPaint, firstInputDelay, interactionToNextPaint, \
             visuallyCompleteTime, speedIndex, serverTime, networkTime, frontendTime, firstPartyResources, thirdPartyResources, \
             cdnResources, cumulativeLayoutShift, apdexCategory, usersession.screenWidth FROM useraction";
    let r = usql(c.addr, "table", q, "&includeLive=true");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["values"],
        json!([[start_ms, 20, 120, 150, 400, 420, 700, 700, 710, 380, 4, 48, 650, 300, 100, 50, 560, 7, 2, 1, 0.125, "SATISFIED", 1920]])
    );
    let q = "SELECT screenWidth, screenHeight, screenOrientation, displayResolution, connectionType, numberOfRageClicks, \
             userExperienceScore, newUser, bounce, hasError, applicationType, useraction.serverTime FROM usersession";
    let r = usql(c.addr, "table", q, "&includeLive=true");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["values"], json!([[1920, 1080, "LANDSCAPE", "FHD", "LAN", 1, "FRUSTRATED", true, true, true, "WEB_APPLICATION", 100]]));
    let r = usql(c.addr, "table", "SELECT COUNT(*) FROM usersession WHERE newUser = true AND useraction.apdexCategory = 'SATISFIED' AND connectionType = 'LAN'", "&includeLive=true");
    assert_eq!(r.json()["values"], json!([[1]]), "{}", r.body);
}

#[test]
fn new_user_is_the_first_session_of_a_visitor() {
    let c = start(|_| {});
    let mut later = beacon("second", 0, None, json!({}), json!([]));
    later["session"]["start"] = json!(1_732_599_500_000_i64);
    let mut first = beacon("first", 0, None, json!({}), json!([]));
    first["session"]["start"] = json!(1_732_599_000_000_i64);
    let mut anonymous = beacon("anon", 0, None, json!({}), json!([]));
    anonymous["vid"] = json!(null);
    // The later session arrives first: it is a new user only until the earlier one is stored.
    for b in [&later, &first, &anonymous] {
        assert_eq!(post_beacon(c.addr, &b.to_string(), &[]).status, 204);
    }
    let conn = rumprops_collector::store::open_reader(&c.db).unwrap();
    let rows: Vec<(String, Option<bool>, String)> = conn
        .prepare("SELECT sid, new_user, experience_score FROM sessions ORDER BY sid")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        vec![
            ("anon".into(), None, "UNDEFINED".into()),
            ("first".into(), Some(true), "UNDEFINED".into()),
            ("second".into(), Some(false), "UNDEFINED".into())
        ]
    );
}
