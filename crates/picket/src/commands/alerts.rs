//! `picket alerts [suppress|suppressions|unsuppress]`.

use std::io::Write;

use anyhow::{Context, Result, bail};
use picket_model::{Severity, Suppression, Timestamp};
use picket_report::Format;
use picket_store::AlertFilter;
use picket_store::prelude::*;

use crate::cli::{AlertsArgs, AlertsCommand};
use crate::commands::knowledge;
use crate::render::listing;

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
            let now = Timestamp::now();
            let expires_at = match ttl {
                Some(t) => {
                    let d = humantime::parse_duration(t).with_context(|| format!("--ttl {t:?}"))?;
                    Some(now.checked_add(jiff::SignedDuration::try_from(d)?)?)
                }
                None => None,
            };
            let rule = Suppression {
                id: None,
                client: client.as_deref().map(knowledge::parse_net).transpose()?,
                port: *port,
                application: app.as_ref().map(|a| a.to_ascii_lowercase()),
                reason: reason.clone(),
                created_at: now,
                expires_at,
            };
            let store = picket_store::open(db)?;
            let id = store.add_suppression(&rule)?;
            writeln!(out, "suppression {id} added")?;
            Ok(())
        }
        Some(AlertsCommand::Suppressions) => {
            let store = picket_store::open(db)?;
            let rules = store.suppressions()?;
            let rows: Vec<Vec<String>> = rules
                .iter()
                .map(|r| {
                    vec![
                        r.id.map(|i| i.to_string()).unwrap_or_default(),
                        r.client
                            .map(|c| c.to_string())
                            .unwrap_or_else(|| "*".into()),
                        r.port.map(|p| p.to_string()).unwrap_or_else(|| "*".into()),
                        r.application.clone().unwrap_or_else(|| "*".into()),
                        r.expires_at
                            .map(|t| t.to_string())
                            .unwrap_or_else(|| "never".into()),
                        r.reason.clone(),
                    ]
                })
                .collect();
            listing(
                out,
                crate::options::parse_format(&args.format)?,
                &["ID", "CLIENT", "PORT", "APPLICATION", "EXPIRES", "REASON"],
                &rows,
                &rules,
                "No suppression rules.",
            )
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
    let since = match &args.since {
        Some(s) => {
            let d = humantime::parse_duration(s)
                .map_err(anyhow::Error::from)
                .and_then(|d| Ok(Timestamp::now().checked_sub(jiff::SignedDuration::try_from(d)?)?))
                .with_context(|| format!("--since {s:?}"))
                .map_err(crate::options::usage)?;
            Some(d)
        }
        None => None,
    };
    let min_severity = match &args.min_severity {
        Some(s) => Some(s.parse::<Severity>().map_err(|_| {
            anyhow::anyhow!("--min-severity {s:?}: info, low, medium, high or critical")
        })?),
        None => None,
    };
    let client = match &args.client {
        Some(c) => Some(
            c.parse()
                .with_context(|| format!("--client {c:?}: not an IP address"))?,
        ),
        None => None,
    };
    let store = picket_store::open(db)?;
    let alerts = store.alerts(&AlertFilter {
        since,
        min_severity,
        client,
    })?;
    if args.format == "ocsf" {
        // One finding a line, as `picket detect --format ocsf` streams them.
        picket_report::alerts_ocsf(out, &alerts, true)?;
        return Ok(());
    }
    match crate::options::parse_format(&args.format)? {
        Format::Xml => bail!("--format xml: alerts are table, json, ndjson or ocsf"),
        f => picket_report::alerts(out, f, &alerts)?,
    }
    Ok(())
}
