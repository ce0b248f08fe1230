// Dashboards: tiles of USQL queries or metrics (table, column chart, line chart, pie, single
// value, funnel), arranged in a four-column grid, saved in the collector's store.

import { api, h, usql, table, resultChart, errorBox, clear, fmt } from '../lib.js';

const TYPES = [['TABLE', 'table'], ['COLUMN_CHART', 'bar chart'], ['LINE_CHART', 'line over time'], ['PIE_CHART', 'pie'], ['SINGLE_VALUE', 'single value'], ['FUNNEL', 'funnel']];

/** The guide's "Web property pack" (packs/web-property-pack.json, which `make demo` also installs). */
const PACK_URL = new URL('../packs/web-property-pack.json', import.meta.url);

async function tileResult(tile) {
  if (tile.query) return usql(tile.query, { includeLive: 'true' });
  const m = await api(`/api/v1/metrics/${tile.metricId}`);
  const labels = m.dimensions.map((d) => d.replace(/[^A-Za-z0-9_]/g, '_'));
  return { columnNames: [...labels, m.exposedAs], values: (m.samples || []).map((s) => [...labels.map((l) => s.labels[l]), s.value]) };
}

/** One tile's content. */
async function tileBody(tile) {
  const r = await tileResult(tile);
  switch (tile.type) {
    case 'TABLE': return table(r);
    case 'COLUMN_CHART': return resultChart(r, 'bar');
    case 'LINE_CHART': return resultChart(r, 'line');
    case 'PIE_CHART': return resultChart(r, 'pie');
    case 'FUNNEL': {
      // A USQL FUNNEL answers one row, a column per step: steps become the funnel's bars.
      const funnel = r.values.length === 1 && r.columnNames.length > 1
        ? { columnNames: ['step', 'sessions'], values: r.columnNames.map((c, i) => [c, r.values[0][i]]) } : r;
      return resultChart(funnel, 'funnel');
    }
    default: {
      const row = r.values[0] || [];
      const i = Math.max(0, row.findIndex((v) => typeof v === 'number'));
      return h('div', {}, h('p', { class: 'single', 'data-testid': 'single-value' }, fmt(row[i], r.columnNames[i])), h('p', { class: 'meta' }, r.columnNames[i] || ''));
    }
  }
}

function tileEl(tile, i, d, redraw) {
  const body = h('div', { class: 'tile-body' }, h('p', { class: 'meta' }, 'loading…'));
  const move = (delta) => {
    const j = i + delta;
    if (j < 0 || j >= d.tiles.length) return;
    [d.tiles[i], d.tiles[j]] = [d.tiles[j], d.tiles[i]];
    redraw();
  };
  const width = h('select', { 'aria-label': 'Width', onchange: () => { d.tiles[i].width = Number(width.value); redraw(); } },
    [1, 2, 3, 4].map((w) => h('option', { value: w }, `${w}/4`)));
  width.value = String(tile.width || 1);
  const el = h('div', { class: `tile w${tile.width || 1}`, 'data-testid': 'tile' },
    h('div', { class: 'tile-head' }, h('h3', { 'data-testid': 'tile-title' }, tile.title || tile.query || `metric ${tile.metricId}`),
      h('span', { class: 'tools' },
        h('button', { type: 'button', class: 'link', 'aria-label': 'Move earlier', onclick: () => move(-1) }, '◀'),
        h('button', { type: 'button', class: 'link', 'aria-label': 'Move later', onclick: () => move(1) }, '▶'),
        width,
        h('button', { type: 'button', class: 'link', 'aria-label': 'Remove tile', onclick: () => { d.tiles.splice(i, 1); redraw(); } }, '✕'))),
    body);
  tileBody(tile).then((c) => clear(body).append(c), (e) => clear(body).append(errorBox(e)));
  return el;
}

async function show(main, id) {
  let d;
  try { d = await api(`/api/v1/dashboards/${id}`); } catch (e) { main.append(errorBox(e)); return; }
  const grid = h('div', { class: 'grid', 'data-testid': 'tiles' });
  const status = h('span', { class: 'meta', 'data-testid': 'save-status' });
  const redraw = () => { clear(grid).append(...d.tiles.map((t, i) => tileEl(t, i, d, redraw))); status.textContent = 'unsaved changes'; };
  clear(grid).append(...d.tiles.map((t, i) => tileEl(t, i, d, redraw)));
  const name = h('input', { 'aria-label': 'Dashboard name', value: d.name, size: 30 });
  const save = h('button', { type: 'button', 'data-testid': 'save-dashboard', onclick: async () => {
    try {
      await api(`/api/v1/dashboards/${id}`, { method: 'PUT', body: { name: name.value, tiles: d.tiles } });
      status.textContent = 'saved';
    } catch (e) { status.textContent = ''; grid.before(errorBox(e)); }
  } }, 'Save');

  // Pin a tile: a USQL query or a metric, with a type.
  const { metrics } = await api('/api/v1/metrics');
  const title = h('input', { 'aria-label': 'Tile title', 'data-testid': 'tile-new-title', size: 24 });
  const type = h('select', { 'aria-label': 'Tile type', 'data-testid': 'tile-new-type' }, TYPES.map(([v, t]) => h('option', { value: v }, t)));
  const source = h('select', { 'aria-label': 'Tile source', 'data-testid': 'tile-new-source' }, h('option', { value: 'query' }, 'USQL query'),
    metrics.map((m) => h('option', { value: 'metric:' + m.id }, m.exposedAs)));
  const query = h('textarea', { 'aria-label': 'USQL query', 'data-testid': 'tile-new-query', rows: 2, spellcheck: 'false' }, 'SELECT type, COUNT(*) AS actions FROM useraction GROUP BY type');
  source.addEventListener('change', () => { query.hidden = source.value !== 'query'; });
  const add = h('form', { class: 'panel', onsubmit: (e) => {
    e.preventDefault();
    const tile = { title: title.value, type: type.value, width: 2 };
    if (source.value === 'query') tile.query = query.value; else tile.metricId = Number(source.value.slice(7));
    d.tiles.push(tile);
    redraw();
  } }, h('h3', {}, 'Pin a tile'), h('div', { class: 'row' }, title, type, source, h('button', { 'data-testid': 'pin-tile' }, 'Pin')), query);

  main.append(h('section', { class: 'panel' },
    h('p', {}, h('a', { href: '#/dashboards' }, '‹ dashboards')),
    h('div', { class: 'row' }, h('h2', { 'data-testid': 'dashboard-name' }, d.name), name, save, status), grid), add);
}

export async function render(main, id) {
  if (id) return show(main, id);
  const list = h('section', { class: 'panel', 'data-testid': 'dashboard-list' }, h('h2', {}, 'Dashboards'));
  main.append(list);
  const msg = h('div');
  const create = async (body) => {
    try {
      const d = await api('/api/v1/dashboards', { method: 'POST', body });
      location.hash = `#/dashboards/${d.id}`;
    } catch (e) { clear(msg).append(errorBox(e)); }
  };
  const name = h('input', { 'aria-label': 'New dashboard name', 'data-testid': 'new-dashboard-name', placeholder: 'name', size: 24 });
  list.append(h('form', { class: 'row', onsubmit: (e) => { e.preventDefault(); create({ name: name.value || 'Untitled', tiles: [] }); } },
    name, h('button', { 'data-testid': 'new-dashboard' }, 'New dashboard'),
    h('button', { type: 'button', 'data-testid': 'add-pack', onclick: async () => create(await (await fetch(PACK_URL)).json()) }, 'Add the "Web property pack"')), msg);
  try {
    const { dashboards } = await api('/api/v1/dashboards');
    const ul = h('ul');
    for (const d of dashboards) ul.append(h('li', {}, h('a', { href: `#/dashboards/${d.id}` }, d.name), ` · ${d.tiles.length} tiles`));
    list.append(dashboards.length ? ul : h('p', { class: 'meta' }, 'No dashboards yet.'));
  } catch (e) { list.append(errorBox(e)); }
}
