//! The value pipeline: read a rule's source through a [`Page`], then trim, clean up,
//! lower-case, type and truncate.
//!
//! Every rule is evaluated on its own: a failure becomes a [`Reason`] next to the other rules'
//! values and never stops them.

use crate::prelude::*;
use crate::config::{Config, JsSegment, Property, Source};
use crate::json::{self, Value};
use crate::page::{CssRead, JsRead, Page};
use crate::text;
use crate::value::{self, PropType, PropertyValue, Reason};

/// What one rule gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A typed value.
    Value(PropertyValue),
    /// No value, and why.
    Issue(Reason),
    /// Nothing to do: an `api` property that no API call set.
    Skipped,
}

/// One rule's outcome with its key, for reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    /// The property key.
    pub key: String,
    /// Why it has no value.
    pub reason: Reason,
}

/// Evaluates every rule of `config` against `page`, in config order. The cookie string and the
/// URL are read once for all rules, and only when a rule reads them (in the browser each read
/// copies them out of the page).
pub fn evaluate(config: &Config, page: &dyn Page) -> Vec<Outcome> {
    let mut once = ReadOnce { page, cookie: None, url: String::new() };
    let rules = &config.properties;
    if rules.iter().any(|p| matches!(p.source, Source::Cookie(_))) {
        once.cookie = page.cookie_string();
    }
    if rules.iter().any(|p| matches!(p.source, Source::Query(_))) {
        once.url = page.url();
    }
    let mut outcomes = Vec::with_capacity(rules.len());
    for p in rules {
        outcomes.push(evaluate_one(p, &once));
    }
    outcomes
}

/// A page whose cookie string and URL were read up front.
struct ReadOnce<'a> {
    page: &'a dyn Page,
    cookie: Option<String>,
    url: String,
}

impl Page for ReadOnce<'_> {
    fn selector_is_valid(&self, selector: &str) -> bool {
        self.page.selector_is_valid(selector)
    }
    fn css(&self, selector: &str, attribute: Option<&str>) -> CssRead {
        self.page.css(selector, attribute)
    }
    fn meta(&self, name: &str) -> Option<String> {
        self.page.meta(name)
    }
    fn cookie_string(&self) -> Option<String> {
        self.cookie.clone()
    }
    fn url(&self) -> String {
        self.url.clone()
    }
    fn js(&self, path: &[String]) -> JsRead {
        self.page.js(path)
    }
}

/// Evaluates one rule.
pub fn evaluate_one(prop: &Property, page: &dyn Page) -> Outcome {
    if prop.source == Source::Api {
        return Outcome::Skipped;
    }
    match read_raw(prop, page).and_then(|raw| finish(prop, &raw)) {
        Ok(v) => Outcome::Value(v),
        Err(r) => Outcome::Issue(r),
    }
}

/// Reads a rule's raw text from its source.
pub fn read_raw(prop: &Property, page: &dyn Page) -> Result<String, Reason> {
    match &prop.source {
        Source::Css { selector, attribute } => match page.css(selector, attribute.as_deref()) {
            CssRead::NoElement | CssRead::NoAttribute => Err(Reason::NotFound),
            CssRead::Sensitive => Err(Reason::SensitiveField),
            CssRead::Text(t) => Ok(text::collapse_ws(&t)),
            CssRead::Value(v) => Ok(v),
        },
        Source::Meta(name) => page.meta(name).ok_or(Reason::NotFound),
        Source::Cookie(name) => page
            .cookie_string()
            .and_then(|jar| text::cookie_value(&jar, name))
            .ok_or(Reason::NotFound),
        Source::Query(name) => text::query_value(&page.url(), name).ok_or(Reason::NotFound),
        Source::Js(path) => read_js(path, page, prop.prop_type),
        Source::Api => Err(Reason::NotFound),
    }
}

/// Walks a `js` path: plain steps through the page, then `$` steps through parsed JSON.
fn read_js(path: &[JsSegment], page: &dyn Page, ty: PropType) -> Result<String, Reason> {
    let mut names = Vec::new();
    let mut rest = path;
    while let Some((seg, after)) = rest.split_first().filter(|(s, _)| !s.parse_json) {
        names.push(seg.name.clone());
        rest = after;
    }
    let read = page.js(&names);
    if rest.is_empty() {
        return js_text(read, ty);
    }
    let start = match read {
        JsRead::Str(s) => Value::String(s),
        JsRead::Missing => return Err(Reason::NotFound),
        _ => return Err(Reason::UnsupportedValue),
    };
    walk_json(start, rest)
}

/// Follows path segments through a JSON value, a `$` segment parsing the current string first,
/// and returns the text of the value reached.
pub fn walk_json(start: Value, path: &[JsSegment]) -> Result<String, Reason> {
    // The document parsed last, and the value reached in it.
    let mut doc = start;
    let mut at = &doc;
    for seg in path {
        if seg.parse_json {
            let parsed = match at {
                Value::String(s) => json::parse(s).map_err(|_| Reason::UnsupportedValue)?,
                Value::Null => return Err(Reason::NotFound),
                _ => return Err(Reason::UnsupportedValue),
            };
            doc = parsed;
            at = &doc;
            if seg.name.is_empty() {
                continue;
            }
        }
        at = match at {
            Value::Array(items) => array_index(&seg.name).and_then(|i| items.get(i)),
            other => other.get(&seg.name),
        }
        .ok_or(Reason::NotFound)?;
    }
    match at {
        Value::String(s) | Value::Number(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(if *b { "true" } else { "false" }.to_owned()),
        Value::Null => Err(Reason::NotFound),
        Value::Array(_) | Value::Object(_) => Err(Reason::UnsupportedValue),
    }
}

/// An array index as JS writes it: decimal digits, no sign, no leading zero (but `0`).
fn array_index(name: &str) -> Option<usize> {
    let b = name.as_bytes();
    if b.is_empty() || (b.len() > 1 && b.first() == Some(&b'0')) {
        return None;
    }
    let mut n: usize = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(usize::from(c - b'0'))?;
    }
    Some(n)
}

/// The raw text of a JS value: strings as they are, numbers as `String(x)` gives them, dates
/// as ISO text for string properties and epoch milliseconds otherwise.
fn js_text(read: JsRead, ty: PropType) -> Result<String, Reason> {
    match read {
        JsRead::Missing => Err(Reason::NotFound),
        JsRead::Str(s) => Ok(s),
        JsRead::Num(x) if x.is_finite() => Ok(value::js_number_to_string(x)),
        JsRead::BigInt(digits) => Ok(digits),
        JsRead::Bool(b) => Ok(if b { "true" } else { "false" }.to_owned()),
        JsRead::Date(ms) if ms.is_finite() => {
            let ms = ms as i64;
            if ty == PropType::String {
                Ok(value::iso_from_epoch_ms(ms))
            } else {
                let mut s = String::new();
                json::write_i64(&mut s, ms);
                Ok(s)
            }
        }
        JsRead::Num(_) | JsRead::Date(_) | JsRead::Unsupported => Err(Reason::UnsupportedValue),
    }
}

/// Turns raw text into a typed value: trim, cleanup, `ignoreCase`, typing, `hash`, truncation.
pub fn finish(prop: &Property, raw: &str) -> Result<PropertyValue, Reason> {
    let mut s = text::trim_ascii_ws(raw);
    if s.is_empty() {
        return Err(Reason::Empty);
    }
    if let Some(re) = &prop.cleanup {
        let group = usize::from(re.groups() > 1);
        let (start, end) = re.find_group(s, group).flatten().ok_or(Reason::NoMatch)?;
        s = text::trim_ascii_ws(s.get(start..end).unwrap_or_default());
        if s.is_empty() {
            return Err(Reason::Empty);
        }
    }
    let lowered;
    if prop.ignore_case {
        lowered = crate::platform::to_lowercase(s);
        s = &lowered;
    }
    let mut v = value::type_text(s, prop.prop_type)?;
    if let PropertyValue::String(text) = &mut v {
        hash_and_truncate(prop, text);
    }
    Ok(v)
}

/// The last steps of a string value, from a rule or an API call: a hashed rule's value becomes
/// its digest ([`crate::platform::sha256_hex`] of the salt and the value), then the text is
/// truncated to `maxLength` (a digest is 64 characters).
pub fn hash_and_truncate(prop: &Property, text: &mut String) {
    if let Some(salt) = &prop.hash {
        *text = crate::platform::sha256_hex(salt, text);
    }
    value::truncate(text, prop.max_length);
}

/// Properties with their values, in config order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PropertyMap(pub Vec<(String, PropertyValue)>);

impl PropertyMap {
    /// Sets (or replaces) a key's value.
    pub fn set(&mut self, key: &str, value: PropertyValue) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key.to_owned(), value)),
        }
    }

    /// The value of a key.
    pub fn get(&self, key: &str) -> Option<&PropertyValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Appends `{"string":{…},"long":{…},"double":{…},"date":{…}}`.
    pub fn write_json(&self, out: &mut String) {
        out.push('{');
        for (i, ty) in PropType::ALL.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json::write_str(out, ty.name());
            out.push_str(":{");
            let mut first = true;
            for (k, v) in self.0.iter().filter(|(_, v)| v.prop_type() == ty) {
                if !first {
                    out.push(',');
                }
                first = false;
                json::write_str(out, k);
                out.push(':');
                v.write_json(out);
            }
            out.push('}');
        }
        out.push('}');
    }
}

/// Appends `[{"key":…,"reason":…},…]`.
pub fn write_issues_json(issues: &[Issue], out: &mut String) {
    out.push('[');
    for (i, issue) in issues.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"key\":");
        json::write_str(out, &issue.key);
        out.push_str(",\"reason\":");
        json::write_str(out, issue.reason.code());
        out.push('}');
    }
    out.push(']');
}

/// What one page gives as a single load action: action-stored and session-stored values
/// together (keys are unique across both), and the issues.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Every property with a value.
    pub properties: PropertyMap,
    /// Every rule without one, and why.
    pub issues: Vec<Issue>,
}

impl Report {
    /// Evaluates `config` on `page` as one action ending at `at_ms`, folding session-stored
    /// values into a fresh session.
    pub fn of_page(config: &Config, page: &dyn Page, at_ms: i64) -> Report {
        let outcomes = evaluate(config, page);
        let mut session = crate::session::SessionProps::new();
        let mut issues = session.fold_action(config, &outcomes, at_ms);
        let mut properties = PropertyMap::default();
        for (prop, outcome) in config.properties.iter().zip(&outcomes) {
            match outcome {
                Outcome::Value(v) if prop.storage.on_action() => properties.set(&prop.key, v.clone()),
                Outcome::Value(_) => {
                    if let Some(v) = session.values().get(&prop.key) {
                        properties.set(&prop.key, v.clone());
                    }
                }
                Outcome::Issue(reason) => issues.push(Issue { key: prop.key.clone(), reason: *reason }),
                Outcome::Skipped => {}
            }
        }
        Report { properties, issues }
    }

    /// `{"properties":{"string":{…},…},"issues":[…]}`.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{\"properties\":");
        self.properties.write_json(&mut out);
        out.push_str(",\"issues\":");
        write_issues_json(&self.issues, &mut out);
        out.push('}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_indexes_are_plain_decimals() {
        for (name, want) in [("0", Some(0)), ("7", Some(7)), ("12", Some(12)), ("00", None), ("01", None), ("+1", None)] {
            assert_eq!(array_index(name), want, "{name}");
        }
        for bad in ["", "-1", "1.0", " 1", "1e2", "99999999999999999999999"] {
            assert_eq!(array_index(bad), None, "{bad}");
        }
    }
}
