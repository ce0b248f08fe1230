//! `rumprops eval`, the rule tester, as a user runs it: the real binary on real files.

use rumprops::json::{self, Value};
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn eval(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rumprops")).arg("eval").args(args).current_dir(root()).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rumprops-eval-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The saved page gives exactly the values `tests/pages/book-installation.expected.json`
/// lists; `tests/browser.rs` holds Chromium to the same file.
#[test]
fn saved_real_page_gives_the_expected_values() {
    let (code, stdout, stderr) = eval(&[
        "--rules",
        "tests/pages/book-installation.rules.json",
        "tests/pages/book-installation.html",
        "--url",
        "https://doc.rust-lang.org/book/ch01-01-installation.html?utm_campaign=spring+sale&visits=12#installation",
        "--cookie",
        "loyalty=GOLD%20Plus; cart_total=59.90",
        "--js",
        "tests/pages/book-installation.globals.json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    let expected = std::fs::read_to_string(root().join("tests/pages/book-installation.expected.json")).unwrap();
    assert_eq!(json::parse(&stdout).unwrap(), json::parse(&expected).unwrap(), "{stdout}");
}

#[test]
fn output_shape_and_exact_longs() {
    let dir = scratch("shape");
    let page = dir.join("p.html");
    std::fs::write(&page, r#"<meta name="tier" content="Gold"><b id="n">9223372036854775807</b><i id="d">2024-11-26</i><s id="x">abc</s>"#).unwrap();
    let rules = dir.join("r.json");
    std::fs::write(
        &rules,
        r##"{"version":1,"properties":[
            {"key":"tier","type":"string","source":{"meta":"tier"},"storage":"session"},
            {"key":"n","type":"long","source":{"css":"#n"}},
            {"key":"d","type":"date","source":{"css":"#d"},"storage":"both","aggregation":"max"},
            {"key":"x","type":"double","source":{"css":"#x"}},
            {"key":"api_only","type":"long","source":{"api":true}}]}"##,
    )
    .unwrap();
    let (code, stdout, _) = eval(&["--rules", rules.to_str().unwrap(), page.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(stdout.contains(r#""n":9223372036854775807"#), "{stdout}");
    let v = json::parse(&stdout).unwrap();
    let props = v.get("properties").unwrap();
    assert_eq!(props.get("string").unwrap().get("tier").unwrap().as_str(), Some("Gold"));
    assert_eq!(props.get("date").unwrap().get("d").unwrap().as_i64(), Some(1_732_579_200_000));
    assert_eq!(props.get("double"), Some(&Value::Object(vec![])));
    let mut issues = String::new();
    json::write_value(&mut issues, v.get("issues").unwrap());
    assert_eq!(issues, r#"[{"key":"x","reason":"not_a_double"}]"#);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_input_gives_one_line_and_exit_2() {
    let dir = scratch("bad");
    let page = dir.join("p.html");
    std::fs::write(&page, "<p>x</p>").unwrap();
    let bad_rules = dir.join("bad.json");
    std::fs::write(
        &bad_rules,
        r#"{"version":1,"properties":[{"key":"a","type":"string","source":{"css":"p"}},{"key":"b","type":"string","source":{"css":"div["}}]}"#,
    )
    .unwrap();
    let not_json = dir.join("nj.json");
    std::fs::write(&not_json, "{\"version\": 1,").unwrap();
    let p = page.to_str().unwrap();
    let bad = bad_rules.to_str().unwrap();
    let nj = not_json.to_str().unwrap();
    let good_rules = dir.join("good.json");
    std::fs::write(&good_rules, r#"{"version":1,"properties":[{"key":"a","type":"string","source":{"js":"a"}}]}"#).unwrap();
    let good = good_rules.to_str().unwrap();
    for (args, needle) in [
        (vec!["--rules", bad, p], "properties[1].source.css: invalid selector"),
        (vec!["--rules", nj, p], "invalid JSON at byte"),
        (vec!["--rules", "/nonexistent/rules.json", p], "cannot read rules file /nonexistent/rules.json"),
        (vec!["--rules", bad, "/nonexistent/page.html"], "cannot read page /nonexistent/page.html"),
        (vec!["--rules", good, p, "--js", nj], "invalid JSON in"),
        (vec![p], "missing --rules"),
        (vec!["--rules"], "--rules needs a value"),
        (vec!["--rules", "a", p, "--frobnicate", "x"], "unknown option --frobnicate"),
    ] {
        let (code, stdout, stderr) = eval(&args);
        assert_eq!(code, 2, "{args:?}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A hashed rule gives the lowercase hex SHA-256 of the salt and the final value: the FIPS 180-4
/// example "abc" (salt "ab", value "c" after cleanup and ignoreCase), and a value hashed before
/// its truncation; the same digests `tests/e2e/hash.test.mjs` gets in Chromium.
#[test]
fn hashed_rules_give_the_sha256_digest() {
    let dir = scratch("hash");
    let rules = dir.join("rules.json");
    std::fs::write(
        &rules,
        r#"{"version":1,"hashSalt":"ab","properties":[
            {"key":"abc","type":"string","source":{"meta":"m"},"cleanup":"x=(\\w)","ignoreCase":true,"hash":"sha256"},
            {"key":"short","type":"string","source":{"meta":"m"},"hash":"sha256","maxLength":8}]}"#,
    )
    .unwrap();
    let page = dir.join("page.html");
    std::fs::write(&page, r#"<meta name="m" content="x=C">"#).unwrap();
    let (code, stdout, stderr) = eval(&["--rules", rules.to_str().unwrap(), page.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let got = json::parse(&stdout).unwrap();
    let strings = got.get("properties").and_then(|p| p.get("string")).unwrap();
    let text = |k: &str| strings.get(k).and_then(Value::as_str).unwrap().to_owned();
    assert_eq!(text("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    // sha256("abx=C") (Python's hashlib), cut to 8 characters.
    assert_eq!(text("short"), "b305fe9c");
}
