//! The browser page: the live DOM, `document.cookie`, `location.href` and `window`, through
//! web-sys and the host's [`Reader`]. Every read that can throw is caught and becomes "no value".
//!
//! Plain property reads (`location.href`, `document.cookie`, a field's `value`) go through one
//! generic import, [`Reader::get`]: a typed web-sys getter costs an import, a wrapper in the
//! module and a function in the glue for each property.

use crate::prelude::*;
use crate::page::{CssRead, JsRead, Page};
use crate::text;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, Window};

#[wasm_bindgen]
extern "C" {
    /// The JS side's reads that can throw (`reader` in `www/rumprops-core.js`, part of the host
    /// object the runtime gets). They catch in JS: a wasm-bindgen `catch` import would cost
    /// the module an exception store and the glue a wrapper.
    pub type Reader;

    /// `Reflect.get(target, key)`, or the reader itself (which no page value is) when that
    /// throws: a getter or a proxy trap that throws, or a `target` that is not an object.
    #[wasm_bindgen(method, js_name = g)]
    fn reflect_get(this: &Reader, target: &JsValue, key: &str) -> JsValue;

    /// Whether `selector` is a valid CSS selector: querying it in a fragment of `dom` does
    /// not throw.
    #[wasm_bindgen(method, js_name = v)]
    fn selector_is_valid(this: &Reader, dom: &JsValue, selector: &str) -> bool;

    /// The kind of a JS value, one of the `KIND_*` constants: one import instead of one for each
    /// `typeof` and `instanceof` test.
    #[wasm_bindgen(method, js_name = t)]
    pub(crate) fn kind(this: &Reader, v: &JsValue) -> u8;

    /// The lowercase hex SHA-256 of `data`.
    #[wasm_bindgen(method, js_name = h)]
    fn sha256(this: &Reader, data: &[u8]) -> String;

    /// A document (or fragment) as `querySelector` sees it. The query does not catch: every
    /// selector it gets is valid (checked at config load, or escaped).
    type Root;

    #[wasm_bindgen(method, js_name = querySelector)]
    fn query_selector(this: &Root, selector: &str) -> Option<Element>;
}

/// [`Reader::kind`]: `undefined` or `null`.
pub(crate) const KIND_NONE: u8 = 0;
/// [`Reader::kind`]: a string.
pub(crate) const KIND_STRING: u8 = 1;
/// [`Reader::kind`]: a number.
pub(crate) const KIND_NUMBER: u8 = 2;
/// [`Reader::kind`]: `false`.
const KIND_FALSE: u8 = 3;
/// [`Reader::kind`]: `true`.
const KIND_TRUE: u8 = 4;
/// [`Reader::kind`]: a BigInt.
pub(crate) const KIND_BIGINT: u8 = 5;
/// [`Reader::kind`]: a `Date` (`instanceof Date`, and that test does not throw).
const KIND_DATE: u8 = 6;
/// [`Reader::kind`]: any other object, or a function.
const KIND_OBJECT: u8 = 7;

impl Reader {
    /// `target[key]`: `None` when `target` is not an object or a getter or proxy trap throws.
    fn read(&self, target: &JsValue, key: &str) -> Option<JsValue> {
        let v = self.reflect_get(target, key);
        (v != **self).then_some(v)
    }

    /// `target[key]`: `undefined` when `target` is not an object or a getter or proxy trap throws.
    pub(crate) fn get(&self, target: &JsValue, key: &str) -> JsValue {
        self.read(target, key).unwrap_or(JsValue::UNDEFINED)
    }

    /// `target[key]` when it is a string.
    pub(crate) fn get_string(&self, target: &JsValue, key: &str) -> Option<String> {
        self.get(target, key).as_string()
    }

    /// `target[key]` as a web-sys type, unchecked as web-sys's own getters are: `None` for
    /// `null` and `undefined`.
    pub(crate) fn get_object<T: JsCast>(&self, target: &JsValue, key: &str) -> Option<T> {
        let v = self.get(target, key);
        (self.kind(&v) != KIND_NONE).then(|| v.unchecked_into())
    }
}

/// The page the agent runs in, or a parsed document read with the window's cookie, URL and
/// globals (as the tests do).
pub struct BrowserPage {
    window: Window,
    dom: Root,
    /// Also reads `window` for the runtime.
    pub(crate) reader: Reader,
}

/// The reader of the newest page, which hashes for [`sha256_hex`].
struct Hasher(core::cell::RefCell<Option<Reader>>);

// SAFETY: this module exists only in the wasm32 build without the atomics feature: one thread,
// so the cell is never reached from two threads.
unsafe impl Sync for Hasher {}

static HASHER: Hasher = Hasher(core::cell::RefCell::new(None));

/// The lowercase hex SHA-256 of `data`, from the JS side (`reader.h`, `www/sha256.js`: about
/// 0.4 kB brotli less than `src/sha256.rs` in the module; the loader sets it before a config with
/// a hashed rule starts). Empty before any page exists, which no value is hashed before.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    HASHER.0.try_borrow().ok().and_then(|r| r.as_ref().map(|r| r.sha256(data))).unwrap_or_default()
}

impl BrowserPage {
    /// Reads elements from `dom`, and cookie, URL and globals from `window`, through `reader`.
    pub fn with_document(window: Window, dom: Document, reader: Reader) -> BrowserPage {
        if let Ok(mut slot) = HASHER.0.try_borrow_mut() {
            *slot = Some(reader.clone().unchecked_into());
        }
        BrowserPage { window, dom: dom.unchecked_into(), reader }
    }

    /// `location.href`.
    pub(crate) fn href(&self) -> String {
        let location = self.reader.get(&self.window, "location");
        self.reader.get_string(&location, "href").unwrap_or_default()
    }

    /// `window[key]`, as [`Reader::get`].
    pub(crate) fn global(&self, key: &str) -> JsValue {
        self.reader.get(&self.window, key)
    }
}

/// Whether the element is in the HTML namespace, where its local name gives its interface
/// (`input` is an `HTMLInputElement`, and so on).
fn is_html(reader: &Reader, el: &Element) -> bool {
    reader.get_string(el, "namespaceURI").as_deref() == Some("http://www.w3.org/1999/xhtml")
}

fn classify(reader: &Reader, v: &JsValue) -> JsRead {
    match reader.kind(v) {
        KIND_NONE => JsRead::Missing,
        KIND_STRING => JsRead::Str(v.as_string().unwrap_or_default()),
        KIND_NUMBER => JsRead::Num(v.as_f64().unwrap_or_default()),
        KIND_FALSE => JsRead::Bool(false),
        KIND_TRUE => JsRead::Bool(true),
        KIND_BIGINT => JsRead::BigInt(crate::platform::js_string(v)),
        KIND_DATE => {
            let ms = v.unchecked_ref::<js_sys::Date>().get_time();
            if ms.is_finite() {
                JsRead::Date(ms)
            } else {
                JsRead::Unsupported
            }
        }
        _ => JsRead::Unsupported,
    }
}

impl Page for BrowserPage {
    fn selector_is_valid(&self, selector: &str) -> bool {
        self.reader.selector_is_valid(&self.dom, selector)
    }

    fn css(&self, selector: &str, attribute: Option<&str>) -> CssRead {
        let Some(el) = self.dom.query_selector(selector) else {
            return CssRead::NoElement;
        };
        let r = &self.reader;
        let tag = r.get_string(&el, "localName").unwrap_or_default();
        let tag = tag.as_str();
        if tag == "input" && el.get_attribute("type").is_some_and(|t| text::trim_ascii_ws(&t).eq_ignore_ascii_case("password")) {
            return CssRead::Sensitive;
        }
        if let Some(name) = attribute {
            return el.get_attribute(name).map_or(CssRead::NoAttribute, CssRead::Value);
        }
        if matches!(tag, "input" | "select" | "textarea") && is_html(r, &el) {
            CssRead::Value(r.get_string(&el, "value").unwrap_or_default())
        } else {
            CssRead::Text(r.get_string(&el, "textContent").unwrap_or_default())
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
        self.dom.query_selector(&sel)?.get_attribute("content")
    }

    fn cookie_string(&self) -> Option<String> {
        self.reader.get_string(&self.global("document"), "cookie")
    }

    fn url(&self) -> String {
        self.href()
    }

    fn js(&self, path: &[String]) -> JsRead {
        let mut cur: JsValue = self.window.clone().into();
        for name in path {
            if !matches!(self.reader.kind(&cur), KIND_DATE | KIND_OBJECT) {
                return JsRead::Missing;
            }
            cur = match self.reader.read(&cur, name) {
                Some(v) => v,
                // A getter or proxy trap that throws.
                None => return JsRead::Unsupported,
            };
        }
        classify(&self.reader, &cur)
    }
}
