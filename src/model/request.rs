//! A session request: the columns a client inserts into
//! `backend_execution_sessions`, and its one validation against the runtime
//! table and the server's limits. The API calls [`Request::validate`] for an
//! early 400; the worker calls it again as the final authority (a request
//! inserted straight into the table meets only the worker's check).

use std::time::Duration;

use uuid::Uuid;

use super::cases::{CaseDefaults, CheckerColumns, ValidCases};
use super::{Checker, Mode};
use crate::config::Limits;
use crate::runtimes::{Runtime, Runtimes};

/// A session to create: the request columns of `backend_execution_sessions`
/// (serialized as the row a client inserts: unset columns left out, for
/// the table's defaults).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Request {
    pub language: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    pub args: Vec<String>,
    /// Extra files, as stored: `[{name, content, encoding?}]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_limit_mb: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compile_timeout_ms: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compile_memory_limit_mb: Option<i32>,
    /// CPU time (user + system, the program and everything it starts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_time_limit_ms: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compile_cpu_time_limit_ms: Option<i32>,
    pub interactive: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_name: Option<String>,
    pub mode: Mode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tests: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs: Option<i32>,
    /// Mode `cases`: the cases, as stored (see [`super::cases`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cases: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checker: Option<Checker>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checker_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checker_language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checker_abs_tolerance: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checker_rel_tolerance: Option<f64>,
    pub stop_on_failure: bool,
}

// The enum's derives are `text_enum!`'s; its default is here.
#[allow(clippy::derivable_impls)]
impl Default for Mode {
    fn default() -> Self {
        Mode::Run
    }
}

/// Largest `code`, `stdin` and `tests` (the table's own bounds).
pub const MAX_TEXT_BYTES: usize = 1024 * 1024;
/// Most files in one submission (the main file included), and most bytes
/// in all of them.
pub const MAX_FILES: usize = 64;
pub const MAX_TOTAL_BYTES: usize = 4 * 1024 * 1024;
/// Most program arguments.
pub const MAX_ARGS: usize = 128;

/// Why a request cannot run. The message is for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("unsupported language {language:?}; supported languages: {supported}")]
    UnknownLanguage { language: String, supported: String },
    #[error("{name} {value} is {} this server's {} of {bound} {unit}", if *.above { "above" } else { "below" }, if *.above { "maximum" } else { "minimum" })]
    OutOfRange { name: &'static str, value: i64, bound: u64, unit: &'static str, above: bool },
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Invalid(String),
}

/// A file for `/work`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub name: String,
    pub content: Vec<u8>,
}

/// What the request does, checked against its runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidMode {
    Run,
    Validate,
    /// Validate, then time the tests `runs` times.
    Benchmark {
        runs: u64,
    },
    /// Compile once, run and judge each case ([`ValidRequest::cases`]).
    Cases,
}

/// The limits a request gets: what it asked for within the server's
/// bounds, or the server's defaults. The compile values apply when the
/// session has a compile stage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestLimits {
    pub timeout: Duration,
    pub memory_mb: u64,
    /// None: no CPU-time limit (only the wall clock).
    pub cpu_time: Option<Duration>,
    pub compile_timeout: Duration,
    pub compile_memory_mb: u64,
    pub compile_cpu_time: Option<Duration>,
}

/// A request that passed every check.
#[derive(Debug, Clone)]
pub struct ValidRequest<'a> {
    pub runtime: &'a Runtime,
    pub request: &'a Request,
    pub mode: ValidMode,
    pub limits: RequestLimits,
    /// The extra files, decoded.
    pub files: Vec<File>,
    /// Mode cases: the cases and their checker.
    pub cases: Option<ValidCases<'a>>,
}

impl ValidRequest<'_> {
    /// The tests' source (validation modes; empty otherwise).
    pub fn tests(&self) -> &str {
        self.request.tests.as_deref().unwrap_or("")
    }
}

/// A requested limit (null = the default), checked against the server's
/// bounds: never silently raised or lowered.
fn bounded(
    name: &'static str,
    requested: Option<i32>,
    default: u64,
    min: u64,
    max: u64,
    unit: &'static str,
) -> Result<u64, RequestError> {
    match requested {
        None => Ok(default),
        Some(v) if (v as i64) < min as i64 => {
            Err(RequestError::OutOfRange { name, value: v as i64, bound: min, unit, above: false })
        }
        Some(v) if v as u64 > max => {
            Err(RequestError::OutOfRange { name, value: v as i64, bound: max, unit, above: true })
        }
        Some(v) => Ok(v as u64),
    }
}

fn too_large(what: &str, len: usize, max: usize) -> Result<(), RequestError> {
    if len > max {
        return Err(RequestError::TooLarge(format!("{what} is {len} bytes; the limit is {max}")));
    }
    Ok(())
}

impl Request {
    /// Checks the request against the runtime table and the server's
    /// limits, decoding its files on the way.
    /// PostgreSQL's text and jsonb cannot hold NUL characters: a request
    /// with one is refused by name (binary data goes base64-encoded in
    /// `files`).
    fn storable(&self) -> Result<(), RequestError> {
        let texts = [
            ("code", Some(self.code.as_str())),
            ("stdin", self.stdin.as_deref()),
            ("tests", self.tests.as_deref()),
            ("session_name", self.session_name.as_deref()),
            ("checker_code", self.checker_code.as_deref()),
            ("checker_language", self.checker_language.as_deref()),
        ];
        let jsons = [("files", self.files.as_ref()), ("cases", self.cases.as_ref())];
        let bad = texts
            .iter()
            .find(|(_, t)| t.is_some_and(|t| t.contains('\0')))
            .map(|(name, _)| *name)
            .or_else(|| jsons.iter().find(|(_, v)| v.is_some_and(json_has_nul)).map(|(name, _)| *name));
        match bad {
            Some(name) => Err(RequestError::Invalid(format!(
                "{name} may not contain NUL characters (send binary data base64-encoded in files)"
            ))),
            None => Ok(()),
        }
    }

    pub fn validate<'a>(&'a self, runtimes: &'a Runtimes, l: &Limits) -> Result<ValidRequest<'a>, RequestError> {
        let runtime = runtimes.resolve(&self.language).ok_or_else(|| RequestError::UnknownLanguage {
            language: self.language.clone(),
            supported: runtimes.describe(),
        })?;
        too_large("code", self.code.len(), MAX_TEXT_BYTES)?;
        too_large("stdin", self.stdin.as_deref().map_or(0, str::len), MAX_TEXT_BYTES)?;
        too_large("tests", self.tests.as_deref().map_or(0, str::len), MAX_TEXT_BYTES)?;
        self.storable()?;
        // Bounded whatever the mode (only a benchmark uses it): a value the
        // server's bounds refuse is refused, never silently ignored.
        let runs = bounded("runs", self.runs, l.default_benchmark_runs, 1, l.max_benchmark_runs, "runs")?;
        let mode = match self.mode {
            Mode::Run => ValidMode::Run,
            Mode::Cases => ValidMode::Cases,
            Mode::Validate | Mode::Benchmark if runtime.validate.is_none() => {
                return Err(RequestError::Unavailable(format!(
                    "{} is not available for {}",
                    self.mode, runtime.language
                )))
            }
            Mode::Benchmark if runtime.benchmark.is_none() => {
                return Err(RequestError::Unavailable(format!(
                    "benchmark mode is not available for {}; validation is (mode 'validate')",
                    runtime.language
                )))
            }
            _ if self.tests.is_none() => {
                return Err(RequestError::Invalid(format!("mode {} needs tests", self.mode)));
            }
            Mode::Validate => ValidMode::Validate,
            Mode::Benchmark => ValidMode::Benchmark { runs },
        };
        if self.interactive && mode != ValidMode::Run {
            return Err(RequestError::Invalid("interactive sessions run programs (mode 'run')".into()));
        }
        let cases = self.valid_cases(mode, runtimes, l)?;
        let ms = |v: u64| Duration::from_millis(v);
        let cpu = |v: u64| (v > 0).then(|| Duration::from_millis(v));
        let limits = RequestLimits {
            timeout: ms(bounded("timeout_ms", self.timeout_ms, l.default_timeout_ms, 1, l.max_timeout_ms, "ms")?),
            memory_mb: bounded(
                "memory_limit_mb",
                self.memory_limit_mb,
                l.default_memory_mb,
                l.min_memory_mb,
                l.max_memory_mb,
                "MB",
            )?,
            compile_timeout: ms(bounded(
                "compile_timeout_ms",
                self.compile_timeout_ms,
                l.default_compile_timeout_ms,
                1,
                l.max_compile_timeout_ms,
                "ms",
            )?),
            compile_memory_mb: bounded(
                "compile_memory_limit_mb",
                self.compile_memory_limit_mb,
                l.default_compile_memory_mb,
                l.min_memory_mb,
                l.max_compile_memory_mb,
                "MB",
            )?,
            cpu_time: cpu(bounded(
                "cpu_time_limit_ms",
                self.cpu_time_limit_ms,
                l.default_cpu_time_ms,
                1,
                l.max_cpu_time_ms,
                "ms",
            )?),
            compile_cpu_time: cpu(bounded(
                "compile_cpu_time_limit_ms",
                self.compile_cpu_time_limit_ms,
                l.default_compile_cpu_time_ms,
                1,
                l.max_compile_cpu_time_ms,
                "ms",
            )?),
        };
        if self.args.len() > MAX_ARGS {
            return Err(RequestError::Invalid(format!("too many args: at most {MAX_ARGS}")));
        }
        if self.args.iter().any(|a| a.contains('\0')) {
            return Err(RequestError::Invalid("args may not contain NUL characters".into()));
        }
        let written = written_files(runtime, mode, &self.code);
        let taken = self.code.len() + self.tests.as_deref().map_or(0, str::len);
        let files = match &self.files {
            None => Vec::new(),
            Some(f) => decode_files(f, &written.iter().map(String::as_str).collect::<Vec<_>>(), taken)?,
        };
        Ok(ValidRequest { runtime, request: self, mode, limits, files, cases })
    }

    /// Mode cases: its cases and checker; other modes may not name them.
    fn valid_cases<'a>(
        &'a self,
        mode: ValidMode,
        runtimes: &'a Runtimes,
        l: &Limits,
    ) -> Result<Option<ValidCases<'a>>, RequestError> {
        let named = self.cases.is_some()
            || self.checker.is_some()
            || self.checker_code.is_some()
            || self.checker_language.is_some()
            || self.checker_abs_tolerance.is_some()
            || self.checker_rel_tolerance.is_some()
            || self.stop_on_failure;
        if mode != ValidMode::Cases {
            return match named {
                true => Err(RequestError::Invalid("cases, checker and stop_on_failure are for mode 'cases'".into())),
                false => Ok(None),
            };
        }
        let Some(cases) = &self.cases else {
            return Err(RequestError::Invalid("mode cases needs cases".into()));
        };
        let defaults = CaseDefaults {
            timeout_ms: self.timeout_ms,
            cpu_time_ms: self.cpu_time_limit_ms,
            memory_mb: self.memory_limit_mb,
        };
        let checker = super::cases::parse_checker(
            CheckerColumns {
                checker: self.checker,
                code: self.checker_code.as_deref(),
                language: self.checker_language.as_deref(),
                abs: self.checker_abs_tolerance,
                rel: self.checker_rel_tolerance,
            },
            runtimes,
        )?;
        Ok(Some(ValidCases {
            cases: super::cases::parse_cases(cases, defaults, l)?,
            checker,
            stop_on_failure: self.stop_on_failure,
        }))
    }
}

/// The files execbox itself writes for a request in `mode`.
fn written_files(rt: &Runtime, mode: ValidMode, code: &str) -> Vec<String> {
    match (mode, &rt.validate) {
        (ValidMode::Run | ValidMode::Cases, _) | (_, None) => vec![rt.entry(code).file],
        (_, Some(v)) => {
            let bench = match mode {
                ValidMode::Benchmark { .. } => rt.benchmark.iter().flat_map(|b| &b.files).collect(),
                _ => Vec::new(),
            };
            v.files.iter().chain(bench).map(|f| f.name.clone()).collect()
        }
    }
}

/// A name the launcher may safely write under `/work`: one path component of
/// `[A-Za-z0-9._-]`, not `.`/`..`, not starting with `-` or `.`.
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with(['-', '.'])
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// What [`is_safe_name`] accepts, as a JSON Schema pattern (the OpenAPI
/// document says it; a test keeps the two in step).
pub const SAFE_NAME_PATTERN: &str = "^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$";
/// What [`decode_content`] accepts as `base64`: padded, and the last
/// character's unused bits zero (the decoder refuses them otherwise).
pub const BASE64_PATTERN: &str = "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$";
/// What [`decode_content`] accepts as `hex`.
pub const HEX_PATTERN: &str = "^([0-9A-Fa-f]{2})*$";

/// Decodes a session's extra files (`[{name, content, encoding?}]`, encoding
/// `utf8` (default), `base64` or `hex`) and checks them: plain names, none of
/// `written` (execbox's own) and no duplicates, bounded count and size.
fn decode_files(files: &serde_json::Value, written: &[&str], taken: usize) -> Result<Vec<File>, RequestError> {
    let invalid = RequestError::Invalid;
    let list =
        files.as_array().ok_or_else(|| invalid("files must be an array of {name, content, encoding?}".into()))?;
    if list.len() + written.len() > MAX_FILES {
        return Err(invalid(format!("too many files: at most {MAX_FILES}")));
    }
    let mut out: Vec<File> = Vec::with_capacity(list.len());
    let mut total = taken;
    for (i, f) in list.iter().enumerate() {
        let name = f.get("name").and_then(|n| n.as_str()).ok_or_else(|| invalid(format!("files[{i}] has no name")))?;
        if !is_safe_name(name) {
            return Err(invalid(format!(
                "files[{i}]: name {name:?} is not allowed (one plain file name of letters, digits, '.', '_' and '-', not starting with '.' or '-')"
            )));
        }
        if written.contains(&name) {
            return Err(invalid(format!("files[{i}]: {name:?} is a file execbox writes itself; choose another name")));
        }
        if out.iter().any(|f| f.name == name) {
            return Err(invalid(format!("files[{i}]: {name:?} appears twice")));
        }
        let content = f
            .get("content")
            .and_then(|c| c.as_str())
            .ok_or_else(|| invalid(format!("files[{i}] ({name}) has no text content")))?;
        let encoding = f.get("encoding").and_then(|e| e.as_str());
        let content = decode_content(content, encoding).map_err(|e| invalid(format!("files[{i}] ({name}): {e}")))?;
        total += content.len();
        if total > MAX_TOTAL_BYTES {
            return Err(RequestError::TooLarge(format!("files are too large: at most {MAX_TOTAL_BYTES} bytes in all")));
        }
        out.push(File { name: name.to_string(), content });
    }
    Ok(out)
}

/// Whether a JSON value holds a NUL character in a string or a key.
fn json_has_nul(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(json_has_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || json_has_nul(v)),
        _ => false,
    }
}

/// A file's content in its declared encoding: `utf8` (the default),
/// `base64` or `hex` (Piston's set).
pub fn decode_content(content: &str, encoding: Option<&str>) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    match encoding.unwrap_or("utf8") {
        "utf8" | "utf-8" => Ok(content.as_bytes().to_vec()),
        "base64" => {
            base64::engine::general_purpose::STANDARD.decode(content).map_err(|e| format!("invalid base64: {e}"))
        }
        // Digits only: `from_str_radix` alone would take a sign ("+1").
        "hex" if content.len().is_multiple_of(2) && content.bytes().all(|b| b.is_ascii_hexdigit()) => (0..content
            .len())
            .step_by(2)
            .map(|i| content.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| "invalid hex".to_string()),
        "hex" => Err("invalid hex".to_string()),
        other => Err(format!("unknown encoding {other:?} (utf8, base64 or hex)")),
    }
}

/// One thing to do to an interactive program's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputEvent {
    Stdin(Vec<u8>),
    Eof,
    Signal(String),
}

impl InputEvent {
    /// Its `session_input` row: the kind and the data.
    pub fn to_row(&self) -> (&'static str, Option<String>) {
        match self {
            InputEvent::Stdin(bytes) => ("stdin", Some(String::from_utf8_lossy(bytes).into_owned())),
            InputEvent::Eof => ("eof", None),
            InputEvent::Signal(name) => ("signal", Some(name.clone())),
        }
    }

    /// The event a `session_input` row holds.
    pub fn from_row(kind: &str, data: Option<String>) -> Result<InputEvent, super::UnknownValue> {
        match kind {
            "stdin" => Ok(InputEvent::Stdin(data.unwrap_or_default().into_bytes())),
            "eof" => Ok(InputEvent::Eof),
            "signal" => Ok(InputEvent::Signal(data.unwrap_or_default())),
            other => Err(super::UnknownValue { kind: "input kind", value: other.to_string() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hex_content_is_pairs_of_hex_digits() {
        let table: &[(&str, Option<&[u8]>)] = &[
            ("", Some(b"")),
            ("0a", Some(b"\n")),
            ("4A4b", Some(b"JK")),
            ("+1", None),
            ("0", None),
            ("zz", None),
            (" 0a", None),
        ];
        for (content, want) in table {
            assert_eq!(decode_content(content, Some("hex")).ok().as_deref(), *want, "{content:?}");
        }
    }

    #[test]
    fn input_events_are_their_rows() {
        let events = [InputEvent::Stdin(b"a b\n".to_vec()), InputEvent::Eof, InputEvent::Signal("SIGINT".into())];
        for e in events {
            let (kind, data) = e.to_row();
            assert_eq!(InputEvent::from_row(kind, data), Ok(e));
        }
        assert!(InputEvent::from_row("stdout", None).is_err());
    }

    fn req(language: &str) -> Request {
        Request { language: language.into(), code: "print(1)".into(), ..Default::default() }
    }

    fn err(r: Request) -> String {
        let runtimes = Runtimes::builtin();
        r.validate(&runtimes, &Limits::default()).unwrap_err().to_string()
    }

    #[test]
    fn defaults_and_bounds() {
        let runtimes = Runtimes::builtin();
        let l = Limits::default();
        let r = req("py");
        let v = r.validate(&runtimes, &l).unwrap();
        assert_eq!(v.runtime.language, "python");
        assert_eq!(v.mode, ValidMode::Run);
        assert_eq!(v.limits.timeout, Duration::from_millis(l.default_timeout_ms));
        assert_eq!(v.limits.compile_memory_mb, l.default_compile_memory_mb);
        let r = Request { compile_timeout_ms: Some(1234), compile_memory_limit_mb: Some(300), ..req("cpp") };
        let v = r.validate(&runtimes, &l).unwrap();
        assert_eq!((v.limits.compile_timeout, v.limits.compile_memory_mb), (Duration::from_millis(1234), 300));
    }

    #[test]
    fn each_refusal_says_why() {
        let l = Limits::default();
        let table: Vec<(Request, &str)> = vec![
            (req("cobol-85"), "unsupported language \"cobol-85\"; supported languages: python"),
            (Request { timeout_ms: Some(0), ..req("python") }, "timeout_ms 0 is below this server's minimum of 1 ms"),
            (
                Request { timeout_ms: Some(l.max_timeout_ms as i32 + 1), ..req("python") },
                "timeout_ms 300001 is above this server's maximum of 300000 ms",
            ),
            (Request { memory_limit_mb: Some(1), ..req("python") }, "memory_limit_mb 1 is below"),
            (
                Request { compile_memory_limit_mb: Some(1 << 20), ..req("cpp") },
                "compile_memory_limit_mb 1048576 is above",
            ),
            (Request { compile_timeout_ms: Some(-5), ..req("cpp") }, "compile_timeout_ms -5 is below"),
            (Request { mode: Mode::Validate, ..req("python") }, "mode validate needs tests"),
            (
                Request { mode: Mode::Benchmark, tests: Some("x".into()), runs: Some(0), ..req("python") },
                "runs 0 is below",
            ),
            (
                Request { mode: Mode::Validate, tests: Some("x".into()), runs: Some(1001), ..req("python") },
                "runs 1001 is above",
            ),
            (Request { runs: Some(0), ..req("python") }, "runs 0 is below"),
            (Request { args: vec!["a\0b".into()], ..req("python") }, "NUL"),
            (Request { code: "print(1)\0".into(), ..req("python") }, "code may not contain NUL"),
            (Request { tests: Some("\0".into()), mode: Mode::Validate, ..req("python") }, "tests may not contain NUL"),
            (
                Request { cases: Some(serde_json::json!([{"stdin": "a\0"}])), mode: Mode::Cases, ..req("python") },
                "cases may not contain NUL",
            ),
            (Request { args: vec![String::new(); 129], ..req("python") }, "too many args"),
            (Request { code: "x".repeat(MAX_TEXT_BYTES + 1), ..req("python") }, "code is 1048577 bytes"),
            (
                Request { interactive: true, mode: Mode::Validate, tests: Some(String::new()), ..req("python") },
                "interactive",
            ),
            (Request { files: Some(json!([{"name": "../x", "content": ""}])), ..req("python") }, "not allowed"),
            (Request { files: Some(json!([{"name": "main.py", "content": ""}])), ..req("python") }, "execbox writes"),
            (
                Request {
                    mode: Mode::Validate,
                    tests: Some(String::new()),
                    files: Some(json!([{"name": "solution.py", "content": ""}])),
                    ..req("python")
                },
                "execbox writes",
            ),
            (
                Request {
                    files: Some(json!([{"name": "a", "content": ""}, {"name": "a", "content": ""}])),
                    ..req("py")
                },
                "twice",
            ),
            (
                Request { files: Some(json!([{"name": "a", "content": "zz", "encoding": "hex"}])), ..req("py") },
                "invalid hex",
            ),
            (
                Request { files: Some(json!([{"name": "a", "content": "x", "encoding": "rot13"}])), ..req("py") },
                "unknown encoding",
            ),
            (Request { files: Some(json!([{"content": "x"}])), ..req("py") }, "no name"),
            (Request { files: Some(json!({"name": "a"})), ..req("py") }, "array"),
            (
                Request { files: Some(json!([{"name": "a", "content": "x".repeat(MAX_TOTAL_BYTES)}])), ..req("py") },
                "too large",
            ),
        ];
        for (r, want) in table {
            let got = err(r);
            assert!(got.contains(want), "{got:?} should say {want:?}");
        }
    }

    #[test]
    fn files_decode() {
        let runtimes = Runtimes::builtin();
        let r = Request {
            files: Some(json!([
                {"name": "util.py", "content": "x = 1"},
                {"name": "data.bin", "content": "AAEC", "encoding": "base64"},
                {"name": "h.txt", "content": "6869", "encoding": "hex"}
            ])),
            ..req("python")
        };
        let v = r.validate(&runtimes, &Limits::default()).unwrap();
        assert_eq!(v.files[0], File { name: "util.py".into(), content: b"x = 1".to_vec() });
        assert_eq!(v.files[1].content, vec![0, 1, 2]);
        assert_eq!(v.files[2].content, b"hi".to_vec());
    }

    #[test]
    fn the_patterns_accept_what_the_checks_accept() {
        let matches = |pattern: &str, s: &str| regex::Regex::new(pattern).unwrap().is_match(s);
        const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut base64 =
            vec!["", "AAEC", "aGk=", "aGk", "aGk==", "====", "QR==", "QQ==", "A===", "aGVsbG8=", "+/+/", "-_-_"];
        let pairs: Vec<String> = ALPHABET.chars().flat_map(|a| ["A", "z"].map(|b| format!("{b}{a}=="))).collect();
        let triples: Vec<String> = ALPHABET.chars().map(|c| format!("aG{c}=")).collect();
        base64.extend(pairs.iter().chain(&triples).map(String::as_str));
        for s in base64 {
            let decodes = decode_content(s, Some("base64")).is_ok();
            assert_eq!(matches(BASE64_PATTERN, s), decodes, "base64 {s:?}: decodes {decodes}");
        }
        for s in ["", "00", "ff", "FfA0", "0", "+1", "-1", "0g", "0 ", "é0", "0x00"] {
            let decodes = decode_content(s, Some("hex")).is_ok();
            assert_eq!(matches(HEX_PATTERN, s), decodes, "hex {s:?}: decodes {decodes}");
        }
        let long = "a".repeat(128);
        let longer = "a".repeat(129);
        for s in ["main.py", "_x", "9", "a.", "a-b", "", ".", "-a", ".a", "a/b", "a b", "é", "a\nb", &long, &longer] {
            assert_eq!(matches(SAFE_NAME_PATTERN, s), is_safe_name(s), "name {s:?}");
        }
    }

    #[test]
    fn names() {
        for ok in ["main.py", "Main.java", "a_b-c.1"] {
            assert!(is_safe_name(ok), "{ok}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "/etc/passwd", "-rf", ".bashrc", "a b", "a\nb", "é.py", "a\\b"] {
            assert!(!is_safe_name(bad), "{bad:?}");
        }
    }
}
