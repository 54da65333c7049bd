//! The agents' door: MCP's official clients, unchanged, against `/mcp`
//! (the TypeScript SDK, `tests/js/mcp-client.mjs`, and the Python SDK,
//! `tests/py/mcp-client.py`, over Streamable HTTP) and against `execbox
//! mcp` (the Python SDK over stdio). Each driver reads a plan of tool
//! calls and prints what its client saw; the checks are here.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

use crate::api::{api_config, user_token, Api};
use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_execbox");

#[derive(Debug, Clone, Copy)]
enum Sdk {
    TypeScript,
    Python,
}

/// Runs `sdk`'s driver with `plan`; what its client saw.
async fn drive(sdk: Sdk, plan: Value) -> Value {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut command = match sdk {
        Sdk::TypeScript => {
            let mut c = tokio::process::Command::new("node");
            c.arg(root.join("tests/js/mcp-client.mjs"));
            c
        }
        Sdk::Python => {
            let py = root.join("tests/py/.venv/bin/python");
            assert!(py.is_file(), "tests/py needs its packages: scripts/test.sh installs them into tests/py/.venv");
            let mut c = tokio::process::Command::new(py);
            c.arg(root.join("tests/py/mcp-client.py"));
            c
        }
    };
    let plan_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(plan_file.path(), plan.to_string()).unwrap();
    command.stdin(std::fs::File::open(plan_file.path()).unwrap());
    let stdout = run_client(command, Duration::from_secs(300), &format!("the {sdk:?} MCP client")).await;
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("{sdk:?} printed: {stdout}"))
}

/// Whose session `id` is.
async fn owner(db: &TestDb, id: Uuid) -> Uuid {
    let sql = "select user_id from backend_execution_sessions where id = $1";
    db.client().await.query_one(sql, &[&id]).await.unwrap().get(0)
}

fn call(tool: &str, arguments: Value) -> Value {
    json!({"tool": tool, "arguments": arguments})
}

fn with_progress(tool: &str, arguments: Value) -> Value {
    json!({"tool": tool, "arguments": arguments, "progress": true})
}

/// Prints three lines, a while apart.
const TICKS: &str = "import time\nfor i in range(3):\n    print(f'tick {i}', flush=True)\n    time.sleep(0.4)\n";

fn the_calls() -> Vec<Value> {
    vec![
        with_progress("run_code", json!({"language": "python", "code": TICKS})),
        call("run_code", json!({"language": "c", "code": "int main( {"})),
        call("run_code", json!({"language": "py", "code": "while True: pass", "limits": {"timeout_ms": 1000}})),
        call(
            "run_tests",
            json!({"language": "python", "code": "print(int(input()) * 2)",
                   "cases": [{"stdin": "2", "expected_output": "4"}, {"stdin": "3", "expected_output": "7"}]}),
        ),
        call("run_code", json!({"language": "intercal", "code": "PLEASE GIVE UP"})),
        call("list_languages", json!({})),
        call("run_code", json!({"language": "python"})),
        call("run_code", json!({"language": "python", "code": "x", "limits": {"timeout_ms": 100_000_000}})),
    ]
}

/// What every client must see of [`the_calls`]; the sessions they ran.
fn check_the_calls(sdk: Sdk, out: &Value) -> Vec<Uuid> {
    let tools: Vec<&str> = out["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(tools, ["run_code", "run_tests", "list_languages", "get_session", "cancel_session"], "{sdk:?}");
    let run_schema = &out["tools"][0]["inputSchema"];
    assert_eq!(run_schema["required"], json!(["language", "code"]), "{sdk:?}: {run_schema}");
    let calls = out["calls"].as_array().unwrap();
    let s = |i: usize| &calls[i]["structured"];
    // A program printing over time: its lines arrive in order, as
    // progress, before the result; the result has them all.
    assert_eq!(calls[0]["isError"], false, "{sdk:?}: {}", calls[0]);
    assert_eq!(s(0)["stdout"], "tick 0\ntick 1\ntick 2\n", "{sdk:?}: {}", calls[0]);
    assert_eq!((s(0)["status"].as_str(), s(0)["exit_code"].as_i64()), (Some("completed"), Some(0)));
    assert!(s(0)["usage"]["run"]["cpuMs"].as_f64().is_some_and(|ms| ms > 0.0), "{sdk:?}: {}", calls[0]);
    let progress = calls[0]["progress"].as_array().unwrap();
    let lines: Vec<&str> = progress.iter().map(|p| p["message"].as_str().unwrap_or("")).collect();
    assert_eq!(lines, ["tick 0\n", "tick 1\n", "tick 2\n"], "{sdk:?}: {progress:?}");
    let counts: Vec<f64> = progress.iter().map(|p| p["progress"].as_f64().unwrap()).collect();
    assert_eq!(counts, [1.0, 2.0, 3.0], "{sdk:?}");
    // The text is the same JSON, for clients that read only text.
    assert_eq!(serde_json::from_str::<Value>(calls[0]["text"].as_str().unwrap()).unwrap(), *s(0));
    // A compile error, a timeout: results with isError, the outcome said.
    assert_eq!(calls[1]["isError"], true, "{sdk:?}: {}", calls[1]);
    assert_eq!(s(1)["end_reason"], "compile_error", "{sdk:?}: {}", calls[1]);
    assert!(s(1)["compile_output"].as_str().unwrap().contains("error"), "{sdk:?}: {}", calls[1]);
    assert_eq!(calls[2]["isError"], true, "{sdk:?}: {}", calls[2]);
    assert_eq!((s(2)["status"].as_str(), s(2)["end_reason"].as_str()), (Some("timeout"), Some("timeout")));
    // Test cases with a wrong answer: the verdict and each case's.
    assert_eq!(calls[3]["isError"], true, "{sdk:?}: {}", calls[3]);
    assert_eq!(
        (s(3)["verdict"].as_str(), s(3)["passed"].as_u64(), s(3)["total"].as_u64()),
        (Some("wrong_answer"), Some(1), Some(2))
    );
    let statuses: Vec<&str> = s(3)["cases"].as_array().unwrap().iter().map(|c| c["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["accepted", "wrong_answer"], "{sdk:?}: {}", calls[3]);
    // An unknown language, a missing argument, a limit out of bounds: tool
    // errors that say which.
    assert_eq!(calls[4]["isError"], true, "{sdk:?}: {}", calls[4]);
    assert!(calls[4]["text"].as_str().unwrap().contains("unsupported language \"intercal\""), "{}", calls[4]);
    assert_eq!(s(4)["error"]["code"], "bad_request", "{sdk:?}: {}", calls[4]);
    let languages = s(5)["languages"].as_array().unwrap();
    let python = languages.iter().find(|l| l["language"] == "python").unwrap();
    assert!(python["aliases"].as_array().unwrap().contains(&json!("py")), "{python}");
    assert!(python["libraries"].as_array().unwrap().contains(&json!("numpy")), "{python}");
    assert_eq!(calls[6]["isError"], true, "{sdk:?}: {}", calls[6]);
    assert!(calls[6]["text"].as_str().unwrap().contains("missing field `code`"), "{}", calls[6]);
    assert_eq!(calls[7]["isError"], true, "{sdk:?}: {}", calls[7]);
    assert!(calls[7]["text"].as_str().unwrap().contains("timeout_ms 100000000 is above"), "{}", calls[7]);
    [0, 1, 2, 3].iter().map(|&i| Uuid::parse_str(s(i)["session_id"].as_str().unwrap()).unwrap()).collect()
}

#[tokio::test]
async fn both_sdks_run_every_tool_over_streamable_http() {
    let _cpu = compiling().await;
    let db = TestDb::new().await;
    let (user, other) = (db.user().await, db.user().await);
    let api = Api::start(api_config(&db), true).await;
    let url = format!("{}/mcp", api.base);
    let others = db.submit(other, "python", "print('not yours')").await;
    db.wait_done(others, Duration::from_secs(60)).await;

    for sdk in [Sdk::TypeScript, Sdk::Python] {
        let out = drive(sdk, json!({"url": url, "token": user_token(user), "calls": the_calls()})).await;
        let ran = check_the_calls(sdk, &out);
        // Each call that ran is a session row of the caller's.
        for id in &ran {
            assert_eq!(owner(&db, *id).await, user, "{sdk:?}: {id}");
        }
        // Earlier sessions by id: the caller's own, never another's.
        let plan = json!({"url": url, "token": user_token(user), "calls": [
            call("get_session", json!({"id": ran[0]})),
            call("get_session", json!({"id": others})),
            call("cancel_session", json!({"id": ran[0]})),
            call("get_session", json!({"id": "not-a-uuid"})),
        ]});
        let out = drive(sdk, plan).await;
        let calls = out["calls"].as_array().unwrap();
        assert_eq!(
            (calls[0]["isError"].clone(), calls[0]["structured"]["status"].clone()),
            (json!(false), json!("completed"))
        );
        assert_eq!(calls[0]["structured"]["code"], TICKS, "{sdk:?}: {}", calls[0]);
        assert_eq!(calls[1]["isError"], true, "{sdk:?}: {}", calls[1]);
        assert_eq!(calls[1]["structured"]["error"]["code"], "not_found", "{sdk:?}: {}", calls[1]);
        assert_eq!(calls[2]["structured"]["status"], "completed", "an ended session stays as it ended: {}", calls[2]);
        assert!(calls[3]["text"].as_str().unwrap().contains("invalid arguments: id:"), "{sdk:?}: {}", calls[3]);
    }
    assert_eq!(db.session(others).await.status, SessionStatus::Completed);

    // Concurrent calls from one client: each its own session and output.
    let calls: Vec<Value> =
        (0..4).map(|i| call("run_code", json!({"language": "python", "code": format!("print('call {i}')")}))).collect();
    for sdk in [Sdk::TypeScript, Sdk::Python] {
        let plan = json!({"url": url, "token": user_token(user), "concurrent": true, "calls": calls});
        let out = drive(sdk, plan).await;
        let outputs: Vec<&str> =
            out["calls"].as_array().unwrap().iter().map(|c| c["structured"]["stdout"].as_str().unwrap()).collect();
        assert_eq!(outputs, ["call 0\n", "call 1\n", "call 2\n", "call 3\n"], "{sdk:?}: {out}");
    }
    api.stop().await;
}

/// An agent that cancels its call (the TypeScript SDK's abort, once the
/// program has printed) cancels the session the call made.
#[tokio::test]
async fn a_cancelled_call_cancels_its_session() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let api = Api::start(api_config(&db), true).await;
    let forever = "import time\nwhile True:\n    print('still here', flush=True)\n    time.sleep(0.2)\n";
    let call =
        json!({"tool": "run_code", "arguments": {"language": "python", "code": forever}, "abortAfterProgress": true});
    let out =
        drive(Sdk::TypeScript, json!({"url": format!("{}/mcp", api.base), "token": user_token(user), "calls": [call]}))
            .await;
    let seen = &out["calls"][0];
    assert!(seen["thrown"].is_string() && !seen["progress"].as_array().unwrap().is_empty(), "{out}");
    let id: Uuid = db
        .client()
        .await
        .query_one("select id from backend_execution_sessions where user_id = $1", &[&user])
        .await
        .unwrap()
        .get(0);
    let s = db.wait_done(id, Duration::from_secs(60)).await;
    assert_eq!((s.status, s.end_reason), (SessionStatus::Cancelled, Some(EndReason::Cancelled)), "{s:?}");
    api.stop().await;
}

#[tokio::test]
async fn mcp_needs_credentials_and_holds_callers_to_their_limits() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let mut cfg = api_config(&db);
    cfg.api.rate_limit_per_minute = 1;
    let api = Api::start(cfg, true).await;
    let url = format!("{}/mcp", api.base);
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "curl", "version": "1"}}});
    for key in [None, Some("exb_not_a_key"), Some("not.a.jwt")] {
        let mut request =
            reqwest::Client::new().post(&url).header("accept", "application/json, text/event-stream").json(&initialize);
        if let Some(k) = key {
            request = request.bearer_auth(k);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 401, "{key:?}");
        assert_eq!(answer.headers()["www-authenticate"], "Bearer", "{key:?}");
    }
    // The clients cannot connect: the TypeScript SDK says why (the
    // Python SDK's error names no HTTP status).
    for (sdk, token) in [Sdk::TypeScript, Sdk::Python].into_iter().flat_map(|s| [(s, None), (s, Some("exb_not_a_key"))])
    {
        let out = drive(sdk, json!({"url": url, "token": token, "calls": []})).await;
        assert!(out["connectError"].is_string() && out["tools"].is_null(), "{sdk:?} {token:?}: {out}");
    }
    let out = drive(Sdk::TypeScript, json!({"url": url, "calls": []})).await;
    assert!(out["connectError"].as_str().unwrap().contains("missing credentials"), "{out}");
    // One session a minute: the second call is refused, saying when to retry.
    let hello = || call("run_code", json!({"language": "python", "code": "print('hi')"}));
    let out = drive(Sdk::Python, json!({"url": url, "token": user_token(user), "calls": [hello(), hello()]})).await;
    let calls = out["calls"].as_array().unwrap();
    assert_eq!(calls[0]["structured"]["stdout"], "hi\n", "{}", calls[0]);
    assert_eq!(calls[1]["isError"], true, "{}", calls[1]);
    let error = &calls[1]["structured"]["error"];
    assert_eq!(error["code"], "too_many_requests", "{error}");
    assert!(error["retryAfterSeconds"].as_u64().is_some_and(|s| s >= 1), "{error}");
    api.stop().await;
}

#[tokio::test]
async fn execbox_mcp_serves_the_python_sdk_over_stdio() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let worker = db.worker();
    let stdio = json!({"command": BIN, "args": ["mcp"], "env": {
        "DATABASE_URL": db.url, "EXECBOX_USER_ID": user.to_string(), "PATH": std::env::var("PATH").unwrap()}});
    let plan = json!({"stdio": stdio.clone(), "calls": [
        with_progress("run_code", json!({"language": "python", "code": TICKS})),
        call("list_languages", json!({})),
        call("run_tests", json!({"language": "python", "code": "print(input()[::-1])",
            "cases": [{"stdin": "abc", "expected_output": "cba"}]})),
        call("run_code", json!({"language": "python", "code": "raise SystemExit(3)"})),
    ]});
    let out = drive(Sdk::Python, plan).await;
    let calls = out["calls"].as_array().unwrap();
    assert_eq!(out["tools"].as_array().unwrap().len(), 5, "{out}");
    assert_eq!(calls[0]["structured"]["stdout"], "tick 0\ntick 1\ntick 2\n", "{out}");
    assert_eq!(calls[0]["progress"].as_array().unwrap().len(), 3, "{out}");
    let id = Uuid::parse_str(calls[0]["structured"]["session_id"].as_str().unwrap()).unwrap();
    assert_eq!(owner(&db, id).await, user);
    assert!(calls[1]["structured"]["languages"].as_array().unwrap().len() > 10, "{out}");
    assert_eq!(
        (calls[2]["isError"].clone(), calls[2]["structured"]["verdict"].clone()),
        (json!(false), json!("accepted"))
    );
    assert_eq!((calls[3]["isError"].clone(), calls[3]["structured"]["exit_code"].clone()), (json!(true), json!(3)));
    // A second client, later: the first's sessions by id.
    let plan = json!({"stdio": stdio, "calls": [
        call("get_session", json!({"id": id})),
        call("cancel_session", json!({"id": id})),
    ]});
    let out = drive(Sdk::Python, plan).await;
    for c in out["calls"].as_array().unwrap() {
        assert_eq!(
            (c["isError"].clone(), c["structured"]["status"].clone()),
            (json!(false), json!("completed")),
            "{c}"
        );
    }
    worker.stop().await.unwrap();
}
