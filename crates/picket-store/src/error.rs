use std::path::PathBuf;

use rusqlite::ErrorCode;

use picket_model::RunId;
use thiserror::Error;

/// Why the store refused or failed an operation.
///
/// Every variant names what it was about: the database (a path, or a PostgreSQL URL without its
/// password), the operation, and the run, host, port or field involved. The underlying driver
/// error, when there is one, is the [`std::error::Error::source`].
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("empty store location: give a file path, sqlite:PATH or a postgres:// URL")]
    EmptyLocation,

    #[error(
        "{location}: unknown scheme {scheme:?}; use a file path, sqlite:PATH or a postgres:// URL"
    )]
    UnknownScheme { location: String, scheme: String },

    #[error("{}: not an SQLite database; refusing to open it (the file was not modified)", path.display())]
    NotSqlite { path: PathBuf },

    #[error(
        "{}: an SQLite database without Picket's schema_migrations table; refusing to add \
         Picket's tables to it (the file was not modified)",
        path.display()
    )]
    ForeignDatabase { path: PathBuf },

    #[error("{}: cannot open or create the SQLite database", path.display())]
    OpenSqlite {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: cannot open or create the SQLite database", path.display())]
    OpenSqliteDb {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error("{url}: not a valid PostgreSQL URL")]
    BadPostgresUrl {
        url: String,
        #[source]
        source: postgres::Error,
    },

    #[error("{url}: cannot connect to PostgreSQL")]
    ConnectPostgres {
        url: String,
        #[source]
        source: postgres::Error,
    },

    #[error(
        "{location}: schema version {found} is newer than this build of Picket knows \
         (up to {known}); use a newer Picket or another database"
    )]
    SchemaTooNew {
        location: String,
        found: i64,
        known: i64,
    },

    #[error("{location}: {op} failed")]
    Database {
        location: String,
        op: String,
        #[source]
        source: DbError,
    },

    #[error("{location}: run {run} is not in the store")]
    UnknownRun { location: String, run: RunId },

    #[error("{location}: run {run} is {status}, no longer running: its hosts are stored")]
    RunNotRunning {
        location: String,
        run: RunId,
        status: &'static str,
    },

    #[error("finding {id} (run {run}, {host} port {port}) was already saved; not saving it twice")]
    AlreadySaved {
        id: i64,
        run: RunId,
        host: std::net::IpAddr,
        port: u16,
    },

    #[error("{what} already has id {id}: it was stored before; not storing it twice")]
    AlreadyStored { what: String, id: i64 },

    /// A fenced save under an epoch that is no longer the checkpoint's current one: another
    /// holder claimed it since. Nothing was written.
    #[error(
        "{location}: checkpoint of {checkpoint}: epoch {epoch} was superseded by a newer holder; \
         nothing saved"
    )]
    Fenced {
        location: String,
        checkpoint: String,
        epoch: i64,
    },

    #[error("{what}: field {field} cannot be stored: {why}")]
    Unstorable {
        what: String,
        field: &'static str,
        why: String,
    },

    #[error("{location}: the async runtime shut down before the store call ran")]
    RuntimeShutDown { location: String },

    /// A stored value the store cannot read back; `why` quotes the value.
    #[error("{location}: {table} ({key}): field {field}: {why}")]
    Corrupt {
        location: String,
        table: &'static str,
        key: String,
        field: &'static str,
        why: String,
    },
}

/// The driver error underneath [`StoreError::Database`].
#[derive(Debug, Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Postgres(#[from] postgres::Error),
    /// A query returned a column type the store never writes (a bug in the store's SQL).
    #[error("column {column} has type {ty}, which the store does not read")]
    UnsupportedColumn { column: String, ty: String },
}

/// What kind of failure a [`StoreError`] is, for a caller deciding what to do next: above all,
/// whether trying the same operation again can succeed ([`ErrorKind::is_retryable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The database was busy with another writer for longer than the store waits (SQLite
    /// `BUSY`), or the server is short of resources (PostgreSQL class 53, a cancelled
    /// statement). Retry after a pause.
    Busy,
    /// A lock could not be had (SQLite `LOCKED`, PostgreSQL `lock_not_available`). Retry.
    Locked,
    /// The connection to the server is gone or could not be made (closed, I/O error, server
    /// shutting down). Retry: the pool opens a new connection.
    ConnectionLost,
    /// The transaction lost a race with another one (PostgreSQL `serialization_failure`,
    /// `deadlock_detected`). Retry the whole operation.
    Conflict,
    /// The store or the database refused what it was given: a value it cannot store, a record
    /// stored already, an unknown run, a constraint or trigger. The same request fails again.
    Refused,
    /// The location or the database cannot be used: not a path or URL, not Picket's, a newer
    /// schema. Nothing to retry until someone changes it.
    Invalid,
    /// Anything else: a stored value that cannot be read back, an unexpected driver error.
    Other,
}

impl ErrorKind {
    /// Whether the same operation, tried again, can succeed without anyone changing anything.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Busy | ErrorKind::Locked | ErrorKind::ConnectionLost | ErrorKind::Conflict
        )
    }
}

impl StoreError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::EmptyLocation
            | StoreError::UnknownScheme { .. }
            | StoreError::NotSqlite { .. }
            | StoreError::ForeignDatabase { .. }
            | StoreError::BadPostgresUrl { .. }
            | StoreError::SchemaTooNew { .. } => ErrorKind::Invalid,
            StoreError::OpenSqlite { .. } => ErrorKind::Other,
            StoreError::OpenSqliteDb { source, .. } => sqlite_kind(source),
            StoreError::ConnectPostgres { source, .. } => match postgres_kind(source) {
                // Refused at login (a wrong password, no such database): no retry helps.
                ErrorKind::Refused | ErrorKind::Other if source.as_db_error().is_some() => {
                    ErrorKind::Invalid
                }
                ErrorKind::Other => ErrorKind::ConnectionLost,
                kind => kind,
            },
            StoreError::Database { source, .. } => source.kind(),
            StoreError::UnknownRun { .. }
            | StoreError::RunNotRunning { .. }
            | StoreError::AlreadySaved { .. }
            | StoreError::AlreadyStored { .. }
            | StoreError::Fenced { .. }
            | StoreError::Unstorable { .. } => ErrorKind::Refused,
            StoreError::Corrupt { .. } | StoreError::RuntimeShutDown { .. } => ErrorKind::Other,
        }
    }

    /// Whether the same operation, tried again, can succeed: see [`ErrorKind::is_retryable`].
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }
}

impl DbError {
    /// What kind of failure the driver reported.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DbError::Sqlite(e) => sqlite_kind(e),
            DbError::Postgres(e) => postgres_kind(e),
            DbError::UnsupportedColumn { .. } => ErrorKind::Other,
        }
    }
}

fn sqlite_kind(e: &rusqlite::Error) -> ErrorKind {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy) => ErrorKind::Busy,
        Some(ErrorCode::DatabaseLocked) => ErrorKind::Locked,
        Some(ErrorCode::ConstraintViolation) => ErrorKind::Refused,
        _ => ErrorKind::Other,
    }
}

fn postgres_kind(e: &postgres::Error) -> ErrorKind {
    let io = std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
    sqlstate_kind(e.code().map(|c| c.code()), e.is_closed(), io)
}

/// The kind of a PostgreSQL error from its SQLSTATE (if the server sent one), whether the
/// connection is closed, and whether an I/O error caused it.
fn sqlstate_kind(code: Option<&str>, closed: bool, io: bool) -> ErrorKind {
    if closed || io {
        return ErrorKind::ConnectionLost;
    }
    let Some(code) = code else {
        return ErrorKind::Other;
    };
    match code {
        "40001" | "40P01" => ErrorKind::Conflict,
        "55P03" => ErrorKind::Locked,
        // admin_shutdown, crash_shutdown, cannot_connect_now.
        "57P01" | "57P02" | "57P03" => ErrorKind::ConnectionLost,
        // query_canceled (a statement timeout).
        "57014" => ErrorKind::Busy,
        // raise_exception: a trigger or function refused the row.
        "P0001" => ErrorKind::Refused,
        _ if code.starts_with("08") => ErrorKind::ConnectionLost,
        _ if code.starts_with("53") => ErrorKind::Busy,
        _ if code.starts_with("23") => ErrorKind::Refused,
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(code: std::ffi::c_int) -> StoreError {
        StoreError::Database {
            location: "test.db".into(),
            op: "testing".into(),
            source: DbError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                None,
            )),
        }
    }

    #[test]
    fn sqlite_codes_map_to_kinds() {
        assert_eq!(sqlite(rusqlite::ffi::SQLITE_BUSY).kind(), ErrorKind::Busy);
        assert_eq!(
            sqlite(rusqlite::ffi::SQLITE_LOCKED).kind(),
            ErrorKind::Locked
        );
        assert_eq!(
            sqlite(rusqlite::ffi::SQLITE_CONSTRAINT).kind(),
            ErrorKind::Refused
        );
        assert_eq!(
            sqlite(rusqlite::ffi::SQLITE_CORRUPT).kind(),
            ErrorKind::Other
        );
        assert!(sqlite(rusqlite::ffi::SQLITE_BUSY).is_retryable());
        assert!(sqlite(rusqlite::ffi::SQLITE_LOCKED).is_retryable());
        assert!(!sqlite(rusqlite::ffi::SQLITE_CONSTRAINT).is_retryable());
    }

    #[test]
    fn postgres_states_map_to_kinds() {
        let kind = |code| sqlstate_kind(Some(code), false, false);
        assert_eq!(kind("40001"), ErrorKind::Conflict);
        assert_eq!(kind("40P01"), ErrorKind::Conflict);
        assert_eq!(kind("55P03"), ErrorKind::Locked);
        assert_eq!(kind("57P01"), ErrorKind::ConnectionLost);
        assert_eq!(kind("08006"), ErrorKind::ConnectionLost);
        assert_eq!(kind("53300"), ErrorKind::Busy);
        assert_eq!(kind("57014"), ErrorKind::Busy);
        assert_eq!(kind("23505"), ErrorKind::Refused);
        assert_eq!(kind("P0001"), ErrorKind::Refused);
        assert_eq!(kind("42P01"), ErrorKind::Other);
        assert_eq!(sqlstate_kind(None, true, false), ErrorKind::ConnectionLost);
        assert_eq!(sqlstate_kind(None, false, true), ErrorKind::ConnectionLost);
        assert_eq!(sqlstate_kind(None, false, false), ErrorKind::Other);
    }

    #[test]
    fn only_transient_kinds_are_retryable() {
        let retryable = [
            ErrorKind::Busy,
            ErrorKind::Locked,
            ErrorKind::ConnectionLost,
            ErrorKind::Conflict,
        ];
        for kind in retryable {
            assert!(kind.is_retryable(), "{kind:?}");
        }
        for kind in [ErrorKind::Refused, ErrorKind::Invalid, ErrorKind::Other] {
            assert!(!kind.is_retryable(), "{kind:?}");
        }
        assert_eq!(StoreError::EmptyLocation.kind(), ErrorKind::Invalid);
        let refused = StoreError::AlreadyStored {
            what: "block".into(),
            id: 1,
        };
        assert_eq!(refused.kind(), ErrorKind::Refused);
    }
}
