//! Fields the collector derives from what a beacon carries: action timings, the connection
//! type, the display resolution, the end reason and the session's user experience score.
//! Pure functions; the store calls them at ingest and the query layer reads the stored result.

use crate::beacon::Timings;

/// `serverTime`, `networkTime` and `frontendTime` of an action (ms), each `None` when one of
/// its inputs is absent:
/// - `serverTime` = responseStart − requestStart;
/// - `networkTime` = requestStart + (responseEnd − responseStart): connection set-up before the
///   request plus the download;
/// - `frontendTime` = loadEventEnd − responseEnd, or duration − responseEnd when loadEventEnd is
///   absent.
pub fn derived_times(t: &Timings, duration: i64) -> (Option<i64>, Option<i64>, Option<i64>) {
    let server = match (t.request_start, t.response_start) {
        (Some(req), Some(resp)) => Some(resp - req),
        _ => None,
    };
    let network = match (t.request_start, t.response_start, t.response_end) {
        (Some(req), Some(resp), Some(end)) => Some(req + (end - resp)),
        _ => None,
    };
    let frontend = match (t.response_end, t.load_event_end) {
        (Some(end), Some(load)) => Some(load - end),
        (Some(end), None) => Some(duration - end),
        _ => None,
    };
    (server, network, frontend)
}

/// `connectionType` from `navigator.connection.type`: wifi → WIFI, ethernet → LAN,
/// cellular/bluetooth/wimax → MOBILE, none → OFFLINE, anything else → UNKNOWN. An absent
/// connection is stored as NULL and read as UNKNOWN.
pub fn connection_type(raw: &str) -> &'static str {
    match raw {
        "wifi" => "WIFI",
        "ethernet" => "LAN",
        "cellular" | "bluetooth" | "wimax" => "MOBILE",
        "none" => "OFFLINE",
        _ => "UNKNOWN",
    }
}

/// `endReason` from the agent's `session.ended` code: idle → TIMEOUT, max_duration →
/// DURATION_LIMIT, max_actions → USER_ACTION_LIMIT, end_session → END_EVENT. A closed session
/// without a code was closed by the collector's own idle timeout: TIMEOUT. Other codes are kept
/// upper-cased (a newer agent's reason stays visible rather than being folded into another).
pub fn end_reason(code: Option<&str>) -> String {
    match code {
        None | Some("idle") => "TIMEOUT".to_owned(),
        Some("max_duration") => "DURATION_LIMIT".to_owned(),
        Some("max_actions") => "USER_ACTION_LIMIT".to_owned(),
        Some("end_session") => "END_EVENT".to_owned(),
        Some(other) => other.to_ascii_uppercase(),
    }
}

/// Named display resolutions (the documented `displayResolution` values), landscape width ×
/// height in CSS pixels. A screen matches a name when its size, in either orientation, is
/// exactly that size; any other size is `UNKNOWN`.
pub const DISPLAY_RESOLUTIONS: &[(&str, i64, i64)] = &[
    ("QQVGA", 160, 120),
    ("HQVGA", 240, 160),
    ("CGA", 320, 200),
    ("QVGA", 320, 240),
    ("WQVGA", 400, 240),
    ("WQVGA3", 432, 240),
    ("HVGA", 480, 320),
    ("nHD", 640, 360),
    ("VGA", 640, 480),
    ("NTSC", 720, 480),
    ("PAL", 768, 576),
    ("WVGA", 800, 480),
    ("SVGA", 800, 600),
    ("FWVGA", 854, 480),
    ("qHD", 960, 540),
    ("DVGA", 960, 640),
    ("WSVGA", 1024, 600),
    ("XGA", 1024, 768),
    ("XGAPlus", 1152, 864),
    ("HD", 1280, 720),
    ("WXGA", 1280, 768),
    ("WXGA2", 1280, 800),
    ("SXGAMinus", 1280, 960),
    ("SXGA", 1280, 1024),
    ("FWXGA", 1366, 768),
    ("SXGAPlus", 1400, 1050),
    ("WXGAPlus", 1440, 900),
    ("WSXGAPlus", 1680, 1050),
    ("UXGA", 1600, 1200),
    ("FHD", 1920, 1080),
    ("WUXGA", 1920, 1200),
    ("DCI2K", 2048, 1080),
    ("QWXGA", 2048, 1152),
    ("QXGA", 2048, 1536),
    ("QHD", 2560, 1440),
    ("WQXGA", 2560, 1600),
    ("QSXGA", 2560, 2048),
    ("UWQHD", 3440, 1440),
    ("WQSXGA", 3200, 2048),
    ("QUXGA", 3200, 2400),
    ("UHD4K", 3840, 2160),
    ("WQUXGA", 3840, 2400),
    ("DCI4K", 4096, 2160),
    ("HXGA", 4096, 3072),
    ("UHDPlus", 5120, 2880),
    ("WHXGA", 5120, 3200),
    ("HSXGA", 5120, 4096),
    ("WHSXGA", 6400, 4096),
    ("HUXGA", 6400, 4800),
    ("UHD8K", 7680, 4320),
    ("WHUXGA", 7680, 4800),
    ("UHD16K", 15360, 8640),
];

/// `displayResolution` of a screen size; `None` when a dimension is unknown.
pub fn display_resolution(width: Option<i64>, height: Option<i64>) -> Option<&'static str> {
    let (w, h) = (width?, height?);
    let (long, short) = if w >= h { (w, h) } else { (h, w) };
    Some(DISPLAY_RESOLUTIONS.iter().find(|(_, rw, rh)| *rw == long && *rh == short).map_or("UNKNOWN", |(n, _, _)| n))
}

/// `screenOrientation` when the agent did not send one: width ≥ height is LANDSCAPE.
pub fn orientation(width: Option<i64>, height: Option<i64>) -> Option<&'static str> {
    match (width?, height?) {
        (w, h) if w >= h => Some("LANDSCAPE"),
        _ => Some("PORTRAIT"),
    }
}

/// What the experience score of a session is computed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExperienceInputs {
    /// Actions rated SATISFIED.
    pub satisfied: i64,
    /// Actions rated TOLERATING.
    pub tolerating: i64,
    /// Actions rated FRUSTRATED.
    pub frustrated: i64,
    /// JavaScript errors of the session.
    pub js_errors: i64,
    /// Rage clicks of the session.
    pub rage_clicks: i64,
    /// Whether the session's last action (by start) is rated FRUSTRATED.
    pub last_frustrated: bool,
}

/// Share of frustrating elements from which a session is FRUSTRATED (percent).
pub const FRUSTRATED_SHARE_PERCENT: i64 = 30;
/// Share of satisfying elements a session needs to be SATISFIED (percent).
pub const SATISFIED_SHARE_PERCENT: i64 = 50;

/// `userExperienceScore`. Every rated action is one element of its category; every JS error
/// and every rage click is one frustrating element. With F, T, S the element counts:
/// - no element at all: UNDEFINED;
/// - the last action frustrated, or F ≥ 30 % of all elements: FRUSTRATED;
/// - F = 0 and S ≥ 50 % of all elements: SATISFIED;
/// - otherwise TOLERATED (one frustrating element keeps a session from being SATISFIED).
pub fn experience_score(x: &ExperienceInputs) -> &'static str {
    let f = x.frustrated + x.js_errors + x.rage_clicks;
    let total = f + x.tolerating + x.satisfied;
    if total == 0 {
        "UNDEFINED"
    } else if x.last_frustrated || f * 100 >= FRUSTRATED_SHARE_PERCENT * total {
        "FRUSTRATED"
    } else if f == 0 && x.satisfied * 100 >= SATISFIED_SHARE_PERCENT * total {
        "SATISFIED"
    } else {
        "TOLERATED"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_times_follow_the_definitions() {
        let t = Timings { request_start: Some(10), response_start: Some(50), response_end: Some(70), load_event_end: Some(400), ..Timings::default() };
        assert_eq!(derived_times(&t, 500), (Some(40), Some(30), Some(330)));
        let t = Timings { load_event_end: None, ..t };
        assert_eq!(derived_times(&t, 500), (Some(40), Some(30), Some(430)));
        assert_eq!(derived_times(&Timings::default(), 500), (None, None, None));
    }

    #[test]
    fn mappings() {
        assert_eq!(
            ["wifi", "ethernet", "cellular", "bluetooth", "wimax", "none", "other", "unknown"].map(connection_type),
            ["WIFI", "LAN", "MOBILE", "MOBILE", "MOBILE", "OFFLINE", "UNKNOWN", "UNKNOWN"]
        );
        assert_eq!(
            [None, Some("idle"), Some("max_duration"), Some("max_actions"), Some("end_session"), Some("disabled")].map(end_reason),
            ["TIMEOUT", "TIMEOUT", "DURATION_LIMIT", "USER_ACTION_LIMIT", "END_EVENT", "DISABLED"]
        );
        assert_eq!(display_resolution(Some(1920), Some(1080)), Some("FHD"));
        assert_eq!(display_resolution(Some(1080), Some(1920)), Some("FHD"));
        assert_eq!(display_resolution(Some(390), Some(844)), Some("UNKNOWN"));
        assert_eq!(display_resolution(Some(390), None), None);
        assert_eq!(orientation(Some(390), Some(844)), Some("PORTRAIT"));
    }

    #[test]
    fn the_catalog_maps_end_reasons_like_end_reason() {
        let field = crate::usql::fields::lookup(crate::usql::fields::UsqlTable::UserSession, "endReason").unwrap();
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for code in [None, Some("idle"), Some("max_duration"), Some("max_actions"), Some("end_session"), Some("disabled")] {
            let sql = format!("SELECT {} FROM (SELECT ?1 AS end_reason) s", field.sql);
            let got: String = conn.query_row(&sql, [code], |r| r.get(0)).unwrap();
            assert_eq!(got, end_reason(code), "{code:?}");
        }
    }

    #[test]
    fn experience_score_rule() {
        let x = |s, t, f, e, r, last| ExperienceInputs { satisfied: s, tolerating: t, frustrated: f, js_errors: e, rage_clicks: r, last_frustrated: last };
        assert_eq!(experience_score(&x(0, 0, 0, 0, 0, false)), "UNDEFINED");
        assert_eq!(experience_score(&x(3, 0, 0, 0, 0, false)), "SATISFIED");
        assert_eq!(experience_score(&x(1, 1, 0, 0, 0, false)), "SATISFIED");
        assert_eq!(experience_score(&x(1, 2, 0, 0, 0, false)), "TOLERATED");
        assert_eq!(experience_score(&x(9, 0, 0, 0, 1, false)), "TOLERATED");
        assert_eq!(experience_score(&x(6, 0, 0, 2, 1, false)), "FRUSTRATED");
        assert_eq!(experience_score(&x(9, 0, 1, 0, 0, true)), "FRUSTRATED");
        assert_eq!(experience_score(&x(0, 0, 0, 1, 0, false)), "FRUSTRATED");
    }
}
