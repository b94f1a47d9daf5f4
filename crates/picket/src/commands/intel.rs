//! `picket intel add|list|remove|lookup`.

use std::io::Write;
use std::net::IpAddr;

use anyhow::Result;
use picket_app::import;
use picket_app::options::{self as parse, IntelAddOptions};

use crate::cli::IntelCommand;
use picket_store::prelude::*;

pub fn run(db: &str, command: &IntelCommand, out: &mut dyn Write) -> Result<()> {
    match command {
        IntelCommand::Add {
            name,
            file,
            format,
            keep_bogons,
            allow_shrink,
        } => {
            let opts =
                IntelAddOptions::new(name, file.clone(), format, *keep_bogons, *allow_shrink)?;
            // Parse fully before touching the store: a bad file changes nothing.
            let feed = import::load_feed(&opts)?;
            let store = picket_store::open(db)?;
            let summary = import::store_feed(&store, &opts, &feed)?;
            writeln!(
                out,
                "feed {name:?} ({}) loaded from {}: {} indicators; {}",
                summary.format,
                file.display(),
                summary.indicators,
                feed.report
            )?;
            picket_report::listings::skipped_entries(out, &feed.report.bad_lines)?;
        }
        IntelCommand::List { format } => {
            let format = parse::listing_format(format)?;
            let store = picket_store::open(db)?;
            picket_report::listings::feeds(out, format, &store.feeds()?)?;
        }
        IntelCommand::Remove { name } => {
            let store = picket_store::open(db)?;
            if !store.remove_feed(name)? {
                anyhow::bail!("no feed named {name:?}");
            }
            writeln!(out, "feed {name:?} removed")?;
        }
        IntelCommand::Lookup { ip, format } => {
            let format = parse::listing_format(format)?;
            let addr: IpAddr = parse::ip("intel lookup", ip)?;
            let store = picket_store::open(db)?;
            // One indexed query per lookup: the table of every indicator is never built.
            let hits = store.indicators_covering(addr)?;
            let hits: Vec<&picket_model::Indicator> = hits.iter().collect();
            picket_report::listings::indicators(out, format, addr, &hits)?;
        }
    }
    Ok(())
}
