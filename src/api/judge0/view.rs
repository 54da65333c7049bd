//! A Judge0 submission as Judge0 shows it: the fields a client asks for
//! (`fields`), texts base64-encoded when asked (`base64_encoded`), built
//! from its token's row. Pure.

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::status::{status, Run, Status};
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

fn seconds(ms: f64) -> Value {
    json!(format!("{:.3}", ms / 1000.0))
}

fn when(t: chrono::DateTime<chrono::Utc>) -> Value {
    json!(t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// The submission's fields.
pub(crate) fn view(row: &TokenRow, extras: &Extras, fields: &Fields, base64: bool) -> Value {
    let text = |s: Option<&str>| match s {
        None => Value::Null,
        Some(s) if base64 => json!(base64::engine::general_purpose::STANDARD.encode(s)),
        Some(s) => json!(s),
    };
    let runs: Vec<RunResult> =
        row.results.as_ref().and_then(|r| serde_json::from_value(r.clone()).ok()).unwrap_or_default();
    let decided: Vec<Run<'_>> = runs.iter().map(|r| Run { status: r.status, signal: r.signal.as_deref() }).collect();
    let st = status(row.status, row.end_reason, &decided);
    let first = runs.first();
    let done = row.status.is_done();
    let case = row.case.as_ref();
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
    let limit = |key: &str| case.and_then(|c| c.get(key)).and_then(Value::as_f64);
    let mut all = Map::new();
    let mut put = |k: &str, v: Value| {
        if fields.wants(k) {
            all.insert(k.to_string(), v);
        }
    };
    put("token", json!(row.token));
    put("source_code", text(Some(&row.code)));
    put("language_id", json!(row.language_id));
    put("language", json!({"id": row.language_id, "name": extras.language_name}));
    put("stdin", text(case.and_then(|c| c["stdin"].as_str())));
    put("expected_output", text(case.and_then(|c| c.get("expected_output")).and_then(Value::as_str)));
    put("stdout", text(stdout));
    put("stderr", text(stderr));
    put("compile_output", text(extras.compile_output.as_deref().filter(|c| !c.is_empty())));
    put("message", json!(message));
    put("status", st.json());
    put("status_id", json!(st.id()));
    put("exit_code", json!(decisive.and_then(|r| r.exit_code)));
    put("exit_signal", json!(signal_number));
    put("time", average(|r| r.time_ms).map_or(Value::Null, seconds));
    put("wall_time", average(|r| r.wall_ms).map_or(Value::Null, seconds));
    put("memory", json!(runs.iter().filter_map(|r| r.memory_kb).max()));
    put("created_at", when(row.created_at));
    put("finished_at", if done { row.finished_at.map_or(Value::Null, when) } else { Value::Null });
    put("number_of_runs", json!(row.runs));
    put("cpu_time_limit", limit("cpu_time_limit_ms").map_or(Value::Null, |ms| json!(ms / 1000.0)));
    put("cpu_extra_time", json!(0.0));
    put("wall_time_limit", limit("timeout_ms").map_or(Value::Null, |ms| json!(ms / 1000.0)));
    put("memory_limit", limit("memory_limit_mb").map_or(Value::Null, |mb| json!((mb * 1024.0) as u64)));
    put("stack_limit", Value::Null);
    put("max_processes_and_or_threads", Value::Null);
    put("enable_per_process_and_thread_time_limit", json!(false));
    put("enable_per_process_and_thread_memory_limit", json!(false));
    put("max_file_size", Value::Null);
    put("compiler_options", Value::Null);
    put(
        "command_line_arguments",
        case.and_then(|c| c["args"].as_array()).filter(|a| !a.is_empty()).map_or(Value::Null, |a| {
            let words: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
            json!(shell_words::join(words))
        }),
    );
    put("redirect_stderr_to_stdout", json!(row.redirect));
    put("callback_url", Value::Null);
    put("additional_files", Value::Null);
    put("enable_network", json!(false));
    Value::Object(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EndReason, SessionStatus};

    fn row(status: SessionStatus, results: Option<Value>) -> TokenRow {
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
            case: Some(
                json!({"stdin": "5", "args": ["a b"], "timeout_ms": 2000, "cpu_time_limit_ms": 1500, "memory_limit_mb": 64}),
            ),
            results,
            created_at: chrono::DateTime::from_timestamp(1_700_000_000, 123_000_000).unwrap(),
            finished_at: None,
        }
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
        let results = json!([
            {"name": "case 1", "status": "accepted", "exitCode": 0, "signal": null, "timeMs": 10.0, "wallMs": 20.0, "memoryKb": 900, "stdout": "1\n", "stderr": "", "message": null},
            {"name": "case 2", "status": "accepted", "exitCode": 0, "signal": null, "timeMs": 30.0, "wallMs": 40.0, "memoryKb": 1000, "stdout": "1\n", "stderr": "", "message": null}
        ]);
        let v = view(
            &row(SessionStatus::Completed, Some(results)),
            &Extras::default(),
            &Fields::parse(Some("*")).unwrap(),
            true,
        );
        assert_eq!(v["status"], json!({"id": 3, "description": "Accepted"}));
        assert_eq!(v["stdout"], "MQo=");
        assert_eq!(v["stderr"], Value::Null);
        assert_eq!(
            (v["time"].as_str(), v["wall_time"].as_str(), v["memory"].as_u64()),
            (Some("0.020"), Some("0.030"), Some(1000))
        );
        assert_eq!(v["source_code"], "cHJpbnQoMSk=");
        assert_eq!(v["stdin"], "NQ==");
        assert_eq!(v["command_line_arguments"], "'a b'");
        assert_eq!(
            (v["cpu_time_limit"].as_f64(), v["wall_time_limit"].as_f64(), v["memory_limit"].as_u64()),
            (Some(1.5), Some(2.0), Some(65536))
        );
        assert_eq!(v["created_at"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v.as_object().unwrap().len(), ALL_FIELDS.len());
    }

    #[test]
    fn runtime_errors_carry_the_signal_number_and_message() {
        let results = json!([{"name": "c", "status": "runtime_error", "exitCode": null, "signal": "SIGSEGV", "timeMs": 1.0, "wallMs": 1.0, "memoryKb": 5, "stdout": "", "stderr": "boom", "message": "the program ended with killed by SIGSEGV"}]);
        let v = view(
            &row(SessionStatus::Completed, Some(results)),
            &Extras::default(),
            &Fields::parse(None).unwrap(),
            false,
        );
        assert_eq!(v["status"]["id"], 7);
        assert_eq!(v["stderr"], "boom");
        assert!(v.get("exit_signal").is_none(), "not asked for");
        let all = Fields::parse(Some("exit_signal,exit_code")).unwrap();
        let results = json!([{"name": "c", "status": "runtime_error", "exitCode": null, "signal": "SIGSEGV", "timeMs": 1.0, "wallMs": 1.0, "memoryKb": 5, "stdout": "", "stderr": "", "message": null}]);
        let v = view(&row(SessionStatus::Completed, Some(results)), &Extras::default(), &all, false);
        assert_eq!(v, json!({"exit_signal": 11, "exit_code": null}));
    }

    #[test]
    fn a_waiting_submission_is_in_queue() {
        let v = view(&row(SessionStatus::Pending, None), &Extras::default(), &Fields::parse(None).unwrap(), false);
        assert_eq!(v["status"]["id"], 1);
        assert_eq!((v["stdout"].clone(), v["time"].clone()), (Value::Null, Value::Null));
    }
}
