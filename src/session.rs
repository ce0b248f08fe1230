//! Session-stored properties: each action's values folded with the property's aggregation.
//!
//! Time is an input: `first` and `last` compare the action end times they are given, so
//! actions that finish out of order still fold the same way.

use crate::prelude::*;
use crate::capture::{Issue, Outcome, PropertyMap};
use crate::config::{Aggregation, Config, Property};
use crate::value::{PropertyValue, Reason};

#[derive(Debug, Clone, PartialEq)]
struct Slot {
    key: String,
    value: PropertyValue,
    at_ms: i64,
    /// For `avg`: how many values, and their exact (long) or running (double) total.
    count: u64,
    long_total: i128,
    double_total: f64,
}

/// The session's aggregated property values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionProps {
    slots: Vec<Slot>,
}

impl SessionProps {
    /// An empty set.
    pub fn new() -> SessionProps {
        SessionProps::default()
    }

    /// Folds the session-stored values among `outcomes` (in `config.properties` order) of an
    /// action that ended at `at_ms`. Returns the issues folding raised (a `sum` overflowing).
    pub fn fold_action(&mut self, config: &Config, outcomes: &[Outcome], at_ms: i64) -> Vec<Issue> {
        let mut issues = Vec::new();
        for (prop, outcome) in config.properties.iter().zip(outcomes) {
            if let (true, Outcome::Value(v)) = (prop.storage.on_session(), outcome) {
                if let Err(reason) = self.fold(prop, v, at_ms) {
                    issues.push(Issue { key: prop.key.clone(), reason });
                }
            }
        }
        issues
    }

    /// Folds one value of `prop` observed at `at_ms`. A value of the wrong type is refused
    /// (`wrong_type`); a `sum` beyond the type's range keeps the old total (`out_of_range`).
    pub fn fold(&mut self, prop: &Property, value: &PropertyValue, at_ms: i64) -> Result<(), Reason> {
        if value.prop_type() != prop.prop_type {
            return Err(Reason::WrongType);
        }
        // A key seen first starts from an empty total (-0.0 is the neutral element of f64
        // addition) and folds its value like any later one.
        let i = match self.slots.iter().position(|s| s.key == prop.key) {
            Some(i) => i,
            None => {
                let (key, value) = (prop.key.clone(), value.clone());
                self.slots.push(Slot { key, value, at_ms, count: 0, long_total: 0, double_total: -0.0 });
                self.slots.len() - 1
            }
        };
        let Some(slot) = self.slots.get_mut(i) else { return Ok(()) };
        use PropertyValue::{Date, Double, Long};
        match prop.aggregation {
            Aggregation::Last if at_ms >= slot.at_ms => (slot.value, slot.at_ms) = (value.clone(), at_ms),
            Aggregation::First if at_ms < slot.at_ms => (slot.value, slot.at_ms) = (value.clone(), at_ms),
            Aggregation::Last | Aggregation::First => {}
            Aggregation::Min | Aggregation::Max => {
                let newer_wins = match (&slot.value, value) {
                    (Long(a), Long(b)) | (Date(a), Date(b)) => (b < a) == (prop.aggregation == Aggregation::Min) && a != b,
                    (Double(a), Double(b)) => (b < a) == (prop.aggregation == Aggregation::Min) && a != b,
                    _ => false,
                };
                if newer_wins {
                    (slot.value, slot.at_ms) = (value.clone(), at_ms);
                }
            }
            Aggregation::Sum | Aggregation::Avg => {
                let avg = prop.aggregation == Aggregation::Avg;
                match *value {
                    Long(n) => {
                        let total = slot.long_total + i128::from(n);
                        let shown = if avg { div_round(total, slot.count + 1) } else { total };
                        slot.value = Long(i64::try_from(shown).map_err(|_| Reason::OutOfRange)?);
                        slot.long_total = total;
                    }
                    Double(x) => {
                        let total = slot.double_total + x;
                        if !total.is_finite() {
                            return Err(Reason::OutOfRange);
                        }
                        slot.value = Double(if avg { total / (slot.count + 1) as f64 } else { total });
                        slot.double_total = total;
                    }
                    _ => return Err(Reason::WrongType),
                }
                slot.count += 1;
                slot.at_ms = slot.at_ms.max(at_ms);
            }
        }
        Ok(())
    }

    /// The current values, in the order keys were first seen.
    pub fn values(&self) -> PropertyMap {
        let mut map = PropertyMap::default();
        for s in &self.slots {
            map.0.push((s.key.clone(), s.value.clone()));
        }
        map
    }

    /// Whether no value was folded yet.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// Integer division rounded half away from zero (the mean of longs stays a long), by shift and
/// subtract: the general 128-bit division routine costs a kilobyte of WebAssembly.
fn div_round(n: i128, d: u64) -> i128 {
    let d = u128::from(d);
    let mut rest = n.unsigned_abs();
    let (mut q, mut r) = (0u128, 0u128);
    for _ in 0..128 {
        r = (r << 1) | (rest >> 127);
        rest <<= 1;
        q <<= 1;
        if r >= d {
            r -= d;
            q |= 1;
        }
    }
    if 2 * r >= d {
        q += 1;
    }
    // q <= |n|, and a total of i64 values stays far from i128::MIN: q fits.
    let q = q as i128;
    if n < 0 {
        -q
    } else {
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn config() -> Config {
        let mut props = String::new();
        for (key, ty, agg) in [
            ("s_last", "string", "last"),
            ("s_first", "string", "first"),
            ("l_min", "long", "min"),
            ("l_max", "long", "max"),
            ("l_sum", "long", "sum"),
            ("l_avg", "long", "avg"),
            ("d_sum", "double", "sum"),
            ("d_avg", "double", "avg"),
            ("d_min", "double", "min"),
            ("t_max", "date", "max"),
            ("t_min", "date", "min"),
        ] {
            if !props.is_empty() {
                props.push(',');
            }
            props.push_str(&format!(
                r#"{{"key":"{key}","type":"{ty}","source":{{"api":true}},"storage":"session","aggregation":"{agg}"}}"#
            ));
        }
        props.push_str(r#",{"key":"action_only","type":"long","source":{"api":true}}"#);
        Config::parse(&format!(r#"{{"version":1,"properties":[{props}]}}"#), &|_| true).unwrap()
    }

    fn fold_all(actions: &[(i64, Vec<(&str, PropertyValue)>)]) -> (PropertyMap, Vec<Issue>) {
        let c = config();
        let mut s = SessionProps::new();
        let mut issues = Vec::new();
        for (at, values) in actions {
            let outcomes: Vec<Outcome> = c
                .properties
                .iter()
                .map(|p| values.iter().find(|(k, _)| *k == p.key).map_or(Outcome::Skipped, |(_, v)| Outcome::Value(v.clone())))
                .collect();
            issues.extend(s.fold_action(&c, &outcomes, *at));
        }
        (s.values(), issues)
    }

    use PropertyValue::{Date, Double, Long, String as Str};

    #[test]
    fn six_aggregations_over_actions() {
        let (v, issues) = fold_all(&[
            (100, vec![("s_last", Str("a".into())), ("s_first", Str("a".into())), ("l_min", Long(5)), ("l_max", Long(5)), ("l_sum", Long(5)), ("l_avg", Long(1)), ("d_sum", Double(0.5)), ("d_avg", Double(1.0)), ("d_min", Double(2.5)), ("t_max", Date(1000)), ("t_min", Date(1000)), ("action_only", Long(9))]),
            (200, vec![("s_last", Str("b".into())), ("s_first", Str("b".into())), ("l_min", Long(-3)), ("l_max", Long(7)), ("l_sum", Long(10)), ("l_avg", Long(2)), ("d_sum", Double(0.25)), ("d_avg", Double(2.0)), ("d_min", Double(-0.5)), ("t_max", Date(3000)), ("t_min", Date(500))]),
            (300, vec![("l_min", Long(0)), ("l_max", Long(6)), ("l_sum", Long(-1)), ("l_avg", Long(2)), ("d_avg", Double(6.0)), ("t_max", Date(2000))]),
        ]);
        assert!(issues.is_empty());
        assert_eq!(v.get("s_last"), Some(&Str("b".into())));
        assert_eq!(v.get("s_first"), Some(&Str("a".into())));
        assert_eq!(v.get("l_min"), Some(&Long(-3)));
        assert_eq!(v.get("l_max"), Some(&Long(7)));
        assert_eq!(v.get("l_sum"), Some(&Long(14)));
        assert_eq!(v.get("l_avg"), Some(&Long(2))); // 5/3 rounds to 2
        assert_eq!(v.get("d_sum"), Some(&Double(0.75)));
        assert_eq!(v.get("d_avg"), Some(&Double(3.0)));
        assert_eq!(v.get("d_min"), Some(&Double(-0.5)));
        assert_eq!(v.get("t_max"), Some(&Date(3000)));
        assert_eq!(v.get("t_min"), Some(&Date(500)));
        assert_eq!(v.get("action_only"), None, "action-stored values stay out of the session");
    }

    #[test]
    fn first_and_last_follow_time_not_arrival() {
        let (v, _) = fold_all(&[
            (500, vec![("s_last", Str("late".into())), ("s_first", Str("late".into()))]),
            (100, vec![("s_last", Str("early".into())), ("s_first", Str("early".into()))]),
            (500, vec![("s_last", Str("same time, later call".into()))]),
        ]);
        assert_eq!(v.get("s_last"), Some(&Str("same time, later call".into())));
        assert_eq!(v.get("s_first"), Some(&Str("early".into())));
    }

    #[test]
    fn long_sum_overflow_keeps_total_and_reports() {
        let (v, issues) = fold_all(&[
            (1, vec![("l_sum", Long(i64::MAX)), ("l_avg", Long(i64::MAX))]),
            (2, vec![("l_sum", Long(1)), ("l_avg", Long(i64::MAX))]),
            (3, vec![("l_sum", Long(-10))]),
        ]);
        assert_eq!(issues, vec![Issue { key: "l_sum".into(), reason: Reason::OutOfRange }]);
        assert_eq!(v.get("l_sum"), Some(&Long(i64::MAX - 10)));
        assert_eq!(v.get("l_avg"), Some(&Long(i64::MAX)), "the mean of longs is exact even past i64 totals");
    }

    #[test]
    fn avg_rounds_half_away_from_zero() {
        assert_eq!(div_round(5, 2), 3);
        assert_eq!(div_round(-5, 2), -3);
        assert_eq!(div_round(4, 3), 1);
        assert_eq!(div_round(-4, 3), -1);
        // Against the plain 128-bit division, rounding half away from zero.
        let reference = |n: i128, d: i128| {
            let (q, r) = (n / d, n % d);
            if 2 * r.abs() >= d {
                q + n.signum()
            } else {
                q
            }
        };
        let totals = [0, 1, -1, 7, -7, i128::from(i64::MAX) * 3, i128::from(i64::MIN) * 5 + 3, i128::MAX / 2, -(i128::MAX / 3)];
        for n in totals {
            for d in [2u64, 3, 10, 1 << 40, u64::MAX] {
                assert_eq!(div_round(n, d), reference(n, i128::from(d)), "{n} / {d}");
            }
        }
    }

    #[test]
    fn wrong_type_is_refused() {
        let c = config();
        let mut s = SessionProps::new();
        assert_eq!(s.fold(&c.properties[2], &Double(1.0), 0), Err(Reason::WrongType));
        assert!(s.is_empty());
    }
}
