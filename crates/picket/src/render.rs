//! Small listings of the threat commands (feeds, lookups, inventory, blocks): aligned columns for
//! people, JSON/NDJSON rows for programs. Scan runs, findings and alerts have their renderers in
//! picket-report.

use std::io::Write;

use anyhow::{Result, bail};
use picket_report::Format;
use serde::Serialize;

/// Entries skipped by a loader listed one by one before the rest are only counted.
const SHOWN_SKIPPED: usize = 10;

/// Lists the entries a loader skipped (each names file, line or path, field and why), the first
/// few in full, the rest as a count.
pub fn skipped_entries<E: std::fmt::Display>(out: &mut dyn Write, skipped: &[E]) -> Result<()> {
    for e in skipped.iter().take(SHOWN_SKIPPED) {
        writeln!(out, "  skipped {e}")?;
    }
    if skipped.len() > SHOWN_SKIPPED {
        writeln!(
            out,
            "  ... and {} more skipped",
            skipped.len() - SHOWN_SKIPPED
        )?;
    }
    Ok(())
}

/// Writes `rows` as aligned columns under `header`, or as JSON (one array) / NDJSON (one object
/// per line) of `records`.
pub fn listing<T: Serialize>(
    out: &mut dyn Write,
    format: Format,
    header: &[&str],
    rows: &[Vec<String>],
    records: &[T],
    empty: &str,
) -> Result<()> {
    match format {
        Format::Table => {
            if rows.is_empty() {
                writeln!(out, "{empty}")?;
                return Ok(());
            }
            let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
            for row in rows {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            let line = |cells: &[String]| -> String {
                let mut s = String::new();
                for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
                    if i + 1 == cells.len() {
                        s.push_str(cell);
                    } else {
                        s.push_str(&format!("{cell:<w$}  "));
                    }
                }
                s.trim_end().to_owned()
            };
            writeln!(
                out,
                "{}",
                line(&header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>())
            )?;
            for row in rows {
                writeln!(out, "{}", line(row))?;
            }
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, records)?;
            writeln!(out)?;
        }
        Format::Ndjson => {
            for r in records {
                serde_json::to_writer(&mut *out, r)?;
                writeln!(out)?;
            }
        }
        Format::Xml => bail!("--format xml is only for scan results"),
    }
    Ok(())
}
