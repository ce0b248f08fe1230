//! Typed property values, the typing of raw text, and the reason codes of refused values.

use crate::prelude::*;
/// The four property types of the rule format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropType {
    /// UTF-8 text, truncated to the rule's `maxLength`.
    String,
    /// A signed 64-bit integer.
    Long,
    /// A finite IEEE double.
    Double,
    /// An instant, as epoch milliseconds.
    Date,
}

impl PropType {
    /// The name used in configs and beacons.
    pub fn name(self) -> &'static str {
        match self {
            PropType::String => "string",
            PropType::Long => "long",
            PropType::Double => "double",
            PropType::Date => "date",
        }
    }

    /// Reads a type name.
    pub fn from_name(s: &str) -> Option<PropType> {
        Some(match s {
            "string" => PropType::String,
            "long" => PropType::Long,
            "double" => PropType::Double,
            "date" => PropType::Date,
            _ => return None,
        })
    }

    /// All four, in beacon order.
    pub const ALL: [PropType; 4] = [PropType::String, PropType::Long, PropType::Double, PropType::Date];
}

/// A typed property value.
#[derive(Debug, Clone, PartialEq)]
pub enum PropertyValue {
    /// Text.
    String(String),
    /// An exact 64-bit integer.
    Long(i64),
    /// A finite double.
    Double(f64),
    /// Epoch milliseconds.
    Date(i64),
}

impl PropertyValue {
    /// The type of this value.
    pub fn prop_type(&self) -> PropType {
        match self {
            PropertyValue::String(_) => PropType::String,
            PropertyValue::Long(_) => PropType::Long,
            PropertyValue::Double(_) => PropType::Double,
            PropertyValue::Date(_) => PropType::Date,
        }
    }

    /// Appends the value as a JSON literal (exact integers, shortest round-trip doubles).
    pub fn write_json(&self, out: &mut String) {
        match self {
            PropertyValue::String(s) => crate::json::write_str(out, s),
            PropertyValue::Long(n) | PropertyValue::Date(n) => crate::json::write_i64(out, *n),
            PropertyValue::Double(x) => crate::json::write_f64(out, *x),
        }
    }
}

/// Why a rule produced no value. The names are the reason codes of the beacon format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The source had nothing: no element, attribute, meta, cookie, parameter or global.
    NotFound,
    /// The value was empty after trimming (or after cleanup).
    Empty,
    /// The cleanup pattern did not match.
    NoMatch,
    /// Not an integer literal.
    NotALong,
    /// Not a decimal or exponent number.
    NotADouble,
    /// Not an RFC 3339 date-time, a `YYYY-MM-DD` date or epoch milliseconds, or an impossible date.
    NotADate,
    /// A number outside the type's range (i64, or a double that overflows).
    OutOfRange,
    /// A JS value that is an object, array, function, symbol, or a getter that threw.
    UnsupportedValue,
    /// A password field: never read.
    SensitiveField,
    /// An API call named a key the config does not define.
    InvalidKey,
    /// An API call gave a value of another type than the config's.
    WrongType,
    /// A bound was reached (properties per action, queue, sizes).
    LimitExceeded,
    /// Left out under Do Not Track because the property is not public.
    DntMasked,
}

impl Reason {
    /// The reason code as sent on the wire.
    pub fn code(self) -> &'static str {
        match self {
            Reason::NotFound => "not_found",
            Reason::Empty => "empty",
            Reason::NoMatch => "no_match",
            Reason::NotALong => "not_a_long",
            Reason::NotADouble => "not_a_double",
            Reason::NotADate => "not_a_date",
            Reason::OutOfRange => "out_of_range",
            Reason::UnsupportedValue => "unsupported_value",
            Reason::SensitiveField => "sensitive_field",
            Reason::InvalidKey => "invalid_key",
            Reason::WrongType => "wrong_type",
            Reason::LimitExceeded => "limit_exceeded",
            Reason::DntMasked => "dnt_masked",
        }
    }
}

/// Types already cleaned text. Strings are returned as they are (truncation is separate).
pub fn type_text(text: &str, ty: PropType) -> Result<PropertyValue, Reason> {
    match ty {
        PropType::String => Ok(PropertyValue::String(text.to_owned())),
        PropType::Long => parse_long(text).map(PropertyValue::Long),
        PropType::Double => parse_double(text).map(PropertyValue::Double),
        PropType::Date => parse_date(text).map(PropertyValue::Date),
    }
}

fn is_integer_literal(s: &str) -> bool {
    let digits = match s.as_bytes() {
        [b'+' | b'-', rest @ ..] => rest,
        all => all,
    };
    let mut any = false;
    for d in digits {
        if !d.is_ascii_digit() {
            return false;
        }
        any = true;
    }
    any
}

/// Reads a decimal integer, `[+-]?[0-9]+`, as `str::parse::<i64>` does: `None` for any other
/// text (white space, fractions, exponents, non-ASCII digits) and for values outside `i64`.
/// One small digit loop shared by the crate's readers, in place of the standard parsers.
pub fn parse_i64(s: &str) -> Option<i64> {
    let (negative, digits) = match s.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        all => (false, all),
    };
    if digits.is_empty() {
        return None;
    }
    // Summed below zero, so that i64::MIN, whose magnitude has no positive i64, fits.
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() || n < i64::MIN / 10 {
            return None;
        }
        n = (n * 10).checked_sub(i64::from(d - b'0'))?;
    }
    if negative {
        Some(n)
    } else {
        n.checked_neg()
    }
}

/// `^[+-]?[0-9]+$` within i64; no rounding of fractions.
pub fn parse_long(s: &str) -> Result<i64, Reason> {
    if !is_integer_literal(s) {
        return Err(Reason::NotALong);
    }
    parse_i64(s).ok_or(Reason::OutOfRange)
}

/// A decimal or exponent float (`-1.5`, `.5`, `2e3`, `1.`); NaN and infinities are refused, and
/// a literal too large for a double is out of range.
pub fn parse_double(s: &str) -> Result<f64, Reason> {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let count = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let int = count(&mut i);
    let mut frac = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac = count(&mut i);
    }
    if int + frac == 0 {
        return Err(Reason::NotADouble);
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if count(&mut i) == 0 {
            return Err(Reason::NotADouble);
        }
    }
    if i != b.len() {
        return Err(Reason::NotADouble);
    }
    match crate::platform::parse_f64(s) {
        Some(x) if x.is_finite() => Ok(x),
        Some(_) => Err(Reason::OutOfRange),
        None => Err(Reason::NotADouble),
    }
}

/// Reads `b` from `at` against `layout`, where `9` stands for a digit and any other byte for
/// itself (`T` also for `t`): the numbers of the (at most three) digit runs, in order.
fn fields(b: &[u8], at: usize, layout: &[u8]) -> Option<[i64; 3]> {
    let mut out = [0; 3];
    let mut k = 0;
    for (i, &want) in layout.iter().enumerate() {
        let got = *b.get(at + i)?;
        if want == b'9' && got.is_ascii_digit() {
            let n = out.get_mut(k)?;
            *n = *n * 10 + i64::from(got - b'0');
        } else if want == got.to_ascii_uppercase() {
            // A separator after digits starts the next number.
            k += usize::from(i > 0);
        } else {
            return None;
        }
    }
    Some(out)
}

/// Whether `year` is a leap year of the proleptic Gregorian calendar.
pub fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The calendar date of a day count since 1970-01-01 (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Epoch milliseconds from an RFC 3339 date-time (`T`, offset `Z` or `±hh:mm`, fraction cut to
/// milliseconds), a `YYYY-MM-DD` date (midnight UTC) or an integer of epoch milliseconds.
pub fn parse_date(s: &str) -> Result<i64, Reason> {
    if is_integer_literal(s) {
        return parse_i64(s).ok_or(Reason::OutOfRange);
    }
    let b = s.as_bytes();
    let bad = Reason::NotADate;
    let [y, mo, d] = fields(b, 0, b"9999-99-99").ok_or(bad)?;
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return Err(bad);
    }
    let day_ms = days_from_civil(y, mo, d) * 86_400_000;
    if b.len() == 10 {
        return Ok(day_ms);
    }
    let [h, mi, sec] = fields(b, 10, b"T99:99:99").ok_or(bad)?;
    if h > 23 || mi > 59 || sec > 59 {
        return Err(bad);
    }
    let mut i = 19;
    let mut ms = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if i - start < 3 {
                ms = ms * 10 + i64::from(c - b'0');
            }
            i += 1;
        }
        match i - start {
            0 => return Err(bad),
            1 => ms *= 100,
            2 => ms *= 10,
            _ => {}
        }
    }
    let offset_min = match (b.get(i), b.len() - i) {
        (Some(b'Z' | b'z'), 1) => 0,
        (Some(sign @ (b'+' | b'-')), 6) => match fields(b, i + 1, b"99:99") {
            Some([oh, om, _]) if oh <= 23 && om <= 59 => {
                let m = oh * 60 + om;
                if *sign == b'-' {
                    -m
                } else {
                    m
                }
            }
            _ => return Err(bad),
        },
        _ => return Err(bad),
    };
    Ok(day_ms + ((h * 60 + mi - offset_min) * 60 + sec) * 1000 + ms)
}

/// Cuts `s` to at most `max` Unicode scalar values, never splitting a character.
pub fn truncate(s: &mut String, max: usize) {
    if let Some((at, _)) = s.char_indices().nth(max) {
        s.truncate(at);
    }
}

/// The text of an epoch-milliseconds instant as `Date.prototype.toISOString` writes it
/// (`YYYY-MM-DDTHH:MM:SS.sssZ`; years outside 0..=9999 as `±YYYYYY`).
pub fn iso_from_epoch_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let mut out = String::with_capacity(24);
    if (0..=9999).contains(&y) {
        pad(&mut out, y, 4);
    } else {
        out.push(if y < 0 { '-' } else { '+' });
        pad(&mut out, y.abs(), 6);
    }
    for (sep, v, w) in [
        ('-', m, 2),
        ('-', d, 2),
        ('T', rem / 3_600_000, 2),
        (':', rem / 60_000 % 60, 2),
        (':', rem / 1000 % 60, 2),
        ('.', rem % 1000, 3),
    ] {
        out.push(sep);
        pad(&mut out, v, w);
    }
    out.push('Z');
    out
}

fn pad(out: &mut String, v: i64, width: usize) {
    let mut digits = String::new();
    crate::json::write_i64(&mut digits, v);
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(&digits);
}

/// The text of a JS number as `String(x)` gives it (ECMAScript `Number::toString`).
pub fn js_number_to_string(x: f64) -> String {
    crate::platform::number_to_string(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longs() {
        assert_eq!(parse_long("9223372036854775807"), Ok(i64::MAX));
        assert_eq!(parse_long("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_long("+42"), Ok(42));
        assert_eq!(parse_long("9223372036854775808"), Err(Reason::OutOfRange));
        assert_eq!(parse_long("-9223372036854775809"), Err(Reason::OutOfRange));
        for bad in ["12.5", "1e3", "", "+", "- 1", "0x10", "１２"] {
            assert_eq!(parse_long(bad), Err(Reason::NotALong), "{bad}");
        }
    }

    #[test]
    fn integers_read_like_the_standard_parser() {
        for s in [
            "0", "-0", "+0", "7", "+42", "-42", "007", "9223372036854775807", "-9223372036854775808",
            "9223372036854775808", "-9223372036854775809", "92233720368547758070", "-92233720368547758080",
            "99999999999999999999", "", "+", "-", "--1", "+-1", " 1", "1 ", "1.0", "1e3", "0x10", "１２", "1_0",
        ] {
            assert_eq!(parse_i64(s), s.parse::<i64>().ok(), "{s:?}");
        }
    }

    #[test]
    fn doubles() {
        assert_eq!(parse_double("-1.5"), Ok(-1.5));
        assert_eq!(parse_double(".5"), Ok(0.5));
        assert_eq!(parse_double("2e3"), Ok(2000.0));
        assert_eq!(parse_double("1."), Ok(1.0));
        assert_eq!(parse_double("1E-2"), Ok(0.01));
        assert_eq!(parse_double("1e400"), Err(Reason::OutOfRange));
        for bad in ["NaN", "nan", "inf", "Infinity", "-Infinity", ".", "e3", "1e", "1,5", "0x1p3", "1_0"] {
            assert_eq!(parse_double(bad), Err(Reason::NotADouble), "{bad}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Ok(0));
        assert_eq!(parse_date("2024-02-29"), Ok(1_709_164_800_000));
        assert_eq!(parse_date("2024-11-26T10:00:00Z"), Ok(1_732_615_200_000));
        assert_eq!(parse_date("2024-11-26T12:00:00.123456+02:00"), Ok(1_732_615_200_123));
        assert_eq!(parse_date("2024-11-26T05:30:00.5-04:30"), Ok(1_732_615_200_500));
        assert_eq!(parse_date("1732615200000"), Ok(1_732_615_200_000));
        assert_eq!(parse_date("-1"), Ok(-1));
        assert_eq!(parse_date("2024-11-26t10:00:00z"), Ok(1_732_615_200_000));
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-04-31",
            "2024-11-26T24:00:00Z",
            "2024-11-26T10:00:60Z",
            "2024-11-26T10:00:00",
            "2024-11-26 10:00:00Z",
            "2024-11-26T10:00Z",
            "2024-11-26T10:00:00.Z",
            "2024-11-26T10:00:00+0200",
            "2024-11-26T10:00:00+24:00",
            "26/11/2024",
            "2024-1-05",
            "2024-11-26x10:00:00Z",
            "2024-11-26T1a:00:00Z",
            "2024-11-26T10-00:00Z",
            "2024-11-26T10:00:00+02:3x",
            "2024-11-26T10:00:00+02-30",
            "2024+11-26",
            "20a4-11-26",
            "tomorrow",
        ] {
            assert_eq!(parse_date(bad), Err(Reason::NotADate), "{bad}");
        }
        assert_eq!(parse_date("99999999999999999999"), Err(Reason::OutOfRange));
    }

    #[test]
    fn civil_round_trip() {
        for days in [-719_468, -1, 0, 1, 19_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(iso_from_epoch_ms(1_732_615_200_123), "2024-11-26T10:00:00.123Z");
        assert_eq!(iso_from_epoch_ms(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn truncation_counts_scalar_values() {
        let mut s = String::from("a😀b👍🏽c");
        truncate(&mut s, 3);
        assert_eq!(s, "a😀b");
        let mut t = String::from("ab");
        truncate(&mut t, 5);
        assert_eq!(t, "ab");
    }

    #[test]
    fn js_numbers_print_like_javascript() {
        for (x, s) in [
            (0.0, "0"),
            (-0.0, "0"),
            (3.0, "3"),
            (12.5, "12.5"),
            (-0.001, "-0.001"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (1e21, "1e+21"),
            (123456789012345680000.0, "123456789012345680000"),
            (0.1 + 0.2, "0.30000000000000004"),
            (9007199254740993.0, "9007199254740992"),
            (f64::MAX, "1.7976931348623157e+308"),
        ] {
            assert_eq!(js_number_to_string(x), s);
        }
    }
}
