//! `picket inventory [add|remove]`: which application listens at which host:port, and the
//! vulnerabilities that match it.

use std::io::Write;

use anyhow::{Result, bail};
use picket_app::knowledge;
use picket_app::options as parse;

use crate::cli::{InventoryArgs, InventoryCommand};
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
            let app = parse::inventory_application(
                cpe.as_deref(),
                product.as_deref(),
                version.as_deref(),
                vendor.as_deref(),
            )?;
            let store = picket_store::open(db)?;
            let vulns = knowledge::add_application(&store, host, port, &app, "manual")?;
            writeln!(
                out,
                "{at}: {} {} ({} known vulnerabilities: {})",
                app.product,
                app.version.as_deref().unwrap_or("?"),
                vulns.len(),
                picket_report::words::vuln_summary(&vulns)
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
    let format = parse::listing_format(format)?;
    let store = picket_store::open(db)?;
    picket_report::listings::inventory(out, format, &knowledge::inventory(&store)?)?;
    Ok(())
}
