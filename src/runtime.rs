//! The browser runtime: the exports the JS side (`www/rumprops-core.js`) forwards page
//! events and API calls to: [`init`] and [`event`] (every event and call after it, by number,
//! each handing out the beacons to post now).
//!
//! It owns the page's [`Agent`], keeps its storage (a first-party cookie and its localStorage
//! mirror, the session properties and the outbox in localStorage), runs the rules at the end of
//! every action, and hands beacons to the JS side, which posts them. The boundary is coarse and
//! plain: the JS side does the host-object work that is a few bytes of JS (walking config and
//! API objects, naming clicks, Resource Timing, Do Not Track, storage calls) and passes strings,
//! numbers and plain values; answers with several parts come back as rows through
//! [`Host::row`]. No export returns a `Result` or panics on page input: a refusal is a value
//! (an empty string, a report).

use crate::prelude::*;
use crate::agent::action::ActionKind;
use crate::agent::api::{self, ApiReport, ApiValue, Consent, Mode};
use crate::agent::flush::FlushReason;
use crate::agent::session::Entropy;
use crate::agent::{Agent, Stored, StoredState};
use crate::browser::{BrowserPage, Reader, KIND_BIGINT, KIND_NUMBER, KIND_STRING};
use crate::capture;
use crate::config::Config;
use crate::page::Page;
use crate::text;
use crate::value::{PropType, PropertyValue};
use crate::watch::Watcher;
use core::cell::RefCell;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::Window;

#[wasm_bindgen]
extern "C" {
    /// The JS side's host object (`host` in `www/rumprops-core.js`), given to [`init`]. Its
    /// methods catch what they call: none throws. It is also the page's [`Reader`].
    #[wasm_bindgen(extends = Reader)]
    pub type Host;

    /// Hands one row of an export's answer to the JS side, which builds the API's objects from
    /// them. Reports and `evaluateRules()` rows: `a` the key, `b` the rule's source kind, and
    /// by `tag` a value (0: text `c`, 1: number `n`), a refusal (2: reason code `c`) or
    /// nothing (3). Beacons ([`event`] hands them after its answer): `a` the session id, `c` the
    /// body, `n` the seq, `tag` 4, or 5 when the page may be leaving.
    #[wasm_bindgen(method, js_name = o)]
    fn row(this: &Host, tag: u8, a: &str, b: &str, c: &str, n: f64);

    /// localStorage's item `key` (`None`: none, or no storage).
    #[wasm_bindgen(method, js_name = r)]
    fn read(this: &Host, key: &str) -> Option<String>;

    /// Sets (`Some`) or removes (`None`) localStorage's item `key`; with the key `""`, the
    /// session cookie ([`SESSION_COOKIE`], URI-encoded, a year's max-age, `path=/`, `SameSite=Lax`).
    #[wasm_bindgen(method, js_name = w)]
    fn write(this: &Host, key: &str, value: Option<&str>);

    /// localStorage's key number `i` (`None` past the last).
    #[wasm_bindgen(method, js_name = k)]
    fn key(this: &Host, i: u32) -> Option<String>;

    /// A random 32-bit number, from Web Crypto where the page has it.
    #[wasm_bindgen(method, js_name = n)]
    fn random(this: &Host) -> u32;

    /// The measures of an action of `kind` (0 load, 1 route, 2 another) from `start` to `end`
    /// (epoch ms) as the browser gives them: an array indexed as
    /// [`crate::agent::action::MEASURES`], `undefined` where it gives none, then (18, 19) how
    /// many fetch and XHR requests Resource Timing lists that started before the agent's script
    /// ran, and how many of them were answered with a status of 400 or more. With `kind` 3,
    /// the screen's width, height and whether it is landscape (1, else 0), and
    /// `navigator.connection.type`.
    #[wasm_bindgen(method, js_name = m)]
    fn measures(this: &Host, start: f64, end: f64, kind: u8) -> JsValue;
}

/// The session cookie (percent-encoded [`crate::agent::session::SessionState`] text), written
/// by the host ([`Host::write`]).
const SESSION_COOKIE: &str = "rumprops_s";
/// The session's localStorage mirror, for when the cookie is gone (cleared, or blocked).
const SESSION_KEY: &str = "rumprops.s";
/// The session properties.
const PROPS_KEY: &str = "rumprops.p";
/// The opt-in consent (`1` or `0`).
const CONSENT_KEY: &str = "rumprops.consent";
/// Each page's outbox is `rumprops.q.<collector hash>.<page id>` ([`outbox_prefix`]), so tabs never
/// overwrite each other's.
const OUTBOX_PREFIX: &str = "rumprops.q.";

struct Runtime {
    agent: Agent,
    /// Reads through the host, which is its reader ([`Runtime::host`]).
    page: BrowserPage,
    watch: Watcher,
    /// The load action, until the load event.
    load_id: Option<String>,
    /// This page's outbox key.
    outbox_key: String,
    /// The values of the next API call, handed over one by one (event 22).
    values: Vec<(PropType, String, ApiValue)>,
    /// Outbox keys of earlier pages adopted at start, deleted once ours is written.
    adopted: Vec<String>,
    last_url: String,
    dnt: bool,
}

/// The page's runtime. The wasm32-unknown-unknown build has one thread, so a plain static
/// cell is enough (`thread_local!` costs about 5 kB of lazy-initialization code).
struct Global(RefCell<Option<Runtime>>);

// SAFETY: this module exists only in the wasm32 build without the atomics feature: one thread,
// so the cell is never reached from two threads.
unsafe impl Sync for Global {}

static RT: Global = Global(RefCell::new(None));

/// Runs `f` on the started runtime (`None` before `init`, or re-entered), then stores what
/// changed.
fn with<R>(f: impl FnOnce(&mut Runtime, i64) -> R) -> Option<R> {
    let mut guard = RT.0.try_borrow_mut().ok()?;
    let rt = guard.as_mut()?;
    let r = f(rt, now());
    rt.persist();
    Some(r)
}

fn now() -> i64 {
    js_sys::Date::now() as i64
}

fn entropy(host: &Host) -> Entropy {
    let mut bytes = [0u8; 32];
    let mut r = 0;
    for (i, b) in bytes.iter_mut().enumerate() {
        if i % 4 == 0 {
            r = host.random();
        }
        *b = r as u8;
        r >>= 8;
    }
    bytes
}

/// A report's or a rule's outcome for [`Host::row`]: a value, a refusal's reason, or nothing.
fn row(host: &Host, a: &str, b: &str, outcome: Option<Result<&PropertyValue, &str>>) {
    let (tag, c, n) = match outcome {
        Some(Ok(PropertyValue::String(s))) => (0, s.as_str(), 0.0),
        Some(Ok(PropertyValue::Long(n) | PropertyValue::Date(n))) => (1, "", *n as f64),
        Some(Ok(PropertyValue::Double(x))) => (1, "", *x),
        Some(Err(reason)) => (2, reason, 0.0),
        None => (3, "", 0.0),
    };
    host.row(tag, a, b, c, n);
}

/// Hands a report to the JS side: the sent values, then the refused keys.
fn report(host: &Host, r: &ApiReport) {
    for (k, v) in &r.sent {
        row(host, k, "", Some(Ok(v)));
    }
    for (k, why) in &r.failed {
        row(host, k, "", Some(Err(why.code())));
    }
}

/// The numbers at `array`'s first indices (`None` where there is no number).
#[inline(never)]
fn numbers(r: &Reader, array: &JsValue, out: &mut [Option<f64>]) {
    for (i, v) in out.iter_mut().enumerate() {
        let mut k = String::new();
        crate::json::write_i64(&mut k, i as i64);
        *v = r.get(array, &k).as_f64();
    }
}

/// The keys in localStorage that start with `prefix`, read before any is removed.
fn keys_with_prefix(host: &Host, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut i = 0;
    while let Some(key) = host.key(i) {
        if key.starts_with(prefix) {
            keys.push(key);
        }
        i += 1;
    }
    keys
}

impl Runtime {
    /// The JS side's host object, which is the page's reader.
    fn host(&self) -> &Host {
        self.page.reader.unchecked_ref()
    }

    fn read_cookie(&self) -> Option<String> {
        text::cookie_value(&self.page.cookie_string()?, SESSION_COOKIE).filter(|s| !s.is_empty())
    }

    /// The stored session: the cookie, else its localStorage mirror.
    fn stored_session(&self) -> Option<String> {
        self.read_cookie().or_else(|| self.host().read(SESSION_KEY))
    }

    fn persist(&mut self) {
        let update = self.agent.take_storage_update();
        let host = self.page.reader.unchecked_ref::<Host>();
        let put = |key: &str, s: &Stored| match s {
            Stored::Unchanged => {}
            Stored::Write(v) => host.write(key, Some(v)),
            Stored::Delete => host.write(key, None),
        };
        put("", &update.session); // the cookie
        put(SESSION_KEY, &update.session);
        put(PROPS_KEY, &update.props);
        put(&self.outbox_key, &update.outbox);
        if update.outbox != Stored::Unchanged && !self.adopted.is_empty() {
            for key in core::mem::take(&mut self.adopted) {
                put(&key, &Stored::Delete);
            }
        }
    }

    fn sync(&mut self, now: i64) {
        let stored = self.stored_session();
        self.agent.sync_session(stored.as_deref(), now);
    }

    fn start(&mut self, kind: ActionKind, name: &str, now: i64) -> Option<String> {
        self.sync(now);
        let url = self.page.href();
        let e = entropy(self.host());
        self.agent.start_action(kind, name, &url, now, &e)
    }

    /// Ends an action with its measures and its rules' values.
    fn end(&mut self, id: &str, now: i64) {
        self.watch.forget(id);
        let r = &self.page.reader;
        // The load action also counts the fetch and XHR requests that started before the agent
        // loaded (it loads `async`, so the page's first requests precede its wrappers): all, failed.
        let mut early = (0, 0);
        if let Some(a) = self.agent.open_action(id) {
            let kind = match a.kind {
                ActionKind::Load => 0,
                ActionKind::Route => 1,
                _ => 2,
            };
            let end = now.min(a.start.saturating_add(crate::agent::action::MAX_ACTION_DURATION_MS));
            let m = r.unchecked_ref::<Host>().measures(a.start as f64, end as f64, kind);
            let mut v = [None; 20];
            numbers(r, &m, &mut v);
            if let Some((measures, rest)) = v.split_first_chunk::<18>() {
                a.measures = *measures;
                if let [Some(all), Some(failed)] = rest {
                    early = (*all as u32, *failed as u32);
                }
            }
        }
        for i in 0..early.0 {
            self.agent.count_request(Some(id), i < early.1);
        }
        let outcomes = capture::evaluate(self.agent.config(), &self.page);
        self.agent.end_action(id, &outcomes, now);
    }

    fn end_quiet_and_overdue(&mut self, now: i64) {
        self.sync(now);
        let mut due = self.watch.take_quiet(now);
        due.extend(self.agent.tick(now));
        for id in due {
            self.end(&id, now);
        }
    }

    /// Hands the beacons to post now to the JS side as rows ([`Host::row`]), and answers the
    /// milliseconds until event 6 (the timer) is due (`None`: no timer needed).
    #[inline(never)]
    fn hand_out(&mut self, now: i64) -> Option<f64> {
        for o in self.agent.take_beacons(now) {
            self.host().row(4 + u8::from(o.leave), &o.sid, "", &o.body, o.seq as f64);
        }
        let at = [self.agent.next_wakeup(), self.watch.next_due()].into_iter().flatten().min()?;
        Some((at - now).max(0) as f64)
    }

    fn set_mode(&mut self, consent: Option<Consent>) {
        if let Some(c) = consent {
            self.host().write(CONSENT_KEY, c.to_storage());
        }
        let consent = consent.unwrap_or_else(|| Consent::from_storage(self.host().read(CONSENT_KEY).as_deref()));
        let mode = api::mode(&self.agent.config().privacy, consent, self.dnt);
        self.agent.set_mode(mode);
    }
}

/// The outbox key prefix of a collector: `rumprops.q.<hash of its URL>.`. A page adopts only the
/// outboxes of pages that send to the same collector: a page of the origin configured for another
/// collector (another app, a moved collector) must not post their beacons to its own.
fn outbox_prefix(page: &BrowserPage, collector: &str) -> String {
    let origin = page.reader.get_string(&page.global("location"), "origin").unwrap_or_default();
    let root_relative = collector.starts_with('/') && !collector.starts_with("//");
    let base = if root_relative { origin.as_str() } else { "" };
    let mut h: u32 = 0x811c_9dc5; // FNV-1a
    for b in base.bytes().chain(collector.bytes()) {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    let mut s = String::from(OUTBOX_PREFIX);
    s.push_str(&crate::agent::session::hex_id(&h.to_be_bytes()));
    s.push('.');
    s
}

/// Starts the agent in `window` with a config's JSON text (the JS side writes a config object
/// as JSON). `host` does the JS side's share of the work ([`Host`]); `dnt` is the browser's Do
/// Not Track or Global Privacy Control. Returns `""` when it runs, having handed the collector
/// URL beacons go to as a row ([`Host::row`], the URL as `a`), else the reason it stays inert
/// (`properties[3].source.css: empty selector`). The loader hands over the window it runs
/// in, which spares looking up the global object here.
#[wasm_bindgen]
pub fn init(config: &str, window: JsValue, host: Host, dnt: bool) -> String {
    let window: Window = window.unchecked_into();
    let Some(dom) = host.get_object(&window, "document") else {
        return "no window".into();
    };
    let page = BrowserPage::with_document(window, dom, host.into());
    let config = match Config::parse(config, &|s: &str| page.selector_is_valid(s)) {
        Ok(c) => c,
        Err(e) => return e.message(),
    };
    for (field, present) in [("app", config.app.is_some()), ("collector", config.collector.is_some())] {
        if !present {
            let mut m = String::from(field);
            m.push_str(": required");
            return m;
        }
    }
    let started = RT.0.try_borrow().map(|rt| rt.is_some()).unwrap_or(true);
    if started {
        return "already started".into();
    }
    let now = now();
    let e = entropy(page.reader.unchecked_ref());
    let prefix = outbox_prefix(&page, config.collector.as_deref().unwrap_or_default());
    let last_url = page.href();
    let mut outbox_key = prefix.clone();
    outbox_key.push_str(crate::agent::session::hex_id(e.get(..8).unwrap_or_default()).as_str());
    let mut rt = Runtime {
        agent: Agent::new(config, Mode::Off),
        page,
        watch: Watcher::default(),
        load_id: None,
        outbox_key,
        values: Vec::new(),
        adopted: Vec::new(),
        last_url,
        dnt,
    };
    rt.set_mode(None);
    // The screen (width, height, landscape) and the connection type, from the host.
    let d = rt.host().measures(0.0, 0.0, 3);
    let mut screen = [None; 3];
    numbers(&rt.page.reader, &d, &mut screen);
    rt.agent.device = crate::agent::beacon::device_json(screen, rt.page.reader.get_string(&d, "3"));
    // Restore what earlier pages left: the session, its properties, and every page's outbox.
    let session = rt.stored_session();
    let props = rt.host().read(PROPS_KEY);
    let mut outboxes = Vec::new();
    for key in keys_with_prefix(rt.host(), &prefix) {
        if let Some(v) = rt.host().read(&key) {
            outboxes.push(v);
            rt.adopted.push(key);
        }
    }
    let refs: Vec<&str> = outboxes.iter().map(String::as_str).collect();
    rt.agent.restore(&StoredState { session: session.as_deref(), props: props.as_deref(), outboxes: &refs }, now);
    // The load action runs from navigation start to the load event.
    let nav_start = rt.page.reader.get(&rt.page.global("performance"), "timeOrigin").as_f64().map_or(now, |t| t as i64);
    let url = rt.last_url.clone();
    rt.load_id = rt.start(ActionKind::Load, &crate::agent::action::page_name(&url), nav_start.min(now));
    if let Some(id) = &rt.load_id {
        rt.watch.open(id, now, false);
    }
    rt.persist();
    rt.host().row(3, rt.agent.config().collector.as_deref().unwrap_or_default(), "", "", 0.0);
    if let Ok(mut slot) = RT.0.try_borrow_mut() {
        *slot = Some(rt);
    }
    String::new()
}

/// A page event or an API call, by number, with its arguments (`arg` the first, when a string):
/// - 0: the load event fired;
/// - 1: the URL may have changed (pushState, replaceState, popstate, hashchange): a route action;
/// - 2: an `error` or `unhandledrejection` event of the page: its message `arg`, file `b`,
///   line `c` and column `d` (the JS side reads them; for a rejection, the reason as text),
///   an error of the newest open action; or `reportError(arg, c)`: the error `arg`, without a
///   file, line or column, of the open action `c` when `c` is a string (an id) instead of a line;
/// - 3, 4, 5: the page may be leaving: `visibilitychange` to hidden, `pagehide`, `freeze`;
/// - 6: the timer the JS side set from an earlier answer fired;
/// - 7: `enable()`, the page's consent under opt-in;
/// - 8: `disable()`: stop, and delete what was stored;
/// - 9: `endSession()`;
/// - 10: `flush()`: send what waits now;
/// - 11: `sendSessionProperties(…)` with the values handed over (event 22): its report as rows;
/// - 12: `evaluateRules()`: a live dry run, a row ([`Host::row`]) for each rule;
/// - 13: `addActionProperties(arg, …)` with the values handed over: its report as rows;
/// - 14: `identifyUser(arg)`;
/// - 15: `enterAction(arg)`: opens a custom action, and hands its id as a row (`a`), none when off;
/// - 16: `leaveAction(arg)`: ends a custom (or any open) action with its rules' values;
/// - 17: a fetch or XHR started: hands the id of the action it belongs to as a row (`a`), none
///   when none. It belongs to the newest open action; a custom one (`enterAction`, not
///   watched: the page ends it) counts it without waiting for it;
/// - 18, 19: a request of action `arg` ended: fine, or failed (a status of 400 or more, or a
///   network error);
/// - 20: a click: a click action named from the clicked element's `data-rumprops-name` `arg`,
///   `aria-label` `b` or text `c` (the JS side reads them, and the text only when neither
///   attribute names it), else its tag `d` (`localName`); `x`, `y` are the click's
///   `clientX` and `clientY`, for rage clicks (other events pass 0);
/// - 21: the collector answered beacon `(arg, b)` (session id, seq) with the status `c` (0 for
///   a network error) and the `Retry-After` header `d`;
/// - 22: one value of the next `addActionProperties` or `sendSessionProperties` call: under the
///   key `arg`, the value `b` (a string, a number, a `Date` as its time, a BigInt; anything else
///   unsupported), in the group `PropType::ALL[c]` (`string`, `long`, `double`, `date`). The JS
///   side reads the call's object without interpreting the values. Hands out nothing else and
///   answers `-1`: the JS side keeps its timer;
/// - 23: `nameAction(arg, b)`: renames the open action `b` (the newest when not a string) to
///   `arg`, and hands its id as a row (`a`), none when no such action is open or `arg` is blank.
///
/// After the event's own rows, every event but 22 hands out the beacons to post now, as rows
/// ([`Host::row`]), and answers the milliseconds until event 6 (the timer) is due (`-1`: no
/// timer needed, or not started). Beacons come only from a started runtime, so only after
/// [`init`] has handed the collector URL.
#[wasm_bindgen]
pub fn event(kind: u8, arg: JsValue, b: JsValue, c: JsValue, d: JsValue, x: f64, y: f64) -> f64 {
    let arg = arg.as_string();
    with(|rt, now| {
        match kind {
            0 => {
                if let Some(id) = rt.load_id.take() {
                    rt.watch.set_ready(&id, now);
                }
            }
            1 => {
                let url = rt.page.href();
                if url != rt.last_url {
                    rt.last_url = url.clone();
                    if let Some(id) = rt.start(ActionKind::Route, &crate::agent::action::page_name(&url), now) {
                        rt.watch.open(&id, now, true);
                    }
                }
            }
            2 => rt.agent.js_error(c.as_string().as_deref(), arg.unwrap_or_default(), b.as_string(), [c.as_f64(), d.as_f64()], now),
            23 => {
                let host = rt.page.reader.unchecked_ref::<Host>();
                if let Some(id) = rt.agent.name_action(b.as_string().as_deref(), &arg.unwrap_or_default()) {
                    host.row(3, id, "", "", 0.0);
                }
            }
            3..=5 => {
                let reason = match kind {
                    4 => FlushReason::PageHide,
                    5 => FlushReason::Freeze,
                    _ => FlushReason::PageHidden,
                };
                if reason == FlushReason::PageHide {
                    // The page is going: end what is open, with its rules' values, while they can be read.
                    for id in rt.agent.open_action_ids().into_iter().map(str::to_owned).collect::<Vec<_>>() {
                        rt.end(&id, now);
                    }
                }
                rt.agent.on_leave(reason, now);
            }
            6 => rt.end_quiet_and_overdue(now),
            7 => rt.set_mode(Some(Consent::Granted)),
            8 => {
                rt.set_mode(Some(Consent::Refused));
                rt.watch = Watcher::default();
                // Every outbox of the origin goes, those for other collectors too.
                for key in keys_with_prefix(rt.host(), OUTBOX_PREFIX) {
                    rt.host().write(&key, None);
                }
            }
            9 => {
                rt.sync(now);
                rt.agent.end_session(now);
            }
            10 => rt.agent.flush(now),
            11 => {
                let values = core::mem::take(&mut rt.values);
                rt.sync(now);
                let e = entropy(rt.host());
                let r = rt.agent.send_session_properties(&values, now, &e);
                report(rt.host(), &r);
            }
            12 => {
                let config = rt.agent.config();
                let outcomes = capture::evaluate(config, &rt.page);
                for (p, o) in config.properties.iter().zip(&outcomes) {
                    let outcome = match o {
                        capture::Outcome::Value(v) => Some(Ok(v)),
                        capture::Outcome::Issue(r) => Some(Err(r.code())),
                        capture::Outcome::Skipped => None,
                    };
                    row(rt.host(), &p.key, p.source.kind(), outcome);
                }
            }
            13 => {
                let values = core::mem::take(&mut rt.values);
                let r = rt.agent.add_action_properties(arg.as_deref(), &values);
                report(rt.host(), &r);
            }
            14 => {
                rt.sync(now);
                rt.agent.identify_user(arg.as_deref().unwrap_or_default(), now);
            }
            15 => {
                if let Some(id) = rt.start(ActionKind::Custom, arg.as_deref().unwrap_or_default(), now) {
                    rt.host().row(3, &id, "", "", 0.0);
                }
            }
            16 => {
                if let Some(id) = &arg {
                    rt.end(id, now);
                }
            }
            17 => {
                let newest = rt.agent.open_action_ids().last().map(|id| (*id).to_owned());
                let id = match newest {
                    Some(id) if !rt.watch.ids().contains(&id) => Some(id),
                    _ => rt.watch.request_start(),
                };
                if let Some(id) = id {
                    rt.host().row(3, &id, "", "", 0.0);
                }
            }
            20 => {
                let name = crate::agent::action::click_name(arg.as_deref(), b.as_string().as_deref(), c.as_string().as_deref(), &d.as_string().unwrap_or_default());
                if let Some(id) = rt.start(ActionKind::Click, &name, now) {
                    rt.watch.open(&id, now, true);
                }
                rt.agent.click_at(x, y, now);
            }
            21 => {
                let jitter = f64::from(rt.host().random()) / 4_294_967_296.0;
                let status = c.as_f64().unwrap_or(0.0) as u16;
                let status = (status != 0).then_some(status);
                rt.agent.on_response(&arg.unwrap_or_default(), b.as_f64().unwrap_or(0.0) as u64, status, d.as_string().as_deref(), now, jitter);
            }
            22 => {
                let ty = c.as_f64().and_then(|g| PropType::ALL.get(g as usize))?;
                let v = match rt.page.reader.kind(&b) {
                    KIND_STRING => ApiValue::Str(b.as_string().unwrap_or_default()),
                    KIND_NUMBER => ApiValue::Num(b.as_f64().unwrap_or_default()),
                    KIND_BIGINT => ApiValue::BigInt(crate::platform::js_string(&b)),
                    _ => ApiValue::Unsupported,
                };
                rt.values.push((*ty, arg.unwrap_or_default(), v));
                return None;
            }
            18 | 19 => {
                if let Some(id) = &arg {
                    rt.agent.count_request(Some(id), kind == 19);
                    rt.watch.request_end(id, now);
                }
            }
            _ => {}
        }
        rt.hand_out(now)
    })
    .flatten()
    .unwrap_or(-1.0)
}

