// The bench's page server on 127.0.0.1: the generated page (page.mjs) per agent variant, the built
// agent (www/dist), the peers' bundles (bench/node_modules), the JS reference, and an intake that
// answers the peers' beacons (202) and counts them. rumprops' own beacons go to the end-to-end
// tests' sink (tests/e2e/sink.mjs), whose 'down' mode the memory bench uses.
//
// With ?isolated=1 the page is cross-origin isolated (COOP + COEP), which gives performance.now()
// 5 µs resolution instead of 100 µs; every file is served with CORP so the page may load it.
// With ?csp=1 the page's Content Security Policy refuses WebAssembly (`script-src 'self'
// 'unsafe-inline'`, no 'wasm-unsafe-eval'), so the agent runs its plain-JS fallback.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pageHtml } from './page.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOTS = {
  '/dist/': path.join(here, '../www/dist'),
  '/peers/': path.join(here, 'node_modules'),
  '/bench/': path.join(here, 'pages'),
  '/named/': path.join(here, 'out/named'),
};
const TYPES = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.json': 'application/json' };

/** `configs(variant)` gives the rumprops config for a page variant. */
export async function startServer(configs) {
  const srv = { intake: {} }; // path prefix → { requests, bytes }
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const isolation = url.searchParams.get('isolated') === '1'
      ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } : {};
    if (url.searchParams.get('csp') === '1') isolation['Content-Security-Policy'] = "script-src 'self' 'unsafe-inline'";
    if (req.method === 'OPTIONS') {
      res.writeHead(204, cors(req)).end();
      return;
    }
    if (url.pathname.startsWith('/intake/')) {
      let n = 0;
      req.on('data', (c) => { n += c.length; });
      req.on('end', () => {
        const key = url.pathname.split('/')[2];
        const s = (srv.intake[key] ||= { requests: 0, bytes: 0 });
        s.requests++;
        s.bytes += n;
        res.writeHead(202, { ...cors(req), 'Content-Type': 'application/json' }).end('{}');
      });
      return;
    }
    const m = url.pathname.match(/^\/page\/([a-z0-9]+)$/);
    if (m) {
      let html;
      try {
        html = pageHtml(m[1], { config: configs(m[1]), intake: srv.origin });
      } catch (e) {
        res.writeHead(404).end(String(e));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', ...isolation }).end(html);
      return;
    }
    for (const [prefix, dir] of Object.entries(ROOTS)) {
      if (url.pathname.startsWith(prefix)) {
        const file = path.join(dir, path.normalize(decodeURIComponent(url.pathname.slice(prefix.length))));
        if (!file.startsWith(dir) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) break;
        res.writeHead(200, {
          'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream',
          'Cache-Control': 'no-store',
          'Cross-Origin-Resource-Policy': 'cross-origin',
        });
        fs.createReadStream(file).pipe(res);
        return;
      }
    }
    res.writeHead(404).end('not found');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  srv.origin = `http://127.0.0.1:${server.address().port}`;
  srv.close = () => new Promise((r) => { server.closeAllConnections(); server.close(r); });
  return srv;
}

function cors(req) {
  return {
    'Access-Control-Allow-Origin': req.headers.origin || '*',
    'Access-Control-Allow-Methods': 'POST, OPTIONS',
    'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] || 'Content-Type',
    'Cross-Origin-Resource-Policy': 'cross-origin',
  };
}
