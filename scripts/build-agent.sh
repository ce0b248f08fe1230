#!/usr/bin/env bash
# Builds the browser agent into www/dist/:
#   rumprops.js            the script-tag loader (www/rumprops-core.js + www/loader.js)
#   pkg/rumprops.js        wasm-bindgen's JS glue (--target web)
#   pkg/rumprops_bg.wasm   the module, optimized with wasm-opt
# and the npm package's files into www/npm/ (see scripts/pack-npm.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
OUT=www/dist
WASM=target/wasm32-unknown-unknown/release/rumprops.wasm
# Rust's wasm32 target emits these proposals by default. Debian's wasm-opt 108 breaks the
# externref table wasm-bindgen now emits; the npm package binaryen ships a current one.
FEATURES="--enable-bulk-memory --enable-reference-types --enable-multivalue --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals"

cargo build --release --target wasm32-unknown-unknown -p rumprops --lib
rm -rf "$OUT" && mkdir -p "$OUT/pkg"
wasm-bindgen --target web --no-typescript --out-dir "$OUT/pkg" "$WASM"
node_modules/.bin/wasm-opt -Oz $FEATURES --strip-debug --strip-producers "$OUT/pkg/rumprops_bg.wasm" -o "$OUT/pkg/rumprops_bg.wasm"
{
  echo '/* rumprops agent loader: https://github.com/rumprops (MIT OR Apache-2.0) */'
  echo '(function () {'
  sed 's/^export function/function/' www/rumprops-core.js
  cat www/loader.js
  echo '})();'
} > "$OUT/rumprops.js"
echo "built $OUT: $(ls "$OUT" "$OUT/pkg" | tr '\n' ' ')"
