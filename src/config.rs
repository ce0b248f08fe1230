//! The rule config (format version 1): reading, validation and defaults.
//!
//! A config is refused as a whole, with one error naming the field path
//! (`properties[3].source.css: empty selector`), or accepted with every selector and cleanup
//! pattern checked. Unknown fields are errors, so a typo never silently disables a rule.

use crate::prelude::*;
use crate::json::{self, Value};
use crate::value::PropType;

/// At most this many properties in one config.
pub const MAX_PROPERTIES: usize = 200;
/// A property key is at most this many characters.
pub const MAX_KEY_LEN: usize = 100;
/// Default `maxLength` of string properties, in Unicode scalar values.
pub const DEFAULT_MAX_LENGTH: usize = 200;
/// Largest allowed `maxLength`.
pub const MAX_MAX_LENGTH: usize = 1000;
/// A beacon body is at most 64 KiB (the browsers' keepalive budget); `batch.maxBytes` cannot exceed it.
pub const MAX_BEACON_BYTES: u64 = 65_536;

/// A whole, validated config.
#[derive(Debug, Clone)]
pub struct Config {
    /// Application id sent on every beacon (`None` when the config has none; the agent requires it).
    pub app: Option<String>,
    /// Collector URL (`None` when absent; the agent requires it, the rule tester does not).
    pub collector: Option<String>,
    /// The capture rules, in config order.
    pub properties: Vec<Property>,
    /// Session bounds.
    pub session: SessionConfig,
    /// Batching policy.
    pub batch: BatchConfig,
    /// Privacy settings.
    pub privacy: PrivacyConfig,
    /// Percent of sessions captured (0 to 100), decided once per session.
    pub sample_rate: f64,
    /// `apdex`: an action's duration up to `tolerated_ms` satisfies, up to `frustrated_ms`
    /// is tolerated, longer frustrates (`[tolerated_ms, frustrated_ms]`).
    pub apdex: [u64; 2],
    /// `errors.maxPerAction`: at most this many JS errors are sent with an action.
    pub max_errors: usize,
}

/// `session` of the config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionConfig {
    /// A session ends after this long without activity.
    pub idle_timeout_ms: u64,
    /// A session ends this long after it started.
    pub max_duration_ms: u64,
    /// A session ends after this many actions.
    pub max_actions: u64,
}

/// `batch` of the config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchConfig {
    /// Flush when this many actions wait.
    pub max_actions: u64,
    /// Flush when the pending beacon would exceed this many bytes.
    pub max_bytes: u64,
    /// Flush this often while data waits.
    pub flush_interval_ms: u64,
}

/// `privacy` of the config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrivacyConfig {
    /// Nothing is stored or sent until `enable()`.
    pub opt_in: bool,
    /// What Do Not Track / Global Privacy Control does.
    pub do_not_track: DntMode,
}

/// `privacy.doNotTrack`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DntMode {
    /// No visitor or user id, and only `public` properties.
    Anonymous,
    /// The agent turns itself off.
    Disable,
    /// Nothing special.
    Ignore,
}

/// Where a property is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// On each action.
    Action,
    /// Folded into the session.
    Session,
    /// Both.
    Both,
}

impl Storage {
    /// Whether values go on actions.
    pub fn on_action(self) -> bool {
        matches!(self, Storage::Action | Storage::Both)
    }
    /// Whether values are folded into the session.
    pub fn on_session(self) -> bool {
        matches!(self, Storage::Session | Storage::Both)
    }
}

/// How session-stored values of successive actions combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// The newest value.
    Last,
    /// The oldest value.
    First,
    /// The smallest (long, double, date).
    Min,
    /// The largest (long, double, date).
    Max,
    /// The total (long, double).
    Sum,
    /// The mean (long, double).
    Avg,
}

/// Where a property's raw text comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// First element matching a selector: an attribute, a form value or its text.
    Css {
        /// The selector.
        selector: String,
        /// The attribute to read instead of the text or value.
        attribute: Option<String>,
    },
    /// A `<meta>` by `name` or `property`.
    Meta(String),
    /// A cookie by name.
    Cookie(String),
    /// A query-string parameter by name.
    Query(String),
    /// A dotted path from `window`.
    Js(Vec<JsSegment>),
    /// Set only through the API.
    Api,
}

impl Source {
    /// The source's kind as named in configs (`css`, `meta`, `cookie`, `query`, `js`, `api`).
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Css { .. } => "css",
            Source::Meta(_) => "meta",
            Source::Cookie(_) => "cookie",
            Source::Query(_) => "query",
            Source::Js(_) => "js",
            Source::Api => "api",
        }
    }
}

/// One step of a `js` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsSegment {
    /// The segment began with a single `$`: parse the current string as JSON first.
    pub parse_json: bool,
    /// The property name to take next (empty after a bare `$`: the parsed value itself).
    pub name: String,
}

/// One capture rule.
#[derive(Debug, Clone)]
pub struct Property {
    /// The unique key.
    pub key: String,
    /// The value type.
    pub prop_type: PropType,
    /// Where the raw text comes from.
    pub source: Source,
    /// Cleanup pattern: group 1 if it has groups, else the whole match.
    pub cleanup: Option<crate::regex::Regex>,
    /// Lower-case the string after cleanup.
    pub ignore_case: bool,
    /// String truncation length in Unicode scalar values.
    pub max_length: usize,
    /// Action, session or both.
    pub storage: Storage,
    /// How session values combine.
    pub aggregation: Aggregation,
    /// Sent even under Do Not Track.
    pub public: bool,
    /// `"hash": "sha256"`: the value is sent as the lowercase hex SHA-256 of this salt (the
    /// config's `hashSalt`, empty without one) followed by the value.
    pub hash: Option<String>,
}

/// A refused config: the field path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The field path, like `properties[3].source.css` (empty for the whole text).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// An error at `path`.
    fn new(path: &str, message: &str) -> Box<ConfigError> {
        Box::new(ConfigError { path: path.to_owned(), message: message.to_owned() })
    }
}

impl ConfigError {
    /// `path: message` (the message alone for the whole text), built without `core::fmt`.
    pub fn message(&self) -> String {
        if self.path.is_empty() {
            return self.message.clone();
        }
        let mut s = String::with_capacity(self.path.len() + 2 + self.message.len());
        s.push_str(&self.path);
        s.push_str(": ");
        s.push_str(&self.message);
        s
    }
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.message())
    }
}

impl core::error::Error for ConfigError {}

/// Results inside the reader: the error boxed, so that passing it up costs one word.
type R<T> = Result<T, Box<ConfigError>>;

/// `parts` joined into one string (error messages are built without `core::fmt`).
fn concat(parts: &[&str]) -> String {
    let mut s = String::new();
    for p in parts {
        s.push_str(p);
    }
    s
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        concat(&[path, ".", field])
    }
}

fn index(path: &str, i: usize) -> String {
    let mut p = concat(&[path, "["]);
    json::write_i64(&mut p, i as i64);
    p.push(']');
    p
}

/// Stands in for an absent sub-object (`session`, `batch`, `privacy`): every field defaults.
static EMPTY_OBJECT: Value = Value::Object(Vec::new());

/// An object being read: refuses unknown fields, then hands out the known ones.
struct Obj<'a> {
    path: &'a str,
    /// The object (checked to be one).
    value: &'a Value,
}

impl<'a> Obj<'a> {
    fn new(v: &'a Value, path: &'a str, allowed: &[&str]) -> R<Obj<'a>> {
        let Value::Object(members) = v else {
            return Err(ConfigError::new(path, "expected an object"));
        };
        for (k, _) in members {
            if !allowed.contains(&k.as_str()) {
                return Err(ConfigError::new(&join(path, k), "unknown field"));
            }
        }
        Ok(Obj { path, value: v })
    }

    /// The section `name` of the top-level object (an empty one when absent); a section's
    /// path is its name.
    fn section(&self, name: &'a str, allowed: &[&str]) -> R<Obj<'a>> {
        Obj::new(self.get(name).unwrap_or(&EMPTY_OBJECT), name, allowed)
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.value.get(name)
    }

    /// The path of the field `name`.
    fn path(&self, name: &str) -> String {
        join(self.path, name)
    }

    /// An error at the field `name`.
    fn err(&self, name: &str, message: &str) -> Box<ConfigError> {
        ConfigError::new(&self.path(name), message)
    }

    fn string(&self, name: &str) -> R<Option<&'a str>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.err(name, "expected a string")),
        }
    }

    /// A string that is not blank (`empty <what>` otherwise).
    fn nonempty(&self, name: &str, what: &str) -> R<Option<String>> {
        match self.string(name)? {
            None => Ok(None),
            Some(s) if s.trim_ascii().is_empty() => Err(self.err(name, &concat(&["empty ", what]))),
            Some(s) => Ok(Some(s.to_owned())),
        }
    }

    /// A boolean, `false` when absent.
    fn bool(&self, name: &str) -> R<bool> {
        match self.get(name) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(self.err(name, "expected true or false")),
        }
    }

    /// An integer from `min` to `max`, `default` when absent.
    fn int(&self, name: &str, default: u64, min: u64, max: u64) -> R<u64> {
        let Some(v) = self.get(name) else { return Ok(default) };
        match v.as_i64() {
            Some(n) if n >= 0 && (min..=max).contains(&(n as u64)) => Ok(n as u64),
            _ => {
                let mut m = String::from("expected an integer from ");
                json::write_i64(&mut m, min as i64);
                m.push_str(" to ");
                json::write_i64(&mut m, max as i64);
                Err(self.err(name, &m))
            }
        }
    }

    /// The index of the string among `options`, 0 (the default) when absent; otherwise
    /// `expected "a", "b" or "c"`.
    fn choice(&self, name: &str, options: &[&str]) -> R<usize> {
        let Some(v) = self.get(name) else { return Ok(0) };
        let mut m = String::from("expected ");
        for (i, option) in options.iter().enumerate() {
            if v.as_str() == Some(*option) {
                return Ok(i);
            }
            if i > 0 {
                m.push_str(if i + 1 == options.len() { " or " } else { ", " });
            }
            m.push('"');
            m.push_str(option);
            m.push('"');
        }
        Err(self.err(name, &m))
    }
}

/// Whether `key` is a valid property key: `^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`, at most 100 chars.
pub fn is_valid_key(key: &str) -> bool {
    key.len() <= MAX_KEY_LEN
        && crate::text::parts(key, b'.').all(|part| {
            let mut ok = part.as_bytes().first().is_some_and(u8::is_ascii_lowercase);
            for b in part.bytes() {
                ok &= b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
            }
            ok
        })
}

/// Splits a `js` path into segments (`$` parses JSON, `$$` is a literal `$`).
pub fn parse_js_path(path: &str) -> Result<Vec<JsSegment>, &'static str> {
    if path.is_empty() {
        return Err("empty path");
    }
    let mut segments = Vec::new();
    for raw in crate::text::parts(path, b'.') {
        let seg = if let Some(rest) = raw.strip_prefix("$$") {
            JsSegment { parse_json: false, name: concat(&["$", rest]) }
        } else if let Some(rest) = raw.strip_prefix('$') {
            JsSegment { parse_json: true, name: rest.to_owned() }
        } else if raw.is_empty() {
            return Err("empty path segment");
        } else {
            JsSegment { parse_json: false, name: raw.to_owned() }
        };
        segments.push(seg);
    }
    if segments.first().is_some_and(|s| s.parse_json) {
        return Err("a path cannot start with a JSON ($) segment");
    }
    Ok(segments)
}

/// The type names, in [`PropType::ALL`] order.
const TYPE_NAMES: [&str; 4] = ["string", "long", "double", "date"];
const STORAGES: [Storage; 3] = [Storage::Action, Storage::Session, Storage::Both];
const AGGREGATIONS: [Aggregation; 6] =
    [Aggregation::Last, Aggregation::First, Aggregation::Min, Aggregation::Max, Aggregation::Sum, Aggregation::Avg];
const DNT_MODES: [DntMode; 3] = [DntMode::Anonymous, DntMode::Disable, DntMode::Ignore];
/// The source kinds, in the order `source` tells them apart.
const SOURCE_KINDS: [&str; 6] = ["css", "meta", "cookie", "query", "js", "api"];
const DAY_MS: u64 = 86_400_000;
const HOUR_MS: u64 = 3_600_000;

impl Config {
    /// Reads and validates a config. `selector_is_valid` checks CSS selectors with the page's
    /// own engine (the browser's or scraper's).
    pub fn parse(text: &str, selector_is_valid: &dyn Fn(&str) -> bool) -> Result<Config, ConfigError> {
        let root = json::parse(text).map_err(|e| {
            let mut m = String::from("invalid JSON at byte ");
            json::write_i64(&mut m, e.offset as i64);
            m.push_str(": ");
            m.push_str(e.message);
            *ConfigError::new("", &m)
        })?;
        Self::from_value(&root, selector_is_valid)
    }

    /// Validates an already parsed config.
    pub fn from_value(root: &Value, selector_is_valid: &dyn Fn(&str) -> bool) -> Result<Config, ConfigError> {
        read_config(root, selector_is_valid).map_err(|e| *e)
    }

    /// The property with this key.
    pub fn property(&self, key: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.key == key)
    }
}

fn read_config(root: &Value, selector_is_valid: &dyn Fn(&str) -> bool) -> R<Config> {
    let top = Obj::new(
        root,
        "",
        &["version", "app", "collector", "properties", "session", "batch", "privacy", "sampleRate", "apdex", "errors", "hashSalt"],
    )?;
    let salt = top.string("hashSalt")?.unwrap_or_default();
    match top.get("version") {
        None => return Err(top.err("version", "required")),
        Some(v) if v.as_i64() == Some(1) => {}
        Some(_) => return Err(top.err("version", "unsupported version (expected 1)")),
    }
    let app = top.nonempty("app", "application id")?;
    let collector = top.nonempty("collector", "URL")?;

    let mut properties: Vec<Property> = Vec::new();
    match top.get("properties") {
        None => {}
        Some(Value::Array(items)) => {
            if items.len() > MAX_PROPERTIES {
                return Err(top.err("properties", "at most 200 properties"));
            }
            let path = top.path("properties");
            for (i, item) in items.iter().enumerate() {
                let item_path = index(&path, i);
                let prop = property(item, &item_path, salt, selector_is_valid)?;
                if properties.iter().any(|q| q.key == prop.key) {
                    let mut m = String::from("duplicate key ");
                    json::write_str(&mut m, &prop.key);
                    return Err(ConfigError::new(&join(&item_path, "key"), &m));
                }
                properties.push(prop);
            }
        }
        Some(_) => return Err(top.err("properties", "expected an array")),
    }

    let s = top.section("session", &["idleTimeoutMs", "maxDurationMs", "maxActions"])?;
    let session = SessionConfig {
        idle_timeout_ms: s.int("idleTimeoutMs", 1_800_000, 1, DAY_MS)?,
        max_duration_ms: s.int("maxDurationMs", 21_600_000, 1, 7 * DAY_MS)?,
        max_actions: s.int("maxActions", 200, 1, 100_000)?,
    };
    let b = top.section("batch", &["maxActions", "maxBytes", "flushIntervalMs"])?;
    let batch = BatchConfig {
        max_actions: b.int("maxActions", 20, 1, 1000)?,
        max_bytes: b.int("maxBytes", 16_384, 1024, MAX_BEACON_BYTES)?,
        flush_interval_ms: b.int("flushIntervalMs", 10_000, 100, 3_600_000)?,
    };
    let pv = top.section("privacy", &["optIn", "doNotTrack"])?;
    let privacy = PrivacyConfig {
        opt_in: pv.bool("optIn")?,
        do_not_track: DNT_MODES
            .get(pv.choice("doNotTrack", &["anonymous", "disable", "ignore"])?)
            .copied()
            .unwrap_or(DntMode::Anonymous),
    };
    let sample_rate = match top.get("sampleRate") {
        None => 100.0,
        Some(v) => match v.as_f64() {
            Some(r) if (0.0..=100.0).contains(&r) => r,
            _ => return Err(top.err("sampleRate", "expected a number from 0 to 100")),
        },
    };
    let a = top.section("apdex", &["toleratedMs", "frustratedMs"])?;
    let tolerated = a.int("toleratedMs", 3_000, 1, HOUR_MS)?;
    // Frustrated from 4 times the tolerated threshold on by default, as Dynatrace's 3 s / 12 s.
    let apdex = [tolerated, a.int("frustratedMs", (4 * tolerated).min(HOUR_MS), tolerated, HOUR_MS)?];
    let max_errors = top.section("errors", &["maxPerAction"])?.int("maxPerAction", 10, 0, 100)? as usize;
    Ok(Config { app, collector, properties, session, batch, privacy, sample_rate, apdex, max_errors })
}

fn property(v: &Value, path: &str, salt: &str, selector_is_valid: &dyn Fn(&str) -> bool) -> R<Property> {
    let o = Obj::new(
        v,
        path,
        &["key", "type", "source", "cleanup", "ignoreCase", "maxLength", "storage", "aggregation", "public", "hash"],
    )?;
    let key =
        match o.string("key")? {
            None => return Err(o.err("key", "required")),
            Some(k) if !is_valid_key(k) => return Err(o.err(
                "key",
                "invalid key (lower-case letters, digits, '_' and '.', starting with a letter, at most 100 chars)",
            )),
            Some(k) => k.to_owned(),
        };
    if o.get("type").is_none() {
        return Err(o.err("type", "required"));
    }
    let prop_type = PropType::ALL.get(o.choice("type", &TYPE_NAMES)?).copied().unwrap_or(PropType::String);
    let Some(src) = o.get("source") else {
        return Err(o.err("source", "required"));
    };
    let source_path = o.path("source");
    let source = source(src, &source_path, selector_is_valid)?;
    let cleanup = match o.string("cleanup")? {
        None => None,
        Some("") => return Err(o.err("cleanup", "empty pattern")),
        Some(pat) => match crate::regex::Regex::new(pat) {
            Ok(re) => Some(re),
            Err(e) => {
                let mut at = String::new();
                json::write_i64(&mut at, e.offset as i64);
                return Err(o.err("cleanup", &concat(&[e.message, " at byte ", &at])));
            }
        },
    };
    let max_length = match o.get("maxLength") {
        None => DEFAULT_MAX_LENGTH,
        Some(_) if prop_type != PropType::String => return Err(o.err("maxLength", "only for string properties")),
        Some(_) => o.int("maxLength", 0, 1, MAX_MAX_LENGTH as u64)? as usize,
    };
    let storage =
        STORAGES.get(o.choice("storage", &["action", "session", "both"])?).copied().unwrap_or(Storage::Action);
    let aggregation = AGGREGATIONS
        .get(o.choice("aggregation", &["last", "first", "min", "max", "sum", "avg"])?)
        .copied()
        .unwrap_or(Aggregation::Last);
    // An aggregation on an action-only property has nothing to fold; it is accepted (a config may
    // switch `storage` later) as long as it fits the type.
    let fits = match aggregation {
        Aggregation::Last | Aggregation::First => true,
        Aggregation::Min | Aggregation::Max => prop_type != PropType::String,
        Aggregation::Sum | Aggregation::Avg => matches!(prop_type, PropType::Long | PropType::Double),
    };
    if !fits {
        return Err(o.err("aggregation", &concat(&["not defined for ", prop_type.name(), " properties"])));
    }
    // A digest is text: a hashed rule must say so (min, max, sum and avg are refused above).
    o.choice("hash", &["sha256"])?;
    let hash = match o.get("hash") {
        None => None,
        Some(_) if prop_type != PropType::String => return Err(o.err("hash", "only for string properties")),
        Some(_) => Some(salt.to_owned()),
    };
    Ok(Property {
        key,
        prop_type,
        source,
        cleanup,
        ignore_case: o.bool("ignoreCase")?,
        max_length,
        storage,
        aggregation,
        public: o.bool("public")?,
        hash,
    })
}

fn source(v: &Value, path: &str, selector_is_valid: &dyn Fn(&str) -> bool) -> R<Source> {
    let o = Obj::new(v, path, &["css", "attribute", "meta", "cookie", "query", "js", "api"])?;
    let mut kind = None;
    for (i, k) in SOURCE_KINDS.iter().enumerate() {
        if o.get(k).is_some() {
            if kind.is_some() {
                return Err(ConfigError::new(path, "more than one source kind"));
            }
            kind = Some(i);
        }
    }
    let Some(kind) = kind else {
        return Err(ConfigError::new(path, "expected one of css, meta, cookie, query, js, api"));
    };
    if kind != 0 && o.get("attribute").is_some() {
        return Err(o.err("attribute", "only with a css source"));
    }
    let name = SOURCE_KINDS.get(kind).copied().unwrap_or_default();
    if kind == 5 {
        return match o.get("api") {
            Some(Value::Bool(true)) => Ok(Source::Api),
            _ => Err(o.err("api", "expected true")),
        };
    }
    let what = match kind {
        0 => "selector",
        4 => "path",
        _ => "name",
    };
    let text = o.nonempty(name, what)?.unwrap_or_default();
    Ok(match kind {
        0 => {
            if !selector_is_valid(&text) {
                return Err(o.err("css", "invalid selector"));
            }
            Source::Css { selector: text, attribute: o.nonempty("attribute", "attribute name")? }
        }
        1 => Source::Meta(text),
        2 => Source::Cookie(text),
        3 => Source::Query(text),
        _ => Source::Js(parse_js_path(&text).map_err(|m| o.err("js", m))?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any_selector(s: &str) -> bool {
        !s.contains("!!")
    }

    fn err(text: &str) -> String {
        Config::parse(text, &any_selector).unwrap_err().to_string()
    }

    fn with_prop(p: &str) -> String {
        let mut s = String::from(
            r#"{"version":1,"app":"a","collector":"http://c/b","properties":[{"key":"ok","type":"string","source":{"meta":"x"}},"#,
        );
        s.push_str(p);
        s.push_str("]}");
        s
    }

    #[test]
    fn defaults_and_full_config() {
        let c = Config::parse(
            r#"{"version":1,"app":"easytravel","collector":"https://rum.example.com/beacon",
            "properties":[{"key":"loyalty_status","type":"string","source":{"meta":"loyalty"},"storage":"both","aggregation":"first","public":true,"ignoreCase":true,"maxLength":20,"cleanup":"^(\\w+)"}],
            "session":{"idleTimeoutMs":2000},"batch":{"maxBytes":65536},"privacy":{"optIn":true,"doNotTrack":"ignore"},"sampleRate":12.5}"#,
            &any_selector,
        )
        .unwrap();
        assert_eq!(c.app.as_deref(), Some("easytravel"));
        assert_eq!(c.session.idle_timeout_ms, 2000);
        assert_eq!(c.session.max_duration_ms, 21_600_000);
        assert_eq!(c.batch.max_actions, 20);
        assert_eq!(c.batch.max_bytes, 65536);
        assert!(c.privacy.opt_in);
        assert_eq!(c.privacy.do_not_track, DntMode::Ignore);
        assert_eq!(c.sample_rate, 12.5);
        let p = &c.properties[0];
        assert_eq!(
            (p.storage, p.aggregation, p.public, p.ignore_case, p.max_length),
            (Storage::Both, Aggregation::First, true, true, 20)
        );
        let minimal = Config::parse(r#"{"version":1}"#, &any_selector).unwrap();
        assert!(minimal.properties.is_empty() && minimal.collector.is_none());
        assert_eq!(minimal.privacy.do_not_track, DntMode::Anonymous);
        assert_eq!((minimal.apdex, minimal.max_errors), ([3_000, 12_000], 10));
        let a = |text: &str| Config::parse(text, &any_selector).map(|c| (c.apdex, c.max_errors)).unwrap();
        assert_eq!(a(r#"{"version":1,"apdex":{"toleratedMs":500}}"#).0, [500, 2_000]);
        assert_eq!(a(r#"{"version":1,"apdex":{"toleratedMs":2000000}}"#).0, [2_000_000, 3_600_000]);
        assert_eq!(a(r#"{"version":1,"apdex":{"toleratedMs":5,"frustratedMs":5},"errors":{"maxPerAction":0}}"#), ([5, 5], 0));
    }

    #[test]
    fn errors_name_the_field_path() {
        let cases = [
            ("", "invalid JSON at byte 0: unexpected end of input"),
            ("[]", "expected an object"),
            (r#"{"app":"x"}"#, "version: required"),
            (r#"{"version":2}"#, "version: unsupported version (expected 1)"),
            (r#"{"version":1,"colector":"x"}"#, "colector: unknown field"),
            (r#"{"version":1,"app":""}"#, "app: empty application id"),
            (
                r#"{"version":1,"session":{"idleTimeoutMs":0}}"#,
                "session.idleTimeoutMs: expected an integer from 1 to 86400000",
            ),
            (r#"{"version":1,"batch":{"maxBytes":70000}}"#, "batch.maxBytes: expected an integer from 1024 to 65536"),
            (r#"{"version":1,"batch":{"maxActions":"5"}}"#, "batch.maxActions: expected an integer from 1 to 1000"),
            (
                r#"{"version":1,"privacy":{"doNotTrack":"yes"}}"#,
                "privacy.doNotTrack: expected \"anonymous\", \"disable\" or \"ignore\"",
            ),
            (r#"{"version":1,"privacy":{"optin":true}}"#, "privacy.optin: unknown field"),
            (r#"{"version":1,"sampleRate":101}"#, "sampleRate: expected a number from 0 to 100"),
            (r#"{"version":1,"properties":{}}"#, "properties: expected an array"),
            (r#"{"version":1,"hashSalt":7}"#, "hashSalt: expected a string"),
            (r#"{"version":1,"apdex":{"toleratedMs":0}}"#, "apdex.toleratedMs: expected an integer from 1 to 3600000"),
            (
                r#"{"version":1,"apdex":{"toleratedMs":4000,"frustratedMs":3000}}"#,
                "apdex.frustratedMs: expected an integer from 4000 to 3600000",
            ),
            (r#"{"version":1,"apdex":{"satisfiedMs":1}}"#, "apdex.satisfiedMs: unknown field"),
            (r#"{"version":1,"apdex":3000}"#, "apdex: expected an object"),
            (r#"{"version":1,"errors":{"maxPerAction":101}}"#, "errors.maxPerAction: expected an integer from 0 to 100"),
        ];
        for (text, want) in cases {
            assert_eq!(err(text), want, "{text}");
        }
    }

    #[test]
    fn property_errors() {
        let cases = [
            (r#"{"key":"Bad","type":"string","source":{"meta":"x"}}"#, "properties[1].key: invalid key"),
            (r#"{"key":"ok","type":"string","source":{"meta":"x"}}"#, "properties[1].key: duplicate key \"ok\""),
            (r#"{"type":"string","source":{"meta":"x"}}"#, "properties[1].key: required"),
            (r#"{"key":"b","type":"int","source":{"meta":"x"}}"#, "properties[1].type: expected"),
            (r#"{"key":"b","type":"long"}"#, "properties[1].source: required"),
            (r#"{"key":"b","type":"long","source":{}}"#, "properties[1].source: expected one of"),
            (
                r#"{"key":"b","type":"long","source":{"meta":"x","cookie":"y"}}"#,
                "properties[1].source: more than one source kind",
            ),
            (r#"{"key":"b","type":"long","source":{"css":""}}"#, "properties[1].source.css: empty selector"),
            (r#"{"key":"b","type":"long","source":{"css":"a!!b"}}"#, "properties[1].source.css: invalid selector"),
            (
                r#"{"key":"b","type":"long","source":{"meta":"x","attribute":"y"}}"#,
                "properties[1].source.attribute: only with a css source",
            ),
            (r#"{"key":"b","type":"long","source":{"js":"a..b"}}"#, "properties[1].source.js: empty path segment"),
            (r#"{"key":"b","type":"long","source":{"js":"$a"}}"#, "properties[1].source.js: a path cannot start"),
            (r#"{"key":"b","type":"long","source":{"api":false}}"#, "properties[1].source.api: expected true"),
            (r#"{"key":"b","type":"long","source":{"sql":"x"}}"#, "properties[1].source.sql: unknown field"),
            (r#"{"key":"b","type":"string","source":{"meta":"x"},"cleanup":"(a"}"#, "properties[1].cleanup: "),
            (
                r#"{"key":"b","type":"long","source":{"meta":"x"},"maxLength":5}"#,
                "properties[1].maxLength: only for string properties",
            ),
            (
                r#"{"key":"b","type":"double","source":{"meta":"x"},"hash":"sha256"}"#,
                "properties[1].hash: only for string properties",
            ),
            (r#"{"key":"b","type":"string","source":{"meta":"x"},"hash":"SHA-256"}"#, "properties[1].hash: expected \"sha256\""),
            (r#"{"key":"b","type":"string","source":{"meta":"x"},"hash":true}"#, "properties[1].hash: expected \"sha256\""),
            (
                r#"{"key":"b","type":"string","source":{"meta":"x"},"maxLength":1001}"#,
                "properties[1].maxLength: expected an integer from 1 to 1000",
            ),
            (
                r#"{"key":"b","type":"string","source":{"meta":"x"},"storage":"session","aggregation":"sum"}"#,
                "properties[1].aggregation: not defined for string properties",
            ),
            (
                r#"{"key":"b","type":"date","source":{"meta":"x"},"storage":"both","aggregation":"avg"}"#,
                "properties[1].aggregation: not defined for date properties",
            ),
            (
                r#"{"key":"b","type":"string","source":{"meta":"x"},"aggregation":"max"}"#,
                "properties[1].aggregation: not defined for string",
            ),
            (
                r#"{"key":"b","type":"long","source":{"meta":"x"},"ignorecase":true}"#,
                "properties[1].ignorecase: unknown field",
            ),
        ];
        for (p, want) in cases {
            let got = err(&with_prop(p));
            assert!(got.starts_with(want), "{p}\n got: {got}\nwant: {want}");
        }
        let regex_error = err(&with_prop(r#"{"key":"b","type":"string","source":{"meta":"x"},"cleanup":"(a"}"#));
        assert!(regex_error.len() > "properties[1].cleanup: ".len(), "{regex_error}");
    }

    #[test]
    fn at_most_200_properties() {
        let one = |i: usize| format!(r#"{{"key":"k{i}","type":"string","source":{{"meta":"m"}}}}"#);
        let props: Vec<String> = (0..201).map(one).collect();
        let text = format!(r#"{{"version":1,"properties":[{}]}}"#, props.join(","));
        assert_eq!(err(&text), "properties: at most 200 properties");
        let text = format!(r#"{{"version":1,"properties":[{}]}}"#, props[..200].join(","));
        assert_eq!(Config::parse(&text, &any_selector).unwrap().properties.len(), 200);
    }

    #[test]
    fn keys() {
        for good in ["a", "loyalty_status", "cart.total_2", "a.b.c"] {
            assert!(is_valid_key(good), "{good}");
        }
        for bad in ["", "A", "1a", "_a", "a.", ".a", "a..b", "a-b", "a.B", "é", &"a".repeat(101)] {
            assert!(!is_valid_key(bad), "{bad}");
        }
        assert!(is_valid_key(&"a".repeat(100)));
    }

    #[test]
    fn js_paths() {
        let p = parse_js_path("dataLayer.0.$user.$$x.$").unwrap();
        let names: Vec<(bool, &str)> = p.iter().map(|s| (s.parse_json, s.name.as_str())).collect();
        assert_eq!(names, [(false, "dataLayer"), (false, "0"), (true, "user"), (false, "$x"), (true, "")]);
    }
}
