//! Piston's v2 API: execute, runtimes and their errors, compiled languages'
//! compile stage, its socket (stdin, EOF, signals, close codes), and the
//! floods that once wedged a session.

use std::time::Duration;

use futures::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use uuid::Uuid;

use crate::api::*;
use crate::support::*;

#[tokio::test]
async fn piston_execute_runtimes_and_errors() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let mut cfg = api_config(&db);
    cfg.limits.max_timeout_ms = 60_000;
    cfg.limits.default_timeout_ms = 20_000;
    let api = Api::start(cfg, true).await;
    let token = user_token(user);

    // Runtimes are public.
    let (status, v) = get(&api, "/api/v2/runtimes", None).await;
    assert_eq!(status, 200);
    let py = v.as_array().unwrap().iter().find(|r| r["language"] == "python").unwrap();
    assert!(py["aliases"].as_array().unwrap().contains(&json!("py")));

    // Piston's convention: test.<ext> prints OK.
    let (status, v) = post(&api, "/api/v2/execute", Some(&token), piston("print('OK')")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["language"], "python");
    assert_eq!(v["run"]["stdout"], "OK\n");
    assert_eq!(v["run"]["output"], "OK\n");
    assert_eq!(v["run"]["code"], 0);
    assert_eq!(v["run"]["signal"], Value::Null);
    assert!(v["run"]["wall_time"].as_f64().unwrap() > 0.0);
    let node = json!({"language": "javascript", "version": "*", "files": [{"name": "test.js", "content": "console.log('OK')"}]});
    assert_eq!(post(&api, "/api/v2/execute", Some(&token), node).await.1["run"]["stdout"], "OK\n");

    // stdin, args, extra files, stderr, exit code.
    let req = json!({"language": "python", "files": [
            {"name": "main.py", "content": "import sys, time, helper\nprint(helper.X, sys.argv[1], input())\ntime.sleep(0.1)\nprint('oops', file=sys.stderr)\nsys.exit(4)"},
            {"name": "helper.py", "content": "WD0x", "encoding": "base64"}],
        "stdin": "typed", "args": ["arg1"]});
    let (status, v) = post(&api, "/api/v2/execute", Some(&token), req).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["run"]["stdout"], "1 arg1 typed\n");
    assert_eq!(v["run"]["stderr"], "oops\n");
    assert_eq!(v["run"]["output"], "1 arg1 typed\noops\n");
    assert_eq!((v["run"]["code"].clone(), v["run"]["status"].clone()), (json!(4), json!("RE")));
    // Piston's stdin ends with a newline, added when missing, so a program
    // reading a line gets an empty one rather than end of file.
    for (stdin, line) in [(None, "''"), (Some("typed"), "'typed'"), (Some("two\n"), "'two'")] {
        let mut req = piston("print(repr(input()))");
        if let Some(stdin) = stdin {
            req["stdin"] = json!(stdin);
        }
        let (status, v) = post(&api, "/api/v2/execute", Some(&token), req).await;
        assert_eq!((status, v["run"]["stdout"].clone()), (200, json!(format!("{line}\n"))), "{stdin:?}: {v}");
    }

    // Timeout: a request may lower the limit.
    let mut slow = piston("while True: pass");
    slow["run_timeout"] = json!(1000);
    let (status, v) = post(&api, "/api/v2/execute", Some(&token), slow).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["run"]["status"].clone(), v["run"]["signal"].clone()), (json!("TO"), json!("SIGKILL")));

    // A CPU-time limit stops a burner (Piston's TO), not a sleeper.
    let mut burner = piston("while True: pass");
    burner["run_cpu_time"] = json!(300);
    let (status, v) = post(&api, "/api/v2/execute", Some(&token), burner).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["run"]["status"].clone(), v["run"]["signal"].clone()), (json!("TO"), json!("SIGKILL")), "{v}");
    assert!(v["run"]["cpu_time"].as_i64().unwrap() >= 300, "{v}");
    let mut sleeper = piston("import time\ntime.sleep(1)\nprint('up')");
    sleeper["run_cpu_time"] = json!(300);
    let (status, v) = post(&api, "/api/v2/execute", Some(&token), sleeper).await;
    assert_eq!(
        (status, v["run"]["stdout"].clone(), v["run"]["status"].clone()),
        (200, json!("up\n"), Value::Null),
        "{v}"
    );
    assert!(v["run"]["wall_time"].as_i64().unwrap() >= 1000, "{v}");

    // ...but never raise it.
    let mut greedy = piston("1");
    greedy["run_timeout"] = json!(600_000);
    let (status, v) = post(&api, "/api/v2/execute", Some(&token), greedy).await;
    assert_eq!(status, 400);
    assert!(v["message"].as_str().unwrap().contains("cannot exceed the configured limit"), "{v}");
    let mut greedy = piston("1");
    greedy["run_memory_limit"] = json!(8i64 * 1024 * 1024 * 1024);
    assert_eq!(post(&api, "/api/v2/execute", Some(&token), greedy).await.0, 400);

    // Unknown runtimes, hostile names.
    let (status, v) = post(
        &api,
        "/api/v2/execute",
        Some(&token),
        json!({"language": "intercal", "version": "*", "files": [{"content": "x"}]}),
    )
    .await;
    assert_eq!((status, v["message"].as_str()), (400, Some("intercal-* runtime is unknown")));
    let (status, _) = post(
        &api,
        "/api/v2/execute",
        Some(&token),
        json!({"language": "python", "version": "2.7", "files": [{"content": "x"}]}),
    )
    .await;
    assert_eq!(status, 400);
    let hostile =
        json!({"language": "python", "files": [{"content": "1"}, {"name": "../../etc/passwd", "content": "x"}]});
    let (status, v) = post(&api, "/api/v2/execute", Some(&token), hostile).await;
    assert_eq!(status, 400);
    assert!(v["message"].as_str().unwrap().contains("not allowed"), "{v}");

    // Not JSON, broken JSON, too large, unknown route, wrong method: JSON errors.
    let resp = http()
        .post(format!("{}/api/v2/execute", api.base))
        .bearer_auth(&token)
        .body("language=python")
        .send()
        .await
        .unwrap();
    assert_eq!(body(resp).await.0, 415);
    let resp = http()
        .post(format!("{}/api/v2/execute", api.base))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"language\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(body(resp).await.0, 400);
    let huge = piston(&"#".repeat(3 * 1024 * 1024));
    assert_eq!(post(&api, "/api/v2/execute", Some(&token), huge).await.0, 413);
    assert_eq!(get(&api, "/api/v3/nothing", Some(&token)).await.0, 404);
    let resp = http().delete(format!("{}/api/v2/execute", api.base)).send().await.unwrap();
    assert_eq!(body(resp).await.0, 405);
    api.stop().await;
}

#[tokio::test]
async fn piston_compiled_languages_report_their_compile_stage() {
    let _cpu = compiling().await;
    let db = TestDb::new().await;
    let user = db.user().await;
    let api = Api::start(api_config(&db), true).await;
    let token = user_token(user);
    let req = |lang: &str, code: &str| json!({"language": lang, "version": "*", "files": [{"content": code}]});

    let (status, v) = post(
        &api,
        "/api/v2/execute",
        Some(&token),
        req("go", "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"OK\") }"),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["compile"]["code"], 0, "{v}");
    assert_eq!(v["run"]["stdout"], "OK\n");
    assert_eq!(v["run"]["code"], 0);

    let (status, v) = post(&api, "/api/v2/execute", Some(&token), req("c++", "int main() { return nope; }")).await;
    assert_eq!(status, 200, "{v}");
    assert_ne!(v["compile"]["code"], 0, "{v}");
    assert!(v["compile"]["stderr"].as_str().unwrap().contains("nope"), "{v}");
    assert_eq!(v["run"], v["compile"], "on a compile failure run mirrors compile, as in Piston");
    assert!(v["compile"]["cpu_time"].as_i64().unwrap() > 0, "the compiler's CPU time: {v}");
    assert!(v["compile"]["memory"].as_i64().unwrap() > 0, "the compiler's peak memory: {v}");

    // Piston's compile limits reach the session: a tiny compile timeout
    // times the compiler out, a tiny compile memory limit kills it.
    let mut slow = req("c++", "#include <iostream>\nint main() { std::cout << 1; }");
    slow["compile_timeout"] = json!(1);
    let (status, v) = post(&api, "/api/v2/execute", Some(&token), slow).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["compile"]["status"].clone(), v["compile"]["signal"].clone()),
        (json!("TO"), json!("SIGKILL")),
        "{v}"
    );
    let mut small = req("c++", "#include <iostream>\nint main() { std::cout << 1; }");
    small["compile_memory_limit"] = json!(16 * 1024 * 1024);
    let (status, v) = post(&api, "/api/v2/execute", Some(&token), small).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["compile"]["status"], "SG", "{v}");
    assert!(v["compile"]["message"].as_str().unwrap().contains("while compiling"), "{v}");
    let mut greedy = req("c++", "int main() {}");
    greedy["compile_timeout"] = json!(10_000_000);
    let (status, v) = post(&api, "/api/v2/execute", Some(&token), greedy).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["message"], "compile_timeout cannot exceed the configured limit of 120000", "{v}");

    // Over the socket: compile stage, its exit, then the run stage.
    let mut r =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(api.ws("/api/v2/connect"))
            .unwrap();
    r.headers_mut().insert("Authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(r).await.unwrap();
    ws.send(WsMessage::Text(
        json!({"type": "init", "language": "rust", "files": [{"content": "fn main() { println!(\"OK\"); }"}]})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let (got, close) = read_until(&mut ws, |_| false).await;
    let kinds: Vec<String> =
        got.iter().map(|m| format!("{}:{}", m["type"].as_str().unwrap(), m["stage"].as_str().unwrap_or(""))).collect();
    assert_eq!(kinds, ["runtime:", "stage:compile", "exit:compile", "stage:run", "data:", "exit:run"], "{got:?}");
    assert_eq!(got[4]["data"], "OK\n");
    assert_eq!(close, Some(4999));
    api.stop().await;
}

#[tokio::test]
async fn piston_socket_stdin_eof_signals_and_close_codes() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let api = Api::start(api_config(&db), true).await;
    let token = user_token(user);
    let connect = |path: &str| {
        let mut req =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(api.ws(path)).unwrap();
        req.headers_mut().insert("Authorization", format!("Bearer {token}").parse().unwrap());
        tokio_tungstenite::connect_async(req)
    };

    // A conversation: stdin in, stdout out, EOF ends it.
    let (mut ws, _) = connect("/api/v2/connect").await.unwrap();
    let code = "import sys\nprint('name?', flush=True)\nfor line in sys.stdin:\n    print('hi ' + line.strip(), flush=True)\nprint('eof')";
    ws.send(WsMessage::Text(
        json!({"type": "init", "language": "python", "version": "*", "files": [{"content": code}]}).to_string().into(),
    ))
    .await
    .unwrap();
    let (got, _) = read_until(&mut ws, |v| v["type"] == "data").await;
    assert_eq!(got[0]["type"], "runtime");
    assert_eq!(got[1], json!({"type": "stage", "stage": "run"}));
    assert_eq!(got[2], json!({"type": "data", "stream": "stdout", "data": "name?\n"}));
    ws.send(WsMessage::Text(json!({"type": "data", "stream": "stdin", "data": "ada\n"}).to_string().into()))
        .await
        .unwrap();
    let (got, _) = read_until(&mut ws, |v| v["type"] == "data").await;
    assert_eq!(got[0]["data"], "hi ada\n");
    ws.send(WsMessage::Text(json!({"type": "eof"}).to_string().into())).await.unwrap();
    let (got, close) = read_until(&mut ws, |_| false).await;
    assert_eq!(got[0]["data"], "eof\n");
    let exit = got.iter().find(|m| m["type"] == "exit").unwrap();
    assert_eq!((exit["stage"].clone(), exit["code"].clone()), (json!("run"), json!(0)));
    assert_eq!(close, Some(4999));

    // A signal that really kills.
    let (mut ws, _) = connect("/api/exec").await.unwrap();
    ws.send(WsMessage::Text(json!({"type": "init", "language": "node", "files": [{"content": "console.log('up'); setInterval(()=>{}, 1000)"}]}).to_string().into())).await.unwrap();
    read_until(&mut ws, |v| v["type"] == "data").await;
    ws.send(WsMessage::Text(json!({"type": "signal", "signal": "SIGKILL"}).to_string().into())).await.unwrap();
    let (got, close) = read_until(&mut ws, |_| false).await;
    let exit = got.iter().find(|m| m["type"] == "exit").unwrap();
    assert_eq!(exit["signal"], "SIGKILL");
    assert_eq!(close, Some(4999));

    // Protocol errors and their close codes.
    let (mut ws, _) = connect("/api/v2/connect").await.unwrap();
    ws.send(WsMessage::Text(json!({"type": "data", "stream": "stdin", "data": "x"}).to_string().into())).await.unwrap();
    assert_eq!(read_until(&mut ws, |_| false).await.1, Some(4003));
    let (mut ws, _) = connect("/api/v2/connect").await.unwrap();
    assert_eq!(read_until(&mut ws, |_| false).await.1, Some(4001), "no init within 1 s");
    let init = json!({"type": "init", "language": "python", "files": [{"content": "import time\nprint(1, flush=True)\ntime.sleep(30)"}]}).to_string();
    for (msg, code) in [
        (json!({"type": "signal", "signal": "SIGSEGV"}), 4005),
        (json!({"type": "data", "stream": "stdout", "data": "x"}), 4004),
        (json!({"type": "init", "language": "python", "files": [{"content": "1"}]}), 4000),
    ] {
        let (mut ws, _) = connect("/api/v2/connect").await.unwrap();
        ws.send(WsMessage::Text(init.clone().into())).await.unwrap();
        read_until(&mut ws, |v| v["type"] == "data").await;
        ws.send(WsMessage::Text(msg.to_string().into())).await.unwrap();
        assert_eq!(read_until(&mut ws, |_| false).await.1, Some(code), "{msg}");
    }
    let (mut ws, _) = connect("/api/v2/connect").await.unwrap();
    ws.send(WsMessage::Text(
        json!({"type": "init", "language": "intercal", "files": [{"content": "1"}]}).to_string().into(),
    ))
    .await
    .unwrap();
    let (got, close) = read_until(&mut ws, |_| false).await;
    assert_eq!(got[0]["type"], "error");
    assert_eq!(close, Some(4002));
    // Unauthenticated sockets are refused before the upgrade.
    let err = tokio_tungstenite::connect_async(api.ws("/api/v2/connect")).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    api.stop().await;
}

/// The floods that once wedged a session forever, through Piston's API at
/// the default output limit, on the cold path and the warm one: each is
/// answered, as an output limit (or a time limit, if the database wrote
/// more slowly than the program printed), within the limit plus a grace.
#[tokio::test]
async fn piston_floods_end_on_time_at_default_settings() {
    let _cpu = flooding().await;
    let db = TestDb::new().await;
    for warm in [false, true] {
        let mut cfg = api_config(&db);
        let worker_id = format!("flood-{}", Uuid::new_v4().simple());
        cfg.worker.id = worker_id.clone();
        if warm {
            cfg.worker.warm_pool.insert("python".into(), 1);
        }
        assert_eq!(cfg.limits.output_limit_bytes, execbox::config::Limits::default().output_limit_bytes);
        let api = Api::start(cfg, true).await;
        let user = db.user().await;
        let token = user_token(user);
        for code in ["while True:\n    print(1)\n", "import sys\nwhile True:\n    sys.stdout.write('x' * 4096)\n"] {
            let mut req = piston(code);
            req["run_timeout"] = json!(10_000);
            let ready = if warm {
                wait_pool_of(&api.steps, &worker_id, 1, Some("execbox/python:3.11")).await
            } else {
                Default::default()
            };
            // Answered: once these wedged a session forever.
            let (status, v) =
                tokio::time::timeout(Duration::from_secs(120), post(&api, "/api/v2/execute", Some(&token), req))
                    .await
                    .expect("a flood is answered");
            assert_eq!(status, 200, "warm {warm}: {v}");
            // The path it took: a container the pool had ready, or a new one.
            let session: Uuid = db
                .client()
                .await
                .query_one(
                    "select id from backend_execution_sessions where user_id = $1 order by created_at desc limit 1",
                    &[&user],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(ready.contains(&container_of(&db, session).await), warm, "warm {warm}: the path taken");
            // By the database's clock: within its limit and 5 s.
            let ran = db.ran_secs(session).await;
            assert!(ran <= 10.0 + 5.0, "warm {warm}: ended {ran:.1} s after it started");
            let run = &v["run"];
            assert!(run["status"] == "OL" || run["status"] == "TO", "warm {warm}: {run}");
            assert_eq!(run["signal"], "SIGKILL");
            if run["status"] == "OL" {
                assert!(run["stdout"].as_str().unwrap().len() > 1_000_000, "what fits is kept");
            }
        }
        api.stop().await;
    }
}
