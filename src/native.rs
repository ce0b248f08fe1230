//! The native page: an HTML file read with scraper, with the cookie string, URL and JS
//! globals given from outside (the browser has them live; a saved file does not).
//!
//! Form controls give the value a freshly parsed page would have (the `value` attribute, the
//! selected option, the textarea's text); a live page may have been edited since.

use crate::prelude::*;
use crate::json::Value;
use crate::page::{CssRead, JsRead, Page};
use crate::text;
use scraper::{ElementRef, Html, Selector};
use std::cell::RefCell;
use std::collections::HashMap;

/// An HTML document plus the parts of a live page a file lacks.
pub struct HtmlPage {
    html: Html,
    url: String,
    cookie: Option<String>,
    globals: Value,
    selectors: RefCell<HashMap<String, Option<Selector>>>,
}

impl HtmlPage {
    /// Parses `html` as a whole document at `url`, with no cookies and no JS globals.
    pub fn new(html: &str, url: &str) -> HtmlPage {
        HtmlPage {
            html: Html::parse_document(html),
            url: url.to_owned(),
            cookie: None,
            globals: Value::Object(Vec::new()),
            selectors: RefCell::new(HashMap::new()),
        }
    }

    /// Sets the `document.cookie` string.
    pub fn with_cookie(mut self, cookie: &str) -> HtmlPage {
        self.cookie = Some(cookie.to_owned());
        self
    }

    /// Sets the JS globals: a JSON object standing for `window`.
    pub fn with_globals(mut self, globals: Value) -> HtmlPage {
        self.globals = globals;
        self
    }

    fn first(&self, selector: &str) -> Option<ElementRef<'_>> {
        let mut cache = self.selectors.borrow_mut();
        let sel = cache.entry(selector.to_owned()).or_insert_with(|| Selector::parse(selector).ok());
        self.html.select(sel.as_ref()?).next()
    }
}

/// Whether scraper accepts `selector`.
pub fn selector_is_valid(selector: &str) -> bool {
    Selector::parse(selector).is_ok()
}

fn text_of(el: ElementRef<'_>) -> String {
    el.text().collect()
}

fn is_input_type(el: ElementRef<'_>, ty: &str) -> bool {
    el.value().name() == "input" && el.attr("type").is_some_and(|t| t.trim().eq_ignore_ascii_case(ty))
}

/// The value an `<input>` reports right after parsing (HTML's value sanitization, in part).
fn input_value(el: ElementRef<'_>) -> String {
    let ty = el.attr("type").map(|t| t.trim().to_ascii_lowercase()).unwrap_or_default();
    let raw = el.attr("value");
    match ty.as_str() {
        "checkbox" | "radio" => raw.unwrap_or("on").to_owned(),
        "url" | "email" => text::trim_ascii_ws(&raw.unwrap_or_default().replace(['\r', '\n'], "")).to_owned(),
        "number" => raw
            .filter(|v| crate::value::parse_double(v).is_ok() && !v.starts_with(['+', '.']) && !v.ends_with('.'))
            .unwrap_or_default()
            .to_owned(),
        "hidden" | "file" | "submit" | "reset" | "button" | "image" | "range" | "color" | "date" | "time"
        | "datetime-local" | "month" | "week" => raw.unwrap_or_default().to_owned(),
        _ => raw.unwrap_or_default().replace(['\r', '\n'], ""),
    }
}

/// `select.value`: the first selected option's value; a single-choice list with nothing
/// selected selects its first enabled option, and with several selected keeps the last.
fn select_value(el: ElementRef<'_>) -> String {
    let options: Vec<ElementRef<'_>> = el.descendent_elements().filter(|e| e.value().name() == "option").collect();
    let multiple = el.attr("multiple").is_some();
    let size = el.attr("size").and_then(|s| s.trim().parse::<u32>().ok()).unwrap_or(0);
    let single_display = !multiple && size <= 1;
    let chosen = if multiple {
        options.iter().find(|o| o.attr("selected").is_some())
    } else {
        options.iter().rev().find(|o| o.attr("selected").is_some())
    };
    let chosen = chosen.or_else(|| {
        single_display
            .then(|| {
                options.iter().find(|o| {
                    o.attr("disabled").is_none()
                        && !o
                            .parent()
                            .and_then(ElementRef::wrap)
                            .is_some_and(|p| p.value().name() == "optgroup" && p.attr("disabled").is_some())
                })
            })
            .flatten()
    });
    chosen.map_or_else(String::new, |o| {
        o.attr("value").map_or_else(|| text::collapse_ws(&text_of(*o)), str::to_owned)
    })
}

impl Page for HtmlPage {
    fn selector_is_valid(&self, selector: &str) -> bool {
        selector_is_valid(selector)
    }

    fn css(&self, selector: &str, attribute: Option<&str>) -> CssRead {
        let Some(el) = self.first(selector) else {
            return CssRead::NoElement;
        };
        if is_input_type(el, "password") {
            return CssRead::Sensitive;
        }
        if let Some(name) = attribute {
            return el.attr(&name.to_ascii_lowercase()).map_or(CssRead::NoAttribute, |v| CssRead::Value(v.to_owned()));
        }
        match el.value().name() {
            "input" => CssRead::Value(input_value(el)),
            "select" => CssRead::Value(select_value(el)),
            "textarea" => CssRead::Value(text_of(el)),
            _ => CssRead::Text(text_of(el)),
        }
    }

    fn meta(&self, name: &str) -> Option<String> {
        let metas = Selector::parse("meta").ok()?;
        let m = self
            .html
            .select(&metas)
            .find(|m| text::meta_matches(m.attr("name"), m.attr("property"), name))?;
        m.attr("content").map(str::to_owned)
    }

    fn cookie_string(&self) -> Option<String> {
        self.cookie.clone()
    }

    fn url(&self) -> String {
        self.url.clone()
    }

    fn js(&self, path: &[String]) -> JsRead {
        let mut cur = &self.globals;
        for name in path {
            let next = match cur {
                Value::Object(_) => cur.get(name),
                Value::Array(items) if name == "length" => return JsRead::Num(items.len() as f64),
                Value::Array(items) => name
                    .parse::<usize>()
                    .ok()
                    .filter(|_| name == "0" || !name.starts_with(['0', '+']))
                    .and_then(|i| items.get(i)),
                _ => None,
            };
            match next {
                Some(v) => cur = v,
                None => return JsRead::Missing,
            }
        }
        match cur {
            Value::Null => JsRead::Missing,
            Value::Bool(b) => JsRead::Bool(*b),
            // A JSON number read as JS reads it: a double.
            Value::Number(n) => n.parse().map_or(JsRead::Unsupported, JsRead::Num),
            Value::String(s) => JsRead::Str(s.clone()),
            Value::Array(_) | Value::Object(_) => JsRead::Unsupported,
        }
    }
}
