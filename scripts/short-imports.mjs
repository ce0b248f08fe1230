// Renames the module's imports to short names, in the module and in wasm-bindgen's glue alike.
//   node scripts/short-imports.mjs DIR     (DIR holds rumprops_bg.wasm and rumprops.js)
//
// wasm-bindgen names each import after the JS it calls plus a hash
// (`__wbg_getAttribute_c5dd0ff3bd2dc1c0`), under the module "./rumprops_bg.js". Those names are
// written twice, in the module's import section and as keys of the glue's import object, and the
// hashes do not compress: about 70 imports cost kilobytes. Nothing else refers to them, so
// renaming both sides (module "a", imports "a", "b", …, "aa", …) changes no behaviour.
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node scripts/short-imports.mjs DIR');
  process.exit(2);
}
const wasmPath = path.join(dir, 'rumprops_bg.wasm');
const gluePath = path.join(dir, 'rumprops.js');
const wasm = fs.readFileSync(wasmPath);
let glue = fs.readFileSync(gluePath, 'utf8');

const GLUE_MODULE = './rumprops_bg.js';
const SHORT_MODULE = 'a';

function readU32(buf, pos) {
  let result = 0;
  let shift = 0;
  for (;;) {
    const byte = buf[pos++];
    result += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(byte & 0x80)) return [result, pos];
  }
}

function u32(n) {
  const out = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return Buffer.from(out);
}

function name(s) {
  const bytes = Buffer.from(s, 'utf8');
  return Buffer.concat([u32(bytes.length), bytes]);
}

/** "a" … "z", "aa", "ab", …: the n-th short name (a valid JS identifier). */
function shortName(n) {
  let s = '';
  do {
    s = String.fromCharCode(97 + (n % 26)) + s;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return s;
}

/** The length of an import's description (after its kind byte) at `pos`. */
function descEnd(buf, kind, pos) {
  const limits = (p) => {
    const flags = buf[p++];
    [, p] = readU32(buf, p);
    if (flags & 1) [, p] = readU32(buf, p);
    return p;
  };
  switch (kind) {
    case 0: return readU32(buf, pos)[1]; // function: type index
    case 1: return limits(pos + 1); // table: element type, limits
    case 2: return limits(pos); // memory: limits
    case 3: return pos + 2; // global: value type, mutability
    case 4: return readU32(buf, pos + 1)[1]; // tag: attribute, type index
    default: throw new Error(`unknown import kind ${kind}`);
  }
}

if (wasm.readUInt32LE(0) !== 0x6d736100) throw new Error(`${wasmPath}: not a WebAssembly module`);
const parts = [wasm.subarray(0, 8)];
const renamed = new Map();
let pos = 8;
while (pos < wasm.length) {
  const id = wasm[pos];
  const [size, start] = readU32(wasm, pos + 1);
  const end = start + size;
  if (id !== 2) {
    parts.push(wasm.subarray(pos, end));
    pos = end;
    continue;
  }
  let [count, p] = readU32(wasm, start);
  const body = [u32(count)];
  for (let i = 0; i < count; i++) {
    let len;
    [len, p] = readU32(wasm, p);
    const module = wasm.toString('utf8', p, p + len);
    p += len;
    [len, p] = readU32(wasm, p);
    const field = wasm.toString('utf8', p, p + len);
    p += len;
    const kind = wasm[p];
    const stop = descEnd(wasm, kind, p + 1);
    if (module === GLUE_MODULE) {
      const short = shortName(renamed.size);
      renamed.set(field, short);
      body.push(name(SHORT_MODULE), name(short));
    } else {
      body.push(name(module), name(field));
    }
    body.push(wasm.subarray(p, stop));
    p = stop;
  }
  const content = Buffer.concat(body);
  parts.push(Buffer.from([2]), u32(content.length), content);
  pos = end;
}

// The glue's import object: `name: function(…)` keys, and the module's entry.
for (const [field, short] of renamed) {
  const re = new RegExp(`(?<![\\w$])${field.replace(/\$/g, '\\$')}(?=\\s*:)`, 'g');
  const hits = glue.match(re);
  if (!hits || hits.length !== 1) throw new Error(`${gluePath}: import ${field} found ${hits ? hits.length : 0} times`);
  glue = glue.replace(re, short);
}
const moduleKey = `"${GLUE_MODULE}": import0`;
if (!glue.includes(moduleKey)) throw new Error(`${gluePath}: no "${moduleKey}"`);
glue = glue.replace(moduleKey, `${SHORT_MODULE}: import0`);

fs.writeFileSync(wasmPath, Buffer.concat(parts));
fs.writeFileSync(gluePath, glue);
console.log(`short-imports: ${renamed.size} imports renamed`);
