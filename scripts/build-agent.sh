#!/usr/bin/env bash
# Builds the browser agent into www/dist/, the two files a page downloads:
#   rumprops.js            the script-tag loader: www/rumprops-core.js, wasm-bindgen's JS glue
#                          and www/loader.js in one function, minified
#   pkg/rumprops_bg.wasm   the module, optimized with wasm-opt
# and the fallback, which a page downloads only when it may not compile WebAssembly (a Content
# Security Policy without 'wasm-unsafe-eval'; www/loader.js decides):
#   pkg/rumprops_fallback.js  the same module as plain JS (wasm2js) with its own glue, one
#                          classic script that runs the module and hands it to the loader
# and the dtrum shim, which the loader inserts for `data-dtrum="true"` on its script tag:
#   dtrum.js               www/dtrum.js as a classic script: `window.dtrum` over `window.rumprops`
# and the SHA-256 of hashed rules, inserted only for a config with one, and the config
# serializer, inserted only when init() is given a config object instead of its JSON text:
#   pkg/rumprops_sha256.js www/sha256.js as a classic script
#   pkg/rumprops_json.js   www/config-json.js as a classic script
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
node --input-type=module - target/agent-wasm/rumprops.js "$OUT/rumprops.js" target/agent-wasm/fallback "$OUT/pkg/rumprops_fallback.js" <<'JS'
import fs from 'node:fs';
const [glueFile, out, fallbackDir, fallbackOut] = process.argv.slice(2);
// A glue as a function body: its `export` keywords go, and its default export (the loader,
// scripts/build-wasm.sh) becomes `function load`. The shape this relies on is checked: a glue
// that changes it fails the build here.
function unexport(file, load) {
  let glue = fs.readFileSync(file, 'utf8');
  const names = [];
  glue = glue.replace(/^export function (\w+)\(/gm, (_, name) => { names.push(name); return 'function ' + name + '('; });
  if (names.length === 0 || glue.split(load).length !== 2 || /\bimport\b|^export\b|\bexport\s*\{/m.test(glue.replace(load, ''))) {
    throw new Error('the glue is not the ES module scripts/build-agent.sh puts in the loader: ' + file);
  }
  return { glue: glue.replace(load, load.replace('export default ', '').replace('function', 'function load')), names };
}
const { glue, names } = unexport(glueFile, 'export default async function (source) {');
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

// The fallback: wasm2js's module (an ES module importing "a" and exporting asmFunc's answer)
// as the function asmFunc, then its glue. The loader inserts it as a script (a CSP that allows
// the loader allows a script from beside it), which runs the module and hands it to the loader
// through `window.rumprops_fallback`.
let asm = fs.readFileSync(fallbackDir + '/rumprops_asm.js', 'utf8');
const head = "import * as a from 'a';\n", tail = asm.indexOf('\nvar retasmFunc = asmFunc(');
if (!asm.startsWith(head) || tail < 0 || !/\nfunction asmFunc\(imports\) \{/.test(asm) || /\bimport\b|\bexport\b/.test(asm.slice(head.length, tail))) {
  throw new Error('wasm2js\'s output is not the module scripts/build-agent.sh unwraps');
}
asm = asm.slice(head.length, tail);
const fb = unexport(fallbackDir + '/rumprops.js', 'export default function () {');
fs.writeFileSync(fallbackOut, `/* rumprops agent fallback (MIT OR Apache-2.0) */
(function () {
${asm}
${fb.glue}
load();
window.rumprops_fallback({ ${fb.names.map((n) => n + ': ' + n).join(', ')} });
})();
`);
JS
# What a page downloads is minified (terser, from the npm tooling, two compress passes): about
# 3.5 kB less brotli. ES2020 output with function expressions that use neither `this` nor
# `arguments` as arrows (unsafe_arrows: none of them is called with `new`): 33 B less brotli.
# The readable sources are www/rumprops-core.js, www/loader.js and wasm-bindgen's output in
# target/agent-wasm/.
node_modules/.bin/terser "$OUT/rumprops.js" --ecma 2020 --compress passes=2,unsafe_arrows=true --mangle --comments '/rumprops agent loader/' -o "$OUT/rumprops.js"
node_modules/.bin/terser "$OUT/pkg/rumprops_fallback.js" --compress --mangle --comments '/rumprops agent fallback/' -o "$OUT/pkg/rumprops_fallback.js"
# The dtrum shim: a page with Dynatrace's own agent keeps its `dtrum`.
node --input-type=module - "$OUT/dtrum.js" <<'JS'
import fs from 'node:fs';
const src = fs.readFileSync('www/dtrum.js', 'utf8');
if (src.split(/^export /m).length !== 2 || !/^export function createDtrum\(/m.test(src)) throw new Error('www/dtrum.js is not the module build-agent.sh wraps');
fs.writeFileSync(process.argv[2], `/* rumprops dtrum shim (MIT OR Apache-2.0) */
(function () {
${src.replace(/^export /m, '')}
var w = window;
if (!w.dtrum) w.dtrum = createDtrum(function () { return w.rumprops; }, w.console);
})();
`);
JS
node_modules/.bin/terser "$OUT/dtrum.js" --compress --mangle --comments '/rumprops dtrum shim/' -o "$OUT/dtrum.js"
# The parts only some configs need, each an ES module of one exported function, as a classic
# script that hands the function to the loader through `window.rumprops_<part>`: the SHA-256 of
# hashed rules (www/sha256.js), inserted only for a config with one, and the config serializer
# (www/config-json.js), inserted only when init() is given a config object.
part() {
node --input-type=module - "$1" "$2" "$3" <<'JS'
import fs from 'node:fs';
const [file, fn, out] = process.argv.slice(2);
const src = fs.readFileSync(file, 'utf8');
if (src.split(/^export /m).length !== 2 || !new RegExp('^export function ' + fn + '\\(', 'm').test(src)) throw new Error(file + ' is not the module build-agent.sh wraps');
const name = out.match(/rumprops_(\w+)\.js$/)[1];
fs.writeFileSync(out, `/* rumprops ${name} (MIT OR Apache-2.0) */
(function () {
${src.replace(/^export /m, '')}
window.rumprops_${name}(${fn});
})();
`);
JS
node_modules/.bin/terser "$3" --compress --mangle --comments "/rumprops /" -o "$3"
}
part www/sha256.js sha256 "$OUT/pkg/rumprops_sha256.js"
part www/config-json.js configJson "$OUT/pkg/rumprops_json.js"
echo "built $OUT: $(cd "$OUT" && find . -type f | sort | tr '\n' ' ')"
