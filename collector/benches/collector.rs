//! Collector benchmarks (not tests): ingest rate and USQL GROUP BY latency over 100k sessions /
//! 1M actions. Run with `cargo bench -p rumprops-collector` (release build); sizes can be scaled
//! down with `RUMPROPS_BENCH_SESSIONS=10000`.

use rumprops_collector::beacon::parse_beacon;
use rumprops_collector::server::{start_in_thread, ServeConfig};
use rumprops_collector::store;
use rumprops_collector::usql::{self, QueryOptions};
use std::io::{Read, Write};
use std::time::Instant;

const ACTIONS_PER_SESSION: usize = 10;
const TIERS: [&str; 4] = ["Gold", "Silver", "Bronze", "Platinum"];

fn beacon_text(i: usize) -> String {
    let start = 1_732_000_000_000_i64 + i as i64 * 1000;
    let actions: Vec<String> = (0..ACTIONS_PER_SESSION)
        .map(|k| {
            let s = start + k as i64 * 500;
            format!(
                r#"{{"id":"a{k}","kind":"click","name":"click on item {k}","start":{s},"end":{},"url":"https://shop.example/p/{k}","requests":3,"requestErrors":{},"jsErrors":0,"props":{{"string":{{"page":"p{k}"}},"long":{{"items":{k}}},"double":{{"total":{}.5}}}}}}"#,
                s + 120,
                u8::from((i + k).is_multiple_of(3)),
                k * 7
            )
        })
        .collect();
    format!(
        r#"{{"v":1,"app":"easytravel","vid":"v{i}","sid":"s{i:08}","seq":0,"sentAt":{start},"session":{{"start":{start},"userId":"user{}","ended":"end_session","props":{{"string":{{"loyalty_status":"{}"}},"long":{{"visits":{}}}}}}},"actions":[{}],"issues":[]}}"#,
        i % 1000,
        TIERS[i % TIERS.len()],
        i % 50,
        actions.join(",")
    )
}

fn median_ms(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let sessions: usize = std::env::var("RUMPROPS_BENCH_SESSIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("rumprops-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // RUMPROPS_BENCH_DB=FILE keeps the ingested database; when FILE exists, ingest is skipped
    // and only the queries run (for iterating on query speed).
    let kept = std::env::var_os("RUMPROPS_BENCH_DB").map(std::path::PathBuf::from);
    let db = kept.clone().unwrap_or_else(|| dir.join("bench.db"));
    if db.exists() {
        let conn = store::open(&db).unwrap();
        run_queries(&conn);
        return;
    }

    // Ingest through the store (validation + one transaction per beacon), as the server does.
    let bodies: Vec<String> = (0..sessions).map(beacon_text).collect();
    let mut conn = store::open(&db).unwrap();
    let t = Instant::now();
    for body in &bodies {
        let b = parse_beacon(body.as_bytes()).unwrap();
        store::ingest(&mut conn, &b, Some("Mozilla/5.0 Chrome/131.0"), 0).unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "ingest (parse + validate + store, 1 tx per beacon): {sessions} beacons, {} actions in {secs:.2} s = {:.0} beacons/s, {:.0} actions/s",
        sessions * ACTIONS_PER_SESSION,
        sessions as f64 / secs,
        (sessions * ACTIONS_PER_SESSION) as f64 / secs
    );

    // The same over loopback HTTP, one connection per beacon, on a separate database.
    let http_db = dir.join("http.db");
    let mut cfg = ServeConfig::new(http_db, "127.0.0.1:0".parse().unwrap());
    cfg.rate_limit.per_sec = 1e9;
    cfg.rate_limit.burst = 1e9;
    let addr = start_in_thread(cfg).unwrap();
    let n_http = sessions.min(5000);
    let t = Instant::now();
    for body in bodies.iter().take(n_http) {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let head = format!("POST /beacon HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: {}\r\n\r\n", body.len());
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body.as_bytes()).unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).unwrap();
        assert!(resp.starts_with(b"HTTP/1.1 204"), "{}", String::from_utf8_lossy(&resp));
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "ingest over HTTP (sequential, 1 connection per beacon): {n_http} beacons in {secs:.2} s = {:.0} beacons/s, {:.0} actions/s",
        n_http as f64 / secs,
        (n_http * ACTIONS_PER_SESSION) as f64 / secs
    );

    run_queries(&conn);
    drop(conn);
    let _ = std::fs::remove_dir_all(&dir);
}

fn run_queries(conn: &rusqlite::Connection) {
    let opts = QueryOptions::now(0);
    let queries = [
        ("seed GROUP BY (per action)", "SELECT stringProperties.loyalty_status AS \"Loyalty status\", COUNT(useraction.requestErrorCount) AS \"HTTP error count\" FROM usersession WHERE stringProperties.loyalty_status IS NOT NULL GROUP BY stringProperties.loyalty_status"),
        ("GROUP BY session property", "SELECT stringProperties.loyalty_status, COUNT(*), AVG(duration) FROM usersession GROUP BY stringProperties.loyalty_status"),
        ("time-window COUNT", "SELECT COUNT(*) FROM usersession WHERE userType = \"REAL_USER\" AND useraction.application = \"easytravel\""),
    ];
    for (label, q) in queries {
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..7 {
            let t = Instant::now();
            rows = usql::run(conn, q, &opts).unwrap().values.len();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        println!("{label}: p50 {:.1} ms over {} runs ({rows} rows)", median_ms(times), 7);
    }
}
