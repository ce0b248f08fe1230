//! The real `rumprops` binary: `serve` on port 0 (the address it prints), a beacon, then
//! `query` on the same database file.

mod common;

use common::*;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Kills the server when the test ends, even on failure.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_then_query_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    let bin = env!("CARGO_BIN_EXE_rumprops");
    let mut child = Child(
        Command::new(bin)
            .args(["serve", "--db", db.to_str().unwrap(), "--addr", "127.0.0.1:0", "--allow-origin", "https://shop.example"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut first = String::new();
    BufReader::new(child.0.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let addr: std::net::SocketAddr =
        first.trim().rsplit("http://").next().unwrap().parse().unwrap_or_else(|e| panic!("{first:?}: {e}"));

    let b = beacon("cli1", 0, Some("end_session"), json!({"string": {"loyalty_status": "Gold"}}), json!([action("a", 1_732_599_100_000, 2, json!({}))]));
    assert_eq!(post_beacon(addr, &b.to_string(), &[("Origin", "https://shop.example")]).status, 204);
    assert_eq!(post_beacon(addr, &b.to_string(), &[("Origin", "https://other.example")]).status, 403);

    let out = Command::new(bin)
        .args(["query", "--db", db.to_str().unwrap(), "SELECT stringProperties.loyalty_status, SUM(useraction.requestErrorCount) FROM usersession GROUP BY stringProperties.loyalty_status"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "stringProperties.loyalty_status | SUM(useraction.requestErrorCount)\n\
         --------------------------------+----------------------------------\n\
         Gold                            |                                 2\n(1 row)\n"
    );
    // SIGTERM stops the server cleanly: exit status 0, and the WAL is folded back into the file.
    let pid = child.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!dir.path().join("cli.db-wal").exists());
    let bad = Command::new(bin).args(["serve", "--db", db.to_str().unwrap()]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("missing --addr"));
}

#[test]
fn help_version_and_options_from_the_environment() {
    let bin = env!("CARGO_BIN_EXE_rumprops");
    for sub in ["eval", "serve", "query"] {
        let out = Command::new(bin).args([sub, "--help"]).output().unwrap();
        assert!(out.status.success(), "{sub} --help: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(&format!("Usage: rumprops {sub}")), "{text}");
    }
    let serve_help = String::from_utf8(Command::new(bin).args(["serve", "--help"]).output().unwrap().stdout).unwrap();
    for var in ["RUMPROPS_DB", "RUMPROPS_ADDR", "RUMPROPS_ALLOW_ORIGIN", "RUMPROPS_RATE_BURST"] {
        assert!(serve_help.contains(var), "{var} missing in {serve_help}");
    }
    let version = Command::new(bin).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8(version.stdout).unwrap().trim(), format!("rumprops {}", env!("CARGO_PKG_VERSION")));

    // A bad value from a variable names the variable.
    let bad = Command::new(bin).args(["serve", "--db", "x.db"]).env("RUMPROPS_ADDR", "localhost").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("--addr (from RUMPROPS_ADDR)") && err.trim_end().lines().count() == 1, "{err}");

    // `serve` configured by the environment only; the flag wins over its variable.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("env.db");
    let mut child = Child(
        Command::new(bin)
            .arg("serve")
            .env("RUMPROPS_DB", &db)
            .env("RUMPROPS_ADDR", "127.0.0.1:1")
            .args(["--addr", "127.0.0.1:0"])
            .env("RUMPROPS_ALLOW_ORIGIN", "https://a.example,https://b.example")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut first = String::new();
    BufReader::new(child.0.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let addr: std::net::SocketAddr =
        first.trim().rsplit("http://").next().unwrap().parse().unwrap_or_else(|e| panic!("{first:?}: {e}"));
    let b = beacon("env1", 0, Some("end_session"), json!({}), json!([action("a", 1_732_599_100_000, 0, json!({}))]));
    assert_eq!(post_beacon(addr, &b.to_string(), &[("Origin", "https://b.example")]).status, 204);
    assert_eq!(post_beacon(addr, &b.to_string(), &[("Origin", "https://c.example")]).status, 403);
    assert!(db.exists());
}
