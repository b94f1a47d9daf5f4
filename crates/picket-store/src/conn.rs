//! The little the store needs from a database connection, so that the store's logic and its SQL
//! are written once for both backends.
//!
//! Values are deliberately few: every column is a 64-bit integer, text, bytes, or NULL. Keeping
//! to these four is what lets one statement text serve SQLite and PostgreSQL alike.

use crate::error::{DbError, StoreError};
use crate::sql::Dialect;

/// A parameter or a column value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
    /// SQLite's BLOB, PostgreSQL's BYTEA.
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<u16> for Value {
    fn from(v: u16) -> Self {
        Value::Int(i64::from(v))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

pub(crate) type Row = Vec<Value>;

/// One open connection. Statements are written with `?` placeholders (see [`crate::sql`]); the
/// implementation rewrites them for its dialect and caches the prepared statement.
pub(crate) trait Conn: Send {
    fn dialect(&self) -> Dialect;
    /// Runs one statement, returning the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError>;
    /// Runs one statement, returning every row it produced.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError>;
    /// Runs one statement, handing each row to `each` as it arrives instead of collecting them
    /// (a million indicators as rows of `Value`s would need several times their own memory).
    /// Stops at the first row `each` refuses; the outer error is the database's, the inner
    /// one the handler's.
    fn query_each(
        &mut self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(Row) -> Result<(), StoreError>,
    ) -> Result<Result<(), StoreError>, DbError>;
    /// Runs an insert of at most one row into a table keyed by an integer `id`: the id of the
    /// row it added, `None` when it added none (a conflict it was told to skip).
    fn insert_id(&mut self, sql: &str, params: &[Value]) -> Result<Option<i64>, DbError>;
    /// Runs several statements without parameters (DDL, transaction control).
    fn batch(&mut self, sql: &str) -> Result<(), DbError>;
    /// Whether the connection is beyond use (the server closed it): the pool drops it.
    fn is_broken(&self) -> bool {
        false
    }
}
