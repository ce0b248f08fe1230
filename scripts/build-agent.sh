#!/usr/bin/env bash
# Builds the browser agent into www/dist/:
#   rumprops.js            the script-tag loader (www/rumprops-core.js + www/loader.js), minified
#   pkg/rumprops.js        wasm-bindgen's JS glue (--target web), minified
#   pkg/rumprops_bg.wasm   the module, optimized with wasm-opt
# The module and its glue come from scripts/build-wasm.sh, shared with scripts/pack-npm.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
OUT=www/dist

scripts/build-wasm.sh
rm -rf "$OUT" && mkdir -p "$OUT/pkg"
cp target/agent-wasm/rumprops.js target/agent-wasm/rumprops_bg.wasm "$OUT/pkg/"
{
  echo '/* rumprops agent loader (MIT OR Apache-2.0) */'
  echo '(function () {'
  sed 's/^export function/function/' www/rumprops-core.js
  cat www/loader.js
  echo '})();'
} > "$OUT/rumprops.js"
# What a page downloads is minified (terser, from the npm tooling): about 3.5 kB less brotli.
# The readable sources are www/rumprops-core.js, www/loader.js and wasm-bindgen's output in
# target/agent-wasm/.
node_modules/.bin/terser "$OUT/rumprops.js" --compress --mangle --comments '/rumprops agent loader/' -o "$OUT/rumprops.js"
node_modules/.bin/terser "$OUT/pkg/rumprops.js" --module --compress --mangle -o "$OUT/pkg/rumprops.js"
echo "built $OUT: $(ls "$OUT" "$OUT/pkg" | tr '\n' ' ')"
