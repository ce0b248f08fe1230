#!/usr/bin/env bash
# Builds the npm package `rumprops` into target/npm-package/rumprops/ and packs it with
# `npm pack` into target/npm-package/rumprops-<version>.tgz (the version is Cargo.toml's).
# Prints the tarball's path last. The package:
#   index.js, index.d.ts     the ES module entry and its hand-written types (npm/)
#   rumprops-core.js         the JS side shared with the script tag (www/rumprops-core.js)
#   dtrum.js, dtrum.d.ts     `rumprops/dtrum`, the dtrum compatibility shim (npm/), over
#   dtrum-core.js            www/dtrum.js, shared with the script tag's www/dist/dtrum.js
#   sha256.js                the SHA-256 of hashed rules (www/sha256.js), imported only for them
#   config-json.js           the config serializer (www/config-json.js)
#   wasm/rumprops.js         wasm-bindgen's --target web glue   } from scripts/build-wasm.sh,
#   wasm/rumprops_bg.wasm    the module, optimized               } shared with build-agent.sh
#   wasm/rumprops_fallback.js  the same module as plain JS (wasm2js) with its glue, one ES module,
#                          imported only where compiling WebAssembly is refused (npm/index.js)
#   README.md, package.json  (npm/)
# Why --target web and not bundler: docs/decisions.md, "Packaging".
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=target/npm-package
STAGE=$OUT/rumprops

scripts/build-wasm.sh >&2
version=$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)
rm -rf "$OUT" && mkdir -p "$STAGE/wasm"
cp npm/index.js npm/index.d.ts npm/README.md www/rumprops-core.js "$STAGE/"
cp npm/dtrum.js npm/dtrum.d.ts "$STAGE/"
cp www/dtrum.js "$STAGE/dtrum-core.js"
cp www/sha256.js www/config-json.js "$STAGE/"
cp target/agent-wasm/rumprops.js target/agent-wasm/rumprops_bg.wasm "$STAGE/wasm/"
# The fallback as one ES module: wasm2js's `asmFunc` (its module wrapper cut off, as
# scripts/build-agent.sh does for the script tag's), then its glue, whose default export runs it.
node --input-type=module - target/agent-wasm/fallback "$STAGE/wasm/rumprops_fallback.js" <<'JS'
import fs from 'node:fs';
const [dir, out] = process.argv.slice(2);
let asm = fs.readFileSync(dir + '/rumprops_asm.js', 'utf8');
const head = "import * as a from 'a';\n", tail = asm.indexOf('\nvar retasmFunc = asmFunc(');
if (!asm.startsWith(head) || tail < 0 || !/\nfunction asmFunc\(imports\) \{/.test(asm) || /\bimport\b|\bexport\b/.test(asm.slice(head.length, tail))) {
  throw new Error('wasm2js\'s output is not the module scripts/pack-npm.sh unwraps');
}
const glue = fs.readFileSync(dir + '/rumprops.js', 'utf8');
if (/\bimport\b/.test(glue) || !/^export default function \(\) \{/m.test(glue) || !/^export function init\(/m.test(glue)) {
  throw new Error('the fallback glue is not the ES module scripts/pack-npm.sh expects');
}
fs.writeFileSync(out, `/* rumprops agent fallback (MIT OR Apache-2.0) */\n${asm.slice(head.length, tail)}\n${glue}`);
JS
node_modules/.bin/terser "$STAGE/wasm/rumprops_fallback.js" --module --compress --mangle --comments '/rumprops agent fallback/' -o "$STAGE/wasm/rumprops_fallback.js"
node -e '
  const fs = require("fs");
  const p = JSON.parse(fs.readFileSync("npm/package.json", "utf8"));
  p.version = process.argv[1];
  fs.writeFileSync(process.argv[2], JSON.stringify(p, null, 2) + "\n");
' "$version" "$STAGE/package.json"
tarball=$(cd "$OUT" && npm pack ./rumprops --silent --pack-destination . | tail -n 1)
echo "packed $OUT/$tarball: $(wc -c < "$OUT/$tarball") B" >&2
echo "$OUT/$tarball"
