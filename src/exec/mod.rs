//! One claimed session, from its row to its outcome: validate the request
//! (the worker is the final authority), plan it, run it in the sandbox
//! while its output streams to the log writer, judge how it ended, record
//! that (fenced on the attempt), then remove the container.

mod apart;
mod cases;
mod compare;
mod judge;
mod plan;
mod verdict;

use std::sync::Arc;
use std::time::Duration;

use crate::db::Pool;
use tokio::sync::{watch, Notify};

use crate::config::Config;
use crate::db::queue::{self, Claimed};
use crate::db::{containers, logs};
use crate::model::cases::ValidCases;
use crate::model::{EndReason, Isolation, Level, Outcome, SessionStatus};
use crate::output::OutputPipe;
use crate::runtimes::Runtimes;
use crate::sandbox::policy;
use crate::sandbox::warm::{InUse, WarmPool};
use crate::sandbox::{Engine, Input, Io, SandboxError, StopReason};

use judge::{judge, judge_validation};
pub(crate) use plan::container_spec;
pub use plan::default_spec;
use plan::{plan, Plan};

/// What every session run needs; cheap to clone.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub pool: Pool,
    pub engine: Engine,
    pub runtimes: Arc<Runtimes>,
    pub cfg: Arc<Config>,
    /// Label value naming this database (see `policy::LABEL_SCOPE`).
    pub scope: String,
    /// Warm containers, when configured.
    pub warm: Option<Arc<WarmPool>>,
    /// Set when a run failed for the engine's sake: the worker checks the
    /// engine again before it claims anything more (a dead daemon would
    /// otherwise fail every session claimed until its next periodic check).
    pub engine_suspect: Arc<std::sync::atomic::AtomicBool>,
}

/// Runs the session to its end. Never panics on bad input; every path ends
/// in a recorded outcome unless the session was taken away from us.
/// `input` is notified when `session_input` rows arrive for this session.
pub(crate) async fn execute(ctx: Ctx, s: Claimed, mut stop: watch::Receiver<Option<StopReason>>, input: Arc<Notify>) {
    let (tx, writer) = logs::spawn(ctx.pool.clone(), s.id, s.attempt);
    let mut pipe = OutputPipe::new(ctx.cfg.limits.output_limit_bytes, ctx.cfg.limits.max_line_bytes);

    let mut container: Option<ContainerRecord> = None;
    let outcome = match s.request.validate(&ctx.runtimes, &ctx.cfg.limits) {
        Err(e) => Some(Outcome::refused(EndReason::InvalidRequest, e.to_string())),
        Ok(valid) => {
            let plan = plan(&valid, &ctx.cfg.limits);
            if valid.cases.is_some() {
                pipe.set_cases_mode();
            }
            let cases = valid.cases.as_ref();
            match plan::unbuildable(&plan, &ctx.cfg.limits, s.anonymous) {
                Some(why) => Some(Outcome::refused(EndReason::Infrastructure, why)),
                None => {
                    let mut run = SessionRun { ctx: &ctx, s: &s, plan: &plan, cases, input: &input, container: None };
                    let io = Io { pipe: &mut pipe, logs: &tx, stop: &mut stop };
                    let outcome = run.sandboxed(io).await.map(|mut o| {
                        // Once a sandbox was built: the wall it was built in.
                        o.usage.isolation = run.container.as_ref().map(|c| c.wall);
                        o
                    });
                    container = run.container;
                    outcome
                }
            }
        }
    };
    if let Some(o) = &outcome {
        if o.status != SessionStatus::Completed {
            if let Some(e) = &o.error {
                let level = if o.status == SessionStatus::Cancelled { Level::Warn } else { Level::Error };
                pipe.system(level, format!("execbox: {e}"));
            }
        }
    }
    pipe.deliver(&tx).await;
    drop(tx);
    let logs_ok = match writer.await {
        Ok(Ok(stats)) => {
            tracing::debug!(rows = stats.rows, batches = stats.batches, "logs written");
            true
        }
        Ok(Err(logs::LogError::Fenced)) => false,
        Ok(Err(e)) => {
            tracing::error!(error = %crate::error_chain(&e), "some log rows could not be written");
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
        // A warm container's pool owned it until now.
        drop(c.in_use);
        if let Err(e) = &removed {
            tracing::warn!(container = %c.id, error = %crate::error_chain(e), "cannot remove container; the reaper will retry");
        }
        let row = match c.row {
            Some(task) => task.await.ok().flatten(),
            None => None,
        };
        let written = match ctx.pool.get().await {
            Ok(db) => match row {
                Some(row) => containers::ended(&db, row, c.exit, removed.is_ok()).await,
                None if removed.is_ok() => containers::removed(&db, &c.id).await,
                None => Ok(()),
            }
            .map_err(|e| crate::error_chain(&e)),
            Err(e) => Err(crate::error_chain(&e)),
        };
        if let Err(e) = written {
            tracing::warn!(container = %c.id, error = %e, "cannot record the container's end (dashboard only)");
        }
    }
}

/// A session's container, for the bookkeeping after its outcome.
struct ContainerRecord {
    id: String,
    /// The wall it was built in.
    wall: Isolation,
    /// A warm container: the pool's mark, held until its removal.
    in_use: Option<InUse>,
    /// Its `container_instances` row, being written.
    row: Option<tokio::task::JoinHandle<Option<uuid::Uuid>>>,
    /// Exit code and OOM flag, once it ended.
    exit: Option<(Option<i32>, bool)>,
}

async fn record(pool: &Pool, s: &Claimed, o: &Outcome) {
    let mut delay = Duration::from_millis(100);
    for tries in 1..=5 {
        let result = async {
            let db = pool.get().await.map_err(|e| crate::error_chain(&e))?;
            queue::finish(&db, s.id, s.attempt, o).await.map_err(|e| crate::error_chain(&e))
        }
        .await;
        match result {
            Ok(true) => {
                crate::metrics::METRICS.finished(o.end_reason);
                tracing::info!(status = %o.status, end_reason = %o.end_reason, exit_code = o.exit.map(|e| e.code()), "session finished");
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

/// A sandbox failure as the session's outcome; a missing image's says the
/// command that builds it.
fn infrastructure(ctx: &Ctx, e: SandboxError) -> Option<Outcome> {
    tracing::error!(error = %crate::error_chain(&e), "sandbox failure");
    ctx.engine_suspect.store(true, std::sync::atomic::Ordering::Relaxed);
    let build = |image: &str| match ctx.runtimes.all().iter().find(|rt| rt.image == image) {
        Some(rt) => format!("execbox images build {}", rt.language),
        None => "execbox images build".to_string(),
    };
    let (reason, message) = match &e {
        SandboxError::ImageMissing(image) => (
            EndReason::ImageMissing,
            format!("runtime image {image} is not on this worker's Docker engine; build it with `{}`", build(image)),
        ),
        SandboxError::ImageOutdated(image) => (
            EndReason::ImageMissing,
            format!(
                "runtime image {image} has no execbox launcher (an older execbox built it); rebuild it with `{}`",
                build(image)
            ),
        ),
        _ => (EndReason::Infrastructure, e.to_string()),
    };
    Some(Outcome::refused(reason, message))
}

/// A claimed session's sandboxed part: what it runs, and the container it
/// made, kept for the bookkeeping after the outcome.
struct SessionRun<'a, 'p> {
    ctx: &'a Ctx,
    s: &'a Claimed,
    plan: &'a Plan<'p>,
    cases: Option<&'a ValidCases<'p>>,
    /// Notified when `session_input` rows arrive for this session.
    input: &'a Arc<Notify>,
    /// The session's container, once one exists.
    container: Option<ContainerRecord>,
}

impl SessionRun<'_, '_> {
    /// Runs the session in its sandbox. `None`: the session is no longer ours.
    async fn sandboxed(&mut self, mut io: Io<'_>) -> Option<Outcome> {
        let (ctx, s, plan, cases) = (self.ctx, self.s, self.plan, self.cases);
        let claimed = std::time::Instant::now();
        let rt = plan.runtime;
        let worker_id = ctx.cfg.worker.id.as_str();
        let labels = policy::session_labels(&ctx.scope, s.id, s.attempt, worker_id);
        let wall = plan::wall(rt, &ctx.cfg.limits, s.anonymous);
        // Under gVisor a compiler gets a sandbox of its own, and the program's
        // starts from the /work it compiled (see `plan::compiles_apart`).
        let apart = match plan::compiles_apart(&plan.stages, wall) {
            true => match apart::compile(self, wall, io.lend()).await {
                Ok(compiled) => Some(compiled),
                Err(outcome) => return outcome,
            },
            false => None,
        };
        let mut start = apart::ProgramStart::of(plan, apart);
        let mut spec = container_spec(rt, &start.launch, &start.stages, &ctx.cfg.limits, wall, labels);
        // The compiled program runs from /work.
        spec.exec_work |= start.tree.is_some();
        // A warm container serves the session when it is the container the
        // session would get but for its labels, a lower memory limit and its
        // launcher's command line, both applied before the code arrives (see
        // `warm::fit`).
        let warm = match &ctx.warm {
            Some(pool) => pool.serve(&spec, &rt.language, &start.launch).await,
            None => None,
        };
        let (warm, in_use) = warm.unzip();
        let warmed = warm.is_some();
        let counter =
            if warmed { &crate::metrics::METRICS.containers_warm } else { &crate::metrics::METRICS.containers_cold };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let running = match warm {
            Some(r) => r,
            None => {
                let created = match ctx.engine.create(&spec).await {
                    Ok(c) => c,
                    Err(e) => return infrastructure(ctx, e),
                };
                self.container =
                    Some(ContainerRecord { id: created.id.clone(), wall, in_use: None, row: None, exit: None });
                match ctx.engine.start(&created).await {
                    Ok(r) => r,
                    Err(e) => return infrastructure(ctx, e),
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
                match containers::started(&db, id, attempt, &worker_id, &cid, &image).await {
                    Ok(row) => Some(row),
                    Err(e) => {
                        tracing::warn!(error = %crate::error_chain(&e), "cannot record the container (dashboard only)");
                        None
                    }
                }
            })
        };
        self.container = Some(ContainerRecord { id: running.id.clone(), wall, in_use, row: Some(row), exit: None });
        if let Some(cases) = cases {
            return cases::run(self, cases, running, start, io).await;
        }

        let input = Input {
            tree: start.tree.take(),
            files: std::mem::take(&mut start.files),
            stdin: s.request.stdin.as_deref().unwrap_or("").as_bytes().to_vec(),
            events: s.request.interactive.then(|| crate::db::input::follow(ctx.pool.clone(), s.id, self.input.clone())),
            cases: None,
        };
        let finished = match crate::sandbox::run::run(&ctx.engine, running, input, &start.stages, io.lend()).await {
            Ok(f) => start.finished(f),
            Err(e) => return infrastructure(ctx, e),
        };
        tracing::debug!(ending = ?finished.ending, "container ended");
        crate::metrics::METRICS.run_duration.observe(finished.wall_time);
        let outcome = judge(&finished, &plan.stages, ctx.cfg.limits.output_limit_bytes, io.pipe.compile_excerpt())?;
        if let Some(c) = self.container.as_mut() {
            c.exit = Some((outcome.exit.map(|e| e.code()), outcome.end_reason == EndReason::MemoryLimit));
        }
        let Some(v) = &plan.validation else { return Some(outcome) };
        let (outcome, result) = judge_validation(outcome, &finished, v);
        if let (SessionStatus::Completed, Some(r)) = (outcome.status, &result) {
            io.pipe.system(
                Level::Info,
                format!("execbox: validation: {} of {} tests passed", r.tests_passed, r.total_tests),
            );
        }
        Some(outcome)
    }
}
