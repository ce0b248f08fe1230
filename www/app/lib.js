// The app's plumbing: the token, API calls, USQL, DOM building (text only, never HTML), charts.
//
// Every value from the collector reaches the page through `textContent` or an attribute set
// with setAttribute on an element made here, never through innerHTML: a property value of
// `<img src=x onerror=…>` shows as those characters.

const TOKEN_KEY = 'rumprops.token';

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (t) => sessionStorage.setItem(TOKEN_KEY, t),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Calls the collector with the token in the Authorization header (never in the URL). */
export async function api(path, { method = 'GET', body } = {}) {
  const headers = { Authorization: 'Api-Token ' + (token.get() || '') };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'omit' });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!res.ok) {
    if (res.status === 401) window.dispatchEvent(new CustomEvent('rumprops:signed-out'));
    throw new ApiError(res.status, (data && data.error) || `HTTP ${res.status}`);
  }
  return data;
}

// The collector runs at most two queries of one client at once and answers 429 (Retry-After)
// beyond: the app sends at most two at a time, and waits and retries a 429.
const MAX_QUERIES = 2;
let running = 0;
const waiting = [];

async function slot(f) {
  if (running >= MAX_QUERIES) await new Promise((r) => waiting.push(r));
  running++;
  try {
    return await f();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/** Runs a USQL query on /table; `opts` are the endpoint's parameters. */
export function usql(query, opts = {}) {
  const p = new URLSearchParams({ query });
  for (const [k, v] of Object.entries(opts)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  return slot(async () => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await api('/api/v1/userSessionQueryLanguage/table?' + p);
      } catch (e) {
        if (!(e instanceof ApiError) || e.status !== 429 || attempt >= 5) throw e;
        await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
      }
    }
  });
}

/** A USQL string literal. */
export const quote = (s) => '"' + String(s).replace(/"/g, '""') + '"';

/** Makes an element: h('td', {class: 'n'}, 'text', child, …). Strings become text nodes. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const clear = (el) => { while (el.firstChild) el.firstChild.remove(); return el; };

const DATE_COLUMN = /(^|\.)(startTime|endTime|navigationStart|time|createdAt|deliveredAt|lastEvaluated|activeSince)$|date/i;

/** A cell's text: dates as ISO-like UTC, doubles with 2 decimals, null as —. */
export function fmt(v, name = '') {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number' && DATE_COLUMN.test(name) && v > 1e11) return new Date(v).toISOString().replace('T', ' ').slice(0, 19);
  if (typeof v === 'number' && !Number.isInteger(v)) return v.toFixed(2);
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** A table of a USQL result (or any columnNames/values); `link(row)` may return a hash for row 0's cell. */
export function table(result, { link, testid } = {}) {
  const t = h('table', { 'data-testid': testid });
  t.append(h('thead', {}, h('tr', {}, result.columnNames.map((c) => h('th', {}, c)))));
  const body = h('tbody');
  for (const row of result.values) {
    body.append(h('tr', {}, row.map((v, i) => {
      const text = fmt(v, result.columnNames[i]);
      const href = i === 0 && link ? link(row) : null;
      return h('td', { class: typeof v === 'number' ? 'n' : null }, href ? h('a', { href }, text) : text);
    })));
  }
  t.append(body);
  if (!result.values.length) t.append(h('caption', {}, 'no rows'));
  return t;
}

const PALETTE = ['#2463eb', '#e8590c', '#2f9e44', '#ae3ec9', '#f08c00', '#1098ad', '#c2255c', '#5c940d', '#364fc7', '#868e96'];

/**
 * A chart with a table view of the same numbers (a toggle). `spec`: {type: 'bar' | 'line' | 'pie'
 * | 'funnel' | 'waterfall', labels, series: [{name, data}], result (for the table)}.
 */
export function chart(spec) {
  const box = h('div', { class: 'chart', 'data-testid': spec.testid || 'chart' });
  const canvasWrap = h('div', { class: 'canvas' });
  const canvas = h('canvas', { role: 'img', 'aria-label': spec.title || 'chart' });
  canvasWrap.append(canvas);
  const tableView = h('div', { class: 'table-view', hidden: true }, table(spec.result));
  const toggle = h('button', { type: 'button', class: 'link', 'data-testid': 'table-toggle', onclick: () => {
    const showTable = tableView.hidden;
    tableView.hidden = !showTable;
    canvasWrap.hidden = showTable;
    toggle.textContent = showTable ? 'Chart view' : 'Table view';
  } }, 'Table view');
  box.append(h('div', { class: 'chart-bar' }, toggle), canvasWrap, tableView);
  if (!window.Chart) {
    canvasWrap.append(h('p', { class: 'error' }, 'Chart.js is missing (run scripts/setup.sh); the table view has the numbers.'));
    return box;
  }
  const { type, labels, series } = spec;
  let config;
  if (type === 'pie') {
    config = { type: 'pie', data: { labels, datasets: [{ data: series[0].data, backgroundColor: labels.map((_, i) => PALETTE[i % PALETTE.length]) }] } };
  } else if (type === 'waterfall') {
    config = {
      type: 'bar',
      data: { labels, datasets: [{ label: 'ms from the action start', data: series[0].data, backgroundColor: labels.map((_, i) => PALETTE[i % PALETTE.length]) }] },
      options: { indexAxis: 'y', scales: { x: { beginAtZero: true, title: { display: true, text: 'ms from the action start' } } }, plugins: { legend: { display: false } } },
    };
  } else if (type === 'funnel') {
    config = {
      type: 'bar',
      data: { labels, datasets: [{ label: series[0].name, data: series[0].data, backgroundColor: PALETTE[0] }] },
      options: { indexAxis: 'y', plugins: { legend: { display: false } } },
    };
  } else {
    config = {
      type: type === 'line' ? 'line' : 'bar',
      data: { labels, datasets: series.map((s, i) => ({ label: s.name, data: s.data, borderColor: PALETTE[i % PALETTE.length], backgroundColor: PALETTE[i % PALETTE.length], spanGaps: true })) },
      options: { plugins: { legend: { display: series.length > 1 } }, scales: { y: { beginAtZero: true } } },
    };
  }
  config.options = { ...(config.options || {}), animation: false, responsive: true, maintainAspectRatio: false };
  // Chart.js needs the canvas in the document to size it: draw once the box is attached.
  requestAnimationFrame(() => { box.chart = new window.Chart(canvas, config); });
  return box;
}

/**
 * A USQL result as a chart: the first column is the label (several leading text columns are
 * joined), the numeric columns are series. `type` as in chart().
 */
export function resultChart(result, type, testid) {
  const numeric = result.columnNames.map((_, i) => result.values.length > 0 && result.values.every((r) => r[i] === null || typeof r[i] === 'number'));
  let first = numeric.indexOf(true);
  if (first <= 0) first = result.columnNames.length > 1 ? 1 : 0;
  const labels = result.values.map((r) => r.slice(0, first).map((v, i) => fmt(v, result.columnNames[i])).join(' · '));
  const series = [];
  for (let i = first; i < result.columnNames.length; i++) if (numeric[i]) series.push({ name: result.columnNames[i], data: result.values.map((r) => r[i]) });
  if (!series.length) series.push({ name: 'value', data: [] });
  return chart({ type, labels, series: type === 'pie' || type === 'funnel' ? [series[0]] : series, result, testid });
}

/** A message box. */
export const errorBox = (e) => h('p', { class: 'error', role: 'alert' }, e instanceof Error ? e.message : String(e));

/** The hash route's parameters. */
export function routeParams() {
  const [, query = ''] = location.hash.split('?');
  return new URLSearchParams(query);
}
