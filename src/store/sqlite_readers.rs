//! SQLite's point reads, run on the request's own thread. Through sqlx a read is a
//! round trip to its connection's thread, two context switches and a wake-up; the
//! reads every push and pull makes (a repository with its registry's policy, the push
//! rules, a manifest by name) are single indexed lookups of a few microseconds, so
//! they run here instead, on a connection taken from a small stack. A reader of a
//! WAL database does not wait for the writer; one that finds the database busy (a
//! WAL recovery, rare) gives up at once and the read goes to the pool.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::sqlite_direct::Direct;
use super::Result;

/// Idle connections kept; more open while more threads read at once.
const KEPT: usize = 8;

pub(super) struct SqliteReaders {
    path: PathBuf,
    /// `None` once the store is closed.
    idle: Mutex<Option<Vec<Connection>>>,
}

impl SqliteReaders {
    pub(super) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            idle: Mutex::new(Some(Vec::new())),
        }
    }

    /// `read` on an idle connection (a new one when none is idle); `None` when it
    /// could not run here (SQLite busy, no connection, the store closed), so the pool
    /// should.
    pub(super) fn read<T>(
        &self,
        read: impl FnOnce(&mut Direct<'_>) -> Result<T>,
    ) -> Option<Result<T>> {
        let idle = self.idle().as_mut()?.pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open().ok()?,
        };
        let mut direct = Direct::new(&conn);
        let out = read(&mut direct);
        let busy = matches!(
            &direct.failed,
            Some(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
        );
        if let Some(idle) = self.idle().as_mut().filter(|idle| idle.len() < KEPT) {
            idle.push(conn);
        }
        (!busy).then_some(out)
    }

    /// Closes the idle connections; later reads go to the (closed) pool.
    pub(super) fn close(&self) {
        self.idle().take();
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Option<Vec<Connection>>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.execute_batch("PRAGMA query_only = ON;")?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(conn)
    }
}
