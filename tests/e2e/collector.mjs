// The real collector for the end-to-end tests: `rumprops serve` (target/debug/rumprops) on an
// SQLite file in a fresh temporary directory, serving `site` as its static files, and its USQL
// /table endpoint.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Starts the collector. `site(dir)` names the static root (it may fill `dir` first). */
export async function startCollector(site) {
  const bin = path.join(root, 'target/debug/rumprops');
  assert.ok(fs.existsSync(bin), 'build the collector first (cargo build -p rumprops-collector)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rumprops-e2e-collector-'));
  const child = spawn(bin, ['serve', '--db', path.join(dir, 'e2e.db'), '--addr', '127.0.0.1:0', '--static', site(dir)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const base = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error('collector exited with ' + code)));
  });
  return {
    base,
    /** The answer of /api/v1/userSessionQueryLanguage/table to `query` (200 or the test fails). */
    async table(query, extra = '') {
      const res = await fetch(`${base}/api/v1/userSessionQueryLanguage/table?query=${encodeURIComponent(query)}${extra}`);
      const body = await res.json();
      assert.equal(res.status, 200, JSON.stringify(body));
      return body;
    },
    close() {
      child.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
