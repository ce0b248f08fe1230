#!/usr/bin/env bash
# Builds the agent's WebAssembly module once for every package that ships it (the script tag's
# www/dist/ and the npm package), into target/agent-wasm/:
#   rumprops.js            wasm-bindgen's JS glue, --target web
#   rumprops_bg.wasm       the module, optimized with wasm-opt
#   names.json, rumprops_bg.named.wasm   for bench/run.mjs, not shipped: the module's short
#                          names of imports and exports, and the module before optimizing,
#                          with its function names
#   fallback/rumprops.js   the same module as plain JS, for pages whose Content Security Policy
#   fallback/rumprops_asm.js  refuses to compile WebAssembly: binaryen's wasm2js output of the
#                          same cargo build (asm.js, `asmFunc`), and wasm-bindgen's glue for it.
#                          wasm2js knows one table and no multi-value returns, so wasm-bindgen runs
#                          on a copy whose target_features section says neither reference-types
#                          nor multivalue: it then keeps JS values in its JS-side heap instead of
#                          an externref table, and returns pairs through memory.
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
FALLBACK_FEATURES="--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals"

mkdir -p target
exec 9>target/agent-wasm.lock
flock 9 # build-agent.sh and pack-npm.sh may run side by side
cargo build --release --target wasm32-unknown-unknown -p rumprops --lib --no-default-features
if [ "$OUT/.built" -nt "$WASM" ] && [ "$OUT/.built" -nt "$0" ] && [ -f "$OUT/rumprops_bg.wasm" ]; then
  exit 0
fi
tmp=$(mktemp -d target/agent-wasm.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# wasm-bindgen, then the names and the function table (below), for one mode: `module` (the
# shipped module, into $tmp) or `fallback` (the copy for wasm2js, into $tmp/fallback).
bindgen() {
local input=$1 dir=$2 features=$3 mode=$4
wasm-bindgen --target web --omit-default-module-path --no-typescript --out-dir "$dir" "$input"
# Import, export and module names (`./rumprops_bg.js`, `__wbg_getItem_49556a3e59cfb688`, …)
# become one or two letters, in the module and the glue alike (about 2 kB brotli). wasm-opt
# prints the mapping: {"imports": [[module, name, new name], …], "exports": [[name, new name], …]},
# and every import's module becomes "a".
node_modules/.bin/wasm-opt $features --debuginfo --minify-imports-and-exports-and-modules \
  "$dir/rumprops_bg.wasm" -o "$dir/rumprops_bg.wasm" > "$dir/names.json"
node --input-type=module - "$dir" "$mode" <<'JS'
import fs from 'node:fs';
import binaryen from 'binaryen';
const [dir, mode] = process.argv.slice(2);
const fallback = mode === 'fallback';
const map = JSON.parse(fs.readFileSync(dir + '/names.json', 'utf8'));
const m = binaryen.readBinary(fs.readFileSync(dir + '/rumprops_bg.wasm'));
const F = binaryen.Features; // as $FEATURES: nothing the browsers lack (e.g. compact imports)
m.setFeatures(F.BulkMemory | F.NontrappingFPToInt | F.SignExt | F.MutableGlobals | (fallback ? 0 : F.ReferenceTypes | F.Multivalue));
let js = fs.readFileSync(dir + '/rumprops.js', 'utf8');

// Without reference types, wasm-bindgen leaves one import of its externref runtime unresolved:
// the end of the fixed JS-value slots, which Clone and Drop compare against. In its JS-side heap
// the fixed slots are the 1024 of the stack and the four constants after them (undefined, null,
// true, false), so the import becomes a function answering 1028, checked against the glue.
if (fallback) {
  const statics = map.imports.find((i) => i[1] === '__wbindgen_externref_statics_end');
  const heap = 'let heap = new Array(1024).fill(undefined);\nheap.push(undefined, null, true, false);';
  if (!statics || !js.includes(heap)) throw new Error('the fallback glue\'s JS-value heap is not the one scripts/build-wasm.sh knows');
  let replaced = 0;
  for (let i = 0; i < m.getNumFunctions(); i++) {
    const f = binaryen.getFunctionInfo(m.getFunctionByIndex(i));
    if (f.module && f.base === statics[2]) { // every import's module is "a" now
      m.removeFunction(f.name);
      m.addFunction(f.name, binaryen.none, binaryen.i32, [], m.i32.const(1024 + 4));
      replaced++;
      break;
    }
  }
  if (!replaced) throw new Error('no import ' + statics[2] + ' in the fallback module');
  map.imports.splice(map.imports.indexOf(statics), 1);
  const xform = /^import \* as (\w+) from "__wbindgen_externref_xform__";?\n/m.exec(js);
  if (!xform) throw new Error('no externref runtime import in the fallback glue');
  js = js.replace(xform[0], '').replace(new RegExp('\\n\\s*"__wbindgen_externref_xform__": ' + xform[1] + ','), '');
}

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
if (!fallback) {
  binaryen.setDebugInfo(true);
  fs.writeFileSync(dir + '/rumprops_bg.named.wasm', m.emitBinary());
  binaryen.setDebugInfo(false);
}

// The glue, renamed to match.
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
// (www/loader.js and npm/index.js) pass the promise of the page's fetch of it, so that part
// becomes one small function (about 250 B brotli less). The shape it replaces is
// checked: a new wasm-bindgen that changes it fails the build here instead of loading wrong.
const start = js.indexOf('async function __wbg_load(');
const tail = 'export { initSync, __wbg_init as default };';
if (start < 0 || !js.trimEnd().endsWith(tail) || !/\nfunction __wbg_finalize_init\(instance, module\) \{/.test(js)) {
  throw new Error('the glue\'s loading code is not the one scripts/build-wasm.sh replaces');
}
js = js.slice(0, start) + (fallback ? `// Runs the module as plain JS: \`asmFunc\`, wasm2js's output, which scripts/build-agent.sh
// puts beside this glue.
export default function () {
    if (wasm !== undefined) return wasm;
    return __wbg_finalize_init({ exports: asmFunc(__wbg_get_imports()) }, undefined);
}
` : `// Loads the module from a fetch Response (or its promise).
export default async function (source) {
    if (wasm !== undefined) return wasm;
    const r = await source;
    if (!r.ok) throw new Error('HTTP ' + r.status);
    const { instance, module } = await WebAssembly.instantiate(await r.arrayBuffer(), __wbg_get_imports());
    return __wbg_finalize_init(instance, module);
}
`);
// A view of memory is stale once memory grew, which gives memory a new buffer: the glue's test
// of the DataView (a detached buffer, or where browsers lack `detached` another buffer) is the
// second half alone, which holds in both cases. wasm2js's memory grows into a new ArrayBuffer
// and leaves the old one attached, so there the glue's test of the byte view (an empty buffer)
// never fires: the fallback's glue compares that view's buffer with the memory's too.
{
  const stale = [
    ['cachedDataViewMemory0.buffer.detached === true || (cachedDataViewMemory0.buffer.detached === undefined && cachedDataViewMemory0.buffer !== wasm.memory.buffer)',
      'cachedDataViewMemory0.buffer !== wasm.memory.buffer'],
  ];
  if (fallback) stale.push(['cachedUint8ArrayMemory0.byteLength === 0', 'cachedUint8ArrayMemory0.buffer !== wasm.memory.buffer']);
  for (const [from, to] of stale) {
    if (js.split(from).length !== 2) throw new Error('not once in the glue: ' + from);
    js = js.replace(from, () => to);
  }
  if (/\.detached/.test(js) || (fallback && /byteLength === 0/.test(js))) throw new Error('a view of memory in the glue is not checked against the memory');
}

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
}

bindgen "$WASM" "$tmp" "$FEATURES" module
# The fallback: the cargo build's target_features section edited in place (`+` to `-` before
# reference-types and multivalue, same length), so wasm-bindgen emits its glue without them.
mkdir -p "$tmp/fallback"
node --input-type=module - "$WASM" "$tmp/fallback/rumprops.wasm" <<'JS'
import fs from 'node:fs';
const [from, to] = process.argv.slice(2);
const b = fs.readFileSync(from);
let p = 8, flipped = 0;
const leb = () => { let r = 0, s = 0, x; do { x = b[p++]; r |= (x & 127) << s; s += 7; } while (x & 128); return r >>> 0; };
while (p < b.length) {
  const id = b[p++], size = leb(), end = p + size;
  if (id === 0) {
    const n = leb();
    if (b.toString('utf8', p, p + n) === 'target_features') {
      p += n;
      for (let count = leb(); count > 0; count--) {
        const at = p++, len = leb(), name = b.toString('utf8', p, p + len);
        p += len;
        if ((name === 'reference-types' || name === 'multivalue') && b[at] === 0x2b) { b[at] = 0x2d; flipped++; }
      }
    }
  }
  p = end;
}
if (flipped !== 2) throw new Error('the module does not declare reference-types and multivalue: ' + from);
fs.writeFileSync(to, b);
JS
bindgen "$tmp/fallback/rumprops.wasm" "$tmp/fallback" "$FALLBACK_FEATURES" fallback
rm "$tmp/fallback/rumprops.wasm"
# --converge repeats -Oz while it still shrinks the module. --low-memory-unused lets wasm-opt fold
# constant offsets into loads and stores: Rust puts the stack first, so the lowest 1 KiB is only
# reached by a stack already 1 MiB deep. Together about 0.4 kB brotli. Before that, similar
# functions merged into one with the difference as a parameter, and twice the control flow
# flattened and rebuilt by the relooper (--flatten --rereloop) before -Oz, and after it one more
# -Oz: about 0.45 kB brotli more (docs/size.md).
node_modules/.bin/wasm-opt $FEATURES --merge-similar-functions --flatten --rereloop -Oz --flatten --rereloop -Oz --converge --low-memory-unused -Oz \
  --strip-debug --strip-producers --strip-target-features "$tmp/rumprops_bg.wasm" -o "$tmp/rumprops_bg.wasm"
# The fallback: the same optimizations, with the two proposals wasm2js does not take lowered to
# plain instructions (saturating float-to-int conversions, sign extension), then wasm2js.
node_modules/.bin/wasm-opt -Oz --converge --low-memory-unused $FALLBACK_FEATURES --llvm-nontrapping-fptoint-lowering --signext-lowering \
  --strip-debug --strip-producers --strip-target-features "$tmp/fallback/rumprops_bg.wasm" -o "$tmp/fallback/rumprops_bg.wasm"
node_modules/.bin/wasm2js --enable-bulk-memory --enable-mutable-globals -Oz "$tmp/fallback/rumprops_bg.wasm" -o "$tmp/fallback/rumprops_asm.js"
rm "$tmp/fallback/rumprops_bg.wasm"
touch "$tmp/.built"
rm -rf "$OUT" && mv "$tmp" "$OUT"
echo "built $OUT: $(wc -c < "$OUT/rumprops_bg.wasm") B wasm, $(wc -c < "$OUT/rumprops.js") B glue; fallback: $(wc -c < "$OUT/fallback/rumprops_asm.js") B asm.js, $(wc -c < "$OUT/fallback/rumprops.js") B glue"
