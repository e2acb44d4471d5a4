use clap::{Parser, Subcommand};

use berth::config::{CheckConfig, Config, GcConfig, StoreConfig};
use berth::startup::{check, gc, open_store, Application, Checked};

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
    /// have their recorded size, and that every link and manifest reference has its
    /// blob and every index its children; exits 1 if anything is wrong.
    Check(CheckConfig),
    /// Collect garbage once: upload sessions, links and blobs nothing uses any more.
    Gc(GcConfig),
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
        Command::Check(config) => {
            if !report_check(&check(&config).await?) {
                std::process::exit(1);
            }
        }
        Command::Gc(config) => match gc(&config).await? {
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
    }
    Ok(())
}

/// `berth serve`'s arguments on their own, for the default command.
#[derive(Parser)]
struct Serve {
    #[command(flatten)]
    config: Config,
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
    for d in &refs.dangling_references {
        let image = d.image.as_deref().unwrap_or_default();
        println!(
            "DANGLING REFERENCE {}@{image} -> {}: the blob has no record",
            d.repository, d.target
        );
    }
    for d in &refs.unreadable_references {
        let image = d.image.as_deref().unwrap_or_default();
        println!(
            "UNREADABLE REFERENCE {}@{image} -> {}: the blob's bytes are gone",
            d.repository, d.target
        );
    }
    for d in &refs.missing_children {
        let image = d.image.as_deref().unwrap_or_default();
        println!(
            "MISSING CHILD {}@{image} -> {}: not in the repository",
            d.repository, d.target
        );
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
