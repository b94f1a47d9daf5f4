//! What the threat workflows know, rebuilt from the store: the intel table (every stored
//! indicator), the vulnerability database (only the knowledge the inventory's applications
//! need), the inventory with the vulnerabilities that match it, and the suppressions in force.
//! [`KnowledgeWatch`] notices when the store's feeds, suppressions, inventory or vulnerability
//! knowledge change and hands a running detector the new ones (hot swap), so a long
//! `detect --follow` sees a feed or an NVD import added an hour after it started.
//!
//! Nothing here writes to the store but [`add_application`] and the one-time conversion of raw
//! records ([`adopt_raw_records`]), and a failed reload must never leave the detector with less
//! than it had: the old knowledge stays until the new is fully built.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use picket_detect::threat::{Inventory, ThreatDetector};
use picket_intel::{IntelTable, TableBuilder};
use picket_model::{Application, KnowledgeSource, Suppression, Timestamp, Transport, VulnMatch};
use picket_store::prelude::*;
use picket_store::{IndicatorSlice, InventoryEntry, Store, VulnRecord};
use picket_vuln::knowledge::{
    self, SOURCE_EPSS, SOURCE_KEV, SOURCE_NVD, SOURCE_OSV, SOURCE_REPORT, Source,
};
use picket_vuln::{NvdCve, OsvRecord, ScannerReport, VulnDb};
use serde::Deserialize;

use crate::error::AppError;

/// Every stored indicator in one immutable lookup table: the table the store keeps for its
/// current feeds when there is one (read in one row), else built as the store streams the
/// indicators (never all held as values at once) and then kept for the next run. A kept table
/// that cannot be decoded, or cannot be kept, costs a build, never the run.
pub fn intel_table(store: &Store) -> Result<IntelTable, AppError> {
    let key = store.intel_table_key()?;
    // A kept table the store cannot hand back whole (parts out of order, say) is built again
    // like one that does not decode; a store that cannot be read at all fails the build below.
    let kept = match store.stored_intel_table(&key) {
        Ok(Some(bytes)) => IntelTable::decode(&bytes)
            .map(Some)
            .map_err(|e| e.to_string()),
        Ok(None) => Ok(None),
        Err(e) => Err(e.to_string()),
    };
    match kept {
        Ok(Some(table)) => return Ok(table),
        Ok(None) => {}
        Err(why) => tracing::warn!("{why}: building the intel table again from the indicators"),
    }
    let table = build_intel_table(store)?;
    // Kept only if the feeds are still those of `key`: a table built from feeds replaced
    // meanwhile is used for this run and never stored under the old key.
    if let Err(e) = store.keep_intel_table(&key, &table.encode()) {
        tracing::warn!("cannot keep the intel table for the next run: {e}");
    }
    Ok(table)
}

/// The intel table built from the stored indicators, read in slices on several threads.
pub fn build_intel_table(store: &Store) -> Result<IntelTable, AppError> {
    let parts = std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_SLICES));
    let feeds = store.feeds()?;
    let total: u64 = feeds.iter().map(|f| f.indicators).sum();
    if parts > 1 && total >= SLICED_FROM {
        let slices = store.indicator_slices(parts)?;
        let builders = std::thread::scope(|scope| {
            let rest: Vec<_> = slices
                .iter()
                .skip(1)
                .map(|slice| scope.spawn(move || build_slice(store, Some(slice))))
                .collect();
            let first = build_slice(store, slices.first());
            let rest: Vec<_> = rest
                .into_iter()
                // A panic while building is a bug: it goes on as the panic it is.
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect();
            (first, rest)
        });
        // A feed replaced while the slices were read may have torn them: read it again whole.
        if store.feeds()? == feeds {
            let (first, rest) = builders;
            let mut builder = first?;
            for part in rest {
                builder.append(part?).map_err(built)?;
            }
            return builder.finish().map_err(built);
        }
    }
    let builder = build_slice(store, None)?;
    builder.finish().map_err(built)
}

/// Indicators from which [`intel_table`] reads the store in slices, one per processor (at most
/// [`MAX_SLICES`]), at once: below this, a thread costs more than it saves.
const SLICED_FROM: u64 = 20_000;
const MAX_SLICES: usize = 4;

/// A builder holding the indicators of `slice` (`None`: every indicator), in order.
fn build_slice(store: &Store, slice: Option<&IndicatorSlice>) -> Result<TableBuilder, AppError> {
    let mut builder = IntelTable::builder();
    let mut failed = None;
    let mut each = |indicator| {
        if failed.is_none()
            && let Err(e) = builder.push(indicator)
        {
            failed = Some(e);
        }
    };
    match slice {
        Some(slice) => store.each_indicator_in(slice, &mut each)?,
        None => store.each_indicator(None, &mut each)?,
    }
    failed.map_or(Ok(builder), |e| Err(built(e)))
}

fn built(e: picket_intel::IntelError) -> AppError {
    AppError::from(e).context("cannot build the intel table")
}

/// A vulnerability database holding what matching `apps` needs, and nothing else: the
/// knowledge rows of their keys, read from the store (see `picket_vuln::knowledge`).
pub fn vuln_db(store: &Store, apps: &[Application]) -> Result<VulnDb, AppError> {
    adopt_raw_records(store)?;
    knowledge::load(apps, |keys| -> Result<_, AppError> {
        Ok(store.vuln_knowledge(keys)?)
    })
}

/// Databases written before knowledge was stored by key hold the imported records raw: the
/// first command that reads or writes knowledge converts them, once, into keyed rows (a
/// source imported since keeps its newer rows).
pub fn adopt_raw_records(store: &Store) -> Result<(), AppError> {
    let mut sources = Vec::new();
    let mut failure = None;
    let mut any = false;
    store.vuln_records(None, &mut |record| {
        any = true;
        if failure.is_some() {
            return;
        }
        match converted(&record) {
            Ok(source) => sources.push(source),
            Err(why) => {
                failure = Some(format!(
                    "stored {} record {:?}: {why}",
                    record.kind, record.id
                ));
            }
        }
    })?;
    if let Some(why) = failure {
        return Err(AppError::Refused(why));
    }
    if any {
        store.adopt_vuln_records(&sources)?;
    }
    Ok(())
}

/// One raw record as the keyed rows of its source.
fn converted(record: &VulnRecord) -> Result<KnowledgeSource, String> {
    let json = |e: serde_json::Error| e.to_string();
    let source = match record.kind.as_str() {
        SOURCE_NVD => Source::nvd(NvdCve::deserialize(&record.body).map_err(json)?),
        SOURCE_OSV => Source::osv(OsvRecord::deserialize(&record.body).map_err(json)?),
        SOURCE_REPORT => Source::report(
            record.id.clone(),
            ScannerReport::deserialize(&record.body).map_err(json)?,
        ),
        SOURCE_KEV => Source::kev(
            &picket_vuln::read_kev(raw_text(&record.body)?.as_bytes(), &record.id)
                .map_err(|e| e.to_string())?,
        ),
        SOURCE_EPSS => Source::epss(
            &picket_vuln::read_epss(raw_text(&record.body)?.as_bytes(), &record.id)
                .map_err(|e| e.to_string())?,
        ),
        other => return Err(format!("unknown record kind {other:?}")),
    };
    source.to_stored().map_err(|e| e.to_string())
}

fn raw_text(body: &serde_json::Value) -> Result<&str, String> {
    body.as_str()
        .ok_or_else(|| "expected the raw document as text".to_owned())
}

/// The inventory with the vulnerabilities that match each entry, loading only the knowledge
/// its applications need.
pub fn inventory(store: &Store) -> Result<Vec<(InventoryEntry, Vec<VulnMatch>)>, AppError> {
    let entries = store.inventory()?;
    let apps: Vec<Application> = entries.iter().map(|e| e.application.clone()).collect();
    let db = vuln_db(store, &apps)?;
    Ok(entries
        .into_iter()
        .map(|entry| {
            let matches = db.matches(&entry.application);
            (entry, matches)
        })
        .collect())
}

/// Records `app` at `host:port` in the inventory, as `source` says; returns the vulnerabilities
/// it has by the stored knowledge.
pub fn add_application(
    store: &Store,
    host: std::net::IpAddr,
    port: u16,
    app: &picket_model::Application,
    source: &str,
) -> Result<Vec<VulnMatch>, AppError> {
    store.upsert_application(host, port, app, source, Timestamp::now())?;
    Ok(vuln_db(store, std::slice::from_ref(app))?.matches(app))
}

/// The detector's inventory: every entry, TCP, with its matches.
pub fn detector_inventory(entries: &[(InventoryEntry, Vec<VulnMatch>)]) -> Inventory {
    let mut inv = Inventory::new();
    for (entry, matches) in entries {
        inv.insert(
            entry.host,
            entry.port,
            Transport::Tcp,
            entry.application.clone(),
            matches,
        );
    }
    inv
}

/// The suppression rules in force at `now`.
pub fn active_suppressions(store: &Store, now: Timestamp) -> Result<Vec<Suppression>, AppError> {
    Ok(store
        .suppressions()?
        .into_iter()
        .filter(|s| s.expires_at.is_none_or(|e| e > now))
        .collect())
}

/// Everything a threat detector is built from.
pub struct Knowledge {
    pub intel: Arc<IntelTable>,
    pub inventory: Inventory,
    pub suppressions: Vec<Suppression>,
}

impl Knowledge {
    /// Loads all of it from the store: the intel table on a thread of its own, while this one
    /// matches the inventory with the vulnerability knowledge (each is a good part of a run's
    /// start).
    pub fn load(store: &Store, now: Timestamp) -> Result<Self, AppError> {
        let (intel, rest) = std::thread::scope(|scope| {
            let intel = scope.spawn(|| intel_table(store));
            let rest = inventory(store).and_then(|inventory| {
                Ok((
                    detector_inventory(&inventory),
                    active_suppressions(store, now)?,
                ))
            });
            // A panic while loading is a bug: it goes on as the panic it is.
            let intel = intel
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (intel, rest)
        });
        let (inventory, suppressions) = rest?;
        Ok(Self {
            intel: Arc::new(intel?),
            inventory,
            suppressions,
        })
    }
}

/// A cheap fingerprint of each part of the stored knowledge: feeds (name, size, load time),
/// suppressions in force (ids and expiry), inventory (entries and their update times). A part
/// whose fingerprint moved is rebuilt; the others are left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    pub feeds: u64,
    pub suppressions: u64,
    /// The inventory and the vulnerability knowledge it is matched with.
    pub inventory: u64,
}

impl Generation {
    pub fn read(store: &Store, now: Timestamp) -> Result<Self, AppError> {
        let feeds = fingerprint(
            store
                .feeds()?
                .iter()
                .map(|f| (f.name.clone(), f.indicators, f.loaded_at)),
        );
        let suppressions = fingerprint(
            active_suppressions(store, now)?
                .iter()
                .map(|s| (s.id, s.expires_at)),
        );
        let applications = fingerprint(store.inventory()?.iter().map(|e| {
            (
                e.host,
                e.port,
                e.source.clone(),
                e.updated_at,
                e.application.product.clone(),
                e.application.version.clone(),
            )
        }));
        let knowledge = fingerprint(
            store
                .vuln_sources(None)?
                .into_iter()
                .map(|s| (s.kind, s.id, s.rows)),
        );
        let inventory = fingerprint([applications, knowledge].into_iter());
        Ok(Self {
            feeds,
            suppressions,
            inventory,
        })
    }
}

fn fingerprint<T: Hash>(items: impl Iterator<Item = T>) -> u64 {
    let mut hasher = DefaultHasher::new();
    let mut n = 0u64;
    for item in items {
        item.hash(&mut hasher);
        n += 1;
    }
    n.hash(&mut hasher);
    hasher.finish()
}

/// What a [`KnowledgeWatch::poll`] swapped into the detector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swapped {
    pub intel: bool,
    pub inventory: bool,
    pub suppressions: bool,
}

impl Swapped {
    pub fn any(&self) -> bool {
        self.intel || self.inventory || self.suppressions
    }
}

/// Asks the store, at most every `every`, whether its knowledge changed, and swaps what did into
/// a running detector.
#[derive(Debug)]
pub struct KnowledgeWatch {
    every: Duration,
    last_check: Instant,
    seen: Generation,
}

impl KnowledgeWatch {
    /// A watch that takes the store's knowledge as of now as what the detector holds.
    pub fn new(store: &Store, every: Duration) -> Result<Self, AppError> {
        Ok(Self {
            every,
            last_check: Instant::now(),
            seen: Generation::read(store, Timestamp::now())?,
        })
    }

    /// When the interval has passed: compares the store's generation with the one the detector
    /// holds and rebuilds the parts that changed. A part that fails to build keeps the old one
    /// and is tried again at the next check.
    pub fn poll(
        &mut self,
        store: &Store,
        detector: &mut ThreatDetector,
    ) -> Result<Swapped, AppError> {
        if self.last_check.elapsed() < self.every {
            return Ok(Swapped::default());
        }
        self.last_check = Instant::now();
        let now = Timestamp::now();
        let current = Generation::read(store, now)?;
        let mut swapped = Swapped::default();
        if current.feeds != self.seen.feeds {
            detector.set_intel(Arc::new(intel_table(store)?));
            self.seen.feeds = current.feeds;
            swapped.intel = true;
        }
        if current.inventory != self.seen.inventory {
            detector.set_inventory(detector_inventory(&inventory(store)?));
            self.seen.inventory = current.inventory;
            swapped.inventory = true;
        }
        if current.suppressions != self.seen.suppressions {
            detector.set_suppressions(active_suppressions(store, now)?);
            self.seen.suppressions = current.suppressions;
            swapped.suppressions = true;
        }
        Ok(swapped)
    }
}
