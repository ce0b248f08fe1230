//! The contract of DESIGN.md §4 from both sides: beacons built by the agent core (the same code
//! the browser runs) are posted to a real collector and the seed query reads them back.

mod common;

use common::*;
use rumprops::agent::action::ActionKind;
use rumprops::agent::api::Mode;
use rumprops::agent::Agent;
use rumprops::capture::Outcome;
use rumprops::value::PropertyValue;
use rumprops::Config;
use serde_json::json;

const T0: i64 = 1_732_600_000_000;

fn config() -> Config {
    let text = r#"{"version":1,"app":"easytravel","collector":"http://127.0.0.1/beacon",
        "properties":[
          {"key":"loyalty_status","type":"string","source":{"meta":"tier"},"storage":"session"},
          {"key":"items","type":"long","source":{"meta":"items"}}],
        "batch":{"maxActions":2}}"#;
    Config::parse(text, &|_| true).unwrap()
}

/// Runs one visitor's session through the agent and posts every beacon it produces.
fn visit(c: &Collector, tier: &str, failing_requests: &[bool], entropy_seed: u8, t: i64) {
    let mut agent = Agent::new(config(), Mode::Full);
    agent.identify_user("alice", t);
    let mut now = t;
    let post_all = |agent: &mut Agent, now: i64| {
        for out in agent.take_beacons(now) {
            let r = post_beacon(c.addr, &out.body, &[("Origin", "https://shop.example")]);
            assert_eq!(r.status, 204, "{}: {}", out.body, r.body);
            agent.on_response(&out.sid, out.seq, Some(r.status), None, now, 0.5);
        }
    };
    for (i, failed) in failing_requests.iter().enumerate() {
        let mut entropy = [entropy_seed; 32];
        entropy[0] = i as u8;
        let id = agent.start_action(ActionKind::Click, "click on Book", "https://shop.example/", now, &entropy).unwrap();
        agent.count_request(Some(&id), *failed);
        let outcomes = vec![Outcome::Value(PropertyValue::String(tier.into())), Outcome::Value(PropertyValue::Long(i64::MAX))];
        assert!(agent.end_action(&id, &outcomes, now + 100));
        now += 1000;
        post_all(&mut agent, now);
    }
    agent.end_session(now);
    agent.flush(now);
    post_all(&mut agent, now);
}

#[test]
fn agent_beacons_answer_the_seed_query() {
    let c = start(|cfg| cfg.allow_origins = vec!["https://shop.example".into()]);
    visit(&c, "Gold", &[true, false, true], 1, T0);
    visit(&c, "Silver", &[false], 2, T0 + 10_000);
    let q = "SELECT stringProperties.loyalty_status AS \"Loyalty status\", COUNT(useraction.requestErrorCount) AS \"HTTP error count\" FROM usersession WHERE stringProperties.loyalty_status IS NOT NULL GROUP BY stringProperties.loyalty_status";
    let r = usql(c.addr, "table", q, "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["values"], json!([["Gold", 3], ["Silver", 1]]));
    let r = usql(c.addr, "table", "SELECT SUM(requestErrorCount), MAX(longProperties.items) FROM useraction", "");
    assert_eq!(r.json()["values"], json!([[2, i64::MAX]]));
    let r = usql(c.addr, "table", "SELECT COUNT(*) FROM usersession WHERE userType = \"REAL_USER\" AND useraction.application = \"easytravel\" AND userId = 'alice'", &format!("&startTimestamp={T0}&endTimestamp={}", T0 + 60_000));
    assert_eq!(r.json()["values"], json!([[2]]));
}

#[test]
fn agent_measures_errors_and_device_are_stored_and_queryable() {
    let c = start(|cfg| cfg.allow_origins = vec!["https://shop.example".into()]);
    let mut agent = Agent::new(config(), Mode::Full);
    agent.device = rumprops::agent::beacon::device_json([Some(390.0), Some(844.0), Some(0.0)], Some("cellular".into()));
    let load = agent.start_action(ActionKind::Load, "/", "https://shop.example/", T0, &[7; 32]).unwrap();
    let mut m = [None; 18];
    for (i, v) in [(0, T0 as f64), (1, 10.0), (2, 40.0), (3, 55.0), (6, 300.0), (8, 320.0), (9, 250.4), (14, 0.25), (15, 4.0), (16, 2.0)] {
        m[i] = Some(v);
    }
    agent.open_action(&load).unwrap().measures = m;
    agent.js_error(None, "Uncaught TypeError: x is undefined".into(), Some("https://shop.example/app.js".into()), [Some(12.0), Some(5.0)], T0 + 100);
    assert!(agent.end_action(&load, &[], T0 + 400));
    let click = agent.start_action(ActionKind::Click, "click on Book", "https://shop.example/", T0 + 1_000, &[8; 32]).unwrap();
    for t in [0, 100, 200] {
        agent.click_at(50.0, 60.0, T0 + 1_000 + t);
    }
    assert!(agent.end_action(&click, &[], T0 + 1_300));
    agent.end_session(T0 + 2_000);
    agent.flush(T0 + 2_000);
    for out in agent.take_beacons(T0 + 2_000) {
        let r = post_beacon(c.addr, &out.body, &[("Origin", "https://shop.example")]);
        assert_eq!(r.status, 204, "{}: {}", out.body, r.body);
    }
    let q = "SELECT type, requestStart, responseStart, responseEnd, domCompleteTime, loadEventEnd, largestContentfulPaint, cumulativeLayoutShift, serverTime, firstPartyResources, thirdPartyResources, apdexCategory FROM useraction ORDER BY startTime";
    let r = usql(c.addr, "table", q, "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["values"],
        json!([["load", 10, 40, 55, 300, 320, 250, 0.25, 30, 4, 2, "FRUSTRATED"], ["click", null, null, null, null, null, null, null, null, null, null, "SATISFIED"]])
    );
    let r = usql(c.addr, "table", "SELECT screenWidth, screenHeight, screenOrientation, connectionType, numberOfRageClicks FROM usersession", "");
    assert_eq!(r.json()["values"], json!([[390, 844, "PORTRAIT", "MOBILE", 1]]), "{}", r.body);
    let r = usql(c.addr, "table", "SELECT name, COUNT(*) FROM usererror GROUP BY name", "");
    assert_eq!(r.json()["values"], json!([["Uncaught TypeError: x is undefined", 1]]), "{}", r.body);
}
