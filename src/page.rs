//! The one boundary between the core and a page.
//!
//! Everything the rules read goes through [`Page`]: the browser implements it with web-sys
//! (`crate::browser`), native code with scraper over an HTML file (`crate::native`). The
//! methods return raw material; whitespace handling, decoding, JSON segments, cleanup and
//! typing happen in the core, so both sides behave the same.

use crate::prelude::*;
/// What a CSS rule found.
#[derive(Debug, Clone, PartialEq)]
pub enum CssRead {
    /// No element matches the selector.
    NoElement,
    /// The element lacks the requested attribute.
    NoAttribute,
    /// The element is an `input type=password`: never read.
    Sensitive,
    /// Raw `textContent` (the core collapses its white space).
    Text(String),
    /// A form control's current value or an attribute's value, used as is.
    Value(String),
}

/// What a JS path found.
#[derive(Debug, Clone, PartialEq)]
pub enum JsRead {
    /// `undefined`, `null`, or a missing step on the path.
    Missing,
    /// A string.
    Str(String),
    /// A number (JS numbers are doubles).
    Num(f64),
    /// A BigInt, as its decimal digits.
    BigInt(String),
    /// A boolean.
    Bool(bool),
    /// A valid `Date` object, as epoch milliseconds.
    Date(f64),
    /// An object, array, function or symbol, a getter that threw, or an invalid `Date`.
    Unsupported,
}

/// Read access to a live or saved page.
pub trait Page {
    /// Whether `selector` is a valid CSS selector for this page's engine (checked at config load).
    fn selector_is_valid(&self, selector: &str) -> bool;
    /// The first element in document order matching `selector`: its attribute, form value or text.
    fn css(&self, selector: &str, attribute: Option<&str>) -> CssRead;
    /// The `content` of the first `<meta>` whose `name` or `property` equals `name` (ASCII
    /// case-insensitively; see [`crate::text::meta_matches`]). `None` when there is no such
    /// meta or it has no `content`.
    fn meta(&self, name: &str) -> Option<String>;
    /// The raw `document.cookie` string (`None` when the page forbids reading it).
    fn cookie_string(&self) -> Option<String>;
    /// The page URL.
    fn url(&self) -> String;
    /// The value at a dotted path from the global object; the segments are plain property
    /// names (JSON `$` segments are handled by the core).
    fn js(&self, path: &[String]) -> JsRead;
}
