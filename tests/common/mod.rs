//! The rule-fixture table (`tests/cases.json`), shared by the native and the browser runner.
//!
//! Each case is an HTML fixture, one rule, optional cookie / query / JS globals, and the
//! expected outcome: `{"value": …}`, `{"reason": "…"}`, `{"configError": "prefix"}` or
//! `{"skipped": true}`. A case whose native outcome must differ carries
//! `"native": {"expect": …, "why": "…"}`; `browserJs` runs only in the browser (with `doc`
//! bound to the fixture document), so a case that has it must list a native difference.
//! `"hashSalt"` is the config's salt for a case whose rule has `"hash"`.
#![allow(dead_code)]

use rumprops::json::{self, Value};
use rumprops::{capture, Config, Outcome, Page, PropertyValue};

/// The table, read with the crate's own JSON reader.
pub const CASES: &str = include_str!("../cases.json");

/// Which side runs the table.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Native,
    Browser,
}

/// One fixture case.
pub struct Case {
    pub name: String,
    pub html: String,
    pub rule: Value,
    pub cookie: Option<String>,
    pub query: Option<String>,
    pub js: Vec<(String, Value)>,
    pub browser_js: Option<String>,
    pub expect: Value,
    pub native: Option<(Value, String)>,
    /// The config's `hashSalt`, when the case has one.
    pub hash_salt: Option<String>,
}

fn text(v: &Value, name: &str) -> Option<String> {
    v.get(name).and_then(Value::as_str).map(str::to_owned)
}

pub fn cases() -> Vec<Case> {
    let Value::Array(items) = json::parse(CASES).expect("cases.json is valid JSON") else {
        panic!("cases.json must be an array");
    };
    items
        .iter()
        .map(|c| Case {
            name: text(c, "name").expect("case name"),
            html: text(c, "html").unwrap_or_else(|| "<!doctype html><html><head></head><body></body></html>".into()),
            rule: c.get("rule").expect("case rule").clone(),
            cookie: text(c, "cookie"),
            query: text(c, "query"),
            js: match c.get("js") {
                Some(Value::Object(m)) => m.clone(),
                _ => Vec::new(),
            },
            browser_js: text(c, "browserJs"),
            expect: c.get("expect").expect("case expect").clone(),
            hash_salt: text(c, "hashSalt"),
            native: c.get("native").map(|n| {
                (n.get("expect").expect("native.expect").clone(), text(n, "why").expect("native.why"))
            }),
        })
        .collect()
}

impl Case {
    /// What this side must produce.
    pub fn expected(&self, side: Side) -> &Value {
        match (side, &self.native) {
            (Side::Native, Some((e, _))) => e,
            _ => &self.expect,
        }
    }

    /// The case's config: version 1 with this one rule.
    pub fn config_text(&self) -> String {
        let mut s = String::from(r#"{"version":1,"app":"fixtures","collector":"http://127.0.0.1:9/beacon","#);
        if let Some(salt) = &self.hash_salt {
            s.push_str(r#""hashSalt":"#);
            json::write_str(&mut s, salt);
            s.push(',');
        }
        s.push_str(r#""properties":["#);
        json::write_value(&mut s, &self.rule);
        s.push_str("]}");
        s
    }
}

fn describe(v: &PropertyValue) -> String {
    let mut s = String::new();
    v.write_json(&mut s);
    s
}

fn matches_value(got: &PropertyValue, want: &Value) -> bool {
    match (got, want) {
        (PropertyValue::String(g), Value::String(w)) => g == w,
        (PropertyValue::Long(g) | PropertyValue::Date(g), Value::Number(_)) => want.as_i64() == Some(*g),
        (PropertyValue::Double(g), Value::Number(_)) => want.as_f64() == Some(*g),
        _ => false,
    }
}

/// Runs one case on a page; `None` when it meets the expectation, else what went wrong.
pub fn check(case: &Case, page: &dyn Page, side: Side) -> Option<String> {
    let want = case.expected(side);
    let config = Config::parse(&case.config_text(), &|s| page.selector_is_valid(s));
    let got = match (&config, want.get("configError").and_then(Value::as_str)) {
        (Err(e), Some(prefix)) if e.to_string().starts_with(prefix) => return None,
        (Err(e), _) => format!("config error: {e}"),
        (Ok(_), Some(prefix)) => format!("accepted config, wanted error {prefix:?}"),
        (Ok(config), None) => {
            let prop = config.properties.first().expect("one rule");
            match capture::evaluate_one(prop, page) {
                Outcome::Value(v) => match want.get("value") {
                    Some(w) if matches_value(&v, w) && v.prop_type() == prop.prop_type => return None,
                    _ => format!("value {}", describe(&v)),
                },
                Outcome::Issue(r) => match want.get("reason").and_then(Value::as_str) {
                    Some(w) if w == r.code() => return None,
                    _ => format!("reason {}", r.code()),
                },
                Outcome::Skipped if want.get("skipped").is_some() => return None,
                Outcome::Skipped => "skipped".to_owned(),
            }
        }
    };
    let mut wanted = String::new();
    json::write_value(&mut wanted, want);
    Some(format!("{}: got {got}, want {wanted}", case.name))
}

/// Checks the table's own rules: enough cases, unique names, and every browser-only case
/// listed as a difference with its reason.
pub fn check_table(cases: &[Case]) {
    assert!(cases.len() >= 80, "the table has {} cases; at least 80 are required", cases.len());
    for (i, c) in cases.iter().enumerate() {
        assert!(!cases[..i].iter().any(|d| d.name == c.name), "duplicate case name {:?}", c.name);
        if c.browser_js.is_some() {
            assert!(c.native.is_some(), "{:?} runs browser-only JS but lists no native difference", c.name);
        }
        if let Some((_, why)) = &c.native {
            assert!(why.len() > 10, "{:?} must say why the sides differ", c.name);
        }
    }
}
