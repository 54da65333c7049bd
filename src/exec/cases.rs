//! A cases session, run: the solution's sandbox compiles once and runs each
//! case as the conductor sends it; a checker program, when one judges, gets
//! a sandbox of its own (its language may differ), compiled once too and run
//! once per checked case on that case's `input`, `output` and `answer`
//! files, so it sees no other case and the solution never sees it. The
//! conductor sends one case at a time, judges its report, stops after the
//! first failure when asked, and sends no case that would not fit the cases'
//! time budget.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::judge::judge;
use super::plan::{CheckerPlan, CHECKER_OUTPUT_BYTES};
use super::verdict::{apply_check, cases_outcome, judge_case, CasesEnd, Judged, Room};
use super::{container_spec, Ctx, SessionRun};
use crate::db::queue::Claimed;
use crate::model::cases::{CaseResult, Comparison, ValidCases, ValidChecker};
use crate::model::request::File;
use crate::model::{CaseStatus, Level, Outcome};
use crate::output::OutputPipe;
use crate::sandbox::engine::Running;
use crate::sandbox::launcher;
use crate::sandbox::warm::InUse;
use crate::sandbox::{policy, CaseLink, CaseReport, Ending, Finished, Input, Io, SandboxError};

/// The checker's files and arguments: `checker input output answer`.
const CHECKER_ARGS: [&str; 3] = ["input", "output", "answer"];

/// One sandbox's end of the conduct: frames out, reports in.
struct Line {
    frames: mpsc::Sender<Vec<u8>>,
    reports: mpsc::Receiver<CaseReport>,
}

/// A link for `run::run` and the conductor's end of it.
fn link(keep_bytes: usize) -> (CaseLink, Line) {
    let (frames_tx, frames_rx) = mpsc::channel(1);
    let (reports_tx, reports_rx) = mpsc::channel(2);
    (CaseLink { frames: frames_rx, reports: reports_tx, keep_bytes }, Line { frames: frames_tx, reports: reports_rx })
}

/// Why the conductor stopped.
#[derive(Debug)]
enum Stopped {
    Ran,
    OutOfTime,
    /// The checker program said something that is not a verdict.
    Checker(String),
    /// The checker's sandbox was gone when a case needed it.
    CheckerGone,
    /// The solution's sandbox was gone (its own ending says why).
    SolutionGone,
}

struct Conduct<'a> {
    cases: &'a ValidCases<'a>,
    /// None: a checker program judges.
    comparison: Option<Comparison>,
    budget: Duration,
    checker_timeout: Option<Duration>,
    case_output_bytes: u64,
}

/// Sends the cases one at a time and judges them.
async fn conduct(c: Conduct<'_>, mut solution: Line, mut checker: Option<Line>) -> (Vec<CaseResult>, Stopped) {
    // The budget counts from the first case (the compile stage has its own
    // limits).
    let mut started: Option<Instant> = None;
    let mut room = Room::default();
    let mut results = Vec::with_capacity(c.cases.cases.len());
    let checker_args: Vec<String> = CHECKER_ARGS.iter().map(|s| s.to_string()).collect();
    for case in &c.cases.cases {
        let used = started.get_or_insert_with(Instant::now).elapsed();
        if used + case.timeout + c.checker_timeout.unwrap_or_default() > c.budget {
            return (results, Stopped::OutOfTime);
        }
        let frame = launcher::case(&launcher::Case {
            wall: case.timeout,
            cpu: case.cpu_time,
            output_bytes: c.case_output_bytes,
            args: &case.args,
            files: &[],
            stdin: &case.stdin,
        });
        if solution.frames.send(frame).await.is_err() {
            return (results, Stopped::SolutionGone);
        }
        let Some(report) = solution.reports.recv().await else {
            return (results, Stopped::SolutionGone);
        };
        let result = match judge_case(case, &report, c.comparison, &mut room) {
            Judged::Done(r) => r,
            Judged::ToCheck(r) => {
                let Some(line) = checker.as_mut() else { unreachable!("a case left to a checker program without one") };
                let files = [
                    File { name: CHECKER_ARGS[0].into(), content: case.stdin.clone() },
                    File { name: CHECKER_ARGS[1].into(), content: report.stdout },
                    File {
                        name: CHECKER_ARGS[2].into(),
                        content: case.expected.clone().unwrap_or_default().into_bytes(),
                    },
                ];
                let frame = launcher::case(&launcher::Case {
                    wall: c.checker_timeout.unwrap_or(case.timeout),
                    cpu: None,
                    output_bytes: CHECKER_OUTPUT_BYTES,
                    args: &checker_args,
                    files: &files,
                    stdin: b"",
                });
                if line.frames.send(frame).await.is_err() {
                    return (results, Stopped::CheckerGone);
                }
                let Some(check) = line.reports.recv().await else {
                    return (results, Stopped::CheckerGone);
                };
                match apply_check(r, &check) {
                    Ok(r) => r,
                    Err(why) => return (results, Stopped::Checker(why)),
                }
            }
        };
        let failed = result.status != CaseStatus::Accepted;
        results.push(result);
        if failed && c.cases.stop_on_failure {
            break;
        }
    }
    (results, Stopped::Ran)
}

/// Why the checker's sandbox was gone, from how it ended.
fn checker_gone(f: Option<&Result<Finished, SandboxError>>, excerpt: &str) -> String {
    match f.map(|r| r.as_ref().map(|f| f.ending)) {
        Some(Ok(Ending::CompileFailed(_))) => {
            format!("it did not compile: {}", if excerpt.is_empty() { "the compiler printed nothing" } else { excerpt })
        }
        Some(Ok(Ending::CompileTimedOut)) => "its compilation ran over the time limit".into(),
        Some(Ok(ending)) => format!("its sandbox ended ({ending:?})"),
        Some(Err(e)) => format!("its sandbox failed: {e}"),
        None => "it never started".into(),
    }
}

/// Runs a cases session in `running` (the solution's sandbox, started); a
/// checker program's sandbox is created here and removed before returning.
pub(super) async fn run(
    session: &SessionRun<'_, '_>,
    cases: &ValidCases<'_>,
    running: Running,
    mut start: super::apart::ProgramStart,
    io: Io<'_>,
) -> Option<Outcome> {
    let (ctx, s, plan) = (session.ctx, session.s, session.plan);
    let Io { pipe, logs, stop } = io;
    let l = &ctx.cfg.limits;
    let (solution_link, solution_line) = link(l.case_output_bytes as usize);
    let checker = match &plan.checker {
        Some(c) => match start_checker(ctx, s, c).await {
            Ok(started) => Some(started),
            Err(e) => return super::infrastructure(ctx, e),
        },
        None => None,
    };
    let comparison = match cases.checker {
        ValidChecker::Compare(how) => Some(how),
        ValidChecker::Program { .. } => None,
    };
    let checker_timeout = plan.checker.as_ref().map(|c| c.timeout);
    let conduct_with = Conduct {
        cases,
        comparison,
        budget: Duration::from_millis(l.max_cases_time_ms),
        checker_timeout,
        case_output_bytes: l.case_output_bytes,
    };
    // The checker stops when the session does.
    let mut checker_stop = stop.clone();
    // Compiled apart (under gVisor): the cases run from the compiled /work.
    let solution_input = Input {
        tree: start.tree.take(),
        files: std::mem::take(&mut start.files),
        stdin: Vec::new(),
        events: None,
        cases: Some(solution_link),
    };
    let solution_io = Io { pipe: &mut *pipe, logs, stop };
    let solution = crate::sandbox::run::run(&ctx.engine, running, solution_input, &start.stages, solution_io);

    // The checker's output is not the session's: its own pipe, and a log
    // channel nobody reads (its lines are dropped).
    let mut checker_pipe = OutputPipe::new(l.output_limit_bytes, l.max_line_bytes);
    let (checker_logs, _) = mpsc::channel(1);
    let (checker_line, checker_run, checker_in_use) = match checker {
        Some((running, in_use, c)) => {
            let (link, line) = link(CHECKER_OUTPUT_BYTES as usize);
            let input =
                Input { tree: None, files: c.files.clone(), stdin: Vec::new(), events: None, cases: Some(link) };
            (Some(line), Some((running, input, c)), in_use)
        }
        None => (None, None, None),
    };
    let checker_id = checker_run.as_ref().map(|(r, _, _)| r.id.clone());
    let checking = async {
        match checker_run {
            Some((running, input, c)) => {
                let io = Io { pipe: &mut checker_pipe, logs: &checker_logs, stop: &mut checker_stop };
                Some(crate::sandbox::run::run(&ctx.engine, running, input, &c.stages, io).await)
            }
            None => None,
        }
    };
    let ((results, stopped), finished, checked) =
        tokio::join!(conduct(conduct_with, solution_line, checker_line), solution, checking);
    if let Some(id) = checker_id {
        if let Err(e) = ctx.engine.remove(&id).await {
            tracing::warn!(container = %id, error = %crate::error_chain(&e), "cannot remove the checker's container; the reaper will");
        }
        // A warm container's pool owned it until now.
        drop(checker_in_use);
    }
    let finished = match finished {
        Ok(f) => start.finished(f),
        Err(e) => return super::infrastructure(ctx, e),
    };
    crate::metrics::METRICS.run_duration.observe(finished.wall_time);
    let run = judge(&finished, &plan.stages, l.output_limit_bytes, pipe.compile_excerpt())?;
    let end = match (stopped, finished.ending) {
        (_, ending) if !matches!(ending, Ending::Exited(_)) => CasesEnd::Interrupted,
        (Stopped::Ran, _) => CasesEnd::Ran,
        (Stopped::OutOfTime, _) => CasesEnd::OutOfTime { budget_ms: l.max_cases_time_ms as u128 },
        (Stopped::Checker(why), _) => CasesEnd::CheckerFailed(why),
        (Stopped::CheckerGone, _) => {
            CasesEnd::CheckerFailed(checker_gone(checked.as_ref(), checker_pipe.compile_excerpt()))
        }
        (Stopped::SolutionGone, _) => CasesEnd::Interrupted,
    };
    let outcome = cases_outcome(run, &cases.cases, results, end);
    if let Some(r) = &outcome.result {
        let (passed, total, verdict) = (&r["passed"], &r["total"], r["verdict"].as_str().unwrap_or(""));
        pipe.set_case(None);
        pipe.system(Level::Info, format!("execbox: cases: {passed} of {total} accepted; verdict {verdict}"));
    }
    Some(outcome)
}

/// Creates and starts the checker program's sandbox, or takes a warm one
/// (with the pool's mark, held until its removal).
async fn start_checker<'p>(
    ctx: &Ctx,
    s: &Claimed,
    c: &'p CheckerPlan<'p>,
) -> Result<(Running, Option<InUse>, &'p CheckerPlan<'p>), SandboxError> {
    let labels = policy::session_labels(&ctx.scope, s.id, s.attempt, &ctx.cfg.worker.id);
    let wall = super::plan::wall(c.runtime, &ctx.cfg.limits, s.anonymous);
    let spec = container_spec(c.runtime, &c.launch, &c.stages, &ctx.cfg.limits, wall, labels);
    if let Some(pool) = &ctx.warm {
        if let Some((running, in_use)) = pool.serve(&spec, &c.runtime.language, &c.launch).await {
            return Ok((running, Some(in_use), c));
        }
    }
    let created = ctx.engine.create(&spec).await?;
    match ctx.engine.start(&created).await {
        Ok(running) => Ok((running, None, c)),
        Err(e) => {
            let _ = ctx.engine.remove(&created.id).await;
            Err(e)
        }
    }
}
