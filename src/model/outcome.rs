//! How a session ended: its status, a machine-readable end reason, the
//! program's exit, what the kernel measured, and the human sentence.
//! Every API maps its own status vocabulary from [`EndReason`] (never from
//! the `error` text).

use serde::{Deserialize, Serialize};

use super::{text_enum, SessionStatus};

text_enum! {
    /// Why a session reached its terminal status (`end_reason`).
    pub enum EndReason {
        /// The program ended by itself with an exit code.
        Exit = "exit",
        /// The program was killed by a signal it did not get from execbox.
        Signal = "signal",
        /// The run stage's wall-clock limit.
        Timeout = "timeout",
        /// The run stage's CPU-time limit (the program and everything it
        /// started).
        CpuTime = "cpu_time",
        /// The session's output limit.
        OutputLimit = "output_limit",
        /// The run stage's memory limit (the kernel's OOM killer).
        MemoryLimit = "memory_limit",
        /// The compiler failed.
        CompileError = "compile_error",
        /// The compile stage's wall-clock limit.
        CompileTimeout = "compile_timeout",
        /// The compile stage's memory limit.
        CompileMemoryLimit = "compile_memory_limit",
        /// The owner asked to cancel.
        Cancelled = "cancelled",
        /// The request cannot run: unknown language, limits out of range,
        /// malformed files.
        InvalidRequest = "invalid_request",
        /// The runtime's image is not built on the worker's engine.
        ImageMissing = "image_missing",
        /// execbox or Docker failed.
        Infrastructure = "infrastructure",
        /// The worker running it stopped renewing its lease.
        WorkerLost = "worker_lost",
        /// The worker shut down before the run finished.
        Shutdown = "shutdown",
        /// Test cases: the checker program failed (did not compile, crashed,
        /// ran over its limits or exited other than 0, 1 or 2).
        CheckerFailed = "checker_failed",
    }
}

impl EndReason {
    /// The status a session ending this way has, unless its mode decides
    /// otherwise (a validation whose tests failed still `completed`).
    pub fn status(self, exit: Option<Exit>) -> SessionStatus {
        use EndReason::*;
        match self {
            Exit if exit == Some(super::Exit::Code(0)) => SessionStatus::Completed,
            Exit | Signal | OutputLimit | MemoryLimit | CompileError | CompileMemoryLimit | InvalidRequest => {
                SessionStatus::Failed
            }
            Timeout | CpuTime | CompileTimeout => SessionStatus::Timeout,
            Cancelled => SessionStatus::Cancelled,
            ImageMissing | Infrastructure | WorkerLost | Shutdown | CheckerFailed => SessionStatus::Error,
        }
    }

    /// The compile stage decided the session (the program never ran).
    pub fn in_compile_stage(self) -> bool {
        matches!(self, EndReason::CompileError | EndReason::CompileTimeout | EndReason::CompileMemoryLimit)
    }
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    /// The shell's convention, as stored in `exit_code`: the code, or 128
    /// plus the signal number.
    pub fn code(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }

    /// Reads `exit_code` back; the end reason says whether it was a signal.
    pub fn from_stored(code: Option<i32>, reason: Option<EndReason>) -> Option<Exit> {
        let code = code?;
        Some(match reason {
            Some(EndReason::Signal) if code > 128 => Exit::Signal(code - 128),
            _ => Exit::Code(code),
        })
    }

    pub fn signal(self) -> Option<i32> {
        match self {
            Exit::Signal(s) => Some(s),
            Exit::Code(_) => None,
        }
    }
}

/// A signal's name (`SIGSEGV`), or `SIG<n>` for a number Linux does not name.
pub fn signal_name(n: i32) -> String {
    match nix::sys::signal::Signal::try_from(n) {
        Ok(s) => s.as_str().to_string(),
        Err(_) => format!("SIG{n}"),
    }
}

/// What the kernel measured for one stage: CPU time (user + system) of the
/// process and everything it waited for, wall time, peak resident memory of
/// the largest of them.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageUsage {
    pub cpu_ms: f64,
    pub wall_ms: f64,
    pub memory_kb: u64,
}

/// A session's `usage`: per stage, where the stage ran to its end, and the
/// wall its sandbox was built in (once one was).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Usage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compile: Option<StageUsage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<StageUsage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<super::Isolation>,
}

impl Usage {
    pub fn is_empty(&self) -> bool {
        self.compile.is_none() && self.run.is_none() && self.isolation.is_none()
    }
}

/// The result recorded on a session.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: SessionStatus,
    pub end_reason: EndReason,
    pub exit: Option<Exit>,
    /// One sentence for the user (also the last `system` log row).
    pub error: Option<String>,
    /// Validation and test-case results (`result` column).
    pub result: Option<serde_json::Value>,
    pub usage: Usage,
}

impl Outcome {
    /// An outcome whose status follows from its end reason.
    pub fn new(end_reason: EndReason, exit: Option<Exit>, error: Option<String>) -> Outcome {
        Outcome { status: end_reason.status(exit), end_reason, exit, error, result: None, usage: Usage::default() }
    }

    /// A session that could not run at all (the message says why).
    pub fn refused(end_reason: EndReason, error: impl Into<String>) -> Outcome {
        Outcome::new(end_reason, None, Some(error.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_end_reasons() {
        use EndReason::*;
        use SessionStatus as S;
        let table = [
            (Exit, Some(super::Exit::Code(0)), S::Completed),
            (Exit, Some(super::Exit::Code(3)), S::Failed),
            (Exit, None, S::Failed),
            (Signal, Some(super::Exit::Signal(11)), S::Failed),
            (Timeout, None, S::Timeout),
            (CpuTime, Some(super::Exit::Signal(9)), S::Timeout),
            (CompileTimeout, None, S::Timeout),
            (OutputLimit, None, S::Failed),
            (MemoryLimit, Some(super::Exit::Signal(9)), S::Failed),
            (CompileError, Some(super::Exit::Code(1)), S::Failed),
            (CompileMemoryLimit, None, S::Failed),
            (InvalidRequest, None, S::Failed),
            (Cancelled, None, S::Cancelled),
            (ImageMissing, None, S::Error),
            (Infrastructure, None, S::Error),
            (WorkerLost, None, S::Error),
            (Shutdown, None, S::Error),
            (CheckerFailed, None, S::Error),
        ];
        for (reason, exit, status) in table {
            assert_eq!(reason.status(exit), status, "{reason} {exit:?}");
        }
        assert_eq!(table.len(), EndReason::ALL.len() + 2, "every reason is in the table");
    }

    #[test]
    fn exits_are_stored_in_the_shells_convention() {
        assert_eq!(Exit::Signal(11).code(), 139);
        assert_eq!(Exit::from_stored(Some(139), Some(EndReason::Signal)), Some(Exit::Signal(11)));
        // A program may exit with 139 itself.
        assert_eq!(Exit::from_stored(Some(139), Some(EndReason::Exit)), Some(Exit::Code(139)));
        assert_eq!(Exit::from_stored(None, Some(EndReason::Timeout)), None);
    }

    #[test]
    fn one_signal_name_table() {
        assert_eq!(signal_name(11), "SIGSEGV");
        assert_eq!(signal_name(25), "SIGXFSZ");
        assert_eq!(signal_name(4), "SIGILL");
        assert_eq!(signal_name(99), "SIG99");
    }

    /// The README's end-reason table names every reason, once, with the
    /// status it gives.
    #[test]
    fn the_readme_documents_every_end_reason() {
        let readme = include_str!("../../README.md");
        let rows: Vec<(&str, &str)> = readme
            .lines()
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                let reason = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                reason.parse::<EndReason>().ok()?;
                // The end-reason table's second column is a status (the
                // status table's is a sentence).
                let status = cells.get(2).filter(|c| c.starts_with('`'))?;
                Some((reason, *status))
            })
            .collect();
        for reason in EndReason::ALL {
            let documented: Vec<_> = rows.iter().filter(|(r, _)| *r == reason.as_str()).collect();
            assert_eq!(documented.len(), 1, "{reason} in the README's end_reason table: {documented:?}");
            let status = reason.status(None).as_str();
            assert!(documented[0].1.contains(&format!("`{status}`")), "{reason}: {:?}", documented[0]);
        }
    }
}
