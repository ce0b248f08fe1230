//! Property tests: the parsers of outside input (storage, `Retry-After`) never panic, and the
//! agent under random events, failures and reloads delivers every action, within 64 KiB bodies.

use super::session::{Entropy, SessionState};
use super::*;
use crate::json::{parse, Value};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

fn config() -> Config {
    Config::parse(
        r#"{"version":1,"app":"a","properties":[{"key":"s","type":"string","source":{"api":true},"maxLength":1000}],
            "session":{"idleTimeoutMs":5000,"maxActions":7},"batch":{"maxActions":4,"maxBytes":4096,"flushIntervalMs":1000}}"#,
        &|_| true,
    )
    .unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    Act { wait: i64, pad: usize },
    Open { wait: i64 },
    CloseOldest,
    Tick(i64),
    Leave,
    Respond { status: Option<u16>, jitter: f64 },
    Reload,
    EndSession,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0i64..8_000, 0usize..3_000).prop_map(|(wait, pad)| Op::Act { wait, pad }),
        1 => (0i64..8_000).prop_map(|wait| Op::Open { wait }),
        1 => Just(Op::CloseOldest),
        2 => (0i64..20_000).prop_map(Op::Tick),
        1 => Just(Op::Leave),
        4 => (prop_oneof![Just(None), Just(Some(204)), Just(Some(503)), Just(Some(429)), Just(Some(200))], 0.0f64..1.0)
            .prop_map(|(status, jitter)| Op::Respond { status, jitter }),
        1 => Just(Op::Reload),
        1 => Just(Op::EndSession),
    ]
}

struct Page {
    agent: Agent,
    in_flight: Vec<Outgoing>,
}

fn entropy(n: u64) -> Entropy {
    let mut e = [0u8; 32];
    for (i, b) in e.iter_mut().enumerate() {
        *b = (n.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (i % 8 * 8)) as u8 ^ i as u8;
    }
    e
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn session_storage_never_panics(s in any::<String>(), cut in 0usize..80, byte in any::<u8>()) {
        let _ = SessionState::from_storage(&s);
        let good = SessionState::new(&entropy(1), Some("ab".repeat(16)), 5, 100.0).to_storage();
        let mut bytes = good.into_bytes();
        if let Some(b) = bytes.get_mut(cut) {
            *b = byte;
        }
        let _ = SessionState::from_storage(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn any_user_id_round_trips(user in any::<String>()) {
        let mut s = SessionState::new(&entropy(2), None, 1, 100.0);
        s.user_id = Some(user).filter(|u| !u.is_empty());
        prop_assert_eq!(SessionState::from_storage(&s.to_storage()), Some(s));
    }

    #[test]
    fn outbox_storage_never_panics_and_round_trips(s in any::<String>(), body in any::<String>(), seq in any::<u32>()) {
        let _ = queue::Outbox::from_storage(&s);
        let mut q = queue::Outbox::new();
        q.push(queue::Entry::new("sid", u64::from(seq), body, 7));
        prop_assert_eq!(queue::Outbox::from_storage(&q.to_storage()), q);
    }

    #[test]
    fn retry_after_never_panics(s in "[A-Za-z0-9 ,:]{0,40}", now in any::<i64>(), n in any::<u32>(), j in any::<f64>()) {
        let _ = retry::parse_retry_after(&s, now);
        prop_assert!(retry::next_delay_ms(n, j, None) <= retry::MAX_BACKOFF_MS);
    }

    #[test]
    fn every_action_arrives_in_bounded_bodies(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Two tabs share the session through storage (synced before each event, written after)
    /// and keep one outbox key each: no `(sid, seq)` is used for two bodies, no action is lost.
    /// (Events of two tabs are interleaved, never simultaneous: see the module docs of `agent`.)
    #[test]
    fn two_tabs_never_collide(ops in proptest::collection::vec((0usize..2, op()), 1..60)) {
        run_tabs(ops)?;
    }
}

fn run_tabs(ops: Vec<(usize, Op)>) -> Result<(), TestCaseError> {
    let mut now = 1_732_600_000_000i64;
    let mut tabs = [Agent::new(config(), Mode::Full), Agent::new(config(), Mode::Full)];
    let mut keys: [Option<String>; 2] = [None, None];
    let mut shared: Option<String> = None;
    let mut made = BTreeSet::new();
    let mut received: BTreeMap<(String, u64), String> = BTreeMap::new();
    let mut seed = 0u64;
    for (t, op) in ops {
        seed += 1;
        let Some(tab) = tabs.get_mut(t) else { continue };
        tab.sync_session(shared.as_deref(), now);
        match op {
            Op::Act { wait, .. } | Op::Open { wait } => {
                now += wait % 3_000;
                let id = tab.start_action(ActionKind::Click, "c", "u", now, &entropy(seed)).unwrap();
                made.insert((tab.session().unwrap().id.clone(), id.clone()));
                tab.end_action(&id, &[], now);
            }
            Op::Tick(wait) => {
                now += wait % 3_000;
                tab.tick(now);
            }
            Op::Leave | Op::CloseOldest => tab.on_leave(FlushReason::PageHidden, now),
            Op::EndSession => tab.end_session(now),
            Op::Reload => {
                tab.on_leave(FlushReason::PageHide, now);
                let _lost = tab.take_beacons(now);
                keys[t] = tab.outbox_storage();
                if let Some(s) = tab.session_storage() {
                    shared = Some(s);
                }
                let (s, p) = (shared.clone(), tab.session_props_storage());
                let stored: Vec<&str> = keys.iter().flatten().map(String::as_str).collect();
                let mut next = Agent::new(config(), Mode::Full);
                next.restore(&StoredState { session: s.as_deref(), props: p.as_deref(), outboxes: &stored }, now);
                *tab = next;
            }
            Op::Respond { status, jitter } => {
                for o in tab.take_beacons(now) {
                    if matches!(status, Some(200..=299)) {
                        if let Some(prev) = received.insert((o.sid.clone(), o.seq), o.body.clone()) {
                            prop_assert_eq!(&prev, &o.body, "one (sid, seq), one body");
                        }
                    }
                    tab.on_response(&o.sid, o.seq, status, None, now, jitter);
                }
            }
        }
        if let Some(s) = tab.session_storage() {
            shared = Some(s);
        }
        keys[t] = tab.outbox_storage();
    }
    // Heal: each tab delivers everything it holds, still syncing around each event.
    for tab in tabs.iter_mut() {
        tab.sync_session(shared.as_deref(), now);
        tab.flush(now);
        for _ in 0..1_000 {
            now += 400_000;
            tab.sync_session(shared.as_deref(), now);
            tab.tick(now);
            if let Some(s) = tab.session_storage() {
                shared = Some(s);
            }
            let out = tab.take_beacons(now);
            if out.is_empty() && tab.outbox.is_empty() {
                break;
            }
            for o in out {
                if let Some(prev) = received.insert((o.sid.clone(), o.seq), o.body.clone()) {
                    prop_assert_eq!(&prev, &o.body, "one (sid, seq), one body");
                }
                tab.on_response(&o.sid, o.seq, Some(204), None, now, 0.0);
            }
        }
    }
    let mut got = BTreeSet::new();
    let mut dropped = 0;
    for body in received.values() {
        let v = parse(body).unwrap();
        dropped += v.get("dropped").and_then(Value::as_i64).unwrap_or(0);
        let sid = v.get("sid").and_then(Value::as_str).unwrap().to_owned();
        if let Some(Value::Array(actions)) = v.get("actions") {
            for a in actions {
                got.insert((sid.clone(), a.get("id").and_then(Value::as_str).unwrap().to_owned()));
            }
        }
    }
    if dropped == 0 {
        prop_assert_eq!(got, made);
    }
    Ok(())
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut now = 1_732_600_000_000i64;
    let mut page = Page { agent: Agent::new(config(), Mode::Full), in_flight: Vec::new() };
    let mut made = BTreeSet::new();
    let mut received: BTreeMap<(String, u64), String> = BTreeMap::new();
    let mut seed = 0u64;
    let deliver = |page: &mut Page,
                   received: &mut BTreeMap<(String, u64), String>,
                   now: i64,
                   status: Option<u16>,
                   jitter: f64| {
        if let Some(o) = (!page.in_flight.is_empty()).then(|| page.in_flight.remove(0)) {
            if matches!(status, Some(200..=299)) {
                if let Some(prev) = received.get(&(o.sid.clone(), o.seq)) {
                    assert_eq!(prev, &o.body, "one (sid, seq), one body");
                }
                received.insert((o.sid.clone(), o.seq), o.body.clone());
            }
            page.agent.on_response(&o.sid, o.seq, status, Some("1"), now, jitter);
        }
    };
    for op in ops {
        seed += 1;
        match op {
            Op::Act { wait, pad } => {
                now += wait;
                let id = page.agent.start_action(ActionKind::Click, "c", "u", now, &entropy(seed)).unwrap();
                let sid = page.agent.session().unwrap().id.clone();
                page.agent.add_action_properties(
                    Some(&id),
                    &[(PropType::String, "s".into(), ApiValue::Str("x".repeat(pad)))],
                );
                page.agent.end_action(&id, &[], now + 1);
                made.insert((sid, id));
            }
            Op::Open { wait } => {
                now += wait;
                let id = page.agent.start_action(ActionKind::Custom, "o", "u", now, &entropy(seed)).unwrap();
                made.insert((page.agent.session().unwrap().id.clone(), id));
            }
            Op::CloseOldest => {
                if let Some(id) = page.agent.open_action_ids().first().map(|s| s.to_string()) {
                    page.agent.end_action(&id, &[], now);
                }
            }
            Op::Tick(wait) => {
                now += wait;
                for id in page.agent.tick(now) {
                    page.agent.end_action(&id, &[], now);
                }
            }
            Op::Leave => page.agent.on_leave(FlushReason::PageHidden, now),
            Op::Respond { status, jitter } => deliver(&mut page, &mut received, now, status, jitter),
            Op::Reload => {
                // The page goes away: the runtime ends its open actions, then in-flight
                // requests are lost; storage survives.
                let open: Vec<String> = page.agent.open_action_ids().iter().map(|s| s.to_string()).collect();
                for id in open {
                    page.agent.end_action(&id, &[], now);
                }
                page.agent.on_leave(FlushReason::PageHide, now);
                let sent = page.agent.take_beacons(now);
                prop_assert!(sent.iter().map(|o| o.body.len()).sum::<usize>() <= beacon::MAX_BEACON_BYTES);
                let (s, p, q) =
                    (page.agent.session_storage(), page.agent.session_props_storage(), page.agent.outbox_storage());
                let mut next = Agent::new(config(), Mode::Full);
                next.restore(
                    &StoredState {
                        session: s.as_deref(),
                        props: p.as_deref(),
                        outboxes: &[q.as_deref().unwrap_or("")],
                    },
                    now,
                );
                page = Page { agent: next, in_flight: Vec::new() };
            }
            Op::EndSession => page.agent.end_session(now),
        }
        let out = page.agent.take_beacons(now);
        page.in_flight.extend(out);
    }
    // The network heals: everything still waiting gets through.
    let open: Vec<String> = page.agent.open_action_ids().iter().map(|s| s.to_string()).collect();
    for id in open {
        page.agent.end_action(&id, &[], now);
    }
    page.agent.flush(now);
    for _ in 0..10_000 {
        let out = page.agent.take_beacons(now);
        page.in_flight.extend(out);
        if page.in_flight.is_empty() {
            // The runtime's timer: wake up when asked, tick, end overdue actions.
            match page.agent.next_wakeup() {
                Some(t) if !page.agent.outbox.is_empty() => {
                    now = now.max(t);
                    for id in page.agent.tick(now) {
                        page.agent.end_action(&id, &[], now);
                    }
                }
                _ => break,
            }
            continue;
        }
        deliver(&mut page, &mut received, now, Some(204), 0.0);
    }
    let mut got = BTreeSet::new();
    let mut dropped = page.agent.outbox.dropped;
    for body in received.values() {
        prop_assert!(body.len() <= beacon::MAX_BEACON_BYTES);
        let v = parse(body).unwrap();
        dropped += v.get("dropped").and_then(Value::as_i64).unwrap_or(0) as u64;
        let sid = v.get("sid").and_then(Value::as_str).unwrap().to_owned();
        if let Some(Value::Array(actions)) = v.get("actions") {
            for a in actions {
                got.insert((sid.clone(), a.get("id").and_then(Value::as_str).unwrap().to_owned()));
            }
        }
    }
    if dropped == 0 {
        prop_assert_eq!(got, made);
    } else {
        // A beacon given up after its last attempt is lost, and said so.
        prop_assert!(got.is_subset(&made));
    }
    Ok(())
}

#[test]
fn regression_one() {
    use Op::*;
    let ops = vec![
        Act { wait: 0, pad: 0 },
        Act { wait: 5001, pad: 0 },
        Tick(3731),
        Act { wait: 1270, pad: 0 },
        Tick(1001),
        Respond { status: Some(204), jitter: 0.0 },
        Act { wait: 4000, pad: 0 },
        Respond { status: None, jitter: 0.0 },
        Leave,
        Respond { status: Some(200), jitter: 0.0 },
        Respond { status: None, jitter: 0.0 },
        Act { wait: 0, pad: 0 },
        Leave,
        Respond { status: None, jitter: 0.0 },
        Act { wait: 0, pad: 0 },
        Respond { status: None, jitter: 0.0 },
        Respond { status: None, jitter: 0.0 },
        Act { wait: 0, pad: 0 },
        Tick(3621),
        Leave,
        Respond { status: Some(503), jitter: 0.38100854425376873 },
    ];
    run(ops).unwrap();
}
#[test]
fn stale_session_storage_never_reuses_a_queued_seq() {
    let now = 1_732_600_000_000i64;
    let mut a = Agent::new(config(), Mode::Full);
    let id = a.start_action(ActionKind::Click, "c", "u", now, &entropy(1)).unwrap();
    a.end_action(&id, &[], now);
    let stale = a.session_storage();
    a.on_leave(FlushReason::PageHide, now);
    let q = a.outbox_storage().unwrap();
    let mut b = Agent::new(config(), Mode::Full);
    b.restore(&StoredState { session: stale.as_deref(), props: None, outboxes: &[&q] }, now);
    assert_eq!(b.session().unwrap().next_seq, 2);
    b.end_session(now);
    assert_eq!(b.take_beacons(now).len(), 2, "the queued beacon and the end, under two numbers");
}
