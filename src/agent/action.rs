//! User actions (DESIGN.md §3): what happened, when, and what it cost.
//!
//! An [`Action`] is opened by the runtime when it sees a navigation, a click, a route change or
//! an `enterAction` call, counts the requests and errors the runtime attributes to it, and is
//! closed with the rules' outcomes. Times are epoch milliseconds given by the caller.

use crate::prelude::*;
use crate::capture::PropertyMap;
use crate::json;
use crate::text;
use crate::value;

/// An action lasts at most this long: a click whose requests never settle, or a custom action
/// nobody leaves, must not stretch over the rest of the page's life.
pub const MAX_ACTION_DURATION_MS: i64 = 180_000;
/// Action names (and the text a click name is taken from) are cut to this many Unicode scalar values.
pub const MAX_ACTION_NAME_CHARS: usize = 100;
/// The characters [`click_name`] wraps a label in: `click on "` and `"`.
const CLICK_NAME_WRAPPER_CHARS: usize = 11;
/// URLs are cut to this many characters: the collector refuses text beyond 8192, and a huge
/// `data:` URL must not cost a whole beacon.
pub const MAX_URL_CHARS: usize = 4096;

/// The measures an action may carry, by the index the host hands them at (`m` in
/// `www/rumprops-core.js`): the `timings` members (epoch ms, then milliseconds from the action's
/// start, then [`CLS`], a double), then the `resources` counts from [`RESOURCES`] on. Each is
/// absent unless the browser gave it.
pub const MEASURES: [&str; 18] = [
    "navigationStart",
    "requestStart",
    "responseStart",
    "responseEnd",
    "documentInteractiveTime",
    "domContentLoadedTime",
    "domCompleteTime",
    "loadEventStart",
    "loadEventEnd",
    "largestContentfulPaint",
    "firstInputDelay",
    "interactionToNextPaint",
    "visuallyCompleteTime",
    "speedIndex",
    "cumulativeLayoutShift",
    "firstParty",
    "thirdParty",
    "cdn",
];
/// The index of `cumulativeLayoutShift` in [`MEASURES`]: the one that is not a whole number.
pub const CLS: usize = 14;
/// Where the `resources` counts start in [`MEASURES`].
pub const RESOURCES: usize = 15;
/// A JS error's message is cut to this many characters.
pub const MAX_ERROR_MESSAGE_CHARS: usize = 1000;
/// The apdex categories, from an action's duration and errors ([`apdex`]).
pub const APDEX: [&str; 3] = ["SATISFIED", "TOLERATING", "FRUSTRATED"];

/// What started an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    /// Navigation start to the load event.
    Load,
    /// A click and the requests it starts.
    Click,
    /// An SPA history change (pushState, replaceState, popstate).
    Route,
    /// `enterAction` / `leaveAction`.
    Custom,
}

impl ActionKind {
    /// The kind as sent in beacons.
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::Load => "load",
            ActionKind::Click => "click",
            ActionKind::Route => "route",
            ActionKind::Custom => "custom",
        }
    }
}

/// One user action.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// Unique within the session (`a` + the action's number in the session).
    pub id: String,
    /// What started it.
    pub kind: ActionKind,
    /// Human-readable name, at most [`MAX_ACTION_NAME_CHARS`] characters of label.
    pub name: String,
    /// Epoch ms when it started.
    pub start: i64,
    /// Epoch ms when it ended (equal to `start` while open).
    pub end: i64,
    /// The page URL when it started (or the new URL of a route change).
    pub url: String,
    /// XHR and fetch requests attributed to it.
    pub requests: u32,
    /// Those that failed (status >= 400 or a network error).
    pub request_errors: u32,
    /// `error` and `unhandledrejection` events while it was open.
    pub js_errors: u32,
    /// Typed properties captured at its end.
    pub props: PropertyMap,
    /// Its [`MEASURES`], as the browser gave them (checked when written: [`number`]).
    pub measures: [Option<f64>; 18],
    /// Its JS errors (at most the config's `errors.maxPerAction`, one of each message, file,
    /// line and column): those members as JSON, and the epoch ms of the first.
    pub errors: Vec<(String, i64)>,
    /// Rage clicks during it.
    pub rage_clicks: u32,
    /// Its apdex category ([`APDEX`]), set when it ends (`""` while open).
    pub apdex: &'static str,
}

impl Action {
    /// A new, open action.
    pub fn new(id: String, kind: ActionKind, name: &str, url: &str, start: i64) -> Action {
        let mut url = url.to_owned();
        value::truncate(&mut url, MAX_URL_CHARS);
        Action {
            id,
            kind,
            // A click name is built from a label already cut to the limit: cutting the whole name
            // again would drop its closing quote.
            name: match kind {
                ActionKind::Click => {
                    let mut s = text::collapse_ws(name);
                    value::truncate(&mut s, MAX_ACTION_NAME_CHARS + CLICK_NAME_WRAPPER_CHARS);
                    s
                }
                _ => clean_name(name),
            },
            start,
            end: start,
            url,
            requests: 0,
            request_errors: 0,
            js_errors: 0,
            props: PropertyMap::default(),
            measures: [None; 18],
            errors: Vec::new(),
            rage_clicks: 0,
            apdex: "",
        }
    }

    /// Records a JS error (after [`Action::count_js_error`]) unless `max` are recorded or one
    /// with the same message, file, line and column is: the message cut to
    /// [`MAX_ERROR_MESSAGE_CHARS`], the file to [`MAX_URL_CHARS`]; a line or column that is not
    /// a number from 1 on is left out (browsers give 0 when they do not know it).
    pub fn record_error(&mut self, mut message: String, file: Option<String>, at: [Option<f64>; 2], now: i64, max: usize) {
        value::truncate(&mut message, MAX_ERROR_MESSAGE_CHARS);
        let mut key = String::from("\"message\":");
        json::write_str(&mut key, &message);
        if let Some(mut f) = file.filter(|f| !f.is_empty()) {
            value::truncate(&mut f, MAX_URL_CHARS);
            key.push_str(",\"file\":");
            json::write_str(&mut key, &f);
        }
        let [line, column] = at;
        members(&mut key, ",", &["line", "column"], &[line.filter(|n| *n >= 1.0), column.filter(|n| *n >= 1.0)], true);
        if self.errors.len() < max && !self.errors.iter().any(|(k, _)| *k == key) {
            self.errors.push((key, now));
        }
    }

    /// Counts one request and whether it failed.
    pub fn count_request(&mut self, failed: bool) {
        self.requests = self.requests.saturating_add(1);
        if failed {
            self.request_errors = self.request_errors.saturating_add(1);
        }
    }

    /// Counts one JS error.
    pub fn count_js_error(&mut self) {
        self.js_errors = self.js_errors.saturating_add(1);
    }

    /// Closes the action at `now`, capping the duration at [`MAX_ACTION_DURATION_MS`]. A clock
    /// that went backwards gives a zero duration, never a negative one.
    pub fn finish(&mut self, now: i64) {
        self.end = now.min(self.start.saturating_add(MAX_ACTION_DURATION_MS)).max(self.start);
    }

    /// Whether the action has been open for the maximum duration at `now` (the runtime closes it).
    pub fn is_overdue(&self, now: i64) -> bool {
        now.saturating_sub(self.start) >= MAX_ACTION_DURATION_MS
    }

    /// Appends the action as a beacon `actions` item (DESIGN.md §4).
    pub fn write_json(&self, out: &mut String) {
        out.push_str("{\"id\":");
        json::write_str(out, &self.id);
        out.push_str(",\"kind\":");
        json::write_str(out, self.kind.name());
        out.push_str(",\"name\":");
        json::write_str(out, &self.name);
        out.push_str(",\"start\":");
        json::write_i64(out, self.start);
        out.push_str(",\"end\":");
        json::write_i64(out, self.end);
        out.push_str(",\"url\":");
        json::write_str(out, &self.url);
        out.push_str(",\"requests\":");
        json::write_i64(out, i64::from(self.requests));
        out.push_str(",\"requestErrors\":");
        json::write_i64(out, i64::from(self.request_errors));
        out.push_str(",\"jsErrors\":");
        json::write_i64(out, i64::from(self.js_errors));
        out.push_str(",\"props\":");
        self.props.write_json(out);
        // (`members` stops at the shorter of names and values.)
        let m = &self.measures;
        let sep = members(out, ",\"timings\":{", MEASURES.get(..CLS).unwrap_or_default(), m, true);
        // Every measure is a whole number but the layout shift.
        let cls = m.get(CLS..).unwrap_or_default();
        if members(out, sep, MEASURES.get(CLS..RESOURCES).unwrap_or_default(), cls, false) == "," {
            out.push('}');
        }
        let (names, values) = (MEASURES.get(RESOURCES..).unwrap_or_default(), m.get(RESOURCES..).unwrap_or_default());
        if members(out, ",\"resources\":{", names, values, true) == "," {
            out.push('}');
        }
        if !self.apdex.is_empty() {
            out.push_str(",\"apdex\":\"");
            out.push_str(self.apdex);
            out.push('"');
        }
        if self.rage_clicks > 0 {
            out.push_str(",\"rageClicks\":");
            json::write_i64(out, i64::from(self.rage_clicks));
        }
        let mut sep = ",\"errors\":[{";
        for (key, time) in &self.errors {
            out.push_str(sep);
            out.push_str(key);
            out.push_str(",\"time\":");
            json::write_i64(out, *time);
            out.push('}');
            sep = ",{";
        }
        if !self.errors.is_empty() {
            out.push(']');
        }
        out.push('}');
    }

    /// The action as JSON text.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(256);
        self.write_json(&mut out);
        out
    }
}

/// A number the browser gave, as the agent sends it: a finite number from 0 on (below 2^53),
/// rounded to a whole one when `round`; `None` for anything else.
pub fn number(raw: Option<f64>, round: bool) -> Option<f64> {
    raw.filter(|v| *v >= 0.0 && *v < 9.0e15).map(|v| if round { (v + 0.5) as i64 as f64 } else { v })
}

/// Appends `"name":value` for each value that is a [`number`] (rounded when `round`), the
/// first after `open`, the others after a comma. Answers `","` when it wrote any, else `open`.
pub fn members<'a>(out: &mut String, open: &'a str, names: &[&str], values: &[Option<f64>], round: bool) -> &'a str {
    let mut sep = open;
    for (name, v) in names.iter().zip(values) {
        if let Some(v) = number(*v, round) {
            out.push_str(sep);
            out.push('"');
            out.push_str(name);
            out.push_str("\":");
            json::write_f64(out, v);
            sep = ",";
        }
    }
    sep
}

/// The apdex category ([`APDEX`]) of an action that lasted `duration_ms` with `js_errors`
/// errors, for the config's `apdex` thresholds `[tolerated, frustrated]`: satisfied up to
/// the first, tolerating up to the second, frustrated beyond it or with any JS error.
pub fn apdex(duration_ms: i64, js_errors: u32, [tolerated, frustrated]: [u64; 2]) -> &'static str {
    let d = duration_ms.max(0) as u64;
    let i = if js_errors > 0 || d > frustrated { 2 } else { usize::from(d > tolerated) };
    APDEX.get(i).copied().unwrap_or_default()
}

/// Collapses white space, trims and cuts a name to [`MAX_ACTION_NAME_CHARS`].
pub fn clean_name(raw: &str) -> String {
    let mut s = text::collapse_ws(raw);
    value::truncate(&mut s, MAX_ACTION_NAME_CHARS);
    s
}

/// The name of a click: `click on "Book"`, the label taken from the element's
/// `data-rumprops-name`, else its `aria-label`, else its text; the first one that is not empty
/// after collapsing white space wins, cut to [`MAX_ACTION_NAME_CHARS`]. With no label at all the
/// name is `click on <tag>` (the element's lower-case tag name), so the action still groups.
pub fn click_name(data_name: Option<&str>, aria_label: Option<&str>, text: Option<&str>, tag: &str) -> String {
    let mut name = String::from("click on ");
    for label in [data_name, aria_label, text] {
        let label = clean_name(label.unwrap_or_default());
        if !label.is_empty() {
            name.push('"');
            name.push_str(&label);
            name.push('"');
            return name;
        }
    }
    let mut t = tag.to_ascii_lowercase();
    value::truncate(&mut t, 32);
    name.push_str(&t);
    name
}

/// The name of a load or route action: the URL's path, plus its fragment when the fragment is
/// a client-side route (`#/offers`, `#!/offers`). The query is left out: it often carries ids
/// or tokens, and the action's `url` keeps it.
pub fn page_name(url: &str) -> String {
    let after_scheme = match text::cut(url, b':') {
        Some((_, rest)) => rest.strip_prefix("//").unwrap_or(url),
        None => url,
    };
    let (before_hash, hash) = text::cut(after_scheme, b'#').unwrap_or((after_scheme, ""));
    // The path from the first `/` up to the query.
    let mut name = String::from("/");
    if let Some((_, path)) = text::cut(before_hash, b'/') {
        name.push_str(text::cut(path, b'?').map_or(path, |(path, _)| path));
    }
    if hash.starts_with('/') || hash.starts_with("!/") {
        name.push('#');
        name.push_str(hash);
    }
    value::truncate(&mut name, MAX_ACTION_NAME_CHARS);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_names() {
        for (url, name) in [
            ("https://shop.example/offers?id=7#top", "/offers"),
            ("https://shop.example", "/"),
            ("https://shop.example/app/#/cart?x=1", "/app/#/cart?x=1"),
            ("https://shop.example/app/#!/cart", "/app/#!/cart"),
            ("http://127.0.0.1:8080/demo/?view=cart", "/demo/"),
            ("file:///tmp/page.html", "/tmp/page.html"),
            ("about:blank", "/"),
        ] {
            assert_eq!(page_name(url), name, "{url}");
        }
    }
    use crate::json::{parse, Value};
    use crate::value::PropertyValue;

    #[test]
    fn click_names_follow_the_precedence() {
        assert_eq!(click_name(Some(" Book  now "), Some("aria"), Some("text"), "button"), "click on \"Book now\"");
        assert_eq!(click_name(Some("   "), Some("Close\n dialog"), Some("x"), "button"), "click on \"Close dialog\"");
        assert_eq!(click_name(None, None, Some("\n\tBook\n"), "a"), "click on \"Book\"");
        assert_eq!(click_name(None, Some(""), Some(" "), "IMG"), "click on img");
    }

    #[test]
    fn click_label_is_cut_to_100_chars_without_splitting() {
        let long = "é".repeat(150);
        let name = click_name(None, None, Some(&long), "div");
        assert_eq!(name.chars().count(), "click on \"\"".len() + MAX_ACTION_NAME_CHARS);
        assert!(name.ends_with("é\""));
        assert_eq!(clean_name(&"x ".repeat(80)).chars().count(), 100);
        let action = Action::new("a1".into(), ActionKind::Click, &name, "https://x/", 0);
        assert_eq!(action.name, name, "the click name keeps its closing quote");
        let custom = Action::new("a2".into(), ActionKind::Custom, &long, "https://x/", 0);
        assert_eq!(custom.name.chars().count(), MAX_ACTION_NAME_CHARS);
    }

    #[test]
    fn duration_is_capped_and_never_negative() {
        let mut a = Action::new("a1".into(), ActionKind::Click, "c", "u", 1_000);
        a.finish(1_000 + 10 * 60_000);
        assert_eq!(a.end - a.start, MAX_ACTION_DURATION_MS);
        a.finish(500);
        assert_eq!(a.end, a.start);
        assert!(a.is_overdue(1_000 + MAX_ACTION_DURATION_MS));
        assert!(!a.is_overdue(1_001));
    }

    #[test]
    fn long_urls_are_cut() {
        let a = Action::new("a1".into(), ActionKind::Load, "l", &"u".repeat(10_000), 0);
        assert_eq!(a.url.len(), MAX_URL_CHARS);
    }

    #[test]
    fn json_has_every_field() {
        let mut a = Action::new(
            "a7".into(),
            ActionKind::Click,
            "click on \"Book\"",
            "https://shop.example/offers?x=1",
            1_732_599_990_000,
        );
        a.count_request(false);
        a.count_request(true);
        a.props.set("items", PropertyValue::Long(i64::MAX));
        a.props.set("total", PropertyValue::Double(59.9));
        a.finish(1_732_599_990_450);
        let v = parse(&a.to_json()).unwrap();
        assert_eq!(v.get("id").unwrap().as_str(), Some("a7"));
        assert_eq!(v.get("kind").unwrap().as_str(), Some("click"));
        assert_eq!(v.get("name").unwrap().as_str(), Some("click on \"Book\""));
        assert_eq!(v.get("end").unwrap().as_i64(), Some(1_732_599_990_450));
        assert_eq!(v.get("requests").unwrap().as_i64(), Some(2));
        assert_eq!(v.get("requestErrors").unwrap().as_i64(), Some(1));
        assert_eq!(v.get("jsErrors").unwrap().as_i64(), Some(0));
        let props = v.get("props").unwrap();
        assert_eq!(props.get("long").unwrap().get("items"), Some(&Value::Number("9223372036854775807".into())));
        assert_eq!(props.get("double").unwrap().get("total").unwrap().as_f64(), Some(59.9));
        assert_eq!(props.get("date"), Some(&Value::Object(vec![])));
    }
}
