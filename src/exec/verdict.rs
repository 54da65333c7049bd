//! Test cases judged: a case's status from what the launcher measured, its
//! comparison or its checker program's word; a cases session's outcome from
//! all of them. Pure functions of what the sandbox reported.

use crate::model::cases::{Case, CaseResult, CasesResult, Comparison};
use crate::model::outcome::signal_name;
use crate::model::{CaseStatus, EndReason, Exit, Outcome, SessionStatus, StageUsage};
use crate::sandbox::launcher::Status;
use crate::sandbox::CaseReport;

/// A case's stdout and stderr are each kept in its result up to this many
/// bytes...
const KEEP_PER_STREAM: usize = 64 * 1024;
/// ...and all cases' together up to this many (later cases keep less).
const KEEP_TOTAL: usize = 8 * 1024 * 1024;

/// Bytes of output the result may still hold.
#[derive(Debug)]
pub(super) struct Room(usize);

impl Default for Room {
    fn default() -> Room {
        Room(KEEP_TOTAL)
    }
}

impl Room {
    /// The text of `bytes` as kept, and whether it was cut.
    fn keep(&mut self, bytes: &[u8]) -> (String, bool) {
        let n = bytes.len().min(KEEP_PER_STREAM).min(self.0);
        self.0 -= n;
        let mut text = String::from_utf8_lossy(&bytes[..n]).into_owned();
        // A cut inside a character leaves a replacement character: drop it.
        if n < bytes.len() && text.ends_with('\u{FFFD}') {
            text.pop();
        }
        (text, n < bytes.len())
    }
}

/// What judging a case leaves to do.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Judged {
    Done(CaseResult),
    /// It ran cleanly: the checker program decides.
    ToCheck(CaseResult),
}

fn describe(exit: Exit) -> String {
    match exit {
        Exit::Code(c) => format!("exit code {c}"),
        Exit::Signal(n) => format!("killed by {}", signal_name(n)),
    }
}

/// One case: its limits first, then how it exited, then its output
/// (compared, or left to the checker program when `comparison` is None).
pub(super) fn judge_case(c: &Case, r: &CaseReport, comparison: Option<Comparison>, room: &mut Room) -> Judged {
    let s = &r.status;
    let (stdout, cut_out) = room.keep(&r.stdout);
    let (stderr, cut_err) = room.keep(&r.stderr);
    let result = CaseResult {
        name: c.name.clone(),
        status: CaseStatus::Accepted,
        exit_code: match s.exit {
            Exit::Code(code) => Some(code),
            Exit::Signal(_) => None,
        },
        signal: s.exit.signal().map(signal_name),
        time_ms: Some(s.usage.cpu_ms),
        wall_ms: Some(s.usage.wall_ms),
        memory_kb: Some(s.usage.memory_kb),
        stdout,
        stderr,
        message: None,
        truncated: cut_out || cut_err,
    };
    let failed = |status, message: String| CaseResult { status, message: Some(message), ..result.clone() };
    // The kernel's OOM killer took it (or a child it did not survive), or
    // its peak was above its own limit (the sandbox allows the most any
    // case asks for).
    let oom = s.oom_kills.is_some_and(|n| n > 0) && s.exit != Exit::Code(0);
    let over_memory = oom || s.usage.memory_kb > c.memory_mb * 1024;
    let done = if s.wall_exceeded {
        failed(CaseStatus::TimeLimit, format!("time limit of {} ms exceeded", c.timeout.as_millis()))
    } else if s.cpu_exceeded {
        let ms = c.cpu_time.map_or(0, |t| t.as_millis());
        failed(CaseStatus::TimeLimit, format!("CPU time limit of {ms} ms exceeded"))
    } else if over_memory {
        failed(CaseStatus::MemoryLimit, format!("memory limit of {} MB exceeded", c.memory_mb))
    } else if s.output_exceeded {
        failed(CaseStatus::OutputLimit, "output limit exceeded; the program was stopped".into())
    } else if s.exit != Exit::Code(0) {
        failed(CaseStatus::RuntimeError, format!("the program ended with {}", describe(s.exit)))
    } else {
        match (comparison, &c.expected) {
            (None, _) => return Judged::ToCheck(result),
            (Some(_), None) => result,
            (Some(how), Some(expected)) => match r.cut {
                true => failed(CaseStatus::WrongAnswer, "the output is longer than execbox keeps to compare".into()),
                false => match super::compare::compare(how, expected, &String::from_utf8_lossy(&r.stdout)) {
                    Ok(()) => result,
                    Err(why) => failed(CaseStatus::WrongAnswer, why),
                },
            },
        }
    };
    Judged::Done(done)
}

/// The checker program's first line of stdout, at most this long, is the
/// case's message.
const CHECKER_MESSAGE_CHARS: usize = 200;

/// A checked case: the checker's exit 0 accepts, 1 or 2 reject; anything
/// else is the checker's failure (the error says what it did).
pub(super) fn apply_check(case: CaseResult, check: &CaseReport) -> Result<CaseResult, String> {
    let s: &Status = &check.status;
    // Its first line of stdout, else (a checker that crashed into a
    // rejection, as Python's uncaught exceptions exit 1) its last of stderr.
    let first = |b: &[u8], last: bool| -> Option<String> {
        let text = String::from_utf8_lossy(b);
        let mut lines = text.lines().map(str::trim_end).filter(|l| !l.trim().is_empty());
        let line = if last { lines.next_back() } else { lines.next() }?;
        Some(line.chars().take(CHECKER_MESSAGE_CHARS).collect())
    };
    let message = first(&check.stdout, false).or_else(|| first(&check.stderr, true));
    if s.wall_exceeded || s.cpu_exceeded {
        return Err("it ran over its time limit".into());
    }
    if s.output_exceeded {
        return Err("it printed more than its output limit".into());
    }
    if s.oom_kills.is_some_and(|n| n > 0) {
        return Err("it ran out of memory".into());
    }
    match s.exit {
        Exit::Code(0) => Ok(CaseResult { status: CaseStatus::Accepted, message, ..case }),
        Exit::Code(1 | 2) => Ok(CaseResult {
            status: CaseStatus::WrongAnswer,
            message: message.or_else(|| Some("rejected by the checker".into())),
            ..case
        }),
        other => {
            let said = String::from_utf8_lossy(&check.stderr);
            let said = said.trim();
            let tail: String = said.chars().take(300).collect();
            Err(match said.is_empty() {
                true => format!("it ended with {}", describe(other)),
                false => format!("it ended with {}: {tail}", describe(other)),
            })
        }
    }
}

/// Why the cases stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CasesEnd {
    /// Every case ran (or was skipped after a failure, `stop_on_failure`).
    Ran,
    /// The next case would not fit the cases' time budget.
    OutOfTime { budget_ms: u128 },
    /// The checker program failed on a case.
    CheckerFailed(String),
    /// The run ended first (compile failure, cancel, timeout, fault): its
    /// own outcome says how.
    Interrupted,
}

/// A cases session's outcome: `run` is how the sandbox's run ended (as
/// `judge` says), `results` the cases judged so far, in order.
pub(super) fn cases_outcome(run: Outcome, cases: &[Case], mut results: Vec<CaseResult>, end: CasesEnd) -> Outcome {
    if run.end_reason.in_compile_stage() {
        return run;
    }
    let judged = results.len();
    let why = match &end {
        CasesEnd::Ran => "an earlier case failed",
        CasesEnd::OutOfTime { .. } => "the cases' time budget ran out",
        CasesEnd::CheckerFailed(_) => "the checker program failed",
        CasesEnd::Interrupted => "the session ended first",
    };
    results.extend(cases[judged..].iter().map(|c| CaseResult::skipped(&c.name, why)));
    let usage = crate::model::Usage {
        compile: run.usage.compile,
        run: (judged > 0).then(|| StageUsage {
            cpu_ms: results.iter().filter_map(|r| r.time_ms).sum(),
            wall_ms: results.iter().filter_map(|r| r.wall_ms).sum(),
            memory_kb: results.iter().filter_map(|r| r.memory_kb).max().unwrap_or(0),
        }),
        isolation: run.usage.isolation,
    };
    let result = CasesResult::of(results);
    let value = serde_json::to_value(&result).ok();
    let mut outcome = match end {
        CasesEnd::Ran => Outcome::new(EndReason::Exit, Some(Exit::Code(0)), None),
        CasesEnd::OutOfTime { budget_ms } => Outcome {
            status: SessionStatus::Timeout,
            ..Outcome::new(
                EndReason::Timeout,
                None,
                Some(format!(
                    "the cases' time budget of {budget_ms} ms ran out after {judged} of {} cases",
                    cases.len()
                )),
            )
        },
        CasesEnd::CheckerFailed(why) => Outcome::new(
            EndReason::CheckerFailed,
            None,
            Some(format!("the checker program failed on case {}: {why}", judged + 1)),
        ),
        CasesEnd::Interrupted => run,
    };
    outcome.result = value;
    outcome.usage = usage;
    outcome
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn case(expected: Option<&str>) -> Case {
        Case {
            name: "c".into(),
            stdin: Vec::new(),
            expected: expected.map(String::from),
            args: Vec::new(),
            timeout: Duration::from_millis(1000),
            cpu_time: Some(Duration::from_millis(500)),
            memory_mb: 64,
        }
    }

    fn report(exit: Exit, stdout: &str, tweak: impl FnOnce(&mut Status)) -> CaseReport {
        let mut status = Status {
            exit,
            usage: StageUsage { cpu_ms: 3.0, wall_ms: 4.0, memory_kb: 2048 },
            oom_kills: Some(0),
            cpu_exceeded: false,
            wall_exceeded: false,
            output_exceeded: false,
        };
        tweak(&mut status);
        CaseReport { status, stdout: stdout.as_bytes().to_vec(), stderr: Vec::new(), cut: false }
    }

    #[test]
    fn case_statuses() {
        use CaseStatus::*;
        let lines = Some(Comparison::Lines);
        let ok = Exit::Code(0);
        #[rustfmt::skip]
        let table: Vec<(CaseReport, Option<&str>, CaseStatus, &str)> = vec![
            (report(ok, "42\n", |_| {}), Some("42"), Accepted, ""),
            (report(ok, "41\n", |_| {}), Some("42"), WrongAnswer, "line 1 differs"),
            (report(ok, "anything", |_| {}), None, Accepted, ""),
            (report(Exit::Signal(9), "", |s| s.wall_exceeded = true), Some("42"), TimeLimit, "time limit of 1000 ms"),
            (report(Exit::Signal(9), "", |s| s.cpu_exceeded = true), Some("42"), TimeLimit, "CPU time limit of 500 ms"),
            (report(Exit::Signal(9), "", |s| s.oom_kills = Some(1)), Some("42"), MemoryLimit, "64 MB"),
            (report(ok, "42\n", |s| s.usage.memory_kb = 70 * 1024), Some("42"), MemoryLimit, "64 MB"),
            // An OOM kill of a child the program survived is not its failure.
            (report(ok, "42\n", |s| s.oom_kills = Some(1)), Some("42"), Accepted, ""),
            (report(Exit::Signal(9), "4242", |s| s.output_exceeded = true), Some("42"), OutputLimit, "output limit"),
            (report(Exit::Code(3), "42\n", |_| {}), Some("42"), RuntimeError, "exit code 3"),
            (report(Exit::Signal(11), "", |_| {}), Some("42"), RuntimeError, "SIGSEGV"),
        ];
        for (r, expected, status, message) in table {
            let Judged::Done(got) = judge_case(&case(expected), &r, lines, &mut Room::default()) else {
                panic!("not judged: {r:?}");
            };
            assert_eq!(got.status, status, "{r:?}");
            assert!(got.message.as_deref().unwrap_or("").contains(message), "{:?} should say {message:?}", got.message);
        }
        let r = report(Exit::Signal(11), "", |_| {});
        let Judged::Done(got) = judge_case(&case(None), &r, lines, &mut Room::default()) else { panic!() };
        assert_eq!((got.exit_code, got.signal.as_deref()), (None, Some("SIGSEGV")));
        assert_eq!((got.time_ms, got.wall_ms, got.memory_kb), (Some(3.0), Some(4.0), Some(2048)));
    }

    #[test]
    fn a_checker_program_decides_clean_runs_only() {
        let clean = report(Exit::Code(0), "5\n", |_| {});
        let Judged::ToCheck(pending) = judge_case(&case(Some("5")), &clean, None, &mut Room::default()) else {
            panic!("a clean run goes to the checker")
        };
        let crashed = report(Exit::Code(1), "", |_| {});
        assert!(matches!(judge_case(&case(Some("5")), &crashed, None, &mut Room::default()), Judged::Done(_)));
        let check = |exit, out: &str, tweak: fn(&mut Status)| apply_check(pending.clone(), &report(exit, out, tweak));
        let ok = check(Exit::Code(0), "fine\nmore", |_| {}).unwrap();
        assert_eq!((ok.status, ok.message.as_deref()), (CaseStatus::Accepted, Some("fine")));
        let wa = check(Exit::Code(1), "", |_| {}).unwrap();
        assert_eq!((wa.status, wa.message.as_deref()), (CaseStatus::WrongAnswer, Some("rejected by the checker")));
        let mut crashed = report(Exit::Code(1), "", |_| {});
        crashed.stderr = b"Traceback:\n  x\nNameError: name 'x' is not defined\n\n".to_vec();
        let wa = apply_check(pending.clone(), &crashed).unwrap();
        assert_eq!(wa.message.as_deref(), Some("NameError: name 'x' is not defined"));
        assert_eq!(check(Exit::Code(2), "presentation", |_| {}).unwrap().status, CaseStatus::WrongAnswer);
        let long = "x".repeat(1000);
        assert_eq!(check(Exit::Code(0), &long, |_| {}).unwrap().message.unwrap().len(), CHECKER_MESSAGE_CHARS);
        for (exit, tweak, want) in [
            (Exit::Code(3), (|_| {}) as fn(&mut Status), "exit code 3"),
            (Exit::Signal(11), |_| {}, "SIGSEGV"),
            (Exit::Signal(9), |s| s.wall_exceeded = true, "time limit"),
            (Exit::Signal(9), |s| s.output_exceeded = true, "output limit"),
            (Exit::Signal(9), |s| s.oom_kills = Some(1), "memory"),
        ] {
            let err = check(exit, "", tweak).unwrap_err();
            assert!(err.contains(want), "{err:?} should say {want:?}");
        }
    }

    #[test]
    fn kept_output_is_bounded() {
        let mut room = Room(100);
        let (a, cut) = room.keep(&[b'a'; 70]);
        assert_eq!((a.len(), cut), (70, false));
        let (b, cut) = room.keep(&[b'b'; 70]);
        assert_eq!((b.len(), cut), (30, true));
        let (c, cut) = room.keep(b"c");
        assert_eq!((c.len(), cut), (0, true));
        let mut room = Room::default();
        let (text, cut) = room.keep("é".repeat(KEEP_PER_STREAM).as_bytes());
        assert!(cut && !text.ends_with('\u{FFFD}') && text.len() <= KEEP_PER_STREAM);
    }

    #[test]
    fn outcomes_of_cases_sessions() {
        let cases = vec![case(Some("1")), case(Some("2")), case(Some("3"))];
        let accepted = |name: &str| CaseResult {
            status: CaseStatus::Accepted,
            time_ms: Some(2.0),
            wall_ms: Some(3.0),
            memory_kb: Some(10),
            ..CaseResult::skipped(name, "")
        };
        let ran = Outcome::new(EndReason::Exit, Some(Exit::Code(0)), None);
        let o = cases_outcome(ran.clone(), &cases, vec![accepted("a"), accepted("b"), accepted("c")], CasesEnd::Ran);
        assert_eq!((o.status, o.end_reason), (SessionStatus::Completed, EndReason::Exit));
        let r = o.result.unwrap();
        assert_eq!(
            (r["verdict"].as_str(), r["passed"].as_u64(), r["total"].as_u64()),
            (Some("accepted"), Some(3), Some(3))
        );
        assert_eq!(o.usage.run.unwrap().cpu_ms, 6.0);

        let o = cases_outcome(ran.clone(), &cases, vec![accepted("a")], CasesEnd::OutOfTime { budget_ms: 900 });
        assert_eq!((o.status, o.end_reason), (SessionStatus::Timeout, EndReason::Timeout));
        assert!(o.error.unwrap().contains("budget of 900 ms ran out after 1 of 3 cases"));
        assert_eq!(o.result.unwrap()["cases"][2]["status"], "skipped");

        let o = cases_outcome(
            ran.clone(),
            &cases,
            vec![accepted("a")],
            CasesEnd::CheckerFailed("it ended with exit code 3".into()),
        );
        assert_eq!((o.status, o.end_reason), (SessionStatus::Error, EndReason::CheckerFailed));
        assert!(o.error.unwrap().contains("on case 2: it ended with exit code 3"));

        let cancelled = Outcome::new(EndReason::Cancelled, None, Some("cancelled".into()));
        let o = cases_outcome(cancelled, &cases, vec![], CasesEnd::Interrupted);
        assert_eq!(o.status, SessionStatus::Cancelled);
        assert_eq!(o.result.unwrap()["cases"][0]["message"], "the session ended first");
        assert!(o.usage.run.is_none());

        let compile = Outcome::new(EndReason::CompileError, Some(Exit::Code(1)), Some("bad".into()));
        let o = cases_outcome(compile, &cases, vec![], CasesEnd::Interrupted);
        assert_eq!((o.end_reason, o.result), (EndReason::CompileError, None));
    }
}
