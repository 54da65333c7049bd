//! The seed's endpoints (run-backend and its log socket, execute, validate,
//! run) with real workers and Docker, and the per-user rate and
//! concurrency limits in front of them.

use futures::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use uuid::Uuid;

use crate::api::*;
use crate::support::*;

#[tokio::test]
async fn run_backend_and_its_log_socket() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let other = db.user().await;
    let api = Api::start(api_config(&db), true).await;
    let token = user_token(user);
    let code = "import time\nfor i in range(3):\n    print(f'line {i}', flush=True)\n    time.sleep(0.3)";
    let (status, v) = post(
        &api,
        "/api/run-backend",
        Some(&token),
        json!({"code": code, "language": "python", "userContext": {"userId": user, "sessionName": "seed"}}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let id = v["sessionId"].as_str().unwrap().to_string();
    assert!(matches!(v["status"].as_str(), Some("running") | Some("completed")), "{v}");
    assert!(v["containerId"].is_string(), "{v}");

    // The browser way: token in the query string.
    let url = api.ws(&format!("/api/run-backend/ws/{id}?access_token={token}"));
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let mut msgs = Vec::new();
    while let Some(Ok(m)) = ws.next().await {
        if let WsMessage::Text(t) = m {
            let v: Value = serde_json::from_str(&t).unwrap();
            let done = v["type"] == "execution_complete";
            msgs.push(v);
            if done {
                break;
            }
        }
    }
    assert_eq!(msgs[0]["type"], "connected");
    assert_eq!(msgs[0]["sessionId"], id.as_str());
    let logs: Vec<&str> = msgs.iter().filter(|m| m["type"] == "log").map(|m| m["message"].as_str().unwrap()).collect();
    assert_eq!(logs, ["line 0", "line 1", "line 2"]);
    assert!(msgs.iter().filter(|m| m["type"] == "log").all(|m| m["level"] == "info" && m["timestamp"].is_string()));
    assert_eq!(msgs.last().unwrap()["status"], "completed");
    // A replay after the end gets everything again.
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let mut n = 0;
    while let Some(Ok(m)) = ws.next().await {
        if let WsMessage::Text(t) = m {
            let v: Value = serde_json::from_str(&t).unwrap();
            n += (v["type"] == "log") as usize;
            if v["type"] == "execution_complete" {
                break;
            }
        }
    }
    assert_eq!(n, 3);

    // Another user: their userId in the body is refused; the socket is 404.
    let (status, v) = post(
        &api,
        "/api/run-backend",
        Some(&user_token(other)),
        json!({"code": "1", "language": "python", "userContext": {"userId": user}}),
    )
    .await;
    assert_eq!(status, 403, "{v}");
    let err = tokio_tungstenite::connect_async(
        api.ws(&format!("/api/run-backend/ws/{id}?access_token={}", user_token(other))),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    let (status, _) = get(&api, &format!("/api/run-backend/ws/{}", Uuid::new_v4()), Some(&token)).await;
    assert_eq!(status, 404);
    // The service role acts for the user it names.
    let (status, v) = post(
        &api,
        "/api/run-backend",
        Some(&service_token()),
        json!({"code": "print(2)", "language": "py", "userContext": {"userId": other}}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) =
        post(&api, "/api/run-backend", Some(&service_token()), json!({"code": "print(2)", "language": "py"})).await;
    assert_eq!(status, 400, "{v}");
    // Bad bodies.
    let (status, v) = post(&api, "/api/run-backend", Some(&token), json!({"code": "1", "language": "intercal"})).await;
    assert_eq!(status, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("python"));
    let (status, _) = post(&api, "/api/run-backend", Some(&token), json!({"language": "python"})).await;
    assert_eq!(status, 422);
    api.stop().await;
}

#[tokio::test]
async fn seed_execute_validate_and_run() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let api = Api::start(api_config(&db), true).await;
    let token = user_token(user);
    let solution = "def fibonacci(n):\n    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)\n";
    let tests = "def test_small():\n    assert fibonacci(1) == 1\n\ndef test_ten():\n    assert fibonacci(10) == 55\n";

    let (status, v) = post(
        &api,
        "/api/execute/validate",
        Some(&token),
        json!({"solution": solution, "tests": tests, "language": "python"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["passed"].clone(), v["testsPassed"].clone(), v["totalTests"].clone()),
        (json!(true), json!(2), json!(2)),
        "{v}"
    );
    assert!(v["output"].is_string());

    let wrong = "def test_wrong():\n    assert fibonacci(10) == 56\n";
    let (status, v) = post(
        &api,
        "/api/execute/validate",
        Some(&token),
        json!({"solution": solution, "tests": wrong, "language": "py"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["passed"].clone(), v["testsPassed"].clone(), v["totalTests"].clone()),
        (json!(false), json!(0), json!(1)),
        "{v}"
    );
    assert!(v["tests"][0]["message"].as_str().unwrap_or("").contains("56"), "{v}");

    let (status, v) = post(
        &api,
        "/api/execute/run",
        Some(&token),
        json!({"solution": solution, "tests": tests, "language": "python", "runs": 10}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["passed"], true, "{v}");
    assert_eq!(v["n"], 10, "{v}");
    assert!(v["meanExecutionTime"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["standardDeviation"].as_f64().unwrap() >= 0.0, "{v}");

    let (status, v) = post(
        &api,
        "/api/execute/run",
        Some(&token),
        json!({"solution": "1", "tests": "", "language": "python", "runs": 5000}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("runs 5000 is above this server's maximum of 1000"), "{v}");
    let (status, _) = post(
        &api,
        "/api/execute/run",
        Some(&token),
        json!({"solution": "1", "tests": "", "language": "python", "runs": 0}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = post(
        &api,
        "/api/execute/validate",
        Some(&token),
        json!({"solution": "1", "tests": "", "language": "intercal"}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) =
        post(&api, "/api/execute/validate", None, json!({"solution": "1", "tests": "", "language": "python"})).await;
    assert_eq!(status, 401);
    api.stop().await;
}

#[tokio::test]
async fn per_user_rate_and_concurrency_limits() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let mut cfg = api_config(&db);
    cfg.api.rate_limit_per_minute = 2;
    let api = Api::start(cfg, false).await;
    let token = user_token(user);
    let req = json!({"code": "print(1)", "language": "python"});
    assert_eq!(post(&api, "/api/run-backend", Some(&token), req.clone()).await.0, 200);
    assert_eq!(post(&api, "/api/run-backend", Some(&token), req.clone()).await.0, 200);
    let resp =
        http().post(format!("{}/api/run-backend", api.base)).bearer_auth(&token).json(&req).send().await.unwrap();
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
    let (status, v) = body(resp).await;
    assert_eq!(status, 429, "{v}");
    api.stop().await;

    // Concurrency: sessions pending or running count against the user.
    let mut cfg = api_config(&db);
    cfg.api.max_active_sessions_per_user = 2;
    let api = Api::start(cfg, false).await;
    let other = db.user().await;
    let t = user_token(other);
    assert_eq!(post(&api, "/api/run-backend", Some(&t), req.clone()).await.0, 200);
    assert_eq!(post(&api, "/api/run-backend", Some(&t), req.clone()).await.0, 200);
    let (status, v) = post(&api, "/api/run-backend", Some(&t), req.clone()).await;
    assert_eq!(status, 429, "{v}");
    assert!(v["message"].as_str().unwrap().contains("pending or running"));
    api.stop().await;
}
