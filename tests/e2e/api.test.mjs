// The JS API of DESIGN.md §7: {sent, failed} reports, evaluateRules(), and calls made before
// the module is ready, queued and replayed.
import test from 'node:test';
import assert from 'node:assert/strict';
import { useBrowser, setup, ready, action, flatProps, until } from './harness.mjs';

useBrowser();

for (const [variant, what] of [['delayed', 'a config that arrives after the module'], ['inline', 'an inline config']]) {
  test(`calls made before the module is ready are queued and replayed (${what})`, async (t) => {
    const { sink, open, log } = await setup(t);
    const page = await open(`/pages/api-${variant}.html`);
    const early = await page.evaluate(() => window.early);
    assert.match(early.id, /^pending-/, 'enterAction answers a token before the module is ready');
    assert.equal(early.add, undefined);
    await ready(page);
    const custom = await action(sink, (a) => a.kind === 'custom', 'the early custom action; page log: ' + log.join(' | '));
    assert.equal(custom.name, 'Early checkout');
    assert.ok(custom.start <= custom.end);
    assert.deepEqual(flatProps(custom.props), {
      title: { type: 'string', value: 'Checkout' },
      order_note: { type: 'string', value: 'early note' },
      qty: { type: 'long', value: 2 },
      tier: { type: 'string', value: 'silver' },
    });
    const beacon = sink.beacons.find((b) => b.sid === custom.sid && b.seq === custom.seq);
    assert.equal(beacon.session.userId, 'bob');
    assert.deepEqual(flatProps(beacon.session.props), { plan: { type: 'string', value: 'gold' }, spent: { type: 'double', value: 12.5 } });
    // The token of an action entered early still works after the module is ready.
    await page.evaluate(() => rumprops.leaveAction(early.id2));
    const second = await action(sink, (a) => a.name === 'Still open', 'the second early action, ended later');
    assert.equal(second.kind, 'custom');
  });
}

test('addActionProperties and sendSessionProperties report {sent, failed}; evaluateRules is a dry run', async (t) => {
  const { sink, open } = await setup(t);
  const page = await open('/pages/api-inline.html');
  await ready(page);
  const reports = await page.evaluate(() => {
    const id = rumprops.enterAction('Pay');
    const action = rumprops.addActionProperties(id, {
      string: { order_note: '  Paid by card ', nope: 'x', plan: 'y' },
      long: { order_note: 5, qty: '12', bigq: 9223372036854775807n },
      double: { qty: 1.5 },
      date: { when: '2024-02-30' },
    });
    const later = rumprops.addActionProperties(null, { long: { qty: 12.5 }, date: { when: Date.UTC(2024, 1, 29) } });
    const session = rumprops.sendSessionProperties({ string: { order_note: 'x', plan: 'platinum' }, long: { plan: 1 }, double: { spent: '1e400' } });
    const unknown = rumprops.addActionProperties('a999', { string: { order_note: 'x' } });
    rumprops.leaveAction(id);
    rumprops.flush();
    return { action, later, session, unknown, rules: rumprops.evaluateRules() };
  });
  // Reports hold JS numbers: a long beyond 2^53 is rounded there (npm/index.d.ts), never on the beacon.
  assert.deepEqual(reports.action, {
    sent: [{ key: 'order_note', value: '  Paid by card ' }, { key: 'plan', value: 'y' }, { key: 'qty', value: 12 }, { key: 'bigq', value: 9223372036854775807 }],
    failed: [{ key: 'nope', reason: 'invalid_key' }, { key: 'order_note', reason: 'wrong_type' }, { key: 'qty', reason: 'wrong_type' }, { key: 'when', reason: 'not_a_date' }],
  });
  assert.deepEqual(reports.later, { sent: [{ key: 'when', value: Date.UTC(2024, 1, 29) }], failed: [{ key: 'qty', reason: 'not_a_long' }] });
  assert.deepEqual(reports.session, {
    sent: [{ key: 'plan', value: 'platinum' }],
    failed: [{ key: 'order_note', reason: 'invalid_key' }, { key: 'plan', reason: 'wrong_type' }, { key: 'spent', reason: 'out_of_range' }],
  });
  assert.deepEqual(reports.unknown, { sent: [], failed: [{ key: 'order_note', reason: 'not_found' }] });
  assert.deepEqual(reports.rules, [
    { key: 'title', source: 'css', value: 'Checkout', reason: null },
    { key: 'order_note', source: 'api', value: null, reason: null },
    { key: 'qty', source: 'api', value: null, reason: null },
    { key: 'bigq', source: 'api', value: null, reason: null },
    { key: 'when', source: 'api', value: null, reason: null },
    { key: 'plan', source: 'api', value: null, reason: null },
    { key: 'spent', source: 'api', value: null, reason: null },
    { key: 'cart_total', source: 'meta', value: null, reason: 'not_found' },
    { key: 'n', source: 'js', value: null, reason: 'not_a_long' },
    { key: 'tier', source: 'meta', value: 'silver', reason: null },
  ]);
  // What was sent arrives: API values win over rules, the long beyond 2^53 exactly.
  const pay = await action(sink, (a) => a.name === 'Pay', 'the Pay action');
  const props = flatProps(pay.props);
  assert.equal(props.order_note.value, '  Paid by card ');
  assert.equal(props.qty.value, 12);
  assert.equal(props.when.value, Date.UTC(2024, 1, 29));
  assert.equal(props.when.type, 'date');
  const raw = await until(() => sink.raw.find((r) => r.body.includes('"name":"Pay"')), 'the raw body');
  assert.match(raw.body, /"bigq":9223372036854775807[,}]/);
  const beacon = sink.beacons.find((b) => b.sid === pay.sid && b.seq === pay.seq);
  // plan is session-stored: the action's value, folded at the action's end, is the later one.
  assert.equal(beacon.session.props.string.plan, 'y');
});
