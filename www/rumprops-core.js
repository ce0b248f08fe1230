// rumprops-core: the JS side of the agent, shared by the script tag and the npm package.
//
// It forwards page events to the WebAssembly module, posts the beacons the module hands out,
// and queues API calls made before the module is ready. Every decision (rules, sessions,
// batching, retries, privacy) is made in Rust; nothing here parses or builds JSON.
//
// Never throw into the host page: every entry point is guarded, and after the module's first
// exception it is never called again (its state may be half-updated). The code avoids
// Array.prototype and JSON, which pages replace.

const API = ['init', 'addActionProperties', 'sendSessionProperties', 'identifyUser', 'enterAction',
  'leaveAction', 'enable', 'disable', 'endSession', 'flush', 'evaluateRules'];

/**
 * Creates the agent for `win` (a window). `load(fetch)` returns a promise of the initialized
 * wasm-bindgen module; it gets the page's fetch from before the agent wrapped it, so the
 * module's own download is not counted as a page request. The returned object has the JS API of DESIGN.md §7.
 */
export function createAgent(win, load) {
  let m = null;        // the module, once loaded
  let dead = !win;     // true after a module exception, or without a window
  let started = false; // init succeeded
  let timer = 0;
  let queue = [];
  let tokens = {};     // ids handed out by enterAction before the module was ready
  let nextToken = 0;
  let url = '';
  const F = win && win.fetch;
  // Requests the page started before this point are read from Resource Timing at the end of
  // the load action; later ones go through the wrappers (queued until the module is ready).
  let bootedAt = 0;
  try { bootedAt = win.performance.now(); } catch (e) { /* no performance API */ }
  const nav = win && win.navigator;
  const warn = (msg) => { try { win.console.warn('rumprops: ' + msg); } catch (e) { /* no console */ } };

  function pump() {
    const out = m.takeBeacons();
    for (let i = 0; i < out.length; i++) send(out[i]);
    const wait = m.nextWakeup();
    win.clearTimeout(timer);
    timer = wait >= 0 ? win.setTimeout(() => call('tick'), wait) : 0;
  }

  // Calls the module, then posts what it hands out. Returns undefined after a failure.
  function call(name, a, b, c, d) {
    if (dead || !m) return undefined;
    try {
      const r = m[name](a, b, c, d);
      if (started) pump();
      return r;
    } catch (e) {
      dead = true;
      win.clearTimeout(timer);
      warn('stopped after an internal error');
      return undefined;
    }
  }

  function send(b) {
    const sid = b[0], seq = b[1], body = b[2], leave = b[3];
    if (leave && nav && typeof nav.sendBeacon === 'function') {
      // Accepted means queued by the browser: no answer comes, the module resends it later
      // if no other answer acknowledges it, and the collector drops the duplicate.
      try { if (nav.sendBeacon(url, body)) return; } catch (e) { /* fall back to fetch */ }
    }
    const failed = () => call('response', sid, seq, 0, undefined);
    try {
      Reflect.apply(F, win, [url, { method: 'POST', body, keepalive: leave, credentials: 'omit' }])
        .then((r) => call('response', sid, seq, r.status, r.headers.get('Retry-After') || undefined), failed);
    } catch (e) {
      win.setTimeout(failed, 0);
    }
  }

  function on(target, type, fn, capture) {
    try { target.addEventListener(type, fn, capture ? { capture: true, passive: true } : { passive: true }); } catch (e) { /* ignore */ }
  }

  function wrap(obj, key, make) {
    try {
      const orig = obj && obj[key];
      if (typeof orig === 'function') obj[key] = make(orig);
    } catch (e) { /* a frozen object */ }
  }

  function instrument() {
    const d = win.document;
    on(d, 'click', (e) => call('click', e.target), true);
    on(win, 'popstate', () => call('route'));
    on(win, 'hashchange', () => call('route'));
    const history = win.history;
    wrap(history, 'pushState', (orig) => function () { const r = Reflect.apply(orig, this, arguments); call('route'); return r; });
    wrap(history, 'replaceState', (orig) => function () { const r = Reflect.apply(orig, this, arguments); call('route'); return r; });
    on(win, 'error', () => call('jsError'));
    on(win, 'unhandledrejection', () => call('jsError'));
    on(d, 'visibilitychange', () => { if (d.visibilityState === 'hidden') call('leave', 0); });
    on(win, 'pagehide', () => call('leave', 1));
    on(d, 'freeze', () => call('leave', 2));
    if (d.readyState === 'complete') call('loaded');
    else on(win, 'load', () => win.setTimeout(() => call('loaded'), 0));
  }

  // Requests are watched from the start, before the module is ready: until then each one is a
  // record, handed to the module once it runs (they belong to the load action).
  let early = [];
  function requestStart() {
    if (started) return call('requestStart') || '';
    const rec = { id: '', done: false, failed: false };
    if (!dead && early.length < 1000) early[early.length] = rec;
    return rec;
  }
  function requestEnd(handle, failed) {
    if (typeof handle === 'string') { if (handle) call('requestEnd', handle, failed); return; }
    if (handle.id) call('requestEnd', handle.id, failed);
    else { handle.done = true; handle.failed = failed; }
  }
  function replayEarly() {
    const recs = early;
    early = [];
    for (let i = 0; i < recs.length; i++) {
      const rec = recs[i];
      rec.id = call('requestStart') || '';
      if (rec.done && rec.id) call('requestEnd', rec.id, rec.failed);
    }
  }
  function watchRequests() {
    wrap(win, 'fetch', (orig) => function () {
      const h = requestStart();
      let p;
      try {
        p = Reflect.apply(orig, this, arguments);
      } catch (e) {
        requestEnd(h, true);
        throw e; // the page's own call failed: its error, as without the agent
      }
      if (p && typeof p.then === 'function') {
        p.then((r) => requestEnd(h, !r || !(r.status < 400)), () => requestEnd(h, true));
      }
      return p;
    });
    const xhr = win.XMLHttpRequest && win.XMLHttpRequest.prototype;
    // Each XHR's running request, ended by its loadend or, if the page opens the XHR again first
    // (from its own loadend handler, or to abort it: no loadend then), by that open() while its
    // status is still readable.
    let live = null;
    try { live = new WeakMap(); } catch (e) { /* no WeakMap: loadend only */ }
    wrap(xhr, 'open', (orig) => function () {
      try { const end = live && live.get(this); if (end) end(); } catch (e) { /* ignore */ }
      return Reflect.apply(orig, this, arguments);
    });
    wrap(xhr, 'send', (orig) => function () {
      const h = requestStart();
      const req = this;
      let ended = false;
      const end = (failed) => { if (!ended) { ended = true; requestEnd(h, failed); } };
      const finish = () => end(!(req.status > 0 && req.status < 400));
      try { if (live) live.set(req, finish); } catch (e) { /* ignore */ }
      on(req, 'loadend', finish);
      try {
        return Reflect.apply(orig, this, arguments);
      } catch (e) {
        end(true); // no request was made (send before open, twice): nothing else would end it
        throw e; // the page's own call failed: its error, as without the agent
      }
    });
  }

  function init(config) {
    if (started) return true;
    const err = call('init', config, bootedAt, win);
    if (err === undefined) return false;
    if (err !== '') { warn('config refused: ' + err); return false; }
    // The URL first: once started, every call posts what the module hands out (a restored
    // outbox is due at once), and a post to '' would go to the page itself.
    url = call('collector') || '';
    started = true;
    instrument();
    replayEarly();
    call('tick');
    return true;
  }

  const real = (id) => (typeof id === 'string' && tokens[id] !== undefined ? tokens[id] : id);
  const direct = {
    init,
    addActionProperties: (id, props) => call('addActionProperties', real(id === undefined ? null : id), props),
    sendSessionProperties: (props) => call('sendSessionProperties', props),
    identifyUser: (id) => { call('identifyUser', id); },
    enterAction: (name) => call('enterAction', name),
    leaveAction: (id) => { call('leaveAction', real(id)); },
    enable: () => { call('enable'); },
    disable: () => { call('disable'); },
    endSession: () => { call('endSession'); },
    flush: () => { call('flush'); },
    evaluateRules: () => call('evaluateRules'),
  };

  // Calls wait in the queue until the module is loaded and init succeeded: a call replayed
  // before init (the config may arrive after the module) would be lost.
  const MAX_QUEUED = 1000;
  const api = {};
  for (let i = 0; i < API.length; i++) {
    const name = API[i];
    api[name] = function (a, b) {
      try {
        if (dead) return direct[name](a, b); // inert: init answers false, the rest undefined
        if (m && name === 'init') {
          const ok = init(a);
          if (ok) replay();
          return ok;
        }
        if (m && started) return direct[name](a, b);
        // Not ready yet: queue the call. enterAction answers with a token that later calls map.
        let token;
        if (name === 'enterAction') { token = 'pending-' + (++nextToken); }
        if (queue.length < MAX_QUEUED) queue[queue.length] = [name, a, b, token];
        return token;
      } catch (e) {
        return undefined;
      }
    };
  }

  // Replays the queue once the module is loaded: a queued init first (the first that succeeds),
  // then, once started, every other call in the order it was made.
  function replay() {
    if (!m || dead) return;
    for (let i = 0; i < queue.length && !started; i++) {
      const c = queue[i];
      if (c && c[0] === 'init') { queue[i] = null; init(c[1]); }
    }
    if (!started) return;
    const q = queue;
    queue = [];
    for (let i = 0; i < q.length; i++) {
      const c = q[i];
      if (!c || c[0] === 'init') continue;
      const r = direct[c[0]](c[1], c[2]);
      if (c[3] !== undefined && typeof r === 'string' && r !== '') tokens[c[3]] = r;
    }
  }

  if (!dead) {
    try {
      watchRequests();
      Promise.resolve(load(F)).then((mod) => { m = mod; replay(); }, (e) => { dead = true; warn('the module did not load: ' + e); });
    } catch (e) {
      dead = true;
    }
  }
  return api;
}
