//! The metadata store: the only module that speaks SQL.
//!
//! One implementation over sqlx's `Any` driver serves both SQLite (the embedded
//! default) and Postgres: the SQL is written in the dialect both share (`$N`
//! parameters, `ON CONFLICT`, `RETURNING`, row-value comparison), timestamps are epoch
//! milliseconds and booleans 0/1, so only the migrations (and Postgres's row locks,
//! see `lock_rows`) differ per dialect. On SQLite, PutImage and the point reads of
//! every push and pull run the same SQL on rusqlite connections on the calling thread
//! instead (`sqlite_writer`, `sqlite_readers`), sparing a thread hop per statement.
//! Every state change is one transaction; races are settled by constraints.

mod blobs;
mod gc;
mod images;
mod instances;
mod key;
mod leases;
mod lifecycle;
mod pool;
mod pull_through;
mod records;
mod referrers;
mod registries;
mod replication;
mod repositories;
mod scanning;
mod settings;
mod signing;
mod sqlite_direct;
mod sqlite_readers;
mod sqlite_writer;
mod statements;
mod tags;
mod templates;
mod uploads;
mod worker_connections;

use std::path::Path;
use std::time::Duration;

use sqlx::{Any, Transaction};

use crate::domain::{CatalogData, Digest, Region, Repository};

pub use gc::{Dangling, Link};
pub use key::{Key, Stored};
pub use records::*;
pub use referrers::Referrer;
pub use registries::{PushRules, MAX_PULL_TIME_EXCLUSIONS};
pub use replication::{DestinationStatus, ReplicationTask};
pub use repositories::MAX_RESOURCE_TAGS;
pub use scanning::{ImageScan, ObservedFinding, ScanOutcome, ScanSummary, ScanTask};
pub use signing::{ProfileStatus, SigningOutcome, SigningTask};
pub use templates::MAX_TEMPLATES;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("already exists")]
    AlreadyExists,
    #[error("the repository still holds images")]
    NotEmpty,
    #[error("referenced blobs are missing")]
    MissingBlobs(Vec<Digest>),
    #[error("referenced images are missing")]
    MissingImages(Vec<Digest>),
    #[error("the image already exists")]
    ImageAlreadyExists,
    #[error("the tag already exists and is immutable")]
    TagAlreadyExists,
    #[error("the image is referenced by an index")]
    ReferencedByIndex,
    #[error("too many resource tags")]
    TooManyTags,
    /// A registry holds as many of something as it may.
    #[error("the limit is reached")]
    LimitReached,
    /// The database has no room left (SQLite's disk, Postgres's `disk_full`).
    #[error("the database's storage is full")]
    Full(#[source] sqlx::Error),
    /// The database cannot be reached or took too long to hand out a connection.
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for Error {
    /// Sorts a failure into what the service must tell apart: no room, no database,
    /// and everything else. One that may have broken its connection is also counted
    /// (`worker_connections::failed`), so that a worker's connections lent meanwhile
    /// are tested before their next use.
    fn from(e: sqlx::Error) -> Self {
        let sorted = match &e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => Error::Unavailable(e),
            sqlx::Error::Database(db) => match db.code().as_deref() {
                // SQLITE_FULL, and Postgres's disk_full.
                Some("13" | "53100") => Error::Full(e),
                // Postgres shutting down or starting, or a broken connection.
                Some(code) if code.starts_with("08") || code.starts_with("57P") => {
                    Error::Unavailable(e)
                }
                _ => Error::Database(e),
            },
            _ => Error::Database(e),
        };
        if matches!(
            sorted,
            Error::Unavailable(_) | Error::Database(sqlx::Error::Protocol(_))
        ) {
            worker_connections::failed();
        }
        sorted
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Turns a unique-constraint violation into `err`; other failures stay database errors.
fn on_unique(e: sqlx::Error, err: Error) -> Error {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => err,
        _ => e.into(),
    }
}

/// A capped insert's outcome (`INSERT ... SELECT ... WHERE (SELECT COUNT(*) ...) < max`):
/// `AlreadyExists` on a unique violation, `LimitReached` when no row went in.
fn capped(inserted: std::result::Result<sqlx::any::AnyQueryResult, sqlx::Error>) -> Result<()> {
    match inserted.map_err(|e| on_unique(e, Error::AlreadyExists))? {
        done if done.rows_affected() == 0 => Err(Error::LimitReached),
        _ => Ok(()),
    }
}

#[derive(Clone)]
pub struct Store {
    /// Only `pool` hands out their connections.
    pools: pool::Pools,
    postgres: bool,
}

impl Store {
    /// Connects to `database_url`, or to the embedded SQLite file in `data_dir`, and
    /// applies the migrations; repositories from before berth had regions go to
    /// `home_region`. A request waits at most `acquire_timeout` for a Postgres
    /// connection, so while Postgres is down requests fail that fast.
    pub async fn connect(
        database_url: Option<&str>,
        data_dir: &Path,
        acquire_timeout: Duration,
        home_region: &Region,
    ) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let mut store = match database_url {
            Some(url) if url.starts_with("postgres") => Self {
                pools: pool::Pools::postgres(url, acquire_timeout).await?,
                postgres: true,
            },
            other => {
                let url = match other {
                    Some(url) => url.to_owned(),
                    None => format!("sqlite://{}?mode=rwc", data_dir.join("berth.db").display()),
                };
                Self {
                    pools: pool::Pools::sqlite(&url).await?,
                    postgres: false,
                }
            }
        };
        store.pools.migrate(store.postgres).await?;
        store.pools.open_direct()?;
        store.adopt_regionless(home_region).await?;
        Ok(store)
    }

    /// A `COLLATE` clause that makes text compare byte by byte whatever the database's
    /// default collation (Postgres often has a linguistic one); SQLite's is byte order.
    fn bytewise(&self) -> &'static str {
        if self.postgres {
            " COLLATE \"C\""
        } else {
            ""
        }
    }

    /// ` FOR UPDATE` where the database has row locks (Postgres). SQLite needs none:
    /// its one write connection runs write transactions one at a time.
    fn lock_rows(&self) -> &'static str {
        if self.postgres {
            " FOR UPDATE"
        } else {
            ""
        }
    }

    /// ` FOR SHARE` where the database has row locks (Postgres): the rows read stay as
    /// read until the transaction ends, while other readers may share them.
    fn share_rows(&self) -> &'static str {
        if self.postgres {
            " FOR SHARE"
        } else {
            ""
        }
    }

    /// Takes the lock on `digest` for the rest of `tx`. Whoever places a blob's file,
    /// records it or links an existing blob, and whoever removes a blob's row or file,
    /// holds it: so a blob ends with its row and its file, or with neither. Postgres: a
    /// transaction-scoped advisory lock on the digest's hash (a collision only
    /// serializes two digests); SQLite: `tx` is a write transaction, and there is one
    /// writer.
    async fn lock_digest(&self, tx: &mut Transaction<'_, Any>, digest: &Digest) -> Result<()> {
        if self.postgres {
            sqlx::query("SELECT 1 FROM pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(digest.as_str())
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// ` FOR UPDATE OF <table>`: locks only that table's rows of a join (Postgres).
    fn lock_rows_of(&self, table: &str) -> String {
        if self.postgres {
            format!(" FOR UPDATE OF {table}")
        } else {
            String::new()
        }
    }

    /// The records of a registry's per-prefix `table` (creation templates, pull through
    /// cache rules), each read by `record`, in prefix (byte) order after `after`, only
    /// those of `prefixes` when given; at most `limit`.
    async fn by_prefix<T>(
        &self,
        (table, columns): (&str, &str),
        registry: &crate::domain::Registry,
        prefixes: Option<&[crate::domain::TemplatePrefix]>,
        after: Option<&str>,
        limit: i64,
        record: impl Fn(&sqlx::any::AnyRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        let only = match prefixes {
            Some([]) => return Ok(Vec::new()),
            Some(p) => format!(" AND prefix IN ({})", placeholders(5, p.len())),
            None => String::new(),
        };
        let sql = format!(
            "SELECT {columns} FROM {table} \
             WHERE registry_id = $1 AND region = $2 AND prefix{c} > $3{only} \
             ORDER BY prefix{c} LIMIT $4",
            c = self.bytewise()
        );
        let mut q = sqlx::query(&sql)
            .bind(registry.account.as_str())
            .bind(registry.region.as_str())
            .bind(after.unwrap_or(""))
            .bind(limit);
        for p in prefixes.unwrap_or_default() {
            q = q.bind(p.as_str());
        }
        let rows = q.fetch_all(&mut *self.reader().await?).await?;
        rows.iter().map(record).collect()
    }

    /// A cheap round trip: whether the store answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&mut *self.reader().await?)
            .await?;
        Ok(())
    }

    /// Commits a one-row write: whether the store can write now.
    pub async fn probe_write(&self) -> Result<()> {
        let now = millis(chrono::Utc::now()).to_string();
        self.put_setting("write_probe", &now).await
    }

    pub async fn close(&self) {
        self.pools.close().await;
    }
}

/// Epoch milliseconds, the store's timestamp representation.
fn millis(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_millis(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// `$from, $from+1, ...` for an IN list of `n` parameters.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
