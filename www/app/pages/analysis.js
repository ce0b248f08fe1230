// Multidimensional analysis: actions by a property or field (count, median and p90 of the chosen
// timing, error rate, Apdex), filtered by others, a line chart of the metric per group over time,
// and "create metric" from the view.

import { h, usql, table, chart, errorBox, clear, routeParams, api } from '../lib.js';
import { loadCatalog, filterEditor, toUsql, toMetricFilters, choices } from '../filters.js';
import { TIME_FRAMES, timeFrame } from './sessions.js';

const BUCKETS = [['5m', '5 minutes'], ['1h', 'hour'], ['1d', 'day']];

export async function render(main) {
  const params = routeParams();
  const cat = await loadCatalog();
  const all = choices(cat, 'useraction');
  const groupSel = h('select', { 'aria-label': 'Analyse by', 'data-testid': 'group-by' });
  const groups = {};
  for (const c of all.filter((c) => c.type !== 'date')) {
    groups[c.group] ||= h('optgroup', { label: c.group });
    groups[c.group].append(h('option', { value: c.field }, c.label));
  }
  groupSel.append(...Object.values(groups));
  groupSel.value = params.get('by') || 'name';
  const numeric = all.filter((c) => !c.field.includes('.') && (c.type === 'long' || c.type === 'double') && !/Count$|Resources$/.test(c.field));
  const metricSel = h('select', { 'aria-label': 'Timing', 'data-testid': 'timing' }, numeric.map((c) => h('option', { value: c.field }, c.label)));
  metricSel.value = params.get('of') || 'duration';
  const frame = h('select', { 'aria-label': 'Time frame' }, TIME_FRAMES.map(([v, t]) => h('option', { value: v }, t)));
  frame.value = params.get('t') ?? '';
  const bucket = h('select', { 'aria-label': 'Interval' }, BUCKETS.map(([v, t]) => h('option', { value: v }, 'per ' + t)));
  let filters = [];
  try { filters = JSON.parse(params.get('f') || '[]'); } catch { filters = []; }
  const editor = filterEditor(cat, 'useraction', filters);
  const out = h('div', { 'data-testid': 'analysis' });
  const over = h('div', { 'data-testid': 'over-time' });
  const created = h('div');

  async function run() {
    clear(out); clear(over); clear(created);
    const g = groupSel.value, t = metricSel.value;
    let where;
    try { where = toUsql(editor.get()); } catch (e) { out.append(errorBox(e)); return; }
    history.replaceState(null, '', '#/analysis?' + new URLSearchParams({ by: g, of: t, t: frame.value, f: JSON.stringify(editor.get()) }));
    const w = where ? ` WHERE ${where}` : '';
    const cond = (c) => (where ? `${where} AND ${c}` : c);
    const opts = { ...timeFrame(frame.value), includeLive: 'true' };
    try {
      const r = await usql(`SELECT ${g} AS "${g}", COUNT(*) AS "actions", MEDIAN(${t}) AS "median ${t}", PERCENTILE(${t}, 90) AS "p90 ${t}", ` +
        `CONDITION(COUNT(*), WHERE ${cond('(requestErrorCount > 0 OR javascriptErrorCount > 0)')}) AS "with errors", ` +
        `CONDITION(COUNT(*), WHERE ${cond('apdexCategory = "SATISFIED"')}) AS "satisfied", ` +
        `CONDITION(COUNT(*), WHERE ${cond('apdexCategory = "TOLERATING"')}) AS "tolerating", ` +
        `CONDITION(COUNT(*), WHERE ${cond('apdexCategory = "FRUSTRATED"')}) AS "frustrated" ` +
        `FROM useraction${w} GROUP BY ${g} ORDER BY actions DESC LIMIT 20`, opts);
      // Error rate and Apdex ((satisfied + tolerating / 2) / rated actions) per group.
      const rows = r.values.map(([grp, n, med, p90, errs, sat, tol, fru]) => {
        const rated = sat + tol + fru;
        return [grp, n, med, p90, n ? Math.round((errs / n) * 1000) / 10 : null, rated ? Math.round(((sat + tol / 2) / rated) * 100) / 100 : null];
      });
      const result = { columnNames: [g, 'actions', `median ${t} (ms)`, `p90 ${t} (ms)`, 'error rate (%)', 'Apdex'], values: rows };
      out.append(table(result, { testid: 'analysis-table' }));
      out.append(chart({ type: 'bar', testid: 'analysis-chart', labels: rows.map((x) => String(x[0])), result,
        series: [{ name: `median ${t}`, data: rows.map((x) => x[2]) }, { name: `p90 ${t}`, data: rows.map((x) => x[3]) }] }));
      const lines = await usql(`SELECT DATETIME(startTime, 'yyyy-MM-dd HH:mm', '${bucket.value}') AS "time", ${g} AS "${g}", MEDIAN(${t}) AS "median" ` +
        `FROM useraction${w} GROUP BY DATETIME(startTime, 'yyyy-MM-dd HH:mm', '${bucket.value}'), ${g} ORDER BY time LIMIT 5000`, opts);
      const times = [...new Set(lines.values.map((x) => x[0]))];
      const top = rows.slice(0, 8).map((x) => x[0]);
      const series = top.map((grp) => ({ name: String(grp), data: times.map((tm) => lines.values.find((x) => x[0] === tm && x[1] === grp)?.[2] ?? null) }));
      over.append(h('h3', {}, `Median ${t} per ${bucket.selectedOptions[0].textContent.replace('per ', '')}, by ${g}`),
        chart({ type: 'line', testid: 'line-chart', labels: times, series, result: lines }));
    } catch (e) {
      out.append(errorBox(e));
    }
  }

  async function createMetric() {
    clear(created);
    const g = groupSel.value, t = metricSel.value;
    const key = (prompt_key.value || '').trim();
    const [aggregation, label] = { p90: ['PERCENTILE', `p90 of ${t}`], median: ['MEDIAN', `median ${t}`], count: ['COUNT', 'count'] }[aggSel.value];
    const body = { key, description: `${label} of actions by ${g}`, table: 'useraction', aggregation, filters: [], dimensions: [g] };
    if (aggregation !== 'COUNT') body.field = t;
    if (aggregation === 'PERCENTILE') body.percentile = 90;
    try {
      body.filters = toMetricFilters(editor.get());
      const m = await api('/api/v1/metrics', { method: 'POST', body });
      created.append(h('p', { class: 'ok', 'data-testid': 'metric-created' }, 'Created ', h('a', { href: '#/metrics' }, m.exposedAs), ` (${label} by ${g}).`));
    } catch (e) {
      created.append(errorBox(e));
    }
  }
  const aggSel = h('select', { 'aria-label': 'Metric value', 'data-testid': 'metric-agg' },
    h('option', { value: 'p90' }, 'p90'), h('option', { value: 'median' }, 'median'), h('option', { value: 'count' }, 'count'));
  const prompt_key = h('input', { 'aria-label': 'Metric key', 'data-testid': 'metric-key', placeholder: 'metric key, e.g. checkout_p90', size: 24 });

  const form = h('form', { class: 'panel', onsubmit: (e) => { e.preventDefault(); run(); } },
    h('h2', {}, 'Multidimensional analysis'),
    h('div', { class: 'row' }, h('label', {}, 'Actions by ', groupSel), h('label', {}, 'timing ', metricSel), frame, bucket),
    editor.el,
    h('div', { class: 'row' }, h('button', { 'data-testid': 'analyse' }, 'Analyse'),
      h('span', { class: 'spacer' }), aggSel, prompt_key, h('button', { type: 'button', 'data-testid': 'create-metric', onclick: createMetric }, 'Create metric from this view')),
    created);
  main.append(form, h('section', { class: 'panel' }, out), h('section', { class: 'panel' }, over));
  await run();
}
