// The whole path, as `make demo` runs it: the agent in headless Chromium on the demo shop,
// beacons into the real collector (`rumprops serve` on an SQLite file), and the seed's USQL
// query answered through /api/v1/userSessionQueryLanguage/table.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { launch, until } from './browser.mjs';
import { root, startCollector } from './collector.mjs';

const SEED = 'SELECT stringProperties.loyalty_status AS "Loyalty status", COUNT(useraction.requestErrorCount) AS "HTTP error count" ' +
  'FROM usersession WHERE stringProperties.loyalty_status IS NOT NULL GROUP BY stringProperties.loyalty_status';

let collector, base, table, browser;

before(async () => {
  collector = await startCollector(path.join(root, 'www'));
  ({ base, table } = collector);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  collector?.stop();
});

// One visitor: loads the shop from a campaign link, adds an offer, hits the broken availability
// check (a 404), books, and moves to the cart view (a click and a route change). Six actions.
async function visit(tier) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.addInitScript((t) => localStorage.setItem('demo.tier', t), tier);
  await page.goto(`${base}/demo/?utm_campaign=Spring_Sale`);
  await page.waitForSelector('.offer button');
  await page.waitForFunction(() => window.rumprops && rumprops.evaluateRules() !== undefined);
  await page.click('.offer button');
  await page.click('#availability');
  await page.waitForFunction(() => /failed/.test(document.getElementById('status').textContent));
  await page.click('#book');
  await page.waitForFunction(() => /Booked/.test(document.getElementById('status').textContent));
  await page.click('nav a[data-view=cart]');
  await page.waitForTimeout(300); // let the route action's quiet period pass
  await page.evaluate(() => { rumprops.endSession(); rumprops.flush(); });
  await page.waitForTimeout(300);
  await ctx.close();
  assert.deepEqual(errors, []);
}

test('the seed query counts the demo shop sessions by loyalty tier', async () => {
  for (const tier of ['Gold', 'Silver', 'Gold']) await visit(tier);

  // Closed sessions only (the default): each visit ended its session.
  const result = await until(async () => {
    const r = await table(SEED);
    const gold = r.values.find((v) => v[0] === 'Gold');
    const silver = r.values.find((v) => v[0] === 'Silver');
    return gold && silver && gold[1] === 12 && silver[1] === 6 ? r : null;
  }, 'the seed query to count 12 Gold and 6 Silver actions', 20000).catch(async (e) => {
    throw new Error(e.message + '; got ' + JSON.stringify((await table(SEED)).values));
  });
  assert.deepEqual(result.columnNames, ['Loyalty status', 'HTTP error count']);
  assert.equal(result.extrapolationLevel, 1);
  assert.deepEqual(result.values.map((v) => v[0]).sort(), ['Gold', 'Silver']);

  // The request errors themselves: one failed availability check per visit.
  const errors = await table('SELECT stringProperties.loyalty_status, SUM(useraction.requestErrorCount) FROM usersession GROUP BY stringProperties.loyalty_status ORDER BY stringProperties.loyalty_status');
  assert.deepEqual(errors.values, [['Gold', 2], ['Silver', 1]]);

  // Every action kind arrived, named, with the campaign on the session and the typed cart total.
  const kinds = await table('SELECT type, COUNT(*) FROM useraction GROUP BY type ORDER BY type');
  assert.deepEqual(kinds.values, [['click', 12], ['load', 3], ['route', 3]]);
  // The load action counts the offers request, though the page starts it before the agent loads.
  const loads = await table('SELECT COUNT(*), SUM(requestCount) FROM useraction WHERE type = "load"');
  assert.deepEqual(loads.values, [[3, 3]]);
  const names = await table('SELECT name, SUM(requestErrorCount) FROM useraction WHERE type = "click" GROUP BY name ORDER BY name');
  assert.deepEqual(names.values.map((v) => v[0]), ['click on "Add Lisbon city break"', 'click on "Book trip"', 'click on "Cart"', 'click on "Check availability"']);
  assert.deepEqual(names.values.find((v) => v[0] === 'click on "Check availability"'), ['click on "Check availability"', 3]);
  const campaign = await table('SELECT stringProperties.campaign, COUNT(*), MAX(doubleProperties.max_cart_total) FROM usersession GROUP BY stringProperties.campaign');
  assert.deepEqual(campaign.values, [['spring_sale', 3, 329]]);
  const ends = await table('SELECT endReason, COUNT(*) FROM usersession GROUP BY endReason');
  assert.deepEqual(ends.values, [['END_EVENT', 3]]);
});
