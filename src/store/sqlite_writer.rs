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
use std::path::Path;
use std::pin::pin;
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use rusqlite::{ffi, Connection, OpenFlags};
use tokio::sync::{oneshot, Semaphore};

use super::statements::{Arg, Columns, Statements};
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
        // As sqlx's connections (`Pools::sqlite`): FULL syncs every commit.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
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
        F: FnOnce(&mut WriterTx<'_>) -> Result<T> + Send + 'static,
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
    fn run(&mut self, tx: &mut WriterTx<'_>) -> bool;
    /// Answers the write: its own outcome if its transaction committed, else `failed`.
    fn answer(self: Box<Self>, failed: Option<&rusqlite::Error>);
}

struct Call<T, F> {
    write: Option<F>,
    outcome: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Job for Call<T, F>
where
    T: Send,
    F: FnOnce(&mut WriterTx<'_>) -> Result<T> + Send,
{
    fn run(&mut self, tx: &mut WriterTx<'_>) -> bool {
        let outcome = match self.write.take() {
            Some(write) => write(tx),
            None => Err(Error::Database(sqlx::Error::WorkerCrashed)),
        };
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn answer(self: Box<Self>, failed: Option<&rusqlite::Error>) {
        let outcome = match (failed, self.outcome) {
            (None, Some(outcome)) => outcome,
            (Some(e), _) => Err(converted(e).into()),
            (None, None) => Err(Error::Database(sqlx::Error::WorkerCrashed)),
        };
        // The caller may have gone (its request dropped); the write stands.
        let _ = self.reply.send(outcome);
    }
}

fn serve(conn: &Connection, jobs: &mpsc::Receiver<Box<dyn Job>>, turn: &Semaphore) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        let committed = match block_on(turn.acquire()) {
            Ok(_turn) => commit(conn, jobs, &mut batch),
            Err(_closed) => Err(failure(ffi::SQLITE_MISUSE, "the store is closed")),
        };
        if committed.is_ok() {
            crate::metrics::sqlite_commit(batch.len());
        }
        for job in batch {
            job.answer(committed.as_ref().err());
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
    for job in batch.iter_mut() {
        conn.prepare_cached("SAVEPOINT write")?.execute([])?;
        let mut tx = WriterTx { conn, failed: None };
        let ok = job.run(&mut tx);
        if conn.is_autocommit() {
            // SQLite ended the transaction itself (a full disk, an I/O error).
            return Err(tx
                .failed
                .unwrap_or_else(|| failure(ffi::SQLITE_ABORT, "transaction ended")));
        }
        if !ok {
            conn.prepare_cached("ROLLBACK TO write")?.execute([])?;
        }
        conn.prepare_cached("RELEASE write")?.execute([])?;
    }
    conn.prepare_cached("COMMIT")?.execute([])?;
    Ok(())
}

fn failure(code: i32, message: &str) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(message.to_owned()))
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

/// The outcome of a write over `WriterTx`, whose statements never wait.
pub(super) fn at_once<T>(write: impl Future<Output = Result<T>>) -> Result<T> {
    match pin!(write).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => Err(Error::Database(sqlx::Error::WorkerCrashed)),
    }
}

/// The writer thread's open transaction.
pub(super) struct WriterTx<'c> {
    conn: &'c Connection,
    /// The last statement's failure, kept for the rest of its batch when SQLite ended
    /// the transaction.
    failed: Option<rusqlite::Error>,
}

impl WriterTx<'_> {
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

    fn kept<T>(&mut self, done: rusqlite::Result<T>) -> Result<T, sqlx::Error> {
        done.map_err(|e| {
            let converted = converted(&e);
            self.failed = Some(e);
            converted
        })
    }
}

impl Statements for WriterTx<'_> {
    type Row = Fetched;

    async fn rows(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Fetched>, sqlx::Error> {
        let fetched = self.fetch(sql, args);
        self.kept(fetched)
    }

    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, sqlx::Error> {
        let changed = self
            .prepared(sql, args)
            .and_then(|mut stmt| stmt.raw_execute());
        self.kept(changed).map(|n| n as u64)
    }
}

/// A row read on the writer thread. Only what berth's tables hold is told apart:
/// integers and text (NULL, reals and blobs are `Other`, read as NULL).
pub(super) struct Fetched {
    names: Arc<[String]>,
    cells: Vec<Cell>,
}

enum Cell {
    Int(i64),
    Text(String),
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
            Cell::Text(_) => Err(mismatch(name)),
            Cell::Other => Ok(None),
        }
    }

    fn text(&self, name: &str) -> Result<Option<String>, sqlx::Error> {
        match self.cell(name)? {
            Cell::Text(v) => Ok(Some(v.clone())),
            Cell::Int(_) => Err(mismatch(name)),
            Cell::Other => Ok(None),
        }
    }
}

fn mismatch(name: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("column {name} holds another type").into())
}

/// A failure as sqlx reports SQLite's own, so the store sorts it the same way (a full
/// disk, a unique violation).
fn converted(e: &rusqlite::Error) -> sqlx::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            sqlx::Error::Database(Box::new(WriterError {
                code: code.extended_code,
                message: message.clone().unwrap_or_else(|| code.to_string()),
            }))
        }
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

#[derive(Debug)]
struct WriterError {
    /// SQLite's extended result code.
    code: i32,
    message: String,
}

impl std::fmt::Display for WriterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WriterError {}

impl sqlx::error::DatabaseError for WriterError {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::statements::args;

    /// The value of a counter as `/metrics` shows it.
    fn counter(name: &str) -> u64 {
        let text = crate::metrics::Metrics::new().render().expect("render");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    }

    fn insert(key: &'static str, then: Result<()>) -> impl FnOnce(&mut WriterTx<'_>) -> Result<()> {
        move |tx| {
            at_once(async move {
                tx.execute("INSERT INTO t (k) VALUES ($1)", &args![key])
                    .await?;
                then
            })
        }
    }

    /// Writes queued while another connection holds the lock share one commit; a
    /// refused one (its own error, or a statement's) leaves only itself out.
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
            insert("a", Ok(())),
            insert("b", Err(Error::LimitReached)),
            insert("a", Ok(())),
            insert("d", Ok(())),
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
        let mut stmt = other.prepare("SELECT k FROM t ORDER BY k").expect("select");
        let keys: Vec<String> = stmt
            .query_map([], |row| row.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(keys, ["a", "d"]);
        assert_eq!(counter("berth_sqlite_commits_total"), commits + 1);
        assert_eq!(counter("berth_sqlite_committed_writes_total"), writes + 4);
    }
}
