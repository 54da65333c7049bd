//! Judge0's submission statuses, and which one a submission has: from its
//! session's status and end reason and its runs' case results. Pure.

use crate::model::{CaseStatus, EndReason, SessionStatus};

/// Judge0 CE 1.13.1's statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    InQueue = 1,
    Processing = 2,
    Accepted = 3,
    WrongAnswer = 4,
    TimeLimitExceeded = 5,
    CompilationError = 6,
    Sigsegv = 7,
    Sigxfsz = 8,
    Sigfpe = 9,
    Sigabrt = 10,
    Nzec = 11,
    OtherRuntimeError = 12,
    InternalError = 13,
    ExecFormatError = 14,
}

impl Status {
    pub(crate) const ALL: [Status; 14] = [
        Status::InQueue,
        Status::Processing,
        Status::Accepted,
        Status::WrongAnswer,
        Status::TimeLimitExceeded,
        Status::CompilationError,
        Status::Sigsegv,
        Status::Sigxfsz,
        Status::Sigfpe,
        Status::Sigabrt,
        Status::Nzec,
        Status::OtherRuntimeError,
        Status::InternalError,
        Status::ExecFormatError,
    ];

    pub(crate) fn id(self) -> u8 {
        self as u8
    }

    pub(crate) fn description(self) -> &'static str {
        match self {
            Status::InQueue => "In Queue",
            Status::Processing => "Processing",
            Status::Accepted => "Accepted",
            Status::WrongAnswer => "Wrong Answer",
            Status::TimeLimitExceeded => "Time Limit Exceeded",
            Status::CompilationError => "Compilation Error",
            Status::Sigsegv => "Runtime Error (SIGSEGV)",
            Status::Sigxfsz => "Runtime Error (SIGXFSZ)",
            Status::Sigfpe => "Runtime Error (SIGFPE)",
            Status::Sigabrt => "Runtime Error (SIGABRT)",
            Status::Nzec => "Runtime Error (NZEC)",
            Status::OtherRuntimeError => "Runtime Error (Other)",
            Status::InternalError => "Internal Error",
            Status::ExecFormatError => "Exec Format Error",
        }
    }
}

/// What decides a run: its case status and, for a runtime error, the
/// signal's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run<'a> {
    pub status: CaseStatus,
    pub signal: Option<&'a str>,
}

/// A submission's status: the session's while it is not over; a compile
/// failure; else its first run that was not accepted (or accepted).
pub(crate) fn status(session: SessionStatus, end_reason: Option<EndReason>, runs: &[Run<'_>]) -> Status {
    use CaseStatus as C;
    match session {
        SessionStatus::Pending => return Status::InQueue,
        SessionStatus::Running => return Status::Processing,
        _ => {}
    }
    if end_reason.is_some_and(EndReason::in_compile_stage) {
        return Status::CompilationError;
    }
    if runs.is_empty() {
        return Status::InternalError;
    }
    let decisive = runs.iter().find(|r| r.status != C::Accepted).unwrap_or(&runs[0]);
    match decisive.status {
        C::Accepted => Status::Accepted,
        C::WrongAnswer => Status::WrongAnswer,
        C::TimeLimit => Status::TimeLimitExceeded,
        C::OutputLimit => Status::Sigxfsz,
        C::MemoryLimit => Status::OtherRuntimeError,
        C::RuntimeError => match decisive.signal {
            None => Status::Nzec,
            Some("SIGSEGV") => Status::Sigsegv,
            Some("SIGXFSZ") => Status::Sigxfsz,
            Some("SIGFPE") => Status::Sigfpe,
            Some("SIGABRT") => Status::Sigabrt,
            Some(_) => Status::OtherRuntimeError,
        },
        // Not run: the cases' time ran out, or the session ended first.
        C::Skipped if end_reason == Some(EndReason::Timeout) => Status::TimeLimitExceeded,
        C::Skipped => Status::InternalError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_from_sessions_and_runs() {
        use CaseStatus as C;
        use SessionStatus as S;
        let run = |status, signal| Run { status, signal };
        let done = S::Completed;
        let exit = Some(EndReason::Exit);
        #[rustfmt::skip]
        let table: Vec<(S, Option<EndReason>, Vec<Run<'_>>, Status)> = vec![
            (S::Pending, None, vec![], Status::InQueue),
            (S::Running, None, vec![], Status::Processing),
            (done, exit, vec![run(C::Accepted, None)], Status::Accepted),
            (done, exit, vec![run(C::Accepted, None), run(C::WrongAnswer, None)], Status::WrongAnswer),
            (done, exit, vec![run(C::TimeLimit, Some("SIGKILL"))], Status::TimeLimitExceeded),
            (S::Failed, Some(EndReason::CompileError), vec![], Status::CompilationError),
            (S::Timeout, Some(EndReason::CompileTimeout), vec![], Status::CompilationError),
            (done, exit, vec![run(C::RuntimeError, Some("SIGSEGV"))], Status::Sigsegv),
            (done, exit, vec![run(C::RuntimeError, Some("SIGXFSZ"))], Status::Sigxfsz),
            (done, exit, vec![run(C::OutputLimit, Some("SIGKILL"))], Status::Sigxfsz),
            (done, exit, vec![run(C::RuntimeError, Some("SIGFPE"))], Status::Sigfpe),
            (done, exit, vec![run(C::RuntimeError, Some("SIGABRT"))], Status::Sigabrt),
            (done, exit, vec![run(C::RuntimeError, None)], Status::Nzec),
            (done, exit, vec![run(C::RuntimeError, Some("SIGBUS"))], Status::OtherRuntimeError),
            (done, exit, vec![run(C::MemoryLimit, Some("SIGKILL"))], Status::OtherRuntimeError),
            (S::Timeout, Some(EndReason::Timeout), vec![run(C::Skipped, None)], Status::TimeLimitExceeded),
            (S::Cancelled, Some(EndReason::Cancelled), vec![run(C::Skipped, None)], Status::InternalError),
            (S::Error, Some(EndReason::Infrastructure), vec![], Status::InternalError),
        ];
        for (session, reason, runs, want) in table {
            assert_eq!(status(session, reason, &runs), want, "{session} {reason:?} {runs:?}");
        }
    }

    #[test]
    fn the_table_is_judge0s() {
        let ids: Vec<u8> = Status::ALL.iter().map(|s| s.id()).collect();
        assert_eq!(ids, (1..=14).collect::<Vec<u8>>());
        assert_eq!(Status::Nzec.description(), "Runtime Error (NZEC)");
    }
}
