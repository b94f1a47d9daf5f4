//! Picket's store: scan runs, their hosts, observations and re-checks, and findings, kept in
//! SQLite (the default, bundled, one file) or PostgreSQL behind one [`Store`] interface.
//!
//! Both backends share one schema (versioned migrations, applied in a transaction when a store is
//! opened) and one set of SQL statements (see `sql.rs`). Writes that belong together happen in
//! one transaction: a failed [`Store::finish_run`] or [`Store::save_findings`] leaves what was
//! stored before untouched.
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

use picket_model::{
    Finding, FindingKind, RunId, RunSummary, ScanProfile, ScanRun, Targets, Timestamp,
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
}

/// Which findings [`Store::findings`] returns; an unset field does not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingFilter {
    pub run: Option<RunId>,
    pub kind: Option<FindingKind>,
    pub host: Option<IpAddr>,
}

/// Opens the store at `location`:
///
/// - `postgres://...` or `postgresql://...`: PostgreSQL (libpq-style URL, no TLS; give
///   `?options=-csearch_path%3Dname` to use a schema other than `public`);
/// - `sqlite:PATH`, `sqlite://PATH`, or a plain path: SQLite, creating the file if missing
///   (`sqlite::memory:` gives a private in-memory database).
///
/// Runs pending migrations on both. Fails, naming the location, when the file cannot be opened
/// or created, is not an SQLite database or not Picket's, or holds a newer schema.
pub fn open(location: &str) -> Result<Box<dyn Store>, StoreError> {
    match Location::parse(location)? {
        Location::Postgres(url) => {
            let conn = postgres::PgConn::connect(url)?;
            Ok(Box::new(store::SqlStore::new(conn, postgres::redact(url))?))
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
    }
}
