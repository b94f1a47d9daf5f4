//! The small listings of the threat side: feeds (`intel list`), the indicators covering an
//! address (`intel lookup`), the inventory, suppression rules, blocks in force, what a
//! vulnerability import held, and the entries a loader skipped. Each is aligned columns for a
//! person (cells made terminal-safe) or JSON (one array) / NDJSON (one object a line) for
//! programs; the JSON shapes are a stable contract, like the scan's.
//!
//! Every renderer takes `picket_model` values only, so this crate never needs the store: the
//! caller lists the rows and hands them over. This module must never decide what is listed (a
//! filter, an order): it renders the rows it is given, in that order.

use std::fmt::Display;
use std::io::Write;
use std::net::IpAddr;

use picket_model::{
    ActiveBlock, Application, FeedMeta, FeedSummary, Imported, Indicator, InventoryEntry,
    Suppression, Timestamp, VulnMatch, WorkerStatus,
};
use serde::Serialize;

use crate::safe::shown;
use crate::words::{self, columns, counted};
use crate::{Format, ReportError, json};

/// Entries skipped by a loader listed one by one before the rest are only counted.
const SHOWN_SKIPPED: usize = 10;

/// One listing: its header, its rows as cells, its records as JSON, what an empty table says.
struct Listing<'a, T: Serialize> {
    what: &'static str,
    header: &'a [&'a str],
    rows: Vec<Vec<String>>,
    records: &'a [T],
    empty: &'a str,
}

impl<T: Serialize> Listing<'_, T> {
    fn write(self, out: &mut dyn Write, format: Format) -> Result<(), ReportError> {
        match format {
            Format::Table => {
                let mut text = String::new();
                if self.rows.is_empty() {
                    text = format!("{}\n", self.empty);
                } else {
                    let head = self.header.iter().map(|h| (*h).to_owned()).collect();
                    let table: Vec<Vec<String>> = std::iter::once(head).chain(self.rows).collect();
                    for line in columns(&table) {
                        text.push_str(&line);
                        text.push('\n');
                    }
                }
                out.write_all(text.as_bytes())
                    .map_err(ReportError::io(self.what, Format::Table))
            }
            Format::Json => json::array(out, self.what, self.records),
            Format::Ndjson => json::lines(out, self.what, self.records),
            Format::Xml => Err(ReportError::Unsupported {
                what: self.what,
                format,
            }),
        }
    }
}

/// A cell of an optional value: the value, or `-`.
fn or_dash<T: Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// A cell of an optional criterion: the value, or `*` (any).
fn or_any<T: Display>(value: Option<T>) -> String {
    value.map_or_else(|| "*".to_owned(), |v| v.to_string())
}

/// A feed as JSON: `name`, `format`, `indicators`, `loaded_at`, `meta`.
#[derive(Serialize)]
struct FeedDoc<'a> {
    name: &'a str,
    format: &'static str,
    indicators: u64,
    loaded_at: Timestamp,
    meta: &'a FeedMeta,
}

/// The loaded feeds (`picket intel list`).
pub fn feeds(
    out: &mut dyn Write,
    format: Format,
    feeds: &[FeedSummary],
) -> Result<(), ReportError> {
    let records: Vec<FeedDoc> = feeds
        .iter()
        .map(|f| FeedDoc {
            name: &f.name,
            format: f.format.as_str(),
            indicators: f.indicators,
            loaded_at: f.loaded_at,
            meta: &f.meta,
        })
        .collect();
    let rows = feeds
        .iter()
        .map(|f| {
            vec![
                f.name.clone(),
                f.format.to_string(),
                f.indicators.to_string(),
                words::minute(f.loaded_at),
                or_dash(f.meta.file_date),
                or_dash(f.meta.category.as_ref()),
            ]
        })
        .collect();
    Listing {
        what: "feeds",
        header: &[
            "FEED",
            "FORMAT",
            "INDICATORS",
            "LOADED",
            "FILE DATE",
            "CATEGORY",
        ],
        rows,
        records: &records,
        empty: "No feeds loaded: picket intel add NAME FILE",
    }
    .write(out, format)
}

/// Every indicator covering `addr`, from every feed (`picket intel lookup`); JSON gives the
/// indicators themselves.
pub fn indicators(
    out: &mut dyn Write,
    format: Format,
    addr: IpAddr,
    hits: &[&Indicator],
) -> Result<(), ReportError> {
    let rows = hits
        .iter()
        .map(|i| {
            vec![
                i.feed.clone(),
                i.network.to_string(),
                or_dash(i.score),
                or_dash(i.category.as_ref()),
                or_dash(i.first_seen),
                or_dash(i.last_seen),
            ]
        })
        .collect();
    Listing {
        what: "indicators",
        header: &[
            "FEED",
            "NETWORK",
            "SCORE",
            "CATEGORY",
            "FIRST SEEN",
            "LAST SEEN",
        ],
        rows,
        records: hits,
        empty: &format!("{addr} is on no loaded feed."),
    }
    .write(out, format)
}

/// An inventory entry as JSON: `host`, `port`, `application`, `source`, `updated_at`,
/// `vulnerabilities`.
#[derive(Serialize)]
struct InventoryDoc<'a> {
    host: IpAddr,
    port: u16,
    application: &'a Application,
    source: &'a str,
    updated_at: Timestamp,
    vulnerabilities: &'a [VulnMatch],
}

/// The inventory, each entry with the vulnerabilities that match it (`picket inventory`).
pub fn inventory(
    out: &mut dyn Write,
    format: Format,
    entries: &[(InventoryEntry, Vec<VulnMatch>)],
) -> Result<(), ReportError> {
    let records: Vec<InventoryDoc> = entries
        .iter()
        .map(|(e, m)| InventoryDoc {
            host: e.host,
            port: e.port,
            application: &e.application,
            source: &e.source,
            updated_at: e.updated_at,
            vulnerabilities: m,
        })
        .collect();
    let rows = entries
        .iter()
        .map(|(e, m)| {
            vec![
                std::net::SocketAddr::new(e.host, e.port).to_string(),
                e.application.product.clone(),
                or_dash(e.application.version.as_ref()),
                or_dash(e.application.cpe.as_ref()),
                e.source.clone(),
                words::vuln_summary(m),
            ]
        })
        .collect();
    Listing {
        what: "inventory",
        header: &[
            "HOST:PORT",
            "PRODUCT",
            "VERSION",
            "CPE",
            "SOURCE",
            "VULNERABILITIES",
        ],
        rows,
        records: &records,
        empty: "The inventory is empty: picket inventory add HOST:PORT --product P --version V",
    }
    .write(out, format)
}

/// The suppression rules (`picket alerts suppressions`); JSON gives the rules themselves.
pub fn suppressions(
    out: &mut dyn Write,
    format: Format,
    rules: &[Suppression],
) -> Result<(), ReportError> {
    let rows = rules
        .iter()
        .map(|r| {
            vec![
                r.id.map(|i| i.to_string()).unwrap_or_default(),
                or_any(r.client),
                or_any(r.port),
                or_any(r.application.as_ref()),
                r.expires_at
                    .map_or_else(|| "never".to_owned(), |t| t.to_string()),
                r.reason.clone(),
            ]
        })
        .collect();
    Listing {
        what: "suppressions",
        header: &["ID", "CLIENT", "PORT", "APPLICATION", "EXPIRES", "REASON"],
        rows,
        records: rules,
        empty: "No suppression rules.",
    }
    .write(out, format)
}

/// The blocks in force (`picket blocks`); JSON gives the blocks themselves.
pub fn blocks(
    out: &mut dyn Write,
    format: Format,
    blocks: &[ActiveBlock],
) -> Result<(), ReportError> {
    let rows = blocks
        .iter()
        .map(|b| {
            vec![
                b.net.clone(),
                words::expires_in(b.expires_in_s),
                b.since.map_or_else(|| "-".to_owned(), words::minute),
                b.reason
                    .clone()
                    .unwrap_or_else(|| "(not blocked by picket)".to_owned()),
            ]
        })
        .collect();
    Listing {
        what: "blocks",
        header: &["BLOCKED", "EXPIRES IN", "SINCE", "REASON"],
        rows,
        records: blocks,
        empty: "Nothing is blocked.",
    }
    .write(out, format)
}

/// The workers of the queue (`picket workers`): role, pool, the shards in flight, and how long
/// ago each last said it was alive (`now` is when the listing was read). JSON gives the
/// heartbeats themselves.
pub fn workers(
    out: &mut dyn Write,
    format: Format,
    workers: &[WorkerStatus],
    now: Timestamp,
) -> Result<(), ReportError> {
    let rows = workers
        .iter()
        .map(|w| {
            let ago = std::time::Duration::try_from(now.duration_since(w.heartbeat))
                .unwrap_or(std::time::Duration::ZERO);
            let in_flight = if w.in_flight.is_empty() {
                "-".to_owned()
            } else {
                w.in_flight
                    .iter()
                    .map(|f| format!("{}#{}", f.run, f.shard))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            vec![
                shown(&w.id),
                w.role.as_str().to_owned(),
                shown(&w.pool),
                shown(&w.hostname),
                in_flight,
                w.done.to_string(),
                format!("{} ago", words::duration(ago)),
            ]
        })
        .collect();
    Listing {
        what: "workers",
        header: &[
            "WORKER",
            "ROLE",
            "POOL",
            "HOST",
            "IN FLIGHT",
            "DONE",
            "HEARTBEAT",
        ],
        rows,
        records: workers,
        empty: "No workers: start one with picket worker --nats URL",
    }
    .write(out, format)
}

/// What a vulnerability import held (`picket vuln import`): a line per file, the records the
/// parsers skipped, and how many applications joined the inventory.
pub fn vuln_import<E: Display>(
    out: &mut dyn Write,
    files: &[(String, Imported)],
    skipped: &[E],
    applications_added: usize,
) -> Result<(), ReportError> {
    let mut text = String::new();
    for (name, imported) in files {
        text.push_str(&words::imported(name, imported));
        text.push('\n');
    }
    text.push_str(&skipped_text(skipped));
    if applications_added > 0 {
        text.push_str(&format!(
            "{} added to the inventory\n",
            counted(applications_added as u64, "application", "applications")
        ));
    }
    out.write_all(text.as_bytes())
        .map_err(ReportError::io("import summary", Format::Table))
}

/// The entries a loader skipped (each names file, line or path, field and why): the first few
/// in full, the rest as a count.
pub fn skipped_entries<E: Display>(out: &mut dyn Write, skipped: &[E]) -> Result<(), ReportError> {
    out.write_all(skipped_text(skipped).as_bytes())
        .map_err(ReportError::io("skipped entries", Format::Table))
}

fn skipped_text<E: Display>(skipped: &[E]) -> String {
    let mut text = String::new();
    for e in skipped.iter().take(SHOWN_SKIPPED) {
        text.push_str(&format!("  skipped {}\n", shown(&e.to_string())));
    }
    if skipped.len() > SHOWN_SKIPPED {
        text.push_str(&format!(
            "  ... and {} more skipped\n",
            skipped.len() - SHOWN_SKIPPED
        ));
    }
    text
}
