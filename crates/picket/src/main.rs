//! The `picket` binary: parse flags, validate them into options, call the crates, render.
//! Errors end here as one line on stderr and a non-zero exit status.

mod cli;
mod commands;
mod options;
mod progress;
mod render;

use std::io::Write;
use std::process::ExitCode;

use clap::parser::ValueSource;

use crate::cli::{Cli, Command};
use crate::options::ScanOptions;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PICKET_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let argv = cli::nmap_spellings(std::env::args());
    let matches = <Cli as clap::CommandFactory>::command().get_matches_from(&argv);
    let db_given = matches.value_source("db") != Some(ValueSource::DefaultValue);
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match run(cli, db_given) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`picket findings | head`) is not a failure of ours.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("picket: {}", render::message(&e));
            if e.downcast_ref::<options::Usage>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let io = cause
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind);
        let json = cause
            .downcast_ref::<serde_json::Error>()
            .and_then(serde_json::Error::io_error_kind);
        io.or(json) == Some(std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli, db_given: bool) -> anyhow::Result<()> {
    // Every byte of output passes the terminal guard: third-party text is shown, never obeyed.
    let mut out = picket_report::SafeWriter::new(std::io::stdout().lock());
    match &cli.command {
        Command::Scan(args) => {
            let opts = ScanOptions::from_args(args).map_err(options::usage)?;
            commands::scan::run(&cli.db, db_given, opts, &mut out)?;
        }
        Command::Runs(args) => commands::history::runs(&cli.db, args, &mut out)?,
        Command::Diff(args) => commands::history::diff(&cli.db, args, &mut out)?,
        Command::Findings(args) => commands::history::findings(&cli.db, args, &mut out)?,
        Command::Intel(command) => commands::intel::run(&cli.db, command, &mut out)?,
        Command::Vuln(cli::VulnCommand::Import {
            files,
            at,
            allow_shrink,
        }) => {
            commands::vuln::import(&cli.db, files, at.as_deref(), *allow_shrink, &mut out)?;
        }
        Command::Inventory(args) => commands::inventory::run(&cli.db, args, &mut out)?,
        Command::Detect(args) => commands::detect::run(&cli.db, args, &mut out)?,
        Command::Alerts(args) => commands::alerts::run(&cli.db, args, &mut out)?,
        Command::Block(args) => commands::respond::block(&cli.db, args, &mut out)?,
        Command::Unblock(args) => commands::respond::unblock(&cli.db, args, &mut out)?,
        Command::Blocks(args) => commands::respond::blocks(&cli.db, args, &mut out)?,
    }
    out.flush()?;
    Ok(())
}
