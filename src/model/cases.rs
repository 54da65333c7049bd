//! Test cases (`mode = 'cases'`): the `cases` column parsed into validated
//! [`Case`]s with their limits, the checker that judges them, and the
//! `result` a cases session records.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::request::{RequestError, MAX_ARGS, MAX_TEXT_BYTES};
use super::{CaseStatus, Checker};
use crate::config::Limits;
use crate::runtimes::{Runtime, Runtimes};

/// Most bytes of stdin and expected output in all of a session's cases.
pub const MAX_CASES_BYTES: usize = 16 * 1024 * 1024;
/// Longest case name.
pub const MAX_NAME_CHARS: usize = 100;
/// The float checker's tolerances when a session names none.
pub const DEFAULT_TOLERANCE: f64 = 1e-6;

/// One test case, validated, with its limits resolved (the case's own, else
/// the session's, else the server's defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub name: String,
    pub stdin: Vec<u8>,
    pub expected: Option<String>,
    pub args: Vec<String>,
    pub timeout: Duration,
    pub cpu_time: Option<Duration>,
    pub memory_mb: u64,
}

/// How outputs are compared, when no program judges them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Comparison {
    Exact,
    Lines,
    Tokens,
    Float { abs: f64, rel: f64 },
}

/// The checker of a session.
#[derive(Debug, Clone)]
pub enum ValidChecker<'a> {
    Compare(Comparison),
    /// A checker program (run in a sandbox of its own).
    Program {
        runtime: &'a Runtime,
        code: &'a str,
    },
}

/// The cases of a request that passed validation.
#[derive(Debug, Clone)]
pub struct ValidCases<'a> {
    pub cases: Vec<Case>,
    pub checker: ValidChecker<'a>,
    pub stop_on_failure: bool,
}

impl ValidCases<'_> {
    /// The most memory any case may use (the sandbox's run-stage limit).
    pub fn max_memory_mb(&self) -> u64 {
        self.cases.iter().map(|c| c.memory_mb).max().unwrap_or(0)
    }
}

/// The session-level limits a case falls back to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CaseDefaults {
    pub timeout_ms: Option<i32>,
    pub cpu_time_ms: Option<i32>,
    pub memory_mb: Option<i32>,
}

/// The checker columns of a request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheckerColumns<'a> {
    pub checker: Option<Checker>,
    pub code: Option<&'a str>,
    pub language: Option<&'a str>,
    pub abs: Option<f64>,
    pub rel: Option<f64>,
}

fn invalid(msg: String) -> RequestError {
    RequestError::Invalid(msg)
}

/// A limit of case `i`: its own value, else the session's, else `default`,
/// within `[min, max]`.
fn limit(
    i: usize,
    name: &str,
    own: Option<&Value>,
    session: Option<i32>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, RequestError> {
    let v = match own {
        None | Some(Value::Null) => match session {
            Some(v) => v as i64,
            None => return Ok(default),
        },
        Some(v) => v.as_i64().ok_or_else(|| invalid(format!("cases[{i}].{name} must be an integer")))?,
    };
    if v < min as i64 || v as u64 > max {
        return Err(invalid(format!("cases[{i}].{name} {v} is outside this server's bounds of {min} to {max}")));
    }
    Ok(v as u64)
}

/// Parses and checks the `cases` column.
pub(crate) fn parse_cases(cases: &Value, session: CaseDefaults, l: &Limits) -> Result<Vec<Case>, RequestError> {
    let list = cases.as_array().ok_or_else(|| {
        invalid("cases must be an array of {name?, stdin?, expected_output?, args?, timeout_ms?, cpu_time_limit_ms?, memory_limit_mb?}".into())
    })?;
    if list.is_empty() {
        return Err(invalid("cases is empty: mode cases needs at least one case".into()));
    }
    if list.len() > l.max_cases {
        return Err(RequestError::TooLarge(format!("{} cases; this server runs at most {}", list.len(), l.max_cases)));
    }
    const FIELDS: [&str; 7] =
        ["name", "stdin", "expected_output", "args", "timeout_ms", "cpu_time_limit_ms", "memory_limit_mb"];
    let mut total = 0usize;
    let mut out = Vec::with_capacity(list.len());
    for (i, c) in list.iter().enumerate() {
        let obj = c.as_object().ok_or_else(|| invalid(format!("cases[{i}] is not an object")))?;
        if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(invalid(format!("cases[{i}] has an unknown field {k:?} (known: {})", FIELDS.join(", "))));
        }
        let text = |key: &str| -> Result<Option<&str>, RequestError> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(invalid(format!("cases[{i}].{key} must be a string"))),
            }
        };
        let name = match text("name")? {
            Some(n) if n.chars().count() > MAX_NAME_CHARS => {
                return Err(invalid(format!("cases[{i}].name is longer than {MAX_NAME_CHARS} characters")))
            }
            Some(n) => n.to_string(),
            None => format!("case {}", i + 1),
        };
        let stdin = text("stdin")?.unwrap_or("");
        let expected = text("expected_output")?;
        if stdin.len() > MAX_TEXT_BYTES || expected.map_or(0, str::len) > MAX_TEXT_BYTES {
            return Err(RequestError::TooLarge(format!(
                "cases[{i}]: stdin and expected_output are limited to {MAX_TEXT_BYTES} bytes each"
            )));
        }
        total += stdin.len() + expected.map_or(0, str::len);
        if total > MAX_CASES_BYTES {
            return Err(RequestError::TooLarge(format!(
                "the cases' stdin and expected outputs exceed {MAX_CASES_BYTES} bytes in all"
            )));
        }
        let args = match obj.get("args") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map(String::from))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| invalid(format!("cases[{i}].args must be an array of strings")))?,
            Some(_) => return Err(invalid(format!("cases[{i}].args must be an array of strings"))),
        };
        if args.len() > MAX_ARGS || args.iter().any(|a| a.contains('\0')) {
            return Err(invalid(format!("cases[{i}].args: at most {MAX_ARGS}, without NUL characters")));
        }
        let timeout = limit(
            i,
            "timeout_ms",
            obj.get("timeout_ms"),
            session.timeout_ms,
            l.default_case_timeout_ms,
            1,
            l.max_timeout_ms,
        )?;
        // A server default of 0 means no CPU limit; asking for 0 is refused.
        let cpu = match (obj.get("cpu_time_limit_ms"), session.cpu_time_ms) {
            (None | Some(Value::Null), None) => l.default_cpu_time_ms,
            (own, session) => limit(i, "cpu_time_limit_ms", own, session, 0, 1, l.max_cpu_time_ms)?,
        };
        let memory_mb = limit(
            i,
            "memory_limit_mb",
            obj.get("memory_limit_mb"),
            session.memory_mb,
            l.default_memory_mb,
            l.min_memory_mb,
            l.max_memory_mb,
        )?;
        out.push(Case {
            name,
            stdin: stdin.as_bytes().to_vec(),
            expected: expected.map(String::from),
            args,
            timeout: Duration::from_millis(timeout),
            cpu_time: (cpu > 0).then(|| Duration::from_millis(cpu)),
            memory_mb,
        });
    }
    Ok(out)
}

/// Checks the checker columns.
pub(crate) fn parse_checker<'a>(
    c: CheckerColumns<'a>,
    runtimes: &'a Runtimes,
) -> Result<ValidChecker<'a>, RequestError> {
    let tolerance = |name: &str, v: Option<f64>| match v {
        None => Ok(DEFAULT_TOLERANCE),
        Some(t) if t.is_finite() && t >= 0.0 => Ok(t),
        Some(t) => Err(invalid(format!("{name} {t} must be a finite number of at least 0"))),
    };
    let program_only = c.code.is_some() || c.language.is_some();
    let checker = c.checker.unwrap_or(Checker::Lines);
    if program_only && checker != Checker::Program {
        return Err(invalid(format!(
            "checker_code and checker_language are for checker 'program' (the checker is {checker:?})"
        )));
    }
    Ok(match checker {
        Checker::Exact => ValidChecker::Compare(Comparison::Exact),
        Checker::Lines => ValidChecker::Compare(Comparison::Lines),
        Checker::Tokens => ValidChecker::Compare(Comparison::Tokens),
        Checker::Float => ValidChecker::Compare(Comparison::Float {
            abs: tolerance("checker_abs_tolerance", c.abs)?,
            rel: tolerance("checker_rel_tolerance", c.rel)?,
        }),
        Checker::Program => {
            let (Some(code), Some(language)) = (c.code, c.language) else {
                return Err(invalid("checker 'program' needs checker_code and checker_language".into()));
            };
            if code.len() > MAX_TEXT_BYTES {
                return Err(RequestError::TooLarge(format!(
                    "checker_code is {} bytes; the limit is {MAX_TEXT_BYTES}",
                    code.len()
                )));
            }
            let runtime = runtimes.resolve(language).ok_or_else(|| RequestError::UnknownLanguage {
                language: language.to_string(),
                supported: runtimes.describe(),
            })?;
            ValidChecker::Program { runtime, code }
        }
    })
}

/// One case's result, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseResult {
    pub name: String,
    pub status: CaseStatus,
    pub exit_code: Option<i32>,
    /// The signal's name (`SIGSEGV`) when one ended it.
    pub signal: Option<String>,
    /// CPU time (user + system) in ms.
    pub time_ms: Option<f64>,
    pub wall_ms: Option<f64>,
    /// Peak resident memory.
    pub memory_kb: Option<u64>,
    pub stdout: String,
    pub stderr: String,
    /// Why it was not accepted (or the checker's first line).
    pub message: Option<String>,
    /// `stdout`/`stderr` were cut to keep the result small.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl CaseResult {
    pub fn skipped(name: &str, why: &str) -> CaseResult {
        CaseResult {
            name: name.to_string(),
            status: CaseStatus::Skipped,
            exit_code: None,
            signal: None,
            time_ms: None,
            wall_ms: None,
            memory_kb: None,
            stdout: String::new(),
            stderr: String::new(),
            message: Some(why.to_string()),
            truncated: false,
        }
    }
}

/// A cases session's `result`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct CasesResult {
    /// The first case's status that is not `accepted` (skipped cases
    /// aside), else `accepted`.
    pub verdict: CaseStatus,
    pub passed: usize,
    pub total: usize,
    pub cases: Vec<CaseResult>,
}

impl CasesResult {
    pub fn of(cases: Vec<CaseResult>) -> CasesResult {
        let verdict = cases
            .iter()
            .map(|c| c.status)
            .find(|s| !matches!(s, CaseStatus::Accepted | CaseStatus::Skipped))
            .or_else(|| cases.iter().any(|c| c.status == CaseStatus::Skipped).then_some(CaseStatus::Skipped))
            .unwrap_or(CaseStatus::Accepted);
        CasesResult {
            verdict,
            passed: cases.iter().filter(|c| c.status == CaseStatus::Accepted).count(),
            total: cases.len(),
            cases,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Vec<Case>, String> {
        let none = CaseDefaults { timeout_ms: None, cpu_time_ms: None, memory_mb: None };
        parse_cases(&v, none, &Limits::default()).map_err(|e| e.to_string())
    }

    #[test]
    fn limits_fall_back_from_the_case_to_the_session_to_the_server() {
        let l = Limits::default();
        let session = CaseDefaults { timeout_ms: Some(2000), cpu_time_ms: None, memory_mb: Some(64) };
        let v = json!([{"stdin": "1"}, {"timeout_ms": 500, "memory_limit_mb": 32, "cpu_time_limit_ms": 300, "name": "big"}]);
        let cases = parse_cases(&v, session, &l).unwrap();
        assert_eq!(
            (cases[0].name.as_str(), cases[0].timeout, cases[0].memory_mb),
            ("case 1", Duration::from_secs(2), 64)
        );
        assert_eq!(cases[0].cpu_time, None);
        assert_eq!(cases[1].name, "big");
        assert_eq!((cases[1].timeout, cases[1].memory_mb), (Duration::from_millis(500), 32));
        assert_eq!(cases[1].cpu_time, Some(Duration::from_millis(300)));
        let bare = parse(json!([{}])).unwrap();
        assert_eq!(bare[0].timeout, Duration::from_millis(l.default_case_timeout_ms));
        assert_eq!((bare[0].stdin.len(), bare[0].expected.as_deref()), (0, None));
    }

    #[test]
    fn bad_cases_say_what_is_wrong() {
        let table = [
            (json!({}), "must be an array"),
            (json!([]), "at least one case"),
            (json!([1]), "cases[0] is not an object"),
            (json!([{"stdin": "", "expected": "x"}]), "unknown field \"expected\""),
            (json!([{}, {"stdin": 5}]), "cases[1].stdin must be a string"),
            (json!([{"args": ["a", 1]}]), "args must be an array of strings"),
            (json!([{"args": ["a\u{0}"]}]), "NUL"),
            (json!([{"timeout_ms": 0}]), "cases[0].timeout_ms 0 is outside"),
            (json!([{"timeout_ms": "5"}]), "must be an integer"),
            (json!([{"memory_limit_mb": 100000}]), "memory_limit_mb 100000 is outside"),
            (json!([{"name": "x".repeat(101)}]), "longer than 100"),
            (json!([{"stdin": "x".repeat(MAX_TEXT_BYTES + 1)}]), "limited to"),
        ];
        for (v, want) in table {
            let got = parse(v).unwrap_err();
            assert!(got.contains(want), "{got:?} should say {want:?}");
        }
        let many = Value::Array(vec![json!({}); Limits::default().max_cases + 1]);
        assert!(parse(many).unwrap_err().contains("at most 1000"));
    }

    #[test]
    fn checkers() {
        let runtimes = Runtimes::builtin();
        let cols = |checker, code, language| CheckerColumns { checker, code, language, abs: None, rel: None };
        assert!(matches!(
            parse_checker(cols(None, None, None), &runtimes),
            Ok(ValidChecker::Compare(Comparison::Lines))
        ));
        match parse_checker(CheckerColumns { abs: Some(0.5), ..cols(Some(Checker::Float), None, None) }, &runtimes) {
            Ok(ValidChecker::Compare(Comparison::Float { abs, rel })) => {
                assert_eq!((abs, rel), (0.5, DEFAULT_TOLERANCE))
            }
            other => panic!("{other:?}"),
        }
        match parse_checker(cols(Some(Checker::Program), Some("exit(0)"), Some("py")), &runtimes) {
            Ok(ValidChecker::Program { runtime, .. }) => assert_eq!(runtime.language, "python"),
            other => panic!("{other:?}"),
        }
        let bad = [
            (cols(Some(Checker::Program), None, Some("python")), "needs checker_code"),
            (cols(Some(Checker::Program), Some("x"), Some("intercal")), "unsupported language"),
            (cols(Some(Checker::Tokens), Some("x"), None), "are for checker 'program'"),
            (CheckerColumns { rel: Some(-1.0), ..cols(Some(Checker::Float), None, None) }, "at least 0"),
            (CheckerColumns { abs: Some(f64::NAN), ..cols(Some(Checker::Float), None, None) }, "finite"),
        ];
        for (c, want) in bad {
            let got = parse_checker(c, &runtimes).unwrap_err().to_string();
            assert!(got.contains(want), "{got:?} should say {want:?}");
        }
    }

    #[test]
    fn the_verdict_is_the_first_failure() {
        let case = |status| CaseResult { status, ..CaseResult::skipped("c", "") };
        use CaseStatus::*;
        let table = [
            (vec![Accepted, Accepted], Accepted, 2),
            (vec![Accepted, WrongAnswer, TimeLimit], WrongAnswer, 1),
            (vec![Accepted, RuntimeError, Skipped], RuntimeError, 1),
            (vec![Accepted, Skipped], Skipped, 1),
        ];
        for (statuses, verdict, passed) in table {
            let r = CasesResult::of(statuses.into_iter().map(case).collect());
            assert_eq!((r.verdict, r.passed), (verdict, passed));
        }
    }
}
