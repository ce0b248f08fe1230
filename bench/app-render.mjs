// Benchmark (not a test): the analysis app's first render with 100,000 sessions in the store.
//
// Starts the release collector (tokens on) on a fresh SQLite file, posts N sessions (3 actions
// each, with properties and load timings) over loopback HTTP, then opens the app in headless
// Chromium and measures, in fresh browser contexts, the time from navigation start to the
// sessions page drawn (the session count and the first page of the table are in the DOM), and
// the same for the analysis page. Also the page weight: every file the app loads, raw and
// brotli. Writes docs/app-benchmark.md. Usage: node bench/app-render.mjs [sessions] (default 100000).
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { launch } from '../tests/e2e/browser.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.argv[2] || 100_000);
const RUNS = 7;
const bin = path.join(root, 'target/release/rumprops');
if (!fs.existsSync(bin)) throw new Error('build the release collector first: cargo build --release -p rumprops-collector');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rumprops-appbench-'));
const db = path.join(dir, 'bench.db');
const token = execFileSync(bin, ['token', 'create', '--scope', 'read', '--scope', 'write', '--db', db]).toString().trim();
const collector = spawn(bin, ['serve', '--db', db, '--addr', '127.0.0.1:0', '--static', path.join(root, 'www'),
  '--rate-per-sec', '1000000', '--rate-burst', '1000000'], { stdio: ['ignore', 'pipe', 'inherit'] });
const base = await new Promise((resolve, reject) => {
  let out = '';
  collector.stdout.on('data', (d) => {
    out += d;
    const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
    if (m) resolve(m[1]);
  });
  collector.on('exit', (c) => reject(new Error('collector exited ' + c)));
});

const TIERS = ['Gold', 'Silver', 'Bronze', 'Platinum'];
const now = Date.now();
function beacon(i) {
  const start = now - 86_400_000 + Math.floor((i / N) * 86_000_000);
  const load = 300 + (i * 7919) % 4000;
  return JSON.stringify({
    v: 1, app: 'bench', vid: 'v' + (i % 20000), sid: 's' + i, seq: 0, sentAt: start + 5000,
    session: { start, userId: i % 3 ? 'user' + (i % 5000) : null, ended: 'end_session',
      props: { string: { loyalty_status: TIERS[i % 4], campaign: 'campaign_' + (i % 10) }, double: { cart_total: (i % 500) + 0.5 }, long: { items: i % 7 } } },
    actions: [
      { id: 'a', kind: 'load', name: 'loading of page /', start, end: start + load, url: 'https://shop.example/', requests: 5, requestErrors: i % 17 === 0 ? 1 : 0, jsErrors: 0,
        props: { string: { page: 'home' } },
        timings: { requestStart: 20, responseStart: 80 + (i % 200), responseEnd: 150 + (i % 200), documentInteractiveTime: 200 + (i % 900), domContentLoadedTime: 220 + (i % 900),
          domCompleteTime: load - 20, loadEventStart: load - 15, loadEventEnd: load - 10, largestContentfulPaint: Math.floor(load * 0.8) } },
      { id: 'b', kind: 'click', name: 'click on "Book"', start: start + load + 1000, end: start + load + 1300, url: 'https://shop.example/', requests: 1, requestErrors: 0, jsErrors: 0, props: {} },
      { id: 'c', kind: 'route', name: 'route to /cart', start: start + load + 2000, end: start + load + 2400, url: 'https://shop.example/#cart', requests: 1, requestErrors: 0, jsErrors: 0, props: {} },
    ],
    issues: [],
  });
}

const t0 = Date.now();
let next = 0;
async function worker() {
  while (next < N) {
    const i = next++;
    for (;;) {
      const res = await fetch(base + '/beacon', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: beacon(i) });
      await res.arrayBuffer();
      if (res.status === 204) break;
      if (res.status !== 503 && res.status !== 429) throw new Error(`beacon ${i}: ${res.status}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
await Promise.all(Array.from({ length: 32 }, worker));
const ingestMs = Date.now() - t0;
console.log(`ingested ${N} sessions in ${ingestMs} ms`);

const browser = await launch();
async function firstRender(hash, ready) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await ctx.addInitScript((t) => sessionStorage.setItem('rumprops.token', t), token);
  const page = await ctx.newPage();
  const files = [];
  page.on('response', async (r) => { if (r.url().includes('/app/')) files.push(r.url()); });
  await page.goto(`${base}/app/${hash}`);
  await page.waitForFunction(ready, null, { timeout: 60000 });
  const ms = await page.evaluate(() => performance.now());
  await ctx.close();
  return { ms, files };
}
const sessionsReady = () => document.body.dataset.ready === 'sessions' && /sessions?$/.test(document.querySelector('[data-testid=session-count]')?.textContent || '')
  && document.querySelectorAll('[data-testid=session-table] tbody tr').length > 0 && !!document.querySelector('[data-testid=filter-field]');
const analysisReady = () => document.body.dataset.ready === 'analysis' && document.querySelectorAll('[data-testid=analysis-table] tbody tr').length > 0;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = {};
let files = [];
for (const [name, hash, ready] of [['sessions', '#/sessions', sessionsReady], ['analysis', '#/analysis', analysisReady]]) {
  await firstRender(hash, ready); // warm the collector's page cache once
  const times = [];
  for (let r = 0; r < RUNS; r++) {
    const out = await firstRender(hash, ready);
    times.push(out.ms);
    if (name === 'sessions') files = out.files;
  }
  results[name] = times;
  console.log(`${name}: first render median ${median(times).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms (${RUNS} runs)`);
}
await browser.close();
collector.kill();

const weight = [...new Set(files)].map((u) => {
  const rel = new URL(u).pathname.replace(/^\/app\//, '') || 'index.html';
  const bytes = fs.readFileSync(path.join(root, 'www/app', rel));
  return [rel, bytes.length, zlib.brotliCompressSync(bytes, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }).length];
}).sort((a, b) => b[1] - a[1]);
const total = weight.reduce((s, w) => [s[0] + w[1], s[1] + w[2]], [0, 0]);
if (process.env.KEEP_DB) console.log('kept ' + db + ' token ' + token); else fs.rmSync(dir, { recursive: true, force: true });

const cpu = os.cpus()[0]?.model || 'unknown CPU';
const report = `# The app's first render (bench/app-render.mjs)

Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} × ${cpu}, headless Chromium, the release collector with
tokens on, ${N.toLocaleString('en')} closed sessions (3 actions each, with properties and load timings) in the store,
ingested over loopback HTTP in ${(ingestMs / 1000).toFixed(1)} s. Time from navigation start to the page drawn
(performance.now() when the data is in the DOM), ${RUNS} fresh browser contexts each, after one warm-up:

| page | median | max | what it waits for |
|---|---|---|---|
| User sessions | ${median(results.sessions).toFixed(0)} ms | ${Math.max(...results.sessions).toFixed(0)} ms | the session count, the first page of 25 sessions, the filter editor with the stored keys |
| Analysis | ${median(results.analysis).toFixed(0)} ms | ${Math.max(...results.analysis).toFixed(0)} ms | actions by name: count, median, p90, errors, Apdex; the chart |

Page weight of the sessions page (every file it loads from /app/):

| file | bytes | brotli -q 11 |
|---|---|---|
${weight.map(([f, b, br]) => `| ${f} | ${b.toLocaleString('en')} | ${br.toLocaleString('en')} |`).join('\n')}
| **total** | **${total[0].toLocaleString('en')}** | **${total[1].toLocaleString('en')}** |

Chart.js (the vendored \`chart.umd.min.js\`) is most of it; the app's own modules are the rest.
`;
fs.writeFileSync(path.join(root, 'docs/app-benchmark.md'), report);
console.log(report);
