//! Small listings of the threat commands (feeds, lookups, inventory, blocks): aligned columns for
//! people, JSON/NDJSON rows for programs. Scan runs, findings and alerts have their renderers in
//! picket-report.

use std::collections::HashSet;
use std::io::Write;

use anyhow::{Result, bail};
use picket_model::VulnMatch;
use picket_report::{Format, MAX_MESSAGE_CHARS, elide, terminal_safe};
use serde::Serialize;

/// An error and its causes as one line for stderr: each cause said once (a cause whose text an
/// earlier part already contains is left out), terminal-safe, and elided when long (a bad line
/// quoted in full can be megabytes).
pub fn message(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(text.as_str())) {
            parts.push(text);
        }
    }
    shown(&parts.join(": "))
}

/// One message as it may be printed: terminal-safe and at most about
/// [`picket_report::MAX_MESSAGE_CHARS`] characters.
pub fn shown(text: &str) -> String {
    terminal_safe(&elide(text, MAX_MESSAGE_CHARS)).into_owned()
}

/// Entries skipped by a loader listed one by one before the rest are only counted.
const SHOWN_SKIPPED: usize = 10;

/// Lists the entries a loader skipped (each names file, line or path, field and why), the first
/// few in full, the rest as a count.
pub fn skipped_entries<E: std::fmt::Display>(out: &mut dyn Write, skipped: &[E]) -> Result<()> {
    for e in skipped.iter().take(SHOWN_SKIPPED) {
        writeln!(out, "  skipped {}", shown(&e.to_string()))?;
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

/// Writes `rows` as aligned columns under `header` (each cell made terminal-safe), or as JSON
/// (one array) / NDJSON (one object per line) of `records`.
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
            let head: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
            let table: Vec<Vec<String>> =
                std::iter::once(head).chain(rows.iter().cloned()).collect();
            for line in picket_report::columns(&table) {
                writeln!(out, "{line}")?;
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

/// Vulnerability ids of an inventory entry, for tables: `CVE-2024-6387 8.1 KEV, ...`.
pub fn vuln_summary(matches: &[VulnMatch]) -> String {
    let mut seen = HashSet::new();
    let ids: Vec<String> = matches
        .iter()
        .filter(|m| seen.insert(m.vuln_id.as_str()))
        .map(|m| {
            let score = m
                .cvss
                .as_ref()
                .map(|c| format!(" {:.1}", c.base_score))
                .unwrap_or_default();
            let kev = if m.kev.is_some() { " KEV" } else { "" };
            format!("{}{score}{kev}", m.vuln_id)
        })
        .collect();
    if ids.is_empty() {
        "-".to_owned()
    } else {
        ids.join(", ")
    }
}
