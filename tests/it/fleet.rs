//! An API node under many waiting requests, nodes sharing limits, workers
//! that differ: what a deployment of several hosts relies on.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::api::{api_config, post, user_token, Api};
use crate::support::*;

/// Database connections held now by processes named `name`.
async fn connections(db: &TestDb, c: &tokio_postgres::Client, name: &str) -> i64 {
    c.query_one(
        "select count(*) from pg_stat_activity where datname = $1 and application_name = $2",
        &[&db.name(), &name],
    )
    .await
    .unwrap()
    .get(0)
}

/// A thousand synchronous executes at once against one node: every one
/// answered with its own output, while the node holds at most 20 database
/// connections (its pool of 16 and its one LISTEN), however long they wait.
#[tokio::test]
async fn a_thousand_waiting_executes_share_the_nodes_few_connections() {
    const N: usize = 1000;
    let _cpu = every_language().await;
    let db = TestDb::new().await;
    let user = db.user().await;
    let mut cfg = api_config(&db);
    cfg.api.max_active_sessions_per_user = N as i64;
    cfg.api.rate_limit_per_minute = 100 * N as u32;
    // The queue of a thousand drains at the worker's pace.
    cfg.api.queue_wait_ms = 600_000;
    let api = Api::start(cfg, false).await;
    let w = db.worker_with(|c| {
        c.worker.max_concurrent_runs = 8;
        c.worker.warm_pool.insert("python".into(), 4);
    });

    // The node's connections, sampled while the requests wait.
    let peak = Arc::new(AtomicI64::new(0));
    let sampler = {
        let (peak, c, name) = (peak.clone(), db.client().await, db.name().to_string());
        tokio::spawn(async move {
            loop {
                let n: i64 = c
                    .query_one(
                        "select count(*) from pg_stat_activity where datname = $1 and application_name = 'execbox api'",
                        &[&name],
                    )
                    .await
                    .unwrap()
                    .get(0);
                peak.fetch_max(n, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    let token = user_token(user);
    let started = Instant::now();
    let answers = futures::future::join_all((0..N).map(|i| {
        let (api, token) = (&api, &token);
        async move {
            let body = json!({"language": "python", "version": "*", "files": [{"content": format!("print({i})")}]});
            (i, post(api, "/api/v2/execute", Some(token), body).await)
        }
    }))
    .await;
    let elapsed = started.elapsed();
    sampler.abort();
    let peak = peak.load(Ordering::Relaxed);
    eprintln!("{N} executes in {elapsed:?}; the node held at most {peak} database connections");

    for (i, (status, v)) in answers {
        assert_eq!(status, 200, "request {i}: {v}");
        assert_eq!(v["run"]["stdout"].as_str(), Some(format!("{i}\n").as_str()), "request {i}: {v}");
    }
    assert!(peak > 0, "the sampler saw the node's connections");
    assert!(peak <= 20, "the node held {peak} connections at the peak");
    // Nobody waits any more: nothing is followed, and the pool is all that
    // is left open.
    let c = db.client().await;
    assert!(connections(&db, &c, "execbox api").await <= 17);
    api.stop().await;
    w.stop().await.unwrap();
}

/// Two API nodes on one database hold one user to one limit: the rate
/// (sessions per minute) and the sessions pending at once, whichever node
/// each request reaches.
#[tokio::test]
async fn two_nodes_hold_one_user_to_one_limit() {
    let db = TestDb::new().await;
    let node = |rate: u32, active: i64| {
        let mut cfg = api_config(&db);
        cfg.api.rate_limit_per_minute = rate;
        cfg.api.max_active_sessions_per_user = active;
        cfg
    };
    let req = json!({"code": "print(1)", "language": "python"});

    // Three a minute: two on one node, one on the other, then neither.
    let (a, b) = (Api::start(node(3, 100), false).await, Api::start(node(3, 100), false).await);
    let token = user_token(db.user().await);
    for (i, api) in [&a, &b, &a].into_iter().enumerate() {
        let (status, v) = post(api, "/api/run-backend", Some(&token), req.clone()).await;
        assert_eq!(status, 200, "request {i}: {v}");
    }
    for api in [&b, &a] {
        let (status, v) = post(api, "/api/run-backend", Some(&token), req.clone()).await;
        assert_eq!(status, 429, "{v}");
        assert!(v["message"].as_str().unwrap().contains("per minute"), "{v}");
    }
    // Another user has a bucket of their own.
    let (status, v) = post(&b, "/api/run-backend", Some(&user_token(db.user().await)), req.clone()).await;
    assert_eq!(status, 200, "{v}");
    a.stop().await;
    b.stop().await;

    // Two pending at once (no worker runs them), across both nodes.
    let (a, b) = (Api::start(node(100, 2), false).await, Api::start(node(100, 2), false).await);
    let token = user_token(db.user().await);
    assert_eq!(post(&a, "/api/run-backend", Some(&token), req.clone()).await.0, 200);
    assert_eq!(post(&b, "/api/run-backend", Some(&token), req.clone()).await.0, 200);
    for api in [&a, &b] {
        let (status, v) = post(api, "/api/run-backend", Some(&token), req.clone()).await;
        assert_eq!(status, 429, "{v}");
        assert!(v["message"].as_str().unwrap().contains("pending or running"), "{v}");
    }
    a.stop().await;
    b.stop().await;
}

/// A worker claims only the runtimes its engine has images for; a session
/// nobody can run waits, and `/health` and `/api/v2/runtimes` say so, until
/// a worker that can run it arrives.
#[tokio::test]
async fn workers_claim_only_the_runtimes_they_have_images_for() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let api = Api::start(api_config(&db), false).await;

    // Worker B's table names an image its engine lacks for Python (and PyPy).
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("runtimes.toml");
    let builtin = include_str!("../../runtimes.toml");
    assert!(builtin.contains("\"execbox/python:3.11\""));
    std::fs::write(&table, builtin.replace("\"execbox/python:3.11\"", "\"execbox/absent:0\"")).unwrap();
    let mut cfg = db.config();
    cfg.worker.id = "worker-without-python".into();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let b = tokio::spawn(execbox::worker::run(
        Arc::new(cfg.finish().unwrap()),
        Arc::new(execbox::runtimes::Runtimes::load(Some(&table)).unwrap()),
        shutdown.clone(),
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        let (status, v) = crate::api::get(&api, "/health", None).await;
        if status == 200 {
            break v;
        }
        assert!(Instant::now() < deadline, "worker B never became live: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(health["docker"]["runtimes_without_worker"], json!(["python", "pypy3"]), "{health}");
    let listed = |v: &serde_json::Value, l: &str| v.as_array().unwrap().iter().any(|r| r["language"] == l);
    let (_, runtimes) = crate::api::get(&api, "/api/v2/runtimes", None).await;
    assert!(listed(&runtimes, "bash") && !listed(&runtimes, "python"), "{runtimes}");

    let py = db.submit(user, "py", "print('from A')").await;
    let sh = db.submit(user, "bash", "echo from B").await;
    assert_eq!(db.wait_done(sh, Duration::from_secs(60)).await.status, "completed");
    let claimed_by = |id| {
        let db = &db;
        async move {
            let c = db.client().await;
            let r =
                c.query_one("select claimed_by from backend_execution_sessions where id = $1", &[&id]).await.unwrap();
            r.get::<_, Option<String>>(0)
        }
    };
    assert_eq!(claimed_by(sh).await.as_deref(), Some("worker-without-python"));
    // Python waits: B polls and is woken, and never takes it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(db.session(py).await.status, "pending");

    // A worker with every image arrives and runs it.
    let a = db.worker_with(|c| c.worker.id = "worker-with-everything".into());
    let s = db.wait_done(py, Duration::from_secs(60)).await;
    assert_eq!(s.status, "completed", "{s:?}");
    assert_eq!(db.stdout(py).await, ["from A"]);
    assert_eq!(claimed_by(py).await.as_deref(), Some("worker-with-everything"));
    let (_, health) = crate::api::get(&api, "/health", None).await;
    assert_eq!(health["docker"]["runtimes_without_worker"], json!([]), "{health}");
    let (_, runtimes) = crate::api::get(&api, "/api/v2/runtimes", None).await;
    assert!(listed(&runtimes, "python"), "{runtimes}");

    a.stop().await.unwrap();
    shutdown.cancel();
    b.await.unwrap().unwrap();
    api.stop().await;
}
