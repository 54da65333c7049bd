//! Every address Supabase gives: direct, a session pooler and a transaction
//! pooler (a real PgBouncer of each mode, `pooler.rs`). A worker and a
//! `serve --no-worker` node run as processes, as a deployment runs them,
//! with their logs captured: through the transaction pooler, with other
//! clients on it, every session and every synchronous execute completes
//! with its own output, no statement fails for want of its prepared
//! statement, and each process says once that it polls; through the session
//! pooler and directly, LISTEN works and nothing is said. `execbox doctor`
//! names each address.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;
use uuid::Uuid;

use crate::api::{body, http, user_token, SECRET};
use crate::pooler::{pooler, PoolMode};
use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_execbox");
const T: Duration = Duration::from_secs(180);

/// What the processes say when notifications do not arrive.
const POLLING_NOTICE: &str = "notifications do not arrive on this database address";

/// An execbox process (`worker`, `serve --no-worker`, ...) whose log is kept.
struct Proc {
    child: tokio::process::Child,
    log: Arc<Mutex<String>>,
}

impl Proc {
    fn spawn(args: &[&str], database_url: &str, env: &[(&str, &str)]) -> Proc {
        let mut child = tokio::process::Command::new(BIN)
            .args(args)
            .env("DATABASE_URL", database_url)
            .env("EXECBOX_LOG", "info,tokio_postgres=warn")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        Proc { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// SIGTERM, then its whole log once it has exited.
    async fn stop(mut self) -> String {
        let pid = self.child.id().unwrap().to_string();
        std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let exited = tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await;
        assert!(exited.is_ok(), "{pid} did not stop on SIGTERM:\n{}", self.log());
        // The reader has the last lines once the pipe closed.
        eventually("the log's end", Duration::from_secs(5), || async {
            Some(()).filter(|_| Arc::strong_count(&self.log) == 1)
        })
        .await;
        self.log()
    }
}

/// Other clients on the same pooler: transactions and single statements in
/// a loop, so that server connections change hands between every
/// transaction of execbox's.
struct Neighbours(tokio_util::sync::CancellationToken);

impl Neighbours {
    async fn start(url: &str, n: usize) -> Neighbours {
        let stop = tokio_util::sync::CancellationToken::new();
        for i in 0..n {
            let client = connect(url).await;
            let stop = stop.clone();
            tokio::spawn(async move {
                while !stop.is_cancelled() {
                    let sql = if i % 2 == 0 {
                        "begin; select pg_sleep(0.003); select count(*) from pg_class; commit;"
                    } else {
                        "select pg_sleep(0.002)"
                    };
                    if client.simple_query(sql).await.is_err() {
                        break;
                    }
                }
            });
        }
        Neighbours(stop)
    }
}

impl Drop for Neighbours {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// What an API node answers at /health, once it answers.
async fn health(base: &str) -> Value {
    eventually("the API answers /health", Duration::from_secs(60), || async {
        let resp = http().get(format!("{base}/health")).send().await.ok()?;
        let v: Value = resp.json().await.ok()?;
        // A worker is live once its presence row is there.
        Some(v).filter(|v| v["status"] == "ok" && v["database"]["wakeups"] != "unknown")
    })
    .await
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `n` sessions inserted as a frontend does, each printing its own line,
/// all completed with exactly that line.
async fn sessions_complete(db: &TestDb, user: Uuid, n: usize) {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push((i, db.submit(user, "python", &format!("print('session {i}')")).await));
    }
    for (i, id) in ids {
        let s = db.wait_done(id, T).await;
        assert_eq!((s.status, s.error.as_deref()), (SessionStatus::Completed, None), "session {i}");
        assert_eq!(db.stdout(id).await, [format!("session {i}")], "session {i}");
    }
}

/// `n` Piston executes at once, each with its own output.
async fn executes_complete(base: &str, token: &str, n: usize, api: &Proc) {
    let calls = (0..n).map(|i| async move {
        let resp = http()
            .post(format!("{base}/api/v2/execute"))
            .bearer_auth(token)
            .json(
                &json!({"language": "python", "version": "*", "files": [{"content": format!("print('execute {i}')")}]}),
            )
            .send()
            .await
            .unwrap();
        (i, body(resp).await)
    });
    for (i, (status, v)) in futures::future::join_all(calls).await {
        assert_eq!(status, 200, "execute {i}: {v}; the API's log:\n{}", api.log());
        assert_eq!(
            (v["run"]["stdout"].as_str(), v["run"]["code"].as_i64()),
            (Some(&*format!("execute {i}\n")), Some(0)),
            "{v}"
        );
    }
}

/// The seed's way: POST /api/run-backend, then its log socket to the end.
async fn seed_socket_completes(base: &str, token: &str) {
    let (status, v) = body(
        http()
            .post(format!("{base}/api/run-backend"))
            .bearer_auth(token)
            .json(&json!({"code": "import time\nfor i in range(3):\n    print(f'line {i}', flush=True)\n    time.sleep(0.2)", "language": "python"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let id = v["sessionId"].as_str().unwrap();
    let url = format!("{}/api/run-backend/ws/{id}?access_token={token}", base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let (msgs, _) = crate::api::read_until(&mut ws, |m| m["type"] == "execution_complete").await;
    drop(ws);
    let logs: Vec<&str> = msgs.iter().filter(|m| m["type"] == "log").filter_map(|m| m["message"].as_str()).collect();
    assert_eq!(logs, ["line 0", "line 1", "line 2"], "{msgs:?}");
    assert_eq!(msgs.last().unwrap()["status"], "completed");
}

/// Where a connection goes: the direct address, or a pooler's.
type Through<'a> = &'a dyn Fn(&str) -> String;

/// A worker and an API node (each as its own login role) through `through`:
/// `n` sessions, `n` executes and a log socket; their logs and the node's
/// /health.
async fn serve_through(db: &TestDb, through: Through<'_>, n: usize) -> (String, String, Value) {
    let user = db.user().await;
    let n_str = n.to_string();
    let limits = [
        ("EXECBOX_MAX_ACTIVE_SESSIONS_PER_USER", n_str.as_str()),
        ("EXECBOX_RATE_LIMIT_PER_MINUTE", "10000"),
        ("SUPABASE_JWT_SECRET", SECRET),
    ];
    let worker = Proc::spawn(&["worker"], &through(&db.worker_url()), &[("EXECBOX_MAX_CONCURRENT_RUNS", "4")]);
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let mut env = limits.to_vec();
    env.push(("EXECBOX_LISTEN", &listen));
    let api = Proc::spawn(&["serve", "--no-worker"], &through(&db.api_url()), &env);
    let base = format!("http://{listen}");
    let health = health(&base).await;

    sessions_complete(db, user, n).await;
    let token = user_token(user);
    executes_complete(&base, &token, n, &api).await;
    seed_socket_completes(&base, &token).await;
    (worker.stop().await, api.stop().await, health)
}

fn assert_no_prepared_statement_error(what: &str, log: &str) {
    assert!(!log.contains("prepared statement"), "{what} lost a prepared statement:\n{log}");
}

#[tokio::test]
async fn through_a_transaction_pooler_with_neighbours_everything_completes_and_polling_is_said_once() {
    let db = TestDb::new().await;
    let p = pooler(PoolMode::Transaction);
    let _neighbours = Neighbours::start(&p.url_for(&db.url), 6).await;
    let (worker, api, health) = serve_through(&db, &|u| p.url_for(u), 30).await;
    for (what, log) in [("the worker", &worker), ("the API node", &api)] {
        assert_no_prepared_statement_error(what, log);
        assert_eq!(log.matches(POLLING_NOTICE).count(), 1, "{what} says once that it polls:\n{log}");
        assert!(log.contains("session pooler"), "the notice names the fix:\n{log}");
    }
    assert_eq!(health["database"]["wakeups"], "polling", "{health}");
    assert_eq!(health["database"]["statements"], "unnamed", "{health}");
}

#[tokio::test]
async fn through_a_transaction_pooler_a_cancel_arrives_by_polling() {
    let db = TestDb::new().await;
    let url = pooler(PoolMode::Transaction).url_for(&db.worker_url());
    let worker =
        Proc::spawn(&["worker"], &url, &[("EXECBOX_HEARTBEAT_INTERVAL_MS", "30000"), ("EXECBOX_LEASE_MS", "90000")]);
    let user = db.user().await;
    let id = db.submit(user, "python", "import time\nprint('waiting', flush=True)\ntime.sleep(600)").await;
    db.wait_output(id, T).await;
    db.cancel_as(user, id).await;
    // The heartbeat (which also notices cancels) is 30 s away: only the
    // quick poll can end it within 20 s.
    let s = db.wait_done(id, Duration::from_secs(20)).await;
    assert_eq!((s.status, s.end_reason), (SessionStatus::Cancelled, Some(EndReason::Cancelled)));
    let log = worker.stop().await;
    assert_no_prepared_statement_error("the worker", &log);
}

#[tokio::test]
async fn through_a_session_pooler_and_directly_listen_works_and_nothing_is_said() {
    for direct in [false, true] {
        let db = TestDb::new().await;
        let p = pooler(PoolMode::Session);
        let through = |u: &str| if direct { u.to_string() } else { p.url_for(u) };
        let (worker, api, health) = serve_through(&db, &through, 5).await;
        for (what, log) in [("the worker", &worker), ("the API node", &api)] {
            assert!(!log.contains(POLLING_NOTICE), "{what} (direct: {direct}) must not poll:\n{log}");
            assert_no_prepared_statement_error(what, log);
        }
        assert_eq!(health["database"]["wakeups"], "listen", "direct: {direct}: {health}");
        // No transaction pooler in between: statements are prepared once.
        assert_eq!(health["database"]["statements"], "prepared", "direct: {direct}: {health}");
    }
}

/// `execbox doctor --for api` on `url` (`--for serve` with
/// `EXECBOX_DOCTOR_FOR` in `env`): its exit status and the line of `topic`.
async fn doctor(url: &str, env: &[(&str, &str)], topic: &str) -> (i32, String, String) {
    let serving = env.iter().find(|(k, _)| *k == "EXECBOX_DOCTOR_FOR").map_or("api", |(_, v)| *v);
    let out = tokio::process::Command::new(BIN)
        .args(["doctor", "--for", serving])
        .env("DATABASE_URL", url)
        .env_remove("SUPABASE_URL")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(topic))
        .unwrap_or_else(|| panic!("no {topic} line in:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr)))
        .to_string();
    (out.status.code().unwrap_or(-1), line, stdout)
}

#[tokio::test]
async fn doctor_names_every_address() {
    let db = TestDb::new().await;
    let session = pooler(PoolMode::Session).url_for(&db.url);
    let transaction = pooler(PoolMode::Transaction).url_for(&db.url);
    let (code, line, all) = doctor(&db.url, &[], "address").await;
    assert!(line.starts_with("ok") && line.contains("the direct address"), "{all}");
    assert_eq!(code, 0, "nothing blocks on the direct address:\n{all}");
    let (code, line, all) = doctor(&session, &[], "address").await;
    assert!(line.starts_with("ok") && line.contains("a session pooler"), "{all}");
    assert_eq!(code, 0, "{all}");
    let (code, line, all) = doctor(&transaction, &[], "address").await;
    assert!(line.starts_with("warn") && line.contains("a transaction pooler"), "{all}");
    assert_eq!(code, 0, "execbox serves through it, polling:\n{all}");
    // Prepared statements cannot work there: that blocks.
    let (code, line, all) = doctor(&transaction, &[("EXECBOX_DB_STATEMENTS", "prepared")], "address").await;
    assert!(line.starts_with("FAIL") && line.contains("EXECBOX_DB_STATEMENTS=prepared"), "{all}");
    assert_eq!(code, 1, "{all}");
    // Every other line is there too.
    for topic in ["server", "schema", "auth", "realtime", "role"] {
        assert!(all.lines().any(|l| l.split_whitespace().nth(1) == Some(topic)), "no {topic} line:\n{all}");
    }
}

#[tokio::test]
async fn doctor_tells_the_poolers_apart_without_their_admin_console() {
    // A login role the pooler does not take as an admin: only the NOTIFY
    // round trip and the server process's reuse tell the modes apart.
    let db = TestDb::new().await;
    let admin = connect(&db.url).await;
    admin
        .batch_execute(&format!(
            "do $$ begin create role {0} login; exception when duplicate_object then null; end $$;",
            crate::pooler::PLAIN_USER
        ))
        .await
        .unwrap();
    let as_plain = |url: String| url.replacen("postgres@", &format!("{}@", crate::pooler::PLAIN_USER), 1);
    let session = as_plain(pooler(PoolMode::Session).url_for(&db.url));
    let transaction = as_plain(pooler(PoolMode::Transaction).url_for(&db.url));
    let (_, line, all) = doctor(&session, &[], "address").await;
    assert!(line.contains("a session pooler") && !line.contains("admin console"), "{all}");
    let (_, line, all) = doctor(&transaction, &[], "address").await;
    assert!(line.contains("a transaction pooler") && line.contains("NOTIFY"), "{all}");
    // What this role lacks is named, and blocks.
    let (code, line, all) = doctor(&as_plain(db.url.clone()), &[("EXECBOX_DOCTOR_FOR", "serve")], "address").await;
    assert!(line.contains("the direct address"), "{all}");
    assert_eq!(code, 1, "a role without execbox's grants cannot serve:\n{all}");
    assert!(all.contains("the worker needs SELECT on public.backend_execution_sessions"), "{all}");
}

#[tokio::test]
async fn doctor_finds_the_suites_roles_enough_for_their_processes() {
    let db = TestDb::new().await;
    for (url, serving) in [(db.worker_url(), "worker"), (db.api_url(), "api")] {
        let (code, _, all) = doctor(&url, &[("EXECBOX_DOCTOR_FOR", serving)], "role").await;
        assert_eq!(code, 0, "{serving}:\n{all}");
        let role_lines: Vec<&str> = all.lines().filter(|l| l.split_whitespace().nth(1) == Some("role")).collect();
        assert!(role_lines.iter().all(|l| l.starts_with("ok")), "{serving}:\n{all}");
        let name = if serving == "worker" { WORKER_ROLE } else { API_ROLE };
        assert!(all.contains(&format!("connected as {name}")), "{all}");
        assert!(!all.lines().any(|l| l.starts_with("FAIL")), "{all}");
    }
    // A worker's role cannot serve as an API node: it may not act as a user.
    let (code, _, all) = doctor(&db.worker_url(), &[("EXECBOX_DOCTOR_FOR", "api")], "role").await;
    assert_eq!(code, 1, "{all}");
    assert!(all.contains("cannot act as authenticated"), "{all}");
}
