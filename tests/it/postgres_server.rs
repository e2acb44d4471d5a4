//! A Postgres server of the test's own, on its own port, that the test may stop and
//! start (the suite's shared server must stay up for the others). Postgres refuses to
//! run as root, so as root its programs run as the `postgres` OS user.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use sqlx::Connection as _;
use tempfile::TempDir;
use tokio::process::Command;

use crate::process::free_port;

pub struct PostgresServer {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
}

/// The newest installed server's programs (`/usr/lib/postgresql/<version>/bin`), or
/// those in `BERTH_TEST_POSTGRES_BIN`.
fn programs() -> PathBuf {
    if let Some(dir) = std::env::var_os("BERTH_TEST_POSTGRES_BIN") {
        return dir.into();
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("Postgres's programs under /usr/lib/postgresql (or BERTH_TEST_POSTGRES_BIN)")
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().expect("an installed Postgres server").1
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Changes `path`'s owner to the `postgres` user when running as root.
fn hand_to_postgres(path: &Path) {
    if running_as_root() {
        let status = std::process::Command::new("chown")
            .args(["-R", "postgres:"])
            .arg(path)
            .status()
            .expect("run chown");
        assert!(status.success(), "chown {}", path.display());
    }
}

impl PostgresServer {
    /// A fresh cluster (initdb), started on a free port.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("postgres dir");
        hand_to_postgres(dir.path());
        let server = Self {
            dir,
            bin: programs(),
            port: free_port(),
        };
        server
            .run(
                "initdb",
                &[
                    "-D",
                    &server.data(),
                    "--auth=trust",
                    "--username=postgres",
                    "--encoding=UTF8",
                    "--no-locale",
                    "--no-sync",
                ],
            )
            .await;
        server.start_again().await;
        server
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// Runs one of Postgres's programs (as the `postgres` user when root) to success.
    async fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut cmd = if running_as_root() {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(&path);
            cmd
        } else {
            Command::new(&path)
        };
        let out = cmd
            .args(args)
            .output()
            .await
            .expect("run a Postgres program");
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
    }

    /// Starts the server and waits until it accepts connections.
    pub async fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "start",
            ],
        )
        .await;
    }

    /// A fast shutdown (clients are disconnected at once), waited for.
    pub async fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"])
            .await;
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A new database named `berth`, its tables kept in `dir` (a tablespace there).
    pub async fn database_on(&self, dir: &Path) -> String {
        let location = dir.join("postgres");
        std::fs::create_dir(&location).expect("tablespace dir");
        hand_to_postgres(&location);
        let mut admin = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .expect("connect to own postgres");
        for statement in [
            format!("CREATE TABLESPACE small LOCATION '{}'", location.display()),
            "CREATE DATABASE berth TABLESPACE small".to_owned(),
        ] {
            sqlx::query(&statement)
                .execute(&mut admin)
                .await
                .expect(&statement);
        }
        self.url("berth")
    }

    /// A new database named `berth`.
    pub async fn database(&self) -> String {
        let mut admin = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .expect("connect to own postgres");
        sqlx::query("CREATE DATABASE berth")
            .execute(&mut admin)
            .await
            .expect("create database");
        self.url("berth")
    }

    pub fn log_tail(&self) -> String {
        crate::process::log_tail(&self.dir.path().join("log"))
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("own postgres log (last lines):\n{}", self.log_tail());
        }
        let pg_ctl = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = if running_as_root() {
            std::process::Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(pg_ctl)
                .args(args)
                .output()
        } else {
            std::process::Command::new(pg_ctl).args(args).output()
        };
    }
}
