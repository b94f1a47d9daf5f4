//! What the threat workflows know, rebuilt from the store: the intel table (every stored
//! indicator), the vulnerability database (every stored record), the inventory with the
//! vulnerabilities that match it, and the suppressions in force. [`KnowledgeWatch`] notices when
//! the store's feeds, suppressions or inventory change and hands a running detector the new ones
//! (hot swap), so a long `detect --follow` sees a feed added an hour after it started.
//!
//! Nothing here writes to the store but [`add_application`], and a failed reload must never leave the detector with
//! less than it had: the old knowledge stays until the new is fully built.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use picket_detect::threat::{Inventory, ThreatDetector};
use picket_intel::IntelTable;
use picket_model::{Suppression, Timestamp, Transport, VulnMatch};
use picket_store::{InventoryEntry, Store};
use picket_vuln::{NvdCve, OsvRecord, ScannerReport, VulnDb};

use crate::error::AppError;

/// Record kinds in the store's vulnerability records (see [`crate::import`]).
pub const KIND_NVD: &str = "nvd";
pub const KIND_OSV: &str = "osv";
pub const KIND_KEV: &str = "kev";
pub const KIND_EPSS: &str = "epss";
pub const KIND_REPORT: &str = "report";

/// Every stored indicator in one immutable lookup table.
pub fn intel_table(store: &mut dyn Store) -> Result<IntelTable, AppError> {
    let indicators = store.indicators(None)?;
    IntelTable::build(indicators)
        .map_err(|e| AppError::from(e).context("cannot build the intel table"))
}

/// The vulnerability database rebuilt from every stored record.
pub fn vuln_db(store: &mut dyn Store) -> Result<VulnDb, AppError> {
    let mut db = VulnDb::new();
    let mut failure = None;
    store.vuln_records(None, &mut |record| {
        if failure.is_some() {
            return;
        }
        let loaded = match record.kind.as_str() {
            KIND_NVD => serde_json::from_value::<NvdCve>(record.body)
                .map(|c| db.add_nvd(c))
                .map_err(|e| e.to_string()),
            KIND_OSV => serde_json::from_value::<OsvRecord>(record.body)
                .map(|r| db.add_osv(r))
                .map_err(|e| e.to_string()),
            KIND_REPORT => serde_json::from_value::<ScannerReport>(record.body)
                .map(|r| db.add_report(r))
                .map_err(|e| e.to_string()),
            KIND_KEV => raw_text(&record.body)
                .and_then(|t| {
                    picket_vuln::read_kev(t.as_bytes(), &record.id).map_err(|e| e.to_string())
                })
                .map(|c| db.add_kev(&c)),
            KIND_EPSS => raw_text(&record.body)
                .and_then(|t| {
                    picket_vuln::read_epss(t.as_bytes(), &record.id).map_err(|e| e.to_string())
                })
                .map(|f| db.add_epss(&f)),
            other => Err(format!("unknown record kind {other:?}")),
        };
        if let Err(why) = loaded {
            failure = Some(format!(
                "stored {} record {:?}: {why}",
                record.kind, record.id
            ));
        }
    })?;
    match failure {
        Some(why) => Err(AppError::Refused(why)),
        None => Ok(db),
    }
}

fn raw_text(body: &serde_json::Value) -> Result<String, String> {
    body.as_str()
        .map(str::to_owned)
        .ok_or_else(|| "expected the raw document as text".to_owned())
}

/// The inventory with the vulnerabilities that match each entry.
pub fn inventory(
    store: &mut dyn Store,
    db: &VulnDb,
) -> Result<Vec<(InventoryEntry, Vec<VulnMatch>)>, AppError> {
    Ok(store
        .inventory()?
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
    store: &mut dyn Store,
    host: std::net::IpAddr,
    port: u16,
    app: &picket_model::Application,
    source: &str,
) -> Result<Vec<VulnMatch>, AppError> {
    store.upsert_application(host, port, app, source, Timestamp::now())?;
    Ok(vuln_db(store)?.matches(app))
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
pub fn active_suppressions(
    store: &mut dyn Store,
    now: Timestamp,
) -> Result<Vec<Suppression>, AppError> {
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
    /// Loads all of it from the store.
    pub fn load(store: &mut dyn Store, now: Timestamp) -> Result<Self, AppError> {
        let intel = Arc::new(intel_table(store)?);
        let db = vuln_db(store)?;
        let inventory = detector_inventory(&inventory(store, &db)?);
        let suppressions = active_suppressions(store, now)?;
        Ok(Self {
            intel,
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
    pub inventory: u64,
}

impl Generation {
    pub fn read(store: &mut dyn Store, now: Timestamp) -> Result<Self, AppError> {
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
        let inventory = fingerprint(store.inventory()?.iter().map(|e| {
            (
                e.host,
                e.port,
                e.source.clone(),
                e.updated_at,
                e.application.product.clone(),
                e.application.version.clone(),
            )
        }));
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
    pub fn new(store: &mut dyn Store, every: Duration) -> Result<Self, AppError> {
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
        store: &mut dyn Store,
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
            let db = vuln_db(store)?;
            detector.set_inventory(detector_inventory(&inventory(store, &db)?));
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
