//! Rollups of sealed hours, for the ClickHouse store (`serve --rollups`).
//!
//! Grouping actions by an action property reads every action row, deduplicated (`FINAL`) and
//! joined to its folded session; at 10M actions that is seconds on this machine whatever the
//! SQL (docs/scale-out.md). A rollup answers the common grouped counts from precomputed,
//! duplicate-free rows instead:
//!
//! - **Sealing.** Once every session that starts in an hour (UTC, by the session start, as the
//!   USQL time frame reads it) is closed and its last beacon is [`SEAL_MARGIN_MS`] old, a sealer
//!   folds those sessions once and writes, under a fresh generation number `gen`: the sessions
//!   it took (`sealed_sessions`), the counts of their actions per application, name, type and
//!   each property value (`action_rollups`, one row of totals per group and one per typed
//!   property value), and last the seal itself (`rollup_seals`: the hour, `gen`, when, and the
//!   session timeout it judged closure by). An hour's newest seal is the one read, so a seal is
//!   replaced by writing a new one; two sealers sealing one hour at once write two complete
//!   generations, and readers take one.
//! - **Reading.** A seal is valid while no beacon of its hour arrived after it (a beacon's
//!   receipt time later than the seal less the margin), and while no session it took has a
//!   beacon in an hour that is not sealed and valid (a late beacon of a sealed session with a
//!   different start). A query the rollups can answer (crate::usql::clickhouse::rollup_shape)
//!   reads the rollup rows of the valid sealed hours wholly inside its time frame, and the
//!   action rows, the usual way, of every other session in the frame.
//! - **Late beacons.** A beacon that arrives for a sealed hour (a resend, an agent's outbox
//!   replayed after an outage) makes the hour's seal invalid at once, so queries read that hour
//!   the usual way; the next pass seals it again once it is settled.
//!
//! The margin covers the time between a collector stamping a beacon's receipt and ClickHouse
//! showing the row (a batch's wait, an insert's retry): a collector acknowledges a beacon only
//! once its insert was accepted, and the writer gives up within seconds, far inside 5 minutes.

use crate::clickhouse::ClickHouse;
use crate::store::StoreError;
use crate::usql::clickhouse::floor_div;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// An hour, in ms.
pub const HOUR_MS: i64 = 3_600_000;
/// How much older than a seal the newest beacon of its hour must be; see the module comment.
pub const SEAL_MARGIN_MS: i64 = 300_000;
/// How often a collector with `--rollups` seals, unless told otherwise.
pub const SEAL_INTERVAL: Duration = Duration::from_secs(60);
/// Beacon rows one seal pass takes at most (whole hours, oldest first; at least one hour).
const PASS_BEACONS: u64 = 250_000;
/// Longest a sealer's statement may run.
const SEAL_TIMEOUT: Duration = Duration::from_secs(900);
/// Longest a reader's look at the seals may run.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The hour of an epoch-ms expression, in ClickHouse SQL (floored, also before 1970).
pub fn hour_sql(x: &str) -> String {
    format!("({} * {HOUR_MS})", floor_div(x, HOUR_MS))
}

/// The hour of an epoch-ms time.
pub fn hour_of(t: i64) -> i64 {
    t.div_euclid(HOUR_MS) * HOUR_MS
}

/// The newest seal of an hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seal {
    /// Its generation: the rows it wrote carry it; 0 for a withdrawn seal (the hour waits for a
    /// new one).
    pub gen: u64,
    /// When it was made (the sealer's clock).
    pub sealed_at: i64,
    /// The session timeout it judged closure by.
    pub timeout_ms: i64,
}

/// The beacons of one hour of session starts (each beacon by its own session start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourStatus {
    /// The newest receipt time.
    pub last_received: i64,
    /// Beacon rows (resent copies not yet merged count too).
    pub beacons: u64,
}

/// A comma-separated SQL list of hours.
pub fn list(hours: &[i64]) -> String {
    hours.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(", ")
}

impl Seal {
    /// Whether this seal still holds every session of its hour, judged by `timeout_ms`: a
    /// live generation, the same timeout, and no beacon of the hour received after it.
    pub fn fresh(&self, hour: &HourStatus, timeout_ms: i64) -> bool {
        self.gen != 0 && self.timeout_ms == timeout_ms && hour.last_received <= self.sealed_at - SEAL_MARGIN_MS
    }
}

fn numbers(line: &str) -> Vec<i64> {
    line.split('\t').map(|c| c.trim().parse::<i64>().unwrap_or(0)).collect()
}

/// Every hour that has beacons, with its status.
pub fn hours(ch: &ClickHouse, timeout: Duration) -> Result<BTreeMap<i64, HourStatus>, StoreError> {
    let sql = format!(
        "SELECT {} AS h, max(received_at), count() FROM beacons GROUP BY h ORDER BY h FORMAT TSV",
        hour_sql("session_start")
    );
    let body = ch.query(&sql, &[], timeout)?;
    Ok(body
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let n = numbers(l);
            (n[0], HourStatus { last_received: n[1], beacons: n[2] as u64 })
        })
        .collect())
}

/// The newest seal of every sealed hour.
pub fn seals(ch: &ClickHouse, timeout: Duration) -> Result<BTreeMap<i64, Seal>, StoreError> {
    let sql = "SELECT hour, argMax(gen, tuple(sealed_at, gen)), max(sealed_at), argMax(timeout_ms, tuple(sealed_at, gen)) \
               FROM rollup_seals GROUP BY hour FORMAT TSV";
    let body = ch.query(sql, &[], timeout)?;
    let mut out = BTreeMap::new();
    for l in body.lines().filter(|l| !l.is_empty()) {
        let cols: Vec<&str> = l.split('\t').collect();
        let gen = cols.get(1).and_then(|g| g.trim().parse::<u64>().ok()).unwrap_or(0);
        let n = numbers(l);
        out.insert(n[0], Seal { gen, sealed_at: n[2], timeout_ms: n[3] });
    }
    Ok(out)
}

/// What the rollups can answer at one moment: the valid seals, and the hours that have beacons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Valid sealed hours and their generations.
    pub valid: BTreeMap<i64, u64>,
    /// Every hour with beacons.
    pub hours: BTreeSet<i64>,
}

impl Coverage {
    /// The valid sealed hours wholly inside a time frame on the session start (ends
    /// inclusive, `None` unbounded), with their generations.
    pub fn covered(&self, start: Option<i64>, end: Option<i64>) -> Vec<(i64, u64)> {
        self.valid
            .iter()
            .filter(|(h, _)| start.is_none_or(|s| **h >= s) && end.is_none_or(|e| h.saturating_add(HOUR_MS - 1) <= e))
            .map(|(h, g)| (*h, *g))
            .collect()
    }

    /// The hours with beacons that meet the frame and are not covered: where the sessions
    /// that start in the frame outside the covered hours start.
    pub fn uncovered(&self, start: Option<i64>, end: Option<i64>) -> Vec<i64> {
        let covered: BTreeSet<i64> = self.covered(start, end).into_iter().map(|(h, _)| h).collect();
        self.hours
            .iter()
            .copied()
            .filter(|h| !covered.contains(h) && start.is_none_or(|s| h.saturating_add(HOUR_MS - 1) >= s) && end.is_none_or(|e| *h <= e))
            .collect()
    }
}

/// The rollups' coverage for a query at `now` that judges closure by `timeout_ms`.
pub fn coverage(ch: &ClickHouse, timeout_ms: i64, now: i64) -> Result<Coverage, StoreError> {
    let seals = seals(ch, READ_TIMEOUT)?;
    if seals.is_empty() {
        return Ok(Coverage::default());
    }
    let status = hours(ch, READ_TIMEOUT)?;
    let mut valid: BTreeMap<i64, u64> = BTreeMap::new();
    for (h, st) in &status {
        if let Some(s) = seals.get(h) {
            if s.sealed_at <= now && s.fresh(st, timeout_ms) {
                valid.insert(*h, s.gen);
            }
        }
    }
    let open: Vec<i64> = status.keys().copied().filter(|h| !valid.contains_key(h)).collect();
    if !open.is_empty() && !valid.is_empty() {
        // Sessions sealed into a valid hour that have a beacon in another, open hour.
        let sql = format!(
            "SELECT DISTINCT hour FROM sealed_sessions WHERE ({}) AND sid IN \
             (SELECT sid FROM beacons WHERE {} IN ({})) FORMAT TSV",
            generations(valid.iter().map(|(h, g)| (*h, *g))),
            hour_sql("session_start"),
            list(&open)
        );
        for l in ch.query(&sql, &[], READ_TIMEOUT)?.lines().filter(|l| !l.is_empty()) {
            if let Ok(h) = l.trim().parse::<i64>() {
                valid.remove(&h);
            }
        }
    }
    Ok(Coverage { valid, hours: status.into_keys().collect() })
}

/// The condition that a row belongs to one of the given seals (hour and generation).
pub fn generations(seals: impl Iterator<Item = (i64, u64)>) -> String {
    let mut by_gen: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for (h, g) in seals {
        by_gen.entry(g).or_default().push(h.to_string());
    }
    if by_gen.is_empty() {
        return "0".to_owned();
    }
    by_gen.iter().map(|(g, hs)| format!("(gen = {g} AND hour IN ({}))", hs.join(", "))).collect::<Vec<_>>().join(" OR ")
}

/// What one seal pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Hours sealed.
    pub hours: usize,
    /// Sessions they took.
    pub sessions: u64,
    /// Hours that wait for a seal yet (too recent, open sessions, or beyond this pass).
    pub waiting: usize,
}

/// The per-action arrays of rollup rows: one row of totals, then one per typed property key
/// (its first value, as queries read a key): type, key and the value in its typed column.
fn property_rows() -> String {
    let first = |keys: &str, values: &str| {
        (
            format!("arrayFilter((k, i) -> indexOf({keys}, k) = i, {keys}, arrayEnumerate({keys}))"),
            format!("arrayFilter((v, k, i) -> indexOf({keys}, k) = i, {values}, {keys}, arrayEnumerate({keys}))"),
        )
    };
    let (sk, sv) = first("string_keys", "string_values");
    let (lk, lv) = first("long_keys", "long_values");
    let (dk, dv) = first("double_keys", "double_values");
    let (tk, tv) = first("date_keys", "date_values");
    let fill = |keys: &str, v: &str| format!("arrayMap(k -> {v}, {keys})");
    let cat = |parts: [String; 5]| format!("arrayConcat({})", parts.join(", "));
    let ptypes = cat([
        "['']".to_owned(),
        fill(&sk, "'string'"),
        fill(&lk, "'long'"),
        fill(&dk, "'double'"),
        fill(&tk, "'date'"),
    ]);
    let pkeys = cat(["['']".to_owned(), sk.clone(), lk.clone(), dk.clone(), tk.clone()]);
    let svals = cat(["['']".to_owned(), sv, fill(&lk, "''"), fill(&dk, "''"), fill(&tk, "''")]);
    let lvals = cat(["[toInt64(0)]".to_owned(), fill(&sk, "toInt64(0)"), lv, fill(&dk, "toInt64(0)"), tv]);
    let dvals = cat(["[toFloat64(0)]".to_owned(), fill(&sk, "toFloat64(0)"), fill(&lk, "toFloat64(0)"), dv, fill(&tk, "toFloat64(0)")]);
    format!("{ptypes} AS pts, {pkeys} AS pks, {svals} AS svs, {lvals} AS lvs, {dvals} AS dvs")
}

/// The sessions that have a beacon in `hours`, folded as far as sealing needs: `sid`, the hour
/// of the session start `hh`, the end code `e` and the newest receipt time `last` (a resent
/// copy changes none of them, so no `FINAL`).
pub fn fold_sql(hours: &[i64]) -> String {
    let hours = list(hours);
    format!(
        "SELECT sid, {} AS hh, argMax(ended, seq) AS e, max(received_at) AS last FROM beacons \
         WHERE sid IN (SELECT sid FROM beacons WHERE {} IN ({hours})) GROUP BY sid",
        hour_sql("min(session_start)"),
        hour_sql("session_start")
    )
}

/// The inserts of a seal of `hours` as generation `gen`, before its `rollup_seals` rows: the
/// sessions that start in them, then the rollup rows of those sessions' actions (deduplicated).
pub fn seal_sql(hours: &[i64], gen: u64) -> Vec<String> {
    let sealed = list(hours);
    let taken = format!("(SELECT sid, hour FROM sealed_sessions WHERE gen = {gen})");
    vec![
        format!("INSERT INTO sealed_sessions (hour, gen, sid) SELECT hh, toUInt64({gen}), sid FROM ({}) WHERE hh IN ({sealed})", fold_sql(hours)),
        format!(
            "INSERT INTO action_rollups (hour, gen, app, name, kind, ptype, pkey, sval, lval, dval, n) \
             SELECT hour, toUInt64({gen}), app, name, kind, pt, pk, sv, lv, dv, count() FROM (\
             SELECT hour, app, name, kind, pts, pks, svs, lvs, dvs FROM \
             (SELECT sid, app, name, kind, {} FROM actions FINAL WHERE sid IN (SELECT sid FROM {taken})) AS a \
             ALL INNER JOIN {taken} AS t USING sid) \
             ARRAY JOIN pts AS pt, pks AS pk, svs AS sv, lvs AS lv, dvs AS dv \
             GROUP BY hour, app, name, kind, pt, pk, sv, lv, dv",
            property_rows()
        ),
    ]
}

/// One seal pass at `now` judging closure by `timeout_ms`: seals the oldest settled hours that
/// have no valid seal (up to a bound of beacon rows), leaving out `skip`; adds to `skip` the
/// hours it found sessions still open in.
pub fn seal_pass(ch: &ClickHouse, now: i64, timeout_ms: i64, skip: &mut BTreeSet<i64>) -> Result<Pass, StoreError> {
    let seals = seals(ch, SEAL_TIMEOUT)?;
    let status = hours(ch, SEAL_TIMEOUT)?;
    let settled = now.saturating_sub(SEAL_MARGIN_MS);
    let mut wanted: Vec<i64> = Vec::new();
    let mut waiting = 0;
    let mut rows = 0u64;
    for (h, st) in &status {
        let fresh = seals.get(h).is_some_and(|s| s.fresh(st, timeout_ms));
        if fresh {
            continue;
        }
        if skip.contains(h) {
            waiting += 1;
            continue;
        }
        if st.last_received > settled || (rows >= PASS_BEACONS && !wanted.is_empty()) {
            waiting += 1;
            continue;
        }
        rows += st.beacons;
        wanted.push(*h);
    }
    if wanted.is_empty() {
        return Ok(Pass { waiting, ..Pass::default() });
    }
    let wanted_hours = list(&wanted);
    let fold = fold_sql(&wanted);
    // An hour is sealed when every session that starts in it is closed (as queries judge it)
    // and settled.
    let cutoff = now.saturating_sub(timeout_ms);
    let check = format!(
        "SELECT hh, countIf(NOT (isNotNull(e) OR last <= {cutoff}) OR last > {settled}), count() FROM ({fold}) \
         WHERE hh IN ({wanted_hours}) GROUP BY hh FORMAT TSV"
    );
    let mut open: BTreeSet<i64> = BTreeSet::new();
    let mut sessions = 0u64;
    for l in ch.query(&check, &[], SEAL_TIMEOUT)?.lines().filter(|l| !l.is_empty()) {
        let n = numbers(l);
        if n[1] > 0 {
            open.insert(n[0]);
        } else {
            sessions += n[2] as u64;
        }
    }
    let sealable: Vec<i64> = wanted.iter().copied().filter(|h| !open.contains(h)).collect();
    waiting += open.len();
    skip.extend(open.iter().copied());
    if sealable.is_empty() {
        return Ok(Pass { waiting, ..Pass::default() });
    }
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| StoreError(format!("no random source for a seal: {e}")))?;
    // Above 0: 0 is what an unreadable generation parses as.
    let gen = u64::from_le_bytes(bytes).max(1);
    let hours = list(&sealable);
    let settings = [("insert_distributed_sync", "1".to_owned())];
    for sql in seal_sql(&sealable, gen) {
        ch.query(&sql, &settings, SEAL_TIMEOUT)?;
    }
    // Sessions with a beacon in these hours that an earlier seal of another hour took (a late
    // beacon with another start): that seal is withdrawn (generation 0) with this one, and
    // its hour sealed again by a later pass.
    let earlier: Vec<(i64, u64)> = seals.iter().filter(|(h, s)| s.gen != 0 && !sealable.contains(h)).map(|(h, s)| (*h, s.gen)).collect();
    let mut stale: Vec<i64> = Vec::new();
    if !earlier.is_empty() {
        let sql = format!(
            "SELECT DISTINCT hour FROM sealed_sessions WHERE ({}) AND sid IN (SELECT sid FROM beacons WHERE {} IN ({hours})) FORMAT TSV",
            generations(earlier.into_iter()),
            hour_sql("session_start")
        );
        stale = ch.query(&sql, &[], SEAL_TIMEOUT)?.lines().filter_map(|l| l.trim().parse::<i64>().ok()).collect();
    }
    let mut values: Vec<String> = sealable.iter().map(|h| format!("({h}, {gen}, {now}, {timeout_ms})")).collect();
    values.extend(stale.iter().map(|h| format!("({h}, 0, {now}, {timeout_ms})")));
    ch.query(
        &format!("INSERT INTO rollup_seals (hour, gen, sealed_at, timeout_ms) VALUES {}", values.join(", ")),
        &settings,
        SEAL_TIMEOUT,
    )?;
    Ok(Pass { hours: sealable.len(), sessions, waiting })
}

/// Seal passes until every hour is sealed or waits; the passes' sums.
pub fn seal_all(ch: &ClickHouse, now: i64, timeout_ms: i64) -> Result<Pass, StoreError> {
    let mut total = Pass::default();
    let mut skip = BTreeSet::new();
    // Each pass a millisecond later, so a later pass's seal (or withdrawal) of an hour is the
    // newer one.
    for at in now.. {
        let skipped = skip.len();
        let p = seal_pass(ch, at, timeout_ms, &mut skip)?;
        total.hours += p.hours;
        total.sessions += p.sessions;
        total.waiting = p.waiting;
        if p.hours == 0 && skip.len() == skipped {
            break;
        }
    }
    Ok(total)
}

/// Seals every `interval` on its own thread, for the life of the process; a failing pass is
/// reported once until one succeeds.
pub fn spawn(ch: ClickHouse, timeout_ms: i64, interval: Duration) {
    std::thread::spawn(move || {
        let mut failing: Option<String> = None;
        loop {
            std::thread::sleep(interval);
            match seal_all(&ch, crate::store::now_ms(), timeout_ms) {
                Ok(_) => failing = None,
                Err(e) => {
                    let e = e.to_string();
                    if failing.as_ref() != Some(&e) {
                        eprintln!("rumprops: rollups: sealing failed: {e}");
                        failing = Some(e);
                    }
                }
            }
        }
    });
}
