//! `picket intel add|list|remove|lookup`.

use std::io::Write;
use std::net::IpAddr;

use anyhow::Result;
use picket_app::options::{self as parse, IntelAddOptions};
use picket_app::{import, knowledge};
use picket_intel::LoadOptions;
use picket_model::Timestamp;
use serde::Serialize;

use crate::cli::IntelCommand;
use crate::render::{listing, skipped_entries};
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
            let format = parse::feed_format(format)?;
            let opts = IntelAddOptions {
                name: name.clone(),
                file: file.clone(),
                load: LoadOptions {
                    format,
                    keep_bogons: *keep_bogons,
                    ..LoadOptions::default()
                },
                allow_shrink: *allow_shrink,
            };
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
            skipped_entries(out, &feed.report.bad_lines)?;
        }
        IntelCommand::List { format } => {
            let format = parse::format(format)?;
            let store = picket_store::open(db)?;
            let feeds = store.feeds()?;
            #[derive(Serialize)]
            struct Row<'a> {
                name: &'a str,
                format: String,
                indicators: u64,
                loaded_at: Timestamp,
                meta: &'a picket_model::FeedMeta,
            }
            let records: Vec<Row> = feeds
                .iter()
                .map(|f| Row {
                    name: &f.name,
                    format: f.format.to_string(),
                    indicators: f.indicators,
                    loaded_at: f.loaded_at,
                    meta: &f.meta,
                })
                .collect();
            let rows: Vec<Vec<String>> = feeds
                .iter()
                .map(|f| {
                    vec![
                        f.name.clone(),
                        f.format.to_string(),
                        f.indicators.to_string(),
                        f.loaded_at.strftime("%Y-%m-%d %H:%M UTC").to_string(),
                        f.meta
                            .file_date
                            .map(|d| d.to_string())
                            .unwrap_or_else(|| "-".into()),
                        f.meta.category.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            listing(
                out,
                format,
                &[
                    "FEED",
                    "FORMAT",
                    "INDICATORS",
                    "LOADED",
                    "FILE DATE",
                    "CATEGORY",
                ],
                &rows,
                &records,
                "No feeds loaded: picket intel add NAME FILE",
            )?;
        }
        IntelCommand::Remove { name } => {
            let store = picket_store::open(db)?;
            if !store.remove_feed(name)? {
                anyhow::bail!("no feed named {name:?}");
            }
            writeln!(out, "feed {name:?} removed")?;
        }
        IntelCommand::Lookup { ip, format } => {
            let format = parse::format(format)?;
            let addr: IpAddr = parse::ip("intel lookup", ip)?;
            let store = picket_store::open(db)?;
            let table = knowledge::intel_table(&store)?;
            let hits: Vec<&picket_model::Indicator> = table.lookup(addr).collect();
            let rows: Vec<Vec<String>> = hits
                .iter()
                .map(|i| {
                    vec![
                        i.feed.clone(),
                        i.network.to_string(),
                        i.score.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
                        i.category.clone().unwrap_or_else(|| "-".into()),
                        i.first_seen
                            .map(|t| t.to_string())
                            .unwrap_or_else(|| "-".into()),
                        i.last_seen
                            .map(|t| t.to_string())
                            .unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            listing(
                out,
                format,
                &[
                    "FEED",
                    "NETWORK",
                    "SCORE",
                    "CATEGORY",
                    "FIRST SEEN",
                    "LAST SEEN",
                ],
                &rows,
                &hits,
                &format!("{addr} is on no loaded feed."),
            )?;
        }
    }
    Ok(())
}
