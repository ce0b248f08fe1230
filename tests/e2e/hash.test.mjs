// Must show: a hashed rule on a real page gives sha256(salt + value) of what evaluateRules()
// shows for the same rule without the hash, and the value itself never leaves the page; the
// same through the fallback (a CSP that refuses WebAssembly).
import test from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { useBrowser, setup, ready, action } from './harness.mjs';

useBrowser();

const SALT = 'shop-2026:';
const sha256 = (s) => crypto.createHash('sha256').update(s, 'utf8').digest('hex');
const rule = (key, source, more) => ({ key, type: 'string', source, ...more });
// The e-mail from the data layer (trimmed and lower-cased), the customer number from a cookie.
const rules = (plain) => [
  rule('email_hash', { js: 'dataLayer.0.user.email' }, { ignoreCase: true, hash: 'sha256' }),
  rule('customer_hash', { cookie: 'cust' }, { cleanup: 'C-(\\d+)', hash: 'sha256', maxLength: 16 }),
  ...(plain ? [rule('email', { js: 'dataLayer.0.user.email' }, { ignoreCase: true }), rule('customer', { cookie: 'cust' }, { cleanup: 'C-(\\d+)' })] : []),
];
const page = (plain) => {
  const config = { version: 1, app: 'hash', collector: '/beacon', hashSalt: SALT, properties: rules(plain) };
  return '<!doctype html><html><head><meta charset="utf-8"><script src="/pages/hash-globals.js"></script>'
    + '<script src="/dist/rumprops.js" data-config="' + JSON.stringify(config).replace(/&/g, '&amp;').replace(/"/g, '&quot;') + '"></script>'
    + '</head><body><p>hashed values</p></body></html>';
};

for (const csp of [null, "script-src 'self'"]) {
  test('hashed rules send sha256(salt + value) of the value evaluateRules() shows' + (csp ? ', through the fallback' : ''), async (t) => {
    const { sink, context, log } = await setup(t);
    sink.csp = csp;
    sink.pages.set('/compare', page(true));
    sink.pages.set('/hashed', page(false));
    await context.addCookies([{ name: 'cust', value: 'C-0042917', url: sink.origin }]);

    const p = await context.newPage();
    await p.goto(sink.origin + '/compare');
    await ready(p);
    const rows = Object.fromEntries((await p.evaluate(() => rumprops.evaluateRules())).map((r) => [r.key, r.value]));
    assert.equal(rows.email, 'jane.doe@example.com');
    assert.equal(rows.customer, '0042917');
    assert.equal(rows.email_hash, sha256(SALT + rows.email));
    assert.match(rows.email_hash, /^[0-9a-f]{64}$/);
    assert.equal(rows.customer_hash, sha256(SALT + rows.customer).slice(0, 16), 'hashed before truncation');
    await p.close();

    // Without the plain rules, neither value is in any beacon, only its digest.
    const q = await context.newPage();
    await q.goto(sink.origin + '/hashed');
    await ready(q);
    const load = await action(sink, (a) => a.kind === 'load' && a.props.string.email_hash && !a.props.string.email, 'the hashed load action');
    assert.deepEqual(load.props.string, { email_hash: sha256(SALT + 'jane.doe@example.com'), customer_hash: sha256(SALT + '0042917').slice(0, 16) });
    const bodies = sink.raw.map((r) => r.body).filter((b) => b.includes('"email_hash"') && !b.includes('"email"'));
    assert.ok(bodies.length >= 1);
    for (const body of bodies) assert.ok(!/jane|0042917/i.test(body), body);
    assert.deepEqual(log.filter((l) => l.startsWith('pageerror') || l.includes('rumprops')), []);
  });
}
