//! A small disk for full-disk tests: a tmpfs of a chosen size mounted on a fresh
//! directory, which a test fills to leave only a few bytes free, frees again, and which
//! is unmounted when dropped. Mounting needs root; without it `mount` says so loudly
//! and the test skips only its full-disk case.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

pub struct SmallDisk {
    mount_point: TempDir,
}

impl SmallDisk {
    /// Mounts a tmpfs of `size` bytes, or says why it cannot and returns None.
    pub fn mount(size: u64) -> Option<Self> {
        let mount_point = tempfile::tempdir().expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755")])
            .arg("tmpfs")
            .arg(mount_point.path())
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Self { mount_point }),
            other => {
                let why = match other {
                    Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                    Err(e) => e.to_string(),
                };
                eprintln!(
                    "\n!!!!!!!! SKIPPED: cannot mount a tmpfs ({why}); the full-disk tests \
                     need root !!!!!!!!\n"
                );
                None
            }
        }
    }

    pub fn path(&self) -> &Path {
        self.mount_point.path()
    }

    fn filler(&self) -> PathBuf {
        self.path().join("filler")
    }

    /// Takes every free byte but about `leave` (tmpfs counts whole pages).
    pub fn fill(&self, leave: u64) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.filler())
            .expect("filler file");
        let chunk = vec![0u8; 64 * 1024];
        // A partial write fills the last gap before the error.
        let err = loop {
            if let Err(e) = file.write_all(&chunk) {
                break e;
            }
        };
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::StorageFull,
            "filling ends with a full disk: {err}"
        );
        let len = file.metadata().expect("filler size").len();
        file.set_len(len.saturating_sub(leave))
            .expect("give back space");
    }

    /// Gives back everything `fill` took.
    pub fn free(&self) {
        std::fs::remove_file(self.filler()).expect("remove filler");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazily: a server still holding files open must not keep the mount alive.
        let _ = Command::new("umount")
            .arg("--lazy")
            .arg(self.path())
            .status();
    }
}
