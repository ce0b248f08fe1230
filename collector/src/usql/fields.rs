//! The field catalog: every built-in field of every USQL table, one line each.
//!
//! An entry gives the field's USQL name (matched case-insensitively), the table it belongs to,
//! the store's expression for it over the row aliases (`s` sessions, `a` actions, `e` errors),
//! its value type and whether it can be NULL on an existing row; where the SQLite expression is
//! not portable, also the ClickHouse one (`ch`). Adding a field is adding one
//! line to the table of its USQL table (and the store column behind it).
//!
//! The expressions are fixed text over the store's column names, never built from input.

/// A USQL table: what `FROM` names, and whose a field is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UsqlTable {
    /// `usersession`: one row per session.
    UserSession,
    /// `useraction`: one row per action.
    UserAction,
    /// `usererror`: one row per error.
    UserError,
    /// `userevent`: one row per event.
    UserEvent,
}

impl UsqlTable {
    /// The table's name in USQL.
    pub fn name(self) -> &'static str {
        match self {
            UsqlTable::UserSession => "usersession",
            UsqlTable::UserAction => "useraction",
            UsqlTable::UserError => "usererror",
            UsqlTable::UserEvent => "userevent",
        }
    }

    /// The table named `name` (case-insensitive).
    pub fn from_name(name: &str) -> Option<UsqlTable> {
        [UsqlTable::UserSession, UsqlTable::UserAction, UsqlTable::UserError, UsqlTable::UserEvent]
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// The table's built-in fields.
    pub fn fields(self) -> &'static [FieldDef] {
        match self {
            UsqlTable::UserSession => USERSESSION,
            UsqlTable::UserAction => USERACTION,
            UsqlTable::UserError => USERERROR,
            UsqlTable::UserEvent => USEREVENT,
        }
    }
}

/// The type of a field's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// A string.
    Text,
    /// A 64-bit integer.
    Long,
    /// A floating-point number.
    Double,
    /// A point in time, epoch milliseconds.
    Date,
    /// `true` or `false` (stored as 1 or 0).
    Boolean,
    /// A list of strings (stored as a JSON array of strings).
    TextArray,
    /// An IPv4 or IPv6 address as text; ordered by address, so ranges compare (`ip BETWEEN …`).
    Ip,
}

impl ValueType {
    /// Whether values are numbers (longs, doubles, dates).
    pub fn is_numeric(self) -> bool {
        matches!(self, ValueType::Long | ValueType::Double | ValueType::Date)
    }
}

/// One built-in field.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FieldDef {
    /// Name in USQL (matched case-insensitively).
    pub name: &'static str,
    /// The table the field belongs to.
    pub table: UsqlTable,
    /// The store's expression over the row aliases; fixed text.
    pub sql: &'static str,
    /// Value type.
    pub ty: ValueType,
    /// Can be NULL on an existing row. A field that never is lets `COUNT(field)` count row
    /// ids instead, which an index alone answers.
    pub nullable: bool,
    /// The ClickHouse expression where `sql` is not portable (`None`: `sql` itself, over the
    /// same column names, which the ClickHouse backend's subqueries expose).
    pub ch: Option<&'static str>,
}

impl FieldDef {
    /// The ClickHouse expression of the field.
    pub fn ch_sql(&self) -> &'static str {
        self.ch.unwrap_or(self.sql)
    }
}

macro_rules! field {
    ($table:ident, $name:literal, $sql:literal, $ty:ident) => {
        FieldDef { name: $name, table: UsqlTable::$table, sql: $sql, ty: ValueType::$ty, nullable: false, ch: None }
    };
    ($table:ident, $name:literal, $sql:literal, $ty:ident, nullable) => {
        FieldDef { name: $name, table: UsqlTable::$table, sql: $sql, ty: ValueType::$ty, nullable: true, ch: None }
    };
    ($table:ident, $name:literal, $sql:literal, $ty:ident, ch $ch:literal) => {
        FieldDef { name: $name, table: UsqlTable::$table, sql: $sql, ty: ValueType::$ty, nullable: false, ch: Some($ch) }
    };
    ($table:ident, $name:literal, $sql:literal, $ty:ident, nullable, ch $ch:literal) => {
        FieldDef { name: $name, table: UsqlTable::$table, sql: $sql, ty: ValueType::$ty, nullable: true, ch: Some($ch) }
    };
}

/// The fields of `usersession`.
pub static USERSESSION: &[FieldDef] = &[
    field!(UserSession, "userSessionId", "s.sid", Text),
    field!(UserSession, "userId", "s.user_id", Text, nullable),
    field!(UserSession, "userType", "s.user_type", Text),
    field!(UserSession, "startTime", "s.start_time", Date),
    field!(UserSession, "endTime", "s.end_time", Date),
    field!(UserSession, "duration", "(s.end_time - s.start_time)", Long),
    field!(UserSession, "userActionCount", "s.action_count", Long),
    field!(UserSession, "totalErrorCount", "(s.request_error_count + s.js_error_count)", Long),
    // The agent's end codes in the documented vocabulary (`derive::end_reason`, tested against it).
    field!(
        UserSession,
        "endReason",
        "CASE s.end_reason WHEN 'idle' THEN 'TIMEOUT' WHEN 'max_duration' THEN 'DURATION_LIMIT' WHEN 'max_actions' THEN 'USER_ACTION_LIMIT' WHEN 'end_session' THEN 'END_EVENT' ELSE COALESCE(UPPER(s.end_reason), 'TIMEOUT') END",
        Text
    ),
    field!(UserSession, "browserFamily", "s.browser_family", Text, nullable),
    field!(UserSession, "browserMajorVersion", "s.browser_version", Text, nullable),
    field!(UserSession, "browserType", "s.browser_type", Text, nullable),
    field!(UserSession, "osFamily", "s.os_family", Text, nullable),
    field!(UserSession, "osVersion", "s.os_version", Text, nullable),
    field!(UserSession, "device", "s.device", Text, nullable),
    field!(UserSession, "manufacturer", "s.manufacturer", Text, nullable),
    field!(UserSession, "newUser", "s.new_user", Boolean, nullable),
    field!(UserSession, "bounce", "(s.action_count <= 1)", Boolean),
    field!(UserSession, "hasError", "(s.request_error_count + s.js_error_count > 0)", Boolean),
    field!(UserSession, "numberOfRageClicks", "s.rage_click_count", Long),
    field!(UserSession, "userExperienceScore", "s.experience_score", Text),
    field!(UserSession, "screenWidth", "s.screen_width", Long, nullable),
    field!(UserSession, "screenHeight", "s.screen_height", Long, nullable),
    field!(UserSession, "screenOrientation", "COALESCE(s.screen_orientation, 'UNDEFINED')", Text),
    field!(UserSession, "displayResolution", "COALESCE(s.display_resolution, 'UNKNOWN')", Text),
    field!(UserSession, "connectionType", "COALESCE(s.connection_type, 'UNKNOWN')", Text),
    field!(UserSession, "applicationType", "'WEB_APPLICATION'", Text),
    field!(UserSession, "ip", "s.ip", Ip, nullable),
    field!(UserSession, "city", "s.city", Text, nullable),
    field!(UserSession, "region", "s.region", Text, nullable),
    field!(UserSession, "country", "s.country", Text, nullable),
    field!(UserSession, "continent", "s.continent", Text, nullable),
    field!(UserSession, "isp", "s.isp", Text, nullable),
    field!(UserSession, "matchingConversionGoals", "s.matching_goals", TextArray),
    field!(UserSession, "matchingConversionGoalsCount", "s.matching_goals_count", Long),
];

/// The fields of `useraction`.
pub static USERACTION: &[FieldDef] = &[
    field!(UserAction, "name", "a.name", Text),
    field!(UserAction, "type", "a.kind", Text),
    field!(UserAction, "targetUrl", "a.url", Text),
    field!(UserAction, "application", "a.app", Text),
    field!(UserAction, "startTime", "a.start_time", Date),
    field!(UserAction, "endTime", "a.end_time", Date),
    field!(UserAction, "duration", "(a.end_time - a.start_time)", Long),
    field!(UserAction, "requestCount", "a.requests", Long),
    field!(UserAction, "requestErrorCount", "a.request_errors", Long),
    field!(UserAction, "javascriptErrorCount", "a.js_errors", Long),
    field!(UserAction, "navigationStart", "a.navigation_start", Date, nullable),
    field!(UserAction, "requestStart", "a.request_start", Long, nullable),
    field!(UserAction, "responseStart", "a.response_start", Long, nullable),
    field!(UserAction, "responseEnd", "a.response_end", Long, nullable),
    field!(UserAction, "documentInteractiveTime", "a.document_interactive_time", Long, nullable),
    field!(UserAction, "domContentLoadedTime", "a.dom_content_loaded_time", Long, nullable),
    field!(UserAction, "domCompleteTime", "a.dom_complete_time", Long, nullable),
    field!(UserAction, "loadEventStart", "a.load_event_start", Long, nullable),
    field!(UserAction, "loadEventEnd", "a.load_event_end", Long, nullable),
    field!(UserAction, "largestContentfulPaint", "a.largest_contentful_paint", Long, nullable),
    field!(UserAction, "firstInputDelay", "a.first_input_delay", Long, nullable),
    field!(UserAction, "interactionToNextPaint", "a.interaction_to_next_paint", Long, nullable),
    field!(UserAction, "visuallyCompleteTime", "a.visually_complete_time", Long, nullable),
    field!(UserAction, "speedIndex", "a.speed_index", Long, nullable),
    field!(UserAction, "cumulativeLayoutShift", "a.cumulative_layout_shift", Double, nullable),
    field!(UserAction, "serverTime", "a.server_time", Long, nullable),
    field!(UserAction, "networkTime", "a.network_time", Long, nullable),
    field!(UserAction, "frontendTime", "a.frontend_time", Long, nullable),
    field!(UserAction, "firstPartyResources", "a.first_party_resources", Long, nullable),
    field!(UserAction, "thirdPartyResources", "a.third_party_resources", Long, nullable),
    field!(UserAction, "cdnResources", "a.cdn_resources", Long, nullable),
    // NULL, not UNKNOWN, where a session without actions meets no action row.
    field!(UserAction, "apdexCategory", "CASE WHEN a.id IS NULL THEN NULL ELSE COALESCE(a.apdex_category, 'UNKNOWN') END", Text),
    field!(UserAction, "matchingConversionGoals", "a.matching_goals", TextArray, ch "a.goals_json"),
    field!(UserAction, "keyUserAction", "a.key_user_action", Boolean),
];

/// The fields of `usererror`: one row per JavaScript error (alias `e`, table `errors`).
pub static USERERROR: &[FieldDef] = &[
    field!(UserError, "application", "e.app", Text),
    field!(UserError, "name", "e.name", Text),
    field!(UserError, "type", "e.type", Text),
    field!(UserError, "startTime", "e.start_time", Date),
    field!(UserError, "message", "e.name", Text),
    field!(UserError, "source", "e.source", Text, nullable),
    field!(UserError, "line", "e.line", Long, nullable),
    field!(UserError, "column", "e.col", Long, nullable),
    field!(UserError, "actionName", "(SELECT ea.name FROM actions ea WHERE ea.id = e.action_row)", Text, nullable, ch "e.action_name"),
];

/// The fields of `userevent`: one row per event (alias `v`, the events view of the store:
/// errors as `Error`, page loads and route changes as `PageChange`, actions with rage clicks
/// as `RageClick`).
pub static USEREVENT: &[FieldDef] = &[
    field!(UserEvent, "application", "v.app", Text),
    field!(UserEvent, "name", "v.name", Text),
    field!(UserEvent, "type", "v.type", Text),
    field!(UserEvent, "page", "v.page", Text, nullable),
    field!(UserEvent, "startTime", "v.start_time", Date),
];

/// The built-in field `name` (case-insensitive) of `table`.
pub fn lookup(table: UsqlTable, name: &str) -> Option<&'static FieldDef> {
    table.fields().iter().find(|f| f.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_per_table_and_match_case_insensitively() {
        for t in [UsqlTable::UserSession, UsqlTable::UserAction, UsqlTable::UserError, UsqlTable::UserEvent] {
            for (i, f) in t.fields().iter().enumerate() {
                assert_eq!(f.table, t, "{} is listed under {}", f.name, t.name());
                assert!(
                    t.fields()[..i].iter().all(|g| !g.name.eq_ignore_ascii_case(f.name)),
                    "{} twice in {}",
                    f.name,
                    t.name()
                );
            }
        }
        assert_eq!(lookup(UsqlTable::UserSession, "BROWSERFAMILY").map(|f| f.sql), Some("s.browser_family"));
        assert_eq!(lookup(UsqlTable::UserAction, "starttime").map(|f| f.ty), Some(ValueType::Date));
        assert!(lookup(UsqlTable::UserSession, "name").is_none());
        assert_eq!(UsqlTable::from_name("UserError"), Some(UsqlTable::UserError));
    }
}
