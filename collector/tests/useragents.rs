//! The user-agent fields of 32 real user-agent strings (desktop, mobile, tablets, crawlers,
//! headless and automation browsers, tools), as the collector stores them, and the same fields
//! through a real beacon and USQL. `RUMPROPS_PRINT_UA=1` prints the table as parsed now.

mod common;

use common::*;
use rumprops_collector::useragent::parse;
use serde_json::json;

/// user agent, then browserFamily, browserMajorVersion, browserType, osFamily, osVersion, device,
/// manufacturer, userType ("" = NULL).
const TABLE: &[[&str; 9]] = &[
    ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome", "Chrome 131", "Desktop Browser", "Windows", "10", "", "", "REAL_USER"],
    ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.51", "Edge", "Edge 131", "Desktop Browser", "Windows", "10", "", "", "REAL_USER"],
    ["Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox", "Firefox 133", "Desktop Browser", "Windows", "10", "", "", "REAL_USER"],
    ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0", "Opera", "Opera 115", "Desktop Browser", "Windows", "10", "", "", "REAL_USER"],
    ["Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko", "IE", "IE 11", "Desktop Browser", "Windows", "7", "", "", "REAL_USER"],
    ["Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", "Safari", "Safari 18", "Desktop Browser", "Mac OS X", "10.15.7", "Mac", "Apple", "REAL_USER"],
    ["Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox", "Firefox 133", "Desktop Browser", "Mac OS X", "14.1", "Mac", "Apple", "REAL_USER"],
    ["Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome", "Chrome 131", "Desktop Browser", "Mac OS X", "10.15.7", "Mac", "Apple", "REAL_USER"],
    ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome", "Chrome 131", "Desktop Browser", "Linux", "", "", "", "REAL_USER"],
    ["Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox", "Firefox 133", "Desktop Browser", "Ubuntu", "", "", "", "REAL_USER"],
    ["Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome", "Chrome 131", "Desktop Browser", "Chrome OS", "14541.0.0", "", "", "REAL_USER"],
    ["Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", "Mobile Safari", "Mobile Safari 17", "Mobile Browser", "iOS", "17.1", "iPhone", "Apple", "REAL_USER"],
    ["Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1", "Chrome Mobile iOS", "Chrome Mobile iOS 131", "Mobile Browser", "iOS", "18.1", "iPhone", "Apple", "REAL_USER"],
    ["Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", "Mobile Safari", "Mobile Safari 17", "Mobile Browser", "iOS", "17.1", "iPad", "Apple", "REAL_USER"],
    ["Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.39 Mobile Safari/537.36", "Chrome Mobile", "Chrome Mobile 131", "Mobile Browser", "Android", "14", "Samsung SM-S918B", "Samsung", "REAL_USER"],
    ["Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome Mobile", "Chrome Mobile 131", "Mobile Browser", "Android", "14", "Pixel 8", "Google", "REAL_USER"],
    ["Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36", "Samsung Internet", "Samsung Internet 23", "Mobile Browser", "Android", "13", "Samsung SM-A536B", "Samsung", "REAL_USER"],
    ["Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0", "Firefox Mobile", "Firefox Mobile 133", "Mobile Browser", "Android", "14", "Generic Smartphone", "", "REAL_USER"],
    ["Mozilla/5.0 (Linux; Android 12; M2101K6G) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome Mobile", "Chrome Mobile 131", "Mobile Browser", "Android", "12", "M2101K6G", "", "REAL_USER"],
    ["Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome", "Chrome 131", "Mobile Browser", "Android", "13", "SM-X700", "", "REAL_USER"],
    ["Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome Mobile", "Chrome Mobile 131", "Mobile Browser", "Android", "10", "K", "", "REAL_USER"],
    ["Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Googlebot", "Googlebot 2", "Robot", "Other", "", "", "", "ROBOT"],
    ["Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Googlebot", "Googlebot 2", "Robot", "Android", "6.0.1", "", "", "ROBOT"],
    ["Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bingbot", "bingbot 2", "Robot", "Other", "", "", "", "ROBOT"],
    ["Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", "YandexBot", "YandexBot 3", "Robot", "Other", "", "", "", "ROBOT"],
    ["Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "AhrefsBot", "AhrefsBot 7", "Robot", "Other", "", "", "", "ROBOT"],
    ["facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "FacebookBot", "FacebookBot 1", "Robot", "Other", "", "", "", "ROBOT"],
    ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", "HeadlessChrome", "HeadlessChrome 131", "Synthetic", "Linux", "", "", "", "SYNTHETIC"],
    ["Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1", "PhantomJS", "PhantomJS 2", "Synthetic", "Linux", "", "", "", "SYNTHETIC"],
    ["Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse", "Chrome Mobile", "Chrome Mobile 131", "Synthetic", "Android", "11", "Motorola g power (2022)", "Motorola", "SYNTHETIC"],
    ["curl/8.5.0", "curl", "curl 8", "Robot", "Other", "", "", "", "ROBOT"],
    ["python-requests/2.32.3", "Python Requests", "Python Requests 2", "Robot", "Other", "", "", "", "ROBOT"],
];

fn parsed(ua: &str) -> [String; 9] {
    let p = parse(ua);
    [
        ua.to_owned(),
        p.browser_family,
        p.browser_version.unwrap_or_default(),
        p.browser_type.to_owned(),
        p.os_family,
        p.os_version.unwrap_or_default(),
        p.device.unwrap_or_default(),
        p.manufacturer.unwrap_or_default(),
        p.user_type.to_owned(),
    ]
}

#[test]
fn real_user_agents() {
    assert!(TABLE.len() >= 30);
    let print = std::env::var_os("RUMPROPS_PRINT_UA").is_some();
    let mut wrong = Vec::new();
    for want in TABLE {
        let got = parsed(want[0]);
        if print {
            println!("    {got:?},");
        }
        if got != want.map(str::to_owned) {
            wrong.push(format!("{:?}\n  want {:?}\n  got  {:?}", want[0], &want[1..], &got[1..]));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Every kind is in the table.
    for kind in ["Desktop Browser", "Mobile Browser", "Robot", "Synthetic"] {
        assert!(TABLE.iter().any(|r| r[3] == kind), "{kind}");
    }
}

#[test]
fn the_fields_reach_usql() {
    let c = start(|cfg| cfg.session_timeout_ms = 0);
    for (i, row) in TABLE.iter().enumerate().filter(|(i, _)| [0, 11, 14, 21, 27].contains(i)) {
        let b = beacon(&format!("ua{i:02}"), 0, None, json!({}), json!([action("a", 1_732_599_100_000, 0, json!({}))]));
        let r = post_beacon(c.addr, &b.to_string(), &[("User-Agent", row[0])]);
        assert_eq!(r.status, 204, "{}", r.body);
    }
    let q = "SELECT userSessionId, browserFamily, browserMajorVersion, browserType, osFamily, osVersion, device, manufacturer, userType \
             FROM usersession ORDER BY userSessionId";
    let r = usql(c.addr, "table", q, "");
    assert_eq!(r.status, 200, "{}", r.body);
    let got = r.json()["values"].clone();
    let want: Vec<serde_json::Value> = [0, 11, 14, 21, 27]
        .iter()
        .map(|&i| {
            let row = TABLE[i];
            let mut v = vec![json!(format!("ua{i:02}"))];
            v.extend(row[1..].iter().map(|s| if s.is_empty() { json!(null) } else { json!(s) }));
            json!(v)
        })
        .collect();
    assert_eq!(got, json!(want));
    let r = usql(c.addr, "table", "SELECT userType, COUNT(*) FROM usersession GROUP BY userType ORDER BY userType", "");
    assert_eq!(r.json()["values"], json!([["REAL_USER", 3], ["ROBOT", 1], ["SYNTHETIC", 1]]));
}
