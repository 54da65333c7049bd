//! `execbox dev`: the whole stack on one machine, from one command.
//!
//! Starts (or reuses) a PostgreSQL cluster in `.execbox/pg` with the Supabase
//! stand-in and the migrations, makes sure a Docker engine answers, builds the
//! runtime images that are missing, starts a worker, prints what a client
//! needs (database URL, dev user, a signed dev access token), runs a demo
//! session, and on Ctrl-C stops it all, keeping the data for next time.

pub mod cluster;
pub(crate) mod docker;
mod gvisor;
pub(crate) mod install;
pub(crate) mod state;
mod token;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Secret};
use crate::db::follow::{Events, Follower};
use crate::db::hub::Hub;
use crate::model::Request;
use crate::runtimes::Runtimes;
use crate::sandbox::Engine;
use state::DevState;

/// Is this process root (its effective uid)?
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[derive(Debug, Clone)]
pub(crate) struct DevOptions {
    /// The state directory (`.execbox`).
    pub dir: PathBuf,
    /// PostgreSQL port; None keeps the one recorded (54322 the first time).
    pub port: Option<u16>,
    /// Answer yes to offers (installing PostgreSQL and Docker, starting Docker).
    pub yes: bool,
    /// Skip the demo session.
    pub no_demo: bool,
}

pub(crate) const DEFAULT_PORT: u16 = 54322;

pub(crate) const DEMO_CODE: &str = r#"import platform, time
print(f"hello from execbox: Python {platform.python_version()}, in a locked-down container")
for i in range(1, 4):
    print(f"streaming line {i} of 3", flush=True)
    time.sleep(0.2)
"#;

fn step(msg: &str) {
    println!("==> {msg}");
}

pub(crate) async fn run(
    opts: DevOptions,
    base: Config,
    runtimes: Arc<Runtimes>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&opts.dir).with_context(|| format!("cannot create {}", opts.dir.display()))?;
    let state_path = opts.dir.join("dev.json");
    let mut state = if state_path.is_file() {
        DevState::read(&state_path)?
    } else {
        DevState::generate(opts.port.unwrap_or(DEFAULT_PORT))
    };
    if let Some(p) = opts.port {
        state.port = p;
    }
    state.write(&state_path)?;

    // PostgreSQL.
    cluster::ensure_bindir(opts.yes)?;
    let cluster = cluster::Cluster::new(&opts.dir.join("pg"), state.port)?;
    let fresh = !cluster.is_initialized();
    step(&if fresh {
        format!("creating a PostgreSQL cluster in {} (first run)", cluster.dir.display())
    } else {
        format!("using the PostgreSQL cluster in {}", cluster.dir.display())
    });
    let started_pg = tokio::task::spawn_blocking({
        let c = cluster.clone();
        move || c.start()
    })
    .await??;
    let db = crate::db::Database::new(Secret::new(cluster.url()), None)?;
    let result = serve(&opts, &state, &db, base, runtimes, shutdown).await;
    if started_pg {
        step("stopping PostgreSQL (data kept for next time)");
        if let Err(e) = cluster.stop() {
            eprintln!("warning: {e:#}");
        }
    }
    result
}

async fn serve(
    opts: &DevOptions,
    state: &DevState,
    database: &crate::db::Database,
    base: Config,
    runtimes: Arc<Runtimes>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut db = database.connect().await?;
    crate::db::migrate::apply_fixture(&db).await?;
    let applied = crate::db::migrate::run(&mut db).await?;
    if !applied.is_empty() {
        step(&format!("applied migrations {}", applied.join(", ")));
    }
    crate::db::user::ensure_user(&db, state.user_id, "dev@execbox.local").await?;

    // Docker and images.
    let mut cfg = Config { database_url: database.url().clone(), database_ca_file: None, ..base };
    // The API accepts the dev token (HS256 with the local secret) and any
    // browser origin: this is a local development stack.
    cfg.api.jwt_secret = Some(state.jwt_secret());
    if cfg.api.cors_origins.is_empty() {
        cfg.api.cors_origins = vec!["*".into()];
    }
    // Runs feel instant locally: a small warm pool unless one was chosen
    // (EXECBOX_WARM_POOL, even empty, is a choice).
    if std::env::var_os("EXECBOX_WARM_POOL").is_none() && cfg.worker.warm_pool.is_empty() {
        cfg.worker.warm_pool = [("python".to_string(), 1), ("node".to_string(), 1)].into();
    }
    let cfg = Arc::new(cfg.finish()?);
    let engine = Engine::connect(&cfg.docker_host, cfg.limits.clone())?;
    docker::ensure(&engine, opts.yes, &opts.dir).await?;
    gvisor::ensure(&engine, &runtimes, &cfg.limits, opts.yes).await?;
    let missing = crate::images::missing(&engine, &runtimes).await?;
    if !missing.is_empty() {
        step(&format!("building runtime images for {} (first run only)", missing.join(", ")));
        crate::images::build(&engine, &runtimes, &missing).await?;
    }

    // The API and the worker, the API on its own listener (bound first: a
    // taken port is reported before anything starts).
    let listener = tokio::net::TcpListener::bind(&cfg.api.listen).await.with_context(|| {
        format!("cannot listen on {} for the API; fix: stop whatever uses it, or set EXECBOX_LISTEN", cfg.api.listen)
    })?;
    let api_url = format!("http://{}", listener.local_addr()?);
    let node_stop = CancellationToken::new();
    let node = tokio::spawn(crate::server::run(
        listener,
        cfg.clone(),
        crate::server::Worker::With(cfg.clone()),
        runtimes.clone(),
        node_stop.clone().cancelled_owned(),
    ));

    let token = token::sign_hs256(
        &state.jwt_secret(),
        state.user_id,
        Some("dev@execbox.local".into()),
        chrono::Duration::days(30),
    )?;
    println!();
    println!("execbox is running.");
    println!("  Playground:   {}", playground_url(&api_url, &token));
    println!("                (open it in a browser: signed in as the dev user)");
    println!("  DATABASE_URL={}", database.url().expose());
    println!("  API URL:      {api_url}   (e.g. POST {api_url}/api/v2/execute, GET {api_url}/health)");
    println!("  dev user id:  {}", state.user_id);
    println!("  access token: {token}");
    println!("  (HS256, signed with the secret in {}; valid 30 days)", opts.dir.join("dev.json").display());
    println!();
    println!(
        "  Try the API:  curl -s {api_url}/api/v2/execute -H \"Authorization: Bearer $TOKEN\" \\\n                  -H 'content-type: application/json' -d '{{\"language\":\"python\",\"files\":[{{\"content\":\"print(42)\"}}]}}'"
    );
    println!("  Run a file:   execbox run hello.py");
    println!("  Sessions:     execbox sessions        Logs: execbox logs <id> --follow");
    println!("  Stop:         Ctrl-C");
    println!();

    if !opts.no_demo {
        if let Err(e) = demo(database, state).await {
            eprintln!("warning: the demo session did not run: {e:#}");
        }
    }

    let mut node = node;
    tokio::select! {
        _ = shutdown.cancelled() => {}
        // The node only returns on its own when it cannot go on.
        ended = &mut node => return ended.context("the API and worker task")?,
    }
    step("stopping the API and the worker");
    node_stop.cancel();
    node.await.context("the API and worker task")?
}

/// The playground's address, signed in: the page takes the token from it
/// and then removes it from the address bar.
fn playground_url(api_url: &str, token: &str) -> String {
    format!("{api_url}/?access_token={token}")
}

/// Submits a small Python program as the dev user and streams its rows.
async fn demo(database: &crate::db::Database, state: &DevState) -> anyhow::Result<()> {
    step("demo: a Python session inserted as the dev user, its log rows streamed back:");
    let mut c = database.connect().await?;
    let req = Request {
        language: "python".into(),
        code: DEMO_CODE.into(),
        session_name: Some("execbox dev demo".into()),
        ..Default::default()
    };
    let id = crate::db::user::submit(&mut c, state.user_id, &req).await?;
    let mut events = Events::new(Follower::open(&Hub::start(database, database.pool(2)?), id, Some(state.user_id)));
    let end = events.rows_to_end(|row| println!("    [{} #{}] {}", row.stream, row.seq, row.message)).await?;
    println!("    session {id}: {}", end.status);
    Ok(())
}
