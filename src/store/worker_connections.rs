//! An HTTP worker's own Postgres connections (`Store::open_worker_pool`), kept on the
//! worker's thread. sqlx's pool pings every connection handed back to it, a round trip
//! as dear to Postgres as a point read's; these go back without one when nothing about
//! their use asks for it (see `OwnConnection`'s `Drop`).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::any::AnyConnectOptions;
use sqlx::{AnyConnection, Connection, Executor};

/// How many connections each worker may hold open.
const MAX_OPEN: u32 = 2;

/// How long a connection may sit idle and still be handed out untested.
const TRUSTED_IDLE: Duration = Duration::from_secs(1);

/// Connection failures (`failed`) seen so far, by any store on any thread.
static FAILURES: AtomicU64 = AtomicU64::new(0);

/// Records that a statement failed in a way that may have broken its connection (the
/// database gone, a broken stream): every connection lent meanwhile is tested before it
/// is used again.
pub(super) fn failed() {
    FAILURES.fetch_add(1, Ordering::Relaxed);
}

thread_local! {
    static WORKER: RefCell<Option<WorkerConnections>> = const { RefCell::new(None) };
}

/// One thread's connections to one store's database.
struct WorkerConnections {
    store: u64,
    options: AnyConnectOptions,
    connect_timeout: Duration,
    idle: Vec<Idle>,
    /// Connections open (idle, lent or being opened), each counted by its `Slot`.
    open: Arc<AtomicU32>,
}

struct Idle {
    conn: AnyConnection,
    since: Instant,
    slot: Slot,
}

/// One of a thread's `MAX_OPEN`, held by a connection (or one being opened) until it is
/// closed.
struct Slot(Arc<AtomicU32>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Gives the calling thread connections of its own to `store`'s database, opened as
/// its requests first need them.
pub(super) fn open(store: u64, options: AnyConnectOptions, connect_timeout: Duration) {
    let own = WorkerConnections {
        store,
        options,
        connect_timeout,
        idle: Vec::new(),
        open: Arc::new(AtomicU32::new(0)),
    };
    WORKER.with(|w| *w.borrow_mut() = Some(own));
}

/// A lent connection; it goes back to its thread's idle ones when dropped.
pub(super) struct OwnConnection {
    conn: Option<AnyConnection>,
    slot: Option<Slot>,
    store: u64,
    /// `FAILURES` when it was lent.
    failures: u64,
}

impl OwnConnection {
    fn lent(conn: AnyConnection, slot: Slot, store: u64) -> Self {
        Self {
            conn: Some(conn),
            slot: Some(slot),
            store,
            failures: FAILURES.load(Ordering::Relaxed),
        }
    }
}

enum Next {
    Idle(Idle),
    Open(Slot, AnyConnectOptions, Duration),
}

/// One of the calling thread's connections to `store`'s database: an idle one (tested
/// first if idle long), or a new one while there is room. `None` when the thread has
/// none of its own or its requests hold them all.
pub(super) async fn take(store: u64) -> sqlx::Result<Option<OwnConnection>> {
    loop {
        let next = WORKER.with(|w| {
            let mut w = w.borrow_mut();
            let own = w.as_mut().filter(|own| own.store == store)?;
            if let Some(idle) = own.idle.pop() {
                return Some(Next::Idle(idle));
            }
            // Only this thread adds to its count, so the check and the add agree.
            if own.open.load(Ordering::Relaxed) >= MAX_OPEN {
                return None;
            }
            own.open.fetch_add(1, Ordering::Relaxed);
            let slot = Slot(own.open.clone());
            Some(Next::Open(slot, own.options.clone(), own.connect_timeout))
        });
        match next {
            None => return Ok(None),
            Some(Next::Idle(mut idle)) => {
                if idle.since.elapsed() > TRUSTED_IDLE && idle.conn.ping().await.is_err() {
                    // Closed with its slot; the next turn opens another.
                    continue;
                }
                return Ok(Some(OwnConnection::lent(idle.conn, idle.slot, store)));
            }
            Some(Next::Open(slot, options, timeout)) => {
                let conn = tokio::time::timeout(timeout, connect(&options))
                    .await
                    .map_err(|_elapsed| sqlx::Error::PoolTimedOut)??;
                return Ok(Some(OwnConnection::lent(conn, slot, store)));
            }
        }
    }
}

async fn connect(options: &AnyConnectOptions) -> sqlx::Result<AnyConnection> {
    let mut conn = AnyConnection::connect_with(options).await?;
    conn.execute(super::pool::SESSION).await?;
    Ok(conn)
}

/// Puts `conn` among its thread's idle connections; closes it on any other thread.
fn give_back(store: u64, conn: AnyConnection, slot: Slot) {
    let idle = Idle {
        conn,
        since: Instant::now(),
        slot,
    };
    // `try_with`: a thread that is ending has dropped its connections already.
    let _ = WORKER.try_with(|w| match &mut *w.borrow_mut() {
        Some(own) if own.store == store => own.idle.push(idle),
        _ => drop(idle),
    });
}

impl Drop for OwnConnection {
    /// Back to the idle ones at once when its use ended cleanly. Otherwise (a dropped
    /// transaction's rollback still queued on it, a transaction still open, or a
    /// connection failure anywhere while it was lent) it is pinged first, as sqlx's pool
    /// pings every connection: the ping sends what is queued, waits for it, and shows the
    /// connection still works; one that does not is closed.
    fn drop(&mut self) {
        let (Some(mut conn), Some(slot)) = (self.conn.take(), self.slot.take()) else {
            return;
        };
        let store = self.store;
        let clean = !conn.should_flush()
            && !conn.is_in_transaction()
            && FAILURES.load(Ordering::Relaxed) == self.failures;
        if clean {
            return give_back(store, conn, slot);
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if conn.ping().await.is_ok() && !conn.is_in_transaction() {
                    give_back(store, conn, slot);
                }
            });
        }
    }
}

impl std::ops::Deref for OwnConnection {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        self.conn.as_ref().expect("lent until dropped")
    }
}

impl std::ops::DerefMut for OwnConnection {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn.as_mut().expect("lent until dropped")
    }
}
