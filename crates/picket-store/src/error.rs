use std::path::PathBuf;

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

    #[error("finding {id} (run {run}, {host} port {port}) was already saved; not saving it twice")]
    AlreadySaved {
        id: i64,
        run: RunId,
        host: std::net::IpAddr,
        port: u16,
    },

    #[error("{what} already has id {id}: it was stored before; not storing it twice")]
    AlreadyStored { what: String, id: i64 },

    #[error("{what}: field {field} cannot be stored: {why}")]
    Unstorable {
        what: String,
        field: &'static str,
        why: String,
    },

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
