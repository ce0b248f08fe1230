// Type-checks the package's index.d.ts (npm-app.test.mjs runs `tsc --noEmit` on this file):
// what an app writes compiles, and the mistakes marked @ts-expect-error do not.
import {
  init, addActionProperties, sendSessionProperties, identifyUser, enterAction, leaveAction, enable, disable,
  endSession, flush, evaluateRules,
  type RumpropsConfig, type PropertyRule, type ApiReport, type EvaluatedRule, type ReasonCode,
} from 'rumprops';

const rules: PropertyRule[] = [
  { key: 'loyalty_status', type: 'string', source: { meta: 'loyalty' }, storage: 'both', aggregation: 'last' },
  { key: 'cart_total', type: 'double', source: { css: '#cart .total' }, cleanup: '([0-9]+\\.[0-9]+)' },
  { key: 'sku', type: 'string', source: { css: '[data-sku]', attribute: 'data-sku' }, maxLength: 40 },
  { key: 'items', type: 'long', source: { js: 'dataLayer.0.cart.items' }, public: true },
  { key: 'campaign', type: 'string', source: { query: 'utm_campaign' }, ignoreCase: true, storage: 'session', aggregation: 'first' },
  { key: 'member_since', type: 'date', source: { cookie: 'since' } },
  { key: 'order_id', type: 'long', source: { api: true } },
];
const config: RumpropsConfig = {
  version: 1,
  app: 'easytravel',
  collector: 'https://rum.example.com/beacon',
  properties: rules,
  session: { idleTimeoutMs: 1_800_000, maxDurationMs: 21_600_000, maxActions: 200 },
  batch: { maxActions: 20, maxBytes: 16384, flushIntervalMs: 10_000 },
  privacy: { optIn: false, doNotTrack: 'anonymous' },
  sampleRate: 100,
  apdex: { toleratedMs: 2000, frustratedMs: 8000 },
  errors: { maxPerAction: 5 },
};

const started: boolean | undefined = init(config);
init(JSON.stringify(config));
const id = enterAction('checkout');
if (id !== undefined) {
  const report: ApiReport | undefined = addActionProperties(id, {
    long: { order_id: 9223372036854775807n, items: 3 },
    string: { coupon: 'SPRING' },
    double: { total: 59.9 },
    date: { delivery: new Date(), shipped: '2026-12-24', paid: 1_764_000_000_000 },
  });
  const failed: ReasonCode[] = report ? report.failed.map((f) => f.reason) : [];
  leaveAction(id);
  void failed;
}
addActionProperties(null, { string: { coupon: 'x' } });
sendSessionProperties({ string: { tier: 'gold' } });
identifyUser('user-42');
enable();
disable();
endSession();
flush();
const rows: EvaluatedRule[] = evaluateRules() ?? [];
for (const row of rows) {
  const value: string | number | null = row.value;
  void value;
}
void started;

// @ts-expect-error two sources in one rule
const twoSources: PropertyRule = { key: 'a', type: 'string', source: { css: '#a', meta: 'a' } };
// @ts-expect-error an unknown type
const badType: PropertyRule = { key: 'a', type: 'integer', source: { meta: 'a' } };
// @ts-expect-error api must be true
const badApi: PropertyRule = { key: 'a', type: 'string', source: { api: false } };
// @ts-expect-error version 2 does not exist
const badVersion: RumpropsConfig = { version: 2, app: 'a', collector: '/b' };
// @ts-expect-error a typo in a field name
const typo: RumpropsConfig = { version: 1, app: 'a', collector: '/b', sampelRate: 5 };
// @ts-expect-error doNotTrack has three modes
const badDnt: RumpropsConfig = { version: 1, app: 'a', collector: '/b', privacy: { doNotTrack: 'yes' } };
// @ts-expect-error a long is not a boolean
addActionProperties(null, { long: { items: true } });
void [twoSources, badType, badApi, badVersion, typo, badDnt];
