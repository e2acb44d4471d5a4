//! Statements written once for both ways berth runs them: through sqlx (Postgres, and
//! SQLite's pooled connections), and on a rusqlite connection on the calling thread
//! (`sqlite_direct`: SQLite's writer thread, which runs a whole PutImage without a
//! round trip per statement, and its point reads).

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row, Transaction};

use super::sqlite_direct::Fetched;

/// A value bound to a statement's `$N` (`args[N - 1]`).
#[derive(Debug, Clone, Copy)]
pub(super) enum Arg<'a> {
    Int(i64),
    Text(Option<&'a str>),
    Bytes(&'a [u8]),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(v: &'a [u8]) -> Self {
        Arg::Bytes(v)
    }
}

/// `[Arg]` from the values for `$1, $2, ...`.
macro_rules! args {
    ($($v:expr),* $(,)?) => { [$($crate::store::statements::Arg::from($v)),*] };
}
pub(super) use args;

/// A row's columns, by name.
pub(super) trait Columns {
    fn int(&self, name: &str) -> Result<Option<i64>, sqlx::Error>;
    fn text(&self, name: &str) -> Result<Option<String>, sqlx::Error>;
    fn bytes(&self, name: &str) -> Result<Option<Vec<u8>>, sqlx::Error>;
}

impl Columns for AnyRow {
    fn int(&self, name: &str) -> Result<Option<i64>, sqlx::Error> {
        self.try_get(name)
    }

    fn text(&self, name: &str) -> Result<Option<String>, sqlx::Error> {
        self.try_get(name)
    }

    fn bytes(&self, name: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
        self.try_get(name)
    }
}

/// A row of a point read (`Store::point_read`), from wherever it ran.
pub(super) enum ReadRow {
    Pooled(AnyRow),
    Direct(Fetched),
}

impl Columns for ReadRow {
    fn int(&self, name: &str) -> Result<Option<i64>, sqlx::Error> {
        match self {
            ReadRow::Pooled(row) => row.int(name),
            ReadRow::Direct(row) => row.int(name),
        }
    }

    fn text(&self, name: &str) -> Result<Option<String>, sqlx::Error> {
        match self {
            ReadRow::Pooled(row) => row.text(name),
            ReadRow::Direct(row) => row.text(name),
        }
    }

    fn bytes(&self, name: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
        match self {
            ReadRow::Pooled(row) => row.bytes(name),
            ReadRow::Direct(row) => row.bytes(name),
        }
    }
}

/// A column that must not be NULL.
pub(super) fn required<T>(value: Option<T>, name: &str) -> Result<T, sqlx::Error> {
    value.ok_or_else(|| sqlx::Error::Decode(format!("column {name} is NULL").into()))
}

/// Runs statements inside an open transaction.
pub(super) trait Statements {
    type Row: Columns;

    /// Runs `sql`, returning its rows.
    async fn rows(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Self::Row>, sqlx::Error>;

    /// Runs `sql`, returning how many rows it changed.
    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, sqlx::Error>;

    /// Runs `sql`, returning its first row.
    async fn row(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Option<Self::Row>, sqlx::Error> {
        Ok(self.rows(sql, args).await?.into_iter().next())
    }
}

pub(super) fn bound<'q>(sql: &'q str, args: &[Arg<'q>]) -> Query<'q, Any, AnyArguments<'q>> {
    args.iter().fold(sqlx::query(sql), |q, arg| match *arg {
        Arg::Int(v) => q.bind(v),
        Arg::Text(v) => q.bind(v),
        Arg::Bytes(v) => q.bind(v),
    })
}

impl Statements for Transaction<'_, Any> {
    type Row = AnyRow;

    async fn rows(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<AnyRow>, sqlx::Error> {
        bound(sql, args).fetch_all(&mut **self).await
    }

    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, sqlx::Error> {
        Ok(bound(sql, args).execute(&mut **self).await?.rows_affected())
    }
}
