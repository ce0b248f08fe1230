// Shared set-up of the end-to-end tests: one Chromium per test file, and per test its own
// beacon sink and browser context, closed when the test ends.
import { after, before } from 'node:test';
import { startSink } from './sink.mjs';
import { launch, until } from './browser.mjs';

export { until };

let browser = null;

/** Call once at the top of a test file: launches Chromium before its tests, closes it after. */
export function useBrowser() {
  before(async () => { browser = await launch(); });
  after(async () => { if (browser) await browser.close(); browser = null; });
}

/**
 * A fresh sink and browser context for test `t`. `errors` collects the page errors and
 * console errors the test did not expect, per page, so a test can show them on failure.
 */
export async function setup(t, contextOptions = {}) {
  const sink = await startSink();
  const context = await browser.newContext(contextOptions);
  const log = [];
  const watch = (page) => {
    page.rumpropsLog = log;
    page.on('pageerror', (e) => log.push('pageerror: ' + e.message));
    page.on('console', (m) => { if (m.type() === 'warning' || m.type() === 'error') log.push(m.type() + ': ' + m.text()); });
    return page;
  };
  context.on('page', watch);
  t.after(async () => {
    await context.close();
    await sink.close();
    if (sink.stray.length) throw new Error('requests neither a beacon nor a GET: ' + sink.stray.join(', '));
  });
  const open = async (path) => {
    const page = await context.newPage();
    if (path) await page.goto(sink.origin + path);
    return page;
  };
  return { sink, context, open, log };
}

/** Waits until the agent's global exists and its module answers (evaluateRules gives an array). */
export async function ready(page) {
  try {
    await until(() => page.evaluate(() => {
      try { return Array.isArray(window.rumprops && window.rumprops.evaluateRules()); } catch (e) { return false; }
    }), 'the agent to start', 30000);
  } catch (e) {
    throw new Error(e.message + ' on ' + page.url() + '; page log: ' + (page.rumpropsLog || []).join(' | '));
  }
}

/** Every action the sink received, with its beacon's sid and seq, beacons deduplicated by (sid, seq). */
export function uniqueActions(sink) {
  const seen = new Set();
  const out = [];
  for (const b of sink.beacons) {
    const key = b.sid + '/' + b.seq;
    if (seen.has(key)) continue;
    seen.add(key);
    for (const a of b.actions || []) out.push({ ...a, sid: b.sid, seq: b.seq });
  }
  return out;
}

/** Waits until the sink has received an action matching `pred` (deduplicated), and returns it. */
export function action(sink, pred, what) {
  return until(() => uniqueActions(sink).find(pred), what);
}

/** The props of an action or session part as a flat {key: value} map, with each key's type. */
export function flatProps(props) {
  const out = {};
  for (const type of ['string', 'long', 'double', 'date']) {
    for (const [k, v] of Object.entries((props && props[type]) || {})) out[k] = { type, value: v };
  }
  return out;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
