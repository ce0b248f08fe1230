//! The SQLite store: versioned schema, beacon ingest in one transaction, session folding.
//!
//! One beacon is one transaction: its `(sid, seq)` row, the session fold, the actions and all
//! properties are written together or not at all. A `(sid, seq)` already present is acknowledged
//! as a duplicate and writes nothing, which makes agent resends harmless.
//!
//! Properties live in two narrow tables (`session_props`, `action_props`) keyed by owner, type and
//! key, with an untyped `value` column (STRICT `ANY`): SQLite then keeps integers as exact 64-bit
//! integers, doubles as doubles and text as text, with no affinity conversion.

use crate::beacon::{Beacon, Props};
use crate::geo::Geo;
use crate::goals::Goals;
use crate::{derive, useragent};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::time::Duration;

/// Default idle time after which a session without an end beacon counts as closed: the agent's
/// default `session.idleTimeoutMs` (30 minutes).
pub const DEFAULT_SESSION_TIMEOUT_MS: i64 = 30 * 60 * 1000;

/// Schema migrations, applied in order; `PRAGMA user_version` holds how many ran.
/// Never edit a shipped migration: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    "CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        sid TEXT NOT NULL UNIQUE,
        app TEXT NOT NULL,
        vid TEXT,
        user_id TEXT,
        user_id_seq INTEGER,
        user_type TEXT NOT NULL,
        user_agent TEXT,
        browser_family TEXT,
        browser_major_version INTEGER,
        os_family TEXT,
        start_time INTEGER NOT NULL,
        end_time INTEGER NOT NULL,
        end_reason TEXT,
        end_reason_seq INTEGER,
        action_count INTEGER NOT NULL DEFAULT 0,
        request_count INTEGER NOT NULL DEFAULT 0,
        request_error_count INTEGER NOT NULL DEFAULT 0,
        js_error_count INTEGER NOT NULL DEFAULT 0,
        beacon_count INTEGER NOT NULL DEFAULT 0,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        exported INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX sessions_start ON sessions(start_time);
    CREATE INDEX sessions_open ON sessions(end_reason, last_seen);
    CREATE TABLE beacons (
        sid TEXT NOT NULL,
        seq INTEGER NOT NULL,
        sent_at INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        action_count INTEGER NOT NULL,
        PRIMARY KEY (sid, seq)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE actions (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        action_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        app TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        start_time INTEGER NOT NULL,
        end_time INTEGER NOT NULL,
        url TEXT NOT NULL,
        requests INTEGER NOT NULL,
        request_errors INTEGER NOT NULL,
        js_errors INTEGER NOT NULL,
        UNIQUE (session_id, action_id)
    ) STRICT;
    CREATE INDEX actions_start ON actions(start_time);
    CREATE TABLE session_props (
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        type TEXT NOT NULL CHECK (type IN ('string', 'long', 'double', 'date')),
        key TEXT NOT NULL,
        value ANY NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (session_id, type, key)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE action_props (
        action_id INTEGER NOT NULL REFERENCES actions(id),
        type TEXT NOT NULL CHECK (type IN ('string', 'long', 'double', 'date')),
        key TEXT NOT NULL,
        value ANY NOT NULL,
        PRIMARY KEY (action_id, type, key)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE issues (
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        seq INTEGER NOT NULL,
        key TEXT NOT NULL,
        reason TEXT NOT NULL
    ) STRICT;
    CREATE INDEX issues_session ON issues(session_id);",
    // 2: covering indexes over the action columns that aggregates read. `actions_name` lets a
    // GROUP BY of the action name read the actions in name order (no sort of every action row);
    // `actions_session` answers the per-session parts of action aggregates without a lookup of
    // each action row. (Building them on an existing database reads every action once.)
    "CREATE INDEX actions_name ON actions(name, session_id, start_time, end_time, requests, request_errors, js_errors);
    CREATE INDEX actions_session ON actions(session_id, start_time, end_time, requests, request_errors, js_errors);",
    // 3: what people query (timings, Web Vitals, resources, Apdex, rage clicks, screen, network,
    // geo, the parsed user agent, derived experience) and one row per JS error. Timings are ms
    // from the action's start (`navigation_start` is epoch ms); NULL means the browser did not
    // give the metric. `server_time`, `network_time` and `frontend_time` are derived at ingest.
    "ALTER TABLE actions ADD COLUMN navigation_start INTEGER;
    ALTER TABLE actions ADD COLUMN request_start INTEGER;
    ALTER TABLE actions ADD COLUMN response_start INTEGER;
    ALTER TABLE actions ADD COLUMN response_end INTEGER;
    ALTER TABLE actions ADD COLUMN document_interactive_time INTEGER;
    ALTER TABLE actions ADD COLUMN dom_content_loaded_time INTEGER;
    ALTER TABLE actions ADD COLUMN dom_complete_time INTEGER;
    ALTER TABLE actions ADD COLUMN load_event_start INTEGER;
    ALTER TABLE actions ADD COLUMN load_event_end INTEGER;
    ALTER TABLE actions ADD COLUMN largest_contentful_paint INTEGER;
    ALTER TABLE actions ADD COLUMN first_input_delay INTEGER;
    ALTER TABLE actions ADD COLUMN interaction_to_next_paint INTEGER;
    ALTER TABLE actions ADD COLUMN visually_complete_time INTEGER;
    ALTER TABLE actions ADD COLUMN speed_index INTEGER;
    ALTER TABLE actions ADD COLUMN cumulative_layout_shift REAL;
    ALTER TABLE actions ADD COLUMN server_time INTEGER;
    ALTER TABLE actions ADD COLUMN network_time INTEGER;
    ALTER TABLE actions ADD COLUMN frontend_time INTEGER;
    ALTER TABLE actions ADD COLUMN first_party_resources INTEGER;
    ALTER TABLE actions ADD COLUMN third_party_resources INTEGER;
    ALTER TABLE actions ADD COLUMN cdn_resources INTEGER;
    ALTER TABLE actions ADD COLUMN apdex_category TEXT;
    ALTER TABLE actions ADD COLUMN rage_clicks INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN screen_width INTEGER;
    ALTER TABLE sessions ADD COLUMN screen_height INTEGER;
    ALTER TABLE sessions ADD COLUMN screen_orientation TEXT;
    ALTER TABLE sessions ADD COLUMN display_resolution TEXT;
    ALTER TABLE sessions ADD COLUMN connection_type TEXT;
    ALTER TABLE sessions ADD COLUMN rage_click_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN experience_score TEXT NOT NULL DEFAULT 'UNDEFINED';
    ALTER TABLE sessions ADD COLUMN new_user INTEGER;
    ALTER TABLE sessions ADD COLUMN browser_type TEXT;
    ALTER TABLE sessions ADD COLUMN os_version TEXT;
    ALTER TABLE sessions ADD COLUMN device TEXT;
    ALTER TABLE sessions ADD COLUMN manufacturer TEXT;
    ALTER TABLE sessions ADD COLUMN ip TEXT;
    ALTER TABLE sessions ADD COLUMN city TEXT;
    ALTER TABLE sessions ADD COLUMN region TEXT;
    ALTER TABLE sessions ADD COLUMN country TEXT;
    ALTER TABLE sessions ADD COLUMN continent TEXT;
    ALTER TABLE sessions ADD COLUMN isp TEXT;
    CREATE INDEX sessions_visitor ON sessions(app, vid, start_time);
    CREATE TABLE errors (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        action_row INTEGER REFERENCES actions(id),
        app TEXT NOT NULL,
        start_time INTEGER NOT NULL,
        name TEXT NOT NULL,
        source TEXT,
        line INTEGER,
        col INTEGER,
        type TEXT NOT NULL
    ) STRICT;
    CREATE INDEX errors_session ON errors(session_id);
    CREATE INDEX errors_action ON errors(action_row);
    CREATE INDEX errors_start ON errors(start_time);",
    // 4: `browserMajorVersion` as text, `<family> <major>` (`Chrome 131`); the numeric
    // `browser_major_version` stays beside it.
    "ALTER TABLE sessions ADD COLUMN browser_version TEXT;",
    // 5: conversion goals (JSON arrays of goal names) and key user actions, from `--goals`.
    "ALTER TABLE actions ADD COLUMN matching_goals TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE actions ADD COLUMN key_user_action INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN matching_goals TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE sessions ADD COLUMN matching_goals_count INTEGER NOT NULL DEFAULT 0;",
    // 6: what the analysis app keeps: API tokens (only a token's SHA-256), calculated metrics,
    // alerts with their state, history and webhook notifications (kept until delivered), and
    // dashboards. Definitions are the validated JSON the API took (crate::{calculated, alerts,
    // dashboards}).
    "CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        scopes TEXT NOT NULL,
        name TEXT NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE metrics (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        definition TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        metric_id INTEGER NOT NULL REFERENCES metrics(id),
        definition TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'OK' CHECK (state IN ('OK', 'PENDING', 'FIRING')),
        breaches INTEGER NOT NULL DEFAULT 0,
        last_value REAL,
        last_evaluated INTEGER,
        active_since INTEGER,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE alert_history (
        id INTEGER PRIMARY KEY,
        alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        time INTEGER NOT NULL,
        state TEXT NOT NULL,
        value REAL,
        message TEXT NOT NULL
    ) STRICT;
    CREATE INDEX alert_history_alert ON alert_history(alert_id, time);
    CREATE TABLE alert_notifications (
        id INTEGER PRIMARY KEY,
        alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        status TEXT NOT NULL CHECK (status IN ('firing', 'resolved')),
        url TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        delivered_at INTEGER,
        last_error TEXT
    ) STRICT;
    CREATE INDEX alert_notifications_due ON alert_notifications(delivered_at, next_attempt_at);
    CREATE TABLE dashboards (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        definition TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;",
    // 7: property keys by type, so the app's key pickers (`GET /api/v1/properties`) seek from
    // one distinct (type, key) to the next instead of reading every property row.
    "CREATE INDEX session_props_key ON session_props(type, key);
    CREATE INDEX action_props_key ON action_props(type, key);",
];

/// The schema version this build writes.
pub fn schema_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// What ingest did with a beacon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Stored.
    Stored,
    /// `(sid, seq)` was stored before; nothing written.
    Duplicate,
}

/// A store error, as text: the server maps it to a 500 without details about the request.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(e.to_string())
    }
}

/// How long a connection waits for another's lock (a migration, another collector's write)
/// before it fails with "database is locked".
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens (creating if needed) a database file and brings its schema up to date.
pub fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
    configure(&conn)?;
    migrate(&conn)?;
    Ok(conn)
}

/// Opens a read connection on an already migrated database.
pub fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
    configure(&conn)?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version != schema_version() {
        return Err(StoreError(format!("database schema version {version}, expected {}", schema_version())));
    }
    Ok(conn)
}

/// WAL lets readers run beside the single writer; `synchronous=NORMAL` in WAL mode loses at most
/// the last transactions on power loss, never consistency, and keeps ingest fast.
fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // 32 MiB of page cache per connection (negative = KiB). Temp storage stays at its default:
    // large GROUP BY sorts measured slower with temp_store=MEMORY.
    conn.pragma_update(None, "cache_size", -32768)?;
    crate::usql::functions::register(conn)?;
    Ok(())
}

/// Runs the migrations the file has not seen yet, all in one `BEGIN EXCLUSIVE` transaction
/// that re-reads the version inside it: of several processes opening one new file at once
/// (collectors in a rolling restart, `rumprops query` beside `serve`), one migrates and the
/// others wait for its lock ([`BUSY_TIMEOUT`]) and then find nothing left to do.
pub fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    check_not_newer(version)?;
    if version == schema_version() {
        return Ok(());
    }
    conn.execute_batch("BEGIN EXCLUSIVE")?;
    let migrated = run_migrations(conn);
    match migrated {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    Ok(())
}

fn check_not_newer(version: i64) -> Result<(), StoreError> {
    if version > schema_version() {
        return Err(StoreError(format!(
            "database schema version {version} is newer than this collector ({})",
            schema_version()
        )));
    }
    Ok(())
}

/// The pending migrations, inside the caller's exclusive transaction.
fn run_migrations(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    check_not_newer(version)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let next = i as i64 + 1;
        conn.execute_batch(sql).map_err(|e| StoreError(format!("migration {next}: {e}")))?;
        conn.pragma_update(None, "user_version", next)?;
    }
    Ok(())
}

/// What the collector knows of a beacon's sender besides the beacon: its `User-Agent`, its
/// address as stored (`--ip`), and the geo fields of its address. Used when the beacon starts a
/// session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The address as stored (masked by default), if stored.
    pub ip: Option<String>,
    /// City, region, country, continent, ISP.
    pub geo: Geo,
}

impl ClientInfo {
    /// A client known by its user agent only.
    pub fn with_user_agent(user_agent: Option<&str>) -> ClientInfo {
        ClientInfo { user_agent: user_agent.map(str::to_owned), ..ClientInfo::default() }
    }
}

/// Stores one validated beacon received at `now_ms` with the client's `User-Agent`.
pub fn ingest(
    conn: &mut Connection,
    beacon: &Beacon,
    user_agent: Option<&str>,
    now_ms: i64,
) -> Result<IngestOutcome, StoreError> {
    ingest_from(conn, beacon, &ClientInfo::with_user_agent(user_agent), &Goals::default(), now_ms)
}

/// Stores one validated beacon received at `now_ms` from `client`, evaluating `goals`.
pub fn ingest_from(
    conn: &mut Connection,
    beacon: &Beacon,
    client: &ClientInfo,
    goals: &Goals,
    now_ms: i64,
) -> Result<IngestOutcome, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let outcome = ingest_in(&tx, beacon, client, goals, now_ms)?;
    tx.commit()?;
    Ok(outcome)
}

/// A beacon waiting to be stored, with what is known of its sender.
pub type Pending = (Beacon, ClientInfo);

/// Where the writer puts beacons: the SQLite file ([`Connection`]) or ClickHouse
/// ([`crate::clickhouse::ClickHouse`]). Both store a group of beacons at once and report each
/// beacon's outcome only once the group is durable.
pub trait BeaconStore: Send {
    /// Stores `beacons` received at `now_ms`, evaluating `goals`: one outcome per beacon, or
    /// `Err` when none of them was stored.
    fn ingest_group(
        &mut self,
        beacons: &[Pending],
        goals: &Goals,
        now_ms: i64,
    ) -> Result<Vec<Result<IngestOutcome, StoreError>>, StoreError>;

    /// Whether a failed group means "try again later" (a store across the network that is
    /// down or overloaded: 503 with `Retry-After`) rather than a broken store (500).
    fn failures_are_transient(&self) -> bool {
        false
    }
}

impl BeaconStore for Connection {
    fn ingest_group(
        &mut self,
        beacons: &[Pending],
        goals: &Goals,
        now_ms: i64,
    ) -> Result<Vec<Result<IngestOutcome, StoreError>>, StoreError> {
        ingest_group(self, beacons, goals, now_ms)
    }
}

/// Stores several beacons in one transaction, each inside its own savepoint: a beacon that
/// fails is rolled back alone and the others are kept. Nothing is durable (and no beacon may be
/// acknowledged) before this returns `Ok`; an `Err` means none of them was stored. Writing a
/// group at once writes the shared pages (table tails, indexes) once per group instead of once
/// per beacon.
pub fn ingest_group(
    conn: &mut Connection,
    beacons: &[Pending],
    goals: &Goals,
    now_ms: i64,
) -> Result<Vec<Result<IngestOutcome, StoreError>>, StoreError> {
    // IMMEDIATE takes the write lock at BEGIN, where SQLite waits for another collector's
    // write (busy timeout); a deferred transaction that upgrades later fails at once instead.
    let mut tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut out = Vec::with_capacity(beacons.len());
    for (beacon, client) in beacons {
        let sp = tx.savepoint()?;
        match ingest_in(&sp, beacon, client, goals, now_ms) {
            Ok(outcome) => {
                sp.commit()?;
                out.push(Ok(outcome));
            }
            // Dropping the savepoint rolls this beacon back.
            Err(e) => out.push(Err(e)),
        }
    }
    tx.commit()?;
    Ok(out)
}

/// The writes of one beacon, inside a transaction or savepoint the caller commits.
fn ingest_in(
    tx: &Connection,
    beacon: &Beacon,
    client: &ClientInfo,
    goals: &Goals,
    now_ms: i64,
) -> Result<IngestOutcome, StoreError> {
    let inserted = tx.prepare_cached(
        "INSERT INTO beacons (sid, seq, sent_at, received_at, action_count) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (sid, seq) DO NOTHING",
    )?
    .execute(params![beacon.sid, beacon.seq, beacon.sent_at, now_ms, beacon.actions.len() as i64])?;
    if inserted == 0 {
        return Ok(IngestOutcome::Duplicate);
    }
    let (session_id, is_new) = fold_session(tx, beacon, client, now_ms)?;
    insert_actions(tx, session_id, !is_new, beacon, goals)?;
    {
        let mut stmt = tx.prepare_cached("INSERT INTO issues (session_id, seq, key, reason) VALUES (?1, ?2, ?3, ?4)")?;
        for issue in &beacon.issues {
            stmt.execute(params![session_id, beacon.seq, issue.key, issue.reason])?;
        }
    }
    // Counters are recomputed from the stored actions, so an action resent in a later beacon
    // (same id) replaces its earlier copy instead of being counted twice.
    tx.prepare_cached(
        "UPDATE sessions SET (action_count, request_count, request_error_count, js_error_count, rage_click_count, end_time) =
            (SELECT COUNT(*), COALESCE(SUM(requests), 0), COALESCE(SUM(request_errors), 0), COALESCE(SUM(js_errors), 0),
                    COALESCE(SUM(rage_clicks), 0), MAX(sessions.start_time, COALESCE(MAX(end_time), sessions.start_time))
             FROM actions WHERE session_id = ?1)
         WHERE id = ?1",
    )?
    .execute(params![session_id])?;
    update_experience(tx, session_id)?;
    if !goals.goals.is_empty() {
        update_session_goals(tx, session_id, goals)?;
    }
    Ok(IngestOutcome::Stored)
}

/// Recomputes the session's `userExperienceScore` from its stored actions
/// ([`derive::experience_score`]).
fn update_experience(tx: &Connection, session_id: i64) -> Result<(), StoreError> {
    let (satisfied, tolerating, frustrated, js_errors, rage_clicks): (i64, i64, i64, i64, i64) = tx
        .prepare_cached(
            "SELECT COALESCE(SUM(apdex_category = 'SATISFIED'), 0), COALESCE(SUM(apdex_category = 'TOLERATING'), 0),
                    COALESCE(SUM(apdex_category = 'FRUSTRATED'), 0), COALESCE(SUM(js_errors), 0), COALESCE(SUM(rage_clicks), 0)
             FROM actions WHERE session_id = ?1",
        )?
        .query_row(params![session_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?;
    let last: Option<Option<String>> = tx
        .prepare_cached("SELECT apdex_category FROM actions WHERE session_id = ?1 ORDER BY start_time DESC, id DESC LIMIT 1")?
        .query_row(params![session_id], |r| r.get(0))
        .optional()?;
    let inputs = derive::ExperienceInputs {
        satisfied,
        tolerating,
        frustrated,
        js_errors,
        rage_clicks,
        last_frustrated: last.flatten().as_deref() == Some("FRUSTRATED"),
    };
    tx.prepare_cached("UPDATE sessions SET experience_score = ?2 WHERE id = ?1")?
        .execute(params![session_id, derive::experience_score(&inputs)])?;
    Ok(())
}

/// Recomputes the session's `matchingConversionGoals` from its stored actions' goals, its
/// duration and its action count ([`Goals::session_goals`]).
fn update_session_goals(tx: &Connection, session_id: i64, goals: &Goals) -> Result<(), StoreError> {
    let (duration, action_count): (i64, i64) = tx
        .prepare_cached("SELECT end_time - start_time, action_count FROM sessions WHERE id = ?1")?
        .query_row(params![session_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let reached: std::collections::HashSet<String> = tx
        .prepare_cached("SELECT DISTINCT j.value FROM actions a, json_each(a.matching_goals) j WHERE a.session_id = ?1")?
        .query_map(params![session_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let matched = goals.session_goals(duration, action_count, |name| reached.contains(name));
    let json = serde_json::to_string(&matched).map_err(|e| StoreError(e.to_string()))?;
    tx.prepare_cached("UPDATE sessions SET matching_goals = ?2, matching_goals_count = ?3 WHERE id = ?1")?
        .execute(params![session_id, json, matched.len() as i64])?;
    Ok(())
}

/// Creates or updates the session row and its properties; returns the session's row id and
/// whether the row is new.
///
/// Fold rules: `start` is the earliest seen; `userId` and `ended` come from the beacon with the
/// highest seq that carries one (a later beacon without a user id does not erase it); each
/// session property is last-wins by beacon seq, so beacons arriving out of order fold the same;
/// the screen and the connection come from the first beacon that carries them.
fn fold_session(tx: &Connection, b: &Beacon, client: &ClientInfo, now_ms: i64) -> Result<(i64, bool), StoreError> {
    let user_agent = client.user_agent.as_deref();
    // Screen and connection: the first beacon that carries them sets them.
    let screen = &b.session.screen;
    let orientation = screen.orientation.as_deref().or_else(|| derive::orientation(screen.width, screen.height));
    let resolution = derive::display_resolution(screen.width, screen.height);
    let connection = b.session.connection.as_deref().map(derive::connection_type);
    let existing: Option<i64> =
        tx.query_row("SELECT id FROM sessions WHERE sid = ?1", params![b.sid], |r| r.get(0)).optional()?;
    let session_id = match existing {
        Some(id) => {
            tx.execute(
                "UPDATE sessions SET
                    start_time = MIN(start_time, ?2),
                    vid = COALESCE(vid, ?3),
                    user_id = CASE WHEN ?4 IS NOT NULL AND (user_id_seq IS NULL OR ?5 >= user_id_seq) THEN ?4 ELSE user_id END,
                    user_id_seq = CASE WHEN ?4 IS NOT NULL AND (user_id_seq IS NULL OR ?5 >= user_id_seq) THEN ?5 ELSE user_id_seq END,
                    end_reason = CASE WHEN ?6 IS NOT NULL AND (end_reason_seq IS NULL OR ?5 >= end_reason_seq) THEN ?6 ELSE end_reason END,
                    end_reason_seq = CASE WHEN ?6 IS NOT NULL AND (end_reason_seq IS NULL OR ?5 >= end_reason_seq) THEN ?5 ELSE end_reason_seq END,
                    beacon_count = beacon_count + 1,
                    exported = 0,
                    last_seen = MAX(last_seen, ?7),
                    screen_width = COALESCE(screen_width, ?8),
                    screen_height = COALESCE(screen_height, ?9),
                    screen_orientation = COALESCE(screen_orientation, ?10),
                    display_resolution = COALESCE(display_resolution, ?11),
                    connection_type = COALESCE(connection_type, ?12)
                 WHERE id = ?1",
                params![
                    id,
                    b.session.start,
                    b.vid,
                    b.session.user_id,
                    b.seq,
                    b.session.ended,
                    now_ms,
                    screen.width,
                    screen.height,
                    orientation,
                    resolution,
                    connection
                ],
            )?;
            id
        }
        None => {
            let ua = user_agent.map(useragent::parse).unwrap_or_default();
            // A new user: no earlier session of this visitor id in this application. Without a
            // visitor id (privacy modes) it is unknown.
            let new_user: Option<bool> = match &b.vid {
                None => None,
                Some(vid) => Some(
                    tx.prepare_cached("SELECT 1 FROM sessions WHERE app = ?1 AND vid = ?2 AND start_time <= ?3 LIMIT 1")?
                        .query_row(params![b.app, vid, b.session.start], |_| Ok(()))
                        .optional()?
                        .is_none(),
                ),
            };
            tx.execute(
                "INSERT INTO sessions (sid, app, vid, user_id, user_id_seq, user_type, user_agent, browser_family,
                    browser_major_version, os_family, start_time, end_time, end_reason, end_reason_seq,
                    beacon_count, first_seen, last_seen, screen_width, screen_height, screen_orientation,
                    display_resolution, connection_type, new_user, browser_type, browser_version, os_version, device,
                    manufacturer, ip, city, region, country, continent, isp)
                 VALUES (?1, ?2, ?3, ?4, CASE WHEN ?4 IS NULL THEN NULL ELSE ?5 END, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12,
                    CASE WHEN ?12 IS NULL THEN NULL ELSE ?5 END, 1, ?13, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22,
                    ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30)",
                params![
                    b.sid,
                    b.app,
                    b.vid,
                    b.session.user_id,
                    b.seq,
                    ua.user_type,
                    user_agent,
                    ua.browser_family,
                    ua.browser_major_version,
                    ua.os_family,
                    b.session.start,
                    b.session.ended,
                    now_ms,
                    screen.width,
                    screen.height,
                    orientation,
                    resolution,
                    connection,
                    new_user,
                    ua.browser_type,
                    ua.browser_version,
                    ua.os_version,
                    ua.device,
                    ua.manufacturer,
                    client.ip,
                    client.geo.city,
                    client.geo.region,
                    client.geo.country,
                    client.geo.continent,
                    client.geo.isp
                ],
            )?;
            let id = tx.last_insert_rowid();
            if let (Some(vid), Some(true)) = (&b.vid, new_user) {
                // A later session of this visitor that arrived first is no longer its first.
                tx.prepare_cached("UPDATE sessions SET new_user = 0 WHERE app = ?1 AND vid = ?2 AND start_time > ?3 AND id <> ?4")?
                    .execute(params![b.app, vid, b.session.start, id])?;
            }
            id
        }
    };
    let mut stmt = tx.prepare_cached(
        "INSERT INTO session_props (session_id, type, key, value, seq) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (session_id, type, key) DO UPDATE SET value = excluded.value, seq = excluded.seq
         WHERE excluded.seq >= session_props.seq",
    )?;
    for_each_prop(&b.session.props, |ty, key, value| {
        stmt.execute(params![session_id, ty, key, value, b.seq]).map(|_| ())
    })?;
    Ok((session_id, existing.is_none()))
}

/// Inserts the beacon's actions; `may_exist` is false for a session created by this beacon,
/// which skips looking for earlier copies.
fn insert_actions(tx: &Connection, session_id: i64, may_exist: bool, b: &Beacon, goals: &Goals) -> Result<(), StoreError> {
    let mut find = tx.prepare_cached("SELECT id, seq FROM actions WHERE session_id = ?1 AND action_id = ?2")?;
    let mut drop_props = tx.prepare_cached("DELETE FROM action_props WHERE action_id = ?1")?;
    let mut drop_errors = tx.prepare_cached("DELETE FROM errors WHERE action_row = ?1")?;
    let mut drop_action = tx.prepare_cached("DELETE FROM actions WHERE id = ?1")?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO actions (session_id, action_id, seq, app, kind, name, start_time, end_time, url, requests,
            request_errors, js_errors, navigation_start, request_start, response_start, response_end,
            document_interactive_time, dom_content_loaded_time, dom_complete_time, load_event_start, load_event_end,
            largest_contentful_paint, first_input_delay, interaction_to_next_paint, visually_complete_time, speed_index,
            cumulative_layout_shift, server_time, network_time, frontend_time, first_party_resources,
            third_party_resources, cdn_resources, apdex_category, rage_clicks, matching_goals, key_user_action)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22,
            ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36, ?37)",
    )?;
    let mut insert_error = tx.prepare_cached(
        "INSERT INTO errors (session_id, action_row, app, start_time, name, source, line, col, type)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'Error')",
    )?;
    let mut insert_prop =
        tx.prepare_cached("INSERT INTO action_props (action_id, type, key, value) VALUES (?1, ?2, ?3, ?4)")?;
    for a in &b.actions {
        // The same action id seen again: the copy from the higher seq wins.
        let earlier = if may_exist {
            find.query_row(params![session_id, a.id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))).optional()?
        } else {
            None
        };
        if let Some((old_id, old_seq)) = earlier {
            if old_seq > b.seq {
                continue;
            }
            drop_props.execute(params![old_id])?;
            drop_errors.execute(params![old_id])?;
            drop_action.execute(params![old_id])?;
        }
        let action_goals = if goals.goals.is_empty() {
            "[]".to_owned()
        } else {
            serde_json::to_string(&goals.action_goals(&a.name, &a.url)).map_err(|e| StoreError(e.to_string()))?
        };
        let t = &a.timings;
        let (server_time, network_time, frontend_time) = derive::derived_times(t, a.end - a.start);
        let [navigation_start, request_start, response_start, response_end, interactive, content_loaded, complete, load_start, load_end, lcp, fid, inp, visually_complete, speed_index] =
            t.integers();
        insert.execute(params![
            session_id,
            a.id,
            b.seq,
            b.app,
            a.kind,
            a.name,
            a.start,
            a.end,
            a.url,
            a.requests,
            a.request_errors,
            a.js_errors,
            navigation_start,
            request_start,
            response_start,
            response_end,
            interactive,
            content_loaded,
            complete,
            load_start,
            load_end,
            lcp,
            fid,
            inp,
            visually_complete,
            speed_index,
            t.cumulative_layout_shift,
            server_time,
            network_time,
            frontend_time,
            a.resources.first_party,
            a.resources.third_party,
            a.resources.cdn,
            a.apdex,
            a.rage_clicks.unwrap_or(0),
            action_goals,
            goals.is_key_user_action(&a.name)
        ])?;
        let action_row = tx.last_insert_rowid();
        for e in &a.errors {
            insert_error.execute(params![session_id, action_row, b.app, e.time, e.message, e.file, e.line, e.column])?;
        }
        for_each_prop(&a.props, |ty, key, value| insert_prop.execute(params![action_row, ty, key, value]).map(|_| ()))?;
    }
    Ok(())
}

/// Calls `f(type, key, value)` for every property, values as SQLite values of the right storage class.
fn for_each_prop(
    props: &Props,
    mut f: impl FnMut(&str, &str, rusqlite::types::Value) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    use rusqlite::types::Value as V;
    for (k, v) in &props.string {
        f("string", k, V::Text(v.clone()))?;
    }
    for (k, v) in &props.long {
        f("long", k, V::Integer(*v))?;
    }
    for (k, v) in &props.double {
        f("double", k, V::Real(*v))?;
    }
    for (k, v) in &props.date {
        f("date", k, V::Integer(*v))?;
    }
    Ok(())
}

/// Row counts of the main tables, for tests and `rumprops query --stats`-style checks.
pub fn table_counts(conn: &Connection) -> Result<Vec<(&'static str, i64)>, StoreError> {
    let mut out = Vec::new();
    for table in ["sessions", "beacons", "actions", "session_props", "action_props", "issues", "errors"] {
        let n: i64 = conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?;
        out.push((table, n));
    }
    Ok(out)
}

/// Milliseconds since the Unix epoch by the collector's clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::beacon::parse_beacon;

    fn beacon(seq: i64, ended: &str, user: &str, tier: &str) -> Beacon {
        let body = format!(
            r#"{{"v":1,"app":"shop","sid":"s1","seq":{seq},"sentAt":1000,
            "session":{{"start":500,"userId":{user},"ended":{ended},"props":{{"string":{{"tier":"{tier}"}},"long":{{"big":9223372036854775807}}}}}},
            "actions":[{{"id":"a{seq}","kind":"click","name":"n","start":600,"end":700,"url":"u","requests":2,"requestErrors":1,"jsErrors":1,
                "props":{{"long":{{"low":-9223372036854775808}}}}}}],"issues":[{{"key":"x","reason":"not_found"}}]}}"#
        );
        parse_beacon(body.as_bytes()).unwrap()
    }

    #[test]
    fn migrates_folds_and_deduplicates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let mut conn = open(&path).unwrap();
        assert_eq!(conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).unwrap(), schema_version());
        assert_eq!(ingest(&mut conn, &beacon(1, "null", "\"alice\"", "Gold"), None, 10).unwrap(), IngestOutcome::Stored);
        assert_eq!(ingest(&mut conn, &beacon(1, "null", "\"alice\"", "Gold"), None, 11).unwrap(), IngestOutcome::Duplicate);
        // Out of order: seq 0 arrives after seq 1, its older values must not win.
        assert_eq!(ingest(&mut conn, &beacon(0, "null", "\"bob\"", "Silver"), None, 12).unwrap(), IngestOutcome::Stored);
        assert_eq!(ingest(&mut conn, &beacon(2, "\"idle\"", "null", "Platinum"), None, 13).unwrap(), IngestOutcome::Stored);
        let (user, reason, actions, errors, last_seen): (String, String, i64, i64, i64) = conn
            .query_row(
                "SELECT user_id, end_reason, action_count, request_error_count + js_error_count, last_seen FROM sessions",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!((user.as_str(), reason.as_str(), actions, errors, last_seen), ("alice", "idle", 3, 6, 13));
        let tier: String = conn
            .query_row("SELECT value FROM session_props WHERE key = 'tier'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tier, "Platinum");
        let big: i64 = conn.query_row("SELECT value FROM session_props WHERE key = 'big'", [], |r| r.get(0)).unwrap();
        assert_eq!(big, i64::MAX);
        let counts = table_counts(&conn).unwrap();
        assert_eq!(counts, vec![("sessions", 1), ("beacons", 3), ("actions", 3), ("session_props", 2), ("action_props", 3), ("issues", 3), ("errors", 0)]);
        drop(conn);
        // Reopening runs no migration again.
        let conn = open(&path).unwrap();
        assert_eq!(table_counts(&conn).unwrap()[0], ("sessions", 1));
    }
}

#[cfg(test)]
mod group_tests {
    use super::*;
    use crate::beacon::parse_beacon;

    fn pending(sid: &str) -> Pending {
        let body = format!(
            r#"{{"v":1,"app":"a","sid":"{sid}","seq":0,"sentAt":1,"session":{{"start":1,"props":{{"string":{{"k":"v"}}}}}},
               "actions":[{{"id":"x","kind":"load","name":"n","start":1,"end":2,"url":"u","requests":0,"requestErrors":0,"jsErrors":0,
               "props":{{"long":{{"n":1}}}}}}]}}"#
        );
        (parse_beacon(body.as_bytes()).unwrap(), ClientInfo::default())
    }

    #[test]
    fn a_failing_beacon_is_rolled_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(&dir.path().join("g.db")).unwrap();
        // A store failure for one session, after its beacon row and session row were written.
        conn.execute_batch(
            "CREATE TRIGGER refuse AFTER INSERT ON actions WHEN (SELECT sid FROM sessions WHERE id = NEW.session_id) = 'bad'
             BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        )
        .unwrap();
        let group = [pending("good1"), pending("bad"), pending("good2"), pending("good1")];
        let out = ingest_group(&mut conn, &group, &Goals::default(), 5).unwrap();
        assert!(matches!(out[0], Ok(IngestOutcome::Stored)));
        assert!(out[1].as_ref().unwrap_err().to_string().contains("refused"));
        assert!(matches!(out[2], Ok(IngestOutcome::Stored)));
        assert!(matches!(out[3], Ok(IngestOutcome::Duplicate)), "a duplicate within one group");
        assert_eq!(
            table_counts(&conn).unwrap(),
            vec![("sessions", 2), ("beacons", 2), ("actions", 2), ("session_props", 2), ("action_props", 2), ("issues", 0), ("errors", 0)]
        );
    }
}

#[cfg(test)]
mod migration_tests {
    use super::*;

    #[test]
    fn a_newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.db");
        let conn = open(&path).unwrap();
        conn.pragma_update(None, "user_version", schema_version() + 1).unwrap();
        drop(conn);
        let e = open(&path).unwrap_err().to_string();
        assert!(e.contains("newer than this collector"), "{e}");
        assert!(open_reader(&path).is_err());
    }
}
