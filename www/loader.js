// The script-tag bootstrap, put after rumprops-core.js and wasm-bindgen's glue (`loadGlue`) inside
// one function by scripts/build-agent.sh: <script async src=".../rumprops.js"
// data-config="/rumprops.json"> (a URL, or the config's JSON inline). The module is fetched
// from pkg/rumprops_bg.wasm next to this script; on a page that may not compile WebAssembly (a
// Content Security Policy without 'wasm-unsafe-eval', or no WebAssembly at all) the same module
// as plain JS, pkg/rumprops_fallback.js, is inserted as a script instead (with this script's
// nonce), and nothing else changes. With data-dtrum="true", dtrum.js (the dtrum compatibility
// shim) is inserted beside it.
var w = window;
if (!(w.rumprops && w.rumprops.__rumprops)) {
  var d = document;
  var script = d.currentScript;
  var base = (script && script.src) || d.baseURI;
  var source = script && script.getAttribute('data-config');
  var configFetch = w.fetch;
  // Inserts a script from beside this one, with its nonce (a CSP that allows this script allows it).
  var insert = function (file) {
    var s = d.createElement('script');
    s.src = new URL(file, base);
    s.nonce = (script && script.nonce) || '';
    return d.documentElement.appendChild(s);
  };
  var agent = createAgent(w, function (fetch) {
    try {
      // The smallest module (its header): compiling it throws where a CSP refuses WebAssembly.
      new WebAssembly.Module(Uint8Array.of(0, 97, 115, 109, 1, 0, 0, 0));
    } catch (e) {
      return new Promise(function (ok, fail) {
        w.rumprops_fallback = ok; // the fallback calls it with the module once it runs
        insert('pkg/rumprops_fallback.js').onerror = fail;
      });
    }
    var wasm = new URL('pkg/rumprops_bg.wasm', base).href;
    return loadGlue(typeof fetch === 'function' ? Reflect.apply(fetch, w, [wasm]) : wasm);
  }, function () {
    // The SHA-256 for hashed rules (pkg/rumprops_sha256.js), only for a config with one.
    return new Promise(function (ok, fail) {
      w.rumprops_sha256 = ok;
      insert('pkg/rumprops_sha256.js').onerror = fail;
    });
  });
  agent.__rumprops = true;
  w.rumprops = agent;
  // The dtrum shim (dist/dtrum.js): window.dtrum over this agent, once it ran.
  if (script && script.getAttribute('data-dtrum') === 'true') insert('dtrum.js');
  if (source) {
    if (source.trim().charAt(0) === '{') {
      agent.init(source);
    } else {
      try {
        Reflect.apply(configFetch, w, [new URL(source, d.baseURI).href, { credentials: 'same-origin' }])
          .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
          .then(agent.init, function (why) {
            try { w.console.warn('rumprops: cannot load the config ' + source + ' (' + why + ')'); } catch (e) { /* no console */ }
          });
      } catch (e) { /* no fetch: stay inert */ }
    }
  }
}
