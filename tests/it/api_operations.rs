//! What an operator reads from the API: health (the database, the
//! workers, Docker), metrics, CORS and the OpenAPI document.

use std::time::Duration;

use execbox::config::Secret;
use serde_json::Value;
use uuid::Uuid;

use crate::api::*;
use crate::support::*;

#[tokio::test]
async fn health_reports_the_database_and_workers_with_docker() {
    let db = TestDb::new().await;
    let api = Api::start(api_config(&db), false).await;
    let (status, v) = get(&api, "/health", None).await;
    assert_eq!(status, 503, "no worker yet: {v}");
    assert_eq!(v["database"]["ok"], true);
    assert_eq!(v["docker"]["ok"], false);
    let w = db.worker();
    let v = eventually("/health ok", Duration::from_secs(20), || async {
        let (status, v) = get(&api, "/health", None).await;
        (status == 200).then_some(v)
    })
    .await;
    assert_eq!(v["status"], "ok");
    assert!(v["uptime"].as_f64().unwrap() >= 0.0);
    assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
    w.stop().await.unwrap();
    api.stop().await;
    // With the database gone, health says so.
    let mut cfg = api_config(&db);
    cfg.database_url = Secret::new("postgres://postgres@127.0.0.1:1/none");
    let api = Api::start(cfg, false).await;
    let (status, v) = get(&api, "/health", None).await;
    assert_eq!(status, 503);
    assert_eq!(v["database"]["ok"], false);
    api.stop().await;
}

#[tokio::test]
async fn metrics_cors_and_the_openapi_document() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let mut cfg = api_config(&db);
    cfg.api.cors_origins = vec!["https://ide.example".into()];
    let api = Api::start(cfg, true).await;
    let (status, _) = post(&api, "/api/v2/execute", Some(&user_token(user)), piston("print('OK')")).await;
    assert_eq!(status, 200);

    // Metrics: service role only.
    assert_eq!(get(&api, "/metrics", Some(&user_token(user))).await.0, 403);
    let text = http()
        .get(format!("{}/metrics", api.base))
        .bearer_auth(service_token())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "execbox_queue_depth 0",
        "execbox_sessions_last_hour{status=\"completed\"} 1",
        "execbox_log_rows_written_total",
        "execbox_run_duration_seconds_count",
        "execbox_container_start_seconds_bucket",
        "execbox_containers_total{path=\"cold\"}",
        "execbox_containers_total{path=\"warm\"}",
        "execbox_workers_alive 1",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }

    // CORS preflight for the configured origin only.
    let pre = |origin: &str| {
        http()
            .request(reqwest::Method::OPTIONS, format!("{}/api/v2/execute", api.base))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "authorization,content-type")
            .send()
    };
    let ok = pre("https://ide.example").await.unwrap();
    assert_eq!(ok.headers().get("access-control-allow-origin").unwrap(), "https://ide.example");
    let no = pre("https://evil.example").await.unwrap();
    assert!(no.headers().get("access-control-allow-origin").is_none());

    // The document describes exactly the routes that exist.
    let (status, doc) = get(&api, "/api/openapi.json", None).await;
    assert_eq!(status, 200);
    let limits = api_config(&db).finish().unwrap().limits;
    assert_eq!(doc, execbox::api::openapi::document(&execbox::runtimes::Runtimes::builtin(), &limits));
    let paths = doc["paths"].as_object().unwrap();
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let concrete = path.replace("{session_id}", &Uuid::new_v4().to_string());
            let resp = http()
                .request(method.to_uppercase().parse().unwrap(), format!("{}{concrete}", api.base))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            assert!(
                status != 405 && v["code"] != "not_found" || path.contains("{session_id}"),
                "{method} {path}: {status} {v}"
            );
        }
    }
    let mut documented: Vec<&str> = paths.keys().map(String::as_str).collect();
    documented.sort();
    let mut routed: Vec<&str> = execbox::api::routes().into_iter().map(|(p, _)| p).collect();
    routed.sort();
    assert_eq!(documented, routed, "every route is documented and every documented path is routed");
    api.stop().await;
}
