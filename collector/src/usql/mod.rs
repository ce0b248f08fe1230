//! The User Sessions Query Language: lexer → parser (names resolved against the field
//! catalog, types and grouping checked) → the typed plan → SQL for a store backend (SQLite
//! in `sqlite.rs` with its SQL functions in `functions.rs`; ClickHouse in `clickhouse.rs`).
//! The semantics chosen where the documentation is silent or contradicts itself are written in
//! collector/README.md.

pub mod clickhouse;
pub mod fields;
pub mod functions;
pub mod lexer;
pub mod parser;
pub mod plan;
pub mod sqlite;
pub mod time;

use rusqlite::Connection;
use std::fmt;
use std::time::{Duration, Instant};

/// A query error: what is wrong and the character position (0-based) where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsqlError {
    /// Character offset in the query text.
    pub position: usize,
    /// What is wrong.
    pub message: String,
}

impl UsqlError {
    /// An error at `position`.
    pub fn new(position: usize, message: impl Into<String>) -> UsqlError {
        UsqlError { position, message: message.into() }
    }
}

impl fmt::Display for UsqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at character {})", self.message, self.position)
    }
}

impl std::error::Error for UsqlError {}

/// Why a query gave no result.
#[derive(Debug)]
pub enum QueryError {
    /// The query text is wrong (HTTP 400 with the position).
    Invalid(UsqlError),
    /// The database failed while running a valid query, e.g. a SUM beyond the i64 range.
    Failed(String),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::Invalid(e) => e.fmt(f),
            QueryError::Failed(m) => write!(f, "query failed: {m}"),
        }
    }
}

/// What a query runs over besides its text.
#[derive(Debug, Clone)]
pub struct QueryOptions {
    /// Keep sessions whose `startTime` is at or after this (epoch ms), whatever the table.
    pub start_timestamp: Option<i64>,
    /// Keep sessions whose `startTime` is at or before this (epoch ms).
    pub end_timestamp: Option<i64>,
    /// `offsetUTC`: minutes east of UTC of the local time that date functions and date-time
    /// strings without an offset use (0: UTC).
    pub offset_utc_min: i64,
    /// Rows per page; the query's LIMIT (default 50) bounds all pages together.
    pub page_size: Option<u32>,
    /// Rows skipped before the page.
    pub page_offset: u32,
    /// Also see sessions that are still live.
    pub include_live: bool,
    /// The collector's clock, epoch ms.
    pub now_ms: i64,
    /// Idle time after which a session without an end beacon counts as closed.
    pub session_timeout_ms: i64,
    /// A query running longer is stopped, so one heavy query cannot hold a reader forever.
    pub time_limit_ms: u64,
}

/// Default of [`QueryOptions::time_limit_ms`].
pub const QUERY_TIME_LIMIT_MS: u64 = 10_000;
/// SQLite virtual-machine steps between two looks at the clock.
const STEPS_PER_CLOCK_CHECK: i32 = 1_000;

impl QueryOptions {
    /// Closed sessions only, no time window, first page, by the current clock.
    pub fn now(session_timeout_ms: i64) -> QueryOptions {
        QueryOptions {
            start_timestamp: None,
            end_timestamp: None,
            offset_utc_min: 0,
            page_size: None,
            page_offset: 0,
            include_live: false,
            now_ms: crate::store::now_ms(),
            session_timeout_ms,
            time_limit_ms: QUERY_TIME_LIMIT_MS,
        }
    }

    /// The clock and time frame of `$NOW`, `$TIME_FRAME_START` (all time: 0) and
    /// `$TIME_FRAME_END` (now), and the local time offset.
    pub fn frame(&self) -> plan::Frame {
        plan::Frame {
            now: self.now_ms,
            start: self.start_timestamp.unwrap_or(0),
            end: self.end_timestamp.unwrap_or(self.now_ms),
            offset_min: self.offset_utc_min,
        }
    }
}

/// A query result: column names, which columns are grouping columns, and the rows.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// Column names (aliases or the expressions as written).
    pub column_names: Vec<String>,
    /// Per column: true for a plain field (a tree branch), false for an aggregate (a leaf).
    pub is_branch: Vec<bool>,
    /// Rows of JSON values; longs and dates are exact integers.
    pub values: Vec<Vec<serde_json::Value>>,
}

/// Parses, translates and runs a query.
pub fn run(conn: &Connection, text: &str, opts: &QueryOptions) -> Result<QueryResult, QueryError> {
    let q = parser::parse(text).map_err(QueryError::Invalid)?;
    let st = sqlite::translate(&q, opts);
    let deadline = Instant::now() + Duration::from_millis(opts.time_limit_ms);
    conn.progress_handler(STEPS_PER_CLOCK_CHECK, Some(move || Instant::now() >= deadline));
    let result = sqlite::execute(conn, &q, &st);
    conn.progress_handler(0, None::<fn() -> bool>);
    result.map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::OperationInterrupted) => {
            QueryError::Failed(format!("stopped after {} ms (the query time limit)", opts.time_limit_ms))
        }
        _ => QueryError::Failed(e.to_string()),
    })
}
