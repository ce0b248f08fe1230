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

test('a session ends after maxActions and at endSession(), each with its reason', async (t) => {
  const { sink, open } = await setup(t);
  const page = await open('/pages/session-max.html');
  await ready(page);
  await page.evaluate(() => rumprops.identifyUser('carol'));
  await action(sink, (a) => a.kind === 'load', 'the load');
  await page.click('#go');
  await page.click('#go');                 // the third action (after the load): the session is full
  await page.click('#go');                 // the fourth starts a new session
  const fourth = await action(sink, (a) => a.kind === 'click' && a.id === 'a1', 'the first action of the next session');
  const sids = [...new Set(sink.beacons.map((b) => b.sid))];
  assert.equal(sids.length, 2);
  const first = sink.beacons.filter((b) => b.sid === sids[0]);
  const last = first.reduce((a, b) => (b.seq > a.seq ? b : a));
  assert.equal(last.session.ended, 'max_actions');
  assert.deepEqual(uniqueActions(sink).filter((a) => a.sid === sids[0]).map((a) => a.id), ['a1', 'a2', 'a3']);
  assert.equal(sink.beacons.find((b) => b.sid === fourth.sid).session.userId, 'carol', 'the user id survives a full session');

  await page.evaluate(() => rumprops.endSession());
  const ended = await until(() => sink.beacons.find((b) => b.sid === fourth.sid && b.session.ended), 'the endSession() beacon');
  assert.equal(ended.session.ended, 'end_session');
  await page.click('#go');
  const after = await action(sink, (a) => a.sid !== sids[0] && a.sid !== fourth.sid, 'an action in a third session');
  assert.equal(sink.beacons.find((b) => b.sid === after.sid).session.userId, null, 'endSession() forgets the user');
});
