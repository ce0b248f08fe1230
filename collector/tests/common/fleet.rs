//! Process processes (the real `rumprops` binary) and senders that behave like the agent's
//! outbox: every beacon is sent until a collector answers 204, whatever refused or cut it
//! before. The fault tests over SQLite, one ClickHouse server and the two-shard cluster share
//! them.

use super::{action, beacon, try_request};
use serde_json::json;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_rumprops");

/// A collector process (`rumprops serve`), killed when dropped.
pub struct Process {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    pub stderr: PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.child.id().to_string()]).status().unwrap().success();
        assert!(ok, "kill {sig}");
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

/// Starts `rumprops serve` and waits for its address line; `Err` has its stderr.
pub fn serve(db: &Path, addr: &str, extra: &[&str], stderr: PathBuf) -> Result<Process, String> {
    let mut child = Command::new(BIN)
        .args(["serve", "--db", db.to_str().unwrap(), "--addr", addr, "--rate-per-sec", "100000", "--rate-burst", "100000", "--no-auth"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut first);
    match first.trim().rsplit("http://").next().and_then(|a| a.parse().ok()) {
        Some(addr) => Ok(Process { child, addr, stderr }),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(std::fs::read_to_string(&stderr).unwrap_or_default())
        }
    }
}

/// xorshift64*: a seeded, reproducible choice of collector and of resends.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

/// Beacon `k` of client `c`: two beacons per session (the second ends it), three actions each.
pub fn client_beacon(c: usize, k: usize) -> (String, Vec<(String, String)>) {
    let sid = format!("c{c}-s{}", k / 2);
    let ids: Vec<String> = (0..3).map(|i| format!("a{k}-{i}")).collect();
    let actions: Vec<serde_json::Value> =
        ids.iter().enumerate().map(|(i, id)| action(id, 1_732_599_100_000 + (k * 10 + i) as i64, 0, json!({}))).collect();
    let ended = if k % 2 == 1 { Some("end_session") } else { None };
    let b = beacon(&sid, (k % 2) as i64, ended, json!({"string": {"client": format!("c{c}")}}), json!(actions));
    (b.to_string(), ids.into_iter().map(|id| (sid.clone(), id)).collect())
}

/// Posts until a 204 (or the deadline), trying `targets()` in turn; returns the failed tries.
pub fn post_until_stored(body: &str, mut target: impl FnMut() -> SocketAddr, deadline: Instant) -> usize {
    let mut failures = 0;
    loop {
        assert!(Instant::now() < deadline, "a beacon was not acknowledged in time ({failures} tries)");
        match try_request(target(), "POST", "/beacon", &[("Content-Type", "text/plain")], body.as_bytes()) {
            Ok(r) if r.status == 204 => return failures,
            Ok(r) if r.status >= 500 || r.status == 429 || r.status == 0 => {}
            Ok(r) => panic!("beacon refused: {} {}", r.status, r.body),
            Err(_) => {}
        }
        failures += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Four clients post beacons (retrying each until its 204) while the collector is killed with
/// SIGKILL five times and restarted on the same port; then `stored()` must hold every
/// acknowledged action exactly once, and nothing else.
pub fn crash_during_ingest(db: &Path, extra: &[&str], stored: impl Fn() -> HashMap<(String, String), usize>) {
    let logs = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let start = |n: usize| -> Process {
        // The old process's port may take a moment to be free again.
        let mut last = String::new();
        for _ in 0..50 {
            match serve(db, &addr, extra, logs.path().join(format!("crash{n}.err"))) {
                Ok(c) => return c,
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("collector did not restart: {last}");
    };
    let target: SocketAddr = addr.parse().unwrap();
    let collector = Arc::new(Mutex::new(Some(start(0))));
    let kills_done = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(480);
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (kills_done, failures) = (Arc::clone(&kills_done), Arc::clone(&failures));
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                let mut k = 0;
                // Until the kills are over, and at least 100 beacons each.
                while k < 100 || !kills_done.load(Ordering::SeqCst) {
                    assert!(k < 5000, "client {c} ran away");
                    let (body, mut ids) = client_beacon(c, k);
                    failures.fetch_add(post_until_stored(&body, || target, deadline), Ordering::SeqCst);
                    acknowledged.append(&mut ids);
                    k += 1;
                }
                acknowledged
            })
        })
        .collect();
    for n in 1..=5 {
        std::thread::sleep(Duration::from_millis(300 + 70 * n as u64));
        let old = collector.lock().unwrap().take().unwrap();
        old.signal("-KILL");
        drop(old);
        *collector.lock().unwrap() = Some(start(n));
    }
    kills_done.store(true, Ordering::SeqCst);
    let acknowledged: Vec<(String, String)> = clients.into_iter().flat_map(|h| h.join().unwrap()).collect();
    assert!(failures.load(Ordering::SeqCst) > 0, "the kills interrupted no request: the test shows nothing");
    let stored = stored();
    for id in &acknowledged {
        assert_eq!(stored.get(id), Some(&1), "acknowledged action {id:?} not stored exactly once");
    }
    assert_eq!(stored.len(), acknowledged.len(), "every stored action was acknowledged after the retries");
    eprintln!("{} actions acknowledged over 5 SIGKILLs, {} failed tries retried", acknowledged.len(), failures.load(Ordering::SeqCst));
}


/// `clients` threads each post `per_client` beacons ([`client_beacon`]) to random collectors of
/// `addrs` and send 30 % of them again to another collector (an acknowledgement lost on the
/// way), each until a 204, a refused or cut try going again to the next collector. Once
/// `fault_after` beacons are acknowledged, `fault` runs on the calling thread while the clients
/// go on (it may change `addrs`, e.g. to replace a killed collector). Returns every acknowledged
/// action as `(sid, action id)` and the number of failed tries.
pub fn spread_with_resends(
    addrs: &Arc<Mutex<Vec<SocketAddr>>>,
    clients: usize,
    per_client: usize,
    fault_after: usize,
    fault: impl FnOnce(),
) -> (Vec<(String, String)>, usize) {
    let acked = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(480);
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let (addrs, acked, failures) = (Arc::clone(addrs), Arc::clone(&acked), Arc::clone(&failures));
            std::thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (c as u64 + 1));
                let n = addrs.lock().unwrap().len();
                let mut ids = Vec::new();
                for k in 0..per_client {
                    let (body, mut beacon_ids) = client_beacon(c, k);
                    let first = rng.below(n);
                    let mut targets = vec![first];
                    if rng.below(10) < 3 {
                        targets.push((first + 1 + rng.below(n - 1)) % n);
                    }
                    for t in targets {
                        let mut next = t;
                        let tries = post_until_stored(
                            &body,
                            || {
                                let a = addrs.lock().unwrap()[next];
                                next = (next + 1) % n;
                                a
                            },
                            deadline,
                        );
                        failures.fetch_add(tries, Ordering::SeqCst);
                    }
                    acked.fetch_add(1, Ordering::SeqCst);
                    ids.append(&mut beacon_ids);
                }
                ids
            })
        })
        .collect();
    let wait = Instant::now() + Duration::from_secs(300);
    while acked.load(Ordering::SeqCst) < fault_after {
        assert!(Instant::now() < wait, "ingest did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    fault();
    assert!(acked.load(Ordering::SeqCst) < clients * per_client, "the fault came after ingest ended: the test shows nothing");
    let ids = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    (ids, failures.load(Ordering::SeqCst))
}

/// Every action that ClickHouse queries read (`FINAL` on `actions`, which over a cluster is the
/// `Distributed` table) as `(sid, action id)` with how often it is there.
pub fn clickhouse_actions(ch: &super::clickhouse::ClickHouse, db: &str) -> HashMap<(String, String), usize> {
    let rows = ch.query_in(db, "SELECT sid, action_id, count() FROM actions FINAL GROUP BY sid, action_id").unwrap();
    rows.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some(((f.next()?.to_owned(), f.next()?.to_owned()), f.next()?.parse().ok()?))
        })
        .collect()
}

/// Asserts that `stored` holds every one of `sent` exactly once, and nothing else.
pub fn assert_each_once(sent: &[(String, String)], stored: &HashMap<(String, String), usize>) {
    for id in sent {
        assert_eq!(stored.get(id), Some(&1), "action {id:?} not stored exactly once");
    }
    let mut distinct = sent.to_vec();
    distinct.sort();
    distinct.dedup();
    assert_eq!(stored.len(), distinct.len(), "something else was stored");
}
