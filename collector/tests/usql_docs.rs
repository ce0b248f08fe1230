//! USQL as its documentation describes it (`../shared/USQL.md`, sections cited per group):
//! queries written from the descriptions, each with its expected answer over one fixture of six
//! sessions ingested through the real store (beacons parsed and stored as the collector does).
//!
//! The fixture (T0 = Monday 2024-11-25 00:00 UTC; durations in ms):
//!
//! | session | user  | start (UTC)      | tier     | visits | revenue | app        | actions (kind name duration reqErr jsErr)                         |
//! |---------|-------|------------------|----------|--------|---------|------------|-------------------------------------------------------------------|
//! | s1      | alice | Mon 11-25 08:00  | Gold     | 3      | 120.5   | easytravel | load home 1200 0 0; click Buy 300 1 0; route checkout 800 0 1 (error) |
//! | s2      | bob   | Mon 11-25 08:03  | Silver   | 1      |         | easytravel | load home 2500 2 0; click Search 150 0 0                          |
//! | s3      | alice | Mon 11-25 09:10  | Gold     |        | 35.0    | easytravel | load home 900 0 0; click Buy 450 0 0; click Buy 4800 0 1 (error)  |
//! | s4      |       | Tue 11-26 10:00  |          |        |         | easytravel | none                                                              |
//! | s5      | carol | Mon 12-02 12:30  | Platinum | 7      |         | shop       | load offers 3000 0 0; click Offer 100 0 0 (3 rage clicks)         |
//! | s6      | bob   | Sun 2025-01-05 23:59:30 | Silver |  |         | easytravel | click Buy 100 0 0                                                 |
//!
//! Client addresses (and countries): s1 81.2.69.142 and s2 81.2.69.160 (United Kingdom), s3
//! 193.0.6.139 (Netherlands), s5 2001:db8::1 (Austria), s6 10.0.0.5, s4 none.

mod common;

use common::*;
use rumprops_collector::beacon::parse_beacon;
use rumprops_collector::geo::Geo;
use rumprops_collector::goals::Goals;
use rumprops_collector::store;
use rumprops_collector::usql::{self, fields, QueryOptions};
use serde_json::{json, Value};

const T0: i64 = 1_732_492_800_000;
const H: i64 = 3_600_000;
const D: i64 = 24 * H;
const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

struct Act {
    id: &'static str,
    kind: &'static str,
    name: &'static str,
    url: &'static str,
    at: i64,
    dur: i64,
    requests: i64,
    req_err: i64,
    js_err: i64,
    error: Option<(&'static str, i64)>,
    rage: i64,
}

#[allow(clippy::too_many_arguments)]
fn act(id: &'static str, kind: &'static str, name: &'static str, url: &'static str, at: i64, dur: i64, requests: i64, req_err: i64, js_err: i64) -> Act {
    Act { id, kind, name, url, at, dur, requests, req_err, js_err, error: None, rage: 0 }
}

/// sid, user, start, session properties, app, User-Agent, actions.
type SessionRow = (&'static str, Option<&'static str>, i64, Value, &'static str, Option<&'static str>, Vec<Act>);

fn fixture() -> (tempfile::TempDir, rusqlite::Connection) {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = store::open(&dir.path().join("docs.db")).unwrap();
    for ((beacon, client), received) in fixture_beacons() {
        store::ingest_from(&mut conn, &beacon, &client, &Goals::default(), received).unwrap();
    }
    (dir, conn)
}

/// The fixture's beacons (one per session, which it ends), with their clients and the time each
/// is received.
fn fixture_beacons() -> Vec<(store::Pending, i64)> {
    let home = "https://shop.example/home";
    let sessions: Vec<SessionRow> = vec![
        ("s1", Some("alice"), T0 + 8 * H, json!({"string": {"tier": "Gold"}, "long": {"visits": 3}, "double": {"revenue": 120.5}}), "easytravel", Some(CHROME), vec![
            act("a1", "load", "loading of page /home", home, 0, 1200, 5, 0, 0),
            act("a2", "click", "click on Buy", home, 2000, 300, 1, 1, 0),
            Act { error: Some(("TypeError: x is undefined", 3500)), ..act("a3", "route", "route /checkout", "https://shop.example/checkout", 3000, 800, 2, 0, 1) },
        ]),
        ("s2", Some("bob"), T0 + 8 * H + 180_000, json!({"string": {"tier": "Silver"}, "long": {"visits": 1}}), "easytravel", Some(FIREFOX), vec![
            act("b1", "load", "loading of page /home", home, 0, 2500, 4, 2, 0),
            act("b2", "click", "click on Search", home, 3000, 150, 1, 0, 0),
        ]),
        ("s3", Some("alice"), T0 + 9 * H + 600_000, json!({"string": {"tier": "Gold"}, "double": {"revenue": 35.0}}), "easytravel", Some(CHROME), vec![
            act("c1", "load", "loading of page /home", home, 0, 900, 3, 0, 0),
            act("c2", "click", "click on Buy", home, 1000, 450, 1, 0, 0),
            Act { error: Some(("ReferenceError: y is not defined", 6000)), ..act("c3", "click", "click on Buy", home, 2000, 4800, 2, 0, 1) },
        ]),
        ("s4", None, T0 + D + 10 * H, json!({}), "easytravel", None, vec![]),
        ("s5", Some("carol"), T0 + 7 * D + 12 * H + 1_800_000, json!({"string": {"tier": "Platinum"}, "long": {"visits": 7}}), "shop", None, vec![
            act("e1", "load", "loading of page /offers", "https://shop.example/offers", 0, 3000, 10, 0, 0),
            Act { rage: 3, ..act("e2", "click", "click on Offer", "https://shop.example/offers", 4000, 100, 0, 0, 0) },
        ]),
        ("s6", Some("bob"), T0 + 41 * D + 23 * H + 59 * 60_000 + 30_000, json!({"string": {"tier": "Silver"}}), "easytravel", None, vec![
            act("f1", "click", "click on Buy", home, 0, 100, 0, 0, 0),
        ]),
    ];
    let mut out = Vec::new();
    for (sid, user, start, props, app, ua, actions) in sessions {
        let actions: Vec<Value> = actions
            .iter()
            .map(|a| {
                let mut v = json!({"id": a.id, "kind": a.kind, "name": a.name, "url": a.url, "start": start + a.at, "end": start + a.at + a.dur,
                    "requests": a.requests, "requestErrors": a.req_err, "jsErrors": a.js_err, "props": {}});
                if let Some((message, at)) = a.error {
                    v["errors"] = json!([{"message": message, "time": start + at}]);
                }
                if a.rage > 0 {
                    v["rageClicks"] = json!(a.rage);
                }
                v
            })
            .collect();
        let b = json!({"v": 1, "app": app, "sid": sid, "seq": 0, "sentAt": start + 10_000,
            "session": {"start": start, "userId": user, "ended": "end_session", "props": props}, "actions": actions});
        let beacon = parse_beacon(b.to_string().as_bytes()).unwrap();
        let (ip, country) = match sid {
            "s1" => (Some("81.2.69.142"), Some("United Kingdom")),
            "s2" => (Some("81.2.69.160"), Some("United Kingdom")),
            "s3" => (Some("193.0.6.139"), Some("Netherlands")),
            "s5" => (Some("2001:db8::1"), Some("Austria")),
            "s6" => (Some("10.0.0.5"), None),
            _ => (None, None),
        };
        let client = store::ClientInfo {
            user_agent: ua.map(str::to_owned),
            ip: ip.map(str::to_owned),
            geo: Geo { country: country.map(str::to_owned), ..Geo::default() },
        };
        out.push(((beacon, client), start + 10_000));
    }
    out
}

fn opts() -> QueryOptions {
    let mut o = QueryOptions::now(30 * 60_000);
    o.now_ms = T0 + 2 * D; // Wed 11-27 00:00
    o
}

/// Runs each query and compares its `values` with the expected JSON; returns how many ran.
fn check(conn: &rusqlite::Connection, cases: &[(&str, &str)], o: &QueryOptions) -> usize {
    for (q, expected) in cases {
        let expected: Value = serde_json::from_str(expected).unwrap_or_else(|e| panic!("{q}: bad expectation: {e}"));
        match usql::run(conn, q, o) {
            Ok(r) => assert_eq!(json!(r.values), expected, "{q}"),
            Err(e) => panic!("{q}: {e}"),
        }
    }
    cases.len()
}

/// §3 FROM, §7 tables: one row per session, per action, per error, per event; secondary fields by prefix; unprefixed names fall back to the other table.
#[test]
fn tables_and_rows() {
    let (_d, conn) = fixture();
    let n = check(&conn, &[
        (r#"SELECT userSessionId, userId, startTime, duration, userActionCount FROM usersession ORDER BY startTime"#, r#"[["s1","alice",1732521600000,3800,3],["s2","bob",1732521780000,3150,2],["s3","alice",1732525800000,6800,3],["s4",null,1732615200000,0,0],["s5","carol",1733142600000,4100,2],["s6","bob",1736121570000,100,1]]"#),
        (r#"SELECT COUNT(*) FROM usersession"#, r#"[[6]]"#),
        (r#"SELECT COUNT(*) FROM useraction"#, r#"[[11]]"#),
        (r#"SELECT COUNT(*) FROM usererror"#, r#"[[2]]"#),
        (r#"SELECT COUNT(*) FROM userevent"#, r#"[[8]]"#),
        (r#"SELECT type, COUNT(*) FROM userevent GROUP BY type"#, r#"[["PageChange",5],["Error",2],["RageClick",1]]"#),
        (r#"SELECT name, application, startTime FROM usererror ORDER BY startTime"#, r#"[["TypeError: x is undefined","easytravel",1732521603500],["ReferenceError: y is not defined","easytravel",1732525806000]]"#),
        (r#"SELECT usersession.userSessionId, name FROM usererror ORDER BY startTime"#, r#"[["s1","TypeError: x is undefined"],["s3","ReferenceError: y is not defined"]]"#),
        (r#"SELECT userSessionId, usererror.name FROM usersession WHERE usererror.name STARTSWITH "Type""#, r#"[["s1","TypeError: x is undefined"]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE usererror.type = "Error""#, r#"[[2]]"#),
        (r#"SELECT name, page FROM userevent WHERE type = 'PageChange' ORDER BY startTime LIMIT 2"#, r#"[["loading of page /home","https://shop.example/home"],["route /checkout","https://shop.example/checkout"]]"#),
        (r#"SELECT usersession.userId, name FROM userevent WHERE type = 'RageClick'"#, r#"[["carol","click on Offer"]]"#),
        (r#"SELECT COUNT(*), COUNT(useraction.name) FROM usersession"#, r#"[[12,11]]"#),
        (r#"SELECT COUNT(*), COUNT(name) FROM useraction"#, r#"[[11,11]]"#),
        (r#"SELECT usersession.userSessionId, useraction.name FROM usersession WHERE userSessionId = 's2' ORDER BY useraction.startTime"#, r#"[["s2","loading of page /home"],["s2","click on Search"]]"#),
        (r#"SELECT usersession.doubleProperties.revenue FROM useraction WHERE name = 'route /checkout'"#, r#"[[120.5]]"#),
        (r#"SELECT usersession.userId, name FROM useraction WHERE usersession.stringProperties.tier = "Platinum" ORDER BY startTime"#, r#"[["carol","loading of page /offers"],["carol","click on Offer"]]"#),
        (r#"SELECT useraction.application, COUNT(*) FROM usersession GROUP BY useraction.application"#, r#"[["easytravel",9],["shop",2],[null,1]]"#),
        (r#"SELECT name FROM usersession WHERE userSessionId = 's6'"#, r#"[["click on Buy"]]"#),
        (r#"SELECT userId FROM useraction WHERE name = 'click on Search'"#, r#"[["bob"]]"#),
    ], &opts());
    assert_eq!(n, 20);
}

/// §7: WHERE of usersession selects sessions, each secondary condition met by any of its rows; the session keeps all its rows; on a secondary table one row meets all conditions.
#[test]
fn cross_table_conditions() {
    let (_d, conn) = fixture();
    let n = check(&conn, &[
        (r#"SELECT COUNT(*) FROM usersession WHERE useraction.name = "click on Buy" AND useraction.name = "route /checkout""#, r#"[[1]]"#),
        (r#"SELECT COUNT(*) FROM useraction WHERE name = "click on Buy" AND name = "route /checkout""#, r#"[[0]]"#),
        (r#"SELECT useraction.name FROM usersession WHERE useraction.name = "route /checkout" ORDER BY useraction.startTime"#, r#"[["loading of page /home"],["click on Buy"],["route /checkout"]]"#),
        (r#"SELECT name FROM useraction WHERE name = "route /checkout""#, r#"[["route /checkout"]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE NOT useraction.name = "click on Buy""#, r#"[[2]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE useraction.duration > 4000"#, r#"[[1]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE useraction.application = 'shop'"#, r#"[[1]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE useraction.name IS NULL"#, r#"[[1]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE useraction.requestErrorCount > 0 AND stringProperties.tier = 'Silver'"#, r#"[[1]]"#),
        (r#"SELECT userId, COUNT(*) FROM usersession WHERE useraction.type = 'route' GROUP BY userId"#, r#"[["alice",1]]"#),
        (r#"SELECT stringProperties.tier, SUM(useraction.requestErrorCount), COUNT(useraction.requestErrorCount) FROM usersession GROUP BY stringProperties.tier"#, r#"[["Gold",1,6],["Silver",2,3],["Platinum",0,2],[null,null,0]]"#),
        (r#"SELECT userId, AVG(useraction.duration) FROM usersession WHERE useraction.duration > 4000 GROUP BY userId"#, r#"[["alice",2050.0]]"#),
        (r#"SELECT COUNT(*) FROM useraction WHERE duration > 4000 AND usersession.userId = 'alice'"#, r#"[[1]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE userevent.type = 'RageClick'"#, r#"[[1]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE usererror.name LIKE '*Error*' AND useraction.type = 'route'"#, r#"[[1]]"#),
    ], &opts());
    assert_eq!(n, 15);
}

/// §1 case rules, §3 aliases (quoted, bare, single-quoted, non-ASCII, blank, no space after AS), §5 quote escapes, §12 whitespace before arguments.
#[test]
fn case_and_names() {
    let (_d, conn) = fixture();
    let n = check(&conn, &[
        (r#"select count(*) from USERSESSION where USERID = 'alice'"#, r#"[[2]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE userid = 'alice' and STARTTIME > 0"#, r#"[[2]]"#),
        (r#"SELECT browserfamily FROM usersession WHERE userSessionId = 's2'"#, r#"[["Firefox"]]"#),
        (r#"Select Count (*) From UserAction Where JavaScriptErrorCount > 0"#, r#"[[2]]"#),
        (r#"SELECT userSessionId AS "Session", userActionCount AS actions FROM usersession ORDER BY actions DESC, "Session" LIMIT 2"#, r#"[["s1",3],["s3",3]]"#),
        (r#"SELECT userId, COUNT(*) AS "Sessions" FROM usersession GROUP BY userId ORDER BY sessions DESC"#, r#"[["alice",2],["bob",2],[null,1],["carol",1]]"#),
        (r#"SELECT userId, COUNT(*) AS 'n' FROM usersession GROUP BY userId ORDER BY n, userId"#, r#"[[null,1],["carol",1],["alice",2],["bob",2]]"#),
        (r#"SELECT userId AS"U", COUNT(*) AS " " FROM usersession WHERE userId = 'carol' GROUP BY userId"#, r#"[["carol",1]]"#),
        (r#"SELECT userId AS "利用者" FROM usersession WHERE userSessionId = 's5'"#, r#"[["carol"]]"#),
        (r#"SELECT COUNT(*) FROM useraction WHERE name IN ("click on Buy", "it""s", 'x''y')"#, r#"[[4]]"#),
    ], &opts());
    assert_eq!(n, 10);
}

/// §4 MIN, MAX, AVG, MEDIAN, PERCENTILE, SUM, COUNT(*), COUNT(field), COUNT(DISTINCT).
#[test]
fn aggregates() {
    let (_d, conn) = fixture();
    let n = check(&conn, &[
        (r#"SELECT userId, SUM(duration), AVG(duration), MIN(duration), MAX(duration), MEDIAN(duration) FROM usersession GROUP BY userId ORDER BY userId"#, r#"[[null,0,0.0,0,0,0.0],["alice",10600,5300.0,3800,6800,5300.0],["bob",3250,1625.0,100,3150,1625.0],["carol",4100,4100.0,4100,4100,4100.0]]"#),
        (r#"SELECT PERCENTILE(duration, 90), PERCENTILE(duration, 80.0) FROM useraction"#, r#"[[3000.0,2500.0]]"#),
        (r#"SELECT COUNT(userId), COUNT(DISTINCT userId) FROM usersession"#, r#"[[5,3]]"#),
        (r#"SELECT userId, SUM(doubleProperties.revenue) FROM usersession GROUP BY userId ORDER BY SUM(doubleProperties.revenue) DESC LIMIT 1"#, r#"[["alice",155.5]]"#),
        (r#"SELECT type, COUNT(*), AVG(duration) FROM useraction GROUP BY type"#, r#"[["click",6,983.3333333333334],["load",4,1900.0],["route",1,800.0]]"#),
        (r#"SELECT application, COUNT(*) FROM useraction GROUP BY application"#, r#"[["easytravel",9],["shop",2]]"#),
        (r#"SELECT name, COUNT(*) FROM useraction GROUP BY name LIMIT 2"#, r#"[["click on Buy",4],["loading of page /home",3]]"#),
        (r#"SELECT name, COUNT(*) FROM useraction WHERE usersession.userId = 'alice' GROUP BY name"#, r#"[["click on Buy",3],["loading of page /home",2],["route /checkout",1]]"#),
        (r#"SELECT userId, MAX(startTime) FROM usersession GROUP BY userId ORDER BY MAX(startTime) DESC"#, r#"[["bob",1736121570000],["carol",1733142600000],[null,1732615200000],["alice",1732525800000]]"#),
        (r#"SELECT MIN(name), MAX(name) FROM useraction"#, r#"[["click on Buy","route /checkout"]]"#),
        (r#"SELECT AVG(doubleProperties.revenue), SUM(longProperties.visits) FROM usersession"#, r#"[[77.75,11]]"#),
    ], &opts());
    assert_eq!(n, 11);
}

/// §2 comparison operators, IS / IS NOT as equality, = NULL, NOT, AND/OR precedence; §5 IN, BETWEEN (inclusive), STARTSWITH.
#[test]
fn where_operators() {
    let (_d, conn) = fixture();
    let n = check(&conn, &[
        (r#"SELECT COUNT(*) FROM usersession WHERE longProperties.visits >= 3"#, r#"[[2]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE longProperties.visits BETWEEN 1 AND 3"#, r#"[[2]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE NOT longProperties.visits BETWEEN 1 AND 3"#, r#"[[1]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE longProperties.visits NOT BETWEEN 1 AND 3"#, r#"[[1]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE stringProperties.tier IN ("Gold", "Platinum")"#, r#"[[3]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE NOT stringProperties.tier IN ("Gold", "Platinum")"#, r#"[[2]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE stringProperties.tier NOT IN ("Gold", "Platinum")"#, r#"[[2]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE stringProperties.tier IS NULL"#, r#"[[1]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE stringProperties.tier IS NOT NULL"#, r#"[[5]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE userId STARTSWITH "a""#, r#"[[2]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE userId STARTSWITH "A""#, r#"[[0]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE userId NOT STARTSWITH "a""#, r#"[[3]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE (userId = 'alice' OR userId = 'bob') AND duration > 1000"#, r#"[[3]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE userId = 'alice' OR userId = 'bob' AND duration > 1000"#, r#"[[3]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE NOT (userId = 'alice' OR userId = 'bob')"#, r#"[[1]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE userId != 'alice'"#, r#"[[3]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE userId <> 'alice'"#, r#"[[3]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE duration < 1000"#, r#"[[2]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE duration <= 3150"#, r#"[[3]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE duration > 3150"#, r#"[[3]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE duration >= 3150"#, r#"[[4]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE userActionCount = 0"#, r#"[[1]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE userId IS "alice""#, r#"[[2]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE userId IS NOT "alice""#, r#"[[3]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE userId NOT IS "alice""#, r#"[[3]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE NOT userId = NULL"#, r#"[[5]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE userId = NULL"#, r#"[[1]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE userId != NULL"#, r#"[[5]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE userId IN('alice','carol')"#, r#"[[3]]"#),
    ], &opts());
    assert_eq!(n, 29);
}

/// §3 LIKE: % and * any run, ? one character, case-sensitive; the rejection rule counts only leading/inner wildcards, a funnel by its expansion.
#[test]
fn like() {
    let (_d, conn) = fixture();
    let n = check(&conn, &[
        (r#"SELECT COUNT(*) FROM useraction WHERE name LIKE "click on B?y""#, r#"[[4]]"#),
        (r#"SELECT COUNT(*) FROM useraction WHERE name LIKE "*Buy""#, r#"[[4]]"#),
        (r#"SELECT COUNT(*) FROM useraction WHERE name LIKE "click%""#, r#"[[6]]"#),
        (r#"SELECT COUNT(*) FROM useraction WHERE name LIKE "Click%""#, r#"[[0]]"#),
        (r#"SELECT COUNT(*) FROM useraction WHERE name NOT LIKE "%/home""#, r#"[[8]]"#),
        (r#"SELECT COUNT(*) FROM useraction WHERE targetUrl LIKE "https://shop.example/*""#, r#"[[11]]"#),
        (r#"SELECT COUNT(*) FROM useraction WHERE name LIKE "click on _uy""#, r#"[[0]]"#),
        (r#"SELECT COUNT(*) FROM useraction WHERE name LIKE "%on%B%""#, r#"[[4]]"#),
        (r#"SELECT COUNT(*) FROM usererror WHERE name LIKE "TypeError: x is undefine?""#, r#"[[1]]"#),
        (r#"SELECT COUNT(*) FROM useraction WHERE name LIKE '1%' OR name LIKE '2%' OR name LIKE '3%' OR name LIKE '4%' OR name LIKE '5%' OR name LIKE '6%' OR name LIKE '7%' OR name LIKE '8%' OR name LIKE '9%' OR name LIKE '10%' OR name LIKE '11%'"#, r#"[[0]]"#),
        (r#"SELECT FUNNEL(name LIKE '%a', name LIKE '%b', name LIKE '%c', name LIKE '%d') FROM useraction"#, r#"[[0,0,0,0]]"#),
    ], &opts());
    assert_eq!(n, 11);
}

/// §5 TRUE/FALSE keywords, `IS true`, booleans answered as true/false.
#[test]
fn booleans() {
    let (_d, conn) = fixture();
    let n = check(&conn, &[
        (r#"SELECT COUNT(*) FROM usersession WHERE bounce = true"#, r#"[[2]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE bounce IS true"#, r#"[[2]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE hasError = FALSE"#, r#"[[3]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE hasError != true"#, r#"[[3]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE hasError IS NOT true"#, r#"[[3]]"#),
        (r#"SELECT hasError, COUNT(*) FROM usersession GROUP BY hasError"#, r#"[[false,3],[true,3]]"#),
        (r#"SELECT userSessionId, bounce, hasError FROM usersession ORDER BY userSessionId"#, r#"[["s1",false,true],["s2",false,true],["s3",false,true],["s4",true,false],["s5",false,false],["s6",true,false]]"#),
    ], &opts());
    assert_eq!(n, 7);
}

/// §5 date-time strings in every documented format, §6 $NOW, $TIME_FRAME_START/END, DURATION with each unit (calendar months, quarters, years).
#[test]
fn dates_and_time_values() {
    let (_d, conn) = fixture();
    let n = check(&conn, &[
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime > "2024-11-25 09:00""#, r#"[[4]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE starttime > "25.11.2024 8:01""#, r#"[[5]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime BETWEEN "2024-11-25T09:00:00+01:00" AND "2024-11-25T09:05:00+01:00""#, r#"[[2]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime >= "2024/11/26""#, r#"[[3]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime < "11/26/2024 10:00:01""#, r#"[[4]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime = "2024-11-26 10""#, r#"[[1]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime = 1732615200000"#, r#"[[1]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime > "2025-01-05T23:00:00Z""#, r#"[[1]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime > "1733000000000""#, r#"[[2]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime > $NOW - DURATION("2d")"#, r#"[[6]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime < $NOW - DURATION("1d") - DURATION("14h")"#, r#"[[3]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime > $NOW"#, r#"[[2]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime > $NOW - DURATION("1M")"#, r#"[[6]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime < $NOW + DURATION("1w")"#, r#"[[5]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime < $NOW + DURATION("2M")"#, r#"[[6]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime < $NOW + DURATION("1q")"#, r#"[[6]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime > $NOW - DURATION("1y")"#, r#"[[6]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime > $NOW - 86400000"#, r#"[[3]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime > $NOW - DURATION("38h") - DURATION("30m") - DURATION("1s")"#, r#"[[3]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE duration > DURATION("4s")"#, r#"[[2]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE duration BETWEEN DURATION("3s") AND DURATION("4s")"#, r#"[[2]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime BETWEEN $TIME_FRAME_START AND $TIME_FRAME_END"#, r#"[[4]]"#),
        (r#"SELECT COUNT(*) FROM useraction WHERE startTime BETWEEN $TIME_FRAME_START AND $TIME_FRAME_END"#, r#"[[8]]"#),
    ], &opts());
    assert_eq!(n, 23);
}

/// §4 DATETIME: format letters, default format, intervals (5m, 1h, 30m, 10s, 7d, day, hour, week, month, year), over aggregates and CONDITION.
#[test]
fn datetime() {
    let (_d, conn) = fixture();
    let n = check(&conn, &[
        (r#"SELECT DATETIME(startTime, 'yyyy-MM-dd'), COUNT(*) FROM usersession GROUP BY DATETIME(startTime, 'yyyy-MM-dd')"#, r#"[["2024-11-25",3],["2024-11-26",1],["2024-12-02",1],["2025-01-05",1]]"#),
        (r#"SELECT DISTINCT DATETIME(starttime, 'HH:mm', '5m'), COUNT(*) FROM usersession"#, r#"[["08:00",2],["09:10",1],["10:00",1],["12:30",1],["23:55",1]]"#),
        (r#"SELECT DATETIME(startTime, 'yyyy-MM-dd', 'week'), COUNT(*) FROM usersession GROUP BY DATETIME(startTime, 'yyyy-MM-dd', 'week')"#, r#"[["2024-11-25",4],["2024-12-02",1],["2024-12-30",1]]"#),
        (r#"SELECT DATETIME(startTime, 'MMM yyyy', 'month') AS m, COUNT(*) FROM usersession GROUP BY m ORDER BY m"#, r#"[["Dec 2024",1],["Jan 2025",1],["Nov 2024",4]]"#),
        (r#"SELECT DATETIME(startTime) FROM usersession WHERE userSessionId = 's2'"#, r#"[["2024-11-25 08:03"]]"#),
        (r#"SELECT DATETIME(startTime, 'E HH:mm', '1h') FROM usersession WHERE userSessionId = 's2'"#, r#"[["Mon 08:00"]]"#),
        (r#"SELECT DATETIME(startTime, 'yyyy-MM-dd HH:mm:ss') FROM useraction WHERE name = 'route /checkout'"#, r#"[["2024-11-25 08:00:03"]]"#),
        (r#"SELECT DATETIME(startTime, 'dd.MM.yy hh:mm a', 'hour') FROM usersession WHERE userSessionId = 's5'"#, r#"[["02.12.24 12:00 PM"]]"#),
        (r#"SELECT DATETIME(startTime, 'EEEE d MMMM yyyy', 'day') FROM usersession WHERE userSessionId = 's6'"#, r#"[["Sunday 5 January 2025"]]"#),
        (r#"SELECT DATETIME(startTime, 'yyyy', 'year'), COUNT(*) FROM usersession GROUP BY DATETIME(startTime, 'yyyy', 'year')"#, r#"[["2024",5],["2025",1]]"#),
        (r#"SELECT DATETIME(startTime, 'HH:mm', '30m'), COUNT(*) FROM useraction GROUP BY DATETIME(startTime, 'HH:mm', '30m') ORDER BY DATETIME(startTime, 'HH:mm', '30m')"#, r#"[["08:00",5],["09:00",3],["12:30",2],["23:30",1]]"#),
        (r#"SELECT DATETIME(startTime, 'MM/dd/yyyy hh:mm', '30m') AS t, COUNT(*) FROM usersession WHERE userId = 'alice' GROUP BY t"#, r#"[["11/25/2024 08:00",1],["11/25/2024 09:00",1]]"#),
        (r#"SELECT DATETIME(startTime, 'e E', 'day') FROM usersession WHERE userSessionId IN ('s1', 's6') ORDER BY startTime"#, r#"[["2 Mon"],["1 Sun"]]"#),
        (r#"SELECT DATETIME(startTime, 'yyyy-MM-dd', '7d'), COUNT(*) FROM usersession GROUP BY DATETIME(startTime, 'yyyy-MM-dd', '7d')"#, r#"[["2024-11-21",4],["2024-11-28",1],["2025-01-02",1]]"#),
        (r#"SELECT DATETIME(startTime, 'HH:mm:ss', '10s') FROM usersession WHERE userSessionId = 's6'"#, r#"[["23:59:30"]]"#),
        (r#"SELECT DATETIME(startTime, "'week of' yyyy-MM-dd", 'week') FROM usersession WHERE userSessionId = 's6'"#, r#"[["week of 2024-12-30"]]"#),
        (r#"SELECT HOUR(MAX(startTime)), DATETIME(MIN(startTime), 'yyyy-MM-dd HH:mm') FROM usersession"#, r#"[[23,"2024-11-25 08:00"]]"#),
        (r#"SELECT DATETIME(CONDITION(MIN(startTime), WHERE userId = 'bob'), 'yyyy-MM-dd') FROM usersession"#, r#"[["2024-11-25"]]"#),
    ], &opts());
    assert_eq!(n, 18);
}

/// §4 YEAR, MONTH, DAY, HOUR, MINUTE, also over MIN/MAX; grouped by alias (the docs' MONTH example).
#[test]
fn date_parts() {
    let (_d, conn) = fixture();
    let n = check(&conn, &[
        (r#"SELECT YEAR(startTime), MONTH(startTime), DAY(startTime), HOUR(startTime), MINUTE(startTime) FROM usersession WHERE userSessionId = 's6'"#, r#"[[2025,1,5,23,59]]"#),
        (r#"SELECT MONTH(starttime) as month, count (*) FROM usersession GROUP BY month"#, r#"[[11,4],[1,1],[12,1]]"#),
        (r#"SELECT DAY(startTime), COUNT(*) FROM usersession GROUP BY DAY(startTime)"#, r#"[[25,3],[2,1],[5,1],[26,1]]"#),
        (r#"SELECT HOUR(startTime) AS h, COUNT(*) FROM useraction GROUP BY h ORDER BY h"#, r#"[[8,5],[9,3],[12,2],[23,1]]"#),
        (r#"SELECT MINUTE(startTime) FROM usersession WHERE userSessionId = 's2'"#, r#"[[3]]"#),
        (r#"SELECT YEAR(MIN(startTime)), YEAR(MAX(startTime)) FROM usersession"#, r#"[[2024,2025]]"#),
    ], &opts());
    assert_eq!(n, 6);
}

/// §2 arithmetic + - * / % MOD over numbers, fields and date functions; §9 integer results are rounded (4800/1000 = 5).
#[test]
fn arithmetic() {
    let (_d, conn) = fixture();
    let n = check(&conn, &[
        (r#"SELECT 7 + 80 * 100, duration + startTime, MONTH(startTime) - 1 FROM usersession WHERE userSessionId = 's1'"#, r#"[[8007,1732521603800,10]]"#),
        (r#"SELECT duration, duration/1000, duration % 1000, duration MOD 7, duration * 1.5 FROM usersession WHERE userSessionId = 's1'"#, r#"[[3800,4,800,6,5700.0]]"#),
        (r#"SELECT userSessionId FROM usersession ORDER BY duration / 1000 DESC, userSessionId LIMIT 3"#, r#"[["s3"],["s1"],["s5"]]"#),
        (r#"SELECT YEAR(startTime) * 100 + MONTH(startTime) AS ym, COUNT(*) FROM usersession GROUP BY YEAR(startTime) * 100 + MONTH(startTime) ORDER BY ym"#, r#"[[202411,4],[202412,1],[202501,1]]"#),
        (r#"SELECT (endTime - startTime) / 1000 AS secs FROM usersession WHERE userSessionId = 's3'"#, r#"[[7]]"#),
        (r#"SELECT duration - 100, -duration, duration / 0 FROM usersession WHERE userSessionId = 's1'"#, r#"[[3700,-3800,null]]"#),
        (r#"SELECT doubleProperties.revenue / 2, doubleProperties.revenue * 2 FROM usersession WHERE userSessionId = 's1'"#, r#"[[60.25,241.0]]"#),
        (r#"SELECT SUM(duration) / COUNT(*) FROM usersession"#, r#"[[2992]]"#),
        (r#"SELECT duration / 1000 FROM useraction WHERE name = 'loading of page /home' ORDER BY startTime"#, r#"[[1],[3],[1]]"#),
        (r#"SELECT 10 / 4, 10 / 4.0, 7 % 3, (1 + 2) * 3 FROM usersession WHERE userSessionId = 's1'"#, r#"[[3,2.5,1,9]]"#),
        (r#"SELECT userSessionId, endTime - startTime AS d FROM usersession ORDER BY d DESC LIMIT 1"#, r#"[["s3",6800]]"#),
    ], &opts());
    assert_eq!(n, 11);
}

/// §3 DISTINCT as implicit grouping, ORDER BY columns/aliases/aggregates, the default order by frequency, LIMIT.
#[test]
fn distinct_group_order_limit() {
    let (_d, conn) = fixture();
    let n = check(&conn, &[
        (r#"SELECT stringProperties.tier, COUNT(*) FROM usersession GROUP BY stringProperties.tier"#, r#"[["Gold",2],["Silver",2],[null,1],["Platinum",1]]"#),
        (r#"SELECT DISTINCT stringProperties.tier, COUNT(*) FROM usersession"#, r#"[["Gold",2],["Silver",2],[null,1],["Platinum",1]]"#),
        (r#"SELECT DISTINCT stringProperties.tier, COUNT(*) FROM usersession ORDER BY COUNT(*) DESC"#, r#"[["Gold",2],["Silver",2],[null,1],["Platinum",1]]"#),
        (r#"SELECT DISTINCT userId FROM usersession ORDER BY userId"#, r#"[[null],["alice"],["bob"],["carol"]]"#),
        (r#"SELECT DISTINCT userId FROM usersession ORDER BY userId DESC"#, r#"[["carol"],["bob"],["alice"],[null]]"#),
        (r#"SELECT DISTINCT name FROM useraction ORDER BY name"#, r#"[["click on Buy"],["click on Offer"],["click on Search"],["loading of page /home"],["loading of page /offers"],["route /checkout"]]"#),
        (r#"SELECT userSessionId FROM usersession ORDER BY 1 DESC LIMIT 2"#, r#"[["s6"],["s5"]]"#),
        (r#"SELECT userSessionId, duration FROM usersession ORDER BY duration LIMIT 2"#, r#"[["s4",0],["s6",100]]"#),
        (r#"SELECT userSessionId FROM usersession ORDER BY startTime LIMIT 2"#, r#"[["s1"],["s2"]]"#),
        (r#"SELECT userSessionId FROM usersession ORDER BY userSessionId LIMIT 0"#, r#"[]"#),
        (r#"SELECT userId, COUNT(*) FROM usersession GROUP BY userId ORDER BY COUNT(*) DESC, userId LIMIT 1"#, r#"[["alice",2]]"#),
        (r#"SELECT userId, COUNT(*) FROM usersession GROUP BY userId"#, r#"[["alice",2],["bob",2],[null,1],["carol",1]]"#),
        (r#"SELECT stringProperties.tier, userId, COUNT(*) FROM usersession GROUP BY stringProperties.tier, userId"#, r#"[["Gold","alice",2],["Silver","bob",2],[null,null,1],["Platinum","carol",1]]"#),
    ], &opts());
    assert_eq!(n, 13);
}

/// §4 TOP(field, n) grouped (per level, most frequent first) and as a list in one cell; default n = 1.
#[test]
fn top() {
    let (_d, conn) = fixture();
    let n = check(&conn, &[
        (r#"SELECT TOP(stringProperties.tier, 2), COUNT(*) FROM usersession GROUP BY TOP(stringProperties.tier, 2)"#, r#"[["Gold",2],["Silver",2]]"#),
        (r#"SELECT TOP(userId, 1), TOP(name, 2), COUNT(*) FROM useraction GROUP BY TOP(userId, 1), TOP(name, 2)"#, r#"[["alice","click on Buy",3],["alice","loading of page /home",2]]"#),
        (r#"SELECT userId, TOP(name, 2), COUNT(*) FROM useraction GROUP BY userId"#, r#"[["alice",["click on Buy","loading of page /home"],6],["bob",["click on Buy","click on Search"],3],["carol",["click on Offer","loading of page /offers"],2]]"#),
        (r#"SELECT TOP(name, 3) FROM useraction"#, r#"[[["click on Buy","loading of page /home","click on Offer"]]]"#),
        (r#"SELECT TOP(name, 1), COUNT(*) FROM useraction GROUP BY TOP(name, 1)"#, r#"[["click on Buy",4]]"#),
        (r#"SELECT TOP(name), COUNT(*) FROM useraction GROUP BY TOP(name)"#, r#"[["click on Buy",4]]"#),
        (r#"SELECT name, COUNT(*) FROM useraction GROUP BY TOP(name, 2)"#, r#"[["click on Buy",4],["loading of page /home",3]]"#),
        (r#"SELECT TOP(stringProperties.tier, 5), TOP(userId, 3), COUNT(*) FROM usersession GROUP BY stringProperties.tier"#, r#"[["Gold",["alice"],2],["Silver",["bob"],2],[null,[],1],["Platinum",["carol"],1]]"#),
        (r#"SELECT userId, TOP(useraction.name, 1) FROM usersession GROUP BY userId ORDER BY userId"#, r#"[[null,[]],["alice",["click on Buy"]],["bob",["click on Buy"]],["carol",["click on Offer"]]]"#),
        (r#"SELECT TOP(userId, 2), COUNT(*), SUM(duration) FROM usersession GROUP BY TOP(userId, 2) ORDER BY SUM(duration)"#, r#"[["bob",2,3250],["alice",2,10600]]"#),
        (r#"SELECT DISTINCT TOP(userId, 1), COUNT(*) FROM usersession"#, r#"[["alice",2]]"#),
        (r#"SELECT TOP(type, 2), TOP(name, 1), COUNT(*) FROM useraction GROUP BY TOP(type, 2), TOP(name, 1)"#, r#"[["click","click on Buy",4],["load","loading of page /home",3]]"#),
    ], &opts());
    assert_eq!(n, 12);
}

/// §4 KEYS(<type>Properties) with and without the table prefix; DISTINCT KEYS; ORDER BY KEYS.
#[test]
fn keys() {
    let (_d, conn) = fixture();
    let n = check(&conn, &[
        (r#"SELECT KEYS(stringProperties) FROM usersession"#, r#"[["tier"],["tier"],["tier"],["tier"],["tier"]]"#),
        (r#"SELECT DISTINCT KEYS(longProperties) FROM usersession"#, r#"[["visits"]]"#),
        (r#"SELECT DISTINCT KEYS(doubleProperties), COUNT(*) FROM usersession"#, r#"[["revenue",2]]"#),
        (r#"SELECT KEYS(useraction.stringProperties) FROM usersession"#, r#"[]"#),
        (r#"SELECT DISTINCT KEYS(usersession.stringProperties) FROM useraction"#, r#"[["tier"]]"#),
        (r#"SELECT DISTINCT KEYS(stringProperties) FROM usersession ORDER BY KEYS(stringProperties)"#, r#"[["tier"]]"#),
        (r#"SELECT DISTINCT KEYS(dateProperties) FROM usersession"#, r#"[]"#),
    ], &opts());
    assert_eq!(n, 7);
}

/// §4 CONDITION(aggregate, WHERE …), §3 FILTER after an aggregate (HAVING), FUNNEL as cumulative ANDs with aliases, OR steps, segment WHERE.
#[test]
fn condition_filter_funnel() {
    let (_d, conn) = fixture();
    let n = check(&conn, &[
        (r#"SELECT CONDITION(COUNT(*), WHERE stringProperties.tier = 'Gold'), CONDITION(SUM(duration), WHERE userId = 'bob') FROM usersession"#, r#"[[2,3250]]"#),
        (r#"SELECT userId, CONDITION(COUNT(usersessionId), WHERE userActionCount > 2 AND useraction.name = "click on Buy") FROM usersession GROUP BY userId"#, r#"[["alice",2],["bob",0],[null,0],["carol",0]]"#),
        (r#"SELECT CONDITION(COUNT(*), WHERE useraction.name = 'click on Buy'), CONDITION(COUNT(*), WHERE useraction.name = 'click on Search') FROM usersession"#, r#"[[3,1]]"#),
        (r#"SELECT name, CONDITION(COUNT(*), WHERE duration > 1000) AS slow, COUNT(*) FROM useraction GROUP BY name"#, r#"[["click on Buy",1,4],["loading of page /home",2,3],["click on Offer",0,1],["click on Search",0,1],["loading of page /offers",1,1],["route /checkout",0,1]]"#),
        (r#"SELECT CONDITION(AVG(duration), WHERE type = 'click'), CONDITION(MAX(duration), WHERE type = 'load'), CONDITION(MEDIAN(duration), WHERE type = 'click') FROM useraction"#, r#"[[983.3333333333334,3000,225.0]]"#),
        (r#"SELECT userId, CONDITION(COUNT(*), WHERE duration > 3000) FILTER > 0 FROM usersession GROUP BY userId"#, r#"[["alice",2],["bob",1],["carol",1]]"#),
        (r#"SELECT CONDITION(COUNT(*), WHERE (userId = 'alice' OR userId = 'carol') AND duration > 4000) FROM usersession"#, r#"[[2]]"#),
        (r#"SELECT userId, COUNT(*) FILTER > 1 AS n FROM usersession GROUP BY userId ORDER BY n DESC"#, r#"[["alice",2],["bob",2]]"#),
        (r#"SELECT userId, AVG(useraction.duration) FILTER > 1000 FROM usersession GROUP BY userId"#, r#"[["alice",1408.3333333333333],["carol",1550.0]]"#),
        (r#"SELECT userId, avg(useraction.duration) FILTER>1500 FROM usersession GROUP BY userId"#, r#"[["carol",1550.0]]"#),
        (r#"SELECT userId, SUM(duration) FILTER <= 3250 FROM usersession GROUP BY userId"#, r#"[["bob",3250],[null,0]]"#),
        (r#"SELECT FUNNEL(useraction.name = "loading of page /home" AS "Home", useraction.name = "click on Buy" AS "Buy", useraction.name = "route /checkout" AS "Checkout") FROM usersession"#, r#"[[3,2,1]]"#),
        (r#"SELECT FUNNEL(useraction.name = "loading of page /home", useraction.name = "click on Buy") FROM usersession WHERE stringProperties.tier = "Gold""#, r#"[[2,2]]"#),
        (r#"SELECT FUNNEL(useraction.name = "loading of page /home" AS "Home", useraction.name = "click on Buy" OR useraction.name = "click on Search" AS "Clicked") FROM usersession"#, r#"[[3,3]]"#),
        (r#"SELECT FUNNEL(useraction.type = 'load', useraction.type = 'click', useraction.type = 'route') FROM usersession"#, r#"[[4,4,1]]"#),
        (r#"SELECT FUNNEL(type = 'load', duration > 1000) FROM useraction"#, r#"[[4,3]]"#),
        (r#"SELECT FUNNEL((useraction.name = 'click on Buy' OR useraction.name = 'click on Offer') AS "Clicked", usererror.type = 'Error' AS "Failed") FROM usersession"#, r#"[[4,2]]"#),
    ], &opts());
    assert_eq!(n, 17);
}

/// Every refusal is an error with the position it is about (§9 limits, §3 FUNNEL and LIKE rules,
/// §7 cross-table rules, types, unknown names).
#[test]
fn refusals_name_the_position() {
    let cases: &[(&str, usize, &str)] = &[
        (r#"SELECT FUNNEL(useraction.name = 'a', useraction.name = 'b') FROM usersession ORDER BY 1"#, 77, r#"FUNNEL cannot be used with ORDER BY"#),
        (r#"SELECT FUNNEL(useraction.name = 'a') FROM usersession GROUP BY userId"#, 54, r#"FUNNEL cannot be used with GROUP BY"#),
        (r#"SELECT FUNNEL(useraction.name = 'a') FROM usersession LIMIT 3"#, 54, r#"FUNNEL cannot be used with LIMIT"#),
        (r#"SELECT DISTINCT FUNNEL(useraction.name = 'a') FROM usersession"#, 7, r#"FUNNEL cannot be used with DISTINCT"#),
        (r#"SELECT FUNNEL(useraction.name = 'a'), COUNT(*) FROM usersession"#, 7, r#"FUNNEL cannot be combined with other col"#),
        (r#"SELECT FUNNEL(name = '1', name = '2', name = '3', name = '4', name = '5', name = '6', name = '7', name = '8', name = '9', name = '10', name = '11') FROM useraction"#, 135, r#"a FUNNEL has at most 10 steps"#),
        (r#"SELECT FUNNEL(name LIKE '%a', name LIKE '%b', name LIKE '%c', name LIKE '%d', name LIKE '%e') FROM useraction"#, 7, r#"more than 10 LIKE conditions with a lead"#),
        (r#"SELECT FUNNEL(name LIKE '%a', name LIKE '%b') FROM useraction WHERE name LIKE '%x' AND name LIKE '*y' AND name LIKE 'a%z' AND name LIKE '?%?'"#, 7, r#"more than 10 LIKE conditions with a lead"#),
        (r#"SELECT COUNT(*) FROM useraction WHERE name LIKE '%1' OR name LIKE '%2' OR name LIKE '%3' OR name LIKE '%4' OR name LIKE '%5' OR name LIKE '%6' OR name LIKE '%7' OR name LIKE '%8' OR name LIKE '%9' OR name LIKE '%10' OR name LIKE '%11'"#, 229, r#"more than 10 LIKE conditions with a lead"#),
        (r#"SELECT CONDITION(COUNT(*), WHERE name LIKE '%1' OR name LIKE '%2' OR name LIKE '%3' OR name LIKE '%4' OR name LIKE '%5' OR name LIKE '%6'), CONDITION(COUNT(*), WHERE name LIKE '%7' OR name LIKE '%8' OR name LIKE '%9' OR name LIKE '%10' OR name LIKE '%11') FROM useraction"#, 249, r#"more than 10 LIKE conditions with a lead"#),
        (r#"SELECT userSessionId FROM usersession LIMIT 5001"#, 44, r#"LIMIT must be at most 5000"#),
        (r#"SELECT userSessionId FROM usersession ORDER BY userId, userType, startTime, endTime, duration, userActionCount"#, 95, r#"at most 5 ORDER BY columns"#),
        (r#"SELECT TOP(userId, 1000), TOP(userType, 101), COUNT(*) FROM usersession GROUP BY TOP(userId, 1000), TOP(userType, 101)"#, 7, r#"the TOP sizes of the groups multiply to "#),
        (r#"SELECT TOP(userId, 0), COUNT(*) FROM usersession GROUP BY TOP(userId, 0)"#, 19, r#"TOP takes 1 to 100000 values"#),
        (r#"SELECT COUNT(DISTINCT startTime) FROM usersession"#, 22, r#"COUNT(DISTINCT startTime) is not support"#),
        (r#"SELECT COUNT(DISTINCT duration) FROM useraction"#, 22, r#"COUNT(DISTINCT duration) is not supporte"#),
        (r#"SELECT COUNT(DISTINCT startTime) FROM usererror"#, 22, r#"COUNT(DISTINCT startTime) is not support"#),
        (r#"SELECT userId FROM usersession WHERE duration = startTime"#, 48, r#"a field compares with a value, not with "#),
        (r#"SELECT userId FROM usersession WHERE true"#, 37, r#"a condition compares a field (WHERE true"#),
        (r#"SELECT userId FROM usersession WHERE COUNT(*) > 3"#, 37, r#"functions and aggregates are not allowed"#),
        (r#"SELECT userId FROM usersession WHERE HOUR(startTime) = 3"#, 37, r#"functions and aggregates are not allowed"#),
        (r#"SELECT userId, COUNT(*) FROM usersession GROUP BY COUNT(*)"#, 50, r#"aggregates are not allowed in GROUP BY"#),
        (r#"SELECT usersession.userId, useraction.name, userevent.page, usererror.type FROM userevent"#, 27, r#"a userevent query reaches only its own f"#),
        (r#"SELECT useraction.name, usererror.name FROM usersession"#, 24, r#"useraction and usererror rows cannot be "#),
        (r#"SELECT name FROM usererror WHERE useraction.name = 'x'"#, 33, r#"a usererror query reaches only its own f"#),
        (r#"SELECT stringProperties.tier FROM usererror"#, 7, r#"usererror has no properties"#),
        (r#"SELECT userId, JSON FROM usersession GROUP BY userId"#, 15, r#"JSON lists whole records: it cannot be c"#),
        (r#"SELECT DISTINCT userId, JSON FROM usersession"#, 7, r#"DISTINCT cannot be combined with JSON"#),
        (r#"SELECT name, JSON FROM usererror"#, 13, r#"JSON is available FROM usersession and u"#),
        (r#"SELECT DATETIME(userId) FROM usersession"#, 16, r#"DATETIME needs a date (a time field or M"#),
        (r#"SELECT DATETIME(startTime, 'yyyy-MM-dd Q') FROM usersession"#, 27, r#"unknown format letter 'Q' (put text in '"#),
        (r#"SELECT DATETIME(startTime, 'HH:mm', '5x') FROM usersession"#, 36, r#"interval must be year, month, week, day,"#),
        (r#"SELECT HOUR(duration) FROM usersession"#, 12, r#"HOUR needs a date (a time field or MIN/M"#),
        (r#"SELECT userId + 1 FROM usersession"#, 14, r#"arithmetic needs numbers, numeric fields"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE hasError = 1"#, 50, r#"this field holds booleans: compare it wi"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE hasError > true"#, 48, r#"this field compares only with =, != or I"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime > "yesterday""#, 51, r#""yesterday" is not a date-time (yyyy-MM-"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime > $YESTERDAY"#, 51, r#"unknown variable $YESTERDAY (use $NOW, $"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime > $NOW - DURATION("2 hours")"#, 67, r#"a duration is a number and a unit: y, q,"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE duration > DURATION("1M")"#, 50, r#"a DURATION in months, quarters or years "#),
        (r#"SELECT COUNT(*) FROM usersession WHERE userId LIKE 5"#, 51, r#"expected a quoted string"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE duration LIKE "5%""#, 39, r#"LIKE and STARTSWITH need a string field"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE userId = 5"#, 48, r#"this field holds strings: compare it wit"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE duration = 'long'"#, 50, r#"this field holds numbers: compare it wit"#),
        (r#"SELECT userId, COUNT(*) FILTER > "x" FROM usersession GROUP BY userId"#, 33, r#"FILTER compares with a number"#),
        (r#"SELECT userId FILTER > 1 FROM usersession"#, 14, r#"FILTER follows a numeric aggregate (COUN"#),
        (r#"SELECT CONDITION(userId, WHERE duration > 1) FROM usersession"#, 17, r#"CONDITION takes an aggregate (COUNT, SUM"#),
        (r#"SELECT CONDITION(COUNT(*), WHERE COUNT(*) > 1) FROM usersession"#, 33, r#"functions and aggregates are not allowed"#),
        (r#"SELECT KEYS(userId) FROM usersession"#, 12, r#"KEYS takes stringProperties, longPropert"#),
        (r#"SELECT KEYS(stringProperties), KEYS(longProperties) FROM usersession"#, 31, r#"one KEYS per query"#),
        (r#"SELECT stringProperties FROM usersession"#, 24, r#"expected . and a property key, found "FR"#),
        (r#"SELECT PERCENTILE(duration, 101) FROM usersession"#, 28, r#"percentile must be a number from 0 to 10"#),
        (r#"SELECT SUM(name) FROM useraction"#, 11, r#"this aggregate needs a numeric field"#),
        (r#"SELECT userId FROM usersession ORDER BY COUNT(*)"#, 40, r#"ORDER BY an aggregate needs GROUP BY or "#),
        (r#"SELECT userId, COUNT(*) FROM usersession GROUP BY userId ORDER BY duration"#, 66, r#"ORDER BY a field that is not in GROUP BY"#),
        (r#"SELECT * FROM usersession WHERE userId = 'x' ORDER BY "nope""#, 54, r#"no column named "nope""#),
        (r#"SELECT userId FROM usersession ORDER BY 3"#, 40, r#"no such column number"#),
        (r#"SELECT userId FROM userevents"#, 19, r#"expected usersession, useraction, userer"#),
        (r#"SELECT userId FROM usersession WHERE userId = 'a' AND"#, 53, r#"expected a field name, found end of quer"#),
        (r#"SELECT COUNT(*) FROM usersession GROUP BY"#, 41, r#"expected a field, a function or a number"#),
        (r#"SELECT userId AS FROM usersession"#, 17, r#"expected an alias after AS"#),
        (r#"SELECT bogus FROM useraction"#, 7, r#"unknown useraction field "bogus""#),
        (r#"SELECT usererror.bogus FROM usersession"#, 7, r#"unknown usererror field "bogus""#),
        (r#"SELECT FOO(userId) FROM usersession"#, 7, r#"unknown function FOO"#),
        (r#"SELECT userId, COUNT(*) FROM usersession"#, 7, r#"a field in SELECT must be in GROUP BY wh"#),
        (r#"SELECT userId FROM usersession WHERE stringProperties.Bad = 'x'"#, 54, r#"invalid property key "Bad""#),
    ];
    for (q, pos, msg) in cases {
        let e = usql::parser::parse(q).unwrap_err();
        assert!(e.message.contains(msg), "{q}: {} should contain {msg}", e.message);
        assert_eq!(e.position, *pos, "{q}: {}", e.message);
    }
    assert_eq!(cases.len(), 66);
}

/// §5 IP ranges: `ip` compares by address (IPv4 and IPv6), not as text.
#[test]
fn ip_ranges() {
    let (_d, conn) = fixture();
    let n = check(&conn, &[
        (r#"SELECT COUNT(*) FROM usersession WHERE ip BETWEEN '81.2.69.0' AND '81.2.69.255'"#, r#"[[2]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE ip > '81.2.69.0' AND ip < '81.2.69.150'"#, r#"[[1]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE ip > '9.0.0.0'"#, r#"[[5]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE ip > '100.0.0.0'"#, r#"[[2]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE ip BETWEEN '2001:db8::' AND '2001:db8::ffff'"#, r#"[[1]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE ip = '81.2.69.142'"#, r#"[[1]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE ip IN ('10.0.0.5', '2001:db8:0:0:0:0:0:1')"#, r#"[[2]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE NOT ip BETWEEN '81.2.69.0' AND '81.2.69.255'"#, r#"[[3]]"#),
        (r#"SELECT userSessionId FROM usersession WHERE ip IS NULL"#, r#"[["s4"]]"#),
        (r#"SELECT COUNT(*) FROM useraction WHERE usersession.ip BETWEEN '193.0.0.0' AND '193.255.255.255'"#, r#"[[3]]"#),
        (r#"SELECT country, COUNT(*) FROM usersession GROUP BY country"#, r#"[[null,2],["United Kingdom",2],["Austria",1],["Netherlands",1]]"#),
        (r#"SELECT country, COUNT(*) FROM usersession WHERE country IS "United Kingdom" OR country = 'Austria' GROUP BY country"#, r#"[["United Kingdom",2],["Austria",1]]"#),
    ], &opts());
    assert_eq!(n, 12);
    let e = usql::parser::parse("SELECT COUNT(*) FROM usersession WHERE ip = '1.2.3'").unwrap_err();
    assert_eq!((e.position, e.message.contains("not an IPv4 or IPv6 address")), (44, true), "{}", e.message);
}

/// §3 star forms: `*` is the FROM table's fields in catalog order, `useraction.*` adds the
/// other table's (one row per action), named with the table prefix.
#[test]
fn select_star() {
    let (_d, conn) = fixture();
    let r = usql::run(&conn, "SELECT * FROM usersession WHERE userSessionId = 's2'", &opts()).unwrap();
    let names: Vec<&str> = fields::USERSESSION.iter().map(|f| f.name).collect();
    assert_eq!(r.column_names, names);
    assert_eq!(r.values.len(), 1);
    assert_eq!(r.values[0][..3], [json!("s2"), json!("bob"), json!("REAL_USER")]);
    let r = usql::run(&conn, "SELECT userSessionId, useraction.* FROM usersession WHERE userSessionId = 's2'", &opts()).unwrap();
    assert_eq!(r.column_names.len(), 1 + fields::USERACTION.len());
    assert_eq!(r.column_names[1], "useraction.name");
    assert_eq!(r.values.len(), 2, "one row per action");
    let r = usql::run(&conn, "SELECT usersession.*, * FROM useraction WHERE name = 'click on Search'", &opts()).unwrap();
    assert_eq!(r.column_names.len(), fields::USERSESSION.len() + fields::USERACTION.len());
    assert_eq!(r.values[0][0], json!("s2"));
    let r = usql::run(&conn, "SELECT * FROM usererror ORDER BY startTime", &opts()).unwrap();
    let names: Vec<&str> = fields::USERERROR.iter().map(|f| f.name).collect();
    assert_eq!(r.column_names, names);
    let at = |name: &str| r.column_names.iter().position(|c| c == name).unwrap();
    let first = &r.values[0];
    assert_eq!(
        [&first[at("application")], &first[at("name")], &first[at("type")], &first[at("startTime")]],
        [&json!("easytravel"), &json!("TypeError: x is undefined"), &json!("Error"), &json!(T0 + 8 * H + 3500)]
    );
}

/// §3 JSON: one more column with the whole record; from useraction only the action.
#[test]
fn json_keyword() {
    let (_d, conn) = fixture();
    let r = usql::run(&conn, "SELECT usersessionId, browserFamily, useraction.name, useraction.duration, JSON FROM usersession WHERE userSessionId = 's2' LIMIT 5", &opts()).unwrap();
    assert_eq!(r.column_names.last().map(String::as_str), Some("JSON"));
    assert_eq!(r.values.len(), 2);
    let record: Value = serde_json::from_str(r.values[0][4].as_str().unwrap()).unwrap();
    assert_eq!(record["userSessionId"], "s2");
    assert_eq!(record["userActions"].as_array().map(Vec::len), Some(2), "the whole session, whatever was selected");
    let r = usql::run(&conn, "SELECT name, duration, JSON FROM useraction WHERE name = 'click on Search' LIMIT 5", &opts()).unwrap();
    let record: Value = serde_json::from_str(r.values[0][2].as_str().unwrap()).unwrap();
    assert_eq!((record["name"].as_str(), record["requestCount"].as_i64()), (Some("click on Search"), Some(1)));
    assert!(record.get("userActions").is_none(), "only the sub-record");
}

/// §10 `/tree`: branches nest the rows by their values, leaves are the arrays at the bottom.
#[test]
fn tree_nests_by_branch_values() {
    let (_d, conn) = fixture();
    let r = usql::run(&conn, "SELECT stringProperties.tier, userId, COUNT(*), SUM(duration) FROM usersession GROUP BY stringProperties.tier, userId", &opts()).unwrap();
    assert_eq!(
        rumprops_collector::server::tree_json(&r),
        json!({"branchNames": ["stringProperties.tier", "userId"], "leafNames": ["COUNT(*)", "SUM(duration)"], "extrapolationLevel": 1,
               "values": {"Gold": {"alice": [2, 10600]}, "Silver": {"bob": [2, 3250]}, "null": {"null": [1, 0]}, "Platinum": {"carol": [1, 4100]}}})
    );
    let r = usql::run(&conn, "SELECT COUNT(*), MAX(duration) FROM usersession", &opts()).unwrap();
    assert_eq!(rumprops_collector::server::tree_json(&r)["values"], json!([6, 6800]));
}

/// §6 `offsetUTC`: date functions and date-time strings without an offset use local time.
#[test]
fn offset_utc_moves_local_time() {
    let (_d, conn) = fixture();
    let mut o = opts();
    o.offset_utc_min = 120;
    let n = check(&conn, &[
        (r#"SELECT DATETIME(startTime, 'yyyy-MM-dd HH:mm'), DAY(startTime), HOUR(startTime) FROM usersession WHERE userSessionId = 's6'"#, r#"[["2025-01-06 01:59",6,1]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime >= "2024-11-25 10:00""#, r#"[[6]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime >= "2024-11-25T10:00:00+02:00""#, r#"[[6]]"#),
        (r#"SELECT COUNT(*) FROM usersession WHERE startTime >= "2024-11-25T10:00:00Z""#, r#"[[3]]"#),
        (r#"SELECT DATETIME(startTime, 'yyyy-MM-dd', 'week'), COUNT(*) FROM usersession GROUP BY DATETIME(startTime, 'yyyy-MM-dd', 'week')"#, r#"[["2024-11-25",4],["2024-12-02",1],["2025-01-06",1]]"#),
    ], &o);
    assert_eq!(n, 5);
}

/// §6 and §10 over HTTP: without a time frame `/table` answers the last two hours (by the
/// session start); `$TIME_FRAME_*` are the frame's bounds; bad parameters are 400s.
#[test]
fn table_defaults_to_the_last_two_hours() {
    let c = start(|_| {});
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    for (sid, start) in [("recent", now - H), ("old", now - 3 * H)] {
        let mut b = beacon(sid, 0, Some("end_session"), json!({}), json!([]));
        b["session"]["start"] = json!(start);
        b["sentAt"] = json!(start);
        assert_eq!(post_beacon(c.addr, &b.to_string(), &[]).status, 204);
    }
    let get = |q: &str, extra: &str| {
        request(c.addr, "GET", &format!("/api/v1/userSessionQueryLanguage/table?query={}{extra}", encode(q)), &[], b"")
    };
    let r = get("SELECT userSessionId FROM usersession", "");
    assert_eq!(r.json()["values"], json!([["recent"]]), "{}", r.body);
    let r = get("SELECT userSessionId FROM usersession", "&startTimestamp=0&endTimestamp=0");
    assert_eq!(r.json()["values"], json!([["recent"]]), "0 means the default too");
    let r = get("SELECT userSessionId FROM usersession ORDER BY startTime", &format!("&startTimestamp={}", now - 4 * H));
    assert_eq!(r.json()["values"], json!([["old"], ["recent"]]));
    let r = get("SELECT COUNT(*) FROM usersession WHERE startTime BETWEEN $TIME_FRAME_START AND $TIME_FRAME_START + DURATION(\"90m\")", &format!("&startTimestamp={}", now - 4 * H));
    assert_eq!(r.json()["values"], json!([[1]]));
    let r = get("SELECT DATETIME(startTime, 'HH') FROM usersession", "&offsetUTC=abc");
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().starts_with("offsetUTC"), "{}", r.body);
    let r = get("SELECT COUNT(*) FROM usersession WHERE bogus = 1", "");
    assert_eq!((r.status, r.json()["position"].clone()), (400, json!(39)));
}

/// §3 LIMIT: 50 rows without LIMIT, up to 5000 with it; pages stay within the LIMIT.
#[test]
fn fifty_rows_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = store::open(&dir.path().join("many.db")).unwrap();
    for i in 0..60 {
        let b = json!({"v": 1, "app": "easytravel", "sid": format!("m{i:02}"), "seq": 0, "sentAt": T0,
            "session": {"start": T0 + i * 1000, "ended": "end_session", "props": {}}, "actions": []});
        store::ingest(&mut conn, &parse_beacon(b.to_string().as_bytes()).unwrap(), None, T0).unwrap();
    }
    let rows = |q: &str, o: &QueryOptions| usql::run(&conn, q, o).unwrap().values;
    let o = opts();
    assert_eq!(rows("SELECT userSessionId FROM usersession", &o).len(), 50);
    assert_eq!(rows("SELECT userSessionId FROM usersession LIMIT 60", &o).len(), 60);
    assert_eq!(rows("SELECT userSessionId, COUNT(*) FROM usersession GROUP BY userSessionId", &o).len(), 50);
    let mut paged = opts();
    paged.page_size = Some(20);
    paged.page_offset = 40;
    assert_eq!(rows("SELECT userSessionId FROM usersession ORDER BY userSessionId", &paged), json!([["m40"], ["m41"], ["m42"], ["m43"], ["m44"], ["m45"], ["m46"], ["m47"], ["m48"], ["m49"]]).as_array().unwrap().iter().map(|r| r.as_array().unwrap().clone()).collect::<Vec<_>>());
}

/// Every USQL query written in this file: its string literals that start with `SELECT`, in
/// order, each once (the queries of every test above, the refused ones too).
fn queries_in_this_file() -> Vec<String> {
    let src = include_str!("usql_docs.rs");
    let b = src.as_bytes();
    let mut out: Vec<String> = Vec::new();
    let mut keep = |text: String| {
        if text.trim_start().to_ascii_uppercase().starts_with("SELECT") && !out.contains(&text) {
            out.push(text);
        }
    };
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            i += b[i..].iter().position(|&c| c == b'\n').unwrap_or(b.len() - i);
        } else if b[i..].starts_with(b"r#\"") {
            let end = src[i + 3..].find("\"#").expect("a raw string ends");
            keep(src[i + 3..i + 3 + end].to_owned());
            i += 3 + end + 2;
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') {
            // A char literal ('"' or '\n'): not a string's start.
            i += if b[i + 1] == b'\\' { 4 } else { 3 };
        } else if b[i] == b'"' {
            let mut text = Vec::new();
            let mut j = i + 1;
            while b[j] != b'"' {
                if b[j] == b'\\' {
                    j += 1;
                    text.push(match b[j] {
                        b'n' => b'\n',
                        b't' => b'\t',
                        other => other,
                    });
                } else {
                    text.push(b[j]);
                }
                j += 1;
            }
            keep(String::from_utf8(text).unwrap());
            i = j + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// The ClickHouse SQL of every query in this file (`usql/clickhouse.rs`), over the fixture
/// stored through the ClickHouse store, answers the same on the 18.16 server and on current
/// ClickHouse (chDB, `tests/common/chdb.rs`) holding the same rows.
#[test]
fn the_clickhouse_sql_of_every_query_here_answers_alike_on_18_16_and_current_clickhouse() {
    use rumprops_collector::clickhouse::{json_each_row, rows, schema_version, ClickHouse, Layout, SCHEMA_MIGRATIONS};
    use rumprops_collector::store::BeaconStore;
    let server = common::clickhouse::server();
    let db = common::clickhouse::fresh_database();
    let mut ch = ClickHouse::open(server.store_url(&db).parse().unwrap(), None, false).unwrap();
    let mut load = vec![SCHEMA_MIGRATIONS.to_owned()];
    (1..=schema_version()).for_each(|v| load.extend(Layout::Single.statements(v)));
    for (pending, received) in fixture_beacons() {
        let group = [pending];
        ch.ingest_group(&group, &Goals::default(), received).unwrap();
        let (beacons, actions) = rows(&group, &Goals::default(), received);
        load.push(format!("INSERT INTO actions FORMAT JSONEachRow\n{}", json_each_row(&actions)));
        load.push(format!("INSERT INTO beacons FORMAT JSONEachRow\n{}", json_each_row(&beacons)));
    }
    // The settings the USQL backend runs its queries with.
    let settings = [("join_use_nulls", "1".to_owned()), ("output_format_json_quote_64bit_integers", "0".to_owned())];
    load.extend(settings.iter().map(|(k, v)| format!("SET {k} = {v}")));
    let o = opts();
    let mut statements = Vec::new();
    let mut old = Vec::new();
    for text in queries_in_this_file() {
        let Ok(q) = usql::parser::parse(&text) else { continue }; // the refused ones
        if q.json {
            continue; // its records are read by further statements (the session export's)
        }
        let st = usql::clickhouse::translate(&q, &o, &Goals::default());
        let sql = format!("{} FORMAT JSONCompact", st.sql);
        old.push((text, st.top, ch.query(&sql, &settings, std::time::Duration::from_secs(60))));
        statements.push(sql);
    }
    assert!(statements.len() >= 150, "only {} queries found", statements.len());
    let now = common::chdb::run(None, &[load.clone(), statements].concat());
    // An answer, or the failure (an error after the first rows comes inside a 200 answer).
    // The rows of an answer, or the failure (an error after the first rows comes inside a 200
    // answer). chDB may write one JSON document per block: their rows are concatenated.
    let data = |answer: Result<&str, String>| -> Result<Value, String> {
        let text = answer?;
        let mut rows = Vec::new();
        for doc in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
            let doc = doc.map_err(|e| format!("{e}: …{}", &text[text.len().saturating_sub(300)..]))?;
            rows.extend(doc["data"].as_array().cloned().unwrap_or_default());
        }
        Ok(Value::Array(rows))
    };
    let mut differ = Vec::new();
    let mut failed = 0;
    // The groups of a TOP query are ranked by the collector afterwards: their order is free.
    let rows = |r: Result<Value, String>, top: bool| match r {
        Ok(Value::Array(mut rows)) if top => {
            rows.sort_by_key(|v| v.to_string());
            Ok(Value::Array(rows))
        }
        other => other,
    };
    for (i, (text, top, then)) in old.iter().enumerate() {
        let top = &(*top || queries_unordered(text));
        let a = rows(data(then.as_deref().map_err(|e| e.0.clone())), *top);
        let b = rows(data(now.results[load.len() + i].as_deref().map_err(|e| e.clone())), *top);
        match (&a, &b) {
            (Ok(x), Ok(y)) if x == y => {}
            (Err(_), Err(_)) => failed += 1, // refused by both (an integer overflow, a time limit)
            _ => differ.push(format!("{text}\n  18.16: {}\n  chDB:  {}", short(&a), short(&b))),
        }
    }
    eprintln!("{} queries, {failed} refused by both, {} differ (chDB {})", old.len(), differ.len(), now.version);
    // The known ones must still differ, and nothing else may.
    let known: Vec<&str> = KNOWN_DIFFERENCES.iter().map(|(q, _)| *q).collect();
    let fixed: Vec<&&str> = known.iter().filter(|q| !differ.iter().any(|d| d.starts_with(&format!("{q}\n")))).collect();
    assert!(fixed.is_empty(), "no longer differ, take them off KNOWN_DIFFERENCES: {fixed:?}");
    differ.retain(|d| !known.iter().any(|q| d.starts_with(&format!("{q}\n"))));
    assert!(differ.is_empty(), "{} of {} queries differ:\n{}", differ.len(), old.len(), differ.join("\n"));
}

fn short(r: &Result<Value, String>) -> String {
    let t = match r {
        Ok(v) => v.to_string(),
        Err(e) => format!("failed: {e}"),
    };
    t.chars().take(400).collect()
}

/// Whether a query leaves its row order to the store (no ORDER BY, no GROUP BY).
fn queries_unordered(text: &str) -> bool {
    usql::parser::parse(text).is_ok_and(|q| q.order_by.is_empty() && q.group_by.is_empty())
}

/// Queries whose ClickHouse SQL answers differently on current ClickHouse than on 18.16, and
/// why (docs/scale-out.md): the query side's to fix, listed so that the test above fails on any
/// other difference and on a listed one that is gone.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[];

