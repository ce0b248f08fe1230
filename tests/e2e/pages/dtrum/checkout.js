// A typical dtrum integration (as Dynatrace documents it for the dtrum.* API), unchanged: the
// user, the loyalty tier as a session property, a custom error, and on payment a custom action
// with properties of all four types, renamed once the card type is known, and its own custom
// error. It talks to `window.dtrum` only; what the calls answer is kept for the test.
function tier() { return document.body.dataset.tier || 'gold'; }
window.addEventListener('load', function () {
  if (!window.dtrum) return;
  dtrum.identifyUser('customer-' + tier());
  window.sessionReport = dtrum.sendSessionProperties(null, null, { loyalty_tier: { value: tier(), public: true } });
  dtrum.reportCustomError('checkout', 'coupon expired', 'SPRING', false);
  dtrum.setPage({ name: 'checkout' });
  document.getElementById('pay').addEventListener('click', function () {
    var id = dtrum.enterAction('pay order');
    window.actionReport = dtrum.addActionProperties(id,
      { items: 3, order_no: { value: 4711, public: true } },
      { delivery: new Date(Date.UTC(2026, 11, 24, 10, 0, 0)) },
      { coupon: 'SPRING', nope: 'x' },
      { total: 59.9 });
    window.named = [dtrum.actionName('pay order (card)', id), dtrum.actionName(42, id), dtrum.actionName('x', 'a1')];
    dtrum.reportCustomError('payment', 'card declined', '', id);
    dtrum.leaveAction(id);
    window.named.push(dtrum.actionName('too late', id));
    document.getElementById('status').textContent = 'paid';
    window.meta = dtrum.getAndEvaluateMetaData();
  });
});
