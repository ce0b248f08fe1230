// Must show: a hostile page (throwing getters, throwing proxies, cycles, a 10 MB string, a
// replaced fetch, JSON and Array.prototype, an invalid config) sees zero errors from the agent
// in its own window.onerror / unhandledrejection handlers, and the agent still sends.
import test from 'node:test';
import assert from 'node:assert/strict';
import { useBrowser, setup, ready, action, uniqueActions, until, sleep, flatProps } from './harness.mjs';

useBrowser();

// The page's own error handlers, installed before anything else runs, and a few controls the
// test clicks (page.evaluate itself needs the Array.prototype the page replaces; clicks and
// text reads run in Playwright's own isolated world). Nothing here uses Array.prototype or JSON.
function installHandlers() {
  window.__errors = [];
  const note = (s) => { window.__errors[window.__errors.length] = String(s); };
  window.onerror = (msg, src, line) => { note('error: ' + msg + ' at ' + src + ':' + line); };
  window.addEventListener('unhandledrejection', (e) => { note('rejection: ' + ((e.reason && e.reason.stack) || e.reason)); });

  // Calls every API function with hostile arguments; returns how many calls threw.
  function hammer() {
    let thrown = 0;
    const tryIt = (f) => { try { f(); } catch (e) { thrown++; note('API threw: ' + e); } };
    const r = window.rumprops;
    const odd = [undefined, null, 0, NaN, '', 'x'.repeat(100000), window.prox, window.cyclic, true, Symbol('q'), 10n, () => 1];
    for (let i = 0; i < odd.length; i++) {
      const v = odd[i];
      tryIt(() => r.addActionProperties(v, v));
      tryIt(() => r.addActionProperties(null, { string: v, long: v, double: v, date: v }));
      tryIt(() => r.sendSessionProperties(v));
      tryIt(() => r.identifyUser(v));
      tryIt(() => r.leaveAction(r.enterAction(v)));
      tryIt(() => r.init(v));
    }
    tryIt(() => r.addActionProperties(null, window.prox));
    tryIt(() => r.sendSessionProperties({ string: window.prox }));
    tryIt(() => r.sendSessionProperties({ long: window.cyclic }));
    tryIt(() => { const id = r.enterAction('api'); r.addActionProperties(id, { string: { note: window.huge } }); r.leaveAction(id); });
    tryIt(() => r.evaluateRules());
    tryIt(() => r.flush());
    return thrown;
  }
  const controls = {
    __hammer: () => String(hammer()),
    __flush: () => { window.rumprops.flush(); return 'flushed'; },
    __back: () => { history.back(); return 'back'; },
    __hide: () => {
      Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
      Object.defineProperty(document, 'visibilityState', { value: 'visible', configurable: true });
      return 'hidden';
    },
    __report: () => { let s = ''; for (let i = 0; i < window.__errors.length; i++) s += window.__errors[i] + '\n'; return s; },
  };
  document.addEventListener('DOMContentLoaded', () => {
    const out = document.createElement('pre');
    out.id = '__out';
    document.body.appendChild(out);
    for (const id in controls) {
      const b = document.createElement('button');
      b.id = id;
      b.textContent = id;
      b.addEventListener('click', () => { out.textContent = controls[id](); });
      document.body.appendChild(b);
    }
  });
}

/** Clicks one of the controls and returns what it wrote. */
async function control(page, id) {
  await page.click('#' + id);
  return page.textContent('#__out');
}
const errorList = async (page) => (await control(page, '__report')).split('\n').filter((s) => s !== '');

test('a hostile page sees no error from the agent, and the agent still sends', async (t) => {
  const { sink, context, open, log } = await setup(t);
  await context.addInitScript(installHandlers);
  const page = await open('/pages/hostile.html');
  await action(sink, (a) => a.kind === 'load', 'the load action; page log: ' + log.join(' | '));
  await page.click('#go');
  assert.equal(await control(page, '__hammer'), '0', 'no API call throws');
  await control(page, '__flush');
  const click = await action(sink, (a) => a.kind === 'click', 'the click action');
  await until(() => uniqueActions(sink).some((a) => a.kind === 'route'), 'the route action');
  await control(page, '__back');
  await control(page, '__hide');
  await sleep(500);
  assert.deepEqual(await errorList(page), [], 'errors in the page\'s own handlers');

  // The rules read what they can; everything else is an issue, never an exception.
  const props = flatProps(click.props);
  assert.equal(props.title.value, 'Hostile');
  assert.equal(props.cyclic_name.value, 'loop');
  assert.equal(props.huge.value, 'x'.repeat(1000));
  assert.equal(props.huge_json.value, 'y'.repeat(10));
  assert.equal(props.huge_json_n.value, 7);
  assert.equal(props.big.value, 123);
  assert.equal(click.requests, 1, 'the request through the page\'s own fetch');
  assert.equal(click.requestErrors, 1);
  const beacon = sink.beacons.find((b) => b.sid === click.sid && b.seq === click.seq);
  const issues = Object.fromEntries(beacon.issues.map((i) => [i.key, i.reason]));
  for (const key of ['trap', 'deep', 'prox', 'prox_member', 'callable', 'cyclic', 'weird', 'sym']) {
    assert.equal(issues[key], 'unsupported_value', key);
  }
  assert.equal(issues.visits, 'not_found', 'a cookie rule with document.cookie denied');
  // Without storage the session lives in memory: every beacon of the page has one session.
  assert.equal(new Set(sink.beacons.map((b) => b.sid)).size, 1);
  const custom = await action(sink, (a) => a.kind === 'custom' && a.name === 'api', 'the API action');
  assert.equal(custom.props.string.note.length, 200, 'an API string is cut to maxLength');
});

test('an invalid or unparsable config leaves the agent inert, without errors', async (t) => {
  const { sink, context, open, log } = await setup(t);
  await context.addInitScript(installHandlers);
  for (const path of ['/pages/hostile-bad.html', '/pages/hostile-inline.html']) {
    const page = await open(path);
    await until(() => log.some((l) => l.includes('rumprops: config refused') && l.includes(path === '/pages/hostile-bad.html' ? 'sesion' : '')), 'the config warning for ' + path + ': ' + log.join(' | '));
    await page.click('#go');
    assert.equal(await control(page, '__hammer'), '0', 'no API call throws');
    await sleep(700);
    assert.deepEqual(await errorList(page), [], path + ': errors in the page\'s own handlers');
  }
  assert.equal(sink.requests, 0, 'nothing sent');

  // init() with a config object that is cyclic, or shares one subtree everywhere (4^32 paths),
  // is refused instead of hanging the page: the call answers undefined at once (the script tag
  // fetches the serializer of config objects, pkg/rumprops_json.js, first), and the refusal
  // follows once it ran.
  const warned = () => log.filter((l) => l.includes('config refused')).length;
  const before = warned();
  const page = await open('/pages/hostile-bad.html');
  await until(() => warned() > before, 'the page\'s config warning');
  const refused = await Promise.race([
    page.evaluate(() => {
      const a = { version: 1, app: 'x', collector: '/beacon' };
      a.x = a; a.y = a; a.z = [a, a];
      return rumprops.init(a);
    }),
    new Promise((resolve) => setTimeout(() => resolve('still running after 10 s'), 10000)),
  ]);
  assert.equal(refused, undefined);
  await until(() => log.some((l) => l.includes('config refused: config: cyclic')), 'the cyclic config refused: ' + log.join(' | '));
  // Once the serializer is there, init() with an object answers at once.
  assert.equal(await page.evaluate(() => rumprops.init({ version: 1, app: 'x' })), false);
  assert.deepEqual(await errorList(page), []);
});

// A page that enforces Trusted Types refuses a script URL given as text: the loader cannot add
// the dtrum shim there (nor a fallback or part), and must say nothing into the page for it; the
// agent itself (the module, fetched and compiled) runs as on any page.
test('a page enforcing Trusted Types: the agent runs, the dtrum shim is left out, nothing throws', async (t) => {
  const { sink, open, log } = await setup(t);
  sink.pages.set('/pages/trusted-types.html', `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<meta http-equiv="Content-Security-Policy" content="require-trusted-types-for 'script'">
<script>window.__errors = []; window.onerror = (m) => { window.__errors.push(String(m)); };</script>
<script src="/dist/rumprops.js" data-dtrum="true" data-config='{"version":1,"app":"tt","collector":"/beacon","batch":{"maxActions":1},"properties":[{"key":"title","type":"string","source":{"css":"h1"}}]}'></script>
</head><body><h1>Trusted</h1><button id="go">Go</button></body></html>`);
  const page = await open('/pages/trusted-types.html');
  await ready(page);
  await page.click('#go');
  const click = await action(sink, (a) => a.kind === 'click', 'the click action');
  assert.deepEqual(flatProps(click.props), { title: { type: 'string', value: 'Trusted' } });
  assert.deepEqual(await page.evaluate(() => [typeof window.dtrum, window.__errors]), ['undefined', []]);
  assert.ok(!sink.gets.includes('/dist/dtrum.js'));
  assert.deepEqual(log.filter((l) => l.startsWith('pageerror') || l.includes('rumprops')), []);
});
