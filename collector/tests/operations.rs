//! What operators and load balancers read: `/healthz`, `/readyz` and the operator metrics on
//! `/metrics`, from a real collector over loopback.

mod common;

use common::*;
use serde_json::json;

fn value(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.split(' ').next() == Some(name))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in\n{metrics}"))
}

#[test]
fn health_readiness_and_operator_metrics() {
    let c = start(|_| {});
    let r = request(c.addr, "GET", "/healthz", &[], b"");
    assert_eq!((r.status, r.json()["status"].as_str()), (200, Some("ok")));
    let r = request(c.addr, "GET", "/readyz", &[], b"");
    assert_eq!((r.status, r.json()["status"].as_str()), (200, Some("ready")));

    let b = beacon("m1", 0, Some("end_session"), json!({}), json!([action("a", 1_732_599_100_000, 0, json!({}))]));
    assert_eq!(post_beacon(c.addr, &b.to_string(), &[]).status, 204);
    assert_eq!(post_beacon(c.addr, &b.to_string(), &[]).status, 204);
    assert_eq!(post_beacon(c.addr, "{", &[]).status, 400);
    assert_eq!(usql(c.addr, "table", "SELECT COUNT(*) FROM usersession", "").status, 200);

    let r = request(c.addr, "GET", "/metrics", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"), "{:?}", r.headers);
    let m = r.body;
    assert!(m.starts_with("# rumprops collector: operator metrics\n"), "{m}");
    assert_eq!(value(&m, "rumprops_collector_beacons_total{status=\"204\"}"), 2.0);
    assert_eq!(value(&m, "rumprops_collector_beacons_total{status=\"400\"}"), 1.0);
    assert_eq!(value(&m, "rumprops_collector_writer_queue_depth"), 0.0);
    assert_eq!(value(&m, "rumprops_collector_write_seconds_count"), 2.0, "one group per beacon at this load");
    assert_eq!(value(&m, "rumprops_collector_query_seconds_count"), 1.0);
    assert!(value(&m, "rumprops_collector_open_connections") >= 1.0, "this request's own connection");
    for line in m.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        assert!(line.starts_with("rumprops_collector_"), "{line}");
    }
}
