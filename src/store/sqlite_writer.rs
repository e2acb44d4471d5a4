//! SQLite's writer: a thread of its own holding a write connection, where a PutImage
//! runs whole. Through sqlx every statement is a round trip to its connection's thread
//! (two context switches and a wake-up each, most of a PutImage's cost); here a push
//! is one message there and one answer back.
//!
//! Writes that arrive while one commits are committed together: one transaction and
//! one `fsync` for the lot (group commit), each write in a savepoint of its own, so a
//! refused one (an immutable tag, a missing layer) leaves the others as they were.
//! Every write is answered only once the transaction holding it has committed, so a
//! success still means it is durable; if the commit fails, every write of it fails.
//!
//! The writes sqlx runs and this thread's take turns (`Turn`): SQLite has one writer
//! at a time, and a write waiting on its lock would otherwise sleep and poll.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::pin::pin;
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use rusqlite::{ffi, Connection, OpenFlags};
use tokio::sync::{oneshot, Semaphore};

use super::sqlite_direct::{converted, failure, Direct};
use super::{Error, Result};

/// At most this many writes share one transaction.
const MAX_BATCH: usize = 64;

/// How long a write waits for SQLite's lock held by another process (as sqlx's
/// connections do, `busy_timeout`).
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The turn to write: held by a sqlx write connection while it is out of the pool, and
/// by the writer thread while it runs a batch.
pub(super) type Turn = Arc<Semaphore>;

pub(super) struct SqliteWriter {
    /// `None` once the store is closed.
    jobs: Mutex<Option<mpsc::Sender<Box<dyn Job>>>>,
}

impl SqliteWriter {
    /// Opens a write connection to the database file at `path` (already migrated) and
    /// starts its thread.
    pub(super) fn start(path: &Path, turn: Turn) -> anyhow::Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // As sqlx's connections (`Pools::sqlite`): FULL syncs every commit. Each
        // write's savepoint keeps its pages' old content in a sub-journal, a temporary
        // file unless temp_store is MEMORY (an open, unlink and close per batch).
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             PRAGMA temp_store = MEMORY;",
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(64);
        let (send, jobs) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || serve(&conn, &jobs, &turn))?;
        Ok(Self {
            jobs: Mutex::new(Some(send)),
        })
    }

    /// Runs `write` in a transaction on the writer thread; its outcome once that
    /// transaction has committed (or the failure that ended it).
    pub(super) async fn run<T, F>(&self, write: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Direct<'_>) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Call {
            write: Some(write),
            outcome: None,
            reply,
        });
        let sent = match &*self.jobs.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(jobs) => jobs.send(job).is_ok(),
            None => false,
        };
        if !sent {
            return Err(Error::Unavailable(sqlx::Error::PoolClosed));
        }
        answer
            .await
            .unwrap_or(Err(Error::Unavailable(sqlx::Error::WorkerCrashed)))
    }

    /// Stops the thread once the writes already queued are done.
    pub(super) fn close(&self) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// One queued write.
trait Job: Send {
    /// Runs the write; whether it succeeded.
    fn run(&mut self, tx: &mut Direct<'_>) -> bool;
    /// Answers the write: its own outcome if its transaction committed.
    fn answer(self: Box<Self>, ended: &Ended<'_>);
}

/// How a batch's transaction ended.
enum Ended<'a> {
    Committed,
    Failed(&'a rusqlite::Error),
    /// The store was closed before the batch could run.
    Closed,
}

struct Call<T, F> {
    write: Option<F>,
    outcome: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Job for Call<T, F>
where
    T: Send,
    F: FnOnce(&mut Direct<'_>) -> Result<T> + Send,
{
    fn run(&mut self, tx: &mut Direct<'_>) -> bool {
        let outcome = match self.write.take() {
            Some(write) => write(tx),
            None => Err(Error::Database(sqlx::Error::WorkerCrashed)),
        };
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn answer(self: Box<Self>, ended: &Ended<'_>) {
        let outcome = match (ended, self.outcome) {
            (Ended::Committed, Some(outcome)) => outcome,
            (Ended::Committed, None) => Err(Error::Database(sqlx::Error::WorkerCrashed)),
            (Ended::Failed(e), _) => Err(converted(e).into()),
            (Ended::Closed, _) => Err(Error::Unavailable(sqlx::Error::PoolClosed)),
        };
        // The caller may have gone (its request dropped); the write stands.
        let _ = self.reply.send(outcome);
    }
}

fn serve(conn: &Connection, jobs: &mpsc::Receiver<Box<dyn Job>>, turn: &Semaphore) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        let committed = block_on(turn.acquire()).map(|_turn| commit(conn, jobs, &mut batch));
        let ended = match &committed {
            Ok(Ok(())) => Ended::Committed,
            Ok(Err(e)) => Ended::Failed(e),
            Err(_closed) => Ended::Closed,
        };
        if let Ended::Committed = ended {
            crate::metrics::sqlite_commit(batch.len());
        }
        for job in batch {
            job.answer(&ended);
        }
    }
}

/// Begins a transaction, adds the writes queued by then to `batch`, runs each in a
/// savepoint, and commits. After a failure nothing of the batch stays and the
/// connection is ready for the next one.
fn commit(
    conn: &Connection,
    jobs: &mpsc::Receiver<Box<dyn Job>>,
    batch: &mut Vec<Box<dyn Job>>,
) -> rusqlite::Result<()> {
    let ran = run_batch(conn, jobs, batch);
    if ran.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    ran
}

fn run_batch(
    conn: &Connection,
    jobs: &mpsc::Receiver<Box<dyn Job>>,
    batch: &mut Vec<Box<dyn Job>>,
) -> rusqlite::Result<()> {
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    batch.extend(jobs.try_iter().take(MAX_BATCH - 1));
    // A write alone in its transaction needs no savepoint (SQLite would copy each page
    // it changes into a sub-journal first): if it fails, the transaction is rolled back.
    let alone = batch.len() == 1;
    for job in batch.iter_mut() {
        if !alone {
            conn.prepare_cached("SAVEPOINT write")?.execute([])?;
        }
        let mut tx = Direct::new(conn);
        // A write that panics fails alone (its caller hears the thread crashed); the
        // thread goes on serving the others.
        let ok = catch_unwind(AssertUnwindSafe(|| job.run(&mut tx))).unwrap_or(false);
        if conn.is_autocommit() {
            // SQLite ended the transaction itself (a full disk, an I/O error).
            return Err(tx
                .failed
                .unwrap_or_else(|| failure(ffi::SQLITE_ABORT, "transaction ended")));
        }
        if alone {
            if !ok {
                return conn.prepare_cached("ROLLBACK")?.execute([]).map(drop);
            }
            continue;
        }
        if !ok {
            conn.prepare_cached("ROLLBACK TO write")?.execute([])?;
        }
        conn.prepare_cached("RELEASE write")?.execute([])?;
    }
    conn.prepare_cached("COMMIT")?.execute([])?;
    Ok(())
}

/// Drives `f` on this thread, parking it while `f` waits.
fn block_on<F: Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite_direct::at_once;
    use crate::store::statements::{args, Statements};

    /// The value of a counter as `/metrics` shows it.
    fn counter(name: &str) -> u64 {
        let text = crate::metrics::Metrics::new().render().expect("render");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    }

    /// The keys in the test table, in order.
    fn keys(conn: &Connection) -> Vec<String> {
        let mut stmt = conn.prepare("SELECT k FROM t ORDER BY k").expect("select");
        let keys = stmt
            .query_map([], |row| row.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        keys
    }

    /// SQLite is compiled as `.cargo/config.toml` says: its page caches and its
    /// allocations take no process-wide lock for this thread and the readers to
    /// contend on.
    #[test]
    fn sqlite_takes_no_process_wide_locks() {
        let conn = Connection::open_in_memory().expect("open");
        let mut stmt = conn.prepare("PRAGMA compile_options").expect("pragma");
        let options = stmt
            .query_map([], |row| row.get::<_, String>(0))
            .expect("query")
            .collect::<rusqlite::Result<Vec<_>>>()
            .expect("rows");
        let has = |option: &str| options.iter().any(|o| o == option);
        assert!(has("DEFAULT_MEMSTATUS=0"), "{options:?}");
        assert!(has("DISABLE_PAGECACHE_OVERFLOW_STATS"), "{options:?}");
        assert!(!has("ENABLE_MEMORY_MANAGEMENT"), "{options:?}");
    }

    /// A write that inserts `key`, then ends as `then` says.
    fn insert(
        key: &'static str,
        then: fn() -> Result<()>,
    ) -> impl FnOnce(&mut Direct<'_>) -> Result<()> {
        move |tx| {
            at_once(async move {
                tx.execute("INSERT INTO t (k) VALUES ($1)", &args![key])
                    .await?;
                then()
            })
        }
    }

    /// Writes queued while another connection holds the lock share one commit; a
    /// refused one (its own error, a statement's, a panic) leaves only itself out,
    /// in a shared transaction or alone in one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_writes_share_one_commit() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.db");
        let other = Connection::open(&path).expect("open");
        other
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (k TEXT PRIMARY KEY)")
            .expect("schema");
        let writer =
            Arc::new(SqliteWriter::start(&path, Arc::new(Semaphore::new(1))).expect("writer"));
        let (commits, writes) = (
            counter("berth_sqlite_commits_total"),
            counter("berth_sqlite_committed_writes_total"),
        );

        other.execute_batch("BEGIN IMMEDIATE").expect("lock");
        let jobs = [
            insert("a", || Ok(())),
            insert("b", || Err(Error::LimitReached)),
            insert("a", || Ok(())),
            insert("d", || Ok(())),
            insert("e", || panic!("a write's bug")),
        ];
        let mut runs = Vec::new();
        for job in jobs {
            let writer = writer.clone();
            runs.push(tokio::spawn(async move { writer.run(job).await }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        other.execute_batch("COMMIT").expect("unlock");
        let mut outcomes = Vec::new();
        for run in runs {
            outcomes.push(run.await.expect("task"));
        }

        // Whichever of the two writes of "a" ran first stands.
        let unique = |o: &Result<()>| matches!(o, Err(Error::Database(sqlx::Error::Database(e))) if e.is_unique_violation());
        assert!(
            (outcomes[0].is_ok() && unique(&outcomes[2]))
                || (unique(&outcomes[0]) && outcomes[2].is_ok()),
            "{outcomes:?}"
        );
        assert!(
            matches!(outcomes[1], Err(Error::LimitReached)),
            "{:?}",
            outcomes[1]
        );
        assert!(outcomes[3].is_ok(), "{:?}", outcomes[3]);
        assert!(
            matches!(
                outcomes[4],
                Err(Error::Database(sqlx::Error::WorkerCrashed))
            ),
            "{:?}",
            outcomes[4]
        );
        assert_eq!(keys(&other), ["a", "d"]);
        assert_eq!(counter("berth_sqlite_commits_total"), commits + 1);
        assert_eq!(counter("berth_sqlite_committed_writes_total"), writes + 5);

        // A write alone in its transaction has no savepoint: refused or panicking, it
        // leaves nothing of itself, and the connection takes the next write.
        let refused = writer.run(insert("f", || Err(Error::LimitReached))).await;
        assert!(matches!(refused, Err(Error::LimitReached)), "{refused:?}");
        let crashed = writer.run(insert("g", || panic!("a write's bug"))).await;
        assert!(
            matches!(crashed, Err(Error::Database(sqlx::Error::WorkerCrashed))),
            "{crashed:?}"
        );
        writer
            .run(insert("h", || Ok(())))
            .await
            .expect("next write");
        assert_eq!(keys(&other), ["a", "d", "h"]);
    }

    /// Writes still queued when the store closes are refused as unavailable.
    #[tokio::test]
    async fn writes_after_closing_are_unavailable() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.db");
        Connection::open(&path)
            .expect("open")
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (k TEXT PRIMARY KEY)")
            .expect("schema");
        let turn = Arc::new(Semaphore::new(1));
        let writer = SqliteWriter::start(&path, turn.clone()).expect("writer");
        turn.close();
        let refused = writer.run(insert("a", || Ok(()))).await;
        assert!(
            matches!(refused, Err(Error::Unavailable(sqlx::Error::PoolClosed))),
            "{refused:?}"
        );
        writer.close();
        let refused = writer.run(insert("b", || Ok(()))).await;
        assert!(
            matches!(refused, Err(Error::Unavailable(sqlx::Error::PoolClosed))),
            "{refused:?}"
        );
    }
}
