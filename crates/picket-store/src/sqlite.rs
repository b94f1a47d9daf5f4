//! The SQLite backend: opening a file without ever damaging one that is not ours.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, params_from_iter};

use crate::conn::{Conn, Row, Value};
use crate::error::{DbError, StoreError};
use crate::sql::{self, Dialect};

/// Every SQLite database file starts with these 16 bytes.
const HEADER: &[u8; 16] = b"SQLite format 3\0";

/// SQLite's name for a private in-memory database, never a file.
const MEMORY: &str = ":memory:";

/// How long a writer waits for another process's write transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct SqliteConn {
    conn: Connection,
}

impl SqliteConn {
    /// Opens (creating if missing) the database at `path`, refusing any existing file that is
    /// not an SQLite database, or is one that holds tables but not Picket's. Nothing is written
    /// before those checks pass.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        check_existing_file(path)?;
        // No SQLITE_OPEN_URI: a path is a path, never `file:...?mode=...` options.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let open_err = |source| StoreError::OpenSqliteDb {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // The header check above cannot see a damaged or encrypted file; this first read can.
        let tables = user_tables(&conn).map_err(|source| match &source {
            rusqlite::Error::SqliteFailure(e, _) if e.code == ErrorCode::NotADatabase => {
                StoreError::NotSqlite {
                    path: path.to_owned(),
                }
            }
            _ => open_err(source),
        })?;
        if !tables.is_empty() && !tables.iter().any(|t| t == "schema_migrations") {
            return Err(StoreError::ForeignDatabase {
                path: path.to_owned(),
            });
        }
        let mode = write_ahead_logging(&conn).map_err(open_err)?;
        // An in-memory database (`:memory:`) has no journal file and keeps "memory".
        if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
            return Err(StoreError::OpenSqlite {
                path: path.to_owned(),
                source: io::Error::other(format!(
                    "SQLite refused write-ahead logging (journal mode stayed {mode:?})"
                )),
            });
        }
        conn.execute_batch(sql::SQLITE_FOREIGN_KEYS)
            .map_err(open_err)?;
        conn.execute_batch(sql::SQLITE_WRITER).map_err(open_err)?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Self { conn })
    }

    /// Opens one more connection to a database that [`SqliteConn::open`] already checked, for
    /// reading only: SQLite itself refuses any write through it. In WAL mode it reads the last
    /// committed state while the writer works, without waiting for it.
    pub(crate) fn open_reader(path: &Path) -> Result<Self, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let open_err = |source| StoreError::OpenSqliteDb {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Self { conn })
    }

    /// Whether `path` names SQLite's private in-memory database, which no second connection
    /// can open.
    pub(crate) fn is_memory(path: &Path) -> bool {
        path == Path::new(MEMORY)
    }
}

/// Asks for write-ahead logging; the journal mode it got. Changing the mode takes the
/// database's exclusive lock, and SQLite refuses at once (busy, without waiting as its busy
/// handler would) while another connection holds a lock on it: as when several processes open
/// a new database at the same moment. So the change is tried again until [`BUSY_TIMEOUT`].
fn write_ahead_logging(conn: &Connection) -> rusqlite::Result<String> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.query_row(sql::SQLITE_WAL, [], |row| row.get(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == ErrorCode::DatabaseBusy && Instant::now() < deadline =>
            {
                std::thread::sleep(WAL_RETRY);
            }
            mode => return mode,
        }
    }
}

/// The pause before asking for write-ahead logging again.
const WAL_RETRY: Duration = Duration::from_millis(5);

/// Refuses a directory, and a non-empty file that does not start with SQLite's header, without
/// writing to it. A missing or empty file is fine: SQLite makes it a new database. A missing one
/// is created here first, readable by its owner only: it holds the inventory of vulnerable
/// applications, alerts and blocks. SQLite gives its `-wal` and `-shm` files the same mode.
fn check_existing_file(path: &Path) -> Result<(), StoreError> {
    let io_err = |source| StoreError::OpenSqlite {
        path: path.to_owned(),
        source,
    };
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound && path != Path::new(MEMORY) => {
            // Another process opening the same new database at once may have created it.
            return match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
            {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(io_err(e)),
            };
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(e)),
    };
    if meta.is_dir() {
        return Err(io_err(io::Error::other("it is a directory")));
    }
    if meta.len() == 0 {
        return Ok(());
    }
    let mut head = [0u8; 16];
    let mut file = File::open(path).map_err(io_err)?;
    match file.read_exact(&mut head) {
        Ok(()) if &head == HEADER => Ok(()),
        Ok(()) => Err(not_sqlite(path)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(not_sqlite(path)),
        Err(e) => Err(io_err(e)),
    }
}

fn not_sqlite(path: &Path) -> StoreError {
    StoreError::NotSqlite {
        path: PathBuf::from(path),
    }
}

fn user_tables(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(sql::SQLITE_USER_TABLES)?;
    stmt.query_map([], |row| row.get(0))?.collect()
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// Columns come back as the four values the store writes. A real number was put there by
/// someone else; it is handed on as text so that the reader reports it as a corrupt field.
fn value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Text(f.to_string()),
        // Valid UTF-8 (what the store writes) is checked at vector speed and copied once.
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        ValueRef::Text(t) => Value::Text(match std::str::from_utf8(t) {
            Ok(text) => text.to_owned(),
            Err(_) => String::from_utf8_lossy(t).into_owned(),
        }),
    }
}

impl Conn for SqliteConn {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let changed = stmt.execute(params_from_iter(params))?;
        Ok(changed as u64)
    }

    /// The id is the connection's last insert rowid (`id INTEGER PRIMARY KEY` is the rowid):
    /// a `RETURNING` clause would make SQLite keep a statement journal, a copy of every page
    /// the insert touches.
    fn insert_id(&mut self, sql: &str, params: &[Value]) -> Result<Option<i64>, DbError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let added = stmt.execute(params_from_iter(params))?;
        Ok((added > 0).then(|| self.conn.last_insert_rowid()))
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(
                (0..columns)
                    .map(|i| row.get_ref(i).map(value))
                    .collect::<Result<Row, _>>()?,
            );
        }
        Ok(out)
    }

    fn query_each(
        &mut self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(Row) -> Result<(), StoreError>,
    ) -> Result<Result<(), StoreError>, DbError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(params_from_iter(params))?;
        while let Some(row) = rows.next()? {
            let row = (0..columns)
                .map(|i| row.get_ref(i).map(value))
                .collect::<Result<Row, _>>()?;
            if let Err(e) = each(row) {
                return Ok(Err(e));
            }
        }
        Ok(Ok(()))
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        Ok(self.conn.execute_batch(sql)?)
    }
}
