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
    Ok(SessionPart { start, user_id, ended, props })
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
    Ok(Action { id, kind, name, start, end, url, requests, request_errors, js_errors, props })
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
        ];
        for (edit, want) in cases {
            let mut v = base();
            edit(&mut v);
            let got = parse(&v).unwrap_err();
            assert!(got.starts_with(want), "{got:?} should start with {want:?}");
        }
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
