//! Per-request bounds: a request body read that enforces a minimum rate, and a per-client cap
//! on concurrent queries.
//!
//! The body rule: after `grace`, a body must keep arriving at `min_bytes_per_sec` on average
//! (from the start of the read), so a phone on a slow network still gets its 64 KiB through
//! while a client that announces 60,000 bytes and sends 10 is cut after about `grace`.

use axum::body::{Body, Bytes};
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The minimum rate a request body must arrive at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BodyRate {
    /// Time a body may take before the rate applies.
    pub grace: Duration,
    /// Average bytes per second required after `grace` (0: the whole body within `grace`).
    pub min_bytes_per_sec: u64,
}

impl Default for BodyRate {
    /// 10 s, then 1 KiB/s: 64 KiB may take 74 s; 8 kbit/s is below any mobile network in use.
    fn default() -> Self {
        BodyRate { grace: Duration::from_secs(10), min_bytes_per_sec: 1024 }
    }
}

impl BodyRate {
    /// The time by which `received` bytes must have arrived, from the start of the read.
    pub fn allowed(&self, received: usize) -> Duration {
        if self.min_bytes_per_sec == 0 {
            return self.grace;
        }
        self.grace + Duration::from_secs_f64(received as f64 / self.min_bytes_per_sec as f64)
    }
}

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than the limit.
    TooLarge,
    /// Slower than the [`BodyRate`].
    TooSlow,
    /// The connection failed or closed before the end of the body.
    Broken,
}

/// Reads a whole body of at most `max` bytes at no less than `rate`.
pub async fn read_body(body: Body, max: usize, rate: BodyRate) -> Result<Bytes, BodyError> {
    let start = tokio::time::Instant::now();
    let mut body = body;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // The next frame must come before the bytes so far fall below the rate.
        let deadline = start + rate.allowed(buf.len());
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(BodyError::TooSlow),
            Ok(None) => return Ok(Bytes::from(buf)),
            Ok(Some(Err(_))) => return Err(BodyError::Broken),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    if buf.len() + data.len() > max {
                        return Err(BodyError::TooLarge);
                    }
                    buf.extend_from_slice(&data);
                }
            }
        }
    }
}

/// Who a per-client limit counts: the API token a request carries, else the client's address,
/// so the clients of one token share its limit wherever they connect from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// A request with an API token, by the token's hash (the secret itself is not kept).
    Token(String),
    /// A client without credentials, by its address.
    Ip(IpAddr),
}

/// At most `limit` requests at a time per client; the rest are refused (not queued), so one
/// client's burst of heavy queries cannot take every query slot.
#[derive(Debug)]
pub struct PerClientLimit {
    limit: usize,
    running: Arc<Mutex<HashMap<ClientKey, usize>>>,
}

/// A running request's place in its client's count, given back when dropped.
#[derive(Debug)]
pub struct ClientSlot {
    key: ClientKey,
    running: Arc<Mutex<HashMap<ClientKey, usize>>>,
}

impl PerClientLimit {
    /// A limit of `limit` concurrent requests per client (0: no limit).
    pub fn new(limit: usize) -> PerClientLimit {
        PerClientLimit { limit, running: Arc::new(Mutex::new(HashMap::new())) }
    }

    /// A slot for `key`, or `None` when the client already runs `limit` requests.
    pub fn try_acquire(&self, key: ClientKey) -> Option<ClientSlot> {
        let mut running = self.running.lock().ok()?;
        let n = running.entry(key.clone()).or_insert(0);
        if self.limit > 0 && *n >= self.limit {
            return None;
        }
        *n += 1;
        Some(ClientSlot { key, running: Arc::clone(&self.running) })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        if let Ok(mut running) = self.running.lock() {
            if let Some(n) = running.get_mut(&self.key) {
                *n -= 1;
                if *n == 0 {
                    running.remove(&self.key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_per_client() {
        let l = PerClientLimit::new(2);
        let a = ClientKey::Ip("10.0.0.1".parse().unwrap());
        let b = ClientKey::Ip("10.0.0.2".parse().unwrap());
        let s1 = l.try_acquire(a.clone()).unwrap();
        let _s2 = l.try_acquire(a.clone()).unwrap();
        assert!(l.try_acquire(a.clone()).is_none());
        let _other = l.try_acquire(b).unwrap();
        drop(s1);
        assert!(l.try_acquire(a).is_some());
    }

    #[test]
    fn a_slow_phone_gets_64_kib_through() {
        let r = BodyRate::default();
        // 64 KiB at 2 KiB/s (16 kbit/s) takes 32 s; the rule allows 74 s.
        assert!(r.allowed(64 * 1024) >= Duration::from_secs(32));
        // 10 bytes of a promised 60,000 are cut at about the grace period.
        assert!(r.allowed(10) < Duration::from_millis(10_010));
    }

    #[tokio::test]
    async fn reads_stop_at_the_limit() {
        let rate = BodyRate::default();
        assert_eq!(read_body(Body::from("abc"), 3, rate).await.unwrap(), Bytes::from("abc"));
        assert_eq!(read_body(Body::from("abcd"), 3, rate).await, Err(BodyError::TooLarge));
    }
}
