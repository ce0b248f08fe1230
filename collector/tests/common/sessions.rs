//! The random sessions and query conditions of the differential tests (tests/differential.rs
//! against the in-memory evaluator, tests/ch_differential.rs SQLite against ClickHouse): a
//! reproducible generator, the beacons of a session, and the fields and conditions the
//! generated queries use, each with its value by the rules in collector/README.md.

#![allow(dead_code)]

use rumprops_collector::beacon::{parse_beacon, Beacon};
use serde_json::{json, Value as Json};
use std::cmp::Ordering;
/// A tiny xorshift generator: reproducible without a crate.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    pub fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum V {
    I(i64),
    F(f64),
    S(String),
}

impl V {
    pub fn json(&self) -> Json {
        match self {
            V::I(n) => json!(n),
            V::F(x) => json!(x),
            V::S(s) => json!(s),
        }
    }
    pub fn num(&self) -> Option<f64> {
        match self {
            V::I(n) => Some(*n as f64),
            V::F(x) => Some(*x),
            V::S(_) => None,
        }
    }
}

pub fn cmp(a: &V, b: &V) -> Ordering {
    match (a, b) {
        (V::I(x), V::I(y)) => x.cmp(y),
        (V::S(x), V::S(y)) => x.as_bytes().cmp(y.as_bytes()),
        _ => a.num().unwrap_or(0.0).total_cmp(&b.num().unwrap_or(0.0)),
    }
}

#[derive(Debug, Clone)]
pub struct Action {
    pub name: String,
    pub app: String,
    pub start: i64,
    pub end: i64,
    pub errors: i64,
    pub page: Option<String>,
    pub items: Option<i64>,
    /// Issue 9 measurements: request/response start (ms from start), LCP, CLS, Apdex, rage clicks.
    pub request_start: Option<i64>,
    pub response_start: Option<i64>,
    pub lcp: Option<i64>,
    pub cls: Option<f64>,
    pub apdex: Option<&'static str>,
    pub rage: i64,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub sid: String,
    pub user: Option<String>,
    pub start: i64,
    pub tier: Option<String>,
    pub score: Option<i64>,
    pub big: Option<i64>,
    pub ratio: Option<f64>,
    pub screen_width: Option<i64>,
    pub connection: Option<&'static str>,
    pub actions: Vec<Action>,
}

pub const WORDS: &[&str] = &["Gold", "Silver", "gold", "G_ld", "a%b", "Go", "\"q'"];
pub const NAMES: &[&str] = &["click on Book", "click on Buy", "load /", "route /offers", "Click on book"];
pub const APPS: &[&str] = &["easytravel", "shop"];
pub const T0: i64 = 1_700_000_000_000;

pub fn gen_sessions(rng: &mut Rng, n: usize) -> Vec<Session> {
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

pub fn beacon_of(s: &Session) -> String {
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
pub enum F {
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

pub const SESSION_FIELDS: &[F] =
    &[F::UserId, F::ActionCount, F::Start, F::Tier, F::Score, F::Big, F::Ratio, F::ScreenWidth, F::ConnectionType, F::RageClicks, F::Experience];
pub const ACTION_FIELDS: &[F] = &[F::Name, F::App, F::Errors, F::ADuration, F::Page, F::Items, F::RequestStart, F::ServerTime, F::Lcp, F::Cls, F::Apdex];

/// `connectionType` as collector/README.md defines it.
pub fn connection_type(raw: Option<&str>) -> &'static str {
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
pub fn experience(s: &Session) -> &'static str {
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
    pub fn is_action(self) -> bool {
        ACTION_FIELDS.contains(&self)
    }
    pub fn is_text(self) -> bool {
        matches!(self, F::UserId | F::Tier | F::Name | F::App | F::Page | F::ConnectionType | F::Experience | F::Apdex)
    }
    /// The field written for a query over `from` ("usersession" or "useraction").
    pub fn usql(self, from: &str, rng: &mut Rng) -> String {
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
    pub fn value(self, s: &Session, a: Option<&Action>) -> Option<V> {
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
    pub fn literal(self, rng: &mut Rng) -> (String, V) {
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
pub enum C {
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

pub fn gen_cond(rng: &mut Rng, fields: &[F], from: &str, depth: u32) -> (String, C) {
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

/// The beacons of a session: one per application (seq 0, 1, … in [`APPS`] order), so each
/// action carries its app; action ids are `<app><index>`.
pub fn beacons(s: &Session) -> Vec<Beacon> {
    let mut out = Vec::new();
    for (seq, app) in APPS.iter().enumerate() {
        let mut only = s.clone();
        only.actions.retain(|a| a.app == *app);
        let text = beacon_of(&only).replace("\"app\":\"unused\"", &format!("\"app\":\"{app}\""));
        let mut b = parse_beacon(text.as_bytes()).unwrap();
        b.seq = seq as i64;
        for (i, a) in b.actions.iter_mut().enumerate() {
            a.id = format!("{app}{i}");
        }
        out.push(b);
    }
    out
}
