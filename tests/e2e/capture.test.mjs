// Must show: a page with meta, CSS, cookie, query and JS-global rules; every beacon property
// arrives with the right type and value, longs beyond 2^53 exactly. The same page with a Content
// Security Policy that refuses WebAssembly (`script-src 'self'`, as a header or in a <meta
// http-equiv>) runs the fallback (pkg/rumprops_fallback.js, the module as plain JS) and sends
// the same properties.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { useBrowser, setup, ready, action, flatProps, until } from './harness.mjs';

useBrowser();

/** The exact text of `"key":<integer>` in a raw body (JSON.parse would round it). */
function rawLong(body, key) {
  const m = new RegExp('"' + key + '":(-?[0-9]+)[,}]').exec(body);
  return m && m[1];
}

// The policy comes as a header, or (as on the real page where the fallback was first needed) in a
// <meta http-equiv> of the page itself.
const PAGE = fs.readFileSync(new URL('./pages/capture.html', import.meta.url), 'utf8');
for (const [csp, how] of [[null], ["script-src 'self'", 'header'], ["script-src 'self'", 'meta']]) {
test('meta, CSS, cookie, query and JS-global rules arrive typed and exact' + (csp ? ', through the fallback (' + csp + ', ' + how + ')' : ''), async (t) => {
  const { sink, context, open, log } = await setup(t);
  let path = '/pages/capture.html';
  if (how === 'header') sink.csp = csp;
  if (how === 'meta') {
    path = '/pages/capture-meta-csp.html';
    const html = PAGE.replace('<meta charset="utf-8">', `<meta charset="utf-8">\n  <meta http-equiv="Content-Security-Policy" content="${csp}">`);
    assert.notEqual(html, PAGE);
    sink.pages.set(path, html);
  }
  await context.addCookies([
    { name: 'visits', value: '12', url: sink.origin },
    { name: 'segment', value: 'GOLD%20Plus', url: sink.origin },
    { name: 'since', value: '2024-01-31', url: sink.origin },
  ]);
  const page = await open(path + '?utm_campaign=Spring+Sale&page=2');
  await ready(page);
  await page.fill('#qty', ' 5 ');                 // the live value, not the attribute
  await page.click('#go');
  const click = await action(sink, (a) => a.kind === 'click', 'the click action');
  assert.equal(click.name, 'click on "Go"');

  const expected = {
    loyalty: { type: 'string', value: 'gold plus' },
    price: { type: 'double', value: 59.9 },
    release: { type: 'date', value: Date.UTC(2024, 1, 29, 9, 30, 0, 123) },
    title: { type: 'string', value: 'Winter offers' },
    total: { type: 'double', value: 1259.9 },
    items: { type: 'long', value: 7 },
    qty: { type: 'long', value: 5 },
    visits: { type: 'long', value: 12 },
    segment: { type: 'string', value: 'GOLD Plus' },
    page_no: { type: 'long', value: 2 },
    big: { type: 'long', value: 9223372036854775807 },   // rounded by JSON.parse: exact text below
    small: { type: 'long', value: -9223372036854775808 },
    count: { type: 'long', value: 42 },
    ratio: { type: 'double', value: 0.25 },
    opened: { type: 'date', value: Date.UTC(2023, 4, 17, 8, 0, 0) },
    opened_text: { type: 'string', value: '2023-05-17T08:00:00.000Z' },
    flag: { type: 'string', value: 'true' },
    tier: { type: 'string', value: 'platinum' },
    user_id: { type: 'long', value: 9223372036854775807 },
    score: { type: 'double', value: 1000 },
  };
  assert.deepEqual(flatProps(click.props), expected, 'action properties; page log: ' + log.join(' | '));

  // Session-stored values arrive on the session part, folded.
  const beacon = sink.beacons.find((b) => b.sid === click.sid && b.seq === click.seq);
  assert.deepEqual(flatProps(beacon.session.props), {
    loyalty: { type: 'string', value: 'gold plus' },
    since: { type: 'date', value: Date.UTC(2024, 0, 31) },
    campaign: { type: 'string', value: 'Spring Sale' },
  });
  // Refused or missing values are issues with their reason, never a value.
  const issues = Object.fromEntries(beacon.issues.map((i) => [i.key, i.reason]));
  assert.deepEqual(issues, { secret: 'sensitive_field', missing: 'not_found', bad_long: 'not_a_long' });

  // The longs beyond 2^53, exactly as the agent wrote them, in every body that carries them.
  const bodies = sink.raw.map((r) => r.body).filter((b) => b.includes('"big":'));
  assert.ok(bodies.length >= 1);
  for (const body of bodies) {
    assert.equal(rawLong(body, 'big'), '9223372036854775807');
    assert.equal(rawLong(body, 'small'), '-9223372036854775808');
    assert.equal(rawLong(body, 'user_id'), '9223372036854775807');
  }
  // Beacons are plain-text posts (no CORS preflight) of the v1 format.
  for (const r of sink.raw) assert.equal(r.headers['content-type'], 'text/plain;charset=UTF-8');
  for (const b of sink.beacons) {
    assert.equal(b.v, 1);
    assert.equal(b.app, 'capture');
    assert.equal(typeof b.sid, 'string');
    assert.equal(typeof b.seq, 'number');
  }
  // The dry run gives the same values (as JS numbers: a long beyond 2^53 is rounded there).
  const rules = Object.fromEntries((await page.evaluate(() => rumprops.evaluateRules())).map((r) => [r.key, r]));
  assert.deepEqual(rules.big, { key: 'big', source: 'js', value: 9223372036854775807, reason: null });
  assert.equal(rules.small.value, -9223372036854775808);
  assert.equal(rules.count.value, 42);
  assert.equal(rules.title.value, 'Winter offers');
  assert.equal(rules.secret.reason, 'sensitive_field');
  // The load action carries the same rule values.
  const load = await until(() => sink.actions().find((a) => a.kind === 'load'), 'the load action');
  assert.equal(flatProps(load.props).big.type, 'long');

  // Which module ran: the WebAssembly module, or with the CSP only the fallback. No error
  // reached the page, and the agent warned of nothing.
  const got = (f) => sink.gets.includes('/dist/pkg/' + f);
  assert.deepEqual([got('rumprops_bg.wasm'), got('rumprops_fallback.js')], csp ? [false, true] : [true, false]);
  assert.deepEqual(log.filter((l) => l.startsWith('pageerror') || l.includes('rumprops')), []);
});
}
