// The analysis app (www/app/) in headless Chromium against the real collector with tokens on,
// for either store (app.test.mjs: SQLite; app-clickhouse.test.mjs: ClickHouse):
// the demo shop's sessions (the agent in the browser) plus one session posted with navigation
// timings and XSS payloads in every property type and shown field. Clicks through every page:
// filter sessions by a property, open one, its actions and waterfall; analyse actions by a
// property and create a metric; the metric at /metrics; an alert whose webhook (a local HTTP
// receiver) gets firing and then resolved; a dashboard with two pinned tiles after a reload.
// Screenshots of each page: docs/app/ (RUMPROPS_SCREENSHOTS=1 node --test tests/e2e/app.test.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { launch, until } from './browser.mjs';
import { startCollector, root } from './collector.mjs';

// Screenshots go to docs/app/ when asked for (RUMPROPS_SCREENSHOTS=1), else to a temporary
// directory, so a test run leaves the work tree as it was.
const shots = process.env.RUMPROPS_SCREENSHOTS ? path.join(root, 'docs/app') : fs.mkdtempSync(path.join(os.tmpdir(), 'rumprops-shots-'));
const XSS = '<img src=x onerror="window.__xss=1">';

/**
 * Registers the app's tests against a collector storing in `store`: {name, shotPrefix,
 * args() (more `serve` options, e.g. `--store`), stop()}.
 */
export function appSuite(store) {
  let collector, base, browser, token, hook, hookUrl;
  const received = [];

  before(async () => {
    assert.ok(fs.existsSync(path.join(root, 'www/app/vendor/chart.umd.min.js')), 'vendor Chart.js first (scripts/setup.sh)');
    fs.mkdirSync(shots, { recursive: true });
    collector = await startCollector(path.join(root, 'www'), { scopes: ['read', 'write'], args: ['--alert-interval-ms', '300', ...(await store.args())] });
    ({ base, token } = collector);
    // The webhook receiver: keeps every notification body.
    hook = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        try { received.push(JSON.parse(body)); } catch { received.push(body); }
        res.writeHead(200).end();
      });
    });
    await new Promise((r) => hook.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${hook.address().port}/alertmanager`;
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    collector?.stop();
    await store.stop?.();
    hook?.close();
    if (!process.env.RUMPROPS_SCREENSHOTS) fs.rmSync(shots, { recursive: true, force: true });
  });

  const auth = () => ({ Authorization: `Api-Token ${token}` });

  async function visit(tier) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.addInitScript((t) => localStorage.setItem('demo.tier', t), tier);
    await page.goto(`${base}/demo/?utm_campaign=Spring_Sale`);
    await page.waitForSelector('.offer button');
    await page.waitForFunction(() => window.rumprops && rumprops.evaluateRules() !== undefined);
    await page.click('.offer button');
    await page.click('#book');
    await page.waitForFunction(() => /Booked/.test(document.getElementById('status').textContent));
    await page.click('nav a[data-view=cart]');
    await page.waitForTimeout(300);
    await page.evaluate(() => { rumprops.endSession(); rumprops.flush(); });
    await page.waitForTimeout(300);
    await ctx.close();
  }

  /** A session with navigation timings and an XSS payload in every string the app shows. */
  async function postCrafted() {
    const now = Date.now();
    const beacon = {
      v: 1, app: XSS, vid: 'v-xss', sid: 'xss-session', seq: 0, sentAt: now,
      session: { start: now - 5000, userId: XSS, ended: 'end_session',
        props: { string: { loyalty_status: XSS, campaign: XSS }, long: { items: 3 }, double: { cart_total: 12.5 }, date: { member_since: now - 86_400_000 } } },
      actions: [
        { id: 'l1', kind: 'load', name: XSS, start: now - 5000, end: now - 3800, url: 'https://shop.example/?q=' + XSS, requests: 3, requestErrors: 0, jsErrors: 1,
          props: { string: { step: XSS }, long: { n: 1 }, double: { d: 1.5 }, date: { when: now } },
          timings: { navigationStart: now - 5000, requestStart: 40, responseStart: 180, responseEnd: 260, documentInteractiveTime: 520, domContentLoadedTime: 560,
            domCompleteTime: 1000, loadEventStart: 1010, loadEventEnd: 1030, largestContentfulPaint: 700, cumulativeLayoutShift: 0.02 },
          errors: [{ message: XSS, file: 'https://shop.example/' + XSS + '.js', line: 1, column: 2, time: now - 4500 }] },
        { id: 'r1', kind: 'route', name: 'route to cart', start: now - 3000, end: now - 2500, url: 'https://shop.example/#cart', requests: 1, requestErrors: 0, jsErrors: 0,
          props: {}, timings: { largestContentfulPaint: 300, visuallyCompleteTime: 420 } },
      ],
      issues: [],
    };
    const res = await fetch(`${base}/beacon`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify(beacon) });
    assert.equal(res.status, 204, await res.text());
  }

  async function shot(page, name) {
    await page.waitForTimeout(250); // let Chart.js draw
    await page.screenshot({ path: path.join(shots, name + '.png'), fullPage: true });
  }

  test(`every page of the app on the demo data (${store.name})`, async () => {
    for (const tier of ['Gold', 'Silver', 'Gold']) await visit(tier);
    await postCrafted();
    await until(async () => {
      const r = await fetch(`${base}/api/v1/userSessionQueryLanguage/table?query=${encodeURIComponent('SELECT COUNT(*) FROM usersession')}`, { headers: auth() });
      return (await r.json()).values?.[0]?.[0] === 4;
    }, 'four closed sessions', 20000);

    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await ctx.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
    const requests = [];
    page.on('request', (r) => requests.push(r.url()));
    // Failed API answers, with what the collector said: named in the final check.
    const failures = [];
    page.on('response', async (r) => {
      if (r.status() >= 400 && r.url().includes('/api/')) failures.push(`${r.status()} ${decodeURIComponent(r.url())}: ${await r.text().catch(() => '')}`);
    });
    try {

    // Signed out: the sign-in form; a wrong token is refused.
    await page.goto(`${base}/app/`);
    await page.fill('[data-testid=token]', 'rp_wrong');
    await page.click('[data-testid=signin-button]');
    await page.waitForSelector('[data-testid=signin] .error');
    pageErrors.length = 0; // the refused token's 401 is logged by the browser
    // The demo's link: the token in the fragment, gone from the address at once.
    await page.goto(`${base}/app/#token=${token}`);
    await page.waitForSelector('body[data-ready=sessions]');
    assert.ok(!page.url().includes(token), page.url());
    assert.equal(await page.evaluate(() => sessionStorage.getItem('rumprops.token')), token);
    await page.waitForSelector('[data-testid=session-table]');
    assert.match(await page.textContent('[data-testid=session-count]'), /^4 sessions$/);

    // Filter by a property: Gold sessions.
    await page.selectOption('[data-testid=filter-field]', 'stringProperties.loyalty_status');
    await page.fill('[data-testid=filter-value]', 'Gold');
    await page.click('[data-testid=show-sessions]');
    await page.waitForFunction(() => document.querySelector('[data-testid=session-count]').textContent === '2 sessions');
    assert.equal(await page.locator('[data-testid=session-table] tbody tr').count(), 2);
    await shot(page, store.shotPrefix + 'sessions');

    // Open one: its actions in order, with properties.
    await page.click('[data-testid=session-table] tbody tr:first-child a');
    await page.waitForSelector('body[data-ready=session]');
    const names = await page.locator('[data-testid=action-name]').allTextContents();
    assert.ok(names.length >= 4, names.join(' | '));
    assert.ok(names.some((n) => /Book trip/.test(n)), names.join(' | '));
    await page.waitForSelector('[data-testid=session-fields]', { timeout: 5000 }).catch(async (e) => {
      await page.screenshot({ path: path.join(os.tmpdir(), 'rumprops-app-failure.png'), fullPage: true });
      throw new Error(e.message + ': ' + await page.textContent('main'));
    });
    assert.match(await page.textContent('[data-testid=session-fields]'), /userType.*endReasonEND_EVENT/);

    // The crafted session: a waterfall of its load and route actions, with a table view; every
    // payload shown as text.
    await page.goto(`${base}/app/#/session/xss-session`);
    await page.waitForSelector('body[data-ready=session]');
    await page.waitForSelector('[data-testid=waterfall] canvas');
    assert.equal(await page.locator('[data-testid=waterfall]').count(), 2);
    await page.click('[data-testid=waterfall] >> nth=0 >> [data-testid=table-toggle]');
    const wf = await page.textContent('[data-testid=waterfall] >> nth=0 >> table');
    assert.match(wf, /Request \(to first byte\)\s*40\s*180/);
    assert.match(wf, /Load event\s*1010\s*1030/);
    await page.click('[data-testid=waterfall] >> nth=0 >> [data-testid=table-toggle]');
    const body = await page.textContent('main');
    assert.ok(body.split(XSS).length - 1 >= 6, 'the payload is shown as text in fields, properties, the action, its URL and the error');
    assert.equal(await page.locator('main img').count(), 0);
    await shot(page, store.shotPrefix + 'session');

    // The sessions list with the payload in the user id and the property picker.
    await page.goto(`${base}/app/#/sessions`);
    await page.waitForSelector('[data-testid=session-table]');
    assert.ok((await page.textContent('[data-testid=session-table]')).includes(XSS));

    // Analysis: actions by loyalty status (a session property), p90 of the duration.
    await page.click('nav a[data-page=analysis]');
    await page.waitForSelector('body[data-ready=analysis]');
    await page.selectOption('[data-testid=group-by]', 'usersession.stringProperties.loyalty_status');
    await page.click('[data-testid=analyse]');
    await page.waitForFunction(() => /Gold[\s\S]*Silver/.test(document.querySelector('[data-testid=analysis-table]')?.textContent || ''));
    const rows = await page.locator('[data-testid=analysis-table] tbody tr').allTextContents();
    assert.ok(rows.some((r) => r.startsWith('Gold')), rows.join(' | '));
    assert.ok(rows.some((r) => r.includes(XSS)), 'the payload as a group name: ' + rows.join(' | '));
    await page.waitForSelector('[data-testid=line-chart] canvas');
    await page.fill('[data-testid=metric-key]', 'tier_p90');
    await page.click('[data-testid=create-metric]');
    await page.waitForSelector('[data-testid=metric-created]');
    await shot(page, store.shotPrefix + 'analysis');

    // The metric at /metrics, with its labels.
    const prom = await (await fetch(`${base}/metrics`, { headers: auth() })).text();
    assert.match(prom, /# TYPE rumprops_metric_tier_p90 gauge/);
    assert.match(prom, /rumprops_metric_tier_p90\{usersession_stringProperties_loyalty_status="Gold"\} \d/);
    assert.equal((await fetch(`${base}/metrics`)).status, 401);
    await page.click('nav a[data-page=metrics]');
    await page.waitForSelector('[data-testid=prometheus]');
    assert.match(await page.textContent('[data-testid=prometheus]'), /rumprops_metric_tier_p90\{/);
    await shot(page, store.shotPrefix + 'metrics');

    // An alert on it: p90 above 0 fires; raising the threshold resolves it.
    await page.click('nav a[data-page=alerts]');
    await page.waitForSelector('body[data-ready=alerts]');
    await page.click('[data-testid=new-alert]');
    await page.fill('[data-testid=a-name]', 'Slow tiers');
    await page.fill('[data-testid=a-threshold]', '0');
    await page.fill('[data-testid=a-webhook]', hookUrl);
    await page.click('[data-testid=a-save]');
    await until(() => received.find((b) => b.status === 'firing'), 'the firing notification', 15000);
    const firing = received.find((b) => b.status === 'firing');
    assert.equal(firing.version, '4');
    assert.equal(firing.alerts[0].labels.alertname, 'Slow tiers');
    await page.waitForFunction(() => document.querySelector('[data-testid=alert-state]')?.textContent === 'FIRING', null, { timeout: 10000 });
    await page.click('[data-testid=edit-alert]');
    await page.fill('[data-testid=a-threshold]', '1000000000');
    await page.click('[data-testid=a-save]');
    await until(() => received.find((b) => b.status === 'resolved'), 'the resolved notification', 15000);
    assert.equal(received.find((b) => b.status === 'resolved').alerts[0].startsAt, firing.alerts[0].startsAt);
    await page.click('[data-testid=alert] h3 a');
    await page.waitForFunction(() => document.querySelector('[data-testid=alert-state]')?.textContent === 'OK', null, { timeout: 10000 });
    await page.waitForSelector('[data-testid=alert-history]');
    assert.match(await page.textContent('[data-testid=alert-history]'), /resolved[\s\S]*firing/);
    await shot(page, store.shotPrefix + 'alerts');

    // Dashboards: a new one, two tiles pinned (a query as a bar chart, the metric as a single
    // value), saved; after a reload both are there.
    await page.click('nav a[data-page=dashboards]');
    await page.waitForSelector('[data-testid=new-dashboard]');
    await page.fill('[data-testid=new-dashboard-name]', 'Checkout');
    await page.click('[data-testid=new-dashboard]');
    await page.waitForSelector('[data-testid=pin-tile]');
    await page.fill('[data-testid=tile-new-title]', 'Actions by type');
    await page.selectOption('[data-testid=tile-new-type]', 'COLUMN_CHART');
    await page.click('[data-testid=pin-tile]');
    await page.fill('[data-testid=tile-new-title]', 'Tier p90');
    await page.selectOption('[data-testid=tile-new-type]', 'SINGLE_VALUE');
    await page.selectOption('[data-testid=tile-new-source]', { label: 'rumprops_metric_tier_p90' });
    await page.click('[data-testid=pin-tile]');
    await page.click('[data-testid=save-dashboard]');
    await page.waitForFunction(() => document.querySelector('[data-testid=save-status]').textContent === 'saved');
    await page.reload();
    await page.waitForSelector('body[data-ready=dashboards]');
    await page.waitForSelector('[data-testid=tile] canvas');
    await page.waitForSelector('[data-testid=single-value]');
    assert.deepEqual(await page.locator('[data-testid=tile-title]').allTextContents(), ['Actions by type', 'Tier p90']);
    await shot(page, store.shotPrefix + 'dashboard');

    // The ready "Web property pack".
    await page.click('nav a[data-page=dashboards]');
    await page.waitForSelector('[data-testid=add-pack]');
    await page.click('[data-testid=add-pack]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=tile]').length === 4);
    await page.waitForFunction(() => !document.querySelector('[data-testid=tile] .error') && document.querySelectorAll('[data-testid=tile] canvas, [data-testid=tile] table').length >= 4, null, { timeout: 10000 })
      .catch(async (e) => { throw new Error(e.message + ': ' + await page.textContent('[data-testid=tiles]')); });
    await shot(page, store.shotPrefix + 'web-property-pack');

    assert.equal(await page.evaluate(() => window.__xss), undefined, 'no payload ran');
    assert.ok(!requests.some((u) => u.includes(token)), 'the token is in no request URL');
    assert.deepEqual(pageErrors, []);
    } catch (e) {
      e.message += '\nfailed API answers:\n' + failures.join('\n');
      throw e;
    }
    await ctx.close();
  });

  test(`the app pages carry a Content-Security-Policy (${store.name})`, async () => {
    const res = await fetch(`${base}/app/`);
    assert.equal(res.status, 200);
    const csp = res.headers.get('content-security-policy');
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.match(csp, /frame-ancestors 'none'/);
  });
}
