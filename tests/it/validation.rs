//! Validation mode in every language: the framework's report decides, per
//! test; compile errors run zero tests; printed summaries change nothing.

use std::time::Duration;

use execbox::model::Request;
use serde_json::Value;
use uuid::Uuid;

use crate::support::*;
use execbox::model::Isolation;

const T: Duration = Duration::from_secs(240);

struct Case {
    lang: &'static str,
    solution: &'static str,
    passing: &'static str,
    /// One passing, one failing, one crashing test.
    mixed: &'static str,
    broken_solution: Option<&'static str>,
}

const CASES: &[Case] = &[
    Case {
        lang: "python",
        solution: "def add(a, b):\n    return a + b\n",
        passing: "def test_add():\n    assert add(1, 2) == 3\n\ndef test_add_zero():\n    assert add(0, 0) == 0\n",
        mixed: "def test_ok():\n    assert add(1, 2) == 3\n\ndef test_wrong():\n    assert add(1, 1) == 3\n\ndef test_crash():\n    raise RuntimeError('boom')\n",
        broken_solution: None,
    },
    Case {
        lang: "node",
        solution: "function add(a, b) { return a + b; }",
        passing: "const test = require('node:test');\nconst assert = require('node:assert');\ntest('adds', () => { assert.strictEqual(add(1, 2), 3); });\ntest('adds zero', () => { assert.strictEqual(add(0, 0), 0); });",
        mixed: "const test = require('node:test');\nconst assert = require('node:assert');\ntest('ok', () => { assert.strictEqual(add(1, 2), 3); });\ntest('wrong', () => { assert.strictEqual(add(1, 1), 3); });\ntest('crash', () => { throw new Error('boom'); });",
        broken_solution: None,
    },
    Case {
        lang: "typescript",
        solution: "function add(a: number, b: number): number { return a + b; }",
        passing: "import test from 'node:test';\nimport assert from 'node:assert';\ntest('adds', () => { assert.strictEqual(add(1, 2), 3); });\ntest('adds zero', () => { assert.strictEqual(add(0, 0), 0); });",
        mixed: "import test from 'node:test';\nimport assert from 'node:assert';\ntest('ok', () => { assert.strictEqual(add(1, 2), 3); });\ntest('wrong', () => { assert.strictEqual(add(1, 1), 3); });\ntest('crash', () => { throw new Error('boom'); });",
        broken_solution: Some("function add(a: number, b: number): number { return 'not a number'; }"),
    },
    Case {
        lang: "go",
        solution: "package main\n\nfunc Add(a, b int) int { return a + b }\n",
        passing: "package main\n\nimport \"testing\"\n\nfunc TestAdd(t *testing.T) {\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal(\"wrong\")\n\t}\n}\n\nfunc TestAddZero(t *testing.T) {\n\tif Add(0, 0) != 0 {\n\t\tt.Fatal(\"wrong\")\n\t}\n}\n",
        mixed: "package main\n\nimport \"testing\"\n\nfunc TestOk(t *testing.T) {\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal(\"wrong\")\n\t}\n}\n\nfunc TestWrong(t *testing.T) {\n\tif Add(1, 1) != 3 {\n\t\tt.Fatalf(\"got %d\", Add(1, 1))\n\t}\n}\n\nfunc TestCrash(t *testing.T) {\n\tpanic(\"boom\")\n}\n",
        broken_solution: Some("package main\n\nfunc Add(a, b int) int { return \"x\" }\n"),
    },
    Case {
        lang: "rust",
        solution: "pub fn add(a: i32, b: i32) -> i32 { a + b }",
        passing: "#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn adds() { assert_eq!(add(1, 2), 3); }\n    #[test]\n    fn adds_zero() { assert_eq!(add(0, 0), 0); }\n}\n",
        mixed: "#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn ok() { assert_eq!(add(1, 2), 3); }\n    #[test]\n    fn wrong() { assert_eq!(add(1, 1), 3); }\n    #[test]\n    fn crash() { panic!(\"boom\"); }\n}\n",
        broken_solution: Some("pub fn add(a: i32, b: i32) -> i32 { \"x\" }"),
    },
    Case {
        lang: "java",
        solution: "public class Solution { public static int add(int a, int b) { return a + b; } }",
        passing: "import org.junit.jupiter.api.Test;\nimport static org.junit.jupiter.api.Assertions.*;\npublic class SolutionTest {\n  @Test void adds() { assertEquals(3, Solution.add(1, 2)); }\n  @Test void addsZero() { assertEquals(0, Solution.add(0, 0)); }\n}\n",
        mixed: "import org.junit.jupiter.api.Test;\nimport static org.junit.jupiter.api.Assertions.*;\npublic class SolutionTest {\n  @Test void ok() { assertEquals(3, Solution.add(1, 2)); }\n  @Test void wrong() { assertEquals(3, Solution.add(1, 1)); }\n  @Test void crash() { throw new RuntimeException(\"boom\"); }\n}\n",
        broken_solution: Some("public class Solution { public static int add(int a, int b) { return \"x\"; } }"),
    },
    Case {
        lang: "cpp",
        solution: "int add(int a, int b) { return a + b; }",
        passing: "#include <gtest/gtest.h>\nTEST(Add, Adds) { EXPECT_EQ(add(1, 2), 3); }\nTEST(Add, AddsZero) { EXPECT_EQ(add(0, 0), 0); }\n",
        mixed: "#include <gtest/gtest.h>\n#include <stdexcept>\nTEST(Add, Ok) { EXPECT_EQ(add(1, 2), 3); }\nTEST(Add, Wrong) { EXPECT_EQ(add(1, 1), 3); }\nTEST(Add, Crash) { throw std::runtime_error(\"boom\"); }\n",
        broken_solution: Some("int add(int a, int b) { return undefined_thing; }"),
    },
];

async fn validate(db: &TestDb, user: Uuid, lang: &str, solution: &str, tests: &str) -> Uuid {
    let req = Request {
        language: lang.into(),
        code: solution.into(),
        mode: execbox::model::Mode::Validate,
        tests: Some(tests.into()),
        ..Default::default()
    };
    db.insert(user, &req).await
}

async fn result(db: &TestDb, id: Uuid) -> Value {
    let c = db.client().await;
    c.query_one("select result from backend_execution_sessions where id = $1", &[&id])
        .await
        .unwrap()
        .get::<_, Option<Value>>(0)
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn every_language_validates_passing_failing_and_broken_solutions() {
    validates_in_every_language(Isolation::Runc).await;
}

/// Under gVisor a compiled language's tests compile in a sandbox of their
/// own and run in another, to the same results.
#[tokio::test]
async fn every_language_validates_under_gvisor_as_under_runc() {
    validates_in_every_language(Isolation::Gvisor).await;
}

async fn validates_in_every_language(wall: Isolation) {
    let _cpu = compiling().await;
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker_with(|c| {
        c.worker.max_concurrent_runs = 4;
        c.limits.isolation = wall;
    });
    let mut ids = Vec::new();
    for c in CASES {
        let pass = validate(&db, user, c.lang, c.solution, c.passing).await;
        let mixed = validate(&db, user, c.lang, c.solution, c.mixed).await;
        let broken = match c.broken_solution {
            Some(b) => Some(validate(&db, user, c.lang, b, c.passing).await),
            None => None,
        };
        ids.push((c.lang, pass, mixed, broken));
    }
    for (lang, pass, mixed, broken) in ids {
        let s = db.wait_done(pass, T).await;
        let r = result(&db, pass).await;
        assert_eq!(s.status, SessionStatus::Completed, "{lang}: {s:?} {r} {:?}", db.logs(pass).await);
        assert_eq!(
            (r["passed"].clone(), r["testsPassed"].clone(), r["totalTests"].clone()),
            (Value::Bool(true), 2.into(), 2.into()),
            "{lang}: {r}"
        );

        let s = db.wait_done(mixed, T).await;
        let r = result(&db, mixed).await;
        assert_eq!(s.status, SessionStatus::Completed, "{lang}: {s:?} {r} {:?}", db.logs(mixed).await);
        assert_eq!(
            (r["passed"].clone(), r["testsPassed"].clone(), r["totalTests"].clone()),
            (Value::Bool(false), 1.into(), 3.into()),
            "{lang}: {r}"
        );
        let tests = r["tests"].as_array().unwrap();
        assert_eq!(tests.iter().filter(|t| t["status"] == "passed").count(), 1, "{lang}: {r}");
        assert!(tests.iter().all(|t| t["name"].as_str().is_some_and(|n| !n.is_empty())), "{lang}: {r}");

        if let Some(broken) = broken {
            let s = db.wait_done(broken, T).await;
            let r = result(&db, broken).await;
            assert_eq!(s.status, SessionStatus::Failed, "{lang}: {s:?}");
            assert!(s.error.as_deref().unwrap_or("").contains("compilation failed"), "{lang}: {s:?}");
            assert_eq!(
                (r["totalTests"].clone(), r["testsPassed"].clone(), r["passed"].clone()),
                (0.into(), 0.into(), Value::Bool(false)),
                "{lang}: {r}"
            );
            assert!(r["compileError"].is_string(), "{lang}: {r}");
        }
    }
    w.stop().await.unwrap();
}

#[tokio::test]
async fn printed_summaries_and_forged_report_blocks_change_nothing() {
    use base64::Engine as _;
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker();
    // The solution prints pytest's summary, a fake report block (a JUnit
    // report claiming 5 passes), and leaves a process behind that would
    // print another one after the tests.
    let fake = base64::engine::general_purpose::STANDARD
        .encode("<testsuite>".to_string() + &"<testcase classname='x' name='t'/>".repeat(5) + "</testsuite>");
    let solution = format!(
        "import os, sys, time\n\
         def add(a, b):\n    return a + b + 1\n\
         print('=========== 5 passed in 0.01s ===========')\n\
         print('\\n\\x1eexecbox:report\\x1e\\n{fake}\\n\\x1eexecbox:report-end\\x1e', flush=True)\n\
         if os.fork() == 0:\n    time.sleep(1)\n    print('\\n\\x1eexecbox:report\\x1e\\n{fake}\\n\\x1eexecbox:report-end\\x1e', flush=True)\n    os._exit(0)\n"
    );
    let tests = "def test_a():\n    assert add(1, 2) == 3\n\ndef test_b():\n    assert add(0, 0) == 0\n";
    let id = validate(&db, user, "python", &solution, tests).await;
    let s = db.wait_done(id, T).await;
    let r = result(&db, id).await;
    assert_eq!(s.status, SessionStatus::Completed, "{s:?} {r}");
    assert_eq!(
        (r["testsPassed"].clone(), r["totalTests"].clone(), r["passed"].clone()),
        (0.into(), 2.into(), Value::Bool(false)),
        "{r}"
    );
    let names: Vec<&str> = r["tests"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["test_solution.test_a", "test_solution.test_b"], "only the real tests count");
    w.stop().await.unwrap();
}

async fn benchmark(db: &TestDb, user: Uuid, lang: &str, solution: &str, tests: &str, runs: i32) -> Uuid {
    let req = Request {
        language: lang.into(),
        code: solution.into(),
        mode: execbox::model::Mode::Benchmark,
        tests: Some(tests.into()),
        runs: Some(runs),
        ..Default::default()
    };
    db.insert(user, &req).await
}

#[tokio::test]
async fn benchmarks_time_validated_solutions_in_every_language() {
    let _cpu = compiling().await;
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker_with(|c| c.worker.max_concurrent_runs = 4);
    let mut ids = Vec::new();
    for c in CASES {
        let good = benchmark(&db, user, c.lang, c.solution, c.passing, 25).await;
        // Wrong code is validated, reported, and not timed.
        let wrong = benchmark(&db, user, c.lang, c.solution, c.mixed, 25).await;
        ids.push((c.lang, good, wrong));
    }
    for (lang, good, wrong) in ids {
        let s = db.wait_done(good, T).await;
        let r = result(&db, good).await;
        assert_eq!(s.status, SessionStatus::Completed, "{lang}: {s:?} {r} {:?}", db.logs(good).await);
        assert_eq!(r["passed"], true, "{lang}: {r}");
        assert_eq!(r["n"], 25, "{lang}: {r}");
        let (mean, sd, min, max, median, p95) = (
            r["meanExecutionTime"].as_f64().unwrap(),
            r["standardDeviation"].as_f64().unwrap(),
            r["min"].as_f64().unwrap(),
            r["max"].as_f64().unwrap(),
            r["median"].as_f64().unwrap(),
            r["p95"].as_f64().unwrap(),
        );
        assert!(min >= 0.0 && min <= median && median <= p95 && p95 <= max, "{lang}: {r}");
        assert!(min <= mean && mean <= max && sd >= 0.0 && sd <= max - min, "{lang}: {r}");
        assert!(max < 10_000.0, "{lang}: two additions take less than 10 s: {r}");
        assert!(r["outliers"].as_u64().unwrap() <= 25);

        let s = db.wait_done(wrong, T).await;
        let r = result(&db, wrong).await;
        assert_eq!(s.status, SessionStatus::Completed, "{lang}: {s:?} {r}");
        assert_eq!(r["passed"], false, "{lang}: {r}");
        assert!(r.get("meanExecutionTime").is_none(), "{lang}: wrong code is not timed: {r}");
    }
    w.stop().await.unwrap();
}

#[tokio::test]
async fn benchmark_statistics_measure_what_the_code_costs() {
    // A solution that sleeps 20 ms per call, called once per run: no run
    // measures below 20 ms, and the statistics agree with each other (how
    // far above 20 ms is the machine's load, which is the bench's to show).
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker();
    let solution = "import time\ndef slow():\n    time.sleep(0.02)\n    return 1\n";
    let tests = "def test_slow():\n    assert slow() == 1\n";
    let id = benchmark(&db, user, "python", solution, tests, 20).await;
    let s = db.wait_done(id, T).await;
    let r = result(&db, id).await;
    assert_eq!(s.status, SessionStatus::Completed, "{s:?} {r}");
    assert_eq!(r["n"], 20);
    let stat = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k} in {r}"));
    assert!(stat("min") >= 20.0, "{r}");
    assert!(stat("min") <= stat("median") && stat("median") <= stat("p95") && stat("p95") <= stat("max"), "{r}");
    assert!(stat("min") <= stat("meanExecutionTime") && stat("meanExecutionTime") <= stat("max"), "{r}");
    // Above the server's cap: refused.
    let id = benchmark(&db, user, "python", solution, tests, 1_000_000).await;
    let s = db.wait_done(id, T).await;
    assert_eq!(s.status, SessionStatus::Failed);
    assert!(s.error.unwrap().contains("runs 1000000 is above this server's maximum of 1000 runs"));
    w.stop().await.unwrap();
}

/// A report block as the launcher prints it, claiming five passes.
const FORGED_BLOCK_B64: &str =
    "PHRlc3RzdWl0ZT48dGVzdGNhc2UgbmFtZT0nYScvPjx0ZXN0Y2FzZSBuYW1lPSdiJy8+PHRlc3RjYXNlIG5hbWU9J2MnLz48L3Rlc3RzdWl0ZT4=";

#[tokio::test]
async fn forged_summaries_change_no_count_in_any_language() {
    let _cpu = compiling().await;
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker_with(|c| c.worker.max_concurrent_runs = 4);
    // Each solution prints its framework's success summary and a forged
    // report block whenever it is called; the suites are the mixed ones
    // (one pass, one failure, one crash).
    let b = FORGED_BLOCK_B64;
    let forging: Vec<(&str, String)> = vec![
        ("node", format!("function add(a, b) {{ console.log('# pass 3\\n# fail 0\\nok 1 - wrong\\n\\x1eexecbox:block:report\\x1e\\n{b}\\n\\x1eexecbox:end\\x1e'); return a + b; }}")),
        ("typescript", format!("function add(a: number, b: number): number {{ console.log('# pass 3\\n# fail 0\\n\\x1eexecbox:block:report\\x1e\\n{b}\\n\\x1eexecbox:end\\x1e'); return a + b; }}")),
        ("go", format!("package main\n\nimport \"fmt\"\n\nfunc Add(a, b int) int {{\n\tfmt.Println(\"--- PASS: TestWrong (0.00s)\\n--- PASS: TestCrash (0.00s)\\nPASS\\n\\x1eexecbox:block:report\\x1e\\n{b}\\n\\x1eexecbox:end\\x1e\")\n\treturn a + b\n}}\n")),
        ("rust", format!("pub fn add(a: i32, b: i32) -> i32 {{ println!(\"test tests::wrong ... ok\\ntest result: ok. 3 passed; 0 failed\\n\\x1eexecbox:block:report\\x1e\\n{b}\\n\\x1eexecbox:end\\x1e\"); a + b }}")),
        ("java", format!("public class Solution {{ public static int add(int a, int b) {{ System.out.println(\"[         3 tests successful      ]\\n\\u001eexecbox:block:report\\u001e\\n{b}\\n\\u001eexecbox:end\\u001e\"); return a + b; }} }}")),
        ("cpp", format!("#include <cstdio>\nint add(int a, int b) {{ std::printf(\"[  PASSED  ] 3 tests.\\n\\036execbox:block:report\\036\\n{b}\\n\\036execbox:end\\036\\n\"); return a + b; }}")),
    ];
    let mut ids = Vec::new();
    for (lang, solution) in &forging {
        let mixed = CASES.iter().find(|c| c.lang == *lang).unwrap().mixed;
        ids.push((*lang, validate(&db, user, lang, solution, mixed).await));
    }
    for (lang, id) in ids {
        let s = db.wait_done(id, T).await;
        let r = result(&db, id).await;
        assert_eq!(s.status, SessionStatus::Completed, "{lang}: {s:?} {r} {:?}", db.logs(id).await);
        assert_eq!(
            (r["testsPassed"].clone(), r["totalTests"].clone(), r["passed"].clone()),
            (1.into(), 3.into(), Value::Bool(false)),
            "{lang}: {r}"
        );
    }
    w.stop().await.unwrap();
}
