//! Gives back the executable's code pages once berth serves.
//!
//! Start-up (argument parsing, the configuration, the migrations, the routes' regular
//! expressions, the first runs of the jobs) touches code all over the 20 MiB
//! executable, and the kernel maps far more than each touched page: 64 KiB around it,
//! or the whole large folio of the page cache it lies in. About 11 MiB of code stays
//! mapped, most of it never run again (BENCHMARKS.md, "Resident memory at idle").
//! Unmapping the code once is safe: it is read-only and never copied-on-write, so it
//! comes back unchanged from the page cache (where it stays) on its next use, and
//! serving maps back only what it runs.

/// How long after the listeners open start-up's last work (the workers' routes, the
/// jobs' first runs) is taken to be done.
const SETTLED: std::time::Duration = std::time::Duration::from_secs(1);

/// Unmaps the code segment of the running executable once start-up has settled
/// (Linux; elsewhere nothing).
pub async fn release_once_settled() {
    tokio::time::sleep(SETTLED).await;
    #[cfg(target_os = "linux")]
    if let Err(e) = linux::release() {
        tracing::debug!(error = %e, "start-up code left mapped");
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{Error, ErrorKind, Result};

    pub(super) fn release() -> Result<()> {
        let (start, end) = own_code()?;
        // SAFETY: [start, end) is the whole of a private, read-only, executable mapping
        // of the executable file. MADV_DONTNEED only removes its page-table entries;
        // a thread running code in it faults the same file pages back in.
        unsafe {
            rustix::mm::madvise(
                start as *mut std::ffi::c_void,
                end - start,
                rustix::mm::Advice::LinuxDontNeed,
            )
        }?;
        Ok(())
    }

    /// The bounds of the mapping that holds this very function: the executable's code.
    fn own_code() -> Result<(usize, usize)> {
        let here = own_code as fn() -> Result<(usize, usize)> as usize;
        let maps = std::fs::read_to_string("/proc/self/maps")?;
        maps.lines()
            .find_map(|line| {
                let mut fields = line.split_ascii_whitespace();
                let (range, permissions) = (fields.next()?, fields.next()?);
                let (start, end) = range.split_once('-')?;
                let start = usize::from_str_radix(start, 16).ok()?;
                let end = usize::from_str_radix(end, 16).ok()?;
                // Only code that cannot have been written to: never a writable or
                // shared mapping, whose pages may differ from the file's.
                (permissions == "r-xp" && (start..end).contains(&here)).then_some((start, end))
            })
            .ok_or_else(|| Error::new(ErrorKind::NotFound, "no read-only code mapping holds berth"))
    }
}
