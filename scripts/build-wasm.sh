#!/usr/bin/env bash
# Builds the agent's WebAssembly module once for every package that ships it (the script tag's
# www/dist/ and the npm package), into target/agent-wasm/:
#   rumprops.js            wasm-bindgen's JS glue, --target web
#   rumprops_bg.wasm       the module, its imports renamed short (scripts/short-imports.mjs)
#                          and optimized with wasm-opt
# The glue is made with --omit-default-module-path: every caller passes the module's URL (the
# loader from its script's URL, the npm entry as new URL('./wasm/rumprops_bg.wasm',
# import.meta.url), the spelling bundlers and esbuild turn into an asset). Skips wasm-bindgen and
# wasm-opt when the cargo output is older than the last run, so `make test` optimizes once.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
OUT=target/agent-wasm
WASM=target/wasm32-unknown-unknown/release/rumprops.wasm
# Rust's wasm32 target emits these proposals by default. Debian's wasm-opt 108 breaks the
# externref table wasm-bindgen now emits; the npm package binaryen ships a current one.
FEATURES="--enable-bulk-memory --enable-reference-types --enable-multivalue --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals"

mkdir -p target
exec 9>target/agent-wasm.lock
flock 9 # build-agent.sh and pack-npm.sh may run side by side
cargo build --release --target wasm32-unknown-unknown -p rumprops --lib
if [ "$OUT/.built" -nt "$WASM" ] && [ "$OUT/.built" -nt "$0" ] && [ "$OUT/.built" -nt scripts/short-imports.mjs ] && [ -f "$OUT/rumprops_bg.wasm" ]; then
  exit 0
fi
tmp=$(mktemp -d target/agent-wasm.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
wasm-bindgen --target web --omit-default-module-path --no-typescript --out-dir "$tmp" "$WASM"
node scripts/short-imports.mjs "$tmp"
node_modules/.bin/wasm-opt -Oz $FEATURES --strip-debug --strip-producers "$tmp/rumprops_bg.wasm" -o "$tmp/rumprops_bg.wasm"
touch "$tmp/.built"
rm -rf "$OUT" && mv "$tmp" "$OUT"
echo "built $OUT: $(wc -c < "$OUT/rumprops_bg.wasm") B wasm, $(wc -c < "$OUT/rumprops.js") B glue"
