//! The agent driven through whole scenarios: events in, beacons out, parsed back.

use super::*;
use crate::json::{parse, Value};
use crate::value::PropertyValue;

const T0: i64 = 1_732_600_000_000;

fn config_with(session: &str, batch: &str, sample_rate: u32) -> Config {
    let text = format!(
        r#"{{"version":1,"app":"easytravel","collector":"https://rum.example/beacon",
        "properties":[
          {{"key":"big","type":"long","source":{{"meta":"big"}},"public":true}},
          {{"key":"tier","type":"string","source":{{"meta":"tier"}},"storage":"both"}},
          {{"key":"total","type":"double","source":{{"api":true}},"storage":"session","aggregation":"sum","public":true}},
          {{"key":"secret","type":"string","source":{{"cookie":"s"}}}}],
        "session":{session},"batch":{batch},"sampleRate":{sample_rate}}}"#
    );
    Config::parse(&text, &|_| true).unwrap()
}

fn config() -> Config {
    config_with(r#"{"idleTimeoutMs":60000,"maxActions":5}"#, r#"{"maxActions":3,"flushIntervalMs":10000}"#, 100)
}

fn entropy(n: u8) -> Entropy {
    let mut e = [0u8; 32];
    for (i, b) in e.iter_mut().enumerate() {
        *b = n.wrapping_mul(31).wrapping_add(i as u8);
    }
    e
}

fn outcomes() -> Vec<Outcome> {
    vec![
        Outcome::Value(PropertyValue::Long(i64::MAX)),
        Outcome::Value(PropertyValue::String("Gold".into())),
        Outcome::Skipped,
        Outcome::Issue(Reason::NotFound),
    ]
}

/// Starts and ends one action.
fn act(agent: &mut Agent, name: &str, at: i64) -> String {
    let id = agent.start_action(ActionKind::Custom, name, "https://shop.example/", at, &entropy(at as u8)).unwrap();
    assert!(agent.end_action(&id, &outcomes(), at + 10));
    id
}

fn parsed(out: &[Outgoing]) -> Vec<Value> {
    out.iter().map(|o| parse(&o.body).unwrap()).collect()
}

fn items<'a>(v: &'a Value, field: &str) -> &'a [Value] {
    match v.get(field) {
        Some(Value::Array(a)) => a,
        _ => panic!("no array {field}"),
    }
}

fn action_ids(v: &Value) -> Vec<String> {
    items(v, "actions").iter().map(|a| a.get("id").unwrap().as_str().unwrap().to_owned()).collect()
}

fn ack_all(agent: &mut Agent, out: &[Outgoing], now: i64) {
    for o in out {
        assert_eq!(agent.on_response(&o.sid, o.seq, Some(204), None, now, 0.5), Verdict::Delivered);
    }
}

#[test]
fn one_action_one_beacon_with_exact_long_and_session_props() {
    let mut a = Agent::new(config(), Mode::Full);
    a.identify_user("alice", T0);
    let id = a
        .start_action(ActionKind::Click, "click on \"Book\"", "https://shop.example/offers?x=1", T0, &entropy(1))
        .unwrap();
    assert_eq!(id, "a1");
    a.count_request(None, false);
    a.count_request(Some(&id), true);
    a.count_js_error(None);
    let r = a.add_action_properties(None, &[(PropType::Double, "total".into(), ApiValue::Num(59.9))]);
    assert_eq!(r.sent.len(), 1);
    assert!(a.end_action(&id, &outcomes(), T0 + 450));
    assert!(a.take_beacons(T0 + 500).is_empty(), "one action waits for the batch");
    a.flush(T0 + 500);
    assert_eq!(a.next_wakeup(), Some(T0 + 500), "sealed beacons are due at once");
    let out = a.take_beacons(T0 + 500);
    assert_eq!(out.len(), 1);
    let b = &parsed(&out)[0];
    let sid = b.get("sid").unwrap().as_str().unwrap();
    assert_eq!(sid.len(), 32);
    assert_eq!(out[0].sid, sid);
    assert_eq!(b.get("app").unwrap().as_str(), Some("easytravel"));
    assert_eq!(b.get("vid").unwrap().as_str().map(str::len), Some(32));
    assert_eq!(b.get("seq").unwrap().as_i64(), Some(1));
    assert_eq!(b.get("sentAt").unwrap().as_i64(), Some(T0 + 500));
    let s = b.get("session").unwrap();
    assert_eq!(s.get("start").unwrap().as_i64(), Some(T0));
    assert_eq!(s.get("userId").unwrap().as_str(), Some("alice"));
    assert_eq!(s.get("ended"), Some(&Value::Null));
    assert_eq!(s.get("props").unwrap().get("string").unwrap().get("tier").unwrap().as_str(), Some("Gold"));
    assert_eq!(s.get("props").unwrap().get("double").unwrap().get("total").unwrap().as_f64(), Some(59.9));
    let act = &items(b, "actions")[0];
    assert_eq!(act.get("kind").unwrap().as_str(), Some("click"));
    assert_eq!(act.get("end").unwrap().as_i64(), Some(T0 + 450));
    assert_eq!(act.get("requests").unwrap().as_i64(), Some(2));
    assert_eq!(act.get("requestErrors").unwrap().as_i64(), Some(1));
    assert_eq!(act.get("jsErrors").unwrap().as_i64(), Some(1));
    let props = act.get("props").unwrap();
    assert_eq!(props.get("long").unwrap().get("big"), Some(&Value::Number("9223372036854775807".into())));
    assert_eq!(props.get("string").unwrap().get("tier").unwrap().as_str(), Some("Gold"));
    assert_eq!(props.get("double").unwrap().get("total"), None, "session-only values stay off the action");
    let issue = &items(b, "issues")[0];
    assert_eq!(
        (issue.get("key").unwrap().as_str(), issue.get("reason").unwrap().as_str()),
        (Some("secret"), Some("not_found"))
    );
    ack_all(&mut a, &out, T0 + 600);
    assert!(a.take_beacons(T0 + 700).is_empty());
    assert_eq!(a.next_wakeup(), Some(T0 + 450 + 60_000), "only the idle end remains");
}

#[test]
fn batch_flushes_by_count_and_interval() {
    let mut a = Agent::new(config(), Mode::Full);
    act(&mut a, "1", T0);
    act(&mut a, "2", T0 + 100);
    assert!(a.take_beacons(T0 + 200).is_empty());
    act(&mut a, "3", T0 + 200);
    let out = a.take_beacons(T0 + 300);
    assert_eq!(action_ids(&parsed(&out)[0]), ["a1", "a2", "a3"]);
    ack_all(&mut a, &out, T0 + 300);

    act(&mut a, "4", T0 + 1_000);
    assert_eq!(a.next_wakeup(), Some(T0 + 1_010 + 10_000));
    a.tick(T0 + 11_009);
    assert!(a.take_beacons(T0 + 11_009).is_empty());
    a.tick(T0 + 11_010);
    let out = a.take_beacons(T0 + 11_010);
    let b = &parsed(&out)[0];
    assert_eq!(action_ids(b), ["a4"]);
    assert_eq!(b.get("seq").unwrap().as_i64(), Some(2));
}

#[test]
fn idle_session_ends_and_the_next_action_starts_a_new_one() {
    let mut a = Agent::new(config(), Mode::Full);
    act(&mut a, "1", T0);
    let old_sid = a.session().unwrap().id.clone();
    let vid = a.session().unwrap().visitor_id.clone();
    let id = a.start_action(ActionKind::Route, "/next", "u", T0 + 70_000, &entropy(9)).unwrap();
    assert_eq!(id, "a1", "a new session numbers its actions from 1");
    let s = a.session().unwrap();
    assert_ne!(s.id, old_sid);
    assert_eq!(s.visitor_id, vid, "the visitor stays");
    let out = a.take_beacons(T0 + 70_000);
    assert_eq!(out.len(), 1);
    let b = &parsed(&out)[0];
    assert_eq!(out[0].sid, old_sid);
    assert_eq!(b.get("session").unwrap().get("ended").unwrap().as_str(), Some("idle"));
    assert_eq!(action_ids(b), ["a1"], "the old session's waiting action goes with its last beacon");
}

#[test]
fn idle_end_is_sent_by_a_tick_without_new_actions() {
    let mut a = Agent::new(config(), Mode::Full);
    act(&mut a, "1", T0);
    let wake = a.next_wakeup().unwrap();
    assert!(a.tick(wake).is_empty());
    // The interval came first; the idle end comes at last activity + 60 s.
    let out = a.take_beacons(wake);
    assert_eq!(parsed(&out)[0].get("session").unwrap().get("ended"), Some(&Value::Null));
    ack_all(&mut a, &out, wake);
    a.tick(T0 + 10 + 60_000);
    let out = a.take_beacons(T0 + 10 + 60_000);
    assert_eq!(parsed(&out)[0].get("session").unwrap().get("ended").unwrap().as_str(), Some("idle"));
    assert_eq!(a.session().unwrap().ended, Some(EndReason::Idle), "kept, with the visitor id, until the next action");
    ack_all(&mut a, &out, T0 + 10 + 60_000);
    assert_eq!(a.next_wakeup(), None, "an ended session needs no timer");
    assert!(a.tick(T0 + 1_000_000).is_empty());
    assert!(a.take_beacons(T0 + 1_000_000).is_empty(), "the end is announced once");

    // A reload after the end: the stored state says the end was sent; the next action starts anew.
    let mut b = Agent::new(config(), Mode::Full);
    b.restore(&StoredState { session: a.session_storage().as_deref(), ..StoredState::default() }, T0 + 2_000_000);
    let vid = a.session().unwrap().visitor_id.clone();
    b.start_action(ActionKind::Load, "l", "u", T0 + 2_000_000, &entropy(7)).unwrap();
    assert_eq!(b.session().unwrap().visitor_id, vid);
    assert_ne!(b.session().unwrap().id, a.session().unwrap().id);
    assert!(b.take_beacons(T0 + 2_000_000).is_empty(), "no second end beacon");
}

#[test]
fn max_actions_and_end_session_reasons() {
    let mut a = Agent::new(config(), Mode::Full);
    for i in 0..5 {
        act(&mut a, "x", T0 + i * 100);
    }
    let first = a.session().unwrap().id.clone();
    a.identify_user("bob", T0 + 600);
    act(&mut a, "6th", T0 + 700);
    assert_ne!(a.session().unwrap().id, first);
    assert_eq!(a.session().unwrap().user_id.as_deref(), Some("bob"), "the user stays logged in");
    let out = a.take_beacons(T0 + 800);
    let last_of_first = parsed(&out).into_iter().rfind(|b| b.get("sid").unwrap().as_str() == Some(&first)).unwrap();
    assert_eq!(last_of_first.get("session").unwrap().get("ended").unwrap().as_str(), Some("max_actions"));

    let second = a.session().unwrap().id.clone();
    let open = a.start_action(ActionKind::Custom, "open", "u", T0 + 900, &entropy(3)).unwrap();
    a.end_session(T0 + 950);
    assert_eq!(a.session().unwrap().ended, Some(EndReason::EndSession));
    assert!(!a.end_action(&open, &[], T0 + 960), "ending the session closed its open actions");
    let out = a.take_beacons(T0 + 1_000);
    let b = parsed(&out).into_iter().find(|b| b.get("sid").unwrap().as_str() == Some(&second)).unwrap();
    assert_eq!(b.get("session").unwrap().get("ended").unwrap().as_str(), Some("end_session"));
    assert_eq!(action_ids(&b), ["a1", "a2"]);
    act(&mut a, "after", T0 + 2_000);
    assert_eq!(a.session().unwrap().user_id, None, "endSession() forgets the user");
}

#[test]
fn retries_back_off_honour_retry_after_and_give_up() {
    let mut a = Agent::new(config(), Mode::Full);
    act(&mut a, "1", T0);
    a.flush(T0);
    let out = a.take_beacons(T0);
    let (sid, seq) = (out[0].sid.clone(), out[0].seq);
    assert!(a.take_beacons(T0 + 1).is_empty(), "in flight");
    assert_eq!(a.on_response(&sid, seq, Some(503), None, T0 + 100, 0.0), Verdict::Retry);
    assert!(a.take_beacons(T0 + 599).is_empty());
    let again = a.take_beacons(T0 + 600);
    assert_eq!((again[0].seq, &again[0].body), (seq, &out[0].body), "a resent beacon keeps its seq");
    assert_eq!(a.on_response(&sid, seq, Some(429), Some("30"), T0 + 700, 0.0), Verdict::Retry);
    assert!(a.take_beacons(T0 + 30_699).is_empty());
    assert_eq!(a.take_beacons(T0 + 30_700).len(), 1);
    let mut now = T0 + 30_700;
    for _ in 3..retry::MAX_ATTEMPTS {
        assert_eq!(a.on_response(&sid, seq, None, None, now, 0.99), Verdict::Retry);
        now = a.outbox.entries()[0].not_before;
        assert!(a.take_beacons(now - 1).is_empty());
        assert_eq!(a.take_beacons(now).len(), 1);
    }
    assert_eq!(a.on_response(&sid, seq, None, None, now, 0.5), Verdict::Retry);
    assert!(a.take_beacons(now + 10_000_000).is_empty(), "given up");
    act(&mut a, "2", now);
    a.flush(now);
    let b = &parsed(&a.take_beacons(now))[0];
    assert_eq!(b.get("dropped").unwrap().as_i64(), Some(1), "the loss is reported");
    assert_eq!(b.get("seq").unwrap().as_i64(), Some(2));
}

#[test]
fn other_4xx_is_dropped() {
    let mut a = Agent::new(config(), Mode::Full);
    act(&mut a, "1", T0);
    a.flush(T0);
    let out = a.take_beacons(T0);
    assert_eq!(a.on_response(&out[0].sid, out[0].seq, Some(400), None, T0, 0.0), Verdict::Drop);
    assert_eq!(a.next_wakeup(), Some(T0 + 10 + 60_000));
}

#[test]
fn leaving_sends_newest_first_within_the_keepalive_budget_and_keeps_the_rest() {
    let cfg = config_with(r#"{"maxActions":1000}"#, r#"{"maxActions":1000,"maxBytes":65536}"#, 100);
    let mut a = Agent::new(cfg, Mode::Full);
    let filler = "x".repeat(900);
    for i in 0..400 {
        let id = a.start_action(ActionKind::Custom, "a", "u", T0 + i, &entropy(1)).unwrap();
        a.add_action_properties(Some(&id), &[(PropType::String, "tier".into(), ApiValue::Str(filler.clone()))]);
        a.end_action(&id, &outcomes(), T0 + i);
    }
    let built = a.outbox.entries().len();
    assert!(
        built >= 2,
        "maxBytes already sealed full beacons: {built} {:?}",
        a.outbox.entries().iter().map(|e| e.body.len()).collect::<Vec<_>>()
    );
    a.on_leave(FlushReason::PageHidden, T0 + 1_000);
    let out = a.take_beacons(T0 + 1_000);
    assert!(out.iter().all(|o| o.leave));
    assert!(out.iter().map(|o| o.body.len()).sum::<usize>() <= beacon::MAX_BEACON_BYTES);
    let first = &parsed(&out)[0];
    assert_eq!(action_ids(first)[0], "a400", "the newest action goes first");
    let ids = action_ids(first);
    assert!(ids.len() >= 2);
    for (k, id) in ids.iter().enumerate() {
        assert_eq!(*id, format!("a{}", 400 - k), "newest first throughout: {ids:?}");
    }
    let total = a.outbox.entries().len();
    assert!(total > out.len(), "what did not fit stays queued");

    // The next page restores the outbox and sends everything again, (sid, seq) unchanged.
    let stored = a.outbox_storage().unwrap();
    let session = a.session_storage().unwrap();
    let mut next = Agent::new(a.config().clone(), Mode::Full);
    next.restore(&StoredState { session: Some(&session), props: None, outboxes: &[&stored] }, T0 + 5_000);
    let mut resent = Vec::new();
    loop {
        let batch = next.take_beacons(T0 + 5_000);
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= MAX_IN_FLIGHT);
        ack_all(&mut next, &batch, T0 + 5_000);
        resent.extend(batch);
    }
    assert_eq!(resent.len(), total);
    let mut ids: Vec<String> = parsed(&resent).iter().flat_map(action_ids).collect();
    ids.sort_by_key(|id| id[1..].parse::<u32>().unwrap());
    assert_eq!(ids, (1..=400).map(|i| format!("a{i}")).collect::<Vec<_>>(), "every action once");
    for o in &resent {
        assert!(o.body.len() <= beacon::MAX_BEACON_BYTES);
        assert!(out.iter().all(|x| x.seq != o.seq || x.body == o.body));
    }
    let id = next.start_action(ActionKind::Load, "load", "u", T0 + 6_000, &entropy(2)).unwrap();
    assert_eq!(id, "a401", "the session continues after the reload");
}

#[test]
fn two_tabs_share_one_session_without_seq_collisions() {
    let mut tab1 = Agent::new(config(), Mode::Full);
    let mut tab2 = Agent::new(config(), Mode::Full);
    act(&mut tab1, "t1", T0);
    tab1.flush(T0 + 10);
    let out1 = tab1.take_beacons(T0 + 10);
    let stored = tab1.session_storage();
    tab2.restore(&StoredState { session: stored.as_deref(), ..StoredState::default() }, T0 + 20);
    act(&mut tab2, "t2", T0 + 30);
    tab2.flush(T0 + 40);
    let out2 = tab2.take_beacons(T0 + 40);
    assert_eq!(out1[0].sid, out2[0].sid);
    assert_ne!(out1[0].seq, out2[0].seq);
    assert_eq!(action_ids(&parsed(&out2)[0]), ["a2"]);
    tab1.sync_session(tab2.session_storage().as_deref(), T0 + 50);
    assert_eq!(tab1.start_action(ActionKind::Click, "c", "u", T0 + 60, &entropy(4)).as_deref(), Some("a3"));
}

#[test]
fn another_tab_starting_a_new_session_takes_over() {
    let mut tab1 = Agent::new(config(), Mode::Full);
    let mut tab2 = Agent::new(config(), Mode::Full);
    act(&mut tab1, "old", T0);
    act(&mut tab2, "new", T0 + 1);
    let old = tab1.session().unwrap().id.clone();
    tab1.sync_session(tab2.session_storage().as_deref(), T0 + 2);
    assert_eq!(tab1.session().unwrap().id, tab2.session().unwrap().id);
    let out = tab1.take_beacons(T0 + 3);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].sid, old, "the old session's waiting action is sealed under its own id");
}

#[test]
fn off_mode_stores_and_sends_nothing() {
    let mut c = config();
    c.privacy.opt_in = true;
    let mode = api::mode(&c.privacy, api::Consent::Unknown, false);
    let mut a = Agent::new(c, mode);
    assert_eq!(a.start_action(ActionKind::Load, "l", "u", T0, &entropy(1)), None);
    assert!(a.add_action_properties(None, &[(PropType::Long, "big".into(), ApiValue::Num(1.0))]).sent.is_empty());
    a.flush(T0);
    assert!(a.take_beacons(T0).is_empty());
    assert_eq!(a.session_storage(), None);
    assert_eq!(a.outbox_storage(), None);

    a.set_mode(Mode::Full);
    act(&mut a, "after enable", T0 + 1);
    assert!(a.session_storage().is_some());
    a.set_mode(Mode::Off);
    assert_eq!(a.session_storage(), None);
    assert!(a.take_beacons(T0 + 100_000).is_empty(), "disable() dropped what waited");
}

#[test]
fn anonymous_mode_sends_no_ids_and_masks_non_public_properties() {
    let mut a = Agent::new(config(), Mode::Anonymous);
    assert!(!a.identify_user("alice", T0));
    let r = a.send_session_properties(
        &[
            (PropType::Double, "total".into(), ApiValue::Num(2.5)),
            (PropType::String, "tier".into(), ApiValue::Str("x".into())),
        ],
        T0,
        &entropy(1),
    );
    assert_eq!(r.sent, vec![("total".to_owned(), PropertyValue::Double(2.5))]);
    assert_eq!(r.failed, vec![("tier".to_owned(), Reason::DntMasked)]);
    act(&mut a, "1", T0 + 1);
    a.flush(T0 + 20);
    let b = &parsed(&a.take_beacons(T0 + 20))[0];
    assert_eq!(b.get("vid"), Some(&Value::Null));
    assert_eq!(b.get("session").unwrap().get("userId"), Some(&Value::Null));
    let props = items(b, "actions")[0].get("props").unwrap();
    assert!(props.get("long").unwrap().get("big").is_some(), "public");
    assert_eq!(props.get("string").unwrap().get("tier"), None);
    let reasons: Vec<(&str, &str)> = items(b, "issues")
        .iter()
        .map(|i| (i.get("key").unwrap().as_str().unwrap(), i.get("reason").unwrap().as_str().unwrap()))
        .collect();
    assert!(reasons.contains(&("tier", "dnt_masked")));
    assert_eq!(a.session().unwrap().visitor_id, None);
    let stored = SessionState::from_storage(&a.session_storage().unwrap()).unwrap();
    assert_eq!((stored.visitor_id, stored.user_id), (None, None), "nothing identifying is stored");
}

#[test]
fn api_values_win_and_unknown_actions_fail() {
    let mut a = Agent::new(config(), Mode::Full);
    let id = a.start_action(ActionKind::Custom, "c", "u", T0, &entropy(1)).unwrap();
    let r = a.add_action_properties(Some(&id), &[(PropType::Long, "big".into(), ApiValue::BigInt("42".into()))]);
    assert_eq!(r.sent.len(), 1);
    let r = a.add_action_properties(Some("a99"), &[(PropType::Long, "big".into(), ApiValue::Num(1.0))]);
    assert_eq!(r.failed, vec![("big".to_owned(), Reason::NotFound)]);
    a.end_action(&id, &outcomes(), T0 + 1);
    a.flush(T0 + 2);
    let b = &parsed(&a.take_beacons(T0 + 2))[0];
    let big = items(b, "actions")[0].get("props").unwrap().get("long").unwrap().get("big").unwrap().as_i64();
    assert_eq!(big, Some(42));
}

#[test]
fn unsampled_sessions_send_nothing_but_still_count() {
    let mut a = Agent::new(config_with("{}", "{}", 0), Mode::Full);
    act(&mut a, "1", T0);
    a.flush(T0 + 1);
    assert!(a.take_beacons(T0 + 1).is_empty());
    assert_eq!(a.session().unwrap().actions, 1);
    assert!(!a.session().unwrap().sampled);
    a.end_session(T0 + 2);
    assert!(a.take_beacons(T0 + 3).is_empty());
}

#[test]
fn faults_are_reported_once() {
    let mut a = Agent::new(config(), Mode::Full);
    a.note_fault();
    a.note_fault();
    act(&mut a, "1", T0);
    a.flush(T0 + 1);
    let out = a.take_beacons(T0 + 1);
    assert_eq!(parsed(&out)[0].get("faults").unwrap().as_i64(), Some(2));
    act(&mut a, "2", T0 + 2);
    a.flush(T0 + 3);
    let out = a.take_beacons(T0 + 3);
    assert_eq!(parsed(&out).last().unwrap().get("faults"), None);
}

#[test]
fn overdue_actions_are_reported_by_tick() {
    let mut a = Agent::new(config_with(r#"{"idleTimeoutMs":3600000}"#, "{}", 100), Mode::Full);
    let id = a.start_action(ActionKind::Click, "c", "u", T0, &entropy(1)).unwrap();
    assert_eq!(a.next_wakeup(), Some(T0 + action::MAX_ACTION_DURATION_MS));
    assert!(a.tick(T0 + 1_000).is_empty());
    assert_eq!(a.tick(T0 + action::MAX_ACTION_DURATION_MS), vec![id.clone()]);
    assert!(a.end_action(&id, &outcomes(), T0 + 10 * action::MAX_ACTION_DURATION_MS));
    a.flush(T0 + 10 * action::MAX_ACTION_DURATION_MS);
    let b = &parsed(&a.take_beacons(T0 + 10 * action::MAX_ACTION_DURATION_MS))[0];
    let act = &items(b, "actions")[0];
    assert_eq!(act.get("end").unwrap().as_i64(), Some(T0 + action::MAX_ACTION_DURATION_MS));
}

#[test]
fn storage_updates_are_written_on_change_and_deleted_on_disable() {
    let mut a = Agent::new(config(), Mode::Full);
    let first = a.take_storage_update();
    assert_eq!(
        first,
        StorageUpdate {
            session: Stored::Unchanged,
            props: Stored::Unchanged,
            outbox: Stored::Write("{\"v\":1,\"dropped\":0,\"q\":[]}".into())
        }
    );
    act(&mut a, "1", T0);
    let u = a.take_storage_update();
    assert!(matches!(u.session, Stored::Write(_)) && matches!(u.props, Stored::Write(_)));
    assert_eq!(u.outbox, Stored::Unchanged);
    assert_eq!(a.take_storage_update().session, Stored::Unchanged);
    a.set_mode(Mode::Off);
    let u = a.take_storage_update();
    assert_eq!((u.session, u.props, u.outbox), (Stored::Delete, Stored::Delete, Stored::Delete));
}

#[test]
fn session_properties_continue_across_a_reload() {
    let mut a = Agent::new(config(), Mode::Full);
    let sum = |a: &mut Agent, x: f64, at: i64| {
        a.send_session_properties(&[(PropType::Double, "total".into(), ApiValue::Num(x))], at, &entropy(1));
    };
    sum(&mut a, 10.0, T0);
    act(&mut a, "1", T0 + 1);
    let stored_session = a.session_storage().unwrap();
    let stored_props = a.session_props_storage().unwrap();
    let mut b = Agent::new(config(), Mode::Full);
    b.restore(&StoredState { session: Some(&stored_session), props: Some(&stored_props), outboxes: &[] }, T0 + 100);
    sum(&mut b, 2.5, T0 + 200);
    b.flush(T0 + 300);
    let body = &parsed(&b.take_beacons(T0 + 300))[0];
    let props = body.get("session").unwrap().get("props").unwrap();
    assert_eq!(props.get("double").unwrap().get("total").unwrap().as_f64(), Some(12.5));
    assert_eq!(props.get("string").unwrap().get("tier").unwrap().as_str(), Some("Gold"));

    // Properties of another session, or malformed, are ignored.
    let mut c = Agent::new(config(), Mode::Full);
    let other = stored_props.replace(&a.session().unwrap().id, &"0".repeat(32));
    c.restore(&StoredState { session: Some(&stored_session), props: Some(&other), outboxes: &["garbage"] }, T0 + 100);
    assert!(c.session_props_storage().unwrap().contains("\"double\":{}"));
    c.restore(&StoredState { session: Some("r1|junk"), props: Some("{"), outboxes: &["[", ""] }, T0 + 100);
}

#[test]
fn at_most_a_few_beacons_in_flight() {
    let cfg = config_with(r#"{"maxActions":1000}"#, r#"{"maxActions":1}"#, 100);
    let mut a = Agent::new(cfg, Mode::Full);
    for i in 0..10 {
        act(&mut a, "x", T0 + i);
    }
    let first = a.take_beacons(T0 + 20);
    assert_eq!(first.len(), MAX_IN_FLIGHT);
    assert!(a.take_beacons(T0 + 21).is_empty());
    assert_eq!(a.next_wakeup(), Some(T0 + 20 + queue::IN_FLIGHT_TIMEOUT_MS));
    ack_all(&mut a, &first[..1], T0 + 30);
    assert_eq!(a.take_beacons(T0 + 31).len(), 1);
    // Unanswered sends (sendBeacon, a page that froze) go out again after the timeout.
    let again = a.take_beacons(T0 + 20 + queue::IN_FLIGHT_TIMEOUT_MS);
    assert_eq!(again.len(), 0, "still four in flight");
    assert_eq!(a.on_response(&first[1].sid, first[1].seq, Some(500), None, T0 + 40, 0.0), Verdict::Retry);
}

#[test]
fn bodies_stay_within_max_bytes() {
    let cfg = config_with(r#"{"maxActions":1000}"#, r#"{"maxActions":1000,"maxBytes":4096}"#, 100);
    let mut a = Agent::new(cfg, Mode::Full);
    a.identify_user(&"u".repeat(500), T0);
    for i in 0..100 {
        let id = a
            .start_action(
                ActionKind::Click,
                &"n".repeat(i % 120),
                &"https://x/".repeat(i % 30),
                T0 + i as i64,
                &entropy(1),
            )
            .unwrap();
        a.end_action(&id, &outcomes(), T0 + i as i64);
    }
    a.flush(T0 + 1_000);
    let mut n = 0;
    loop {
        let out = a.take_beacons(T0 + 1_000);
        if out.is_empty() {
            break;
        }
        for o in &out {
            assert!(o.body.len() <= 4096, "{}", o.body.len());
            n += action_ids(&parse(&o.body).unwrap()).len();
        }
        ack_all(&mut a, &out, T0 + 1_000);
    }
    assert_eq!(n, 100);
}

#[test]
fn take_at_keeps_the_order_of_the_rest() {
    let mut v = vec![1, 2, 3, 4];
    assert_eq!(take_at(&mut v, 1), Some(2));
    assert_eq!(v, [1, 3, 4]);
    assert_eq!(take_at(&mut v, 2), Some(4));
    assert_eq!(take_at(&mut v, 0), Some(1));
    assert_eq!(v, [3]);
    assert_eq!(take_at(&mut v, 1), None);
    assert_eq!(take_at(&mut v, 5), None);
    assert_eq!(v, [3]);
}

#[test]
fn measures_apdex_errors_rage_clicks_and_the_device_travel_with_their_actions() {
    let text = r#"{"version":1,"app":"a","collector":"https://c/b","apdex":{"toleratedMs":100,"frustratedMs":400},"errors":{"maxPerAction":2}}"#;
    let mut agent = Agent::new(Config::parse(text, &|_| true).unwrap(), Mode::Full);
    agent.device = beacon::device_json([Some(1280.0), Some(720.4), Some(1.0)], Some("wifi".into()));
    // A load action with its timings as the browser gave them: the absent, negative and
    // non-finite ones are left out, the others rounded (but the layout shift).
    let load = agent.start_action(ActionKind::Load, "/", "https://shop.example/", T0, &entropy(1)).unwrap();
    let mut raw = [None; 18];
    raw[0] = Some(T0 as f64 + 0.6);
    raw[1] = Some(12.4);
    raw[2] = Some(-1.0);
    raw[3] = Some(f64::NAN);
    raw[8] = Some(f64::INFINITY);
    raw[9] = Some(250.5);
    raw[14] = Some(0.125);
    raw[15] = Some(3.0);
    raw[16] = Some(0.0);
    agent.open_action(&load).unwrap().measures = raw;
    assert!(agent.end_action(&load, &[], T0 + 300));
    // A click with three errors (one a duplicate, one beyond the cap) and a rage click.
    let click = agent.start_action(ActionKind::Click, "click on x", "https://shop.example/", T0 + 400, &entropy(2)).unwrap();
    agent.click_at(10.0, 10.0, T0 + 400);
    let long = "é".repeat(1500);
    agent.js_error(None, long.clone(), Some("https://shop.example/app.js".into()), [Some(3.0), Some(0.0)], T0 + 410);
    agent.js_error(None, long, Some("https://shop.example/app.js".into()), [Some(3.0), None], T0 + 420);
    agent.click_at(40.0, -20.0, T0 + 500);
    agent.js_error(None, "TypeError: x".into(), None, [Some(1.5), Some(7.0)], T0 + 430);
    agent.js_error(None, "third".into(), Some(String::new()), [None, None], T0 + 440);
    agent.click_at(12.0, 9.0, T0 + 1_400);
    agent.click_at(12.0, 9.0, T0 + 1_400); // a fourth click of the burst: counted once
    assert!(agent.end_action(&click, &[], T0 + 450));
    // A click that ends beyond the frustrated threshold without errors; rage bursts restart.
    let slow = agent.start_action(ActionKind::Custom, "slow", "https://shop.example/", T0 + 2_000, &entropy(3)).unwrap();
    for t in [0, 600, 1_200, 1_300, 2_300] {
        agent.click_at(100.0, 100.0, T0 + 2_000 + t);
    }
    agent.click_at(131.0, 100.0, T0 + 2_000 + 2_350);
    assert!(agent.end_action(&slow, &[], T0 + 2_401));
    let mid = agent.start_action(ActionKind::Custom, "mid", "https://shop.example/", T0 + 3_000, &entropy(4)).unwrap();
    assert!(agent.end_action(&mid, &[], T0 + 3_100));
    agent.flush(T0 + 4_000);
    let bodies = parsed(&agent.take_beacons(T0 + 4_000));
    let session = bodies[0].get("session").unwrap();
    let screen = session.get("screen").unwrap();
    assert_eq!(json_text(screen), r#"{"width":1280,"height":720,"orientation":"LANDSCAPE"}"#);
    assert_eq!(session.get("connection").unwrap().as_str(), Some("wifi"));
    let actions = items(&bodies[0], "actions");
    let timings = actions[0].get("timings").unwrap();
    assert_eq!(
        json_text(timings),
        format!(r#"{{"navigationStart":{},"requestStart":12,"largestContentfulPaint":251,"cumulativeLayoutShift":0.125}}"#, T0 + 1)
    );
    assert_eq!(json_text(actions[0].get("resources").unwrap()), r#"{"firstParty":3,"thirdParty":0}"#);
    assert_eq!(actions[0].get("apdex").unwrap().as_str(), Some("TOLERATING"));
    assert_eq!(actions[0].get("errors"), None);
    assert_eq!(actions[0].get("rageClicks"), None);

    let c = &actions[1];
    assert_eq!((c.get("timings"), c.get("resources")), (None, None));
    assert_eq!(c.get("jsErrors").unwrap().as_i64(), Some(4), "every error counts, beyond the cap too");
    assert_eq!(c.get("apdex").unwrap().as_str(), Some("FRUSTRATED"), "errors frustrate");
    assert_eq!(c.get("rageClicks").unwrap().as_i64(), Some(1));
    let errors = items(c, "errors");
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].get("message").unwrap().as_str().unwrap().chars().count(), 1000);
    assert_eq!(errors[0].get("file").unwrap().as_str(), Some("https://shop.example/app.js"));
    assert_eq!(errors[0].get("line").unwrap().as_i64(), Some(3));
    assert_eq!(errors[0].get("column"), None, "0 is unknown");
    assert_eq!(errors[0].get("time").unwrap().as_i64(), Some(T0 + 410));
    assert_eq!(
        json_text(&errors[1]),
        format!(r#"{{"message":"TypeError: x","line":2,"column":7,"time":{}}}"#, T0 + 430)
    );
    assert_eq!(actions[2].get("apdex").unwrap().as_str(), Some("FRUSTRATED"));
    assert_eq!(actions[2].get("rageClicks"), None, "clicks a second apart or 31 px off are no burst");
    assert_eq!(actions[3].get("apdex").unwrap().as_str(), Some("SATISFIED"));
    assert_eq!(actions[3].get("rageClicks"), None);
}

#[test]
fn apdex_thresholds_are_inclusive() {
    use action::apdex;
    assert_eq!(apdex(3_000, 0, [3_000, 12_000]), "SATISFIED");
    assert_eq!(apdex(3_001, 0, [3_000, 12_000]), "TOLERATING");
    assert_eq!(apdex(12_000, 0, [3_000, 12_000]), "TOLERATING");
    assert_eq!(apdex(12_001, 0, [3_000, 12_000]), "FRUSTRATED");
    assert_eq!(apdex(0, 1, [3_000, 12_000]), "FRUSTRATED");
    assert_eq!(apdex(-5, 0, [1, 1]), "SATISFIED");
}

#[test]
fn the_device_members_are_left_out_when_unknown() {
    assert_eq!(beacon::device_json([None, None, None], None), "");
    assert_eq!(beacon::device_json([Some(-1.0), Some(800.0), Some(0.0)], None), r#","screen":{"height":800,"orientation":"PORTRAIT"}"#);
    assert_eq!(beacon::device_json([None, None, Some(f64::NAN)], Some("x".repeat(100))), format!(r#","connection":"{}""#, "x".repeat(64)));
}

fn json_text(v: &Value) -> String {
    let mut s = String::new();
    crate::json::write_value(&mut s, v);
    s
}

#[test]
fn api_errors_and_names_go_to_the_given_or_newest_open_action() {
    let mut a = Agent::new(config(), Mode::Full);
    let first = a.start_action(ActionKind::Custom, "pay order", "https://shop.example/", T0, &entropy(1)).unwrap();
    let second = a.start_action(ActionKind::Click, "click on \"Pay\"", "https://shop.example/", T0 + 5, &entropy(2)).unwrap();
    // By id, by default the newest; a blank name or an action that is not open renames nothing.
    assert_eq!(a.name_action(Some(&first), "  pay   order (card) "), Some(first.as_str()));
    assert_eq!(a.name_action(None, "pay button"), Some(second.as_str()));
    assert_eq!(a.name_action(None, " \t "), None);
    assert_eq!(a.name_action(Some("a99"), "gone"), None);
    a.js_error(Some(&first), "checkout: coupon expired (SPRING)".into(), None, [None, None], T0 + 10);
    a.js_error(None, "validation: email".into(), None, [None, None], T0 + 11);
    a.js_error(Some("a99"), "lost".into(), None, [None, None], T0 + 12);
    assert!(a.end_action(&second, &[], T0 + 20));
    assert!(a.end_action(&first, &[], T0 + 30));
    assert_eq!(a.name_action(Some(&first), "too late"), None, "an ended action keeps its name");
    a.flush(T0 + 40);
    let bodies = parsed(&a.take_beacons(T0 + 40));
    let actions = items(&bodies[0], "actions");
    let by_name = |name: &str| actions.iter().find(|x| x.get("name").unwrap().as_str() == Some(name)).unwrap_or_else(|| panic!("no action {name}"));
    let (pay, button) = (by_name("pay order (card)"), by_name("pay button"));
    for (action, message, time) in [(pay, "checkout: coupon expired (SPRING)", T0 + 10), (button, "validation: email", T0 + 11)] {
        assert_eq!(action.get("jsErrors").unwrap().as_i64(), Some(1));
        let errors = items(action, "errors");
        assert_eq!(errors.len(), 1);
        assert_eq!(json_text(&errors[0]), format!(r#"{{"message":"{message}","time":{time}}}"#));
    }
}
