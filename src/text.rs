//! Text helpers shared by every source: ASCII white space, percent decoding, cookie and
//! query-string lookup. The browser hands over raw strings (`document.cookie`,
//! `location.href`); the parsing happens here so that it is the same natively.

use crate::prelude::*;
/// HTML's ASCII white space: tab, line feed, form feed, carriage return, space.
pub fn is_ascii_ws(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{c}' | '\r' | ' ')
}

/// Trims ASCII white space at both ends (not U+00A0 and other Unicode spaces). Rust's ASCII
/// white space is HTML's.
pub fn trim_ascii_ws(s: &str) -> &str {
    s.trim_ascii()
}

/// Collapses runs of ASCII white space to one space and trims, as rules read `textContent`.
pub fn collapse_ws(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_ascii_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes bytes. `strict` refuses a `%` not followed by two hex digits (as
/// `decodeURIComponent` does); otherwise such a `%` stays literal (as `URLSearchParams`).
/// `plus_is_space` turns `+` into a space (form encoding).
fn percent_decode_bytes(s: &str, strict: bool, plus_is_space: bool) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'%' => match (b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ if strict => return None,
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            _ => out.push(c),
        }
        i += 1;
    }
    Some(out)
}

/// `decodeURIComponent`: `None` on a malformed escape or bytes that are not UTF-8.
pub fn decode_uri_component(s: &str) -> Option<String> {
    let (text, valid) = utf8_lossy(&percent_decode_bytes(s, true, false)?);
    valid.then_some(text)
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, bad escapes stay as they
/// are, invalid UTF-8 becomes U+FFFD.
pub fn form_decode(s: &str) -> String {
    utf8_lossy(&percent_decode_bytes(s, false, true).unwrap_or_default()).0
}

/// Decodes UTF-8 as `String::from_utf8_lossy` does (each maximal invalid sequence becomes one
/// U+FFFD), and tells whether all of it was valid. A small decoder in place of the standard
/// UTF-8 check, whose fast paths cost about 700 B of WebAssembly.
fn utf8_lossy(b: &[u8]) -> (String, bool) {
    let mut out = String::with_capacity(b.len());
    let mut valid = true;
    let mut i = 0;
    while let Some(&lead) = b.get(i) {
        i += 1;
        // How many continuation bytes follow, the lead's bits, and the range of the first
        // continuation byte (narrower after some leads: no overlong forms, surrogates, or
        // code points past U+10FFFF).
        let (more, bits, mut lo, mut hi) = match lead {
            0x00..=0x7F => (0, lead, 0x80, 0xBF),
            0xC2..=0xDF => (1, lead & 0x1F, 0x80, 0xBF),
            0xE0 => (2, 0, 0xA0, 0xBF),
            0xED => (2, 0x0D, 0x80, 0x9F),
            0xE1..=0xEF => (2, lead & 0x0F, 0x80, 0xBF),
            0xF0 => (3, 0, 0x90, 0xBF),
            0xF1..=0xF3 => (3, lead & 0x07, 0x80, 0xBF),
            0xF4 => (3, 4, 0x80, 0x8F),
            _ => {
                valid = false;
                out.push('\u{FFFD}');
                continue;
            }
        };
        let mut c = u32::from(bits);
        let mut ok = true;
        for _ in 0..more {
            match b.get(i) {
                Some(&x) if lo <= x && x <= hi => {
                    c = c << 6 | u32::from(x & 0x3F);
                    i += 1;
                    (lo, hi) = (0x80, 0xBF);
                }
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        valid &= ok;
        out.push(if ok { char::from_u32(c).unwrap_or('\u{FFFD}') } else { '\u{FFFD}' });
    }
    (out, valid)
}

/// `s` cut at its first `sep`, an ASCII byte: what is before and what is after.
///
/// `str::split_once` and `str::split` with a `char` go through the standard character searcher,
/// whose bounds-check panic drags integer formatting into the browser build; these do not.
pub fn cut(s: &str, sep: u8) -> Option<(&str, &str)> {
    let mut i = 0;
    while *s.as_bytes().get(i)? != sep {
        i += 1;
    }
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// The parts of `s` between `sep` bytes (ASCII), as `str::split` gives them.
pub fn parts(s: &str, sep: u8) -> Parts<'_> {
    Parts { rest: Some(s), sep }
}

/// The iterator of [`parts`].
pub struct Parts<'a> {
    rest: Option<&'a str>,
    sep: u8,
}

impl<'a> Iterator for Parts<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let s = self.rest?;
        match cut(s, self.sep) {
            Some((part, rest)) => {
                self.rest = Some(rest);
                Some(part)
            }
            None => self.rest.take(),
        }
    }
}

/// The value of the first cookie named `name` in a `document.cookie` string, percent-decoded
/// (the raw text when decoding fails).
pub fn cookie_value(cookies: &str, name: &str) -> Option<String> {
    for pair in parts(cookies, b';') {
        let (k, v) = cut(pair, b'=').unwrap_or(("", pair));
        if trim_ascii_ws(k) == name {
            let raw = trim_ascii_ws(v);
            return Some(decode_uri_component(raw).unwrap_or_else(|| raw.to_owned()));
        }
    }
    None
}

/// The query string of a URL: between the first `?` and the `#`, without either.
pub fn query_of(url: &str) -> &str {
    let before_fragment = cut(url, b'#').map_or(url, |(before, _)| before);
    cut(before_fragment, b'?').map_or("", |(_, q)| q)
}

/// The first parameter `name` of a URL's query, form-decoded (as `URLSearchParams.get`).
pub fn query_value(url: &str, name: &str) -> Option<String> {
    for pair in parts(query_of(url), b'&') {
        let (k, v) = cut(pair, b'=').unwrap_or((pair, ""));
        if !pair.is_empty() && form_decode(k) == name {
            return Some(form_decode(v));
        }
    }
    None
}

/// Whether a `<meta>` with these `name` and `property` attributes answers to `wanted`
/// (ASCII case-insensitively, either attribute).
pub fn meta_matches(name: Option<&str>, property: Option<&str>, wanted: &str) -> bool {
    name.is_some_and(|n| n.eq_ignore_ascii_case(wanted)) || property.is_some_and(|p| p.eq_ignore_ascii_case(wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace() {
        assert_eq!(collapse_ws("  a \n\t b\r\n c  "), "a b c");
        assert_eq!(collapse_ws("\u{a0}x\u{a0}"), "\u{a0}x\u{a0}");
        assert_eq!(trim_ascii_ws("\u{c} x \n"), "x");
        for b in 0u8..=127 {
            assert_eq!(is_ascii_ws(char::from(b)), b.is_ascii_whitespace(), "{b}");
        }
    }

    #[test]
    fn cut_and_parts_split_as_std() {
        for s in ["", "a", ";", "a;b", ";a;;b;", "é;ü;", "a=b=c", "x;y=z"] {
            assert_eq!(parts(s, b';').collect::<Vec<_>>(), s.split(';').collect::<Vec<_>>(), "{s:?}");
            assert_eq!(cut(s, b'='), s.split_once('='), "{s:?}");
        }
    }

    #[test]
    fn cookies() {
        let jar = "session=abc; tier=Gold%20Plus; bad=%E0%A4%A; plus=a+b; empty=; tier=second";
        assert_eq!(cookie_value(jar, "tier").as_deref(), Some("Gold Plus"));
        assert_eq!(cookie_value(jar, "bad").as_deref(), Some("%E0%A4%A"));
        assert_eq!(cookie_value(jar, "plus").as_deref(), Some("a+b"));
        assert_eq!(cookie_value(jar, "empty").as_deref(), Some(""));
        assert_eq!(cookie_value(jar, "Tier"), None);
        assert_eq!(cookie_value("", "x"), None);
        assert_eq!(cookie_value("a=%FF", "a").as_deref(), Some("%FF"));
    }

    #[test]
    fn queries() {
        let url = "https://shop.example/p?campaign=spring+sale&x=%C3%A9&x=2&flag&bad=%zz#frag?campaign=no";
        assert_eq!(query_value(url, "campaign").as_deref(), Some("spring sale"));
        assert_eq!(query_value(url, "x").as_deref(), Some("é"));
        assert_eq!(query_value(url, "flag").as_deref(), Some(""));
        assert_eq!(query_value(url, "bad").as_deref(), Some("%zz"));
        assert_eq!(query_value(url, "frag"), None);
        assert_eq!(query_value("https://a/", "x"), None);
        assert_eq!(query_value("https://a/?a%20b=1", "a b").as_deref(), Some("1"));
    }

    #[test]
    fn form_decoding_replaces_invalid_utf8_like_from_utf8_lossy() {
        for raw in ["%C3%28", "%FF%FEa", "%E2%82", "a%E2%82%ACb%F0%9F%98", "%ED%A0%80x", "%C0%AF", "%F4%90%80%80", ""] {
            let bytes = percent_decode_bytes(raw, false, true).unwrap();
            assert_eq!(form_decode(raw), String::from_utf8_lossy(&bytes), "{raw}");
        }
        // Every sequence of up to three bytes from the edges of UTF-8's ranges, decoded as
        // the standard library does, valid or not.
        let edges = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF];
        let mut seqs: Vec<Vec<u8>> = vec![vec![]];
        for len in 1..=3 {
            for seq in seqs.clone().iter().filter(|s| s.len() == len - 1) {
                for &b in &edges {
                    let mut next = seq.clone();
                    next.push(b);
                    seqs.push(next);
                }
            }
        }
        for seq in seqs.iter().chain([b"\xF0\x9F\x98\x80".to_vec(), b"\xF4\x8F\xBF\xBF".to_vec(), b"\xF0\x9F\x98".to_vec()].iter()) {
            let (text, valid) = utf8_lossy(seq);
            assert_eq!(text, String::from_utf8_lossy(seq), "{seq:x?}");
            assert_eq!(valid, core::str::from_utf8(seq).is_ok(), "{seq:x?}");
        }
    }
}
