//! An HTTP worker's own Postgres connections (`Store::open_worker_pool`), kept on the
//! worker's thread. sqlx's pool pings every connection handed back to it, a round trip
//! as dear to Postgres as a point read's; these go back without one when nothing about
//! their use asks for it (see `OwnConnection`'s `Drop`). When the worker's requests
//! hold them all, the next ones queue for them (`WAIT_AT_MOST`).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::any::AnyConnectOptions;
use sqlx::{AnyConnection, Connection, Executor};
use tokio::sync::oneshot;
use tokio::task;

use super::pool::{SESSION, TRUSTED_IDLE};

/// How many connections each worker may hold open.
const MAX_OPEN: u32 = 2;

/// How long a request waits for one of its worker's connections when the worker's
/// other requests hold them all; then it takes a shared one. Queued here, a worker's
/// requests keep Postgres at two statements in flight per worker, where the shared
/// pool's ten would have it switch between them; a connection held across something
/// slow (an S3 placement under a blob's lock) delays the others by at most this.
const WAIT_AT_MOST: Duration = Duration::from_millis(100);

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
    /// Requests waiting for a connection, first come first served: handed one as it
    /// comes back, or let go to look again (the sender dropped) when one was closed.
    waiting: VecDeque<oneshot::Sender<Idle>>,
    /// The task each lent connection is lent to.
    holders: Vec<task::Id>,
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
        waiting: VecDeque::new(),
        holders: Vec::new(),
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
    holder: Option<task::Id>,
}

impl OwnConnection {
    fn lent(conn: AnyConnection, slot: Slot, store: u64) -> Self {
        let holder = task::try_id();
        if let Some(id) = holder {
            with_own(store, |own| own.holders.push(id));
        }
        Self {
            conn: Some(conn),
            slot: Some(slot),
            store,
            failures: FAILURES.load(Ordering::Relaxed),
            holder,
        }
    }
}

/// Runs `f` on the calling thread's connections to `store`'s database, if it has them.
fn with_own<T>(store: u64, f: impl FnOnce(&mut WorkerConnections) -> T) -> Option<T> {
    WORKER
        .try_with(|w| {
            w.borrow_mut()
                .as_mut()
                .filter(|own| own.store == store)
                .map(f)
        })
        .ok()
        .flatten()
}

enum Next {
    Idle(Idle),
    Open(Slot, AnyConnectOptions, Duration),
    Wait(Waiting),
}

/// A request's place in the queue. Given up (timed out, or the request dropped) after a
/// connection was handed to it, it hands that one on.
struct Waiting {
    handed: oneshot::Receiver<Idle>,
    store: u64,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Ok(idle) = self.handed.try_recv() {
            give_back(self.store, idle.conn, idle.slot);
        }
    }
}

/// One of the calling thread's connections to `store`'s database: an idle one (tested
/// first if idle long), or a new one while there is room, or else the first one back
/// within `WAIT_AT_MOST`. `None` when the thread has none of its own, when none came
/// back in time, or when the calling task holds one already (it would wait for itself).
pub(super) async fn take(store: u64) -> sqlx::Result<Option<OwnConnection>> {
    loop {
        let next = with_own(store, |own| {
            if let Some(idle) = own.idle.pop() {
                return Some(Next::Idle(idle));
            }
            // Only this thread adds to its count, so the check and the add agree.
            if own.open.load(Ordering::Relaxed) < MAX_OPEN {
                own.open.fetch_add(1, Ordering::Relaxed);
                let slot = Slot(own.open.clone());
                return Some(Next::Open(slot, own.options.clone(), own.connect_timeout));
            }
            let me = task::try_id()?;
            if own.holders.contains(&me) {
                return None;
            }
            let (tx, handed) = oneshot::channel();
            own.waiting.push_back(tx);
            Some(Next::Wait(Waiting { handed, store }))
        })
        .flatten();
        match next {
            None => return Ok(None),
            Some(Next::Wait(mut waiting)) => {
                match tokio::time::timeout(WAIT_AT_MOST, &mut waiting.handed).await {
                    Err(_elapsed) => return Ok(None),
                    Ok(Ok(idle)) => {
                        return Ok(Some(OwnConnection::lent(idle.conn, idle.slot, store)))
                    }
                    // One was closed: there is room to open another.
                    Ok(Err(_let_go)) => continue,
                }
            }
            Some(Next::Idle(mut idle)) => {
                if idle.since.elapsed() > TRUSTED_IDLE && idle.conn.ping().await.is_err() {
                    // Closed with its slot; the next turn opens another.
                    continue;
                }
                return Ok(Some(OwnConnection::lent(idle.conn, idle.slot, store)));
            }
            Some(Next::Open(slot, options, timeout)) => {
                let opened = tokio::time::timeout(timeout, connect(&options))
                    .await
                    .map_err(|_elapsed| sqlx::Error::PoolTimedOut)
                    .and_then(|r| r);
                return match opened {
                    Ok(conn) => Ok(Some(OwnConnection::lent(conn, slot, store))),
                    Err(e) => {
                        closed(store, slot);
                        Err(e)
                    }
                };
            }
        }
    }
}

async fn connect(options: &AnyConnectOptions) -> sqlx::Result<AnyConnection> {
    let mut conn = AnyConnection::connect_with(options).await?;
    conn.execute(SESSION).await?;
    Ok(conn)
}

/// Hands `conn` to the first request waiting for one, else puts it among its thread's
/// idle connections; closes it on any other thread.
fn give_back(store: u64, conn: AnyConnection, slot: Slot) {
    let mut idle = Idle {
        conn,
        since: Instant::now(),
        slot,
    };
    // Elsewhere the closure is dropped unrun, and the connection closed with it.
    with_own(store, |own| {
        while let Some(waiter) = own.waiting.pop_front() {
            match waiter.send(idle) {
                Ok(()) => return,
                // That request is gone.
                Err(back) => idle = back,
            }
        }
        own.idle.push(idle);
    });
}

/// Closes a connection's slot and has the first waiting request look again: there is
/// room for it to open one.
fn closed(store: u64, slot: Slot) {
    drop(slot);
    with_own(store, |own| {
        // The first still waiting is let go as its sender is dropped here.
        while let Some(waiter) = own.waiting.pop_front() {
            if !waiter.is_closed() {
                return;
            }
        }
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
        if let Some(holder) = self.holder {
            with_own(store, |own| {
                if let Some(i) = own.holders.iter().position(|h| *h == holder) {
                    own.holders.swap_remove(i);
                }
            });
        }
        let clean = !conn.should_flush()
            && !conn.is_in_transaction()
            && FAILURES.load(Ordering::Relaxed) == self.failures;
        if clean {
            return give_back(store, conn, slot);
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            drop(conn);
            return closed(store, slot);
        };
        runtime.spawn(async move {
            if conn.ping().await.is_ok() && !conn.is_in_transaction() {
                give_back(store, conn, slot);
            } else {
                drop(conn);
                closed(store, slot);
            }
        });
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

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use tokio::sync::oneshot;
    use tokio::task::{spawn_local, JoinHandle, LocalSet};

    use super::*;

    /// The Postgres the suite runs against (see tests/it/helpers.rs).
    fn postgres() -> AnyConnectOptions {
        sqlx::any::install_default_drivers();
        let url = std::env::var("BERTH_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        AnyConnectOptions::from_str(&url).expect("BERTH_TEST_POSTGRES_URL")
    }

    async fn backend(conn: &mut OwnConnection) -> i32 {
        sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut **conn)
            .await
            .expect("a statement on a worker's connection")
    }

    /// A request that takes one of the thread's connections and holds it until `done`
    /// is sent; it answers the connection's backend once it has one.
    fn holding(
        store: u64,
        done: oneshot::Receiver<()>,
    ) -> (oneshot::Receiver<i32>, JoinHandle<()>) {
        let (has, backend_of) = oneshot::channel();
        let task = spawn_local(async move {
            let mut conn = take(store).await.expect("take").expect("a worker's own");
            let _ = has.send(backend(&mut conn).await);
            let _ = done.await;
        });
        (backend_of, task)
    }

    /// Runs `test` as an HTTP worker runs its requests: on a current-thread runtime,
    /// each request a local task.
    fn on_a_worker(test: impl std::future::Future<Output = ()>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        LocalSet::new().block_on(&runtime, test);
    }

    #[test]
    fn a_request_waits_for_the_first_of_its_workers_connections_back() {
        on_a_worker(async {
            let store = u64::MAX;
            open(store, postgres(), Duration::from_secs(10));
            let (release_a, a_done) = oneshot::channel();
            let (release_b, b_done) = oneshot::channel();
            let (a, a_task) = holding(store, a_done);
            let (b, b_task) = holding(store, b_done);
            let a = a.await.expect("first request has a connection");
            let b = b.await.expect("second request has a connection");
            assert_ne!(a, b);

            // Both are lent: a third request waits, and is handed the first one back.
            let (c_done_tx, c_done) = oneshot::channel();
            let (c, c_task) = holding(store, c_done);
            let mut c = Box::pin(c);
            let waited = tokio::time::timeout(WAIT_AT_MOST / 4, &mut c).await;
            assert!(
                waited.is_err(),
                "the third request found a connection while both were lent"
            );
            release_a.send(()).expect("first request holds on");
            a_task.await.expect("first request");
            assert_eq!(c.await.expect("third request has a connection"), a);

            // A request that holds one does not wait for another: it would wait for
            // itself. It is told to take a shared one, at once.
            let started = Instant::now();
            let again = spawn_local(async move {
                let mut held = take(store).await.expect("take").expect("a worker's own");
                let second = take(store).await.expect("take");
                (backend(&mut held).await, second.is_none())
            });
            // The two holders keep both connections: the new request waits its turn,
            // gets the one `b` gives back, and then asks for a second.
            release_b.send(()).expect("second request holds on");
            b_task.await.expect("second request");
            let (held, refused) = again.await.expect("holding request");
            assert_eq!(held, b);
            assert!(
                refused,
                "a request holding a connection was lent a second one"
            );
            assert!(started.elapsed() < WAIT_AT_MOST, "it waited for itself");

            // With both lent and none given back, a request takes a shared one in time.
            let (release_d, d_done) = oneshot::channel();
            let (d, d_task) = holding(store, d_done);
            d.await.expect("a request takes the connection given back");
            let started = Instant::now();
            let timed_out = spawn_local(async move { take(store).await.expect("take").is_none() });
            assert!(
                timed_out.await.expect("waiting request"),
                "lent while both were held"
            );
            assert!(started.elapsed() >= WAIT_AT_MOST);
            for (release, task) in [(c_done_tx, c_task), (release_d, d_task)] {
                release.send(()).expect("holds on");
                task.await.expect("holding request");
            }
        });
    }

    #[test]
    fn a_connection_handed_to_a_request_gone_meanwhile_goes_to_the_next() {
        on_a_worker(async {
            let store = u64::MAX - 1;
            open(store, postgres(), Duration::from_secs(10));
            // Taken outside a task: lent, never waited for.
            let mut a = take(store).await.expect("take").expect("a worker's own");
            let b = take(store).await.expect("take").expect("a worker's own");
            let a_backend = backend(&mut a).await;
            let gone = spawn_local(async move { take(store).await.map(|c| c.is_some()) });
            let (release_next, next_done) = oneshot::channel();
            let (next, next_task) = holding(store, next_done);
            while with_own(store, |own| own.waiting.len()) != Some(2) {
                tokio::task::yield_now().await;
            }
            // Handed to the first request, which is dropped before it runs again.
            drop(a);
            gone.abort();
            assert_eq!(
                next.await.expect("the next request has a connection"),
                a_backend
            );
            release_next.send(()).expect("holds on");
            next_task.await.expect("holding request");
            drop(b);
        });
    }
}
