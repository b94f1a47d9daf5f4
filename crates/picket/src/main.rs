//! The `picket` binary: parse flags, validate them into options, call the crates, render.
//! Errors end here as one line on stderr and a non-zero exit status.

mod cli;
mod commands;
mod options;
mod progress;
mod render;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use clap::parser::ValueSource;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let argv = cli::nmap_spellings(std::env::args());
    let matches = <Cli as clap::CommandFactory>::command().get_matches_from(&argv);
    let db_given = matches.value_source("db") != Some(ValueSource::DefaultValue);
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PICKET_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: journald (picket serve under systemd) shows escapes as text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(cli, db_given) {
        Ok(status) => ExitCode::from(status),
        // A reader that went away (`picket findings | head`) is not a failure of ours.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("picket: {}", render::message(&e));
            if options::is_usage(&e) {
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

/// Runs the command; the exit status when it succeeds (0, or `--exit-code` when it found
/// something).
fn run(cli: Cli, db_given: bool) -> anyhow::Result<u8> {
    // Every byte of output passes the terminal guard: third-party text is shown, never obeyed,
    // whether it reaches a terminal now or when the report file is read.
    let stdout = std::io::stdout();
    let Some(path) = &cli.output else {
        return dispatch(
            &cli,
            db_given,
            &mut picket_report::SafeWriter::new(stdout.lock()),
        );
    };
    if let Command::Scan(args) = &cli.command {
        if commands::scan::is_per_run(path) {
            // One report file per run, written by the scan command itself.
            return dispatch(
                &cli,
                db_given,
                &mut picket_report::SafeWriter::new(stdout.lock()),
            );
        }
        if args.every.is_some() {
            return Err(options::usage(anyhow::anyhow!(
                "-o {}: with --every each run needs a file of its own (several XML documents in \
                 one file are not valid XML): put {{run}} in the name, e.g. -o 'scan-{{run}}.xml'",
                path.display()
            )));
        }
    }
    let file = std::fs::File::create(path)
        .with_context(|| format!("-o {}: cannot create the file", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let result = dispatch(
        &cli,
        db_given,
        &mut picket_report::SafeWriter::new(&mut out),
    )
    .and_then(|status| {
        out.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .with_context(|| format!("-o {}: cannot write the file", path.display()))?;
        Ok(status)
    });
    if result.is_err() && std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
        // Nothing was written: leave no empty report behind.
        let _ = std::fs::remove_file(path);
    }
    result
}

fn dispatch(cli: &Cli, db_given: bool, out: &mut dyn Write) -> anyhow::Result<u8> {
    let mut status = 0;
    match &cli.command {
        Command::Scan(args) => {
            let db = db_given.then_some(cli.db.as_str());
            let scan = options::Scan::from_args(args, db).map_err(options::usage)?;
            // Multi-threaded: the engine spawns each probe as a task, so socket work uses every
            // core.
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let shutdown = stop_on_signals(&rt);
            let report = match &cli.output {
                Some(path) if commands::scan::is_per_run(path) => {
                    commands::scan::Report::PerRun(path)
                }
                _ => commands::scan::Report::Writer(out),
            };
            let found = commands::scan::run(&cli.db, &scan, &rt, &shutdown, report, cli.quiet)?;
            if found {
                status = args.exit_code;
            }
        }
        Command::Detect(args) => {
            let (pipeline, format) = options::detect(args)?;
            // One worker is enough: it only waits for signals while the pipeline runs here.
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let shutdown = stop_on_signals(&rt);
            if commands::detect::run(&cli.db, &pipeline, format, &shutdown, out)? {
                status = args.exit_code;
            }
        }
        Command::Worker(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let shutdown = stop_on_signals(&rt);
            if args.detect {
                commands::queue::detect(&cli.db, args, &rt, &shutdown, out)?;
            } else {
                commands::queue::worker(args, &rt, &shutdown, cli.quiet)?;
            }
        }
        Command::Ingest(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let shutdown = stop_on_signals(&rt);
            commands::queue::ingest(
                db_given.then_some(cli.db.as_str()),
                args,
                &rt,
                &shutdown,
                cli.quiet,
            )?;
        }
        Command::Enforce(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let shutdown = stop_on_signals(&rt);
            commands::queue::enforce(args, &rt, &shutdown, cli.quiet)?;
        }
        Command::Workers(args) => commands::queue::workers(args, out)?,
        Command::Runs(args) => commands::history::runs(&cli.db, args, out)?,
        Command::Diff(args) => commands::history::diff(&cli.db, args, out)?,
        Command::Findings(args) => commands::history::findings(&cli.db, args, out)?,
        Command::Intel(command) => commands::intel::run(&cli.db, command, out)?,
        Command::Vuln(cli::VulnCommand::Import {
            files,
            at,
            allow_shrink,
        }) => {
            let at = at
                .as_deref()
                .map(|a| picket_app::options::host_port("--at", a))
                .transpose()?;
            let opts =
                picket_app::options::VulnImportOptions::new(files.clone(), at, *allow_shrink)?;
            commands::vuln::import(&cli.db, &opts, out)?;
        }
        Command::Inventory(args) => commands::inventory::run(&cli.db, args, out)?,
        Command::Alerts(args) => commands::alerts::run(&cli.db, args, out)?,
        Command::Block(args) => commands::respond::block(&cli.db, args, out)?,
        Command::Unblock(args) => commands::respond::unblock(&cli.db, args, out)?,
        Command::Blocks(args) => commands::respond::blocks(&cli.db, args, out)?,
        Command::Serve(args) => {
            let db = db_given.then_some(cli.db.as_str());
            let Some(config) = commands::serve::config(args, db)? else {
                return Ok(2);
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let shutdown = stop_on_signals(&rt);
            let bound = picket_server::bind(&rt, config, shutdown)?;
            eprintln!("{}", commands::serve::starting(&bound));
            bound.run(&rt)?;
        }
        Command::Config(command) => status = commands::serve::config_command(command, out)?,
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut command, "picket", out);
        }
        Command::Man => {
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(out)?;
        }
    }
    out.flush()?;
    Ok(status)
}

/// The one signal handler: the first SIGINT or SIGTERM triggers the shutdown every workflow
/// listens to (a scan is stored as aborted, a pipeline saves its checkpoints); a second one ends
/// the process at once, for a read that cannot be interrupted (stdin).
fn stop_on_signals(rt: &tokio::runtime::Runtime) -> picket_app::Shutdown {
    use tokio::signal::unix::{SignalKind, signal};
    let shutdown = picket_app::Shutdown::new();
    let trigger = shutdown.clone();
    rt.spawn(async move {
        let (Ok(mut interrupt), Ok(mut terminate)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            // Without a handler the signals keep their default: the process ends at once.
            tracing::warn!("cannot install the signal handler: a stop is not graceful");
            return;
        };
        loop {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            if trigger.is_triggered() {
                std::process::exit(130);
            }
            trigger.trigger();
        }
    });
    shutdown
}
