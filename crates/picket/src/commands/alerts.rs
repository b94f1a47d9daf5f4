//! `picket alerts [suppress|suppressions|unsuppress]`.

use std::io::Write;

use anyhow::{Result, bail};
use picket_app::options::{self as parse, AlertFormat};
use picket_model::{Suppression, Timestamp};
use picket_store::AlertFilter;
use picket_store::prelude::*;

use crate::cli::{AlertsArgs, AlertsCommand};

pub fn run(db: &str, args: &AlertsArgs, out: &mut dyn Write) -> Result<()> {
    match &args.command {
        None => list(db, args, out),
        Some(AlertsCommand::Suppress {
            client,
            port,
            app,
            reason,
            ttl,
        }) => {
            if client.is_none() && port.is_none() && app.is_none() {
                bail!("alerts suppress: give at least one of --client, --port, --app");
            }
            let rule = Suppression {
                id: None,
                client: client
                    .as_deref()
                    .map(|c| parse::net("--client", c))
                    .transpose()?,
                port: *port,
                application: app.as_ref().map(|a| a.to_ascii_lowercase()),
                reason: reason.clone(),
                created_at: Timestamp::now(),
                expires_at: ttl
                    .as_deref()
                    .map(|t| parse::expiry("--ttl", t))
                    .transpose()?,
            };
            let store = picket_store::open(db)?;
            let id = store.add_suppression(&rule)?;
            writeln!(out, "suppression {id} added")?;
            Ok(())
        }
        Some(AlertsCommand::Suppressions) => {
            let format = parse::listing_format(&args.format)?;
            let store = picket_store::open(db)?;
            picket_report::listings::suppressions(out, format, &store.suppressions()?)?;
            Ok(())
        }
        Some(AlertsCommand::Unsuppress { id }) => {
            let store = picket_store::open(db)?;
            if !store.remove_suppression(*id)? {
                bail!("no suppression {id}");
            }
            writeln!(out, "suppression {id} removed")?;
            Ok(())
        }
    }
}

fn list(db: &str, args: &AlertsArgs, out: &mut dyn Write) -> Result<()> {
    let filter = AlertFilter {
        since: args
            .since
            .as_deref()
            .map(|s| parse::since("--since", s))
            .transpose()?,
        min_severity: args
            .min_severity
            .as_deref()
            .map(|s| parse::severity("--min-severity", s))
            .transpose()?,
        client: args
            .client
            .as_deref()
            .map(|c| parse::ip("--client", c))
            .transpose()?,
    };
    let format = parse::alert_format(&args.format)?;
    let store = picket_store::open(db)?;
    let alerts = store.alerts(&filter)?;
    match format {
        // One finding a line, as `picket detect --format ocsf` streams them.
        AlertFormat::Ocsf => picket_report::alerts_ocsf(out, &alerts, true)?,
        AlertFormat::Report(f) => picket_report::alerts(out, f, &alerts)?,
    }
    Ok(())
}
