//! The Judge0 CE-compatible API under `/judge0`: driven by Judge0's own
//! Python SDK (`tests/py/judge0-sdk.py`, authenticated as Judge0 clients
//! are, with `X-Auth-Token` carrying an API key), and by plain HTTP for
//! `wait`, `fields`, base64, errors and ownership.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

use crate::api::{api_config, body, get, http, post, service_token, user_token, Api};
use crate::keys::create_key;
use crate::support::*;

/// The Python with the SDK in it (`scripts/lib.sh` makes it).
fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let py = root.join("tests/py/.venv/bin/python");
    assert!(py.is_file(), "tests/py needs its packages: scripts/test.sh installs them into tests/py/.venv");
    py
}

/// Runs the SDK driver against `endpoint` with `headers`; what it printed.
async fn sdk(endpoint: &str, headers: Value, quick: bool) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/judge0-sdk.py");
    let mut command = tokio::process::Command::new(python());
    command.arg(script).args([endpoint, &headers.to_string()]).args(quick.then_some("quick"));
    let stdout = run_client(command, Duration::from_secs(180), "the Judge0 SDK driver").await;
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("{stdout}"))
}

/// The sessions that the tokens' submissions ran in.
async fn sessions_of(db: &TestDb, tokens: &[&str]) -> Vec<Uuid> {
    let tokens: Vec<Uuid> = tokens.iter().map(|t| Uuid::parse_str(t).unwrap()).collect();
    db.client()
        .await
        .query("select distinct session_id from public.judge0_submissions where token = any($1) order by 1", &[&tokens])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn field<'a>(v: &'a Value, key: &str) -> Vec<&'a Value> {
    v.as_array().unwrap().iter().map(|s| &s[key]).collect()
}

#[tokio::test]
async fn judge0_sdk_runs_test_cases_and_sees_every_status() {
    let _g = compiling().await;
    let db = TestDb::new().await;
    let user = db.user().await;
    let key = create_key(&db, Some(user), "judge0").await.unwrap();
    let api = Api::start(api_config(&db), true).await;

    let endpoint = format!("{}/judge0", api.base);
    // As Judge0's README shows it: a Supabase access token as the bearer.
    let out = sdk(&endpoint, json!({"Authorization": format!("Bearer {}", user_token(user))}), false).await;
    assert_eq!(out["version"], "1.13.1", "{out}");
    for id in [52, 54, 60, 62, 63, 71, 73, 74] {
        assert!(out["languages"].as_array().unwrap().contains(&json!(id)), "{id} missing: {out}");
    }
    assert_eq!((out["batch_size"].clone(), out["python_supported"].clone()), (json!(20), json!(true)));

    // Test cases: judged in one batch that ran as one session.
    let cases = &out["cases"];
    assert_eq!(field(cases, "status"), [&json!(3), &json!(3), &json!(4)], "{cases}");
    assert_eq!(field(cases, "stdout"), [&json!("2\n"), &json!("42\n"), &json!("10\n")], "{cases}");
    for s in cases.as_array().unwrap() {
        assert!(s["time"].as_f64().is_some_and(|t| t > 0.0 && t < 5.0), "{s}");
        assert!(s["memory"].as_u64().is_some_and(|m| m > 0), "{s}");
        assert!(s["created_at"].is_string() && s["finished_at"].is_string(), "{s}");
        assert_eq!(s["exit_code"], 0, "{s}");
    }
    let tokens: Vec<&str> = field(cases, "token").iter().map(|t| t.as_str().unwrap()).collect();
    let sessions = sessions_of(&db, &tokens).await;
    assert_eq!(sessions.len(), 1, "one session for the batch: {sessions:?}");
    let row = db
        .client()
        .await
        .query_one("select user_id, status, mode from public.backend_execution_sessions where id = $1", &[&sessions[0]])
        .await
        .unwrap();
    let (owner, status, mode): (Uuid, SessionStatus, execbox::model::Mode) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((owner, status, mode), (user, SessionStatus::Completed, execbox::model::Mode::Cases));

    // A compiled language's cases: compiled once, in one session.
    let cpp = &out["cpp_cases"];
    assert_eq!(field(cpp, "status"), [&json!(3), &json!(3)], "{cpp}");
    assert_eq!(field(cpp, "stdout"), [&json!("3\n"), &json!("42\n")], "{cpp}");
    let tokens: Vec<&str> = field(cpp, "token").iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(sessions_of(&db, &tokens).await.len(), 1);

    // Every outcome, one submission each.
    let single = &out["single"];
    let (ok, tle, ce, nzec, segv) =
        (&single["accepted"], &single["time_limit"], &single["compile_error"], &single["nzec"], &single["sigsegv"]);
    assert_eq!((ok["status"].clone(), ok["stdout"].clone()), (json!(3), json!("hi\n")), "{ok}");
    assert_eq!(tle["status"], 5, "{tle}");
    assert_eq!(ce["status"], 6, "{ce}");
    assert!(ce["compile_output"].as_str().is_some_and(|c| c.contains("error")), "{ce}");
    assert_eq!(ce["stdout"], Value::Null, "{ce}");
    assert_eq!((nzec["status"].clone(), nzec["exit_code"].clone()), (json!(11), json!(3)), "{nzec}");
    assert_eq!(nzec["stderr"], "bye\n", "{nzec}");
    assert_eq!((segv["status"].clone(), segv["exit_signal"].clone()), (json!(7), json!(11)), "{segv}");

    // Judge0's own header, with an API key.
    let out = sdk(&endpoint, json!({"X-Auth-Token": key}), true).await;
    assert_eq!((out["single"]["status"].clone(), out["single"]["stdout"].clone()), (json!(3), json!("hi\n")), "{out}");
    api.stop().await;
}

/// `POST /judge0/submissions` with a query string.
async fn submit(api: &Api, query: &str, token: &str, body_json: Value) -> (u16, Value) {
    post(api, &format!("/judge0/submissions?{query}"), Some(token), body_json).await
}

#[tokio::test]
async fn judge0_wait_fields_encodings_errors_and_ownership() {
    let db = TestDb::new().await;
    let (alice, bob) = (db.user().await, db.user().await);
    let (alice_t, bob_t) = (user_token(alice), user_token(bob));
    let api = Api::start(api_config(&db), true).await;

    // wait=true answers with the finished submission, only the fields asked.
    // (Pauses, so that which pipe the launcher reads first does not decide
    // the order of lines printed at the same instant.)
    let code = "import sys, time\nprint('out', flush=True)\ntime.sleep(0.05)\nprint('err', file=sys.stderr, flush=True)\ntime.sleep(0.05)\nprint(sys.argv[1:])\n";
    let (status, v) = submit(
        &api,
        "wait=true&fields=stdout,stderr,status_id,number_of_runs,command_line_arguments",
        &alice_t,
        json!({"source_code": code, "language_id": 71, "command_line_arguments": "a 'b c'", "number_of_runs": 2}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(
        v,
        json!({"stdout": "out\n['a', 'b c']\n", "stderr": "err\n", "status_id": 3, "number_of_runs": 2,
               "command_line_arguments": "a 'b c'"})
    );

    // base64 both ways; stderr joins stdout when redirected.
    let b64 = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
    let (status, v) = submit(
        &api,
        "wait=true&base64_encoded=true&fields=stdout,stderr,expected_output,status",
        &alice_t,
        json!({"source_code": b64(code), "language_id": 71, "expected_output": b64("nope\n"),
               "redirect_stderr_to_stdout": true}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["stdout"], b64("out\nerr\n[]\n"), "{v}");
    assert_eq!(v["stderr"], Value::Null, "{v}");
    assert_eq!(v["expected_output"], b64("nope\n"), "{v}");
    assert_eq!(v["status"], json!({"id": 4, "description": "Wrong Answer"}), "{v}");

    // Without wait: a token, then the submission by it (owner and service
    // role only).
    let (status, v) = submit(&api, "", &alice_t, json!({"source_code": "print(6*7)", "language_id": 71})).await;
    assert_eq!(status, 201, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    let path = format!("/judge0/submissions/{token}?fields=status_id,stdout,language,token");
    let done = db.wait_done(Uuid::parse_str(&token).unwrap(), Duration::from_secs(60)).await;
    assert_eq!(done.status, SessionStatus::Completed);
    let (status, v) = get(&api, &path, Some(&alice_t)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["stdout"], "42\n", "{v}");
    assert_eq!(v["language"], json!({"id": 71, "name": "Python (3.11)"}), "{v}");
    assert_eq!(get(&api, &path, Some(&bob_t)).await.0, 404, "Bob saw Alice's submission");
    assert_eq!(get(&api, &path, Some(&service_token())).await.0, 200);
    let (status, v) =
        get(&api, &format!("/judge0/submissions/batch?tokens={token},{token}&fields=stdout"), Some(&alice_t)).await;
    assert_eq!((status, v), (200, json!({"submissions": [{"stdout": "42\n"}, {"stdout": "42\n"}]})));
    let (status, v) = get(&api, &format!("/judge0/submissions/batch?tokens={token}"), Some(&bob_t)).await;
    assert_eq!((status, v), (200, json!({"submissions": [null]})));

    // A batch with a submission execbox cannot run is refused whole, saying
    // which; nothing of it runs.
    let batch = json!({"submissions": [
        {"source_code": "print(1)", "language_id": 71},
        {"source_code": "print(1)", "language_id": 9999},
    ]});
    let (status, v) = post(&api, "/judge0/submissions/batch", Some(&alice_t), batch).await;
    assert_eq!(status, 422, "{v}");
    assert!(v["message"].as_str().unwrap().starts_with("submissions[1]: language with id 9999"), "{v}");

    // Bad input: a status and a message, nothing created.
    let before: i64 = db
        .client()
        .await
        .query_one("select count(*) from public.backend_execution_sessions", &[])
        .await
        .unwrap()
        .get(0);
    let bad = [
        ("", json!({"source_code": "x", "language_id": 9999}), 422, "9999"),
        ("base64_encoded=true", json!({"source_code": "%%%", "language_id": 71}), 422, "base64"),
        ("", json!({"source_code": "x", "language_id": 71, "memory_limit": 1}), 422, "memory_limit"),
        ("", json!({"source_code": "x", "language_id": 71, "enable_network": true}), 422, "network"),
        ("", json!({"source_code": "x", "language_id": 71, "bogus": 1}), 422, "bogus"),
        ("", json!({"source_code": "x\0", "language_id": 71}), 400, "NUL"),
        ("", json!({"source_code": "x", "language_id": 71.5}), 422, "whole number"),
        ("", json!({"source_code": "x", "language_id": "71"}), 422, "language_id"),
        ("fields=stdout,bogus", json!({"source_code": "x", "language_id": 71}), 422, "bogus"),
        ("wait=maybe", json!({"source_code": "x", "language_id": 71}), 400, "wait"),
        ("extra=1", json!({"source_code": "x", "language_id": 71}), 400, "extra"),
    ];
    for (query, body_json, want, says) in bad {
        let (status, v) = submit(&api, query, &alice_t, body_json.clone()).await;
        assert_eq!(status, want, "{query} {body_json}: {v}");
        assert!(v["message"].as_str().unwrap().contains(says), "{query} {body_json}: {v}");
    }
    let after: i64 = db
        .client()
        .await
        .query_one("select count(*) from public.backend_execution_sessions", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(before, after);
    assert_eq!(get(&api, "/judge0/submissions/not-a-token", Some(&alice_t)).await.0, 404);
    assert_eq!(get(&api, &format!("/judge0/submissions/{}", Uuid::new_v4()), Some(&alice_t)).await.0, 404);
    assert_eq!(get(&api, "/judge0/submissions/batch?tokens=x,y", Some(&alice_t)).await.0, 400);
    assert_eq!(get(&api, "/judge0/languages", None).await.0, 401);
    let resp = http().get(format!("{}/judge0/statuses", api.base)).header("x-auth-token", "exb_nope").send().await;
    assert_eq!(body(resp.unwrap()).await.0, 401);

    // The catalogue.
    let (_, statuses) = get(&api, "/judge0/statuses", Some(&alice_t)).await;
    assert_eq!(statuses.as_array().unwrap().len(), 14);
    assert_eq!(statuses[2], json!({"id": 3, "description": "Accepted"}));
    let (status, lang) = get(&api, "/judge0/languages/54", Some(&alice_t)).await;
    assert_eq!(status, 200, "{lang}");
    assert!(lang["compile_cmd"].as_str().is_some_and(|c| c.contains("g++")), "{lang}");
    assert_eq!(get(&api, "/judge0/languages/1", Some(&alice_t)).await.0, 404);
    api.stop().await;
}
