// A plain Vite app (no plugin, no config) that uses the packed rumprops package as an app would.
import { init, enterAction, leaveAction, addActionProperties, evaluateRules } from 'rumprops';

init({
  version: 1,
  app: 'npm-app',
  collector: '/beacon', // the test serves dist/ and its beacon sink on one origin
  batch: { maxActions: 1, flushIntervalMs: 200 },
  hashSalt: 'npm:', // a hashed rule: the package imports its sha256.js chunk before it starts
  properties: [
    { key: 'plan', type: 'string', source: { meta: 'plan' }, ignoreCase: true },
    { key: 'plan_hash', type: 'string', source: { meta: 'plan' }, ignoreCase: true, hash: 'sha256' },
    { key: 'cart_total', type: 'double', source: { css: '#cart .total' }, cleanup: '([0-9]+\\.[0-9]+)' },
    { key: 'order_id', type: 'long', source: { api: true } },
    { key: 'coupon', type: 'string', source: { api: true } },
    { key: 'weight', type: 'double', source: { api: true } },
    { key: 'delivery', type: 'date', source: { api: true } },
  ],
});

// At start, before the module has loaded: these calls are queued and replayed in order, and
// the action id is a token that the later calls map to the real one.
const checkout = enterAction('checkout');
addActionProperties(checkout, { long: { order_id: 9223372036854775807n }, string: { coupon: 'SPRING' } });
leaveAction(checkout);

// Once loaded: direct calls, with their reports.
document.getElementById('pay').addEventListener('click', () => {
  const id = enterAction('payment');
  window.__report = addActionProperties(id, {
    double: { weight: 2.5 },
    date: { delivery: new Date('2026-12-24T10:00:00Z') },
    string: { undefined_key: 'x' },
  });
  window.__rules = evaluateRules();
  leaveAction(id);
});
