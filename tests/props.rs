//! Property-based tests of typing, truncation and the JSON writer: no panic on any input,
//! and what is accepted reads back to an equal value.
#![cfg(not(target_arch = "wasm32"))]

use proptest::prelude::*;
use rumprops::json;
use rumprops::value::{self, parse_date, parse_double, parse_long, truncate, PropType};

fn numeric_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[+-]?[0-9]{0,25}",
        "[+-]?[0-9]{0,12}(\\.[0-9]{0,12})?([eE][+-]?[0-9]{0,4})?",
        "[0-9T:.+Z-]{0,30}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn typing_never_panics(s in numeric_text()) {
        for ty in PropType::ALL {
            let _ = value::type_text(&s, ty);
        }
    }

    #[test]
    fn accepted_longs_print_back_equal(s in numeric_text()) {
        if let Ok(v) = parse_long(&s) {
            let exact: i128 = s.trim_start_matches('+').parse().unwrap();
            prop_assert_eq!(i128::from(v), exact);
            prop_assert_eq!(parse_long(&v.to_string()), Ok(v));
        }
    }

    #[test]
    fn every_i64_round_trips(v in any::<i64>()) {
        prop_assert_eq!(parse_long(&v.to_string()), Ok(v));
        let mut out = String::new();
        json::write_i64(&mut out, v);
        prop_assert_eq!(out, v.to_string());
    }

    #[test]
    fn accepted_doubles_print_back_equal(s in numeric_text()) {
        if let Ok(x) = parse_double(&s) {
            prop_assert!(x.is_finite());
            let mut out = String::new();
            json::write_f64(&mut out, x);
            prop_assert_eq!(parse_double(&out), Ok(x));
        }
    }

    #[test]
    fn every_finite_double_round_trips(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
        let mut out = String::new();
        json::write_f64(&mut out, x);
        prop_assert_eq!(parse_double(&out), Ok(x));
        prop_assert_eq!(parse_double(&value::js_number_to_string(x)), Ok(x));
    }

    #[test]
    fn truncation_keeps_a_char_boundary_prefix(s in any::<String>(), max in 0usize..40) {
        let mut t = s.clone();
        truncate(&mut t, max);
        prop_assert!(s.starts_with(&t));
        prop_assert_eq!(t.chars().count(), s.chars().count().min(max));
    }

    #[test]
    fn iso_dates_round_trip(ms in -62_135_596_800_000i64..253_402_300_799_999) {
        prop_assert_eq!(parse_date(&value::iso_from_epoch_ms(ms)), Ok(ms));
    }

    #[test]
    fn json_strings_round_trip(s in any::<String>()) {
        let mut out = String::new();
        json::write_str(&mut out, &s);
        prop_assert_eq!(json::parse(&out), Ok(json::Value::String(s)));
    }

    #[test]
    fn json_reader_never_panics(s in "[\\[\\]{}\",:0-9eE.+\\-a-z\\\\ ]{0,64}") {
        let _ = json::parse(&s);
    }
}
