// The rule-fixture table (tests/cases.json) through the built agent in Chromium: each case is a
// page of its own (the fixture's HTML, its cookies and query, the agent's script tag with the
// case's one rule as its config), its globals set and its browser-only script run on the live
// page, and `evaluateRules()` must give the case's expected value or reason. Once with the
// WebAssembly module, once through the fallback on the same pages with a Content Security
// Policy that refuses WebAssembly (`script-src 'self'`). tests/browser.rs runs the same table
// in Chromium through the crate's own page reader, tests/fixtures.rs natively.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { useBrowser, setup, until } from './harness.mjs';

useBrowser();

const cases = JSON.parse(fs.readFileSync(new URL('../cases.json', import.meta.url), 'utf8'));
const attr = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;');

for (const csp of [null, "script-src 'self'"]) {
  test('the fixture table through the agent' + (csp ? ', through the fallback (' + csp + ')' : ''), async (t) => {
    const { sink, context } = await setup(t);
    sink.csp = csp;
    const page = await context.newPage();
    let warnings = [];
    page.on('console', (m) => { if (m.type() === 'warning') warnings.push(m.text()); });
    page.on('pageerror', (e) => warnings.push('pageerror: ' + e.message));
    const failures = [];
    for (let i = 0; i < cases.length; i++) {
      const c = cases[i];
      const config = { version: 1, app: 'fixtures', collector: '/beacon', ...(c.hashSalt === undefined ? {} : { hashSalt: c.hashSalt }), properties: [c.rule] };
      // The fixture as it is (a document without a doctype parses as DOMParser parses it), the
      // agent's script tag after it.
      sink.pages.set('/case/' + i, (c.html || '') + '<script src="/dist/rumprops.js" data-config="' + attr(JSON.stringify(config)) + '"></script>');
      await context.clearCookies();
      if (c.cookie) {
        await context.addCookies(c.cookie.split(';').map((p) => p.trim()).filter(Boolean).map((p) => {
          const at = p.indexOf('=');
          return { name: p.slice(0, at), value: p.slice(at + 1), url: sink.origin };
        }));
      }
      warnings = [];
      await page.goto(sink.origin + '/case/' + i + (c.query || ''));
      const want = c.expect;
      let got;
      if (want.configError) {
        const w = await until(() => warnings.find((x) => x.startsWith('rumprops: config refused: ')), 'the config warning of ' + c.name, 10000).catch(() => null);
        if (!w || !w.slice('rumprops: config refused: '.length).startsWith(want.configError)) failures.push(c.name + ': warned ' + w);
        continue;
      }
      await until(() => page.evaluate(() => Array.isArray(window.rumprops && window.rumprops.evaluateRules())), 'the agent on ' + c.name, 10000);
      // Globals, as tests/browser.rs sets them (JSON.parse), and the browser-only script with
      // `doc` the document; then the rule, read live.
      got = await page.evaluate(([js, code]) => {
        if (js) Object.assign(window, JSON.parse(js));
        if (code) (0, eval)('(function (doc) {' + code + '\n})')(document);
        return window.rumprops.evaluateRules()[0];
      }, [c.js ? JSON.stringify(c.js) : null, c.browserJs || null]);
      const ok = want.skipped ? got.value === null && got.reason === null
        : 'value' in want ? got.reason === null && got.value === want.value
        : got.reason === want.reason && got.value === null;
      if (!ok) failures.push((c.name + ': got ' + JSON.stringify(got) + ', want ' + JSON.stringify(want)).slice(0, 400));
      if (warnings.length) failures.push(c.name + ': ' + warnings.join(' | '));
    }
    assert.deepEqual(failures, [], failures.length + ' of ' + cases.length + ' cases failed');
    const module = csp ? '/dist/pkg/rumprops_fallback.js' : '/dist/pkg/rumprops_bg.wasm';
    const other = csp ? '/dist/pkg/rumprops_bg.wasm' : '/dist/pkg/rumprops_fallback.js';
    assert.ok(sink.gets.includes(module) && !sink.gets.includes(other), 'the pages ran ' + module);
  });
}
