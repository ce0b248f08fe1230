//! What to do with a collector's answer (DESIGN.md §5): accept, retry later, or give up.
//!
//! Backoff is exponential with jitter so that many pages recovering from one collector outage
//! do not retry in step; the jitter is an input in [0, 1) so tests are exact.

/// First retry delay.
pub const BASE_BACKOFF_MS: u64 = 1_000;
/// Longest delay backoff alone produces.
pub const MAX_BACKOFF_MS: u64 = 5 * 60_000;
/// A `Retry-After` longer than this is cut to it (a misconfigured proxy must not park data for days).
pub const MAX_RETRY_AFTER_MS: u64 = 60 * 60_000;
/// A beacon is given up after this many failed attempts …
pub const MAX_ATTEMPTS: u32 = 12;
/// … or when it is older than this (the collector would see a stale session anyway).
pub const MAX_BEACON_AGE_MS: i64 = 24 * 60 * 60_000;

/// The class of a collector response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: stored (or a duplicate the collector already had).
    Delivered,
    /// Network error, 408, 429 or 5xx: send again later.
    Retry,
    /// Any other status: the collector will never take it; drop it with a debug warning.
    Drop,
}

/// Classifies a response; `None` is a network error (no status at all).
pub fn classify(status: Option<u16>) -> Verdict {
    match status {
        None | Some(408 | 429 | 500..=599) => Verdict::Retry,
        Some(200..=299) => Verdict::Delivered,
        Some(_) => Verdict::Drop,
    }
}

/// The backoff delay before attempt `failures + 1`: `BASE * 2^(failures-1)` capped at
/// [`MAX_BACKOFF_MS`], scaled into its upper half by `jitter` ("equal jitter": never less than
/// half the exponential delay, so retries still slow down).
pub fn backoff_ms(failures: u32, jitter: f64) -> u64 {
    let exp = failures.saturating_sub(1).min(20);
    let full = BASE_BACKOFF_MS.saturating_mul(1u64 << exp).min(MAX_BACKOFF_MS);
    let j = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 0.0 };
    let half = full / 2;
    half + ((half as f64) * j) as u64
}

/// The delay before the next attempt: the backoff, or the server's `Retry-After` if longer.
pub fn next_delay_ms(failures: u32, jitter: f64, retry_after_ms: Option<u64>) -> u64 {
    backoff_ms(failures, jitter).max(retry_after_ms.unwrap_or(0).min(MAX_RETRY_AFTER_MS))
}

/// Whether to give up a beacon first made at `created` after `failures` failed attempts.
pub fn give_up(failures: u32, created: i64, now: i64) -> bool {
    failures >= MAX_ATTEMPTS || now.saturating_sub(created) > MAX_BEACON_AGE_MS
}

/// Reads a `Retry-After` header: delay-seconds (`120`) or an IMF-fixdate
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, the only HTTP-date form servers must send); a date in the
/// past is no delay. Anything else is ignored (`None`), so the backoff applies. Header values
/// are ASCII by spec (and the browser's `Headers` already strips HTTP white space), so only
/// ASCII white space is trimmed.
pub fn parse_retry_after(value: &str, now: i64) -> Option<u64> {
    let v = value.trim_ascii();
    if let Some(secs) = digits(v.as_bytes()) {
        return Some(secs.saturating_mul(1000));
    }
    let at = parse_imf_fixdate(v)?;
    Some(u64::try_from(at.saturating_sub(now)).unwrap_or(0))
}

/// The value of ASCII decimal digits (saturating); `None` when empty or anything else is there.
fn digits(b: &[u8]) -> Option<u64> {
    let mut n: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.saturating_mul(10).saturating_add(u64::from(c - b'0'));
    }
    (!b.is_empty()).then_some(n)
}

/// Epoch ms of an IMF-fixdate (RFC 9110 §5.6.7): `Wed, 21 Oct 2015 07:28:00 GMT`, every field
/// of a fixed width.
fn parse_imf_fixdate(s: &str) -> Option<i64> {
    const MONTHS: &[u8] = b"JanFebMarAprMayJunJulAugSepOctNovDec";
    let b = s.as_bytes();
    // Fields of at most four digits: never beyond i64.
    let num = |from: usize, len: usize| Some(digits(b.get(from..from + len)?)? as i64);
    // The fixed characters; `_` stands for a field's.
    const SHAPE: &[u8] = b"___, __ ___ ____ __:__:__ GMT";
    if b.len() != SHAPE.len() || b.get(..3)?.contains(&b' ') {
        return None;
    }
    for (i, &c) in SHAPE.iter().enumerate() {
        if c != b'_' && b.get(i) != Some(&c) {
            return None;
        }
    }
    let name = b.get(8..11)?;
    let mut month = 1;
    while MONTHS.get(month * 3 - 3..month * 3)? != name {
        month += 1;
    }
    let (year, month) = (num(12, 4)?, month as i64);
    let (day, h, m, sec) = (num(5, 2)?, num(17, 2)?, num(20, 2)?, num(23, 2)?);
    if day < 1 || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let days = crate::value::days_from_civil(year, month, day);
    if crate::value::civil_from_days(days) != (year, month, day) {
        return None;
    }
    Some(((days * 24 + h) * 60 + m) * 60_000 + sec * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(classify(Some(204)), Verdict::Delivered);
        assert_eq!(classify(Some(200)), Verdict::Delivered);
        for s in [None, Some(408), Some(429), Some(500), Some(503), Some(599)] {
            assert_eq!(classify(s), Verdict::Retry, "{s:?}");
        }
        for s in [Some(400), Some(403), Some(404), Some(413), Some(301), Some(0), Some(600)] {
            assert_eq!(classify(s), Verdict::Drop, "{s:?}");
        }
    }

    #[test]
    fn backoff_grows_with_bounded_jitter() {
        assert_eq!(backoff_ms(1, 0.0), 500);
        assert_eq!(backoff_ms(1, 0.999_999), 999);
        assert_eq!(backoff_ms(2, 0.0), 1_000);
        assert_eq!(backoff_ms(4, 0.5), 6_000);
        let mut last = 0;
        for n in 1..=40 {
            for j in [0.0, 0.3, 0.999] {
                let d = backoff_ms(n, j);
                assert!(d <= MAX_BACKOFF_MS && d >= MAX_BACKOFF_MS.min(BASE_BACKOFF_MS << (n - 1).min(20)) / 2);
            }
            assert!(backoff_ms(n, 0.0) >= last);
            last = backoff_ms(n, 0.0);
        }
        assert_eq!(backoff_ms(u32::MAX, f64::NAN), MAX_BACKOFF_MS / 2);
        assert_eq!(backoff_ms(0, 2.0), BASE_BACKOFF_MS);
    }

    #[test]
    fn retry_after_wins_when_longer_and_is_capped() {
        assert_eq!(next_delay_ms(1, 0.0, Some(30_000)), 30_000);
        assert_eq!(next_delay_ms(10, 0.0, Some(1_000)), backoff_ms(10, 0.0));
        assert_eq!(next_delay_ms(1, 0.0, Some(u64::MAX)), MAX_RETRY_AFTER_MS);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = 1_445_412_480_000 - 60_000; // one minute before Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(parse_retry_after("120", now), Some(120_000));
        assert_eq!(parse_retry_after(" 0 ", now), Some(0));
        assert_eq!(parse_retry_after("99999999999999999999999", now), Some(u64::MAX));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(60_000));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:26:00 GMT", now), Some(0));
        for bad in [
            "",
            "-1",
            "1.5",
            "soon",
            "Wed, 21 Oct 2015 07:28:00 UTC",
            "Wed, 31 Feb 2015 07:28:00 GMT",
            "Wed, 21 Oct 15 07:28:00 GMT",
            "Wednesday, 21-Oct-15 07:28:00 GMT",
            "Wed, 21 Oct 2015 24:00:00 GMT",
            "Wed, 21 Oct 2015 07:28:00 GMT x",
            "Wed, 21 Okt 2015 07:28:00 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn giving_up() {
        assert!(!give_up(MAX_ATTEMPTS - 1, 0, MAX_BEACON_AGE_MS));
        assert!(give_up(MAX_ATTEMPTS, 0, 0));
        assert!(give_up(0, 0, MAX_BEACON_AGE_MS + 1));
    }
}
