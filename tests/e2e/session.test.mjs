// Must show: a session survives a reload and a second tab, ends after a short configured idle
// timeout, and the next action starts a new session with an end reason on the old one.
import test from 'node:test';
import assert from 'node:assert/strict';
import { useBrowser, setup, ready, action, uniqueActions, until } from './harness.mjs';

useBrowser();

test('a session survives a reload and a second tab, ends when idle, and the next action starts a new one', async (t) => {
  const { sink, context, open, log } = await setup(t);
  const loads = () => uniqueActions(sink).filter((a) => a.kind === 'load');
  const first = await open('/pages/session.html');
  await ready(first);
  const load1 = await action(sink, (a) => a.kind === 'load', 'the first load');
  const sid = load1.sid;
  const vid = sink.beacons.find((b) => b.sid === sid).vid;
  assert.match(sid, /^[0-9a-f]{32}$/, 'a 128-bit session id');
  assert.match(vid, /^[0-9a-f]{32}$/, 'a visitor id');

  // Stored as a first-party cookie and its localStorage mirror.
  const cookies = await context.cookies(sink.origin);
  assert.ok(cookies.some((c) => c.name === 'rumprops_s'), 'the session cookie');
  assert.ok(await first.evaluate(() => localStorage.getItem('rumprops.s') !== null), 'the localStorage mirror');

  await first.click('#go');
  await action(sink, (a) => a.kind === 'click', 'the click');
  await first.reload();
  await ready(first);
  await until(() => loads().length >= 2, 'the load after the reload');
  const second = await open('/pages/session.html');
  await ready(second);
  await until(() => loads().length >= 3, 'the load of the second tab');
  await second.click('#go');
  await until(() => uniqueActions(sink).filter((a) => a.kind === 'click').length >= 2, 'the click in the second tab');

  const before = uniqueActions(sink);
  assert.deepEqual(before.map((a) => a.sid), before.map(() => sid), 'one session across the reload and both tabs: ' + log.join(' | '));
  assert.equal(new Set(before.map((a) => a.id)).size, before.length, 'action ids are unique across tabs and reloads');
  for (const b of sink.beacons) assert.equal(b.vid, vid);

  // Idle for longer than idleTimeoutMs: the session ends by itself and says why.
  const ended = await until(() => sink.beacons.find((b) => b.sid === sid && b.session.ended), 'the last beacon of the idle session');
  assert.equal(ended.session.ended, 'idle');
  await first.click('#go');
  const next = await action(sink, (a) => a.kind === 'click' && a.sid !== sid, 'a click in a new session');
  const nextBeacon = sink.beacons.find((b) => b.sid === next.sid);
  assert.notEqual(next.sid, sid);
  assert.equal(nextBeacon.vid, vid, 'the visitor id persists across sessions');
  assert.equal(nextBeacon.session.ended, null);
  assert.ok(nextBeacon.session.start >= ended.session.start);
  // The old session's last beacon is the one that carries the end reason.
  const old = sink.beacons.filter((b) => b.sid === sid);
  const last = old.reduce((a, b) => (b.seq > a.seq ? b : a));
  assert.equal(last.session.ended, 'idle');
  assert.ok(old.filter((b) => b.session.ended).every((b) => b.seq === last.seq), 'only the last beacon says it ended');
  // The new session is shared with the other tab too.
  await second.click('#go');
  await until(() => uniqueActions(sink).filter((a) => a.sid === next.sid).length >= 2, 'the second tab joins the new session');
});
