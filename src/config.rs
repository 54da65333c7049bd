//! One typed configuration, loaded once: built-in defaults, then an optional
//! TOML file (`EXECBOX_CONFIG`), then `EXECBOX_*` environment variables.
//! Every parse error names the variable or key that was wrong. Secrets are
//! wrapped in [`Secret`] so that `Debug` output and logs never show them.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;

use crate::model::Isolation;

/// A value that must never be printed.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Postgres connection string (direct connection or session pooler: LISTEN
    /// does not work through a transaction pooler).
    pub database_url: Secret,
    /// CA certificate(s), PEM, that the database server's certificate must
    /// chain to. Without one, TLS (per the URL's sslmode) encrypts but does
    /// not authenticate the server, as libpq's `require`.
    pub database_ca_file: Option<PathBuf>,
    /// How statements are sent: `auto` (the default: unnamed, which works
    /// through any pooler, until a NOTIFY round trip shows the address is
    /// not a transaction pooler, then prepared), `unnamed` or `prepared`
    /// (a direct or session-pooled address only).
    pub database_statements: Statements,
    /// Docker engine address; empty means the local default (DOCKER_HOST or
    /// the unix socket).
    pub docker_host: String,
    /// A file with the runtime table; empty means the built-in `runtimes.toml`.
    pub runtimes_file: Option<PathBuf>,
    pub worker: WorkerConfig,
    pub limits: Limits,
    pub api: ApiConfig,
}

/// The HTTP/WebSocket API (`execbox serve`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Address to listen on.
    pub listen: String,
    /// The Supabase project URL: access tokens' keys come from
    /// `<supabase_url>/auth/v1/.well-known/jwks.json`.
    pub supabase_url: Option<String>,
    /// The project's legacy JWT secret (HS256 tokens). Without it, HS256
    /// tokens are refused.
    pub jwt_secret: Option<Secret>,
    /// Required `iss` claim, when set.
    pub jwt_issuer: Option<String>,
    /// Also ask Supabase Auth (`GET /auth/v1/user`) whether a token's session
    /// is still valid (catches revoked sessions; costs a request per call).
    pub online_check: bool,
    /// The project's publishable (anon) key, sent as `apikey` by the online check.
    pub supabase_anon_key: Option<Secret>,
    /// Shortest time between two JWKS fetches caused by unknown key ids.
    pub jwks_refetch_min_interval_ms: u64,
    /// Origins allowed by CORS (`*` for any); empty: no CORS headers.
    pub cors_origins: Vec<String>,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Database connections the node's pool holds at most (every read and
    /// write of a request; waiting requests hold none). The node also keeps
    /// one connection that LISTENs for progress.
    pub db_pool_size: usize,
    /// How long a synchronous execute waits for a worker to claim its
    /// session before cancelling it (503).
    pub queue_wait_ms: u64,
    /// Sessions a user may have pending or running at once.
    pub max_active_sessions_per_user: i64,
    /// Sessions a user may create per minute (token bucket, in the database:
    /// shared by every API node).
    pub rate_limit_per_minute: u32,
    /// Whether Piston's routes need credentials (`token`, the default) or
    /// also serve callers without any (`none`, for private networks: Piston's
    /// own clients send none), as one anonymous user, limited per client IP.
    pub piston_auth: PistonAuth,
    /// Open Piston mode: requests per minute from one client IP...
    pub piston_ip_rate_per_minute: u32,
    /// ...and requests one client IP may have running at once.
    pub piston_ip_max_active: usize,
    /// Serve the playground page at `/` (a static page; it runs code with
    /// the visitor's own credentials, through this API).
    pub playground: bool,
}

/// Who may call Piston's routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PistonAuth {
    /// An access token or API key, as every route.
    #[default]
    Token,
    /// Also no credentials at all: an anonymous user, limited per IP.
    None,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: "127.0.0.1:3000".into(),
            supabase_url: None,
            jwt_secret: None,
            jwt_issuer: None,
            online_check: false,
            supabase_anon_key: None,
            jwks_refetch_min_interval_ms: 10_000,
            cors_origins: Vec::new(),
            max_body_bytes: 2 * 1024 * 1024,
            db_pool_size: 16,
            queue_wait_ms: 30_000,
            max_active_sessions_per_user: 4,
            rate_limit_per_minute: 60,
            piston_auth: PistonAuth::Token,
            piston_ip_rate_per_minute: 60,
            piston_ip_max_active: 4,
            playground: true,
        }
    }
}

/// How a worker claims and keeps sessions.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// Identifies this worker in `claimed_by` and container labels.
    /// Default: `<hostname>-<pid>-<random>`.
    pub id: String,
    /// Upper bound on sessions this worker runs at once.
    pub max_concurrent_runs: usize,
    /// Fallback poll when no NOTIFY arrives (NOTIFY is only a hint).
    pub poll_interval_ms: u64,
    /// How often to look for new sessions and cancel requests while
    /// notifications do not arrive (behind a transaction pooler).
    pub fallback_poll_ms: u64,
    /// How long a claim stays valid without a heartbeat.
    pub lease_ms: u64,
    /// How often running sessions' leases are renewed.
    pub heartbeat_interval_ms: u64,
    /// How often containers whose session is no longer live are removed.
    pub reap_interval_ms: u64,
    /// How long one Docker call of a session may take before the engine
    /// counts as stalled (`sandbox::engine::Engine::with_call_limit`).
    pub docker_call_timeout_ms: u64,
    /// On shutdown, how long running sessions may go on before they are killed.
    pub shutdown_grace_ms: u64,
    /// How long a session no live worker can run (its image is built on
    /// none) stays pending before it ends `image_missing`; 0: forever.
    pub unrunnable_after_ms: u64,
    /// Warm containers kept ready per language (run mode, default limits).
    pub warm_pool: std::collections::BTreeMap<String, usize>,
    /// With no `warm_pool` counts: a pool sized from the host
    /// (`sandbox::warm::auto_size`). `EXECBOX_WARM_POOL` of any value
    /// (counts, `off`, empty) turns this off; `auto` keeps it.
    pub warm_auto: bool,
    /// Idle warm containers are replaced after this long.
    pub warm_ttl_ms: u64,
    /// The warm pool's budget: idle warm containers' memory limits together
    /// stay within this many MB...
    pub warm_memory_mb: u64,
    /// ...and their CPU limits within this many CPUs.
    pub warm_cpus: f64,
}

/// Sandbox limits: defaults and the maxima a session may ask for. See the
/// README's "Resource limits" and `sandbox::policy` for how they apply.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub default_timeout_ms: u64,
    pub max_timeout_ms: u64,
    pub default_memory_mb: u64,
    pub max_memory_mb: u64,
    pub min_memory_mb: u64,
    /// The compile stage's own limits (compilers need more than programs).
    pub default_compile_timeout_ms: u64,
    pub max_compile_timeout_ms: u64,
    pub default_compile_memory_mb: u64,
    pub max_compile_memory_mb: u64,
    /// CPU-time limit of the run stage (user + system of the program and
    /// everything it starts) when a session names none; 0: none (only the
    /// wall clock).
    pub default_cpu_time_ms: u64,
    pub max_cpu_time_ms: u64,
    /// The compile stage's CPU-time limit when a session names none; 0: none.
    pub default_compile_cpu_time_ms: u64,
    pub max_compile_cpu_time_ms: u64,
    /// CPU share of the compile stage (compilers are CPU-bound and short).
    pub compile_cpus: f64,
    /// Benchmark mode: timed repetitions when a session names none, and the most it may ask for.
    pub default_benchmark_runs: u64,
    pub max_benchmark_runs: u64,
    /// Test cases: most cases in one session...
    pub max_cases: usize,
    /// ...a case's wall-clock limit when neither it nor its session names one...
    pub default_case_timeout_ms: u64,
    /// ...the time all of a session's cases (and their checks) may take
    /// together (cases that would not fit are skipped)...
    pub max_cases_time_ms: u64,
    /// ...and a case's stdout + stderr bytes before it is stopped
    /// (`output_limit`).
    pub case_output_bytes: u64,
    /// CPU share as a fraction of one core (0.5 = half a core).
    pub cpus: f64,
    pub pids_limit: i64,
    /// stdout + stderr bytes per session before the program is stopped.
    pub output_limit_bytes: u64,
    /// Longer lines are split into several rows.
    pub max_line_bytes: usize,
    /// Size of the writable /tmp tmpfs.
    pub tmp_size_mb: u64,
    /// Size of the writable /work tmpfs holding the submitted files.
    pub work_size_mb: u64,
    /// Open files per process.
    pub nofile: i64,
    /// Largest file a process may write.
    pub max_file_size_mb: i64,
    /// Uid:gid the program runs as (never root's, nor the launcher's
    /// [`LAUNCHER_UID`]).
    pub user: String,
    /// The wall every session gets unless its runtime says otherwise
    /// (`EXECBOX_ISOLATION`).
    pub isolation: Isolation,
    /// The name gVisor's `runsc` is registered under in the engine's
    /// `daemon.json` (`EXECBOX_GVISOR_RUNTIME`).
    pub gvisor_runtime: String,
    /// The wall of anonymous callers' sessions (open Piston mode), when it
    /// is to be stronger than every other session's
    /// (`EXECBOX_ANONYMOUS_ISOLATION`).
    pub anonymous_isolation: Option<Isolation>,
    /// Loosening: give containers the default bridge network. Off by default.
    pub allow_network: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: Secret::new("postgres://postgres@localhost:5432/postgres"),
            database_ca_file: None,
            database_statements: Statements::default(),
            docker_host: String::new(),
            runtimes_file: None,
            worker: WorkerConfig::default(),
            limits: Limits::default(),
            api: ApiConfig::default(),
        }
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            id: String::new(),
            max_concurrent_runs: 8,
            poll_interval_ms: 2_000,
            fallback_poll_ms: 250,
            lease_ms: 30_000,
            heartbeat_interval_ms: 5_000,
            reap_interval_ms: 30_000,
            docker_call_timeout_ms: 10_000,
            shutdown_grace_ms: 30_000,
            unrunnable_after_ms: 60_000,
            warm_pool: Default::default(),
            warm_auto: true,
            warm_ttl_ms: 300_000,
            warm_memory_mb: 2_048,
            warm_cpus: 4.0,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            default_timeout_ms: 300_000,
            max_timeout_ms: 300_000,
            default_memory_mb: 512,
            max_memory_mb: 512,
            min_memory_mb: 16,
            default_compile_timeout_ms: 30_000,
            max_compile_timeout_ms: 120_000,
            default_compile_memory_mb: 1024,
            max_compile_memory_mb: 2048,
            default_cpu_time_ms: 0,
            max_cpu_time_ms: 300_000,
            default_compile_cpu_time_ms: 0,
            max_compile_cpu_time_ms: 120_000,
            compile_cpus: 1.0,
            default_benchmark_runs: 100,
            max_benchmark_runs: 1000,
            max_cases: 1000,
            default_case_timeout_ms: 10_000,
            max_cases_time_ms: 300_000,
            case_output_bytes: 1024 * 1024,
            cpus: 0.5,
            pids_limit: 64,
            output_limit_bytes: 1024 * 1024,
            max_line_bytes: 16 * 1024,
            tmp_size_mb: 64,
            work_size_mb: 16,
            nofile: 256,
            max_file_size_mb: 64,
            user: "65534:65534".into(),
            isolation: Isolation::Runc,
            gvisor_runtime: "runsc".into(),
            anonymous_isolation: None,
            allow_network: false,
        }
    }
}

impl Limits {
    /// The engine's name of the OCI runtime that builds `wall`.
    pub fn oci_runtime(&self, wall: Isolation) -> &str {
        match wall {
            Isolation::Runc => "runc",
            Isolation::Gvisor => &self.gvisor_runtime,
        }
    }
}

impl WorkerConfig {
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }
    pub fn fallback_poll(&self) -> Duration {
        Duration::from_millis(self.fallback_poll_ms)
    }
    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
    }
    /// None: sessions no live worker can run wait forever.
    pub fn unrunnable_after(&self) -> Option<Duration> {
        (self.unrunnable_after_ms > 0).then(|| Duration::from_millis(self.unrunnable_after_ms))
    }
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval_ms)
    }
    pub fn reap_interval(&self) -> Duration {
        Duration::from_millis(self.reap_interval_ms)
    }
    pub fn warm_ttl(&self) -> Duration {
        Duration::from_millis(self.warm_ttl_ms)
    }
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

impl Config {
    /// Defaults, then the TOML file named by `EXECBOX_CONFIG` (if any), then
    /// `EXECBOX_*` and `DATABASE_URL` from the environment.
    pub fn load() -> anyhow::Result<Config> {
        Self::load_from(|k| std::env::var(k).ok())
    }

    /// As [`Config::load`], reading variables through `env` (tests pass a map).
    pub fn load_from(env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Config> {
        let mut cfg = match env("EXECBOX_CONFIG").filter(|p| !p.is_empty()) {
            Some(path) => {
                let text =
                    std::fs::read_to_string(&path).with_context(|| format!("EXECBOX_CONFIG: cannot read {path}"))?;
                toml::from_str(&text)
                    .with_context(|| format!("EXECBOX_CONFIG: {path} is not a valid execbox config"))?
            }
            None => Config::default(),
        };
        let e = Env(&env);
        e.set("DATABASE_URL", &mut cfg.database_url)?;
        e.set("EXECBOX_DOCKER_HOST", &mut cfg.docker_host)?;
        if let Some(v) = env("EXECBOX_RUNTIMES").filter(|v| !v.is_empty()) {
            cfg.runtimes_file = Some(PathBuf::from(v));
        }
        if let Some(v) = env("EXECBOX_DATABASE_CA_FILE").filter(|v| !v.is_empty()) {
            cfg.database_ca_file = Some(PathBuf::from(v));
        }
        e.set("EXECBOX_DB_STATEMENTS", &mut cfg.database_statements)?;
        let w = &mut cfg.worker;
        e.set("EXECBOX_WORKER_ID", &mut w.id)?;
        e.set("EXECBOX_MAX_CONCURRENT_RUNS", &mut w.max_concurrent_runs)?;
        e.set("EXECBOX_POLL_INTERVAL_MS", &mut w.poll_interval_ms)?;
        e.set("EXECBOX_FALLBACK_POLL_MS", &mut w.fallback_poll_ms)?;
        e.set("EXECBOX_LEASE_MS", &mut w.lease_ms)?;
        e.set("EXECBOX_HEARTBEAT_INTERVAL_MS", &mut w.heartbeat_interval_ms)?;
        e.set("EXECBOX_REAP_INTERVAL_MS", &mut w.reap_interval_ms)?;
        e.set("EXECBOX_DOCKER_CALL_TIMEOUT_MS", &mut w.docker_call_timeout_ms)?;
        e.set("EXECBOX_SHUTDOWN_GRACE_MS", &mut w.shutdown_grace_ms)?;
        e.set("EXECBOX_UNRUNNABLE_AFTER_MS", &mut w.unrunnable_after_ms)?;
        e.set("EXECBOX_WARM_TTL_MS", &mut w.warm_ttl_ms)?;
        e.set("EXECBOX_WARM_POOL_MEMORY_MB", &mut w.warm_memory_mb)?;
        e.set("EXECBOX_WARM_POOL_CPUS", &mut w.warm_cpus)?;
        if let Some(v) = env("EXECBOX_WARM_POOL") {
            w.warm_pool.clear();
            w.warm_auto = v.trim().eq_ignore_ascii_case("auto");
            let counts = if w.warm_auto || v.trim().eq_ignore_ascii_case("off") { "" } else { v.as_str() };
            for part in counts.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (lang, n) = part
                    .split_once('=')
                    .with_context(|| format!("EXECBOX_WARM_POOL: {part:?} is not language=count"))?;
                let n: usize =
                    n.trim().parse().with_context(|| format!("EXECBOX_WARM_POOL: {part:?} is not language=count"))?;
                w.warm_pool.insert(lang.trim().to_string(), n);
            }
        }
        let l = &mut cfg.limits;
        e.set("EXECBOX_DEFAULT_TIMEOUT_MS", &mut l.default_timeout_ms)?;
        e.set("EXECBOX_MAX_TIMEOUT_MS", &mut l.max_timeout_ms)?;
        e.set("EXECBOX_DEFAULT_MEMORY_MB", &mut l.default_memory_mb)?;
        e.set("EXECBOX_MAX_MEMORY_MB", &mut l.max_memory_mb)?;
        e.set("EXECBOX_DEFAULT_COMPILE_TIMEOUT_MS", &mut l.default_compile_timeout_ms)?;
        e.set("EXECBOX_MAX_COMPILE_TIMEOUT_MS", &mut l.max_compile_timeout_ms)?;
        e.set("EXECBOX_DEFAULT_COMPILE_MEMORY_MB", &mut l.default_compile_memory_mb)?;
        e.set("EXECBOX_MAX_COMPILE_MEMORY_MB", &mut l.max_compile_memory_mb)?;
        e.set("EXECBOX_DEFAULT_CPU_TIME_MS", &mut l.default_cpu_time_ms)?;
        e.set("EXECBOX_MAX_CPU_TIME_MS", &mut l.max_cpu_time_ms)?;
        e.set("EXECBOX_DEFAULT_COMPILE_CPU_TIME_MS", &mut l.default_compile_cpu_time_ms)?;
        e.set("EXECBOX_MAX_COMPILE_CPU_TIME_MS", &mut l.max_compile_cpu_time_ms)?;
        e.set("EXECBOX_MAX_BENCHMARK_RUNS", &mut l.max_benchmark_runs)?;
        e.set("EXECBOX_MAX_CASES", &mut l.max_cases)?;
        e.set("EXECBOX_DEFAULT_CASE_TIMEOUT_MS", &mut l.default_case_timeout_ms)?;
        e.set("EXECBOX_MAX_CASES_TIME_MS", &mut l.max_cases_time_ms)?;
        e.set("EXECBOX_CASE_OUTPUT_BYTES", &mut l.case_output_bytes)?;
        e.set("EXECBOX_CPUS", &mut l.cpus)?;
        e.set("EXECBOX_COMPILE_CPUS", &mut l.compile_cpus)?;
        e.set("EXECBOX_PIDS_LIMIT", &mut l.pids_limit)?;
        e.set("EXECBOX_OUTPUT_LIMIT_BYTES", &mut l.output_limit_bytes)?;
        e.set("EXECBOX_MAX_LINE_BYTES", &mut l.max_line_bytes)?;
        e.set("EXECBOX_TMP_SIZE_MB", &mut l.tmp_size_mb)?;
        if env("EXECBOX_OCI_RUNTIME").is_some_and(|v| !v.trim().is_empty()) {
            bail!(
                "EXECBOX_OCI_RUNTIME is replaced by EXECBOX_ISOLATION=gvisor (and EXECBOX_GVISOR_RUNTIME=<name> \
                 when the engine registers runsc under another name); it is not read, so that no deployment \
                 runs under a weaker wall than it asked for"
            );
        }
        e.set("EXECBOX_ISOLATION", &mut l.isolation)?;
        e.set("EXECBOX_GVISOR_RUNTIME", &mut l.gvisor_runtime)?;
        e.set_opt("EXECBOX_ANONYMOUS_ISOLATION", &mut l.anonymous_isolation)?;
        e.set("EXECBOX_ALLOW_NETWORK", &mut l.allow_network)?;
        let a = &mut cfg.api;
        e.set("EXECBOX_LISTEN", &mut a.listen)?;
        e.set_opt("SUPABASE_URL", &mut a.supabase_url)?;
        e.set_opt("SUPABASE_JWT_SECRET", &mut a.jwt_secret)?;
        e.set_opt("EXECBOX_JWT_ISSUER", &mut a.jwt_issuer)?;
        e.set("EXECBOX_AUTH_ONLINE_CHECK", &mut a.online_check)?;
        e.set_opt("SUPABASE_ANON_KEY", &mut a.supabase_anon_key)?;
        e.set("EXECBOX_JWKS_REFETCH_MIN_INTERVAL_MS", &mut a.jwks_refetch_min_interval_ms)?;
        if let Some(v) = env("EXECBOX_CORS_ORIGINS") {
            a.cors_origins = v.split(',').map(|o| o.trim().to_string()).filter(|o| !o.is_empty()).collect();
        }
        e.set("EXECBOX_MAX_BODY_BYTES", &mut a.max_body_bytes)?;
        e.set("EXECBOX_API_DB_POOL_SIZE", &mut a.db_pool_size)?;
        e.set("EXECBOX_API_QUEUE_WAIT_MS", &mut a.queue_wait_ms)?;
        e.set("EXECBOX_MAX_ACTIVE_SESSIONS_PER_USER", &mut a.max_active_sessions_per_user)?;
        e.set("EXECBOX_RATE_LIMIT_PER_MINUTE", &mut a.rate_limit_per_minute)?;
        e.set("EXECBOX_PISTON_AUTH", &mut a.piston_auth)?;
        e.set("EXECBOX_PISTON_IP_RATE_PER_MINUTE", &mut a.piston_ip_rate_per_minute)?;
        e.set("EXECBOX_PISTON_IP_MAX_ACTIVE", &mut a.piston_ip_max_active)?;
        e.set("EXECBOX_PLAYGROUND", &mut a.playground)?;
        cfg.finish()
    }

    /// Fills derived defaults and rejects settings that cannot work.
    pub fn finish(mut self) -> anyhow::Result<Config> {
        if self.worker.id.is_empty() {
            self.worker.id = default_worker_id();
        }
        let w = &self.worker;
        let l = &self.limits;
        if w.max_concurrent_runs == 0 {
            bail!("EXECBOX_MAX_CONCURRENT_RUNS must be at least 1");
        }
        if w.heartbeat_interval_ms == 0 || w.heartbeat_interval_ms * 2 > w.lease_ms {
            bail!(
                "EXECBOX_HEARTBEAT_INTERVAL_MS ({}) must be positive and at most half of EXECBOX_LEASE_MS ({})",
                w.heartbeat_interval_ms,
                w.lease_ms
            );
        }
        if !(w.warm_cpus.is_finite() && w.warm_cpus >= 0.0) {
            bail!("EXECBOX_WARM_POOL_CPUS must be a number of CPUs, 0 or more");
        }
        if w.docker_call_timeout_ms == 0 {
            bail!("EXECBOX_DOCKER_CALL_TIMEOUT_MS must be positive");
        }
        if w.poll_interval_ms == 0 || w.reap_interval_ms == 0 || w.fallback_poll_ms == 0 {
            bail!("EXECBOX_POLL_INTERVAL_MS, EXECBOX_FALLBACK_POLL_MS and EXECBOX_REAP_INTERVAL_MS must be positive");
        }
        if l.default_timeout_ms == 0 || l.default_timeout_ms > l.max_timeout_ms {
            bail!("EXECBOX_DEFAULT_TIMEOUT_MS must be between 1 and EXECBOX_MAX_TIMEOUT_MS");
        }
        if l.default_memory_mb < l.min_memory_mb || l.default_memory_mb > l.max_memory_mb {
            bail!("EXECBOX_DEFAULT_MEMORY_MB must be between {} and EXECBOX_MAX_MEMORY_MB", l.min_memory_mb);
        }
        if l.default_compile_timeout_ms == 0 || l.default_compile_timeout_ms > l.max_compile_timeout_ms {
            bail!("EXECBOX_DEFAULT_COMPILE_TIMEOUT_MS must be between 1 and EXECBOX_MAX_COMPILE_TIMEOUT_MS");
        }
        if l.default_compile_memory_mb < l.min_memory_mb || l.default_compile_memory_mb > l.max_compile_memory_mb {
            bail!(
                "EXECBOX_DEFAULT_COMPILE_MEMORY_MB must be between {} and EXECBOX_MAX_COMPILE_MEMORY_MB",
                l.min_memory_mb
            );
        }
        if l.default_cpu_time_ms > l.max_cpu_time_ms || l.default_compile_cpu_time_ms > l.max_compile_cpu_time_ms {
            bail!("EXECBOX_DEFAULT_CPU_TIME_MS and EXECBOX_DEFAULT_COMPILE_CPU_TIME_MS may not exceed their maxima");
        }
        if l.default_benchmark_runs == 0 || l.default_benchmark_runs > l.max_benchmark_runs {
            bail!("EXECBOX_MAX_BENCHMARK_RUNS must be at least the default of {} runs", l.default_benchmark_runs);
        }
        if l.max_cases == 0 || l.max_cases > 10_000 {
            bail!("EXECBOX_MAX_CASES must be between 1 and 10000");
        }
        if l.default_case_timeout_ms == 0 || l.default_case_timeout_ms > l.max_timeout_ms {
            bail!("EXECBOX_DEFAULT_CASE_TIMEOUT_MS must be between 1 and EXECBOX_MAX_TIMEOUT_MS");
        }
        if l.max_cases_time_ms < l.default_case_timeout_ms {
            bail!("EXECBOX_MAX_CASES_TIME_MS must be at least EXECBOX_DEFAULT_CASE_TIMEOUT_MS");
        }
        if l.case_output_bytes < 1024 {
            bail!("EXECBOX_CASE_OUTPUT_BYTES must be at least 1024");
        }
        let cores = |c: f64| c > 0.0 && c <= 64.0;
        if !cores(l.cpus) || !cores(l.compile_cpus) {
            bail!("EXECBOX_CPUS and EXECBOX_COMPILE_CPUS must be positive numbers of cores");
        }
        if l.pids_limit < 8 {
            bail!("EXECBOX_PIDS_LIMIT must be at least 8");
        }
        if !program_identity(&l.user) {
            bail!(
                "limits.user must be UID:GID, numbers, neither 0 (root) nor uid {LAUNCHER_UID} (the launcher's), got {:?}",
                l.user
            );
        }
        if l.max_line_bytes < 64 {
            bail!("EXECBOX_MAX_LINE_BYTES must be at least 64");
        }
        let a = &self.api;
        if a.online_check && (a.supabase_url.is_none() || a.supabase_anon_key.is_none()) {
            bail!("EXECBOX_AUTH_ONLINE_CHECK needs SUPABASE_URL and SUPABASE_ANON_KEY");
        }
        if a.db_pool_size == 0 {
            bail!("EXECBOX_API_DB_POOL_SIZE must be at least 1");
        }
        if a.max_body_bytes < 1024 {
            bail!("EXECBOX_MAX_BODY_BYTES must be at least 1024");
        }
        if a.rate_limit_per_minute == 0 || a.max_active_sessions_per_user < 1 {
            bail!("EXECBOX_RATE_LIMIT_PER_MINUTE and EXECBOX_MAX_ACTIVE_SESSIONS_PER_USER must be at least 1");
        }
        if l.tmp_size_mb == 0 || l.work_size_mb == 0 {
            bail!("EXECBOX_TMP_SIZE_MB and work_size_mb must be positive");
        }
        Ok(self)
    }
}

/// The uid the sandbox's launcher takes (images/launcher/launcher.c's
/// `LAUNCHER_ID`): the program's must differ, so that it cannot signal the
/// launcher or reach its stdio.
pub const LAUNCHER_UID: u32 = 65533;

/// `UID:GID` of numbers, neither root's nor the launcher's uid.
fn program_identity(user: &str) -> bool {
    let Some((uid, gid)) = user.split_once(':') else { return false };
    match (uid.parse::<u32>(), gid.parse::<u32>()) {
        (Ok(uid), Ok(gid)) => uid != 0 && gid != 0 && uid != LAUNCHER_UID,
        _ => false,
    }
}

/// How parameterised statements travel to PostgreSQL (`db::sql` sends
/// them; see there for why unnamed is the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Statements {
    /// Unnamed until notifications are seen to arrive (no transaction
    /// pooler is in between), prepared from then on.
    #[default]
    Auto,
    /// Unnamed, parsed with each execution: works through any pooler.
    Unnamed,
    /// Prepared once per pooled connection and reused: only for a direct
    /// or session-pooled address.
    Prepared,
}

impl Statements {
    pub fn as_str(self) -> &'static str {
        match self {
            Statements::Auto => "auto",
            Statements::Unnamed => "unnamed",
            Statements::Prepared => "prepared",
        }
    }
}

impl std::str::FromStr for Statements {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Statements::Auto),
            "unnamed" => Ok(Statements::Unnamed),
            "prepared" => Ok(Statements::Prepared),
            other => Err(format!("{other:?} is not \"auto\", \"unnamed\" or \"prepared\"")),
        }
    }
}

struct Env<'a, F: Fn(&str) -> Option<String>>(&'a F);

impl<F: Fn(&str) -> Option<String>> Env<'_, F> {
    /// An optional setting: set and non-empty means Some.
    fn set_opt<T: FromEnv>(&self, name: &str, slot: &mut Option<T>) -> anyhow::Result<()> {
        if let Some(raw) = (self.0)(name).filter(|v| !v.trim().is_empty()) {
            *slot = Some(
                T::from_env(raw.trim())
                    .with_context(|| format!("{name}: cannot use the value set in the environment"))?,
            );
        }
        Ok(())
    }

    fn set<T: FromEnv>(&self, name: &str, slot: &mut T) -> anyhow::Result<()> {
        if let Some(raw) = (self.0)(name) {
            *slot = T::from_env(raw.trim())
                .with_context(|| format!("{name}: cannot use the value set in the environment"))?;
        }
        Ok(())
    }
}

trait FromEnv: Sized {
    fn from_env(s: &str) -> anyhow::Result<Self>;
}

macro_rules! from_env_via_parse {
    ($($t:ty),*) => {$(
        impl FromEnv for $t {
            fn from_env(s: &str) -> anyhow::Result<Self> {
                s.parse::<$t>().map_err(|e| anyhow::anyhow!("{e} (got {s:?})"))
            }
        }
    )*};
}
from_env_via_parse!(u64, i64, u32, usize, f64, Statements, Isolation);

impl FromEnv for bool {
    fn from_env(s: &str) -> anyhow::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" | "" => Ok(false),
            _ => bail!("expected true or false (got {s:?})"),
        }
    }
}

impl FromEnv for PistonAuth {
    fn from_env(s: &str) -> anyhow::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "token" => Ok(PistonAuth::Token),
            "none" => Ok(PistonAuth::None),
            _ => bail!("expected token or none (got {s:?})"),
        }
    }
}

impl FromEnv for String {
    fn from_env(s: &str) -> anyhow::Result<Self> {
        Ok(s.to_string())
    }
}

impl FromEnv for Secret {
    fn from_env(s: &str) -> anyhow::Result<Self> {
        Ok(Secret::new(s))
    }
}

fn default_worker_id() -> String {
    let host = hostname::get().map(|h| h.to_string_lossy().into_owned()).unwrap_or_else(|_| "worker".into());
    let rand = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &rand[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> anyhow::Result<Config> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::load_from(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_the_seed_limits() {
        let c = load(&[]).unwrap();
        assert_eq!(c.limits.default_memory_mb, 512);
        assert_eq!(c.limits.cpus, 0.5);
        assert_eq!(c.limits.default_timeout_ms, 300_000);
        assert!(!c.limits.allow_network);
        assert!(!c.worker.id.is_empty());
    }

    #[test]
    fn the_program_never_runs_as_root_or_as_the_launcher() {
        #[rustfmt::skip]
        let table = [
            ("65534:65534", true), ("1000:1000", true),
            ("0:0", false), ("0:65534", false), ("65534:0", false),
            ("65533:65533", false), ("nobody", false), ("65534", false), ("-1:5", false), ("1:2:3", false), ("", false),
        ];
        for (user, ok) in table {
            assert_eq!(program_identity(user), ok, "{user:?}");
        }
    }

    #[test]
    fn parse_errors_name_the_variable() {
        let err = load(&[("EXECBOX_MAX_CONCURRENT_RUNS", "lots")]).unwrap_err();
        assert!(format!("{err:#}").contains("EXECBOX_MAX_CONCURRENT_RUNS"), "{err:#}");
        let err = load(&[("EXECBOX_ALLOW_NETWORK", "maybe")]).unwrap_err();
        assert!(format!("{err:#}").contains("EXECBOX_ALLOW_NETWORK"), "{err:#}");
    }

    #[test]
    fn the_wall_is_a_typed_choice_and_the_old_setting_is_refused() {
        assert_eq!(load(&[]).unwrap().limits.isolation, Isolation::Runc);
        let c = load(&[("EXECBOX_ISOLATION", "gvisor"), ("EXECBOX_GVISOR_RUNTIME", "runsc-kvm")]).unwrap();
        assert_eq!((c.limits.isolation, c.limits.oci_runtime(Isolation::Gvisor)), (Isolation::Gvisor, "runsc-kvm"));
        assert_eq!(c.limits.oci_runtime(Isolation::Runc), "runc");
        let err = format!("{:#}", load(&[("EXECBOX_ISOLATION", "firecracker")]).unwrap_err());
        assert!(err.contains("EXECBOX_ISOLATION"), "{err}");
        // A deployment that asked for gVisor the old way is not quietly run under runc.
        let err = format!("{:#}", load(&[("EXECBOX_OCI_RUNTIME", "runsc")]).unwrap_err());
        assert!(err.contains("EXECBOX_ISOLATION=gvisor"), "{err}");
    }

    #[test]
    fn secrets_are_not_printed() {
        let c = load(&[("DATABASE_URL", "postgres://u:hunter2@h/db")]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.database_url.expose(), "postgres://u:hunter2@h/db");
    }

    #[test]
    fn toml_file_then_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("execbox.toml");
        std::fs::write(&path, "[limits]\nmax_timeout_ms = 600000\ndefault_timeout_ms = 1000\n").unwrap();
        let p = path.to_str().unwrap();
        let c = load(&[("EXECBOX_CONFIG", p), ("EXECBOX_DEFAULT_TIMEOUT_MS", "2000")]).unwrap();
        assert_eq!(c.limits.max_timeout_ms, 600_000);
        assert_eq!(c.limits.default_timeout_ms, 2000);
        std::fs::write(&path, "[limits]\nmax_timout_ms = 1\n").unwrap();
        assert!(format!("{:#}", load(&[("EXECBOX_CONFIG", p)]).unwrap_err()).contains("max_timout_ms"));
    }

    #[test]
    fn warm_pool_and_its_budget() {
        let c = load(&[
            ("EXECBOX_WARM_POOL", "python=2, node=1"),
            ("EXECBOX_WARM_POOL_MEMORY_MB", "1024"),
            ("EXECBOX_WARM_POOL_CPUS", "1.5"),
        ])
        .unwrap();
        assert_eq!(c.worker.warm_pool.get("python"), Some(&2));
        assert_eq!(c.worker.warm_pool.get("node"), Some(&1));
        assert_eq!((c.worker.warm_memory_mb, c.worker.warm_cpus), (1024, 1.5));
        assert!(!c.worker.warm_auto, "counts given: exactly those");
        // (setting, counts, sized from the host)
        let table: &[(Option<&str>, usize, bool)] =
            &[(None, 0, true), (Some("auto"), 0, true), (Some("off"), 0, false), (Some(""), 0, false)];
        for (setting, n, auto) in table {
            let vars: Vec<(&str, &str)> = setting.iter().map(|v| ("EXECBOX_WARM_POOL", *v)).collect();
            let w = load(&vars).unwrap().worker;
            assert_eq!((w.warm_pool.len(), w.warm_auto), (*n, *auto), "{setting:?}");
        }
        let err = load(&[("EXECBOX_WARM_POOL", "python")]).unwrap_err();
        assert!(format!("{err:#}").contains("EXECBOX_WARM_POOL"), "{err:#}");
        let err = load(&[("EXECBOX_WARM_POOL_CPUS", "-1")]).unwrap_err();
        assert!(format!("{err:#}").contains("EXECBOX_WARM_POOL_CPUS"), "{err:#}");
        let err = load(&[("EXECBOX_WARM_POOL_MEMORY_MB", "lots")]).unwrap_err();
        assert!(format!("{err:#}").contains("EXECBOX_WARM_POOL_MEMORY_MB"), "{err:#}");
    }

    #[test]
    fn impossible_settings_are_refused() {
        assert!(load(&[("EXECBOX_DEFAULT_TIMEOUT_MS", "900000")]).is_err());
        assert!(load(&[("EXECBOX_LEASE_MS", "1000"), ("EXECBOX_HEARTBEAT_INTERVAL_MS", "900")]).is_err());
    }
}
