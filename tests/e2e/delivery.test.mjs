// Must show: with a flaky collector and the page reloaded and hidden mid-batch, every action
// is received and none twice; beacons made while the collector is down are delivered by a
// later page of the same origin.
import test from 'node:test';
import assert from 'node:assert/strict';
import { useBrowser, setup, ready, uniqueActions, until, sleep } from './harness.mjs';
import { startSink } from './sink.mjs';

useBrowser();

/** Every action id received per session, counting whole-beacon duplicates once. */
function received(sink) {
  const ids = uniqueActions(sink).map((a) => a.sid + '/' + a.id);
  return { ids, unique: new Set(ids) };
}

/** The ids a1..aN the session must have produced. */
const expectedIds = (sid, n) => Array.from({ length: n }, (_, i) => `${sid}/a${i + 1}`);

test('a flaky collector, reloads and hiding mid-batch: every action arrives, none twice', async (t) => {
  const { sink, open, log } = await setup(t);
  sink.mode = 'flaky';
  const page = await open('/pages/delivery.html');
  await ready(page);
  let produced = 1; // the load
  const click = async (n) => {
    for (let i = 0; i < n; i++) { await page.click('#go'); produced++; }
  };
  const reload = async () => { await page.reload(); await ready(page); produced++; };
  const hide = async () => { await page.evaluate(() => { setHidden(true); setHidden(false); }); };

  await click(2); await hide();           // hidden with two of three actions waiting
  await click(4); await reload();         // reloaded right after the clicks (pagehide)
  await click(1); await hide(); await click(2); await reload();
  await click(5); await hide(); await hide(); await click(3);
  await reload();                         // hidden pages answer later: the next page resends
  await click(2);
  await page.evaluate(() => rumprops.flush());

  const sid = (await until(() => sink.beacons[0], 'a first beacon')).sid;
  const want = expectedIds(sid, produced);
  await until(() => want.every((id) => received(sink).unique.has(id)), `all ${produced} actions`, 60000)
    .catch((e) => { throw new Error(e.message + `: got ${[...received(sink).unique].length}; log: ${log.join(' | ')}`); });
  const { ids, unique } = received(sink);
  assert.deepEqual([...unique].sort(), [...want].sort(), 'exactly the actions the page produced');
  assert.equal(ids.length, unique.size, 'no action arrives in two different beacons');
  assert.ok(sink.refused > 0, 'the sink refused some requests');
  // Whole-beacon duplicates (a resend of a beacon whose answer was lost) keep their (sid, seq)
  // and content; the collector stores them once.
  const bySeq = new Map();
  for (const r of sink.raw) {
    const b = JSON.parse(r.body);
    const key = b.sid + '/' + b.seq;
    const actions = JSON.stringify(b.actions.map((a) => a.id));
    if (bySeq.has(key)) assert.equal(bySeq.get(key), actions, 'a resent beacon carries the same actions');
    bySeq.set(key, actions);
  }
  const kinds = uniqueActions(sink).reduce((m, a) => ({ ...m, [a.kind]: (m[a.kind] || 0) + 1 }), {});
  assert.deepEqual(kinds, { load: 4, click: 19 });
});

test('beacons made while the collector is down are delivered by a later page of the same origin', async (t) => {
  const { sink, open } = await setup(t);
  sink.mode = 'down';
  const page = await open('/pages/delivery.html');
  await ready(page);
  for (let i = 0; i < 4; i++) await page.click('#go');
  await page.evaluate(() => rumprops.flush());
  await until(() => sink.refused >= 2, 'the agent to try the unreachable collector');
  await page.goto('about:blank');         // pagehide: the last try also fails
  // Let every request of the first page reach the sink (and fail) before it comes back.
  let seen = -1;
  while (seen !== sink.requests) { seen = sink.requests; await sleep(500); }
  assert.equal(sink.beacons.length, 0, 'nothing was delivered while down');

  sink.mode = 'ok';
  await page.goto(sink.origin + '/pages/delivery-next.html');
  const sid = await until(() => sink.beacons.find((b) => b.actions.some((a) => a.url.endsWith('/delivery.html')))?.sid, 'the first page\'s beacons');
  const want = expectedIds(sid, 5); // its load and four clicks
  await until(() => want.every((id) => received(sink).unique.has(id)), 'every action of the first page');
  const first = uniqueActions(sink).filter((a) => a.url.endsWith('/delivery.html'));
  assert.deepEqual(first.map((a) => a.kind).sort(), ['click', 'click', 'click', 'click', 'load']);
  assert.deepEqual(first.map((a) => a.props.string.title), ['Delivery', 'Delivery', 'Delivery', 'Delivery', 'Delivery']);
  // The later page's own load arrives too, in the same session.
  await until(() => uniqueActions(sink).some((a) => a.url.endsWith('/delivery-next.html')), 'the later page\'s load');
});

test('a collector on another origin gets every beacon without a CORS preflight, by fetch and by sendBeacon', async (t) => {
  const { sink, open } = await setup(t);
  const collector = await startSink();
  t.after(() => collector.close());
  const page = await open('/pages/cross-origin.html?collector=' + encodeURIComponent(collector.origin + '/beacon'));
  await ready(page);
  await page.click('#go');
  await until(() => collector.actions().some((a) => a.kind === 'click'), 'the click at the other origin');
  await page.click('#go');
  await page.click('#away');               // pagehide: sendBeacon to the other origin
  // Two more clicks (#go, #away); the next page, configured for its own collector, must not
  // post them there.
  await until(() => uniqueActions(collector).filter((a) => a.kind === 'click').length === 3, 'the clicks sent on pagehide');
  await until(() => uniqueActions(sink).some((a) => a.kind === 'load'), 'the next page\'s load, at its own collector');
  await page.evaluate(() => rumprops.flush());
  assert.equal(collector.preflights, 0, 'no CORS preflight');
  assert.deepEqual(sink.beacons.map((b) => b.app), sink.beacons.map(() => 'delivery'), 'no beacon of the cross-origin config went to the next page\'s collector');
  for (const r of collector.raw) assert.equal(r.headers['content-type'], 'text/plain;charset=UTF-8');
  assert.ok(collector.raw.every((r) => r.headers.origin === sink.origin), 'sent from the page\'s origin');
});
