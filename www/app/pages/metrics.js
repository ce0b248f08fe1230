// Calculated metrics: list, create, edit, delete; each one's current samples, and what
// Prometheus scrapes at /metrics.

import { api, h, table, errorBox, clear } from '../lib.js';
import { loadCatalog, filterEditor, choices, toMetricFilters } from '../filters.js';

const AGGS = ['COUNT', 'SUM', 'AVG', 'MIN', 'MAX', 'MEDIAN', 'PERCENTILE'];

function fromMetricFilters(fs, all) {
  return (fs || []).map((f) => ({ field: f.field, operator: f.operator, value: f.value ?? '', type: all.find((c) => c.field === f.field)?.type || 'text' }));
}

async function form(main, cat, existing, done) {
  const m = existing || { key: '', description: '', table: 'useraction', aggregation: 'COUNT', filters: [], dimensions: [], windowMinutes: 120 };
  const key = h('input', { 'aria-label': 'Key', 'data-testid': 'm-key', value: m.key, size: 24, required: true });
  const desc = h('input', { 'aria-label': 'Description', value: m.description, size: 40 });
  const tableSel = h('select', { 'aria-label': 'Table', 'data-testid': 'm-table' }, h('option', { value: 'useraction' }, 'actions'), h('option', { value: 'usersession' }, 'sessions'));
  tableSel.value = m.table;
  const agg = h('select', { 'aria-label': 'Aggregation', 'data-testid': 'm-agg' }, AGGS.map((a) => h('option', {}, a)));
  agg.value = m.aggregation;
  const field = h('select', { 'aria-label': 'Field' });
  const pct = h('input', { type: 'number', 'aria-label': 'Percentile', min: 1, max: 99, value: m.percentile ?? 90, size: 3 });
  const windowMin = h('input', { type: 'number', 'aria-label': 'Window (minutes)', min: 1, value: m.windowMinutes, size: 6 });
  const dims = h('select', { multiple: true, size: 6, 'aria-label': 'Dimensions', 'data-testid': 'm-dims' });
  const filterBox = h('div');
  const errBox = h('div');
  let editor;
  function fill() {
    const all = choices(cat, tableSel.value);
    clear(field).append(...all.filter((c) => c.type === 'long' || c.type === 'double').map((c) => h('option', { value: c.field }, c.field)));
    if (m.field) field.value = m.field;
    clear(dims).append(...all.filter((c) => c.type !== 'date').map((c) => h('option', { value: c.field, selected: m.dimensions.includes(c.field) }, c.field)));
    editor = filterEditor(cat, tableSel.value, fromMetricFilters(m.filters, all));
    clear(filterBox).append(editor.el);
    field.disabled = agg.value === 'COUNT';
    pct.hidden = agg.value !== 'PERCENTILE';
  }
  tableSel.addEventListener('change', () => { m.filters = []; m.dimensions = []; fill(); });
  agg.addEventListener('change', () => { field.disabled = agg.value === 'COUNT'; pct.hidden = agg.value !== 'PERCENTILE'; });
  fill();
  const f = h('form', { class: 'panel', 'data-testid': 'metric-form', onsubmit: async (e) => {
    e.preventDefault();
    clear(errBox);
    try {
      const body = { key: key.value.trim(), description: desc.value, table: tableSel.value, aggregation: agg.value,
        filters: toMetricFilters(editor.get()), dimensions: [...dims.selectedOptions].map((o) => o.value), windowMinutes: Number(windowMin.value) };
      if (agg.value !== 'COUNT') body.field = field.value;
      if (agg.value === 'PERCENTILE') body.percentile = Number(pct.value);
      await api(existing ? `/api/v1/metrics/${existing.id}` : '/api/v1/metrics', { method: existing ? 'PUT' : 'POST', body });
      done();
    } catch (err) { errBox.append(errorBox(err)); }
  } },
    h('h2', {}, existing ? `Edit ${existing.exposedAs}` : 'New calculated metric'),
    h('div', { class: 'row' }, h('label', {}, 'key ', key), h('label', {}, 'description ', desc)),
    h('div', { class: 'row' }, h('label', {}, 'over ', tableSel), agg, h('label', {}, 'of ', field), pct, h('label', {}, 'window (min) ', windowMin)),
    h('h3', {}, 'Filter'), filterBox,
    h('h3', {}, 'Dimensions (labels at /metrics)'), dims,
    h('div', { class: 'row' }, h('button', { 'data-testid': 'm-save' }, 'Save metric'), h('button', { type: 'button', class: 'link', onclick: done }, 'cancel')),
    errBox);
  main.prepend(f);
}

export async function render(main) {
  const cat = await loadCatalog();
  const list = h('section', { class: 'panel', 'data-testid': 'metric-list' });
  const scrape = h('section', { class: 'panel' });
  async function refresh() {
    clear(list).append(h('h2', {}, 'Calculated metrics'), h('button', { type: 'button', 'data-testid': 'new-metric', onclick: () => form(main, cat, null, reload) }, 'New metric'));
    try {
      const { metrics } = await api('/api/v1/metrics');
      for (const m of metrics) {
        const detail = h('div');
        list.append(h('article', { class: 'metric', 'data-testid': 'metric' },
          h('h3', {}, h('code', {}, m.exposedAs), ' ', m.description),
          h('p', { class: 'meta' }, h('code', {}, m.query), ` · last ${m.windowMinutes} min`),
          h('div', { class: 'row' },
            h('button', { type: 'button', class: 'link', onclick: async () => {
              clear(detail);
              try {
                const v = await api(`/api/v1/metrics/${m.id}`);
                const labels = m.dimensions.map((d) => d.replace(/[^A-Za-z0-9_]/g, '_'));
                detail.append(table({ columnNames: [...labels, 'value'], values: (v.samples || []).map((s) => [...labels.map((l) => s.labels[l]), s.value]) }));
              } catch (e) { detail.append(errorBox(e)); }
            } }, 'values'),
            h('button', { type: 'button', class: 'link', onclick: () => form(main, cat, m, reload) }, 'edit'),
            h('button', { type: 'button', class: 'link', onclick: async () => {
              try { await api(`/api/v1/metrics/${m.id}`, { method: 'DELETE' }); reload(); } catch (e) { detail.append(errorBox(e)); }
            } }, 'delete')),
          detail));
      }
      if (!metrics.length) list.append(h('p', { class: 'meta' }, 'No metrics yet: create one here or from the analysis page.'));
    } catch (e) { list.append(errorBox(e)); }
    clear(scrape).append(h('h2', {}, 'GET /metrics (what Prometheus scrapes)'));
    try {
      const res = await fetch('/metrics', { headers: { Authorization: 'Api-Token ' + sessionStorage.getItem('rumprops.token') } });
      const text = await res.text();
      scrape.append(h('pre', { 'data-testid': 'prometheus' }, text.slice(text.indexOf('# Calculated metrics'))));
    } catch (e) { scrape.append(errorBox(e)); }
  }
  function reload() { clear(main); main.append(list, scrape); refresh(); }
  main.append(list, scrape);
  await refresh();
}
