// The dashboard's session view in headless Chromium against the real collector, over either
// store (SQLite, and ClickHouse with a real clickhouse-server): a stored session with the
// issue 9 fields opens with its fields, its actions' timings and its JS errors.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { launch } from './browser.mjs';
import { root, startCollector } from './collector.mjs';
import { startClickHouse } from './clickhouse.mjs';

for (const store of ['SQLite', 'ClickHouse']) describe(store, () => {
  let collector, base, token, browser, ch;

  before(async () => {
    let args = [];
    if (store === 'ClickHouse') {
      ch = await startClickHouse();
      args = ['--store', ch.url('rum')];
    }
    collector = await startCollector(path.join(root, 'www'), { args });
    ({ base, token } = collector);
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    collector?.stop();
    ch?.stop();
  });

  const T = Date.now() - 60_000;

  test('a session opens with its fields, timings and errors', async () => {
    const beacon = {
      v: 1, app: 'shop', vid: 'v1', sid: 'dash-1', seq: 0, sentAt: T + 2000,
      session: { start: T, userId: 'alice', ended: 'end_session', props: { string: { loyalty_status: 'Gold' } },
        screen: { width: 1920, height: 1080, orientation: 'LANDSCAPE' }, connection: 'wifi' },
      actions: [{ id: 'a1', kind: 'load', name: 'loading of page /', start: T, end: T + 900, url: 'https://shop.example/',
        requests: 1, requestErrors: 0, jsErrors: 1, props: {},
        timings: { navigationStart: T, requestStart: 10, responseStart: 60, responseEnd: 80, domCompleteTime: 500,
          loadEventEnd: 520, largestContentfulPaint: 410, cumulativeLayoutShift: 0.05 },
        resources: { firstParty: 4, thirdParty: 1 }, apdex: 'FRUSTRATED',
        errors: [{ message: 'TypeError: boom', file: 'https://shop.example/app.js', line: 7, column: 3, time: T + 100 }] }],
    };
    const res = await fetch(base + '/beacon', { method: 'POST', body: JSON.stringify(beacon), headers: { 'Content-Type': 'text/plain' } });
    assert.equal(res.status, 204, await res.text());

    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/dashboard/#token=${token}`);
    await page.click('#sessions button.link');
    await page.waitForFunction(() => document.querySelectorAll('#session-errors td').length > 0);
    const fields = Object.fromEntries(await page.$$eval('#session-fields div', (ds) => ds.map((d) => [d.querySelector('dt').textContent, d.querySelector('dd').textContent])));
    assert.equal(fields.userExperienceScore, 'FRUSTRATED');
    assert.equal(fields.connectionType, 'WIFI');
    assert.equal(fields.displayResolution, 'FHD');
    assert.equal(fields.screenOrientation, 'LANDSCAPE');
    assert.equal(fields.endReason, 'END_EVENT');
    assert.equal(fields.bounce, 'true');
    assert.equal(fields.hasError, 'true');
    const actions = await page.$$eval('#session-actions table', ([t]) => {
      const names = [...t.tHead.rows[0].cells].map((c) => c.textContent);
      const row = [...t.tBodies[0].rows[0].cells].map((c) => c.textContent);
      return Object.fromEntries(names.map((n, i) => [n, row[i]]));
    });
    assert.equal(actions.apdexCategory, 'FRUSTRATED');
    assert.equal(actions.requestStart, '10');
    assert.equal(actions.serverTime, '50');
    assert.equal(actions.networkTime, '30');
    assert.equal(actions.frontendTime, '440');
    assert.equal(actions.largestContentfulPaint, '410');
    assert.equal(actions.cumulativeLayoutShift, '0.05');
    const errorRow = await page.$$eval('#session-errors tbody tr td', (tds) => tds.map((td) => td.textContent));
    assert.deepEqual(errorRow.slice(1), ['TypeError: boom', 'https://shop.example/app.js', '7', '3', 'loading of page /']);
    assert.deepEqual(errors, []);
  });
});
