//! The ClickHouse SQL the collector sends, on current ClickHouse as well as on the 18.16 server
//! the other tests use: every migration statement of both layouts and the `JSONEachRow` rows of
//! the inserts run in chDB (`tests/common/chdb.rs`), and read back the same as on 18.16.

mod common;

use common::{action, beacon, chdb, clickhouse, measured_load};
use rumprops_collector::beacon::parse_beacon;
use rumprops_collector::clickhouse::{json_each_row, rows, schema_version, tables, Layout, SCHEMA_MIGRATIONS};
use rumprops_collector::goals::Goals;
use rumprops_collector::rollups;
use rumprops_collector::usql::{self, QueryOptions};
use rumprops_collector::store::{ClientInfo, Pending};
use serde_json::json;

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// Beacons with every kind of value a row carries: all timings, resources, Apdex, rage clicks,
/// JS errors (with and without a source), typed properties at their edges, screen, connection,
/// an issue, text that needs escaping; and a bare one.
fn pending() -> Vec<Pending> {
    let start = 1_732_599_100_000_i64;
    let mut load = measured_load("a1", start, json!([
        {"message": "TypeError: x is undefined", "file": "https://shop.example/app.js", "line": 10, "column": 4, "time": start + 50},
        {"message": "ReferenceError: y", "time": start + 60}
    ]));
    load["requests"] = json!(2);
    load["requestErrors"] = json!(1);
    load["props"] = json!({
        "string": {"page": "caf\u{e9} \"quoted\"\ttab\nline", "empty": ""},
        "long": {"big": 9_007_199_254_740_993_i64, "neg": -42},
        "double": {"ratio": 0.1, "tiny": 1.5e-7},
        "date": {"paid": start + 123}
    });
    let mut rich = beacon("d1", 0, None, json!({"string": {"plan": "gold"}, "long": {"visits": 3}}), json!([load, action("a2", start + 2000, 0, json!({}))]));
    rich["session"]["screen"] = json!({"width": 1920, "height": 1080});
    rich["session"]["connection"] = json!("4g");
    rich["issues"] = json!([{"key": "price", "reason": "not_a_double"}]);
    let bare = beacon("d2", 1, Some("end_session"), json!({}), json!([action("b1", start + 5000, 0, json!({}))]));
    let client = ClientInfo { user_agent: Some(CHROME.to_owned()), ip: Some("203.0.113.0".to_owned()), ..ClientInfo::default() };
    [rich, bare]
        .iter()
        .map(|b| (parse_beacon(b.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e:?}")), client.clone()))
        .collect()
}

/// The statements a collector sends for `layout` into the current database (migrations, then
/// the inserts of `pending()`, into `suffix`ed tables), then reads of every table.
fn script(layout: &Layout, suffix: &str) -> (Vec<String>, usize) {
    let mut sql = vec![SCHEMA_MIGRATIONS.to_owned()];
    for v in 1..=schema_version() {
        sql.extend(layout.statements(v));
        sql.push(format!("INSERT INTO schema_migrations (version, applied_at) VALUES ({v}, 0)"));
    }
    let keys = Goals { key_user_actions: ["click on a2".to_owned()].into(), ..Goals::default() };
    let (beacons, actions) = rows(&pending(), &keys, 1_732_600_000_000);
    sql.push(format!("INSERT INTO actions{suffix} FORMAT JSONEachRow\n{}", json_each_row(&actions)));
    sql.push(format!("INSERT INTO beacons{suffix} FORMAT JSONEachRow\n{}", json_each_row(&beacons)));
    let reads = sql.len();
    for t in tables() {
        let order = match t {
            "actions" => "sid, action_id",
            "beacons" => "sid, seq",
            "action_rollups" | "rollup_seals" => "hour, gen",
            _ => "sid",
        };
        sql.push(format!("SELECT * FROM {t}{suffix} FINAL ORDER BY {order}"));
    }
    sql.push("SELECT max(version) FROM schema_migrations FINAL".to_owned());
    (sql, reads)
}

#[test]
fn migrations_and_inserts_run_on_current_clickhouse_and_read_back_as_on_18_16() {
    // 18.16: the one-server layout.
    let ch = clickhouse::server();
    let db = clickhouse::fresh_database();
    let (mut single, old_reads) = script(&Layout::Single, "");
    // The rollups: a seal of the rows' hours, its rows, and queries that read them.
    let hours: Vec<i64> = pending().iter().map(|(b, _)| rollups::hour_of(b.session.start)).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    single.extend(rollups::seal_sql(&hours, 77));
    single.push("SELECT hour, gen, app, name, kind, ptype, pkey, sval, lval, dval, n FROM action_rollups ORDER BY hour, ptype, pkey, app, name, kind, sval, lval, dval".to_owned());
    single.push("SELECT hour, gen, sid FROM sealed_sessions ORDER BY sid".to_owned());
    let queries_from = single.len();
    let coverage = rollups::Coverage { valid: hours.iter().map(|h| (*h, 77)).collect(), hours: hours.iter().copied().collect() };
    for q in [
        "SELECT stringProperties.page, COUNT(*) FROM useraction GROUP BY stringProperties.page",
        "SELECT name, longProperties.big, COUNT(*) FROM useraction GROUP BY name, longProperties.big",
        "SELECT doubleProperties.ratio, type, COUNT(*) FROM useraction GROUP BY doubleProperties.ratio, type ORDER BY type",
        "SELECT dateProperties.paid, COUNT(*) FROM useraction GROUP BY dateProperties.paid",
        "SELECT COUNT(*) FROM useraction",
    ] {
        let plan = usql::parser::parse(q).unwrap();
        let mut opts = QueryOptions::now(1_800_000);
        opts.include_live = false;
        // Wholly covered, and a frame that cuts its hour (read from the rows too).
        let st = usql::clickhouse::translate_rollup(&plan, &opts, &Goals::default(), &coverage);
        assert!(st.sql.contains("action_rollups") && !st.sql.contains("FROM actions"), "{}", st.sql);
        single.push(usql::clickhouse::text(&st, &opts));
        opts.start_timestamp = Some(hours[0] + 1);
        let st = usql::clickhouse::translate_rollup(&plan, &opts, &Goals::default(), &coverage);
        assert!(st.sql.contains("FROM actions"), "{}", st.sql);
        single.push(usql::clickhouse::text(&st, &opts));
    }
    let reads = old_reads;
    let old: Vec<String> = single.iter().map(|s| ch.query_in(&db, s).unwrap_or_else(|e| panic!("18.16: {s}: {e}"))).collect();
    assert_eq!(tables()[..2], ["beacons", "actions"]);
    assert!(old[reads].lines().count() == 2 && old[reads + 1].lines().count() == 3, "{old:?}");

    // Current ClickHouse, one server.
    let now = chdb::run(None, &single);
    for (s, r) in single.iter().zip(&now.results) {
        if let Err(e) = r {
            panic!("chDB {}: {s}: {e}", now.version);
        }
    }
    let answers: Vec<&str> = now.results.iter().map(|r| r.as_deref().unwrap()).collect();
    for (i, s) in single.iter().enumerate().skip(reads) {
        if i >= queries_from {
            // USQL answers (JSONCompact): the same rows; 18.16 takes the quoting of 64-bit
            // integers from the URL only, so numbers are compared as text.
            let data = |a: &str| -> serde_json::Value {
                let v: serde_json::Value = serde_json::from_str(a).unwrap();
                let text = |c: &serde_json::Value| if c.is_number() { json!(c.to_string()) } else { c.clone() };
                v["data"].as_array().unwrap().iter().map(|row| row.as_array().unwrap().iter().map(text).collect::<Vec<_>>()).collect()
            };
            assert_eq!(data(answers[i]), data(&old[i]), "chDB {} and 18.16 answer differently: {s}", now.version);
            continue;
        }
        assert_eq!(answers[i], old[i], "chDB {} and 18.16 read differently: {s}", now.version);
    }

    // Current ClickHouse, the cluster layout (a cluster of one shard in chDB's configuration):
    // the local and Distributed tables are created, rows go to the local tables.
    let config = format!(
        "<clickhouse><remote_servers><{c}><shard><replica><host>127.0.0.1</host><port>9000</port></replica></shard></{c}></remote_servers></clickhouse>",
        c = clickhouse::CLUSTER
    );
    let layout = Layout::Cluster { name: clickhouse::CLUSTER.to_owned(), database: "default".to_owned(), replicated: false };
    let (sharded, reads) = script(&layout, "_local");
    let now = chdb::run(Some(&config), &sharded);
    for (s, r) in sharded.iter().zip(&now.results) {
        if let Err(e) = r {
            panic!("chDB {}: {s}: {e}", now.version);
        }
    }
    let engines = chdb::run(Some(&config), &[sharded[..reads].to_vec(), vec!["SELECT name, engine FROM system.tables WHERE database = currentDatabase() ORDER BY name".to_owned()]].concat());
    assert_eq!(
        engines.results.last().unwrap().as_deref().unwrap(),
        "action_rollups\tDistributed\naction_rollups_local\tReplacingMergeTree\nactions\tDistributed\nactions_local\tReplacingMergeTree\nbeacons\tDistributed\nbeacons_local\tReplacingMergeTree\nexports\tDistributed\nexports_local\tReplacingMergeTree\nrollup_seals\tDistributed\nrollup_seals_local\tReplacingMergeTree\nschema_migrations\tReplacingMergeTree\nsealed_sessions\tDistributed\nsealed_sessions_local\tReplacingMergeTree\n"
    );
    let answers: Vec<&str> = now.results.iter().map(|r| r.as_deref().unwrap()).collect();
    for (i, s) in sharded.iter().enumerate().skip(reads) {
        assert_eq!(answers[i], old[old_reads + i - reads], "chDB {} (cluster layout) and 18.16 read differently: {s}", now.version);
    }
}
