// The script-tag bootstrap, put after rumprops-core.js and wasm-bindgen's glue (`loadGlue`) inside
// one function by scripts/build-agent.sh: <script async src=".../rumprops.js"
// data-config="/rumprops.json"> (a URL, or the config's JSON inline). The module is fetched
// from pkg/rumprops_bg.wasm next to this script.
var w = window;
if (!(w.rumprops && w.rumprops.__rumprops)) {
  var d = document;
  var script = d.currentScript;
  var base = (script && script.src) || d.baseURI;
  var source = script && script.getAttribute('data-config');
  var configFetch = w.fetch;
  var agent = createAgent(w, function (fetch) {
    var wasm = new URL('pkg/rumprops_bg.wasm', base).href;
    return loadGlue(typeof fetch === 'function' ? Reflect.apply(fetch, w, [wasm]) : wasm);
  });
  agent.__rumprops = true;
  w.rumprops = agent;
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
