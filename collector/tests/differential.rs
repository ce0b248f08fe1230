//! Differential test of the USQL path: random sessions are ingested into a real SQLite file and
//! random queries are answered twice, by the parser + SQL translation + SQLite, and by the small
//! in-memory evaluator below, written straight from the semantics in collector/README.md
//! (three-valued logic, one row per session unless action fields are selected, WHERE of a
//! usersession query selects sessions, each action condition met by one of the session's
//! actions). The answers must be equal. Besides fields, aggregates and conditions, the random
//! queries use DATETIME histograms, HOUR/MINUTE, arithmetic (integer division rounds), CONDITION,
//! FUNNEL, TOP groups and FILTER, each answered by the evaluator from its own definition. The
//! fields include derived ones (connection type, rage clicks, experience score, server time), which
//! the evaluator computes from the beacons' raw members by the rules in collector/README.md.

use rumprops_collector::beacon::parse_beacon;
use rumprops_collector::store;
use rumprops_collector::usql::{self, QueryOptions};
use serde_json::{json, Value as Json};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// A tiny xorshift generator: reproducible without a crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

#[derive(Debug, Clone, PartialEq)]
enum V {
    I(i64),
    F(f64),
    S(String),
}

impl V {
    fn json(&self) -> Json {
        match self {
            V::I(n) => json!(n),
            V::F(x) => json!(x),
            V::S(s) => json!(s),
        }
    }
    fn num(&self) -> Option<f64> {
        match self {
            V::I(n) => Some(*n as f64),
            V::F(x) => Some(*x),
            V::S(_) => None,
        }
    }
}

fn cmp(a: &V, b: &V) -> Ordering {
    match (a, b) {
        (V::I(x), V::I(y)) => x.cmp(y),
        (V::S(x), V::S(y)) => x.as_bytes().cmp(y.as_bytes()),
        _ => a.num().unwrap_or(0.0).total_cmp(&b.num().unwrap_or(0.0)),
    }
}

#[derive(Debug, Clone)]
struct Action {
    name: String,
    app: String,
    start: i64,
    end: i64,
    errors: i64,
    page: Option<String>,
    items: Option<i64>,
    /// Issue 9 measurements: request/response start (ms from start), LCP, CLS, Apdex, rage clicks.
    request_start: Option<i64>,
    response_start: Option<i64>,
    lcp: Option<i64>,
    cls: Option<f64>,
    apdex: Option<&'static str>,
    rage: i64,
}

#[derive(Debug, Clone)]
struct Session {
    sid: String,
    user: Option<String>,
    start: i64,
    tier: Option<String>,
    score: Option<i64>,
    big: Option<i64>,
    ratio: Option<f64>,
    screen_width: Option<i64>,
    connection: Option<&'static str>,
    actions: Vec<Action>,
}

const WORDS: &[&str] = &["Gold", "Silver", "gold", "G_ld", "a%b", "Go", "\"q'"];
const NAMES: &[&str] = &["click on Book", "click on Buy", "load /", "route /offers", "Click on book"];
const APPS: &[&str] = &["easytravel", "shop"];
const T0: i64 = 1_700_000_000_000;

fn gen_sessions(rng: &mut Rng, n: usize) -> Vec<Session> {
    (0..n)
        .map(|i| {
            let start = T0 + rng.below(1000) as i64 * 1000;
            let actions = (0..rng.below(5))
                .map(|_| {
                    let s = start + rng.below(100_000) as i64;
                    Action {
                        name: rng.pick(NAMES).to_owned(),
                        app: rng.pick(APPS).to_owned(),
                        start: s,
                        end: s + rng.below(5000) as i64,
                        errors: rng.below(4) as i64,
                        page: rng.chance(60).then(|| rng.pick(WORDS).to_owned()),
                        items: rng.chance(70).then(|| rng.below(7) as i64 - 3),
                        request_start: rng.chance(60).then(|| rng.below(50) as i64),
                        response_start: rng.chance(60).then(|| 50 + rng.below(250) as i64),
                        lcp: rng.chance(50).then(|| rng.below(3000) as i64),
                        cls: rng.chance(50).then(|| rng.pick(&[0.0, 0.05, 0.1, 0.25, 1.5])),
                        apdex: rng.chance(80).then(|| rng.pick(&["SATISFIED", "TOLERATING", "FRUSTRATED"])),
                        rage: rng.pick(&[0, 0, 0, 1, 2]),
                    }
                })
                .collect();
            Session {
                sid: format!("s{i}"),
                user: rng.chance(70).then(|| rng.pick(&["alice", "bob", "carol"]).to_owned()),
                start,
                tier: rng.chance(75).then(|| rng.pick(WORDS).to_owned()),
                score: rng.chance(70).then(|| rng.below(9) as i64 - 4),
                big: rng.chance(50).then(|| rng.pick(&[i64::MAX, i64::MIN, 0, 9_007_199_254_740_993])),
                ratio: rng.chance(70).then(|| rng.pick(&[-1.5, 0.0, 0.25, 2.5, 1e10])),
                screen_width: rng.chance(70).then(|| rng.pick(&[0, 390, 1280, 1920])),
                connection: rng.chance(70).then(|| rng.pick(&["wifi", "ethernet", "cellular", "none", "unknown", "bluetooth"])),
                actions,
            }
        })
        .collect()
}

fn beacon_of(s: &Session) -> String {
    let mut props = json!({"string": {}, "long": {}, "double": {}});
    if let Some(t) = &s.tier {
        props["string"]["tier"] = json!(t);
    }
    if let Some(n) = s.score {
        props["long"]["score"] = json!(n);
    }
    if let Some(n) = s.big {
        props["long"]["big"] = json!(n);
    }
    if let Some(x) = s.ratio {
        props["double"]["ratio"] = json!(x);
    }
    let actions: Vec<Json> = s
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut p = json!({"string": {}, "long": {}});
            if let Some(v) = &a.page {
                p["string"]["page"] = json!(v);
            }
            if let Some(n) = a.items {
                p["long"]["items"] = json!(n);
            }
            let mut timings = json!({});
            for (k, v) in [("requestStart", a.request_start), ("responseStart", a.response_start), ("largestContentfulPaint", a.lcp)] {
                if let Some(v) = v {
                    timings[k] = json!(v);
                }
            }
            if let Some(x) = a.cls {
                timings["cumulativeLayoutShift"] = json!(x);
            }
            let mut out = json!({"id": format!("a{i}"), "kind": "click", "name": a.name, "start": a.start, "end": a.end,
                   "url": "https://x/", "requests": a.errors, "requestErrors": a.errors, "jsErrors": 0, "props": p,
                   "timings": timings, "rageClicks": a.rage});
            if let Some(c) = a.apdex {
                out["apdex"] = json!(c);
            }
            out
        })
        .collect();
    let mut screen = json!({});
    if let Some(w) = s.screen_width {
        screen["width"] = json!(w);
    }
    // Beacons are split by app: the collector takes `application` from the beacon's `app`.
    let mut beacon = json!({"v": 1, "app": "unused", "sid": s.sid, "seq": 0, "sentAt": T0, "session": {"start": s.start, "userId": s.user,
           "ended": "end_session", "props": props, "screen": screen}, "actions": actions});
    if let Some(c) = s.connection {
        beacon["session"]["connection"] = json!(c);
    }
    beacon.to_string()
}

/// A field the generator uses: its USQL text per table, whose it is, and its kind.
#[derive(Debug, Clone, Copy, PartialEq)]
enum F {
    UserId,
    ActionCount,
    Start,
    Tier,
    Score,
    Big,
    Ratio,
    Name,
    App,
    Errors,
    ADuration,
    Page,
    Items,
    ScreenWidth,
    ConnectionType,
    RageClicks,
    Experience,
    RequestStart,
    ServerTime,
    Lcp,
    Cls,
    Apdex,
}

const SESSION_FIELDS: &[F] =
    &[F::UserId, F::ActionCount, F::Start, F::Tier, F::Score, F::Big, F::Ratio, F::ScreenWidth, F::ConnectionType, F::RageClicks, F::Experience];
const ACTION_FIELDS: &[F] = &[F::Name, F::App, F::Errors, F::ADuration, F::Page, F::Items, F::RequestStart, F::ServerTime, F::Lcp, F::Cls, F::Apdex];

/// `connectionType` as collector/README.md defines it.
fn connection_type(raw: Option<&str>) -> &'static str {
    match raw {
        Some("wifi") => "WIFI",
        Some("ethernet") => "LAN",
        Some("cellular" | "bluetooth" | "wimax") => "MOBILE",
        Some("none") => "OFFLINE",
        _ => "UNKNOWN",
    }
}

/// `userExperienceScore` as collector/README.md defines it: rated actions are elements of their
/// category, JS errors (none here) and rage clicks frustrating elements; UNDEFINED without any;
/// FRUSTRATED when the last action (by start, then by order) is or >= 30 % are frustrating;
/// SATISFIED when none is and >= 50 % satisfy; else TOLERATED.
fn experience(s: &Session) -> &'static str {
    let rated = |c: &str| s.actions.iter().filter(|a| a.apdex == Some(c)).count() as i64;
    let f = rated("FRUSTRATED") + s.actions.iter().map(|a| a.rage).sum::<i64>();
    let total = f + rated("TOLERATING") + rated("SATISFIED");
    // Ties on start go to the action stored last: beacons are sent per application, in APPS order.
    let stored = |i: usize, a: &Action| (a.start, APPS.iter().position(|p| *p == a.app), i);
    let last = s.actions.iter().enumerate().max_by_key(|(i, a)| stored(*i, a)).map(|(_, a)| a);
    if total == 0 {
        "UNDEFINED"
    } else if last.is_some_and(|a| a.apdex == Some("FRUSTRATED")) || f * 100 >= 30 * total {
        "FRUSTRATED"
    } else if f == 0 && rated("SATISFIED") * 100 >= 50 * total {
        "SATISFIED"
    } else {
        "TOLERATED"
    }
}

impl F {
    fn is_action(self) -> bool {
        ACTION_FIELDS.contains(&self)
    }
    fn is_text(self) -> bool {
        matches!(self, F::UserId | F::Tier | F::Name | F::App | F::Page | F::ConnectionType | F::Experience | F::Apdex)
    }
    /// The field written for a query over `from` ("usersession" or "useraction").
    fn usql(self, from: &str, rng: &mut Rng) -> String {
        let base = match self {
            F::UserId => "userId",
            F::ActionCount => "userActionCount",
            F::Start => "startTime",
            F::Tier => "stringProperties.tier",
            F::Score => "longProperties.score",
            F::Big => "longProperties.big",
            F::Ratio => "doubleProperties.ratio",
            F::Name => "name",
            F::App => "application",
            F::Errors => "requestErrorCount",
            F::ADuration => "duration",
            F::Page => "stringProperties.page",
            F::Items => "longProperties.items",
            F::ScreenWidth => "screenWidth",
            F::ConnectionType => "connectionType",
            F::RageClicks => "numberOfRageClicks",
            F::Experience => "userExperienceScore",
            F::RequestStart => "requestStart",
            F::ServerTime => "serverTime",
            F::Lcp => "largestContentfulPaint",
            F::Cls => "cumulativeLayoutShift",
            F::Apdex => "apdexCategory",
        };
        let own = (from == "useraction") == self.is_action();
        match (own, self.is_action()) {
            (true, true) if rng.chance(30) => format!("useraction.{base}"),
            (true, false) if rng.chance(30) => format!("usersession.{base}"),
            (true, _) => base.to_owned(),
            (false, true) => format!("useraction.{base}"),
            (false, false) => format!("usersession.{base}"),
        }
    }
    fn value(self, s: &Session, a: Option<&Action>) -> Option<V> {
        match self {
            F::UserId => s.user.clone().map(V::S),
            F::ActionCount => Some(V::I(s.actions.len() as i64)),
            F::Start => Some(V::I(s.start)),
            F::Tier => s.tier.clone().map(V::S),
            F::Score => s.score.map(V::I),
            F::Big => s.big.map(V::I),
            F::Ratio => s.ratio.map(V::F),
            F::Name => a.map(|a| V::S(a.name.clone())),
            F::App => a.map(|a| V::S(a.app.clone())),
            F::Errors => a.map(|a| V::I(a.errors)),
            F::ADuration => a.map(|a| V::I(a.end - a.start)),
            F::Page => a.and_then(|a| a.page.clone()).map(V::S),
            F::Items => a.and_then(|a| a.items).map(V::I),
            F::ScreenWidth => s.screen_width.map(V::I),
            F::ConnectionType => Some(V::S(connection_type(s.connection).to_owned())),
            F::RageClicks => Some(V::I(s.actions.iter().map(|a| a.rage).sum())),
            F::Experience => Some(V::S(experience(s).to_owned())),
            F::RequestStart => a.and_then(|a| a.request_start).map(V::I),
            F::ServerTime => a.and_then(|a| Some(a.response_start? - a.request_start?)).map(V::I),
            F::Lcp => a.and_then(|a| a.lcp).map(V::I),
            F::Cls => a.and_then(|a| a.cls).map(V::F),
            F::Apdex => a.map(|a| V::S(a.apdex.unwrap_or("UNKNOWN").to_owned())),
        }
    }
    fn literal(self, rng: &mut Rng) -> (String, V) {
        match self {
            F::UserId => {
                let w = rng.pick(&["alice", "bob", "carol", "dave"]);
                (format!("'{w}'"), V::S(w.to_owned()))
            }
            F::Name => {
                let w = rng.pick(NAMES);
                (format!("\"{w}\""), V::S(w.to_owned()))
            }
            F::App => {
                let w = rng.pick(APPS);
                (format!("'{w}'"), V::S(w.to_owned()))
            }
            F::Tier | F::Page => {
                let w = rng.pick(WORDS);
                // Both quote styles, with the quote doubled inside.
                if rng.chance(50) {
                    (format!("'{}'", w.replace('\'', "''")), V::S(w.to_owned()))
                } else {
                    (format!("\"{}\"", w.replace('"', "\"\"")), V::S(w.to_owned()))
                }
            }
            F::Big => {
                let n = rng.pick(&[i64::MAX, i64::MIN, 0, 9_007_199_254_740_992, 9_007_199_254_740_993]);
                (n.to_string(), V::I(n))
            }
            F::Ratio => {
                let x = rng.pick(&[-1.5, 0.0, 0.25, 1.0, 2.5]);
                (format!("{x:?}"), V::F(x))
            }
            F::Start => {
                let n = T0 + rng.below(1000) as i64 * 1000;
                (n.to_string(), V::I(n))
            }
            F::ConnectionType | F::Experience | F::Apdex => {
                let words: &[&str] = match self {
                    F::ConnectionType => &["WIFI", "LAN", "MOBILE", "OFFLINE", "UNKNOWN", "wifi"],
                    F::Experience => &["SATISFIED", "TOLERATED", "FRUSTRATED", "UNDEFINED"],
                    _ => &["SATISFIED", "TOLERATING", "FRUSTRATED", "UNKNOWN"],
                };
                let w = rng.pick(words);
                (format!("'{w}'"), V::S(w.to_owned()))
            }
            F::ScreenWidth => {
                let n = rng.pick(&[0, 390, 1000, 1280, 1920]);
                (n.to_string(), V::I(n))
            }
            F::RequestStart | F::ServerTime | F::Lcp => {
                let n = rng.below(300) as i64 * 10 - 100;
                (n.to_string(), V::I(n))
            }
            F::Cls => {
                let x = rng.pick(&[0.0, 0.05, 0.1, 0.3]);
                (format!("{x:?}"), V::F(x))
            }
            _ => {
                let n = rng.below(9) as i64 - 4;
                (n.to_string(), V::I(n))
            }
        }
    }
}

/// A generated condition, evaluated with SQL's three-valued logic (`None` is unknown).
#[derive(Debug, Clone)]
enum C {
    And(Box<C>, Box<C>),
    Or(Box<C>, Box<C>),
    Not(Box<C>),
    Cmp(F, &'static str, V),
    In(F, Vec<V>, bool),
    IsNull(F, bool),
    Like(F, String, bool),
    Starts(F, String, bool),
    Between(F, V, V, bool),
}

fn gen_cond(rng: &mut Rng, fields: &[F], from: &str, depth: u32) -> (String, C) {
    if depth > 0 && rng.chance(45) {
        let (a, ca) = gen_cond(rng, fields, from, depth - 1);
        let (b, cb) = gen_cond(rng, fields, from, depth - 1);
        return match rng.below(3) {
            0 => (format!("({a} AND {b})"), C::And(Box::new(ca), Box::new(cb))),
            1 => (format!("({a} or {b})"), C::Or(Box::new(ca), Box::new(cb))),
            _ => (format!("NOT ({a})"), C::Not(Box::new(ca))),
        };
    }
    let f = rng.pick(fields);
    let name = f.usql(from, rng);
    let not = rng.chance(30);
    let nt = if not { "NOT " } else { "" };
    match rng.below(6) {
        0 | 1 => {
            let op = rng.pick(&["=", "!=", "<", "<=", ">", ">="]);
            let (text, v) = f.literal(rng);
            let written = if op == "!=" && rng.chance(50) { "<>" } else { op };
            (format!("{name} {written} {text}"), C::Cmp(f, op, v))
        }
        2 => {
            let items: Vec<(String, V)> = (0..1 + rng.below(3)).map(|_| f.literal(rng)).collect();
            let text: Vec<String> = items.iter().map(|(t, _)| t.clone()).collect();
            (format!("{name} {nt}IN ({})", text.join(", ")), C::In(f, items.into_iter().map(|(_, v)| v).collect(), not))
        }
        3 => (format!("{name} IS {nt}NULL"), C::IsNull(f, not)),
        4 if f.is_text() => {
            let pat = rng.pick(&["G%", "%ld", "G?ld", "%", "a\\%b", "*o*", "click on B%", "%book"]);
            if rng.chance(50) {
                (format!("{name} {nt}LIKE '{pat}'"), C::Like(f, pat.to_owned(), not))
            } else {
                let prefix = rng.pick(&["G", "Go", "click on B", "", "a%"]);
                (format!("{name} {nt}STARTSWITH '{prefix}'"), C::Starts(f, prefix.to_owned(), not))
            }
        }
        _ => {
            let (lo_t, lo) = f.literal(rng);
            let (hi_t, hi) = f.literal(rng);
            (format!("{name} {nt}BETWEEN {lo_t} AND {hi_t}"), C::Between(f, lo, hi, not))
        }
    }
}

fn like(v: &[char], p: &[char]) -> bool {
    match p.split_first() {
        None => v.is_empty(),
        Some(('%' | '*', rest)) => (0..=v.len()).any(|i| like(&v[i..], rest)),
        Some(('\\', rest)) => match rest.split_first() {
            Some((c, rest)) => v.first() == Some(c) && like(&v[1..], rest),
            None => v.first() == Some(&'\\') && like(&v[1..], &[]),
        },
        Some(('?', rest)) => !v.is_empty() && like(&v[1..], rest),
        Some((c, rest)) => v.first() == Some(c) && like(&v[1..], rest),
    }
}

fn eval(c: &C, s: &Session, a: Option<&Action>) -> Option<bool> {
    let not = |negated: bool, r: Option<bool>| if negated { r.map(|b| !b) } else { r };
    match c {
        C::And(x, y) => match (eval(x, s, a), eval(y, s, a)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        C::Or(x, y) => match (eval(x, s, a), eval(y, s, a)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        C::Not(x) => eval(x, s, a).map(|b| !b),
        C::Cmp(f, op, lit) => {
            let v = f.value(s, a)?;
            let o = cmp(&v, lit);
            Some(match *op {
                "=" => o == Ordering::Equal,
                "!=" => o != Ordering::Equal,
                "<" => o == Ordering::Less,
                "<=" => o != Ordering::Greater,
                ">" => o == Ordering::Greater,
                _ => o != Ordering::Less,
            })
        }
        C::In(f, list, negated) => {
            let v = f.value(s, a)?;
            not(*negated, Some(list.iter().any(|l| cmp(&v, l) == Ordering::Equal)))
        }
        C::IsNull(f, is_not) => Some(f.value(s, a).is_none() != *is_not),
        C::Like(f, p, negated) => match f.value(s, a)? {
            V::S(t) => not(*negated, Some(like(&t.chars().collect::<Vec<_>>(), &p.chars().collect::<Vec<_>>()))),
            _ => None,
        },
        C::Starts(f, p, negated) => match f.value(s, a)? {
            V::S(t) => not(*negated, Some(t.starts_with(p.as_str()))),
            _ => None,
        },
        C::Between(f, lo, hi, negated) => {
            let v = f.value(s, a)?;
            not(*negated, Some(cmp(&v, lo) != Ordering::Less && cmp(&v, hi) != Ordering::Greater))
        }
    }
}

/// The rows a query sees: (session, action) pairs; a session without actions gives one pair
/// with no action when the query is per action over usersession.
fn pairs<'a>(sessions: &'a [Session], from: &str, per_action: bool) -> Vec<(&'a Session, Option<&'a Action>)> {
    let mut out = Vec::new();
    for s in sessions {
        if from == "useraction" {
            out.extend(s.actions.iter().map(|a| (s, Some(a))));
        } else if per_action {
            if s.actions.is_empty() {
                out.push((s, None));
            }
            out.extend(s.actions.iter().map(|a| (s, Some(a))));
        } else {
            out.push((s, None));
        }
    }
    out
}

/// A condition on a session (`FROM usersession`): each leaf on an action field holds when one
/// of the session's actions meets it, or, for a session without actions, when it holds with
/// the action fields NULL.
fn eval_session(c: &C, s: &Session) -> Option<bool> {
    let leaf_is_action = |f: &F| f.is_action();
    match c {
        C::And(x, y) => match (eval_session(x, s), eval_session(y, s)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        C::Or(x, y) => match (eval_session(x, s), eval_session(y, s)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        C::Not(x) => eval_session(x, s).map(|b| !b),
        C::Cmp(f, ..) | C::In(f, ..) | C::IsNull(f, _) | C::Like(f, ..) | C::Starts(f, ..) | C::Between(f, ..) if leaf_is_action(f) => {
            if s.actions.is_empty() {
                eval(c, s, None)
            } else {
                Some(s.actions.iter().any(|a| eval(c, s, Some(a)) == Some(true)))
            }
        }
        leaf => eval(leaf, s, None),
    }
}

/// Whether a row passes WHERE: `FROM usersession` selects sessions (all their rows stay),
/// `FROM useraction` tests the action row.
fn matches(c: Option<&C>, s: &Session, a: Option<&Action>, from: &str, _per_action: bool) -> bool {
    let Some(c) = c else { return true };
    if from == "usersession" {
        return eval_session(c, s) == Some(true);
    }
    eval(c, s, a) == Some(true)
}

fn percentile(mut xs: Vec<f64>, p: f64) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let rank = p / 100.0 * (xs.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    Some(xs[lo] + (xs[hi] - xs[lo]) * (rank - lo as f64))
}

fn aggregate(func: &str, vals: &[Option<V>]) -> Json {
    let present: Vec<&V> = vals.iter().flatten().collect();
    match func {
        "COUNT" => json!(present.len()),
        "SUM" if present.is_empty() => Json::Null,
        "SUM" if present.iter().all(|v| matches!(v, V::I(_))) => {
            json!(present.iter().map(|v| if let V::I(n) = v { *n } else { 0 }).sum::<i64>())
        }
        "SUM" => json!(present.iter().filter_map(|v| v.num()).sum::<f64>()),
        "AVG" if present.is_empty() => Json::Null,
        "AVG" => json!(present.iter().filter_map(|v| v.num()).sum::<f64>() / present.len() as f64),
        "MIN" => present.iter().min_by(|a, b| cmp(a, b)).map_or(Json::Null, |v| v.json()),
        "MAX" => present.iter().max_by(|a, b| cmp(a, b)).map_or(Json::Null, |v| v.json()),
        "MEDIAN" => percentile(present.iter().filter_map(|v| v.num()).collect(), 50.0).map_or(Json::Null, |x| json!(x)),
        _ => percentile(present.iter().filter_map(|v| v.num()).collect(), 90.0).map_or(Json::Null, |x| json!(x)),
    }
}

fn numbers_equal(a: &Json, b: &Json) -> bool {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => x == y,
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
            _ => a == b,
        },
    }
}

fn sort_key(row: &[Json]) -> String {
    row.iter()
        .map(|v| match (v.as_i64(), v.as_f64()) {
            (Some(n), _) => format!("i{n}"),
            (None, Some(x)) => format!("f{x:.6e}"),
            _ => v.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\u{1}")
}

fn same_rows(mut a: Vec<Vec<Json>>, mut b: Vec<Vec<Json>>) -> bool {
    a.sort_by_key(|r| sort_key(r));
    b.sort_by_key(|r| sort_key(r));
    a.len() == b.len()
        && a.iter().zip(&b).all(|(x, y)| x.len() == y.len() && x.iter().zip(y).all(|(u, v)| numbers_equal(u, v)))
}

/// Queries per round (four rounds).
const QUERIES_PER_ROUND: usize = 250;

/// `HH:mm`-style text of a time bucket, computed here from the ms (the data lies in one UTC day).
fn clock(ms: i64, size: i64, fmt: &str) -> String {
    let b = ms.div_euclid(size) * size;
    let day = b.rem_euclid(86_400_000);
    let (h, m, s) = (day / 3_600_000, day / 60_000 % 60, day / 1000 % 60);
    match fmt {
        "HH:mm" => format!("{h:02}:{m:02}"),
        "HH:mm:ss" => format!("{h:02}:{m:02}:{s:02}"),
        "mm" => format!("{m:02}"),
        _ => format!("{h:02}"),
    }
}

/// SQLite's order of values in ORDER BY: NULL first, then by value.
fn order(a: &Option<V>, b: &Option<V>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, _) => Ordering::Less,
        (_, None) => Ordering::Greater,
        (Some(x), Some(y)) => cmp(x, y),
    }
}

/// A row a query sees: a session and, per action, the action.
type Row<'a> = (&'a Session, Option<&'a Action>);

/// Groups the rows by `key`, in a map from the key's text to (key, rows).
fn group_rows<'a>(rows: Vec<Row<'a>>, key: impl Fn(&Session, Option<&Action>) -> Option<V>) -> BTreeMap<String, (Option<V>, Vec<Row<'a>>)> {
    let mut groups: BTreeMap<String, (Option<V>, Vec<_>)> = BTreeMap::new();
    for (s, a) in rows {
        let k = key(s, a);
        groups.entry(format!("{k:?}")).or_insert((k, Vec::new())).1.push((s, a));
    }
    groups
}

/// A query with one of the functions beyond plain aggregates, and its answer computed here.
fn function_query(rng: &mut Rng, kind: &str, sessions: &[Session], from: &str, where_text: &str, cond: Option<&C>) -> (String, Vec<Vec<Json>>) {
    let all: Vec<F> = SESSION_FIELDS.iter().chain(ACTION_FIELDS).copied().collect();
    let matching = |per_action: bool| -> Vec<(&Session, Option<&Action>)> {
        pairs(sessions, from, per_action).into_iter().filter(|(s, a)| matches(cond, s, *a, from, per_action)).collect()
    };
    let count = |n: usize| json!(n);
    match kind {
        "DATETIME" | "HOUR" => {
            let start = F::Start.usql(from, rng);
            let (call, size, fmt) = if kind == "HOUR" {
                let (f, size, fmt) = rng.pick(&[("HOUR", 3_600_000, "HH"), ("MINUTE", 60_000, "mm")]);
                (format!("{f}({start})"), size, fmt)
            } else {
                let (fmt, iv, size) = rng.pick(&[("HH:mm", "1m", 60_000), ("HH:mm", "5m", 300_000), ("HH:mm:ss", "10s", 10_000), ("HH", "1h", 3_600_000)]);
                (format!("DATETIME({start}, '{fmt}', '{iv}')"), size, fmt)
            };
            let q = format!("SELECT {call}, COUNT(*) FROM {from}{where_text} GROUP BY {call} LIMIT 5000");
            let groups = group_rows(matching(false), |s, _| Some(V::S(clock(s.start, size, fmt))));
            let rows = groups
                .into_values()
                .map(|(k, rows)| {
                    let text = match k {
                        Some(V::S(t)) => t,
                        _ => String::new(),
                    };
                    // HOUR and MINUTE are numbers; DATETIME is text.
                    let key = if call.starts_with("DATETIME") { json!(text) } else { json!(text.parse::<i64>().unwrap_or(0)) };
                    vec![key, count(rows.len())]
                })
                .collect();
            (q, rows)
        }
        "arithmetic" => {
            let numeric: Vec<F> = all.iter().copied().filter(|f| !f.is_text() && *f != F::Big).collect();
            let x = rng.pick(&numeric);
            let op = rng.pick(&["+", "-", "*", "/", "%", "MOD"]);
            let float = op != "%" && op != "MOD" && rng.chance(25);
            let n = 1 + rng.below(4) as i64;
            let lit = if float { format!("{n}.5") } else { n.to_string() };
            let per_action = from == "useraction" || x.is_action();
            let q = format!("SELECT {} {op} {lit} FROM {from}{where_text} LIMIT 5000", x.usql(from, rng));
            let rows = matching(per_action)
                .into_iter()
                .map(|(s, a)| {
                    let v = x.value(s, a);
                    let out = match (v, float) {
                        (None, _) => Json::Null,
                        (Some(V::I(v)), false) => match op {
                            "+" => json!(v + n),
                            "-" => json!(v - n),
                            "*" => json!(v * n),
                            "/" => json!((v as f64 / n as f64).round() as i64),
                            _ => json!(v % n),
                        },
                        (Some(v), _) => {
                            let (v, m) = (v.num().unwrap_or(0.0), if float { n as f64 + 0.5 } else { n as f64 });
                            match op {
                                "+" => json!(v + m),
                                "-" => json!(v - m),
                                "*" => json!(v * m),
                                "/" => json!(v / m),
                                _ => json!(v % m),
                            }
                        }
                    };
                    vec![out]
                })
                .collect();
            (q, rows)
        }
        "CONDITION" => {
            let (c2_text, c2) = gen_cond(rng, &all, from, 1);
            let holds = |s: &Session, a: Option<&Action>| if from == "usersession" { eval_session(&c2, s) == Some(true) } else { eval(&c2, s, a) == Some(true) };
            if rng.chance(50) {
                let q = format!("SELECT CONDITION(COUNT(*), WHERE {c2_text}) FROM {from}{where_text}");
                let n = matching(false).into_iter().filter(|(s, a)| holds(s, *a)).count();
                (q, vec![vec![count(n)]])
            } else {
                let keys: &[F] = if from == "usersession" { SESSION_FIELDS } else { &all };
                let g = rng.pick(keys);
                let gt = g.usql(from, rng);
                let q = format!("SELECT {gt}, CONDITION(COUNT(*), WHERE {c2_text}) FROM {from}{where_text} GROUP BY {gt} LIMIT 5000");
                let rows = group_rows(matching(false), |s, a| g.value(s, a))
                    .into_values()
                    .map(|(k, rows)| vec![k.map_or(Json::Null, |v| v.json()), count(rows.iter().filter(|(s, a)| holds(s, *a)).count())])
                    .collect();
                (q, rows)
            }
        }
        "FUNNEL" => {
            let (t1, c1) = gen_cond(rng, &all, from, 1);
            let (t2, c2) = gen_cond(rng, &all, from, 1);
            let both = C::And(Box::new(c1.clone()), Box::new(c2));
            let holds = |c: &C, s: &Session, a: Option<&Action>| if from == "usersession" { eval_session(c, s) == Some(true) } else { eval(c, s, a) == Some(true) };
            let q = format!("SELECT FUNNEL({t1} AS \"first\", {t2}) FROM {from}{where_text}");
            let rows = matching(false);
            let n1 = rows.iter().filter(|(s, a)| holds(&c1, s, *a)).count();
            let n2 = rows.iter().filter(|(s, a)| holds(&both, s, *a)).count();
            (q, vec![vec![count(n1), count(n2)]])
        }
        "TOP" => {
            let g = rng.pick(&all);
            let k = 1 + rng.below(3);
            let gt = g.usql(from, rng);
            let per_action = from == "useraction" || g.is_action();
            let q = format!("SELECT TOP({gt}, {k}), COUNT(*) FROM {from}{where_text} GROUP BY TOP({gt}, {k}) LIMIT 5000");
            let mut groups: Vec<(Option<V>, usize)> =
                group_rows(matching(per_action), |s, a| g.value(s, a)).into_values().map(|(key, rows)| (key, rows.len())).collect();
            groups.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| order(&a.0, &b.0)));
            let rows = groups.into_iter().take(k).map(|(key, n)| vec![key.map_or(Json::Null, |v| v.json()), count(n)]).collect();
            (q, rows)
        }
        _ => {
            let g = rng.pick(&all);
            let gt = g.usql(from, rng);
            let per_action = from == "useraction" || g.is_action();
            let q = format!("SELECT {gt}, COUNT(*) FILTER > 1 FROM {from}{where_text} GROUP BY {gt} LIMIT 5000");
            let rows = group_rows(matching(per_action), |s, a| g.value(s, a))
                .into_values()
                .filter(|(_, rows)| rows.len() > 1)
                .map(|(key, rows)| vec![key.map_or(Json::Null, |v| v.json()), count(rows.len())])
                .collect();
            (q, rows)
        }
    }
}

#[test]
fn sql_path_agrees_with_the_in_memory_evaluator() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut checked = 0;
    let mut nontrivial = 0;
    let mut grouped_without_actions = 0;
    let mut split_groups = 0;
    let mut functions: BTreeMap<&str, usize> = BTreeMap::new();
    for round in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = store::open(&dir.path().join("d.db")).unwrap();
        let sessions = gen_sessions(&mut rng, 30 + round * 10);
        for s in &sessions {
            // One beacon per application, so each action carries its app.
            for (seq, app) in APPS.iter().enumerate() {
                let mut only = s.clone();
                only.actions.retain(|a| a.app == *app);
                let text = beacon_of(&only).replace("\"app\":\"unused\"", &format!("\"app\":\"{app}\""));
                let mut b = parse_beacon(text.as_bytes()).unwrap();
                b.seq = seq as i64;
                for (i, a) in b.actions.iter_mut().enumerate() {
                    a.id = format!("{app}{i}");
                }
                store::ingest(&mut conn, &b, None, 0).unwrap();
            }
        }
        let mut opts = QueryOptions::now(0);
        opts.include_live = true;
        for _ in 0..QUERIES_PER_ROUND {
            let from = if rng.chance(50) { "usersession" } else { "useraction" };
            let all: Vec<F> = SESSION_FIELDS.iter().chain(ACTION_FIELDS).copied().collect();
            let shape = rng.below(5);
            // Grouped queries often filter on session fields only, as dashboards do.
            let where_fields: &[F] = if shape == 1 && rng.chance(50) { SESSION_FIELDS } else { &all };
            let (where_text, cond) = if rng.chance(85) {
                let (t, c) = gen_cond(&mut rng, where_fields, from, 2);
                (format!(" WHERE {t}"), Some(c))
            } else {
                (String::new(), None)
            };
            let (query, expected) = match shape {
                0 => {
                    let q = format!("SELECT COUNT(*) FROM {from}{where_text}");
                    let n = pairs(&sessions, from, false)
                        .into_iter()
                        .filter(|(s, a)| matches(cond.as_ref(), s, *a, from, false))
                        .count();
                    (q, vec![vec![json!(n)]])
                }
                1 => {
                    let g = rng.pick(&all);
                    let func = rng.pick(&["COUNT", "COUNT", "COUNT*", "SUM", "SUM", "AVG", "MIN", "MAX", "MEDIAN", "PERCENTILE"]);
                    let numeric: Vec<F> = all.iter().copied().filter(|f| !f.is_text() && *f != F::Big).collect();
                    let x = match func {
                        "COUNT" if rng.chance(40) => rng.pick(&[F::Errors, F::Name, F::ADuration]),
                        "SUM" if rng.chance(40) => rng.pick(&[F::Errors, F::ADuration]),
                        "COUNT" | "MIN" | "MAX" => rng.pick(&all),
                        _ => rng.pick(&numeric),
                    };
                    // COUNT(*) takes no field: it counts rows, per action only when the group is.
                    let x_counts = func != "COUNT*";
                    let per_action = from == "useraction" || g.is_action() || (x_counts && x.is_action());
                    let gtext = g.usql(from, &mut rng);
                    let xtext = x.usql(from, &mut rng);
                    let call = match func {
                        "PERCENTILE" => format!("PERCENTILE({xtext}, 90)"),
                        "COUNT*" => "COUNT(*)".to_owned(),
                        _ => format!("{func}({xtext})"),
                    };
                    let q = format!("SELECT {gtext}, {call} FROM {from}{where_text} GROUP BY {gtext} LIMIT 5000");
                    let mut groups: BTreeMap<String, (Option<V>, Vec<Option<V>>)> = BTreeMap::new();
                    for (s, a) in pairs(&sessions, from, per_action) {
                        if matches(cond.as_ref(), s, a, from, per_action) {
                            let k = g.value(s, a);
                            let e = groups.entry(format!("{k:?}")).or_insert((k, Vec::new()));
                            e.1.push(if x_counts { x.value(s, a) } else { Some(V::I(1)) });
                        }
                    }
                    let rows = groups
                        .into_values()
                        .map(|(k, vals)| vec![k.map_or(Json::Null, |v| v.json()), aggregate(func.trim_end_matches('*'), &vals)])
                        .collect();
                    (q, rows)
                }
                3 | 4 => {
                    let kind = rng.pick(&["DATETIME", "HOUR", "arithmetic", "CONDITION", "FUNNEL", "TOP", "FILTER"]);
                    *functions.entry(kind).or_default() += 1;
                    function_query(&mut rng, kind, &sessions, from, &where_text, cond.as_ref())
                }
                _ => {
                    let f1 = rng.pick(&all);
                    let f2 = rng.pick(&all);
                    let per_action = from == "useraction" || f1.is_action() || f2.is_action();
                    let q = format!("SELECT {}, {} FROM {from}{where_text} LIMIT 5000", f1.usql(from, &mut rng), f2.usql(from, &mut rng));
                    let rows = pairs(&sessions, from, per_action)
                        .into_iter()
                        .filter(|(s, a)| matches(cond.as_ref(), s, *a, from, per_action))
                        .map(|(s, a)| vec![f1.value(s, a).map_or(Json::Null, |v| v.json()), f2.value(s, a).map_or(Json::Null, |v| v.json())])
                        .collect();
                    (q, rows)
                }
            };
            let got = usql::run(&conn, &query, &opts).unwrap_or_else(|e| panic!("{query}: {e}"));
            let sql = usql::sqlite::translate(&usql::parser::parse(&query).unwrap(), &opts).sql;
            let select_part = query.split(" FROM ").next().unwrap_or("");
            if query.contains("FROM usersession") && select_part.contains("useraction.") && !sql.contains("actions a") {
                grouped_without_actions += 1;
            }
            if sql.contains(" UNION ALL ") {
                split_groups += 1;
            }
            assert!(
                same_rows(got.values.clone(), expected.clone()),
                "round {round}: {query}\n sql: {:?}\nmemory: {:?}",
                got.values,
                expected
            );
            checked += 1;
            if !expected.is_empty() && expected != vec![vec![json!(0)]] {
                nontrivial += 1;
            }
        }
    }
    assert_eq!(checked, 4 * QUERIES_PER_ROUND);
    // Every function of the new shapes was generated and answered.
    for (name, n) in &functions {
        assert!(*n > 10, "only {n} queries used {name}");
    }
    // Guard against a generator whose conditions never match anything.
    assert!(nontrivial > 300, "only {nontrivial} queries had rows");
    // The shortcut through session counters (action aggregates read from the session row) is exercised too.
    assert!(grouped_without_actions > 5, "only {grouped_without_actions} grouped queries read no actions");
    // So is the split of action-field groups into action rows and sessions without actions.
    assert!(split_groups > 5, "only {split_groups} queries grouped action rows apart from sessions without actions");
}
