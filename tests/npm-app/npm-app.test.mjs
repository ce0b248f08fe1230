// Must show: the npm package (`npm pack` output) installs into a plain Vite app (no plugin, no
// config), builds, and runs in Chromium: a custom action with API properties of every type and
// the rules' values reaches the collector, the API answers its reports, and the page sees no
// error; under a Content Security Policy that refuses WebAssembly the same app runs the
// fallback (the module as plain JS, a chunk of its own) instead. Also: its types compile (tsc
// on typed-usage.ts, and the dtrum shim's on dtrum-usage.ts against @dynatrace/dtrum-api-types),
// and without a window it and the shim are inert.
//
// Steps: scripts/pack-npm.sh → npm install of the tarball → tsc --noEmit → vite build → dist/
// served with a beacon sink on one origin → headless Chromium (tests/e2e/browser.mjs).
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { launch, until } from '../e2e/browser.mjs';

const app = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(app, '../..');
const dist = path.join(app, 'dist');
const bin = (name) => path.join(app, 'node_modules/.bin', name);

/** Runs a command; fails with its output if it fails. Returns its stdout and stderr. */
function run(cmd, args, cwd) {
  const started = Date.now();
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 16 << 20 });
  process.stderr.write(`npm-app: ${path.basename(cmd)} ${args.join(' ')}: ${Date.now() - started} ms\n`);
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed (${r.error || r.signal || r.status}):\n${r.stdout}\n${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

let tarball = '';

test.before(() => {
  tarball = path.resolve(root, run(path.join(root, 'scripts/pack-npm.sh'), [], root).stdout.trim().split('\n').pop());
  assert.ok(fs.existsSync(tarball), tarball);
  // The app's own dependencies (vite, typescript) are pinned in its package-lock.json; the
  // package is the freshly packed tarball, not saved, so the lock stays as committed.
  run('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--prefer-offline', '--loglevel=error', tarball], app);
});

test('the installed package is the packed one, with its files and metadata', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(app, 'node_modules/rumprops/package.json'), 'utf8'));
  const cargo = fs.readFileSync(path.join(root, 'Cargo.toml'), 'utf8').match(/^version = "(.+)"$/m)[1];
  assert.equal(pkg.version, cargo);
  assert.equal(path.basename(tarball), `rumprops-${cargo}.tgz`);
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.license, 'MIT OR Apache-2.0');
  assert.equal(pkg.sideEffects, false);
  assert.equal(pkg.types, './index.d.ts');
  for (const f of ['index.js', 'index.d.ts', 'rumprops-core.js', 'dtrum.js', 'dtrum.d.ts', 'dtrum-core.js', 'sha256.js', 'config-json.js', 'wasm/rumprops.js', 'wasm/rumprops_bg.wasm', 'wasm/rumprops_fallback.js', 'README.md']) {
    assert.ok(fs.existsSync(path.join(app, 'node_modules/rumprops', f)), f);
  }
});

test('the types compile, and the mistakes marked @ts-expect-error are refused', () => {
  run(bin('tsc'), ['--noEmit', '-p', 'tsconfig.json'], app);
});

test('without a window (server-side rendering) every call is inert and nothing throws', async () => {
  const rp = await import(pathToFileURL(path.join(app, 'node_modules/rumprops/index.js')).href);
  assert.equal(typeof globalThis.window, 'undefined');
  assert.equal(rp.init({ version: 1, app: 'ssr', collector: '/beacon' }), false);
  assert.equal(rp.enterAction('x'), undefined);
  assert.equal(rp.addActionProperties(null, { string: { a: 'b' } }), undefined);
  assert.equal(rp.sendSessionProperties({ string: { a: 'b' } }), undefined);
  assert.equal(rp.evaluateRules(), undefined);
  for (const f of ['identifyUser', 'leaveAction', 'enable', 'disable', 'endSession', 'flush']) assert.equal(rp[f]('x'), undefined, f);
  // The dtrum shim over it: inert too, with the answers its types declare.
  const { dtrum } = await import(pathToFileURL(path.join(app, 'node_modules/rumprops/dtrum.js')).href);
  assert.equal(dtrum.enterAction('x'), 0);
  assert.equal(dtrum.addActionProperties(0, { a: 1 }), undefined);
  assert.deepEqual(dtrum.getAndEvaluateMetaData(), []);
  assert.equal(dtrum.markAsErrorPage(500, 'x'), false);
});

test('a Vite app built with the package sends the custom action with typed properties', async (t) => {
  fs.rmSync(dist, { recursive: true, force: true });
  const built = run(bin('vite'), ['build', '--logLevel', 'warn'], app);
  assert.equal(built.stdout + built.stderr, '', 'vite build warns about nothing');
  const assets = fs.readdirSync(path.join(dist, 'assets'));
  assert.ok(assets.some((f) => f.endsWith('.wasm')), 'vite emitted the module as an asset: ' + assets);
  assert.ok(assets.some((f) => /^sha256-.*\.js$/.test(f)), 'vite split the SHA-256 into a chunk of its own: ' + assets);

  const sink = await serve(dist);
  t.after(() => sink.close());
  const browser = await launch();
  t.after(() => browser.close());
  const page = await browser.newPage();
  const log = [];
  page.on('pageerror', (e) => log.push('pageerror: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'warning' || m.type() === 'error') log.push(m.type() + ': ' + m.text()); });
  page.on('requestfailed', (r) => log.push('requestfailed: ' + r.url()));
  await page.goto(sink.origin + '/');

  // Called at start, before the module loaded: queued, replayed, the token mapped to the id.
  const checkout = await until(() => sink.actions().find((a) => a.kind === 'custom' && a.name === 'checkout'), 'the checkout action');
  const planHash = crypto.createHash('sha256').update('npm:pro annual').digest('hex');
  assert.deepEqual(checkout.props.string, { plan: 'pro annual', plan_hash: planHash, coupon: 'SPRING' });
  assert.deepEqual(checkout.props.double, { cart_total: 59.9 });
  assert.ok(checkout.start <= checkout.end);
  // The long keeps all 64 bits on the wire (JSON.parse would round it): read the raw body.
  const raw = sink.raw.find((r) => r.includes('"checkout"'));
  assert.match(raw, /"order_id":9223372036854775807[,}]/);

  // Called once ready: direct calls with their reports.
  await page.click('#pay');
  const payment = await until(() => sink.actions().find((a) => a.kind === 'custom' && a.name === 'payment'), 'the payment action');
  assert.deepEqual(payment.props.double, { cart_total: 59.9, weight: 2.5 });
  assert.deepEqual(payment.props.date, { delivery: Date.parse('2026-12-24T10:00:00Z') });
  assert.deepEqual(payment.props.string, { plan: 'pro annual', plan_hash: planHash });
  assert.deepEqual(await page.evaluate(() => window.__report), {
    sent: [{ key: 'weight', value: 2.5 }, { key: 'delivery', value: Date.parse('2026-12-24T10:00:00Z') }],
    failed: [{ key: 'undefined_key', reason: 'invalid_key' }],
  });
  const rules = await page.evaluate(() => window.__rules);
  assert.deepEqual(rules.find((r) => r.key === 'plan'), { key: 'plan', source: 'meta', value: 'pro annual', reason: null });
  assert.deepEqual(rules.find((r) => r.key === 'cart_total'), { key: 'cart_total', source: 'css', value: 59.9, reason: null });
  assert.equal(rules.length, 7);

  // The click on the button is an action of its own.
  await until(() => sink.actions().find((a) => a.kind === 'click' && a.name === 'click on "pay button"'), 'the click action');
  assert.equal(sink.unparsable, 0);
  assert.deepEqual(log, []);
});

test('where a Content Security Policy refuses WebAssembly, the app runs the fallback chunk instead', async (t) => {
  // dist/ as the test above built it.
  assert.ok(fs.existsSync(path.join(dist, 'index.html')), 'the Vite build of the test above');
  const assets = fs.readdirSync(path.join(dist, 'assets'));
  assert.ok(assets.some((f) => /^rumprops_fallback-.*\.js$/.test(f)), 'vite split the fallback into a chunk of its own: ' + assets);
  const sink = await serve(dist, "script-src 'self'");
  t.after(() => sink.close());
  const browser = await launch();
  t.after(() => browser.close());
  const page = await browser.newPage();
  const log = [], gets = [];
  page.on('pageerror', (e) => log.push('pageerror: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'warning' || m.type() === 'error') log.push(m.type() + ': ' + m.text()); });
  page.on('request', (r) => gets.push(new URL(r.url()).pathname));
  await page.goto(sink.origin + '/');
  const checkout = await until(() => sink.actions().find((a) => a.kind === 'custom' && a.name === 'checkout'), 'the checkout action');
  assert.deepEqual(checkout.props.double, { cart_total: 59.9 });
  assert.equal(checkout.props.string.plan_hash, crypto.createHash('sha256').update('npm:pro annual').digest('hex'));
  await page.click('#pay');
  await until(() => sink.actions().find((a) => a.kind === 'custom' && a.name === 'payment'), 'the payment action');
  // The fallback ran, and the module was never fetched.
  assert.ok(gets.some((g) => /\/rumprops_fallback-[^/]*\.js$/.test(g)), gets.join(' '));
  assert.ok(!gets.some((g) => g.endsWith('.wasm')), gets.join(' '));
  // Only the browser's report of the refused compile (the test of the loader) is logged.
  assert.deepEqual(log.filter((l) => !/WebAssembly/.test(l)), []);
});

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css' };

/**
 * dist/ and a beacon sink (the pattern of tests/e2e/sink.mjs) on one 127.0.0.1 origin; `csp`,
 * when given, is the pages' Content-Security-Policy.
 */
async function serve(dir, csp) {
  const sink = { raw: [], beacons: [], unparsable: 0 };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/beacon' && req.method === 'POST') {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        sink.raw.push(body);
        try { sink.beacons.push(JSON.parse(body)); } catch (e) { sink.unparsable++; }
        res.writeHead(204).end();
      });
      return;
    }
    const file = path.join(dir, path.normalize(url.pathname === '/' ? '/index.html' : url.pathname));
    if (!file.startsWith(dir) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end('not found');
      return;
    }
    const headers = { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-store' };
    if (csp && file.endsWith('.html')) headers['Content-Security-Policy'] = csp;
    res.writeHead(200, headers);
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  sink.origin = `http://127.0.0.1:${server.address().port}`;
  sink.actions = () => sink.beacons.flatMap((b) => b.actions || []);
  sink.close = () => new Promise((r) => { server.closeAllConnections(); server.close(r); });
  return sink;
}
