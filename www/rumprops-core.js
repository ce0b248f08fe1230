// rumprops-core: the JS side of the agent, shared by the script tag and the npm package.
//
// It forwards page events to the WebAssembly module, posts the beacons the module hands out,
// and queues API calls made before the module is ready. Every decision (rules, sessions,
// batching, retries, privacy) is made in Rust. This side does the host-object work that is a
// few bytes of JS (see `host`, and the click, config and API value readers) and talks to the
// module in plain strings and numbers; nothing here parses JSON.
//
// Never throw into the host page: every entry point is guarded, and after the module's first
// exception it is never called again (its state may be half-updated). The code avoids
// Array.prototype and JSON, which pages replace.

// The page reads of the module that can throw (src/browser.rs, `Reader`), part of every agent's
// host object; the fixture tests (tests/browser.rs) read pages through it too. They catch.
export const reader = {
  // Reflect.get(o, k), or, when that throws (a getter or proxy trap, o not an object), the
  // object this is called on: the host, which no page value is.
  g(o, k) { try { return Reflect.get(o, k); } catch (e) { return this; } },
  // Whether s is a valid CSS selector: a query in a fragment of the document d does not throw.
  v(d, s) { try { d.createDocumentFragment().querySelector(s); return true; } catch (e) { return false; } },
  // The kind of v (src/browser.rs, `KIND_*`): 0 undefined or null, 1 a string, 2 a number,
  // 3 false, 4 true, 5 a BigInt, 6 a Date, 7 another object or a function, 8 a symbol.
  t(v) {
    const t = typeof v;
    if (v === undefined || v === null) return 0;
    if (t === 'string') return 1;
    if (t === 'number') return 2;
    if (t === 'boolean') return v ? 4 : 3;
    if (t === 'bigint') return 5;
    if (t !== 'object' && t !== 'function') return 8;
    try { if (v instanceof Date) return 6; } catch (e) { /* a proxy trap */ }
    return 7;
  },
  // h(b): the lowercase hex SHA-256 of the bytes b, for rules with "hash": set from
  // www/sha256.js once an agent fetched it for a config with such a rule (createAgent's `part`).
  // j(o): a config object as JSON text, set from www/config-json.js once an agent fetched it for
  // a config given as an object.
};

/**
 * Creates the agent for `win` (a window). `load(fetch)` returns a promise of the initialized
 * wasm-bindgen module; it gets the page's fetch from before the agent wrapped it, so the
 * module's own download is not counted as a page request. `part(name)` returns (a promise of)
 * a function only some configs need: 'sha256', www/sha256.js's, for a config with a hashed
 * rule, and 'json', www/config-json.js's, for a config given as an object. The returned
 * object has the JS API of DESIGN.md §7 (and reportError, nameAction).
 */
export function createAgent(win, load, part) {
  let m = null;        // the module, once loaded
  let dead = !win;     // true after a module exception, or without a window
  let started = false; // init succeeded
  let timer = 0;
  let queue = [];
  let tokens = {};     // ids handed out by enterAction before the module was ready
  let nextToken = 0;
  let url = '';
  let fetching = null; // a part (createAgent's `part`) being fetched for init
  const F = win && win.fetch;
  // Requests the page started before this point are read from Resource Timing at the end of
  // the load action; later ones go through the wrappers (queued until the module is ready).
  let bootedAt = 0;
  try { bootedAt = win.performance.now(); } catch (e) { /* no performance API */ }
  const nav = win && win.navigator;
  const warn = (msg) => { try { win.console.warn('rumprops: ' + msg); } catch (e) { /* no console */ } };
  // o[k], undefined when a getter or proxy trap throws (or o is not an object).
  const read = (o, k) => { try { return o[k]; } catch (e) { return undefined; } };

  // The rows the module hands out during one call (host.o): each the arguments [t, a, b, c, n]
  // of its `o` call, see `o` below.
  let rows = [];
  // What the module asks of the page (src/runtime.rs, `Host`). Nothing here throws.
  const storage = () => win.localStorage;
  const host = {
    __proto__: reader, // its methods g and v
    // One row of an answer: a report's or a rule's outcome (key a, source b; t 0: value c,
    // 1: value n, 2: reason c, 3: nothing), or a beacon to post (sid a, body c, seq n; t 4, or
    // 5 when the page may be leaving), which every event but VALUE hands after its answer.
    o() { rows[rows.length] = arguments; },
    r: (k) => { try { return storage().getItem(k); } catch (e) { return undefined; } },
    // With the key '', the session cookie: its value URI-encoded, kept a year past its last write.
    w: (k, v) => {
      try {
        if (!k) {
          win.document.cookie = 'rumprops_s=' + (v == null ? '; max-age=0' : encodeURIComponent(v) + '; max-age=31536000') + '; path=/; SameSite=Lax';
        } else if (v == null) storage().removeItem(k);
        else storage().setItem(k, v);
      } catch (e) { /* no storage, or it is full */ }
    },
    k: (i) => { try { return storage().key(i); } catch (e) { return undefined; } },
    // A random 32-bit number: from Web Crypto, else (very old or locked-down pages) from
    // Math.random, still unique enough for one visitor's sessions.
    n: () => { try { return win.crypto.getRandomValues(new Uint32Array(1))[0]; } catch (e) { return Math.random() * 4294967296 >>> 0; } },
    // The measures of an action of kind k (0 load, 1 route, 2 another) from s to e (epoch ms),
    // indexed as MEASURES in src/agent/action.rs; undefined where the browser gives none (the
    // module checks each). Times are milliseconds from s, but navigationStart (epoch ms). Then
    // (18, 19) the fetch and XHR requests that started before this script, and of them those
    // answered with a status of 400 or more (responseStatus is 0 when unknown, e.g. cross-origin
    // without Timing-Allow-Origin): the load action's. Resource Timing lists them once they finished.
    m: (s, e, k) => {
      const out = [];
      try {
        if (k > 2) {
          const S = win.screen, o = read(S.orientation, 'type');
          out[0] = S.width;
          out[1] = S.height;
          out[2] = (o ? o.charAt(0) === 'l' : S.width >= S.height) ? 1 : 0;
          out[3] = read(win.navigator.connection, 'type');
          return out;
        }
        const P = win.performance, d = P.timeOrigin - s, len = e - s;
        // An entry's time from s, undefined outside the action.
        const at = (t) => ((t += d) >= -1 && t <= len + 1 ? (t > 0 ? t : 0) : undefined);
        // Paint milestones for the visual estimates: first contentful paint, the largest
        // contentful paint, each image's arrival (docs/decisions.md, "Browser agent").
        let list, i, x, t, marks = 0, total = 0, last;
        const mark = (t) => { if (t !== undefined) { marks++; total += t; if (!(last >= t)) last = t; } };
        seen(po && po.takeRecords());
        if (!k) {
          out[0] = P.timeOrigin;
          x = P.getEntriesByType('navigation')[0] || out;
          for (i = 0; i < 8; i++) if ((t = x[NAV[i]]) > 0) out[i + 1] = t + d;
          list = P.getEntriesByType('paint');
          for (i = 0; i < list.length; i++) if (list[i].name === 'first-contentful-paint') mark(at(list[i].startTime));
        }
        if (k < 2) {
          // CLS as web-vitals defines it: the largest burst of layout shifts without recent input
          // (less than 1 s apart, at most 5 s long); 0 without shifts where the browser reports them.
          let cls = types['layout-shift'] && 0, sum = 0, first = -1e9, prev = -1e9, lcp;
          const inter = { __proto__: null };
          for (i = 0; i < entries.length; i++) {
            x = entries[i];
            if ((t = at(x.startTime)) === undefined) continue;
            const type = x.entryType;
            if (type === 'largest-contentful-paint') lcp = t;
            else if (type === 'layout-shift') {
              if (!x.hadRecentInput) {
                if (t - prev > 1000 || t - first > 5000) { first = t; sum = 0; }
                prev = t;
                if ((sum += x.value) > cls) cls = sum;
              }
            } else if (x.interactionId || type === 'first-input') {
              if (type === 'first-input') out[10] = x.processingStart - x.startTime;
              // An interaction's latency is its longest event's duration.
              const id = x.interactionId || 'f';
              if (!(inter[id] >= x.duration)) inter[id] = x.duration;
            }
          }
          mark(out[9] = lcp);
          out[14] = cls;
          // INP: the longest interaction, but one of every 50 is left out (the 98th percentile).
          const lat = [];
          for (const id in inter) lat[lat.length] = inter[id];
          for (let skip = lat.length / 50 | 0; lat.length; skip--) {
            let top = 0;
            for (i = 1; i < lat.length; i++) if (lat[i] > lat[top]) top = i;
            if (!skip) { out[11] = lat[top]; break; }
            lat[top] = -1;
          }
        }
        // Resources by origin: first party when the host's site is the page's (a site is the
        // host's last two labels, three under co.<country>; an IP address is its own site),
        // else third party. The agent's own module and beacons are left out.
        const site = (h) => (/^[\d.]+$|:/.test(h) ? h : (/[^.]+\.(?:co\.[a-z]{2}|[^.]+)$/.exec(h) || [h])[0]);
        const home = site(win.location.hostname), own = new URL(url, win.location.href).href;
        const n = [0, 0, 0, 0];
        list = P.getEntriesByType('resource');
        for (i = 0; i < list.length; i++) {
          x = list[i];
          if (at(x.startTime) === undefined || x.name === own || /rumprops_bg\.wasm/.test(x.name)) continue;
          n[site(new URL(x.name).hostname) === home ? 0 : 1]++;
          const kind = x.initiatorType;
          if ((kind === 'fetch' || kind === 'xmlhttprequest') && x.startTime < bootedAt) n[2 + (x.responseStatus >= 400)]++;
          if (k < 2 && /^(img|css|image)$/.test(kind)) mark(at(x.responseEnd));
        }
        out[15] = n[0];
        out[16] = n[1];
        out[18] = n[2] + n[3];
        out[19] = n[3];
        // visuallyCompleteTime: the last milestone; speedIndex: their mean, as if each painted
        // an equal share of the viewport.
        if (marks) { out[12] = last; out[13] = total / marks; }
      } catch (e) { /* what was read so far */ }
      return out;
    },
  };
  // The PerformanceNavigationTiming members of MEASURES 1 to 8 (src/agent/action.rs).
  const NAV = ['requestStart', 'responseStart', 'responseEnd', 'domInteractive', 'domContentLoadedEventEnd',
    'domComplete', 'loadEventStart', 'loadEventEnd'];
  // The entries the page's PerformanceObserver (`po`) reported, for the measures (at most 5000),
  // and the entry types the browser reports.
  const entries = [], types = { __proto__: null };
  let po = null;
  const seen = (list) => { for (let i = 0; list && i < list.length && entries.length < 5000; i++) entries[entries.length] = list[i]; };
  function observe() {
    try {
      const t = win.PerformanceObserver.supportedEntryTypes;
      for (let i = 0; i < t.length; i++) types[t[i]] = true;
      po = new win.PerformanceObserver((l) => seen(l.getEntries()));
      const want = ['largest-contentful-paint', 'layout-shift', 'first-input', 'event'];
      for (let i = 0; i < 4; i++) if (types[want[i]]) po.observe({ type: want[i], buffered: true, durationThreshold: 16 });
    } catch (e) { /* no PerformanceObserver */ }
  }

  // The module's events (`event` in src/runtime.rs): a page event or an API call without arguments.
  const LOADED = 0, ROUTE = 1, JS_ERROR = 2, HIDDEN = 3, PAGEHIDE = 4, FREEZE = 5, TICK = 6;
  const ENABLE = 7, DISABLE = 8, END_SESSION = 9, FLUSH = 10, SEND_SESSION = 11, EVALUATE = 12;
  const ADD_ACTION = 13, IDENTIFY = 14, ENTER = 15, LEAVE = 16, REQUEST = 17, REQUEST_END = 18, REQUEST_FAILED = 19;
  // The id event(ENTER) or event(REQUEST) hands out as its one row ('' when none), undefined
  // after a failure.
  const idOf = (rows) => rows && (rows.length ? rows[0][1] : '');
  const CLICK = 20, RESPONSE = 21, VALUE = 22, NAME = 23;
  const event = (kind, a, b, c, d, x, y) => call('event', kind, a, b, c, d, x, y);

  // Calls the module. init answers its own answer (its rows stay in `rows`). An event's rows
  // are its answer, but for the beacons, which are posted here; the event answers when the
  // timer (event TICK) is due next (VALUE leaves the timer as it is). Undefined after a failure.
  function call(name, a, b, c, d, e, f, g) {
    if (dead || !m) return undefined;
    try {
      rows = [];
      const r = m[name](a, b, c, d, e, f, g);
      if (name === 'init') return r;
      const out = [];
      for (let i = 0; i < rows.length; i++) {
        const x = rows[i];
        if (x[0] > 3) send(x);
        else out[out.length] = x;
      }
      if (a !== VALUE) {
        win.clearTimeout(timer);
        timer = r >= 0 ? win.setTimeout(() => event(TICK), r) : 0;
      }
      return out;
    } catch (e) {
      dead = true;
      win.clearTimeout(timer);
      warn('stopped after an internal error');
      return undefined;
    }
  }

  function send(b) {
    const sid = b[1], seq = b[4], body = b[3], leave = b[0] === 5;
    if (leave && nav && typeof nav.sendBeacon === 'function') {
      // Accepted means queued by the browser: no answer comes, the module resends it later
      // if no other answer acknowledges it, and the collector drops the duplicate.
      try { if (nav.sendBeacon(url, body)) return; } catch (e) { /* fall back to fetch */ }
    }
    const failed = () => event(RESPONSE, sid, seq, 0, undefined);
    try {
      Reflect.apply(F, win, [url, { method: 'POST', body, keepalive: leave, credentials: 'omit' }])
        .then((r) => event(RESPONSE, sid, seq, r.status, r.headers.get('Retry-After') || undefined), failed);
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

  // A click names its action after the clicked control (or the element itself): its
  // data-rumprops-name, else aria-label, else text, else tag. The text is read only when neither
  // attribute has more than ASCII white space: a container's text can be megabytes.
  function click(e) {
    let el = e.target, name = null, aria = null, text = null;
    try {
      if (!(el instanceof win.Element)) return;
      el = el.closest('[data-rumprops-name],a,button,input,select,textarea,label,summary,[role=button],[role=link],[onclick]') || el;
      name = el.getAttribute('data-rumprops-name');
      aria = el.getAttribute('aria-label');
      const blank = (s) => !/[^\t\n\f\r ]/.test(s || '');
      const t = el.textContent;
      if (blank(name) && blank(aria) && typeof t === 'string') text = t.slice(0, 4096);
    } catch (e) { /* read what could be read */ }
    const tag = read(el, 'localName');
    event(CLICK, name, aria, text, typeof tag === 'string' ? tag : '', read(e, 'clientX'), read(e, 'clientY'));
  }

  function instrument() {
    const d = win.document;
    on(d, 'click', click, true);
    on(win, 'popstate', () => event(ROUTE));
    on(win, 'hashchange', () => event(ROUTE));
    const history = win.history;
    wrap(history, 'pushState', (orig) => function () { const r = Reflect.apply(orig, this, arguments); event(ROUTE); return r; });
    wrap(history, 'replaceState', (orig) => function () { const r = Reflect.apply(orig, this, arguments); event(ROUTE); return r; });
    on(d, 'visibilitychange', () => { if (d.visibilityState === 'hidden') event(HIDDEN); });
    on(win, 'pagehide', () => event(PAGEHIDE));
    on(d, 'freeze', () => event(FREEZE));
    observe();
    if (d.readyState === 'complete') event(LOADED);
    else on(win, 'load', () => win.setTimeout(() => event(LOADED), 0));
  }

  // Requests and script errors are watched from the start, before the module is ready: until
  // then each waits in `early` as the call that hands it to the module, made once it runs (they
  // belong to the load action).
  let early = [];
  const soon = (f) => { if (started) f(); else if (!dead && early.length < 1000) early[early.length] = f; };
  // Each request is a record: the id of the action it belongs to ('' for none), and, while it
  // has none, whether it ended.
  function requestStart() {
    const rec = { id: '', done: false, failed: false };
    soon(() => {
      rec.id = idOf(event(REQUEST)) || '';
      if (rec.done && rec.id) ended(rec.id, rec.failed);
    });
    return rec;
  }
  const ended = (id, failed) => { event(failed ? REQUEST_FAILED : REQUEST_END, id); };
  function requestEnd(rec, failed) {
    if (rec.id) ended(rec.id, failed);
    else { rec.done = true; rec.failed = failed; }
  }
  function replayEarly() {
    const f = early;
    early = [];
    for (let i = 0; i < f.length; i++) f[i]();
  }
  function watchEarly() {
    on(win, 'error', (e) => {
      const a = read(e, 'message'), b = read(e, 'filename'), c = read(e, 'lineno'), d = read(e, 'colno');
      soon(() => event(JS_ERROR, a, b, c, d));
    });
    on(win, 'unhandledrejection', (e) => {
      let m;
      try { m = 'Uncaught (in promise) ' + read(e, 'reason'); } catch (x) { /* a symbol, or a throwing toString */ }
      soon(() => event(JS_ERROR, m));
    });
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

  // Fetches the part `name` into reader[k] (once), then runs init(config) as if called again;
  // until then init answers undefined and calls stay queued.
  function after(name, k, config) {
    if (!fetching) {
      fetching = Promise.resolve(part && part(name)).then((f) => {
        if (typeof f !== 'function') throw 0;
        reader[k] = f;
        fetching = null;
        api.init(config);
      }).catch(() => warn('cannot load ' + name));
    }
  }

  function init(config) {
    if (started) return true;
    if (dead) return false; // inert: no window, or the module failed
    // A config object waits for the serializer (www/config-json.js), a config with a hashed
    // rule for the SHA-256 (www/sha256.js): only such configs fetch them.
    if (typeof config !== 'string' && !reader.j) return after('json', 'j', config);
    const text = typeof config === 'string' ? config : reader.j(config);
    if (text !== undefined && !reader.h && /"hash"\s*:/.test(text)) return after('sha256', 'h', text);
    // Do Not Track or Global Privacy Control.
    const yes = (v) => v === '1' || v === 'yes' || v === true;
    const dnt = yes(read(nav, 'doNotTrack')) || yes(read(win, 'doNotTrack')) || read(nav, 'globalPrivacyControl') === true;
    const err = text === undefined ? 'config: cyclic, deeper than 32 levels, or too large' : call('init', text, win, host, dnt);
    if (err === undefined) return false;
    if (err !== '') { warn('config refused: ' + err); return false; }
    // The URL first: once started, every call posts what the module hands out (a restored
    // outbox is due at once), and a post to '' would go to the page itself.
    url = rows[0][1]; // init hands the collector URL as its one row
    started = true;
    instrument();
    replayEarly();
    event(TICK);
    return true;
  }

  // Hands the values of an API object ({string: {key: value}, long: …, double: …, date: …}) to
  // the module one by one (`event` VALUE in src/runtime.rs), as JS sees them: the module types them.
  const GROUPS = ['string', 'long', 'double', 'date']; // PropType::ALL's order
  function values(props) {
    if (typeof props !== 'object' || props === null) return;
    for (let g = 0; g < 4; g++) {
      const group = read(props, GROUPS[g]);
      if (typeof group !== 'object' || group === null) continue;
      let keys = [];
      try { keys = Reflect.ownKeys(group); } catch (e) { /* a proxy trap */ }
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i];
        if (typeof k !== 'string') continue;
        let v = null; // a string, a number (a Date as its time), a BigInt, or null for anything else
        try {
          v = group[k];
          const t = typeof v;
          if (t !== 'string' && t !== 'number' && t !== 'bigint') v = v instanceof Date ? v.getTime() : null;
        } catch (e) { v = null; /* a throwing getter: unsupported */ }
        event(VALUE, k, v, g);
      }
    }
  }
  // A value of the module's rows (host.o), or null.
  const val = (x) => (x[0] === 0 ? x[3] : x[0] === 1 ? x[4] : null);
  // {sent: [{key, value}], failed: [{key, reason}]} from the module's rows.
  function report(rows) {
    if (!rows) return rows;
    const sent = [], failed = [];
    for (let i = 0; i < rows.length; i++) {
      const x = rows[i];
      if (x[0] === 2) failed[failed.length] = { key: x[1], reason: x[3] };
      else sent[sent.length] = { key: x[1], value: val(x) };
    }
    return { sent, failed };
  }
  // evaluateRules(): [{key, source, value, reason}] from the module's rows.
  function rules() {
    const rows = event(EVALUATE);
    if (!rows) return rows;
    const out = [];
    for (let i = 0; i < rows.length; i++) {
      const x = rows[i];
      out[i] = { key: x[1], source: x[2], value: val(x), reason: x[0] === 2 ? x[3] : null };
    }
    return out;
  }

  const real = (id) => (typeof id === 'string' && tokens[id] !== undefined ? tokens[id] : id);
  const direct = {
    init,
    addActionProperties: (id, props) => { values(props); return report(event(ADD_ACTION, real(id))); },
    sendSessionProperties: (props) => { values(props); return report(event(SEND_SESSION)); },
    identifyUser: (id) => { event(IDENTIFY, id); },
    enterAction: (name) => idOf(event(ENTER, name)),
    leaveAction: (id) => { event(LEAVE, real(id)); },
    enable: () => { event(ENABLE); },
    disable: () => { event(DISABLE); },
    endSession: () => { event(END_SESSION); },
    flush: () => { event(FLUSH); },
    evaluateRules: rules,
    reportError: (message, id) => { event(JS_ERROR, message, undefined, real(id)); },
    nameAction: (name, id) => { const r = idOf(event(NAME, name, real(id))); return r === undefined ? r : r !== ''; },
  };

  // Calls wait in the queue until the module is loaded and init succeeded: a call replayed
  // before init (the config may arrive after the module) would be lost.
  const MAX_QUEUED = 1000;
  const api = {};
  const names = Reflect.ownKeys(direct);
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
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
      watchEarly();
      Promise.resolve(load(F)).then((mod) => { m = mod; replay(); }, (e) => { dead = true; warn('the module did not load: ' + e); });
    } catch (e) {
      dead = true;
    }
  }
  return api;
}
