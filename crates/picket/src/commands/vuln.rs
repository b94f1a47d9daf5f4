//! `picket vuln import`: picket-app reads, checks and stores the files; this renders what each
//! held.

use std::io::Write;

use anyhow::Result;
use picket_app::import::{self, Imported};
use picket_app::options::VulnImportOptions;
use picket_report::counted;

use crate::render::skipped_entries;

pub fn import(db: &str, opts: &VulnImportOptions, out: &mut dyn Write) -> Result<()> {
    // Read and parse everything first: a bad file stores nothing.
    let import = import::read_vuln(opts)?;
    let store = picket_store::open(db)?;
    import.store(&store)?;
    for (name, imported) in &import.files {
        let line = match imported {
            Imported::Nvd { records, skipped } => format!(
                "{name}: NVD, {}{}",
                counted(*records as u64, "CVE record", "CVE records"),
                skipped_note(*skipped)
            ),
            Imported::Osv { records, skipped } => format!(
                "{name}: OSV, {}{}",
                counted(*records as u64, "record", "records"),
                skipped_note(*skipped)
            ),
            Imported::Kev {
                version,
                entries,
                skipped,
            } => format!(
                "{name}: CISA KEV catalog {}, {}{}",
                version.as_deref().unwrap_or("?"),
                counted(*entries as u64, "entry", "entries"),
                skipped_note(*skipped)
            ),
            Imported::Epss { scores, skipped } => format!(
                "{name}: EPSS, {}{}",
                counted(*scores as u64, "score", "scores"),
                skipped_note(*skipped)
            ),
            Imported::Report {
                format,
                vulnerabilities,
                matches,
            } => format!(
                "{name}: {} report, {}, {}",
                format.as_str(),
                counted(*vulnerabilities as u64, "vulnerability", "vulnerabilities"),
                counted(*matches as u64, "package match", "package matches")
            ),
        };
        writeln!(out, "{line}")?;
    }
    skipped_entries(out, &import.skipped)?;
    let added = import.applications_added();
    if added > 0 {
        writeln!(
            out,
            "{} added to the inventory",
            counted(added as u64, "application", "applications")
        )?;
    }
    Ok(())
}

fn skipped_note(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" ({n} skipped)")
    }
}
