//! The rule-fixture table in headless Chromium: each fixture is parsed with `DOMParser`, its
//! cookies set on the real document, its query put in the real URL and its globals on the
//! real `window`; then the same `check` as the native runner.
#![cfg(target_arch = "wasm32")]

mod common;

use common::{cases, check, check_table, Case, Side};
use rumprops::browser::BrowserPage;
use rumprops::json;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{DomParser, HtmlDocument, SupportedType};

wasm_bindgen_test_configure!(run_in_browser);

fn html_document() -> HtmlDocument {
    use wasm_bindgen::JsCast;
    web_sys::window().unwrap().document().unwrap().dyn_into::<HtmlDocument>().unwrap()
}

fn cookie_pairs(case: &Case) -> Vec<String> {
    case.cookie
        .as_deref()
        .unwrap_or("")
        .split(';')
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

fn global_names(case: &Case) -> Vec<String> {
    let mut names: Vec<String> = case.js.iter().map(|(k, _)| k.clone()).collect();
    if let Some(path) = case.rule.get("source").and_then(|s| s.get("js")).and_then(|p| p.as_str()) {
        names.extend(path.split('.').next().map(str::to_owned));
    }
    names
}

/// Runs one case with the real page state set up, and undoes the setup afterwards.
fn run_case(case: &Case) -> Option<String> {
    let window = web_sys::window().unwrap();
    let doc = html_document();
    let history = window.history().unwrap();
    let original_url = window.location().href().unwrap();

    for pair in cookie_pairs(case) {
        doc.set_cookie(&format!("{pair}; path=/")).unwrap();
    }
    if let Some(q) = &case.query {
        let path = window.location().pathname().unwrap();
        history.replace_state_with_url(&JsValue::NULL, "", Some(&format!("{path}{q}"))).unwrap();
    }
    for (name, value) in &case.js {
        let mut text = String::new();
        json::write_value(&mut text, value);
        let parsed = js_sys::JSON::parse(&text).unwrap();
        js_sys::Reflect::set(&window, &JsValue::from_str(name), &parsed).unwrap();
    }
    let fixture = DomParser::new().unwrap().parse_from_string(&case.html, SupportedType::TextHtml).unwrap();
    if let Some(code) = &case.browser_js {
        let f = js_sys::Function::new_with_args("doc", code);
        f.call1(&JsValue::NULL, &fixture).unwrap();
    }

    let page = BrowserPage::with_document(window.clone(), fixture);
    let result = check(case, &page, Side::Browser);

    for pair in cookie_pairs(case) {
        let name = pair.split('=').next().unwrap_or("");
        doc.set_cookie(&format!("{name}=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/")).unwrap();
    }
    history.replace_state_with_url(&JsValue::NULL, "", Some(&original_url)).unwrap();
    for name in global_names(case) {
        js_sys::Reflect::delete_property(&window.clone().into(), &JsValue::from_str(&name)).unwrap();
    }
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
