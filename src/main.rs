use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

use berth::config::{CheckConfig, Config, GcConfig, StoreConfig};
use berth::domain::lifecycle::Action;
use berth::domain::RepositoryName;
use berth::startup::{check, gc, open_store, run_lifecycle, Application, Checked};

/// An ECR-compatible container image registry.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the registry (the default).
    Serve(Box<Configured<Config>>),
    /// Apply the metadata store's migrations and exit.
    Migrate(Configured<StoreConfig>),
    /// Read every blob back and check that its bytes still hash to its digest and
    /// have their recorded size, and that every link and manifest reference has its
    /// blob and every index its children; exits 1 if anything is wrong.
    Check(Configured<CheckConfig>),
    /// Collect garbage once: upload sessions, links and blobs nothing uses any more.
    Gc(Configured<GcConfig>),
    /// Lifecycle policies.
    #[command(subcommand)]
    Lifecycle(Lifecycle),
    /// The configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check the configuration `berth serve` would start with (the same flags,
    /// environment and file), as start-up does but without binding a port, opening
    /// the store or starting a job; print it with secrets redacted, each setting with
    /// where it came from. Exits 1, saying what to fix, when it is unusable.
    Check(Box<Configured<Config>>),
}

/// A command's settings, and the file that may give them. One file serves every
/// command: each takes the settings it has and passes over the others'.
#[derive(Args)]
struct Configured<T: Args> {
    /// A TOML file of settings, each under its flag's name in snake_case
    /// (`gc_interval = "1h"`); flags and environment variables win over it.
    #[arg(long, env = "BERTH_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: T,
}

#[derive(Subcommand)]
enum Lifecycle {
    /// Apply the lifecycle policies now, printing one line per image expired or
    /// transitioned and a summary; exits 2 if another process is applying them.
    Run(Configured<LifecycleRun>),
}

#[derive(Args)]
struct LifecycleRun {
    #[command(flatten)]
    store: StoreConfig,
    /// Only say what would be done.
    #[arg(long)]
    dry_run: bool,
    /// Only this repository's policy.
    #[arg(long, value_parser = parse_repository)]
    repository: Option<RepositoryName>,
}

fn parse_repository(s: &str) -> Result<RepositoryName, String> {
    RepositoryName::parse(s).map_err(|e| e.to_string())
}

#[actix_web::main]
async fn main() {
    // One line that says what failed and why (the whole chain of causes): start-up
    // and `berth config check` refuse an unusable configuration in the same words.
    let ran = run().await;
    berth::telemetry::flush();
    if let Err(e) = ran {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    berth::telemetry::init();
    let mut args: Vec<OsString> = std::env::args_os().collect();
    // `berth` alone serves, configured from the environment (and BERTH_CONFIG).
    if Cli::command()
        .get_matches_from(args.clone())
        .subcommand()
        .is_none()
    {
        args.push("serve".into());
    }
    let (cli, effective) = berth::config_file::parse::<Cli>(args)?;
    let Some(command) = cli.command else {
        unreachable!("a subcommand was added above")
    };
    match command {
        Command::Serve(serve) => {
            let application = Application::build(serve.settings).await?;
            tokio::spawn(berth::startup_code::release_once_settled());
            application.run_until_stopped().await?
        }
        Command::Config(ConfigCommand::Check(serve)) => {
            serve.settings.check()?;
            print!("{}", effective.to_toml());
        }
        Command::Migrate(Configured {
            settings: store, ..
        }) => {
            open_store(&store).await?.close().await;
            tracing::info!("migrations applied");
        }
        Command::Check(Configured {
            settings: config, ..
        }) => {
            if !report_check(&check(&config).await?) {
                std::process::exit(1);
            }
        }
        Command::Gc(Configured {
            settings: config, ..
        }) => match gc(&config).await? {
            Some(r) => println!(
                "{}{} blobs ({} bytes) reclaimed, {} files without a record removed, {} links and {} uploads removed",
                if config.dry_run { "dry run: " } else { "" },
                r.blobs,
                r.bytes,
                r.unrecorded,
                r.links,
                r.uploads
            ),
            None => {
                println!("another process is collecting garbage; nothing done");
                std::process::exit(2);
            }
        },
        Command::Lifecycle(Lifecycle::Run(Configured {
            settings:
                LifecycleRun {
                    store,
                    dry_run,
                    repository,
                },
            ..
        })) => {
            let Some(runs) = run_lifecycle(&store, repository.as_ref(), dry_run).await? else {
                eprintln!("another berth process is applying lifecycle policies; try again later");
                std::process::exit(2);
            };
            let verb = |action| match (action, dry_run) {
                (Action::Expire, false) => "EXPIRED",
                (Action::Expire, true) => "WOULD EXPIRE",
                (Action::Transition, false) => "TRANSITIONED",
                (Action::Transition, true) => "WOULD TRANSITION",
            };
            let (mut expired, mut transitioned) = (0, 0);
            for run in &runs {
                for a in &run.actions {
                    let tags: Vec<String> = a.tags.iter().map(ToString::to_string).collect();
                    println!(
                        "{} {}/{}/{}@{} tags=[{}] rule={}",
                        verb(a.action),
                        run.registry.account,
                        run.registry.region,
                        run.name,
                        a.digest,
                        tags.join(","),
                        a.rule_priority
                    );
                    match a.action {
                        Action::Expire => expired += 1,
                        Action::Transition => transitioned += 1,
                    }
                }
            }
            println!(
                "{} repositories with a lifecycle policy{}: {expired} images {}, {transitioned} {}",
                runs.len(),
                if dry_run { " (dry run)" } else { "" },
                if dry_run { "would expire" } else { "expired" },
                if dry_run {
                    "would transition"
                } else {
                    "transitioned"
                },
            );
        }
    }
    Ok(())
}

/// Prints what `berth check` found and repaired; true when the store was sound.
fn report_check(checked: &Checked) -> bool {
    let (blobs, refs) = (&checked.blobs, &checked.references);
    for (digest, problem) in &blobs.corrupt {
        println!("CORRUPT {digest}: {problem}");
    }
    for digest in &blobs.missing {
        println!("MISSING {digest}: recorded, but its bytes are gone");
    }
    for d in &refs.dangling_links {
        println!(
            "DANGLING LINK {} -> {}: the blob has no record",
            d.repository, d.target
        );
    }
    for (label, found, why) in [
        (
            "DANGLING REFERENCE",
            &refs.dangling_references,
            "the blob has no record",
        ),
        (
            "UNREADABLE REFERENCE",
            &refs.unreadable_references,
            "the blob's bytes are gone",
        ),
        (
            "MISSING CHILD",
            &refs.missing_children,
            "not in the repository",
        ),
    ] {
        for d in found {
            let image = d.image.as_deref().unwrap_or_default();
            println!("{label} {}@{image} -> {}: {why}", d.repository, d.target);
        }
    }
    println!(
        "{} blobs verified, {} corrupt, {} missing, {} files without a record",
        blobs.verified,
        blobs.corrupt.len(),
        blobs.missing.len(),
        blobs.unrecorded.len()
    );
    println!(
        "{} dangling links, {} dangling references, {} missing children",
        refs.dangling_links.len(),
        refs.dangling_references.len(),
        refs.missing_children.len()
    );
    if let Some(repaired) = &checked.repaired {
        for digest in &repaired.forgotten {
            println!("REMOVED RECORD {digest}: its bytes were gone");
        }
        for digest in &repaired.unrecorded {
            println!("REMOVED FILE {digest}: no record named it");
        }
        println!(
            "repaired: {} records of missing blobs, {} links, {} files without a record removed",
            repaired.forgotten.len(),
            repaired.links,
            repaired.unrecorded.len()
        );
    }
    blobs.is_sound() && refs.is_sound()
}
