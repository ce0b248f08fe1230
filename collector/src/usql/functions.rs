//! SQL functions the USQL translation needs and SQLite does not have in the form USQL means:
//! case-sensitive `LIKE` and `STARTSWITH` (SQLite's `LIKE` ignores ASCII case),
//! `MEDIAN`/`PERCENTILE` (not in every SQLite build), the date functions (`DATETIME`, `YEAR`
//! … `MINUTE`, calendar rules in `time.rs`), `TOP` as a list, and IP address keys.

use rusqlite::functions::{Aggregate, Context, FunctionFlags};
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use crate::usql::time;

/// Registers `usql_like(value, pattern)`, `usql_startswith(value, prefix)` and the aggregate
/// `usql_percentile(x, p)` on a connection.
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("usql_like", 2, flags, |ctx| {
        Ok(match (text(ctx, 0)?, text(ctx, 1)?) {
            (Some(v), Some(p)) => Some(like(&v, &p)),
            _ => None,
        })
    })?;
    conn.create_scalar_function("usql_startswith", 2, flags, |ctx| {
        Ok(match (text(ctx, 0)?, text(ctx, 1)?) {
            (Some(v), Some(p)) => Some(v.starts_with(&p)),
            _ => None,
        })
    })?;
    conn.create_aggregate_function("usql_percentile", 2, flags, Percentile)?;
    // usql_datepart(ms, part code, offset minutes)
    conn.create_scalar_function("usql_datepart", 3, flags, |ctx| {
        let (Some(ms), Some(part), off) = (ctx.get::<Option<i64>>(0)?, ctx.get::<Option<i64>>(1)?, ctx.get::<Option<i64>>(2)?) else {
            return Ok(None);
        };
        let part = time::DatePart::from_code(part);
        Ok(part.and_then(|p| local(ms, off).map(|t| p.of(t))))
    })?;
    // usql_datetime(ms, format, interval code, offset minutes)
    conn.create_scalar_function("usql_datetime", 4, flags, |ctx| {
        let (Some(ms), Some(fmt)) = (ctx.get::<Option<i64>>(0)?, text(ctx, 1)?) else { return Ok(None) };
        let interval = crate::usql::sqlite::interval_of_code(ctx.get::<Option<i64>>(2)?.unwrap_or(0));
        Ok(local(ms, ctx.get::<Option<i64>>(3)?).map(|t| time::format(interval.floor(t), &fmt)))
    })?;
    conn.create_scalar_function("usql_ip", 1, flags, |ctx| {
        Ok(text(ctx, 0)?.and_then(|t| time::ip_key(&t)).map(|k| k.to_vec()))
    })?;
    conn.create_aggregate_function("usql_top", 2, flags, Top)?;
    Ok(())
}

/// Local time of `ms` at `offset` minutes east of UTC.
fn local(ms: i64, offset: Option<i64>) -> Option<i64> {
    ms.checked_add(offset.unwrap_or(0).checked_mul(60_000)?)
}

/// `usql_top(x, n)`: the `n` most frequent non-NULL values of `x` as a JSON array, most
/// frequent first (equal counts by value).
struct Top;

/// Counts per value seen so far, and the size asked for.
#[derive(Default)]
struct TopAcc {
    counts: std::collections::HashMap<String, (u64, serde_json::Value)>,
    n: usize,
}

impl Aggregate<TopAcc, Option<String>> for Top {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<TopAcc> {
        Ok(TopAcc::default())
    }

    fn step(&self, ctx: &mut Context<'_>, acc: &mut TopAcc) -> rusqlite::Result<()> {
        if acc.n == 0 {
            acc.n = usize::try_from(ctx.get::<Option<i64>>(1)?.unwrap_or(1)).unwrap_or(1).max(1);
        }
        let v = match ctx.get_raw(0) {
            ValueRef::Integer(n) => serde_json::Value::from(n),
            ValueRef::Real(x) => serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number),
            ValueRef::Text(t) => serde_json::Value::String(String::from_utf8_lossy(t).into_owned()),
            _ => return Ok(()),
        };
        acc.counts.entry(v.to_string()).or_insert((0, v)).0 += 1;
        Ok(())
    }

    fn finalize(&self, _: &mut Context<'_>, acc: Option<TopAcc>) -> rusqlite::Result<Option<String>> {
        let Some(acc) = acc else { return Ok(Some("[]".to_owned())) };
        let mut all: Vec<(String, (u64, serde_json::Value))> = acc.counts.into_iter().collect();
        all.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then_with(|| a.0.cmp(&b.0)));
        let list: Vec<serde_json::Value> = all.into_iter().take(acc.n).map(|(_, (_, v))| v).collect();
        Ok(Some(serde_json::Value::Array(list).to_string()))
    }
}

/// A text argument; NULL (and any non-text value) is `None`, so the predicate is NULL.
fn text(ctx: &Context<'_>, i: usize) -> rusqlite::Result<Option<String>> {
    Ok(match ctx.get_raw(i) {
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        _ => None,
    })
}

/// USQL `LIKE`: `%` or `*` match any run of characters, `?` one character, `\` escapes the next
/// character (`\%`, `\*`, `\?`, `\\`); everything else matches itself, case-sensitively.
pub fn like(value: &str, pattern: &str) -> bool {
    let v: Vec<char> = value.chars().collect();
    let mut p: Vec<(char, bool)> = Vec::new(); // (char, is a literal)
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => p.push((it.next().unwrap_or('\\'), true)),
            c => p.push((c, false)),
        }
    }
    // Iterative wildcard matching with one backtrack point: linear in practice, no recursion.
    let (mut vi, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        match p.get(pi) {
            Some(&(c, false)) if c == '%' || c == '*' => {
                star = Some((pi, vi));
                pi += 1;
            }
            Some(&(c, lit)) if (c == '?' && !lit) || c == v[vi] => {
                pi += 1;
                vi += 1;
            }
            _ => match star {
                Some((sp, sv)) => {
                    pi = sp + 1;
                    vi = sv + 1;
                    star = Some((sp, sv + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&(c, lit)| !lit && (c == '%' || c == '*'))
}

/// `usql_percentile(x, p)`: the p-th percentile (0..=100) of the non-NULL numeric `x`, by linear
/// interpolation between the two closest ranks (so the median of 1 and 2 is 1.5).
struct Percentile;

/// Values seen so far and the percentile asked for.
#[derive(Default)]
struct PercentileAcc {
    values: Vec<f64>,
    p: Option<f64>,
}

impl Aggregate<PercentileAcc, Option<f64>> for Percentile {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<PercentileAcc> {
        Ok(PercentileAcc::default())
    }

    fn step(&self, ctx: &mut Context<'_>, acc: &mut PercentileAcc) -> rusqlite::Result<()> {
        if acc.p.is_none() {
            acc.p = ctx.get::<Option<f64>>(1)?;
        }
        match ctx.get_raw(0) {
            ValueRef::Integer(n) => acc.values.push(n as f64),
            ValueRef::Real(x) => acc.values.push(x),
            _ => {}
        }
        Ok(())
    }

    fn finalize(&self, _: &mut Context<'_>, acc: Option<PercentileAcc>) -> rusqlite::Result<Option<f64>> {
        let Some(mut acc) = acc else { return Ok(None) };
        Ok(percentile(&mut acc.values, acc.p.unwrap_or(50.0)))
    }
}

/// The p-th percentile of `values` (sorted in place); `None` when empty.
pub fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = (p.clamp(0.0, 100.0) / 100.0) * (values.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let (a, b) = (values.get(lo).copied()?, values.get(hi).copied()?);
    Some(a + (b - a) * (rank - lo as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        assert!(like("Gold", "G%"));
        assert!(like("Gold", "*ol*"));
        assert!(like("Gold", "G?ld"));
        assert!(!like("Gold", "G_ld"));
        assert!(like("G_ld", "G_ld"));
        assert!(like("a?", "a\\?"));
        assert!(!like("ab", "a\\?"));
        assert!(like("AU\\x40", "AU\\\\%40"));
        assert!(!like("Gold", "g%"));
        assert!(like("50%", "50\\%"));
        assert!(!like("500", "50\\%"));
        assert!(like("", "%"));
        assert!(!like("abc", "ab"));
        assert!(like("aXbXc", "%b%c"));
    }

    #[test]
    fn percentiles() {
        assert_eq!(percentile(&mut [2.0, 1.0], 50.0), Some(1.5));
        assert_eq!(percentile(&mut [5.0, 1.0, 3.0], 50.0), Some(3.0));
        assert_eq!(percentile(&mut [1.0, 2.0, 3.0, 4.0, 5.0], 90.0), Some(4.6));
        assert_eq!(percentile(&mut [], 50.0), None);
    }
}
