//! The browser page: the live DOM, `document.cookie`, `location.href` and `window`, through
//! web-sys. Every call that can throw is caught and becomes "no value".

use crate::page::{CssRead, JsRead, Page};
use crate::text;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Document, Element, HtmlDocument, HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement, Window};

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

fn is_password(el: &Element) -> bool {
    el.local_name() == "input" && el.get_attribute("type").is_some_and(|t| text::trim_ascii_ws(&t).eq_ignore_ascii_case("password"))
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
        if is_password(&el) {
            return CssRead::Sensitive;
        }
        if let Some(name) = attribute {
            return el.get_attribute(name).map_or(CssRead::NoAttribute, CssRead::Value);
        }
        if let Some(input) = el.dyn_ref::<HtmlInputElement>() {
            CssRead::Value(input.value())
        } else if let Some(select) = el.dyn_ref::<HtmlSelectElement>() {
            CssRead::Value(select.value())
        } else if let Some(area) = el.dyn_ref::<HtmlTextAreaElement>() {
            CssRead::Value(area.value())
        } else {
            CssRead::Text(el.text_content().unwrap_or_default())
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
        match self.dom.query_selector(&sel) {
            Ok(found) => found?.get_attribute("content"),
            // Not expected (the name is quoted); read the slow way rather than not at all.
            Err(_) => {
                let metas = self.dom.get_elements_by_tag_name("meta");
                (0..metas.length())
                    .filter_map(|i| metas.item(i))
                    .find(|m| text::meta_matches(m.get_attribute("name").as_deref(), m.get_attribute("property").as_deref(), name))?
                    .get_attribute("content")
            }
        }
    }

    fn cookie_string(&self) -> Option<String> {
        self.window.document()?.dyn_into::<HtmlDocument>().ok()?.cookie().ok()
    }

    fn url(&self) -> String {
        self.window.location().href().unwrap_or_default()
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
