//! The browser page: the live DOM, `document.cookie`, `location.href` and `window`, through
//! web-sys. Every call that can throw is caught and becomes "no value".
//!
//! Plain property reads (`location.href`, `document.cookie`, a field's `value`) go through one
//! generic import, [`get`]: a typed web-sys getter costs an import, a wrapper in the module and
//! a function in the glue for each property.

use crate::prelude::*;
use crate::page::{CssRead, JsRead, Page};
use crate::text;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Document, Element, Window};

/// `target[key]`: `undefined` when `target` is not an object or a getter or proxy trap throws.
pub(crate) fn get(target: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// `target[key]` when it is a string.
pub(crate) fn get_string(target: &JsValue, key: &str) -> Option<String> {
    get(target, key).as_string()
}

/// `target[key]` as a web-sys type, unchecked as web-sys's own getters are: `None` for `null`
/// and `undefined`.
pub(crate) fn get_object<T: JsCast>(target: &JsValue, key: &str) -> Option<T> {
    let v = get(target, key);
    (!v.is_undefined() && !v.is_null()).then(|| v.unchecked_into())
}

/// `location.href` of `window`.
pub(crate) fn href(window: &Window) -> String {
    get_string(&get(window, "location"), "href").unwrap_or_default()
}

/// The page the agent runs in, or a parsed document read with the window's cookie, URL and
/// globals (as the tests do).
pub struct BrowserPage {
    window: Window,
    dom: Document,
}

impl BrowserPage {
    /// Reads elements from `dom`, and cookie, URL and globals from `window`.
    pub fn with_document(window: Window, dom: Document) -> BrowserPage {
        BrowserPage { window, dom }
    }
}

/// Whether the element is in the HTML namespace, where its local name gives its interface
/// (`input` is an `HTMLInputElement`, and so on).
fn is_html(el: &Element) -> bool {
    get_string(el, "namespaceURI").as_deref() == Some("http://www.w3.org/1999/xhtml")
}

fn classify(v: &JsValue) -> JsRead {
    if v.is_undefined() || v.is_null() {
        JsRead::Missing
    } else if let Some(s) = v.as_string() {
        JsRead::Str(s)
    } else if let Some(x) = v.as_f64() {
        JsRead::Num(x)
    } else if let Some(b) = v.as_bool() {
        JsRead::Bool(b)
    } else if v.is_bigint() {
        match v.dyn_ref::<js_sys::BigInt>().and_then(|b| b.to_string(10).ok()) {
            Some(s) => s.as_string().map_or(JsRead::Unsupported, JsRead::BigInt),
            None => JsRead::Unsupported,
        }
    } else if let Some(d) = v.dyn_ref::<js_sys::Date>() {
        let ms = d.get_time();
        if ms.is_finite() {
            JsRead::Date(ms)
        } else {
            JsRead::Unsupported
        }
    } else {
        JsRead::Unsupported
    }
}

impl Page for BrowserPage {
    fn selector_is_valid(&self, selector: &str) -> bool {
        self.dom.create_document_fragment().query_selector(selector).is_ok()
    }

    fn css(&self, selector: &str, attribute: Option<&str>) -> CssRead {
        let Ok(Some(el)) = self.dom.query_selector(selector) else {
            return CssRead::NoElement;
        };
        let tag = get_string(&el, "localName").unwrap_or_default();
        let tag = tag.as_str();
        if tag == "input" && el.get_attribute("type").is_some_and(|t| text::trim_ascii_ws(&t).eq_ignore_ascii_case("password")) {
            return CssRead::Sensitive;
        }
        if let Some(name) = attribute {
            return el.get_attribute(name).map_or(CssRead::NoAttribute, CssRead::Value);
        }
        if matches!(tag, "input" | "select" | "textarea") && is_html(&el) {
            CssRead::Value(get_string(&el, "value").unwrap_or_default())
        } else {
            CssRead::Text(get_string(&el, "textContent").unwrap_or_default())
        }
    }

    fn meta(&self, name: &str) -> Option<String> {
        // One query instead of a scan that reads two attributes of every <meta> per rule: the
        // `i` flag compares ASCII case-insensitively, and a selector list matches the first
        // element in document order that satisfies either part.
        let mut sel = String::from("meta[name=");
        let mut quoted = String::from("\"");
        for c in name.chars() {
            match c {
                '"' | '\\' => {
                    quoted.push('\\');
                    quoted.push(c);
                }
                '\n' => quoted.push_str("\\a "),
                '\r' => quoted.push_str("\\d "),
                '\u{c}' => quoted.push_str("\\c "),
                _ => quoted.push(c),
            }
        }
        quoted.push_str("\" i]");
        sel.push_str(&quoted);
        sel.push_str(",meta[property=");
        sel.push_str(&quoted);
        // The query never fails: the name is quoted, with every character a CSS string cannot
        // hold as it is escaped, and a Rust string has no lone surrogates.
        self.dom.query_selector(&sel).ok()??.get_attribute("content")
    }

    fn cookie_string(&self) -> Option<String> {
        get_string(&get(&self.window, "document"), "cookie")
    }

    fn url(&self) -> String {
        href(&self.window)
    }

    fn js(&self, path: &[String]) -> JsRead {
        let mut cur: JsValue = self.window.clone().into();
        for name in path {
            if !(cur.is_object() || cur.is_function()) {
                return JsRead::Missing;
            }
            cur = match js_sys::Reflect::get(&cur, &JsValue::from_str(name)) {
                Ok(v) => v,
                // A getter or proxy trap that throws.
                Err(_) => return JsRead::Unsupported,
            };
        }
        classify(&cur)
    }
}
