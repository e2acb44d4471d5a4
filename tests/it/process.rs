//! The real `berth` binary as a child process, for crash and shutdown tests. The child
//! is killed when its guard drops, so a failing test leaves no server behind.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::helpers::{ecr_client, ACCESS_KEY, ACCOUNT, SECRET_KEY};

/// How long a start may take before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Where a server keeps its state: reused across restarts.
pub struct ServerState {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    /// The children's stderr, appended across restarts.
    pub log: PathBuf,
}

impl ServerState {
    /// Data (on SQLite) and log under `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            data_dir: dir.join("data"),
            database_url: None,
            log: dir.join("berth.log"),
        }
    }
}

/// How to start the child beyond the state: more `berth serve` arguments, the
/// open-file limits (`soft:hard`) to start it under, through prlimit(1), and its
/// `RUST_LOG` (default: berth's own default filter).
#[derive(Default)]
pub struct Launch<'a> {
    pub args: &'a [&'a str],
    pub open_files: Option<&'a str>,
    pub log_filter: Option<&'a str>,
    /// More environment variables (`AWS_*` for an S3 blob store).
    pub env: &'a [(String, String)],
}

pub struct ServerProcess {
    child: Child,
    pub port: u16,
    /// The public registry's `/v2/` port.
    pub public_port: u16,
    pub url: String,
    pub ecr: aws_sdk_ecr::Client,
    log: PathBuf,
    exited: bool,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let [port] = free_ports();
    port
}

/// `N` ports free at the time of the call, all different: each is held until all are
/// found (ports found one at a time may repeat once the first is released).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let held: [std::net::TcpListener; N] =
        std::array::from_fn(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("free port"));
    held.map(|l| l.local_addr().expect("free port").port())
}

impl ServerProcess {
    /// Starts `berth serve` on the state and waits until `/healthz` answers 200.
    pub async fn start(state: &ServerState) -> Self {
        Self::launch(state, Launch::default()).await
    }

    pub async fn launch(state: &ServerState, launch: Launch<'_>) -> Self {
        let [port, public_port] = free_ports();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&state.log)
            .expect("log file");
        let berth = env!("CARGO_BIN_EXE_berth");
        let mut cmd = match launch.open_files {
            // prlimit sets the limits and then execs berth: the pid is berth's.
            Some(limits) => {
                let mut cmd = Command::new("prlimit");
                cmd.arg(format!("--nofile={limits}")).arg("--").arg(berth);
                cmd
            }
            None => Command::new(berth),
        };
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--public-listen")
            .arg(format!("127.0.0.1:{public_port}"))
            .arg("--data-dir")
            .arg(&state.data_dir)
            .arg("--account-id")
            .arg(ACCOUNT)
            .args(["--workers", "2"])
            .args(launch.args);
        if let Some(url) = &state.database_url {
            cmd.arg("--database-url").arg(url);
        }
        for var in [
            "BERTH_CONFIG",
            "DATABASE_URL",
            "BERTH_PUBLIC_URL",
            "BERTH_CREDENTIALS_FILE",
            "BERTH_REPLICATION_REMOTES",
            "BERTH_LISTEN",
            "BERTH_DATA_DIR",
            "BERTH_PUBLIC_LISTEN",
            "BERTH_PUBLIC_REGISTRY_URL",
            "BERTH_PUBLIC_ALIAS",
            "BERTH_BODY_TIMEOUT",
            "BERTH_IDLE_TIMEOUT",
            "BERTH_MAX_CONNECTIONS",
            "BERTH_UNVERIFIED_BODIES_MIB",
            "BERTH_BLOB_STORE",
        ] {
            cmd.env_remove(var);
        }
        cmd.envs(launch.env.iter().map(|(k, v)| (k, v)))
            .env("BERTH_ACCESS_KEY_ID", ACCESS_KEY)
            .env("BERTH_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("RUST_LOG", launch.log_filter.unwrap_or("info,sqlx=warn"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        let child = cmd.spawn().expect("spawn berth");
        let url = format!("http://127.0.0.1:{port}");
        let mut server = Self {
            child,
            port,
            public_port,
            ecr: ecr_client(&url, ACCESS_KEY, SECRET_KEY),
            url,
            log: state.log.clone(),
            exited: false,
        };
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&mut self) {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("http client");
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.exited = true;
                panic!(
                    "berth exited during startup with {status}; log:\n{}",
                    self.log_tail()
                );
            }
            if let Ok(resp) = http.get(format!("{}/healthz", self.url)).send().await {
                if resp.status().as_u16() == 200 {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "berth did not become healthy within {START_TIMEOUT:?}; log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("child still running")
    }

    /// Creates the repository `name` through ECR, which must succeed.
    pub async fn create_repo(&self, name: &str) {
        crate::fixtures::create_repo_on(&self.ecr, name).await
    }

    /// Waits until berth has unmapped the code its start-up touched
    /// (`src/startup_code.rs`): its code mapping less than a quarter resident.
    pub async fn wait_code_released(&self) {
        let released = async {
            loop {
                let (size, resident) = self.code_kib();
                if resident * 4 < size {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), released)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the code stayed mapped: {:?} (size, resident KiB)",
                    self.code_kib()
                )
            });
    }

    /// The size and the resident part (KiB) of the child's code: its executable's
    /// read-only executable mapping.
    fn code_kib(&self) -> (u64, u64) {
        let smaps = std::fs::read_to_string(format!("/proc/{}/smaps", self.pid())).expect("smaps");
        // As the kernel names it: symbolic links resolved.
        let executable = std::fs::canonicalize(env!("CARGO_BIN_EXE_berth")).expect("executable");
        let executable = executable.to_str().expect("a UTF-8 path");
        let (mut size, mut resident, mut inside) = (0, 0, false);
        for line in smaps.lines() {
            let fields: Vec<&str> = line.split_ascii_whitespace().collect();
            match fields.as_slice() {
                // A mapping's first line: its address range, permissions, offset,
                // device, inode and (not for anonymous memory) path.
                [range, permissions, _, _, _, rest @ ..] if range.contains('-') => {
                    inside = *permissions == "r-xp" && rest == [executable];
                }
                ["Size:", kib, "kB"] if inside => size += kib.parse::<u64>().expect("size"),
                ["Rss:", kib, "kB"] if inside => resident += kib.parse::<u64>().expect("rss"),
                _ => {}
            }
        }
        assert!(size > 0, "no code mapping of {executable} in\n{smaps}");
        (size, resident)
    }

    /// SIGKILL (what `Child::kill` sends on unix) and reap.
    pub async fn sigkill(mut self) {
        self.child.kill().await.expect("kill berth");
        self.exited = true;
    }

    /// SIGTERM through kill(1), as a service manager would stop it.
    pub fn sigterm(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits for the child to exit on its own.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let status = tokio::time::timeout(timeout, self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "berth did not exit within {timeout:?}; log:\n{}",
                    self.log_tail()
                )
            })
            .expect("wait for berth");
        self.exited = true;
        status
    }

    /// The last lines the children wrote, for failure messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }
}

/// Runs `berth <args>` over the store at `data_dir` (and Postgres at `database_url`)
/// to completion, as an operator would: its exit code and stdout.
pub fn run_berth(
    data_dir: &Path,
    database_url: Option<&str>,
    args: &[&str],
) -> (Option<i32>, String) {
    run_berth_with(data_dir, database_url, args, &[])
}

/// `run_berth` with more environment variables.
pub fn run_berth_with(
    data_dir: &Path,
    database_url: Option<&str>,
    args: &[&str],
    env: &[(String, String)],
) -> (Option<i32>, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd.args(args).arg("--data-dir").arg(data_dir);
    if let Some(url) = database_url {
        cmd.arg("--database-url").arg(url);
    }
    let out = cmd
        .env_remove("DATABASE_URL")
        .env_remove("BERTH_GC_GRACE")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run berth");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("berth log (last lines):\n{}", self.log_tail());
        }
        if !self.exited {
            // SIGKILL now; `kill_on_drop` and tokio's reaper collect the child.
            let _ = self.child.start_kill();
        }
    }
}
