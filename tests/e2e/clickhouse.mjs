// A real ClickHouse server for the end-to-end tests: Debian's /usr/sbin/clickhouse-server
// (installed by scripts/setup.sh) on free loopback ports, its data in a temporary directory.
// A watchdog shell kills the server and removes the directory once this Node process is gone,
// however it ends. A server that cannot start fails the test: there is no silent skip.
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const SERVER = '/usr/sbin/clickhouse-server';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function config(dir, http, tcp, interserver) {
  return `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/server.log</log><errorlog>${dir}/error.log</errorlog><console>0</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${http}</http_port>
  <tcp_port>${tcp}</tcp_port>
  <interserver_http_port>${interserver}</interserver_http_port>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <mlock_executable>false</mlock_executable>
</yandex>
`;
}

const USERS = `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
`;

/**
 * Starts a server; resolves to {http, url(db), query(sql), stop()}. `url(db)` is the
 * `serve --store` URL of database `db`.
 */
export async function startClickHouse() {
  assert.ok(fs.existsSync(SERVER), `${SERVER} is missing: run scripts/setup.sh`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rumprops-ch-'));
  const [http, tcp, inter] = [await freePort(), await freePort(), await freePort()];
  fs.writeFileSync(path.join(dir, 'config.xml'), config(dir, http, tcp, inter));
  fs.writeFileSync(path.join(dir, 'users.xml'), USERS);
  const script = `${SERVER} --config=${dir}/config.xml >>${dir}/stdout.log 2>&1 & srv=$!; `
    + `while kill -0 ${process.pid} 2>/dev/null && kill -0 $srv 2>/dev/null && [ ! -e ${dir}/stop ]; do sleep 0.2; done; `
    + `kill -9 $srv 2>/dev/null; wait $srv 2>/dev/null; rm -rf ${dir}`;
  const watchdog = spawn('sh', ['-c', script], { stdio: 'ignore', detached: true });
  watchdog.unref();
  const base = `http://127.0.0.1:${http}`;
  async function query(sql) {
    const res = await fetch(`${base}/`, { method: 'POST', body: sql });
    const text = await res.text();
    if (!res.ok) throw new Error(`ClickHouse answered ${res.status}: ${text.trim()}`);
    return text;
  }
  const deadline = Date.now() + 60000;
  for (;;) {
    try {
      if ((await query('SELECT 1')).trim() === '1') break;
    } catch { /* not up yet */ }
    if (!fs.existsSync(dir)) throw new Error('clickhouse-server exited at start');
    if (Date.now() > deadline) {
      const log = fs.existsSync(path.join(dir, 'error.log')) ? fs.readFileSync(path.join(dir, 'error.log'), 'utf8') : '';
      throw new Error('clickhouse-server gave no answer within 60 s: ' + log.slice(-2000));
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    http: `127.0.0.1:${http}`,
    url: (db) => `clickhouse://127.0.0.1:${http}/${db}`,
    query,
    stop() {
      try { fs.writeFileSync(path.join(dir, 'stop'), ''); } catch { /* already gone */ }
    },
  };
}
