// The filter builder shared by the sessions and the analysis pages: any property of any type or
// any field, with a key picker from the stored keys, a value picker from the stored values, and
// ranges for numbers and dates. A filter is {field, type, operator, value, value2}; it becomes a
// USQL condition (toUsql) or a calculated metric's filters (toMetricFilters).

import { api, h, usql, quote, clear } from './lib.js';

let catalog = null;

/** The USQL fields and the stored property keys, read once per page load. */
export async function loadCatalog() {
  if (!catalog) {
    const [fields, properties] = await Promise.all([api('/api/v1/fields'), api('/api/v1/properties')]);
    catalog = { fields, properties };
  }
  return catalog;
}

const TYPE_OF = { text: 'text', long: 'long', double: 'double', date: 'date', boolean: 'boolean', textarray: 'text' };

/** Every filterable thing seen from `table` (usersession or useraction): [{field, label, type, group}]. */
export function choices(cat, table) {
  const out = [];
  const own = table === 'usersession' ? 'usersession' : 'useraction';
  const other = own === 'usersession' ? 'useraction' : 'usersession';
  const prefix = (t) => (t === own ? '' : t + '.');
  for (const t of [own, other]) {
    const props = cat.properties[t] || {};
    for (const ty of ['string', 'long', 'double', 'date']) {
      for (const key of props[ty] || []) {
        out.push({ field: `${prefix(t)}${ty}Properties.${key}`, label: `${key} (${ty})`, type: ty === 'string' ? 'text' : ty, group: `${t === 'usersession' ? 'Session' : 'Action'} properties` });
      }
    }
  }
  for (const t of [own, other]) {
    for (const f of cat.fields[t] || []) {
      out.push({ field: prefix(t) + f.name, label: f.name, type: TYPE_OF[f.type] || 'text', group: `${t === 'usersession' ? 'Session' : 'Action'} fields` });
    }
  }
  return out;
}

export const OPERATORS = [
  ['EQUALS', '='], ['NOT_EQUAL', '≠'], ['GREATER_THAN', '>'], ['GREATER_THAN_OR_EQUAL_TO', '≥'], ['LESS_THAN', '<'],
  ['LESS_THAN_OR_EQUAL_TO', '≤'], ['BETWEEN', 'between'], ['LIKE', 'like'], ['IS_NOT_NULL', 'is set'], ['IS_NULL', 'is not set'],
];
const SQL_OP = { EQUALS: '=', NOT_EQUAL: '!=', GREATER_THAN: '>', GREATER_THAN_OR_EQUAL_TO: '>=', LESS_THAN: '<', LESS_THAN_OR_EQUAL_TO: '<=', LIKE: 'LIKE' };

function literal(f, v) {
  if (f.type === 'long' || f.type === 'double') {
    const n = Number(v);
    if (v === '' || !Number.isFinite(n)) throw new Error(`${f.field}: "${v}" is not a number`);
    return n;
  }
  if (f.type === 'date') {
    const n = /^\d+$/.test(String(v)) ? Number(v) : Date.parse(v);
    if (!Number.isFinite(n)) throw new Error(`${f.field}: "${v}" is not a date`);
    return n;
  }
  if (f.type === 'boolean') return String(v).toLowerCase() === 'true';
  return String(v);
}

const lit = (x) => (typeof x === 'string' ? quote(x) : String(x));

/** The USQL condition of some filters (ANDed), or '' for none. */
export function toUsql(filters) {
  const parts = [];
  for (const f of filters) {
    if (!f.field) continue;
    if (f.operator === 'IS_NULL') parts.push(`${f.field} IS NULL`);
    else if (f.operator === 'IS_NOT_NULL') parts.push(`${f.field} IS NOT NULL`);
    else if (f.operator === 'BETWEEN') parts.push(`${f.field} >= ${lit(literal(f, f.value))} AND ${f.field} <= ${lit(literal(f, f.value2))}`);
    else parts.push(`${f.field} ${SQL_OP[f.operator]} ${lit(literal(f, f.value))}`);
  }
  return parts.join(' AND ');
}

/** The same filters as a calculated metric's (BETWEEN becomes two). */
export function toMetricFilters(filters) {
  const out = [];
  for (const f of filters) {
    if (!f.field) continue;
    if (f.operator === 'IS_NULL' || f.operator === 'IS_NOT_NULL') out.push({ field: f.field, operator: f.operator });
    else if (f.operator === 'BETWEEN') {
      out.push({ field: f.field, operator: 'GREATER_THAN_OR_EQUAL_TO', value: literal(f, f.value) });
      out.push({ field: f.field, operator: 'LESS_THAN_OR_EQUAL_TO', value: literal(f, f.value2) });
    } else out.push({ field: f.field, operator: f.operator, value: literal(f, f.value) });
  }
  return out;
}

let listSeq = 0;

/**
 * A filter list editor. `table`: usersession or useraction; `initial`: filters. Returns
 * {el, get()}; get() gives the current filters.
 */
export function filterEditor(cat, table, initial = [], onChange = () => {}) {
  const all = choices(cat, table);
  const rows = [];
  const list = h('div', { class: 'filters', 'data-testid': 'filters' });

  function addRow(init = {}) {
    const row = { field: init.field || '', type: init.type || 'text', operator: init.operator || 'EQUALS', value: init.value ?? '', value2: init.value2 ?? '' };
    const listId = 'values-' + (++listSeq);
    const datalist = h('datalist', { id: listId });
    const fieldSel = h('select', { 'aria-label': 'Property or field', 'data-testid': 'filter-field' },
      h('option', { value: '' }, 'Property or field…'));
    const groups = {};
    for (const c of all) {
      groups[c.group] ||= h('optgroup', { label: c.group });
      groups[c.group].append(h('option', { value: c.field }, c.label));
    }
    fieldSel.append(...Object.values(groups));
    fieldSel.value = row.field;
    const opSel = h('select', { 'aria-label': 'Comparison', 'data-testid': 'filter-op' }, OPERATORS.map(([v, t]) => h('option', { value: v }, t)));
    opSel.value = row.operator;
    const v1 = h('input', { 'aria-label': 'Value', 'data-testid': 'filter-value', list: listId, size: 16 });
    const v2 = h('input', { 'aria-label': 'Up to', 'data-testid': 'filter-value2', size: 16 });
    const remove = h('button', { type: 'button', class: 'link', 'aria-label': 'Remove filter', onclick: () => {
      rows.splice(rows.indexOf(row), 1);
      line.remove();
      onChange();
    } }, '✕');
    const line = h('div', { class: 'row filter' }, fieldSel, opSel, v1, v2, datalist, remove);

    function sync() {
      const c = all.find((x) => x.field === fieldSel.value);
      row.field = fieldSel.value;
      row.type = c ? c.type : 'text';
      row.operator = opSel.value;
      const inputType = row.type === 'date' ? 'datetime-local' : row.type === 'long' || row.type === 'double' ? 'number' : 'text';
      for (const v of [v1, v2]) if (v.type !== inputType) { v.type = inputType; v.value = ''; }
      if (inputType === 'number') { v1.step = 'any'; v2.step = 'any'; }
      v1.hidden = row.operator === 'IS_NULL' || row.operator === 'IS_NOT_NULL';
      v2.hidden = row.operator !== 'BETWEEN';
      row.value = row.type === 'date' && v1.value ? new Date(v1.value).getTime() : v1.value;
      row.value2 = row.type === 'date' && v2.value ? new Date(v2.value).getTime() : v2.value;
    }
    async function fillValues() {
      clear(datalist);
      if (!row.field || row.type === 'date') return;
      try {
        const r = await usql(`SELECT ${row.field} AS v, COUNT(*) AS n FROM ${table} WHERE ${row.field} IS NOT NULL GROUP BY ${row.field} ORDER BY n DESC LIMIT 50`, { includeLive: 'true' });
        for (const [v] of r.values) datalist.append(h('option', { value: String(v) }));
      } catch { /* no value picker for this field: typing still works */ }
    }
    fieldSel.addEventListener('change', () => { sync(); fillValues(); onChange(); });
    opSel.addEventListener('change', () => { sync(); onChange(); });
    v1.addEventListener('input', sync);
    v2.addEventListener('input', sync);
    sync();
    if (init.value !== undefined) {
      v1.value = row.type === 'date' && init.value ? new Date(Number(init.value)).toISOString().slice(0, 16) : init.value;
      v2.value = row.type === 'date' && init.value2 ? new Date(Number(init.value2)).toISOString().slice(0, 16) : init.value2 ?? '';
      sync();
    }
    if (row.field) fillValues();
    rows.push(row);
    list.append(line);
  }

  for (const f of initial) addRow(f);
  if (!initial.length) addRow();
  const add = h('button', { type: 'button', class: 'link', 'data-testid': 'add-filter', onclick: () => addRow() }, '+ filter');
  return { el: h('div', {}, list, add), get: () => rows.filter((r) => r.field).map((r) => ({ ...r })) };
}
