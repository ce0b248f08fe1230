//! The ClickHouse insert formats side by side (not a test): the same rows into the same tables
//! of the same server (Debian's clickhouse-server 18.16, started on a free loopback port by
//! `tests/common/clickhouse.rs`).
//!
//! - `RowBinary` through the official `clickhouse` crate (validation off: validation needs
//!   `RowBinaryWithNamesAndTypes`, which 18.16 does not have): [`ClickHouse::insert_rows`], what
//!   the writer sends.
//! - `JSONEachRow` over hyper: [`ClickHouse::insert`], what the writer sent before, with the
//!   same rows as JSON objects (converted before the clock starts).
//!
//! Each round inserts one writer group (`RUMPROPS_BENCH_GROUP` beacons of 10 actions, 256 by
//! default, `benches/data`) into `actions` then `beacons`, as the writer does; `RUMPROPS_BENCH_ROUNDS`
//! rounds (30) after 3 warm-up rounds, each format into a database of its own. Printed: p50 and
//! p95 per group, actions/s at the p50. Afterwards both databases must hold the same rows, column
//! by column, or the bench fails.
//!
//! `cargo bench -p rumprops-collector --bench ch_client`.

use rumprops_collector::beacon::parse_beacon;
use rumprops_collector::clickhouse::{json_each_row, rows, ClickHouse};
use rumprops_collector::goals::Goals;
use rumprops_collector::store::{ClientInfo, Pending};
use serde_json::Value;
use std::time::Instant;

mod data;
mod stats;
use stats::quantile;
use data::{beacon_text, ACTIONS_PER_SESSION};
#[path = "../tests/common/mod.rs"]
mod common;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The same rows as JSON objects.
fn as_json<T: serde::Serialize>(rows: &[T]) -> Vec<Value> {
    json_each_row(rows).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn main() {
    let size = env("RUMPROPS_BENCH_GROUP", 256);
    let (warm, rounds) = (3, env("RUMPROPS_BENCH_ROUNDS", 30));
    let server = common::clickhouse::server();
    let version = server.query("SELECT version()").unwrap().trim().to_owned();
    let binary = ClickHouse::open(server.store_url("via_rowbinary").parse().unwrap(), None, false).unwrap();
    let json = ClickHouse::open(server.store_url("via_json").parse().unwrap(), None, false).unwrap();
    let client = ClientInfo { user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0".to_owned()), ip: Some("127.0.0.0".to_owned()), geo: Default::default() };

    let (mut t_binary, mut t_json) = (Vec::new(), Vec::new());
    for g in 0..warm + rounds {
        let pending: Vec<Pending> = (g * size..(g + 1) * size).map(|i| (parse_beacon(beacon_text(i).as_bytes()).unwrap(), client.clone())).collect();
        let (beacons, actions) = rows(&pending, &Goals::default(), 1_764_633_600_000);
        let (json_beacons, json_actions) = (as_json(&beacons), as_json(&actions));

        let t = Instant::now();
        binary.insert_rows("actions", &actions).unwrap();
        binary.insert_rows("beacons", &beacons).unwrap();
        let binary_ms = t.elapsed().as_secs_f64() * 1000.0;

        let t = Instant::now();
        json.insert("actions", &json_actions).unwrap();
        json.insert("beacons", &json_beacons).unwrap();
        let json_ms = t.elapsed().as_secs_f64() * 1000.0;
        if g >= warm {
            t_binary.push(binary_ms);
            t_json.push(json_ms);
        }
    }

    // The same rows in both databases, column by column.
    for table in ["actions", "beacons"] {
        let order = if table == "actions" { "sid, seq, action_id" } else { "sid, seq" };
        let dump = |db: &str| server.query_in(db, &format!("SELECT * FROM {table} ORDER BY {order} FORMAT TSV")).unwrap();
        let (a, b) = (dump("via_rowbinary"), dump("via_json"));
        assert!(!a.is_empty() && a == b, "{table}: the two formats stored different rows");
    }
    let actions = (size * ACTIONS_PER_SESSION) as f64;
    println!(
        "ClickHouse {version}: {rounds} groups of {size} beacons ({} actions) into actions then beacons; both databases hold the same rows",
        size * ACTIONS_PER_SESSION
    );
    for (name, t) in [("RowBinary, clickhouse crate 0.15 (the writer)", &t_binary), ("JSONEachRow over hyper (before)", &t_json)] {
        let (p50, p95) = (quantile(t, 0.5), quantile(t, 0.95));
        println!("  {name}: p50 {p50:.1} ms, p95 {p95:.1} ms per group = {:.0} actions/s at the p50", actions / p50 * 1000.0);
    }
}
