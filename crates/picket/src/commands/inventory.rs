//! `picket inventory [add|remove]`: which application listens at which host:port, and the
//! vulnerabilities that match it.

use std::io::Write;

use anyhow::{Context, Result, bail};
use picket_model::{Application, Cpe, Timestamp};
use picket_store::prelude::*;
use serde::Serialize;

use crate::cli::{InventoryArgs, InventoryCommand};
use crate::commands::knowledge;
use crate::options::parse_format;
use crate::render::listing;

pub fn run(db: &str, args: &InventoryArgs, out: &mut dyn Write) -> Result<()> {
    match &args.command {
        Some(InventoryCommand::Add {
            at,
            cpe,
            product,
            version,
            vendor,
        }) => {
            let (host, port) = knowledge::parse_host_port(at)?;
            let app = match (cpe, product) {
                (Some(cpe), _) => from_cpe(cpe)?,
                (None, Some(product)) => {
                    let mut app = Application::new(product.to_ascii_lowercase());
                    app.version = version.clone();
                    app.vendor = vendor.as_ref().map(|v| v.to_ascii_lowercase());
                    app
                }
                (None, None) => bail!("inventory add: give --cpe, or --product with --version"),
            };
            let store = picket_store::open(db)?;
            store.upsert_application(host, port, &app, "manual", Timestamp::now())?;
            let vulns = knowledge::vuln_db(&store)?.matches(&app);
            writeln!(
                out,
                "{at}: {} {} ({} known vulnerabilities: {})",
                app.product,
                app.version.as_deref().unwrap_or("?"),
                vulns.len(),
                knowledge::vuln_summary(&vulns)
            )?;
        }
        Some(InventoryCommand::Remove { at, source }) => {
            let (host, port) = knowledge::parse_host_port(at)?;
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

fn from_cpe(text: &str) -> Result<Application> {
    let cpe: Cpe = text.parse().with_context(|| format!("--cpe {text:?}"))?;
    let Some(product) = cpe.product.as_value().map(str::to_owned) else {
        bail!("--cpe {text:?}: the product must be named");
    };
    let mut app = Application::new(product);
    app.vendor = cpe.vendor.as_value().map(str::to_owned);
    app.version = cpe.version.as_value().map(|v| match cpe.update.as_value() {
        // NVD writes OpenSSH 9.2p1 as version 9.2, update p1.
        Some(update) if update.starts_with('p') => format!("{v}{update}"),
        _ => v.to_owned(),
    });
    app.cpe = Some(cpe);
    Ok(app)
}

fn list(db: &str, format: &str, out: &mut dyn Write) -> Result<()> {
    let format = parse_format(format)?;
    let store = picket_store::open(db)?;
    let vdb = knowledge::vuln_db(&store)?;
    let entries = knowledge::inventory(&store, &vdb)?;
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
                knowledge::vuln_summary(m),
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
