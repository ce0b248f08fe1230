//! The app's API over real loopback HTTP: access (no token, a wrong one, the wrong scope, for
//! every endpoint), calculated metrics at `/metrics`, alerts whose webhook (a real local HTTP
//! receiver that fails once, for the retry) gets firing and then resolved, dashboards.

mod common;

use common::{action, beacon, post_beacon, request, Collector};
use rumprops_collector::alerts::AlertTiming;
use rumprops_collector::auth::{self, Scope};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn start_with_auth() -> (Collector, String, String, String) {
    let c = common::start(|cfg| {
        cfg.auth = true;
        cfg.alert_timing = AlertTiming { interval_ms: 100, min_backoff_ms: 50, max_backoff_ms: 200, max_attempts: 10 };
    });
    let conn = rumprops_collector::store::open(&c.db).unwrap();
    let read = auth::create(&conn, &[Scope::Read], "r", 1).unwrap().token;
    let write = auth::create(&conn, &[Scope::Read, Scope::Write], "rw", 1).unwrap().token;
    let export = auth::create(&conn, &[Scope::Export], "e", 1).unwrap().token;
    (c, read, write, export)
}

fn call(addr: SocketAddr, method: &str, path: &str, token: Option<&str>, body: &Value) -> common::Response {
    let auth = token.map(|t| format!("Api-Token {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    let body = if body.is_null() { Vec::new() } else { body.to_string().into_bytes() };
    request(addr, method, path, &headers, &body)
}

/// Every endpoint with the scope it needs.
const ENDPOINTS: &[(&str, &str, Scope)] = &[
    ("GET", "/api/v1/userSessionQueryLanguage/table?query=SELECT%20COUNT(*)%20FROM%20usersession", Scope::Read),
    ("GET", "/api/v1/userSessionQueryLanguage/tree?query=SELECT%20COUNT(*)%20FROM%20usersession", Scope::Read),
    ("GET", "/api/v1/fields", Scope::Read),
    ("GET", "/api/v1/properties", Scope::Read),
    ("GET", "/api/v1/sessions/s1", Scope::Read),
    ("GET", "/api/v1/metrics", Scope::Read),
    ("GET", "/api/v1/metrics/1", Scope::Read),
    ("GET", "/api/v1/alerts", Scope::Read),
    ("GET", "/api/v1/alerts/1", Scope::Read),
    ("GET", "/api/v1/dashboards", Scope::Read),
    ("GET", "/api/v1/dashboards/1", Scope::Read),
    ("GET", "/metrics", Scope::Read),
    ("POST", "/api/v1/metrics", Scope::Write),
    ("PUT", "/api/v1/metrics/1", Scope::Write),
    ("DELETE", "/api/v1/metrics/1", Scope::Write),
    ("POST", "/api/v1/alerts", Scope::Write),
    ("PUT", "/api/v1/alerts/1", Scope::Write),
    ("DELETE", "/api/v1/alerts/1", Scope::Write),
    ("POST", "/api/v1/dashboards", Scope::Write),
    ("PUT", "/api/v1/dashboards/1", Scope::Write),
    ("DELETE", "/api/v1/dashboards/1", Scope::Write),
    ("GET", "/api/v1/export/sessions", Scope::Export),
];

#[test]
fn every_endpoint_needs_its_token_and_scope() {
    let (c, read, write, export) = start_with_auth();
    for (method, path, scope) in ENDPOINTS {
        let r = call(c.addr, method, path, None, &Value::Null);
        assert_eq!(r.status, 401, "{method} {path} without a token: {}", r.body);
        assert!(r.json()["error"].as_str().unwrap().contains("Api-Token"), "{}", r.body);
        assert_eq!(r.header("www-authenticate"), Some("Api-Token"));
        let r = call(c.addr, method, path, Some("rp_0123456789abcdef"), &Value::Null);
        assert_eq!(r.status, 401, "{method} {path} with an unknown token: {}", r.body);
        assert_eq!(r.json()["error"], "unknown token");
        let r = request(c.addr, method, path, &[("Authorization", &format!("Bearer {read}"))], b"");
        assert_eq!(r.status, 401, "{method} {path} with another scheme");
        let wrong = match scope {
            Scope::Read | Scope::Write => &export,
            Scope::Export => &write,
        };
        let r = call(c.addr, method, path, Some(wrong), &Value::Null);
        assert_eq!(r.status, 403, "{method} {path} with the wrong scope: {}", r.body);
        assert_eq!(r.json()["error"], format!("token lacks scope {scope}"));
        if *scope == Scope::Write {
            let r = call(c.addr, method, path, Some(&read), &Value::Null);
            assert_eq!(r.status, 403, "{method} {path} with a read token");
        }
        let right = match scope {
            Scope::Read => &read,
            Scope::Write => &write,
            Scope::Export => &export,
        };
        let r = call(c.addr, method, path, Some(right), &Value::Null);
        assert!(r.status != 401 && r.status != 403, "{method} {path} with the right scope: {} {}", r.status, r.body);
    }
    // Ingest and the static pages stay open.
    let b = beacon("s1", 0, None, json!({}), json!([]));
    assert_eq!(post_beacon(c.addr, &b.to_string(), &[]).status, 204);
    let me = call(c.addr, "GET", "/api/v1/auth/self", Some(&write), &Value::Null);
    assert_eq!(me.json(), json!({"scopes": ["read", "write"], "auth": true}));
    assert_eq!(call(c.addr, "GET", "/api/v1/auth/self", None, &Value::Null).status, 401);
}

/// The webhook's JSON bodies that got a 200: the receiver (`common::receiver`) answers 500 to
/// the first request (to exercise the retry), 200 after.
fn delivered(log: &common::Log) -> Vec<Value> {
    log.lock().unwrap().iter().filter(|(status, _)| *status == 200).map(|(_, b)| serde_json::from_str(b).unwrap_or(Value::Null)).collect()
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn metrics_alerts_and_dashboards() {
    let (c, read, write, export) = start_with_auth();
    let now = rumprops_collector::store::now_ms();
    // Two closed sessions that started a minute ago: Gold with 3 actions, Silver with 1.
    for (sid, tier, n) in [("g", "Gold", 3), ("s", "Silver", 1)] {
        let actions: Vec<Value> = (0..n).map(|i| action(&format!("{sid}{i}"), now - 60_000 + i * 1000, 0, json!({"string": {"step": "pay"}}))).collect();
        let mut b = beacon(sid, 0, Some("end_session"), json!({"string": {"tier": tier, "camp": "a\"b\\c"}}), json!(actions));
        b["session"]["start"] = json!(now - 60_000);
        let r = post_beacon(c.addr, &b.to_string(), &[]);
        assert_eq!(r.status, 204, "{}", r.body);
    }
    let metric = json!({"key": "actions_by_tier", "description": "Actions per loyalty tier", "table": "useraction",
        "aggregation": "COUNT", "filters": [{"field": "stringProperties.step", "operator": "EQUALS", "value": "pay"}],
        "dimensions": ["usersession.stringProperties.tier", "usersession.stringProperties.camp"], "windowMinutes": 10});
    let r = call(c.addr, "POST", "/api/v1/metrics", Some(&write), &metric);
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    let r = call(c.addr, "POST", "/api/v1/metrics", Some(&write), &metric);
    assert_eq!(r.status, 409, "a taken key: {}", r.body);
    let bad = json!({"key": "x", "table": "useraction", "aggregation": "AVG"});
    let r = call(c.addr, "POST", "/api/v1/metrics", Some(&write), &bad);
    assert_eq!((r.status, r.json()["error"].as_str().unwrap()), (400, "field: AVG needs a field"));

    let r = call(c.addr, "GET", "/metrics", Some(&read), &Value::Null);
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
    let (operator, users) = (r.body.find("# rumprops collector: operator metrics"), r.body.find("# Calculated metrics"));
    assert!(operator.is_some() && users.is_some() && operator < users, "two blocks, the operator's first: {}", r.body);
    assert!(!r.body[users.unwrap()..].contains("rumprops_collector_"), "{}", r.body);
    assert!(r.body.contains("# HELP rumprops_metric_actions_by_tier Actions per loyalty tier\n# TYPE rumprops_metric_actions_by_tier gauge\n"), "{}", r.body);
    assert!(
        r.body.contains("rumprops_metric_actions_by_tier{usersession_stringProperties_tier=\"Gold\",usersession_stringProperties_camp=\"a\\\"b\\\\c\"} 3\n"),
        "{}",
        r.body
    );
    assert!(r.body.contains("usersession_stringProperties_tier=\"Silver\""), "{}", r.body);
    let one = call(c.addr, "GET", &format!("/api/v1/metrics/{id}"), Some(&read), &Value::Null).json();
    assert_eq!(one["samples"].as_array().unwrap().len(), 2, "{one}");

    // An alert: more than 3 actions in 10 minutes. 4 are there: it fires; raising the threshold resolves it.
    let (hook, got) = common::receiver(1);
    let mut alert = json!({"name": "Busy <checkout>", "metricId": id, "operator": "ABOVE", "threshold": 3, "windowMinutes": 10,
        "forEvaluations": 2, "webhookUrl": hook});
    let r = call(c.addr, "POST", "/api/v1/alerts", Some(&write), &alert);
    assert_eq!(r.status, 201, "{}", r.body);
    let aid = r.json()["id"].as_i64().unwrap();
    assert_eq!(call(c.addr, "DELETE", &format!("/api/v1/metrics/{id}"), Some(&write), &Value::Null).status, 409);
    let firing = wait_for("the firing notification", || delivered(&got).first().cloned());
    assert_eq!(firing["version"], "4");
    assert_eq!(firing["status"], "firing");
    assert_eq!(firing["receiver"], "rumprops");
    assert_eq!(firing["alerts"][0]["labels"]["alertname"], "Busy <checkout>");
    assert_eq!(firing["alerts"][0]["labels"]["metric"], "rumprops_metric_actions_by_tier");
    assert_eq!(firing["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(firing["alerts"][0]["annotations"]["value"], "4");
    assert!(firing["alerts"][0]["startsAt"].as_str().unwrap().ends_with('Z'));
    let state = call(c.addr, "GET", &format!("/api/v1/alerts/{aid}"), Some(&read), &Value::Null).json();
    assert_eq!(state["state"], "FIRING", "{state}");
    let history: Vec<&str> = state["history"].as_array().unwrap().iter().map(|h| h["state"].as_str().unwrap()).collect();
    assert_eq!(history, ["FIRING", "PENDING", "OK"], "newest first: {state}");
    let sent = &state["notifications"][0];
    assert!(sent["attempts"].as_i64().unwrap() >= 2, "the first delivery failed and was retried: {state}");

    alert["threshold"] = json!(100);
    assert_eq!(call(c.addr, "PUT", &format!("/api/v1/alerts/{aid}"), Some(&write), &alert).status, 200);
    let resolved = wait_for("the resolved notification", || delivered(&got).get(1).cloned());
    assert_eq!(resolved["status"], "resolved");
    assert_ne!(resolved["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(resolved["alerts"][0]["startsAt"], firing["alerts"][0]["startsAt"]);
    let state = call(c.addr, "GET", &format!("/api/v1/alerts/{aid}"), Some(&read), &Value::Null).json();
    assert_eq!(state["state"], "OK");
    let bad = json!({"name": "x", "metricId": 999, "operator": "ABOVE", "threshold": 1, "webhookUrl": "http://127.0.0.1:1/"});
    let r = call(c.addr, "POST", "/api/v1/alerts", Some(&write), &bad);
    assert_eq!((r.status, r.json()["error"].as_str().unwrap()), (400, "metricId: no metric 999"));

    // Dashboards: two tiles, saved and read back in order.
    let dash = json!({"name": "Mine", "tiles": [
        {"title": "Tiers", "type": "PIE_CHART", "query": "SELECT stringProperties.tier, COUNT(*) FROM usersession GROUP BY stringProperties.tier"},
        {"title": "Actions", "type": "SINGLE_VALUE", "metricId": id, "width": 2}]});
    let r = call(c.addr, "POST", "/api/v1/dashboards", Some(&write), &dash);
    assert_eq!(r.status, 201, "{}", r.body);
    let did = r.json()["id"].as_i64().unwrap();
    let back = call(c.addr, "GET", &format!("/api/v1/dashboards/{did}"), Some(&read), &Value::Null).json();
    assert_eq!(back["tiles"], dash["tiles"].as_array().unwrap().iter().map(|t| { let mut t = t.clone(); if t.get("width").is_none() { t["width"] = json!(1); } t }).collect::<Value>());
    let r = call(c.addr, "POST", "/api/v1/dashboards", Some(&write), &json!({"name": "x", "tiles": [{"title": "t", "type": "TABLE", "query": "SELEKT"}]}));
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().starts_with("tiles[0].query:"), "{}", r.body);

    // Session details and the export.
    let s = call(c.addr, "GET", "/api/v1/sessions/g", Some(&read), &Value::Null).json();
    assert_eq!(s["userActions"].as_array().unwrap().len(), 3);
    assert_eq!(s["properties"]["string"]["tier"], "Gold");
    assert_eq!(call(c.addr, "GET", "/api/v1/sessions/nope", Some(&read), &Value::Null).status, 404);
    let r = call(c.addr, "GET", "/api/v1/export/sessions", Some(&export), &Value::Null);
    assert_eq!(r.body.lines().count(), 2, "{}", r.body);
    let keys = call(c.addr, "GET", "/api/v1/properties", Some(&read), &Value::Null).json();
    assert_eq!(keys["usersession"]["string"], json!(["camp", "tier"]));
    assert_eq!(keys["useraction"]["string"], json!(["step"]));
}
