//! `execbox bench`: one command that measures, on this machine and in one
//! run, what execbox costs against the alternatives, and writes
//! `bench/results.md` and `bench/results.json`. Timings are never asserted
//! by tests; this is where they are shown.
//!
//! It starts `execbox worker` subprocesses (cold, and with a warm pool)
//! against the database the client commands use, inserts sessions as a
//! bench user, and learns of their end through NOTIFY.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio_postgres::Client;

use uuid::Uuid;

use crate::cli::target::Target;
use crate::config::{Config, Statements};
use crate::db::Database;
use crate::model::Request;

mod api;
mod isolation;
mod report;

#[derive(Debug, Clone)]
pub(crate) struct BenchOptions {
    pub iterations: usize,
    pub sessions: usize,
    pub concurrency: usize,
    pub lines: usize,
    pub out: PathBuf,
    /// Only this part; nothing is written.
    pub only: Option<Part>,
}

use crate::metrics::quantile as percentile;

/// p50 and p95 in milliseconds.
fn summary(mut ms: Vec<f64>) -> Value {
    ms.sort_by(|a, b| a.total_cmp(b));
    json!({"p50_ms": round(percentile(&ms, 0.5)), "p95_ms": round(percentile(&ms, 0.95)), "n": ms.len()})
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A worker subprocess of this binary.
pub(super) struct WorkerProc(Child);

impl WorkerProc {
    /// `warm`: the pool setting; None leaves it unset (the default a new
    /// user gets).
    fn start(db: &Database, warm: Option<&str>, extra: &[(&str, &str)]) -> anyhow::Result<WorkerProc> {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg("worker").env("DATABASE_URL", db.url().expose()).env_remove("EXECBOX_WARM_POOL");
        if let Some(warm) = warm {
            cmd.env("EXECBOX_WARM_POOL", warm);
        }
        cmd.env("EXECBOX_LOG", "warn").env("EXECBOX_MAX_CONCURRENT_RUNS", "8").stdout(Stdio::null());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        Ok(WorkerProc(cmd.spawn().context("cannot start a worker")?))
    }

    fn rss_kb(&self) -> Option<u64> {
        rss_kb(self.0.id())
    }
}

/// A worker never outlives its measurement, whichever way it ends (an
/// orphan would claim the next measurement's sessions).
impl Drop for WorkerProc {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

/// Resident memory of a process, from /proc.
pub(super) fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// Session ends, heard on one LISTEN connection, for any number of waiters
/// (sequential measurements and concurrent clients alike). Each end is
/// stamped when its notification arrives.
#[derive(Clone)]
struct Done {
    ended: std::sync::Arc<(std::sync::Mutex<HashMap<Uuid, Instant>>, tokio::sync::Notify)>,
    _listener: std::sync::Arc<Client>,
}

impl Done {
    async fn open(db: &Database) -> anyhow::Result<Done> {
        let (client, mut rx) = db.connect_listening().await?;
        crate::db::bench::listen(&client, "execbox_done").await?;
        let ended = std::sync::Arc::new((std::sync::Mutex::new(HashMap::new()), tokio::sync::Notify::new()));
        let e = ended.clone();
        tokio::spawn(async move {
            while let Some(n) = rx.recv().await {
                if let Ok(id) = Uuid::parse_str(n.payload()) {
                    e.0.lock().unwrap_or_else(|p| p.into_inner()).insert(id, Instant::now());
                    e.1.notify_waiters();
                }
            }
        });
        Ok(Done { ended, _listener: std::sync::Arc::new(client) })
    }

    /// When the session's end was heard.
    async fn wait_for(&self, id: Uuid, within: Duration) -> anyhow::Result<Instant> {
        tokio::time::timeout(within, async {
            loop {
                let notified = self.ended.1.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if let Some(at) = self.ended.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&id) {
                    return at;
                }
                notified.await;
            }
        })
        .await
        .context("a session did not finish in time")
    }
}

fn hello() -> Request {
    Request {
        language: "python".into(),
        code: "print(1)".into(),
        session_name: Some("bench".into()),
        ..Default::default()
    }
}

async fn submit(db: &mut Client, user: Uuid, code: &str) -> anyhow::Result<Uuid> {
    let req = Request {
        language: "python".into(),
        code: code.into(),
        session_name: Some("bench".into()),
        ..Default::default()
    };
    Ok(crate::db::user::submit(db, user, &req).await?)
}

/// Until a worker answers: one session end to end.
async fn warm_up(db: &mut Client, done: &Done, user: Uuid) -> anyhow::Result<()> {
    let id = submit(db, user, "print(1)").await?;
    done.wait_for(id, Duration::from_secs(120)).await?;
    Ok(())
}

/// (a) INSERT to terminal status, sequential.
async fn latency(db: &mut Client, done: &Done, user: Uuid, n: usize, pause: Duration) -> anyhow::Result<Value> {
    let mut ms = Vec::new();
    for _ in 0..n {
        tokio::time::sleep(pause).await;
        let t0 = Instant::now();
        let id = submit(db, user, "print('hello')").await?;
        let t1 = done.wait_for(id, Duration::from_secs(60)).await?;
        ms.push((t1 - t0).as_secs_f64() * 1000.0);
    }
    Ok(summary(ms))
}

fn time_command(n: usize, program: &str, args: &[&str]) -> anyhow::Result<Value> {
    let mut ms = Vec::new();
    for _ in 0..n {
        let t0 = Instant::now();
        let st = Command::new(program).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status()?;
        if !st.success() {
            bail!("{program} {args:?} failed: {st}");
        }
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(summary(ms))
}

/// Runs `total` jobs with `concurrency` at a time; returns jobs per second.
async fn throughput<F, Fut>(total: usize, concurrency: usize, job: F) -> anyhow::Result<f64>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let t0 = Instant::now();
    let results: Vec<anyhow::Result<()>> =
        futures::stream::iter(0..total).map(job).buffer_unordered(concurrency).collect().await;
    for r in results {
        r?;
    }
    Ok(total as f64 / t0.elapsed().as_secs_f64())
}

/// A part of the benchmark, for `--only` (a quicker look while working on
/// one path; only a whole run writes the results files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Part {
    /// (a), (b), (c), the claim path and the idle worker's memory.
    Latency,
    /// (d) and the busy worker's memory.
    Throughput,
    /// (e).
    Ingestion,
    /// (h): test cases per second.
    Cases,
    /// (i): through the API: a hello through `/api/v2/execute` against
    /// MCP's `run_code`, sessions per second at concurrency 8 and 1,000,
    /// the node's database connections and memory.
    Api,
    /// (j): unnamed statements (the default) against prepared ones: one
    /// statement's round trip, and a worker with no other setting's hello
    /// p50 and sessions per second.
    Statements,
    /// (k): the hello under runc and gVisor, warm and cold, against a bare
    /// process and `docker run --runtime runsc`; sessions per second and an
    /// idle warm container's memory under each wall.
    Isolation,
}

pub(crate) async fn run(cfg: &Config, opts: BenchOptions) -> anyhow::Result<()> {
    let want = |p: Part| opts.only.is_none_or(|o| o == p);
    let target = Target::resolve(cfg, None)?;
    let database = target.db.clone();
    let mut db = database.connect().await?;
    let user = Uuid::new_v4();
    crate::db::user::ensure_user(&db, user, "bench@execbox.local")
        .await
        .context("creating the bench user (the database needs the Supabase auth schema)")?;
    let done = Done::open(&database).await?;
    let mut results = json!({});
    let n = opts.iterations;
    let docker_args =
        ["run", "--rm", "--network", "none", "--entrypoint", "python3", "execbox/python:3.11", "-c", "print(1)"];
    if want(Part::Latency) {
        // The system's interpreter, not a version manager's shim in front of it.
        let python = if std::path::Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
        eprintln!("==> (c) bare {python} -c 'print(1)' x{n}");
        results["bare_process"] = time_command(n, python, &["-c", "print(1)"])?;
        eprintln!("==> (b) docker run --rm x{n}");
        results["docker_run"] = time_command(n, "docker", &docker_args)?;
    }

    if want(Part::Latency) || want(Part::Throughput) {
        let worker = WorkerProc::start(&database, Some("off"), &[])?;
        warm_up(&mut db, &done, user).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        results["worker_rss_kb"] = json!({"idle": worker.rss_kb()});
        if want(Part::Latency) {
            eprintln!("==> (a) INSERT to completed, cold path, x{n}");
            results["session_cold"] = latency(&mut db, &done, user, n, Duration::from_millis(50)).await?;
        }
        if want(Part::Throughput) {
            eprintln!("==> (d) {} sessions at concurrency {} (cold path)", opts.sessions, opts.concurrency);
            let (per_s, busy_kb) = sessions_throughput(&database, &done, &worker, user, &opts).await?;
            results["throughput"]["sessions_per_s"] = json!(round(per_s));
            results["worker_rss_kb"]["busy_max"] = json!(busy_kb);
        }
        drop(worker);
    }
    if want(Part::Throughput) {
        eprintln!("==> (d) docker run loop, {} runs at concurrency {}", opts.sessions, opts.concurrency);
        let docker_per_s = throughput(opts.sessions, opts.concurrency, |_| async move {
            let st = tokio::process::Command::new("docker").args(docker_args).stdout(Stdio::null()).status().await?;
            anyhow::ensure!(st.success(), "docker run failed");
            Ok(())
        })
        .await?;
        eprintln!(
            "==> (d) engine ceiling: create+start+wait+remove over the API, {} at concurrency {}",
            opts.sessions, opts.concurrency
        );
        let ceiling_per_s = engine_ceiling(cfg, &opts).await?;
        let t = &mut results["throughput"];
        t["docker_run_per_s"] = json!(round(docker_per_s));
        t["engine_ceiling_per_s"] = json!(round(ceiling_per_s));
        t["total"] = json!(opts.sessions);
        t["concurrency"] = json!(opts.concurrency);
    }

    if want(Part::Latency) || want(Part::Ingestion) {
        let worker = WorkerProc::start(&database, Some("python=2"), &[("EXECBOX_OUTPUT_LIMIT_BYTES", "67108864")])?;
        warm_up(&mut db, &done, user).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        if want(Part::Latency) {
            eprintln!("==> (a) INSERT to completed, warm pool, x{n}");
            results["session_warm"] = latency(&mut db, &done, user, n, Duration::from_millis(300)).await?;
            eprintln!("==> claim path: INSERT committed to the program running, warm pool, x{n}");
            results["claim_path"] = claim_path(&mut db, &done, user, n).await?;
        }
        if want(Part::Ingestion) {
            eprintln!("==> (e) log ingestion: {} lines", opts.lines);
            results["ingestion"] = ingestion(&mut db, &database, &done, user, opts.lines).await?;
        }
        drop(worker);
    }

    if want(Part::Latency) {
        // What a new user gets: a worker started with no settings at all.
        let worker = WorkerProc::start(&database, None, &[])?;
        warm_up(&mut db, &done, user).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        eprintln!("==> (a) INSERT to completed, default configuration (no settings), x{n}");
        results["session_default"] = latency(&mut db, &done, user, n, Duration::from_millis(300)).await?;
        drop(worker);
    }

    if want(Part::Api) {
        let worker = WorkerProc::start(&database, None, &[])?;
        warm_up(&mut db, &done, user).await?;
        results["api"] = api::measure(&database, n).await?;
        drop(worker);
    }

    if want(Part::Cases) {
        let worker = WorkerProc::start(&database, Some("off"), &[])?;
        warm_up(&mut db, &done, user).await?;
        for (language, code) in [("python", CASES_PY), ("cpp", CASES_CPP)] {
            eprintln!("==> (h) test cases per second, {language}: 1 case, then {CASES_N}, x3");
            results["cases"][language] = cases_per_second(&mut db, &done, user, language, code).await?;
        }
        drop(worker);
    }

    if want(Part::Statements) {
        // In the order A B B A, so that whatever drifts during the run
        // (caches, the engine) weighs on both alike; each figure is the
        // mean of its two rounds.
        let order = [Statements::Prepared, Statements::Unnamed, Statements::Unnamed, Statements::Prepared];
        let mut rounds: HashMap<&str, Vec<(f64, f64)>> = HashMap::new();
        for mode in order {
            let m = mode.as_str();
            if !rounds.contains_key(m) {
                eprintln!("==> (j) {m} statements: one statement's round trip x{STATEMENTS_N}");
                results["statements"][m]["statement_us"] = statement_round_trip(&database, mode).await?;
            }
            let worker = WorkerProc::start(&database, None, &[("EXECBOX_DB_STATEMENTS", m)])?;
            warm_up(&mut db, &done, user).await?;
            tokio::time::sleep(Duration::from_secs(2)).await;
            eprintln!("==> (j) {m} statements: INSERT to completed, a worker with no other setting, x{n}");
            let hello = latency(&mut db, &done, user, n, Duration::from_millis(300)).await?;
            eprintln!("==> (j) {m} statements: {} sessions at concurrency {}", opts.sessions, opts.concurrency);
            let (per_s, _) = sessions_throughput(&database, &done, &worker, user, &opts).await?;
            rounds.entry(m).or_default().push((hello["p50_ms"].as_f64().unwrap_or(f64::NAN), per_s));
            drop(worker);
        }
        for (m, r) in rounds {
            let mean = |f: fn(&(f64, f64)) -> f64| r.iter().map(f).sum::<f64>() / r.len() as f64;
            results["statements"][m]["hello_p50_ms"] = json!(round(mean(|x| x.0)));
            results["statements"][m]["sessions_per_s"] = json!(round(mean(|x| x.1)));
            results["statements"][m]["rounds"] = json!(r);
        }
    }

    if want(Part::Isolation) {
        results["isolation"] = isolation::measure(cfg, &database, &mut db, &done, user, &opts).await?;
    }

    results["machine"] = machine();
    if opts.only.is_none() {
        write_results(&opts.out, &results)?;
    }
    println!("{}", serde_json::to_string_pretty(&results)?);
    Ok(())
}

/// Statements timed one after another in (j).
const STATEMENTS_N: usize = 2_000;

/// One parameterised statement (the shape of a follower's state read) on a
/// pooled connection sent as `mode` says, timed one after another: the
/// microseconds of each, p50 / p95.
async fn statement_round_trip(database: &Database, mode: Statements) -> anyhow::Result<Value> {
    let pool = database.clone().with_statements(mode).pool(1)?;
    let db = pool.get().await?;
    let (id, user) = (Uuid::new_v4(), Option::<Uuid>::None);
    crate::db::bench::state_read(&db, id, user).await?;
    let mut us = Vec::with_capacity(STATEMENTS_N);
    for _ in 0..STATEMENTS_N {
        let t = Instant::now();
        crate::db::bench::state_read(&db, id, user).await?;
        us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    us.sort_by(f64::total_cmp);
    Ok(json!({"p50": round(percentile(&us, 0.5)), "p95": round(percentile(&us, 0.95))}))
}

/// Test cases in the cases measurement.
const CASES_N: usize = 200;
const CASES_PY: &str = "print(int(input()) * 2)";
const CASES_CPP: &str =
    "#include <cstdio>\nint main() { long n; if (scanf(\"%ld\", &n) == 1) printf(\"%ld\\n\", 2 * n); }\n";

/// A cases session of `n` cases, INSERT to completed; checks every case was
/// accepted.
async fn cases_session(
    db: &mut Client,
    done: &Done,
    user: Uuid,
    language: &str,
    code: &str,
    n: usize,
) -> anyhow::Result<f64> {
    let cases: Vec<Value> =
        (0..n).map(|i| json!({"stdin": format!("{i}\n"), "expected_output": format!("{}", 2 * i)})).collect();
    let req = Request {
        language: language.into(),
        code: code.into(),
        mode: crate::model::Mode::Cases,
        cases: Some(Value::Array(cases)),
        session_name: Some("bench".into()),
        ..Default::default()
    };
    let t0 = Instant::now();
    let id = crate::db::user::submit(db, user, &req).await?;
    let t1 = done.wait_for(id, Duration::from_secs(600)).await?;
    let (status, result) = crate::db::bench::status_and_result(db, id).await?;
    let passed = result.as_ref().and_then(|r| r["passed"].as_u64()).unwrap_or(0);
    anyhow::ensure!(
        status == "completed" && passed == n as u64,
        "the bench's {language} cases did not all pass: {status} {result:?}"
    );
    Ok((t1 - t0).as_secs_f64() * 1000.0)
}

/// (h) What one more test case costs: sessions of 1 and of `CASES_N` cases
/// (the same compile, the same container start), three of each.
async fn cases_per_second(
    db: &mut Client,
    done: &Done,
    user: Uuid,
    language: &str,
    code: &str,
) -> anyhow::Result<Value> {
    let (mut one, mut many) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        one.push(cases_session(db, done, user, language, code, 1).await?);
        many.push(cases_session(db, done, user, language, code, CASES_N).await?);
    }
    let med = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (one, many) = (med(one), med(many));
    let per_case = (many - one) / (CASES_N - 1) as f64;
    Ok(
        json!({"one_case_ms": round(one), "cases": CASES_N, "all_cases_ms": round(many), "per_case_ms": round(per_case), "cases_per_s": round(1000.0 / per_case)}),
    )
}

/// (d) Sessions per second through a worker, and its peak memory meanwhile.
async fn sessions_throughput(
    database: &Database,
    done: &Done,
    worker: &WorkerProc,
    user: Uuid,
    opts: &BenchOptions,
) -> anyhow::Result<(f64, u64)> {
    let busy_rss = std::sync::Arc::new(std::sync::Mutex::new(0u64));
    let sampler = {
        let busy = busy_rss.clone();
        let pid = worker.0.id();
        tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
            loop {
                if let Some(kb) = rss_kb(pid) {
                    let mut b = busy.lock().unwrap_or_else(|e| e.into_inner());
                    *b = (*b).max(kb);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }))
    };
    // Clients as a frontend's are: connected already (one connection each),
    // ends heard on the one shared LISTEN.
    let pool = database.pool(opts.concurrency)?;
    let per_s = throughput(opts.sessions, opts.concurrency, |_| {
        let (pool, done) = (pool.clone(), done.clone());
        async move {
            let mut c = pool.get().await?;
            let id = crate::db::user::submit_admitted(&mut c, user, &hello(), None)
                .await?
                .map_err(|_| anyhow::anyhow!("refused"))?;
            done.wait_for(id, Duration::from_secs(300)).await.map(|_| ())
        }
    })
    .await?;
    drop(sampler);
    let busy = *busy_rss.lock().unwrap_or_else(|e| e.into_inner());
    Ok((per_s, busy))
}

/// (d) The engine's own ceiling: bare create+start+wait+remove of the same
/// program under the same policy, over the API.
async fn engine_ceiling(cfg: &Config, opts: &BenchOptions) -> anyhow::Result<f64> {
    let engine = crate::sandbox::Engine::connect(&cfg.docker_host, cfg.limits.clone())?;
    let rt = crate::runtimes::Runtimes::builtin().resolve("python").context("python runtime")?.clone();
    let spec = crate::exec::default_spec(&rt, &cfg.limits, Default::default());
    throughput(opts.sessions, opts.concurrency, |_| {
        let (engine, spec) = (engine.clone(), spec.clone());
        async move {
            let mut s = spec;
            s.cmd = vec!["python3".into(), "-c".into(), "print(1)".into()];
            let body = crate::sandbox::policy::container_config(&s, engine.limits());
            let docker = engine.docker();
            let c = docker
                .create_container(
                    None::<bollard::query_parameters::CreateContainerOptions>,
                    bollard::models::ContainerCreateBody { entrypoint: Some(vec![]), ..body },
                )
                .await?;
            docker.start_container(&c.id, None::<bollard::query_parameters::StartContainerOptions>).await?;
            let mut wait = docker.wait_container(&c.id, None::<bollard::query_parameters::WaitContainerOptions>);
            let _ = wait.next().await;
            engine.remove(&c.id).await?;
            Ok(())
        }
    })
    .await
}

/// From the INSERT's commit to the submitted program running: the program
/// prints its clock first thing (same machine, same clock).
async fn claim_path(db: &mut Client, done: &Done, user: Uuid, n: usize) -> anyhow::Result<Value> {
    let mut ms = Vec::new();
    for _ in 0..n {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let id = submit(db, user, "import time\nprint(repr(time.time()))").await?;
        let committed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs_f64();
        done.wait_for(id, Duration::from_secs(60)).await?;
        let printed = crate::db::bench::first_line(db, id).await?;
        let printed: f64 = printed.trim().parse().context("the program's clock")?;
        ms.push((printed - committed) * 1000.0);
    }
    Ok(summary(ms))
}

/// (e) Rows per second for a flood, against one INSERT per line, and the
/// delay from a print to its row being visible.
async fn ingestion(
    db: &mut Client,
    database: &Database,
    done: &Done,
    user: Uuid,
    lines: usize,
) -> anyhow::Result<Value> {
    let code = format!("for i in range({lines}):\n    print(i)\n");
    let t0 = Instant::now();
    let id = submit(db, user, &code).await?;
    done.wait_for(id, Duration::from_secs(600)).await?;
    let (rows, span) = crate::db::bench::rows_and_span(db, id).await?;
    let total_s = t0.elapsed().as_secs_f64();
    // Realtime messages the output cost: Postgres Changes sends one per row
    // (per listening client); Broadcast from Database one per batch chunk.
    let broadcasts = crate::db::bench::broadcasts(db, id).await?;
    let batched = rows as f64 / span.max(1e-3);
    // The baseline: one INSERT per line, as a naive worker does.
    let baseline_rows = 3000usize;
    let t = Instant::now();
    for i in 0..baseline_rows {
        crate::db::bench::insert_line(db, id, user, rows as i32 + 1 + i as i32, &i.to_string()).await?;
    }
    let per_line = baseline_rows as f64 / t.elapsed().as_secs_f64();
    // First print to visible row: the program prints its clock, we note ours
    // when the row arrives (same machine, same clock).
    let (listener, mut rx) = database.connect_listening().await?;
    crate::db::bench::listen(&listener, "execbox_logs").await?;
    let (mut delays, mut to_broadcast) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        let id = submit(db, user, "import time\nprint(repr(time.time()), flush=True)\ntime.sleep(0.3)").await?;
        let seen = loop {
            let n = tokio::time::timeout(Duration::from_secs(60), rx.recv()).await?.context("listen closed")?;
            if n.payload() == id.to_string() {
                break std::time::SystemTime::now();
            }
        };
        let printed = crate::db::bench::first_line(db, id).await?;
        let printed: f64 = printed.trim().parse().context("the program's clock")?;
        let seen = seen.duration_since(std::time::UNIX_EPOCH)?.as_secs_f64();
        delays.push((seen - printed) * 1000.0);
        // The broadcast is written with the rows, in the same transaction:
        // its database timestamp against the program's clock.
        if broadcasts.is_some() {
            let written = crate::db::bench::first_broadcast_at(db, id).await?;
            if let Some(w) = written {
                to_broadcast.push(((w - printed) * 1000.0).max(0.0));
            }
        }
        done.wait_for(id, Duration::from_secs(60)).await?;
    }
    let per_thousand = |n: f64| round(n * 1000.0 / lines as f64);
    Ok(json!({
        "lines": rows,
        "rows_per_s_batched": round(batched),
        "rows_per_s_one_insert_per_line": round(per_line),
        "session_seconds": round(total_s),
        "first_row_visible": summary(delays),
        "realtime_messages_per_1000_lines": {
            "postgres_changes": per_thousand(rows as f64),
            "broadcast": broadcasts.map(|b| per_thousand(b as f64)),
        },
        "print_to_broadcast_written": (!to_broadcast.is_empty()).then(|| summary(to_broadcast)),
    }))
}

fn machine() -> Value {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()));
    let docker = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    json!({"cpus": cpus, "memory_gib": mem_kb.map(|k| round(k as f64 / 1048576.0)), "docker_engine": docker, "execbox": env!("CARGO_PKG_VERSION")})
}

fn write_results(dir: &std::path::Path, r: &Value) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("results.json"), serde_json::to_string_pretty(r)?)?;
    std::fs::write(dir.join("results.md"), report::results_markdown(r))?;
    Ok(())
}
