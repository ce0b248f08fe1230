//! Per-client token buckets for `POST /beacon`.
//!
//! Each client IP has a bucket of `burst` tokens refilled at `per_sec` tokens per second; a
//! beacon takes one. An agent flushes at most every few seconds, so the default (20/s, burst
//! 60) only stops floods. Time is an input so tests need no sleeping.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets kept before idle full ones are dropped, bounding memory under many clients.
const MAX_TRACKED_CLIENTS: usize = 100_000;

/// Rate limit settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Tokens added per second.
    pub per_sec: f64,
    /// Bucket size: the burst a client may send at once.
    pub burst: f64,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit { per_sec: 20.0, burst: 60.0 }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of all clients.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    /// A limiter with the given settings.
    pub fn new(limit: RateLimit) -> RateLimiter {
        RateLimiter { limit, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes a token for `ip` at `now`; `Err(seconds)` tells when to retry.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(()) };
        if buckets.len() >= MAX_TRACKED_CLIENTS {
            let (per_sec, burst) = (self.limit.per_sec, self.limit.burst);
            buckets.retain(|_, b| b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_sec < burst);
        }
        let b = buckets.entry(ip).or_insert(Bucket { tokens: self.limit.burst, at: now });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.limit.per_sec).min(self.limit.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else if self.limit.per_sec > 0.0 {
            Err(((1.0 - b.tokens) / self.limit.per_sec).ceil().max(1.0) as u64)
        } else {
            Err(60)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let rl = RateLimiter::new(RateLimit { per_sec: 2.0, burst: 3.0 });
        let ip: IpAddr = [127, 0, 0, 1].into();
        let other: IpAddr = [127, 0, 0, 2].into();
        let t0 = Instant::now();
        assert!((0..3).all(|_| rl.check(ip, t0).is_ok()));
        assert_eq!(rl.check(ip, t0), Err(1));
        assert!(rl.check(other, t0).is_ok(), "buckets are per client");
        assert!(rl.check(ip, t0 + Duration::from_millis(500)).is_ok());
        assert!(rl.check(ip, t0 + Duration::from_millis(500)).is_err());
    }
}
