//! A Judge0 submission as Judge0 shows it: the fields a client asks for
//! (`fields`), texts base64-encoded when asked (`base64_encoded`), built
//! from its token's row. Pure.

use base64::Engine as _;
use serde::Deserialize;

use super::status::{status, Run, Status};
use super::submission::Case;
use super::wire::{Language, StatusEntry, SubmissionView};
use crate::db::judge0::TokenRow;
use crate::model::CaseStatus;

/// Judge0's default `fields`.
pub(crate) const DEFAULT_FIELDS: &str = "token,stdout,time,memory,stderr,compile_output,message,status";

/// Every field a submission has.
pub(crate) const ALL_FIELDS: [&str; 35] = [
    "token",
    "source_code",
    "language_id",
    "language",
    "stdin",
    "expected_output",
    "stdout",
    "stderr",
    "compile_output",
    "message",
    "status",
    "status_id",
    "exit_code",
    "exit_signal",
    "time",
    "wall_time",
    "memory",
    "created_at",
    "finished_at",
    "number_of_runs",
    "cpu_time_limit",
    "cpu_extra_time",
    "wall_time_limit",
    "memory_limit",
    "stack_limit",
    "max_processes_and_or_threads",
    "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit",
    "max_file_size",
    "compiler_options",
    "command_line_arguments",
    "redirect_stderr_to_stdout",
    "callback_url",
    "additional_files",
    "enable_network",
];

/// What [`Fields::parse`] accepts, as a regular expression (for the
/// OpenAPI document).
pub(crate) fn fields_pattern() -> String {
    let any = ALL_FIELDS.join("|");
    format!(r"^(\*|({any})(,({any}))*)?$")
}

/// The fields to show, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fields(Vec<&'static str>);

impl Fields {
    /// `fields` as sent: absent (the default set), `*` (all) or a comma list.
    pub(crate) fn parse(fields: Option<&str>) -> Result<Fields, String> {
        let list = match fields {
            None | Some("") => DEFAULT_FIELDS,
            Some("*") => return Ok(Fields(ALL_FIELDS.to_vec())),
            Some(f) => f,
        };
        let mut out = Vec::new();
        let mut unknown = Vec::new();
        for name in list.split(',') {
            match ALL_FIELDS.iter().find(|f| **f == name) {
                Some(f) if !out.contains(f) => out.push(*f),
                Some(_) => {}
                None => unknown.push(format!("{name:?}")),
            }
        }
        if !unknown.is_empty() {
            return Err(format!("invalid fields: {}", unknown.join(", ")));
        }
        Ok(Fields(out))
    }

    pub(crate) fn wants(&self, field: &str) -> bool {
        self.0.contains(&field)
    }
}

/// One run's result as the session recorded it (see `model::cases`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunResult {
    status: CaseStatus,
    exit_code: Option<i32>,
    signal: Option<String>,
    time_ms: Option<f64>,
    wall_ms: Option<f64>,
    memory_kb: Option<u64>,
    #[serde(default)]
    stdout: String,
    #[serde(default)]
    stderr: String,
    message: Option<String>,
}

/// What the view needs beyond the row, read only when asked for.
#[derive(Debug, Clone, Default)]
pub(crate) struct Extras {
    pub language_name: String,
    pub compile_output: Option<String>,
    /// The first run's stdout and stderr interleaved (redirected stderr).
    pub interleaved: Option<String>,
}

/// Milliseconds as Judge0 writes seconds: text with three decimals.
fn seconds(ms: f64) -> String {
    format!("{:.3}", ms / 1000.0)
}

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The submission's fields.
pub(crate) fn view(row: &TokenRow, extras: &Extras, fields: &Fields, base64: bool) -> SubmissionView {
    let text = |s: &str| if base64 { base64::engine::general_purpose::STANDARD.encode(s) } else { s.to_string() };
    let runs: Vec<RunResult> =
        row.results.as_ref().and_then(|r| serde_json::from_value(r.clone()).ok()).unwrap_or_default();
    let decided: Vec<Run<'_>> = runs.iter().map(|r| Run { status: r.status, signal: r.signal.as_deref() }).collect();
    let st = status(row.status, row.end_reason, &decided);
    let first = runs.first();
    let case: Option<Case> = row.case.as_ref().and_then(|c| serde_json::from_value(c.clone()).ok());
    let n = runs.len().max(1) as f64;
    let average = |f: fn(&RunResult) -> Option<f64>| {
        let v: Vec<f64> = runs.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / n)
    };
    let decisive = runs.iter().find(|r| r.status != CaseStatus::Accepted).or(first);
    let message = match st {
        Status::CompilationError | Status::InQueue | Status::Processing => None,
        Status::InternalError => row.error.clone().or_else(|| decisive.and_then(|r| r.message.clone())),
        _ => decisive.and_then(|r| r.message.clone()),
    };
    let (stdout, stderr) = match (first, &extras.interleaved) {
        (Some(_), Some(all)) if row.redirect => (Some(all.as_str()), None),
        (Some(r), _) => (Some(r.stdout.as_str()), (!r.stderr.is_empty()).then_some(r.stderr.as_str())),
        (None, _) => (None, None),
    };
    let signal_number = decisive
        .and_then(|r| r.signal.as_deref())
        .and_then(|s| s.parse::<nix::sys::signal::Signal>().ok())
        .map(|s| s as i32);
    // Each field is computed only when asked for; one not asked for is
    // absent (None), one without a value null (Some(None)).
    macro_rules! asked {
        ($($field:ident: $value:expr,)*) => {
            SubmissionView { $($field: fields.wants(stringify!($field)).then(|| $value),)* }
        };
    }
    asked! {
        token: row.token,
        source_code: text(&row.code),
        language_id: i64::from(row.language_id),
        language: Language { id: i64::from(row.language_id), name: extras.language_name.clone() },
        stdin: case.as_ref().map(|c| text(&c.stdin)),
        expected_output: case.as_ref().and_then(|c| c.expected_output.as_deref()).map(text),
        stdout: stdout.map(text),
        stderr: stderr.map(text),
        compile_output: extras.compile_output.as_deref().filter(|c| !c.is_empty()).map(text),
        message: message,
        status: StatusEntry::from(st),
        status_id: st.id(),
        exit_code: decisive.and_then(|r| r.exit_code),
        exit_signal: signal_number,
        time: average(|r| r.time_ms).map(seconds),
        wall_time: average(|r| r.wall_ms).map(seconds),
        memory: runs.iter().filter_map(|r| r.memory_kb).max(),
        created_at: when(row.created_at),
        finished_at: row.finished_at.filter(|_| row.status.is_done()).map(when),
        number_of_runs: row.runs,
        cpu_time_limit: case.as_ref().map(|c| c.cpu_time_limit_ms as f64 / 1000.0),
        cpu_extra_time: 0.0,
        wall_time_limit: case.as_ref().map(|c| c.timeout_ms as f64 / 1000.0),
        memory_limit: case.as_ref().map(|c| c.memory_limit_mb * 1024),
        stack_limit: None,
        max_processes_and_or_threads: None,
        enable_per_process_and_thread_time_limit: false,
        enable_per_process_and_thread_memory_limit: false,
        max_file_size: None,
        compiler_options: None,
        command_line_arguments: case.as_ref().filter(|c| !c.args.is_empty()).map(|c| shell_words::join(&c.args)),
        redirect_stderr_to_stdout: row.redirect,
        callback_url: None,
        additional_files: None,
        enable_network: false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::model::cases::CaseResult;
    use crate::model::{EndReason, SessionStatus};

    fn row(status: SessionStatus, results: Option<Value>) -> TokenRow {
        let case = Case {
            stdin: "5".into(),
            expected_output: None,
            args: vec!["a b".into()],
            timeout_ms: 2000,
            cpu_time_limit_ms: 1500,
            memory_limit_mb: 64,
        };
        TokenRow {
            token: uuid::Uuid::nil(),
            session_id: uuid::Uuid::nil(),
            first_case: 0,
            runs: 2,
            language_id: 71,
            redirect: false,
            status,
            end_reason: status.is_done().then_some(EndReason::Exit),
            error: None,
            code: "print(1)".into(),
            case: Some(serde_json::to_value(case).unwrap()),
            results,
            created_at: chrono::DateTime::from_timestamp(1_700_000_000, 123_000_000).unwrap(),
            finished_at: None,
        }
    }

    /// A run's result, printing `1`.
    fn result(status: CaseStatus, signal: Option<&str>, (time_ms, wall_ms, memory_kb): (f64, f64, u64)) -> CaseResult {
        CaseResult {
            name: "c".into(),
            status,
            exit_code: signal.is_none().then_some(0),
            signal: signal.map(String::from),
            time_ms: Some(time_ms),
            wall_ms: Some(wall_ms),
            memory_kb: Some(memory_kb),
            stdout: "1\n".into(),
            stderr: String::new(),
            message: signal.map(|s| format!("the program ended with killed by {s}")),
            truncated: false,
        }
    }

    /// The runs' results as the session records them.
    fn recorded(runs: &[CaseResult]) -> Option<Value> {
        Some(serde_json::to_value(runs).unwrap())
    }

    fn text(s: &str) -> Option<Option<String>> {
        Some(Some(s.into()))
    }

    #[test]
    fn the_fields_pattern_is_what_parse_accepts() {
        let p = fields_pattern();
        assert!(p.starts_with(r"^(\*|(token|source_code|") && p.ends_with("))*)?$"), "{p}");
        assert_eq!(p.matches("enable_network").count(), 2);
    }

    #[test]
    fn fields_parse() {
        assert!(Fields::parse(None).unwrap().wants("status") && !Fields::parse(None).unwrap().wants("stdin"));
        assert_eq!(Fields::parse(Some("*")).unwrap().0.len(), ALL_FIELDS.len());
        assert_eq!(Fields::parse(Some("stdout,status,stdout")).unwrap().0, ["stdout", "status"]);
        assert_eq!(Fields::parse(Some("stdout,bogus,x")).unwrap_err(), "invalid fields: \"bogus\", \"x\"");
        assert_eq!(Fields::parse(Some("stdout, status,")).unwrap_err(), "invalid fields: \" status\", \"\"");
    }

    #[test]
    fn a_finished_submission_as_judge0_shows_it() {
        let results = recorded(&[
            result(CaseStatus::Accepted, None, (10.0, 20.0, 900)),
            result(CaseStatus::Accepted, None, (30.0, 40.0, 1000)),
        ]);
        let all = Fields::parse(Some("*")).unwrap();
        let v = view(&row(SessionStatus::Completed, results), &Extras::default(), &all, true);
        assert_eq!(v.status, Some(StatusEntry { id: 3, description: "Accepted" }));
        assert_eq!((v.stdout, v.stderr), (text("MQo="), Some(None)));
        assert_eq!((v.time, v.wall_time, v.memory), (text("0.020"), text("0.030"), Some(Some(1000))));
        assert_eq!((v.source_code, v.stdin), (Some("cHJpbnQoMSk=".into()), text("NQ==")));
        assert_eq!(v.command_line_arguments, text("'a b'"));
        assert_eq!(
            (v.cpu_time_limit, v.wall_time_limit, v.memory_limit),
            (Some(Some(1.5)), Some(Some(2.0)), Some(Some(65536)))
        );
        assert_eq!(v.created_at.as_deref(), Some("2023-11-14T22:13:20.123Z"));
    }

    #[test]
    fn every_field_is_shown_when_all_are_asked_for() {
        let all = Fields::parse(Some("*")).unwrap();
        let v = view(&row(SessionStatus::Pending, None), &Extras::default(), &all, false);
        let shown = serde_json::to_value(v).unwrap();
        let mut names: Vec<&str> = shown.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = ALL_FIELDS.to_vec();
        names.sort();
        want.sort();
        assert_eq!(names, want);
    }

    #[test]
    fn runtime_errors_carry_the_signal_number_and_message() {
        let crashed =
            CaseResult { stderr: "boom".into(), ..result(CaseStatus::RuntimeError, Some("SIGSEGV"), (1.0, 1.0, 5)) };
        let results = recorded(&[crashed]);
        let row = row(SessionStatus::Completed, results);
        let v = view(&row, &Extras::default(), &Fields::parse(None).unwrap(), false);
        assert_eq!(v.status.map(|s| s.id), Some(7));
        assert_eq!(v.stderr, text("boom"));
        assert_eq!(v.message, text("the program ended with killed by SIGSEGV"));
        assert_eq!(v.exit_signal, None, "not asked for");
        let two = Fields::parse(Some("exit_signal,exit_code")).unwrap();
        let v = view(&row, &Extras::default(), &two, false);
        assert_eq!(v, SubmissionView { exit_signal: Some(Some(11)), exit_code: Some(None), ..Default::default() });
    }

    #[test]
    fn a_waiting_submission_is_in_queue() {
        let v = view(&row(SessionStatus::Pending, None), &Extras::default(), &Fields::parse(None).unwrap(), false);
        assert_eq!(v.status.map(|s| s.id), Some(1));
        assert_eq!((v.stdout, v.time), (Some(None), Some(None)));
    }
}
