//! Three number and text primitives that every JS engine already ships.
//!
//! Natively they are Rust's; in the browser build they call the JS engine, which saves the
//! tables and algorithms of float parsing, float printing and Unicode case mapping (about
//! 40 kB of WebAssembly). Both sides are exact: float parsing is correctly rounded, printing is
//! the shortest text that reads back to the same double (ECMAScript `Number::toString`), and
//! lower-casing follows Unicode's default case mapping.

use crate::prelude::*;
/// Parses text already checked against the double grammar (`value::parse_double`).
pub fn parse_f64(s: &str) -> Option<f64> {
    imp::parse_f64(s)
}

/// The text `String(x)` gives for a number in JS (`12.5`, `1e+21`, `1.5e-7`, `NaN`).
pub fn number_to_string(x: f64) -> String {
    imp::number_to_string(x)
}

/// Unicode lower case, as `String.prototype.toLowerCase`.
pub fn to_lowercase(s: &str) -> String {
    imp::to_lowercase(s)
}

/// The lowercase hex SHA-256 of `salt` followed by `value` (UTF-8): natively
/// [`crate::sha256`], in the browser build the loader's (`reader.h`), both held to the FIPS
/// 180-4 examples by the fixture table.
pub fn sha256_hex(salt: &str, value: &str) -> String {
    let mut data = String::with_capacity(salt.len() + value.len());
    data.push_str(salt);
    data.push_str(value);
    #[cfg(target_arch = "wasm32")]
    return crate::browser::sha256_hex(data.as_bytes());
    #[cfg(not(target_arch = "wasm32"))]
    crate::sha256::hex(data.as_bytes())
}

#[cfg(target_arch = "wasm32")]
pub(crate) use imp::js_string;

#[cfg(target_arch = "wasm32")]
mod imp {
    use crate::prelude::*;
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    extern "C" {
        /// `String(v)`: for a number or a BigInt, the engine's own ToString, which never
        /// throws and reads nothing of the page (not even `Number.prototype.toString`).
        #[wasm_bindgen(js_name = String)]
        pub fn js_string(v: &JsValue) -> String;
    }

    pub fn parse_f64(s: &str) -> Option<f64> {
        let x = js_sys::Number::parse_float(s);
        (!x.is_nan()).then_some(x)
    }

    pub fn number_to_string(x: f64) -> String {
        js_string(&JsValue::from_f64(x))
    }

    pub fn to_lowercase(s: &str) -> String {
        String::from(js_sys::JsString::from(s).to_lower_case())
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use crate::prelude::*;
    pub fn parse_f64(s: &str) -> Option<f64> {
        s.parse().ok()
    }

    pub fn to_lowercase(s: &str) -> String {
        s.to_lowercase()
    }

    /// ECMAScript `Number::toString(10)` over Rust's shortest round-trip digits.
    pub fn number_to_string(x: f64) -> String {
        if x.is_nan() {
            return "NaN".into();
        }
        if x.is_infinite() {
            return if x > 0.0 { "Infinity".into() } else { "-Infinity".into() };
        }
        if x == 0.0 {
            return "0".into();
        }
        // `{:e}` gives the shortest round-trip digits as "d.ddde±x".
        let sci = format!("{:e}", x.abs());
        let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
        let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        let k = digits.len() as i64;
        let n = exp.parse::<i64>().unwrap_or(0) + 1;
        let mut out = String::new();
        if x < 0.0 {
            out.push('-');
        }
        if k <= n && n <= 21 {
            out.push_str(&digits);
            out.extend(core::iter::repeat_n('0', (n - k) as usize));
        } else if 0 < n && n <= 21 {
            let (a, b) = digits.split_at(n as usize);
            out.push_str(a);
            out.push('.');
            out.push_str(b);
        } else if -6 < n && n <= 0 {
            out.push_str("0.");
            out.extend(core::iter::repeat_n('0', (-n) as usize));
            out.push_str(&digits);
        } else {
            let (a, b) = digits.split_at(1);
            out.push_str(a);
            if !b.is_empty() {
                out.push('.');
                out.push_str(b);
            }
            out.push('e');
            out.push(if n - 1 < 0 { '-' } else { '+' });
            out.push_str(&(n - 1).abs().to_string());
        }
        out
    }
}
