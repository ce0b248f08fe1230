//! Differential test of the crate's regex engine against `regex-lite`: on random patterns of
//! the supported dialect and random texts, both find the same match and the same groups.
#![cfg(not(target_arch = "wasm32"))]

use proptest::prelude::*;
use rumprops::regex::Regex;

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["a", "b", "c", "-", "é", "1", " ", "\\.", "\\-", "\\$"]).prop_map(str::to_owned),
        prop::sample::select(vec![".", "[ab]", "[^a]", "[a-c]", "[^a-b1]", "[\\d.]", "[-a]", "\\d", "\\w", "\\s", "\\D", "\\W", "\\S"])
            .prop_map(str::to_owned),
    ]
}

fn assertion() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["^", "$", "\\b", "\\B"]).prop_map(str::to_owned)
}

fn quantifier() -> impl Strategy<Value = String> {
    (prop::sample::select(vec!["*", "+", "?", "{2}", "{1,}", "{0,2}", "{1,3}"]), any::<bool>())
        .prop_map(|(q, lazy)| if lazy { format!("{q}?") } else { q.to_owned() })
}

fn pattern() -> impl Strategy<Value = String> {
    let atom = leaf();
    atom.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| v.concat()),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}|{b}")),
            (inner.clone(), any::<bool>()).prop_map(|(a, cap)| if cap { format!("({a})") } else { format!("(?:{a})") }),
            (inner.clone(), quantifier()).prop_map(|(a, q)| format!("({a}){q}")),
            (leaf(), quantifier()).prop_map(|(a, q)| format!("{a}{q}")),
            (assertion(), inner.clone()).prop_map(|(l, a)| format!("{l}{a}")),
            (inner, assertion()).prop_map(|(a, l)| format!("{a}{l}")),
        ]
    })
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec!['a', 'b', 'c', '1', ' ', '-', '.', 'é', '\n', '_', 'A', 'B']), 0..16)
        .prop_map(|v| v.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn same_matches_as_regex_lite(p in pattern(), fold in any::<bool>(), texts in prop::collection::vec(text(), 1..5)) {
        let p = if fold { format!("(?i){p}") } else { p };
        let ours = Regex::new(&p).map_err(|e| format!("{p}: {e:?}")).unwrap();
        let reference = regex_lite::Regex::new(&p).unwrap();
        prop_assert_eq!(ours.groups(), reference.captures_len(), "{}", p);
        for t in &texts {
            let want = reference.captures(t);
            for g in 0..ours.groups() {
                let expected = want.as_ref().map(|c| c.get(g).map(|m| (m.start(), m.end())));
                prop_assert_eq!(ours.find_group(t, g), expected, "pattern {:?} text {:?} group {}", p, t, g);
            }
        }
    }

    #[test]
    fn never_panics_on_any_pattern(p in "[ab()|*+?{},0-9\\[\\]^$.\\\\dws-]{0,16}", t in text()) {
        if let Ok(re) = Regex::new(&p) {
            let _ = re.find_group(&t, 0);
            // What this engine accepts, the reference accepts too: a subset, never a dialect of its own.
            prop_assert!(regex_lite::Regex::new(&p).is_ok(), "accepted {:?}, which regex-lite refuses", p);
        }
    }
}
