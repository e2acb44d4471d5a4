//! The metadata store: the only module that speaks SQL.
//!
//! One implementation over sqlx's `Any` driver serves both SQLite (the embedded
//! default) and Postgres: the SQL is written in the dialect both share (`$N`
//! parameters, `ON CONFLICT`, `RETURNING`, row-value comparison), timestamps are epoch
//! milliseconds and booleans 0/1, so only the migrations (and Postgres's row locks,
//! see `lock_rows`) differ per dialect.
//! Every state change is one transaction; races are settled by constraints.

mod blobs;
mod images;
mod key;
mod public;
mod records;
mod registry;
mod repositories;
mod settings;
mod uploads;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Connection, Executor, Transaction};

use crate::domain::{CatalogData, Digest, Repository};

pub use key::{Key, Stored};
pub use records::*;
pub use registry::Referrer;
pub use repositories::MAX_RESOURCE_TAGS;

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
    /// and everything else.
    fn from(e: sqlx::Error) -> Self {
        match &e {
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
        }
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

/// Connections berth holds open to Postgres.
const POSTGRES_POOL: u32 = 10;

#[derive(Clone)]
pub struct Store {
    /// Writes go here. For SQLite this pool has one connection, so write
    /// transactions queue in-process instead of failing with SQLITE_BUSY.
    write: AnyPool,
    read: AnyPool,
    postgres: bool,
}

impl Store {
    /// Connects to `database_url`, or to the embedded SQLite file in `data_dir`, and
    /// applies the migrations.
    pub async fn connect(database_url: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let store = match database_url {
            Some(url) if url.starts_with("postgres") => {
                // A connection's socket belongs to the runtime that opened it, and on
                // SIGTERM idle HTTP workers stop their runtimes before busy ones finish.
                // So the whole pool is opened here, on the runtime that outlives the
                // workers, and kept (no idle or lifetime expiry) rather than reopened
                // lazily by whichever worker asks.
                let pool = tested_when_idle(AnyPoolOptions::new())
                    .min_connections(POSTGRES_POOL)
                    .max_connections(POSTGRES_POOL)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // berth's statements each touch a few index entries; JIT
                            // compiling one, which Postgres does when stale statistics
                            // overstate its cost, took ~200 ms for a 0.4 ms query.
                            conn.execute("SET jit = off").await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await?;
                Self {
                    write: pool.clone(),
                    read: pool,
                    postgres: true,
                }
            }
            other => {
                let url = match other {
                    Some(url) => url.to_owned(),
                    None => format!("sqlite://{}?mode=rwc", data_dir.join("berth.db").display()),
                };
                let options = AnyConnectOptions::from_str(&url)?;
                let pool = |max| {
                    tested_when_idle(AnyPoolOptions::new())
                        .max_connections(max)
                        .acquire_timeout(Duration::from_secs(60))
                        .after_connect(|conn, _| {
                            Box::pin(async move {
                                // WAL lets readers run beside the writer; FULL syncs every
                                // commit so a crash or power loss keeps what was answered.
                                conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;")
                                    .await?;
                                Ok(())
                            })
                        })
                        .connect_with(options.clone())
                };
                let write = pool(1).await?;
                let read = pool(8).await?;
                Self {
                    write,
                    read,
                    postgres: false,
                }
            }
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        if self.postgres {
            sqlx::migrate!("migrations/postgres")
                .run(&self.write)
                .await?;
        } else {
            sqlx::migrate!("migrations/sqlite").run(&self.write).await?;
        }
        Ok(())
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

    /// ` FOR UPDATE OF <table>`: locks only that table's rows of a join (Postgres).
    fn lock_rows_of(&self, table: &str) -> String {
        if self.postgres {
            format!(" FOR UPDATE OF {table}")
        } else {
            String::new()
        }
    }

    /// Starts a write transaction. On SQLite it is `BEGIN IMMEDIATE`: a deferred
    /// transaction that reads first takes the write lock only at its first write, and
    /// SQLite answers that upgrade with an immediate SQLITE_BUSY, without waiting
    /// (busy_timeout), whenever another connection briefly holds the lock, as a reader
    /// re-checking the WAL index may. Taken at BEGIN, the lock is waited for.
    async fn begin_write(&self) -> Result<Transaction<'static, Any>> {
        Ok(if self.postgres {
            self.write.begin().await?
        } else {
            self.write.begin_with("BEGIN IMMEDIATE").await?
        })
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// How long a pooled connection may sit idle and still be handed out untested.
const TRUSTED_IDLE: Duration = Duration::from_secs(1);

/// sqlx pings a connection when it goes back to the pool, and by default again when it
/// is taken out: on Postgres a network round trip before every statement or
/// transaction. Here the second ping only happens for a connection idle long enough
/// that the server may have dropped it since its release ping.
fn tested_when_idle(options: AnyPoolOptions) -> AnyPoolOptions {
    options
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > TRUSTED_IDLE {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
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
