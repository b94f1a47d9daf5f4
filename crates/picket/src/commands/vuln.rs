//! `picket vuln import`: NVD CVE JSON, OSV, the CISA KEV catalog, EPSS CSV and scanner reports
//! (Trivy, Grype, CycloneDX), recognised from their content and kept in the store.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use picket_model::{Application, Intake, Timestamp, unfinished_last_line};
use picket_report::counted;
use picket_store::prelude::*;
use picket_store::{SourceApplications, Store, VulnRecord};
use picket_vuln::VulnError;
use serde_json::Value;

use crate::commands::knowledge::{self, KIND_EPSS, KIND_KEV, KIND_NVD, KIND_OSV, KIND_REPORT};
use crate::render::skipped_entries;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Nvd,
    Osv,
    Kev,
    Epss,
    Report,
}

/// What a file holds, from its first bytes and (for JSON) its top-level keys.
fn sniff(path: &Path, bytes: &[u8]) -> Result<(Kind, Option<Value>)> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(256)]);
    let first = head.trim_start();
    if first.starts_with("#model_version") || first.starts_with("cve,epss") {
        return Ok((Kind::Epss, None));
    }
    if !first.starts_with('{') {
        bail!("{}: not JSON and not an EPSS CSV", path.display());
    }
    let value: Value = serde_json::from_slice(bytes)
        .with_context(|| format!("{}: not valid JSON", path.display()))?;
    let has = |k: &str| value.get(k).is_some();
    let kind = if has("catalogVersion") || has("dateReleased") && has("vulnerabilities") {
        Kind::Kev
    } else if has("bomFormat") || has("matches") || has("SchemaVersion") || has("Results") {
        Kind::Report
    } else if has("cve")
        || has("vulnerabilities")
        || has("configurations")
        || has("sourceIdentifier")
    {
        // NVD API 2.0 (a record, or a feed of `{"cve": ...}`); records may carry `affected` too.
        Kind::Nvd
    } else if has("affected") || (has("id") && has("modified")) {
        Kind::Osv
    } else {
        bail!(
            "{}: not an NVD, OSV, KEV or scanner-report document (top-level keys: {})",
            path.display(),
            value
                .as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default()
        );
    };
    Ok((kind, Some(value)))
}

/// A file that replaces stored entries wholesale (a KEV catalogue, EPSS scores), checked before
/// anything is stored. NVD and OSV records are stored by id and replace only themselves: their
/// bad records are listed and skipped.
struct Checked {
    file: String,
    intake: Intake,
    /// The record kind whose stored entries it replaces.
    replaces: &'static str,
}

impl Checked {
    fn new<T>(file: &str, replaces: &'static str, accepted: &[T], skipped: &[VulnError]) -> Self {
        Checked {
            file: file.to_owned(),
            intake: Intake {
                accepted: accepted.len(),
                present: accepted.len() + skipped.len(),
                rejected: skipped.len(),
                ..Intake::default()
            },
            replaces,
        }
    }
}

pub fn import(
    db: &str,
    files: &[std::path::PathBuf],
    at: Option<&str>,
    allow_shrink: bool,
    out: &mut dyn Write,
) -> Result<()> {
    if files.is_empty() {
        bail!("vuln import: name at least one file");
    }
    let at = at.map(knowledge::parse_host_port).transpose()?;
    // Read and parse everything first: a bad file stores nothing.
    let now = Timestamp::now();
    let mut records = Vec::new();
    let mut apps = Vec::new();
    let mut lines = Vec::new();
    let mut checks = Vec::new();
    let mut skipped_all = Vec::new();
    for path in files {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {name}"))?;
        let (kind, _) = sniff(path, &bytes)?;
        match kind {
            Kind::Nvd => {
                let import = picket_vuln::read_nvd(bytes.as_slice(), &name)?;
                lines.push(format!(
                    "{name}: NVD, {}{}",
                    counted(import.records.len() as u64, "CVE record", "CVE records"),
                    skipped(import.skipped.len())
                ));
                skipped_all.extend(import.skipped);
                for cve in import.records {
                    records.push(VulnRecord {
                        kind: KIND_NVD.into(),
                        id: cve.vulnerability.id.clone(),
                        body: serde_json::to_value(&cve)?,
                    });
                }
            }
            Kind::Osv => {
                let import = picket_vuln::read_osv(bytes.as_slice(), &name)?;
                lines.push(format!(
                    "{name}: OSV, {}{}",
                    counted(import.records.len() as u64, "record", "records"),
                    skipped(import.skipped.len())
                ));
                skipped_all.extend(import.skipped);
                for r in import.records {
                    records.push(VulnRecord {
                        kind: KIND_OSV.into(),
                        id: r.vulnerability.id.clone(),
                        body: serde_json::to_value(&r)?,
                    });
                }
            }
            Kind::Kev => {
                let catalog = picket_vuln::read_kev(bytes.as_slice(), &name)?;
                lines.push(format!(
                    "{name}: CISA KEV catalog {}, {}{}",
                    catalog.catalog_version.as_deref().unwrap_or("?"),
                    counted(catalog.records.len() as u64, "entry", "entries"),
                    skipped(catalog.skipped.len())
                ));
                let mut check = Checked::new(&name, KIND_KEV, &catalog.records, &catalog.skipped);
                check.intake.declared = catalog
                    .count
                    .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
                checks.push(check);
                skipped_all.extend(catalog.skipped);
                // The newest catalog replaces the one before it.
                records.push(VulnRecord {
                    kind: KIND_KEV.into(),
                    id: "catalog".into(),
                    body: Value::String(String::from_utf8_lossy(&bytes).into_owned()),
                });
            }
            Kind::Epss => {
                let file = picket_vuln::read_epss(bytes.as_slice(), &name)?;
                lines.push(format!(
                    "{name}: EPSS, {}{}",
                    counted(file.scores.len() as u64, "score", "scores"),
                    skipped(file.skipped.len())
                ));
                let mut check = Checked::new(&name, KIND_EPSS, &file.scores, &file.skipped);
                check.intake.cut_off = unfinished_last_line(&bytes).is_some_and(|last| {
                    file.skipped.iter().any(
                        |e| matches!(e, VulnError::Line { line, .. } if usize::try_from(*line) == Ok(last)),
                    )
                });
                checks.push(check);
                skipped_all.extend(file.skipped);
                records.push(VulnRecord {
                    kind: KIND_EPSS.into(),
                    id: "scores".into(),
                    body: Value::String(String::from_utf8_lossy(&bytes).into_owned()),
                });
            }
            Kind::Report => {
                let report = picket_vuln::read_report(bytes.as_slice(), &name)?;
                lines.push(format!(
                    "{name}: {} report, {}, {}",
                    report.format.as_str(),
                    counted(
                        report.vulnerabilities.len() as u64,
                        "vulnerability",
                        "vulnerabilities"
                    ),
                    counted(
                        report.matches.len() as u64,
                        "package match",
                        "package matches"
                    )
                ));
                if let Some((host, port)) = at {
                    // Every package the report names is its own application.
                    let mut packages: Vec<Application> = Vec::new();
                    for m in &report.matches {
                        if !packages.contains(&m.application) {
                            packages.push(m.application.clone());
                        }
                    }
                    apps.push(SourceApplications {
                        host,
                        port,
                        applications: packages,
                        source: format!("report:{name}"),
                        updated_at: now,
                    });
                }
                let id = match at {
                    Some((host, port)) => {
                        format!("{name}@{}", std::net::SocketAddr::new(host, port))
                    }
                    None => name.clone(),
                };
                records.push(VulnRecord {
                    kind: KIND_REPORT.into(),
                    id,
                    body: serde_json::to_value(&report)?,
                });
            }
        }
    }
    let store = picket_store::open(db)?;
    for check in &checks {
        let stored = stored_entries(&store, check.replaces)?;
        check.intake.check(&check.file, stored, allow_shrink)?;
    }
    store.import_vuln_knowledge(&records, &apps)?;
    for line in lines {
        writeln!(out, "{line}")?;
    }
    skipped_entries(out, &skipped_all)?;
    let added: usize = apps.iter().map(|set| set.applications.len()).sum();
    if added > 0 {
        writeln!(
            out,
            "{} added to the inventory",
            counted(added as u64, "application", "applications")
        )?;
    }
    Ok(())
}

/// How many entries the stored KEV catalogue or EPSS file holds; `None` when none is stored.
fn stored_entries(store: &Store, kind: &str) -> Result<Option<usize>> {
    let mut count = None;
    store.vuln_records(Some(kind), &mut |record| {
        let Some(text) = record.body.as_str() else {
            return;
        };
        count = match kind {
            KIND_KEV => picket_vuln::read_kev(text.as_bytes(), &record.id)
                .ok()
                .map(|c| c.records.len()),
            _ => picket_vuln::read_epss(text.as_bytes(), &record.id)
                .ok()
                .map(|f| f.scores.len()),
        };
    })?;
    Ok(count)
}

fn skipped(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" ({n} skipped)")
    }
}
