//! The rollups of sealed hours (crate::rollups) on the real ClickHouse server: random sessions
//! over several hours are sealed, and every query the rollups can answer gets the answer the
//! action rows give (the same store with rollups off), over random time frames, before and after
//! late beacons (a resend, a sealed session's new beacon with another start, a new session in a
//! sealed hour), and after the hours are sealed again. The statements are checked to read the
//! rollups, so an equal answer is not the rows' answer twice.

mod common;

use common::sessions::*;
use rumprops_collector::clickhouse::{ClickHouse, StoreUrl};
use rumprops_collector::goals::Goals;
use rumprops_collector::rollups::{self, HOUR_MS};
use rumprops_collector::store::{BeaconStore, ClientInfo, Pending};
use rumprops_collector::usql::{self, QueryOptions};

/// Sessions start over this many hours from the first whole hour after T0.
const HOURS: i64 = 6;
const TIMEOUT_MS: i64 = 30 * 60_000;

fn first_hour() -> i64 {
    rollups::hour_of(T0) + HOUR_MS
}

/// Sessions spread over the hours; every fifth has no end beacon (closed by the timeout).
fn spread(sessions: &mut [Session]) {
    for (i, s) in sessions.iter_mut().enumerate() {
        let shift = first_hour() - T0 + (i as i64 % HOURS) * HOUR_MS + (i as i64 * 7_919) % 2_000_000;
        s.start += shift;
        for a in &mut s.actions {
            a.start += shift;
            a.end += shift;
        }
    }
}

fn pending(sessions: &[Session]) -> Vec<Pending> {
    let mut out = Vec::new();
    for (i, s) in sessions.iter().enumerate() {
        for mut b in beacons(s) {
            if i % 5 == 0 {
                b.session.ended = None;
            }
            out.push((b, ClientInfo::default()));
        }
    }
    out
}

fn ingest(ch: &mut ClickHouse, beacons: &[Pending], received: i64) {
    for group in beacons.chunks(64) {
        for out in ch.ingest_group(group, &Goals::default(), received).unwrap() {
            out.unwrap();
        }
    }
}

/// Queries of the shape the rollups answer.
fn queries(rng: &mut Rng, n: usize) -> Vec<String> {
    let keys = ["name", "type", "application", "stringProperties.page", "longProperties.items", "stringProperties.nowhere"];
    (0..n)
        .map(|_| {
            let mut groups: Vec<&str> = Vec::new();
            for _ in 0..rng.below(3) {
                let k = rng.pick(&keys);
                let prop = |g: &&str| g.contains('.');
                if !(groups.contains(&k) || prop(&k) && groups.iter().any(prop)) {
                    groups.push(k);
                }
            }
            let mut items: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
            items.push(if rng.chance(20) { "COUNT(*) AS n".to_owned() } else { "COUNT(*)".to_owned() });
            if rng.chance(30) {
                items.reverse();
            }
            let mut q = format!("SELECT {} FROM useraction", items.join(", "));
            if !groups.is_empty() {
                q.push_str(&format!(" GROUP BY {}", groups.join(", ")));
                if rng.chance(40) {
                    let dir = if rng.chance(50) { " DESC" } else { " ASC" };
                    let key = if rng.chance(50) { "COUNT(*)".to_owned() } else { rng.pick(&groups).to_owned() };
                    q.push_str(&format!(" ORDER BY {key}{dir}"));
                }
                if rng.chance(30) {
                    q.push_str(&format!(" LIMIT {}", 1 + rng.below(6)));
                }
            }
            q
        })
        .collect()
}

/// A time frame on the session start (ends inclusive, `None` unbounded).
type Frame = (Option<i64>, Option<i64>);

/// A time frame: none, whole hours, or cut inside hours.
fn frame(rng: &mut Rng) -> Frame {
    let at = |rng: &mut Rng| first_hour() + (rng.below(HOURS as usize + 2) as i64 - 1) * HOUR_MS;
    match rng.below(4) {
        0 => (None, None),
        1 => {
            let a = at(rng);
            (Some(a), Some(a + (1 + rng.below(4) as i64) * HOUR_MS - 1))
        }
        2 => {
            let a = at(rng) + rng.below(3_600) as i64 * 1000;
            (Some(a), Some(a + rng.below(4 * 3_600) as i64 * 1000))
        }
        _ => (rng.chance(50).then(|| at(rng)), rng.chance(50).then(|| at(rng) + rng.below(3_600_000) as i64)),
    }
}

/// Every query over every frame answers alike from the rollups and from the rows; returns how
/// many statements read the rollups.
fn same_answers(rows: &ClickHouse, rolled: &ClickHouse, cases: &[(String, Frame)], now: i64) -> usize {
    let mut read = 0;
    for (q, (start, end)) in cases {
        let mut opts = QueryOptions::now(TIMEOUT_MS);
        opts.now_ms = now;
        opts.start_timestamp = *start;
        opts.end_timestamp = *end;
        let plan = usql::parser::parse(q).unwrap();
        assert!(usql::clickhouse::rollup_shape(&plan), "{q}");
        let st = usql::clickhouse::statement(rolled, &plan, &opts);
        if st.sql.contains("action_rollups") {
            read += 1;
        }
        let want = usql::clickhouse::run(rows, q, &opts).unwrap_or_else(|e| panic!("{q}: {e}"));
        let got = usql::clickhouse::run(rolled, q, &opts).unwrap_or_else(|e| panic!("{q} over the rollups: {e}\n{}", st.sql));
        assert_eq!(got.column_names, want.column_names, "{q}");
        assert_eq!(got.values, want.values, "{q} in {start:?}..{end:?}\n{}", st.sql);
    }
    read
}

#[test]
fn rollups_answer_as_the_action_rows_do() {
    let server = common::clickhouse::server();
    let db = common::clickhouse::fresh_database();
    let url: StoreUrl = server.store_url(&db).parse().unwrap();
    let mut writer = ClickHouse::open(url.clone(), None, false).unwrap();
    let rows = ClickHouse::new(url.clone()).unwrap();
    let mut rolled = ClickHouse::new(url.clone()).unwrap();
    rolled.set_rollups(true);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut sessions = gen_sessions(&mut rng, 240);
    spread(&mut sessions);
    let received = first_hour() + (HOURS + 1) * HOUR_MS;
    ingest(&mut writer, &pending(&sessions), received);
    let cases: Vec<(String, Frame)> = queries(&mut rng, 120).into_iter().map(|q| (q, frame(&mut rng))).collect();

    // Nothing sealed yet: every query reads the rows.
    assert_eq!(same_answers(&rows, &rolled, &cases, received + HOUR_MS), 0);

    // Too soon for the sessions without an end beacon: those hours wait.
    let early = rollups::seal_all(&writer, received + 10 * 60_000, TIMEOUT_MS).unwrap();
    assert_eq!((early.hours, early.waiting), (0, HOURS as usize), "{early:?}");

    let sealed_at = received + HOUR_MS;
    let pass = rollups::seal_all(&writer, sealed_at, TIMEOUT_MS).unwrap();
    assert_eq!(pass.hours, HOURS as usize, "{pass:?}");
    assert_eq!(pass.sessions, sessions.len() as u64);
    let cov = rollups::coverage(&rows, TIMEOUT_MS, sealed_at + 60_000).unwrap();
    assert_eq!(cov.valid.len(), HOURS as usize);
    // Another session timeout, or a moment before the seal: not covered.
    assert!(rollups::coverage(&rows, TIMEOUT_MS + 1, sealed_at + 60_000).unwrap().valid.is_empty());
    assert!(rollups::coverage(&rows, TIMEOUT_MS, sealed_at - 1).unwrap().valid.is_empty());
    let read = same_answers(&rows, &rolled, &cases, sealed_at + 60_000);
    assert!(read > cases.len() / 2, "only {read} of {} statements read the rollups", cases.len());

    // Late beacons: a resend (its hour is read from the rows again) ...
    let late = sealed_at + 2 * 60_000;
    let all = pending(&sessions);
    ingest(&mut writer, &all[3..4], late);
    let hour_of_resent = rollups::hour_of(all[3].0.session.start);
    let cov = rollups::coverage(&rows, TIMEOUT_MS, late).unwrap();
    assert!(!cov.valid.contains_key(&hour_of_resent), "{cov:?}");
    assert_eq!(cov.valid.len(), HOURS as usize - 1);
    same_answers(&rows, &rolled, &cases, late + 60_000);
    // ... a sealed session's new beacon that starts it in another hour, with a new action ...
    let (mut moved, client) = all[10].clone();
    let sealed_hour = rollups::hour_of(moved.session.start);
    moved.seq = 7;
    moved.session.start = first_hour() + ((sealed_hour - first_hour()) / HOUR_MS + 2) % HOURS * HOUR_MS + 1_000;
    moved.actions.truncate(1);
    if let Some(a) = moved.actions.first_mut() {
        a.id = "late0".to_owned();
    }
    ingest(&mut writer, &[(moved.clone(), client)], late);
    let cov = rollups::coverage(&rows, TIMEOUT_MS, late).unwrap();
    assert!(!cov.valid.contains_key(&sealed_hour) && !cov.valid.contains_key(&rollups::hour_of(moved.session.start)), "{cov:?}");
    same_answers(&rows, &rolled, &cases, late + 60_000);
    // ... and a new session in a sealed hour.
    let mut fresh = gen_sessions(&mut rng, 1);
    fresh[0].sid = "late-session".to_owned();
    spread(&mut fresh);
    ingest(&mut writer, &pending(&fresh), late);
    same_answers(&rows, &rolled, &cases, late + 60_000);

    // Sealed again once settled: every hour valid, the same answers.
    let resealed_at = late + HOUR_MS;
    let again = rollups::seal_all(&writer, resealed_at, TIMEOUT_MS).unwrap();
    assert!(again.hours >= 2, "{again:?}");
    let cov = rollups::coverage(&rows, TIMEOUT_MS, resealed_at + 60_000).unwrap();
    assert_eq!(cov.valid.len(), HOURS as usize, "{cov:?}");
    let read = same_answers(&rows, &rolled, &cases, resealed_at + 60_000);
    assert!(read > cases.len() / 2, "only {read} of {} statements read the rollups", cases.len());
}
