//! The `rumprops` command: `eval` (the rule tester).

mod eval;

const USAGE: &str = "usage: rumprops <command> [options]

commands:
  eval --rules FILE PAGE.html [--url URL] [--cookie STR] [--js FILE.json]
        evaluate capture rules against a saved page and print the properties and issues as JSON";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("eval") => eval::run(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return;
        }
        Some(other) => Err(format!("unknown command {other:?}\n{USAGE}")),
        None => Err(USAGE.to_owned()),
    };
    match result {
        Ok(out) => println!("{out}"),
        Err(e) => {
            eprintln!("rumprops: {e}");
            std::process::exit(2);
        }
    }
}
