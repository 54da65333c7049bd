//! `execbox doctor`: what a deployment is connected to, one line a check —
//! `ok`, `warn` (serves, but see the line) or `FAIL` (blocks serving, with
//! what to do) — and a non-zero exit status when anything blocks.
//!
//! Checks: the database address's kind ([`address`]) and whether LISTEN
//! works on it, the statement mode against it, the server version,
//! execbox's schema (pending migrations), the `auth` and `realtime`
//! schemas, the role and what the worker and the API need of it; the
//! Docker engine, its OCI runtimes and the runtime images (skipped with
//! `--no-worker`); the Supabase project's JWKS when `SUPABASE_URL` is set.

mod address;

use std::fmt;
use std::time::Duration;

use anyhow::Context;

use crate::config::{Config, Statements};
use crate::db::{inspect, wakeups, Database};
use crate::runtimes::Runtimes;
use crate::sandbox::Engine;
use address::{AddressKind, Evidence, Hint, PoolMode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Verdict {
    Ok,
    Warn,
    Fail,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
        })
    }
}

/// The lines printed so far, and the worst verdict.
struct Report {
    worst: Verdict,
}

impl Report {
    fn say(&mut self, verdict: Verdict, topic: &str, text: impl fmt::Display) {
        println!("{verdict}  {topic:<10} {text}");
        self.worst = self.worst.max(verdict);
    }
}

/// What the worker needs of its role (beyond what RLS gives a user).
const WORKER_NEEDS: &[(&str, &str)] = &[
    ("public.backend_execution_sessions", "SELECT"),
    ("public.backend_execution_sessions", "UPDATE"),
    ("public.execution_logs", "SELECT"),
    ("public.execution_logs", "INSERT"),
    ("public.container_instances", "INSERT"),
    ("public.container_instances", "UPDATE"),
    ("public.session_input", "SELECT"),
    ("public.execbox_workers", "SELECT"),
    ("public.execbox_workers", "INSERT"),
    ("public.execbox_workers", "UPDATE"),
    ("public.execbox_workers", "DELETE"),
];

/// What an API node needs of its role, outside a user's RLS context.
const API_NEEDS: &[(&str, &str)] = &[
    ("public.backend_execution_sessions", "SELECT"),
    ("public.execution_logs", "SELECT"),
    ("public.execbox_workers", "SELECT"),
    ("public.execbox_api_keys", "SELECT"),
    ("public.execbox_api_keys", "UPDATE"),
    ("public.execbox_session_clients", "INSERT"),
    ("public.judge0_submissions", "SELECT"),
];

/// What the checked process will do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Serving {
    /// `execbox worker`.
    Worker,
    /// `execbox serve --no-worker`.
    Api,
    /// `execbox serve`: an API node with its own worker.
    Serve,
}

impl Serving {
    fn worker(self) -> bool {
        matches!(self, Serving::Worker | Serving::Serve)
    }
    fn api(self) -> bool {
        matches!(self, Serving::Api | Serving::Serve)
    }
}

/// Runs every check; the exit status is 1 when one blocks serving.
pub(crate) async fn run(cfg: &Config, runtimes: &Runtimes, serving: Serving) -> anyhow::Result<i32> {
    let mut r = Report { worst: Verdict::Ok };
    database(cfg, serving, &mut r).await;
    if serving.worker() {
        docker(cfg, runtimes, &mut r).await;
    }
    supabase(cfg, &mut r).await;
    Ok(if r.worst == Verdict::Fail { 1 } else { 0 })
}

const CONNECT_WITHIN: Duration = Duration::from_secs(10);

async fn database(cfg: &Config, serving: Serving, r: &mut Report) {
    let db = match Database::of(cfg) {
        Ok(db) => db,
        Err(e) => return r.say(Verdict::Fail, "database", format!("{e:#}")),
    };
    let client = match tokio::time::timeout(CONNECT_WITHIN, db.connect()).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return r.say(Verdict::Fail, "database", format!("{e:#}; fix: check DATABASE_URL")),
        Err(_) => {
            return r.say(Verdict::Fail, "database", "no answer within 10 s; fix: check DATABASE_URL's host and port")
        }
    };
    match address_kind(&db).await {
        Ok((kind, why)) => {
            let (verdict, advice) = match (kind, cfg.database_statements) {
                (AddressKind::TransactionPooler, Statements::Prepared) => (
                    Verdict::Fail,
                    "; EXECBOX_DB_STATEMENTS=prepared cannot work here: unset it (unnamed is the default)",
                ),
                (AddressKind::TransactionPooler, Statements::Unnamed | Statements::Auto) => (
                    Verdict::Warn,
                    "; execbox works here but polls (slower); for LISTEN/NOTIFY use the session pooler or the direct address",
                ),
                _ => (Verdict::Ok, "; LISTEN/NOTIFY works"),
            };
            r.say(verdict, "address", format!("{kind} ({why}){advice}"));
        }
        Err(e) => r.say(Verdict::Fail, "address", format!("cannot tell: {e:#}")),
    }
    match inspect::server_version(&client).await {
        Ok((text, num)) if num >= 150000 => r.say(Verdict::Ok, "server", format!("PostgreSQL {text}")),
        Ok((text, _)) => {
            r.say(Verdict::Warn, "server", format!("PostgreSQL {text}; execbox is tested on 15 (Supabase's)"))
        }
        Err(e) => r.say(Verdict::Fail, "server", crate::error_chain(&e)),
    }
    schema(&client, r).await;
    role(&client, serving, r).await;
}

/// Gathers the evidence of [`address::decide`].
async fn address_kind(db: &Database) -> anyhow::Result<(AddressKind, &'static str)> {
    let pg = db.pg_config();
    let host = pg.get_hosts().first().map_or(String::from("localhost"), |h| match h {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        #[cfg(unix)]
        tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
    });
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    let dbname = pg.get_dbname().unwrap_or("postgres").to_string();
    let admin = pgbouncer_mode(db, &dbname).await;
    let (listener, mut rx) = db.connect_listening().await?;
    let checked = wakeups::verify(db, &listener, &mut rx, wakeups::PROBE_WAIT).await?;
    drop(listener);
    let evidence = Evidence {
        hint: Hint::of(&host, port),
        admin,
        notify_arrives: checked.arrived,
        server_elsewhere: server_elsewhere(db, &host, port).await?,
    };
    tracing::debug!(?evidence, "address evidence");
    Ok(address::decide(&evidence))
}

/// The pool mode of a PgBouncer's admin console at the same address, when
/// one answers to these credentials.
async fn pgbouncer_mode(db: &Database, dbname: &str) -> Option<PoolMode> {
    let admin = db.clone().on_database("pgbouncer");
    let client = tokio::time::timeout(Duration::from_secs(3), admin.connect()).await.ok()?.ok()?;
    let mode = inspect::pgbouncer_pool_mode(&client, dbname).await.ok()??;
    PoolMode::parse(&mode)
}

/// Whether the server says it listens elsewhere than `host:port`, the
/// address connected to: then something is in between. (A Unix socket, or
/// a server that does not say, counts as direct.)
async fn server_elsewhere(db: &Database, host: &str, port: u16) -> anyhow::Result<bool> {
    let Some((addr, server_port)) = inspect::server_address(&db.connect().await?).await? else { return Ok(false) };
    if i32::from(port) != server_port {
        return Ok(true);
    }
    let connected: Vec<std::net::IpAddr> =
        tokio::net::lookup_host((host, port)).await.map(|a| a.map(|s| s.ip()).collect()).unwrap_or_default();
    Ok(!connected.is_empty() && !connected.iter().any(|ip| ip.to_string() == addr))
}

async fn schema(client: &tokio_postgres::Client, r: &mut Report) {
    let embedded: Vec<&str> =
        crate::db::migrate::embedded().iter().map(|(stem, _)| stem.split_once('_').map_or(*stem, |(v, _)| v)).collect();
    match inspect::applied_migrations(client).await {
        Ok(None) => r.say(
            Verdict::Fail,
            "schema",
            "execbox's schema is not installed; fix: `execbox migrate` (or `supabase db push` from this repository)",
        ),
        Ok(Some(applied)) => {
            let pending: Vec<&str> = embedded.iter().copied().filter(|v| !applied.iter().any(|a| a == v)).collect();
            let newest = embedded.last().copied().unwrap_or_default();
            let unknown = applied.iter().filter(|a| a.as_str() > newest).count();
            if !pending.is_empty() {
                r.say(
                    Verdict::Fail,
                    "schema",
                    format!("{} migration(s) pending ({}); fix: `execbox migrate`", pending.len(), pending.join(", ")),
                );
            } else if unknown > 0 {
                r.say(
                    Verdict::Warn,
                    "schema",
                    format!("{unknown} migration(s) newer than this execbox's; upgrade this binary"),
                );
            } else {
                r.say(Verdict::Ok, "schema", format!("up to date ({newest})"));
            }
        }
        Err(e) => r.say(Verdict::Fail, "schema", crate::error_chain(&e)),
    }
    let names = vec![String::from("auth"), String::from("realtime")];
    match inspect::schemas_present(client, &names).await {
        Ok(present) => {
            let has = |s: &str| present.iter().any(|p| p == s);
            if has("auth") {
                r.say(Verdict::Ok, "auth", "the auth schema is there (RLS's auth.uid())");
            } else {
                r.say(
                    Verdict::Fail,
                    "auth",
                    "no auth schema: not a Supabase database; fix: on plain PostgreSQL, `execbox migrate --supabase-fixture`",
                );
            }
            if has("realtime") {
                r.say(Verdict::Ok, "realtime", "the realtime schema is there (output is broadcast to browsers)");
            } else {
                r.say(
                    Verdict::Warn,
                    "realtime",
                    "no realtime schema: nothing is broadcast (the tables still are the API)",
                );
            }
        }
        Err(e) => r.say(Verdict::Fail, "auth", crate::error_chain(&e)),
    }
}

async fn role(client: &tokio_postgres::Client, serving: Serving, r: &mut Report) {
    let (name, superuser) = match inspect::role(client).await {
        Ok(x) => x,
        Err(e) => return r.say(Verdict::Fail, "role", crate::error_chain(&e)),
    };
    if superuser {
        r.say(
            Verdict::Warn,
            "role",
            format!("connected as {name}, a superuser: it can do anything, RLS does not bind it; a role with only what execbox needs is safer"),
        );
    } else {
        r.say(Verdict::Ok, "role", format!("connected as {name}"));
    }
    let checked = [("worker", WORKER_NEEDS, serving.worker()), ("API", API_NEEDS, serving.api())];
    for (who, needs, _) in checked.into_iter().filter(|c| c.2) {
        match inspect::table_privileges(client, needs).await {
            Ok(has) => {
                let missing: Vec<String> = needs
                    .iter()
                    .zip(&has)
                    .filter(|(_, h)| **h == Some(false))
                    .map(|((t, p), _)| format!("{p} on {t}"))
                    .collect();
                if has.contains(&None) {
                    r.say(
                        Verdict::Warn,
                        "role",
                        format!("cannot check what the {who} needs: execbox's tables are missing"),
                    );
                } else if missing.is_empty() {
                    r.say(Verdict::Ok, "role", format!("{name} can do what the {who} needs"));
                } else {
                    r.say(
                        Verdict::Fail,
                        "role",
                        format!("the {who} needs {}; fix: grant them to {name}", missing.join(", ")),
                    );
                }
            }
            Err(e) => r.say(Verdict::Fail, "role", crate::error_chain(&e)),
        }
    }
    if !serving.api() {
        return;
    }
    match inspect::may_become(client, "authenticated").await {
        Ok(Some(true)) => r.say(Verdict::Ok, "role", format!("{name} may act as authenticated (users' writes under RLS)")),
        Ok(Some(false)) => r.say(
            Verdict::Fail,
            "role",
            format!("{name} cannot act as authenticated, so the API cannot write as a user; fix: grant authenticated to {name}"),
        ),
        Ok(None) => r.say(Verdict::Fail, "role", "no authenticated role: not a Supabase database"),
        Err(e) => r.say(Verdict::Fail, "role", crate::error_chain(&e)),
    }
}

async fn docker(cfg: &Config, runtimes: &Runtimes, r: &mut Report) {
    let engine = match Engine::connect(&cfg.docker_host, cfg.limits.clone()) {
        Ok(e) => e.with_call_limit(Duration::from_secs(5)),
        Err(e) => return r.say(Verdict::Fail, "docker", format!("{e:#}")),
    };
    let info = tokio::time::timeout(Duration::from_secs(5), engine.docker().info()).await;
    let info = match info {
        Ok(Ok(info)) => info,
        Ok(Err(e)) => {
            return r.say(
                Verdict::Fail,
                "docker",
                format!("{}; fix: start Docker or set EXECBOX_DOCKER_HOST", crate::error_chain(&e)),
            )
        }
        Err(_) => return r.say(Verdict::Fail, "docker", "no answer within 5 s; fix: check the Docker engine"),
    };
    let oci: Vec<String> = info.runtimes.map(|m| m.into_keys().collect()).unwrap_or_default();
    r.say(
        Verdict::Ok,
        "docker",
        format!("engine {} answers; OCI runtimes: {}", info.server_version.unwrap_or_default(), oci.join(", ")),
    );
    let walls = crate::sandbox::walls::needed(runtimes, &cfg.limits);
    match crate::sandbox::walls::missing(&walls, &oci, &cfg.limits) {
        Some(why) => r.say(Verdict::Fail, "isolation", why),
        None => r.say(
            Verdict::Ok,
            "isolation",
            format!(
                "{} (every wall this worker builds)",
                walls.iter().map(|w| w.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ),
    }
    let mut images: Vec<&str> = runtimes.all().iter().map(|rt| rt.image.as_str()).collect();
    images.sort_unstable();
    images.dedup();
    let mut missing = Vec::new();
    for image in &images {
        match engine.runtime_image_ready(image).await {
            Ok(true) => {}
            Ok(false) => missing.push(*image),
            Err(e) => return r.say(Verdict::Fail, "images", crate::error_chain(&e)),
        }
    }
    let langs_missing: Vec<&str> = runtimes
        .all()
        .iter()
        .filter(|rt| missing.contains(&rt.image.as_str()))
        .map(|rt| rt.language.as_str())
        .collect();
    if missing.is_empty() {
        r.say(Verdict::Ok, "images", format!("all {} runtime images are here", images.len()));
    } else if missing.len() == images.len() {
        r.say(Verdict::Fail, "images", "no runtime image is built (by this execbox); fix: `execbox images build`");
    } else {
        r.say(
            Verdict::Warn,
            "images",
            format!(
                "{} of {} images missing (or built by an older execbox), so these runtimes run elsewhere or not at all: {}; fix: `execbox images build`",
                missing.len(),
                images.len(),
                langs_missing.join(", ")
            ),
        );
    }
}

async fn supabase(cfg: &Config, r: &mut Report) {
    let Some(url) = &cfg.api.supabase_url else { return };
    let jwks = format!("{}/auth/v1/.well-known/jwks.json", url.trim_end_matches('/'));
    let fetched = async {
        let resp =
            reqwest::Client::new().get(&jwks).timeout(Duration::from_secs(5)).send().await?.error_for_status()?;
        #[derive(serde::Deserialize)]
        struct KeySet {
            keys: Vec<serde::de::IgnoredAny>,
        }
        anyhow::Ok(resp.json::<KeySet>().await?.keys.len())
    }
    .await
    .with_context(|| format!("cannot read {jwks}"));
    match fetched {
        Ok(n) => r.say(Verdict::Ok, "supabase", format!("{jwks} has {n} key(s)")),
        Err(e) => {
            r.say(Verdict::Warn, "supabase", format!("{e:#}; tokens signed with asymmetric keys cannot be checked"))
        }
    }
}
