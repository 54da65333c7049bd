//! A Judge0 submission as a client sends it, parsed once into what execbox
//! runs: a runtime, the source, and the case (stdin, expected output,
//! arguments, limits) each of its runs is.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::wire::SubmissionBody;
use crate::config::Limits;
use crate::runtimes::{Runtime, Runtimes};

/// Judge0's defaults for a submission that names no limit (seconds, KB).
pub(crate) const DEFAULT_CPU_TIME_LIMIT: f64 = 5.0;
pub(crate) const DEFAULT_WALL_TIME_LIMIT: f64 = 10.0;
pub(crate) const DEFAULT_MEMORY_LIMIT_KB: u64 = 128_000;
/// Most runs (`number_of_runs`) of one submission.
pub(crate) const MAX_NUMBER_OF_RUNS: i64 = 20;

/// One run of a submission as a `cases` element (see `model::cases`),
/// written into its session's request and read back by the view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Case {
    pub stdin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_output: Option<String>,
    pub args: Vec<String>,
    pub timeout_ms: i64,
    pub cpu_time_limit_ms: i64,
    pub memory_limit_mb: u64,
}

/// A submission execbox can run.
#[derive(Debug, Clone)]
pub(crate) struct Submission<'a> {
    pub runtime: &'a Runtime,
    pub language_id: i64,
    pub source: String,
    /// Each of its runs.
    pub case: Case,
    pub runs: i32,
    pub redirect_stderr_to_stdout: bool,
}

/// Text that may come base64-encoded.
fn text(field: &str, value: Option<&str>, base64: bool) -> Result<Option<String>, String> {
    let Some(v) = value else { return Ok(None) };
    if !base64 {
        return Ok(Some(v.to_string()));
    }
    let cleaned: String = v.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(cleaned)
        .map_err(|e| format!("{field} is not valid base64 ({e}); send base64_encoded=false for plain text"))?;
    String::from_utf8(bytes).map(Some).map_err(|_| format!("{field} is not UTF-8 text once decoded"))
}

/// Seconds within `(0, max]` as milliseconds.
fn seconds(field: &str, value: Option<f64>, default: f64, max_ms: u64) -> Result<i64, String> {
    let s = value.unwrap_or(default.min(max_ms as f64 / 1000.0));
    if !s.is_finite() || s <= 0.0 || s * 1000.0 > max_ms as f64 {
        return Err(format!("{field} must be more than 0 and at most {} seconds", max_ms as f64 / 1000.0));
    }
    Ok(((s * 1000.0).ceil() as i64).max(1))
}

impl SubmissionBody {
    /// Checks it against the runtimes and the server's limits.
    pub(crate) fn parse<'a>(&self, base64: bool, runtimes: &'a Runtimes, l: &Limits) -> Result<Submission<'a>, String> {
        let language_id = self.language_id;
        let runtime = runtimes
            .by_judge0_id(language_id)
            .ok_or_else(|| format!("language with id {language_id} doesn't exist (see GET /languages)"))?;
        let source = text("source_code", Some(&self.source_code), base64)?.unwrap_or_default();
        let stdin = text("stdin", self.stdin.as_deref(), base64)?;
        let expected = text("expected_output", self.expected_output.as_deref(), base64)?;
        if self.compiler_options.as_deref().is_some_and(|o| !o.is_empty()) {
            return Err("compiler_options are not supported".into());
        }
        if self.additional_files.as_deref().is_some_and(|f| !f.is_empty()) {
            return Err("additional_files are not supported".into());
        }
        if self.callback_url.as_deref().is_some_and(|c| !c.is_empty()) {
            return Err("callbacks are not supported; poll GET /submissions/{token} or send wait=true".into());
        }
        // Accepted and checked, not applied: execbox's own limits hold (the
        // CPU limit is exact, processes and output are bounded per sandbox).
        if self.cpu_extra_time.is_some_and(|t| !t.is_finite() || t < 0.0) {
            return Err("cpu_extra_time must be a number of at least 0".into());
        }
        let positive = [
            ("stack_limit", self.stack_limit),
            ("max_processes_and_or_threads", self.max_processes_and_or_threads),
            ("max_file_size", self.max_file_size),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| v.is_some_and(|v| v <= 0)) {
            return Err(format!("{name} must be a positive number"));
        }
        // As Judge0 with allow_enable_per_process_and_thread_*_limit false:
        // limits hold for the whole sandbox, never per process.
        let per_process = [
            ("enable_per_process_and_thread_time_limit", self.enable_per_process_and_thread_time_limit),
            ("enable_per_process_and_thread_memory_limit", self.enable_per_process_and_thread_memory_limit),
            ("enable_network", self.enable_network),
        ];
        if let Some((name, _)) = per_process.iter().find(|(_, v)| *v == Some(true)) {
            return Err(if *name == "enable_network" {
                "enable_network is not allowed: sandboxes have no network".into()
            } else {
                format!("{name} is not allowed: limits hold for the whole sandbox")
            });
        }
        let args = match self.command_line_arguments.as_deref() {
            Some(a) => shell_words::split(a).unwrap_or_else(|_| a.split_whitespace().map(String::from).collect()),
            None => Vec::new(),
        };
        let runs = self.number_of_runs.unwrap_or(1);
        if !(1..=MAX_NUMBER_OF_RUNS).contains(&runs) {
            return Err(format!("number_of_runs must be between 1 and {MAX_NUMBER_OF_RUNS}"));
        }
        let cpu_ms = seconds("cpu_time_limit", self.cpu_time_limit, DEFAULT_CPU_TIME_LIMIT, l.max_cpu_time_ms)?;
        let wall_ms = seconds("wall_time_limit", self.wall_time_limit, DEFAULT_WALL_TIME_LIMIT, l.max_timeout_ms)?;
        let (min_kb, max_kb) = (l.min_memory_mb * 1024, l.max_memory_mb * 1024);
        let kb = self.memory_limit.unwrap_or(DEFAULT_MEMORY_LIMIT_KB.min(max_kb) as f64);
        if !kb.is_finite() || kb < min_kb as f64 || kb > max_kb as f64 {
            return Err(format!("memory_limit must be between {min_kb} and {max_kb} KB"));
        }
        let case = Case {
            stdin: stdin.unwrap_or_default(),
            expected_output: expected,
            args,
            timeout_ms: wall_ms,
            cpu_time_limit_ms: cpu_ms,
            memory_limit_mb: (kb / 1024.0).ceil() as u64,
        };
        Ok(Submission {
            runtime,
            language_id,
            source,
            case,
            runs: runs as i32,
            redirect_stderr_to_stdout: self.redirect_stderr_to_stdout.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn body(v: Value) -> SubmissionBody {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_submission_becomes_a_case() {
        let runtimes = Runtimes::builtin();
        let l = Limits::default();
        let b = body(json!({
            "source_code": "cHJpbnQoMSk=", "language_id": 71, "stdin": "NQ==", "expected_output": "MQo=",
            "command_line_arguments": "a 'b c'", "cpu_time_limit": 1.5, "memory_limit": 65536.0, "number_of_runs": 3
        }));
        let s = b.parse(true, &runtimes, &l).unwrap();
        assert_eq!((s.runtime.language.as_str(), s.source.as_str(), s.runs), ("python", "print(1)", 3));
        let case = Case {
            stdin: "5".into(),
            expected_output: Some("1\n".into()),
            args: vec!["a".into(), "b c".into()],
            timeout_ms: 10000,
            cpu_time_limit_ms: 1500,
            memory_limit_mb: 64,
        };
        assert_eq!(s.case, case);
        let plain = body(json!({"source_code": "print(1)", "language_id": 54, "command_line_arguments": "'open x"}))
            .parse(false, &runtimes, &l)
            .unwrap();
        assert_eq!(plain.runtime.language, "cpp");
        // As the `cases` column holds it: unquoted words, the memory limit
        // rounded up to MB, no expected output (not judged).
        assert_eq!(
            serde_json::to_value(&plain.case).unwrap(),
            json!({"stdin": "", "args": ["'open", "x"], "timeout_ms": 10000, "cpu_time_limit_ms": 5000, "memory_limit_mb": 125})
        );
    }

    #[test]
    fn what_cannot_run_says_why() {
        let runtimes = Runtimes::builtin();
        let l = Limits::default();
        let table = [
            (json!({"source_code": "x", "language_id": 9999}), "language with id 9999 doesn't exist"),
            (json!({"source_code": "%%%", "language_id": 71}), "not valid base64"),
            (
                json!({"source_code": "eA==", "language_id": 71, "cpu_time_limit": 0}),
                "cpu_time_limit must be more than 0",
            ),
            (json!({"source_code": "eA==", "language_id": 71, "wall_time_limit": 100000}), "wall_time_limit must be"),
            (json!({"source_code": "eA==", "language_id": 71, "memory_limit": 10}), "memory_limit must be between"),
            (json!({"source_code": "eA==", "language_id": 71, "number_of_runs": 21}), "number_of_runs"),
            (json!({"source_code": "eA==", "language_id": 71, "enable_network": true}), "no network"),
            (json!({"source_code": "eA==", "language_id": 71, "compiler_options": "-O3"}), "compiler_options"),
            (json!({"source_code": "eA==", "language_id": 71, "callback_url": "http://x"}), "callbacks"),
        ];
        for (v, want) in table {
            let got = body(v.clone()).parse(true, &runtimes, &l).unwrap_err();
            assert!(got.contains(want), "{v}: {got:?} should say {want:?}");
        }
    }
}
