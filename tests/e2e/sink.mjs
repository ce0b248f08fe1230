// A beacon sink and static server for the end-to-end tests: it serves the built agent
// (www/dist) and the test pages, records every beacon body it is sent, and can answer 503 at
// random or refuse connections, as a flaky or unreachable collector would.
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOTS = { '/dist/': snapshotDist(path.join(here, '../../www/dist')), '/pages/': path.join(here, 'pages') };

// The agent is served from a copy of www/dist made when this module loads: another build in the
// same tree (scripts/build-agent.sh empties www/dist first) must not pull it away mid-test.
function snapshotDist(dist) {
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'rumprops-e2e-dist-'));
  process.on('exit', () => fs.rmSync(copy, { recursive: true, force: true }));
  const complete = (dir) => ['rumprops.js', 'pkg/rumprops_bg.wasm'].every((f) => fs.existsSync(path.join(dir, f)));
  for (let tries = 0; tries < 100; tries++) {
    try {
      if (complete(dist)) {
        fs.cpSync(dist, copy, { recursive: true });
        if (complete(copy)) return copy;
      }
    } catch (e) { /* a build replaced it meanwhile: try again */ }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
  }
  throw new Error('no complete build in ' + dist + ' (run scripts/build-agent.sh)');
}
const TYPES = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.json': 'application/json' };

export async function startSink() {
  const sink = {
    beacons: [],        // parsed bodies, in arrival order
    raw: [],            // { body, headers }
    mode: 'ok',         // 'ok' | 'flaky' (503 to a third, at random) | 'down' (connection reset)
    refused: 0,
    requests: 0,
    stray: [],          // requests that were neither a beacon nor a GET
    preflights: 0,      // CORS preflights (OPTIONS): beacons must never need one
    gets: [],           // the paths of every GET, in order
    csp: null,          // a Content-Security-Policy header for the pages (.html), when set
    pages: new Map(),   // more pages to serve: path -> HTML text
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (req.method === 'OPTIONS') {
      sink.preflights++;
      res.writeHead(204, cors(req)).end();
      return;
    }
    if (url.pathname === '/beacon' && req.method === 'POST') {
      let chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        sink.requests++;
        if (sink.mode === 'down') { sink.refused++; req.socket.destroy(); return; }
        if (sink.mode === 'flaky' && Math.random() < 1 / 3) { sink.refused++; res.writeHead(503, cors(req)).end(); return; }
        const body = Buffer.concat(chunks).toString('utf8');
        sink.raw.push({ body, headers: req.headers });
        try { sink.beacons.push(JSON.parse(body)); } catch (e) { sink.beacons.push({ unparsable: body }); }
        res.writeHead(204, cors(req)).end();
      });
      return;
    }
    if (url.pathname.startsWith('/api/status/')) {
      const code = Number(url.pathname.split('/').pop()) || 200;
      setTimeout(() => res.writeHead(code, { 'Content-Type': 'application/json' }).end('{}'), Number(url.searchParams.get('delay') || 20));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      // A post anywhere but /beacon is a bug (a beacon sent to the wrong URL): recorded, refused.
      sink.stray.push(req.method + ' ' + req.url);
      res.writeHead(405).end();
      return;
    }
    sink.gets.push(url.pathname);
    if (sink.pages.has(url.pathname)) {
      const headers = { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' };
      if (sink.csp) headers['Content-Security-Policy'] = sink.csp;
      res.writeHead(200, headers).end(sink.pages.get(url.pathname));
      return;
    }
    for (const [prefix, dir] of Object.entries(ROOTS)) {
      if (url.pathname.startsWith(prefix)) {
        const file = path.join(dir, path.normalize(url.pathname.slice(prefix.length)));
        if (!file.startsWith(dir) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) break;
        // `?delay=ms` answers late (a slow config or page resource).
        setTimeout(() => {
          const headers = { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-store' };
          if (sink.csp && file.endsWith('.html')) headers['Content-Security-Policy'] = sink.csp;
          res.writeHead(200, headers);
          fs.createReadStream(file).pipe(res);
        }, Number(url.searchParams.get('delay') || 0));
        return;
      }
    }
    res.writeHead(404).end('not found');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  sink.origin = `http://127.0.0.1:${server.address().port}`;
  sink.close = () => new Promise((r) => { server.closeAllConnections(); server.close(r); });
  sink.actions = () => sink.beacons.flatMap((b) => (b.actions || []).map((a) => ({ ...a, sid: b.sid })));
  return sink;
}

function cors(req) {
  return {
    'Access-Control-Allow-Origin': req.headers.origin || '*',
    'Access-Control-Allow-Methods': 'POST, OPTIONS',
    'Access-Control-Allow-Headers': 'Content-Type',
  };
}
