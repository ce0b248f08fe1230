//! The browser runtime: the exports the JS side (`www/rumprops-core.js`) forwards page
//! events and API calls to.
//!
//! It owns the page's [`Agent`], reads and writes its storage (a first-party cookie and its
//! localStorage mirror, the session properties and the outbox in localStorage), runs the rules
//! at the end of every action, and hands beacons to the loader, which posts them. No export
//! returns a `Result` or panics on page input: a refusal is a value (an empty string, a report),
//! and JS calls that can throw are caught by wasm-bindgen and become "no value".

use crate::prelude::*;
use crate::agent::action::ActionKind;
use crate::agent::api::{self, ApiReport, ApiValue, Consent, Mode};
use crate::agent::flush::FlushReason;
use crate::agent::session::Entropy;
use crate::agent::{Agent, Stored, StoredState};
use crate::browser::{self, get, get_object, get_string, BrowserPage};
use crate::capture;
use crate::config::Config;
use crate::json;
use crate::page::Page;
use crate::text;
use crate::value::{PropType, PropertyValue};
use crate::watch::Watcher;
use core::cell::RefCell;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Crypto, Element, Storage, Window};

/// The session cookie (percent-encoded [`crate::agent::session::SessionState`] text).
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
/// The session cookie lives a year past its last write, so the visitor id persists.
const COOKIE_MAX_AGE_S: &str = "31536000";

struct Runtime {
    agent: Agent,
    page: BrowserPage,
    window: Window,
    watch: Watcher,
    /// The load action, until the load event.
    load_id: Option<String>,
    /// The load action, until it ends: it also counts the requests the page started before
    /// the agent could watch them.
    load_action: Option<String>,
    /// `performance.now()` when the agent's script ran: requests started before it are counted
    /// from Resource Timing, later ones by the loader's wrappers.
    started_rel: f64,
    /// This page's outbox key.
    outbox_key: String,
    /// JS strings of `evaluateRules()` rows, made on its first call: the field names, then each
    /// rule's key and source kind.
    row_text: Vec<JsValue>,
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

fn entropy(window: &Window) -> Entropy {
    let mut bytes = [0u8; 32];
    let filled = get_object::<Crypto>(window, "crypto").and_then(|c| c.get_random_values_with_u8_array(&mut bytes).ok()).is_some();
    if !filled {
        // No Web Crypto (very old or locked-down pages): ids from Math.random, still unique enough
        // for one visitor's sessions.
        for b in bytes.iter_mut() {
            *b = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    bytes
}

fn set(target: &JsValue, key: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(target, &JsValue::from_str(key), value);
}

/// A JS array built by index, never through `Array.prototype` (which a page may replace).
fn array(items: Vec<JsValue>) -> JsValue {
    let arr: JsValue = js_sys::Array::new().into();
    for (i, item) in items.iter().enumerate() {
        let _ = js_sys::Reflect::set(&arr, &JsValue::from_f64(i as f64), item);
    }
    arr
}

fn js_value(v: &PropertyValue) -> JsValue {
    match v {
        PropertyValue::String(s) => JsValue::from_str(s),
        PropertyValue::Long(n) | PropertyValue::Date(n) => JsValue::from_f64(*n as f64),
        PropertyValue::Double(x) => JsValue::from_f64(*x),
    }
}

fn pair(k1: &str, v1: JsValue, k2: &str, v2: JsValue) -> JsValue {
    let o: JsValue = js_sys::Object::new().into();
    set(&o, k1, &v1);
    set(&o, k2, &v2);
    o
}

fn report_js(r: &ApiReport) -> JsValue {
    let sent = r.sent.iter().map(|(k, v)| pair("key", JsValue::from_str(k), "value", js_value(v))).collect();
    let failed = r.failed.iter().map(|(k, why)| pair("key", JsValue::from_str(k), "reason", JsValue::from_str(why.code()))).collect();
    pair("sent", array(sent), "failed", array(failed))
}

/// Reads `{string: {k: v}, long: {…}, double: {…}, date: {…}}` without interpreting the values.
fn api_values(props: &JsValue) -> Vec<(PropType, String, ApiValue)> {
    let mut out = Vec::new();
    if !props.is_object() {
        return out;
    }
    for ty in PropType::ALL {
        let group = get(props, ty.name());
        if !group.is_object() {
            continue;
        }
        for key in own_keys(&group) {
            let v = js_sys::Reflect::get(&group, &JsValue::from_str(&key)).unwrap_or(JsValue::NULL);
            let value = if let Some(s) = v.as_string() {
                ApiValue::Str(s)
            } else if let Some(x) = v.as_f64() {
                ApiValue::Num(x)
            } else if v.is_bigint() {
                v.dyn_ref::<js_sys::BigInt>()
                    .and_then(|b| b.to_string(10).ok())
                    .and_then(|s| s.as_string())
                    .map_or(ApiValue::Unsupported, ApiValue::BigInt)
            } else if let Some(d) = v.dyn_ref::<js_sys::Date>() {
                ApiValue::Num(d.get_time())
            } else {
                ApiValue::Unsupported
            };
            out.push((ty, key, value));
        }
    }
    out
}

fn dnt_or_gpc(window: &Window) -> bool {
    let nav = get(window, "navigator");
    let yes = |v: JsValue| v.as_string().is_some_and(|s| s == "1" || s == "yes") || v.as_bool() == Some(true);
    yes(get(&nav, "doNotTrack")) || yes(get(window, "doNotTrack")) || get(&nav, "globalPrivacyControl").as_bool() == Some(true)
}

fn storage(window: &Window) -> Option<Storage> {
    get_object(window, "localStorage")
}

/// The own string keys of an object (symbols left out; none when a proxy trap throws).
fn own_keys(v: &JsValue) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(keys) = js_sys::Reflect::own_keys(v) {
        for i in 0..get(&keys, "length").as_f64().unwrap_or(0.0) as u32 {
            if let Some(key) = js_sys::Reflect::get_u32(&keys, i).ok().and_then(|k| k.as_string()) {
                out.push(key);
            }
        }
    }
    out
}

/// The keys in `st` that start with `prefix`, read before any is removed.
fn keys_with_prefix(st: &Storage, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for i in 0..get(st, "length").as_f64().unwrap_or(0.0) as u32 {
        if let Some(key) = st.key(i).ok().flatten().filter(|k| k.starts_with(prefix)) {
            keys.push(key);
        }
    }
    keys
}

impl Runtime {
    fn read_cookie(&self) -> Option<String> {
        text::cookie_value(&self.page.cookie_string()?, SESSION_COOKIE).filter(|s| !s.is_empty())
    }

    fn write_cookie(&self, value: Option<&str>) {
        let mut c = String::from(SESSION_COOKIE);
        c.push('=');
        if let Some(v) = value {
            c.push_str(&String::from(js_sys::encode_uri_component(v)));
            c.push_str("; max-age=");
            c.push_str(COOKIE_MAX_AGE_S);
        } else {
            c.push_str("; max-age=0");
        }
        c.push_str("; path=/; SameSite=Lax");
        set(&get(&self.window, "document"), "cookie", &JsValue::from_str(&c));
    }

    /// The stored session: the cookie, else its localStorage mirror.
    fn stored_session(&self) -> Option<String> {
        self.read_cookie().or_else(|| storage(&self.window)?.get_item(SESSION_KEY).ok().flatten())
    }

    fn persist(&mut self) {
        let update = self.agent.take_storage_update();
        let store = storage(&self.window);
        let put = |key: &str, s: &Stored| {
            if let Some(st) = &store {
                let _ = match s {
                    Stored::Unchanged => Ok(()),
                    Stored::Write(v) => st.set_item(key, v),
                    Stored::Delete => st.remove_item(key),
                };
            }
        };
        match &update.session {
            Stored::Write(v) => self.write_cookie(Some(v)),
            Stored::Delete => self.write_cookie(None),
            Stored::Unchanged => {}
        }
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
        let url = browser::href(&self.window);
        let e = entropy(&self.window);
        self.agent.start_action(kind, name, &url, now, &e)
    }

    /// Ends an action with its rules' values.
    fn end(&mut self, id: &str, now: i64) {
        self.watch.forget(id);
        if self.load_action.as_deref() == Some(id) {
            self.load_action = None;
            self.count_early_requests(id);
        }
        let outcomes = capture::evaluate(self.agent.config(), &self.page);
        self.agent.end_action(id, &outcomes, now);
    }

    /// Counts, on the load action, the fetch and XHR requests that started before the agent
    /// loaded (it loads `async`, so the page's first requests precede its wrappers). Resource
    /// Timing lists them once they finished; `responseStatus` (0 when unknown, e.g. a
    /// cross-origin response without Timing-Allow-Origin) tells the errors.
    fn count_early_requests(&mut self, id: &str) {
        let perf = get(&self.window, "performance");
        let Some(f) = get(&perf, "getEntriesByType").dyn_into::<js_sys::Function>().ok() else { return };
        let Ok(entries) = f.call1(&perf, &JsValue::from_str("resource")) else { return };
        let len = get(&entries, "length").as_f64().unwrap_or(0.0) as u32;
        for i in 0..len {
            let e = js_sys::Reflect::get_u32(&entries, i).unwrap_or(JsValue::NULL);
            let kind = get(&e, "initiatorType").as_string().unwrap_or_default();
            let started = get(&e, "startTime").as_f64().unwrap_or(f64::INFINITY);
            if (kind == "fetch" || kind == "xmlhttprequest") && started < self.started_rel {
                let status = get(&e, "responseStatus").as_f64().unwrap_or(0.0);
                self.agent.count_request(Some(id), status >= 400.0);
            }
        }
    }

    fn end_quiet_and_overdue(&mut self, now: i64) {
        self.sync(now);
        let mut due = self.watch.take_quiet(now);
        due.extend(self.agent.tick(now));
        for id in due {
            self.end(&id, now);
        }
    }

    fn set_mode(&mut self, consent: Option<Consent>) {
        let stored = storage(&self.window);
        if let (Some(c), Some(st)) = (consent, &stored) {
            let _ = match c.to_storage() {
                Some(v) => st.set_item(CONSENT_KEY, v),
                None => st.remove_item(CONSENT_KEY),
            };
        }
        let consent = consent.unwrap_or_else(|| {
            Consent::from_storage(stored.and_then(|s| s.get_item(CONSENT_KEY).ok().flatten()).as_deref())
        });
        let mode = api::mode(&self.agent.config().privacy, consent, self.dnt);
        self.agent.set_mode(mode);
    }
}

/// At most this many values are read from a config object: a real config has a few thousand,
/// while a cyclic object, one that shares a subtree many times, or a huge array would take
/// forever (and hang the page) if walked in full.
const MAX_CONFIG_VALUES: u32 = 100_000;

/// A JS value as JSON, read through `Reflect` (never `JSON.stringify`, which a page may
/// replace). Functions, symbols and `undefined` members are left out. `None` when it is deeper
/// than 32 levels or has more values than `budget` allows (a cyclic object is both).
fn to_json(v: &JsValue, depth: usize, budget: &mut u32) -> Option<json::Value> {
    *budget = budget.checked_sub(1)?;
    if let Some(s) = v.as_string() {
        Some(json::Value::String(s))
    } else if let Some(x) = v.as_f64() {
        Some(json::Value::Number(crate::platform::number_to_string(x)))
    } else if let Some(b) = v.as_bool() {
        Some(json::Value::Bool(b))
    } else if !v.is_object() {
        Some(json::Value::Null)
    } else if depth >= 32 {
        None
    } else if js_sys::Array::is_array(v) {
        let len = get(v, "length").as_f64().unwrap_or(0.0) as u32;
        let mut items = Vec::new();
        for i in 0..len {
            items.push(to_json(&js_sys::Reflect::get_u32(v, i).unwrap_or(JsValue::NULL), depth + 1, budget)?);
        }
        Some(json::Value::Array(items))
    } else {
        let mut members = Vec::new();
        for k in own_keys(v) {
            let Ok(item) = js_sys::Reflect::get(v, &JsValue::from_str(&k)) else { continue };
            if !item.is_undefined() && !item.is_function() {
                let value = to_json(&item, depth + 1, budget)?;
                members.push((k, value));
            }
        }
        Some(json::Value::Object(members))
    }
}

/// The outbox key prefix of a collector: `rumprops.q.<hash of its URL>.`. A page adopts only the
/// outboxes of pages that send to the same collector: a page of the origin configured for another
/// collector (another app, a moved collector) must not post their beacons to its own.
fn outbox_prefix(window: &Window, collector: &str) -> String {
    let origin = get_string(&get(window, "location"), "origin").unwrap_or_default();
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

/// Starts the agent in `window` with a config: its JSON text or the object itself. `booted_at`
/// is `performance.now()` when the agent's script ran. Returns `""` when it runs, else the
/// reason it stays inert (`properties[3].source.css: empty selector`). The loader hands over
/// the window it runs in, which spares looking up the global object here.
#[wasm_bindgen]
pub fn init(config: JsValue, booted_at: f64, window: JsValue) -> String {
    let Some((window, dom)) = window.dyn_into::<Window>().ok().and_then(|w| Some((w.clone(), get_object(&w, "document")?))) else {
        return "no window".into();
    };
    let page = BrowserPage::with_document(window.clone(), dom);
    let check = |s: &str| page.selector_is_valid(s);
    let parsed = match config.as_string() {
        Some(text) => Config::parse(&text, &check),
        None => match to_json(&config, 0, &mut { MAX_CONFIG_VALUES }) {
            Some(value) => Config::from_value(&value, &check),
            None => return "config: cyclic, deeper than 32 levels, or too large".into(),
        },
    };
    let config = match parsed {
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
    let e = entropy(&window);
    let prefix = outbox_prefix(&window, config.collector.as_deref().unwrap_or_default());
    let mut outbox_key = prefix.clone();
    outbox_key.push_str(crate::agent::session::hex_id(e.get(..8).unwrap_or_default()).as_str());
    let dnt = dnt_or_gpc(&window);
    let mut rt = Runtime {
        agent: Agent::new(config, Mode::Off),
        page,
        window: window.clone(),
        watch: Watcher::default(),
        load_id: None,
        load_action: None,
        started_rel: booted_at,
        outbox_key,
        row_text: Vec::new(),
        adopted: Vec::new(),
        last_url: browser::href(&window),
        dnt,
    };
    rt.set_mode(None);
    // Restore what earlier pages left: the session, its properties, and every page's outbox.
    let st = storage(&window);
    let session = rt.stored_session();
    let props = st.as_ref().and_then(|s| s.get_item(PROPS_KEY).ok().flatten());
    let mut outboxes = Vec::new();
    if let Some(s) = &st {
        for key in keys_with_prefix(s, &prefix) {
            if let Some(v) = s.get_item(&key).ok().flatten() {
                outboxes.push(v);
                rt.adopted.push(key);
            }
        }
    }
    let refs: Vec<&str> = outboxes.iter().map(String::as_str).collect();
    rt.agent.restore(&StoredState { session: session.as_deref(), props: props.as_deref(), outboxes: &refs }, now);
    // The load action runs from navigation start to the load event.
    let nav_start = get(&get(&window, "performance"), "timeOrigin").as_f64().map_or(now, |t| t as i64);
    let url = rt.last_url.clone();
    rt.load_id = rt.start(ActionKind::Load, &crate::agent::action::page_name(&url), nav_start.min(now));
    if let Some(id) = &rt.load_id {
        rt.watch.open(id, now, false);
    }
    rt.load_action = rt.load_id.clone();
    rt.persist();
    if let Ok(mut slot) = RT.0.try_borrow_mut() {
        *slot = Some(rt);
    }
    String::new()
}

/// The collector URL beacons go to.
#[wasm_bindgen]
pub fn collector() -> String {
    with(|rt, _| rt.agent.config().collector.clone().unwrap_or_default()).unwrap_or_default()
}

/// The load event fired.
#[wasm_bindgen]
pub fn loaded() {
    with(|rt, now| {
        if let Some(id) = rt.load_id.take() {
            rt.watch.set_ready(&id, now);
        }
    });
}

/// The largest char boundary of `s` at or below `max` bytes (cutting at a byte inside a
/// character would give no prefix at all).
fn char_floor(s: &str, max: usize) -> usize {
    let mut cut = s.len().min(max);
    while !s.is_char_boundary(cut) {
        cut = cut.saturating_sub(1);
    }
    cut
}

/// A click on `target`: a click action named from `data-rumprops-name`, `aria-label` or text.
#[wasm_bindgen]
pub fn click(target: JsValue) {
    with(|rt, now| {
        let Some(el) = target.dyn_ref::<Element>() else { return };
        let el = el
            .closest("[data-rumprops-name],a,button,input,select,textarea,label,summary,[role=button],[role=link],[onclick]")
            .ok()
            .flatten()
            .unwrap_or_else(|| el.clone());
        let data_name = el.get_attribute("data-rumprops-name");
        let aria_label = el.get_attribute("aria-label");
        // The text only when no attribute names it: a container's text can be megabytes.
        let labelled = |v: &Option<String>| v.as_deref().is_some_and(|s| !crate::text::trim_ascii_ws(s).is_empty());
        let text = if labelled(&data_name) || labelled(&aria_label) { None } else { get_string(&el, "textContent") };
        let name = crate::agent::action::click_name(
            data_name.as_deref(),
            aria_label.as_deref(),
            text.as_deref().map(|t| t.get(..char_floor(t, 4096)).unwrap_or_default()),
            &get_string(&el, "localName").unwrap_or_default(),
        );
        if let Some(id) = rt.start(ActionKind::Click, &name, now) {
            rt.watch.open(&id, now, true);
        }
    });
}

/// The URL may have changed (pushState, replaceState, popstate, hashchange): a route action.
#[wasm_bindgen]
pub fn route() {
    with(|rt, now| {
        let url = browser::href(&rt.window);
        if url == rt.last_url {
            return;
        }
        rt.last_url = url.clone();
        if let Some(id) = rt.start(ActionKind::Route, &crate::agent::action::page_name(&url), now) {
            rt.watch.open(&id, now, true);
        }
    });
}

/// A fetch or XHR started: returns the id of the action it belongs to (`""`: none). It belongs
/// to the newest open action; a custom one (`enterAction`, not watched: the page ends it)
/// counts it without waiting for it.
#[wasm_bindgen(js_name = requestStart)]
pub fn request_start() -> String {
    with(|rt, _| {
        let newest = rt.agent.open_action_ids().last().map(|id| (*id).to_owned());
        match newest {
            Some(id) if !rt.watch.ids().contains(&id) => Some(id),
            _ => rt.watch.request_start(),
        }
    })
    .flatten()
    .unwrap_or_default()
}

/// A request of action `id` ended; `failed` for a status of 400 or more or a network error.
#[wasm_bindgen(js_name = requestEnd)]
pub fn request_end(id: &str, failed: bool) {
    if id.is_empty() {
        return;
    }
    with(|rt, now| {
        rt.agent.count_request(Some(id), failed);
        rt.watch.request_end(id, now);
    });
}

/// An `error` or `unhandledrejection` event of the page.
#[wasm_bindgen(js_name = jsError)]
pub fn js_error() {
    with(|rt, _| rt.agent.count_js_error(None));
}

/// The page may be leaving: 0 `visibilitychange` to hidden, 1 `pagehide`, 2 `freeze`.
#[wasm_bindgen]
pub fn leave(kind: u8) {
    with(|rt, now| {
        let reason = match kind {
            1 => FlushReason::PageHide,
            2 => FlushReason::Freeze,
            _ => FlushReason::PageHidden,
        };
        if reason == FlushReason::PageHide {
            // The page is going: end what is open, with its rules' values, while they can be read.
            for id in rt.agent.open_action_ids().into_iter().map(str::to_owned).collect::<Vec<_>>() {
                rt.end(&id, now);
            }
        }
        rt.agent.on_leave(reason, now);
    });
}

/// The timer the loader set from [`next_wakeup`] fired.
#[wasm_bindgen]
pub fn tick() {
    with(|rt, now| rt.end_quiet_and_overdue(now));
}

/// Milliseconds until [`tick`] is due (`-1`: no timer needed).
#[wasm_bindgen(js_name = nextWakeup)]
pub fn next_wakeup() -> f64 {
    with(|rt, now| {
        let at = [rt.agent.next_wakeup(), rt.watch.next_due()].into_iter().flatten().min()?;
        Some((at - now).max(0) as f64)
    })
    .flatten()
    .unwrap_or(-1.0)
}

/// The beacons to post now: `[[sid, seq, body, leave], …]`.
#[wasm_bindgen(js_name = takeBeacons)]
pub fn take_beacons() -> JsValue {
    let out = with(|rt, now| rt.agent.take_beacons(now)).unwrap_or_default();
    array(
        out.into_iter()
            .map(|o| {
                array(vec![
                    JsValue::from_str(&o.sid),
                    JsValue::from_f64(o.seq as f64),
                    JsValue::from_str(&o.body),
                    JsValue::from_bool(o.leave),
                ])
            })
            .collect(),
    )
}

/// The collector answered beacon `(sid, seq)`: `status` 0 for a network error.
#[wasm_bindgen]
pub fn response(sid: &str, seq: f64, status: u16, retry_after: Option<String>) {
    with(|rt, now| {
        let jitter = js_sys::Math::random();
        let status = (status != 0).then_some(status);
        rt.agent.on_response(sid, seq as u64, status, retry_after.as_deref(), now, jitter);
    });
}

/// `enterAction(name)`: opens a custom action and returns its id (`""` when off).
#[wasm_bindgen(js_name = enterAction)]
pub fn enter_action(name: JsValue) -> String {
    with(|rt, now| {
        let name = name.as_string().unwrap_or_default();
        rt.start(ActionKind::Custom, &name, now)
    })
    .flatten()
    .unwrap_or_default()
}

/// `leaveAction(id)`: ends a custom (or any open) action with its rules' values.
#[wasm_bindgen(js_name = leaveAction)]
pub fn leave_action(id: JsValue) {
    with(|rt, now| {
        if let Some(id) = id.as_string() {
            rt.end(&id, now);
        }
    });
}

/// `addActionProperties(actionId|null, {string, long, double, date})` → `{sent, failed}`.
#[wasm_bindgen(js_name = addActionProperties)]
pub fn add_action_properties(id: JsValue, props: JsValue) -> JsValue {
    let values = api_values(&props);
    let report = with(|rt, _| rt.agent.add_action_properties(id.as_string().as_deref(), &values));
    report_js(&report.unwrap_or_default())
}

/// `sendSessionProperties({string, long, double, date})` → `{sent, failed}`.
#[wasm_bindgen(js_name = sendSessionProperties)]
pub fn send_session_properties(props: JsValue) -> JsValue {
    let values = api_values(&props);
    let report = with(|rt, now| {
        rt.sync(now);
        let e = entropy(&rt.window);
        rt.agent.send_session_properties(&values, now, &e)
    });
    report_js(&report.unwrap_or_default())
}

/// `identifyUser(id)`.
#[wasm_bindgen(js_name = identifyUser)]
pub fn identify_user(id: JsValue) {
    with(|rt, now| {
        rt.sync(now);
        rt.agent.identify_user(&id.as_string().unwrap_or_default(), now);
    });
}

/// `enable()`: the page's consent under opt-in.
#[wasm_bindgen]
pub fn enable() {
    with(|rt, _| rt.set_mode(Some(Consent::Granted)));
}

/// `disable()`: stop, and delete what was stored.
#[wasm_bindgen]
pub fn disable() {
    with(|rt, _| {
        rt.set_mode(Some(Consent::Refused));
        rt.watch = Watcher::default();
        // Every outbox of the origin goes, those for other collectors too.
        if let Some(st) = storage(&rt.window) {
            for key in keys_with_prefix(&st, OUTBOX_PREFIX) {
                let _ = st.remove_item(&key);
            }
        }
    });
}

/// `endSession()`.
#[wasm_bindgen(js_name = endSession)]
pub fn end_session() {
    with(|rt, now| {
        rt.sync(now);
        rt.agent.end_session(now);
    });
}

/// `flush()`: send what waits now.
#[wasm_bindgen]
pub fn flush() {
    with(|rt, now| rt.agent.flush(now));
}

/// `evaluateRules()`: a live dry run, `[{key, source, value, reason}]`.
#[wasm_bindgen(js_name = evaluateRules)]
pub fn evaluate_rules() -> JsValue {
    let rows = with(|rt, _| {
        // The row's field names and each rule's key and source kind become JS strings once,
        // not on every call: crossing a string into JS costs more than reading most rules.
        if rt.row_text.is_empty() {
            rt.row_text = ["key", "source", "value", "reason"].into_iter().map(JsValue::from_str).collect();
            for p in &rt.agent.config().properties {
                rt.row_text.push(JsValue::from_str(&p.key));
                rt.row_text.push(JsValue::from_str(p.source.kind()));
            }
        }
        let config = rt.agent.config();
        let outcomes = capture::evaluate(config, &rt.page);
        let text = |i: usize| rt.row_text.get(i).cloned().unwrap_or(JsValue::NULL);
        let put = |row: &JsValue, field: usize, v: &JsValue| {
            let _ = js_sys::Reflect::set(row, &text(field), v);
        };
        outcomes
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let row: JsValue = js_sys::Object::new().into();
                put(&row, 0, &text(4 + 2 * i));
                put(&row, 1, &text(5 + 2 * i));
                let (value, reason) = match o {
                    capture::Outcome::Value(v) => (js_value(v), JsValue::NULL),
                    capture::Outcome::Issue(r) => (JsValue::NULL, JsValue::from_str(r.code())),
                    capture::Outcome::Skipped => (JsValue::NULL, JsValue::NULL),
                };
                put(&row, 2, &value);
                put(&row, 3, &reason);
                row
            })
            .collect()
    });
    array(rows.unwrap_or_default())
}
