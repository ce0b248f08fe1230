//! Beacon bodies (DESIGN.md §4), written with [`crate::json`] (no serde: every kilobyte of
//! WebAssembly counts), and split so that none exceeds the limit.
//!
//! Besides the fields of §4, a body carries two optional counters, written only when not zero
//! and only on the first body of a flush: `faults` (internal errors the runtime caught since the
//! last report, DESIGN.md §6) and `dropped` (beacons the full outbox had to discard).

use crate::prelude::*;
use crate::agent::session::EndReason;
use crate::capture::{write_issues_json, Issue, PropertyMap};
use crate::json;
use crate::value::{PropertyValue, Reason};

/// A body is at most 64 KiB: the browsers' keepalive budget, and the collector's limit.
pub const MAX_BEACON_BYTES: usize = crate::config::MAX_BEACON_BYTES as usize;
/// One action's JSON is cut to this (largest properties first), so it always fits a body
/// next to the session part.
pub const MAX_ACTION_BYTES: usize = 32 * 1024;
/// The session's properties are cut to this in each body.
pub const MAX_SESSION_PROPS_BYTES: usize = 16 * 1024;

/// The fields every body of one flush shares.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    /// Application id.
    pub app: &'a str,
    /// Visitor id (`null` when privacy forbids one).
    pub vid: Option<&'a str>,
    /// Session id.
    pub sid: &'a str,
    /// Epoch ms of the flush.
    pub sent_at: i64,
    /// Internal faults to report.
    pub faults: u64,
    /// Beacons the outbox dropped, to report.
    pub dropped: u64,
}

/// The `session` object of a body.
#[derive(Debug, Clone)]
pub struct SessionPart<'a> {
    /// Epoch ms of the session start.
    pub start: i64,
    /// From `identifyUser` (`null` when unknown or under DNT).
    pub user_id: Option<&'a str>,
    /// Why the session ended, or `null` while it goes on.
    pub ended: Option<EndReason>,
    /// Session-stored properties.
    pub props: PropertyMap,
    /// The page's screen and connection members ([`device_json`]), written after `props`.
    pub device: &'a str,
}

/// The `session` members of the page's screen and connection, each left out when unknown:
/// `,"screen":{"width":…,"height":…,"orientation":…},"connection":…`. `screen` is its width
/// and height (whole numbers from 0 on) and whether it is landscape (1) or portrait (0); the
/// connection type is cut to 64 characters.
pub fn device_json(screen: [Option<f64>; 3], connection: Option<String>) -> String {
    let mut out = String::new();
    let [w, h, landscape] = screen;
    let mut sep = crate::agent::action::members(&mut out, ",\"screen\":{", &["width", "height"], &[w, h], true);
    if let Some(l) = crate::agent::action::number(landscape, true) {
        out.push_str(sep);
        out.push_str(if l > 0.0 { "\"orientation\":\"LANDSCAPE\"" } else { "\"orientation\":\"PORTRAIT\"" });
        sep = ",";
    }
    if sep == "," {
        out.push('}');
    }
    if let Some(mut c) = connection {
        crate::value::truncate(&mut c, 64);
        out.push_str(",\"connection\":");
        json::write_str(&mut out, &c);
    }
    out
}

/// Writes `{"start":…,"userId":…,"ended":…,"props":{…}}`, cutting the properties to
/// [`MAX_SESSION_PROPS_BYTES`]; every property left out is an issue `limit_exceeded`.
pub fn session_json(s: SessionPart, issues: &mut Vec<Issue>) -> String {
    let mut props = s.props;
    shrink_props(&mut props, MAX_SESSION_PROPS_BYTES, issues);
    let mut out = String::from("{\"start\":");
    json::write_i64(&mut out, s.start);
    out.push_str(",\"userId\":");
    write_opt_str(&mut out, s.user_id);
    out.push_str(",\"ended\":");
    write_opt_str(&mut out, s.ended.map(EndReason::code));
    out.push_str(",\"props\":");
    props.write_json(&mut out);
    out.push_str(s.device);
    out.push('}');
    out
}

/// The JSON of an action, at most [`MAX_ACTION_BYTES`]: the largest properties are left out
/// first, each an issue `limit_exceeded`.
pub fn action_json(mut a: crate::agent::action::Action, issues: &mut Vec<Issue>) -> String {
    let out = a.to_json();
    if out.len() <= MAX_ACTION_BYTES {
        return out;
    }
    let fixed = out.len() - props_len(&a.props);
    shrink_props(&mut a.props, MAX_ACTION_BYTES.saturating_sub(fixed), issues);
    let mut out = a.to_json();
    if out.len() > MAX_ACTION_BYTES {
        // Only a huge name or URL is left: cut them too (never split a character).
        crate::value::truncate(&mut a.url, 2_000);
        crate::value::truncate(&mut a.name, 100);
        out = a.to_json();
    }
    out
}

fn write_opt_str(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => json::write_str(out, s),
        None => out.push_str("null"),
    }
}

fn props_len(p: &PropertyMap) -> usize {
    let mut s = String::new();
    p.write_json(&mut s);
    s.len()
}

fn entry_len(k: &str, v: &PropertyValue) -> usize {
    let mut s = String::new();
    json::write_str(&mut s, k);
    v.write_json(&mut s);
    s.len() + 2
}

/// Drops the largest properties until the map's JSON fits `budget` bytes.
fn shrink_props(props: &mut PropertyMap, budget: usize, issues: &mut Vec<Issue>) {
    let mut total = props_len(props);
    while total > budget {
        // The largest entry (of equal ones, the last).
        let mut largest = None;
        let mut most = 0;
        for (i, (k, v)) in props.0.iter().enumerate() {
            let n = entry_len(k, v);
            if n >= most {
                (largest, most) = (Some(i), n);
            }
        }
        let Some((k, v)) = largest.and_then(|i| super::take_at(&mut props.0, i)) else { break };
        total = total.saturating_sub(entry_len(&k, &v));
        issues.push(Issue { key: k, reason: Reason::LimitExceeded });
    }
}

/// Writes one body.
pub fn body(h: &Header, seq: u64, session: &str, actions: &[String], issues: &[Issue], counters: bool) -> String {
    let mut capacity = 256 + session.len();
    for a in actions {
        capacity += a.len() + 1;
    }
    let mut out = String::with_capacity(capacity);
    out.push_str("{\"v\":1,\"app\":");
    json::write_str(&mut out, h.app);
    out.push_str(",\"vid\":");
    write_opt_str(&mut out, h.vid);
    out.push_str(",\"sid\":");
    json::write_str(&mut out, h.sid);
    out.push_str(",\"seq\":");
    json::write_i64(&mut out, i64::try_from(seq).unwrap_or(i64::MAX));
    out.push_str(",\"sentAt\":");
    json::write_i64(&mut out, h.sent_at);
    out.push_str(",\"session\":");
    out.push_str(session);
    out.push_str(",\"actions\":[");
    for (i, a) in actions.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(a);
    }
    out.push_str("],\"issues\":");
    write_issues_json(issues, &mut out);
    if counters && h.faults > 0 {
        out.push_str(",\"faults\":");
        json::write_i64(&mut out, i64::try_from(h.faults).unwrap_or(i64::MAX));
    }
    if counters && h.dropped > 0 {
        out.push_str(",\"dropped\":");
        json::write_i64(&mut out, i64::try_from(h.dropped).unwrap_or(i64::MAX));
    }
    out.push('}');
    out
}

fn issue_len(i: &Issue) -> usize {
    let mut s = String::new();
    write_issues_json(core::slice::from_ref(i), &mut s);
    s.len() - 1
}

/// Packs the actions (in the order given: oldest first for a normal flush, newest first when the
/// page is leaving) and the issues into bodies of at most `limit` bytes (never more than
/// [`MAX_BEACON_BYTES`]), numbered from `first_seq` in the order returned. Each body repeats the session part, so the
/// collector can take any one alone. There is always at least one body.
pub fn build(
    h: &Header,
    session: &str,
    actions: Vec<String>,
    issues: Vec<Issue>,
    limit: usize,
    first_seq: u64,
) -> Vec<String> {
    let limit = limit.min(MAX_BEACON_BYTES);
    // The empty body with the widest seq and both counters: a bound on every body's overhead.
    let wide = Header { faults: u64::MAX, dropped: u64::MAX, ..*h };
    let base = body(&wide, u64::MAX, session, &[], &[], true).len();
    let mut bodies = Vec::new();
    // The next body holds `actions[a..]` up to the cut, then `issues[i..]` up to the cut.
    let (mut a, mut i) = (0, 0);
    let mut size = base;
    for (k, action) in actions.iter().enumerate() {
        if k > a && size + action.len() + 1 > limit {
            push_body(&mut bodies, h, first_seq, session, actions.get(a..k).unwrap_or_default(), &[]);
            a = k;
            size = base;
        }
        size += action.len() + 1;
    }
    for (k, issue) in issues.iter().enumerate() {
        let n = issue_len(issue);
        if (a < actions.len() || k > i) && size + n > limit {
            push_body(
                &mut bodies,
                h,
                first_seq,
                session,
                actions.get(a..).unwrap_or_default(),
                issues.get(i..k).unwrap_or_default(),
            );
            (a, i) = (actions.len(), k);
            size = base;
        }
        size += n;
    }
    if a < actions.len() || i < issues.len() || bodies.is_empty() {
        push_body(
            &mut bodies,
            h,
            first_seq,
            session,
            actions.get(a..).unwrap_or_default(),
            issues.get(i..).unwrap_or_default(),
        );
    }
    bodies
}

/// Appends the next body of a flush (the first one carries the counters).
fn push_body(
    bodies: &mut Vec<String>,
    h: &Header,
    first_seq: u64,
    session: &str,
    actions: &[String],
    issues: &[Issue],
) {
    let seq = first_seq.saturating_add(bodies.len() as u64);
    let text = body(h, seq, session, actions, issues, bodies.is_empty());
    bodies.push(text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::action::{Action, ActionKind};
    use crate::json::{parse, Value};

    fn header() -> Header<'static> {
        Header { app: "easytravel", vid: Some("v1"), sid: "s1", sent_at: 1_732_600_000_000, faults: 0, dropped: 0 }
    }

    fn action(i: usize, pad: usize) -> Action {
        let mut a = Action::new(
            format!("a{i}"),
            ActionKind::Click,
            "click on \"Book\"",
            "https://shop.example/",
            1_000 + i as i64,
        );
        a.props.set("pad", PropertyValue::String("p".repeat(pad)));
        a.finish(2_000 + i as i64);
        a
    }

    #[test]
    fn body_has_the_design_shape() {
        let mut sp = PropertyMap::default();
        sp.set("loyalty_status", PropertyValue::String("Gold".into()));
        sp.set("big", PropertyValue::Long(i64::MAX));
        let mut issues = Vec::new();
        let session = session_json(
            SessionPart { start: 1_732_599_000_000, user_id: Some("alice"), ended: None, props: sp, device: "" },
            &mut issues,
        );
        assert!(issues.is_empty());
        let acts = vec![action(7, 3).to_json()];
        let issues = vec![Issue { key: "price".into(), reason: Reason::NotADouble }];
        let bodies = build(&header(), &session, acts, issues, 16_384, 3);
        assert_eq!(bodies.len(), 1);
        let v = parse(&bodies[0]).unwrap();
        let Value::Object(members) = &v else { panic!() };
        let names: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["v", "app", "vid", "sid", "seq", "sentAt", "session", "actions", "issues"]);
        assert_eq!(v.get("v").unwrap().as_i64(), Some(1));
        assert_eq!(v.get("seq").unwrap().as_i64(), Some(3));
        assert_eq!(v.get("sentAt").unwrap().as_i64(), Some(1_732_600_000_000));
        let s = v.get("session").unwrap();
        assert_eq!(s.get("userId").unwrap().as_str(), Some("alice"));
        assert_eq!(s.get("ended"), Some(&Value::Null));
        assert_eq!(
            s.get("props").unwrap().get("long").unwrap().get("big"),
            Some(&Value::Number("9223372036854775807".into()))
        );
        assert_eq!(
            s.get("props").unwrap().get("string").unwrap().get("loyalty_status").unwrap().as_str(),
            Some("Gold")
        );
        let Value::Array(a) = v.get("actions").unwrap() else { panic!() };
        assert_eq!(a[0].get("id").unwrap().as_str(), Some("a7"));
        let Value::Array(i) = v.get("issues").unwrap() else { panic!() };
        assert_eq!(i[0].get("reason").unwrap().as_str(), Some("not_a_double"));
    }

    #[test]
    fn anonymous_body_has_null_ids_and_counters_once() {
        let h = Header { vid: None, faults: 2, dropped: 1, ..header() };
        let session = session_json(
            SessionPart { start: 0, user_id: None, ended: Some(EndReason::Idle), props: PropertyMap::default(), device: "" },
            &mut Vec::new(),
        );
        let acts: Vec<String> = (0..4).map(|i| action(i, 900).to_json()).collect();
        let bodies = build(&h, &session, acts, vec![], 2_048, 1);
        assert!(bodies.len() >= 2);
        let first = parse(&bodies[0]).unwrap();
        assert_eq!(first.get("vid"), Some(&Value::Null));
        assert_eq!(first.get("session").unwrap().get("ended").unwrap().as_str(), Some("idle"));
        assert_eq!(first.get("faults").unwrap().as_i64(), Some(2));
        assert_eq!(first.get("dropped").unwrap().as_i64(), Some(1));
        let second = parse(&bodies[1]).unwrap();
        assert_eq!(second.get("faults"), None);
        assert_eq!(second.get("session").unwrap().get("start").unwrap().as_i64(), Some(0));
    }

    #[test]
    fn many_actions_split_under_64_kib_without_loss() {
        let acts: Vec<String> = (0..500).map(|i| action(i, 700).to_json()).collect();
        let issues: Vec<Issue> = (0..300).map(|i| Issue { key: format!("k{i}"), reason: Reason::NotFound }).collect();
        let session = session_json(
            SessionPart { start: 0, user_id: Some("u"), ended: None, props: PropertyMap::default(), device: "" },
            &mut Vec::new(),
        );
        let bodies = build(&header(), &session, acts, issues, usize::MAX, 10);
        assert!(bodies.len() > 5);
        let mut ids = Vec::new();
        let mut n_issues = 0;
        for (k, text) in bodies.iter().enumerate() {
            assert!(text.len() <= MAX_BEACON_BYTES, "{}", text.len());
            let v = parse(text).unwrap();
            assert_eq!(v.get("seq").unwrap().as_i64(), Some(10 + k as i64));
            let Value::Array(a) = v.get("actions").unwrap() else { panic!() };
            ids.extend(a.iter().map(|x| x.get("id").unwrap().as_str().unwrap().to_owned()));
            let Value::Array(i) = v.get("issues").unwrap() else { panic!() };
            n_issues += i.len();
        }
        assert_eq!(ids, (0..500).map(|i| format!("a{i}")).collect::<Vec<_>>());
        assert_eq!(n_issues, 300);
    }

    #[test]
    fn a_huge_action_loses_its_largest_properties() {
        let mut a = action(1, 40_000);
        a.props.set("small", PropertyValue::Long(1));
        let mut issues = Vec::new();
        let text = action_json(a, &mut issues);
        assert!(text.len() <= MAX_ACTION_BYTES);
        assert_eq!(issues, vec![Issue { key: "pad".into(), reason: Reason::LimitExceeded }]);
        let v = parse(&text).unwrap();
        assert_eq!(v.get("props").unwrap().get("long").unwrap().get("small").unwrap().as_i64(), Some(1));

        let mut sp = PropertyMap::default();
        for i in 0..30 {
            sp.set(&format!("s{i}"), PropertyValue::String("x".repeat(1_000)));
        }
        let mut issues = Vec::new();
        let s = session_json(SessionPart { start: 0, user_id: None, ended: None, props: sp, device: "" }, &mut issues);
        assert!(s.len() <= MAX_SESSION_PROPS_BYTES + 100);
        assert_eq!(issues.len(), 14, "16 of the 30 one-kilobyte values fit");
        let bodies = build(&header(), &s, vec![text], issues, 1_024, 1);
        assert!(bodies.iter().all(|b| b.len() <= MAX_BEACON_BYTES));
    }
}
