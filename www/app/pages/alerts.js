// Alerts: a threshold on a calculated metric; state, history and webhook deliveries.

import { api, h, fmt, table, errorBox, clear } from '../lib.js';

async function form(main, existing, done) {
  const { metrics } = await api('/api/v1/metrics');
  const a = existing || { name: '', metricId: metrics[0]?.id, operator: 'ABOVE', threshold: 0, windowMinutes: 5, forEvaluations: 1, webhookUrl: 'http://127.0.0.1:9093/hook', enabled: true };
  const name = h('input', { 'aria-label': 'Name', 'data-testid': 'a-name', value: a.name, size: 30, required: true });
  const metric = h('select', { 'aria-label': 'Metric', 'data-testid': 'a-metric' }, metrics.map((m) => h('option', { value: m.id }, m.exposedAs)));
  if (a.metricId) metric.value = String(a.metricId);
  const op = h('select', { 'aria-label': 'Operator', 'data-testid': 'a-op' }, h('option', { value: 'ABOVE' }, 'above'), h('option', { value: 'BELOW' }, 'below'));
  op.value = a.operator;
  const threshold = h('input', { type: 'number', step: 'any', 'aria-label': 'Threshold', 'data-testid': 'a-threshold', value: a.threshold, size: 8 });
  const win = h('input', { type: 'number', min: 1, 'aria-label': 'Window (minutes)', 'data-testid': 'a-window', value: a.windowMinutes, size: 5 });
  const n = h('input', { type: 'number', min: 1, 'aria-label': 'For evaluations', 'data-testid': 'a-for', value: a.forEvaluations, size: 3 });
  const hook = h('input', { 'aria-label': 'Webhook URL', 'data-testid': 'a-webhook', value: a.webhookUrl, size: 40 });
  const enabled = h('input', { type: 'checkbox', checked: a.enabled });
  const errBox = h('div');
  const f = h('form', { class: 'panel', 'data-testid': 'alert-form', onsubmit: async (e) => {
    e.preventDefault();
    clear(errBox);
    const body = { name: name.value, metricId: Number(metric.value), operator: op.value, threshold: Number(threshold.value),
      windowMinutes: Number(win.value), forEvaluations: Number(n.value), webhookUrl: hook.value, enabled: enabled.checked };
    try {
      await api(existing ? `/api/v1/alerts/${existing.id}` : '/api/v1/alerts', { method: existing ? 'PUT' : 'POST', body });
      done();
    } catch (err) { errBox.append(errorBox(err)); }
  } },
    h('h2', {}, existing ? 'Edit alert' : 'New alert'),
    metrics.length ? null : h('p', { class: 'error' }, 'Create a calculated metric first.'),
    h('div', { class: 'row' }, h('label', {}, 'name ', name), h('label', {}, 'when ', metric), op, threshold),
    h('div', { class: 'row' }, h('label', {}, 'over the last ', win, ' min'), h('label', {}, 'for ', n, ' evaluations'), h('label', {}, enabled, ' enabled')),
    h('div', { class: 'row' }, h('label', {}, 'webhook (Alertmanager format) ', hook)),
    h('div', { class: 'row' }, h('button', { 'data-testid': 'a-save' }, 'Save alert'), h('button', { type: 'button', class: 'link', onclick: done }, 'cancel')),
    errBox);
  main.prepend(f);
}

export async function render(main, id) {
  const list = h('section', { class: 'panel', 'data-testid': 'alert-list' });
  let timer;
  async function refresh() {
    let alerts;
    try { ({ alerts } = await api('/api/v1/alerts')); } catch (e) { clear(list).append(errorBox(e)); return; }
    clear(list).append(h('h2', {}, 'Alerts'), h('button', { type: 'button', 'data-testid': 'new-alert', onclick: () => form(main, null, reload) }, 'New alert'));
    for (const a of alerts) {
      const open = String(a.id) === id;
      const card = h('article', { class: 'alert state-' + a.state.toLowerCase(), 'data-testid': 'alert' },
        h('h3', {}, h('span', { class: 'badge', 'data-testid': 'alert-state' }, a.state), ' ', h('a', { href: `#/alerts/${a.id}` }, a.name)),
        h('p', { class: 'meta' }, `metric ${a.metricId} ${a.operator.toLowerCase()} ${a.threshold} over ${a.windowMinutes} min for ${a.forEvaluations} evaluation(s)`,
          ` · last value ${fmt(a.lastValue)} at ${fmt(a.lastEvaluated, 'lastEvaluated')}`),
        h('div', { class: 'row' },
          h('button', { type: 'button', class: 'link', 'data-testid': 'edit-alert', onclick: async () => { const full = await api(`/api/v1/alerts/${a.id}`); form(main, full, reload); } }, 'edit'),
          h('button', { type: 'button', class: 'link', onclick: async () => { await api(`/api/v1/alerts/${a.id}`, { method: 'DELETE' }); reload(); } }, 'delete')));
      if (open) {
        try {
          const full = await api(`/api/v1/alerts/${a.id}`);
          card.append(h('h4', {}, 'History'), table({ columnNames: ['time', 'state', 'value', 'message'], values: full.history.map((x) => [x.time, x.state, x.value, x.message]) }, { testid: 'alert-history' }));
          card.append(h('h4', {}, 'Webhook deliveries'), table({ columnNames: ['status', 'createdAt', 'attempts', 'deliveredAt', 'lastError'],
            values: full.notifications.map((x) => [x.status, x.createdAt, x.attempts, x.deliveredAt, x.lastError]) }, { testid: 'alert-deliveries' }));
        } catch (e) { card.append(errorBox(e)); }
      }
      list.append(card);
    }
    if (!alerts.length) list.append(h('p', { class: 'meta' }, 'No alerts yet.'));
  }
  function reload() { clear(main); main.append(list); refresh(); }
  main.append(list);
  await refresh();
  // State changes come from the collector's schedule: look again every 2 s while the page is shown.
  timer = setInterval(() => { if (!list.isConnected) clearInterval(timer); else if (!main.querySelector('form')) refresh(); }, 2000);
}
