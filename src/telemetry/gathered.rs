//! Where log lines go: stderr. The access log's lines, one a request, are gathered
//! and written together within `WAIT` (at once when `MOST` bytes wait), by a thread
//! of their own rather than by a system call of each request's. Any other line is
//! written at once, after the lines gathered before it, so nothing is reordered and a
//! warning, an error or a command's output is never held back. (tracing-appender's
//! non-blocking writer wakes its thread for every line: a context switch a request.)

use std::io::{self, Write};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tracing::Metadata;
use tracing_subscriber::fmt::MakeWriter;

/// The target of the access log's lines (`crate::api::access`).
const ACCESS_LOG: &str = "berth::api::access";

/// The longest an access-log line waits to be written.
const WAIT: Duration = Duration::from_millis(100);

/// Bytes gathered that are written at once.
const MOST: usize = 64 * 1024;

static GATHERED: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Wakes the writing thread when the first line is gathered.
static FIRST_LINE: Condvar = Condvar::new();

/// Stderr as the log's writer.
#[derive(Clone, Copy)]
pub(super) struct Stderr {
    /// Whether the writing thread runs (else every line is written at once).
    gathering: bool,
}

impl Stderr {
    /// Starts the writing thread, once a process.
    pub(super) fn get() -> Self {
        static GATHERING: OnceLock<bool> = OnceLock::new();
        let gathering = *GATHERING.get_or_init(|| {
            std::thread::Builder::new()
                .name("log-writer".into())
                .spawn(|| loop {
                    let mut gathered = lock_gathered();
                    while gathered.is_empty() {
                        gathered = FIRST_LINE.wait(gathered).unwrap_or_else(|e| e.into_inner());
                    }
                    drop(gathered);
                    std::thread::sleep(WAIT);
                    let _ = write_out(&mut lock_gathered());
                })
                .is_ok()
        });
        Self { gathering }
    }
}

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line { gather: false }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Line {
        Line {
            gather: self.gathering && meta.target() == ACCESS_LOG,
        }
    }
}

/// One event's line.
pub(super) struct Line {
    gather: bool,
}

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut gathered = lock_gathered();
        let first = gathered.is_empty();
        gathered.extend_from_slice(buf);
        if !self.gather || gathered.len() >= MOST {
            write_out(&mut gathered)?;
        } else if first {
            FIRST_LINE.notify_one();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes out the lines gathered so far: before the process exits, so that the last
/// requests' lines are not lost with it.
pub(super) fn flush() {
    let _ = write_out(&mut lock_gathered());
}

fn lock_gathered() -> MutexGuard<'static, Vec<u8>> {
    GATHERED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes what is gathered to stderr; what stderr refuses is dropped, not kept.
fn write_out(gathered: &mut Vec<u8>) -> io::Result<()> {
    if gathered.is_empty() {
        return Ok(());
    }
    let written = io::stderr().lock().write_all(gathered);
    gathered.clear();
    written
}
