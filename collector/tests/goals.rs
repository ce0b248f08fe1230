//! Conversion goals and key user actions (`--goals`), and the `usererror` table's fields, over
//! real loopback HTTP.

mod common;

use common::*;
use rumprops_collector::goals::Goals;
use serde_json::json;

const T: i64 = 1_732_599_100_000;

fn goals() -> Goals {
    Goals::parse(
        r#"{"goals": [
            {"name": "Booked", "url": "https://shop.example/booking/*/done"},
            {"name": "Paid", "action": "click on pay"},
            {"name": "Long visit", "sessionDurationMs": 200000},
            {"name": "Engaged", "actionCount": 3}
        ], "keyUserActions": ["click on pay", "click on search"]}"#,
    )
    .unwrap()
}

fn act(id: &str, start: i64, url: &str) -> serde_json::Value {
    let mut a = action(id, start, 0, json!({}));
    a["url"] = json!(url);
    a
}

#[test]
fn sessions_and_actions_match_goals() {
    let c = start(|cfg| {
        cfg.session_timeout_ms = 0;
        cfg.goals = goals();
    });
    // g1: books and pays, three actions, 220 s from the session start: all four goals.
    let b = beacon("g1", 0, None, json!({}), json!([act("search", T, "https://shop.example/"), act("pay", T + 1000, "https://shop.example/pay")]));
    assert_eq!(post_beacon(c.addr, &b.to_string(), &[]).status, 204);
    let b = beacon("g1", 1, None, json!({}), json!([act("x", T + 120_000, "https://shop.example/booking/42/done")]));
    assert_eq!(post_beacon(c.addr, &b.to_string(), &[]).status, 204);
    // g2: one action, 100 s: no goal.
    let b = beacon("g2", 0, None, json!({}), json!([act("y", T, "https://shop.example/booking/42")]));
    assert_eq!(post_beacon(c.addr, &b.to_string(), &[]).status, 204);
    let r = usql(c.addr, "table", "SELECT userSessionId, matchingConversionGoals, matchingConversionGoalsCount FROM usersession ORDER BY userSessionId", "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["values"], json!([["g1", ["Booked", "Paid", "Long visit", "Engaged"], 4], ["g2", [], 0]]));
    let r = usql(c.addr, "table", "SELECT name, keyUserAction, matchingConversionGoals FROM useraction ORDER BY startTime, name", "");
    assert_eq!(
        r.json()["values"],
        json!([["click on search", true, []], ["click on y", false, []], ["click on pay", true, ["Paid"]], ["click on x", false, ["Booked"]]])
    );
    let r = usql(c.addr, "table", "SELECT COUNT(*) FROM usersession WHERE matchingConversionGoals = 'Paid'", "");
    assert_eq!(r.json()["values"], json!([[1]]), "{}", r.body);
    let r = usql(c.addr, "table", "SELECT COUNT(*) FROM useraction WHERE keyUserAction = true", "");
    assert_eq!(r.json()["values"], json!([[2]]), "{}", r.body);
}

#[test]
fn usererror_rows() {
    let c = start(|cfg| cfg.session_timeout_ms = 0);
    let mut a = act("load", T, "https://shop.example/");
    a["name"] = json!("loading of page /");
    a["jsErrors"] = json!(3);
    a["errors"] = json!([
        {"message": "TypeError: x is undefined", "file": "https://shop.example/app.js", "line": 12, "column": 5, "time": T + 10},
        {"message": "TypeError: x is undefined", "file": "https://shop.example/other.js", "line": 3, "column": 1, "time": T + 20},
        {"message": "ReferenceError: y is not defined", "time": T + 30}
    ]);
    let b = beacon("e1", 0, None, json!({"string": {"tier": "Gold"}}), json!([a]));
    assert_eq!(post_beacon(c.addr, &b.to_string(), &[]).status, 204);
    let r = usql(c.addr, "table", "SELECT name, COUNT(*) FROM usererror GROUP BY name ORDER BY name", "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["values"], json!([["ReferenceError: y is not defined", 1], ["TypeError: x is undefined", 2]]));
    let q = "SELECT message, source, line, column, startTime, actionName, type, usersession.userSessionId, usersession.stringProperties.tier \
             FROM usererror ORDER BY startTime";
    let r = usql(c.addr, "table", q, "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["values"],
        json!([
            ["TypeError: x is undefined", "https://shop.example/app.js", 12, 5, T + 10, "loading of page /", "Error", "e1", "Gold"],
            ["TypeError: x is undefined", "https://shop.example/other.js", 3, 1, T + 20, "loading of page /", "Error", "e1", "Gold"],
            ["ReferenceError: y is not defined", null, null, null, T + 30, "loading of page /", "Error", "e1", "Gold"]
        ])
    );
    let r = usql(c.addr, "table", "SELECT COUNT(*) FROM usersession WHERE hasError = true AND usererror.name STARTSWITH 'Reference'", "");
    assert_eq!(r.json()["values"], json!([[1]]), "{}", r.body);
}

#[test]
fn a_bad_goals_file_stops_serve() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("goals.json");
    std::fs::write(&path, r#"{"goals": [{"name": "x", "url": "*", "actionCount": 2}]}"#).unwrap();
    let e = Goals::load(&path).unwrap_err();
    assert!(e.contains("goals.json") && e.contains("goals[0]: needs exactly one of"), "{e}");
}
