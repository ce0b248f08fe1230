//! `rumprops token create` and `serve`'s access modes, through the real binary: a served API
//! needs the token printed once; `--no-auth` says at start that it needs none.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `serve` with `extra` options; the child, its address and its banner.
fn serve(db: &std::path::Path, extra: &[&str]) -> (Child, std::net::SocketAddr, String) {
    let bin = env!("CARGO_BIN_EXE_rumprops");
    let mut child = Child(
        Command::new(bin)
            .args(["serve", "--db", db.to_str().unwrap(), "--addr", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let mut banner = String::new();
    while !banner.contains("access:") {
        assert!(out.read_line(&mut banner).unwrap() > 0, "banner ended early: {banner}");
    }
    let first = banner.lines().next().unwrap();
    let addr = first.rsplit("http://").next().unwrap().parse().unwrap_or_else(|e| panic!("{first:?}: {e}"));
    (child, addr, banner)
}

#[test]
fn tokens_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let bin = env!("CARGO_BIN_EXE_rumprops");
    let out = Command::new(bin).args(["token", "create", "--scope", "read", "--db", db.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("rp_") && token.len() == 67, "{token}");
    let bad = Command::new(bin).args(["token", "create", "--scope", "admin", "--db", db.to_str().unwrap()]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown scope \"admin\""), "{bad:?}");
    let none = Command::new(bin).args(["token", "create", "--db", db.to_str().unwrap()]).output().unwrap();
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("--scope"), "{none:?}");

    let (_child, addr, banner) = serve(&db, &[]);
    assert!(banner.contains("needs Authorization: Api-Token"), "{banner}");
    let q = "/api/v1/userSessionQueryLanguage/table?query=SELECT%20COUNT(*)%20FROM%20usersession";
    assert_eq!(request(addr, "GET", q, &[], b"").status, 401);
    let auth = format!("Api-Token {token}");
    let r = request(addr, "GET", q, &[("Authorization", &auth)], b"");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(request(addr, "POST", "/api/v1/dashboards", &[("Authorization", &auth)], b"{}").status, 403);
    // The file holds the hash, never the token.
    let stored = std::fs::read(&db).unwrap();
    assert!(!stored.windows(token.len()).any(|w| w == token.as_bytes()));

    let (_open, addr, banner) = serve(&dir.path().join("open.db"), &["--no-auth"]);
    assert!(banner.contains("--no-auth: NO TOKENS NEEDED"), "{banner}");
    assert_eq!(request(addr, "GET", q, &[], b"").status, 200);
}

#[test]
fn the_web_property_pack_imports_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db");
    let bin = env!("CARGO_BIN_EXE_rumprops");
    let pack = concat!(env!("CARGO_MANIFEST_DIR"), "/../www/app/packs/web-property-pack.json");
    let run = || Command::new(bin).args(["dashboard", "import", "--db", db.to_str().unwrap(), pack]).output().unwrap();
    let first = run();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(String::from_utf8(first.stdout).unwrap().trim(), "dashboard \"Web property pack\" stored (id 1)");
    let again = run();
    assert_eq!(String::from_utf8(again.stdout).unwrap().trim(), "dashboard \"Web property pack\" exists (id 1)");
    let conn = rumprops_collector::store::open_reader(&db).unwrap();
    let list = rumprops_collector::dashboards::list(&conn).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["tiles"].as_array().unwrap().len(), 4);
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"name":"x","tiles":[{"title":"t","type":"PIE","query":"SELECT 1"}]}"#).unwrap();
    let out = Command::new(bin).args(["dashboard", "import", "--db", db.to_str().unwrap(), bad.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tiles[0].type: one of TABLE"), "{out:?}");
}
