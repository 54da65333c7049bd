//! One claimed session, from its row to its outcome: check the request,
//! run it in the sandbox, stream its output to the log writer, and record
//! the result (fenced on the attempt), then remove the container.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{watch, Notify};

use crate::config::{Config, Limits};
use crate::db::queue::{self, Claimed, Outcome, Status};
use crate::db::{containers, logs};
use crate::output::{Level, OutputPipe};
use crate::runtimes::{Runtime, Runtimes, Vars};
use crate::sandbox::policy::{self, ContainerSpec};
use crate::sandbox::{files, Ending, Engine, Finished, Input, SandboxError, StageLimits, Stages, StopReason};

/// What every session run needs; cheap to clone.
#[derive(Clone)]
pub struct Ctx {
    pub pool: Pool,
    pub engine: Engine,
    pub runtimes: Arc<Runtimes>,
    pub cfg: Arc<Config>,
    /// Label value naming this database (see `policy::LABEL_SCOPE`).
    pub scope: String,
    /// Warm containers, when configured.
    pub warm: Option<Arc<crate::sandbox::pool::WarmPool>>,
}

/// A request that passed every check.
struct Plan<'a> {
    runtime: &'a Runtime,
    stages: Stages,
    /// Every file for /work, the main one first.
    files: Vec<(String, Vec<u8>)>,
    /// The container's command: the launcher's options, then argv.
    command: Vec<String>,
    /// Set for validation runs: how to read the framework's report.
    validation: Option<Validation>,
}

struct Validation {
    format: String,
    /// Test names the tests' source declares (for text formats).
    declared: Vec<String>,
    /// Benchmark mode: the number of timed runs expected.
    bench: Option<u64>,
}

/// The launcher's report options.
struct Report<'a> {
    path: &'a str,
    from_stdout: bool,
    /// The benchmark harness's output file.
    bench: Option<&'a str>,
}

/// A requested limit (null = the default), checked against the server's
/// bounds: never silently raised or lowered.
fn bounded(name: &str, requested: Option<i32>, default: u64, min: u64, max: u64, unit: &str) -> Result<u64, String> {
    match requested {
        None => Ok(default),
        Some(v) if (v as i64) < min as i64 => Err(format!("{name} {v} is below this server's minimum of {min} {unit}")),
        Some(v) if v as u64 > max => Err(format!("{name} {v} is above this server's maximum of {max} {unit}")),
        Some(v) => Ok(v as u64),
    }
}

/// Checks the user's request against the runtime table and the server's
/// limits. `Err` is a message for the user (the session ends `failed`).
fn plan<'a>(ctx: &'a Ctx, s: &Claimed) -> Result<Plan<'a>, String> {
    let runtime = ctx.runtimes.resolve(&s.language).ok_or_else(|| {
        format!("unsupported language {:?}; supported languages: {}", s.language, ctx.runtimes.describe())
    })?;
    let l = &ctx.cfg.limits;
    let run = StageLimits {
        timeout: Duration::from_millis(bounded(
            "timeout_ms",
            s.timeout_ms,
            l.default_timeout_ms,
            1,
            l.max_timeout_ms,
            "ms",
        )?),
        memory_mb: bounded(
            "memory_limit_mb",
            s.memory_limit_mb,
            l.default_memory_mb,
            l.min_memory_mb,
            l.max_memory_mb,
            "MB",
        )?,
        cpus: l.cpus,
    };
    let validate = match s.mode.as_str() {
        "validate" | "benchmark" => Some(
            runtime.validate.as_ref().ok_or_else(|| format!("validation is not available for {}", runtime.language))?,
        ),
        _ => None,
    };
    let benchmark = match s.mode.as_str() {
        "benchmark" => Some(runtime.benchmark.as_ref().ok_or_else(|| {
            format!("benchmark mode is not available for {}; validation is (mode 'validate')", runtime.language)
        })?),
        _ => None,
    };
    let runs = bounded("runs", s.runs, l.default_benchmark_runs, 1, l.max_benchmark_runs, "runs")?;
    // Warm-up runs are discarded: a tenth of the timed runs, 1 to 20.
    let warmup = (runs / 10).clamp(1, 20);
    let compile_cmd = match (benchmark, validate) {
        (Some(b), Some(v)) => b.compile.as_ref().or(v.compile.as_ref()),
        (_, Some(v)) => v.compile.as_ref(),
        _ => runtime.compile.as_ref(),
    };
    let compile = match compile_cmd {
        None => None,
        Some(_) => Some(StageLimits {
            timeout: Duration::from_millis(bounded(
                "compile_timeout_ms",
                s.compile_timeout_ms,
                l.default_compile_timeout_ms,
                1,
                l.max_compile_timeout_ms,
                "ms",
            )?),
            memory_mb: bounded(
                "compile_memory_limit_mb",
                s.compile_memory_limit_mb,
                l.default_compile_memory_mb,
                l.min_memory_mb,
                l.max_compile_memory_mb,
                "MB",
            )?,
            cpus: l.compile_cpus,
        }),
    };
    if s.args.iter().any(|a| a.contains('\0')) {
        return Err("args may not contain NUL characters".into());
    }
    let (mut files, command, validation) = match validate {
        None => (
            vec![(runtime.file.clone(), s.code.as_bytes().to_vec())],
            command(compile_cmd, &runtime.run, &s.args, Launch::Run { prestart: runtime.prestart_file() }),
            None,
        ),
        Some(v) => {
            let tests = s.tests.as_deref().unwrap_or("");
            let declared = if v.format == "gotest" { crate::validate::go_test_names(tests) } else { Vec::new() };
            let names = declared.join(", ");
            let vars = Vars { solution: &s.code, tests, runs, warmup, test_names: &names };
            let templates = v.files.iter().chain(benchmark.iter().flat_map(|b| &b.files));
            let files = templates.map(|f| (f.name.clone(), f.render(&vars).into_bytes())).collect();
            let mut run: Vec<String> = v.run.clone();
            if let Some(b) = benchmark {
                run.push("--then".into());
                run.extend(b.run.iter().map(|a| crate::runtimes::render(a, &vars)));
            }
            let report = Report {
                path: &v.report,
                from_stdout: v.report_from_stdout,
                bench: benchmark.map(|b| b.output.as_str()),
            };
            let bench = benchmark.map(|_| runs);
            (
                files,
                command(compile_cmd, &run, &[], Launch::Report(report)),
                Some(Validation { format: v.format.clone(), declared, bench }),
            )
        }
    };
    if let Some(extra) = &s.files {
        let main = files[0].0.clone();
        let taken: usize = files.iter().map(|f| f.1.len()).sum();
        let extra = files::decode_extra(extra, &main, taken)?;
        if let Some((name, _)) = extra.iter().find(|(n, _)| files.iter().any(|f| &f.0 == n)) {
            return Err(format!("file {name:?} is one execbox writes itself; choose another name"));
        }
        files.extend(extra);
    }
    Ok(Plan { runtime, stages: Stages { compile, run }, files, command, validation })
}

/// Runs the session to its end. Never panics on bad input; every path ends
/// in a recorded outcome unless the session was taken away from us.
/// `input` is notified when `session_input` rows arrive for this session.
pub async fn execute(ctx: Ctx, s: Claimed, mut stop: watch::Receiver<Option<StopReason>>, input: Arc<Notify>) {
    let (tx, writer) = logs::spawn(ctx.pool.clone(), s.id, s.attempt);
    let mut pipe = OutputPipe::new(ctx.cfg.limits.output_limit_bytes, ctx.cfg.limits.max_line_bytes, tx);

    let mut container: Option<ContainerRecord> = None;
    let outcome = match plan(&ctx, &s) {
        Err(msg) => Some(Outcome { status: Status::Failed, exit_code: None, error: Some(msg), result: None }),
        Ok(plan) => run(&ctx, &s, &plan, &mut pipe, &mut stop, &mut container, &input).await,
    };
    if let Some(o) = &outcome {
        if o.status != Status::Completed {
            if let Some(e) = &o.error {
                let level = if o.status == Status::Cancelled { Level::Warn } else { Level::Error };
                pipe.system(level, format!("execbox: {e}")).await;
            }
        }
    }
    drop(pipe);
    let logs_ok = match writer.await {
        Ok(Ok(stats)) => {
            tracing::debug!(rows = stats.rows, batches = stats.batches, "logs written");
            true
        }
        Ok(Err(logs::LogError::Fenced)) => false,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "some log rows could not be written");
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "log writer panicked");
            true
        }
    };
    match outcome {
        Some(o) if logs_ok => record(&ctx.pool, &s, &o).await,
        _ => tracing::warn!("this worker no longer owns the session; its outcome was discarded"),
    }
    // After the outcome is recorded (the user is not waiting for this):
    // the container's bookkeeping and its removal.
    if let Some(c) = container {
        let removed = ctx.engine.remove(&c.id).await;
        if let Some(w) = &ctx.warm {
            w.release(&c.id);
        }
        if let Err(e) = &removed {
            tracing::warn!(container = %c.id, error = %crate::error_chain(e), "cannot remove container; the reaper will retry");
        }
        let row = match c.row {
            Some(task) => task.await.ok().flatten(),
            None => None,
        };
        if let Ok(db) = ctx.pool.get().await {
            let _ = match row {
                Some(row) => containers::ended(&db, row, c.exit, removed.is_ok()).await,
                None if removed.is_ok() => containers::removed(&**db, &c.id).await,
                None => Ok(()),
            };
        }
    }
}

/// A session's container, for the bookkeeping after its outcome.
struct ContainerRecord {
    id: String,
    /// Its `container_instances` row, being written.
    row: Option<tokio::task::JoinHandle<Option<uuid::Uuid>>>,
    /// Exit code and OOM flag, once it ended.
    exit: Option<(Option<i32>, bool)>,
}

async fn record(pool: &Pool, s: &Claimed, o: &Outcome) {
    let mut delay = Duration::from_millis(100);
    for tries in 1..=5 {
        let result = async {
            let db = pool.get().await.map_err(|e| e.to_string())?;
            queue::finish(&db, s.id, s.attempt, o).await.map_err(|e| crate::error_chain(&e))
        }
        .await;
        match result {
            Ok(true) => {
                crate::metrics::METRICS.finished(o.status.as_str());
                tracing::info!(status = o.status.as_str(), exit_code = o.exit_code, "session finished");
                return;
            }
            Ok(false) => {
                tracing::warn!("session was taken from this worker before it finished; outcome discarded");
                return;
            }
            Err(e) if tries < 5 => {
                tracing::warn!(error = %e, "cannot record the outcome yet; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot record the outcome; the lease will expire and the session be rescued")
            }
        }
    }
}

/// The sandboxed part. `None`: the session is no longer ours.
async fn run(
    ctx: &Ctx,
    s: &Claimed,
    plan: &Plan<'_>,
    pipe: &mut OutputPipe,
    stop: &mut watch::Receiver<Option<StopReason>>,
    container: &mut Option<ContainerRecord>,
    input: &Arc<Notify>,
) -> Option<Outcome> {
    let claimed = std::time::Instant::now();
    let rt = plan.runtime;
    let worker_id = ctx.cfg.worker.id.as_str();
    let labels = HashMap::from([
        (policy::LABEL_MANAGED.to_string(), "true".to_string()),
        (policy::LABEL_SCOPE.to_string(), ctx.scope.clone()),
        (policy::LABEL_SESSION.to_string(), s.id.to_string()),
        (policy::LABEL_ATTEMPT.to_string(), s.attempt.to_string()),
        (policy::LABEL_WORKER.to_string(), worker_id.to_string()),
    ]);
    let spec = container_spec(rt, plan.command.clone(), &plan.stages, &ctx.cfg.limits, labels);
    let infra = |e: SandboxError| {
        tracing::error!(error = %crate::error_chain(&e), "sandbox failure");
        Some(Outcome { status: Status::Error, exit_code: None, error: Some(e.to_string()), result: None })
    };
    // A warm container serves the session when it is exactly the container
    // the session would get (labels aside).
    let warm = match &ctx.warm {
        Some(pool)
            if pool
                .spec(&rt.language)
                .is_some_and(|w| ContainerSpec { labels: w.labels.clone(), ..spec.clone() } == *w) =>
        {
            pool.take(&rt.language).await
        }
        _ => None,
    };
    let warmed = warm.is_some();
    let running = match warm {
        Some(r) => r,
        None => {
            let created = match ctx.engine.create(&spec).await {
                Ok(c) => c,
                Err(e) => return infra(e),
            };
            *container = Some(ContainerRecord { id: created.id.clone(), row: None, exit: None });
            match ctx.engine.start(&created).await {
                Ok(r) => r,
                Err(e) => return infra(e),
            }
        }
    };
    crate::metrics::METRICS.container_start.observe(claimed.elapsed());
    tracing::debug!(container = %running.id, warm = warmed, "container ready");
    // The dashboard's row is written while the program runs, not before.
    let row = {
        let (pool, id, attempt) = (ctx.pool.clone(), s.id, s.attempt);
        let (worker_id, cid, image) = (worker_id.to_string(), running.id.clone(), rt.image.clone());
        tokio::spawn(async move {
            let db = pool.get().await.ok()?;
            containers::started(&db, id, attempt, &worker_id, &cid, &image).await.ok()
        })
    };
    *container = Some(ContainerRecord { id: running.id.clone(), row: Some(row), exit: None });

    let named: Vec<(&str, &[u8])> = plan.files.iter().map(|(n, c)| (n.as_str(), c.as_slice())).collect();
    let input = Input {
        files: files::encode(&named, b""),
        stdin: s.stdin.as_deref().unwrap_or("").as_bytes().to_vec(),
        events: s.interactive.then(|| crate::db::input::follow(ctx.pool.clone(), s.id, input.clone())),
    };
    if plan.validation.is_some() {
        pipe.capture_report();
    }
    let finished = match ctx.engine.run(running, input, &plan.stages, pipe, stop).await {
        Ok(f) => f,
        Err(e) => return infra(e),
    };
    tracing::debug!(?finished, "container ended");
    crate::metrics::METRICS.run_duration.observe(finished.wall_time);
    if let Some(c) = container.as_mut() {
        c.exit = Some((finished.exit_code.map(|c| c as i32), finished.oom_killed));
    }
    let outcome = judge(&finished, plan, ctx.cfg.limits.output_limit_bytes, pipe.compile_excerpt())?;
    match &plan.validation {
        None => Some(outcome),
        Some(v) => {
            let outcome = judge_validation(outcome, &finished, v, pipe.block("report"), pipe.block("bench"));
            if let Some(r) = &outcome.result {
                if outcome.status == Status::Completed {
                    pipe.system(
                        Level::Info,
                        format!("execbox: validation: {} of {} tests passed", r["testsPassed"], r["totalTests"]),
                    )
                    .await;
                }
            }
            Some(outcome)
        }
    }
}

/// A validation's outcome: `completed` with the per-test results when the
/// framework's report arrived (whatever the tests said), the compile error
/// when the code did not compile, and otherwise the run's failure.
fn judge_validation(run: Outcome, f: &Finished, v: &Validation, report: Option<&str>, bench: Option<&str>) -> Outcome {
    use base64::Engine as _;
    let decode = |b: &str| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok();
    if f.ending == Ending::CompileFailed {
        let msg = run.error.clone().unwrap_or_default();
        return Outcome { result: Some(crate::validate::compile_error_result(&msg)), ..run };
    }
    let parsed = report
        .filter(|b| !b.is_empty())
        .and_then(decode)
        .map(|bytes| crate::validate::parse(&v.format, &bytes, &v.declared));
    match parsed {
        Some(Ok(tests)) if !tests.is_empty() && (f.ending == Ending::Exited || v.bench.is_some()) => {
            let mut result = crate::validate::result(&tests);
            let Some(runs) = v.bench else {
                return Outcome {
                    status: Status::Completed,
                    exit_code: run.exit_code,
                    error: None,
                    result: Some(result),
                };
            };
            if result["passed"] != serde_json::Value::Bool(true) {
                // Wrong code is not timed.
                return Outcome {
                    status: Status::Completed,
                    exit_code: run.exit_code,
                    error: None,
                    result: Some(result),
                };
            }
            let timings = bench.and_then(decode).map(|b| crate::validate::timings(&b));
            match timings {
                Some(t) if t.len() as u64 == runs && f.ending == Ending::Exited => {
                    crate::validate::add_statistics(&mut result, &t);
                    Outcome { status: Status::Completed, exit_code: run.exit_code, error: None, result: Some(result) }
                }
                _ if f.ending != Ending::Exited => Outcome { result: Some(result), ..run },
                other => Outcome {
                    status: Status::Failed,
                    error: Some(format!(
                        "the benchmark did not finish: {} of {runs} timed runs recorded (exit code {})",
                        other.map(|t| t.len()).unwrap_or(0),
                        run.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "unknown".into())
                    )),
                    result: Some(result),
                    ..run
                },
            }
        }
        Some(Err(e)) => {
            Outcome { status: Status::Failed, error: Some(format!("the test report could not be read: {e}")), ..run }
        }
        _ if run.status == Status::Completed
            || run.status == Status::Failed && !f.oom_killed && f.ending == Ending::Exited =>
        {
            Outcome {
                status: Status::Failed,
                error: Some(format!(
                    "the test framework ran no test or wrote no report (exit code {}); see its output in the log",
                    run.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "unknown".into())
                )),
                ..run
            }
        }
        _ => run,
    }
}

/// The container for a run of `rt` with these stages and command: the
/// container starts with the first stage's limits (the engine switches to
/// the run stage's after compiling). The warm pool uses the same function.
pub fn container_spec(
    rt: &Runtime,
    command: Vec<String>,
    stages: &Stages,
    limits: &Limits,
    labels: HashMap<String, String>,
) -> ContainerSpec {
    let first = stages.compile.unwrap_or(stages.run);
    ContainerSpec {
        image: rt.image.clone(),
        cmd: command,
        env: rt.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        memory_mb: first.memory_mb,
        cpus: first.cpus,
        work_mb: rt.work_mb.unwrap_or(limits.work_size_mb),
        exec_work: stages.compile.is_some(),
        labels,
    }
}

/// The spec of a default run-mode session of `rt` (what warm containers are).
pub fn default_spec(rt: &Runtime, limits: &Limits, labels: HashMap<String, String>) -> ContainerSpec {
    let run = StageLimits {
        timeout: Duration::from_millis(limits.default_timeout_ms),
        memory_mb: limits.default_memory_mb,
        cpus: limits.cpus,
    };
    let compile = rt.compile.as_ref().map(|_| StageLimits {
        timeout: Duration::from_millis(limits.default_compile_timeout_ms),
        memory_mb: limits.default_compile_memory_mb,
        cpus: limits.compile_cpus,
    });
    let stages = Stages { compile, run };
    let launch = Launch::Run { prestart: rt.prestart_file() };
    container_spec(rt, command(rt.compile.as_ref(), &rt.run, &[], launch), &stages, limits, labels)
}

/// How the launcher runs the command.
enum Launch<'a> {
    /// A plain run, the interpreter started ahead when it has a prestart file.
    Run { prestart: Option<&'a str> },
    /// Validation or benchmark: the framework's report is read back.
    Report(Report<'a>),
}

/// The container's command: the launcher's `--prestart` or `--report`
/// options, its `--compile ... --` part when the stage exists, then the
/// command and the session's arguments.
fn command(compile: Option<&Vec<String>>, run: &[String], args: &[String], launch: Launch) -> Vec<String> {
    let mut cmd = Vec::new();
    if let Launch::Run { prestart: Some(file) } = launch {
        cmd.push("--prestart".to_string());
        cmd.push(file.to_string());
    }
    if let Launch::Report(r) = launch {
        cmd.push(if r.from_stdout { "--report-stdout" } else { "--report" }.to_string());
        cmd.push(r.path.to_string());
        if let Some(b) = r.bench {
            cmd.push("--bench".to_string());
            cmd.push(b.to_string());
        }
    }
    if let Some(compile) = compile {
        cmd.push("--compile".to_string());
        cmd.extend(compile.iter().cloned());
        cmd.push("--".to_string());
    }
    cmd.extend(run.iter().cloned());
    cmd.extend(args.iter().cloned());
    cmd
}

/// Maps how the container ended to the session's status and message.
fn judge(f: &Finished, plan: &Plan<'_>, output_limit: u64, compile_excerpt: &str) -> Option<Outcome> {
    let code = f.exit_code.map(|c| c as i32);
    let (status, error) = match f.ending {
        Ending::Stopped(StopReason::LeaseLost) => return None,
        Ending::CompileFailed if f.oom_killed => (
            Status::Failed,
            Some(format!(
                "out of memory while compiling: the compiler exceeded its {} MB limit",
                plan.stages.compile.map(|c| c.memory_mb).unwrap_or_default()
            )),
        ),
        Ending::CompileFailed => (
            Status::Failed,
            Some(format!(
                "compilation failed (exit code {}): {}",
                code.map(|c| c.to_string()).unwrap_or_else(|| "unknown".into()),
                if compile_excerpt.is_empty() { "the compiler printed nothing" } else { compile_excerpt }
            )),
        ),
        Ending::CompileTimedOut => (
            Status::Timeout,
            Some(format!(
                "compile time limit of {} ms reached; the compiler was killed",
                plan.stages.compile.map(|c| c.timeout.as_millis()).unwrap_or_default()
            )),
        ),
        Ending::Stopped(StopReason::Cancelled) => {
            (Status::Cancelled, Some("cancelled by the owner; the program was killed".to_string()))
        }
        Ending::Stopped(StopReason::Shutdown) => {
            (Status::Error, Some("the worker shut down before the run finished; the program was killed".to_string()))
        }
        Ending::TimedOut => (
            Status::Timeout,
            Some(format!("time limit of {} ms reached; the program was killed", plan.stages.run.timeout.as_millis())),
        ),
        Ending::OutputLimit => {
            (Status::Failed, Some(format!("output limit of {output_limit} bytes reached; the program was stopped")))
        }
        Ending::Exited if f.oom_killed => (
            Status::Failed,
            Some(format!("out of memory: the program exceeded its {} MB memory limit and was killed", plan.stages.run.memory_mb)),
        ),
        Ending::Exited => match code {
            Some(0) => (Status::Completed, None),
            Some(137) => (
                Status::Failed,
                Some(format!(
                    "the program was killed by SIGKILL (exit code 137), most likely for reaching its {} MB memory limit",
                    plan.stages.run.memory_mb
                )),
            ),
            Some(c) if c > 128 && c < 128 + 65 => (
                Status::Failed,
                Some(format!("the program was killed by signal {} (exit code {c})", signal_name(c - 128))),
            ),
            Some(c) => (Status::Failed, Some(format!("the program exited with code {c}"))),
            None => (Status::Error, Some("the container ended without an exit code".to_string())),
        },
    };
    Some(Outcome { status, exit_code: code, error, result: None })
}

fn signal_name(n: i32) -> String {
    match n {
        1 => "SIGHUP".into(),
        2 => "SIGINT".into(),
        3 => "SIGQUIT".into(),
        4 => "SIGILL".into(),
        6 => "SIGABRT".into(),
        8 => "SIGFPE".into(),
        9 => "SIGKILL".into(),
        11 => "SIGSEGV".into(),
        13 => "SIGPIPE".into(),
        14 => "SIGALRM".into(),
        15 => "SIGTERM".into(),
        25 => "SIGXFSZ".into(),
        n => format!("{n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(name: &str) -> Runtime {
        Runtimes::builtin().resolve(name).unwrap().clone()
    }

    #[test]
    fn only_plain_runs_of_prestart_runtimes_prestart() {
        let limits = Limits::default();
        let python = default_spec(&rt("python"), &limits, HashMap::new());
        assert_eq!(python.cmd[..3], ["--prestart", "main.py", "python3"]);
        // Compiled languages and runtimes without the flag run as before.
        for name in ["go", "node"] {
            let spec = default_spec(&rt(name), &limits, HashMap::new());
            assert!(!spec.cmd.contains(&"--prestart".to_string()), "{name}: {:?}", spec.cmd);
        }
        // Validation reads a report instead.
        let report = Report { path: "report.xml", from_stdout: false, bench: None };
        let cmd = command(None, &["pytest".to_string()], &[], Launch::Report(report));
        assert_eq!(cmd, ["--report", "report.xml", "pytest"]);
    }
}
