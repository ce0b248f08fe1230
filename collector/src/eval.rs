//! `rumprops eval`: the rule tester. Reads a rules file and a saved page, evaluates the rules
//! with the same core the browser agent runs, and prints properties and issues as JSON.

use rumprops::native::{selector_is_valid, HtmlPage};
use rumprops::{json, Config, Report};
use std::path::Path;

/// `rumprops eval`: the rules, the saved page and what stands in for the browser around it.
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// The capture rules (JSON, the agent's config).
    #[arg(long, value_name = "FILE")]
    rules: String,
    /// The saved page.
    #[arg(value_name = "PAGE.html")]
    page: String,
    /// The page's URL (default: its file:// URL).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// The page's `document.cookie`.
    #[arg(long, value_name = "STR")]
    cookie: Option<String>,
    /// A JSON object standing for `window`, for `js` sources.
    #[arg(long, value_name = "FILE.json")]
    js: Option<String>,
}

/// Runs `eval`; returns the JSON report or a one-line error.
pub fn run(args: EvalArgs) -> Result<String, String> {
    let EvalArgs { rules, page: page_path, url, cookie, js } = args;
    let read = |path: &str, what: &str| {
        std::fs::read(path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| format!("cannot read {what} {path}: {e}"))
    };
    let rules_text = read(&rules, "rules file")?;
    let html = read(&page_path, "page")?;
    let config = Config::parse(&rules_text, &selector_is_valid).map_err(|e| format!("invalid config in {rules}: {e}"))?;
    let url = match url {
        Some(u) => u,
        None => file_url(Path::new(&page_path)),
    };
    let mut page = HtmlPage::new(&html, &url);
    if let Some(c) = cookie {
        page = page.with_cookie(&c);
    }
    if let Some(path) = js {
        let text = read(&path, "JS globals file")?;
        let globals = json::parse(&text)
            .map_err(|e| format!("invalid JSON in {path} at byte {}: {}", e.offset, e.message))?;
        if !matches!(globals, json::Value::Object(_)) {
            return Err(format!("{path}: the JS globals must be a JSON object (it stands for window)"));
        }
        page = page.with_globals(globals);
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Ok(Report::of_page(&config, &page, now_ms).to_json())
}

fn file_url(path: &Path) -> String {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut url = String::from("file://");
    for b in abs.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}
