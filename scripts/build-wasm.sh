#!/usr/bin/env bash
# Builds the agent's WebAssembly module once for every package that ships it (the script tag's
# www/dist/ and the npm package), into target/agent-wasm/:
#   rumprops.js            wasm-bindgen's JS glue, --target web
#   rumprops_bg.wasm       the module, optimized with wasm-opt
#   names.json, rumprops_bg.named.wasm   for bench/run.mjs, not shipped: the module's short
#                          names of imports and exports, and the module before optimizing,
#                          with its function names
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
cargo build --release --target wasm32-unknown-unknown -p rumprops --lib --no-default-features
if [ "$OUT/.built" -nt "$WASM" ] && [ "$OUT/.built" -nt "$0" ] && [ -f "$OUT/rumprops_bg.wasm" ]; then
  exit 0
fi
tmp=$(mktemp -d target/agent-wasm.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
wasm-bindgen --target web --omit-default-module-path --no-typescript --out-dir "$tmp" "$WASM"
# Import, export and module names (`./rumprops_bg.js`, `__wbg_getItem_49556a3e59cfb688`, …)
# become one or two letters, in the module and the glue alike (about 2 kB brotli). wasm-opt
# prints the mapping: {"imports": [[module, name, new name], …], "exports": [[name, new name], …]},
# and every import's module becomes "a".
node_modules/.bin/wasm-opt $FEATURES --debuginfo --minify-imports-and-exports-and-modules \
  "$tmp/rumprops_bg.wasm" -o "$tmp/rumprops_bg.wasm" > "$tmp/names.json"
node --input-type=module - "$tmp" <<'JS'
import fs from 'node:fs';
import binaryen from 'binaryen';
const dir = process.argv[2];
const map = JSON.parse(fs.readFileSync(dir + '/names.json', 'utf8'));
const m = binaryen.readBinary(fs.readFileSync(dir + '/rumprops_bg.wasm'));
const F = binaryen.Features; // as $FEATURES: nothing the browsers lack (e.g. compact imports)
m.setFeatures(F.BulkMemory | F.ReferenceTypes | F.Multivalue | F.NontrappingFPToInt | F.SignExt | F.MutableGlobals);

// `memory` keeps its name: the glue's init answers the exports, and tools read `memory` there.
const memory = map.exports.find((e) => e[0] === 'memory');
if (memory) {
  const internal = binaryen.getExportInfo(m.getExport(memory[1])).value;
  m.removeExport(memory[1]);
  m.addMemoryExport(internal, 'memory');
  map.exports.splice(map.exports.indexOf(memory), 1);
}

// Every `#[wasm_bindgen]` import of js-sys, used or not, exports a descriptor that takes the
// address of a closure invoke shim for its `&dyn Fn` arguments, and js-sys exports a JSPI task
// poller whose waker vtable does the same. wasm-bindgen deletes those exports but leaves the
// function table as it was, so the shims (about 4 kB) would survive wasm-opt. The agent makes
// no closures: while the table is private (not exported, so no JS can call through it), the
// shims' entries point at one trapping stub instead, and wasm-opt drops the shims.
const exported = new Set();
for (let i = 0; i < m.getNumExports(); i++) {
  const e = binaryen.getExportInfo(m.getExportByIndex(i));
  if (e.kind === binaryen.ExternalTable) exported.add(e.value);
}
const dead = /^(wasm_bindgen::convert::closures::_::invoke|js_sys::futures::jspi::task_waker::)/;
for (let i = m.getNumElementSegments() - 1; i >= 0; i--) {
  const seg = binaryen.getElementSegmentInfo(m.getElementSegmentByIndex(i));
  if (exported.has(seg.table) || !seg.offset || !seg.data.some((f) => dead.test(f))) continue;
  if (!m.getFunction('dead_table_entry')) m.addFunction('dead_table_entry', binaryen.none, binaryen.none, [], m.unreachable());
  const offset = binaryen.getExpressionInfo(seg.offset).value;
  m.removeElementSegment(seg.name);
  m.addActiveElementSegment(seg.table, seg.name, seg.data.map((f) => (dead.test(f) ? 'dead_table_entry' : f)), m.i32.const(offset));
}
fs.writeFileSync(dir + '/rumprops_bg.wasm', m.emitBinary());
// The same module with its function names, for profiles (bench/run.mjs); not shipped.
binaryen.setDebugInfo(true);
fs.writeFileSync(dir + '/rumprops_bg.named.wasm', m.emitBinary());
binaryen.setDebugInfo(false);

// The glue, renamed to match.
let js = fs.readFileSync(dir + '/rumprops.js', 'utf8');
const rename = (re, to, required = true) => {
  if (required && !re.test(js)) throw new Error('not in the glue: ' + re.source);
  js = js.replace(new RegExp(re.source, 'g'), () => to);
};
const modules = [...new Set(map.imports.map((i) => i[0]))];
if (modules.length !== 1) throw new Error('imports from more than one module: ' + modules);
// The imports object: `"./rumprops_bg.js": import0`.
rename(new RegExp('"' + modules[0].replace(/[.$]/g, '\\$&') + '"(?=: import)'), '"a"');
for (const [, name, short] of map.imports) {
  // Each import is a key of that object: `name: function(…) {…}`.
  rename(new RegExp('(?<=\\n\\s*)' + name + '(?=: )'), short);
}
for (const [name, short] of map.exports) {
  // The glue reads exports as `wasm.name` (not all: `__abort_handler` is for other targets).
  rename(new RegExp('\\bwasm\\.' + name + '\\b'), 'wasm.' + short, false);
}

// The glue's loading code serves every way wasm-bindgen's users call it (initSync, a module, a
// path, a Response, deprecated arguments, servers without the wasm MIME type). Both callers
// (www/loader.js and npm/index.js) pass a fetch promise or the module's URL, so that part
// becomes one small function (about 250 B brotli less). The shape it replaces is
// checked: a new wasm-bindgen that changes it fails the build here instead of loading wrong.
const start = js.indexOf('async function __wbg_load(');
const tail = 'export { initSync, __wbg_init as default };';
if (start < 0 || !js.trimEnd().endsWith(tail) || !/\nfunction __wbg_finalize_init\(instance, module\) \{/.test(js)) {
  throw new Error('the glue\'s loading code is not the one scripts/build-wasm.sh replaces');
}
js = js.slice(0, start) + `// Loads the module from a fetch Response (or its promise), or from its URL.
export default async function (source) {
    if (wasm !== undefined) return wasm;
    let r = await source;
    if (!(r instanceof Response)) r = await fetch(r);
    if (!r.ok) throw new Error('failed to fetch Wasm: ' + r.status);
    const { instance, module } = await WebAssembly.instantiate(await r.arrayBuffer(), __wbg_get_imports());
    return __wbg_finalize_init(instance, module);
}
`;

// Two parts of the glue serve browsers that cannot run this module (it needs reference types:
// Chrome 96, Firefox 79, Safari 15), all of which have TextEncoder.encodeInto (Chrome 74,
// Firefox 66, Safari 14.1): the encodeInto polyfill, and the string copy without encodeInto,
// which the glue takes only when called without a realloc (it never is). Both are checked as
// the text they replace.
const drop = (text, why) => {
  if (js.split(text).length !== 2) throw new Error('not once in the glue (' + why + '): ' + text);
  js = js.replace(text, () => '');
};
drop(`
if (!('encodeInto' in cachedTextEncoder)) {
    cachedTextEncoder.encodeInto = function (arg, view) {
        const buf = cachedTextEncoder.encode(arg);
        view.set(buf);
        return {
            read: arg.length,
            written: buf.length
        };
    };
}
`, 'the encodeInto polyfill');
drop(`    if (realloc === undefined) {
        const buf = cachedTextEncoder.encode(arg);
        const ptr = malloc(buf.length, 1) >>> 0;
        getUint8ArrayMemory0().subarray(ptr, ptr + buf.length).set(buf);
        WASM_VECTOR_LEN = buf.length;
        return ptr;
    }
`, 'the string copy without realloc');
if (/passStringToWasm0\([^,()]+, [^,()]+\)/.test(js)) throw new Error('the glue passes a string without realloc');
fs.writeFileSync(dir + '/rumprops.js', js);
JS
# --converge repeats -Oz while it still shrinks the module. --low-memory-unused lets wasm-opt fold
# constant offsets into loads and stores: Rust puts the stack first, so the lowest 1 KiB is only
# reached by a stack already 1 MiB deep. Together about 0.4 kB brotli.
node_modules/.bin/wasm-opt -Oz --converge --low-memory-unused $FEATURES --strip-debug --strip-producers --strip-target-features "$tmp/rumprops_bg.wasm" -o "$tmp/rumprops_bg.wasm"
touch "$tmp/.built"
rm -rf "$OUT" && mv "$tmp" "$OUT"
echo "built $OUT: $(wc -c < "$OUT/rumprops_bg.wasm") B wasm, $(wc -c < "$OUT/rumprops.js") B glue"
