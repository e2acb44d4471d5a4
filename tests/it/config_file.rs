//! The configuration file (`--config`), with the real binary: `berth serve` takes its
//! settings from it, flags and the environment win over it, and `berth config check`
//! prints the effective configuration without secrets or refuses, saying what to fix,
//! as start-up does.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::process::Command;

use crate::helpers::{ecr_client, fresh_postgres_database, Backend, ACCOUNT};
use crate::process::free_ports;

const KEY: &str = "AKIDCONFIGFILE";
const SECRET: &str = "config-file-secret-never-printed";

/// `berth` with `args`, with no setting from this process's environment: only `env`.
fn berth(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.args(args)
        .env_clear()
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    berth(args, env).output().await.expect("run berth")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, contents: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write config file");
    path.display().to_string()
}

/// A configuration file for a server in `dir` on these ports.
fn server_file(dir: &Path, port: u16, public_port: u16, database_url: Option<&str>) -> String {
    let mut toml = format!(
        "listen = \"127.0.0.1:{port}\"\n\
         public_listen = \"127.0.0.1:{public_port}\"\n\
         data_dir = {data:?}\n\
         account_id = \"{ACCOUNT}\"\n\
         access_key_id = \"{KEY}\"\n\
         secret_access_key = \"{SECRET}\"\n\
         workers = 2\n\
         gc_interval = \"2h\"\n",
        data = dir.join("data").display().to_string(),
    );
    if let Some(url) = database_url {
        toml.push_str(&format!("database_url = {url:?}\n"));
    }
    write(dir, "berth.toml", &toml)
}

/// Waits until `/healthz` answers 200 at `url`.
async fn healthy(url: &str) {
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{url}/healthz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no answer at {url}");
}

/// The server listens where the file says, but on the public port the flag gives,
/// with the file's account, credentials and store.
async fn serve_takes_the_file_and_flags_win(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_postgres_database().await),
    };
    let [port, file_public, flag_public] = free_ports();
    let file = server_file(dir.path(), port, file_public, database_url.as_deref());
    let flag = format!("127.0.0.1:{flag_public}");
    let _server = berth(&["serve", "--config", &file, "--public-listen", &flag], &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn berth");
    let url = format!("http://127.0.0.1:{port}");
    healthy(&url).await;
    healthy(&format!("http://127.0.0.1:{flag_public}")).await;
    let refused = reqwest::get(format!("http://127.0.0.1:{file_public}/healthz")).await;
    assert!(
        refused.is_err(),
        "nothing listens on the file's public port"
    );

    let ecr = ecr_client(&url, KEY, SECRET);
    let created = ecr
        .create_repository()
        .repository_name("configured/app")
        .send()
        .await
        .expect("the file's credentials are accepted");
    let repository = created.repository().expect("repository");
    assert_eq!(repository.registry_id(), Some(ACCOUNT));
    let wrong = ecr_client(&url, KEY, "another-secret");
    assert!(wrong.describe_repositories().send().await.is_err());
}

/// `config check` on a usable file exits 0 and prints every setting with where it
/// came from, the secret redacted.
#[tokio::test]
async fn config_check_prints_the_effective_configuration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = server_file(
        dir.path(),
        5000,
        5001,
        Some("postgres://berth:db-password@db/berth"),
    );
    let out = run(
        &["config", "check", "--config", &file, "--workers", "3"],
        &[("BERTH_GC_INTERVAL", "3h")],
    )
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    for line in [
        "listen = \"127.0.0.1:5000\"  # configuration file",
        "workers = 3  # command line",
        "gc_interval = \"3h\"  # environment",
        "gc_grace = \"24h\"  # default",
        "secret_access_key = \"(redacted)\"  # configuration file",
        "database_url = \"postgres://berth:(redacted)@db/berth\"  # configuration file",
        "# credentials_file is not set",
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line:?} in:\n{stdout}");
    }
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "{stdout}"
    );
    assert!(!stdout.contains("db-password"), "{stdout}");
    // What it printed is itself a usable configuration file.
    let again = write(dir.path(), "printed.toml", &stdout);
    let out = run(&["config", "check", "--config", &again], &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// `config check` and start-up refuse an unusable configuration in the same words,
/// naming what to fix.
#[tokio::test]
async fn unusable_configurations_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("remotes.json").display().to_string();
    let cases = [
        (
            "colour = \"blue\"\n".to_owned(),
            "has an unknown setting `colour`",
        ),
        (
            "gc_interval = \"5x\"\n".to_owned(),
            "sets `gc_interval` to \"5x\": unknown time unit \"x\"",
        ),
        (
            "workers = \"four\"\n".to_owned(),
            "sets `workers` to string \"four\"; it must be an integer",
        ),
        (
            format!("replication_remotes = {missing:?}\n"),
            "replication_remotes (--replication-remotes, BERTH_REPLICATION_REMOTES): cannot read replication remotes",
        ),
        (
            "listen = \"127.0.0.1:7000\"\npublic_listen = \"127.0.0.1:7000\"\n".to_owned(),
            "public_listen (--public-listen, BERTH_PUBLIC_LISTEN): 127.0.0.1:7000 is the main listener's address too",
        ),
        (
            "listen = \"127.0.0.1:7000\"\ndownload_listen = \"127.0.0.1:7000\"\n".to_owned(),
            "download_listen (--download-listen, BERTH_DOWNLOAD_LISTEN): 127.0.0.1:7000 is another listener's address too",
        ),
        (
            "download_url = \"http://downloads.example\"\n".to_owned(),
            "download_url (--download-url, BERTH_DOWNLOAD_URL): it is the download listener's URL: set download_listen too",
        ),
        (
            "blob_redirect = true\n".to_owned(),
            "blob_redirect (--blob-redirect, BERTH_BLOB_REDIRECT): redirects go to an object store's presigned URLs (an s3:// blob_store) or to the download listener: set download_listen",
        ),
    ];
    let data = dir.path().join("data").display().to_string();
    for (n, (contents, says)) in cases.iter().enumerate() {
        let file = write(dir.path(), &format!("bad-{n}.toml"), contents);
        let checked = run(&["config", "check", "--config", &file], &[]).await;
        let refusal = text(&checked.stderr);
        assert!(!checked.status.success(), "{contents}");
        assert!(refusal.contains(says), "{says:?} in {refusal:?}");
        assert!(checked.stdout.is_empty(), "{}", text(&checked.stdout));
        // Start-up, with the file named by the environment.
        let served = run(&["serve", "--data-dir", &data], &[("BERTH_CONFIG", &file)]).await;
        assert!(!served.status.success(), "{contents}");
        assert_eq!(text(&served.stderr), refusal, "the same words");
    }
    assert!(!dir.path().join("data").exists(), "nothing was started");
}

crate::on_both!(
    serve_takes_the_file_and_flags_win,
    the_other_commands_take_serves_file
);

/// `migrate`, `gc`, `check` and `lifecycle run` read `berth serve`'s file: its store
/// and the settings they have, passing over serve's others (`listen`, `workers`).
async fn the_other_commands_take_serves_file(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_postgres_database().await),
    };
    let file = server_file(dir.path(), 5000, 5001, database_url.as_deref());
    let in_dir = |args: &'static [&'static str], file: String| {
        let mut cmd = berth(args, &[("BERTH_CONFIG", &file)]);
        cmd.current_dir(dir.path());
        cmd
    };
    let output = |mut cmd: Command| async move { cmd.output().await.expect("run berth") };
    for args in [
        &["migrate"][..],
        &["gc", "--dry-run"],
        &["check"],
        &["lifecycle", "run", "--dry-run"],
    ] {
        let out = output(in_dir(args, file.clone())).await;
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
    // The file's data dir, not the default under the working directory.
    assert!(dir.path().join("data").is_dir());
    assert!(!dir.path().join("berth-data").exists());

    // gc takes the file's gc_grace (so refuses a bad one); check has no such setting.
    let contents = std::fs::read_to_string(&file).expect("read file");
    let bad = write(
        dir.path(),
        "bad.toml",
        &format!("{contents}gc_grace = \"5x\"\n"),
    );
    let gc = output(in_dir(&["gc", "--dry-run"], bad.clone())).await;
    assert!(!gc.status.success());
    assert!(
        text(&gc.stderr).contains("sets `gc_grace` to \"5x\""),
        "{}",
        text(&gc.stderr)
    );
    let check = output(in_dir(&["check"], bad)).await;
    assert!(check.status.success(), "{}", text(&check.stderr));
    // A key that is no command's setting is refused by every command.
    let unknown = write(
        dir.path(),
        "unknown.toml",
        &format!("{contents}colour = 1\n"),
    );
    let gc = output(in_dir(&["gc"], unknown)).await;
    assert!(
        text(&gc.stderr).contains("unknown setting `colour`"),
        "{}",
        text(&gc.stderr)
    );
}
