//! The browser agent's pure core: actions, sessions, batching, beacons, retries and the JS
//! API's checks, with time, random bytes, responses and page lifecycle events as inputs.
//!
//! The wasm runtime only forwards browser events to an [`Agent`] and carries out what it asks.
//! Everything here runs under `cargo test` on the host.
//!
//! # The runtime's loop
//!
//! 1. At start: read the session (cookie, else its localStorage mirror), the session's
//!    properties and the outboxes of earlier pages (localStorage) into [`StoredState`];
//!    [`Agent::restore`].
//! 2. Before each event: [`Agent::sync_session`] with the stored session, so tabs share one
//!    session, its action numbers and its beacon numbers.
//! 3. The event: [`Agent::start_action`], [`Agent::count_request`], [`Agent::end_action`] with
//!    the rules' outcomes (`capture::evaluate`), the API calls, [`Agent::on_leave`] on
//!    `visibilitychange` to hidden, `pagehide` and `freeze` (on `pagehide`, end the open actions
//!    first, with their rules' outcomes), [`Agent::tick`] when the timer fires.
//! 4. After each event: [`Agent::take_beacons`] and POST them (`sendBeacon` or `fetch` with
//!    `keepalive` when [`Outgoing::leave`]); report each answer with [`Agent::on_response`]
//!    (a network error or a `sendBeacon` refusal is `None`); carry out
//!    [`Agent::take_storage_update`]; set one timer for [`Agent::next_wakeup`].
//!
//! # Decisions the design leaves open
//!
//! - An action's id is `a` + its number in the session, and a beacon's `seq` is the session's
//!   next number, both from the state the tabs share: ids are unique per session across tabs
//!   and reloads, and two tabs never send the same `(sid, seq)` (the collector keeps one). The
//!   shared state also remembers the next number of the last few sessions it replaced, so a tab
//!   that still holds data of an older session seals it under fresh numbers. Known limit: two
//!   tabs handling an event in the same few milliseconds (before localStorage reaches the other
//!   process) can take the same number; the runtime can close that window with the Web Locks
//!   API (`navigator.locks`) around each event if it matters.
//! - `batch.maxBytes` bounds a whole body, header, session part and issues included (estimated
//!   from above); only a single action larger than that makes a larger body, never above 64 KiB.
//! - `session.ended` is the end reason's code (`idle`, `max_duration`, `max_actions`,
//!   `end_session`) or `null`. The last beacon is sealed when the end is noticed: on the next
//!   action, on a timer tick, or at `endSession()`. The ended state stays stored (it keeps the
//!   visitor id and tells other tabs the end was announced) until the next action.
//! - Only actions and API calls are activity: requests of a polling timer do not keep an idle
//!   session alive.
//! - Ending a session closes its open actions at that moment, with their API values and no rule
//!   values (the runtime may end them properly first: [`Agent::open_action_ids`]).
//! - A user id survives a session that ended by idle, duration or action count on this page (the
//!   same person is still logged in) but not `endSession()`, which pages call at logout.
//! - An action of an unsampled session counts toward the session's bounds but is not sent.
//! - Session properties are stored with the session and refolded on the next page, so `sum`,
//!   `min`, `max`, `first` and `last` span pages; `avg` restarts from the stored mean.
//! - Every beacon stays in the outbox until a 2xx: one sent on leave (whose answer may never
//!   come) is sent again by a later page, and the collector drops the duplicate.
//! - Bodies carry two optional counters (see [`beacon`]): `faults` and `dropped`.

use crate::prelude::*;
pub mod action;
pub mod api;
pub mod beacon;
pub mod flush;
pub mod queue;
pub mod retry;
pub mod session;

use crate::capture::{Issue, Outcome, PropertyMap};
use crate::config::Config;
use crate::json::Value;
use crate::session::SessionProps;
use crate::value::{PropType, Reason};
use action::{clean_name, Action, ActionKind};
use api::{ApiReport, ApiValue, Mode, Target};
use flush::{FlushPolicy, FlushReason};
use queue::{Entry, Outbox};
use retry::Verdict;
use session::{EndReason, Entropy, SessionState};

/// At most this many actions are open at once; opening one more closes the oldest.
pub const MAX_OPEN_ACTIONS: usize = 16;
/// At most this many distinct issues wait for the next beacon; more are not recorded.
pub const MAX_PENDING_ISSUES: usize = 200;
/// A bound on a body's fields besides actions, session properties and issues: ids, numbers,
/// the user id, field names.
const BODY_HEADER_BYTES: usize = 768;
/// Clicks within this long of a burst's first click are part of it ([`Agent::click_at`]).
pub const RAGE_CLICK_MS: i64 = 1_000;
/// Clicks at most this far from a burst's first click (CSS pixels, in each direction) are on
/// the same spot ([`Agent::click_at`]).
pub const RAGE_CLICK_PX: f64 = 30.0;
/// At most this many beacons are in flight outside a page leave: a page restoring a full outbox
/// must not open dozens of connections at once.
pub const MAX_IN_FLIGHT: usize = 4;

/// What the runtime does with one storage slot after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Leave it as it is.
    Unchanged,
    /// Write this text.
    Write(String),
    /// Delete it (`disable()`, or nothing left to keep).
    Delete,
}

/// The storage writes an event calls for: the session (cookie and localStorage mirror), the
/// session's properties and the outbox (localStorage only; too large for a cookie).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageUpdate {
    /// The session state ([`SessionState::to_storage`]).
    pub session: Stored,
    /// The session's properties ([`Agent::session_props_storage`]).
    pub props: Stored,
    /// The outbox ([`Outbox::to_storage`]).
    pub outbox: Stored,
}

/// What the runtime read from storage at page start.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoredState<'a> {
    /// The session state (cookie, or the localStorage mirror when the cookie is gone).
    pub session: Option<&'a str>,
    /// The session's properties.
    pub props: Option<&'a str>,
    /// The outboxes of earlier pages. With one localStorage key per page (`rumprops.q.<collector
    /// hash>.<page id>`), no tab overwrites another's unsent beacons; a new page adopts every key
    /// of its collector (never another collector's beacons) and deletes them once its own is written. A live tab's beacons adopted that way
    /// are sent twice at worst, and the collector keeps one.
    pub outboxes: &'a [&'a str],
}

/// A body the runtime must POST to the collector.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Session id (with `seq`, the key to report the response with).
    pub sid: String,
    /// Beacon number.
    pub seq: u64,
    /// The JSON body (`Content-Type: text/plain;charset=UTF-8`).
    pub body: String,
    /// The page may be leaving: use `sendBeacon` or `fetch` with `keepalive`.
    pub leave: bool,
}

#[derive(Debug, Clone)]
struct OpenAction {
    action: Action,
    /// Values from `addActionProperties`; they win over the rules' values at the end.
    api: PropertyMap,
    sampled: bool,
    /// [`Agent::tick`] already asked the runtime to end it: no more wake-ups for it.
    reported_overdue: bool,
}

/// The agent's state on one page.
#[derive(Debug, Clone)]
pub struct Agent {
    config: Config,
    mode: Mode,
    session: Option<SessionState>,
    props: SessionProps,
    visitor_id: Option<String>,
    /// A user id given before any session existed, or kept for the next session.
    user_id: Option<String>,
    open: Vec<OpenAction>,
    /// Encoded actions waiting for the next beacon, oldest first.
    batch: Vec<String>,
    issues: Vec<Issue>,
    policy: FlushPolicy,
    /// Set when the page may be leaving: the next hand-out is bounded by the keepalive budget,
    /// the beacons of this list (just sealed, newest actions first) before older ones.
    leaving: Option<Vec<(String, u64)>>,
    outbox: Outbox,
    faults: u64,
    /// What was last handed to storage, to write only on change: session, props, outbox.
    written: [Option<String>; 3],
    /// The outbox version `written` holds (`None`: not written yet).
    written_outbox_version: Option<u64>,
    /// The page's screen and connection as `session` members ([`beacon::device_json`]), set by
    /// the runtime at start.
    pub device: String,
    /// The current burst of clicks on one spot: when and where its first click was, and how
    /// many it has had ([`Agent::click_at`]).
    burst: (i64, f64, f64, u32),
}

impl Agent {
    /// An agent for a validated config, in the mode privacy allows ([`api::mode`]).
    pub fn new(config: Config, mode: Mode) -> Agent {
        let policy = FlushPolicy::new(config.batch);
        Agent {
            config,
            mode,
            session: None,
            props: SessionProps::new(),
            visitor_id: None,
            user_id: None,
            open: Vec::new(),
            batch: Vec::new(),
            issues: Vec::new(),
            policy,
            leaving: None,
            outbox: Outbox::new(),
            faults: 0,
            written: [None, None, None],
            written_outbox_version: None,
            device: String::new(),
            burst: (0, 0.0, 0.0, 0),
        }
    }

    /// The config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The current session, if any.
    pub fn session(&self) -> Option<&SessionState> {
        self.session.as_ref()
    }

    /// Changes the mode (`enable()`, `disable()`, a DNT change). Turning off forgets everything:
    /// the runtime then deletes the stored state ([`Agent::session_storage`] is `None`).
    pub fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
        match mode {
            Mode::Off => {
                // As new (`Agent::new`), keeping the config and what was last written, so the
                // next storage update deletes it.
                self.session = None;
                self.props = SessionProps::new();
                self.visitor_id = None;
                self.user_id = None;
                self.open = Vec::new();
                self.batch = Vec::new();
                self.issues = Vec::new();
                self.policy.flushed();
                self.leaving = None;
                self.outbox = Outbox::new();
                self.faults = 0;
                self.written_outbox_version = None;
            }
            Mode::Anonymous => {
                self.visitor_id = None;
                self.user_id = None;
                if let Some(s) = &mut self.session {
                    s.visitor_id = None;
                    s.user_id = None;
                }
            }
            Mode::Full => {}
        }
    }

    /// Page start: the stored session, its properties (refolded, so `sum`, `min`, `first`…
    /// go on across pages) and the outbox, whose beacons become due at once. Malformed text
    /// is ignored.
    pub fn restore(&mut self, stored: &StoredState, now: i64) {
        if self.mode == Mode::Off {
            return;
        }
        self.sync_session(stored.session, now);
        if let (Some(text), Some(s)) = (stored.props, &self.session) {
            let (sid, start) = (s.id.clone(), s.start);
            self.restore_props(text, &sid, start);
        }
        for text in stored.outboxes {
            self.outbox.merge(Outbox::from_storage(text));
        }
        self.skip_queued_seqs();
        self.written = [stored.session.map(str::to_owned), stored.props.map(str::to_owned), None];
    }

    /// Moves the session's next beacon number past every queued one of the session, so a stale
    /// stored state (a failed write, a cookie older than its mirror) never reuses a number: the
    /// outbox would replace the queued beacon and the collector would drop the new one.
    fn skip_queued_seqs(&mut self) {
        if let Some(s) = &mut self.session {
            for e in self.outbox.entries() {
                if e.sid == s.id {
                    s.next_seq = s.next_seq.max(e.seq.saturating_add(1));
                }
            }
        }
    }

    /// Folds stored session properties back in, as if observed at the session start (so any
    /// newer value is later for `last` and `first` keeps the stored one). An `avg` restarts from
    /// the stored mean as one value: the count is not stored.
    fn restore_props(&mut self, text: &str, sid: &str, start: i64) {
        let Ok(root) = crate::json::parse(text) else { return };
        if root.get("sid").and_then(Value::as_str) != Some(sid) {
            return;
        }
        let Some(props) = root.get("props") else { return };
        for ty in PropType::ALL {
            let Some(Value::Object(members)) = props.get(ty.name()) else { continue };
            for (key, v) in members {
                let Some(prop) = self.config.property(key).filter(|p| p.prop_type == ty && p.storage.on_session())
                else {
                    continue;
                };
                // Strings are stored as JSON strings, the other types as numbers.
                let (Value::String(text) | Value::Number(text)) = v else { continue };
                if (ty == PropType::String) != matches!(v, Value::String(_)) {
                    continue;
                }
                if let Ok(value) = crate::value::type_text(text, ty) {
                    let _ = self.props.fold(prop, &value, start);
                }
            }
        }
    }

    /// The session's properties for localStorage: `{"sid":…,"props":{"string":{…},…}}`
    /// (`None` without a session or when off).
    pub fn session_props_storage(&self) -> Option<String> {
        let s = self.session.as_ref().filter(|_| self.mode != Mode::Off)?;
        let mut out = String::from("{\"sid\":");
        crate::json::write_str(&mut out, &s.id);
        out.push_str(",\"props\":");
        self.props.values().write_json(&mut out);
        out.push('}');
        Some(out)
    }

    /// The storage writes due since the last call: the runtime calls this after every event and
    /// carries them out (a cookie and localStorage for the session, localStorage for the rest).
    pub fn take_storage_update(&mut self) -> StorageUpdate {
        fn update(new: Option<String>, old: &mut Option<String>) -> Stored {
            if new == *old {
                Stored::Unchanged
            } else {
                *old = new.clone();
                new.map_or(Stored::Delete, Stored::Write)
            }
        }
        let new_session = self.session_storage();
        let new_props = self.session_props_storage();
        // The outbox text (up to half a megabyte) is rebuilt and compared only when a beacon was
        // added or removed since the last write.
        let outbox_moved = self.written_outbox_version != Some(self.outbox.version());
        let new_outbox = if outbox_moved { self.outbox_storage() } else { None };
        self.written_outbox_version = Some(self.outbox.version());
        let [session, props, outbox] = &mut self.written;
        let session = update(new_session, session);
        let props = update(new_props, props);
        let outbox = if outbox_moved { update(new_outbox, outbox) } else { Stored::Unchanged };
        StorageUpdate { session, props, outbox }
    }

    /// Adopts the session state another tab stored (call before each action and tick). The same
    /// session merges counters; another session replaces ours after our waiting data is sealed.
    pub fn sync_session(&mut self, stored: Option<&str>, now: i64) {
        if self.mode == Mode::Off {
            return;
        }
        let Some(mut theirs) = stored.and_then(SessionState::from_storage) else { return };
        if self.mode == Mode::Anonymous {
            theirs.visitor_id = None;
            theirs.user_id = None;
        }
        if theirs.visitor_id.is_some() {
            self.visitor_id = theirs.visitor_id.clone();
        }
        match &mut self.session {
            Some(ours) if ours.id == theirs.id => {
                ours.actions = ours.actions.max(theirs.actions);
                ours.next_seq = ours.next_seq.max(theirs.next_seq);
                ours.touch(theirs.last_activity);
                ours.ended = ours.ended.or(theirs.ended);
                for (sid, seq) in theirs.prev.iter().rev() {
                    ours.note_prev(sid, *seq);
                }
                if theirs.user_id.is_some() {
                    ours.user_id = theirs.user_id;
                }
            }
            _ => {
                // Our waiting data of the session they replaced goes out under numbers past
                // those the other tab used for it (its last beacon), and theirs learns ours.
                if let Some(ours) = &mut self.session {
                    ours.next_seq = ours.next_seq.max(theirs.prev_seq(&ours.id).unwrap_or(0));
                }
                self.close_open_actions(now);
                self.seal(None, now);
                if let Some(ours) = &self.session {
                    theirs.note_prev(&ours.id, ours.next_seq);
                }
                self.props = SessionProps::new();
                self.session = Some(theirs);
            }
        }
        self.skip_queued_seqs();
    }

    /// Opens an action at `now` and returns its id (`None` when the agent is off). Ends the
    /// session first if it is over, and starts one if there is none; `entropy` is 32 fresh
    /// random bytes, used only then.
    pub fn start_action(
        &mut self,
        kind: ActionKind,
        name: &str,
        url: &str,
        now: i64,
        entropy: &Entropy,
    ) -> Option<String> {
        let session = self.live_session(now, entropy)?;
        let id = session.next_action_id();
        session.touch(now);
        let sampled = session.sampled;
        if self.open.len() >= MAX_OPEN_ACTIONS {
            self.end_open(0, &[], now);
        }
        self.open.push(OpenAction {
            action: Action::new(id.clone(), kind, name, url, now),
            api: PropertyMap::default(),
            sampled,
            reported_overdue: false,
        });
        Some(id)
    }

    /// Ids of the open actions, oldest first.
    pub fn open_action_ids(&self) -> Vec<&str> {
        let mut ids = Vec::with_capacity(self.open.len());
        for o in &self.open {
            ids.push(o.action.id.as_str());
        }
        ids
    }

    fn open_mut(&mut self, id: Option<&str>) -> Option<&mut OpenAction> {
        match id {
            Some(id) => self.open.iter_mut().find(|o| o.action.id == id),
            None => self.open.last_mut(),
        }
    }

    /// Counts a request for an action (`None`: the newest open one). Requests are not user
    /// activity: a polling timer must not keep an idle session alive.
    pub fn count_request(&mut self, action_id: Option<&str>, failed: bool) {
        if let Some(o) = self.open_mut(action_id) {
            o.action.count_request(failed);
        }
    }

    /// Counts a JS error for an action (`None`: the newest open one).
    pub fn count_js_error(&mut self, action_id: Option<&str>) {
        if let Some(o) = self.open_mut(action_id) {
            o.action.count_js_error();
        }
    }

    /// A JS error at `now`, of the page or reported through the API (`reportError`): counted
    /// for the open action `action_id` (`None`: the newest one), and recorded with it
    /// ([`Action::record_error`]) up to the config's `errors.maxPerAction`. Without such an
    /// action it is neither counted nor recorded.
    pub fn js_error(&mut self, action_id: Option<&str>, message: String, file: Option<String>, at: [Option<f64>; 2], now: i64) {
        let max = self.config.max_errors;
        if let Some(o) = self.open_mut(action_id) {
            o.action.count_js_error();
            o.action.record_error(message, file, at, now, max);
        }
    }

    /// A click at `(x, y)` (CSS pixels in the viewport) at `now`, after its action started: the
    /// third click of a burst is a rage click of the newest open action. A burst is the clicks
    /// within [`RAGE_CLICK_MS`] of its first one and at most [`RAGE_CLICK_PX`] from it in
    /// both directions (the same spot); a click outside it starts the next burst. A burst counts
    /// once, however many clicks it has.
    pub fn click_at(&mut self, x: f64, y: f64, now: i64) {
        let (t, bx, by, n) = self.burst;
        if n > 0 && now - t <= RAGE_CLICK_MS && (x - bx).abs() <= RAGE_CLICK_PX && (y - by).abs() <= RAGE_CLICK_PX {
            self.burst.3 = n.saturating_add(1);
            if n == 2 {
                if let Some(o) = self.open_mut(None) {
                    o.action.rage_clicks = o.action.rage_clicks.saturating_add(1);
                }
            }
        } else {
            self.burst = (now, x, y, 1);
        }
    }

    /// `nameAction(name, actionId|null)`: renames the open action `action_id` (`None`: the
    /// newest one) before it is sent, the name cleaned as any other ([`clean_name`]). Answers
    /// the action's id, or `None` when no such action is open or the name is blank.
    pub fn name_action(&mut self, action_id: Option<&str>, name: &str) -> Option<&str> {
        let name = clean_name(name);
        let o = self.open_mut(action_id).filter(|_| !name.is_empty())?;
        o.action.name = name;
        Some(&o.action.id)
    }

    /// The open action `id`, for the runtime to set its measures before it ends.
    pub fn open_action(&mut self, id: &str) -> Option<&mut Action> {
        self.open_mut(Some(id)).map(|o| &mut o.action)
    }

    fn touch(&mut self, now: i64) {
        if let Some(s) = &mut self.session {
            s.touch(now);
        }
    }

    /// `addActionProperties(actionId|null, …)`: checks the values and keeps the accepted ones
    /// for the action's end. Without an open action (or an unknown id) every key fails with
    /// `not_found`.
    pub fn add_action_properties(
        &mut self,
        action_id: Option<&str>,
        values: &[(PropType, String, ApiValue)],
    ) -> ApiReport {
        if self.mode == Mode::Off {
            return ApiReport::default();
        }
        let mut report = api::check(&self.config, Target::Action, values, self.mode == Mode::Anonymous);
        match self.open_mut(action_id) {
            Some(o) => {
                for (k, v) in &report.sent {
                    o.api.set(k, v.clone());
                }
            }
            None => {
                for (k, _) in &report.sent {
                    report.failed.push((k.clone(), Reason::NotFound));
                }
                report.sent.clear();
            }
        }
        report
    }

    /// Ends an action with the rules' outcomes (in config order, from `capture::evaluate`);
    /// API values win over them. `false` if no such action is open.
    pub fn end_action(&mut self, id: &str, outcomes: &[Outcome], now: i64) -> bool {
        let Some(pos) = self.open.iter().position(|o| o.action.id == id) else { return false };
        self.end_open(pos, outcomes, now)
    }

    /// Ends the open action at `pos` (see [`Agent::end_action`]); `false` if there is none.
    fn end_open(&mut self, pos: usize, outcomes: &[Outcome], now: i64) -> bool {
        let Some(OpenAction { mut action, api, sampled, .. }) = take_at(&mut self.open, pos) else { return false };
        action.finish(now);
        action.apdex = action::apdex(action.end - action.start, action.js_errors, self.config.apdex);
        // The capped end, not `now`: an action ended late (a throttled background tab) must not
        // revive a session that went idle meanwhile.
        self.touch(action.end);
        if !sampled {
            return true;
        }
        let anonymous = self.mode == Mode::Anonymous;
        // Issues of folding into the session's properties come first, then the rules' issues.
        let mut issues = Vec::new();
        let mut refused = Vec::new();
        for (i, prop) in self.config.properties.iter().enumerate() {
            let value = match (api.get(&prop.key), outcomes.get(i)) {
                (Some(v), _) | (None, Some(Outcome::Value(v))) => Ok(v),
                (None, Some(Outcome::Issue(reason))) => Err(*reason),
                _ => continue,
            };
            // The property's issue, if any: a refusal (the rule's or DNT's), or one of folding it in.
            let (list, reason) = match value {
                Err(reason) => (&mut refused, reason),
                Ok(_) if anonymous && !prop.public => (&mut refused, Reason::DntMasked),
                Ok(value) => {
                    if prop.storage.on_action() {
                        action.props.set(&prop.key, value.clone());
                    }
                    let folded =
                        if prop.storage.on_session() { self.props.fold(prop, value, action.end) } else { Ok(()) };
                    let Err(reason) = folded else { continue };
                    (&mut issues, reason)
                }
            };
            list.push(Issue { key: prop.key.clone(), reason });
        }
        issues.append(&mut refused);
        let encoded = beacon::action_json(action, &mut issues);
        let size = encoded.len() as u64;
        if let Some(reason) = self.policy.before_action(size, self.body_overhead()) {
            self.seal(Some(reason), now);
        }
        // The action's issues travel with it.
        self.add_issues(&issues);
        self.batch.push(encoded);
        if let Some(reason) = self.policy.action_added(size, self.body_overhead(), now) {
            self.seal(Some(reason), now);
        }
        true
    }

    /// The bytes of a body besides its actions: header, session part and issues (an estimate
    /// from above, so that bodies stay within `batch.maxBytes`).
    fn body_overhead(&self) -> u64 {
        let mut props = String::new();
        self.props.values().write_json(&mut props);
        let mut bytes = BODY_HEADER_BYTES + props.len();
        for i in &self.issues {
            bytes += i.key.len() + 32;
        }
        bytes as u64
    }

    fn add_issues(&mut self, issues: &[Issue]) {
        for i in issues {
            if self.issues.len() < MAX_PENDING_ISSUES && !self.issues.contains(i) {
                self.issues.push(i.clone());
            }
        }
    }

    /// `sendSessionProperties({…})`: folds the accepted values into the session now.
    pub fn send_session_properties(
        &mut self,
        values: &[(PropType, String, ApiValue)],
        now: i64,
        entropy: &Entropy,
    ) -> ApiReport {
        let anonymous = self.mode == Mode::Anonymous;
        if self.live_session(now, entropy).is_none() {
            return ApiReport::default();
        }
        let mut report = api::check(&self.config, Target::Session, values, anonymous);
        let mut i = 0;
        while let Some((key, v)) = report.sent.get(i) {
            let folded = match self.config.property(key) {
                Some(prop) => self.props.fold(prop, v, now),
                None => Err(Reason::InvalidKey),
            };
            match folded {
                Ok(()) => i += 1,
                Err(r) => {
                    if let Some((key, _)) = take_at(&mut report.sent, i) {
                        report.failed.push((key, r));
                    }
                }
            }
        }
        if !report.sent.is_empty() {
            self.touch(now);
            self.policy.data_waiting(now);
        }
        report
    }

    /// `identifyUser(id)`: ignored when off or anonymous (`false`). Cut to
    /// [`session::MAX_USER_ID_CHARS`]; an empty id forgets the user.
    pub fn identify_user(&mut self, user_id: &str, now: i64) -> bool {
        if self.mode != Mode::Full {
            return false;
        }
        let mut id = crate::text::trim_ascii_ws(user_id).to_owned();
        crate::value::truncate(&mut id, session::MAX_USER_ID_CHARS);
        let id = (!id.is_empty()).then_some(id);
        self.user_id = id.clone();
        if let Some(s) = &mut self.session {
            s.user_id = id;
            self.policy.data_waiting(now);
        }
        true
    }

    /// `endSession()`: the session's last beacon goes out with `ended: "end_session"`.
    pub fn end_session(&mut self, now: i64) {
        if self.running().is_some() {
            self.close_session(EndReason::EndSession, now);
        }
    }

    /// `flush()`: seal what waits into beacons, due at once.
    pub fn flush(&mut self, now: i64) {
        if self.policy.has_data() {
            self.seal(Some(FlushReason::Manual), now);
        }
    }

    /// `visibilitychange` to hidden, `pagehide` or `freeze`: seal what waits, newest action
    /// first, and let the next [`Agent::take_beacons`] hand out what fits the keepalive budget
    /// (older beacons waiting for a retry too: the page may not get another chance).
    pub fn on_leave(&mut self, reason: FlushReason, now: i64) {
        if self.mode == Mode::Off {
            return;
        }
        let mut fresh = match self.policy.leave(reason) {
            Some(r) => self.seal(Some(r), now),
            None => Vec::new(),
        };
        match &mut self.leaving {
            Some(leaving) => leaving.append(&mut fresh),
            None => self.leaving = Some(fresh),
        }
    }

    /// A timer tick: the interval flush, and the end of an idle or too long session without open
    /// actions. Returns the ids of actions open for [`action::MAX_ACTION_DURATION_MS`], each
    /// once: the runtime ends them (with the rules' outcomes) now.
    pub fn tick(&mut self, now: i64) -> Vec<String> {
        if let Some(r) = self.policy.tick(now) {
            self.seal(Some(r), now);
        }
        let mut overdue = Vec::new();
        for o in &mut self.open {
            if o.action.is_overdue(now) && !o.reported_overdue {
                o.reported_overdue = true;
                overdue.push(o.action.id.clone());
            }
        }
        let ended = self.running().and_then(|s| s.end_reason(&self.config.session, now));
        if let (Some(reason), true) = (ended, self.open.is_empty()) {
            self.close_session(reason, now);
        }
        overdue
    }

    /// When the runtime should call [`Agent::tick`] and [`Agent::take_beacons`] next.
    pub fn next_wakeup(&self) -> Option<i64> {
        if self.leaving.is_some() {
            return Some(i64::MIN);
        }
        let mut at = self.policy.due_at();
        // With all sends out, wait for an answer (the runtime calls again) or for the first send
        // to time out.
        let busy = self.in_flight() >= MAX_IN_FLIGHT;
        for e in self.outbox.entries() {
            if !busy || e.in_flight_since.is_some() {
                at = earliest(at, e.due_at());
            }
        }
        // A session with open actions ends only after them (see `tick`), so no wake-up for it.
        if let (Some(s), true) = (self.running(), self.open.is_empty()) {
            at = earliest(at, s.expires_at(&self.config.session));
        }
        for o in &self.open {
            if !o.reported_overdue {
                at = earliest(at, o.action.start.saturating_add(action::MAX_ACTION_DURATION_MS));
            }
        }
        at
    }

    /// Hands out the beacons that may be sent now (at most [`MAX_IN_FLIGHT`] in flight). After
    /// [`Agent::on_leave`], only what fits the 64 KiB keepalive budget is handed out: the beacons
    /// just sealed (newest actions first), then older ones newest first; the rest stays stored
    /// for the next page.
    pub fn take_beacons(&mut self, now: i64) -> Vec<Outgoing> {
        let mut out = Vec::new();
        if self.mode == Mode::Off {
            return out;
        }
        let Some(fresh) = self.leaving.take() else {
            let room = MAX_IN_FLIGHT.saturating_sub(self.in_flight());
            // No byte budget outside a leave.
            let mut budget = usize::MAX;
            for i in 0..self.outbox.entries().len() {
                if out.len() < room {
                    self.hand_out(i, now, false, &mut budget, &mut out);
                }
            }
            return out;
        };
        let mut budget = beacon::MAX_BEACON_BYTES;
        for (sid, seq) in &fresh {
            if let Some(i) = self.outbox.index_of(sid, *seq) {
                self.hand_out(i, now, true, &mut budget, &mut out);
            }
        }
        for i in (0..self.outbox.entries().len()).rev() {
            let e = self.outbox.entries().get(i);
            if !fresh.iter().any(|(sid, seq)| e.is_some_and(|e| e.is(sid, *seq))) {
                self.hand_out(i, now, true, &mut budget, &mut out);
            }
        }
        out
    }

    fn in_flight(&self) -> usize {
        let mut n = 0;
        for e in self.outbox.entries() {
            n += usize::from(e.in_flight_since.is_some());
        }
        n
    }

    /// Hands out the outbox entry `i` if it is due at `now` and its body fits `budget` (bytes,
    /// taken from it): marks it in flight and adds it to `out`.
    fn hand_out(&mut self, i: usize, now: i64, leave: bool, budget: &mut usize, out: &mut Vec<Outgoing>) {
        let Some(e) = self.outbox.entry_mut(i).filter(|e| e.due_at() <= now && e.body.len() <= *budget) else {
            return;
        };
        *budget -= e.body.len();
        e.in_flight_since = Some(now);
        out.push(Outgoing { sid: e.sid.clone(), seq: e.seq, body: e.body.clone(), leave });
    }

    /// The collector answered a beacon (`status` `None`: network error). `jitter` is a random
    /// number in [0, 1). Returns what happened, so the runtime can log a dropped beacon.
    pub fn on_response(
        &mut self,
        sid: &str,
        seq: u64,
        status: Option<u16>,
        retry_after: Option<&str>,
        now: i64,
        jitter: f64,
    ) -> Verdict {
        let verdict = retry::classify(status);
        match verdict {
            Verdict::Delivered | Verdict::Drop => {
                self.outbox.remove(sid, seq);
            }
            Verdict::Retry => {
                let Some(e) = self.outbox.get_mut(sid, seq) else { return verdict };
                e.in_flight_since = None;
                e.failures = e.failures.saturating_add(1);
                if retry::give_up(e.failures, e.created, now) {
                    self.outbox.remove(sid, seq);
                    self.outbox.dropped = self.outbox.dropped.saturating_add(1);
                } else {
                    let after = retry_after.and_then(|v| retry::parse_retry_after(v, now));
                    let delay = retry::next_delay_ms(e.failures, jitter, after);
                    e.not_before = now.saturating_add(i64::try_from(delay).unwrap_or(i64::MAX));
                }
            }
        }
        verdict
    }

    /// Counts an internal fault the runtime caught; reported on the next beacon as `faults`.
    pub fn note_fault(&mut self) {
        self.faults = self.faults.saturating_add(1);
    }

    /// The session to store in the cookie and localStorage (`None`: delete them).
    pub fn session_storage(&self) -> Option<String> {
        if self.mode == Mode::Off {
            return None;
        }
        self.session.as_ref().map(SessionState::to_storage)
    }

    /// The outbox to store in localStorage (`None`: delete it).
    pub fn outbox_storage(&self) -> Option<String> {
        (self.mode != Mode::Off).then(|| self.outbox.to_storage())
    }

    /// The session, starting a new one if there is none or the current one is over.
    fn live_session(&mut self, now: i64, entropy: &Entropy) -> Option<&mut SessionState> {
        if self.mode == Mode::Off {
            return None;
        }
        let over =
            self.session.as_ref().and_then(|s| Some((s.end_reason(&self.config.session, now)?, s.ended.is_some())));
        match over {
            // Ended here or in another tab, which sealed its last beacon then: only data of
            // ours that is still waiting goes out under the old id.
            Some((_, true)) => {
                self.close_open_actions(now);
                self.seal(None, now);
            }
            Some((reason, false)) => self.close_session(reason, now),
            None => {}
        }
        let old = if over.is_some() { self.session.take() } else { None };
        if self.session.is_none() {
            if self.mode == Mode::Full && self.visitor_id.is_none() {
                self.visitor_id = Some(SessionState::new_visitor_id(entropy));
            }
            let mut s = SessionState::new(entropy, self.visitor_id.clone(), now, self.config.sample_rate);
            s.user_id = self.user_id.clone();
            if let Some(mut old) = old {
                s.prev = core::mem::take(&mut old.prev);
                s.note_prev(&old.id, old.next_seq);
            }
            self.props = SessionProps::new();
            self.session = Some(s);
        }
        self.session.as_mut()
    }

    fn close_open_actions(&mut self, now: i64) {
        // Oldest first.
        while self.end_open(0, &[], now) {}
    }

    /// Ends the session: its open actions close, and its last beacon carries the reason. The
    /// ended state stays (and is stored) until the next action starts a new session: it keeps
    /// the visitor id, and tells other tabs that the last beacon was sent.
    fn close_session(&mut self, reason: EndReason, now: i64) {
        self.close_open_actions(now);
        if let Some(s) = &mut self.session {
            s.ended = Some(reason);
        }
        // The last beacon goes to the outbox now, where it is due at once.
        self.seal(Some(FlushReason::SessionEnd), now);
        if reason == EndReason::EndSession {
            self.user_id = None;
            if let Some(s) = &mut self.session {
                s.user_id = None;
            }
        }
        self.props = SessionProps::new();
    }

    /// The session, if it has not ended.
    fn running(&self) -> Option<&SessionState> {
        self.session.as_ref().filter(|s| s.ended.is_none())
    }

    /// Builds beacons of the waiting data into the outbox, where they are due at once, and
    /// returns their `(sid, seq)`. For a leave the newest actions go into the first beacon.
    fn seal(&mut self, reason: Option<FlushReason>, now: i64) -> Vec<(String, u64)> {
        let has_waiting = !self.batch.is_empty() || !self.issues.is_empty() || self.policy.has_data();
        let ending = reason == Some(FlushReason::SessionEnd);
        let Some(session) = self.session.as_mut().filter(|s| s.sampled && (has_waiting || ending)) else {
            self.batch = Vec::new();
            self.issues = Vec::new();
            self.policy.flushed();
            return Vec::new();
        };
        let mut actions = core::mem::take(&mut self.batch);
        if reason.is_some_and(FlushReason::is_leave) {
            // Newest first: on leaving, the beacons that get out first carry the latest actions.
            let mut rest = actions.as_mut_slice();
            while let [first, middle @ .., last] = rest {
                core::mem::swap(first, last);
                rest = middle;
            }
        }
        let mut issues = core::mem::take(&mut self.issues);
        let session_json = beacon::session_json(
            beacon::SessionPart {
                start: session.start,
                user_id: session.user_id.as_deref(),
                ended: session.ended,
                props: self.props.values(),
                device: &self.device,
            },
            &mut issues,
        );
        let header = beacon::Header {
            app: self.config.app.as_deref().unwrap_or(""),
            vid: session.visitor_id.as_deref(),
            sid: &session.id,
            sent_at: now,
            faults: self.faults,
            dropped: self.outbox.dropped,
        };
        // `batch.maxBytes` is kept by the flush policy; splitting is only for the hard limit.
        let bodies = beacon::build(&header, &session_json, actions, issues, beacon::MAX_BEACON_BYTES, session.next_seq);
        let sid = session.id.clone();
        self.faults = 0;
        self.outbox.dropped = 0;
        let mut made = Vec::with_capacity(bodies.len());
        for body in bodies {
            // The bodies are numbered from the session's next beacon number on.
            let seq = session.take_seq();
            self.outbox.push(Entry::new(&sid, seq, body, now));
            made.push((sid.clone(), seq));
        }
        self.policy.flushed();
        made
    }
}

/// Takes out item `i`, keeping the others in order (as `Vec::remove`, without its panic path).
fn take_at<T>(v: &mut Vec<T>, i: usize) -> Option<T> {
    // Swap it to the end, then pop it.
    let mut rest = v.get_mut(i..).filter(|r| !r.is_empty())?;
    while let [item, tail @ ..] = rest {
        if let Some(next) = tail.first_mut() {
            core::mem::swap(item, next);
        }
        rest = tail;
    }
    v.pop()
}

/// The earlier of a time and an optional one.
fn earliest(a: Option<i64>, b: i64) -> Option<i64> {
    Some(a.map_or(b, |a| a.min(b)))
}

#[cfg(test)]
mod tests;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod fuzz;
