//! The rule-fixture table, run natively (scraper). `tests/browser.rs` runs the same table in
//! headless Chromium.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{cases, check, check_table, Side};
use rumprops::native::HtmlPage;

#[test]
fn fixture_table_natively() {
    let cases = cases();
    check_table(&cases);
    let mut failures = Vec::new();
    for case in &cases {
        let mut url = String::from("https://shop.example/page");
        url.push_str(case.query.as_deref().unwrap_or(""));
        let mut page = HtmlPage::new(&case.html, &url).with_cookie(case.cookie.as_deref().unwrap_or(""));
        if !case.js.is_empty() {
            page = page.with_globals(rumprops::json::Value::Object(case.js.clone()));
        }
        failures.extend(check(case, &page, Side::Native));
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    println!("{} fixture cases passed natively", cases.len());
}
