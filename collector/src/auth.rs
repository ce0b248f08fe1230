//! API tokens and who may call what.
//!
//! A token is `rp_` and 64 hex digits (32 bytes from the operating system's random source). It is
//! shown once, by `rumprops token create`; the store keeps only its SHA-256 (`api_tokens.hash`)
//! and its scopes. Requests send it as `Authorization: Api-Token <token>` (as Dynatrace's API
//! does). A header, never a cookie: a page on another site cannot make the browser send it, so
//! the API needs no CSRF tokens.
//!
//! Which scope a request needs ([`required`]): `POST /beacon` (ingest) and the liveness and
//! readiness probes need none, nor do the static pages (they hold no data; the app signs in from
//! them). `/metrics` and every `GET` under `/api/` need `read`, except `/api/v1/export/…`,
//! which needs `export`; a `POST`, `PUT` or `DELETE` under `/api/` needs `write`.

use axum::http::Method;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use std::fmt;

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// USQL, sessions, metrics, alerts and dashboards, read; the app's pages.
    Read,
    /// Create, change and delete metrics, alerts and dashboards.
    Write,
    /// The session export endpoint.
    Export,
}

impl Scope {
    /// Every scope, in display order.
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Export];

    /// The scope's name on the command line and in the API.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Export => "export",
        }
    }

    /// Reads a scope name.
    pub fn parse(s: &str) -> Result<Scope, String> {
        Scope::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| format!("unknown scope {s:?} (read, write or export)"))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: ingest, probes, static pages.
    Open,
    /// Any valid token (`GET /api/v1/auth/self`).
    AnyToken,
    /// A token with this scope.
    Scope(Scope),
}

/// Paths that never need a token besides `/beacon`: liveness and readiness probes.
pub const OPEN_PATHS: &[&str] = &["/beacon", "/healthz", "/readyz", "/livez"];

/// The scope a request needs, from its method and path.
pub fn required(method: &Method, path: &str) -> Need {
    if OPEN_PATHS.contains(&path) {
        return Need::Open;
    }
    if path == "/metrics" {
        return Need::Scope(Scope::Read);
    }
    if !(path == "/api" || path.starts_with("/api/")) {
        return Need::Open;
    }
    if path == "/api/v1/auth/self" {
        return Need::AnyToken;
    }
    if method == Method::GET || method == Method::HEAD {
        if path.starts_with("/api/v1/export/") {
            Need::Scope(Scope::Export)
        } else {
            Need::Scope(Scope::Read)
        }
    } else {
        Need::Scope(Scope::Write)
    }
}

/// The token in an `Authorization` header value, if it has the `Api-Token` form.
pub fn token_of(header: &str) -> Option<&str> {
    let (kind, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (kind.eq_ignore_ascii_case("api-token") && !token.is_empty()).then_some(token)
}

/// SHA-256 of a token, as lower-case hex.
pub fn hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A token that was created: its text (shown once) and its row.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// The token; only its hash is stored.
    pub token: String,
    /// Its row id.
    pub id: i64,
}

/// Creates a token with `scopes` (at least one) and stores its hash.
pub fn create(conn: &Connection, scopes: &[Scope], name: &str, now_ms: i64) -> Result<NewToken, String> {
    if scopes.is_empty() {
        return Err("a token needs at least one --scope (read, write or export)".to_owned());
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random source: {e}"))?;
    let token = format!("rp_{}", hex(&bytes));
    let mut names: Vec<&str> = Vec::new();
    for s in Scope::ALL {
        if scopes.contains(&s) {
            names.push(s.name());
        }
    }
    conn.execute(
        "INSERT INTO api_tokens (hash, scopes, name, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![hash(&token), names.join(","), name, now_ms],
    )
    .map_err(|e| e.to_string())?;
    Ok(NewToken { token, id: conn.last_insert_rowid() })
}

/// The scopes of a stored token, or `None` for a token the store does not know.
pub fn lookup(conn: &Connection, token: &str) -> Result<Option<Vec<Scope>>, String> {
    let scopes: Option<String> = conn
        .query_row("SELECT scopes FROM api_tokens WHERE hash = ?1", params![hash(token)], |r| r.get(0))
        .optional()
        .map_err(|e| e.to_string())?;
    Ok(scopes.map(|s| s.split(',').filter_map(|n| Scope::parse(n).ok()).collect()))
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 401: no token, or one the store does not know.
    Unauthorized(String),
    /// 403: a valid token without the scope.
    Forbidden(String),
}

/// Decides a request from what it needs and its `Authorization` header; `lookup` finds a
/// token's scopes.
pub fn check(
    need: Need,
    authorization: Option<&str>,
    lookup: impl FnOnce(&str) -> Result<Option<Vec<Scope>>, String>,
) -> Result<(), Refusal> {
    if need == Need::Open {
        return Ok(());
    }
    let Some(header) = authorization else {
        return Err(Refusal::Unauthorized("missing token: send Authorization: Api-Token <token>".to_owned()));
    };
    let Some(token) = token_of(header) else {
        return Err(Refusal::Unauthorized("Authorization header must be \"Api-Token <token>\"".to_owned()));
    };
    let scopes = match lookup(token) {
        Ok(Some(s)) => s,
        Ok(None) => return Err(Refusal::Unauthorized("unknown token".to_owned())),
        Err(e) => return Err(Refusal::Unauthorized(format!("token check failed: {e}"))),
    };
    match need {
        Need::Scope(s) if !scopes.contains(&s) => Err(Refusal::Forbidden(format!("token lacks scope {s}"))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_by_route() {
        assert_eq!(required(&Method::POST, "/beacon"), Need::Open);
        assert_eq!(required(&Method::GET, "/healthz"), Need::Open);
        assert_eq!(required(&Method::GET, "/app/index.html"), Need::Open);
        assert_eq!(required(&Method::GET, "/metrics"), Need::Scope(Scope::Read));
        assert_eq!(required(&Method::GET, "/api/v1/userSessionQueryLanguage/table"), Need::Scope(Scope::Read));
        assert_eq!(required(&Method::POST, "/api/v1/metrics"), Need::Scope(Scope::Write));
        assert_eq!(required(&Method::DELETE, "/api/v1/alerts/3"), Need::Scope(Scope::Write));
        assert_eq!(required(&Method::GET, "/api/v1/export/sessions"), Need::Scope(Scope::Export));
        assert_eq!(required(&Method::GET, "/api/v1/auth/self"), Need::AnyToken);
        assert_eq!(required(&Method::GET, "/apis"), Need::Open);
    }

    #[test]
    fn tokens_are_hashed_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open(&dir.path().join("t.db")).unwrap();
        let t = create(&conn, &[Scope::Write, Scope::Read], "ci", 1).unwrap();
        assert!(t.token.starts_with("rp_") && t.token.len() == 67);
        let stored: String = conn.query_row("SELECT hash || ' ' || scopes FROM api_tokens", [], |r| r.get(0)).unwrap();
        assert_eq!(stored, format!("{} read,write", hash(&t.token)));
        assert!(!stored.contains(&t.token[3..]));
        let look = |tok: &str| lookup(&conn, tok);
        let header = format!("Api-Token {}", t.token);
        assert_eq!(check(Need::Scope(Scope::Read), Some(&header), look), Ok(()));
        assert!(matches!(check(Need::Scope(Scope::Export), Some(&header), look), Err(Refusal::Forbidden(_))));
        assert!(matches!(check(Need::AnyToken, None, look), Err(Refusal::Unauthorized(_))));
        assert!(matches!(check(Need::AnyToken, Some("Bearer x"), look), Err(Refusal::Unauthorized(_))));
        assert!(matches!(check(Need::AnyToken, Some("Api-Token rp_00"), look), Err(Refusal::Unauthorized(_))));
        assert!(create(&conn, &[], "x", 1).is_err());
    }
}
