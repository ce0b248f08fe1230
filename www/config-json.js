// The config serializer: init() given a config object (not its JSON text) writes it as JSON
// with this. Only such configs need it, so the script tag fetches it as pkg/rumprops_json.js
// (scripts/build-agent.sh) when init is first called with an object; the npm package, whose
// callers pass objects, imports it (npm/index.js).
//
// A config object as JSON text, read member by member (JSON.stringify may be the page's own):
// functions and undefined members are left out, other values JSON has no text for are null.
// undefined when it is deeper than 32 levels or has more than 100,000 values (a cyclic object
// is both): a real config has a few thousand, and walking such an object in full would hang
// the page.
export function configJson(root) {
  // o[k], undefined when a getter or proxy trap throws (or o is not an object).
  const read = (o, k) => { try { return o[k]; } catch (e) { return undefined; } };
  let budget = 100000;
  const str = (s) => {
    let out = '"', from = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 34 || c === 92 || c < 32) {
        out += s.slice(from, i) + (c < 32 ? '\\u' + (c + 65536).toString(16).slice(1) : '\\' + s.charAt(i));
        from = i + 1;
      }
    }
    return out + s.slice(from) + '"';
  };
  const walk = (v, depth) => {
    if (--budget < 0) return undefined;
    const t = typeof v;
    if (t === 'string') return str(v);
    if (t === 'number') return v - v === 0 ? '' + v : 'null'; // NaN and infinities: null
    if (t === 'boolean') return v ? 'true' : 'false';
    if (t !== 'object' || v === null) return 'null';
    if (depth >= 32) return undefined;
    let out = '', item;
    if (Array.isArray(v)) {
      const n = read(v, 'length');
      for (let i = 0; i < (typeof n === 'number' ? n : 0); i++) {
        if ((item = walk(read(v, i), depth + 1)) === undefined) return undefined;
        out += (i ? ',' : '') + item;
      }
      return '[' + out + ']';
    }
    let keys = [];
    try { keys = Reflect.ownKeys(v); } catch (e) { /* a proxy trap */ }
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      if (typeof k !== 'string') continue;
      try { item = v[k]; } catch (e) { continue; }
      if (item === undefined || typeof item === 'function') continue;
      if ((item = walk(item, depth + 1)) === undefined) return undefined;
      out += (out ? ',' : '') + str(k) + ':' + item;
    }
    return '{' + out + '}';
  };
  try { return walk(root, 0); } catch (e) { return undefined; }
}
