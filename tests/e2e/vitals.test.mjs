// What the browser measures, end to end: a page in headless Chromium with the built agent,
// beacons into the real collector, and the measures read back through USQL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launch, until } from './browser.mjs';
import { root, startCollector } from './collector.mjs';

let collector, browser, site;

before(async () => {
  // The collector serves the agent at /dist/ and the page at /vitals/.
  site = fs.mkdtempSync(path.join(os.tmpdir(), 'rumprops-vitals-'));
  fs.symlinkSync(path.join(root, 'www/dist'), path.join(site, 'dist'));
  fs.mkdirSync(path.join(site, 'vitals'));
  fs.copyFileSync(path.join(root, 'tests/e2e/pages/vitals.html'), path.join(site, 'vitals/index.html'));
  fs.copyFileSync(path.join(root, 'tests/e2e/pages/vitals.rules.json'), path.join(site, 'vitals/rumprops.json'));
  // A 1×1 PNG: an image resource of the load action.
  fs.writeFileSync(path.join(site, 'vitals/pixel.png'), Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64'));
  collector = await startCollector(site);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  collector?.stop();
  if (site) fs.rmSync(site, { recursive: true, force: true });
});

const TIMINGS = ['navigationStart', 'requestStart', 'responseStart', 'responseEnd', 'documentInteractiveTime',
  'domContentLoadedTime', 'domCompleteTime', 'loadEventStart', 'loadEventEnd', 'largestContentfulPaint',
  'firstInputDelay', 'interactionToNextPaint',
  'cumulativeLayoutShift', 'visuallyCompleteTime', 'speedIndex', 'firstPartyResources', 'thirdPartyResources',
  'cdnResources', 'apdexCategory', 'javascriptErrorCount', 'duration'];

test('a load action carries the navigation timings, LCP, CLS, resources and its JS error', async (t) => {
  const ctx = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page = await ctx.newPage();
  // The agent's config arrives a second late, so the page's script error (thrown soon after the
  // load event) comes while the agent is still starting: it still counts on the load action.
  await page.route(/\/vitals\/rumprops\.json$/, async (route) => {
    await new Promise((ok) => setTimeout(ok, 1000));
    await route.continue();
  });
  await page.goto(`${collector.base}/vitals/`);
  await page.waitForFunction(() => window.rumprops && rumprops.evaluateRules() !== undefined);
  assert.ok(await page.evaluate(() => window.thrownAt > 0), 'the error was thrown before the agent started');
  // An input while the load action is open: its first input delay and interaction latency.
  await page.click('#hero');
  await page.evaluate(() => { window.release = true; });
  await page.waitForFunction(() => window.settled > 0);
  // The browser's own view, read in the same page.
  const nav = await page.evaluate(() => {
    const e = performance.getEntriesByType('navigation')[0];
    return { origin: performance.timeOrigin, ...e.toJSON() };
  });
  const screen = await page.evaluate(() => [screen.width, screen.height]);
  await page.waitForTimeout(400); // the load action's quiet period
  await page.evaluate(() => { rumprops.endSession(); rumprops.flush(); });

  const loads = await until(async () => {
    const r = await collector.table(`SELECT ${TIMINGS.join(', ')} FROM useraction WHERE type = "load"`);
    return r.values.length === 1 ? r : null;
  }, 'the load action');
  const row = Object.fromEntries(TIMINGS.map((k, i) => [k, loads.values[0][i]]));
  t.diagnostic(JSON.stringify(row));
  for (const k of TIMINGS) {
    if (k !== 'cdnResources') assert.notEqual(row[k], null, `${k} is present: ${JSON.stringify(row)}`);
  }
  const order = ['requestStart', 'responseStart', 'responseEnd', 'domCompleteTime', 'loadEventEnd'];
  for (let i = 1; i < order.length; i++) {
    assert.ok(row[order[i - 1]] <= row[order[i]], `${order[i - 1]} <= ${order[i]}: ${JSON.stringify(row)}`);
  }
  // The load action starts at the navigation start cut to whole ms, so each timing is the
  // entry's own value (from the time origin) plus the origin's fraction of a ms, rounded.
  const same = { requestStart: 'requestStart', responseStart: 'responseStart', responseEnd: 'responseEnd',
    documentInteractiveTime: 'domInteractive', domContentLoadedTime: 'domContentLoadedEventEnd',
    domCompleteTime: 'domComplete', loadEventStart: 'loadEventStart', loadEventEnd: 'loadEventEnd' };
  for (const [k, entry] of Object.entries(same)) {
    const want = nav[entry] + nav.origin - Math.floor(nav.origin);
    assert.ok(Math.abs(row[k] - want) <= 0.5 + 1e-6, `${k} ${row[k]} against the entry's ${entry} ${nav[entry]} (+ ${nav.origin % 1})`);
  }
  const navStart = typeof row.navigationStart === 'number' ? row.navigationStart : Date.parse(row.navigationStart);
  assert.ok(Math.abs(navStart - nav.origin) <= 1, `navigationStart ${row.navigationStart} against timeOrigin ${nav.origin}`);
  assert.ok(row.largestContentfulPaint > 0 && row.largestContentfulPaint <= row.loadEventEnd + 1000, JSON.stringify(row));
  assert.ok(row.cumulativeLayoutShift > 0, `the banner shifted the page: ${row.cumulativeLayoutShift}`);
  // (An event's duration is rounded to 8 ms, so INP may be below the unrounded FID.)
  assert.ok(row.firstInputDelay >= 0 && row.interactionToNextPaint >= 0, JSON.stringify(row));
  // Visually complete is the last paint milestone (LCP, the image), speed index their mean.
  assert.ok(row.visuallyCompleteTime >= row.largestContentfulPaint && row.speedIndex <= row.visuallyCompleteTime, JSON.stringify(row));
  // The agent's script, the image, the config and the page's first requests (the module's
  // download and the beacons left out; requests after the click belong to the click action):
  // all first party.
  assert.ok(row.firstPartyResources >= 5, JSON.stringify(row));
  assert.equal(row.thirdPartyResources, 0);
  assert.equal(row.cdnResources, null, 'the agent sends no CDN count');
  assert.equal(row.javascriptErrorCount, 1);
  assert.equal(row.apdexCategory, 'FRUSTRATED', 'a JS error frustrates');

  const sessions = await collector.table('SELECT screenWidth, screenHeight, screenOrientation, connectionType FROM usersession');
  assert.deepEqual(sessions.values[0].slice(0, 3), [screen[0], screen[1], screen[0] >= screen[1] ? 'LANDSCAPE' : 'PORTRAIT']);

  // The error itself, as the collector answers it.
  const errors = await collector.table('SELECT name, COUNT(*) FROM usererror GROUP BY name');
  assert.deepEqual(errors.values, [['Uncaught Error: vitals boom', 1]]);
  await ctx.close();
});
