//! The session state machine (DESIGN.md §3) and its storage form.
//!
//! The state is small and shared by the tabs of one origin through a first-party cookie and a
//! localStorage mirror: the runtime reads it before each action and writes it back after, so
//! two tabs count actions, beacon numbers and idle time of one session together. Ids and random
//! numbers come from the caller (`crypto.getRandomValues` in the browser).

use crate::prelude::*;
use crate::config::SessionConfig;
use crate::json;
use crate::text;
use crate::value::parse_i64;

/// Random bytes for a new session: 16 for the session id, 16 for a visitor id if none exists.
pub type Entropy = [u8; 32];

/// Version prefix of the stored form; another prefix is not ours (or too old) and is ignored.
const STATE_PREFIX: &str = "r1";
/// The shared state remembers this many replaced sessions.
pub const MAX_PREV_SESSIONS: usize = 4;
/// A user id is cut to this many characters (the collector refuses longer ids; cookies are small).
pub const MAX_USER_ID_CHARS: usize = 200;

/// Why a session ended. The codes are sent in the beacon's `session.ended`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// `idleTimeoutMs` passed without an action (`idle`).
    Idle,
    /// `maxDurationMs` passed since the start (`max_duration`).
    MaxDuration,
    /// `maxActions` actions were recorded (`max_actions`).
    MaxActions,
    /// The page called `endSession()` (`end_session`).
    EndSession,
}

impl EndReason {
    /// The code sent on the wire.
    pub fn code(self) -> &'static str {
        match self {
            EndReason::Idle => "idle",
            EndReason::MaxDuration => "max_duration",
            EndReason::MaxActions => "max_actions",
            EndReason::EndSession => "end_session",
        }
    }

    fn from_code(s: &str) -> Option<EndReason> {
        Some(match s {
            "idle" => EndReason::Idle,
            "max_duration" => EndReason::MaxDuration,
            "max_actions" => EndReason::MaxActions,
            "end_session" => EndReason::EndSession,
            _ => return None,
        })
    }
}

/// One session as stored and shared between tabs.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionState {
    /// 32 lower-case hex digits of 128 random bits.
    pub id: String,
    /// The persistent visitor id (`None` when privacy forbids one).
    pub visitor_id: Option<String>,
    /// Epoch ms of the first action.
    pub start: i64,
    /// Epoch ms of the latest activity (action start or end, API call).
    pub last_activity: i64,
    /// Actions recorded so far; the next action's id is `a` + (this + 1).
    pub actions: u64,
    /// The next beacon number of this session (shared so that two tabs never reuse one).
    pub next_seq: u64,
    /// Whether this session is captured (decided once, at its start, from its id).
    pub sampled: bool,
    /// From `identifyUser`.
    pub user_id: Option<String>,
    /// Set when the session ended and its last beacon was sealed: the next action (in any tab)
    /// starts a new session without announcing the end again.
    pub ended: Option<EndReason>,
    /// The sessions this one replaced (newest first, at most [`MAX_PREV_SESSIONS`]), with each
    /// one's next free beacon number: a tab that still holds data of one seals that data under
    /// numbers no other tab used.
    pub prev: Vec<(String, u64)>,
}

/// 32 lower-case hex digits.
pub fn hex_id(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        push_hex(&mut s, b, b"0123456789abcdef");
    }
    s
}

/// Appends the two hex digits of `b`, taken from `digits`.
fn push_hex(out: &mut String, b: u8, digits: &[u8; 16]) {
    for nibble in [b >> 4, b & 15] {
        out.push(char::from(digits.get(usize::from(nibble)).copied().unwrap_or(b'0')));
    }
}

/// A number in [0, 1) from four random bytes.
pub fn unit_from_bytes(b: [u8; 4]) -> f64 {
    f64::from(u32::from_be_bytes(b)) / 4_294_967_296.0
}

/// Whether a session is captured: `sample_rate` percent of sessions, from a uniform `unit` in [0, 1).
pub fn is_sampled(unit: f64, sample_rate: f64) -> bool {
    unit * 100.0 < sample_rate
}

impl SessionState {
    /// A new session starting at `now`. The sampling decision uses the id's last four bytes, so
    /// it is made once, and any tab (or the collector) can recompute it from the id.
    pub fn new(entropy: &Entropy, visitor_id: Option<String>, now: i64, sample_rate: f64) -> SessionState {
        let (sid, _) = entropy.split_at(16);
        let tail = match sid {
            [.., a, b, c, d] => [*a, *b, *c, *d],
            _ => [0; 4],
        };
        SessionState {
            id: hex_id(sid),
            visitor_id,
            start: now,
            last_activity: now,
            actions: 0,
            next_seq: 1,
            sampled: is_sampled(unit_from_bytes(tail), sample_rate),
            user_id: None,
            ended: None,
            prev: Vec::new(),
        }
    }

    /// A fresh visitor id from the second half of `entropy`.
    pub fn new_visitor_id(entropy: &Entropy) -> String {
        hex_id(entropy.get(16..).unwrap_or_default())
    }

    /// Whether (and why) the session is over at `now`. When both time bounds have passed, the
    /// one reached first is the reason.
    pub fn end_reason(&self, cfg: &SessionConfig, now: i64) -> Option<EndReason> {
        if let Some(r) = self.ended {
            return Some(r);
        }
        if self.actions >= cfg.max_actions {
            return Some(EndReason::MaxActions);
        }
        let idle_at = self.last_activity.saturating_add(ms(cfg.idle_timeout_ms));
        let max_at = self.start.saturating_add(ms(cfg.max_duration_ms));
        match (now >= idle_at, now >= max_at) {
            (true, true) if max_at < idle_at => Some(EndReason::MaxDuration),
            (true, _) => Some(EndReason::Idle),
            (false, true) => Some(EndReason::MaxDuration),
            (false, false) => None,
        }
    }

    /// The epoch ms at which the session ends by itself if nothing happens (for the runtime's timer).
    pub fn expires_at(&self, cfg: &SessionConfig) -> i64 {
        self.last_activity
            .saturating_add(ms(cfg.idle_timeout_ms))
            .min(self.start.saturating_add(ms(cfg.max_duration_ms)))
    }

    /// Records activity at `now` (a clock going backwards never moves it back).
    pub fn touch(&mut self, now: i64) {
        self.last_activity = self.last_activity.max(now);
    }

    /// Counts a new action and returns its id (`a1`, `a2`, …).
    pub fn next_action_id(&mut self) -> String {
        self.actions = self.actions.saturating_add(1);
        let mut id = String::from("a");
        json::write_i64(&mut id, i64::try_from(self.actions).unwrap_or(i64::MAX));
        id
    }

    /// Takes the next beacon number.
    pub fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        seq
    }

    /// Records (or raises) a replaced session's next free beacon number, newest first.
    pub fn note_prev(&mut self, sid: &str, next_seq: u64) {
        match self.prev.iter_mut().find(|(s, _)| s == sid) {
            Some(p) => p.1 = p.1.max(next_seq),
            None => {
                // Shift the list down by one from the front; the oldest falls off a full list.
                let mut item = (sid.to_owned(), next_seq);
                for slot in &mut self.prev {
                    core::mem::swap(slot, &mut item);
                }
                if self.prev.len() < MAX_PREV_SESSIONS {
                    self.prev.push(item);
                }
            }
        }
    }

    /// The next free beacon number of a replaced session, if remembered.
    pub fn prev_seq(&self, sid: &str) -> Option<u64> {
        self.prev.iter().find(|(s, _)| s == sid).map(|p| p.1)
    }

    /// The storage form: `r1|sid|vid|start|last|actions|seq|sampled|ended|prev|user`, `prev`
    /// being `sid.seq` items joined by `_`,
    /// with the user id percent-encoded so it holds no `|`, `;`, `,` or white space (safe in a
    /// cookie value).
    pub fn to_storage(&self) -> String {
        let mut s = String::with_capacity(128);
        s.push_str(STATE_PREFIX);
        s.push('|');
        s.push_str(&self.id);
        s.push('|');
        s.push_str(self.visitor_id.as_deref().unwrap_or(""));
        s.push('|');
        json::write_i64(&mut s, self.start);
        s.push('|');
        json::write_i64(&mut s, self.last_activity);
        s.push('|');
        json::write_i64(&mut s, ms(self.actions));
        s.push('|');
        json::write_i64(&mut s, ms(self.next_seq));
        s.push_str(if self.sampled { "|1|" } else { "|0|" });
        s.push_str(self.ended.map_or("", EndReason::code));
        s.push('|');
        for (i, (sid, seq)) in self.prev.iter().enumerate() {
            if i > 0 {
                s.push('_');
            }
            s.push_str(sid);
            s.push('.');
            json::write_i64(&mut s, ms(*seq));
        }
        s.push('|');
        if let Some(u) = &self.user_id {
            percent_encode(u, &mut s);
        }
        s
    }

    /// Reads the storage form. Anything malformed is no state (a new session starts), never a panic.
    pub fn from_storage(text: &str) -> Option<SessionState> {
        let mut fields = [""; 11];
        let mut rest = Some(text.trim_ascii());
        for f in &mut fields {
            (*f, rest) = cut(rest?, b'|');
        }
        let [prefix, id, vid, start, last, actions, seq, sampled, ended, prev_items, user] = fields;
        let (start, last_activity) = (parse_i64(start)?, parse_i64(last)?);
        let (actions, next_seq) = (count(actions)?, count(seq).filter(|&n| n >= 1)?);
        let sampled = match sampled {
            "1" => true,
            "0" => false,
            _ => return None,
        };
        let ended = match ended {
            "" => None,
            code => Some(EndReason::from_code(code)?),
        };
        if prefix != STATE_PREFIX
            || rest.is_some()
            || !is_hex_id(id)
            || !(vid.is_empty() || is_hex_id(vid))
            || last_activity < start
        {
            return None;
        }
        let user_id = match user {
            "" => None,
            u => Some(crate::text::decode_uri_component(u)?),
        };
        let mut prev = Vec::new();
        let mut rest = Some(prev_items);
        while let (Some(items), true) = (rest, prev.len() < MAX_PREV_SESSIONS) {
            let item;
            (item, rest) = cut(items, b'_');
            if item.is_empty() {
                continue;
            }
            let (sid, seq) = cut(item, b'.');
            if !is_hex_id(sid) {
                return None;
            }
            prev.push((sid.to_owned(), count(seq?)?));
        }
        Some(SessionState {
            id: id.to_owned(),
            visitor_id: (!vid.is_empty()).then(|| vid.to_owned()),
            start,
            last_activity,
            actions,
            next_seq,
            sampled,
            user_id,
            ended,
            prev,
        })
    }
}

/// The text before the first `sep`, and the text after it if there is one.
fn cut(s: &str, sep: u8) -> (&str, Option<&str>) {
    match text::cut(s, sep) {
        Some((head, tail)) => (head, Some(tail)),
        None => (s, None),
    }
}

/// A stored count (never above `i64::MAX`, as [`ms`] writes it).
fn count(s: &str) -> Option<u64> {
    u64::try_from(parse_i64(s)?).ok()
}

/// A count or duration as a stored integer (saturating).
fn ms(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn is_hex_id(s: &str) -> bool {
    for b in s.bytes() {
        if !matches!(b, b'0'..=b'9' | b'a'..=b'f') {
            return false;
        }
    }
    s.len() == 32
}

fn percent_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'@' | b'+') {
            out.push(char::from(b));
        } else {
            out.push('%');
            push_hex(out, b, b"0123456789ABCDEF");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SessionConfig {
        SessionConfig { idle_timeout_ms: 1_000, max_duration_ms: 10_000, max_actions: 3 }
    }

    fn entropy(fill: u8) -> Entropy {
        let mut e = [fill; 32];
        e[0] = 0xab;
        e
    }

    #[test]
    fn ids_are_32_hex_digits() {
        let s = SessionState::new(&entropy(7), None, 0, 100.0);
        assert_eq!(s.id, "ab070707070707070707070707070707");
        assert_eq!(SessionState::new_visitor_id(&entropy(0xff)), "f".repeat(32));
    }

    #[test]
    fn idle_duration_actions_and_api_end_a_session() {
        let c = cfg();
        let mut s = SessionState::new(&entropy(1), None, 0, 100.0);
        assert_eq!(s.end_reason(&c, 999), None);
        assert_eq!(s.end_reason(&c, 1_000), Some(EndReason::Idle));
        for t in (500..=9_500).step_by(500) {
            s.touch(t);
        }
        assert_eq!(s.end_reason(&c, 9_999), None);
        assert_eq!(s.end_reason(&c, 10_000), Some(EndReason::MaxDuration));
        assert_eq!(s.end_reason(&c, 50_000), Some(EndReason::MaxDuration), "max duration came before idle");
        assert_eq!(s.expires_at(&c), 10_000);

        let mut s = SessionState::new(&entropy(1), None, 0, 100.0);
        assert_eq!(s.next_action_id(), "a1");
        s.next_action_id();
        assert_eq!(s.end_reason(&c, 1), None);
        assert_eq!(s.next_action_id(), "a3");
        assert_eq!(s.end_reason(&c, 1), Some(EndReason::MaxActions));

        let mut s = SessionState::new(&entropy(1), None, 0, 100.0);
        s.ended = Some(EndReason::EndSession);
        assert_eq!(s.end_reason(&c, 1), Some(EndReason::EndSession));
    }

    #[test]
    fn end_reasons_read_back_from_their_codes() {
        for r in [EndReason::Idle, EndReason::MaxDuration, EndReason::MaxActions, EndReason::EndSession] {
            assert_eq!(EndReason::from_code(r.code()), Some(r));
        }
        assert_eq!(EndReason::from_code("Idle"), None);
    }

    #[test]
    fn touch_never_moves_back_and_seq_counts() {
        let mut s = SessionState::new(&entropy(1), None, 100, 100.0);
        s.touch(50);
        assert_eq!(s.last_activity, 100);
        assert_eq!((s.take_seq(), s.take_seq()), (1, 2));
    }

    #[test]
    fn sampling_is_decided_from_the_id() {
        let mut e = entropy(0);
        e[12..16].copy_from_slice(&[0x80, 0, 0, 0]); // unit = 0.5
        assert!(SessionState::new(&e, None, 0, 50.1).sampled);
        assert!(!SessionState::new(&e, None, 0, 50.0).sampled);
        assert!(!SessionState::new(&entropy(0), None, 0, 0.0).sampled);
        assert!(SessionState::new(&entropy(0xff), None, 0, 100.0).sampled);
    }

    #[test]
    fn storage_round_trip() {
        let mut s =
            SessionState::new(&entropy(9), Some(SessionState::new_visitor_id(&entropy(3))), 1_732_599_000_000, 100.0);
        s.touch(1_732_599_000_500);
        s.next_action_id();
        s.take_seq();
        s.user_id = Some("alice|bob; ünïcode %41 x,y".into());
        s.ended = Some(EndReason::EndSession);
        s.note_prev("0123456789abcdef0123456789abcdef", 17);
        s.note_prev("fedcba9876543210fedcba9876543210", 2);
        s.note_prev("0123456789abcdef0123456789abcdef", 20);
        assert_eq!(s.prev_seq("0123456789abcdef0123456789abcdef"), Some(20));
        assert_eq!(s.prev.len(), 2);
        let text = s.to_storage();
        assert!(!text.contains(';') && !text.contains(',') && !text.contains(' '), "{text}");
        assert_eq!(SessionState::from_storage(&text), Some(s.clone()));
        s.user_id = None;
        s.visitor_id = None;
        s.ended = None;
        s.prev.clear();
        assert_eq!(SessionState::from_storage(&s.to_storage()), Some(s));
    }

    #[test]
    fn bad_storage_is_no_state() {
        let good = SessionState::new(&entropy(9), None, 5, 100.0).to_storage();
        let mut cases: Vec<String> = vec![
            String::new(),
            "r1".into(),
            "r2|".into(),
            good.replace("r1|", "r0|"),
            good.replace("|5|5|", "|5|4|"),
            good.replace("|5|5|", "|x|5|"),
            good.replacen("|1|", "|0|", 1),
            good.clone() + "|extra",
            good.clone() + "%",
            good.clone() + "%zz",
            good.clone() + "%ff",
            "r1|ABCDEF00000000000000000000000000||1|1|0|1|1|||".into(),
            good.replace("|1|||", "|1||x.1|"),
            good.replace("|1|||", "|1||0123456789abcdef0123456789abcdef|"),
            good.replace("|1|||", "|1||0123456789abcdef0123456789abcdef.x|"),
        ];
        for cut in 0..good.len() {
            cases.push(good[..cut].to_owned());
        }
        for c in cases {
            assert_eq!(SessionState::from_storage(&c), None, "{c}");
        }
    }
}
