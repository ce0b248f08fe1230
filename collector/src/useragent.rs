//! The browser fields of a session, read from the `User-Agent` header of its first beacon with
//! the `ua-parser` crate over the uap-core regexes (`data/uap-core/regexes.yaml`, compiled into
//! the binary). The regexes are compiled once per process, on first use ([`warm_up`] does it at
//! start, so the first beacon does not wait for it).
//!
//! From the parser's browser, OS and device results:
//! - `browserFamily` (`Chrome`, `Mobile Safari`, `HeadlessChrome`, `Googlebot`, … or `Other`),
//!   `browserMajorVersion` as `<family> <major>` (`Chrome 131`), and the major alone as a number;
//! - `osFamily` (`Windows`, `Mac OS X`, `iOS`, `Android`, `Linux`, … or `Other`), `osVersion`
//!   (`10`, `17.1`: the version parts the parser found, dot-joined);
//! - `device` (the device family, `iPhone`, `Samsung SM-S918B`, `Mac`) and `manufacturer` (its
//!   brand, `Apple`, `Samsung`; the parser's `Generic…` brands count as unknown); NULL when the
//!   parser knows no device (desktop Windows and Linux) and for robots;
//! - `browserType`: `Robot` for crawlers (the parser's `Spider` device, or a browser family naming
//!   a bot, crawler or spider) and for clients that are no browser (a user agent not starting with
//!   `Mozilla/` or `Opera/`: curl, HTTP libraries), `Synthetic` for headless and automation browsers (`Headless…`
//!   families, PhantomJS, Lighthouse), `Mobile Browser` on a mobile OS or a phone/tablet device,
//!   `Desktop Browser` otherwise, `Other` when the parser knows no browser;
//! - `userType` from it: `ROBOT`, `SYNTHETIC` or `REAL_USER`.

use std::sync::OnceLock;

/// The uap-core regexes (npm `uap-core` 0.18.0).
const REGEXES: &str = include_str!("../data/uap-core/regexes.yaml");

/// What the collector derives from a user agent string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAgentInfo {
    /// `REAL_USER`, `ROBOT` or `SYNTHETIC`.
    pub user_type: &'static str,
    /// `Desktop Browser`, `Mobile Browser`, `Robot`, `Synthetic` or `Other`.
    pub browser_type: &'static str,
    /// The browser family, `Other` when unknown.
    pub browser_family: String,
    /// `<family> <major>`, when the parser found a major version.
    pub browser_version: Option<String>,
    /// The major version as a number, when it is one.
    pub browser_major_version: Option<i64>,
    /// The OS family, `Other` when unknown.
    pub os_family: String,
    /// The OS version parts found, dot-joined.
    pub os_version: Option<String>,
    /// The device family, when the parser knows one.
    pub device: Option<String>,
    /// The device brand, when the parser knows one.
    pub manufacturer: Option<String>,
}

impl Default for UserAgentInfo {
    /// No `User-Agent` header: nothing known, a real user.
    fn default() -> Self {
        UserAgentInfo {
            user_type: "REAL_USER",
            browser_type: "Other",
            browser_family: "Other".to_owned(),
            browser_version: None,
            browser_major_version: None,
            os_family: "Other".to_owned(),
            os_version: None,
            device: None,
            manufacturer: None,
        }
    }
}

fn extractor() -> &'static ua_parser::Extractor<'static> {
    static EXTRACTOR: OnceLock<ua_parser::Extractor<'static>> = OnceLock::new();
    EXTRACTOR.get_or_init(|| {
        // The file is part of the binary and tested: failing here is a build defect.
        let regexes: ua_parser::Regexes<'static> =
            serde_yaml_ng::from_str(REGEXES).expect("the bundled uap-core regexes.yaml parses");
        ua_parser::Extractor::try_from(regexes).expect("the bundled uap-core regexes compile")
    })
}

/// Compiles the regexes now rather than on the first beacon.
pub fn warm_up() {
    extractor();
}

/// OS families whose browsers are mobile browsers.
const MOBILE_OS: [&str; 12] = [
    "iOS",
    "iPadOS",
    "Android",
    "Windows Phone",
    "Windows Mobile",
    "BlackBerry OS",
    "BlackBerry Tablet OS",
    "KaiOS",
    "Firefox OS",
    "Symbian OS",
    "Tizen",
    "Sailfish",
];

/// Reads a user agent string; unknown parts are `Other` or absent.
pub fn parse(ua: &str) -> UserAgentInfo {
    let (browser, os, device) = extractor().extract(ua);
    let browser_family = browser.as_ref().map_or("Other", |b| b.family.as_ref()).to_owned();
    let major = browser.as_ref().and_then(|b| b.major).filter(|m| !m.is_empty());
    let os_family = os.as_ref().map_or("Other", |o| o.os.as_ref()).to_owned();
    let os_version = os.as_ref().and_then(|o| {
        let parts: Vec<String> = [&o.major, &o.minor, &o.patch]
            .into_iter()
            .map_while(|p| p.as_ref().filter(|p| !p.is_empty()).map(|p| p.to_string()))
            .collect();
        (!parts.is_empty()).then(|| parts.join("."))
    });
    let device_family = device.as_ref().map(|d| d.device.to_string()).filter(|d| d != "Other");
    let manufacturer = device.as_ref().and_then(|d| d.brand.as_deref()).filter(|b| !b.is_empty() && !b.starts_with("Generic")).map(str::to_owned);
    let lower_family = browser_family.to_ascii_lowercase();
    // Browsers (and the crawlers that render like one) all start with `Mozilla/` (old Opera with
    // `Opera/`); anything else is a tool (curl, HTTP libraries), counted with the robots.
    let browser_like = ua.starts_with("Mozilla/") || ua.starts_with("Opera/");
    let robot = device_family.as_deref() == Some("Spider")
        || ["bot", "crawler", "spider", "slurp"].iter().any(|w| lower_family.contains(w))
        || !browser_like;
    let synthetic = lower_family.starts_with("headless")
        || ["HeadlessChrome", "PhantomJS", "Lighthouse"].iter().any(|w| ua.contains(w));
    let mobile = MOBILE_OS.contains(&os_family.as_str())
        || device_family.as_deref().is_some_and(|d| ["iPhone", "iPad", "iPod", "Generic Smartphone", "Generic Tablet", "Generic Feature Phone"].contains(&d));
    // A crawler's "device" is the parser's Spider marker, not a device.
    let (device_family, manufacturer) = if robot { (None, None) } else { (device_family, manufacturer) };
    let browser_type = if robot {
        "Robot"
    } else if synthetic {
        "Synthetic"
    } else if browser.is_none() {
        "Other"
    } else if mobile {
        "Mobile Browser"
    } else {
        "Desktop Browser"
    };
    let user_type = match browser_type {
        "Robot" => "ROBOT",
        "Synthetic" => "SYNTHETIC",
        _ => "REAL_USER",
    };
    UserAgentInfo {
        user_type,
        browser_type,
        browser_version: major.map(|m| format!("{browser_family} {m}")),
        browser_major_version: major.and_then(|m| m.parse().ok()),
        browser_family,
        os_family,
        os_version,
        device: device_family,
        manufacturer,
    }
}
