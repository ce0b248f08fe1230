//! The ClickHouse store with replicated tables (`serve --cluster NAME --replicated`), against a
//! real ZooKeeper (Debian's `zookeeper`) and two real `clickhouse-server` 18.16 processes
//! configured as the two replicas of one shard (`tests/common/clickhouse.rs`): the collectors
//! make `ReplicatedReplacingMergeTree` tables on both; four collectors, two on each replica's
//! server, take beacons with 30 % of them resent to another collector while one replica is
//! SIGKILLed and restarted; afterwards both replicas hold every action exactly once, and
//! collectors on either answer the same USQL.

mod common;

use common::clickhouse::{self, ClickHouse, REPLICAS};
use common::fleet::{assert_each_once, serve, spread_with_resends, Process};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn one(ch: &ClickHouse, db: &str, sql: &str) -> String {
    ch.query_in(db, sql).unwrap_or_else(|e| panic!("{sql}: {e}")).trim().to_owned()
}

/// The actions one replica holds itself (its local table, deduplicated), as `(sid, action id)`
/// with how often.
fn local_actions(ch: &ClickHouse, db: &str) -> HashMap<(String, String), usize> {
    one(ch, db, "SELECT sid, action_id, count() FROM actions_local FINAL GROUP BY sid, action_id")
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some(((f.next()?.to_owned(), f.next()?.to_owned()), f.next()?.parse().ok()?))
        })
        .collect()
}

#[test]
fn two_replicas_hold_every_action_once_through_resends_and_a_replica_killed_mid_ingest() {
    let r = clickhouse::start_replicated();
    let db = "rep";
    let dir = tempfile::tempdir().unwrap();
    let procs: Vec<Process> = (0..4)
        .map(|i| {
            let store = r.replicas[i % 2].ch.store_url(db);
            let args = ["--store", store.as_str(), "--cluster", REPLICAS, "--replicated", "--batch-max-wait-ms", "20"];
            serve(&dir.path().join(format!("app{i}.db")), "127.0.0.1:0", &args, dir.path().join(format!("c{i}.err")))
                .unwrap_or_else(|e| panic!("collector {i} did not start: {e}"))
        })
        .collect();
    for rep in &r.replicas {
        assert_eq!(
            one(&rep.ch, db, "SELECT name, engine FROM system.tables WHERE database = currentDatabase() AND name LIKE '%_local' ORDER BY name"),
            "action_rollups_local\tReplicatedReplacingMergeTree\nactions_local\tReplicatedReplacingMergeTree\nbeacons_local\tReplicatedReplacingMergeTree\nexports_local\tReplicatedReplacingMergeTree\nrollup_seals_local\tReplicatedReplacingMergeTree\nsealed_sessions_local\tReplicatedReplacingMergeTree"
        );
    }
    // (TSV escapes the quotes.)
    let local = one(&r.replicas[1].ch, db, "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'beacons_local'")
        .replace("\\'", "'");
    assert!(local.starts_with(&format!("ReplicatedReplacingMergeTree('/clickhouse/tables/{{shard}}/{db}/beacons_local', '{{replica}}', received_at)")), "{local}");

    // A collector started without --replicated on these tables is refused, naming why.
    let store = r.replicas[0].ch.store_url(db);
    let refused = serve(&dir.path().join("plain.db"), "127.0.0.1:0", &["--store", store.as_str(), "--cluster", REPLICAS], dir.path().join("plain.err"))
        .err()
        .expect("a collector without --replicated started over replicated tables");
    assert!(refused.contains("is a ReplicatedReplacingMergeTree table (made with --replicated)"), "{refused}");

    // After 40 acknowledgements the second replica is SIGKILLed and restarted on its data 0.7 s
    // later: meanwhile its collectors answer 503 and the clients go on to the next collector.
    let addrs = Arc::new(Mutex::new(procs.iter().map(|p| p.addr).collect::<Vec<SocketAddr>>()));
    let per_client = 40;
    let (sent, failures) = spread_with_resends(&addrs, 4, per_client, 40, || {
        r.replicas[1].stop();
        std::thread::sleep(Duration::from_millis(700));
        r.replicas[1].restart();
    });
    assert!(failures > 0, "no beacon was refused while a replica was down");
    assert_eq!(sent.len(), 4 * per_client * 3);

    // Each replica catches up from the replication log; then each holds everything once.
    for rep in &r.replicas {
        for t in ["beacons_local", "actions_local"] {
            one(&rep.ch, db, &format!("SYSTEM SYNC REPLICA {t}"));
        }
    }
    for rep in &r.replicas {
        assert_each_once(&sent, &local_actions(&rep.ch, db));
        assert_eq!(one(&rep.ch, db, "SELECT count() FROM beacons_local FINAL"), (4 * per_client).to_string());
    }
    // Every collector answers the same USQL, whichever replica its reads go to.
    for (query, want) in [("SELECT COUNT(*) FROM usersession", 4 * per_client / 2), ("SELECT COUNT(*) FROM useraction", sent.len())] {
        for p in &procs {
            let q = common::usql(p.addr, "table", query, "&includeLive=true");
            assert_eq!(q.status, 200, "{}", q.body);
            assert_eq!(q.json()["values"], serde_json::json!([[want]]), "{query} on the collector at {}", p.addr);
        }
    }
    drop(procs);
}
