//! The typed checks of the JS API (DESIGN.md §7) and the privacy state (§6), as pure code.
//!
//! The runtime extracts the page's `{string, long, double, date}` argument into [`ApiValue`]s
//! (it never interprets them) and turns the [`ApiReport`] back into `{sent, failed}`, so every
//! decision about a value is made, and tested, here.

use crate::prelude::*;
use crate::config::{Config, DntMode, PrivacyConfig};
use crate::value::{self, PropType, PropertyValue, Reason};

/// One API call handles at most this many values; the rest are refused (`limit_exceeded`).
pub const MAX_API_VALUES: usize = crate::config::MAX_PROPERTIES;
/// The largest integer a JS number holds exactly (2^53 - 1).
pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A value as the page passed it.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiValue {
    /// A JS string.
    Str(String),
    /// A JS number (a `Date` object is passed as its `getTime()`).
    Num(f64),
    /// A BigInt, as its decimal digits (longs beyond 2^53).
    BigInt(String),
    /// Anything else: booleans, objects, functions, symbols, `null`.
    Unsupported,
}

/// Which call the values came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `addActionProperties`: any defined key; the property's `storage` decides where it lands.
    Action,
    /// `sendSessionProperties`: only keys stored on the session (`storage` `session` or `both`).
    Session,
}

/// What the call returns to the page: `{sent: [{key, value}], failed: [{key, reason}]}` (the
/// runtime builds those objects from it, `src/runtime.rs`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiReport {
    /// Accepted values, typed and truncated.
    pub sent: Vec<(String, PropertyValue)>,
    /// Refused keys and why.
    pub failed: Vec<(String, Reason)>,
}

/// Checks the values of one call. `group` is the object they were given under (`string`,
/// `long`, …); `anonymous` is Do Not Track's anonymous mode, which refuses non-public keys
/// (`dnt_masked`). Checks, in order: the call's size bound, the key is defined (and, for
/// session calls, stored on the session), the group matches the config type, DNT, the value.
pub fn check(config: &Config, target: Target, values: &[(PropType, String, ApiValue)], anonymous: bool) -> ApiReport {
    let mut report = ApiReport::default();
    for (i, (group, key, v)) in values.iter().enumerate() {
        let result = if i >= MAX_API_VALUES {
            Err(Reason::LimitExceeded)
        } else {
            check_one(config, target, *group, key, v, anonymous)
        };
        match result {
            Ok(value) => report.sent.push((key.clone(), value)),
            Err(reason) => report.failed.push((key.clone(), reason)),
        }
    }
    report
}

fn check_one(
    config: &Config,
    target: Target,
    group: PropType,
    key: &str,
    v: &ApiValue,
    anonymous: bool,
) -> Result<PropertyValue, Reason> {
    let prop = config.property(key).ok_or(Reason::InvalidKey)?;
    if target == Target::Session && !prop.storage.on_session() {
        return Err(Reason::InvalidKey);
    }
    if prop.prop_type != group {
        return Err(Reason::WrongType);
    }
    if anonymous && !prop.public {
        return Err(Reason::DntMasked);
    }
    let mut typed = type_value(group, v)?;
    if let PropertyValue::String(s) = &mut typed {
        if crate::text::trim_ascii_ws(s).is_empty() {
            return Err(Reason::Empty);
        }
        if prop.ignore_case {
            *s = crate::platform::to_lowercase(s);
        }
        crate::capture::hash_and_truncate(prop, s);
    }
    Ok(typed)
}

/// Types one value of a group. Strings are taken as they are (no trimming or cleanup: the page
/// said exactly what it meant; [`check`] still refuses a blank one as `empty`, lower-cases it
/// for `ignoreCase` and truncates it to `maxLength`, so API and rule values group alike).
/// Numbers must be exact: a long is an integral JS number within
/// ±(2^53 − 1), or a BigInt or decimal string within i64; a date is integral epoch ms or a
/// date string of the rule format.
pub fn type_value(group: PropType, v: &ApiValue) -> Result<PropertyValue, Reason> {
    match (group, v) {
        (_, ApiValue::Unsupported) => Err(Reason::UnsupportedValue),
        (PropType::String, ApiValue::Str(s)) => Ok(PropertyValue::String(s.clone())),
        (PropType::String, _) => Err(Reason::UnsupportedValue),
        (_, ApiValue::Str(s)) => value::type_text(s.trim_ascii(), group),
        (PropType::Long, ApiValue::Num(x)) => exact_integer(*x, Reason::NotALong).map(PropertyValue::Long),
        (PropType::Long, ApiValue::BigInt(s)) => value::parse_long(s).map(PropertyValue::Long),
        (PropType::Double, ApiValue::Num(x)) if x.is_finite() => Ok(PropertyValue::Double(*x)),
        (PropType::Double, _) => Err(Reason::NotADouble),
        (PropType::Date, ApiValue::Num(x)) => exact_integer(*x, Reason::NotADate).map(PropertyValue::Date),
        (PropType::Date, ApiValue::BigInt(s)) => {
            value::parse_long(s).map(PropertyValue::Date).map_err(|_| Reason::NotADate)
        }
    }
}

/// An integral JS number as i64; beyond 2^53 a number may already have been rounded by the
/// page's JS engine, so it is refused (`out_of_range`) rather than stored wrong.
fn exact_integer(x: f64, not_integral: Reason) -> Result<i64, Reason> {
    if !x.is_finite() {
        return Err(not_integral);
    }
    // Every number beyond 2^53 is integral.
    if x.abs() > MAX_SAFE_INTEGER {
        return Err(Reason::OutOfRange);
    }
    let n = x as i64;
    if n as f64 != x {
        return Err(not_integral);
    }
    Ok(n)
}

/// The page's consent under opt-in mode, as remembered in storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    /// Neither `enable()` nor `disable()` was called.
    Unknown,
    /// `enable()` was called.
    Granted,
    /// `disable()` was called: stop, and delete what was stored.
    Refused,
}

impl Consent {
    /// The storage form (`"1"` granted, `"0"` refused; nothing stored while unknown).
    pub fn to_storage(self) -> Option<&'static str> {
        match self {
            Consent::Unknown => None,
            Consent::Granted => Some("1"),
            Consent::Refused => Some("0"),
        }
    }

    /// Reads the storage form; anything else is unknown.
    pub fn from_storage(s: Option<&str>) -> Consent {
        match s.map(str::trim_ascii) {
            Some("1") => Consent::Granted,
            Some("0") => Consent::Refused,
            _ => Consent::Unknown,
        }
    }
}

/// What the agent may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing is stored or sent.
    Off,
    /// Sent without visitor or user id, only public properties.
    Anonymous,
    /// Everything.
    Full,
}

/// The mode from the config, the page's consent and the browser's DNT/GPC signal. `disable()`
/// wins everywhere; `enable()` lets an opt-in config run; DNT applies on top of consent.
pub fn mode(privacy: &PrivacyConfig, consent: Consent, dnt_or_gpc: bool) -> Mode {
    if consent == Consent::Refused || (privacy.opt_in && consent != Consent::Granted) {
        return Mode::Off;
    }
    match (dnt_or_gpc, privacy.do_not_track) {
        (true, DntMode::Disable) => Mode::Off,
        (true, DntMode::Anonymous) => Mode::Anonymous,
        _ => Mode::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::parse(
            r#"{"version":1,"properties":[
                {"key":"name","type":"string","source":{"api":true},"maxLength":4},
                {"key":"items","type":"long","source":{"api":true},"public":true},
                {"key":"total","type":"double","source":{"api":true},"storage":"both"},
                {"key":"when","type":"date","source":{"api":true},"storage":"session","public":true},
                {"key":"tier","type":"string","source":{"meta":"tier"},"storage":"session"}]}"#,
            &|_| true,
        )
        .unwrap()
    }

    use ApiValue::*;
    use PropType as T;

    fn run(target: Target, anonymous: bool, values: Vec<(T, &str, ApiValue)>) -> ApiReport {
        let v: Vec<(T, String, ApiValue)> = values.into_iter().map(|(t, k, v)| (t, k.to_owned(), v)).collect();
        check(&config(), target, &v, anonymous)
    }

    #[test]
    fn action_values_are_typed_truncated_and_refused_with_reasons() {
        let r = run(
            Target::Action,
            false,
            vec![
                (T::String, "name", Str("Gold member".into())),
                (T::Long, "items", Str("9223372036854775807".into())),
                (T::Double, "total", Num(59.9)),
                (T::Date, "when", Str("2024-11-26T10:00:00Z".into())),
                (T::String, "nope", Str("x".into())),
                (T::String, "items", Str("3".into())),
                (T::Long, "items", Num(12.5)),
                (T::Long, "items", Num(9_007_199_254_740_992.0)),
                (T::Long, "items", BigInt("9223372036854775808".into())),
                (T::Long, "items", Str("ten".into())),
                (T::Double, "total", Num(f64::NAN)),
                (T::String, "name", Num(1.0)),
                (T::String, "name", Unsupported),
                (T::String, "name", Str(" \t".into())),
            ],
        );
        assert_eq!(
            r.sent,
            vec![
                ("name".to_owned(), PropertyValue::String("Gold".into())),
                ("items".to_owned(), PropertyValue::Long(i64::MAX)),
                ("total".to_owned(), PropertyValue::Double(59.9)),
                ("when".to_owned(), PropertyValue::Date(1_732_615_200_000)),
            ]
        );
        let reasons: Vec<Reason> = r.failed.iter().map(|(_, r)| *r).collect();
        assert_eq!(
            reasons,
            vec![
                Reason::InvalidKey,
                Reason::WrongType,
                Reason::NotALong,
                Reason::OutOfRange,
                Reason::OutOfRange,
                Reason::NotALong,
                Reason::NotADouble,
                Reason::UnsupportedValue,
                Reason::UnsupportedValue,
                Reason::Empty,
            ]
        );
    }

    #[test]
    fn exact_longs_and_dates_from_numbers() {
        assert_eq!(
            type_value(T::Long, &Num(-9_007_199_254_740_991.0)),
            Ok(PropertyValue::Long(-9_007_199_254_740_991))
        );
        assert_eq!(type_value(T::Long, &BigInt("-9223372036854775808".into())), Ok(PropertyValue::Long(i64::MIN)));
        assert_eq!(type_value(T::Long, &Num(f64::INFINITY)), Err(Reason::NotALong));
        assert_eq!(type_value(T::Date, &Num(1_732_615_200_000.0)), Ok(PropertyValue::Date(1_732_615_200_000)));
        assert_eq!(type_value(T::Date, &Num(0.5)), Err(Reason::NotADate));
        assert_eq!(type_value(T::Date, &Str("2024-02-30".into())), Err(Reason::NotADate));
        assert_eq!(type_value(T::Double, &Str("2e3".into())), Ok(PropertyValue::Double(2000.0)));
        // Text is trimmed of ASCII white space, as rule values are (DESIGN §2), not of Unicode's.
        assert_eq!(type_value(T::Long, &Str(" 12\n".into())), Ok(PropertyValue::Long(12)));
        assert_eq!(type_value(T::Long, &Str("12\u{a0}".into())), Err(Reason::NotALong));
    }

    #[test]
    fn session_calls_take_only_session_keys_and_dnt_masks() {
        let r = run(
            Target::Session,
            true,
            vec![
                (T::String, "name", Str("a".into())),
                (T::Double, "total", Num(1.0)),
                (T::Date, "when", Num(5.0)),
                (T::String, "tier", Str("gold".into())),
            ],
        );
        assert_eq!(r.sent, vec![("when".to_owned(), PropertyValue::Date(5))]);
        assert_eq!(
            r.failed,
            vec![
                ("name".to_owned(), Reason::InvalidKey),
                ("total".to_owned(), Reason::DntMasked),
                ("tier".to_owned(), Reason::DntMasked),
            ]
        );
    }

    #[test]
    fn too_many_values_in_one_call() {
        let values: Vec<(T, &str, ApiValue)> = (0..MAX_API_VALUES + 2).map(|_| (T::Long, "items", Num(1.0))).collect();
        let r = run(Target::Action, false, values);
        assert_eq!(r.sent.len(), MAX_API_VALUES);
        assert_eq!(r.failed, vec![("items".to_owned(), Reason::LimitExceeded); 2]);
    }

    #[test]
    fn reports_keep_longs_beyond_2_53_exact() {
        let r = run(
            Target::Action,
            false,
            vec![(T::Long, "items", BigInt("9223372036854775807".into())), (T::Long, "x", Num(1.0))],
        );
        assert_eq!(r.sent, vec![("items".to_owned(), PropertyValue::Long(i64::MAX))]);
        assert_eq!(r.failed, vec![("x".to_owned(), Reason::InvalidKey)]);
    }

    #[test]
    fn privacy_modes() {
        let p = |opt_in, dnt| PrivacyConfig { opt_in, do_not_track: dnt };
        use Consent::*;
        assert_eq!(mode(&p(false, DntMode::Anonymous), Unknown, false), Mode::Full);
        assert_eq!(mode(&p(false, DntMode::Anonymous), Unknown, true), Mode::Anonymous);
        assert_eq!(mode(&p(false, DntMode::Disable), Unknown, true), Mode::Off);
        assert_eq!(mode(&p(false, DntMode::Ignore), Unknown, true), Mode::Full);
        assert_eq!(mode(&p(true, DntMode::Ignore), Unknown, false), Mode::Off);
        assert_eq!(mode(&p(true, DntMode::Ignore), Granted, false), Mode::Full);
        assert_eq!(mode(&p(true, DntMode::Anonymous), Granted, true), Mode::Anonymous);
        assert_eq!(mode(&p(false, DntMode::Ignore), Refused, false), Mode::Off);
        assert_eq!(Consent::from_storage(Some("1")), Granted);
        assert_eq!(Consent::from_storage(Some("yes")), Unknown);
        assert_eq!(Consent::from_storage(Refused.to_storage()), Refused);
    }
}
