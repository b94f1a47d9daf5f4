//! Loading knowledge into the store: threat-intel feeds (`intel add`) and vulnerability
//! knowledge (`vuln import`: NVD, OSV, KEV, EPSS, scanner reports). Each is two steps: read and
//! check every file without the store, then write in one transaction; so a bad file stores
//! nothing, and a broken download (empty, mostly bad, cut off, shrinking) never replaces what is
//! stored. The formats are recognised beside their parsers (picket-intel's formats,
//! `picket_vuln::sniff`). This module must never render what it loaded: it returns typed
//! summaries.

use std::net::SocketAddr;

use picket_intel::LoadedFeed;
pub use picket_model::Imported;
use picket_model::{Application, Intake, Timestamp, unfinished_last_line};
use picket_store::prelude::*;
use picket_store::{FeedSummary, SourceApplications, Store};
use picket_vuln::{Document, VulnError};

use crate::error::{AppError, Context};
use picket_vuln::knowledge::{SOURCE_EPSS, SOURCE_KEV, Source};

use crate::knowledge::adopt_raw_records;
use crate::options::{IntelAddOptions, VulnImportOptions};

/// Reads and checks a feed file; nothing is stored yet.
pub fn load_feed(opts: &IntelAddOptions) -> Result<LoadedFeed, AppError> {
    Ok(picket_intel::load_file(&opts.name, &opts.file, &opts.load)?)
}

/// Replaces the feed of the same name with `feed`, unless the intake check refuses it.
pub fn store_feed(
    store: &Store,
    opts: &IntelAddOptions,
    feed: &LoadedFeed,
) -> Result<FeedSummary, AppError> {
    let stored = store
        .feeds()?
        .iter()
        .find(|f| f.name == opts.name)
        .map(|f| usize::try_from(f.indicators).unwrap_or(usize::MAX));
    feed.intake().check(
        &format!("feed {:?} from {}", opts.name, opts.file.display()),
        stored,
        opts.allow_shrink,
    )?;
    Ok(store.replace_feed(&opts.name, &feed.meta, &feed.indicators, Timestamp::now())?)
}

/// Vulnerability knowledge read and checked from files, ready to store.
#[derive(Debug)]
pub struct VulnImport {
    /// Each file with what it held, in the order given.
    pub files: Vec<(String, Imported)>,
    /// Records (or lines) the parsers refused, each naming file and place.
    pub skipped: Vec<VulnError>,
    sources: Vec<Source>,
    apps: Vec<SourceApplications>,
    checks: Vec<Checked>,
    allow_shrink: bool,
}

/// A file that replaces stored entries wholesale (a KEV catalogue, EPSS scores), checked before
/// anything is stored. NVD and OSV records are stored by id and replace only themselves: their
/// bad records are listed and skipped.
#[derive(Debug)]
struct Checked {
    file: String,
    intake: Intake,
    /// The source kind whose stored entries it replaces.
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

/// Reads every file of `opts`, recognising each from its content. A file that cannot be read
/// or parsed fails the whole import.
pub fn read_vuln(opts: &VulnImportOptions) -> Result<VulnImport, AppError> {
    let now = Timestamp::now();
    let mut import = VulnImport {
        files: Vec::new(),
        skipped: Vec::new(),
        sources: Vec::new(),
        apps: Vec::new(),
        checks: Vec::new(),
        allow_shrink: opts.allow_shrink,
    };
    for path in &opts.files {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).context(|| format!("cannot read {name}"))?;
        let imported = match picket_vuln::sniff(&name, &bytes)? {
            Document::Nvd => {
                let read = picket_vuln::read_nvd(bytes.as_slice(), &name)?;
                let imported = Imported::Nvd {
                    records: read.records.len(),
                    skipped: read.skipped.len(),
                };
                import.skipped.extend(read.skipped);
                import
                    .sources
                    .extend(read.records.into_iter().map(Source::nvd));
                imported
            }
            Document::Osv => {
                let read = picket_vuln::read_osv(bytes.as_slice(), &name)?;
                let imported = Imported::Osv {
                    records: read.records.len(),
                    skipped: read.skipped.len(),
                };
                import.skipped.extend(read.skipped);
                import
                    .sources
                    .extend(read.records.into_iter().map(Source::osv));
                imported
            }
            Document::Kev => {
                let catalog = picket_vuln::read_kev(bytes.as_slice(), &name)?;
                let imported = Imported::Kev {
                    version: catalog.catalog_version.clone(),
                    entries: catalog.records.len(),
                    skipped: catalog.skipped.len(),
                };
                let mut check = Checked::new(&name, SOURCE_KEV, &catalog.records, &catalog.skipped);
                check.intake.declared = catalog
                    .count
                    .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
                import.checks.push(check);
                // The newest catalog replaces the one before it.
                import.sources.push(Source::kev(&catalog));
                import.skipped.extend(catalog.skipped);
                imported
            }
            Document::Epss => {
                let file = picket_vuln::read_epss(bytes.as_slice(), &name)?;
                let imported = Imported::Epss {
                    scores: file.scores.len(),
                    skipped: file.skipped.len(),
                };
                let mut check = Checked::new(&name, SOURCE_EPSS, &file.scores, &file.skipped);
                check.intake.cut_off = unfinished_last_line(&bytes).is_some_and(|last| {
                    file.skipped.iter().any(
                        |e| matches!(e, VulnError::Line { line, .. } if usize::try_from(*line) == Ok(last)),
                    )
                });
                import.checks.push(check);
                import.sources.push(Source::epss(&file));
                import.skipped.extend(file.skipped);
                imported
            }
            Document::Report => {
                let report = picket_vuln::read_report(bytes.as_slice(), &name)?;
                let imported = Imported::Report {
                    format: report.format,
                    vulnerabilities: report.vulnerabilities.len(),
                    matches: report.matches.len(),
                };
                if let Some((host, port)) = opts.at {
                    // Every package the report names is its own application.
                    let mut packages: Vec<Application> = Vec::new();
                    for m in &report.matches {
                        if !packages.contains(&m.application) {
                            packages.push(m.application.clone());
                        }
                    }
                    import.apps.push(SourceApplications {
                        host,
                        port,
                        applications: packages,
                        source: format!("report:{name}"),
                        updated_at: now,
                    });
                }
                let id = match opts.at {
                    Some((host, port)) => format!("{name}@{}", SocketAddr::new(host, port)),
                    None => name.clone(),
                };
                import.sources.push(Source::report(id, report));
                imported
            }
        };
        import.files.push((name, imported));
    }
    Ok(import)
}

impl VulnImport {
    /// Applications the import adds to the inventory (scanner reports with `--at`).
    pub fn applications_added(&self) -> usize {
        self.apps.iter().map(|set| set.applications.len()).sum()
    }

    /// Checks each wholesale replacement against what is stored, then stores the records and
    /// applications in one transaction.
    pub fn store(&self, store: &Store) -> Result<(), AppError> {
        let stored = self
            .sources
            .iter()
            .map(Source::to_stored)
            .collect::<Result<Vec<_>, _>>()?;
        adopt_raw_records(store)?;
        for check in &self.checks {
            let stored = stored_entries(store, check.replaces)?;
            check.intake.check(&check.file, stored, self.allow_shrink)?;
        }
        store.replace_vuln_knowledge(&stored, &self.apps)?;
        Ok(())
    }
}

/// How many entries the stored KEV catalogue or EPSS file holds; `None` when none is stored.
fn stored_entries(store: &Store, kind: &str) -> Result<Option<usize>, AppError> {
    Ok(store
        .vuln_sources(Some(kind))?
        .first()
        .map(|s| usize::try_from(s.rows).unwrap_or(usize::MAX)))
}
