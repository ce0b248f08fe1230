//! SHA-256 (FIPS 180-4) for rules with `"hash": "sha256"`, natively (`rumprops eval`, the
//! collector's tests): the browser build asks the loader (`reader.h`, from `www/sha256.js`), about
//! 0.4 kB brotli less than this module in the WebAssembly. The fixture table holds both to the
//! FIPS 180-4 examples.
//!
//! The round constants and the initial hash value are computed, as the standard defines them
//! (the first 32 bits of the fractional parts of the cube roots of the first 64 primes, and of
//! the square roots of the first 8), with exact integer roots instead of a 288-byte table: the
//! table would be most of this module's size in the browser build.

use crate::prelude::*;

/// The largest `x` with `x^n <= p * 2^(32 n)`, modulo 2^32: the first 32 bits of the
/// fractional part of the `n`-th root of `p` (`p` below 312, `n` 2 or 3).
fn root_bits(p: u32, n: u32) -> u32 {
    let target = u128::from(p) << (32 * n);
    let mut x: u128 = 0;
    // The root is below 2^(32 + 3): the cube root of 311 and the square root of 19 are below 8.
    for bit in (0..35).rev() {
        let y = x | 1 << bit;
        let mut pow = 1u128;
        for _ in 0..n {
            pow *= y;
        }
        if pow <= target {
            x = y;
        }
    }
    x as u32
}

/// The digest of `data`, as its eight 32-bit words. Written for size in the browser build: the
/// padded message is read byte by byte instead of copied, the schedule is one array, and there
/// is no `chunks_exact` or `copy_from_slice` (their panics would bring in `core::fmt`).
pub fn digest(data: &[u8]) -> [u32; 8] {
    // The first 64 primes, the constants of their cube roots and of the first 8 square roots.
    let mut k = [0u32; 64];
    let mut state = [0u32; 8];
    let mut p = 2;
    for (i, slot) in k.iter_mut().enumerate() {
        while (2..p).any(|d| p % d == 0) {
            p += 1;
        }
        *slot = root_bits(p, 3);
        if let Some(h) = state.get_mut(i) {
            *h = root_bits(p, 2);
        }
        p += 1;
    }
    // The padded message: the data, a 1 bit, zeros, and the length in bits (big-endian), to a
    // multiple of 64 bytes.
    let len = data.len();
    let total = (len + 9).div_ceil(64) * 64;
    let bits = (len as u64) << 3;
    let byte = |i: usize| -> u32 {
        u32::from(match data.get(i) {
            Some(&b) => b,
            None if i == len => 0x80,
            None if i + 8 >= total => (bits >> (8 * (total - 1 - i))) as u8,
            None => 0,
        })
    };
    let mut w = [0u32; 64];
    for start in (0..total).step_by(64) {
        for t in 0..64 {
            let v = if t < 16 {
                (0..4).fold(0, |acc, j| acc << 8 | byte(start + 4 * t + j))
            } else {
                let at = |i: usize| w.get(i).copied().unwrap_or(0);
                let (w15, w2) = (at(t - 15), at(t - 2));
                let s0 = w15.rotate_right(7) ^ w15.rotate_right(18) ^ w15 >> 3;
                let s1 = w2.rotate_right(17) ^ w2.rotate_right(19) ^ w2 >> 10;
                at(t - 16).wrapping_add(s0).wrapping_add(at(t - 7)).wrapping_add(s1)
            };
            if let Some(slot) = w.get_mut(t) {
                *slot = v;
            }
        }
        // The working variables a..h as one array, turned by one place each round.
        let mut s = state;
        for (&kt, &wt) in k.iter().zip(&w) {
            let [a, b, c, _, e, f, g, h] = s;
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = h.wrapping_add(s1).wrapping_add(ch).wrapping_add(kt).wrapping_add(wt);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            s.rotate_right(1);
            s[0] = t1.wrapping_add(s0.wrapping_add(maj));
            s[4] = s[4].wrapping_add(t1);
        }
        for (x, y) in state.iter_mut().zip(s) {
            *x = x.wrapping_add(y);
        }
    }
    state
}

/// The lowercase hex digest of `data`.
pub fn hex(data: &[u8]) -> String {
    let mut out = String::with_capacity(64);
    for word in digest(data) {
        for i in (0..8).rev() {
            let nibble = (word >> (4 * i) & 15) as u8;
            out.push(char::from(if nibble < 10 { b'0' + nibble } else { b'a' + nibble - 10 }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of FIPS 180-4 (NIST's "SHA-256 example" documents) and the long messages
    /// of NIST's test vectors.
    #[test]
    fn published_vectors() {
        let million_a = "a".repeat(1_000_000);
        let cases: [(&str, &str); 5] = [
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
            (
                "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
                "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
            ),
            (&million_a, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
        ];
        for (msg, want) in cases {
            assert_eq!(hex(msg.as_bytes()), want, "{} bytes", msg.len());
        }
    }

    #[test]
    fn the_salt_comes_first() {
        assert_eq!(crate::platform::sha256_hex("ab", "c"), hex(b"abc"));
        assert_eq!(crate::platform::sha256_hex("abc", ""), hex(b"abc"));
    }

    #[test]
    fn constants_are_the_standards() {
        assert_eq!(root_bits(2, 3), 0x428a2f98);
        assert_eq!(root_bits(311, 3), 0xc67178f2);
        assert_eq!(root_bits(2, 2), 0x6a09e667);
        assert_eq!(root_bits(19, 2), 0x5be0cd19);
    }

    /// Messages at the padding boundaries (55 bytes fit one block, 56 and 63 need two, 64 is a
    /// block of its own), against Python's hashlib.
    #[test]
    fn padding_boundaries() {
        for (len, want) in [
            (55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"),
            (56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"),
            (63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"),
            (64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"),
        ] {
            assert_eq!(hex("a".repeat(len).as_bytes()), want, "{len} bytes");
        }
    }
}
