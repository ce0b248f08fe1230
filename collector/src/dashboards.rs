//! Dashboards: named, ordered lists of tiles, each a USQL query or a calculated metric shown as
//! a table, a column (bar) chart, a line chart over time, a pie chart, a single value or a
//! funnel (the tile types of Dynatrace's USQL tile, USQL.md §11).
//!
//! ```json
//! {"name": "Web property pack", "tiles": [
//!   {"title": "Traffic by continent", "type": "PIE_CHART", "query": "SELECT continent, COUNT(*) FROM usersession GROUP BY continent", "width": 1},
//!   {"title": "Gold p90", "type": "SINGLE_VALUE", "metricId": 3, "width": 1}]}
//! ```
//!
//! The order of `tiles` is the arrangement (left to right, then down, in a grid of four
//! columns); `width` is 1 to 4 columns. A tile's query must be valid USQL when it is saved.

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most tiles on one dashboard.
pub const MAX_TILES: usize = 50;
/// The tile types.
pub const TILE_TYPES: &[&str] = &["TABLE", "COLUMN_CHART", "LINE_CHART", "PIE_CHART", "SINGLE_VALUE", "FUNNEL"];

/// One tile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Tile {
    /// Shown above the tile.
    pub title: String,
    /// One of [`TILE_TYPES`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The USQL query shown (or `metricId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// The calculated metric shown (or `query`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_id: Option<i64>,
    /// Columns of the grid the tile spans, 1 to 4.
    #[serde(default = "one")]
    pub width: i64,
}

fn one() -> i64 {
    1
}

/// A dashboard's definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dashboard {
    /// Its name.
    pub name: String,
    /// Its tiles, in order.
    #[serde(default)]
    pub tiles: Vec<Tile>,
}

/// Reads and checks a definition; `Err` is a 400 message naming the member.
pub fn parse(conn: &Connection, body: &[u8]) -> Result<Dashboard, String> {
    let d: Dashboard = serde_json::from_slice(body).map_err(|e| format!("dashboard: {e}"))?;
    let n = d.name.chars().count();
    if n == 0 || n > 200 {
        return Err("name: 1 to 200 characters".to_owned());
    }
    if d.tiles.len() > MAX_TILES {
        return Err(format!("tiles: at most {MAX_TILES}"));
    }
    for (i, t) in d.tiles.iter().enumerate() {
        let at = format!("tiles[{i}]");
        if t.title.chars().count() > 200 {
            return Err(format!("{at}.title: at most 200 characters"));
        }
        if !TILE_TYPES.contains(&t.kind.as_str()) {
            return Err(format!("{at}.type: one of {}", TILE_TYPES.join(", ")));
        }
        if !(1..=4).contains(&t.width) {
            return Err(format!("{at}.width: 1 to 4"));
        }
        match (&t.query, t.metric_id) {
            (Some(q), None) => {
                crate::usql::parser::parse(q).map_err(|e| format!("{at}.query: {} (at character {})", e.message, e.position))?;
            }
            (None, Some(id)) => {
                if crate::calculated::get(conn, id).map_err(|e| e.to_string())?.is_none() {
                    return Err(format!("{at}.metricId: no metric {id}"));
                }
            }
            _ => return Err(format!("{at}: exactly one of query and metricId")),
        }
    }
    Ok(d)
}

fn json(id: i64, def: &str) -> Value {
    let mut v: Value = serde_json::from_str(def).unwrap_or(Value::Null);
    v["id"] = Value::from(id);
    v
}

/// Every dashboard (id, name, tile count).
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<Value>> {
    let mut stmt = conn.prepare_cached("SELECT id, definition FROM dashboards ORDER BY id")?;
    let rows = stmt.query_map([], |r| Ok(json(r.get(0)?, &r.get::<_, String>(1)?)))?;
    rows.collect()
}

/// One dashboard.
pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Value>> {
    conn.query_row("SELECT definition FROM dashboards WHERE id = ?1", params![id], |r| r.get::<_, String>(0))
        .optional()
        .map(|d| d.map(|d| json(id, &d)))
}

/// Stores a new dashboard; its id.
pub fn create(conn: &Connection, d: &Dashboard, now_ms: i64) -> rusqlite::Result<i64> {
    let def = serde_json::to_string(d).unwrap_or_default();
    conn.execute(
        "INSERT INTO dashboards (name, definition, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
        params![d.name, def, now_ms],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Replaces a dashboard. `false`: no such dashboard.
pub fn update(conn: &Connection, id: i64, d: &Dashboard, now_ms: i64) -> rusqlite::Result<bool> {
    let def = serde_json::to_string(d).unwrap_or_default();
    Ok(conn.execute(
        "UPDATE dashboards SET name = ?2, definition = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, d.name, def, now_ms],
    )? > 0)
}

/// Deletes a dashboard. `false`: no such dashboard.
pub fn delete(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM dashboards WHERE id = ?1", params![id])? > 0)
}
