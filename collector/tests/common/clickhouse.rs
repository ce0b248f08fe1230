//! A real ClickHouse server for the tests: Debian's `/usr/sbin/clickhouse-server` (installed by
//! `scripts/setup.sh`) started once per test binary on free loopback ports, with its data in a
//! temporary directory; or a pair of them configured as the two shards of one cluster
//! ([`cluster`]). A watchdog shell kills a server and removes its directory once the test
//! process is gone. A test that cannot start its server fails: there is no silent skip.

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

/// A server of one test's own, which the test may kill and restart ([`Own::stop`], [`Own::restart`]).
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
    /// Kills the server (SIGKILL, from its watchdog) and waits until it is gone.
    pub fn stop(&self) {
        let _ = std::fs::write(self.dir.join("stop"), b"");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.dir.join("stopped").exists() || TcpStream::connect_timeout(&self.ch.http, Duration::from_millis(200)).is_ok() {
            assert!(Instant::now() < deadline, "ClickHouse did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs the stopped server again on its data and waits until it answers.
    pub fn restart(&self) {
        let _ = std::fs::write(self.dir.join("start"), b"");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if matches!(self.ch.query("SELECT 1"), Ok(b) if b.trim() == "1") {
                return;
            }
            assert!(Instant::now() < deadline, "ClickHouse did not restart");
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

/// A port free on both 127.0.0.1 and 127.0.0.2: the cluster's servers answer HTTP on the same
/// port, as a deployment's do, on two loopback addresses.
fn free_port_on_both() -> u16 {
    loop {
        let p = free_port();
        if TcpListener::bind(("127.0.0.2", p)).is_ok() {
            return p;
        }
    }
}

/// Where one server listens.
#[derive(Clone, Copy)]
struct Ports {
    host: [u8; 4],
    http: u16,
    tcp: u16,
    interserver: u16,
}

impl Ports {
    fn on(host: [u8; 4], http: u16) -> Ports {
        Ports { host, http, tcp: free_port(), interserver: free_port() }
    }

    fn ip(&self) -> String {
        self.host.map(|b| b.to_string()).join(".")
    }
}

/// The cluster the two-shard pair is configured as, in both servers' `remote_servers`.
pub const CLUSTER: &str = "rumprops_two_shards";

fn remote_servers(shards: &[Ports]) -> String {
    let shards: String = shards
        .iter()
        .map(|p| format!("<shard><replica><host>{}</host><port>{}</port></replica></shard>", p.ip(), p.tcp))
        .collect();
    format!("<remote_servers><{CLUSTER}>{shards}</{CLUSTER}></remote_servers>")
}

/// A server's configuration; `extra` is more of it (`remote_servers`, `zookeeper`, `macros`).
fn config(dir: &std::path::Path, ports: &Ports, extra: &str) -> String {
    let d = dir.display();
    let Ports { http, tcp, interserver, .. } = ports;
    let host = ports.ip();
    // The query log (flushed every 200 ms, or at SYSTEM FLUSH LOGS) lets tests count the
    // inserts a collector sent.
    format!(
        r#"<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/error.log</errorlog><console>0</console></logger>
  <listen_host>{host}</listen_host>
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
  <query_log><database>system</database><table>query_log</table><flush_interval_milliseconds>200</flush_interval_milliseconds></query_log>
  {extra}
</yandex>
"#
    )
}

const USERS: &str = r#"<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage><log_queries>1</log_queries></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.0/8</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
"#;

/// Writes a server's configuration into a new directory and runs it under a watchdog; it does
/// not wait for the server to answer ([`ready`]).
fn launch(ports: &Ports, extra: &str) -> Result<(ClickHouse, std::path::PathBuf), String> {
    let dir = tempfile::Builder::new().prefix("rumprops-ch-").tempdir().map_err(|e| e.to_string())?.keep();
    let cfg = dir.join("config.xml");
    std::fs::write(&cfg, config(&dir, ports, extra)).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("users.xml"), USERS).map_err(|e| e.to_string())?;
    // The watchdog: runs the server, and kills it and removes its directory when this test
    // process ends (however it ends) or when the server exits by itself. A `stop` file makes
    // it kill the server (SIGKILL) and wait for a `start` file to run it again on the same data.
    let script = format!(
        "run() {{ {SERVER} --config={cfg} >>{d}/stdout.log 2>&1 & srv=$!; }}; run; \
         while kill -0 {me} 2>/dev/null; do \
           if [ -e {d}/stop ]; then \
             kill -9 $srv 2>/dev/null; wait $srv 2>/dev/null; rm -f {d}/stop; touch {d}/stopped; \
             while kill -0 {me} 2>/dev/null && [ ! -e {d}/start ]; do sleep 0.2; done; \
             rm -f {d}/start {d}/stopped; run; \
           elif ! kill -0 $srv 2>/dev/null; then break; fi; \
           sleep 0.2; \
         done; \
         kill -9 $srv 2>/dev/null; wait $srv 2>/dev/null; rm -rf {d}",
        cfg = cfg.display(),
        d = dir.display(),
        me = std::process::id()
    );
    watchdog(script)?;
    let ch = ClickHouse { http: SocketAddr::from((ports.host, ports.http)) };
    Ok((ch, dir))
}

/// Runs a watchdog shell script in the background (it outlives no test process: each script
/// kills what it runs once this process is gone).
fn watchdog(script: String) -> Result<(), String> {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|e| format!("cannot run sh: {e}"))
}

/// Waits until a launched server answers, or says why it did not.
fn ready(ch: &ClickHouse, dir: &std::path::Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match ch.query("SELECT 1") {
            Ok(body) if body.trim() == "1" => return Ok(()),
            Ok(_) | Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
        if !dir.exists() {
            break; // the server exited and the watchdog cleaned up
        }
    }
    Err(std::fs::read_to_string(dir.join("error.log")).unwrap_or_else(|_| "no answer within 60 s".to_owned()))
}

fn start() -> Result<(ClickHouse, std::path::PathBuf), String> {
    if !std::path::Path::new(SERVER).exists() {
        return Err(format!("{SERVER} is missing: run scripts/setup.sh"));
    }
    // A port taken between the probe and the server's bind: try again on others.
    let mut last = String::new();
    for _ in 0..3 {
        let (ch, dir) = launch(&Ports::on([127, 0, 0, 1], free_port()), "")?;
        match ready(&ch, &dir) {
            Ok(()) => return Ok((ch, dir)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Two servers, each one shard of [`CLUSTER`]: the first on 127.0.0.1, the second on
/// 127.0.0.2, both answering HTTP on the same port. Each may be killed and restarted on its own.
pub struct Cluster {
    pub shards: Vec<Own>,
}

static CLUSTER_ONCE: OnceLock<Cluster> = OnceLock::new();

/// The two-shard cluster of this test binary, started on first use.
pub fn cluster() -> &'static Cluster {
    CLUSTER_ONCE.get_or_init(start_own_cluster)
}

/// A two-shard cluster of one test's own (to kill a shard of).
pub fn start_own_cluster() -> Cluster {
    start_cluster().unwrap_or_else(|e| panic!("cannot start the ClickHouse cluster: {e}"))
}

fn start_cluster() -> Result<Cluster, String> {
    start_pair(|ports, _| remote_servers(ports)).map(|shards| Cluster { shards })
}

/// Two servers on 127.0.0.1 and 127.0.0.2 (the same HTTP port), server `i` with the extra
/// configuration `extra(ports, i)`; tried three times on other ports if one does not come up
/// (a port taken between the probe and the server's bind).
fn start_pair(extra: impl Fn(&[Ports], usize) -> String) -> Result<Vec<Own>, String> {
    if !std::path::Path::new(SERVER).exists() {
        return Err(format!("{SERVER} is missing: run scripts/setup.sh"));
    }
    let mut last = String::new();
    for _ in 0..3 {
        let http = free_port_on_both();
        let ports = [Ports::on([127, 0, 0, 1], http), Ports::on([127, 0, 0, 2], http)];
        let mut servers = Vec::new();
        for (i, p) in ports.iter().enumerate() {
            let (ch, dir) = launch(p, &extra(&ports, i))?;
            servers.push(Own { ch, dir });
        }
        match servers.iter().try_for_each(|s| ready(&s.ch, &s.dir)) {
            Ok(()) => return Ok(servers),
            Err(e) => {
                last = e;
                // Kill what did start (its watchdog then waits, idle, until this process ends).
                for s in &servers {
                    let _ = std::fs::write(s.dir.join("stop"), b"");
                }
            }
        }
    }
    Err(last)
}

impl Cluster {
    /// The store URL of database `db` on the first shard's server, as `serve --store` takes it.
    pub fn store_url(&self, db: &str) -> String {
        self.shards[0].ch.store_url(db)
    }

    /// A name for a test's own database (the collectors create it on every shard).
    pub fn fresh_database(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        format!("c{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
    }
}

/// The cluster the replicated pair is configured as: one shard of two replicas.
pub const REPLICAS: &str = "rumprops_replicas";

/// Debian's ZooKeeper (package `zookeeper`, installed by `scripts/setup.sh`).
const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";

/// Two servers as the two replicas of one shard of [`REPLICAS`] (127.0.0.1 and 127.0.0.2, the
/// same HTTP port), sharing a ZooKeeper of their own, each with its `shard` and `replica`
/// macros. Either may be killed and restarted on its own.
pub struct Replicated {
    pub replicas: Vec<Own>,
}

/// A replicated pair of one test's own.
pub fn start_replicated() -> Replicated {
    start_replicated_pair().unwrap_or_else(|e| panic!("cannot start the replicated ClickHouse pair: {e}"))
}

/// Runs ZooKeeper (standalone) on a free loopback port under a watchdog that kills it and
/// removes its directory once this test process ends; waits until it answers `ruok`.
fn start_zookeeper() -> Result<u16, String> {
    if !std::path::Path::new(ZOOKEEPER_JAR).exists() {
        return Err(format!("{ZOOKEEPER_JAR} is missing: run scripts/setup.sh"));
    }
    let dir = tempfile::Builder::new().prefix("rumprops-zk-").tempdir().map_err(|e| e.to_string())?.keep();
    let port = free_port();
    let d = dir.display();
    std::fs::write(
        dir.join("zoo.cfg"),
        format!(
            "tickTime=500\ndataDir={d}/data\nclientPort={port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=ruok\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    let script = format!(
        "java -Xmx256m -Dzookeeper.log.dir={d} -cp /etc/zookeeper/conf:{ZOOKEEPER_JAR} \
           org.apache.zookeeper.server.ZooKeeperServerMain {d}/zoo.cfg >>{d}/zk.log 2>&1 & zk=$!; \
         while kill -0 {me} 2>/dev/null && kill -0 $zk 2>/dev/null; do sleep 0.2; done; \
         kill -9 $zk 2>/dev/null; wait $zk 2>/dev/null; rm -rf {d}",
        me = std::process::id()
    );
    watchdog(script)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_millis(500)) {
            // A ZooKeeper still starting may take the connection and not answer yet: the read
            // gives up after a second and the probe is sent again.
            let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
            let mut answer = String::new();
            if s.write_all(b"ruok").is_ok() && s.read_to_string(&mut answer).is_ok() && answer == "imok" {
                return Ok(port);
            }
        }
        if !dir.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("ZooKeeper did not answer: {}", std::fs::read_to_string(dir.join("zk.log")).unwrap_or_default()))
}

fn start_replicated_pair() -> Result<Replicated, String> {
    let zk = start_zookeeper()?;
    let replicas = start_pair(|ports, i| {
        let replicas: String = ports.iter().map(|p| format!("<replica><host>{}</host><port>{}</port></replica>", p.ip(), p.tcp)).collect();
        // Replicas fetch each other's parts over the interserver port, at the host each one
        // registers in ZooKeeper.
        format!(
            "<remote_servers><{REPLICAS}><shard><internal_replication>true</internal_replication>{replicas}</shard></{REPLICAS}></remote_servers>\
             <zookeeper><node><host>127.0.0.1</host><port>{zk}</port></node><session_timeout_ms>6000</session_timeout_ms></zookeeper>\
             <macros><shard>01</shard><replica>replica{i}</replica></macros>\
             <interserver_http_host>{}</interserver_http_host>",
            ports[i].ip()
        )
    })?;
    Ok(Replicated { replicas })
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
