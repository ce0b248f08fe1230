// Session details: fields, properties, actions in order with their properties, timings and
// errors, and a waterfall per load and route action from the timings the agent sent.

import { api, h, usql, quote, fmt, table, chart, errorBox } from '../lib.js';

const SESSION_FIELDS = 'userId, userType, startTime, endTime, duration, endReason, userActionCount, totalErrorCount, numberOfRageClicks, ' +
  'userExperienceScore, browserFamily, browserMajorVersion, osFamily, device, screenWidth, screenHeight, connectionType, country, region, city, continent';
const TIMINGS = ['requestStart', 'responseStart', 'responseEnd', 'documentInteractiveTime', 'domContentLoadedTime', 'domCompleteTime',
  'loadEventStart', 'loadEventEnd', 'largestContentfulPaint', 'firstInputDelay', 'interactionToNextPaint', 'visuallyCompleteTime',
  'speedIndex', 'cumulativeLayoutShift', 'serverTime', 'networkTime', 'frontendTime', 'firstPartyResources', 'thirdPartyResources', 'cdnResources'];

function props(p) {
  const rows = [];
  for (const ty of ['string', 'long', 'double', 'date']) {
    for (const [k, v] of Object.entries((p && p[ty]) || {})) rows.push([k, ty, ty === 'date' ? fmt(v, 'date') : v]);
  }
  return rows.length ? table({ columnNames: ['key', 'type', 'value'], values: rows }, { testid: 'properties' }) : h('p', { class: 'meta' }, 'no properties');
}

/** The waterfall bars of one action: [label, from, to] in ms from the action's start. */
export function waterfall(t, duration) {
  const bars = [];
  const bar = (label, from, to) => { if (from !== null && from !== undefined && to !== null && to !== undefined && to >= from) bars.push([label, from, to]); };
  bar('Connection set-up', 0, t.requestStart);
  bar('Request (to first byte)', t.requestStart, t.responseStart);
  bar('Response (download)', t.responseStart, t.responseEnd);
  bar('DOM processing', t.responseEnd, t.documentInteractiveTime);
  bar('DOMContentLoaded', t.documentInteractiveTime, t.domContentLoadedTime);
  bar('DOM complete', t.domContentLoadedTime, t.domCompleteTime);
  bar('Load event', t.loadEventStart, t.loadEventEnd);
  bar('Largest contentful paint', 0, t.largestContentfulPaint);
  bar('Visually complete', 0, t.visuallyCompleteTime);
  bar('Speed index', 0, t.speedIndex);
  if (bars.length) bar('Action duration', 0, duration);
  return bars;
}

export async function render(main, sid) {
  main.append(h('p', {}, h('a', { href: '#/sessions' }, '‹ sessions')));
  let s;
  try {
    s = await api('/api/v1/sessions/' + encodeURIComponent(sid));
  } catch (e) {
    main.append(errorBox(e));
    return;
  }
  const where = `usersession.userSessionId = ${quote(sid)}`;
  const [fields, actions, errors] = await Promise.all([
    usql(`SELECT ${SESSION_FIELDS} FROM usersession WHERE userSessionId = ${quote(sid)}`, { includeLive: 'true' }).catch((e) => e),
    usql(`SELECT startTime, name, type, duration, apdexCategory, requestErrorCount, javascriptErrorCount, ${TIMINGS.join(', ')} FROM useraction WHERE ${where} ORDER BY startTime LIMIT 5000`, { includeLive: 'true' }).catch((e) => e),
    usql(`SELECT startTime, name, message, source, line, column, actionName FROM usererror WHERE ${where} ORDER BY startTime LIMIT 500`, { includeLive: 'true' }).catch((e) => e),
  ]);
  const head = h('section', { class: 'panel' }, h('h2', {}, 'Session ', h('code', { 'data-testid': 'session-id' }, s.userSessionId)));
  if (fields instanceof Error) head.append(errorBox(fields));
  else if (fields.values[0]) {
    const dl = h('dl', { class: 'fields', 'data-testid': 'session-fields' });
    fields.columnNames.forEach((c, i) => dl.append(h('dt', {}, c), h('dd', {}, fmt(fields.values[0][i], c))));
    dl.append(h('dt', {}, 'application'), h('dd', {}, s.application));
    head.append(dl);
  }
  head.append(h('h3', {}, 'Session properties'), props(s.properties));
  main.append(head);

  const timed = actions instanceof Error ? [] : actions.values.map((r) => Object.fromEntries(actions.columnNames.map((c, i) => [c, r[i]])));
  const list = h('section', { class: 'panel', 'data-testid': 'actions' }, h('h2', {}, `Actions (${s.userActions.length})`));
  if (actions instanceof Error) list.append(errorBox(actions));
  const used = new Set();
  s.userActions.forEach((a, n) => {
    // The timed row of this action: same start and name (the two lists share their order).
    const i = timed.findIndex((t, j) => !used.has(j) && t.startTime === a.startTime && t.name === a.name);
    const t = i >= 0 ? timed[i] : {};
    if (i >= 0) used.add(i);
    const card = h('article', { class: 'action', 'data-testid': 'action' },
      h('h3', {}, `${n + 1}. `, h('span', { class: 'kind' }, a.type), ' ', h('span', { 'data-testid': 'action-name' }, a.name)),
      h('p', { class: 'meta' }, `${fmt(a.startTime, 'startTime')} · ${a.endTime - a.startTime} ms · ${a.requestCount} requests, ${a.requestErrorCount} failed · ${a.javascriptErrorCount} JS errors`
        + (t.apdexCategory ? ` · Apdex ${t.apdexCategory}` : ''), ' · ', h('span', { 'data-testid': 'action-url' }, a.targetUrl)),
      props(a.properties));
    const measured = TIMINGS.filter((k) => t[k] !== null && t[k] !== undefined);
    if (measured.length) card.append(table({ columnNames: measured, values: [measured.map((k) => t[k])] }, { testid: 'timings' }));
    if (a.type === 'load' || a.type === 'route') {
      const bars = waterfall(t, a.endTime - a.startTime);
      if (bars.length) {
        card.append(h('h4', {}, 'Waterfall'), chart({
          type: 'waterfall', testid: 'waterfall', title: 'Waterfall of ' + a.name,
          labels: bars.map((b) => b[0]), series: [{ name: 'ms', data: bars.map((b) => [b[1], b[2]]) }],
          result: { columnNames: ['phase', 'from (ms)', 'to (ms)'], values: bars },
        }));
      } else card.append(h('p', { class: 'meta' }, 'no navigation timings for this action'));
    }
    list.append(card);
  });
  main.append(list);
  const errs = h('section', { class: 'panel', 'data-testid': 'errors' }, h('h2', {}, 'Errors'));
  errs.append(errors instanceof Error ? errorBox(errors) : table(errors));
  main.append(errs);
}
