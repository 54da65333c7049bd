//! Test cases (`mode = 'cases'`) against real sandboxes: compiled once, one
//! fresh process per case in a restored /work, per-case limits and output,
//! every checker (a hostile checker program included), a solution that hunts
//! for the expected outputs, stop on failure, the time budget and cancel.

use std::time::Duration;

use execbox::model::{Checker, Mode, Request};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::*;

/// A cases request.
fn cases_request(language: &str, code: &str, cases: Value) -> Request {
    Request {
        language: language.into(),
        code: code.into(),
        mode: Mode::Cases,
        cases: Some(cases),
        ..Default::default()
    }
}

/// The session's status, end reason, error and result.
async fn finished(
    db: &TestDb,
    id: Uuid,
    within: Duration,
) -> (SessionStatus, Option<EndReason>, Option<String>, Value) {
    db.wait_done(id, within).await;
    let r = db
        .client()
        .await
        .query_one("select status, end_reason, error, result from backend_execution_sessions where id = $1", &[&id])
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get::<_, Option<Value>>(3).unwrap_or(Value::Null))
}

fn statuses(result: &Value) -> Vec<String> {
    result["cases"].as_array().unwrap().iter().map(|c| c["status"].as_str().unwrap().to_string()).collect()
}

const SUM_CPP: &str = r#"
#warning "compiling the solution"
#include <cstdio>
#include <cstdlib>
#include <vector>
int main() {
    long a, b;
    if (scanf("%ld %ld", &a, &b) != 2) return 2;
    fprintf(stderr, "adding %ld and %ld\n", a, b);
    if (a == -1) for (;;) {}                       // too slow
    if (a == -2) { int *p = nullptr; *p = 1; }     // crashes
    if (a == -3) { std::vector<char> v(200 << 20, 1); printf("%d\n", v[12345]); }  // too big
    if (a == -4) for (;;) printf("yyyyyyyy\n");    // too talkative
    printf("%ld\n", a + b);
}
"#;

#[tokio::test]
async fn a_cpp_submission_compiles_once_and_judges_twenty_cases() {
    let _cpu = compiling().await;
    let db = TestDb::new().await;
    let user = db.user().await;
    // Under gVisor it compiles in a sandbox of its own, and the cases run
    // from what it compiled, to the same verdicts.
    for wall in [execbox::model::Isolation::Runc, execbox::model::Isolation::Gvisor] {
        cpp_cases(&db, user, wall).await;
    }
}

async fn cpp_cases(db: &TestDb, user: Uuid, wall: execbox::model::Isolation) {
    let worker = db.worker_with(|c| c.limits.isolation = wall);
    let mut cases: Vec<Value> = (0..16)
        .map(|i| json!({"stdin": format!("{i} {}\n", i * 10), "expected_output": format!("{}\n", i * 11)}))
        .collect();
    cases.push(json!({"name": "wrong", "stdin": "2 2", "expected_output": "5"}));
    cases.push(json!({"name": "slow", "stdin": "-1 0", "expected_output": "0", "timeout_ms": 700}));
    cases.push(json!({"name": "crash", "stdin": "-2 0", "expected_output": "0"}));
    cases.push(json!({"name": "big", "stdin": "-3 0", "expected_output": "0", "memory_limit_mb": 64}));
    assert_eq!(cases.len(), 20);
    let mut req = cases_request("cpp", SUM_CPP, Value::Array(cases));
    req.memory_limit_mb = Some(256);
    let id = db.insert(user, &req).await;
    let (status, reason, error, result) = finished(db, id, Duration::from_secs(120)).await;
    assert_eq!((status, reason), (SessionStatus::Completed, Some(EndReason::Exit)), "{wall:?}: {error:?} {result}");
    assert_eq!((result["total"].as_u64(), result["passed"].as_u64()), (Some(20), Some(16)), "{result}");
    assert_eq!(result["verdict"], "wrong_answer");
    let got = statuses(&result);
    assert!(got[..16].iter().all(|s| s == "accepted"), "{got:?}");
    assert_eq!(got[16..], ["wrong_answer", "time_limit", "runtime_error", "memory_limit"], "{result}");
    for c in &result["cases"].as_array().unwrap()[..16] {
        assert!(c["timeMs"].as_f64().unwrap() >= 0.0 && c["wallMs"].as_f64().unwrap() > 0.0, "{c}");
        assert!(c["memoryKb"].as_u64().unwrap() > 0, "{c}");
        assert_eq!(c["exitCode"], 0, "{c}");
    }
    let case = |i: usize| &result["cases"][i];
    assert_eq!(case(3)["stdout"], "33\n");
    assert_eq!(case(3)["stderr"], "adding 3 and 30\n");
    assert!(
        case(16)["message"].as_str().unwrap().contains("line 1 differs: expected \"5\", got \"4\""),
        "{}",
        case(16)
    );
    assert!(case(17)["message"].as_str().unwrap().contains("700 ms"), "{}", case(17));
    assert!(case(17)["wallMs"].as_f64().unwrap() < 3000.0, "{}", case(17));
    assert_eq!(case(18)["signal"], "SIGSEGV", "{}", case(18));
    assert!(case(19)["message"].as_str().unwrap().contains("64 MB"), "{}", case(19));

    // Compiled once: the compiler's warning was printed once, in the
    // compile stage; each case's lines carry its index.
    let c = db.client().await;
    let rows = c
        .query(
            "select stage, case_index, message from execution_logs where session_id = $1 and stream = 'stderr' order by seq",
            &[&id],
        )
        .await
        .unwrap();
    let warnings: Vec<_> = rows
        .iter()
        .filter(|r| r.get::<_, String>(2).contains("warning: #warning \"compiling the solution\""))
        .collect();
    assert_eq!(warnings.len(), 1, "the solution was compiled more than once");
    assert_eq!(warnings[0].get::<_, String>(0), "compile");
    assert_eq!(warnings[0].get::<_, Option<i32>>(1), None);
    for i in [0, 7, 15] {
        let line = format!("adding {i} and {}", i * 10);
        let tagged: Vec<Option<i32>> =
            rows.iter().filter(|r| r.get::<_, String>(2) == line).map(|r| r.get::<_, Option<i32>>(1)).collect();
        assert_eq!(tagged, [Some(i)], "{line}");
    }
    let usage = db.usage(id).await;
    assert!(usage["compile"]["cpuMs"].as_f64().unwrap() > 0.0, "{usage}");
    assert!(usage["run"]["memoryKb"].as_u64().unwrap() > 0, "{usage}");
    assert_eq!(usage["isolation"], wall.as_str(), "{usage}");
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_talkative_case_stops_at_its_output_limit_and_the_next_still_runs() {
    let _cpu = compiling().await;
    let db = TestDb::new().await;
    let user = db.user().await;
    let worker = db.worker_with(|c| c.limits.case_output_bytes = 64 * 1024);
    let cases = json!([{"stdin": "-4 0", "expected_output": "0"}, {"stdin": "1 2", "expected_output": "3"}]);
    let id = db.insert(user, &cases_request("cpp", SUM_CPP, cases)).await;
    let (status, _, error, result) = finished(&db, id, Duration::from_secs(120)).await;
    assert_eq!(status, SessionStatus::Completed, "{error:?}");
    assert_eq!(statuses(&result), ["output_limit", "accepted"], "{result}");
    let kept = result["cases"][0]["stdout"].as_str().unwrap().len();
    assert!(kept <= 64 * 1024, "{kept}");
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn each_built_in_checker_judges_by_its_rule() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let worker = db.worker();
    // Prints its stdin's first line back, as the case's args say.
    let echo = "import sys\nsys.stdout.write(sys.argv[1].encode().decode('unicode_escape'))\n";
    let outputs = [
        ("1 2\n", "1 2"),         // a final newline
        ("1 2   \n\n\n", "1 2"),  // trailing spaces and blank lines
        ("1\n2\n", "1 2"),        // other whitespace
        ("1.0000001 2\n", "1 2"), // a number close enough
        ("1.1 2\n", "1 2"),       // not close enough
    ];
    // accepted? per checker, per output above
    let table: [(Checker, [bool; 5]); 4] = [
        (Checker::Exact, [false, false, false, false, false]),
        (Checker::Lines, [true, true, false, false, false]),
        (Checker::Tokens, [true, true, true, false, false]),
        (Checker::Float, [true, true, true, true, false]),
    ];
    let cases: Vec<Value> = outputs
        .iter()
        .map(|(out, expected)| json!({"args": [out.replace('\n', "\\n")], "expected_output": expected}))
        .collect();
    let mut ids = Vec::new();
    for (checker, _) in &table {
        let req = Request { checker: Some(*checker), ..cases_request("python", echo, Value::Array(cases.clone())) };
        ids.push(db.insert(user, &req).await);
    }
    // Exact really is byte for byte.
    let exact = json!([{"args": ["1 2"], "expected_output": "1 2"}]);
    let exact_id =
        db.insert(user, &Request { checker: Some(Checker::Exact), ..cases_request("python", echo, exact) }).await;
    for ((checker, want), id) in table.iter().zip(ids) {
        let (status, _, error, result) = finished(&db, id, Duration::from_secs(60)).await;
        assert_eq!(status, SessionStatus::Completed, "{checker}: {error:?}");
        let got: Vec<bool> = statuses(&result).iter().map(|s| s == "accepted").collect();
        assert_eq!(got, want, "{checker}: {result}");
        for c in result["cases"].as_array().unwrap().iter().filter(|c| c["status"] == "wrong_answer") {
            assert!(!c["message"].as_str().unwrap().is_empty(), "{checker}: {c}");
        }
    }
    let (status, _, error, result) = finished(&db, exact_id, Duration::from_secs(60)).await;
    assert_eq!(statuses(&result), ["accepted"], "{status} {error:?} {result}");
    // The float checker's tolerance is the session's to set.
    let loose = Request {
        checker: Some(Checker::Float),
        checker_abs_tolerance: Some(0.2),
        ..cases_request("python", echo, json!([{"args": ["1.1 2"], "expected_output": "1 2"}]))
    };
    let id = db.insert(user, &loose).await;
    assert_eq!(statuses(&finished(&db, id, Duration::from_secs(60)).await.3), ["accepted"]);
    worker.stop().await.unwrap();
}

/// A checker program (testlib's argument order: input, output, answer).
const CHECKER: &str = r#"
import os, sys
inp, out, ans = (open(p).read() for p in sys.argv[1:4])
a, b = map(int, inp.split())
seen = sorted(os.listdir('.'))
# Left behind by an earlier check? (It must not be.)
stale = os.path.exists('/tmp/checker-was-here') or os.path.exists('left-behind')
open('/tmp/checker-was-here', 'w').write('x')
open('left-behind', 'w').write('x')
if stale:
    print('stale files from an earlier case'); sys.exit(3)
if out.split() == [str(a + b)]:
    print('ok: %d + %d, saw %s' % (a, b, ' '.join(seen))); sys.exit(0)
print('expected %d, got %r' % (a + b, out.strip())); sys.exit(1)
"#;

#[tokio::test]
async fn a_checker_program_in_another_language_judges_each_case_alone() {
    let _cpu = compiling().await;
    let db = TestDb::new().await;
    let user = db.user().await;
    // Under gVisor too: the solution compiled apart, the checker beside it.
    for wall in [execbox::model::Isolation::Runc, execbox::model::Isolation::Gvisor] {
        checked_by_a_program(&db, user, wall).await;
    }
}

async fn checked_by_a_program(db: &TestDb, user: Uuid, wall: execbox::model::Isolation) {
    let worker = db.worker_with(|c| c.limits.isolation = wall);
    let cases = json!([
        {"stdin": "1 2"},
        {"stdin": "2 2", "expected_output": "ignored by this checker"},
        {"stdin": "40 2"},
    ]);
    let wrong_for_40 = SUM_CPP.replace("printf(\"%ld\\n\", a + b);", "printf(\"%ld\\n\", a == 40 ? 41 : a + b);");
    let req = Request {
        checker: Some(Checker::Program),
        checker_code: Some(CHECKER.into()),
        checker_language: Some("python".into()),
        ..cases_request("cpp", &wrong_for_40, cases)
    };
    let id = db.insert(user, &req).await;
    let (status, _, error, result) = finished(db, id, Duration::from_secs(120)).await;
    assert_eq!(status, SessionStatus::Completed, "{wall:?}: {error:?} {result}");
    assert_eq!(statuses(&result), ["accepted", "accepted", "wrong_answer"], "{result}");
    // The checker sees its own file and this case's three files only.
    assert_eq!(result["cases"][1]["message"], "ok: 2 + 2, saw answer input main.py output", "{result}");
    assert_eq!(result["cases"][2]["message"], "expected 42, got '41'");
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn a_hostile_checker_program_fails_the_session_within_its_limits() {
    let db = TestDb::new().await;
    let user = db.user().await;
    // The checker's time limit is the server's case default, a second; the
    // solution's cases have their own, long enough for a loaded machine.
    let worker = db.worker_with(|c| c.limits.default_case_timeout_ms = 1000);
    let solution = "print(input())";
    let two_cases = json!([{"stdin": "1", "timeout_ms": 10_000}, {"stdin": "2", "timeout_ms": 10_000}]);
    let hostile = [
        ("while True: pass", "ran over its time limit"),
        ("import sys\nprint('no idea'); sys.exit(7)", "exit code 7"),
        ("import os\nos.kill(os.getpid(), 11)", "SIGSEGV"),
        ("import sys\nwhile True: sys.stdout.write('x' * 65536)", "output limit"),
    ];
    let mut ids = Vec::new();
    for (code, _) in hostile {
        let req = Request {
            checker: Some(Checker::Program),
            checker_code: Some(code.into()),
            checker_language: Some("python".into()),
            ..cases_request("python", solution, two_cases.clone())
        };
        ids.push(db.insert(user, &req).await);
    }
    for ((code, want), id) in hostile.iter().zip(ids) {
        let (status, reason, error, result) = finished(&db, id, Duration::from_secs(60)).await;
        assert_eq!((status, reason), (SessionStatus::Error, Some(EndReason::CheckerFailed)), "{code}: {error:?}");
        let error = error.unwrap();
        assert!(error.contains("the checker program failed on case 1") && error.contains(want), "{code}: {error}");
        assert_eq!(statuses(&result), ["skipped", "skipped"], "{code}: {result}");
    }
    // A checker that crashes exits 1, which rejects; its last words say why.
    let req = Request {
        checker: Some(Checker::Program),
        checker_code: Some("print(undefined_name)".into()),
        checker_language: Some("python".into()),
        ..cases_request("python", solution, json!([{"stdin": "1", "timeout_ms": 10_000}]))
    };
    let id = db.insert(user, &req).await;
    let (_, _, _, result) = finished(&db, id, Duration::from_secs(60)).await;
    assert_eq!(statuses(&result), ["wrong_answer"]);
    assert!(result["cases"][0]["message"].as_str().unwrap().starts_with("NameError"), "{result}");
    // A checker that does not compile says so.
    let req = Request {
        checker: Some(Checker::Program),
        checker_code: Some("int main() { return oops; }".into()),
        checker_language: Some("cpp".into()),
        ..cases_request("python", solution, json!([{"stdin": "1", "timeout_ms": 10_000}]))
    };
    let id = db.insert(user, &req).await;
    let (_, reason, error, _) = finished(&db, id, Duration::from_secs(90)).await;
    assert_eq!(reason, Some(EndReason::CheckerFailed));
    assert!(error.as_deref().unwrap_or("").contains("did not compile") && error.unwrap().contains("oops"));
    worker.stop().await.unwrap();
}

/// Looks everywhere it can for the answers and the checker, and leaves
/// things behind for the next case.
const SNOOP: &str = r#"
import os, sys
found = []
for top in ['/work', '/tmp', '/dev/shm', '/home', '/root', '/run', '/var/tmp']:
    for root, dirs, files in os.walk(top):
        for f in files:
            try:
                data = open(os.path.join(root, f), 'rb').read(1 << 20)
            except Exception:
                continue
            # (Spelled apart, so this file is not a hit.)
            for secret in [b'SECRET-' + b'ANSWER', b'CHECKER-' + b'SECRET']:
                if secret in data:
                    found.append(os.path.join(root, f))
for p in ['/proc/1/environ', '/proc/1/cmdline', '/proc/self/environ']:
    try:
        if b'SEC' + b'RET' in open(p, 'rb').read():
            found.append(p)
    except Exception:
        pass
if any('SEC' + 'RET' in v for v in os.environ.values()):
    found.append('environ')
left = [p for p in ['/work/marker', '/tmp/marker', '/dev/shm/marker'] if os.path.exists(p)]
for p in ['/work/marker', '/tmp/marker', '/dev/shm/marker']:
    try:
        open(p, 'w').write('x')
    except Exception:
        pass
try:
    os.chmod('/work', 0o500)
except Exception:
    pass
try:
    open('/work/main.py', 'w').write('print("cheated")')
except Exception:
    pass
print('found', found, 'left', left)
"#;

#[tokio::test]
async fn a_solution_cannot_find_the_answers_or_leave_anything_for_the_next_case() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let worker = db.worker();
    let checker = "import sys\nprint('CHECKER-SECRET judged'); sys.exit(0 if 'found [] left []' in open(sys.argv[2]).read() else 1)";
    let cases = json!([
        {"stdin": "", "expected_output": "SECRET-ANSWER-1"},
        {"stdin": "", "expected_output": "SECRET-ANSWER-2"},
        {"stdin": "", "expected_output": "SECRET-ANSWER-3"},
    ]);
    for (checker, name) in [(None, "lines"), (Some(checker), "program")] {
        let req = Request {
            checker: checker.map(|_| Checker::Program),
            checker_code: checker.map(String::from),
            checker_language: checker.map(|_| "python".to_string()),
            ..cases_request("python", SNOOP, cases.clone())
        };
        let id = db.insert(user, &req).await;
        let (status, _, error, result) = finished(&db, id, Duration::from_secs(90)).await;
        assert_eq!(status, SessionStatus::Completed, "{name}: {error:?}");
        for c in result["cases"].as_array().unwrap() {
            assert_eq!(c["stdout"], "found [] left []\n", "{name}: {c}");
        }
        if checker.is_some() {
            assert_eq!(statuses(&result), ["accepted", "accepted", "accepted"], "{result}");
        }
    }
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn stop_on_failure_the_time_budget_and_cancel_end_cases_early() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let worker = db.worker_with(|c| {
        c.limits.max_cases_time_ms = 5000;
        c.limits.default_case_timeout_ms = 3000;
    });
    let echo = "print(input())";
    let three = json!([
        {"stdin": "a", "expected_output": "a"},
        {"stdin": "b", "expected_output": "x"},
        {"stdin": "c", "expected_output": "c"},
    ]);
    let req = Request { stop_on_failure: true, ..cases_request("python", echo, three.clone()) };
    let id = db.insert(user, &req).await;
    let (status, _, _, result) = finished(&db, id, Duration::from_secs(60)).await;
    assert_eq!(status, SessionStatus::Completed);
    assert_eq!(statuses(&result), ["accepted", "wrong_answer", "skipped"]);
    assert_eq!(result["cases"][2]["message"], "an earlier case failed");
    // Without it, every case runs.
    let id = db.insert(user, &cases_request("python", echo, three)).await;
    assert_eq!(statuses(&finished(&db, id, Duration::from_secs(60)).await.3), ["accepted", "wrong_answer", "accepted"]);

    // A budget of 5 s with cases of up to 3 s: a case starts only while
    // 3 s remain, so after one case of 1.2 s (plus start-up, up to 0.8 s on
    // a loaded machine) the second starts and after two the third cannot.
    let sleepy = "import time; time.sleep(1.2); print('done')";
    let cases = json!([{"timeout_ms": 3000}, {"timeout_ms": 3000}, {"timeout_ms": 3000}]);
    let id = db.insert(user, &cases_request("python", sleepy, cases)).await;
    let (status, reason, error, result) = finished(&db, id, Duration::from_secs(60)).await;
    assert_eq!((status, reason), (SessionStatus::Timeout, Some(EndReason::Timeout)), "{error:?} {result}");
    assert!(error.unwrap().contains("time budget of 5000 ms ran out after 2 of 3 cases"));
    assert_eq!(statuses(&result), ["accepted", "accepted", "skipped"]);

    // Cancelled while its cases run.
    let cases = Value::Array(vec![json!({"timeout_ms": 1000}); 50]);
    let slow = "import time; time.sleep(0.2); print('ok')";
    let id = db.insert(user, &cases_request("python", slow, cases)).await;
    db.wait_output(id, Duration::from_secs(30)).await;
    db.cancel_as(user, id).await;
    let (status, reason, _, result) = finished(&db, id, Duration::from_secs(30)).await;
    assert_eq!((status, reason), (SessionStatus::Cancelled, Some(EndReason::Cancelled)));
    let got = statuses(&result);
    assert!(got[0] == "accepted" && got[49] == "skipped", "{got:?}");
    wait_no_containers(id, Duration::from_secs(20)).await;
    worker.stop().await.unwrap();
}

#[tokio::test]
async fn bad_cases_are_refused_with_the_reason() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let worker = db.worker();
    let table = [
        (
            cases_request("python", "print(1)", json!([{"stdin": "1", "expect": "1"}])),
            "cases[0] has an unknown field \"expect\"",
        ),
        (
            cases_request("python", "print(1)", json!([{"timeout_ms": 999999999}])),
            "cases[0].timeout_ms 999999999 is outside",
        ),
        (
            Request { checker_language: Some("python".into()), ..cases_request("python", "print(1)", json!([{}])) },
            "are for checker 'program'",
        ),
        (
            Request {
                checker: Some(Checker::Tokens),
                ..Request { language: "python".into(), code: "print(1)".into(), ..Default::default() }
            },
            "are for mode 'cases'",
        ),
    ];
    let mut ids = Vec::new();
    for (req, _) in &table {
        ids.push(db.insert(user, req).await);
    }
    for ((_, want), id) in table.iter().zip(ids) {
        let (status, reason, error, _) = finished(&db, id, Duration::from_secs(30)).await;
        assert_eq!((status, reason), (SessionStatus::Failed, Some(EndReason::InvalidRequest)));
        assert!(error.as_deref().unwrap_or("").contains(want), "{error:?} should say {want:?}");
    }
    // The table itself refuses what cannot be a cases session.
    let mut c = db.client().await;
    let tx = as_user(&mut c, Some(user)).await;
    let err = tx
        .execute(
            "insert into backend_execution_sessions (language, code, mode) values ('python', 'print(1)', 'cases')",
            &[],
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cases_required") || format!("{err:?}").contains("cases_required"), "{err:?}");
    drop(tx);
    worker.stop().await.unwrap();
}
