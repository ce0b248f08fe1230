// Must show: opt-in mode stores and sends nothing before enable(); disable() deletes what was
// stored; DNT `anonymous` leaves out the visitor and user ids and non-public properties.
import test from 'node:test';
import assert from 'node:assert/strict';
import { useBrowser, setup, ready, action, uniqueActions, until, sleep, flatProps } from './harness.mjs';

useBrowser();

const stored = async (page, context, origin) => ({
  cookie: (await context.cookies(origin)).filter((c) => c.name.startsWith('rumprops')).map((c) => c.name),
  keys: await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('rumprops')).sort()),
});

test('opt-in: nothing stored or sent before enable(), sent after it, deleted by disable()', async (t) => {
  const { sink, context, open } = await setup(t);
  const page = await open('/pages/optin.html');
  await ready(page);
  const busy = async () => {
    await page.click('#go');
    await page.evaluate(() => {
      rumprops.identifyUser('alice');
      rumprops.sendSessionProperties({ string: { plan: 'pro' } });
      const id = rumprops.enterAction('custom');
      rumprops.leaveAction(id);
      rumprops.flush();
    });
    await sleep(1000); // more than three flush intervals
  };
  await busy();
  await page.reload();
  await ready(page);
  await busy();
  assert.equal(sink.requests, 0, 'nothing sent before enable()');
  assert.deepEqual(await stored(page, context, sink.origin), { cookie: [], keys: [] }, 'nothing stored before enable()');

  await page.evaluate(() => rumprops.enable());
  await page.click('#go');
  await page.evaluate(() => rumprops.flush());
  const click = await action(sink, (a) => a.kind === 'click', 'a click after enable()');
  assert.equal(flatProps(click.props).tier.value, 'Gold');
  const after = await stored(page, context, sink.origin);
  assert.deepEqual(after.cookie, ['rumprops_s']);
  assert.ok(after.keys.includes('rumprops.s') && after.keys.includes('rumprops.consent'), after.keys.join());

  // The consent is remembered by the next page.
  await page.reload();
  await ready(page);
  await until(() => uniqueActions(sink).some((a) => a.kind === 'load'), 'the load after the reload');

  await page.evaluate(() => rumprops.disable());
  const gone = await stored(page, context, sink.origin);
  assert.deepEqual(gone.cookie, [], 'disable() deletes the session cookie');
  // Only the refusal itself stays, so the next page stays off too.
  assert.deepEqual(gone.keys, ['rumprops.consent'], 'disable() deletes the stored state');
  assert.equal(await page.evaluate(() => localStorage.getItem('rumprops.consent')), '0');
  const count = sink.requests;
  await busy();
  await page.reload();
  await ready(page);
  await busy();
  assert.equal(sink.requests, count, 'nothing sent after disable()');
  assert.deepEqual((await stored(page, context, sink.origin)).cookie, []);
});

test('DNT anonymous: no visitor or user id, only public properties; without DNT everything', async (t) => {
  const run = async (dnt) => {
    const { sink, context, open } = await setup(t);
    if (dnt) await context.addInitScript(() => Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1', configurable: true }));
    const page = await open('/pages/dnt.html');
    await ready(page);
    const report = await page.evaluate(() => {
      rumprops.identifyUser('alice');
      return rumprops.sendSessionProperties({ string: { plan: 'pro' }, long: { cart: 3 } });
    });
    await page.click('#go');
    await page.evaluate(() => rumprops.flush());
    const click = await action(sink, (a) => a.kind === 'click', 'the click');
    const beacons = sink.beacons.filter((b) => b.sid === click.sid);
    const beacon = beacons.find((b) => b.seq === click.seq);
    // The stored session (cookie and mirror): every 32-hex-digit id in it.
    const cookie = (await context.cookies(sink.origin)).find((c) => c.name === 'rumprops_s');
    const mirror = await page.evaluate(() => localStorage.getItem('rumprops.s'));
    const ids = (decodeURIComponent(cookie.value) + ' ' + mirror).match(/[0-9a-f]{32}/g);
    return { sink, report, click, beacons, beacon, storedIds: [...new Set(ids)] };
  };

  const anon = await run(true);
  for (const b of anon.beacons) {
    assert.ok(b.vid === undefined || b.vid === null, 'no visitor id: ' + b.vid);
    assert.equal(b.session.userId, null, 'no user id');
  }
  assert.deepEqual(flatProps(anon.click.props), { country: { type: 'string', value: 'FR' } });
  assert.deepEqual(flatProps(anon.beacon.session.props), { country: { type: 'string', value: 'FR' }, cart: { type: 'long', value: 3 } });
  assert.deepEqual(anon.report, { sent: [{ key: 'cart', value: 3 }], failed: [{ key: 'plan', reason: 'dnt_masked' }] });
  assert.ok(anon.beacon.issues.some((i) => i.key === 'tier' && i.reason === 'dnt_masked'));
  assert.ok(!JSON.stringify(anon.sink.raw.map((r) => r.body)).includes('alice'), 'the user id appears nowhere');
  assert.deepEqual(anon.storedIds, [anon.click.sid], 'no visitor id stored either');

  const full = await run(false);
  assert.match(full.beacon.vid, /^[0-9a-f]{32}$/);
  assert.equal(full.beacon.session.userId, 'alice');
  assert.deepEqual(full.storedIds.sort(), [full.click.sid, full.beacon.vid].sort());
  assert.deepEqual(flatProps(full.click.props), { tier: { type: 'string', value: 'Gold' }, country: { type: 'string', value: 'FR' } });
  assert.deepEqual(full.report.failed, []);
});

test('Global Privacy Control with doNotTrack "disable": nothing stored or sent', async (t) => {
  const { sink, context, open } = await setup(t);
  await context.addInitScript(() => Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true, configurable: true }));
  const page = await open('/pages/dnt-disable.html');
  await ready(page);
  await page.click('#go');
  await page.evaluate(() => { rumprops.identifyUser('alice'); rumprops.flush(); });
  await page.reload();
  await ready(page);
  await page.click('#go');
  await page.evaluate(() => rumprops.flush());
  await sleep(1000);
  assert.equal(sink.requests, 0, 'nothing sent');
  assert.deepEqual(await stored(page, context, sink.origin), { cookie: [], keys: [] }, 'nothing stored');
});
