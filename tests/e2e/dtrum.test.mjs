// Must show: a page written for Dynatrace's dtrum API (tests/e2e/pages/dtrum/: identifyUser, a
// session property with {value, public}, custom errors, a custom action with properties of all
// four types renamed with actionName, a call with no rumprops meaning) runs unchanged with the
// shim (`data-dtrum="true"`), the reports and answers have dtrum's shape, no error reaches the
// page, the beacons carry the renamed action and the custom errors, and the real collector
// answers the loyalty-tier query, the action's new name and the errors over what it sent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, until } from './browser.mjs';
import { startCollector, root } from './collector.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const QUERY = 'SELECT stringProperties.loyalty_tier AS "Loyalty tier", COUNT(*) AS "Sessions" ' +
  'FROM usersession WHERE stringProperties.loyalty_tier IS NOT NULL GROUP BY stringProperties.loyalty_tier ORDER BY stringProperties.loyalty_tier';

let collector, site, browser, base;
const table = (q) => collector.table(q);

before(async () => {
  // The collector serves the page and the built agent itself: one origin, as a site would.
  site = fs.mkdtempSync(path.join(os.tmpdir(), 'rumprops-dtrum-site-'));
  fs.cpSync(path.join(here, 'pages/dtrum'), site, { recursive: true });
  fs.cpSync(path.join(root, 'www/dist'), path.join(site, 'dist'), { recursive: true });
  collector = await startCollector(site);
  base = collector.base;
  browser = await launch();
});

after(async () => {
  await browser?.close();
  collector?.stop();
  if (site) fs.rmSync(site, { recursive: true, force: true });
});

async function visit(tier) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const errors = [], debug = [], beacons = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => { if (r.method() === 'POST' && new URL(r.url()).pathname === '/beacon') beacons.push(JSON.parse(r.postData())); });
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text()); if (m.type() === 'debug') debug.push(m.text()); });
  await page.addInitScript((t) => document.addEventListener('DOMContentLoaded', () => { document.body.dataset.tier = t; }), tier);
  await page.goto(base + '/index.html');
  await page.waitForFunction(() => window.dtrum && window.sessionReport !== undefined || document.readyState === 'complete');
  await page.waitForFunction(() => window.rumprops && rumprops.evaluateRules() !== undefined);
  await page.click('#pay');
  await page.waitForFunction(() => document.getElementById('status').textContent === 'paid');
  const got = await page.evaluate(() => ({ action: window.actionReport, meta: window.meta, now: typeof dtrum.now(), named: window.named }));
  // actionName: SUCCESS, INVALID_ACTION_NAME, INVALID_ACTION_ID, and ACTION_NOT_FOUND once left.
  assert.deepEqual(got.named, [0, 2, 3, 1]);
  // The sending report, in dtrum's shape: the unknown key failed, the others sent typed.
  assert.deepEqual(got.action.failedProperties, [{ key: 'nope', reason: 'invalid_key' }]);
  assert.deepEqual(Object.fromEntries(got.action.sentProperties.map((p) => [p.key, p.value])),
    { items: 3, order_no: 4711, delivery: Date.UTC(2026, 11, 24, 10, 0, 0), coupon: 'SPRING', total: 59.9 });
  assert.equal(typeof got.action.info, 'string');
  assert.equal(got.now, 'number');
  // getAndEvaluateMetaData() from evaluateRules(): the page rule with its value as text.
  assert.deepEqual(got.meta.find((m) => m.id === 'title'), { id: 'title', type: 'css', expression: 'title', value: 'Checkout' });
  await page.waitForTimeout(300); // the custom action's beacon
  await page.evaluate(() => { dtrum.endSession(); dtrum.sendBeacon(true, false, false); });
  await page.waitForTimeout(300);
  await ctx.close();
  assert.deepEqual(errors, []);
  // The call without a rumprops meaning said so, once.
  assert.deepEqual(debug.filter((l) => l.startsWith('rumprops dtrum: ')), ['rumprops dtrum: setPage() has no rumprops meaning: ignored']);
  // The beacons: the custom action under its new name with its custom error, the load action
  // (open while the load handler ran) with the other.
  const actions = beacons.flatMap((b) => b.actions || []);
  const pay = actions.filter((a) => a.kind === 'custom');
  assert.equal(pay.length, 1, JSON.stringify(actions));
  assert.equal(pay[0].name, 'pay order (card)');
  assert.equal(pay[0].jsErrors, 1);
  assert.deepEqual(pay[0].errors.map((e) => e.message), ['payment: card declined']);
  const load = actions.filter((a) => a.kind === 'load');
  assert.equal(load.length, 1, JSON.stringify(actions));
  assert.equal(load[0].jsErrors, 1);
  assert.deepEqual(load[0].errors.map((e) => Object.keys(e).sort().join() + ' ' + e.message), ['message,time checkout: coupon expired (SPRING)']);
}

test('a page written for dtrum runs unchanged with the shim, and the collector answers the loyalty-tier query', async () => {
  for (const tier of ['gold', 'silver', 'gold']) await visit(tier);
  const result = await until(async () => {
    const r = await table(QUERY);
    return r.values.length === 2 && r.values[0][1] === 2 && r.values[1][1] === 1 ? r : null;
  }, 'the loyalty-tier query to count 2 gold and 1 silver sessions', 20000).catch(async (e) => {
    throw new Error(e.message + '; got ' + JSON.stringify((await table(QUERY)).values));
  });
  assert.deepEqual(result.columnNames, ['Loyalty tier', 'Sessions']);
  assert.deepEqual(result.values, [['gold', 2], ['silver', 1]]);
  // identifyUser reached the session, the custom action its name, all four types their columns.
  const users = await table('SELECT userId, COUNT(*) FROM usersession GROUP BY userId ORDER BY userId');
  assert.deepEqual(users.values, [['customer-gold', 2], ['customer-silver', 1]]);
  const actions = await table('SELECT name, COUNT(*), SUM(longProperties.items), MAX(longProperties.order_no), MAX(doubleProperties.total), MAX(dateProperties.delivery), MAX(stringProperties.coupon) FROM useraction WHERE type = "custom" GROUP BY name');
  assert.deepEqual(actions.values, [['pay order (card)', 3, 9, 4711, 59.9, Date.UTC(2026, 11, 24, 10, 0, 0), 'SPRING']]);
  assert.deepEqual((await table('SELECT name FROM useraction WHERE name = "pay order"')).values, []);
  // The custom errors, each on its action, and in each session's error count.
  const errors = await table('SELECT name, actionName, COUNT(*) FROM usererror GROUP BY name, actionName ORDER BY name');
  assert.deepEqual(errors.values, [['checkout: coupon expired (SPRING)', '/index.html', 3], ['payment: card declined', 'pay order (card)', 3]]);
  const counts = await table('SELECT totalErrorCount, COUNT(*) FROM usersession GROUP BY totalErrorCount');
  assert.deepEqual(counts.values, [[2, 3]]);
});

// The inline page, and the same under a strict CSP (a nonce and 'strict-dynamic', no
// 'wasm-unsafe-eval', in a <meta http-equiv>): the written-in shim carries the tag's nonce, and
// the agent runs its fallback.
const STRICT = "script-src 'nonce-dtrum0nce' 'strict-dynamic'; object-src 'none'; base-uri 'none'";
function strictPage() {
  const html = fs.readFileSync(path.join(here, 'pages/dtrum/inline.html'), 'utf8');
  const strict = html.replace('<meta charset="utf-8">', `<meta charset="utf-8">\n  <meta http-equiv="Content-Security-Policy" content="${STRICT}">`)
    .replaceAll('<script', '<script nonce="dtrum0nce"');
  assert.ok(strict !== html && strict.split('nonce="dtrum0nce"').length === 3);
  fs.writeFileSync(path.join(site, 'inline-strict.html'), strict);
}

async function inlineVisit(file) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const errors = [], actions = [], gets = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text()); });
  page.on('request', (r) => {
    const where = new URL(r.url()).pathname;
    if (r.method() === 'POST' && where === '/beacon') actions.push(...(JSON.parse(r.postData()).actions || []));
    else gets.push(where);
  });
  await page.goto(base + '/' + file);
  const early = await page.evaluate(() => window.early);
  // The inline script found the shim: its own dtrum, not Dynatrace's, with dtrum's numeric id for
  // the action. The agent may be ready by then (its module and config load while the parser
  // waits for the shim) or not: a call that waits for it has no report yet (undefined).
  assert.deepEqual([early.type, early.own, early.id], ['object', 'function', 1]);
  const sent = (r) => r && r.failedProperties.length === 0 && r.sentProperties.map((p) => p.key + '=' + p.value).join();
  assert.ok(early.session === undefined || sent(early.session) === 'loyalty_tier=platinum', JSON.stringify(early.session));
  assert.ok(early.props === undefined || sent(early.props) === 'coupon=EARLY,items=2' || sent(early.props) === 'items=2,coupon=EARLY', JSON.stringify(early.props));
  await until(() => actions.some((a) => a.name === 'inline action'), 'the inline action\'s beacon', 10000);
  await page.evaluate(() => { dtrum.endSession(); dtrum.sendBeacon(); });
  await page.waitForTimeout(300);
  await ctx.close();
  assert.deepEqual(errors, []);
  const inline = actions.find((a) => a.name === 'inline action');
  assert.deepEqual(inline.errors.map((e) => e.message), ['inline failure', 'TypeError: inline type']);
  return gets;
}

test('after a plain script tag dtrum is there at once (also under a strict CSP): inline calls made while the page loads reach the collector', async () => {
  const plain = await inlineVisit('inline.html');
  assert.ok(plain.includes('/dist/pkg/rumprops_bg.wasm') && !plain.includes('/dist/pkg/rumprops_fallback.js'), plain.join(' '));
  strictPage();
  const strict = await inlineVisit('inline-strict.html');
  assert.ok(!strict.includes('/dist/pkg/rumprops_bg.wasm') && strict.includes('/dist/pkg/rumprops_fallback.js'), strict.join(' '));
  const session = await until(async () => {
    const r = await table('SELECT userId, stringProperties.loyalty_tier, COUNT(*) FROM usersession WHERE userId = "inline-user" GROUP BY userId, stringProperties.loyalty_tier');
    return r.values.length && r.values[0][2] === 2 ? r : null;
  }, 'both inline sessions at the collector', 20000);
  assert.deepEqual(session.values, [['inline-user', 'platinum', 2]]);
  const stored = await until(async () => {
    const r = await table('SELECT name, longProperties.items, stringProperties.coupon, COUNT(*) FROM useraction WHERE name = "inline action" GROUP BY name, longProperties.items, stringProperties.coupon');
    return r.values.length && r.values[0][3] === 2 ? r : null;
  }, 'both inline actions at the collector', 20000);
  assert.deepEqual(stored.values, [['inline action', 2, 'EARLY', 2]]);
});
