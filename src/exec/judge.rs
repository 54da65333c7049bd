//! How a run ended, as the session's outcome: status, end reason, exit,
//! usage, message and (validation) results. Pure functions of what the
//! sandbox reported.

use super::plan::Validation;
use crate::model::outcome::signal_name;
use crate::model::{EndReason, Exit, Outcome, SessionStatus, Stage, Usage};
use crate::sandbox::launcher::Status;
use crate::sandbox::{Ending, Finished, Stages, StopReason};
use crate::validate::ValidationResult;

/// A stage that failed because the kernel's OOM killer took it or one of
/// its processes (a compiler driver reports its killed backend as a plain
/// failure): the cgroup counted an OOM kill while it ran, or, where the
/// launcher could not read the count, a SIGKILL that Docker calls one.
fn out_of_memory(s: &Status, docker_says: bool) -> bool {
    s.exit != Exit::Code(0)
        && match s.oom_kills {
            Some(n) => n > 0,
            None => docker_says && s.exit == Exit::Signal(9),
        }
}

fn describe(exit: Exit) -> String {
    match exit {
        Exit::Code(c) => format!("exit code {c}"),
        Exit::Signal(n) => format!("killed by {}", signal_name(n)),
    }
}

/// The outcome of a run. `None`: the session is no longer ours (nothing is
/// recorded).
pub(super) fn judge(f: &Finished, stages: &Stages, output_limit: u64, compile_excerpt: &str) -> Option<Outcome> {
    use EndReason as R;
    let compile_mb = stages.compile.map(|c| c.memory_mb).unwrap_or_default();
    let run_mb = stages.run.memory_mb;
    let said = |r: R, exit: Option<Exit>, msg: String| Outcome::new(r, exit, Some(msg));
    let cpu_ms = |l: Option<crate::sandbox::StageLimits>| l.and_then(|l| l.cpu_time).map_or(0, |t| t.as_millis());
    let mut outcome = match f.ending {
        Ending::Stopped(StopReason::LeaseLost) => return None,
        Ending::CompileFailed(s) if s.cpu_exceeded => said(
            R::CompileTimeout,
            Some(s.exit),
            format!("compile CPU time limit of {} ms reached; the compiler was killed", cpu_ms(stages.compile)),
        ),
        Ending::Exited(s) if s.cpu_exceeded => said(
            R::CpuTime,
            Some(s.exit),
            format!("CPU time limit of {} ms reached; the program was killed", cpu_ms(Some(stages.run))),
        ),
        Ending::CompileFailed(s) if out_of_memory(&s, f.oom_killed) => said(
            R::CompileMemoryLimit,
            Some(s.exit),
            format!("out of memory while compiling: the compiler exceeded its {compile_mb} MB limit"),
        ),
        Ending::CompileFailed(s) => said(
            R::CompileError,
            Some(s.exit),
            format!(
                "compilation failed ({}): {}",
                describe(s.exit),
                if compile_excerpt.is_empty() { "the compiler printed nothing" } else { compile_excerpt }
            ),
        ),
        Ending::CompileTimedOut => said(
            R::CompileTimeout,
            None,
            format!(
                "compile time limit of {} ms reached; the compiler was killed",
                stages.compile.map(|c| c.timeout.as_millis()).unwrap_or_default()
            ),
        ),
        Ending::TimedOut => said(
            R::Timeout,
            None,
            format!("time limit of {} ms reached; the program was killed", stages.run.timeout.as_millis()),
        ),
        Ending::OutputLimit => {
            said(R::OutputLimit, None, format!("output limit of {output_limit} bytes reached; the program was stopped"))
        }
        Ending::Stopped(StopReason::Cancelled) => {
            said(R::Cancelled, None, "cancelled by the owner; the program was killed".into())
        }
        Ending::Stopped(StopReason::Shutdown) => {
            said(R::Shutdown, None, "the worker shut down before the run finished; the program was killed".into())
        }
        Ending::Exited(s) if out_of_memory(&s, f.oom_killed) => said(
            R::MemoryLimit,
            Some(s.exit),
            format!("out of memory: the program exceeded its {run_mb} MB memory limit and was killed"),
        ),
        Ending::Exited(s) => match s.exit {
            Exit::Code(0) => Outcome::new(R::Exit, Some(s.exit), None),
            Exit::Code(c) => said(R::Exit, Some(s.exit), format!("the program exited with code {c}")),
            Exit::Signal(n) => said(
                R::Signal,
                Some(s.exit),
                format!("the program was killed by {} (exit code {})", signal_name(n), s.exit.code()),
            ),
        },
        Ending::Vanished(_) if f.oom_killed && f.stage == Stage::Compile => said(
            R::CompileMemoryLimit,
            Some(Exit::Signal(9)),
            format!("out of memory while compiling: the compiler exceeded its {compile_mb} MB limit"),
        ),
        Ending::Vanished(_) if f.oom_killed => said(
            R::MemoryLimit,
            Some(Exit::Signal(9)),
            format!("out of memory: the program exceeded its {run_mb} MB memory limit and was killed"),
        ),
        // SIGKILL sent to the container (an interactive user's signal).
        Ending::Vanished(Some(137)) => {
            said(R::Signal, Some(Exit::Signal(9)), "the program was killed by SIGKILL (exit code 137)".into())
        }
        Ending::Vanished(code) => said(
            R::Infrastructure,
            code.map(|c| Exit::Code(c as i32)),
            format!(
                "the container ended without its launcher's report (exit code {})",
                code.map(|c| c.to_string()).unwrap_or_else(|| "unknown".into())
            ),
        ),
    };
    outcome.usage = Usage {
        compile: f.compiled.map(|s| s.usage),
        run: match f.ending {
            Ending::Exited(s) => Some(s.usage),
            _ => None,
        },
        isolation: None,
    };
    Some(outcome)
}

/// A validation's outcome: `completed` with the per-test results when the
/// framework's report arrived (whatever the tests said), the compile error
/// when the code did not compile, and otherwise the run's failure. The
/// result is also returned typed.
pub(super) fn judge_validation(run: Outcome, f: &Finished, v: &Validation) -> (Outcome, Option<ValidationResult>) {
    let outcome = validation_outcome(run, f, v);
    let typed = outcome.result.as_ref().and_then(|r| serde_json::from_value(r.clone()).ok());
    (outcome, typed)
}

fn validation_outcome(run: Outcome, f: &Finished, v: &Validation) -> Outcome {
    if run.end_reason == EndReason::CompileError {
        let msg = run.error.clone().unwrap_or_default();
        return Outcome { result: Some(crate::validate::compile_error_result(&msg).to_json()), ..run };
    }
    let ran = matches!(f.ending, Ending::Exited(_));
    let report = f.blocks.get("report").filter(|b| !b.is_empty());
    let parsed = report.map(|bytes| crate::validate::parse(v.format, bytes, &v.declared));
    let completed = |run: Outcome, result: ValidationResult| Outcome {
        status: SessionStatus::Completed,
        error: None,
        result: Some(result.to_json()),
        ..run
    };
    match parsed {
        Some(Ok(tests)) if !tests.is_empty() && (ran || v.bench.is_some()) => {
            let mut result = crate::validate::result(&tests);
            let Some(runs) = v.bench else { return completed(run, result) };
            if !result.passed {
                // Wrong code is not timed.
                return completed(run, result);
            }
            let timings = f.blocks.get("bench").map(|b| crate::validate::timings(b));
            match timings {
                Some(t) if t.len() as u64 == runs && ran => {
                    result.statistics = crate::validate::statistics(&t);
                    completed(run, result)
                }
                _ if !ran => Outcome { result: Some(result.to_json()), ..run },
                other => Outcome {
                    status: SessionStatus::Failed,
                    error: Some(format!(
                        "the benchmark did not finish: {} of {runs} timed runs recorded ({})",
                        other.map(|t| t.len()).unwrap_or(0),
                        run.exit.map(describe).unwrap_or_else(|| "no exit status".into())
                    )),
                    result: Some(result.to_json()),
                    ..run
                },
            }
        }
        Some(Err(e)) => Outcome {
            status: SessionStatus::Failed,
            error: Some(format!("the test report could not be read: {e}")),
            ..run
        },
        _ if matches!(run.end_reason, EndReason::Exit | EndReason::Signal) => Outcome {
            status: SessionStatus::Failed,
            error: Some(format!(
                "the test framework ran no test or wrote no report ({}); see its output in the log",
                run.exit.map(describe).unwrap_or_else(|| "no exit status".into())
            )),
            ..run
        },
        _ => run,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::*;
    use crate::model::{ReportFormat, StageUsage};
    use crate::sandbox::StageLimits;

    fn stages(compile: bool) -> Stages {
        let s = |ms, mb| StageLimits {
            timeout: Duration::from_millis(ms),
            memory_mb: mb,
            cpus: 1.0,
            cpu_time: Some(Duration::from_millis(ms / 2)),
        };
        Stages { compile: compile.then(|| s(9000, 1024)), run: s(2000, 256), export: false }
    }

    fn st(exit: Exit, ooms: Option<u32>) -> Status {
        Status {
            exit,
            usage: StageUsage { cpu_ms: 5.0, wall_ms: 7.0, memory_kb: 100 },
            oom_kills: ooms,
            cpu_exceeded: false,
            wall_exceeded: false,
            output_exceeded: false,
        }
    }

    fn over_cpu(exit: Exit) -> Status {
        Status { cpu_exceeded: true, ..st(exit, Some(0)) }
    }

    fn fin(ending: Ending, stage: Stage, oom_killed: bool) -> Finished {
        Finished {
            ending,
            stage,
            compiled: None,
            blocks: HashMap::new(),
            oom_killed,
            wall_time: Duration::from_millis(7),
        }
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn endings_to_outcomes() {
        use EndReason as R;
        use SessionStatus as S;
        let run = Stage::Run;
        #[rustfmt::skip]
        let table: Vec<(Finished, Option<(S, R, Option<i32>, &str)>)> = vec![
            (fin(Ending::Exited(st(Exit::Code(0), Some(0))), run, false), Some((S::Completed, R::Exit, Some(0), ""))),
            (fin(Ending::Exited(st(Exit::Code(3), Some(0))), run, false), Some((S::Failed, R::Exit, Some(3), "exited with code 3"))),
            (fin(Ending::Exited(st(Exit::Signal(11), Some(0))), run, false), Some((S::Failed, R::Signal, Some(139), "killed by SIGSEGV (exit code 139)"))),
            (fin(Ending::Exited(st(Exit::Signal(25), Some(0))), run, false), Some((S::Failed, R::Signal, Some(153), "SIGXFSZ"))),
            (fin(Ending::Exited(st(Exit::Signal(9), Some(1))), run, false), Some((S::Failed, R::MemoryLimit, Some(137), "its 256 MB memory limit"))),
            (fin(Ending::Exited(st(Exit::Signal(9), None)), run, true), Some((S::Failed, R::MemoryLimit, Some(137), "out of memory"))),
            (fin(Ending::Exited(st(Exit::Signal(9), Some(0))), run, false), Some((S::Failed, R::Signal, Some(137), "SIGKILL"))),
            (fin(Ending::CompileFailed(st(Exit::Code(1), Some(0))), Stage::Compile, false), Some((S::Failed, R::CompileError, Some(1), "compilation failed (exit code 1): main.cpp: error"))),
            (fin(Ending::CompileFailed(st(Exit::Signal(9), Some(2))), Stage::Compile, false), Some((S::Failed, R::CompileMemoryLimit, Some(137), "its 1024 MB limit"))),
            // g++ reports its OOM-killed cc1plus as a plain failure.
            (fin(Ending::CompileFailed(st(Exit::Code(1), Some(1))), Stage::Compile, false), Some((S::Failed, R::CompileMemoryLimit, Some(1), "while compiling"))),
            // A program that survived its child's OOM kill and exited 0.
            (fin(Ending::Exited(st(Exit::Code(0), Some(1))), run, false), Some((S::Completed, R::Exit, Some(0), ""))),
            (fin(Ending::CompileTimedOut, Stage::Compile, false), Some((S::Timeout, R::CompileTimeout, None, "compile time limit of 9000 ms"))),
            (fin(Ending::Exited(over_cpu(Exit::Signal(9))), run, false), Some((S::Timeout, R::CpuTime, Some(137), "CPU time limit of 1000 ms reached"))),
            (fin(Ending::CompileFailed(over_cpu(Exit::Signal(9))), Stage::Compile, false), Some((S::Timeout, R::CompileTimeout, Some(137), "compile CPU time limit of 4500 ms"))),
            (fin(Ending::TimedOut, run, false), Some((S::Timeout, R::Timeout, None, "time limit of 2000 ms"))),
            (fin(Ending::OutputLimit, run, false), Some((S::Failed, R::OutputLimit, None, "output limit of 100 bytes"))),
            (fin(Ending::Stopped(StopReason::Cancelled), run, false), Some((S::Cancelled, R::Cancelled, None, "cancelled by the owner"))),
            (fin(Ending::Stopped(StopReason::Shutdown), run, false), Some((S::Error, R::Shutdown, None, "shut down"))),
            (fin(Ending::Stopped(StopReason::LeaseLost), run, false), None),
            (fin(Ending::Vanished(Some(137)), run, true), Some((S::Failed, R::MemoryLimit, Some(137), "256 MB"))),
            (fin(Ending::Vanished(Some(137)), Stage::Compile, true), Some((S::Failed, R::CompileMemoryLimit, Some(137), "1024 MB"))),
            (fin(Ending::Vanished(Some(137)), run, false), Some((S::Failed, R::Signal, Some(137), "SIGKILL"))),
            (fin(Ending::Vanished(Some(2)), run, false), Some((S::Error, R::Infrastructure, Some(2), "without its launcher's report (exit code 2)"))),
            (fin(Ending::Vanished(None), run, false), Some((S::Error, R::Infrastructure, None, "exit code unknown"))),
        ];
        for (f, want) in table {
            let got = judge(&f, &stages(f.stage == Stage::Compile), 100, "main.cpp: error")
                .map(|o| (o.status, o.end_reason, o.exit.map(Exit::code), o.error.unwrap_or_default()));
            match (got, want) {
                (None, None) => {}
                (Some((s, r, code, msg)), Some((ws, wr, wcode, wmsg))) => {
                    assert_eq!((s, r, code), (ws, wr, wcode), "{:?}", f.ending);
                    assert!(msg.contains(wmsg), "{:?}: {msg:?} should say {wmsg:?}", f.ending);
                }
                (got, want) => panic!("{:?}: got {got:?}, want {want:?}", f.ending),
            }
        }
    }

    #[test]
    fn usage_is_the_stages_that_ran() {
        let mut f = fin(Ending::Exited(st(Exit::Code(0), Some(0))), Stage::Run, false);
        f.compiled = Some(st(Exit::Code(0), Some(0)));
        let o = judge(&f, &stages(true), 100, "").unwrap();
        assert_eq!(o.usage.compile.unwrap().cpu_ms, 5.0);
        assert_eq!(o.usage.run.unwrap().memory_kb, 100);
        let o = judge(&fin(Ending::TimedOut, Stage::Run, false), &stages(false), 100, "").unwrap();
        assert!(o.usage.is_empty());
    }

    #[test]
    fn validations_complete_with_a_report() {
        let v = Validation { format: ReportFormat::Libtest, declared: vec![], bench: None };
        let report = |text: &'static str| {
            let mut f = fin(Ending::Exited(st(Exit::Code(101), Some(0))), Stage::Run, false);
            f.blocks.insert("report".into(), bytes::Bytes::from_static(text.as_bytes()));
            f
        };
        let judged = |f: &Finished| {
            let run = judge(f, &stages(false), 100, "").unwrap();
            judge_validation(run, f, &v).0
        };
        // Tests failed: the validation itself completed.
        let o = judged(&report("ok a\nfailed b\n"));
        assert_eq!(o.status, SessionStatus::Completed);
        let r: ValidationResult = serde_json::from_value(o.result.unwrap()).unwrap();
        assert_eq!((r.passed, r.tests_passed, r.total_tests), (false, 1, 2));
        // No report: the framework never ran a test.
        let o = judged(&fin(Ending::Exited(st(Exit::Code(2), Some(0))), Stage::Run, false));
        assert_eq!(o.status, SessionStatus::Failed);
        assert!(o.error.unwrap().contains("ran no test"));
        // A timeout stays a timeout.
        let o = judged(&fin(Ending::TimedOut, Stage::Run, false));
        assert_eq!((o.status, o.end_reason), (SessionStatus::Timeout, EndReason::Timeout));
        // A compile error carries the compiler's words in the result.
        let f = fin(Ending::CompileFailed(st(Exit::Code(1), Some(0))), Stage::Compile, false);
        let run = judge(&f, &stages(true), 100, "bad code").unwrap();
        let (o, typed) = judge_validation(run, &f, &v);
        assert_eq!(typed.unwrap().compile_error.as_deref(), Some("compilation failed (exit code 1): bad code"));
        assert_eq!(o.result.unwrap()["compileError"], "compilation failed (exit code 1): bad code");
    }
}
