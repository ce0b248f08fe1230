#!/usr/bin/env bash
# Builds the browser agent into www/dist/, the two files a page downloads:
#   rumprops.js            the script-tag loader: www/rumprops-core.js, wasm-bindgen's JS glue
#                          and www/loader.js in one function, minified
#   pkg/rumprops_bg.wasm   the module, optimized with wasm-opt
# The module and its glue come from scripts/build-wasm.sh, shared with scripts/pack-npm.sh
# (the npm package keeps the glue as its own ES module).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
OUT=www/dist

scripts/build-wasm.sh
rm -rf "$OUT" && mkdir -p "$OUT/pkg"
cp target/agent-wasm/rumprops_bg.wasm "$OUT/pkg/"
# The glue is an ES module. In the script tag it becomes the function `loadGlue(source)`
# (www/loader.js calls it): its `export` keywords go, its default export (the loader,
# scripts/build-wasm.sh) is called with `source`, and the function answers, once the module
# runs, an object of its exported functions by name, as the module namespace would. Its top
# level runs only then, so nothing of it can throw while the script tag runs. One file instead
# of two: a request less, and terser and brotli see the glue and the loader together.
node --input-type=module - target/agent-wasm/rumprops.js "$OUT/rumprops.js" <<'JS'
import fs from 'node:fs';
const [glueFile, out] = process.argv.slice(2);
let glue = fs.readFileSync(glueFile, 'utf8');
const names = [];
glue = glue.replace(/^export function (\w+)\(/gm, (_, name) => { names.push(name); return 'function ' + name + '('; });
const load = 'export default async function (source) {';
// The shape this relies on is checked: a glue that changes it fails the build here.
if (names.length === 0 || glue.split(load).length !== 2 || /\bimport\b|^export\b|\bexport\s*\{/m.test(glue.replace(load, ''))) {
  throw new Error('the glue is not the ES module scripts/build-agent.sh puts in the loader');
}
glue = glue.replace(load, 'async function load(source) {');
const core = fs.readFileSync('www/rumprops-core.js', 'utf8').replace(/^export (?=function|const)/gm, '');
fs.writeFileSync(out, `/* rumprops agent loader (MIT OR Apache-2.0) */
(function () {
${core}
// wasm-bindgen's glue (scripts/build-agent.sh): loads the module from source, then answers its
// exported functions by name.
function loadGlue(source) {
${glue}
return load(source).then(function () { return { ${names.map((n) => n + ': ' + n).join(', ')} }; });
}
${fs.readFileSync('www/loader.js', 'utf8')}
})();
`);
JS
# What a page downloads is minified (terser, from the npm tooling, two compress passes): about
# 3.5 kB less brotli. The readable sources are www/rumprops-core.js, www/loader.js and
# wasm-bindgen's output in target/agent-wasm/.
node_modules/.bin/terser "$OUT/rumprops.js" --compress passes=2 --mangle --comments '/rumprops agent loader/' -o "$OUT/rumprops.js"
echo "built $OUT: $(cd "$OUT" && find . -type f | sort | tr '\n' ' ')"
