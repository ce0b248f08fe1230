// User sessions: filter by any property or field and a time frame; the result count; paging.

import { h, usql, table, errorBox, clear, routeParams } from '../lib.js';
import { loadCatalog, filterEditor, toUsql } from '../filters.js';

const PAGE = 25;
const COLUMNS = 'userSessionId, startTime, duration, userActionCount, totalErrorCount, userType, browserFamily, country, userExperienceScore, userId';
export const TIME_FRAMES = [['7200000', 'last 2 hours'], ['86400000', 'last 24 hours'], ['604800000', 'last 7 days'], ['2592000000', 'last 30 days'], ['', 'all time']];

/** The time frame parameters of a "last N ms" choice. */
export const timeFrame = (ms) => (ms ? { startTimestamp: Date.now() - Number(ms), endTimestamp: Date.now() } : {});

export async function render(main) {
  const params = routeParams();
  // The sessions are asked for at once; the filter editor follows when the key list is in.
  const catalog = loadCatalog();
  let filters = [];
  try { filters = JSON.parse(params.get('f') || '[]'); } catch { filters = []; }
  let editor = null;
  const current = () => (editor ? editor.get() : filters);
  const editorSlot = h('div', { class: 'meta' }, 'loading the property keys…');
  const frame = h('select', { 'aria-label': 'Time frame', 'data-testid': 'time-frame' }, TIME_FRAMES.map(([v, t]) => h('option', { value: v }, t)));
  frame.value = params.has('t') ? params.get('t') : '';
  const live = h('input', { type: 'checkbox', 'data-testid': 'live', checked: params.get('live') !== '0' });
  const count = h('span', { class: 'meta', 'data-testid': 'session-count' });
  const out = h('div', { 'data-testid': 'sessions' });
  const pager = h('div', { class: 'row' });
  let offset = Number(params.get('o') || 0);

  async function run() {
    clear(out);
    clear(pager);
    count.textContent = 'counting…';
    let where;
    try { where = toUsql(current()); } catch (e) { out.append(errorBox(e)); count.textContent = ''; return; }
    const opts = { ...timeFrame(frame.value), includeLive: live.checked ? 'true' : '' };
    const w = where ? ` WHERE ${where}` : '';
    // The route keeps the view, so a reload (or the back button) shows the same sessions.
    const state = new URLSearchParams({ f: JSON.stringify(current()), t: frame.value, live: live.checked ? '1' : '0', o: String(offset) });
    history.replaceState(null, '', '#/sessions?' + state);
    try {
      const [n, page] = await Promise.all([
        usql(`SELECT COUNT(*) FROM usersession${w}`, opts),
        usql(`SELECT ${COLUMNS} FROM usersession${w} ORDER BY startTime DESC LIMIT 5000`, { ...opts, pageSize: PAGE, pageOffset: offset }),
      ]);
      const total = n.values[0]?.[0] ?? 0;
      count.textContent = `${total} session${total === 1 ? '' : 's'}`;
      out.append(table(page, { link: (row) => '#/session/' + encodeURIComponent(row[0]), testid: 'session-table' }));
      const shown = Math.min(total, 5000);
      if (shown > PAGE) {
        pager.append(
          h('button', { type: 'button', disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); run(); } }, '‹ previous'),
          h('span', { 'data-testid': 'page' }, `${offset + 1}–${Math.min(offset + PAGE, shown)} of ${total}`),
          h('button', { type: 'button', 'data-testid': 'next-page', disabled: offset + PAGE >= shown, onclick: () => { offset += PAGE; run(); } }, 'next ›'),
        );
      }
    } catch (e) {
      count.textContent = '';
      out.append(errorBox(e));
    }
  }

  const form = h('form', { class: 'panel', onsubmit: (e) => { e.preventDefault(); offset = 0; run(); } },
    h('h2', {}, 'User sessions'),
    editorSlot,
    h('div', { class: 'row' }, frame, h('label', {}, live, ' include live sessions'), h('button', { 'data-testid': 'show-sessions' }, 'Show sessions'), count));
  main.append(form, h('section', { class: 'panel' }, out, pager));
  const first = run();
  try {
    editor = filterEditor(await catalog, 'usersession', filters);
    editorSlot.replaceWith(editor.el);
  } catch (e) {
    editorSlot.replaceWith(errorBox(e));
  }
  await first;
}
