//! Beacon wire format version 1 (DESIGN.md §4): reading and validating one beacon body.
//!
//! The whole beacon is checked before anything is stored, so a beacon is either accepted as a
//! whole or refused with one message naming the field path (`actions[2].props.long.items: not an
//! i64`). Numbers are read from `serde_json::Number` without going through `f64`, so longs and
//! dates keep all 64 bits. Fields this collector does not know are ignored: a newer agent may add
//! optional fields within version 1 without its beacons being refused.

use rumprops::config::is_valid_key;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// The only wire format version this collector reads.
pub const BEACON_VERSION: i64 = 1;
/// Upper bound of the length of ids (`app`, `vid`, `sid`, action `id`), in characters.
pub const MAX_ID_CHARS: usize = 200;
/// Upper bound of a string property value: the rule format's largest `maxLength`.
pub const MAX_STRING_VALUE_CHARS: usize = 1000;
/// Upper bound of action names and URLs, in characters; longer text is refused, not cut.
pub const MAX_TEXT_CHARS: usize = 8192;
/// At most this many properties per type map (the rule format allows 200 rules).
pub const MAX_PROPS_PER_MAP: usize = 200;
/// At most this many errors per action: the largest `errors.maxPerAction` of the config.
pub const MAX_ERRORS_PER_ACTION: usize = 100;
/// Apdex categories the agent sends.
pub const APDEX_CATEGORIES: [&str; 3] = ["SATISFIED", "TOLERATING", "FRUSTRATED"];

/// Why a beacon was refused: the field path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeaconError {
    /// Dotted field path, `$` for the body itself.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for BeaconError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for BeaconError {}

fn err<T>(path: &str, message: impl Into<String>) -> Result<T, BeaconError> {
    Err(BeaconError { path: path.to_owned(), message: message.into() })
}

/// Typed properties of a session or an action, keyed by property key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Props {
    /// `string` properties.
    pub string: BTreeMap<String, String>,
    /// `long` properties, exact.
    pub long: BTreeMap<String, i64>,
    /// `double` properties, finite.
    pub double: BTreeMap<String, f64>,
    /// `date` properties, epoch milliseconds.
    pub date: BTreeMap<String, i64>,
}

/// The session part of a beacon.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionPart {
    /// Session start, epoch ms.
    pub start: i64,
    /// The id given to `identifyUser`, if any.
    pub user_id: Option<String>,
    /// The end reason once the session ended (`null` while it is live).
    pub ended: Option<String>,
    /// Session-stored properties as folded by the agent so far.
    pub props: Props,
    /// The screen, where the agent read it.
    pub screen: Screen,
    /// `navigator.connection.type` (`wifi`, `ethernet`, `cellular`, …) where the browser has it.
    pub connection: Option<String>,
}

/// The screen of a session (`session.screen`); every member optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Screen {
    /// `screen.width`, CSS pixels.
    pub width: Option<i64>,
    /// `screen.height`, CSS pixels.
    pub height: Option<i64>,
    /// `LANDSCAPE` or `PORTRAIT`.
    pub orientation: Option<String>,
}

/// The timings of an action (`actions[i].timings`); a metric the browser did not give is `None`.
/// Every one but `navigation_start` (epoch ms) and `cumulative_layout_shift` (a score) is in ms
/// from the action's `start`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timings {
    /// `navigationStart`, epoch ms (load actions).
    pub navigation_start: Option<i64>,
    /// `requestStart`.
    pub request_start: Option<i64>,
    /// `responseStart`.
    pub response_start: Option<i64>,
    /// `responseEnd`.
    pub response_end: Option<i64>,
    /// `documentInteractiveTime`.
    pub document_interactive_time: Option<i64>,
    /// `domContentLoadedTime` (domContentLoadedEventEnd).
    pub dom_content_loaded_time: Option<i64>,
    /// `domCompleteTime`.
    pub dom_complete_time: Option<i64>,
    /// `loadEventStart`.
    pub load_event_start: Option<i64>,
    /// `loadEventEnd`.
    pub load_event_end: Option<i64>,
    /// `largestContentfulPaint`.
    pub largest_contentful_paint: Option<i64>,
    /// `firstInputDelay`.
    pub first_input_delay: Option<i64>,
    /// `interactionToNextPaint`.
    pub interaction_to_next_paint: Option<i64>,
    /// `visuallyCompleteTime`.
    pub visually_complete_time: Option<i64>,
    /// `speedIndex`.
    pub speed_index: Option<i64>,
    /// `cumulativeLayoutShift`, a finite number >= 0.
    pub cumulative_layout_shift: Option<f64>,
}

/// The integer timings of [`Timings`] by wire name, in the order of the beacon section: the
/// agent's own list (`rumprops::agent::action::MEASURES`), up to the layout shift.
pub const TIMING_NAMES: [&str; 14] = match rumprops::agent::action::MEASURES.first_chunk::<14>() {
    Some(names) => *names,
    None => [""; 14],
};

impl Timings {
    /// The integer timings in [`TIMING_NAMES`] order.
    pub fn integers(&self) -> [Option<i64>; 14] {
        [
            self.navigation_start,
            self.request_start,
            self.response_start,
            self.response_end,
            self.document_interactive_time,
            self.dom_content_loaded_time,
            self.dom_complete_time,
            self.load_event_start,
            self.load_event_end,
            self.largest_contentful_paint,
            self.first_input_delay,
            self.interaction_to_next_paint,
            self.visually_complete_time,
            self.speed_index,
        ]
    }

    fn set(&mut self, i: usize, v: Option<i64>) {
        let slot = match i {
            0 => &mut self.navigation_start,
            1 => &mut self.request_start,
            2 => &mut self.response_start,
            3 => &mut self.response_end,
            4 => &mut self.document_interactive_time,
            5 => &mut self.dom_content_loaded_time,
            6 => &mut self.dom_complete_time,
            7 => &mut self.load_event_start,
            8 => &mut self.load_event_end,
            9 => &mut self.largest_contentful_paint,
            10 => &mut self.first_input_delay,
            11 => &mut self.interaction_to_next_paint,
            12 => &mut self.visually_complete_time,
            _ => &mut self.speed_index,
        };
        *slot = v;
    }
}

/// Resource Timing entries of an action by origin (`actions[i].resources`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// Same registrable site as the page.
    pub first_party: Option<i64>,
    /// Other sites.
    pub third_party: Option<i64>,
    /// Known CDN hosts.
    pub cdn: Option<i64>,
}

/// One JavaScript error of an action (`actions[i].errors[j]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsError {
    /// The message, at most [`MAX_STRING_VALUE_CHARS`] characters.
    pub message: String,
    /// The script URL, when known.
    pub file: Option<String>,
    /// Line, when known.
    pub line: Option<i64>,
    /// Column, when known.
    pub column: Option<i64>,
    /// When it was thrown, epoch ms.
    pub time: i64,
}

/// One user action.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// The agent's action id, unique within the session.
    pub id: String,
    /// `load`, `click`, `route` or `custom`.
    pub kind: String,
    /// Display name.
    pub name: String,
    /// Start, epoch ms.
    pub start: i64,
    /// End, epoch ms, not before `start`.
    pub end: i64,
    /// Page URL.
    pub url: String,
    /// Requests started by the action.
    pub requests: i64,
    /// Failed requests (status >= 400 or network failure).
    pub request_errors: i64,
    /// JavaScript errors during the action.
    pub js_errors: i64,
    /// Action-stored properties.
    pub props: Props,
    /// Navigation, paint and interaction timings.
    pub timings: Timings,
    /// Resource counts by origin.
    pub resources: Resources,
    /// The agent's Apdex category: `SATISFIED`, `TOLERATING` or `FRUSTRATED`.
    pub apdex: Option<String>,
    /// Rage clicks during the action.
    pub rage_clicks: Option<i64>,
    /// The action's JS errors (at most [`MAX_ERRORS_PER_ACTION`], deduplicated by the agent).
    pub errors: Vec<JsError>,
}

/// A capture issue reported by the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// The property key (not validated: `invalid_key` issues carry the bad key).
    pub key: String,
    /// The reason code.
    pub reason: String,
}

/// One validated beacon.
#[derive(Debug, Clone, PartialEq)]
pub struct Beacon {
    /// Application id.
    pub app: String,
    /// Visitor id, absent under privacy modes.
    pub vid: Option<String>,
    /// Session id.
    pub sid: String,
    /// Sequence number within the session; `(sid, seq)` identifies the beacon.
    pub seq: i64,
    /// When the agent sent it, epoch ms.
    pub sent_at: i64,
    /// The session part.
    pub session: SessionPart,
    /// The actions, possibly none.
    pub actions: Vec<Action>,
    /// Capture issues.
    pub issues: Vec<Issue>,
}

const ACTION_KINDS: [&str; 4] = ["load", "click", "route", "custom"];

/// Parses and validates a beacon body.
pub fn parse_beacon(body: &[u8]) -> Result<Beacon, BeaconError> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return err("$", format!("malformed JSON: {e}")),
    };
    let root = object(&value, "$")?;
    // The version comes first: a body of another version is refused as such, whatever else it holds.
    match root.get("v") {
        None => return err("v", "missing"),
        Some(v) => match v.as_i64() {
            Some(BEACON_VERSION) => {}
            Some(other) => return err("v", format!("unsupported beacon version {other} (this collector reads version 1)")),
            None => return err("v", "not an integer"),
        },
    }
    let app = id_string(root, "app", "app")?;
    let vid = match root.get("vid") {
        None | Some(Value::Null) => None,
        Some(_) => Some(id_string(root, "vid", "vid")?),
    };
    let sid = id_string(root, "sid", "sid")?;
    let seq = non_negative(root, "seq", "seq")?;
    let sent_at = non_negative(root, "sentAt", "sentAt")?;
    let session = session_part(required(root, "session", "session")?)?;
    let actions = match required(root, "actions", "actions")? {
        Value::Array(items) => {
            let mut actions = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                actions.push(action(item, &format!("actions[{i}]"))?);
            }
            actions
        }
        _ => return err("actions", "not an array"),
    };
    let mut seen = std::collections::HashSet::new();
    for (i, a) in actions.iter().enumerate() {
        if !seen.insert(a.id.as_str()) {
            return err(&format!("actions[{i}].id"), format!("duplicate action id {:?} in one beacon", a.id));
        }
    }
    let issues = match root.get("issues") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut issues = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let path = format!("issues[{i}]");
                let obj = object(item, &path)?;
                let key = bounded_string(obj, "key", &format!("{path}.key"), MAX_ID_CHARS, true)?;
                let reason = bounded_string(obj, "reason", &format!("{path}.reason"), 64, false)?;
                if !reason.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                    return err(&format!("{path}.reason"), "not a reason code");
                }
                issues.push(Issue { key, reason });
            }
            issues
        }
        Some(_) => return err("issues", "not an array"),
    };
    Ok(Beacon { app, vid, sid, seq, sent_at, session, actions, issues })
}

fn session_part(value: &Value) -> Result<SessionPart, BeaconError> {
    let obj = object(value, "session")?;
    let start = non_negative(obj, "start", "session.start")?;
    let user_id = match obj.get("userId") {
        None | Some(Value::Null) => None,
        Some(_) => Some(bounded_string(obj, "userId", "session.userId", MAX_ID_CHARS, true)?),
    };
    let ended = match obj.get("ended") {
        None | Some(Value::Null) => None,
        Some(_) => {
            let reason = bounded_string(obj, "ended", "session.ended", 64, false)?;
            if !reason.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return err("session.ended", "not an end reason (letters, digits and _)");
            }
            Some(reason)
        }
    };
    let props = props(obj.get("props"), "session.props")?;
    let mut screen = Screen::default();
    if let Some(v) = obj.get("screen") {
        let s = object(v, "session.screen")?;
        screen.width = optional_count(s, "width", "session.screen.width")?;
        screen.height = optional_count(s, "height", "session.screen.height")?;
        if s.contains_key("orientation") {
            let o = bounded_string(s, "orientation", "session.screen.orientation", 16, false)?;
            if o != "LANDSCAPE" && o != "PORTRAIT" {
                return err("session.screen.orientation", "not LANDSCAPE or PORTRAIT");
            }
            screen.orientation = Some(o);
        }
    }
    let connection = match obj.get("connection") {
        None => None,
        Some(_) => Some(bounded_string(obj, "connection", "session.connection", 64, true)?),
    };
    Ok(SessionPart { start, user_id, ended, props, screen, connection })
}

fn action(value: &Value, path: &str) -> Result<Action, BeaconError> {
    let obj = object(value, path)?;
    let id = bounded_string(obj, "id", &format!("{path}.id"), MAX_ID_CHARS, false)?;
    let kind = bounded_string(obj, "kind", &format!("{path}.kind"), 16, false)?;
    if !ACTION_KINDS.contains(&kind.as_str()) {
        return err(&format!("{path}.kind"), format!("unknown action kind {kind:?} (load, click, route or custom)"));
    }
    let name = bounded_string(obj, "name", &format!("{path}.name"), MAX_TEXT_CHARS, true)?;
    let start = non_negative(obj, "start", &format!("{path}.start"))?;
    let end = non_negative(obj, "end", &format!("{path}.end"))?;
    if end < start {
        return err(&format!("{path}.end"), "before start");
    }
    let url = bounded_string(obj, "url", &format!("{path}.url"), MAX_TEXT_CHARS, true)?;
    let requests = non_negative(obj, "requests", &format!("{path}.requests"))?;
    let request_errors = non_negative(obj, "requestErrors", &format!("{path}.requestErrors"))?;
    let js_errors = non_negative(obj, "jsErrors", &format!("{path}.jsErrors"))?;
    let props = props(obj.get("props"), &format!("{path}.props"))?;
    let mut timings = Timings::default();
    if let Some(v) = obj.get("timings") {
        let t_path = format!("{path}.timings");
        let t = object(v, &t_path)?;
        for (i, name) in TIMING_NAMES.iter().enumerate() {
            timings.set(i, optional_count(t, name, &format!("{t_path}.{name}"))?);
        }
        if let Some(v) = t.get("cumulativeLayoutShift") {
            match v.as_f64() {
                Some(x) if v.is_number() && x.is_finite() && x >= 0.0 => timings.cumulative_layout_shift = Some(x),
                _ => return err(&format!("{t_path}.cumulativeLayoutShift"), "not a finite number >= 0"),
            }
        }
    }
    let mut resources = Resources::default();
    if let Some(v) = obj.get("resources") {
        let r_path = format!("{path}.resources");
        let r = object(v, &r_path)?;
        resources.first_party = optional_count(r, "firstParty", &format!("{r_path}.firstParty"))?;
        resources.third_party = optional_count(r, "thirdParty", &format!("{r_path}.thirdParty"))?;
        resources.cdn = optional_count(r, "cdn", &format!("{r_path}.cdn"))?;
    }
    let apdex = match obj.get("apdex") {
        None => None,
        Some(_) => {
            let a = bounded_string(obj, "apdex", &format!("{path}.apdex"), 16, false)?;
            if !APDEX_CATEGORIES.contains(&a.as_str()) {
                return err(&format!("{path}.apdex"), "not SATISFIED, TOLERATING or FRUSTRATED");
            }
            Some(a)
        }
    };
    let rage_clicks = optional_count(obj, "rageClicks", &format!("{path}.rageClicks"))?;
    let errors = match obj.get("errors") {
        None => Vec::new(),
        Some(Value::Array(items)) => {
            if items.len() > MAX_ERRORS_PER_ACTION {
                return err(&format!("{path}.errors"), format!("more than {MAX_ERRORS_PER_ACTION} errors"));
            }
            let mut errors = Vec::with_capacity(items.len());
            for (j, item) in items.iter().enumerate() {
                let e_path = format!("{path}.errors[{j}]");
                let e = object(item, &e_path)?;
                let message = bounded_string(e, "message", &format!("{e_path}.message"), MAX_STRING_VALUE_CHARS, true)?;
                let file = match e.get("file") {
                    None => None,
                    Some(_) => Some(bounded_string(e, "file", &format!("{e_path}.file"), MAX_TEXT_CHARS, true)?),
                };
                let line = optional_count(e, "line", &format!("{e_path}.line"))?;
                let column = optional_count(e, "column", &format!("{e_path}.column"))?;
                let time = non_negative(e, "time", &format!("{e_path}.time"))?;
                errors.push(JsError { message, file, line, column, time });
            }
            errors
        }
        Some(_) => return err(&format!("{path}.errors"), "not an array"),
    };
    Ok(Action {
        id,
        kind,
        name,
        start,
        end,
        url,
        requests,
        request_errors,
        js_errors,
        props,
        timings,
        resources,
        apdex,
        rage_clicks,
        errors,
    })
}

/// An optional member that, when present, is an integer >= 0 (absent is `None`; `null` is refused:
/// a metric the browser does not give is left out of the beacon).
fn optional_count(obj: &Map<String, Value>, field: &str, path: &str) -> Result<Option<i64>, BeaconError> {
    match obj.get(field) {
        None => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if n >= 0 => Ok(Some(n)),
            _ => err(path, "not a non-negative integer"),
        },
    }
}

/// Reads a props object; a missing object or a missing type map is empty.
fn props(value: Option<&Value>, path: &str) -> Result<Props, BeaconError> {
    let mut out = Props::default();
    let obj = match value {
        None | Some(Value::Null) => return Ok(out),
        Some(v) => object(v, path)?,
    };
    for (type_name, map) in obj {
        let map_path = format!("{path}.{type_name}");
        let map = match map {
            Value::Null => continue,
            Value::Object(m) => m,
            _ => return err(&map_path, "not an object"),
        };
        if !["string", "long", "double", "date"].contains(&type_name.as_str()) {
            return err(path, format!("unknown property type {type_name:?} (string, long, double or date)"));
        }
        if map.len() > MAX_PROPS_PER_MAP {
            return err(&map_path, format!("more than {MAX_PROPS_PER_MAP} properties"));
        }
        for (key, v) in map {
            let key_path = format!("{map_path}.{key}");
            if !is_valid_key(key) {
                return err(&key_path, "invalid property key (^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)*$, at most 100 chars)");
            }
            match type_name.as_str() {
                "string" => match v {
                    Value::String(s) if s.chars().count() <= MAX_STRING_VALUE_CHARS => {
                        out.string.insert(key.clone(), s.clone());
                    }
                    Value::String(_) => return err(&key_path, format!("longer than {MAX_STRING_VALUE_CHARS} characters")),
                    _ => return err(&key_path, "not a string"),
                },
                "long" => {
                    out.long.insert(key.clone(), exact_i64(v, &key_path)?);
                }
                "date" => {
                    out.date.insert(key.clone(), exact_i64(v, &key_path)?);
                }
                "double" => match v.as_f64() {
                    Some(x) if v.is_number() && x.is_finite() => {
                        out.double.insert(key.clone(), x);
                    }
                    _ => return err(&key_path, "not a finite number"),
                },
                _ => return err(&map_path, "unknown property type"),
            }
        }
    }
    Ok(out)
}

/// An integer JSON number within i64; `3.0`, `1e3` and `9223372036854775808` are refused.
fn exact_i64(v: &Value, path: &str) -> Result<i64, BeaconError> {
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(x) => Ok(x),
            None => err(path, "not an i64"),
        },
        _ => err(path, "not an i64"),
    }
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, BeaconError> {
    match v {
        Value::Object(m) => Ok(m),
        _ => err(path, "not an object"),
    }
}

fn required<'a>(obj: &'a Map<String, Value>, field: &str, path: &str) -> Result<&'a Value, BeaconError> {
    match obj.get(field) {
        Some(v) => Ok(v),
        None => err(path, "missing"),
    }
}

fn non_negative(obj: &Map<String, Value>, field: &str, path: &str) -> Result<i64, BeaconError> {
    let n = exact_i64(required(obj, field, path)?, path)?;
    if n < 0 {
        return err(path, "negative");
    }
    Ok(n)
}

fn id_string(obj: &Map<String, Value>, field: &str, path: &str) -> Result<String, BeaconError> {
    bounded_string(obj, field, path, MAX_ID_CHARS, false)
}

fn bounded_string(
    obj: &Map<String, Value>,
    field: &str,
    path: &str,
    max_chars: usize,
    empty_ok: bool,
) -> Result<String, BeaconError> {
    match required(obj, field, path)? {
        Value::String(s) if s.is_empty() && !empty_ok => err(path, "empty"),
        Value::String(s) if s.chars().count() > max_chars => err(path, format!("longer than {max_chars} characters")),
        Value::String(s) => Ok(s.clone()),
        _ => err(path, "not a string"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        serde_json::json!({
            "v": 1, "app": "easytravel", "vid": "v1", "sid": "s1", "seq": 0, "sentAt": 1_732_600_000_000_i64,
            "session": {"start": 1_732_599_000_000_i64, "userId": "alice", "ended": null,
                        "props": {"string": {"loyalty_status": "Gold"}, "long": {}, "double": {}, "date": {}}},
            "actions": [{"id": "a7", "kind": "click", "name": "click on \"Book\"", "start": 1_732_599_990_000_i64,
                         "end": 1_732_599_990_450_i64, "url": "https://shop.example/offers?x=1", "requests": 2,
                         "requestErrors": 1, "jsErrors": 0,
                         "props": {"string": {}, "long": {"items": 3}, "double": {"total": 59.9}, "date": {}}}],
            "issues": [{"key": "price", "reason": "not_a_double"}]
        })
    }

    fn parse(v: &Value) -> Result<Beacon, String> {
        parse_beacon(v.to_string().as_bytes()).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_the_design_example() {
        let b = parse(&base()).unwrap();
        assert_eq!(b.actions[0].props.long["items"], 3);
        assert_eq!(b.actions[0].props.double["total"], 59.9);
        assert_eq!(b.session.props.string["loyalty_status"], "Gold");
        assert_eq!(b.issues[0].reason, "not_a_double");
    }

    #[test]
    fn errors_name_the_field() {
        type Edit = fn(&mut Value);
        let cases: Vec<(Edit, &str)> = vec![
            (|v| v["v"] = 2.into(), "v: unsupported beacon version 2"),
            (|v| v["v"] = "1".into(), "v: not an integer"),
            (|v| v["sid"] = "".into(), "sid: empty"),
            (|v| v["seq"] = (-1).into(), "seq: negative"),
            (|v| v["seq"] = 1.5.into(), "seq: not an i64"),
            (|v| v["actions"][0]["props"]["long"]["items"] = 2.5.into(), "actions[0].props.long.items: not an i64"),
            (|v| v["actions"][0]["kind"] = "hover".into(), "actions[0].kind: unknown action kind"),
            (|v| v["actions"][0]["end"] = 1.into(), "actions[0].end: before start"),
            (|v| v["session"]["props"]["string"]["Bad-Key"] = "x".into(), "session.props.string.Bad-Key: invalid property key"),
            (|v| v["session"]["props"]["blob"] = serde_json::json!({}), "session.props: unknown property type \"blob\""),
            (|v| v["actions"] = serde_json::json!({}), "actions: not an array"),
            (|v| v["actions"][0]["timings"] = serde_json::json!({"requestStart": -1}), "actions[0].timings.requestStart: not a non-negative integer"),
            (|v| v["actions"][0]["timings"] = serde_json::json!({"responseEnd": 1.5}), "actions[0].timings.responseEnd: not a non-negative integer"),
            (|v| v["actions"][0]["timings"] = serde_json::json!({"speedIndex": null}), "actions[0].timings.speedIndex: not a non-negative integer"),
            (|v| v["actions"][0]["timings"] = serde_json::json!({"cumulativeLayoutShift": -0.1}), "actions[0].timings.cumulativeLayoutShift: not a finite number >= 0"),
            (|v| v["actions"][0]["timings"] = serde_json::json!({"cumulativeLayoutShift": "0.1"}), "actions[0].timings.cumulativeLayoutShift: not a finite number >= 0"),
            (|v| v["actions"][0]["timings"] = serde_json::json!([]), "actions[0].timings: not an object"),
            (|v| v["actions"][0]["resources"] = serde_json::json!({"thirdParty": "2"}), "actions[0].resources.thirdParty: not a non-negative integer"),
            (|v| v["actions"][0]["apdex"] = "OK".into(), "actions[0].apdex: not SATISFIED, TOLERATING or FRUSTRATED"),
            (|v| v["actions"][0]["rageClicks"] = (-2).into(), "actions[0].rageClicks: not a non-negative integer"),
            (|v| v["actions"][0]["errors"] = serde_json::json!({}), "actions[0].errors: not an array"),
            (|v| v["actions"][0]["errors"] = serde_json::json!([{"time": 1}]), "actions[0].errors[0].message: missing"),
            (|v| v["actions"][0]["errors"] = serde_json::json!([{"message": "x".repeat(1001), "time": 1}]), "actions[0].errors[0].message: longer than 1000 characters"),
            (|v| v["actions"][0]["errors"] = serde_json::json!([{"message": "m", "time": 1, "line": -1}]), "actions[0].errors[0].line: not a non-negative integer"),
            (|v| v["actions"][0]["errors"] = serde_json::json!([{"message": "m", "time": 1, "file": 3}]), "actions[0].errors[0].file: not a string"),
            (|v| v["actions"][0]["errors"] = serde_json::json!([{"message": "m"}]), "actions[0].errors[0].time: missing"),
            (|v| v["actions"][0]["errors"] = serde_json::json!(vec![serde_json::json!({"message": "m", "time": 1}); 101]), "actions[0].errors: more than 100 errors"),
            (|v| v["session"]["screen"] = serde_json::json!({"width": 1.5}), "session.screen.width: not a non-negative integer"),
            (|v| v["session"]["screen"] = serde_json::json!({"orientation": "landscape"}), "session.screen.orientation: not LANDSCAPE or PORTRAIT"),
            (|v| v["session"]["screen"] = serde_json::json!(7), "session.screen: not an object"),
            (|v| v["session"]["connection"] = "x".repeat(65).into(), "session.connection: longer than 64 characters"),
            (|v| v["session"]["connection"] = serde_json::json!(null), "session.connection: not a string"),
        ];
        for (edit, want) in cases {
            let mut v = base();
            edit(&mut v);
            let got = parse(&v).unwrap_err();
            assert!(got.starts_with(want), "{got:?} should start with {want:?}");
        }
    }

    #[test]
    fn reads_the_issue_9_members() {
        let mut v = base();
        v["session"]["screen"] = serde_json::json!({"width": 1920, "height": 1080, "orientation": "LANDSCAPE"});
        v["session"]["connection"] = "wifi".into();
        v["actions"][0]["timings"] = serde_json::json!({"navigationStart": 1_732_599_990_000_i64, "requestStart": 5,
            "responseStart": 40, "responseEnd": 60, "loadEventEnd": 400, "cumulativeLayoutShift": 0.25, "futureMetric": "x"});
        v["actions"][0]["resources"] = serde_json::json!({"firstParty": 3, "thirdParty": 1});
        v["actions"][0]["apdex"] = "TOLERATING".into();
        v["actions"][0]["rageClicks"] = 2.into();
        v["actions"][0]["errors"] = serde_json::json!([{"message": "boom", "file": "https://shop.example/a.js", "line": 3, "column": 9, "time": 1_732_599_990_100_i64},
            {"message": "", "time": 1}]);
        let b = parse(&v).unwrap();
        assert_eq!(b.session.screen, Screen { width: Some(1920), height: Some(1080), orientation: Some("LANDSCAPE".into()) });
        assert_eq!(b.session.connection.as_deref(), Some("wifi"));
        let a = &b.actions[0];
        assert_eq!(a.timings.request_start, Some(5));
        assert_eq!(a.timings.load_event_end, Some(400));
        assert_eq!(a.timings.dom_complete_time, None);
        assert_eq!(a.timings.cumulative_layout_shift, Some(0.25));
        assert_eq!(a.timings.integers()[0], Some(1_732_599_990_000));
        assert_eq!(a.resources, Resources { first_party: Some(3), third_party: Some(1), cdn: None });
        assert_eq!((a.apdex.as_deref(), a.rage_clicks), (Some("TOLERATING"), Some(2)));
        assert_eq!(a.errors[0], JsError { message: "boom".into(), file: Some("https://shop.example/a.js".into()), line: Some(3), column: Some(9), time: 1_732_599_990_100 });
        assert_eq!(a.errors[1].file, None);
        // Without the members everything is absent.
        let b = parse(&base()).unwrap();
        assert_eq!((b.actions[0].timings.clone(), b.actions[0].errors.len(), b.session.connection.clone()), (Timings::default(), 0, None));
    }

    #[test]
    fn i64_extremes_are_exact_and_beyond_is_refused() {
        let body = base().to_string().replace("\"items\":3", "\"items\":9223372036854775807,\"low\":-9223372036854775808");
        let b = parse_beacon(body.as_bytes()).unwrap();
        assert_eq!(b.actions[0].props.long["items"], i64::MAX);
        assert_eq!(b.actions[0].props.long["low"], i64::MIN);
        let body = base().to_string().replace("\"items\":3", "\"items\":9223372036854775808");
        assert_eq!(parse_beacon(body.as_bytes()).unwrap_err().to_string(), "actions[0].props.long.items: not an i64");
    }
}
