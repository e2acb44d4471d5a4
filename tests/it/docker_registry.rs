//! Debian's `docker-registry` (distribution) as a child process: on a loopback port,
//! over a temporary root, anonymous or behind htpasswd Basic logins. The child is
//! killed when its guard drops, so a failing test leaves no server behind.

use std::process::Stdio;
use std::time::Duration;

use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::process::{free_port, log_tail};

const START_TIMEOUT: Duration = Duration::from_secs(30);

pub struct DockerRegistry {
    child: Child,
    dir: TempDir,
    pub url: String,
}

impl DockerRegistry {
    /// Starts on a free port; `users` (name, password) log in with Basic, none: every
    /// request is anonymous.
    pub async fn start(users: &[(&str, &str)]) -> Self {
        Self::start_on(free_port(), users).await
    }

    /// Starts on `port` (one a test chose before, to have it down first).
    pub async fn start_on(port: u16, users: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("registry dir");
        let root = dir.path().join("root");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n",
            root.display()
        );
        if !users.is_empty() {
            let file = dir.path().join("htpasswd");
            let mut lines = String::new();
            for (user, password) in users {
                // bcrypt: distribution's htpasswd accepts no other hash.
                let out = std::process::Command::new("htpasswd")
                    .args(["-Bbn", user, password])
                    .output()
                    .expect("htpasswd (apache2-utils)");
                assert!(out.status.success(), "htpasswd failed");
                lines.push_str(String::from_utf8_lossy(&out.stdout).trim());
                lines.push('\n');
            }
            std::fs::write(&file, lines).expect("write htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: berth-tests\n    path: {}\n",
                file.display()
            ));
        }
        let config_file = dir.path().join("config.yml");
        std::fs::write(&config_file, config).expect("write registry config");
        let log = std::fs::File::create(dir.path().join("log")).expect("registry log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .expect("spawn docker-registry (apt install docker-registry)");
        let mut registry = Self {
            child,
            dir,
            url: format!("http://127.0.0.1:{port}"),
        };
        registry.wait_ready().await;
        registry
    }

    /// Until `/v2/` answers (200, or 401 behind logins).
    async fn wait_ready(&mut self) {
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("docker-registry exited with {status}:\n{}", self.log_tail());
            }
            if let Ok(resp) = http.get(format!("{}/v2/", self.url)).send().await {
                if matches!(resp.status().as_u16(), 200 | 401) {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "docker-registry did not answer within {START_TIMEOUT:?}:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log_tail(&self) -> String {
        log_tail(&self.dir.path().join("log"))
    }
}

impl Drop for DockerRegistry {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("docker-registry log (last lines):\n{}", self.log_tail());
        }
        // Its own child, by pid; kill_on_drop would too, but not wait for it.
        let _ = self.child.start_kill();
    }
}
