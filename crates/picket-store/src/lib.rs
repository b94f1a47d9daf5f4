//! Picket's store, kept in SQLite (the default, bundled, one file) or PostgreSQL behind one
//! [`Store`] interface. The exposure side: scan runs, their hosts, observations and re-checks,
//! and findings. The threat side: intel feeds and their indicators, the inventory of
//! applications, vulnerability knowledge, alerts, suppressions, follow checkpoints and blocks.
//!
//! Both backends share one schema (versioned migrations, applied in a transaction when a store is
//! opened) and one set of SQL statements (see `sql.rs`). Writes that belong together happen in
//! one transaction: a failed [`Store::finish_run`], [`Store::save_findings`],
//! [`Store::replace_feed`] or [`Store::save_checkpoint_with_alerts`] leaves what was stored
//! before untouched.
//!
//! The store must never damage data it was not asked to change: it refuses to open a file that
//! is not an SQLite database, or an SQLite database that is not Picket's, without writing a byte
//! to it; and it refuses a database whose schema is newer than this build knows instead of
//! reading or writing it wrongly. It never prints, and never reads a clock to decide anything
//! (timestamps come from the caller).
//!
//! The API is synchronous. **The PostgreSQL backend must not be called from inside a tokio
//! runtime**: its client blocks on a runtime of its own and panics there. From async code, call
//! the store on a plain thread (`tokio::task::spawn_blocking`). SQLite has no such limit, but it
//! blocks the calling thread too.
//!
//! Timestamps are stored as whole microseconds since the Unix epoch: a finer part is dropped.

mod conn;
mod error;
mod postgres;
mod sql;
mod sqlite;
mod store;

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use picket_model::{
    Alert, Application, FeedFormat, FeedMeta, Finding, FindingKind, Indicator, KnowledgeKey,
    KnowledgeRow, KnowledgeSource, RunId, RunSummary, ScanProfile, ScanRun, Severity, Suppression,
    Targets, Timestamp, Vulnerability,
};

pub use error::{DbError, StoreError};

/// Where runs and findings are kept. Obtain one with [`open`].
///
/// "Newest" means the highest [`RunId`]: ids are handed out in the order runs begin and are
/// never reused.
pub trait Store: Send {
    /// Records a new run with status Running; returns its id.
    fn begin_run(
        &mut self,
        targets: &Targets,
        profile: &ScanProfile,
        started_at: Timestamp,
    ) -> Result<RunId, StoreError>;

    /// Stores the run's hosts, observations and rechecks (replacing any stored for `run.id`),
    /// its status and `finished_at`, in one transaction. The run must have been begun with
    /// [`Store::begin_run`]; its targets and profile stay as begun.
    fn finish_run(&mut self, run: &ScanRun) -> Result<(), StoreError>;

    /// Inserts findings in one transaction and sets each `id`. A finding that already has an id
    /// is refused (nothing is written), so that a finding is never stored twice.
    fn save_findings(&mut self, findings: &mut [Finding]) -> Result<(), StoreError>;

    /// [`Store::finish_run`] and [`Store::save_findings`] in one transaction: a run is never
    /// stored finished without its findings (the next scan compares against the newest finished
    /// run, so findings lost after it was stored would never be raised again).
    fn finish_run_with_findings(
        &mut self,
        run: &ScanRun,
        findings: &mut [Finding],
    ) -> Result<(), StoreError>;

    /// The full run: hosts sorted by address, each host's ports by port, re-checks in the order
    /// they were stored. `None` if there is no such run.
    fn run(&mut self, id: RunId) -> Result<Option<ScanRun>, StoreError>;

    /// The newest `limit` runs, newest first, whatever their status.
    fn runs(&mut self, limit: usize) -> Result<Vec<RunSummary>, StoreError>;

    /// Completed runs whose target_key equals `target_key`, newest first, at most `limit`.
    fn runs_for_targets(
        &mut self,
        target_key: &str,
        limit: usize,
    ) -> Result<Vec<RunId>, StoreError>;

    /// The latest Completed run with the same target_key and an id lower than `before`.
    fn previous_run(
        &mut self,
        target_key: &str,
        before: RunId,
    ) -> Result<Option<RunId>, StoreError>;

    /// The findings that match every condition set in `filter`, oldest first (by `created_at`,
    /// then by id).
    fn findings(&mut self, filter: &FindingFilter) -> Result<Vec<Finding>, StoreError>;

    /// Registers the feed `name` with these indicators, replacing whatever it held before, in
    /// one transaction: readers see the old feed or the new one, never a mix, and a failure
    /// keeps the old feed. `meta.name` and every indicator's `feed` must be `name` (checked
    /// before anything is written).
    fn replace_feed(
        &mut self,
        name: &str,
        meta: &FeedMeta,
        indicators: &[Indicator],
        loaded_at: Timestamp,
    ) -> Result<FeedSummary, StoreError>;

    /// Every registered feed, by name.
    fn feeds(&mut self) -> Result<Vec<FeedSummary>, StoreError>;

    /// Removes the feed and its indicators; `false` if there was no such feed.
    fn remove_feed(&mut self, name: &str) -> Result<bool, StoreError>;

    /// The indicators of one feed, or of all; grouped by feed (in the order the feeds were last
    /// replaced), each feed's in the order it was given to [`Store::replace_feed`].
    fn indicators(&mut self, feed: Option<&str>) -> Result<Vec<Indicator>, StoreError>;

    /// Records that `apps` run on `host` port `port`, as `source` says (`manual`, `scan`,
    /// `report:FILE` ...), replacing whatever that source said there before, in one
    /// transaction: one entry per application (a scanner report names many packages behind one
    /// port). Of several applications with one package, the last is kept.
    fn replace_applications(
        &mut self,
        host: IpAddr,
        port: u16,
        apps: &[Application],
        source: &str,
        updated_at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Records that `app` alone runs on `host` port `port` as `source` says: one entry per
    /// (host, port, source), replaced by a newer call.
    fn upsert_application(
        &mut self,
        host: IpAddr,
        port: u16,
        app: &Application,
        source: &str,
        updated_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.replace_applications(host, port, std::slice::from_ref(app), source, updated_at)
    }

    /// Every inventory entry, by host (numerically), port, source and product.
    fn inventory(&mut self) -> Result<Vec<InventoryEntry>, StoreError>;

    /// Removes the entries of one source at a host port; `false` if there were none.
    fn remove_application(
        &mut self,
        host: IpAddr,
        port: u16,
        source: &str,
    ) -> Result<bool, StoreError>;

    /// Stores vulnerabilities by id (a stored one with the same id is replaced), in one
    /// transaction. Of several with one id in `vulns`, the last is kept.
    fn put_vulnerabilities(&mut self, vulns: &[Vulnerability]) -> Result<(), StoreError>;

    /// Every stored vulnerability, by id.
    fn vulnerabilities(&mut self) -> Result<Vec<Vulnerability>, StoreError>;

    /// Stores imported source records by (kind, id), replacing stored ones, in one transaction.
    /// Of several with one (kind, id) in `records`, the last is kept.
    fn put_vuln_records(&mut self, records: &[VulnRecord]) -> Result<(), StoreError>;

    /// What one `vuln import` stores, in one transaction: `records` as
    /// [`Store::put_vuln_records`] does, and every set of `applications` as
    /// [`Store::replace_applications`] does (a re-imported report replaces its packages).
    fn import_vuln_knowledge(
        &mut self,
        records: &[VulnRecord],
        applications: &[SourceApplications],
    ) -> Result<(), StoreError>;

    /// Hands every stored record of `kind` (or of every kind) to `each`, one at a time, without
    /// holding them all in memory (an NVD import is hundreds of megabytes). No order.
    fn vuln_records(
        &mut self,
        kind: Option<&str>,
        each: &mut dyn FnMut(VulnRecord),
    ) -> Result<(), StoreError>;

    /// Stores the alert, keyed by its `dedup_key` and `window_start`: a new key inserts it, a
    /// known one overwrites the stored alert with this one (counts, last_seen, severity,
    /// context). Sets `alert.id`.
    fn upsert_alert(&mut self, alert: &mut Alert) -> Result<AlertWrite, StoreError>;

    /// [`Store::upsert_alert`] for a batch, in one transaction: all are stored or none.
    fn upsert_alerts(&mut self, alerts: &mut [Alert]) -> Result<Vec<AlertWrite>, StoreError>;

    /// The alerts matching every condition set in `filter`, by `first_seen`, then id.
    fn alerts(&mut self, filter: &AlertFilter) -> Result<Vec<Alert>, StoreError>;

    /// The alerts whose dedup window started at or after `since`, by window start, then id:
    /// what a restarted detector reloads to go on updating them instead of raising new ones.
    fn open_alerts(&mut self, since: Timestamp) -> Result<Vec<Alert>, StoreError>;

    /// Stores a new suppression and returns its id; one that already has an id is refused.
    fn add_suppression(&mut self, suppression: &Suppression) -> Result<i64, StoreError>;

    /// Every suppression, expired or not, by id.
    fn suppressions(&mut self) -> Result<Vec<Suppression>, StoreError>;

    /// `false` if there was no such suppression.
    fn remove_suppression(&mut self, id: i64) -> Result<bool, StoreError>;

    /// Where the followed `source` got to, as last saved.
    fn checkpoint(&mut self, source: &str) -> Result<Option<serde_json::Value>, StoreError>;

    /// Upserts `alerts` (as [`Store::upsert_alert`]) and saves the checkpoint of `source`, in
    /// one transaction: after a crash, the reader resumes from a checkpoint that matches the
    /// stored alerts, so no event is lost and none is counted twice. Sets each `id` only once
    /// committed; returns what happened to each alert, in order.
    fn save_checkpoint_with_alerts(
        &mut self,
        source: &str,
        checkpoint: &serde_json::Value,
        alerts: &mut [Alert],
    ) -> Result<Vec<AlertWrite>, StoreError>;

    /// Records a block and returns its id; one that already has an id is refused.
    fn record_block(&mut self, block: &BlockRecord) -> Result<i64, StoreError>;

    /// Every block (`None`), or those in force at the given instant: not lifted and not
    /// expired. By id.
    fn blocks(&mut self, active_at: Option<Timestamp>) -> Result<Vec<BlockRecord>, StoreError>;

    /// Marks every block of exactly `net` that is not yet lifted as lifted at `at`; returns
    /// how many there were.
    fn mark_unblocked(&mut self, net: IpNet, at: Timestamp) -> Result<u64, StoreError>;

    // Vulnerability knowledge in the shape it is queried: each imported source's rows, keyed
    // by what a match looks up (`picket_vuln::knowledge` encodes and decodes them).

    /// What one `vuln import` stores, in one transaction: each source's rows in place of
    /// whatever the same (kind, id) held before (of several with one (kind, id) in `sources`,
    /// the last is kept), and every set of `applications` as [`Store::replace_applications`]
    /// does.
    fn replace_vuln_knowledge(
        &mut self,
        sources: &[KnowledgeSource],
        applications: &[SourceApplications],
    ) -> Result<(), StoreError>;

    /// The rows stored under `keys`, and no others: by key (kind, then key), the rows of one
    /// key by source (kind, then id) and then in the order their source gave them.
    fn vuln_knowledge(&mut self, keys: &[KnowledgeKey]) -> Result<Vec<KnowledgeRow>, StoreError>;

    /// The stored sources (of one kind, or all) with how many rows each holds, by kind, then
    /// id.
    fn vuln_sources(&mut self, kind: Option<&str>) -> Result<Vec<VulnSourceSummary>, StoreError>;

    /// The upgrade of a database that holds raw [`VulnRecord`]s: stores those of `sources`
    /// (the records converted) that are not stored yet, so a source imported since keeps its
    /// newer rows, and removes every raw record, in one transaction.
    fn adopt_vuln_records(&mut self, sources: &[KnowledgeSource]) -> Result<(), StoreError>;
}

/// One stored source of vulnerability knowledge, as [`Store::vuln_sources`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VulnSourceSummary {
    /// `nvd`, `osv`, `kev`, `epss`, `report`.
    pub kind: String,
    pub id: String,
    /// How many rows it holds (a KEV catalogue's entries, an EPSS file's scores).
    pub rows: u64,
}

/// Which findings [`Store::findings`] returns; an unset field does not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingFilter {
    pub run: Option<RunId>,
    pub kind: Option<FindingKind>,
    pub host: Option<IpAddr>,
}

/// A registered feed, as [`Store::feeds`] lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedSummary {
    pub name: String,
    pub format: FeedFormat,
    pub meta: FeedMeta,
    pub indicators: u64,
    pub loaded_at: Timestamp,
}

/// One application of the inventory, at a host port, as one source says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryEntry {
    pub host: IpAddr,
    pub port: u16,
    pub application: Application,
    /// Who said so: `manual`, `scan`, `report:FILE` ...
    pub source: String,
    pub updated_at: Timestamp,
}

/// Everything one source says runs at one host port (a report's packages), stored in place of
/// what that source said there before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceApplications {
    pub host: IpAddr,
    pub port: u16,
    pub applications: Vec<Application>,
    /// Who says so: `report:FILE` ...
    pub source: String,
    pub updated_at: Timestamp,
}

/// One imported vulnerability source record, kept as JSON so that the store need not know the
/// importers' types: `kind` says what `body` holds (`nvd` for a serialized `NvdCve`, `osv`,
/// `kev`, `report:FILE` ...), `id` names it within its kind.
#[derive(Debug, Clone, PartialEq)]
pub struct VulnRecord {
    pub kind: String,
    pub id: String,
    pub body: serde_json::Value,
}

/// Which alerts [`Store::alerts`] returns; an unset field does not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    /// Alerts whose last connection is at or after this instant.
    pub since: Option<Timestamp>,
    /// Alerts at least this severe.
    pub min_severity: Option<Severity>,
    pub client: Option<IpAddr>,
}

/// What [`Store::upsert_alert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertWrite {
    /// The key and window were new: a new alert was stored.
    New,
    /// An alert with this key and window was stored already and has been overwritten.
    Updated,
}

/// One `picket block`, kept after it is lifted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRecord {
    /// The store's id, once stored.
    pub id: Option<i64>,
    pub net: IpNet,
    pub reason: String,
    /// The alert that led to it, if one did.
    pub alert_id: Option<i64>,
    pub created_at: Timestamp,
    /// When the firewall drops it by itself (the set element's timeout).
    pub expires_at: Option<Timestamp>,
    /// When it was lifted by hand.
    pub removed_at: Option<Timestamp>,
}

/// Opens the store at `location`:
///
/// - `postgres://...` or `postgresql://...`: PostgreSQL (libpq-style URL, no TLS; give
///   `?options=-csearch_path%3Dname` to use a schema other than `public`);
/// - `host=... user=... password=...` (libpq keyword/value pairs): PostgreSQL;
/// - `sqlite:PATH`, `sqlite://PATH`, or a plain path: SQLite, creating the file if missing
///   (`sqlite::memory:` gives a private in-memory database).
///
/// Runs pending migrations on both. Fails, naming the location, when the file cannot be opened
/// or created, is not an SQLite database or not Picket's, or holds a newer schema.
pub fn open(location: &str) -> Result<Box<dyn Store>, StoreError> {
    match Location::parse(location)? {
        Location::Postgres(url) => {
            let conn = postgres::PgConn::connect(url)?;
            Ok(Box::new(store::SqlStore::new(
                conn,
                picket_model::without_password(url),
            )?))
        }
        Location::Sqlite(path) => {
            let conn = sqlite::SqliteConn::open(&path)?;
            Ok(Box::new(store::SqlStore::new(
                conn,
                path.display().to_string(),
            )?))
        }
    }
}

/// The libpq connection keywords a `key=value` connection string starts with.
const LIBPQ_KEYWORDS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "connect_timeout",
    "options",
    "application_name",
    "sslmode",
    "target_session_attrs",
];

#[derive(Debug, PartialEq, Eq)]
enum Location<'a> {
    Postgres(&'a str),
    Sqlite(PathBuf),
}

impl<'a> Location<'a> {
    fn parse(location: &'a str) -> Result<Self, StoreError> {
        let lower = location.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(Location::Postgres(location));
        }
        // libpq's `host=... password=...` form, never a file to create (with the password in its
        // name). A file whose name starts with such a keyword and `=` needs `sqlite:`.
        if location
            .split_whitespace()
            .next()
            .and_then(|word| word.split_once('='))
            .is_some_and(|(key, _)| LIBPQ_KEYWORDS.contains(&key.trim()))
        {
            return Ok(Location::Postgres(location));
        }
        let path = if lower.starts_with("sqlite://") {
            &location["sqlite://".len()..]
        } else if lower.starts_with("sqlite:") {
            &location["sqlite:".len()..]
        } else if let Some((scheme, _)) = location.split_once("://")
            && !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            // `mysql://...` is a mistake, not a relative path to create directories for.
            return Err(StoreError::UnknownScheme {
                location: location.to_owned(),
                scheme: scheme.to_owned(),
            });
        } else {
            location
        };
        if path.is_empty() {
            return Err(StoreError::EmptyLocation);
        }
        Ok(Location::Sqlite(PathBuf::from(path)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_model::{HostReason, HostState, PortState, Protocol, Reason, RunStatus, Verdict};
    use serde::Serialize;

    #[test]
    fn locations_pick_the_backend() {
        let sqlite = |p: &str| Some(Location::Sqlite(PathBuf::from(p)));
        assert_eq!(
            Location::parse("postgres://u@h/db").ok(),
            Some(Location::Postgres("postgres://u@h/db"))
        );
        assert_eq!(
            Location::parse("PostgreSQL://u@h/db").ok(),
            Some(Location::Postgres("PostgreSQL://u@h/db"))
        );
        assert_eq!(
            Location::parse("sqlite:picket.db").ok(),
            sqlite("picket.db")
        );
        assert_eq!(
            Location::parse("sqlite:///var/lib/p.db").ok(),
            sqlite("/var/lib/p.db")
        );
        assert_eq!(Location::parse("sqlite://rel.db").ok(), sqlite("rel.db"));
        assert_eq!(Location::parse("./a:b.db").ok(), sqlite("./a:b.db"));
        // libpq key=value strings are PostgreSQL, never a file named after the password.
        let keywords = "host=127.0.0.1 user=picket password=s3cret dbname=p";
        assert_eq!(
            Location::parse(keywords).ok(),
            Some(Location::Postgres(keywords))
        );
        assert_eq!(
            Location::parse("sqlite:host=b.db").ok(),
            sqlite("host=b.db")
        );
        assert_eq!(Location::parse("a=b.db").ok(), sqlite("a=b.db"));
        assert_eq!(Location::parse("sqlite::memory:").ok(), sqlite(":memory:"));
        assert!(matches!(
            Location::parse(""),
            Err(StoreError::EmptyLocation)
        ));
        assert!(matches!(
            Location::parse("sqlite:"),
            Err(StoreError::EmptyLocation)
        ));
        assert!(matches!(
            Location::parse("mysql://h/db"),
            Err(StoreError::UnknownScheme { .. })
        ));
    }

    /// The store writes enums with `as_str` and reads them back through serde: the two names
    /// must agree for every variant.
    #[test]
    fn stored_names_are_serde_names() {
        fn same<T: Serialize>(value: T, name: &str) {
            assert_eq!(serde_json::to_value(value).unwrap(), name);
        }
        for s in [PortState::Open, PortState::Closed, PortState::Filtered] {
            same(s, s.as_str());
        }
        for r in [
            Reason::SynAck,
            Reason::Reset,
            Reason::PortUnreach,
            Reason::NoResponse,
            Reason::AdminProhibited,
            Reason::HostUnreach,
            Reason::NetUnreach,
        ] {
            same(r, r.as_str());
        }
        for s in [HostState::Up, HostState::Down] {
            same(s, s.as_str());
        }
        for r in [
            HostReason::PortAnswered,
            HostReason::ArpResponse,
            HostReason::EchoReply,
            HostReason::UserSet,
            HostReason::NoResponse,
            HostReason::HostUnreach,
            HostReason::NetUnreach,
        ] {
            same(r, r.as_str());
        }
        for s in [RunStatus::Running, RunStatus::Completed, RunStatus::Aborted] {
            same(s, s.as_str());
        }
        for k in [FindingKind::OpenPortRecheck, FindingKind::NewOpenPort] {
            same(k, k.as_str());
        }
        for v in [
            Verdict::Closed,
            Verdict::Filtered,
            Verdict::HostDown,
            Verdict::ScanInterrupted,
            Verdict::Flapping,
            Verdict::StillOpen,
        ] {
            same(v, v.as_str());
        }
        same(Protocol::Tcp, Protocol::Tcp.as_str());
        for f in FeedFormat::ALL {
            same(f, f.as_str());
        }
        for s in Severity::ALL {
            same(s, s.as_str());
        }
        same(
            picket_model::AlertKind::BadClientToVulnerableApp,
            picket_model::AlertKind::BadClientToVulnerableApp.as_str(),
        );
    }
}
