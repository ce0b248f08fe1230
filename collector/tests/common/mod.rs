//! Shared helpers of the collector's integration tests: a real collector on a loopback port
//! with a real SQLite file, and a tiny blocking HTTP/1.1 client.

#![allow(dead_code)]

pub mod chdb;
pub mod clickhouse;
pub mod fleet;
pub mod sessions;

use rumprops_collector::server::{start_in_thread, ServeConfig};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;

/// A running collector and its database file (removed with the tempdir).
pub struct Collector {
    pub addr: SocketAddr,
    pub db: PathBuf,
    _dir: tempfile::TempDir,
}

/// Starts a collector on 127.0.0.1:0; `edit` adjusts the config first.
pub fn start(edit: impl FnOnce(&mut ServeConfig)) -> Collector {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("collector.db");
    let mut config = ServeConfig::new(db.clone(), "127.0.0.1:0".parse().unwrap());
    edit(&mut config);
    let addr = start_in_thread(config).unwrap();
    Collector { addr, db, _dir: dir }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends one request (`Connection: close`) and reads the whole response.
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    try_request(addr, method, path, headers, body).unwrap()
}

/// [`request`] that reports a refused or broken connection instead of panicking, and gives up
/// on a response after 20 s.
pub fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    // The server may answer (413) before reading all of a large body and close: ignore write errors.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    // A reset after the response (the server closed with the body unread) still has the answer.
    let read = s.read_to_end(&mut raw);
    if let (Err(e), true) = (&read, raw.is_empty()) {
        return Err(std::io::Error::new(e.kind(), e.to_string()));
    }
    if raw.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed without a response"));
    }
    Ok(parse_response(&raw))
}

/// Reads a raw HTTP/1.1 response.
pub fn parse_response(raw: &[u8]) -> Response {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = body.to_owned();
    if head.lines().any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding: chunked")) {
        body = dechunk(&body);
    }
    Response { status, headers, body }
}

fn dechunk(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// POSTs a beacon as the agent does (text/plain, no preflight).
pub fn post_beacon(addr: SocketAddr, body: &str, extra: &[(&str, &str)]) -> Response {
    let mut headers = vec![("Content-Type", "text/plain;charset=UTF-8")];
    headers.extend_from_slice(extra);
    request(addr, "POST", "/beacon", &headers, body.as_bytes())
}

/// Percent-encodes a query string value.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// GETs `/table` (or `/tree`) with a query and extra parameters. Without a `startTimestamp`
/// in `extra` the query covers all time (from 1 ms, as the API's default is the last two hours).
pub fn usql(addr: SocketAddr, endpoint: &str, query: &str, extra: &str) -> Response {
    let frame = if extra.contains("startTimestamp") { "" } else { "&startTimestamp=1&endTimestamp=9000000000000000" };
    let path = format!("/api/v1/userSessionQueryLanguage/{endpoint}?query={}{frame}{extra}", encode(query));
    request(addr, "GET", &path, &[], b"")
}

/// Row counts of all tables, to show nothing partial was stored.
pub fn counts(db: &std::path::Path) -> Vec<(&'static str, i64)> {
    let conn = rumprops_collector::store::open_reader(db).unwrap();
    rumprops_collector::store::table_counts(&conn).unwrap()
}

/// A valid beacon: session `sid`, beacon `seq`, with the given session string props and actions.
pub fn beacon(sid: &str, seq: i64, ended: Option<&str>, session_props: serde_json::Value, actions: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "v": 1, "app": "easytravel", "vid": "visitor1", "sid": sid, "seq": seq, "sentAt": 1_732_600_000_000_i64,
        "session": {"start": 1_732_599_000_000_i64, "userId": "alice", "ended": ended, "props": session_props},
        "actions": actions,
        "issues": []
    })
}

/// An action with request errors and action props.
pub fn action(id: &str, start: i64, request_errors: i64, props: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"id": id, "kind": "click", "name": format!("click on {id}"), "start": start, "end": start + 100,
        "url": "https://shop.example/", "requests": request_errors + 1, "requestErrors": request_errors, "jsErrors": 0,
        "props": props})
}

/// What a [`receiver`] was sent: (status it answered, body).
pub type Log = std::sync::Arc<std::sync::Mutex<Vec<(u16, String)>>>;

/// An HTTP receiver on loopback (an export target, an alert webhook) that answers 500 to the
/// first `failures` requests and 200 afterwards, keeping every body it was sent and what it
/// answered: its URL and its log.
pub fn receiver(failures: usize) -> (String, Log) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/sessions", listener.local_addr().unwrap());
    let seen = Log::default();
    let log = std::sync::Arc::clone(&seen);
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let status = if n < failures { 500 } else { 200 };
            log.lock().unwrap().push((status, String::from_utf8(body).unwrap()));
            let _ = write!(stream, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (url, seen)
}

/// A load action carrying every measured member of a beacon action: timings, resources, Apdex,
/// rage clicks and `errors`.
pub fn measured_load(id: &str, start: i64, errors: serde_json::Value) -> serde_json::Value {
    let mut a = action(id, start, 0, serde_json::json!({}));
    a["kind"] = serde_json::json!("load");
    a["end"] = serde_json::json!(start + 900);
    a["jsErrors"] = serde_json::json!(errors.as_array().map_or(0, Vec::len));
    a["timings"] = serde_json::json!({"navigationStart": start, "requestStart": 20, "responseStart": 120, "responseEnd": 150,
        "documentInteractiveTime": 400, "domContentLoadedTime": 420, "domCompleteTime": 700, "loadEventStart": 700,
        "loadEventEnd": 710, "largestContentfulPaint": 380, "firstInputDelay": 4, "interactionToNextPaint": 48,
        "visuallyCompleteTime": 650, "speedIndex": 300, "cumulativeLayoutShift": 0.125});
    a["resources"] = serde_json::json!({"firstParty": 7, "thirdParty": 2, "cdn": 1});
    a["apdex"] = serde_json::json!("SATISFIED");
    a["rageClicks"] = serde_json::json!(1);
    a["errors"] = errors;
    a
}
