//! Picket's store, kept in SQLite (the default, bundled, one file) or PostgreSQL. The exposure
//! side: scan runs, their hosts, observations and re-checks, and findings. The threat side:
//! intel feeds and their indicators, the inventory of applications, vulnerability knowledge,
//! alerts, suppressions, follow checkpoints and blocks.
//!
//! [`open`] returns a [`Store`]: a handle that is cheap to clone and shared by threads, every
//! operation taking `&self`. SQLite: one writer connection behind a mutex and a pool of up to
//! four read-only connections; in WAL mode readers never wait for the writer and see the last
//! commit (`sqlite::memory:` is one private connection that serves reads and writes alike, since
//! no other connection can see it). PostgreSQL: a pool of up to eight connections. A
//! transaction always runs on one connection. The operations are split by capability into
//! [`RunStore`], [`IntelStore`], [`InventoryStore`], [`VulnStore`], [`AlertStore`] and
//! [`BlockStore`], so that a consumer asks for only what it uses (`&impl AlertStore`,
//! `&dyn IntelStore`); `use picket_store::prelude::*` brings them all.
//!
//! Both backends share one schema (versioned migrations, applied in a transaction when a store is
//! opened) and one set of SQL statements (see `sql.rs`). Writes that belong together happen in
//! one transaction: a failed [`RunStore::finish_run_with_findings`], [`RunStore::save_hosts`],
//! [`IntelStore::replace_feed`] or [`AlertStore::save_checkpoint_with_alerts`] leaves what was
//! stored before untouched, and readers see the state before or after it, never a mix. A
//! running scan streams its hosts with [`RunStore::save_hosts`]; knowledge is stored in the
//! shape it is queried in ([`IntelStore::indicators_covering`] is one indexed query).
//!
//! Failures say whether a retry can help: [`StoreError::kind`] ([`ErrorKind`]: busy, locked,
//! connection lost, conflict, refused, invalid) and [`StoreError::is_retryable`].
//!
//! The store must never damage data it was not asked to change: it refuses to open a file that
//! is not an SQLite database, or an SQLite database that is not Picket's, without writing a byte
//! to it; and it refuses a database whose schema is newer than this build knows instead of
//! reading or writing it wrongly. It never prints, and never reads a clock to decide anything
//! (timestamps come from the caller).
//!
//! Every call blocks its thread until the database answers. **From async code, go through
//! [`Store::blocking`] and [`open_async`]**: the PostgreSQL client blocks on a runtime of its
//! own and panics when called on a thread of another runtime.
//!
//! Timestamps are stored as whole microseconds since the Unix epoch: a finer part is dropped.

mod alert_body;
mod capability;
mod conn;
mod error;
mod handle;
mod pool;
mod postgres;
mod sql;
mod sqlite;
mod store;

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use picket_model::{
    Alert, AlertStatus, AlertTriage, Application, FindingKind, RunId, Severity, Timestamp,
};

pub use capability::{AlertStore, BlockStore, IntelStore, InventoryStore, RunStore, VulnStore};
pub use error::{DbError, ErrorKind, StoreError};
pub use handle::Store;
// The rows of feeds and of the inventory are domain types: renderers show them without the store.
pub use picket_model::{FeedSummary, InventoryEntry};

/// The handle and every capability trait: `use picket_store::prelude::*;`.
pub mod prelude {
    pub use crate::{
        AlertStore, BlockStore, IntelStore, InventoryStore, RunStore, Store, VulnStore,
    };
}

/// One stored source of vulnerability knowledge, as [`VulnStore::vuln_sources`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VulnSourceSummary {
    /// `nvd`, `osv`, `kev`, `epss`, `report`.
    pub kind: String,
    pub id: String,
    /// How many rows it holds (a KEV catalogue's entries, an EPSS file's scores).
    pub rows: u64,
}

/// Which findings [`RunStore::findings`] returns; an unset field does not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingFilter {
    pub run: Option<RunId>,
    pub kind: Option<FindingKind>,
    pub host: Option<IpAddr>,
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

/// A contiguous part of the indicators of every feed, in the order
/// [`IntelStore::each_indicator`] gives them (see [`IntelStore::indicator_slices`]): from a
/// position (a feed's id and an indicator's ordinal in it) up to the next slice's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndicatorSlice {
    pub(crate) from: Option<(i64, i64)>,
    pub(crate) to: Option<(i64, i64)>,
}

/// Which alerts [`AlertStore::alerts`] returns; an unset field does not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    /// Alerts whose last connection is at or after this instant.
    pub since: Option<Timestamp>,
    /// Alerts at least this severe.
    pub min_severity: Option<Severity>,
    pub client: Option<IpAddr>,
    /// Alerts to this inside address.
    pub host: Option<IpAddr>,
    /// Alerts whose triage has this status.
    pub status: Option<AlertStatus>,
    /// Only the alerts after this one in the listing's order (first connection, then id): a
    /// page that starts where the last ended, read from the index at any depth.
    pub after: Option<AlertCursor>,
    /// At most this many alerts (a page), after skipping `offset` of them.
    pub limit: Option<u64>,
    pub offset: u64,
}

/// Where a page of alerts ended: its last alert's first connection and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertCursor {
    pub first_seen: Timestamp,
    pub id: i64,
}

impl AlertCursor {
    /// The cursor after `alert` (`None` for an alert that is not stored).
    pub fn after(alert: &Alert) -> Option<Self> {
        Some(Self {
            first_seen: alert.first_seen,
            id: alert.id?,
        })
    }
}

/// An alert with its triage, as [`AlertStore::triaged_alerts`] reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct TriagedAlert {
    pub alert: Alert,
    pub triage: AlertTriage,
}

/// How many stored alerts have one severity and one status ([`AlertStore::alert_counts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertCount {
    pub severity: Severity,
    pub status: AlertStatus,
    pub count: u64,
}

/// What [`AlertStore::upsert_alert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertWrite {
    /// The key and window were new: a new alert was stored.
    New,
    /// An alert with this key and window was stored already and has been overwritten.
    Updated,
}

/// A checkpoint claimed by a new holder ([`AlertStore::claim_checkpoint`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedCheckpoint {
    /// The holder's fencing epoch: its saves succeed until someone claims the checkpoint again.
    pub epoch: i64,
    /// The checkpoint as last saved (`None`: never saved).
    pub checkpoint: Option<serde_json::Value>,
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
pub fn open(location: &str) -> Result<Store, StoreError> {
    match Location::parse(location)? {
        Location::Postgres(url) => Store::postgres(url),
        Location::Sqlite(path) => Store::sqlite(&path),
    }
}

/// [`open`] from async code: it runs on tokio's blocking threads (connecting and migrating
/// block).
pub async fn open_async(location: &str) -> Result<Store, StoreError> {
    let owned = location.to_owned();
    match tokio::task::spawn_blocking(move || open(&owned)).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(StoreError::RuntimeShutDown {
            location: picket_model::without_password(location),
        }),
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
    use picket_model::{
        FeedFormat, HostReason, HostState, PortState, Protocol, Reason, RunStatus, Verdict,
    };
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
