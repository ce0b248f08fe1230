// Must show: clicks, route changes and custom actions are named and timed; request and
// request-error counts are right for fetch and XHR.
import test from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { useBrowser, setup, ready, action, uniqueActions, until } from './harness.mjs';

useBrowser();

function timed(a) {
  assert.equal(typeof a.start, 'number', a.name);
  assert.equal(typeof a.end, 'number', a.name);
  assert.ok(a.start <= a.end, `${a.name}: start ${a.start} <= end ${a.end}`);
  assert.ok(a.end - a.start <= 180000, `${a.name}: duration capped at 3 minutes`);
}

/** A port nothing listens on (a server opened and closed again). */
async function deadPort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise((r) => s.close(r));
  return port;
}

test('clicks are named from data-rumprops-name, aria-label and text, and count requests, request errors and JS errors', async (t) => {
  const { sink, open, log } = await setup(t);
  const page = await open('/pages/actions.html');
  await ready(page);
  await page.evaluate((url) => { window.deadUrl = url; }, `http://127.0.0.1:${await deadPort()}/x`);
  await action(sink, (a) => a.kind === 'load', 'the load action');

  // selector → [expected name, requests, requestErrors]
  const cases = [
    ['#inner', 'click on "Checkout"', 0, 0],        // a child of the named element
    ['#labelled', 'click on "Close dialog"', 0, 0],
    ['#texted', 'click on "Next page"', 0, 0],
    ['#plain', 'click on "Plain div text"', 0, 0],
    ['#long', 'click on "' + 'ab '.repeat(60).trim().slice(0, 100) + '"', 0, 0],
    ['#multibyte', 'click on "x' + 'é'.repeat(99) + '"', 0, 0],  // 6001 bytes of text, cut inside a character
    ['#f200', 'click on "fetch 200"', 1, 0],
    ['#f404', 'click on "fetch 404"', 1, 1],
    ['#f500', 'click on "fetch 500"', 1, 1],
    ['#fdead', 'click on "fetch dead"', 1, 1],
    ['#x200', 'click on "xhr 200"', 1, 0],
    ['#x404', 'click on "xhr 404"', 1, 1],
    ['#x500', 'click on "xhr 500"', 1, 1],
    ['#mixed', 'click on "mixed"', 3, 1],
    ['#xbad', 'click on "xhr bad"', 1, 1],          // send() threw: a failed request, and the action still ends
    ['#xreuse', 'click on "xhr reused"', 2, 1],     // one XHR object, two requests
    ['#xreopen', 'click on "xhr reopened"', 2, 1],  // the first, cancelled by open(), failed
    ['#throws', 'click on "throws"', 0, 0, 1],      // an `error` event
    ['#rejects', 'click on "rejects"', 1, 0, 1],    // an `unhandledrejection` event
  ];
  for (const [sel, name, requests, errors, jsErrors = 0] of cases) {
    await page.click(sel);
    // One click at a time: requests belong to the newest open action.
    const a = await action(sink, (x) => x.kind === 'click' && x.name === name, name + '; page log: ' + log.join(' | '));
    timed(a);
    assert.equal(a.requests, requests, name + ': requests');
    assert.equal(a.requestErrors, errors, name + ': requestErrors');
    assert.equal(a.jsErrors, jsErrors, name + ': jsErrors');
    assert.ok(a.url.endsWith('/pages/actions.html'), a.url);
    // A click lasts until its requests are done: the first of the chain alone is answered
    // after 60 ms.
    if (sel === '#mixed') assert.ok(a.end - a.start >= 60, `${name}: ends after its requests (${a.end - a.start} ms)`);
  }
  const clicks = uniqueActions(sink).filter((a) => a.kind === 'click');
  assert.equal(clicks.length, cases.length, 'one action per click: ' + clicks.map((a) => a.name).join(', '));
});

test('route changes (pushState, replaceState, popstate, hash) and custom actions are named and timed', async (t) => {
  const { sink, open } = await setup(t);
  const page = await open('/pages/actions.html');
  await ready(page);
  await action(sink, (a) => a.kind === 'load', 'the load action');
  const routes = () => uniqueActions(sink).filter((a) => a.kind === 'route');
  const step = async (fn, arg, count) => {
    await page.evaluate(fn, arg);
    await until(() => routes().length >= count, `route action ${count}`);
  };
  await step(() => history.pushState({}, '', '/pages/route/one?r=1'), null, 1);
  await step(() => history.replaceState({}, '', '/pages/route/two?r=2'), null, 2);
  await step(() => history.pushState({}, '', '/pages/route/three?r=3'), null, 3);
  await step(() => history.back(), null, 4);                           // popstate
  await step(() => { location.hash = 'details'; }, null, 5);           // hashchange (and popstate): one action
  // A history call that does not change the URL is no route change.
  await page.evaluate(() => history.replaceState({ x: 1 }, ''));
  const id = await page.evaluate(() => {
    const id = rumprops.enterAction('Search flights');
    fetch('/api/status/500').then(() => rumprops.leaveAction(id));
    return id;
  });
  assert.match(id, /^a[0-9]+$/);
  const custom = await action(sink, (a) => a.kind === 'custom', 'the custom action');
  await page.evaluate(() => rumprops.flush());

  const got = routes();
  assert.deepEqual(got.map((a) => a.name), ['/pages/route/one', '/pages/route/two', '/pages/route/three', '/pages/route/two', '/pages/route/two']);
  assert.deepEqual(got.map((a) => a.url.replace(sink.origin, '')),
    ['/pages/route/one?r=1', '/pages/route/two?r=2', '/pages/route/three?r=3', '/pages/route/two?r=2', '/pages/route/two?r=2#details']);
  assert.deepEqual(got.map((a) => a.props.string.route), ['1', '2', '3', '2', '2'], 'rules run at the end of each route action');
  got.forEach(timed);

  assert.equal(custom.id, id);
  assert.equal(custom.name, 'Search flights');
  timed(custom);
  assert.equal(custom.requests, 1, 'the request made inside the custom action');
  assert.equal(custom.requestErrors, 1);
  // Ids are unique and numbered in the session.
  const all = uniqueActions(sink);
  assert.equal(new Set(all.map((a) => a.id)).size, all.length);
});
