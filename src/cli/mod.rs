//! The command line. `main.rs` only parses it and calls [`run`]. The
//! client commands (`run`, `sessions`, `logs`, `cancel`) are in
//! `commands.rs`, `keys` in `keys.rs`; they go through the database exactly
//! as a frontend does, or, with an access token, through the project's Data
//! API as that user.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

mod commands;
mod keys;
pub(crate) mod target;

use crate::config::Config;
use crate::runtimes::Runtimes;
use commands::RunArgs;

#[derive(Debug, Parser)]
#[command(name = "execbox", version, about = "Runs untrusted code from Supabase rows in hardened containers")]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Everything on this machine: PostgreSQL (in .execbox/), Docker check,
    /// runtime images, a worker, a dev user and token, and a demo run.
    Dev {
        /// PostgreSQL port (default: the one used last time, else 54322).
        #[arg(long, env = "EXECBOX_DEV_PORT")]
        port: Option<u16>,
        /// State directory.
        #[arg(long, env = "EXECBOX_DEV_DIR", default_value = ".execbox")]
        dir: PathBuf,
        /// Say yes to offers (installing PostgreSQL and Docker, starting Docker).
        #[arg(long, short = 'y')]
        yes: bool,
        /// Do not run the demo session.
        #[arg(long)]
        no_demo: bool,
    },
    /// Run a file through the database as a user, streaming its output.
    /// Exits with the program's exit code (124: timeout, 125: execbox error,
    /// 130: cancelled).
    Run {
        file: PathBuf,
        /// Language (default: from the file's extension).
        #[arg(long)]
        lang: Option<String>,
        /// Text for the program's stdin, or - to pass this terminal's stdin.
        #[arg(long)]
        stdin: Option<String>,
        /// Wall-clock limit, e.g. 500ms, 10s, 2m.
        #[arg(long, value_parser = commands::parse_duration_ms)]
        timeout: Option<i32>,
        /// Memory limit in MB.
        #[arg(long)]
        memory: Option<i32>,
        /// CPU-time limit (the program and everything it starts), e.g. 2s.
        #[arg(long, value_parser = commands::parse_duration_ms)]
        cpu_time: Option<i32>,
        /// Print the final session row and its logs as JSON.
        #[arg(long)]
        json: bool,
        /// Act as this user (default: the dev user).
        #[arg(long)]
        user: Option<Uuid>,
        /// Act as the user of this access token, on the Supabase project of
        /// SUPABASE_URL and SUPABASE_ANON_KEY, through its Data API.
        #[arg(long, env = "EXECBOX_ACCESS_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Recent sessions as a table.
    Sessions {
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Act as the user of this access token, on the Supabase project of
        /// SUPABASE_URL and SUPABASE_ANON_KEY, through its Data API.
        #[arg(long, env = "EXECBOX_ACCESS_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// A session's log rows (stdout to stdout, the rest to stderr).
    Logs {
        id: String,
        /// Keep streaming until the session ends.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Act as the user of this access token, on the Supabase project of
        /// SUPABASE_URL and SUPABASE_ANON_KEY, through its Data API.
        #[arg(long, env = "EXECBOX_ACCESS_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Ask the workers to stop a session (its owner's request).
    Cancel {
        id: String,
        /// Act as this user (default: the dev user).
        #[arg(long)]
        user: Option<Uuid>,
        /// Act as the user of this access token, on the Supabase project of
        /// SUPABASE_URL and SUPABASE_ANON_KEY, through its Data API.
        #[arg(long, env = "EXECBOX_ACCESS_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// The HTTP/WebSocket API (and, unless --no-worker, a worker).
    Serve {
        /// Address to listen on (default 127.0.0.1:3000).
        #[arg(long, env = "EXECBOX_LISTEN")]
        listen: Option<String>,
        /// Serve the API only; sessions run on workers elsewhere.
        #[arg(long)]
        no_worker: bool,
    },
    /// Claim pending sessions from DATABASE_URL and run them.
    Worker,
    /// Check what this deployment is connected to: the database address
    /// (direct, session or transaction pooler), schema, role, Docker,
    /// images. Exits non-zero when something blocks serving.
    Doctor {
        /// What the process checked for will be: a `worker` (Docker,
        /// images, the worker's grants), an `api` node (`serve
        /// --no-worker`: the API's grants, acting as a user) or `serve`
        /// (both).
        #[arg(long = "for", value_enum, default_value = "worker")]
        for_: crate::doctor::Serving,
    },
    /// Apply supabase/migrations (embedded in this binary) to DATABASE_URL.
    Migrate {
        /// First install the Supabase stand-in (roles, auth schema, realtime
        /// publication) for a plain PostgreSQL. Never use on real Supabase.
        #[arg(long)]
        supabase_fixture: bool,
    },
    /// Measure execbox against a bare process, `docker run` and the engine's
    /// ceiling; writes bench/results.md and bench/results.json.
    Bench {
        /// Sequential samples per latency measurement.
        #[arg(long, default_value_t = 30)]
        iterations: usize,
        /// Sessions (and `docker run`s) in the throughput measurement.
        #[arg(long, default_value_t = 300)]
        sessions: usize,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Lines printed by the log-ingestion program.
        #[arg(long, default_value_t = 200_000)]
        lines: usize,
        #[arg(long, default_value = "bench")]
        out: PathBuf,
        /// Run one part only and print its numbers (the results files are
        /// written by whole runs only).
        #[arg(long, value_enum)]
        only: Option<crate::bench::Part>,
    },
    /// Runtime images.
    Images {
        #[command(subcommand)]
        command: ImagesCommand,
    },
    /// Speak MCP (the Model Context Protocol) on stdin and stdout, for a
    /// desktop agent: its tools run code as a user, on DATABASE_URL or
    /// `execbox dev`'s database, by the workers serving it.
    Mcp {
        /// Act as this user (default: EXECBOX_USER_ID, else the dev user).
        #[arg(long)]
        user: Option<Uuid>,
    },
    /// API keys (for clients that cannot hold a Supabase session), as a user.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
        /// Act as this user (default: EXECBOX_USER_ID, else the dev user).
        #[arg(long, global = true)]
        user: Option<Uuid>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Make a key; prints it (shown this once).
    Create { name: String },
    /// The user's keys (never the keys themselves).
    List,
    /// Revoke a key by id; requests with it are refused at once.
    Revoke { id: Uuid },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ImagesCommand {
    /// Build the runtime images (all, or the named languages).
    Build { languages: Vec<String> },
    /// Each runtime's image: present or not, and its size.
    List,
}

impl Command {
    /// The log filter when EXECBOX_LOG is not set: servers say what they do,
    /// interactive commands stay quiet.
    fn default_log_filter(&self) -> &'static str {
        match self {
            Command::Worker | Command::Serve { .. } | Command::Migrate { .. } | Command::Images { .. } => {
                "info,tokio_postgres=warn"
            }
            _ => "warn,tokio_postgres=error",
        }
    }
}

/// The whole program: parses the command line, sets up logging
/// (`EXECBOX_LOG`, else the command's default), runs the command.
pub async fn main() -> std::process::ExitCode {
    use clap::Parser;
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("EXECBOX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(cli.command.default_log_filter()));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match run(cli).await {
        Ok(code) => std::process::ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs a command; returns the process exit code.
async fn run(cli: Cli) -> anyhow::Result<i32> {
    let cfg = Config::load()?;
    let runtimes = Arc::new(Runtimes::load(cfg.runtimes_file.as_deref())?);
    match cli.command {
        Command::Dev { port, dir, yes, no_demo } => {
            let shutdown = CancellationToken::new();
            tokio::spawn(signal_shutdown(shutdown.clone()));
            let opts = crate::dev::DevOptions { dir, port, yes, no_demo };
            crate::dev::run(opts, cfg, runtimes, shutdown).await?;
            Ok(0)
        }
        Command::Run { file, lang, stdin, timeout, memory, cpu_time, json, user, token } => {
            let interrupted = CancellationToken::new();
            tokio::spawn(signal_shutdown(interrupted.clone()));
            let args = RunArgs {
                file,
                lang,
                stdin,
                timeout_ms: timeout,
                memory_mb: memory,
                cpu_time_ms: cpu_time,
                json,
                user,
                token,
            };
            commands::run(args, &cfg, &runtimes, interrupted).await
        }
        Command::Sessions { limit, token } => commands::sessions(&cfg, limit, token.as_deref()).await.map(|()| 0),
        Command::Logs { id, follow, token } => commands::logs(&cfg, &id, follow, token.as_deref()).await,
        Command::Cancel { id, user, token } => commands::cancel(&cfg, &id, user, token.as_deref()).await.map(|()| 0),
        Command::Serve { listen, no_worker } => {
            let shutdown = CancellationToken::new();
            tokio::spawn(signal_shutdown(shutdown.clone()));
            let mut cfg = cfg;
            if let Some(l) = listen {
                cfg.api.listen = l;
            }
            serve(Arc::new(cfg), runtimes, !no_worker, shutdown).await?;
            Ok(0)
        }
        Command::Worker => {
            let shutdown = CancellationToken::new();
            tokio::spawn(signal_shutdown(shutdown.clone()));
            crate::worker::run(Arc::new(cfg), runtimes, shutdown).await?;
            Ok(0)
        }
        Command::Doctor { for_ } => crate::doctor::run(&cfg, &runtimes, for_).await,
        Command::Migrate { supabase_fixture } => {
            let mut client = crate::db::Database::of(&cfg)?.connect().await?;
            if supabase_fixture {
                crate::db::migrate::apply_fixture(&client).await?;
            }
            let applied = crate::db::migrate::run(&mut client).await?;
            if applied.is_empty() {
                println!("database is up to date");
            } else {
                println!("applied {} migration(s): {}", applied.len(), applied.join(", "));
            }
            Ok(0)
        }
        Command::Bench { iterations, sessions, concurrency, lines, out, only } => {
            let opts = crate::bench::BenchOptions { iterations, sessions, concurrency, lines, out, only };
            crate::bench::run(&cfg, opts).await?;
            Ok(0)
        }
        Command::Images { command: ImagesCommand::Build { languages } } => {
            let engine = crate::sandbox::Engine::connect(&cfg.docker_host, cfg.limits.clone())?;
            crate::images::build(&engine, &runtimes, &languages).await?;
            Ok(0)
        }
        Command::Images { command: ImagesCommand::List } => {
            let engine = crate::sandbox::Engine::connect(&cfg.docker_host, cfg.limits.clone())?;
            crate::images::list(&engine, &runtimes).await?;
            Ok(0)
        }
        Command::Mcp { user } => {
            let target = target::Target::resolve(&cfg, user)?;
            let user = target.require_user()?;
            let st = crate::api::ApiState::on(Arc::new(cfg), runtimes, target.db.named("execbox mcp"))?;
            crate::api::mcp::stdio(st, user).await?;
            Ok(0)
        }
        Command::Keys { command, user } => {
            match command {
                KeysCommand::Create { name } => keys::create(&cfg, user, &name).await?,
                KeysCommand::List => keys::list(&cfg, user).await?,
                KeysCommand::Revoke { id } => keys::revoke(&cfg, user, id).await?,
            }
            Ok(0)
        }
    }
}

/// First SIGINT/SIGTERM: graceful shutdown. Second: exit at once (containers
/// left behind are reaped by the next worker start).
async fn signal_shutdown(token: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    tracing::info!("shutdown requested; a second signal exits at once");
    token.cancel();
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    std::process::exit(130);
}

/// `execbox serve`: binds `cfg.api.listen` and serves until `shutdown`, a
/// worker beside the API when `with_worker`.
async fn serve(
    cfg: Arc<Config>,
    runtimes: Arc<Runtimes>,
    with_worker: bool,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let listener = tokio::net::TcpListener::bind(&cfg.api.listen).await.with_context(|| {
        format!("cannot listen on {}; fix: stop whatever uses it, or set EXECBOX_LISTEN", cfg.api.listen)
    })?;
    let worker = if with_worker { crate::server::Worker::With(cfg.clone()) } else { crate::server::Worker::None };
    crate::server::run(listener, cfg, worker, runtimes, shutdown.cancelled_owned()).await
}
