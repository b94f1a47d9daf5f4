//! `picket alerts [suppress|suppressions|unsuppress]`.

use std::io::Write;

use anyhow::{Result, bail};
use picket_app::options::{self as parse, AlertFormat};
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
            let rule = parse::suppression(
                client.as_deref(),
                *port,
                app.as_deref(),
                reason,
                ttl.as_deref(),
            )?;
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
    let filter = parse::alert_filter(
        args.since.as_deref(),
        args.min_severity.as_deref(),
        args.client.as_deref(),
    )?;
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
