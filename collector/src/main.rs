//! The `rumprops` command: `eval` (the rule tester), `serve` (the collector), `query` (USQL in the terminal).

mod eval;

use std::io::Write;

const USAGE: &str = "usage: rumprops <command> [options]

commands:
  eval --rules FILE PAGE.html [--url URL] [--cookie STR] [--js FILE.json]
        evaluate capture rules against a saved page and print the properties and issues as JSON
  {SERVE}
  {QUERY}";

/// The usage text with the collector commands filled in.
fn usage() -> String {
    USAGE.replace("{SERVE}", rumprops_collector::cli::SERVE_USAGE).replace("{QUERY}", rumprops_collector::cli::QUERY_USAGE)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("eval") => eval::run(&args[1..]),
        Some("serve") => rumprops_collector::cli::serve(&args[1..]).map_err(|e| format!("serve: {e}\nusage: rumprops {}", rumprops_collector::cli::SERVE_USAGE)),
        Some("query") => rumprops_collector::cli::query(&args[1..]).map_err(|e| format!("query: {e}")),
        Some("-h" | "--help" | "help") => {
            println!("{}", usage());
            return;
        }
        Some(other) => Err(format!("unknown command {other:?}\n{}", usage())),
        None => Err(usage()),
    };
    match result {
        // `serve` returns nothing to print; a closed stdout is no reason to panic.
        Ok(out) if out.is_empty() => {}
        Ok(out) => {
            let _ = writeln!(std::io::stdout(), "{out}");
        }
        Err(e) => {
            eprintln!("rumprops: {e}");
            std::process::exit(2);
        }
    }
}
