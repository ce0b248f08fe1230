// Type-checks `rumprops/dtrum` (npm-app.test.mjs runs `tsc --noEmit` on this file) against
// Dynatrace's own types (@dynatrace/dtrum-api-types): the shim is a DtrumApi, and code written
// for dtrum compiles against the shim unchanged.
import type { DtrumApi, PropertiesSendingReport, MetaData } from '@dynatrace/dtrum-api-types/dtrum';
import { dtrum, type RumpropsDtrum } from 'rumprops/dtrum';
import dtrumDefault from 'rumprops/dtrum';

// The shim is assignable to DtrumApi, and DtrumApi to the shim: the same methods and types.
const asDynatrace: DtrumApi = dtrum;
const fromDynatrace: RumpropsDtrum = asDynatrace;
const same: RumpropsDtrum = dtrumDefault;

// A typical integration, as written for dtrum (the code of tests/e2e/pages/dtrum.js).
function integrate(api: DtrumApi): void {
  api.identifyUser('jane.doe@example.com');
  const id: number = api.enterAction('checkout', 'Click');
  const r: PropertiesSendingReport | undefined = api.addActionProperties(
    id,
    { items: 3, order_no: { value: 4711, public: true } },
    { shipped: new Date('2026-12-24T10:00:00Z') },
    { coupon: 'SPRING' },
    { total: 59.9 },
  );
  if (r) for (const p of r.failedProperties) console.debug(p.key, p.reason);
  api.sendSessionProperties({ shortString: { loyalty_tier: { value: 'gold', public: true } } });
  api.sendSessionProperties(undefined, undefined, { loyalty_tier: 'gold' });
  api.actionName('checkout (paid)', id);
  api.reportCustomError('payment', 'declined', 'card', id);
  api.leaveAction(id);
  const meta: MetaData[] = api.getAndEvaluateMetaData();
  console.debug(meta.length, api.now());
  api.enable();
  api.disable();
  api.endSession();
}
integrate(dtrum);
integrate(fromDynatrace);
integrate(same);

// @ts-expect-error enterAction answers a number, not a string id
const wrong: string = dtrum.enterAction('x');
// @ts-expect-error a javaLong map holds numbers
dtrum.addActionProperties(1, { items: 'three' });
void wrong;
