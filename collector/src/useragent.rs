//! The browser fields of a session, read from the `User-Agent` header of its first beacon.
//!
//! A deliberately small reader: the browser family and major version, the OS family, and a
//! user type (`ROBOT` for self-declared crawlers, `REAL_USER` otherwise). Headless Chromium
//! counts as a real user, so end-to-end tests see their sessions like any visitor's.

/// What the collector derives from a user agent string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAgentInfo {
    /// `REAL_USER` or `ROBOT`.
    pub user_type: &'static str,
    /// `Edge`, `Opera`, `Chrome`, `Firefox`, `Safari`, or `Other`.
    pub browser_family: &'static str,
    /// The major version, when the family's token carries one.
    pub browser_major_version: Option<i64>,
    /// `Windows`, `Android`, `iOS`, `macOS`, `Linux`, `ChromeOS`, or `Other`.
    pub os_family: &'static str,
}

impl Default for UserAgentInfo {
    fn default() -> Self {
        UserAgentInfo { user_type: "REAL_USER", browser_family: "Other", browser_major_version: None, os_family: "Other" }
    }
}

/// Reads a user agent string; unknown parts are `Other`.
pub fn parse(ua: &str) -> UserAgentInfo {
    let lower = ua.to_ascii_lowercase();
    let robot = ["bot", "crawler", "spider", "slurp"].iter().any(|w| lower.contains(w));
    // Order matters: Edge and Opera also say Chrome; Chrome also says Safari.
    let (browser_family, token) = if ua.contains("Edg/") {
        ("Edge", "Edg/")
    } else if ua.contains("OPR/") {
        ("Opera", "OPR/")
    } else if ua.contains("Firefox/") {
        ("Firefox", "Firefox/")
    } else if ua.contains("Chrome/") {
        ("Chrome", "Chrome/")
    } else if ua.contains("Safari/") && ua.contains("Version/") {
        ("Safari", "Version/")
    } else {
        ("Other", "")
    };
    let browser_major_version = if token.is_empty() {
        None
    } else {
        ua.split(token).nth(1).and_then(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
    };
    let os_family = if ua.contains("Windows") {
        "Windows"
    } else if ua.contains("Android") {
        "Android"
    } else if ua.contains("iPhone") || ua.contains("iPad") {
        "iOS"
    } else if ua.contains("Mac OS X") {
        "macOS"
    } else if ua.contains("CrOS") {
        "ChromeOS"
    } else if ua.contains("Linux") {
        "Linux"
    } else {
        "Other"
    };
    UserAgentInfo { user_type: if robot { "ROBOT" } else { "REAL_USER" }, browser_family, browser_major_version, os_family }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_agents() {
        let chrome = parse("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36");
        assert_eq!((chrome.browser_family, chrome.os_family, chrome.user_type), ("Chrome", "Linux", "REAL_USER"));
        let chrome = parse("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36");
        assert_eq!((chrome.browser_family, chrome.browser_major_version, chrome.os_family), ("Chrome", Some(131), "Windows"));
        let ff = parse("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:133.0) Gecko/20100101 Firefox/133.0");
        assert_eq!((ff.browser_family, ff.browser_major_version, ff.os_family), ("Firefox", Some(133), "macOS"));
        assert_eq!(parse("Googlebot/2.1 (+http://www.google.com/bot.html)").user_type, "ROBOT");
    }
}
