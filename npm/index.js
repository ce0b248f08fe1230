// rumprops for bundlers and ES module imports: the JS API of DESIGN.md §7 as named exports.
//
// The package holds rumprops-core.js (shared with the script tag), wasm-bindgen's `--target web`
// glue, the module and its plain-JS fallback in wasm/. The module is located with new URL('./wasm/rumprops_bg.wasm',
// import.meta.url), which Vite, webpack 5, Rollup, Parcel and esbuild emit as an asset with no
// plugin, and which works unbundled in browsers too. Both are loaded on the first API call, not
// at import: importing has no side effects.
//
// Without a window (server-side rendering, tests in Node) every call is inert: it returns
// undefined (init: false) and never throws.
import { createAgent } from './rumprops-core.js';
import { configJson } from './config-json.js';

let agent = null;

// `fetch` is the page's own, from before the agent wrapped it: the module's download is not a
// page request. Where compiling WebAssembly is refused (a Content Security Policy without
// 'wasm-unsafe-eval', or no WebAssembly at all), the same module as plain JS is imported
// instead (wasm/rumprops_fallback.js, a chunk of its own for bundlers), as the script tag does.
function load(fetch) {
  try {
    // The smallest module (its header): compiling it throws where WebAssembly is refused.
    new WebAssembly.Module(Uint8Array.of(0, 97, 115, 109, 1, 0, 0, 0));
  } catch (e) {
    return import('./wasm/rumprops_fallback.js').then((fallback) => { fallback.default(); return fallback; });
  }
  const url = new URL('./wasm/rumprops_bg.wasm', import.meta.url);
  return import('./wasm/rumprops.js').then((glue) => glue.default(Reflect.apply(fetch, window, [url])).then(() => glue));
}

function run(name, a, b) {
  try {
    if (agent === null) {
      const win = typeof window !== 'undefined' && window && window.document ? window : null;
      // The parts only some configs need: the serializer of config objects, which an app's
      // init nearly always passes, and the SHA-256 of hashed rules, a chunk of its own.
      agent = createAgent(win, load, (part) => (part === 'json' ? configJson : import('./sha256.js').then((m) => m.sha256)));
    }
    return agent[name](a, b);
  } catch (e) {
    return undefined;
  }
}

export function init(config) { return run('init', config); }
export function addActionProperties(actionId, properties) { return run('addActionProperties', actionId, properties); }
export function sendSessionProperties(properties) { return run('sendSessionProperties', properties); }
export function identifyUser(id) { run('identifyUser', id); }
export function enterAction(name) { return run('enterAction', name); }
export function leaveAction(id) { run('leaveAction', id); }
export function enable() { run('enable'); }
export function disable() { run('disable'); }
export function endSession() { run('endSession'); }
export function flush() { run('flush'); }
export function evaluateRules() { return run('evaluateRules'); }
export function reportError(message, actionId) { run('reportError', message, actionId); }
export function nameAction(name, actionId) { return run('nameAction', name, actionId); }
