//! Validation results: the test framework's report (never its console
//! output, which the tested code can print into) parsed into per-test
//! results and the counts the seed's API returns.

use std::collections::BTreeMap;

use quick_xml::events::{BytesStart, Event};
use serde::{Deserialize, Serialize};

use crate::metrics::quantile;
use crate::model::{ReportFormat, TestStatus};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TestCase {
    pub name: String,
    pub status: TestStatus,
    pub message: Option<String>,
    pub duration_ms: Option<f64>,
}

/// A validation's `result`: the counts seed 004's API returns, per-test
/// results, and (benchmark mode) the timing statistics.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ValidationResult {
    pub passed: bool,
    pub tests_passed: usize,
    pub total_tests: usize,
    pub tests: Vec<TestCase>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub compile_error: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none", default)]
    #[schema(schema_with = statistics_when_timed)]
    pub statistics: Option<Statistics>,
}

/// The statistics' fields, present only for a benchmark: flattened into the
/// result, so absent (never null) otherwise.
fn statistics_when_timed() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::{schema::Schema, RefOr};
    let mut schema = <Statistics as utoipa::PartialSchema>::schema();
    if let RefOr::T(Schema::Object(object)) = &mut schema {
        object.required.clear();
    }
    schema
}

/// Benchmark timings in milliseconds: the seed's `meanExecutionTime` and
/// `standardDeviation` (sample), plus `median`, `p95`, `min`, `max`, `n` and
/// `outliers` (outside Tukey's fences, 1.5 IQR beyond the quartiles).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Statistics {
    pub mean_execution_time: f64,
    pub standard_deviation: f64,
    pub median: f64,
    pub p95: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
    pub outliers: usize,
    pub unit: String,
}

impl ValidationResult {
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a validation result serializes")
    }
}

/// The session's `result` for a validation run.
pub(crate) fn result(tests: &[TestCase]) -> ValidationResult {
    let passed = tests.iter().filter(|t| t.status == TestStatus::Passed).count();
    let bad = tests.iter().filter(|t| matches!(t.status, TestStatus::Failed | TestStatus::Error)).count();
    ValidationResult {
        passed: passed > 0 && bad == 0,
        tests_passed: passed,
        total_tests: tests.len(),
        tests: tests.to_vec(),
        ..Default::default()
    }
}

/// The result of a validation whose code did not compile: no test ran.
pub(crate) fn compile_error_result(message: &str) -> ValidationResult {
    ValidationResult { compile_error: Some(message.to_string()), ..Default::default() }
}

/// Benchmark timings: one duration in nanoseconds per line.
pub(crate) fn timings(text: &[u8]) -> Vec<f64> {
    String::from_utf8_lossy(text).lines().filter_map(|l| l.trim().parse::<f64>().ok()).filter(|v| *v >= 0.0).collect()
}

/// The benchmark statistics of timings in nanoseconds; None without any.
pub(crate) fn statistics(nanos: &[f64]) -> Option<Statistics> {
    let mut ms: Vec<f64> = nanos.iter().map(|n| n / 1e6).collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    let n = ms.len();
    if n == 0 {
        return None;
    }
    let mean = ms.iter().sum::<f64>() / n as f64;
    let var = if n > 1 { ms.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64 } else { 0.0 };
    let (q1, q3) = (quantile(&ms, 0.25), quantile(&ms, 0.75));
    let iqr = q3 - q1;
    let outliers = ms.iter().filter(|x| **x < q1 - 1.5 * iqr || **x > q3 + 1.5 * iqr).count();
    let round = |x: f64| (x * 1e6).round() / 1e6;
    Some(Statistics {
        mean_execution_time: round(mean),
        standard_deviation: round(var.sqrt()),
        median: round(quantile(&ms, 0.5)),
        p95: round(quantile(&ms, 0.95)),
        min: round(ms[0]),
        max: round(ms[n - 1]),
        n,
        outliers,
        unit: "ms".into(),
    })
}

/// Linear interpolation between closest ranks of sorted data.
/// Parses a report in `format` (see `runtimes::Validate::format`).
/// `declared` lists the test names the tests' source declares (used where
/// the format is text the tested code could imitate).
pub(crate) fn parse(format: ReportFormat, report: &[u8], declared: &[String]) -> Result<Vec<TestCase>, String> {
    let text = String::from_utf8_lossy(report);
    match format {
        ReportFormat::Junit => junit(&text),
        ReportFormat::Tap => Ok(tap(&text)),
        ReportFormat::Libtest => Ok(libtest(&text)),
        ReportFormat::Gotest => Ok(gotest(&text, declared)),
    }
}

fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.try_get_attribute(name).ok().flatten().and_then(|a| a.unescape_value().ok()).map(|v| v.into_owned())
}

/// JUnit XML (pytest, JUnit 5, GoogleTest): `<testcase>` elements with
/// optional `<failure>`, `<error>` or `<skipped>` children.
fn junit(xml: &str) -> Result<Vec<TestCase>, String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out: Vec<TestCase> = Vec::new();
    loop {
        match reader.read_event().map_err(|e| format!("the test report is not valid XML: {e}"))? {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"testcase" => {
                let name = attr(&e, "name").unwrap_or_default();
                let class = attr(&e, "classname").unwrap_or_default();
                let full = if class.is_empty() { name } else { format!("{class}.{name}") };
                // GoogleTest marks tests it did not run.
                let status = match attr(&e, "status").as_deref() {
                    Some("notrun") => TestStatus::Skipped,
                    _ => TestStatus::Passed,
                };
                let duration_ms = attr(&e, "time").and_then(|t| t.parse::<f64>().ok()).map(|s| s * 1000.0);
                out.push(TestCase { name: full, status, message: None, duration_ms });
            }
            Event::Start(e) | Event::Empty(e) if matches!(e.name().as_ref(), b"failure" | b"error" | b"skipped") => {
                if let Some(t) = out.last_mut() {
                    let kind = match e.name().as_ref() {
                        b"failure" => TestStatus::Failed,
                        b"error" => TestStatus::Error,
                        _ => TestStatus::Skipped,
                    };
                    // A test with both a failure and an error stays failed.
                    if t.status == TestStatus::Passed
                        || (t.status == TestStatus::Skipped && kind != TestStatus::Skipped)
                    {
                        t.status = kind;
                    }
                    if t.message.is_none() {
                        t.message = attr(&e, "message");
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

/// TAP (Node's test runner): `ok N - name` / `not ok N - name` with an
/// optional YAML block (`duration_ms`, `error`, `type: 'suite'`).
fn tap(text: &str) -> Vec<TestCase> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let l = line.trim_start();
        let (ok, rest) = if let Some(r) = l.strip_prefix("not ok ") {
            (false, r)
        } else if let Some(r) = l.strip_prefix("ok ") {
            (true, r)
        } else {
            continue;
        };
        let Some((_, name)) = rest.split_once(" - ") else { continue };
        let (name, directive) = match name.split_once(" # ") {
            Some((n, d)) => (n, d.to_ascii_uppercase()),
            None => (name, String::new()),
        };
        // The YAML block that follows, indented deeper than the line.
        let indent = line.len() - l.len();
        let mut yaml = BTreeMap::new();
        if lines.get(i + 1).is_some_and(|n| n.trim() == "---") {
            for y in &lines[i + 2..] {
                let t = y.trim();
                if t == "..." || y.len() - y.trim_start().len() <= indent {
                    break;
                }
                if let Some((k, v)) = t.split_once(": ") {
                    yaml.entry(k.to_string()).or_insert_with(|| v.trim_matches('\'').to_string());
                }
            }
        }
        if yaml.get("type").is_some_and(|t| t == "suite") {
            continue;
        }
        let status = if directive.starts_with("SKIP") || directive.starts_with("TODO") {
            TestStatus::Skipped
        } else if ok {
            TestStatus::Passed
        } else {
            TestStatus::Failed
        };
        out.push(TestCase {
            name: name.trim().to_string(),
            status,
            message: if ok { None } else { yaml.get("error").cloned() },
            duration_ms: yaml.get("duration_ms").and_then(|d| d.parse().ok()),
        });
    }
    out
}

/// Rust's libtest `--logfile`: `ok NAME`, `failed NAME`, `ignored NAME`.
fn libtest(text: &str) -> Vec<TestCase> {
    text.lines()
        .filter_map(|l| {
            let (status, name) = l.split_once(' ')?;
            let status = match status {
                "ok" => TestStatus::Passed,
                "failed" => TestStatus::Failed,
                "ignored" => TestStatus::Skipped,
                _ => return None,
            };
            Some(TestCase { name: name.trim().to_string(), status, message: None, duration_ms: None })
        })
        .collect()
}

/// `go test -v` output. Go writes no report file, and the tested code
/// shares stdout with the runner, so only the test functions the tests'
/// source declares are counted, a declared test with any FAIL line failed,
/// and one that never reported is an error.
fn gotest(text: &str, declared: &[String]) -> Vec<TestCase> {
    let mut seen: BTreeMap<&str, (TestStatus, Option<f64>)> = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("--- ") else { continue };
        let Some((verdict, rest)) = rest.split_once(": ") else { continue };
        let (name, time) = match rest.split_once(" (") {
            Some((n, t)) => (n, t.trim_end_matches(')').trim_end_matches('s').parse::<f64>().ok().map(|s| s * 1000.0)),
            None => (rest, None),
        };
        let status = match verdict {
            "PASS" => TestStatus::Passed,
            "FAIL" => TestStatus::Failed,
            "SKIP" => TestStatus::Skipped,
            _ => continue,
        };
        let entry = seen.entry(name).or_insert((status, time));
        if status == TestStatus::Failed {
            *entry = (status, time);
        }
    }
    declared
        .iter()
        .map(|name| match seen.get(name.as_str()) {
            Some((status, time)) => TestCase { name: name.clone(), status: *status, message: None, duration_ms: *time },
            None => TestCase {
                name: name.clone(),
                status: TestStatus::Error,
                message: Some("the test did not report a result (the test binary stopped early?)".into()),
                duration_ms: None,
            },
        })
        .collect()
}

/// `func TestXxx(t *testing.T)` names in Go test source.
pub(crate) fn go_test_names(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in source.lines() {
        let Some(rest) = line.trim_start().strip_prefix("func Test") else { continue };
        let Some((name, sig)) = rest.split_once('(') else { continue };
        if sig.contains("*testing.T") && name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            let full = format!("Test{name}");
            if !names.contains(&full) {
                names.push(full);
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_reports() {
        let xml = r#"<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="3">
            <testcase classname="test_solution" name="test_a" time="0.001"/>
            <testcase classname="test_solution" name="test_b" time="0.002"><failure message="assert 1 == 2">trace</failure></testcase>
            <testcase classname="test_solution" name="test_c" time="0"><error message="boom"/></testcase>
            <testcase classname="test_solution" name="test_d"><skipped message="later"/></testcase>
        </testsuite></testsuites>"#;
        let t = junit(xml).unwrap();
        let st: Vec<&str> = t.iter().map(|c| c.status.as_str()).collect();
        assert_eq!(st, ["passed", "failed", "error", "skipped"]);
        assert_eq!(t[1].message.as_deref(), Some("assert 1 == 2"));
        assert_eq!(t[0].name, "test_solution.test_a");
        assert_eq!(t[0].duration_ms, Some(1.0));
        let r = result(&t).to_json();
        assert_eq!(
            (r["passed"].clone(), r["testsPassed"].clone(), r["totalTests"].clone()),
            (serde_json::json!(false), serde_json::json!(1), serde_json::json!(4))
        );
    }

    #[test]
    fn tap_reports() {
        let tap_text = "TAP version 13\n# Subtest: adds\nok 1 - adds\n  ---\n  duration_ms: 1.5\n  ...\nnot ok 2 - subtracts\n  ---\n  duration_ms: 0.5\n  error: 'Expected values to be strictly equal'\n  ...\nok 3 - later # SKIP\n1..3\n";
        let t = tap(tap_text);
        assert_eq!(t.len(), 3);
        assert_eq!((t[0].status, t[0].duration_ms), (TestStatus::Passed, Some(1.5)));
        assert_eq!(t[1].message.as_deref(), Some("Expected values to be strictly equal"));
        assert_eq!(t[2].status, TestStatus::Skipped);
        let suite = "ok 1 - group\n  ---\n  duration_ms: 3\n  type: 'suite'\n  ...\n";
        assert!(tap(suite).is_empty());
    }

    #[test]
    fn go_reports_count_only_declared_tests() {
        let src = "package main\nimport \"testing\"\nfunc TestAdd(t *testing.T) {}\nfunc TestSub(t *testing.T) {}\nfunc helper() {}";
        let declared = go_test_names(src);
        assert_eq!(declared, ["TestAdd", "TestSub"]);
        // The tested code printed a fake pass for TestSub and a fake test.
        let out = "=== RUN   TestAdd\n--- PASS: TestAdd (0.00s)\n--- PASS: TestSub (0.00s)\n--- PASS: TestFake (0.00s)\n=== RUN   TestSub\n--- FAIL: TestSub (0.01s)\nFAIL\n";
        let t = gotest(out, &declared);
        assert_eq!(
            t.iter().map(|c| (c.name.as_str(), c.status.as_str())).collect::<Vec<_>>(),
            [("TestAdd", "passed"), ("TestSub", "failed")]
        );
        let t = gotest("--- PASS: TestAdd (0.00s)\n", &declared);
        assert_eq!(t[1].status, TestStatus::Error);
    }

    #[test]
    fn benchmark_statistics() {
        // 1..=10 ms and one outlier of 100 ms.
        let mut ns: Vec<f64> = (1..=10).map(|i| i as f64 * 1e6).collect();
        ns.push(100e6);
        let r = ValidationResult { statistics: statistics(&ns), ..Default::default() }.to_json();
        assert_eq!(r["unit"], "ms");
        assert_eq!(r["n"], 11);
        assert_eq!(r["min"], 1.0);
        assert_eq!(r["max"], 100.0);
        assert_eq!(r["median"], 6.0);
        assert_eq!(r["outliers"], 1);
        let mean = 155.0 / 11.0;
        assert!((r["meanExecutionTime"].as_f64().unwrap() - mean).abs() < 1e-6);
        let sd = (ns.iter().map(|x| (x / 1e6 - mean).powi(2)).sum::<f64>() / 10.0).sqrt();
        assert!((r["standardDeviation"].as_f64().unwrap() - sd).abs() < 1e-6);
        assert_eq!(timings(b"1000\n2000\nnot a number\n"), [1000.0, 2000.0]);
    }

    #[test]
    fn libtest_logfile() {
        let t = libtest("ok tests::adds\nfailed tests::subs\nignored tests::later\n");
        assert_eq!(t.iter().map(|c| c.status.as_str()).collect::<Vec<_>>(), ["passed", "failed", "skipped"]);
    }
}
