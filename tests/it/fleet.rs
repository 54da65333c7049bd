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
    // Requests at once, on both nodes, cannot overshoot it: each is decided
    // after the one before it committed its session.
    let token = user_token(db.user().await);
    let at_once = futures::future::join_all((0..12).map(|i| {
        let (api, token, req) = (if i % 2 == 0 { &a } else { &b }, &token, req.clone());
        async move { post(api, "/api/run-backend", Some(token), req).await.0 }
    }))
    .await;
    assert_eq!(at_once.iter().filter(|s| **s == 200).count(), 2, "{at_once:?}");
    assert!(at_once.iter().all(|s| *s == 200 || *s == 429), "{at_once:?}");
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

    let b = worker_with_python_image(&db, "execbox/absent:0", |c| c.worker.id = "worker-without-python".into());
    let health = eventually("worker B live on /health", Duration::from_secs(30), || async {
        let (status, v) = crate::api::get(&api, "/health", None).await;
        (status == 200).then_some(v)
    })
    .await;
    assert_eq!(health["docker"]["runtimes_without_worker"], json!(["python", "pypy3"]), "{health}");
    let listed = |v: &serde_json::Value, l: &str| v.as_array().unwrap().iter().any(|r| r["language"] == l);
    let (_, runtimes) = crate::api::get(&api, "/api/v2/runtimes", None).await;
    assert!(listed(&runtimes, "bash") && !listed(&runtimes, "python"), "{runtimes}");

    let py = db.submit(user, "py", "print('from A')").await;
    let sh = db.submit(user, "bash", "echo from B").await;
    assert_eq!(db.wait_done(sh, Duration::from_secs(60)).await.status, SessionStatus::Completed);
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
    // Python waits: B claimed the younger bash session past it, and looks
    // again and finds nothing it can take.
    b.claim_pass(ClaimPass::NothingClaimable).await;
    assert_eq!(db.session(py).await.status, SessionStatus::Pending);

    // A worker with every image arrives and runs it.
    let a = db.worker_with(|c| c.worker.id = "worker-with-everything".into());
    let s = db.wait_done(py, Duration::from_secs(60)).await;
    assert_eq!(s.status, SessionStatus::Completed, "{s:?}");
    assert_eq!(db.stdout(py).await, ["from A"]);
    assert_eq!(claimed_by(py).await.as_deref(), Some("worker-with-everything"));
    let (_, health) = crate::api::get(&api, "/health", None).await;
    assert_eq!(health["docker"]["runtimes_without_worker"], json!([]), "{health}");
    let (_, runtimes) = crate::api::get(&api, "/api/v2/runtimes", None).await;
    assert!(listed(&runtimes, "python"), "{runtimes}");

    a.stop().await.unwrap();
    b.stop().await.unwrap();
    api.stop().await;
}

/// A session no live worker can run — its image is built on none — ends
/// `error` / `image_missing` with the command that builds it, once it has
/// waited `EXECBOX_UNRUNNABLE_AFTER_MS` (a checker's language counts too).
#[tokio::test]
async fn a_session_no_live_worker_can_run_ends_with_the_build_command() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let b = worker_with_python_image(&db, "execbox/absent:0", |c| {
        c.worker.id = "worker-without-python".into();
        c.worker.unrunnable_after_ms = 1_500;
    });
    let py = db.submit(user, "py", "print('never')").await;
    let checked = db
        .insert(
            user,
            &execbox::model::Request {
                language: "bash".into(),
                code: "read a; echo $a".into(),
                mode: execbox::model::Mode::Cases,
                cases: Some(json!([{"stdin": "1\n", "expected_output": "1\n"}])),
                checker: Some(execbox::model::Checker::Program),
                checker_code: Some("import sys".into()),
                checker_language: Some("python3".into()),
                ..Default::default()
            },
        )
        .await;
    for id in [py, checked] {
        let s = db.wait_done(id, Duration::from_secs(30)).await;
        assert_eq!((s.status, s.end_reason), (SessionStatus::Error, Some(EndReason::ImageMissing)), "{s:?}");
        let error = s.error.unwrap();
        assert!(error.contains("`execbox images build python`"), "{error}");
        let logs = db.logs(id).await;
        assert_eq!(logs.len(), 1, "{logs:?}");
        assert_eq!((logs[0].seq, logs[0].stream), (1, Stream::System));
        assert!(logs[0].message.contains(&error), "{logs:?}");
        // Not before the wait, by the database's clock.
        let waited: bool = db
            .client()
            .await
            .query_one(
                "select finished_at - created_at >= interval '1500 milliseconds'
                 from backend_execution_sessions where id = $1",
                &[&id],
            )
            .await
            .unwrap()
            .get(0);
        assert!(waited, "{id} ended before it waited unrunnable_after_ms");
    }
    // What it can run, it runs.
    let sh = db.submit(user, "bash", "echo still here").await;
    assert_eq!(db.wait_done(sh, Duration::from_secs(60)).await.status, SessionStatus::Completed);
    b.stop().await.unwrap();
}

/// The second Docker engine scripts/test.sh starts beside the first (its
/// own data root, socket and no bridge; Python's image only).
fn second_engine() -> String {
    std::env::var("EXECBOX_TEST_DOCKER2").unwrap_or_else(|_| "unix:///run/execbox-docker2.sock".into())
}

fn docker2(args: &[&str]) -> std::process::Output {
    let host = second_engine();
    let out =
        std::process::Command::new("docker").arg("-H").arg(&host).args(args).output().expect("the docker CLI runs");
    assert!(
        out.status.success(),
        "docker -H {host} {args:?}: {} (scripts/test.sh starts the second engine: ensure_docker2 in scripts/lib.sh)",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

async fn claimed_by(db: &TestDb, id: uuid::Uuid) -> Option<String> {
    let c = db.client().await;
    c.query_one("select claimed_by from backend_execution_sessions where id = $1", &[&id]).await.unwrap().get(0)
}

/// Two workers on two Docker engines of one machine, as two hosts: sessions
/// spread over both; each reaps only its own engine's containers; the one
/// whose engine lacks an image never claims that language; when one
/// engine's daemon dies, that worker's running session ends `error` within
/// the lease and the other keeps serving.
#[tokio::test]
async fn two_engines_share_the_sessions_and_survive_one_dying() {
    let _cpu = every_language().await;
    let _engine = ENGINE_TWO.lock().await;
    docker2(&["info"]);
    let db = TestDb::new().await;
    let user = db.user().await;
    let one = |c: &mut execbox::config::Config| {
        c.worker.id = "engine-one".into();
        c.worker.max_concurrent_runs = 2;
    };
    let two = |c: &mut execbox::config::Config| {
        c.worker.id = "engine-two".into();
        c.docker_host = second_engine();
        c.worker.max_concurrent_runs = 2;
    };
    let a = db.worker_with(one);
    let b = db.worker_with(two);
    // Both live, each saying what its engine can run.
    let c = db.client().await;
    let rows = eventually("both workers live, each with its runtimes", Duration::from_secs(30), || async {
        let rows = c
            .query("select id, runtimes from execbox_workers where runtimes is not null order by id", &[])
            .await
            .unwrap();
        (rows.len() == 2).then_some(rows)
    })
    .await;
    let two_has: Vec<String> = rows[1].get(1);
    assert_eq!(two_has, ["python", "pypy3"], "the second engine has Python's image only");

    // Sessions spread over both engines.
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(db.submit(user, "python", &format!("import time\ntime.sleep(0.3)\nprint({i})")).await);
    }
    let mut by = std::collections::HashMap::<String, usize>::new();
    for (i, id) in ids.iter().enumerate() {
        let s = db.wait_done(*id, Duration::from_secs(120)).await;
        assert_eq!(s.status, SessionStatus::Completed, "{s:?}");
        assert_eq!(db.stdout(*id).await, [i.to_string()]);
        *by.entry(claimed_by(&db, *id).await.unwrap()).or_default() += 1;
    }
    assert!(by.get("engine-one").is_some_and(|n| *n > 0) && by.get("engine-two").is_some_and(|n| *n > 0), "{by:?}");
    // Bash's image is on the first engine only: the second never claims it.
    for _ in 0..3 {
        let id = db.submit(user, "bash", "echo one").await;
        assert_eq!(db.wait_done(id, Duration::from_secs(60)).await.status, SessionStatus::Completed);
        assert_eq!(claimed_by(&db, id).await.as_deref(), Some("engine-one"));
    }

    // Each worker reaps its own engine: a container left on the second
    // engine by a session no longer live there is removed by its worker
    // (the first cannot even see it).
    let scope: String = c
        .query_one("select current_database() || '@' || (select system_identifier::text from pg_control_system())", &[])
        .await
        .unwrap()
        .get(0);
    let finished = ids[0];
    let leftover = String::from_utf8(
        docker2(&[
            "create",
            "--network",
            "none",
            "--label",
            "execbox.managed=true",
            "--label",
            &format!("execbox.scope={scope}"),
            "--label",
            &format!("execbox.session_id={finished}"),
            "--label",
            "execbox.attempt=1",
            "--label",
            "execbox.worker_id=engine-two",
            "execbox/python:3.11",
            "true",
        ])
        .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    eventually(&format!("the second engine's worker reaps {leftover}"), Duration::from_secs(30), || async {
        let out = docker2(&["ps", "-aq", "--no-trunc", "--filter", &format!("id={leftover}")]);
        out.stdout.iter().all(u8::is_ascii_whitespace).then_some(())
    })
    .await;

    // The second engine's daemon dies while its worker runs a session, and
    // the first worker keeps serving throughout. Its two slots busy with
    // bash (which only it runs), the long Python session goes to the second.
    let busy: Vec<_> =
        futures::future::join_all((0..2).map(|_| db.submit(user, "bash", "echo busy; sleep 8; echo done"))).await;
    for id in &busy {
        db.wait_output(*id, Duration::from_secs(60)).await;
    }
    let long = db.submit(user, "python", "import time\nprint('started', flush=True)\ntime.sleep(60)").await;
    db.wait_output(long, Duration::from_secs(60)).await;
    assert_eq!(claimed_by(&db, long).await.as_deref(), Some("engine-two"));
    let pid = docker2_pid();
    let revive = Revive;
    let killed = std::process::Command::new("kill").args(["-9", &pid]).status().unwrap();
    assert!(killed.success());
    let s = db.wait_done(long, Duration::from_secs(60)).await;
    // Ended by its own worker (the lease's rescue would say `worker_lost`).
    assert_eq!(
        (s.status, s.end_reason),
        (SessionStatus::Error, Some(EndReason::Infrastructure)),
        "{s:?} {:?}",
        db.logs(long).await
    );
    // The first engine's worker finished its own and serves the next; the
    // second claims nothing.
    for id in &busy {
        assert_eq!(db.wait_done(*id, Duration::from_secs(60)).await.status, SessionStatus::Completed);
        assert_eq!(db.stdout(*id).await, ["busy", "done"]);
    }
    let id = db.submit(user, "python", "print('still served')").await;
    assert_eq!(db.wait_done(id, Duration::from_secs(60)).await.status, SessionStatus::Completed);
    assert_eq!(claimed_by(&db, id).await.as_deref(), Some("engine-one"));

    a.stop().await.unwrap();
    b.stop().await.unwrap();
    drop(revive);
    docker2(&["info"]);
}

/// Tests that stop or kill the second engine's daemon take turns.
static ENGINE_TWO: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The second engine's daemon process.
fn docker2_pid() -> String {
    let root = std::env::var("EXECBOX_DOCKER2_ROOT").unwrap_or_else(|_| "/var/lib/execbox-docker2".into());
    std::fs::read_to_string(format!("{root}/dockerd.pid")).expect("the second dockerd's pidfile").trim().to_string()
}

/// A daemon that accepts connections and never answers (stopped, not
/// dead): the session a worker claims ends `error` / `infrastructure`
/// within the worker's call limit, and the worker claims nothing more while
/// its engine does not answer; once it answers again, sessions are served.
#[tokio::test]
async fn a_stalled_engine_ends_its_session_within_the_call_limit() {
    let _engine = ENGINE_TWO.lock().await;
    docker2(&["info"]);
    let db = TestDb::new().await;
    let user = db.user().await;
    let stalled = |c: &mut execbox::config::Config| {
        c.worker.id = "stalled".into();
        c.docker_host = second_engine();
        c.worker.docker_call_timeout_ms = 2_000;
        // Only notifications wake it: a poll's ping must not find the stall
        // before the session is claimed.
        c.worker.poll_interval_ms = 600_000;
    };
    let w = db.worker_with(stalled);
    let first = db.submit(user, "python", "print('before')").await;
    assert_eq!(db.wait_done(first, Duration::from_secs(60)).await.status, SessionStatus::Completed);

    let resume = Resume(docker2_pid());
    let stopped = std::process::Command::new("kill").args(["-STOP", &resume.0]).status().unwrap();
    assert!(stopped.success());
    let before = w.claims_begun();
    let id = db.submit(user, "python", "print('never')").await;
    let s = db.wait_done(id, Duration::from_secs(30)).await;
    assert_eq!((s.status, s.end_reason), (SessionStatus::Error, Some(EndReason::Infrastructure)), "{s:?}");
    // Ended by the call limit set here (the default is longer).
    assert!(s.error.as_deref().unwrap_or("").contains("did not answer a"), "{s:?}");
    assert!(s.error.as_deref().unwrap_or("").contains("call within 2s"), "{s:?}");
    // The engine is suspect now: once the run's end was seen, the worker's
    // next look (the insert wakes it; nothing else does) claims nothing, and
    // the session waits for a worker whose engine answers.
    w.claim_pass_since(before, ClaimPass::EngineNotOk).await;
    let seen = w.claims_begun();
    let waiting = db.submit(user, "python", "print('served later')").await;
    w.claim_pass_since(seen, ClaimPass::EngineNotOk).await;
    assert_eq!(db.session(waiting).await.status, SessionStatus::Pending);

    drop(resume);
    w.stop().await.unwrap();
    // The same engine, answering again, serves what waited.
    let w = db.worker_with(|c| {
        c.worker.id = "resumed".into();
        c.docker_host = second_engine();
    });
    let s = db.wait_done(waiting, Duration::from_secs(60)).await;
    assert_eq!(s.status, SessionStatus::Completed, "{s:?}");
    assert_eq!(db.stdout(waiting).await, ["served later"]);
    w.stop().await.unwrap();
}

/// Lets the second engine's daemon go on when dropped (the test stops it).
struct Resume(String);

impl Drop for Resume {
    fn drop(&mut self) {
        if !std::process::Command::new("kill").args(["-CONT", &self.0]).status().is_ok_and(|s| s.success()) {
            eprintln!("the second dockerd ({}) was not resumed", self.0);
        }
    }
}

/// Starts the second engine's daemon again when dropped (the test kills
/// it; the next test run needs it, whether this one passed or not).
struct Revive;

impl Drop for Revive {
    fn drop(&mut self) {
        let back = std::process::Command::new("bash")
            .args(["-c", "source scripts/lib.sh && ensure_docker2"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status();
        if !back.is_ok_and(|s| s.success()) {
            eprintln!("the second dockerd did not come back (scripts/lib.sh: ensure_docker2)");
        }
    }
}
