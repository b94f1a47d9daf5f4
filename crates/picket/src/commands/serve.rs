//! `picket serve` and `picket config`: load and check the service's configuration (picket-server
//! validates it), apply the command line's overrides, and print every configuration error with
//! its file, line and key. The service itself is `picket_server::serve`.

use std::io::Write;

use anyhow::Result;
use picket_report::counted;
use picket_server::{ConfigError, Overrides, ServiceConfig};

use crate::cli::{ConfigCommand, ServeArgs};
use crate::render;

/// The configuration of `picket serve`, with the flags applied; `None` when it is invalid
/// (every error was printed; the status is 2).
pub fn config(args: &ServeArgs, db: Option<&str>) -> Result<Option<ServiceConfig>> {
    let loaded = ServiceConfig::load(&args.config).and_then(|mut config| {
        config.apply(&Overrides {
            listen: args.listen.clone(),
            db: db.map(str::to_owned),
            token_file: args.token_file.clone(),
        })?;
        Ok(config)
    });
    match loaded {
        Ok(config) => Ok(Some(config)),
        Err(e) => invalid(&e).map(|()| None),
    }
}

/// The line `picket serve` says as it starts.
pub fn starting(bound: &picket_server::Bound) -> String {
    let config = bound.config();
    let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
    format!(
        "picket: serving http://{} with {}, {}, {}, {}; SIGTERM or Ctrl-C stops",
        bound.local_addr(),
        counted(n(config.scans.len()), "scan job", "scan jobs"),
        counted(n(config.watches.len()), "watcher", "watchers"),
        counted(
            n(config.feeds.len() + config.vulns.len()),
            "refreshed source",
            "refreshed sources"
        ),
        counted(n(config.sinks.len()), "sink", "sinks"),
    )
}

/// `picket config check FILE` and `picket config example`; the exit status.
pub fn config_command(command: &ConfigCommand, out: &mut dyn Write) -> Result<u8> {
    match command {
        ConfigCommand::Example => {
            out.write_all(picket_server::config::EXAMPLE.as_bytes())?;
            Ok(0)
        }
        ConfigCommand::Check { file } => match ServiceConfig::load(file) {
            Ok(config) => {
                writeln!(
                    out,
                    "{}: valid: {} scan job(s), {} watcher(s), {} feed(s), {} vulnerability source(s), {} sink(s); listens on {}",
                    file.display(),
                    config.scans.len(),
                    config.watches.len(),
                    config.feeds.len(),
                    config.vulns.len(),
                    config.sinks.len(),
                    config.listen
                )?;
                Ok(0)
            }
            Err(e) => invalid(&e).map(|()| 2),
        },
    }
}

/// Prints each problem of a configuration on a line of its own; a file that cannot be read
/// is an error of its own kind (status 1).
fn invalid(e: &ConfigError) -> Result<()> {
    match e {
        ConfigError::Invalid { file, issues } => {
            for issue in issues {
                let place = match issue.line {
                    Some(line) => format!("{}:{line}: ", file.display()),
                    None => String::new(),
                };
                eprintln!(
                    "picket: {}",
                    render::shown(&format!("{place}{}: {}", issue.key, issue.message))
                );
            }
            Ok(())
        }
        ConfigError::Read { .. } => Err(anyhow::anyhow!("{e}")),
    }
}
