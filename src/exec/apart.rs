//! Compiling apart: under a wall whose sandboxes cannot change their limits
//! between the stages (gVisor's), the compiler runs in a sandbox of its own
//! at the compile stage's limits; its launcher sends the compiled /work
//! back, and the program's sandbox, at the run stage's limits, starts from
//! it (see `plan::compiles_apart`). This is the first half.

use bytes::Bytes;

use super::judge::{judge, judge_validation};
use super::{infrastructure, SessionRun};
use crate::model::request::File;
use crate::model::{Isolation, Outcome};
use crate::sandbox::launcher::{Launch, Status, TREE_BLOCK};
use crate::sandbox::{policy, Ending, Finished, Input, Io, SandboxError, Stages};

/// What the compile sandbox handed over.
pub(super) struct Compiled {
    /// /work as compiled, for the program's sandbox (`launcher::tree`).
    pub tree: Bytes,
    /// The compiler's status (its usage is the compile stage's).
    pub status: Status,
}

/// What the program's sandbox starts from: the plan's own, or, compiled
/// apart, the run stage alone from /work as compiled (sources included).
pub(super) struct ProgramStart {
    pub launch: Launch,
    pub stages: Stages,
    pub tree: Option<Bytes>,
    pub files: Vec<File>,
    /// The compiler's status from its own sandbox.
    pub compiled: Option<Status>,
}

impl ProgramStart {
    pub(super) fn of(plan: &super::Plan<'_>, apart: Option<Compiled>) -> ProgramStart {
        match apart {
            Some(c) => ProgramStart {
                launch: plan.launch.apart().expect("compiled apart").1,
                stages: Stages { compile: None, ..plan.stages },
                tree: Some(c.tree),
                files: Vec::new(),
                compiled: Some(c.status),
            },
            None => ProgramStart {
                launch: plan.launch.clone(),
                stages: plan.stages,
                tree: None,
                files: plan.files.clone(),
                compiled: None,
            },
        }
    }

    /// The program's run, with the compile stage it had apart.
    pub(super) fn finished(&self, mut f: Finished) -> Finished {
        if self.compiled.is_some() {
            f.compiled = self.compiled;
        }
        f
    }
}

/// Compiles `plan` in a sandbox of its own; the compiled /work, or the
/// session's outcome when it ends here (the compiler failed or ran out of
/// time, the session was cancelled; `None`: it is no longer ours).
pub(super) async fn compile(
    run: &SessionRun<'_, '_>,
    wall: Isolation,
    mut io: Io<'_>,
) -> Result<Compiled, Option<Outcome>> {
    let (ctx, s, plan) = (run.ctx, run.s, run.plan);
    let rt = plan.runtime;
    let (launch, _) = plan.launch.apart().expect("a plan that compiles apart has a compile stage");
    let stages = Stages { export: true, ..plan.stages };
    let labels = policy::session_labels(&ctx.scope, s.id, s.attempt, &ctx.cfg.worker.id);
    let spec = super::container_spec(rt, &launch, &stages, &ctx.cfg.limits, wall, labels);
    let created = ctx.engine.create(&spec).await.map_err(|e| infrastructure(ctx, e))?;
    let finished = async {
        let running = ctx.engine.start(&created).await?;
        let input = Input { tree: None, files: plan.files.clone(), stdin: Vec::new(), events: None, cases: None };
        crate::sandbox::run::run(&ctx.engine, running, input, &stages, io.lend()).await
    }
    .await;
    // Its work is done either way; the reaper retries a failed removal.
    if let Err(e) = ctx.engine.remove(&created.id).await {
        tracing::warn!(container = %created.id, error = %crate::error_chain(&e), "cannot remove the compile sandbox");
    }
    let mut finished = finished.map_err(|e| infrastructure(ctx, e))?;
    match (finished.ending, finished.compiled, finished.blocks.remove(TREE_BLOCK)) {
        (Ending::Exited(_), Some(status), Some(tree)) if status.success() => Ok(Compiled { tree, status }),
        (Ending::Exited(_), ..) => Err(infrastructure(
            ctx,
            SandboxError::Launcher("the compile sandbox's launcher ended without sending /work".into()),
        )),
        _ => {
            let outcome = judge(&finished, &plan.stages, ctx.cfg.limits.output_limit_bytes, io.pipe.compile_excerpt());
            // A validation's result says the compiler failed, as it does
            // when both stages share a sandbox.
            Err(match (outcome, &plan.validation) {
                (Some(outcome), Some(v)) => Some(judge_validation(outcome, &finished, v).0),
                (outcome, _) => outcome,
            })
        }
    }
}
