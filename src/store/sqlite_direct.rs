//! Statements on a rusqlite connection, run on the calling thread: SQLite's writer
//! thread runs a PutImage this way, and requests run their point reads this way
//! (`sqlite_readers`). rusqlite links the same libsqlite3 as sqlx, so its
//! connections share SQLite's in-process locks with sqlx's.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use rusqlite::{ffi, Connection};

use super::statements::{Arg, Columns, Statements};
use super::{Error, Result};

pub(super) fn failure(code: i32, message: &str) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(message.to_owned()))
}

/// The outcome of statements over `Direct`, which never wait.
pub(super) fn at_once<T>(work: impl Future<Output = Result<T>>) -> Result<T> {
    match pin!(work).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => Err(Error::Database(sqlx::Error::WorkerCrashed)),
    }
}

/// Statements on a rusqlite connection, run on the calling thread.
pub(super) struct Direct<'c> {
    conn: &'c Connection,
    /// The last statement's failure: the writer thread tells its batch's other writes
    /// when SQLite ended the transaction; a reader falls back on its busy database.
    pub(super) failed: Option<rusqlite::Error>,
}

impl<'c> Direct<'c> {
    pub(super) fn new(conn: &'c Connection) -> Self {
        Self { conn, failed: None }
    }

    fn prepared(
        &self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> rusqlite::Result<rusqlite::CachedStatement<'_>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        for i in 1..=stmt.parameter_count() {
            // `$N` names the N-th argument wherever it appears.
            let name = stmt.parameter_name(i).unwrap_or_default();
            let arg = name
                .strip_prefix('$')
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| args.get(n.checked_sub(1)?))
                .ok_or_else(|| rusqlite::Error::InvalidParameterName(name.to_owned()))?;
            match *arg {
                Arg::Int(v) => stmt.raw_bind_parameter(i, v),
                Arg::Text(v) => stmt.raw_bind_parameter(i, v),
                Arg::Bytes(v) => stmt.raw_bind_parameter(i, v),
            }?;
        }
        Ok(stmt)
    }

    fn fetch(&self, sql: &str, args: &[Arg<'_>]) -> rusqlite::Result<Vec<Fetched>> {
        let mut stmt = self.prepared(sql, args)?;
        let names: Arc<[String]> = stmt.column_names().into_iter().map(String::from).collect();
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let cells = (0..names.len())
                .map(|i| {
                    Ok(match row.get_ref(i)? {
                        rusqlite::types::ValueRef::Integer(v) => Cell::Int(v),
                        rusqlite::types::ValueRef::Text(v) => {
                            Cell::Text(String::from_utf8_lossy(v).into_owned())
                        }
                        rusqlite::types::ValueRef::Blob(v) => Cell::Bytes(v.to_vec()),
                        _ => Cell::Other,
                    })
                })
                .collect::<rusqlite::Result<_>>()?;
            out.push(Fetched {
                names: names.clone(),
                cells,
            });
        }
        Ok(out)
    }

    /// `Statements::rows`, for a caller that is not async.
    pub(super) fn rows_now(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Vec<Fetched>, sqlx::Error> {
        let fetched = self.fetch(sql, args);
        self.kept(fetched)
    }

    fn kept<T>(&mut self, done: rusqlite::Result<T>) -> Result<T, sqlx::Error> {
        done.map_err(|e| {
            let converted = converted(&e);
            self.failed = Some(e);
            converted
        })
    }
}

impl Statements for Direct<'_> {
    type Row = Fetched;

    async fn rows(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Fetched>, sqlx::Error> {
        self.rows_now(sql, args)
    }

    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, sqlx::Error> {
        let changed = self
            .prepared(sql, args)
            .and_then(|mut stmt| stmt.raw_execute());
        self.kept(changed).map(|n| n as u64)
    }
}

/// A row read through `Direct`. Only what berth's tables hold is told apart:
/// integers, text and bytes (NULL and reals are `Other`, read as NULL).
pub(super) struct Fetched {
    names: Arc<[String]>,
    cells: Vec<Cell>,
}

enum Cell {
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
    Other,
}

impl Fetched {
    fn cell(&self, name: &str) -> Result<&Cell, sqlx::Error> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| &self.cells[i])
            .ok_or_else(|| sqlx::Error::ColumnNotFound(name.to_owned()))
    }
}

impl Columns for Fetched {
    fn int(&self, name: &str) -> Result<Option<i64>, sqlx::Error> {
        match self.cell(name)? {
            Cell::Int(v) => Ok(Some(*v)),
            Cell::Other => Ok(None),
            _ => Err(mismatch(name)),
        }
    }

    fn text(&self, name: &str) -> Result<Option<String>, sqlx::Error> {
        match self.cell(name)? {
            Cell::Text(v) => Ok(Some(v.clone())),
            Cell::Other => Ok(None),
            _ => Err(mismatch(name)),
        }
    }

    fn bytes(&self, name: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
        match self.cell(name)? {
            Cell::Bytes(v) => Ok(Some(v.clone())),
            Cell::Other => Ok(None),
            _ => Err(mismatch(name)),
        }
    }
}

fn mismatch(name: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("column {name} holds another type").into())
}

/// A failure as sqlx reports SQLite's own, so the store sorts it the same way (a full
/// disk, a unique violation).
pub(super) fn converted(e: &rusqlite::Error) -> sqlx::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            sqlx::Error::Database(Box::new(SqliteError {
                code: code.extended_code,
                message: message.clone().unwrap_or_else(|| code.to_string()),
            }))
        }
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

#[derive(Debug)]
struct SqliteError {
    /// SQLite's extended result code.
    code: i32,
    message: String,
}

impl std::fmt::Display for SqliteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqliteError {}

impl sqlx::error::DatabaseError for SqliteError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(self.code.to_string().into())
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        use sqlx::error::ErrorKind;
        match self.code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                ErrorKind::UniqueViolation
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}
