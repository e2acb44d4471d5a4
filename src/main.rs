use clap::{Parser, Subcommand};

use berth::config::{Config, StoreConfig};
use berth::domain::lifecycle::Action;
use berth::domain::RepositoryName;
use berth::startup::{check, open_store, run_lifecycle, Application};

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
    Serve(Box<Config>),
    /// Apply the metadata store's migrations and exit.
    Migrate(StoreConfig),
    /// Read every blob back and check that its bytes still hash to its digest and
    /// have their recorded size; exits 1 if any does not, or is missing.
    Check(StoreConfig),
    /// Lifecycle policies.
    #[command(subcommand)]
    Lifecycle(Lifecycle),
}

#[derive(Subcommand)]
enum Lifecycle {
    /// Apply the lifecycle policies now, printing one line per image expired or
    /// transitioned and a summary; exits 2 if another process is applying them.
    Run {
        #[command(flatten)]
        store: StoreConfig,
        /// Only say what would be done.
        #[arg(long)]
        dry_run: bool,
        /// Only this repository's policy.
        #[arg(long, value_parser = parse_repository)]
        repository: Option<RepositoryName>,
    },
}

fn parse_repository(s: &str) -> Result<RepositoryName, String> {
    RepositoryName::parse(s).map_err(|e| e.to_string())
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    berth::telemetry::init();
    let command = match Cli::parse().command {
        Some(c) => c,
        // `berth` alone serves, configured from the environment.
        None => Command::Serve(Box::new(Serve::parse_from(["berth"]).config)),
    };
    match command {
        Command::Serve(config) => {
            Application::build(*config)
                .await?
                .run_until_stopped()
                .await?
        }
        Command::Migrate(store) => {
            open_store(&store).await?.close().await;
            tracing::info!("migrations applied");
        }
        Command::Check(store) => {
            let report = check(&store).await?;
            for (digest, problem) in &report.corrupt {
                println!("CORRUPT {digest}: {problem}");
            }
            for digest in &report.missing {
                println!("MISSING {digest}: recorded, but its bytes are gone");
            }
            println!(
                "{} blobs verified, {} corrupt, {} missing, {} files without a record",
                report.verified,
                report.corrupt.len(),
                report.missing.len(),
                report.unrecorded.len()
            );
            if !report.is_sound() {
                std::process::exit(1);
            }
        }
        Command::Lifecycle(Lifecycle::Run {
            store,
            dry_run,
            repository,
        }) => {
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
                        "{} {}/{}@{} tags=[{}] rule={}",
                        verb(a.action),
                        run.registry,
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

/// `berth serve`'s arguments on their own, for the default command.
#[derive(Parser)]
struct Serve {
    #[command(flatten)]
    config: Config,
}
