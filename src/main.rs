use clap::{Parser, Subcommand};

use berth::config::{Config, StoreConfig};
use berth::startup::{check, open_store, Application};

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
    }
    Ok(())
}

/// `berth serve`'s arguments on their own, for the default command.
#[derive(Parser)]
struct Serve {
    #[command(flatten)]
    config: Config,
}
