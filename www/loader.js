// The script-tag bootstrap, put after rumprops-core.js and wasm-bindgen's glue (`loadGlue`) inside
// one function by scripts/build-agent.sh: <script async src=".../rumprops.js"
// data-config="/rumprops.json"> (a URL, or the config's JSON inline). The module is fetched
// from pkg/rumprops_bg.wasm next to this script; on a page that may not compile WebAssembly (a
// Content Security Policy without 'wasm-unsafe-eval', or no WebAssembly at all) the same module
// as plain JS, pkg/rumprops_fallback.js, is inserted as a script instead (with this script's
// nonce), and nothing else changes. With data-dtrum="true", dtrum.js (the dtrum compatibility
// shim) is written in after this script (a tag without async or defer), else inserted.
var w = window;
if (!(w.rumprops && w.rumprops.__rumprops)) {
  var d = document;
  var script = d.currentScript;
  var base = (script && script.src) || d.baseURI;
  var source = script && script.getAttribute('data-config');
  var configFetch = w.fetch;
  // Inserts a script from beside this one, with its nonce (a CSP that allows this script allows
  // it). With `write`, from a tag that holds the parser (no async or defer, as Dynatrace's own),
  // it is written in right after this script instead, so that the page's next scripts find it
  // run; where writing throws (an XML document) it is inserted. Throws where Trusted Types
  // refuse a script URL given as text.
  var insert = function (file, write) {
    var s = d.createElement('script');
    s.src = new URL(file, base);
    s.setAttribute('nonce', (script && script.nonce) || '');
    try {
      if (write && !script.async && d.readyState === 'loading') return d.write(s.outerHTML);
    } catch (e) { /* insert it */ }
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
  // The module through the page's fetch (async: a page without fetch gets the warning that the
  // module did not load, as for any failed download).
  var agent = createAgent(w, async function (fetch) {
    try {
      // The smallest module (its header): compiling it throws where a CSP refuses WebAssembly.
      new WebAssembly.Module(Uint8Array.of(0, 97, 115, 109, 1, 0, 0, 0));
    } catch (e) {
      return part('fallback'); // the module as plain JS
    }
    return loadGlue(Reflect.apply(fetch, w, [new URL('pkg/rumprops_bg.wasm', base).href]));
  }, part); // 'sha256' for hashed rules, 'json' for a config object
  agent.__rumprops = true;
  w.rumprops = agent;
  // The dtrum shim (dist/dtrum.js): window.dtrum over this agent, from the next script on
  // (written in), else once it ran (inserted).
  if (script && script.getAttribute('data-dtrum') === 'true') {
    try { insert('dtrum.js', 1); } catch (e) { /* Trusted Types: no shim */ }
  }
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
