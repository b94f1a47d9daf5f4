//! Renderers for everything Picket prints: scan runs, findings, run lists and run diffs, as a
//! table for a person, as JSON or NDJSON for programs, and scans as Nmap-compatible XML so that
//! Nmap's own tools (`ndiff`, XSLT reports, importers) read them.
//!
//! Every renderer is a pure function of `picket_model` values that writes to a caller-supplied
//! `std::io::Write`. This crate must never detect terminals, emit colours or escape sequences,
//! read clocks or the environment, or do any I/O besides that writer: the same input always gives
//! the same bytes, which is what the snapshot tests rely on.
//!
//! Threat alerts render as a table, JSON or NDJSON ([`alerts`]) and as OCSF Detection Findings
//! ([`alerts_ocsf`]); the threat side's small listings (feeds, intel lookups, the inventory,
//! suppressions, blocks, vulnerability imports) are in [`listings`].
//!
//! The JSON and NDJSON shapes are a stable contract (fields may be added, never renamed or
//! removed); see [`scan`] for the envelope.
//!
//! Every sentence is written in [`words`]: the model carries findings' summaries, remediation
//! and verify commands, interference details and alerts' severity reasons as typed data, and
//! each renderer puts them into words at output time ([`FindingDoc`] and [`AlertDoc`] are the
//! JSON documents with the sentences in place).

mod alerts;
mod json;
pub mod listings;
mod ocsf;
mod safe;
mod table;
pub mod words;
mod xml;

use std::fmt;
use std::io::Write;
use std::str::FromStr;

use picket_model::{Finding, RunDiff, RunSummary, ScanRun};
use thiserror::Error;

pub use alerts::{AlertChangeKind, alert_block, alert_record, alerts};
pub use json::{AlertDoc, FindingDoc};
pub use ocsf::{OCSF_VERSION, OcsfActivity, alert_change_ocsf, alerts_ocsf, ocsf_finding};
pub use safe::{MAX_MESSAGE_CHARS, SafeWriter, elide, shown, terminal_safe};
pub use words::{columns, counted};

/// An output format the user can ask for with `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Aligned plain text for a person on a terminal.
    Table,
    /// One JSON document.
    Json,
    /// One JSON object per line, each with a `type`.
    Ndjson,
    /// Nmap's XML output format (`-oX`); only scans have an Nmap equivalent.
    Xml,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Table, Format::Json, Format::Ndjson, Format::Xml];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Xml => "xml",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = ReportError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ReportError::UnknownFormat {
                given: s.to_owned(),
            })
    }
}

/// Why a report could not be rendered.
#[derive(Debug, Error)]
pub enum ReportError {
    #[error("unknown output format {given:?} (expected table, json, ndjson or xml)")]
    UnknownFormat { given: String },
    #[error("{what} cannot be written as {format}: Nmap's XML format has no equivalent")]
    Unsupported { what: &'static str, format: Format },
    #[error("writing the {format} {what} failed")]
    Io {
        what: &'static str,
        format: Format,
        #[source]
        source: std::io::Error,
    },
    #[error("encoding the {what} as JSON failed")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl ReportError {
    fn io(what: &'static str, format: Format) -> impl FnOnce(std::io::Error) -> Self {
        move |source| ReportError::Io {
            what,
            format,
            source,
        }
    }
}

/// Renders one scan run with its findings.
///
/// JSON is one object: `run_id`, `target_key`, `targets`, `started_at`, `finished_at`,
/// `duration_ms`, `status`, `profile`, `hosts_total`, `hosts_up`, `hosts` (each with `address`,
/// `hostname` when known, `state`, `reason`, `counts`, `ports`, `extra_ports`, `unprobed`,
/// `unprobed_count`, `interruptions`, `stats`), `rechecks` and `findings`. NDJSON gives the same
/// content as lines typed `run`, `host`, `port`, `recheck` and `finding`.
pub fn scan(
    out: &mut dyn Write,
    format: Format,
    run: &ScanRun,
    findings: &[Finding],
) -> Result<(), ReportError> {
    match format {
        Format::Table => table::scan(out, run, findings),
        Format::Json => json::scan(out, run, findings),
        Format::Ndjson => json::scan_lines(out, run, findings),
        Format::Xml => xml::scan(out, run, findings),
    }
}

/// Renders findings: a JSON array, one finding per NDJSON line, or the table's findings section.
pub fn findings(
    out: &mut dyn Write,
    format: Format,
    findings: &[Finding],
) -> Result<(), ReportError> {
    match format {
        Format::Table => table::findings(out, findings),
        Format::Json => json::array(out, "findings", &json::FindingDoc::all(findings)),
        Format::Ndjson => json::lines(out, "findings", &json::FindingDoc::all(findings)),
        Format::Xml => Err(ReportError::Unsupported {
            what: "a list of findings",
            format,
        }),
    }
}

/// A finding's evidence in the words of the table report, a line each (re-check probes,
/// liveness, interference, pace; what a new port or a vulnerable service showed). Raw text:
/// the caller escapes it for where it shows it.
pub fn evidence_lines(f: &Finding) -> Vec<String> {
    table::evidence_lines(f)
        .into_iter()
        .filter(|l| !l.is_empty())
        .collect()
}

/// Renders the list of stored runs.
pub fn runs(out: &mut dyn Write, format: Format, runs: &[RunSummary]) -> Result<(), ReportError> {
    match format {
        Format::Table => table::runs(out, runs),
        Format::Json => json::array(out, "runs", runs),
        Format::Ndjson => json::lines(out, "runs", runs),
        Format::Xml => Err(ReportError::Unsupported {
            what: "a list of runs",
            format,
        }),
    }
}

/// Renders what changed between two runs.
///
/// JSON is the [`RunDiff`] itself; NDJSON has one line per change (`type` `change`) and per host
/// that came up (`host-up`) or went down (`host-down`), each carrying `from` and `to`.
pub fn diff(out: &mut dyn Write, format: Format, diff: &RunDiff) -> Result<(), ReportError> {
    match format {
        Format::Table => table::diff(out, diff),
        Format::Json => json::diff(out, diff),
        Format::Ndjson => json::diff_lines(out, diff),
        Format::Xml => Err(ReportError::Unsupported {
            what: "a run diff",
            format,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_display() {
        for f in Format::ALL {
            assert_eq!(f.to_string().parse::<Format>().unwrap(), f);
        }
        assert_eq!(" JSON ".parse::<Format>().unwrap(), Format::Json);
        let err = "yaml".parse::<Format>().unwrap_err();
        assert!(err.to_string().contains("\"yaml\""), "{err}");
    }

    #[test]
    fn xml_is_only_for_scans() {
        let mut out = Vec::new();
        assert!(matches!(
            findings(&mut out, Format::Xml, &[]),
            Err(ReportError::Unsupported { .. })
        ));
        assert!(matches!(
            runs(&mut out, Format::Xml, &[]),
            Err(ReportError::Unsupported { .. })
        ));
        assert!(matches!(
            alerts(&mut out, Format::Xml, &[]),
            Err(ReportError::Unsupported { .. })
        ));
        assert!(out.is_empty());
    }
}
