//! `picket inventory [add|remove]`: which application listens at which host:port, and the
//! vulnerabilities that match it.

use std::io::Write;

use anyhow::{Result, bail};
use picket_app::knowledge;
use picket_app::options as parse;
use picket_model::{Application, Timestamp};
use serde::Serialize;

use crate::cli::{InventoryArgs, InventoryCommand};
use crate::render::{listing, vuln_summary};
use picket_store::prelude::*;

pub fn run(db: &str, args: &InventoryArgs, out: &mut dyn Write) -> Result<()> {
    match &args.command {
        Some(InventoryCommand::Add {
            at,
            cpe,
            product,
            version,
            vendor,
        }) => {
            let (host, port) = parse::host_port("HOST:PORT", at)?;
            let app = match (cpe, product) {
                (Some(cpe), _) => parse::application_from_cpe(cpe)?,
                (None, Some(product)) => {
                    parse::application(product, version.as_deref(), vendor.as_deref())
                }
                (None, None) => bail!("inventory add: give --cpe, or --product with --version"),
            };
            let store = picket_store::open(db)?;
            let vulns = knowledge::add_application(&store, host, port, &app, "manual")?;
            writeln!(
                out,
                "{at}: {} {} ({} known vulnerabilities: {})",
                app.product,
                app.version.as_deref().unwrap_or("?"),
                vulns.len(),
                vuln_summary(&vulns)
            )?;
        }
        Some(InventoryCommand::Remove { at, source }) => {
            let (host, port) = parse::host_port("HOST:PORT", at)?;
            let store = picket_store::open(db)?;
            if !store.remove_application(host, port, source)? {
                bail!("no application from {source:?} at {at}");
            }
            writeln!(out, "{at}: removed ({source})")?;
        }
        None => list(db, &args.format, out)?,
    }
    Ok(())
}

fn list(db: &str, format: &str, out: &mut dyn Write) -> Result<()> {
    let format = parse::format(format)?;
    let store = picket_store::open(db)?;
    let entries = knowledge::inventory(&store)?;
    #[derive(Serialize)]
    struct Row<'a> {
        host: std::net::IpAddr,
        port: u16,
        application: &'a Application,
        source: &'a str,
        updated_at: Timestamp,
        vulnerabilities: &'a [picket_model::VulnMatch],
    }
    let records: Vec<Row> = entries
        .iter()
        .map(|(e, m)| Row {
            host: e.host,
            port: e.port,
            application: &e.application,
            source: &e.source,
            updated_at: e.updated_at,
            vulnerabilities: m,
        })
        .collect();
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|(e, m)| {
            vec![
                std::net::SocketAddr::new(e.host, e.port).to_string(),
                e.application.product.clone(),
                e.application.version.clone().unwrap_or_else(|| "-".into()),
                e.application
                    .cpe
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "-".into()),
                e.source.clone(),
                vuln_summary(m),
            ]
        })
        .collect();
    listing(
        out,
        format,
        &[
            "HOST:PORT",
            "PRODUCT",
            "VERSION",
            "CPE",
            "SOURCE",
            "VULNERABILITIES",
        ],
        &rows,
        &records,
        "The inventory is empty: picket inventory add HOST:PORT --product P --version V",
    )
}
