//! How a run ended, as the session's status, exit code, message and
//! (validation) results.

use super::plan::{Plan, Validation};
use crate::db::queue::{Outcome, Status};
use crate::sandbox::{Ending, Finished, StopReason};

/// Maps how the container ended to the session's status and message.
pub(super) fn judge(f: &Finished, plan: &Plan<'_>, output_limit: u64, compile_excerpt: &str) -> Option<Outcome> {
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

/// A validation's outcome: `completed` with the per-test results when the
/// framework's report arrived (whatever the tests said), the compile error
/// when the code did not compile, and otherwise the run's failure.
pub(super) fn judge_validation(
    run: Outcome,
    f: &Finished,
    v: &Validation,
    report: Option<&str>,
    bench: Option<&str>,
) -> Outcome {
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
