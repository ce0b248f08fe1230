// SHA-256 (FIPS 180-4) for rules with "hash": the agent fetches it only for a config that has one
// (the script tag's pkg/rumprops_sha256.js, the npm package's sha256.js), and the module asks it
// through the reader (`reader.h`). Natively src/sha256.rs hashes. Plain loops: pages replace
// Array.prototype.

/** The lowercase hex SHA-256 of the bytes `b` (a Uint8Array). */
export function sha256(b) {
  const K = [], H = [], w = [], n = b.length;
  // The first 32 bits of the fractional parts of the cube roots of the first 64 primes, and
  // of the square roots of the first 8.
  for (let p = 2, i = 0; i < 64; p++) {
    let q = 2;
    while (p % q) q++;
    if (q === p) {
      if (i < 8) H[i] = p ** 0.5 * 4294967296 | 0;
      K[i++] = p ** (1 / 3) * 4294967296 | 0;
    }
  }
  // The message, a 1 bit, zeros, and its length in bits, to a multiple of 64 bytes.
  const m = new Uint8Array((n + 72) & ~63), l = m.length;
  m.set(b);
  m[n] = 128;
  for (let i = 1, x = n * 8; i < 9; i++, x = Math.floor(x / 256)) m[l - i] = x % 256;
  const r = (x, k) => x >>> k | x << 32 - k;
  for (let o = 0; o < l; o += 64) {
    let a = H[0], c = H[1], d = H[2], e = H[3], f = H[4], g = H[5], j = H[6], k = H[7];
    for (let t = 0; t < 64; t++) {
      if (t < 16) w[t] = m[o + 4 * t] << 24 | m[o + 4 * t + 1] << 16 | m[o + 4 * t + 2] << 8 | m[o + 4 * t + 3];
      else {
        const x = w[t - 15], y = w[t - 2];
        w[t] = w[t - 16] + (r(x, 7) ^ r(x, 18) ^ x >>> 3) + w[t - 7] + (r(y, 17) ^ r(y, 19) ^ y >>> 10) | 0;
      }
      const t1 = k + (r(f, 6) ^ r(f, 11) ^ r(f, 25)) + (f & g ^ ~f & j) + K[t] + w[t] | 0;
      const t2 = (r(a, 2) ^ r(a, 13) ^ r(a, 22)) + (a & c ^ a & d ^ c & d) | 0;
      k = j; j = g; g = f; f = e + t1 | 0; e = d; d = c; c = a; a = t1 + t2 | 0;
    }
    H[0] = H[0] + a | 0; H[1] = H[1] + c | 0; H[2] = H[2] + d | 0; H[3] = H[3] + e | 0;
    H[4] = H[4] + f | 0; H[5] = H[5] + g | 0; H[6] = H[6] + j | 0; H[7] = H[7] + k | 0;
  }
  let out = '';
  for (let i = 0; i < 8; i++) out += ((H[i] >>> 0) + 4294967296).toString(16).slice(1);
  return out;
}
