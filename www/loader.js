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
  // A part only some pages need, pkg/rumprops_<name>.js: a promise of what it hands to
  // window.rumprops_<name> once it runs (scripts/build-agent.sh).
  var part = function (name) {
    return new Promise(function (ok, fail) {
      w['rumprops_' + name] = ok;
      insert('pkg/rumprops_' + name + '.js').onerror = fail;
    });
  };
  var agent = createAgent(w, function (fetch) {
    try {
      // The smallest module (its header): compiling it throws where a CSP refuses WebAssembly.
      new WebAssembly.Module(Uint8Array.of(0, 97, 115, 109, 1, 0, 0, 0));
    } catch (e) {
      return part('fallback'); // the module as plain JS
    }
    var wasm = new URL('pkg/rumprops_bg.wasm', base).href;
    return loadGlue(typeof fetch === 'function' ? Reflect.apply(fetch, w, [wasm]) : wasm);
  }, part); // 'sha256' for hashed rules, 'json' for a config object
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
