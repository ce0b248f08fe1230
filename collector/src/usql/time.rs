//! Calendar arithmetic for USQL, independent of any store: the `DATETIME` format letters and
//! intervals, `YEAR` … `MINUTE`, date-time string literals, `DURATION("2h")` units and IP
//! address keys. Times are epoch milliseconds; "local" times are UTC shifted by the query's
//! `offsetUTC` (minutes), so with no offset everything is UTC.

const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month 1–12, day 1–31) of a day number.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

/// The parts of a local time in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// Year.
    pub year: i64,
    /// Month 1–12.
    pub month: u32,
    /// Day of month 1–31.
    pub day: u32,
    /// Hour 0–23.
    pub hour: u32,
    /// Minute 0–59.
    pub minute: u32,
    /// Second 0–59.
    pub second: u32,
    /// ISO day of week, 1 = Monday … 7 = Sunday.
    pub weekday: u32,
}

/// Splits a time (ms) into its calendar parts.
pub fn parts(ms: i64) -> Parts {
    let days = ms.div_euclid(DAY_MS);
    let rem = ms.rem_euclid(DAY_MS);
    let (year, month, day) = civil_from_days(days);
    Parts {
        year,
        month,
        day,
        hour: (rem / 3_600_000) as u32,
        minute: (rem / 60_000 % 60) as u32,
        second: (rem / 1000 % 60) as u32,
        weekday: ((days + 3).rem_euclid(7) + 1) as u32,
    }
}

/// A `DATETIME` interval: the size of the buckets times fall into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interval {
    /// No bucketing: the time as it is (the format alone decides what is shown).
    None,
    /// Fixed-size buckets of this many ms, aligned to the epoch in local time.
    Fixed(i64),
    /// Calendar weeks starting on Monday.
    Week,
    /// Calendar months.
    Month,
    /// Calendar years.
    Year,
}

impl Interval {
    /// Reads `5m`, `1h`, `7d`, `30s`, `week`, `month`, `year`, `day`, `hour`, `minute`, `second`.
    pub fn parse(text: &str) -> Option<Interval> {
        let t = text.trim();
        match t.to_ascii_lowercase().as_str() {
            "year" => return Some(Interval::Year),
            "month" => return Some(Interval::Month),
            "week" => return Some(Interval::Week),
            "day" => return Some(Interval::Fixed(DAY_MS)),
            "hour" => return Some(Interval::Fixed(3_600_000)),
            "minute" => return Some(Interval::Fixed(60_000)),
            "second" => return Some(Interval::Fixed(1000)),
            _ => {}
        }
        let split = t.find(|c: char| !c.is_ascii_digit())?;
        let n: i64 = t[..split].parse().ok().filter(|n| *n > 0)?;
        let unit = match &t[split..] {
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => DAY_MS,
            "w" => 7 * DAY_MS,
            _ => return None,
        };
        n.checked_mul(unit).map(Interval::Fixed)
    }

    /// The start of the bucket holding local time `ms`.
    pub fn floor(self, ms: i64) -> i64 {
        match self {
            Interval::None => ms,
            Interval::Fixed(size) => ms.div_euclid(size) * size,
            Interval::Week => {
                let days = ms.div_euclid(DAY_MS);
                (days - (days + 3).rem_euclid(7)) * DAY_MS
            }
            Interval::Month => {
                let p = parts(ms);
                days_from_civil(p.year, p.month, 1) * DAY_MS
            }
            Interval::Year => days_from_civil(parts(ms).year, 1, 1) * DAY_MS,
        }
    }
}

/// The default `DATETIME` format.
pub const DEFAULT_FORMAT: &str = "yyyy-MM-dd HH:mm";

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const DAY_NAMES_LONG: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const MONTH_NAMES: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const MONTH_NAMES_LONG: [&str; 12] = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
    "December",
];

/// Letters that are format fields; other ASCII letters are refused so a typo is an error.
pub const FORMAT_LETTERS: &str = "yuMdHhmsSEecaD";

/// Whether a `DATETIME` format only uses known letters (text in `'…'` is literal).
pub fn check_format(format: &str) -> Result<(), char> {
    let mut quoted = false;
    for c in format.chars() {
        if c == '\'' {
            quoted = !quoted;
        } else if !quoted && c.is_ascii_alphabetic() && !FORMAT_LETTERS.contains(c) {
            return Err(c);
        }
    }
    Ok(())
}

/// Formats local time `ms` with the Java-style letters of the USQL docs: `y`/`u` year (`yy` two
/// digits), `M` month (`MMM` Jan, `MMMM` January), `d` day, `D` day of year, `H` hour 0–23,
/// `h` hour 1–12, `a` AM/PM, `m` minute, `s` second, `S` milliseconds, `E` day of week (`Mon`,
/// `EEEE` Monday), `e` day of week 1–7 with 1 = Sunday, `c` as `E`. A run of a letter pads
/// numbers to its length; `'text'` is literal, `''` a quote.
pub fn format(ms: i64, fmt: &str) -> String {
    let p = parts(ms);
    let mut out = String::new();
    for piece in format_pieces(fmt) {
        let (c, run) = match piece {
            FormatPiece::Text(t) => {
                out.push_str(&t);
                continue;
            }
            FormatPiece::Field(c, run) => (c, run),
        };
        let num = |v: i64, out: &mut String| out.push_str(&format!("{v:0run$}"));
        match c {
            'y' | 'u' if run == 2 => num(p.year.rem_euclid(100), &mut out),
            'y' | 'u' => num(p.year, &mut out),
            'M' if run >= 4 => out.push_str(MONTH_NAMES_LONG[(p.month - 1) as usize]),
            'M' if run == 3 => out.push_str(MONTH_NAMES[(p.month - 1) as usize]),
            'M' => num(i64::from(p.month), &mut out),
            'd' => num(i64::from(p.day), &mut out),
            'D' => {
                let doy = ms.div_euclid(DAY_MS) - days_from_civil(p.year, 1, 1) + 1;
                num(doy, &mut out)
            }
            'H' => num(i64::from(p.hour), &mut out),
            'h' => num(i64::from((p.hour + 11) % 12 + 1), &mut out),
            'a' => out.push_str(if p.hour < 12 { "AM" } else { "PM" }),
            'm' => num(i64::from(p.minute), &mut out),
            's' => num(i64::from(p.second), &mut out),
            'S' => num(ms.rem_euclid(1000), &mut out),
            'E' | 'c' if run >= 4 => out.push_str(DAY_NAMES_LONG[(p.weekday - 1) as usize]),
            'E' | 'c' => out.push_str(DAY_NAMES[(p.weekday - 1) as usize]),
            _ => num(i64::from(p.weekday % 7 + 1), &mut out), // 'e'
        }
    }
    out
}

/// One piece of a DATETIME format: literal text, or a run of one format letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatPiece {
    /// Text copied as it is (quoted text, `''`, other characters).
    Text(String),
    /// A letter of [`FORMAT_LETTERS`] and how many times it is repeated.
    Field(char, usize),
}

/// A format split into its pieces, adjacent text merged: what [`format`] and the stores'
/// DATETIME translations walk.
pub fn format_pieces(fmt: &str) -> Vec<FormatPiece> {
    let chars: Vec<char> = fmt.chars().collect();
    let mut out = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                text.push('\'');
                i += 2;
                continue;
            }
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '\'' {
                text.push(chars[j]);
                j += 1;
            }
            i = j + 1;
            continue;
        }
        let mut run = 1;
        while chars.get(i + run) == Some(&c) {
            run += 1;
        }
        if FORMAT_LETTERS.contains(c) {
            if !text.is_empty() {
                out.push(FormatPiece::Text(std::mem::take(&mut text)));
            }
            out.push(FormatPiece::Field(c, run));
        } else {
            text.extend(std::iter::repeat_n(c, run));
        }
        i += run;
    }
    if !text.is_empty() {
        out.push(FormatPiece::Text(text));
    }
    out
}

/// A date part of `YEAR`, `MONTH`, `DAY`, `HOUR`, `MINUTE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatePart {
    /// Four-digit year.
    Year,
    /// 1–12.
    Month,
    /// 1–31.
    Day,
    /// 0–23.
    Hour,
    /// 0–59.
    Minute,
}

impl DatePart {
    /// The part of local time `ms`.
    pub fn of(self, ms: i64) -> i64 {
        let p = parts(ms);
        match self {
            DatePart::Year => p.year,
            DatePart::Month => i64::from(p.month),
            DatePart::Day => i64::from(p.day),
            DatePart::Hour => i64::from(p.hour),
            DatePart::Minute => i64::from(p.minute),
        }
    }

    /// A small code for passing the part to a store function.
    pub fn code(self) -> i64 {
        self as i64
    }

    /// The part of a code from [`DatePart::code`].
    pub fn from_code(code: i64) -> Option<DatePart> {
        [DatePart::Year, DatePart::Month, DatePart::Day, DatePart::Hour, DatePart::Minute].get(usize::try_from(code).ok()?).copied()
    }
}

/// A `DURATION` unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// `y`
    Year,
    /// `q`
    Quarter,
    /// `M`
    Month,
    /// `w`
    Week,
    /// `d`
    Day,
    /// `h`
    Hour,
    /// `m`
    Minute,
    /// `s`
    Second,
}

/// Reads `DURATION`'s argument: a count and a unit letter (`2h`, `30m`, `1M`, `7d`).
pub fn parse_duration(text: &str) -> Option<(i64, Unit)> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let n: i64 = t[..split].parse().ok()?;
    let unit = match t[split..].trim() {
        "y" => Unit::Year,
        "q" => Unit::Quarter,
        "M" => Unit::Month,
        "w" => Unit::Week,
        "d" => Unit::Day,
        "h" => Unit::Hour,
        "m" => Unit::Minute,
        "s" => Unit::Second,
        _ => return None,
    };
    Some((n, unit))
}

/// `ms` moved by `n` units (calendar units keep the time of day and clamp the day of month).
pub fn add(ms: i64, n: i64, unit: Unit) -> Option<i64> {
    let fixed = |size: i64| n.checked_mul(size).and_then(|d| ms.checked_add(d));
    let months = |k: i64| -> Option<i64> {
        let p = parts(ms);
        let total = p.year.checked_mul(12)?.checked_add(i64::from(p.month) - 1)?.checked_add(k)?;
        let (y, m) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u32);
        let last = days_in_month(y, m);
        let day = p.day.min(last);
        Some(days_from_civil(y, m, day) * DAY_MS + ms.rem_euclid(DAY_MS))
    };
    match unit {
        Unit::Year => months(n.checked_mul(12)?),
        Unit::Quarter => months(n.checked_mul(3)?),
        Unit::Month => months(n),
        Unit::Week => fixed(7 * DAY_MS),
        Unit::Day => fixed(DAY_MS),
        Unit::Hour => fixed(3_600_000),
        Unit::Minute => fixed(60_000),
        Unit::Second => fixed(1000),
    }
}

fn days_in_month(y: i64, m: u32) -> u32 {
    let next = if m == 12 { days_from_civil(y + 1, 1, 1) } else { days_from_civil(y, m + 1, 1) };
    (next - days_from_civil(y, m, 1)) as u32
}

/// A date-time string literal: epoch ms, and whether the text gave its own UTC offset (ISO
/// form); otherwise the time is local (shift it by `offsetUTC`).
///
/// Accepted: `yyyy-MM-dd'T'HH:mm:ss[.SSS](Z|±HH:mm|±HHmm)`, and `yyyy-MM-dd`, `yyyy/MM/dd`,
/// `MM/dd/yyyy`, `dd.MM.yyyy`, each optionally followed by `HH:mm:ss`, `HH:mm` or `HH`
/// (hours and day/month may have one digit); a string of digits is epoch ms.
pub fn parse_datetime(text: &str) -> Option<(i64, bool)> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().ok().map(|n| (n, true));
    }
    let (date, rest) = match t.find(['T', ' ']) {
        Some(i) => (&t[..i], Some((t.as_bytes()[i], t[i + 1..].trim()))),
        None => (t, None),
    };
    let nums = |s: &str, sep: char| -> Option<Vec<i64>> {
        let v: Vec<&str> = s.split(sep).collect();
        if v.len() != 3 || v.iter().any(|p| p.is_empty() || p.len() > 4 || !p.bytes().all(|b| b.is_ascii_digit())) {
            return None;
        }
        v.iter().map(|p| p.parse().ok()).collect()
    };
    let (y, m, d) = if let Some(v) = nums(date, '-') {
        (v[0], v[1], v[2])
    } else if let Some(v) = nums(date, '/') {
        if date.split('/').next()?.len() == 4 {
            (v[0], v[1], v[2])
        } else {
            (v[2], v[0], v[1])
        }
    } else if let Some(v) = nums(date, '.') {
        (v[2], v[1], v[0])
    } else {
        return None;
    };
    if !(1..=12).contains(&m) || d < 1 || d > i64::from(days_in_month(y, m as u32)) || !(1000..=9999).contains(&y) {
        return None;
    }
    let day_ms = days_from_civil(y, m as u32, d as u32) * DAY_MS;
    let Some((sep, time)) = rest else { return Some((day_ms, false)) };
    // ISO: a `T`, and an offset at the end (`Z`, `+01:00`, `-0500`).
    let (clock, offset) = if sep == b'T' {
        if let Some(c) = time.strip_suffix('Z') {
            (c, Some(0))
        } else {
            let i = time.rfind(['+', '-'])?;
            let off = &time[i + 1..];
            let digits: String = off.chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let minutes = digits[..2].parse::<i64>().ok()? * 60 + digits[2..].parse::<i64>().ok()?;
            (&time[..i], Some(if time.as_bytes()[i] == b'-' { -minutes } else { minutes }))
        }
    } else {
        (time, None)
    };
    let (clock, millis) = match clock.split_once('.') {
        Some((c, f)) if sep == b'T' && !f.is_empty() && f.len() <= 3 && f.bytes().all(|b| b.is_ascii_digit()) => {
            (c, f.parse::<i64>().ok()? * 10_i64.pow(3 - f.len() as u32))
        }
        Some(_) => return None,
        None => (clock, 0),
    };
    let hms: Vec<&str> = clock.split(':').collect();
    if hms.is_empty() || hms.len() > 3 || hms.iter().any(|p| p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    if sep == b'T' && hms.len() < 2 {
        return None;
    }
    let v: Vec<i64> = hms.iter().map(|p| p.parse().unwrap_or(99)).collect();
    let (h, mi, s) = (v[0], v.get(1).copied().unwrap_or(0), v.get(2).copied().unwrap_or(0));
    if h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let local = day_ms + h * 3_600_000 + mi * 60_000 + s * 1000 + millis;
    Some(match offset {
        Some(off) => (local - off * 60_000, true),
        None => (local, false),
    })
}

/// A key that orders IP addresses: 16 bytes, IPv4 as IPv4-mapped IPv6 (`::ffff:a.b.c.d`), so
/// ranges of either family compare by address.
pub fn ip_key(text: &str) -> Option<[u8; 16]> {
    let ip: std::net::IpAddr = text.trim().parse().ok()?;
    Some(match ip {
        std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        std::net::IpAddr::V6(v6) => v6.octets(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        for days in [-800_000, -1, 0, 1, 59, 60, 10_957, 19_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn formats_and_buckets() {
        let t = 1_732_599_045_123; // 2024-11-26 05:30:45.123 UTC, a Tuesday
        assert_eq!(format(t, DEFAULT_FORMAT), "2024-11-26 05:30");
        assert_eq!(format(t, "E HH:mm:ss.SSS"), "Tue 05:30:45.123");
        assert_eq!(format(t, "MM/dd/yyyy hh:mm a"), "11/26/2024 05:30 AM");
        assert_eq!(format(t, "EEEE d MMM yy 'at' H'h' e"), "Tuesday 26 Nov 24 at 5h 3");
        assert_eq!(format(Interval::parse("5m").unwrap().floor(t), "HH:mm"), "05:30");
        assert_eq!(format(Interval::parse("1h").unwrap().floor(t), "HH:mm"), "05:00");
        assert_eq!(format(Interval::Week.floor(t), "yyyy-MM-dd E"), "2024-11-25 Mon");
        assert_eq!(format(Interval::Month.floor(t), "yyyy-MM-dd HH:mm"), "2024-11-01 00:00");
        assert_eq!(format(Interval::Year.floor(t), "yyyy-MM-dd"), "2024-01-01");
        assert_eq!(Interval::parse("7d"), Some(Interval::Fixed(7 * DAY_MS)));
        assert_eq!(Interval::parse("0m"), None);
        assert_eq!(Interval::parse("5x"), None);
        assert_eq!(DatePart::Hour.of(t), 5);
        assert_eq!(check_format("yyyy-MM-dd 'week' ww"), Err('w'));
    }

    #[test]
    fn date_literals() {
        let t = 1_514_152_800_000; // 2017-12-24T22:00:00Z
        assert_eq!(parse_datetime("2017-12-24T23:00:00+01:00"), Some((t, true)));
        assert_eq!(parse_datetime("2017-12-24T22:00:00Z"), Some((t, true)));
        assert_eq!(parse_datetime("2017-12-24 22:00:00"), Some((t, false)));
        assert_eq!(parse_datetime("2017/12/24 22:00"), Some((t, false)));
        assert_eq!(parse_datetime("12/24/2017 22"), Some((t, false)));
        assert_eq!(parse_datetime("24.12.2017 22:00:00"), Some((t, false)));
        assert_eq!(parse_datetime("8.8.2018 8:00"), Some((1_533_715_200_000, false)));
        assert_eq!(parse_datetime("2017-12-24"), Some((t - 22 * 3_600_000, false)));
        assert_eq!(parse_datetime("1514152800000"), Some((t, true)));
        assert_eq!(parse_datetime("2017-02-30"), None);
        assert_eq!(parse_datetime("2017-12-24 25:00"), None);
        assert_eq!(parse_datetime("yesterday"), None);
    }

    #[test]
    fn durations_and_calendar_steps() {
        assert_eq!(parse_duration("2h"), Some((2, Unit::Hour)));
        assert_eq!(parse_duration("1M"), Some((1, Unit::Month)));
        assert_eq!(parse_duration("2x"), None);
        let jan31 = days_from_civil(2024, 1, 31) * DAY_MS;
        assert_eq!(add(jan31, 1, Unit::Month), Some(days_from_civil(2024, 2, 29) * DAY_MS));
        assert_eq!(add(jan31, -1, Unit::Year), Some(days_from_civil(2023, 1, 31) * DAY_MS));
        assert_eq!(add(0, 2, Unit::Hour), Some(7_200_000));
    }

    #[test]
    fn ip_keys_order_addresses() {
        let k = |s| ip_key(s).unwrap();
        assert!(k("1.2.3.4") < k("1.2.3.10"));
        assert!(k("9.0.0.0") < k("10.0.0.0"));
        assert!(k("255.255.255.255") < k("2001:db8::1"));
        assert_eq!(ip_key("1.2.3"), None);
    }
}
