//! Where the store's connections come from: a pool per database, and for Postgres
//! the runtime every connection is opened on. Only this module touches the pools.

use std::borrow::Cow;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::{PoolConnection, PoolConnectionMetadata};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor, Transaction};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::sqlite_readers::SqliteReaders;
use super::sqlite_writer::{SqliteWriter, Turn};
use super::statements::{bound, Arg, ReadRow};
use super::worker_connections::{self, OwnConnection};
use super::{Error, Result, Store};

/// Connections berth holds open to Postgres, shared by every thread.
const POSTGRES_POOL: u32 = 10;

/// How often Postgres's idle connections are tested.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// How long a request waits for SQLite's one write connection: writes queue there.
const SQLITE_WRITE_QUEUE: Duration = Duration::from_secs(60);

/// The SQLite migration whose table rebuild runs outside sqlx's transaction.
const REBUILD_0008: i64 = 8;

/// How long an idle connection (SQLite's pooled ones, a worker's own Postgres ones) may
/// sit and still be handed out untested.
pub(super) const TRUSTED_IDLE: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub(super) struct Pools {
    /// Writes go here. For SQLite this pool has one connection, so write
    /// transactions queue in-process instead of failing with SQLITE_BUSY.
    write: AnyPool,
    read: AnyPool,
    /// The runtime Postgres's connections are opened on (see `postgres`); SQLite's
    /// connections have threads of their own.
    home: Option<tokio::runtime::Handle>,
    /// SQLite's: whose turn it is to write, and the writer thread that takes turns
    /// with the write pool (see `sqlite_writer`).
    turn: Option<Turn>,
    /// SQLite's database file, which the writer thread and the point reads open.
    sqlite_file: Option<PathBuf>,
    sqlite_writer: Option<Arc<SqliteWriter>>,
    /// SQLite's point reads on the caller's thread (see `sqlite_readers`).
    sqlite_readers: Option<Arc<SqliteReaders>>,
    /// Postgres's: how an HTTP worker opens connections of its own.
    worker_pool: Option<WorkerPool>,
}

/// What a worker's own Postgres connections are opened with, and which store they
/// belong to.
#[derive(Clone)]
struct WorkerPool {
    store: u64,
    options: AnyConnectOptions,
    acquire_timeout: Duration,
}

/// Tells stores apart among a thread's own connections (tests run several in one
/// process).
static STORES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// What every Postgres connection runs first. berth's statements each touch a few index
/// entries; JIT compiling one, which Postgres does when stale statistics overstate its
/// cost, took ~200 ms for a 0.4 ms query.
pub(super) const SESSION: &str = "SET jit = off";

/// The shared Postgres pool's options: each connection set up with `SESSION`.
fn postgres_options(acquire_timeout: Duration) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(POSTGRES_POOL)
        .idle_timeout(None)
        .max_lifetime(None)
        .test_before_acquire(false)
        .acquire_timeout(acquire_timeout)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute(SESSION).await?;
                Ok(())
            })
        })
}

/// Tests a pooled connection idle longer than `TRUSTED_IDLE` before it is handed out.
fn ping_if_idle(
    conn: &mut AnyConnection,
    meta: PoolConnectionMetadata,
) -> BoxFuture<'_, sqlx::Result<bool>> {
    Box::pin(async move {
        if meta.idle_for > TRUSTED_IDLE {
            conn.ping().await?;
        }
        Ok(true)
    })
}

/// The write connection, for as long as its holder has the turn to write.
pub(super) struct WriteConnection {
    // Declared first: the connection is on its way back to the pool when the turn
    // passes. A rollback still queued on it (a dropped transaction) holds SQLite's
    // lock a moment longer, which the writer thread's busy timeout waits out.
    conn: Taken,
    _turn: Option<OwnedSemaphorePermit>,
}

/// A connection from a pool or one of the calling thread's own.
pub(super) enum Taken {
    Pooled(PoolConnection<Any>),
    Own(OwnConnection),
}

impl std::ops::Deref for Taken {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self {
            Taken::Pooled(conn) => conn,
            Taken::Own(conn) => conn,
        }
    }
}

impl std::ops::DerefMut for Taken {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Taken::Pooled(conn) => conn,
            Taken::Own(conn) => conn,
        }
    }
}

impl std::ops::Deref for WriteConnection {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for WriteConnection {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

impl Pools {
    /// Opens the shared Postgres pool: all of it, on the current runtime, which must
    /// outlive the HTTP workers. A connection's socket belongs to the runtime that
    /// opened it, and on SIGTERM idle workers stop their runtimes before busy ones
    /// finish; so no shared connection is opened by a worker (a worker's own,
    /// `Store::open_worker_pool`, serve only its requests). Requests take an idle
    /// shared connection where they are (untested: `sweep` has idle ones tested every
    /// second and the dead closed), and only when none is idle ask this runtime for
    /// one, which opens a replacement for any connection lost (a database restart)
    /// here. Hence no `min_connections` either: sqlx would reopen those from whichever
    /// task released the broken one.
    pub(super) async fn postgres(url: &str, acquire_timeout: Duration) -> anyhow::Result<Self> {
        let pool = postgres_options(acquire_timeout).connect_lazy(url)?;
        let open = (0..POSTGRES_POOL).map(|_| pool.acquire());
        futures_util::future::try_join_all(open)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot connect to the database (--database-url) within {acquire_timeout:?}: {e}"
                )
            })?;
        tokio::spawn(sweep(pool.clone()));
        Ok(Self {
            write: pool.clone(),
            read: pool,
            home: Some(tokio::runtime::Handle::current()),
            turn: None,
            sqlite_file: None,
            sqlite_writer: None,
            sqlite_readers: None,
            worker_pool: Some(WorkerPool {
                store: STORES.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                options: AnyConnectOptions::from_str(url)?,
                acquire_timeout,
            }),
        })
    }

    /// Opens SQLite's pools: the write pool's one connection, and the readers.
    pub(super) async fn sqlite(url: &str) -> anyhow::Result<Self> {
        let options = AnyConnectOptions::from_str(url)?;
        let pool = |max| {
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(SQLITE_WRITE_QUEUE)
                // sqlx tests a connection (a round trip to its thread) when it goes back
                // to the pool, and by default again when it is taken out; here only one
                // idle long enough to be worth it.
                .test_before_acquire(false)
                .before_acquire(ping_if_idle)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        // WAL lets readers run beside the writer; FULL syncs every commit
                        // so a crash or power loss keeps what was answered.
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;")
                            .await?;
                        Ok(())
                    })
                })
        };
        let write = pool(1)
            .after_release(|conn, _| {
                Box::pin(async move {
                    // When a statement fails with SQLITE_FULL (or IOERR, BUSY, NOMEM),
                    // SQLite may roll the transaction back itself; the ROLLBACK sqlx then
                    // sends fails, and sqlx-sqlite leaves its transaction depth at 1, so
                    // every later BEGIN on the connection fails ("begin_with at non-zero
                    // transaction depth"). A committed transaction leaves nothing
                    // queued, so the connection goes straight back (this runs between
                    // every two writes). After a dropped one, the ping waits for its
                    // queued rollback; a connection still counted in a transaction is
                    // closed, and the pool opens a fresh one when next asked.
                    if !conn.is_in_transaction() {
                        return Ok(true);
                    }
                    conn.ping().await?;
                    Ok(!conn.is_in_transaction())
                })
            })
            .connect_with(options.clone())
            .await?;
        Ok(Self {
            write,
            read: pool(8).connect_with(options).await?,
            home: None,
            turn: Some(Arc::new(Semaphore::new(1))),
            sqlite_file: Some(
                SqliteConnectOptions::from_str(url)?
                    .get_filename()
                    .to_owned(),
            ),
            sqlite_writer: None,
            sqlite_readers: None,
            worker_pool: None,
        })
    }

    /// Starts SQLite's writer thread and its direct readers, once the database is
    /// migrated. An in-memory database has no file another connection could open, so
    /// it keeps to the pools.
    pub(super) fn open_direct(&mut self) -> anyhow::Result<()> {
        if let (Some(turn), Some(path)) = (&self.turn, &self.sqlite_file) {
            if path.is_file() {
                self.sqlite_writer = Some(Arc::new(SqliteWriter::start(path, turn.clone())?));
                self.sqlite_readers = Some(Arc::new(SqliteReaders::new(path)));
            }
        }
        Ok(())
    }

    pub(super) fn sqlite_writer(&self) -> Option<&SqliteWriter> {
        self.sqlite_writer.as_deref()
    }

    pub(super) async fn migrate(&self, postgres: bool) -> anyhow::Result<()> {
        if postgres {
            sqlx::migrate!("migrations/postgres")
                .run(&self.write)
                .await?;
        } else {
            let migrator = sqlx::migrate!("migrations/sqlite");
            // sqlx runs each migration in a transaction with foreign keys on, where
            // SQLite cannot rebuild a table that others reference; 0008's rebuild of
            // `repositories` runs between the migrations before it and the rest.
            let mut before = sqlx::migrate!("migrations/sqlite");
            before.migrations = Cow::Owned(
                migrator
                    .iter()
                    .filter(|m| m.version < REBUILD_0008)
                    .cloned()
                    .collect(),
            );
            before.set_ignore_missing(true);
            before.run(&self.write).await?;
            self.rebuild_for_0008().await?;
            migrator.run(&self.write).await?;
        }
        Ok(())
    }

    /// Gives `repositories` its region column and per-region names, unless it has
    /// them: with foreign keys off (outside a transaction, where SQLite allows turning
    /// them off), in one transaction. Idempotent, so a crash between the rebuild and
    /// migration 0008 being recorded is harmless.
    async fn rebuild_for_0008(&self) -> anyhow::Result<()> {
        let mut conn = self.write.acquire().await?;
        let done: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pragma_table_info('repositories') WHERE name = 'region'",
        )
        .fetch_one(&mut *conn)
        .await?;
        if done > 0 {
            return Ok(());
        }
        conn.execute("PRAGMA foreign_keys = OFF").await?;
        let rebuilt = async {
            let mut tx = conn.begin().await?;
            tx.execute(include_str!(
                "../../migrations/sqlite-rebuilds/0008_repositories.sql"
            ))
            .await?;
            let violations = sqlx::query("PRAGMA foreign_key_check")
                .fetch_all(&mut *tx)
                .await?;
            anyhow::ensure!(
                violations.is_empty(),
                "rebuilding repositories would break {} references",
                violations.len()
            );
            tx.commit().await?;
            Ok(())
        }
        .await;
        conn.execute("PRAGMA foreign_keys = ON").await?;
        rebuilt
    }

    pub(super) async fn close(&self) {
        if let Some(writer) = &self.sqlite_writer {
            writer.close();
        }
        if let Some(readers) = &self.sqlite_readers {
            readers.close();
        }
        if let Some(turn) = &self.turn {
            turn.close();
        }
        self.write.close().await;
        self.read.close().await;
    }
}

/// Every `SWEEP_EVERY`, takes each idle connection out and puts it back: sqlx pings a
/// connection as it goes back, and closes it if it does not answer.
async fn sweep(pool: AnyPool) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !pool.is_closed() {
        every.tick().await;
        let idle: Vec<_> = std::iter::from_fn(|| pool.try_acquire())
            .take(POSTGRES_POOL as usize)
            .collect();
        drop(idle);
    }
}

impl Store {
    /// Gives the calling thread, an HTTP worker, Postgres connections of its own
    /// (`worker_connections`), opened on its runtime as it first needs them; its requests
    /// take those first. A reply to a statement then wakes the request's own thread,
    /// where a shared connection's reply first wakes the home runtime's, which then
    /// wakes the request's: one hop between threads fewer per statement. Only for
    /// threads whose runtime runs all its tasks to the end (an HTTP worker's drains its
    /// requests before it stops), since no other thread uses these connections.
    pub fn open_worker_pool(&self) {
        if let Some(worker) = &self.pools.worker_pool {
            worker_connections::open(worker.store, worker.options.clone(), worker.acquire_timeout);
        }
    }

    /// A connection from `pool`: for Postgres one of the calling thread's own
    /// (`open_worker_pool`; waited for a moment when its other requests hold them), else
    /// an idle shared one, else one taken (or opened) on the home runtime (see
    /// `Pools::postgres`).
    async fn take(&self, pool: &AnyPool) -> Result<Taken> {
        let Some(home) = &self.pools.home else {
            return Ok(Taken::Pooled(pool.acquire().await?));
        };
        if let Some(worker) = &self.pools.worker_pool {
            if let Some(own) = worker_connections::take(worker.store).await? {
                return Ok(Taken::Own(own));
            }
        }
        if let Some(conn) = pool.try_acquire() {
            return Ok(Taken::Pooled(conn));
        }
        let pool = pool.clone();
        // A join error means the home runtime is shutting down.
        let taken = home
            .spawn(async move { pool.acquire().await })
            .await
            .unwrap_or(Err(sqlx::Error::PoolClosed));
        Ok(Taken::Pooled(taken?))
    }

    /// A connection for reads.
    pub(super) async fn reader(&self) -> Result<Taken> {
        self.take(&self.pools.read).await
    }

    /// The rows of one read statement: on SQLite read on this thread
    /// (`sqlite_readers`), else (or when SQLite is busy) on a pooled connection.
    pub(super) async fn point_read(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<ReadRow>> {
        if let Some(readers) = &self.pools.sqlite_readers {
            let direct = readers.read(|conn| Ok(conn.rows_now(sql, args)?));
            if let Some(rows) = direct {
                return Ok(rows?.into_iter().map(ReadRow::Direct).collect());
            }
        }
        let rows = bound(sql, args)
            .fetch_all(&mut *self.reader().await?)
            .await?;
        Ok(rows.into_iter().map(ReadRow::Pooled).collect())
    }

    /// A connection for writes: one statement, or a transaction (`begin_write`). On
    /// SQLite it waits its turn as long as the write pool lets a request wait.
    pub(super) async fn writer(&self) -> Result<WriteConnection> {
        let turn = match &self.pools.turn {
            Some(turn) => {
                let next = tokio::time::timeout(SQLITE_WRITE_QUEUE, turn.clone().acquire_owned());
                match next.await {
                    Ok(Ok(turn)) => Some(turn),
                    Ok(Err(_closed)) => return Err(Error::Unavailable(sqlx::Error::PoolClosed)),
                    Err(_elapsed) => return Err(Error::Unavailable(sqlx::Error::PoolTimedOut)),
                }
            }
            None => None,
        };
        Ok(WriteConnection {
            conn: self.take(&self.pools.write).await?,
            _turn: turn,
        })
    }

    /// Starts a write transaction on `conn` (from `writer`). On SQLite it is `BEGIN
    /// IMMEDIATE`: a deferred transaction that reads first takes the write lock only at
    /// its first write, and SQLite answers that upgrade with an immediate SQLITE_BUSY,
    /// without waiting (busy_timeout), whenever another connection briefly holds the
    /// lock, as a reader re-checking the WAL index may. Taken at BEGIN, the lock is
    /// waited for.
    pub(super) async fn begin_write<'c>(
        &self,
        conn: &'c mut WriteConnection,
    ) -> Result<Transaction<'c, Any>> {
        Ok(if self.postgres {
            conn.begin().await?
        } else {
            conn.begin_with("BEGIN IMMEDIATE").await?
        })
    }
}
