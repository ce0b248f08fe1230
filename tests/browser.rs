//! The rule-fixture table in headless Chromium: each fixture is parsed with `DOMParser`, its
//! cookies set on the real document, its query put in the real URL and its globals on the
//! real `window`; then the same `check` as the native runner.
#![cfg(target_arch = "wasm32")]

mod common;

use common::{cases, check, check_table, Case, Side};
use rumprops::browser::{BrowserPage, Reader};
use rumprops::{json, Config, Page, Report};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{DomParser, HtmlDocument, SupportedType};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/www/rumprops-core.js")]
extern "C" {
    /// The agent's own page reader, which catches the reads that throw.
    #[wasm_bindgen(thread_local_v2, js_name = reader)]
    static READER: Reader;
}

#[wasm_bindgen(module = "/www/sha256.js")]
extern "C" {
    /// The SHA-256 the agent fetches for a config with hashed rules.
    #[wasm_bindgen(thread_local_v2, js_name = sha256)]
    static SHA256: JsValue;
}

/// The reader, with the SHA-256 set as the agent sets it for hashed rules (`reader.h`).
fn reader() -> Reader {
    use wasm_bindgen::JsCast;
    let r: JsValue = READER.with(|r| JsValue::clone(r));
    SHA256.with(|h| js_sys::Reflect::set(&r, &JsValue::from_str("h"), h)).unwrap();
    r.unchecked_into()
}

fn html_document() -> HtmlDocument {
    use wasm_bindgen::JsCast;
    web_sys::window().unwrap().document().unwrap().dyn_into::<HtmlDocument>().unwrap()
}

/// Cookies, a query string and globals put on the real page, taken off again on drop.
struct PageState {
    cookies: Vec<String>,
    globals: Vec<String>,
    original_url: String,
}

impl PageState {
    fn apply(cookie: Option<&str>, query: Option<&str>, js: &[(String, json::Value)]) -> PageState {
        let window = web_sys::window().unwrap();
        let cookies: Vec<String> =
            cookie.unwrap_or("").split(';').map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect();
        for pair in &cookies {
            html_document().set_cookie(&format!("{pair}; path=/")).unwrap();
        }
        let original_url = window.location().href().unwrap();
        if let Some(q) = query {
            let path = window.location().pathname().unwrap();
            window.history().unwrap().replace_state_with_url(&JsValue::NULL, "", Some(&format!("{path}{q}"))).unwrap();
        }
        for (name, value) in js {
            let mut text = String::new();
            json::write_value(&mut text, value);
            let parsed = js_sys::JSON::parse(&text).unwrap();
            js_sys::Reflect::set(&window, &JsValue::from_str(name), &parsed).unwrap();
        }
        PageState { cookies, globals: js.iter().map(|(k, _)| k.clone()).collect(), original_url }
    }
}

impl Drop for PageState {
    fn drop(&mut self) {
        let window = web_sys::window().unwrap();
        for pair in &self.cookies {
            let name = pair.split('=').next().unwrap_or("");
            html_document().set_cookie(&format!("{name}=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/")).unwrap();
        }
        window.history().unwrap().replace_state_with_url(&JsValue::NULL, "", Some(&self.original_url)).unwrap();
        for name in &self.globals {
            js_sys::Reflect::delete_property(&window.clone().into(), &JsValue::from_str(name)).unwrap();
        }
    }
}

fn parse_html(html: &str) -> web_sys::Document {
    DomParser::new().unwrap().parse_from_string(html, SupportedType::TextHtml).unwrap()
}

/// Runs one case with the real page state set up, and undoes the setup afterwards.
fn run_case(case: &Case) -> Option<String> {
    let window = web_sys::window().unwrap();
    let mut state = PageState::apply(case.cookie.as_deref(), case.query.as_deref(), &case.js);
    // A browser-only script defines the global the rule reads: remove it afterwards too.
    if let Some(path) = case.rule.get("source").and_then(|s| s.get("js")).and_then(|p| p.as_str()) {
        state.globals.extend(path.split('.').next().map(str::to_owned));
    }
    let fixture = parse_html(&case.html);
    if let Some(code) = &case.browser_js {
        let f = js_sys::Function::new_with_args("doc", code);
        f.call1(&JsValue::NULL, &fixture).unwrap();
    }
    let page = BrowserPage::with_document(window, fixture, reader());
    let result = check(case, &page, Side::Browser);
    drop(state);
    result
}

#[wasm_bindgen_test]
fn fixture_table_in_chromium() {
    let cases = cases();
    check_table(&cases);
    let failures: Vec<String> = cases.iter().filter_map(run_case).collect();
    assert!(failures.is_empty(), "{} of {} cases failed in the browser:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert_eq!(html_document().cookie().unwrap(), "", "every fixture cookie was removed again");
}

/// The saved real page reads in Chromium exactly as `rumprops eval` reads it natively
/// (`collector/tests/eval_cli.rs` holds the binary to the same expected file).
#[wasm_bindgen_test]
fn saved_real_page_reads_as_natively() {
    let globals = match json::parse(include_str!("pages/book-installation.globals.json")).unwrap() {
        json::Value::Object(m) => m,
        _ => panic!("globals must be an object"),
    };
    let state = PageState::apply(
        Some("loyalty=GOLD%20Plus; cart_total=59.90"),
        Some("?utm_campaign=spring+sale&visits=12#installation"),
        &globals,
    );
    let page = BrowserPage::with_document(
        web_sys::window().unwrap(),
        parse_html(include_str!("pages/book-installation.html")),
        reader(),
    );
    let config = Config::parse(include_str!("pages/book-installation.rules.json"), &|s| page.selector_is_valid(s)).unwrap();
    let got = Report::of_page(&config, &page, 0).to_json();
    drop(state);
    let expected = json::parse(include_str!("pages/book-installation.expected.json")).unwrap();
    assert_eq!(json::parse(&got).unwrap(), expected, "{got}");
}
