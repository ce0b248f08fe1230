//! The `rumprops` command: `eval` (the rule tester), `serve` (the collector), `query` (USQL in the terminal), `seal` (rollups of a ClickHouse store).

mod eval;

use clap::error::ErrorKind;
use clap::{Parser, Subcommand};
use rumprops_collector::cli;
use std::io::Write;

/// Real-user monitoring with typed properties: test capture rules, collect beacons, query sessions.
#[derive(Parser)]
#[command(name = "rumprops", version, propagate_version = true, arg_required_else_help = true)]
struct Rumprops {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: boxing the serve options would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Evaluate capture rules against a saved page; print the properties and issues as JSON.
    Eval(eval::EvalArgs),
    /// Store beacons in SQLite and answer USQL over HTTP (every option also from RUMPROPS_<NAME>).
    Serve(cli::ServeArgs),
    /// Run a USQL query on a collector database and print a table.
    Query(cli::QueryArgs),
    /// Seal the settled hours of a ClickHouse store into rollups now (`serve --rollups` does it every minute).
    Seal(cli::SealArgs),
    /// API tokens: `rumprops token create --scope read [--scope write] --db FILE`.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Dashboards: `rumprops dashboard import --db FILE dashboard.json`.
    #[command(subcommand)]
    Dashboard(DashboardCommand),
}

#[derive(Subcommand)]
enum DashboardCommand {
    /// Store a dashboard from a JSON file unless one with its name exists.
    Import(cli::DashboardImportArgs),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token with the given scopes and print it once (only its SHA-256 is stored).
    Create(cli::TokenCreateArgs),
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let parsed = match Rumprops::try_parse_from(&argv) {
        Ok(p) => p,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand) => e.exit(),
        Err(e) => {
            // One line naming the command and the option, then where the full usage is.
            let command = argv.get(1).filter(|c| ["eval", "serve", "query", "seal", "token", "dashboard"].contains(&c.as_str()));
            let rest = argv.get(2..).unwrap_or_default();
            let line = cli::error_line(&e, rest);
            match command {
                Some(c) => eprintln!("rumprops {c}: {line} (see rumprops {c} --help)"),
                None => eprintln!("rumprops: {line} (see rumprops --help)"),
            }
            std::process::exit(2);
        }
    };
    let (name, result) = match parsed.command {
        Command::Eval(args) => ("eval", eval::run(args)),
        Command::Serve(args) => ("serve", cli::run_serve(&args)),
        Command::Query(args) => ("query", cli::run_query(&args)),
        Command::Seal(args) => ("seal", cli::run_seal(&args)),
        Command::Token(TokenCommand::Create(args)) => ("token create", cli::run_token_create(&args)),
        Command::Dashboard(DashboardCommand::Import(args)) => ("dashboard import", cli::run_dashboard_import(&args)),
    };
    match result {
        // `serve` returns nothing to print; a closed stdout is no reason to panic.
        Ok(out) if out.is_empty() => {}
        Ok(out) => {
            let _ = writeln!(std::io::stdout(), "{out}");
        }
        Err(e) => {
            eprintln!("rumprops {name}: {e}");
            std::process::exit(2);
        }
    }
}
