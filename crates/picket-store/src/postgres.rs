//! The PostgreSQL backend, over the synchronous `postgres` client.
//!
//! That client drives its own single-threaded tokio runtime and blocks on it, so it panics when
//! called from a thread that is already inside a tokio runtime. Callers in async code must move
//! store calls to a plain thread (`std::thread::spawn`, or `tokio::task::spawn_blocking`).

use std::collections::HashMap;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{ToSql, Type};
use postgres::{Client, Config, NoTls, Statement};

use picket_model::without_password;

use crate::conn::{Conn, Row, Value};
use crate::error::{DbError, StoreError};
use crate::sql::Dialect;

/// Used when the URL does not say (`connect_timeout=`): a wrong address fails in seconds, not
/// after the operating system's TCP timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct PgConn {
    client: Client,
    /// Prepared statements by their `?` text: each is parsed by the server once per connection.
    statements: HashMap<String, Statement>,
}

impl PgConn {
    /// Connects without TLS (the server is expected on loopback or a trusted network).
    pub(crate) fn connect(url: &str) -> Result<Self, StoreError> {
        let mut config: Config = url.parse().map_err(|source| StoreError::BadPostgresUrl {
            url: without_password(url),
            source,
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let client = config
            .connect(NoTls)
            .map_err(|source| StoreError::ConnectPostgres {
                url: without_password(url),
                source,
            })?;
        Ok(Self {
            client,
            statements: HashMap::new(),
        })
    }

    fn prepare(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = self.client.prepare(&Dialect::Postgres.rewrite(sql))?;
        self.statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }
}

/// NULL must be sent with the parameter's own type: the driver checks types strictly.
static NULL_INT: Option<i64> = None;
static NULL_TEXT: Option<String> = None;

/// Pairs each value with its parameter's type. Surplus values are kept (typed as text) so that the
/// driver's count check reports them instead of `zip` dropping them silently.
fn params<'a>(values: &'a [Value], types: &[Type]) -> Vec<&'a (dyn ToSql + Sync)> {
    values
        .iter()
        .zip(types.iter().chain(std::iter::repeat(&Type::TEXT)))
        .map(|(v, ty)| -> &(dyn ToSql + Sync) {
            match v {
                Value::Int(i) => i,
                Value::Text(s) => s,
                Value::Blob(b) => b,
                Value::Null if *ty == Type::INT8 => &NULL_INT,
                Value::Null => &NULL_TEXT,
            }
        })
        .collect()
}

fn row(row: &postgres::Row) -> Result<Row, DbError> {
    row.columns()
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let ty = column.type_();
            Ok(if *ty == Type::INT8 {
                row.try_get::<_, Option<i64>>(i)?
                    .map_or(Value::Null, Value::Int)
            } else if *ty == Type::INT4 {
                row.try_get::<_, Option<i32>>(i)?
                    .map_or(Value::Null, |v| Value::Int(v.into()))
            } else if *ty == Type::TEXT || *ty == Type::VARCHAR || *ty == Type::NAME {
                row.try_get::<_, Option<String>>(i)?
                    .map_or(Value::Null, Value::Text)
            } else if *ty == Type::BYTEA {
                row.try_get::<_, Option<Vec<u8>>>(i)?
                    .map_or(Value::Null, Value::Blob)
            } else {
                return Err(DbError::UnsupportedColumn {
                    column: column.name().to_owned(),
                    ty: ty.name().to_owned(),
                });
            })
        })
        .collect()
}

impl Conn for PgConn {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, values: &[Value]) -> Result<u64, DbError> {
        let stmt = self.prepare(sql)?;
        let params = params(values, stmt.params());
        Ok(self.client.execute(&stmt, &params)?)
    }

    fn insert_id(&mut self, sql: &str, values: &[Value]) -> Result<Option<i64>, DbError> {
        let rows = self.query(&format!("{sql} RETURNING id"), values)?;
        Ok(match rows.first().and_then(|row| row.first()) {
            Some(Value::Int(id)) => Some(*id),
            _ => None,
        })
    }

    fn query(&mut self, sql: &str, values: &[Value]) -> Result<Vec<Row>, DbError> {
        let stmt = self.prepare(sql)?;
        let params = params(values, stmt.params());
        self.client.query(&stmt, &params)?.iter().map(row).collect()
    }

    fn query_each(
        &mut self,
        sql: &str,
        values: &[Value],
        each: &mut dyn FnMut(Row) -> Result<(), StoreError>,
    ) -> Result<Result<(), StoreError>, DbError> {
        let stmt = self.prepare(sql)?;
        let params = params(values, stmt.params());
        let mut rows = self.client.query_raw(&stmt, params)?;
        while let Some(r) = rows.next()? {
            if let Err(e) = each(row(&r)?) {
                return Ok(Err(e));
            }
        }
        Ok(Ok(()))
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        Ok(self.client.batch_execute(sql)?)
    }

    fn is_broken(&self) -> bool {
        self.client.is_closed()
    }
}
