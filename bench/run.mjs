// make bench: rumprops and its peers measured in one run on this machine, written to
// docs/benchmarks.md. Not a test: nothing here fails on a slow figure.
//
//   node bench/run.mjs [--only size,capture,overhead,wire,memory,collector,soak,store] [--loads 15] [--evals 2000]
//                      [--sessions 10000,100000] [--store-actions 1000000,10000000] [--out docs/benchmarks.md]
//
// It needs the built agent (scripts/build-agent.sh), `npm ci` in bench/ (the pinned peers), Debian's
// Chromium (/usr/bin/chromium, or $CHROMIUM) and cargo. Every page talks to 127.0.0.1 only: Chromium
// resolves no host name, and any request elsewhere is listed and fails the run. Results are kept in
// bench/out/results.json, so `--only` re-runs a part and rewrites the page with the others' last figures.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import os from 'node:os';
import { execFileSync, execSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startSink } from '../tests/e2e/sink.mjs';
import { startServer } from './server.mjs';
import { QUERY, ELEMENTS } from './page.mjs';
import { writeReport } from './report.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '..');
const OUT_DIR = path.join(here, 'out');
const RESULTS = path.join(OUT_DIR, 'results.json');

const argv = process.argv.slice(2);
const opt = (name, dflt) => { const i = argv.indexOf('--' + name); return i >= 0 ? argv[i + 1] : dflt; };
const PARTS = ['size', 'capture', 'overhead', 'wire', 'memory', 'collector', 'soak', 'store'];
const only = opt('only', PARTS.join(',')).split(',');
const LOADS = Number(opt('loads', 15));
const EVALS = Number(opt('evals', 2000));
const SESSIONS = opt('sessions', '10000,100000').split(',').map(Number);
const STORE_ACTIONS = opt('store-actions', '1000000,10000000');
const OUT = path.resolve(opt('out', path.join(ROOT, 'docs/benchmarks.md')));

const log = (...a) => console.error('[bench]', ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => quantile(xs, 0.5);
function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q, lo = Math.floor(pos), hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}
async function until(check, what, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(50);
  }
}

const readJson = (f) => JSON.parse(fs.readFileSync(f, 'utf8'));
const rules = (name) => readJson(path.join(here, 'rules', name + '.json'));
const pkgVersion = (name) => readJson(path.join(here, 'node_modules', name, 'package.json')).version;

// ---------------------------------------------------------------------------------------------
// Size: the same commands as scripts/size-report.sh (gzip -9, brotli -q 11), file by file.

function compressed(file) {
  const sh = (cmd) => Number(execSync(cmd, { encoding: 'utf8', shell: '/bin/bash' }).trim());
  return { raw: fs.statSync(file).size, gzip: sh(`gzip -9c "${file}" | wc -c`), brotli: sh(`brotli -c -q 11 "${file}" | wc -c`) };
}

function measureSize() {
  const agentFiles = ['www/dist/pkg/rumprops_bg.wasm', 'www/dist/rumprops.js'];
  const agentParts = agentFiles.map((f) => ({ file: f, ...compressed(path.join(ROOT, f)) }));
  const sum = (k) => agentParts.reduce((n, p) => n + p[k], 0);
  const rows = [{ name: 'rumprops', version: readCargoVersion(), file: agentFiles.join(' + '), raw: sum('raw'), gzip: sum('gzip'), brotli: sum('brotli'), parts: agentParts }];
  // What only some pages download instead or besides (not in the total): the plain-JS fallback for
  // pages whose CSP refuses WebAssembly, the dtrum shim, the SHA-256 of hashed rules, the config
  // serializer.
  rows[0].optional = ['www/dist/pkg/rumprops_fallback.js', 'www/dist/dtrum.js', 'www/dist/pkg/rumprops_sha256.js', 'www/dist/pkg/rumprops_json.js']
    .map((f) => ({ file: f, ...compressed(path.join(ROOT, f)) }));
  const peers = [
    ['@datadog/browser-rum', 'bundle/datadog-rum.js'],
    ['@datadog/browser-rum-slim', 'bundle/datadog-rum-slim.js'],
    ['@elastic/apm-rum', 'dist/bundles/elastic-apm-rum.umd.min.js'],
    ['@grafana/faro-web-sdk', 'dist/bundle/faro-web-sdk.iife.js'],
    ['web-vitals', 'dist/web-vitals.iife.js'],
  ];
  for (const [name, file] of peers) {
    rows.push({ name, version: pkgVersion(name), file: `${name}/${file}`, ...compressed(path.join(here, 'node_modules', name, file)) });
  }
  let parts = '';
  const r = spawnSync(path.join(ROOT, 'scripts/size-report.sh'), ['--parts'], { cwd: ROOT, encoding: 'utf8' });
  parts = r.status === 0 ? r.stdout : `(scripts/size-report.sh --parts failed: ${r.stderr.trim()})`;
  return { rows, parts };
}

function readCargoVersion() {
  const m = fs.readFileSync(path.join(ROOT, 'Cargo.toml'), 'utf8').match(/^version\s*=\s*"([^"]+)"/m);
  return m ? m[1] : '?';
}

// ---------------------------------------------------------------------------------------------
// Browser set-up: Debian's Chromium, no name resolution, every request checked for its host.

async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
  });
}

const offsite = [];
async function newContext(browser) {
  const ctx = await browser.newContext();
  // The module's exports, for the parts that call them directly: the loader keeps wasm-bindgen's
  // glue inside, so its instance is taken where it is made.
  await ctx.addInitScript(() => {
    const instantiate = WebAssembly.instantiate;
    WebAssembly.instantiate = async function () {
      const r = await Reflect.apply(instantiate, this, arguments);
      if (r.instance) window.__exports = r.instance.exports;
      return r;
    };
  });
  ctx.on('request', (r) => {
    const u = new URL(r.url());
    if (!['127.0.0.1', ''].includes(u.hostname) && !['data:', 'blob:'].includes(u.protocol)) offsite.push(r.url());
  });
  return ctx;
}

const configFor = (sink) => (variant) => {
  const base = variant.startsWith('wire') ? rules('wire') : rules('capture');
  base.collector = sink.origin + '/beacon';
  const n = variant.match(/^wire(\d+)$/);
  if (n) base.batch.maxActions = Number(n[1]);
  return base;
};

async function agentReady(page) {
  await until(() => page.evaluate(() => {
    try { return Array.isArray(window.rumprops && window.rumprops.evaluateRules()); } catch (e) { return false; }
  }), 'the agent to start');
}

// The module's short name for an export (scripts/build-wasm.sh keeps the mapping).
const exportName = (name) => readJson(path.join(ROOT, 'target/agent-wasm/names.json')).exports.find((e) => e[0] === name)[1];

// ---------------------------------------------------------------------------------------------
// The module with its function names, for the CPU profile only: the module www/dist ships as
// scripts/build-wasm.sh keeps it before --strip-debug, through wasm-opt -Oz -g, with the same
// loader.

const FEATURES = ['--enable-bulk-memory', '--enable-reference-types', '--enable-multivalue',
  '--enable-nontrapping-float-to-int', '--enable-sign-ext', '--enable-mutable-globals'];
function buildNamed() {
  const dir = path.join(OUT_DIR, 'named');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'pkg'), { recursive: true });
  const wasm = path.join(dir, 'pkg/rumprops_bg.wasm');
  execFileSync(path.join(ROOT, 'node_modules/.bin/wasm-opt'), ['-Oz', '-g', ...FEATURES,
    path.join(ROOT, 'target/agent-wasm/rumprops_bg.named.wasm'), '-o', wasm]);
  fs.copyFileSync(path.join(ROOT, 'www/dist/rumprops.js'), path.join(dir, 'rumprops.js'));
}

// ---------------------------------------------------------------------------------------------
// Capture cost: rumprops.evaluateRules() (the public API through the loader), the module's export
// called directly (no loader pump), and the JS reference, interleaved in one page.

async function measureCapture(browser, srv, sink) {
  const config = configFor(sink)('capture');
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => log('pageerror', e.message));
  await page.goto(srv.origin + '/page/capture' + QUERY + '&isolated=1');
  await agentReady(page);
  const prep = await page.evaluate(async ({ config, evaluate }) => {
    // The export hands its rows to the loader (the API builds its answer from them).
    const event = window.__exports[evaluate];
    window.__export = () => event(12); // evaluateRules() (src/runtime.rs, `event`)
    window.__ref = window.benchRef.compile(config);
    const a = window.rumprops.evaluateRules(), c = window.__ref();
    const norm = (rows) => JSON.stringify(rows.map((r) => [r.key, r.source, r.value, r.reason]));
    return {
      elements: document.getElementsByTagName('*').length,
      isolated: self.crossOriginIsolated,
      same: norm(a) === norm(c) && typeof window.__export === 'function',
      rumprops: a, reference: c,
    };
  }, { config, evaluate: exportName('event') });
  if (!prep.same) {
    log('rumprops:', JSON.stringify(prep.rumprops));
    log('reference:', JSON.stringify(prep.reference));
    throw new Error('the JS reference does not return the values rumprops returns');
  }
  if (prep.elements !== ELEMENTS) throw new Error(`the page has ${prep.elements} elements, not ${ELEMENTS}`);
  log(`capture: ${prep.rumprops.length} rules agree; ${prep.elements} elements; isolated=${prep.isolated}`);

  const timing = await page.evaluate(({ n, warm }) => {
    const fns = { api: () => window.rumprops.evaluateRules(), export: () => { window.__export(); return [0]; }, js: () => window.__ref() };
    const names = Object.keys(fns);
    for (let i = 0; i < warm; i++) for (const k of names) fns[k]();
    // Timer resolution as this page sees it.
    let res = Infinity;
    for (let i = 0; i < 200; i++) { const a = performance.now(); let b; do { b = performance.now(); } while (b === a); res = Math.min(res, b - a); }
    const samples = { api: [], export: [], js: [] };
    let sink = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < names.length; j++) {
        const k = names[(i + j) % names.length];
        const t = performance.now();
        sink += fns[k]().length;
        samples[k].push(performance.now() - t);
      }
    }
    // Means over runs of 200 back-to-back calls, as a cross-check of the per-call figures.
    const means = { api: [], export: [], js: [] };
    for (let r = 0; r < 5; r++) {
      for (const k of names) {
        const t = performance.now();
        for (let i = 0; i < 200; i++) sink += fns[k]().length;
        means[k].push((performance.now() - t) / 200);
      }
    }
    return { samples, means, resolution: res, sink };
  }, { n: EVALS, warm: 300 });

  const out = { elements: prep.elements, isolated: prep.isolated, resolutionUs: timing.resolution * 1000, evals: EVALS, rows: prep.rumprops };
  for (const k of ['api', 'export', 'js']) out[k] = stat(timing.samples[k], timing.means[k]);

  // Where the time goes: CPU profiles of the reference and, in a second page with the module
  // built with its function names, of the module's export.
  out.profileJs = await profile(ctx, page, () => window.__ref());
  // The API alone, timed as in the fallback's page below.
  out.apiAlone = await timeApi(page);
  await ctx.close();
  // The plain-JS fallback (a CSP without 'wasm-unsafe-eval'): the same rows, then the same timing.
  try {
    out.fallback = await measureFallback(browser, srv, prep.rumprops);
  } catch (e) {
    log('no fallback timing: ' + e.message);
    out.fallback = { error: e.message };
  }
  try {
    buildNamed();
    const pctx = await newContext(browser);
    const ppage = await pctx.newPage();
    await ppage.goto(srv.origin + '/page/profile' + QUERY + '&isolated=1');
    await agentReady(ppage);
    await ppage.evaluate((evaluate) => { const event = window.__exports[evaluate]; window.__export = () => event(12); }, exportName('event'));
    out.profile = await profile(pctx, ppage, () => window.__export());
    await pctx.close();
  } catch (e) {
    log('no profile of the named build: ' + e.message);
    out.profile = { error: e.message };
  }
  return out;
}

// Per-call samples (ms) and means of back-to-back runs (ms) as µs figures.
const stat = (xs, means) => ({
  p50: quantile(xs, 0.5) * 1000, p95: quantile(xs, 0.95) * 1000, mean: xs.reduce((a, b) => a + b, 0) / xs.length * 1000,
  batchMeanUs: median(means) * 1000,
});

// rumprops.evaluateRules() alone in a page: per-call samples after warm-up calls, and the means of
// runs of 200 back-to-back calls.
async function timeApi(page) {
  const t = await page.evaluate(({ n, warm }) => {
    const f = () => window.rumprops.evaluateRules();
    let sink = 0;
    for (let i = 0; i < warm; i++) sink += f().length;
    const samples = [], means = [];
    for (let i = 0; i < n; i++) { const a = performance.now(); sink += f().length; samples.push(performance.now() - a); }
    for (let r = 0; r < 5; r++) {
      const a = performance.now();
      for (let i = 0; i < 200; i++) sink += f().length;
      means.push((performance.now() - a) / 200);
    }
    return { samples, means, sink };
  }, { n: EVALS, warm: 300 });
  return stat(t.samples, t.means);
}

// The capture page under `script-src 'self' 'unsafe-inline'`: the agent must have taken the
// fallback (it fetched pkg/rumprops_fallback.js and no module) and return the module's rows.
async function measureFallback(browser, srv, rows) {
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => log('pageerror', e.message));
  await page.goto(srv.origin + '/page/capture' + QUERY + '&isolated=1&csp=1');
  await agentReady(page);
  const got = await page.evaluate(() => ({
    rows: window.rumprops.evaluateRules(),
    files: performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname),
  }));
  if (!got.files.includes('/dist/pkg/rumprops_fallback.js') || got.files.some((f) => f.endsWith('.wasm'))) {
    throw new Error('the CSP page did not run the fallback: ' + got.files.join(' '));
  }
  const norm = (r) => JSON.stringify(r.map((x) => [x.key, x.source, x.value, x.reason]));
  if (norm(got.rows) !== norm(rows)) throw new Error('the fallback returns other rows than the module: ' + norm(got.rows));
  const out = await timeApi(page);
  await ctx.close();
  return out;
}

// A frame of the module: its URL, or, for a module compiled from bytes (the loader fetches them
// and instantiates), the URL with a `-<hash>` suffix.
const isWasm = (url) => /\.wasm(-[0-9a-f]+)?$/.test(url);

async function profile(ctx, page, fn) {
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 50 });
  await cdp.send('Profiler.start');
  await page.evaluate(`(() => { const f = ${fn.toString()}; const end = performance.now() + 3000; while (performance.now() < end) f(); })()`);
  const { profile } = await cdp.send('Profiler.stop');
  await cdp.detach();
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const deltas = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i++) {
    const n = byNode.get(profile.samples[i]);
    const dt = deltas[i + 1] !== undefined ? deltas[i + 1] : 0;
    const cf = n.callFrame;
    const key = `${cf.functionName || '(anonymous)'}|${cf.url}`;
    self.set(key, (self.get(key) || 0) + dt);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  // Inclusive time of the module's functions (each function once per sample).
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id);
  const incl = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = deltas[i + 1] !== undefined ? deltas[i + 1] : 0;
    const seen = new Set();
    for (let id = profile.samples[i]; id !== undefined; id = parent.get(id)) {
      const cf = byNode.get(id).callFrame;
      if (!isWasm(cf.url)) continue;
      const name = cf.functionName.replace(/::h[0-9a-f]{16}$/, '');
      if (seen.has(name)) continue;
      seen.add(name);
      incl.set(name, (incl.get(name) || 0) + dt);
    }
  }
  const inclusive = [...incl].map(([name, t]) => ({ name, share: t / total })).sort((a, b) => b.share - a.share).slice(0, 40);
  const category = (name, url) => {
    if (isWasm(url) || /^\$|^wasm-function|^js-to-wasm|^wasm-to-js/.test(name)) return 'WebAssembly (agent code)';
    if (url.endsWith('/rumprops.js')) return 'loader and wasm-bindgen glue (imports: DOM calls, row objects)';
    if (url.endsWith('/reference.js')) return 'reference JS';
    if (name === '(garbage collector)') return 'garbage collection';
    if (name === '(program)' || name === '(idle)' || name === '(root)') return 'engine (program)';
    if (url === '') return 'browser built-ins (DOM, strings, regexes)';
    return 'bench loop';
  };
  const cats = {};
  const fns = [];
  for (const [key, t] of self) {
    const [name, url] = key.split('|');
    const c = category(name, url);
    cats[c] = (cats[c] || 0) + t;
    fns.push({ name, file: url.split('/').pop(), category: c, share: t / total });
  }
  fns.sort((a, b) => b.share - a.share);
  return { inclusive, categories: Object.entries(cats).map(([c, t]) => ({ category: c, share: t / total })).sort((a, b) => b.share - a.share), top: fns.slice(0, 12) };
}

// ---------------------------------------------------------------------------------------------
// Page overhead: the same page with no agent, rumprops, Datadog RUM and Elastic RUM, interleaved.

const VARIANTS = ['none', 'rumprops', 'datadog', 'elastic'];
const SETTLE_MS = 2000;

async function measureOverhead(browser, srv) {
  const runs = Object.fromEntries(VARIANTS.map((v) => [v, []]));
  for (let round = 0; round < LOADS; round++) {
    for (let j = 0; j < VARIANTS.length; j++) {
      const v = VARIANTS[(round + j) % VARIANTS.length];
      const ctx = await newContext(browser);
      const page = await ctx.newPage();
      await page.goto(srv.origin + '/page/' + v + QUERY, { waitUntil: 'load' });
      await sleep(SETTLE_MS);
      const m = await page.evaluate(() => {
        const nav = performance.getEntriesByType('navigation')[0];
        const lt = window.__longtasks || [];
        let active = null;
        try {
          if (window.rumprops) active = Array.isArray(window.rumprops.evaluateRules());
          else if (window.DD_RUM) active = !!window.DD_RUM.getInternalContext();
          else if (window.elasticApm) active = window.elasticApm.isActive();
        } catch (e) { active = false; }
        return {
          load: nav.loadEventEnd, dcl: nav.domContentLoadedEventEnd,
          longtask: lt.reduce((a, e) => a + e[1], 0), longtasks: lt.length,
          longtaskAfterLoad: lt.filter((e) => e[0] >= nav.loadEventStart).reduce((a, e) => a + e[1], 0),
          active,
        };
      });
      runs[v].push(m);
      await ctx.close();
    }
    log(`overhead: round ${round + 1}/${LOADS}`);
  }
  const out = { loads: LOADS, settleMs: SETTLE_MS, intake: srv.intake, variants: {} };
  for (const v of VARIANTS) {
    const r = runs[v];
    out.variants[v] = {
      load: median(r.map((x) => x.load)), dcl: median(r.map((x) => x.dcl)),
      longtask: median(r.map((x) => x.longtask)), longtaskAfterLoad: median(r.map((x) => x.longtaskAfterLoad)),
      longtasksCount: median(r.map((x) => x.longtasks)),
      loadP25: quantile(r.map((x) => x.load), 0.25), loadP75: quantile(r.map((x) => x.load), 0.75),
      longtaskP25: quantile(r.map((x) => x.longtask), 0.25), longtaskP75: quantile(r.map((x) => x.longtask), 0.75),
      runs: r,
      active: r.filter((x) => x.active === true).length + '/' + r.length,
    };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Wire: real beacons at the sink, batches of 1, 10 and 50 custom actions with 10 properties each.

async function measureWire(browser, srv, sink) {
  const out = { batches: [] };
  for (const n of [1, 10, 50]) {
    sink.mode = 'ok';
    const ctx = await newContext(browser);
    const page = await ctx.newPage();
    await page.goto(srv.origin + '/page/wire' + n + QUERY);
    await agentReady(page);
    // The load action first, on its own, so that the batches hold only the measured actions.
    await until(async () => {
      await page.evaluate(() => window.rumprops.flush());
      return sink.actions().some((a) => a.kind === 'load');
    }, 'the load action');
    const from = sink.raw.length;
    await page.evaluate((n) => {
      for (let i = 0; i < n; i++) window.rumprops.leaveAction(window.rumprops.enterAction('checkout step ' + (i + 1)));
    }, n);
    const bodies = await until(() => {
      const got = sink.raw.slice(from).map((r) => r.body);
      const actions = got.reduce((k, b) => k + JSON.parse(b).actions.length, 0);
      return actions >= n ? got : null;
    }, `a batch of ${n}`);
    const parsed = bodies.map((b) => JSON.parse(b));
    const props = parsed[0].actions[0].props;
    const nprops = Object.values(props).reduce((k, m) => k + Object.keys(m).length, 0);
    if (nprops !== 10) throw new Error(`an action carries ${nprops} properties, not 10: ${JSON.stringify(props)}`);
    const raw = bodies.reduce((k, b) => k + Buffer.byteLength(b), 0);
    const gzip = bodies.reduce((k, b) => k + zlib.gzipSync(b, { level: 9 }).length, 0);
    out.batches.push({ actions: n, beacons: bodies.length, raw, gzip, rawPerAction: raw / n, gzipPerAction: gzip / n,
      issues: parsed.reduce((k, b) => k + (b.issues || []).length, 0) });
    if (n === 1) out.example = bodies[0];
    await ctx.close();
  }
  // What a one-action beacon is made of: gzip bytes of the body with one part left out at a time.
  const ex = JSON.parse(out.example);
  const gz = (o) => zlib.gzipSync(JSON.stringify(o), { level: 9 }).length;
  const without = (f) => { const o = structuredClone(ex); f(o); return gz(o); };
  const full = gz(ex);
  out.parts = {
    full,
    props: full - without((o) => { o.actions[0].props = {}; }),
    url: full - without((o) => { o.actions[0].url = ''; }),
    ids: full - without((o) => { o.vid = ''; o.sid = ''; }),
    action: full - without((o) => { o.actions = []; }),
    envelope: without((o) => { o.actions = []; }),
    rawProps: JSON.stringify(ex.actions[0].props).length,
    rawUrl: ex.actions[0].url.length,
    rawAction: JSON.stringify(ex.actions[0]).length,
    same: JSON.stringify(ex) === out.example,
  };
  const b1 = out.batches[0], b50 = out.batches[2];
  out.marginal = { raw: (b50.raw - b1.raw) / 49, gzip: (b50.gzip - b1.gzip) / 49 };
  return out;
}

// ---------------------------------------------------------------------------------------------
// Memory: 10,000 actions with the collector down; the module's memory and the outbox as they go.

async function measureMemory(browser, srv, sink) {
  sink.mode = 'down';
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  await page.goto(srv.origin + '/page/rumprops' + QUERY);
  await agentReady(page);
  const out = await page.evaluate(async () => {
    // The instance the loader started (newContext): `memory` among its exports.
    const exports = window.__exports;
    // The outbox as stored: entries, body bytes, and the beacons built so far (seq numbers run
    // on from the first one seen in the one session), so built − waiting = dropped (nothing is
    // acknowledged).
    const outbox = () => {
      let entries = 0, bodyBytes = 0, stored = 0, built = 0;
      for (let i = 0; i < localStorage.length; i++) {
        const k = localStorage.key(i);
        if (!k.startsWith('rumprops.q.')) continue;
        const v = localStorage.getItem(k);
        const q = JSON.parse(v);
        stored += v.length;
        entries += q.q.length;
        for (const e of q.q) {
          bodyBytes += e.body.length;
          built = Math.max(built, e.seq + 1);
          if (window.__firstSeq === undefined || e.seq < window.__firstSeq) window.__firstSeq = e.seq;
        }
      }
      built -= window.__firstSeq || 0;
      return { entries, bodyBytes, stored, built, dropped: built - entries };
    };
    const points = [{ actions: 0, memory: exports.memory.buffer.byteLength, msPerAction: 0, ...outbox() }];
    const marks = [100, 500, 1000, 2000, 5000, 7500, 10000];
    const t0 = performance.now();
    let t = t0, last = 0;
    for (let i = 1; i <= 10000; i++) {
      window.rumprops.leaveAction(window.rumprops.enterAction('action ' + i));
      if (i % 100 === 0) await new Promise((r) => setTimeout(r, 0)); // let failed posts answer
      if (marks.includes(i)) {
        const now = performance.now();
        points.push({ actions: i, memory: exports.memory.buffer.byteLength, msPerAction: (now - t) / (i - last), ...outbox() });
        t = performance.now();
        last = i;
      }
    }
    return { points, msPerAction: (performance.now() - t0) / 10000 };
  });
  out.sinkRequests = sink.requests;
  out.sinkRefused = sink.refused;
  await ctx.close();
  // Where an action's time goes once the outbox is full: a CPU profile in a page with the
  // module built with its function names (made by the capture part).
  if (fs.existsSync(path.join(OUT_DIR, 'named/pkg/rumprops_bg.wasm'))) {
    const pctx = await newContext(browser);
    const ppage = await pctx.newPage();
    await ppage.goto(srv.origin + '/page/profile' + QUERY);
    await agentReady(ppage);
    await ppage.evaluate(async () => {
      for (let i = 1; i <= 1500; i++) {
        window.rumprops.leaveAction(window.rumprops.enterAction('fill ' + i));
        if (i % 100 === 0) await new Promise((r) => setTimeout(r, 0));
      }
    });
    out.profile = await profile(pctx, ppage, () => window.rumprops.leaveAction(window.rumprops.enterAction('profiled')));
    await pctx.close();
  }
  sink.mode = 'ok';
  return out;
}

// ---------------------------------------------------------------------------------------------
// Collector: its own benchmark target (collector/benches/collector.rs) at each session count.

function measureCollector() {
  const out = { runs: [] };
  for (const sessions of SESSIONS) {
    log(`collector: cargo bench at ${sessions} sessions`);
    const env = { ...process.env, RUMPROPS_BENCH_SESSIONS: String(sessions) };
    delete env.RUMPROPS_BENCH_DB;
    // panic=unwind for the release profile too: cargo builds the bench's libraries with unwind
    // and the package's binary with the profile's abort, and the two builds of the cdylib+rlib
    // `rumprops` would overwrite each other's un-hashed librumprops.rlib.
    env.CARGO_PROFILE_RELEASE_PANIC = 'unwind';
    env.RUMPROPS_BENCH_EXPLAIN = '1'; // each query's SQL and SQLite plan, printed before it is timed
    const text = execFileSync('cargo', ['bench', '-q', '-p', 'rumprops-collector', '--bench', 'collector'],
      { cwd: ROOT, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
    const run = { sessions, output: text.trim(), ingest: null, http: null, queries: [] };
    const plans = {};
    const lines = text.split('\n');
    lines.forEach((line, i) => {
      const head = line.match(/^(.+):$/);
      if (head && lines[i + 2] && lines[i + 2].startsWith('  plan: ')) plans[head[1]] = { sql: lines[i + 1].trim(), plan: lines[i + 2].slice(8) };
    });
    run.plans = plans;
    run.ingests = [];
    for (const line of lines) {
      const g = line.match(/^(ingest.*?): (\d+) beacons.* in ([\d.]+) s = (\d+) beacons\/s, (\d+) actions\/s/);
      if (g) run.ingests.push({ label: g[1], beacons: Number(g[2]), secs: Number(g[3]), actionsPerSec: Number(g[5]) });
      const a = line.match(/^ingest \(.*?([\d.]+) s = (\d+) beacons\/s, (\d+) actions\/s/);
      if (a) run.ingest = { beaconsPerSec: Number(a[2]), actionsPerSec: Number(a[3]), secs: Number(a[1]) };
      const h = line.match(/^ingest over HTTP \((.*?)\): (\d+) beacons in ([\d.]+) s = (\d+) beacons\/s, (\d+) actions\/s/);
      if (h) run.http = { how: h[1], beacons: Number(h[2]), beaconsPerSec: Number(h[4]), actionsPerSec: Number(h[5]) };
      const q = line.match(/^(.*): p50 ([\d.]+) ms over (\d+) runs \((\d+) rows\)/);
      if (q) run.queries.push({ label: q[1], p50: Number(q[2]), runs: Number(q[3]), rows: Number(q[4]) });
    }
    out.runs.push(run);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Soak: the collector under 4 clients for 60 s plus a USQL query loop (collector/benches/soak.rs),
// ingest as a ratio to a raw SQLite insert loop of the same rows in the same run. On its own:
// `node bench/run.mjs --only soak` (or the cargo command in the bench's header).

function measureSoak() {
  log('soak: cargo bench --bench soak (about 2 minutes)');
  const env = { ...process.env, CARGO_PROFILE_RELEASE_PANIC: 'unwind' };
  const text = execFileSync('cargo', ['bench', '-q', '-p', 'rumprops-collector', '--bench', 'soak'],
    { cwd: ROOT, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
  const line = text.split('\n').find((l) => l.startsWith('soak-json: '));
  if (!line) throw new Error('soak: no soak-json line in\n' + text);
  return { ...JSON.parse(line.slice('soak-json: '.length)), output: text.split('\n').filter((l) => !l.startsWith('soak-json: ')).join('\n').trim() };
}

// ---------------------------------------------------------------------------------------------
// Stores: SQLite and ClickHouse side by side (collector/benches/stores.rs): ingest through each
// collector's HTTP path and the USQL latencies at 1M and 10M actions. On its own:
// `node bench/run.mjs --only store` (about an hour on 2 busy cores; `--store-actions 1000000` for one size).

function measureStores() {
  log(`store: cargo bench --bench stores at ${STORE_ACTIONS} actions`);
  const env = { ...process.env, CARGO_PROFILE_RELEASE_PANIC: 'unwind', RUMPROPS_BENCH_ACTIONS: STORE_ACTIONS };
  const text = execFileSync('cargo', ['bench', '-q', '-p', 'rumprops-collector', '--bench', 'stores'],
    { cwd: ROOT, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
  const line = text.split('\n').find((l) => l.startsWith('stores-json: '));
  if (!line) throw new Error('store: no stores-json line in\n' + text);
  return { ...JSON.parse(line.slice('stores-json: '.length)), output: text.split('\n').filter((l) => !l.startsWith('stores-json: ')).join('\n').trim() };
}

// ---------------------------------------------------------------------------------------------

async function main() {
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const results = fs.existsSync(RESULTS) ? readJson(RESULTS) : {};
  const machine = {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    nproc: os.cpus().length,
    cpu: os.cpus()[0] ? os.cpus()[0].model : '?',
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    loadavg: os.loadavg().map((x) => +x.toFixed(2)),
    node: process.version,
    commit: execSync('git rev-parse --short HEAD', { cwd: ROOT, encoding: 'utf8' }).trim(),
    dirty: execSync('git status --porcelain --untracked-files=no', { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean).length,
  };
  const save = () => fs.writeFileSync(RESULTS, JSON.stringify(results, null, 1));
  const at = () => ({ date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), loadavg: os.loadavg().map((x) => +x.toFixed(2)) });

  if (only.includes('size')) {
    log('size');
    results.size = { ...measureSize(), machine };
    save();
  }
  const browserParts = ['capture', 'overhead', 'wire', 'memory'].filter((p) => only.includes(p));
  if (browserParts.length) {
    const browser = await launch();
    const sink = await startSink();
    const srv = await startServer(configFor(sink));
    const chromiumVersion = browser.version();
    try {
      for (const part of browserParts) {
        log(part);
        const fn = { capture: measureCapture, overhead: measureOverhead, wire: measureWire, memory: measureMemory }[part];
        const when = at();
        results[part] = { ...(await fn(browser, srv, sink)), machine: { ...machine, chromium: chromiumVersion, ...when } };
        save();
      }
    } finally {
      await browser.close();
      await srv.close();
      await sink.close();
    }
    if (offsite.length) throw new Error('requests left 127.0.0.1:\n' + [...new Set(offsite)].join('\n'));
  }
  if (only.includes('collector')) {
    const when = at();
    results.collector = { ...measureCollector(), machine: { ...machine, ...when } };
    save();
  }
  if (only.includes('soak')) {
    const when = at();
    results.soak = { ...measureSoak(), machine: { ...machine, ...when } };
    save();
  }
  if (only.includes('store')) {
    const when = at();
    results.store = { ...measureStores(), machine: { ...machine, ...when } };
    save();
  }
  results.command = 'make bench';
  if (!(only.length === 1 && only[0] === 'report')) {
    const chromium = ['capture', 'overhead', 'wire', 'memory'].map((k) => results[k] && results[k].machine.chromium).find(Boolean);
    results.machine = { ...machine, chromium };
  }
  save();
  writeReport(results, OUT);
  log('wrote ' + path.relative(ROOT, OUT));
}

main().catch((e) => { console.error(e); process.exit(1); });
