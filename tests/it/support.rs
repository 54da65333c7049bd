//! Shared helpers: a real PostgreSQL cluster (started by the same code as
//! `execbox dev` unless EXECBOX_TEST_PG names one), a fresh
//! database per test cloned from a template that has the Supabase fixture
//! and the migrations, real in-process workers, and the frontend's way of
//! writing (SET LOCAL ROLE authenticated + request.jwt.claims), and the
//! warm pool's containers as Docker lists them.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use execbox::config::{Config, Secret};
use execbox::model::Request;
pub use execbox::model::{EndReason, Level, SessionStatus, Stream};
use execbox::runtimes::Runtimes;
pub use execbox::worker::ClaimPass;
use execbox::worker::Steps;
use tokio::sync::watch;
use tokio_postgres::{Client, NoTls};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Admin URL of the test cluster: EXECBOX_TEST_PG, or a cluster of the
/// machine's PostgreSQL binaries kept in target/ (started once, reused by
/// later runs; the same code as `execbox dev` uses).
pub fn admin_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(u) = std::env::var("EXECBOX_TEST_PG") {
            return u;
        }
        let port = std::env::var("EXECBOX_TEST_PG_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(54329);
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-pg");
        let cluster = execbox::dev::cluster::Cluster::new(&dir, port).expect("PostgreSQL binaries for the tests");
        cluster.start().expect("start the test cluster");
        cluster.url()
    })
}

pub async fn connect(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap_or_else(|e| panic!("connect {url}: {e}"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// A connection holding the lock under which the suite changes what is
/// cluster-wide (roles, the template database): the fixture's and the
/// migrations' role statements, run in two databases at once, fail with
/// "tuple concurrently updated". Released when dropped.
pub async fn cluster_lock() -> Client {
    let admin = connect(admin_url()).await;
    admin.execute("select pg_advisory_lock(4242)", &[]).await.unwrap();
    admin
}

fn url_for(db: &str) -> String {
    let base = admin_url();
    let (prefix, _) = base.rsplit_once('/').unwrap();
    format!("{prefix}/{db}")
}

/// Name of the template database for the current fixture + migrations.
fn template_name() -> String {
    let mut h = DefaultHasher::new();
    execbox::db::migrate::SUPABASE_FIXTURE.hash(&mut h);
    execbox::db::migrate::embedded().hash(&mut h);
    format!("execbox_tmpl_{:016x}", h.finish())
}

/// This run's databases are named `execbox_test_<run>_<id>`; earlier runs'
/// are dropped by [`drop_earlier_runs`].
fn test_db_name() -> String {
    static RUN: OnceLock<String> = OnceLock::new();
    let run = RUN.get_or_init(|| {
        let run = Uuid::new_v4().simple().to_string()[..8].to_string();
        drop_earlier_runs(&run);
        run
    });
    format!("execbox_test_{run}_{}", Uuid::new_v4().simple())
}

/// Drops, in the background, the test databases and templates that earlier
/// runs left in a reused cluster (every test database stays for its run, to
/// be looked at after a failure; without this a developer's cluster grows
/// by hundreds of databases a run). One still in use is left alone: DROP
/// DATABASE refuses it.
fn drop_earlier_runs(run: &str) {
    let (url, ours, template) = (admin_url().to_string(), format!("execbox_test_{run}_"), template_name());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let admin = connect(&url).await;
            let Ok(rows) = admin
                .query(
                    "select datname from pg_database
                     where datname ~ '^execbox_(test|tmpl)_' and left(datname, length($1)) <> $1
                       and datname not in ($2::text, $2::text || '_building')",
                    &[&ours, &template],
                )
                .await
            else {
                return;
            };
            for row in rows {
                let name: String = row.get(0);
                let _ = admin.batch_execute(&format!("drop database if exists \"{name}\"")).await;
            }
        });
    });
}

/// A fresh database with the Supabase fixture and all migrations.
pub struct TestDb {
    pub url: String,
}

impl TestDb {
    pub async fn new() -> TestDb {
        init_tracing();
        let admin = cluster_lock().await;
        let tmpl = template_name();
        let exists = admin.query_opt("select 1 from pg_database where datname = $1", &[&tmpl]).await.unwrap().is_some();
        if !exists {
            let building = format!("{tmpl}_building");
            admin.batch_execute(&format!("drop database if exists {building}")).await.unwrap();
            admin.batch_execute(&format!("create database {building}")).await.unwrap();
            {
                let mut c = connect(&url_for(&building)).await;
                execbox::db::migrate::apply_fixture(&c).await.unwrap();
                execbox::db::migrate::run(&mut c).await.unwrap();
            }
            admin.batch_execute(&format!("alter database {building} rename to {tmpl}")).await.unwrap();
        }
        // The login roles workers and API nodes connect as (roles belong to
        // the cluster: made once, by the first test to get here).
        for (login, role) in [(WORKER_ROLE, "execbox_worker"), (API_ROLE, "execbox_api")] {
            admin
                .batch_execute(&format!(
                    "do $$ begin create role {login} login in role {role}; exception when duplicate_object then null; end $$"
                ))
                .await
                .unwrap();
        }
        drop(admin);
        let admin = connect(admin_url()).await;
        let name = test_db_name();
        admin.batch_execute(&format!("create database {name} template {tmpl}")).await.unwrap();
        TestDb { url: url_for(&name) }
    }

    /// An empty database (no fixture, no migrations).
    pub async fn empty() -> TestDb {
        let admin = connect(admin_url()).await;
        let name = test_db_name();
        admin.batch_execute(&format!("create database {name}")).await.unwrap();
        TestDb { url: url_for(&name) }
    }

    /// A database with the Supabase stand-in and no migration applied (what
    /// a new Supabase project has).
    pub async fn with_fixture() -> TestDb {
        let db = TestDb::empty().await;
        let _cluster = cluster_lock().await;
        execbox::db::migrate::apply_fixture(&db.client().await).await.unwrap();
        db
    }

    /// The database as a worker connects to it: as a login role with only
    /// execbox_worker's grants.
    pub fn worker_url(&self) -> String {
        as_role(&self.url, WORKER_ROLE)
    }

    /// The database as an API node connects to it: as a login role with
    /// only execbox_api's grants.
    pub fn api_url(&self) -> String {
        as_role(&self.url, API_ROLE)
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        self.url.rsplit('/').next().unwrap()
    }

    /// Terminates every connection to this database but the caller's, as a
    /// database restart or a network cut would.
    pub async fn cut_connections(&self) -> i64 {
        let admin = connect(admin_url()).await;
        let row = admin
            .query_one(
                "select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
                &[&self.name()],
            )
            .await
            .unwrap();
        row.get(0)
    }

    pub async fn client(&self) -> Client {
        connect(&self.url).await
    }

    /// A user in auth.users.
    pub async fn user(&self) -> Uuid {
        let id = Uuid::new_v4();
        self.client()
            .await
            .execute(
                "insert into auth.users (id, aud, role, email) values ($1, 'authenticated', 'authenticated', $2)",
                &[&id, &format!("{id}@example.test")],
            )
            .await
            .unwrap();
        id
    }

    /// Inserts a session the way a frontend does (RLS applies).
    pub async fn submit(&self, user: Uuid, language: &str, code: &str) -> Uuid {
        self.submit_with(user, language, code, None, None, None).await
    }

    pub async fn submit_with(
        &self,
        user: Uuid,
        language: &str,
        code: &str,
        stdin: Option<&str>,
        timeout_ms: Option<i32>,
        memory_mb: Option<i32>,
    ) -> Uuid {
        let req = Request {
            language: language.into(),
            code: code.into(),
            stdin: stdin.map(String::from),
            timeout_ms,
            memory_limit_mb: memory_mb,
            ..Default::default()
        };
        self.insert(user, &req).await
    }

    /// Inserts any session request as `user` (SET LOCAL ROLE authenticated +
    /// claims, so RLS and the column grants apply as to a frontend).
    pub async fn insert(&self, user: Uuid, req: &Request) -> Uuid {
        let mut c = self.client().await;
        execbox::db::user::submit(&mut c, user, req).await.unwrap_or_else(|e| panic!("insert refused: {e:?}"))
    }

    pub async fn session(&self, id: Uuid) -> Session {
        let r = self
            .client()
            .await
            .query_one(
                "select status, exit_code, error, attempt, started_at is not null, finished_at is not null,
                        cancel_requested_at is not null, end_reason from backend_execution_sessions where id = $1",
                &[&id],
            )
            .await
            .unwrap();
        Session {
            status: r.get(0),
            exit_code: r.get(1),
            error: r.get(2),
            attempt: r.get(3),
            started: r.get(4),
            finished: r.get(5),
            cancel_requested: r.get(6),
            end_reason: r.get(7),
        }
    }

    /// Waits until the session reaches a terminal status.
    pub async fn wait_done(&self, id: Uuid, within: Duration) -> Session {
        self.wait_until(id, within, |s| s.status.is_done()).await
    }

    pub async fn wait_until(&self, id: Uuid, within: Duration, pred: impl Fn(&Session) -> bool) -> Session {
        let (last, pred) = (std::cell::RefCell::new(None), &pred);
        let found = poll_until(within, || async {
            let s = self.session(id).await;
            if pred(&s) {
                return Some(s);
            }
            *last.borrow_mut() = Some(s);
            None
        })
        .await;
        found.unwrap_or_else(|| panic!("session {id} still {:?} after {within:?}", last.borrow()))
    }

    /// Asks for a cancel of session `id` as its owner `user`, as a frontend
    /// does (RLS applies).
    pub async fn cancel_as(&self, user: Uuid, id: Uuid) {
        let mut c = self.client().await;
        let tx = as_user(&mut c, Some(user)).await;
        let n = tx
            .execute("update backend_execution_sessions set cancel_requested_at = now() where id = $1", &[&id])
            .await
            .unwrap();
        assert_eq!(n, 1, "the owner may cancel {id}");
        tx.commit().await.unwrap();
    }

    /// Log rows in seq order.
    pub async fn logs(&self, id: Uuid) -> Vec<Log> {
        self.client()
            .await
            .query("select seq, stream, level, message from execution_logs where session_id = $1 order by seq", &[&id])
            .await
            .unwrap()
            .into_iter()
            .map(|r| Log { seq: r.get(0), stream: r.get(1), level: r.get(2), message: r.get(3) })
            .collect()
    }

    /// Waits until the program has printed (so it really runs in a container).
    pub async fn wait_output(&self, id: Uuid, within: Duration) {
        self.wait_stdout(id, 1, within).await;
    }

    /// Waits until the program has printed at least `n` lines; returns them.
    pub async fn wait_stdout(&self, id: Uuid, n: usize, within: Duration) -> Vec<String> {
        eventually(&format!("session {id} prints {n} lines"), within, || async {
            let out = self.stdout(id).await;
            (out.len() >= n).then_some(out)
        })
        .await
    }

    /// stdout lines only.
    pub async fn stdout(&self, id: Uuid) -> Vec<String> {
        self.logs(id).await.into_iter().filter(|l| l.stream == Stream::Stdout).map(|l| l.message).collect()
    }

    /// Seconds from the session's start to its end, by the database's clock.
    pub async fn ran_secs(&self, id: Uuid) -> f64 {
        let c = self.client().await;
        c.query_one(
            "select extract(epoch from finished_at - started_at)::float8 from backend_execution_sessions where id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0)
    }

    /// The session's recorded `usage`.
    pub async fn usage(&self, id: Uuid) -> serde_json::Value {
        let c = self.client().await;
        c.query_one("select usage from backend_execution_sessions where id = $1", &[&id]).await.unwrap().get(0)
    }

    pub fn config(&self) -> Config {
        let mut cfg = Config { database_url: Secret::new(self.worker_url()), ..Default::default() };
        cfg.worker.poll_interval_ms = 500;
        cfg.worker.lease_ms = 3_000;
        cfg.worker.heartbeat_interval_ms = 500;
        cfg.worker.reap_interval_ms = 1_000;
        cfg.worker.shutdown_grace_ms = 10_000;
        // Containers as each test asks: no pool sized from the host.
        cfg.worker.warm_auto = false;
        cfg.limits.default_timeout_ms = 30_000;
        // Many compilers share two cores while the suite runs: correctness,
        // not speed, is tested here.
        cfg.limits.default_compile_timeout_ms = cfg.limits.max_compile_timeout_ms;
        cfg
    }

    /// Starts an in-process worker with the test configuration.
    pub fn worker(&self) -> Worker {
        self.worker_with(|_| {})
    }

    pub fn worker_with(&self, tweak: impl FnOnce(&mut Config)) -> Worker {
        let mut cfg = self.config();
        tweak(&mut cfg);
        Worker::start(cfg.finish().expect("valid test config"))
    }
}

/// The login role of the suite's workers (a member of execbox_worker).
pub const WORKER_ROLE: &str = "execbox_test_worker";
/// The login role of the suite's API nodes (a member of execbox_api).
pub const API_ROLE: &str = "execbox_test_api";

/// `url` (the test cluster's, as `postgres`) as the login role `role`.
pub fn as_role(url: &str, role: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let (_, host) = rest.split_once('@').expect("a user in the URL");
    format!("{scheme}://{role}@{host}")
}

/// Begins a transaction as PostgREST does for a request: `authenticated`
/// with the user's claims, or `anon` when `user` is None.
pub async fn as_user(c: &mut Client, user: Option<Uuid>) -> tokio_postgres::Transaction<'_> {
    let tx = c.transaction().await.unwrap();
    let (role, claims) = match user {
        Some(u) => (
            "authenticated",
            serde_json::json!({"sub": u.to_string(), "role": "authenticated", "aud": "authenticated"}),
        ),
        None => ("anon", serde_json::json!({"role": "anon"})),
    };
    tx.batch_execute(&format!("set local role {role}")).await.unwrap();
    tx.execute("select set_config('request.jwt.claims', $1, true)", &[&claims.to_string()]).await.unwrap();
    tx
}

#[derive(Debug, Clone)]
pub struct Session {
    pub status: SessionStatus,
    /// Set with every terminal status, null before (a database check).
    pub end_reason: Option<EndReason>,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    pub attempt: i32,
    pub started: bool,
    pub finished: bool,
    pub cancel_requested: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Log {
    pub seq: i32,
    pub stream: Stream,
    pub level: Level,
    pub message: String,
}

/// A worker running in this process.
pub struct Worker {
    pub shutdown: CancellationToken,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    steps: watch::Receiver<Steps>,
}

/// How long a worker may take to look again (its poll interval and more).
const LOOK: Duration = Duration::from_secs(30);

impl Worker {
    pub fn start(cfg: Config) -> Worker {
        Worker::start_with(cfg, Runtimes::builtin())
    }

    /// A worker with its own runtime table.
    pub fn start_with(cfg: Config, runtimes: Runtimes) -> Worker {
        let shutdown = CancellationToken::new();
        let (tx, steps) = watch::channel(Steps::default());
        let handle =
            tokio::spawn(execbox::worker::run_reporting(Arc::new(cfg), Arc::new(runtimes), shutdown.clone(), tx));
        Worker { shutdown, handle: Some(handle), steps }
    }

    /// What its loop reports.
    pub fn steps(&self) -> &watch::Receiver<Steps> {
        &self.steps
    }

    /// Waits until a claim pass of this worker that begins after this call
    /// has ended as `want` (or a later pass has): the worker looked for
    /// sessions after the caller's moment, and what it did is `want`.
    pub async fn claim_pass(&self, want: ClaimPass) {
        self.claim_pass_since(self.claims_begun(), want).await
    }

    /// The claim passes this worker has begun so far.
    pub fn claims_begun(&self) -> u64 {
        self.steps.borrow().claims_begun
    }

    /// Waits until a claim pass begun after the first `begun` has ended as
    /// `want` (or a later pass has).
    pub async fn claim_pass_since(&self, begun: u64, want: ClaimPass) {
        eventually(&format!("a claim pass ending {want:?}"), LOOK, || {
            let s = *self.steps.borrow();
            async move { (s.claims_ended > begun && s.last_claim == want).then_some(()) }
        })
        .await
    }

    /// Waits until a refill of the warm pool that begins after this call
    /// has ended.
    pub async fn refilled(&self) {
        let begun = self.steps.borrow().fills_begun;
        eventually("a refill of the warm pool", LOOK, || {
            let s = *self.steps.borrow();
            async move { (s.fills_ended > begun).then_some(()) }
        })
        .await
    }

    /// The worker's result when it ends by itself (it refused to go on),
    /// or None when it still runs after `within`.
    pub async fn ended(&mut self, within: Duration) -> Option<anyhow::Result<()>> {
        let handle = self.handle.as_mut().unwrap();
        let result = tokio::time::timeout(within, handle).await.ok()?.unwrap();
        self.handle = None;
        Some(result)
    }

    /// Graceful stop; returns the worker's result.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.handle.take().unwrap().await.unwrap()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Containers (any state) labelled with this session id.
pub async fn containers_of(session: Uuid) -> Vec<String> {
    let out = tokio::process::Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label=execbox.session_id={session}")])
        .output()
        .await
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(String::from).collect()
}

/// Waits until no container of this session is left.
pub async fn wait_no_containers(session: Uuid, within: Duration) {
    eventually(&format!("no container of {session} left"), within, || async {
        containers_of(session).await.is_empty().then_some(())
    })
    .await
}

/// Tests that flood the machine with output (hundreds of thousands of log
/// rows) hold this exclusively; tests whose compilers need the CPU share it.
/// A compiler starved beside a flood would test the machine, not execbox:
/// the suite tests correctness, and speed is the benchmark's business.
static CPU: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Held by a test that floods.
pub async fn flooding() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    CPU.write().await
}

/// Held by a test that runs every language (dozens of compilers and
/// interpreters): alone, like a flood.
pub async fn every_language() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    CPU.write().await
}

/// Held by a test that compiles in many languages at once.
pub async fn compiling() -> tokio::sync::RwLockReadGuard<'static, ()> {
    CPU.read().await
}

/// Enables test logging once (RUST_LOG-style filter in EXECBOX_TEST_LOG).
pub fn init_tracing() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if let Ok(filter) = std::env::var("EXECBOX_TEST_LOG") {
            let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
        }
    });
}

/// Warm containers of this worker: all of them, or only running ones;
/// optionally only of one image.
pub async fn pool_ids_of(worker: &str, all: bool, image: Option<&str>) -> HashSet<String> {
    let mut args = vec![
        "ps".to_string(),
        if all { "-aq" } else { "-q" }.to_string(),
        "--no-trunc".into(),
        "--filter".into(),
        "label=execbox.pool=true".into(),
        "--filter".into(),
        format!("label=execbox.worker_id={worker}"),
    ];
    if let Some(image) = image {
        args.extend(["--filter".to_string(), format!("ancestor={image}")]);
    }
    let out = tokio::process::Command::new("docker").args(&args).output().await.expect("docker ps");
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(String::from).collect()
}

pub async fn pool_ids(worker: &str, all: bool) -> HashSet<String> {
    pool_ids_of(worker, all, None).await
}

/// Warm containers of this worker, idle or in use.
pub async fn pool_containers(worker: &str) -> HashSet<String> {
    pool_ids(worker, true).await
}

/// Waits until `n` warm containers (of `image`, if given) of the worker
/// whose loop reports on `steps` run and are listed in its pool, ready to be
/// taken: the engine reports them running, and then the pool is making
/// none (it lists each one it made before it stops making it).
pub async fn wait_pool_of(
    steps: &watch::Receiver<Steps>,
    worker: &str,
    n: usize,
    image: Option<&str>,
) -> HashSet<String> {
    // Generous: while the suite compiles seven languages, the engine is slow.
    let ids = eventually(&format!("{n} warm containers of {worker}"), Duration::from_secs(180), || async {
        let ids = pool_ids_of(worker, false, image).await;
        (ids.len() >= n).then_some(ids)
    })
    .await;
    eventually(&format!("{worker}'s pool listing what it made"), Duration::from_secs(180), || {
        let making = steps.borrow().warm_making;
        async move { (making == 0).then_some(()) }
    })
    .await;
    ids
}

pub async fn wait_pool(steps: &watch::Receiver<Steps>, worker: &str, n: usize) -> HashSet<String> {
    wait_pool_of(steps, worker, n, None).await
}

/// An image like Python's whose label says an older launcher protocol, as
/// an image an older execbox built does; built (from Python's, in a
/// moment) once per test run.
pub fn older_launcher_image() -> &'static str {
    const IMAGE: &str = "execbox/test-older-launcher:1";
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        use std::io::Write;
        let mut build = std::process::Command::new("docker")
            .args(["build", "-q", "-t", IMAGE, "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let dockerfile = "FROM execbox/python:3.11\nLABEL execbox.launcher.protocol=1\n";
        build.stdin.take().unwrap().write_all(dockerfile.as_bytes()).unwrap();
        assert!(build.wait().unwrap().success(), "docker build of {IMAGE}");
    });
    IMAGE
}

/// A worker whose runtime table names `image` for Python and PyPy instead
/// of theirs: one the engine lacks, say, or a variant of it.
pub fn worker_with_python_image(db: &TestDb, image: &str, tweak: impl FnOnce(&mut Config)) -> Worker {
    let builtin = include_str!("../../runtimes.toml");
    assert!(builtin.contains("\"execbox/python:3.11\""));
    let table = builtin.replace("\"execbox/python:3.11\"", &format!("\"{image}\""));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("runtimes.toml"), table).unwrap();
    let runtimes = Runtimes::load(Some(&dir.path().join("runtimes.toml"))).unwrap();
    let mut cfg = db.config();
    tweak(&mut cfg);
    Worker::start_with(cfg.finish().unwrap(), runtimes)
}

/// A worker with an id of its own (its pool's containers carry it) and the
/// test's settings.
pub fn pooled_worker(db: &TestDb, tweak: impl FnOnce(&mut Config)) -> (Worker, String) {
    let worker_id = format!("warm-{}", Uuid::new_v4().simple());
    let w = db.worker_with(|c| {
        c.worker.id = worker_id.clone();
        tweak(c);
    });
    (w, worker_id)
}

/// The container a session ran in, from its `container_instances` row
/// (written while the program runs).
pub async fn container_of(db: &TestDb, session: Uuid) -> String {
    let c = db.client().await;
    eventually(&format!("a container_instances row for {session}"), Duration::from_secs(30), || async {
        let row = c
            .query_opt("select container_id from container_instances where session_id = $1", &[&session])
            .await
            .unwrap();
        row.map(|r| r.get(0))
    })
    .await
}

/// Waits until the container with this id is gone.
pub async fn wait_container_gone(id: &str, within: Duration) {
    eventually(&format!("container {id} gone"), within, || async {
        let out = tokio::process::Command::new("docker")
            .args(["ps", "-aq", "--no-trunc", "--filter", &format!("id={id}")])
            .output()
            .await
            .expect("docker ps");
        out.stdout.iter().all(u8::is_ascii_whitespace).then_some(())
    })
    .await
}

/// Runs one of the real clients the tests drive (an SDK, a browser driver,
/// a fuzzer) to its end within `within`: its stdout, or a panic naming
/// `what` with everything it printed when it fails or hangs.
pub async fn run_client(mut command: tokio::process::Command, within: Duration, what: &str) -> String {
    let child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{what} did not start: {e}"));
    let out = tokio::time::timeout(within, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not end within {within:?}"))
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{what} failed ({}):\n{stdout}\n{stderr}", out.status);
    stdout.into_owned()
}

/// Waits until `check` answers `Some`, asking again every 50 ms; panics
/// naming `what` after `within`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    poll_until(within, check).await.unwrap_or_else(|| panic!("not within {within:?}: {what}"))
}

/// What [`eventually`] waits for, or None after `within` (for a caller
/// with something better to say, or to do, than panic).
pub async fn poll_until<T, F, Fut>(within: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
