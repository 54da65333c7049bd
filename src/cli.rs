//! The command line. `main.rs` only parses it and calls [`run`].

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::runtimes::Runtimes;

#[derive(Debug, Parser)]
#[command(
    name = "execbox",
    version,
    about = "Runs untrusted code from Supabase rows in hardened containers"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Claim pending sessions from DATABASE_URL and run them.
    Worker,
    /// Apply supabase/migrations (embedded in this binary) to DATABASE_URL.
    Migrate {
        /// First install the Supabase stand-in (roles, auth schema, realtime
        /// publication) for a plain PostgreSQL. Never use on real Supabase.
        #[arg(long)]
        supabase_fixture: bool,
    },
    /// Runtime images.
    Images {
        #[command(subcommand)]
        command: ImagesCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Build the runtime images (all, or the named languages).
    Build { languages: Vec<String> },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let cfg = Arc::new(Config::load()?);
    let runtimes = Arc::new(Runtimes::load(cfg.runtimes_file.as_deref())?);
    match cli.command {
        Command::Worker => {
            let shutdown = CancellationToken::new();
            tokio::spawn(signal_shutdown(shutdown.clone()));
            crate::worker::run(cfg, runtimes, shutdown).await
        }
        Command::Migrate { supabase_fixture } => {
            let mut client = crate::db::connect(&cfg.database_url).await?;
            if supabase_fixture {
                crate::db::migrate::apply_fixture(&client).await?;
            }
            let applied = crate::db::migrate::run(&mut client).await?;
            if applied.is_empty() {
                println!("database is up to date");
            } else {
                println!(
                    "applied {} migration(s): {}",
                    applied.len(),
                    applied.join(", ")
                );
            }
            Ok(())
        }
        Command::Images {
            command: ImagesCommand::Build { languages },
        } => {
            let engine = crate::sandbox::Engine::connect(&cfg.docker_host, cfg.limits.clone())?;
            crate::images::build(&engine, &runtimes, &languages).await
        }
    }
}

/// First SIGINT/SIGTERM: graceful shutdown. Second: exit at once (containers
/// left behind are reaped by the next worker start).
async fn signal_shutdown(token: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())
        .context("SIGTERM handler")
        .unwrap();
    let mut int = signal(SignalKind::interrupt())
        .context("SIGINT handler")
        .unwrap();
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    tracing::info!("shutdown requested; a second signal exits at once");
    token.cancel();
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    std::process::exit(130);
}
