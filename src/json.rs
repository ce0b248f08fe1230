//! A small JSON reader and writer.
//!
//! The agent reads JSON in three places (the rule config, `$` segments of `js` paths, the
//! native rule tester's `--js` globals) and writes it in one (beacons). A hand-written reader
//! costs a few kilobytes of WebAssembly where serde's derived visitors cost tens, and it keeps
//! number literals as written, so a long like `9223372036854775807` is never rounded through f64.

use crate::prelude::*;
/// A parsed JSON value. Object members keep their document order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`
    Null,
    /// `true` or `false`
    Bool(bool),
    /// A number, as its literal text (validated against the JSON grammar).
    Number(String),
    /// A string, unescaped.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object; duplicate names are refused by the reader.
    Object(Vec<(String, Value)>),
}

/// Why a JSON text was refused, and the byte offset where the reader stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Byte offset into the text.
    pub offset: usize,
    /// What was wrong there.
    pub message: &'static str,
}

/// Nesting deeper than this is refused, so hostile input cannot exhaust the stack.
pub const MAX_DEPTH: usize = 128;

impl Value {
    /// The member `name` of an object, if this is an object that has it.
    pub fn get(&self, name: &str) -> Option<&Value> {
        if let Value::Object(members) = self {
            for (k, v) in members {
                if k == name {
                    return Some(v);
                }
            }
        }
        None
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number as an `i64`, if it is an integer literal within range.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => crate::value::parse_i64(n),
            _ => None,
        }
    }

    /// The number as an `f64`, if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => crate::platform::parse_f64(n),
            _ => None,
        }
    }
}

/// Parses a complete JSON text (surrounding white space allowed).
pub fn parse(text: &str) -> Result<Value, Error> {
    let mut p = Parser { text, s: text.as_bytes(), i: 0 };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i < p.s.len() {
        return Err(p.err("unexpected text after the value"));
    }
    Ok(v)
}

struct Parser<'a> {
    text: &'a str,
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, message: &'static str) -> Error {
        Error { offset: self.i, message }
    }

    /// The text from `start` to the current position, which both sit before or after an ASCII
    /// byte, so on character boundaries.
    fn slice(&self, start: usize) -> &str {
        self.text.get(start..self.i).unwrap_or_default()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.s.get(self.i..self.i + lit.len()) == Some(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, Error> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        match self.peek() {
            None => Err(self.err("unexpected end of input")),
            Some(c @ (b'{' | b'[')) => self.container(depth, c == b'{'),
            Some(b'"') => self.string().map(Value::String),
            Some(b't') if self.eat(b"true") => Ok(Value::Bool(true)),
            Some(b'f') if self.eat(b"false") => Ok(Value::Bool(false)),
            Some(b'n') if self.eat(b"null") => Ok(Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("expected a value")),
        }
    }

    /// An object or an array, from its opening bracket on.
    fn container(&mut self, depth: usize, object: bool) -> Result<Value, Error> {
        self.i += 1;
        let close = if object { b"}" } else { b"]" };
        let mut members: Vec<(String, Value)> = Vec::new();
        let mut items = Vec::new();
        self.ws();
        if !self.eat(close) {
            loop {
                self.ws();
                let name = if object {
                    if self.peek() != Some(b'"') {
                        return Err(self.err("expected a member name"));
                    }
                    let at = self.i;
                    let name = self.string()?;
                    if members.iter().any(|(k, _)| *k == name) {
                        return Err(Error { offset: at, message: "duplicate member name" });
                    }
                    self.ws();
                    if !self.eat(b":") {
                        return Err(self.err("expected ':'"));
                    }
                    self.ws();
                    Some(name)
                } else {
                    None
                };
                let v = self.value(depth + 1)?;
                match name {
                    Some(name) => members.push((name, v)),
                    None => items.push(v),
                }
                self.ws();
                if self.eat(b",") {
                    continue;
                }
                if self.eat(close) {
                    break;
                }
                return Err(self.err(if object { "expected ',' or '}'" } else { "expected ',' or ']'" }));
            }
        }
        Ok(if object { Value::Object(members) } else { Value::Array(items) })
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Value, Error> {
        let start = self.i;
        self.eat(b"-");
        if self.eat(b"0") {
            if let Some(b'0'..=b'9') = self.peek() {
                return Err(self.err("leading zero in number"));
            }
        } else if self.digits() == 0 {
            return Err(self.err("expected a digit"));
        }
        if self.eat(b".") && self.digits() == 0 {
            return Err(self.err("expected a digit after '.'"));
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("expected a digit in the exponent"));
            }
        }
        Ok(Value::Number(self.slice(start).into()))
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let mut n = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.err("expected four hex digits after \\u")),
            };
            n = n * 16 + u32::from(d);
            self.i += 1;
        }
        Ok(n)
    }

    fn string(&mut self) -> Result<String, Error> {
        self.i += 1;
        let mut out = String::new();
        loop {
            // Copy the run of plain bytes in one go: strings of megabytes stay linear.
            let start = self.i;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            out.push_str(self.slice(start));
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                    self.i += 1;
                    let ch = if c == b'u' {
                        self.unicode_escape()?
                    } else {
                        // The one-letter escapes and what they stand for, position for position.
                        let k = b"\"\\/bfnrt".iter().position(|&e| e == c);
                        match k.and_then(|k| b"\"\\/\x08\x0c\n\r\t".get(k)) {
                            Some(&b) => char::from(b),
                            None => {
                                self.i -= 1;
                                return Err(self.err("invalid escape"));
                            }
                        }
                    };
                    out.push(ch);
                }
                Some(_) => return Err(self.err("control character in string")),
            }
        }
    }

    fn unicode_escape(&mut self) -> Result<char, Error> {
        let hi = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&hi) {
            // A lone surrogate is not a Unicode scalar value; like JSON.parse followed by a
            // UTF-8 conversion, it becomes U+FFFD.
            if self.s.get(self.i..self.i + 2) == Some(b"\\u") {
                let save = self.i;
                self.i += 2;
                let lo = self.hex4()?;
                if (0xDC00..0xE000).contains(&lo) {
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    self.i = save;
                    0xFFFD
                }
            } else {
                0xFFFD
            }
        } else {
            hi
        };
        Ok(char::from_u32(code).unwrap_or('\u{FFFD}'))
    }
}

/// Appends `s` to `out` as a JSON string literal.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0..=0x1f => Some(""),
            _ => None,
        };
        if let Some(e) = esc {
            out.push_str(s.get(start..i).unwrap_or_default());
            if e.is_empty() {
                out.push_str(if b < 0x10 { "\\u000" } else { "\\u001" });
                out.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
            } else {
                out.push_str(e);
            }
            start = i + 1;
        }
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

/// Appends any value as JSON text (number literals as they were read).
pub fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(members) => {
            out.push('{');
            for (i, (k, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

/// Appends an integer in decimal.
pub fn write_i64(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    write_u64(out, n.unsigned_abs());
}

fn write_u64(out: &mut String, n: u64) {
    if n >= 10 {
        write_u64(out, n / 10);
    }
    out.push(char::from(b'0' + (n % 10) as u8));
}

/// Appends a finite double in the shortest form that reads back to the same value, as JS
/// writes numbers (`59.9`, `3`, `1e+300`), so beacons are byte-identical on both sides.
/// Non-finite values (never stored by the agent) are written as `null`.
pub fn write_f64(out: &mut String, x: f64) {
    if x.is_finite() {
        out.push_str(&crate::platform::number_to_string(x));
    } else {
        out.push_str("null");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_values_and_keeps_number_text() {
        let v = parse(r#" {"a": [1, -2.5e3, true, null], "b": {"c": "x\u00e9\n"}, "n": 9223372036854775807} "#).unwrap();
        assert_eq!(v.get("n").unwrap().as_i64(), Some(i64::MAX));
        assert_eq!(v.get("b").unwrap().get("c").unwrap().as_str(), Some("xé\n"));
        match v.get("a").unwrap() {
            Value::Array(items) => assert_eq!(items[1], Value::Number("-2.5e3".into())),
            _ => panic!("not an array"),
        }
    }

    #[test]
    fn one_letter_escapes() {
        assert_eq!(parse(r#""\"\\\/\b\f\n\r\t""#).unwrap(), Value::String("\"\\/\u{8}\u{c}\n\r\t".into()));
        assert_eq!(parse(r#""\a""#).unwrap_err(), Error { offset: 2, message: "invalid escape" });
    }

    #[test]
    fn surrogate_pairs_and_lone_surrogates() {
        assert_eq!(parse(r#""\ud83d\ude00""#).unwrap(), Value::String("😀".into()));
        assert_eq!(parse(r#""\ud83d x""#).unwrap(), Value::String("\u{FFFD} x".into()));
    }

    #[test]
    fn refuses_bad_input_with_position() {
        for (text, at) in [
            ("{\"a\":1,}", 7),
            ("[1 2]", 3),
            ("01", 1),
            ("\"abc", 4),
            ("{\"a\":1,\"a\":2}", 7),
            ("tru", 0),
            ("1 2", 2),
            ("", 0),
            ("\"\\x\"", 2),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.offset, at, "{text}: {e:?}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = "[".repeat(100_000);
        assert_eq!(parse(&deep).unwrap_err().message, "nesting too deep");
    }

    #[test]
    fn writes_escapes_and_numbers() {
        let mut s = String::new();
        write_str(&mut s, "a\"b\\c\n\u{1}é");
        assert_eq!(s, r#""a\"b\\c\n\u0001é""#);
        let mut n = String::new();
        write_i64(&mut n, i64::MIN);
        n.push(' ');
        write_f64(&mut n, 59.9);
        n.push(' ');
        write_f64(&mut n, 3.0);
        n.push(' ');
        write_f64(&mut n, 1e300);
        assert_eq!(n, "-9223372036854775808 59.9 3 1e+300");
        assert_eq!(parse(&s).unwrap(), Value::String("a\"b\\c\n\u{1}é".into()));
        let doc = r#"{"a":[1,-2.5e3,true,null,"x\n"],"b":{}}"#;
        let mut back = String::new();
        write_value(&mut back, &parse(doc).unwrap());
        assert_eq!(back, doc);
    }
}
