//! The MCP tools' arguments and results. Each argument type describes
//! itself (utoipa) for the tool's `inputSchema`, and becomes a
//! [`model::Request`](crate::model::Request), which the one
//! `Request::validate` checks as it checks every API's.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::model::cases::CaseResult;
use crate::model::{CaseStatus, Checker, EndReason, Mode, Request, SessionStatus, Usage};

/// A file beside the program, in its directory.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileArg {
    /// A plain file name: letters, digits, `.`, `_`, `-` (the pattern is
    /// `SAFE_NAME_PATTERN`'s, which a test checks).
    #[schema(pattern = "^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")]
    pub name: String,
    pub content: String,
    /// How `content` is written: `utf8` (the default), `base64` or `hex`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^(utf8|base64|hex)$")]
    pub encoding: Option<String>,
}

/// Limits within the server's bounds; absent ones are the server's
/// defaults.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitArgs {
    /// Wall-clock limit of the run, in milliseconds.
    pub timeout_ms: Option<i32>,
    /// CPU time (the program and everything it starts), in milliseconds.
    pub cpu_time_limit_ms: Option<i32>,
    pub memory_limit_mb: Option<i32>,
    /// The compiler's limits (compiled languages).
    pub compile_timeout_ms: Option<i32>,
    pub compile_cpu_time_limit_ms: Option<i32>,
    pub compile_memory_limit_mb: Option<i32>,
}

/// `run_code`: run a program once.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunCode {
    /// A language's name or alias, as `list_languages` gives them.
    pub language: String,
    /// The program's source (its main file).
    pub code: String,
    #[serde(default)]
    #[schema(inline)]
    pub files: Vec<FileArg>,
    /// The program's standard input (empty when absent).
    #[serde(default)]
    pub stdin: Option<String>,
    /// Its command-line arguments.
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    #[schema(inline)]
    pub limits: Option<LimitArgs>,
}

/// One test case.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaseArg {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// What the program must print (compared by `checker`); absent, the
    /// case only has to run without error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_time_limit_ms: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit_mb: Option<i32>,
}

/// `run_tests`: compile once, run every case, judge each output.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunTests {
    /// A language's name or alias, as `list_languages` gives them.
    pub language: String,
    /// The solution's source.
    pub code: String,
    #[serde(default)]
    #[schema(inline)]
    pub files: Vec<FileArg>,
    #[schema(inline, min_items = 1)]
    pub cases: Vec<CaseArg>,
    /// How outputs are compared: `lines` (the default), `exact`, `tokens`,
    /// `float`, or `program` (a checker program in `checker_code`).
    #[serde(default)]
    #[schema(inline)]
    pub checker: Option<Checker>,
    /// The checker program (with `checker: program`).
    #[serde(default)]
    pub checker_code: Option<String>,
    /// The checker program's language (default: the solution's).
    #[serde(default)]
    pub checker_language: Option<String>,
    /// `float`'s tolerances.
    #[serde(default)]
    pub abs_tolerance: Option<f64>,
    #[serde(default)]
    pub rel_tolerance: Option<f64>,
    /// Stop at the first case that fails.
    #[serde(default)]
    pub stop_on_failure: bool,
    /// The defaults of every case (each may set its own).
    #[serde(default)]
    #[schema(inline)]
    pub limits: Option<LimitArgs>,
}

/// `get_session` and `cancel_session`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionArg {
    /// The session's id (a tool result's `session_id`).
    pub id: Uuid,
}

/// `list_languages` takes nothing.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoArgs {}

fn files_value(files: &[FileArg]) -> Option<serde_json::Value> {
    (!files.is_empty()).then(|| serde_json::to_value(files).expect("files serialize"))
}

fn with_limits(r: Request, l: Option<&LimitArgs>) -> Request {
    let Some(l) = l else { return r };
    Request {
        timeout_ms: l.timeout_ms,
        cpu_time_limit_ms: l.cpu_time_limit_ms,
        memory_limit_mb: l.memory_limit_mb,
        compile_timeout_ms: l.compile_timeout_ms,
        compile_cpu_time_limit_ms: l.compile_cpu_time_limit_ms,
        compile_memory_limit_mb: l.compile_memory_limit_mb,
        ..r
    }
}

impl RunCode {
    pub(crate) fn request(&self) -> Request {
        let r = Request {
            language: self.language.clone(),
            code: self.code.clone(),
            stdin: self.stdin.clone(),
            args: self.args.clone(),
            files: files_value(&self.files),
            session_name: Some("mcp".into()),
            mode: Mode::Run,
            ..Default::default()
        };
        with_limits(r, self.limits.as_ref())
    }
}

impl RunTests {
    pub(crate) fn request(&self) -> Request {
        let r = Request {
            language: self.language.clone(),
            code: self.code.clone(),
            files: files_value(&self.files),
            session_name: Some("mcp".into()),
            mode: Mode::Cases,
            cases: Some(serde_json::to_value(&self.cases).expect("cases serialize")),
            checker: self.checker,
            checker_code: self.checker_code.clone(),
            checker_language: self.checker_language.clone(),
            checker_abs_tolerance: self.abs_tolerance,
            checker_rel_tolerance: self.rel_tolerance,
            stop_on_failure: self.stop_on_failure,
            ..Default::default()
        };
        with_limits(r, self.limits.as_ref())
    }
}

/// `run_code`'s result.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunResult {
    pub session_id: Uuid,
    pub status: SessionStatus,
    pub end_reason: Option<EndReason>,
    pub exit_code: Option<i32>,
    /// The signal that ended the program (`SIGKILL`), if one did.
    pub signal: Option<String>,
    pub stdout: String,
    pub stderr: String,
    /// What the compiler printed (compiled languages).
    pub compile_output: Option<String>,
    /// Why it did not complete.
    pub error: Option<String>,
    /// CPU time, wall time and peak memory, per stage.
    pub usage: Usage,
    /// The output reached the server's limit and the program was stopped
    /// there: the bytes kept (what `stdout` and `stderr` hold).
    pub output_cut_at_bytes: Option<usize>,
}

/// `run_tests`' result.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TestsResult {
    pub session_id: Uuid,
    pub status: SessionStatus,
    pub end_reason: Option<EndReason>,
    /// The first failing case's status, or `accepted` (absent when no case
    /// ran: the solution did not compile, say).
    pub verdict: Option<CaseStatus>,
    pub passed: usize,
    pub total: usize,
    pub cases: Vec<CaseResult>,
    pub compile_output: Option<String>,
    pub error: Option<String>,
    pub usage: Usage,
}

/// `list_languages`' entries.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Language {
    pub language: String,
    pub version: String,
    pub aliases: Vec<String>,
    /// What its image holds beyond the language.
    pub libraries: Vec<String>,
    /// It compiles before it runs (`run_tests` compiles once for every
    /// case).
    pub compiled: bool,
}

/// `list_languages`' result.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Languages {
    pub languages: Vec<Language>,
}
