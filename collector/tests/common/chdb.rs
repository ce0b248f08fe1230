//! Current ClickHouse in-process: chDB (PyPI `chdb-core`, installed by `scripts/setup.sh`), driven
//! through `tests/chdb/run.py`, to check that the SQL the collector sends to 18.16 also runs on
//! today's ClickHouse. A test that cannot run it fails.

use std::io::Write;
use std::process::{Command, Stdio};

/// What chDB answered: its version and, per statement, the answer (TSV) or the error.
pub struct Answers {
    pub version: String,
    pub results: Vec<Result<String, String>>,
}

/// Runs `statements` in order in one fresh chDB session, with `config` (a ClickHouse config
/// file's text, e.g. a `remote_servers` entry) if given.
pub fn run(config: Option<&str>, statements: &[String]) -> Answers {
    let dir = tempfile::tempdir().unwrap();
    let mut job = serde_json::json!({ "statements": statements });
    if let Some(text) = config {
        let path = dir.path().join("config.xml");
        std::fs::write(&path, text).unwrap();
        job["config"] = serde_json::json!(path.to_str().unwrap());
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/chdb/run.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 for chDB: {e}: run scripts/setup.sh"));
    child.stdin.take().unwrap().write_all(job.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "chDB failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("chDB answered no JSON ({e})"));
    let results = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| match (r["ok"].as_str(), r["error"].as_str()) {
            (Some(ok), _) => Ok(ok.to_owned()),
            (_, Some(e)) => Err(e.to_owned()),
            _ => Err(format!("chDB answered {r}")),
        })
        .collect();
    Answers { version: v["version"].as_str().unwrap_or("").to_owned(), results }
}
