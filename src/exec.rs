//! One claimed session, from its row to its outcome: check the request,
//! run it in the sandbox, stream its output to the log writer, and record
//! the result (fenced on the attempt), then remove the container.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{watch, Notify};

use crate::config::Config;
use crate::db::queue::{self, Claimed, Outcome, Status};
use crate::db::{containers, logs};
use crate::output::{Level, OutputPipe};
use crate::runtimes::{Runtime, Runtimes};
use crate::sandbox::policy::{self, ContainerSpec};
use crate::sandbox::{files, Ending, Engine, Finished, SandboxError, Stdin, StopReason};

/// What every session run needs; cheap to clone.
#[derive(Clone)]
pub struct Ctx {
    pub pool: Pool,
    pub engine: Engine,
    pub runtimes: Arc<Runtimes>,
    pub cfg: Arc<Config>,
    /// Label value naming this database (see `policy::LABEL_SCOPE`).
    pub scope: String,
}

/// A request that passed every check.
struct Plan<'a> {
    runtime: &'a Runtime,
    timeout: Duration,
    memory_mb: u64,
    /// Every file for /work, the main one first.
    files: Vec<(String, Vec<u8>)>,
}

/// Checks the user's request against the runtime table and the server's
/// limits. `Err` is a message for the user (the session ends `failed`).
fn plan<'a>(ctx: &'a Ctx, s: &Claimed) -> Result<Plan<'a>, String> {
    let runtime = ctx.runtimes.resolve(&s.language).ok_or_else(|| {
        format!("unsupported language {:?}; supported languages: {}", s.language, ctx.runtimes.describe())
    })?;
    let l = &ctx.cfg.limits;
    let timeout_ms = match s.timeout_ms {
        None => l.default_timeout_ms,
        Some(t) if t <= 0 => return Err(format!("timeout_ms must be positive (got {t})")),
        Some(t) if t as u64 > l.max_timeout_ms => {
            return Err(format!("timeout_ms {t} is above this server's maximum of {} ms", l.max_timeout_ms))
        }
        Some(t) => t as u64,
    };
    let memory_mb = match s.memory_limit_mb {
        None => l.default_memory_mb,
        Some(m) if (m as i64) < l.min_memory_mb as i64 => {
            return Err(format!("memory_limit_mb {m} is below this server's minimum of {} MB", l.min_memory_mb))
        }
        Some(m) if m as u64 > l.max_memory_mb => {
            return Err(format!("memory_limit_mb {m} is above this server's maximum of {} MB", l.max_memory_mb))
        }
        Some(m) => m as u64,
    };
    let mut files = vec![(runtime.file.clone(), s.code.as_bytes().to_vec())];
    if let Some(extra) = &s.files {
        files.extend(files::decode_extra(extra, &runtime.file, s.code.len())?);
    }
    if s.args.iter().any(|a| a.contains('\0')) {
        return Err("args may not contain NUL characters".into());
    }
    Ok(Plan { runtime, timeout: Duration::from_millis(timeout_ms), memory_mb, files })
}

/// Runs the session to its end. Never panics on bad input; every path ends
/// in a recorded outcome unless the session was taken away from us.
/// `input` is notified when `session_input` rows arrive for this session.
pub async fn execute(ctx: Ctx, s: Claimed, mut stop: watch::Receiver<Option<StopReason>>, input: Arc<Notify>) {
    let (tx, writer) = logs::spawn(ctx.pool.clone(), s.id, s.attempt);
    let mut pipe = OutputPipe::new(ctx.cfg.limits.output_limit_bytes, ctx.cfg.limits.max_line_bytes, tx);

    let mut container: Option<(String, Option<uuid::Uuid>)> = None;
    let outcome = match plan(&ctx, &s) {
        Err(msg) => Some(Outcome { status: Status::Failed, exit_code: None, error: Some(msg) }),
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
    if let Some((id, _)) = container {
        if let Err(e) = ctx.engine.remove(&id).await {
            tracing::warn!(container = %id, error = %crate::error_chain(&e), "cannot remove container; the reaper will retry");
        } else if let Ok(db) = ctx.pool.get().await {
            let _ = containers::removed(&**db, &id).await;
        }
    }
}

async fn record(pool: &Pool, s: &Claimed, o: &Outcome) {
    let mut delay = Duration::from_millis(100);
    for tries in 1..=5 {
        let result = async {
            let db = pool.get().await.map_err(|e| e.to_string())?;
            queue::finish(&**db, s.id, s.attempt, o).await.map_err(|e| crate::error_chain(&e))
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
    container: &mut Option<(String, Option<uuid::Uuid>)>,
    input: &Arc<Notify>,
) -> Option<Outcome> {
    let claimed = std::time::Instant::now();
    let rt = plan.runtime;
    let worker_id = ctx.cfg.worker.id.as_str();
    let spec = ContainerSpec {
        image: rt.image.clone(),
        cmd: rt.run.iter().chain(&s.args).cloned().collect(),
        env: rt.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        memory_mb: plan.memory_mb,
        labels: HashMap::from([
            (policy::LABEL_MANAGED.to_string(), "true".to_string()),
            (policy::LABEL_SCOPE.to_string(), ctx.scope.clone()),
            (policy::LABEL_SESSION.to_string(), s.id.to_string()),
            (policy::LABEL_ATTEMPT.to_string(), s.attempt.to_string()),
            (policy::LABEL_WORKER.to_string(), worker_id.to_string()),
        ]),
    };
    let infra = |e: SandboxError| {
        tracing::error!(error = %crate::error_chain(&e), "sandbox failure");
        Some(Outcome { status: Status::Error, exit_code: None, error: Some(e.to_string()) })
    };
    let created = match ctx.engine.create(&spec).await {
        Ok(c) => c,
        Err(e) => return infra(e),
    };
    let row = match ctx.pool.get().await {
        Ok(db) => containers::created(&**db, s.id, s.attempt, worker_id, &created.id, &rt.image).await.ok(),
        Err(_) => None,
    };
    *container = Some((created.id.clone(), row));

    let named: Vec<(&str, &[u8])> = plan.files.iter().map(|(n, c)| (n.as_str(), c.as_slice())).collect();
    let first = files::encode(&named, s.stdin.as_deref().unwrap_or("").as_bytes());
    let stdin = if s.interactive {
        let wake = input.clone();
        Stdin::Interactive { first, events: crate::db::input::follow(ctx.pool.clone(), s.id, wake) }
    } else {
        Stdin::Fixed(first)
    };
    let pool = ctx.pool.clone();
    let on_started = move || {
        crate::metrics::METRICS.container_start.observe(claimed.elapsed());
        if let Some(row) = row {
            tokio::spawn(async move {
                if let Ok(db) = pool.get().await {
                    let _ = containers::started(&**db, row).await;
                }
            });
        }
    };
    let finished = match ctx.engine.run(&created, stdin, plan.timeout, pipe, stop, on_started).await {
        Ok(f) => f,
        Err(e) => return infra(e),
    };
    tracing::debug!(?finished, "container ended");
    crate::metrics::METRICS.run_duration.observe(finished.wall_time);
    if let (Some(row), Ok(db)) = (row, ctx.pool.get().await) {
        let code = finished.exit_code.map(|c| c as i32);
        let _ = containers::exited(&**db, row, code, finished.oom_killed).await;
    }
    judge(&finished, plan, ctx.cfg.limits.output_limit_bytes)
}

/// Maps how the container ended to the session's status and message.
fn judge(f: &Finished, plan: &Plan<'_>, output_limit: u64) -> Option<Outcome> {
    let code = f.exit_code.map(|c| c as i32);
    let (status, error) = match f.ending {
        Ending::Stopped(StopReason::LeaseLost) => return None,
        Ending::Stopped(StopReason::Cancelled) => {
            (Status::Cancelled, Some("cancelled by the owner; the program was killed".to_string()))
        }
        Ending::Stopped(StopReason::Shutdown) => {
            (Status::Error, Some("the worker shut down before the run finished; the program was killed".to_string()))
        }
        Ending::TimedOut => (
            Status::Timeout,
            Some(format!("time limit of {} ms reached; the program was killed", plan.timeout.as_millis())),
        ),
        Ending::OutputLimit => {
            (Status::Failed, Some(format!("output limit of {output_limit} bytes reached; the program was stopped")))
        }
        Ending::Exited if f.oom_killed => (
            Status::Failed,
            Some(format!("out of memory: the program exceeded its {} MB memory limit and was killed", plan.memory_mb)),
        ),
        Ending::Exited => match code {
            Some(0) => (Status::Completed, None),
            Some(137) => (
                Status::Failed,
                Some(format!(
                    "the program was killed by SIGKILL (exit code 137); if it used a lot of memory it may have reached its {} MB limit",
                    plan.memory_mb
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
    Some(Outcome { status, exit_code: code, error })
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
