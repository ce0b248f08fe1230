// The real collector for the end-to-end tests: `target/debug/rumprops serve` on a fresh SQLite
// file in a temporary directory, on a free loopback port, serving `staticDir`.
import { spawn, execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Starts the collector; resolves to {base, dir, token, table(query, extra), stop()}. `scopes`:
 * the token's; `args`: more `serve` options.
 */
export async function startCollector(staticDir, { scopes = ['read'], args = [] } = {}) {
  const bin = path.join(root, 'target/debug/rumprops');
  assert.ok(fs.existsSync(bin), 'build the collector first (cargo build -p rumprops-collector)');
  assert.ok(fs.existsSync(path.join(root, 'www/dist/rumprops.js')), 'build the agent first (scripts/build-agent.sh)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rumprops-collector-'));
  // The API needs a token (as `make demo` creates one); beacons need none.
  const token = execFileSync(bin, ['token', 'create', ...scopes.flatMap((s) => ['--scope', s]), '--db', path.join(dir, 'collector.db')]).toString().trim();
  const proc = spawn(bin, ['serve', '--db', path.join(dir, 'collector.db'), '--addr', '127.0.0.1:0', '--static', staticDir, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const base = await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) resolve(m[1]);
    });
    proc.on('exit', (code) => reject(new Error('collector exited with ' + code)));
  });
  // A USQL query through /table: the parsed answer (status 200 asserted).
  async function table(query, extra = '') {
    const res = await fetch(`${base}/api/v1/userSessionQueryLanguage/table?query=${encodeURIComponent(query)}${extra}`, { headers: { Authorization: `Api-Token ${token}` } });
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    return body;
  }
  return {
    base,
    dir,
    token,
    table,
    stop() {
      proc.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
