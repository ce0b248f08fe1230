//! A real ClickHouse server for the tests: Debian's `/usr/sbin/clickhouse-server` (installed by
//! `scripts/setup.sh`) started once per test binary on free loopback ports, with its data in a
//! temporary directory. A watchdog shell kills the server and removes the directory once the test
//! process is gone. A test that cannot start it fails: there is no silent skip.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const SERVER: &str = "/usr/sbin/clickhouse-server";

/// The running server: its HTTP address.
pub struct ClickHouse {
    pub http: SocketAddr,
}

static SERVER_ONCE: OnceLock<ClickHouse> = OnceLock::new();

/// The server of this test binary, started on first use.
pub fn server() -> &'static ClickHouse {
    SERVER_ONCE.get_or_init(|| start().unwrap_or_else(|e| panic!("cannot start ClickHouse: {e}")).0)
}

/// A server of one test's own, which the test may stop ([`Own::stop`]).
pub struct Own {
    pub ch: ClickHouse,
    dir: std::path::PathBuf,
}

/// Starts a server for one test.
pub fn start_own() -> Own {
    let (ch, dir) = start().unwrap_or_else(|e| panic!("cannot start ClickHouse: {e}"));
    Own { ch, dir }
}

impl Own {
    /// Kills the server (SIGKILL, from its watchdog) and waits until its port refuses.
    pub fn stop(&self) {
        let _ = std::fs::write(self.dir.join("stop"), b"");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&self.ch.http, Duration::from_millis(200)).is_ok() {
            assert!(Instant::now() < deadline, "ClickHouse did not stop");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A fresh, empty database on the shared server, for one test: its name.
pub fn fresh_database() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!("t{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
    let ch = server();
    ch.query(&format!("CREATE DATABASE {name}")).unwrap();
    name
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn config(dir: &std::path::Path, http: u16, tcp: u16, interserver: u16) -> String {
    let d = dir.display();
    format!(
        r#"<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/error.log</errorlog><console>0</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  <interserver_http_port>{interserver}</interserver_http_port>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <user_files_path>{d}/user_files/</user_files_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <mlock_executable>false</mlock_executable>
</yandex>
"#
    )
}

const USERS: &str = r#"<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
"#;

fn start() -> Result<(ClickHouse, std::path::PathBuf), String> {
    if !std::path::Path::new(SERVER).exists() {
        return Err(format!("{SERVER} is missing: run scripts/setup.sh"));
    }
    // A port taken between the probe and the server's bind: try again on others.
    let mut last = String::new();
    for _ in 0..3 {
        let dir = tempfile::Builder::new().prefix("rumprops-ch-").tempdir().map_err(|e| e.to_string())?.keep();
        let (http, tcp, inter) = (free_port(), free_port(), free_port());
        let cfg = dir.join("config.xml");
        std::fs::write(&cfg, config(&dir, http, tcp, inter)).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("users.xml"), USERS).map_err(|e| e.to_string())?;
        // The watchdog: runs the server, and kills it and removes its directory when this test
        // process ends (however it ends), when the server exits, or when a `stop` file appears.
        let script = format!(
            "{SERVER} --config={cfg} >{d}/stdout.log 2>&1 & srv=$!; \
             while kill -0 {me} 2>/dev/null && kill -0 $srv 2>/dev/null && [ ! -e {d}/stop ]; do sleep 0.2; done; \
             kill -9 $srv 2>/dev/null; wait $srv 2>/dev/null; rm -rf {d}",
            cfg = cfg.display(),
            d = dir.display(),
            me = std::process::id()
        );
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run sh: {e}"))?;
        let ch = ClickHouse { http: SocketAddr::from(([127, 0, 0, 1], http)) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match ch.query("SELECT 1") {
                Ok(body) if body.trim() == "1" => return Ok((ch, dir)),
                Ok(_) | Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
            if !dir.exists() {
                break; // the server exited and the watchdog cleaned up
            }
        }
        last = std::fs::read_to_string(dir.join("error.log")).unwrap_or_else(|_| "no answer within 30 s".to_owned());
    }
    Err(last)
}

impl ClickHouse {
    /// Runs one statement over HTTP; the body on 200, else the server's message.
    pub fn query(&self, sql: &str) -> Result<String, String> {
        self.query_in("default", sql)
    }

    /// [`ClickHouse::query`] in database `db`.
    pub fn query_in(&self, db: &str, sql: &str) -> Result<String, String> {
        let mut s = TcpStream::connect_timeout(&self.http, Duration::from_secs(2)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
        let head = format!(
            "POST /?database={db} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            self.http,
            sql.len()
        );
        s.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
        s.write_all(sql.as_bytes()).map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
        let r = super::parse_response(&raw);
        if r.status == 200 {
            Ok(r.body)
        } else {
            Err(format!("{}: {}", r.status, r.body))
        }
    }

    /// The HTTP URL of database `db`, as `serve --store` takes it.
    pub fn store_url(&self, db: &str) -> String {
        format!("clickhouse://{}/{db}", self.http)
    }
}
