// A plain JavaScript implementation of the rule semantics (shared/DESIGN.md §2, docs/decisions.md),
// the yardstick for rumprops' capture cost. It is what a careful hand-written agent would do:
// rules compiled once (regexes, paths), every source read again on each evaluation, then trim,
// cleanup, ignoreCase, typing and truncation. It returns the rows of rumprops.evaluateRules():
// [{key, source, value, reason}], so the benchmark can check both agree before timing.
//
// Where it is simpler than the agent (and why that does not matter for the bench's rules):
// cleanup patterns use JS RegExp (the bench's patterns mean the same in both dialects), and `$`
// JSON segments use JSON.parse (the bench's JSON has no integer beyond 2^53).
(function () {
  'use strict';
  const WS = '\t\n\f\r ';
  const isWs = (c) => WS.indexOf(c) >= 0;
  function trim(s) {
    let a = 0, b = s.length;
    while (a < b && isWs(s[a])) a++;
    while (b > a && isWs(s[b - 1])) b--;
    return a === 0 && b === s.length ? s : s.slice(a, b);
  }
  const collapse = (s) => s.split(/[\t\n\f\r ]+/).filter((w) => w !== '').join(' ');
  const asciiLower = (s) => s.replace(/[A-Z]+/g, (m) => m.toLowerCase());

  function css(rule) {
    const el = document.querySelector(rule.selector);
    if (!el) return ['not_found'];
    if (el.localName === 'input' && asciiLower(trim(el.getAttribute('type') || '')) === 'password') return ['sensitive_field'];
    if (rule.attribute != null) {
      const v = el.getAttribute(rule.attribute);
      return v === null ? ['not_found'] : [null, v];
    }
    const tag = el.localName;
    if (tag === 'input' || tag === 'select' || tag === 'textarea') return [null, el.value];
    return [null, collapse(el.textContent || '')];
  }

  function meta(rule) {
    const want = rule.nameLower;
    const metas = document.getElementsByTagName('meta');
    for (let i = 0; i < metas.length; i++) {
      const m = metas[i];
      const n = m.getAttribute('name'), p = m.getAttribute('property');
      if ((n !== null && asciiLower(n) === want) || (p !== null && asciiLower(p) === want)) {
        const c = m.getAttribute('content');
        return c === null ? ['not_found'] : [null, c];
      }
    }
    return ['not_found'];
  }

  function cookie(rule) {
    const pairs = document.cookie.split(';');
    for (let i = 0; i < pairs.length; i++) {
      const pair = pairs[i];
      const eq = pair.indexOf('=');
      const k = eq < 0 ? '' : pair.slice(0, eq);
      if (trim(k) !== rule.name) continue;
      const raw = trim(eq < 0 ? pair : pair.slice(eq + 1));
      try { return [null, decodeURIComponent(raw)]; } catch (e) { return [null, raw]; }
    }
    return ['not_found'];
  }

  function query(rule) {
    const href = location.href;
    const hash = href.indexOf('#');
    const before = hash < 0 ? href : href.slice(0, hash);
    const q = before.indexOf('?');
    const v = new URLSearchParams(q < 0 ? '' : before.slice(q + 1)).get(rule.name);
    return v === null ? ['not_found'] : [null, v];
  }

  function jsText(v, type) {
    if (v === undefined || v === null) return ['not_found'];
    switch (typeof v) {
      case 'string': return [null, v];
      case 'number': return Number.isFinite(v) ? [null, String(v)] : ['unsupported_value'];
      case 'boolean': return [null, v ? 'true' : 'false'];
      case 'bigint': return [null, v.toString()];
    }
    if (v instanceof Date) {
      const t = v.getTime();
      if (!Number.isFinite(t)) return ['unsupported_value'];
      return [null, type === 'string' ? v.toISOString() : String(t)];
    }
    return ['unsupported_value'];
  }

  function js(rule) {
    let cur = window;
    const plain = rule.plain;
    for (let i = 0; i < plain.length; i++) {
      if (cur === null || (typeof cur !== 'object' && typeof cur !== 'function')) return ['not_found'];
      try { cur = cur[plain[i]]; } catch (e) { return ['unsupported_value']; }
    }
    if (rule.json.length === 0) return jsText(cur, rule.type);
    if (cur === undefined || cur === null) return ['not_found'];
    if (typeof cur !== 'string') return ['unsupported_value'];
    for (const seg of rule.json) {
      if (seg.parse) {
        if (cur === null) return ['not_found'];
        if (typeof cur !== 'string') return ['unsupported_value'];
        try { cur = JSON.parse(cur); } catch (e) { return ['unsupported_value']; }
        if (seg.name === '') continue;
      }
      if (Array.isArray(cur)) {
        cur = /^(0|[1-9][0-9]*)$/.test(seg.name) ? cur[Number(seg.name)] : undefined;
      } else if (cur !== null && typeof cur === 'object') {
        cur = Object.prototype.hasOwnProperty.call(cur, seg.name) ? cur[seg.name] : undefined;
      } else {
        cur = undefined;
      }
      if (cur === undefined) return ['not_found'];
    }
    if (cur === null) return ['not_found'];
    if (typeof cur === 'string') return [null, cur];
    if (typeof cur === 'number') return [null, String(cur)];
    if (typeof cur === 'boolean') return [null, cur ? 'true' : 'false'];
    return ['unsupported_value'];
  }

  const LONG = /^[+-]?[0-9]+$/;
  const DOUBLE = /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/;
  const DATE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?(?:([Zz])|([+-])([0-9]{2}):([0-9]{2})))?$/;
  const I64_MIN = -(2n ** 63n), I64_MAX = 2n ** 63n - 1n;
  const inI64 = (s) => { const b = BigInt(s); return b >= I64_MIN && b <= I64_MAX; };
  const leap = (y) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

  function typed(s, type) {
    switch (type) {
      case 'string': return [null, s];
      case 'long':
        if (!LONG.test(s)) return ['not_a_long'];
        return inI64(s) ? [null, Number(s)] : ['out_of_range'];
      case 'double': {
        if (!DOUBLE.test(s)) return ['not_a_double'];
        const x = Number(s);
        return Number.isFinite(x) ? [null, x] : ['out_of_range'];
      }
      case 'date': {
        if (LONG.test(s)) return inI64(s) ? [null, Number(s)] : ['out_of_range'];
        const m = DATE.exec(s);
        if (!m) return ['not_a_date'];
        const y = +m[1], mo = +m[2], d = +m[3];
        if (mo < 1 || mo > 12 || d < 1 || d > (mo === 2 && leap(y) ? 29 : DAYS[mo - 1])) return ['not_a_date'];
        const day = daysFromCivil(y, mo, d) * 86400000;
        if (m[4] === undefined) return [null, day];
        const h = +m[4], mi = +m[5], sec = +m[6];
        if (h > 23 || mi > 59 || sec > 59) return ['not_a_date'];
        const ms = m[7] === undefined ? 0 : +(m[7] + '00').slice(0, 3);
        let off = 0;
        if (m[9] !== undefined) {
          const oh = +m[10], om = +m[11];
          if (oh > 23 || om > 59) return ['not_a_date'];
          off = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
        }
        return [null, day + ((h * 60 + mi - off) * 60 + sec) * 1000 + ms];
      }
    }
    return ['wrong_type'];
  }
  // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
  function daysFromCivil(y, m, d) {
    y -= m <= 2 ? 1 : 0;
    const era = Math.floor(y / 400);
    const yoe = y - era * 400;
    const doy = Math.floor((153 * ((m + 9) % 12) + 2) / 5) + d - 1;
    const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
    return era * 146097 + doe - 719468;
  }

  function finish(rule, raw) {
    let s = trim(raw);
    if (s === '') return ['empty'];
    if (rule.cleanup) {
      const m = rule.cleanup.exec(s);
      if (!m) return ['no_match'];
      const part = rule.group ? m[1] : m[0];
      if (part === undefined) return ['no_match'];
      s = trim(part);
      if (s === '') return ['empty'];
    }
    if (rule.ignoreCase) s = s.toLowerCase();
    const r = typed(s, rule.type);
    if (r[0] === null && rule.type === 'string' && r[1].length > rule.maxLength) {
      let out = '', n = 0;
      for (const ch of r[1]) { if (n++ === rule.maxLength) break; out += ch; }
      r[1] = out;
    }
    return r;
  }

  const READ = { css, meta, cookie, query, js };

  /** Compiles a rumprops config (version 1) and returns evaluate() → [{key, source, value, reason}]. */
  function compile(config) {
    const rules = config.properties.map((p) => {
      const kind = Object.keys(p.source).find((k) => k !== 'attribute');
      const r = { key: p.key, kind, type: p.type, ignoreCase: !!p.ignoreCase, maxLength: p.maxLength || 200 };
      if (p.cleanup) {
        r.cleanup = new RegExp(p.cleanup);
        r.group = new RegExp(p.cleanup + '|').exec('').length > 1;
      }
      if (kind === 'css') { r.selector = p.source.css; r.attribute = p.source.attribute; }
      if (kind === 'meta') r.nameLower = asciiLower(p.source.meta);
      if (kind === 'cookie') r.name = p.source.cookie;
      if (kind === 'query') r.name = p.source.query;
      if (kind === 'js') {
        const segs = p.source.js.split('.').map((raw) => (raw.startsWith('$$') ? { parse: false, name: raw.slice(1) }
          : raw.startsWith('$') ? { parse: true, name: raw.slice(1) } : { parse: false, name: raw }));
        const split = segs.findIndex((s) => s.parse);
        r.plain = (split < 0 ? segs : segs.slice(0, split)).map((s) => s.name);
        r.json = split < 0 ? [] : segs.slice(split);
      }
      r.read = READ[kind];
      return r;
    });
    return function evaluate() {
      const out = new Array(rules.length);
      for (let i = 0; i < rules.length; i++) {
        const rule = rules[i];
        let r = rule.read(rule);
        if (r[0] === null) r = finish(rule, r[1]);
        out[i] = { key: rule.key, source: rule.kind, value: r[0] === null ? r[1] : null, reason: r[0] };
      }
      return out;
    };
  }

  window.benchRef = { compile };
})();
