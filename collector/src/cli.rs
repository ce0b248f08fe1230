//! The `serve` and `query` subcommands: argument reading and the terminal table.

use crate::ratelimit::RateLimit;
use crate::server::{ServeConfig, Server};
use crate::store::{self, DEFAULT_SESSION_TIMEOUT_MS};
use crate::usql::{self, QueryOptions, QueryResult};
use serde_json::Value;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Usage of `serve`.
pub const SERVE_USAGE: &str = "serve --db FILE --addr HOST:PORT [--allow-origin ORIGIN]... [--export-url URL]
        [--static DIR] [--session-timeout-ms N] [--rate-per-sec N] [--rate-burst N]
        store beacons in SQLite and answer USQL over HTTP";
/// Usage of `query`.
pub const QUERY_USAGE: &str = "query --db FILE [--include-live] [--session-timeout-ms N] [--json] \"SELECT …\"
        run a USQL query on a collector database and print a table";

/// Options as `(name, value)` pairs (flags have an empty value), and positional arguments.
type Args = (Vec<(String, String)>, Vec<String>);

/// Reads `--name value` pairs; flags listed in `flags` take no value.
fn read_args(args: &[String], with_value: &[&str], flags: &[&str]) -> Result<Args, String> {
    let mut opts = Vec::new();
    let mut positional = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if flags.contains(&a.as_str()) {
            opts.push((a.clone(), String::new()));
        } else if with_value.contains(&a.as_str()) {
            let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
            opts.push((a.clone(), v.clone()));
        } else if a.starts_with("--") {
            return Err(format!("unknown option {a}"));
        } else {
            positional.push(a.clone());
        }
    }
    Ok((opts, positional))
}

fn single<'a>(opts: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, String> {
    let mut found = opts.iter().filter(|(k, _)| k == name);
    let first = found.next().map(|(_, v)| v.as_str());
    if found.next().is_some() {
        return Err(format!("{name} given twice"));
    }
    Ok(first)
}

fn number<T: std::str::FromStr>(opts: &[(String, String)], name: &str) -> Result<Option<T>, String> {
    single(opts, name)?.map(|v| v.parse::<T>().map_err(|_| format!("{name}: not a valid number: {v:?}"))).transpose()
}

/// Reads the `serve` arguments into a config.
pub fn serve_config(args: &[String]) -> Result<ServeConfig, String> {
    let (opts, positional) = read_args(
        args,
        &["--db", "--addr", "--allow-origin", "--export-url", "--static", "--session-timeout-ms", "--rate-per-sec", "--rate-burst"],
        &[],
    )?;
    if let Some(p) = positional.first() {
        return Err(format!("unexpected argument {p:?}"));
    }
    let db = single(&opts, "--db")?.ok_or("missing --db FILE")?;
    let addr: SocketAddr = single(&opts, "--addr")?
        .ok_or("missing --addr HOST:PORT")?
        .parse()
        .map_err(|_| "--addr: expected HOST:PORT with an IP address, e.g. 127.0.0.1:8080".to_owned())?;
    let mut config = ServeConfig::new(PathBuf::from(db), addr);
    config.allow_origins = opts.iter().filter(|(k, _)| k == "--allow-origin").map(|(_, v)| v.clone()).collect();
    config.export_url = single(&opts, "--export-url")?.map(str::to_owned);
    if let Some(url) = &config.export_url {
        crate::export::parse_url(url)?;
    }
    config.static_dir = single(&opts, "--static")?.map(PathBuf::from);
    if let Some(dir) = &config.static_dir {
        if !dir.is_dir() {
            return Err(format!("--static: {} is not a directory", dir.display()));
        }
    }
    if let Some(ms) = number::<i64>(&opts, "--session-timeout-ms")? {
        if ms < 0 {
            return Err("--session-timeout-ms: must not be negative".to_owned());
        }
        config.session_timeout_ms = ms;
    }
    let mut limit = RateLimit::default();
    if let Some(r) = number::<f64>(&opts, "--rate-per-sec")? {
        limit.per_sec = r;
    }
    if let Some(b) = number::<f64>(&opts, "--rate-burst")? {
        limit.burst = b;
    }
    if !(limit.per_sec.is_finite() && limit.per_sec >= 0.0 && limit.burst.is_finite() && limit.burst >= 1.0) {
        return Err("--rate-per-sec must be >= 0 and --rate-burst >= 1".to_owned());
    }
    config.rate_limit = limit;
    Ok(config)
}

/// `rumprops serve`: runs until killed.
pub fn serve(args: &[String]) -> Result<String, String> {
    let config = serve_config(args)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let static_dir = config.static_dir.clone();
        let server = Server::bind(config).await?;
        let addr = server.local_addr()?;
        // The banner may go to a closed pipe (a supervisor that read the address and left):
        // a failed write must not stop the collector.
        let mut banner = format!(
            "rumprops collector listening on http://{addr}\n  beacons: POST http://{addr}/beacon\n  USQL:    GET  http://{addr}/api/v1/userSessionQueryLanguage/table?query=…\n"
        );
        if static_dir.is_some() {
            banner.push_str(&format!("  pages:   http://{addr}/\n"));
        }
        let mut out = std::io::stdout();
        let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
        server.run_until_signal().await
    })?;
    let _ = writeln!(std::io::stderr(), "rumprops collector stopped");
    Ok(String::new())
}

/// `rumprops query`: prints the result as an aligned table (or JSON with `--json`).
pub fn query(args: &[String]) -> Result<String, String> {
    let (opts, positional) = read_args(args, &["--db", "--session-timeout-ms"], &["--include-live", "--json"])?;
    let db = single(&opts, "--db")?.ok_or("missing --db FILE")?;
    let text = match positional.as_slice() {
        [q] => q,
        [] => return Err("missing the query".to_owned()),
        _ => return Err("give the query as one argument (quote it)".to_owned()),
    };
    let mut qo = QueryOptions::now(number::<i64>(&opts, "--session-timeout-ms")?.unwrap_or(DEFAULT_SESSION_TIMEOUT_MS));
    qo.include_live = single(&opts, "--include-live")?.is_some();
    let path = PathBuf::from(db);
    if !path.exists() {
        return Err(format!("no database at {db}"));
    }
    let conn = store::open_reader(&path).map_err(|e| e.to_string())?;
    let result = usql::run(&conn, text, &qo).map_err(|e| match e {
        usql::QueryError::Invalid(e) => format!("{}\n  {text}\n  {}^", e.message, " ".repeat(e.position)),
        other => other.to_string(),
    })?;
    if single(&opts, "--json")?.is_some() {
        return Ok(serde_json::json!({"columnNames": result.column_names, "values": result.values}).to_string());
    }
    Ok(render_table(&result))
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Renders a result as an aligned text table: numbers right-aligned, text left-aligned, and a
/// row count underneath.
pub fn render_table(r: &QueryResult) -> String {
    let rows: Vec<Vec<String>> = r.values.iter().map(|row| row.iter().map(cell).collect()).collect();
    let numeric: Vec<bool> = (0..r.column_names.len())
        .map(|i| r.values.iter().all(|row| row.get(i).is_some_and(|v| v.is_number() || v.is_null())))
        .collect();
    let widths: Vec<usize> = r
        .column_names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            rows.iter().filter_map(|row| row.get(i)).map(|c| c.chars().count()).chain([name.chars().count()]).max().unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String], out: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let w = widths.get(i).copied().unwrap_or(0);
                if numeric.get(i).copied().unwrap_or(false) {
                    format!("{c:>w$}")
                } else {
                    format!("{c:<w$}")
                }
            })
            .collect();
        out.push_str(parts.join(" | ").trim_end());
        out.push('\n');
    };
    let mut out = String::new();
    line(&r.column_names, &mut out);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&rule.join("-+-"));
    out.push('\n');
    for row in &rows {
        line(row, &mut out);
    }
    out.push_str(&format!("({} row{})", rows.len(), if rows.len() == 1 { "" } else { "s" }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_aligned() {
        let r = QueryResult {
            column_names: vec!["Loyalty status".into(), "n".into()],
            is_branch: vec![true, false],
            values: vec![vec!["Gold".into(), 12.into()], vec!["Platinum".into(), 3.into()]],
        };
        assert_eq!(
            render_table(&r),
            "Loyalty status |  n\n---------------+---\nGold           | 12\nPlatinum       |  3\n(2 rows)"
        );
    }

    #[test]
    fn serve_arguments() {
        let args: Vec<String> = ["--db", "x.db", "--addr", "127.0.0.1:0", "--allow-origin", "https://a", "--allow-origin", "https://b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let c = serve_config(&args).unwrap();
        assert_eq!(c.allow_origins, vec!["https://a", "https://b"]);
        assert!(serve_config(&args[..2]).unwrap_err().contains("--addr"));
        let mut bad = args.clone();
        bad.push("--bogus".into());
        assert!(serve_config(&bad).unwrap_err().contains("unknown option"));
    }
}
