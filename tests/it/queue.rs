//! The queue's promises: exactly once across workers, rescue after a crash,
//! cancel, graceful shutdown.

use std::collections::HashMap;
use std::time::Duration;

use uuid::Uuid;

use crate::support::*;

const T: Duration = Duration::from_secs(120);

#[tokio::test]
async fn three_workers_run_100_sessions_exactly_once() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let workers: Vec<Worker> = (0..3)
        .map(|i| {
            db.worker_with(move |c| {
                c.worker.id = format!("racer-{i}");
                c.worker.max_concurrent_runs = 4;
            })
        })
        .collect();
    let mut ids = Vec::new();
    for i in 0..100 {
        ids.push(db.submit(user, "python", &format!("print('run {i}')")).await);
    }
    for (i, id) in ids.iter().enumerate() {
        let s = db.wait_done(*id, T).await;
        assert_eq!(s.status, SessionStatus::Completed, "{s:?}");
        assert_eq!(s.attempt, 1, "claimed more than once");
        assert_eq!(db.stdout(*id).await, [format!("run {i}")]);
    }
    let c = db.client().await;
    let per_session: Vec<(Uuid, i64)> = c
        .query("select session_id, count(*) from container_instances group by 1", &[])
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(per_session.len(), 100);
    assert!(per_session.iter().all(|(_, n)| *n == 1), "a session ran in two containers");
    let by_worker: HashMap<String, i64> = c
        .query("select claimed_by, count(*) from backend_execution_sessions group by 1", &[])
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(by_worker.values().sum::<i64>(), 100);
    assert!(by_worker.len() >= 2, "work was not shared: {by_worker:?}");
    for w in workers {
        w.stop().await.unwrap();
    }
}

#[tokio::test]
async fn a_worker_killed_mid_run_leaves_nothing_stuck() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_execbox"))
        .arg("worker")
        .env("DATABASE_URL", db.worker_url())
        .env("EXECBOX_LEASE_MS", "2000")
        .env("EXECBOX_HEARTBEAT_INTERVAL_MS", "500")
        .env("EXECBOX_POLL_INTERVAL_MS", "500")
        .env("EXECBOX_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let id = db.submit(user, "python", "import time\nprint('started', flush=True)\ntime.sleep(120)").await;
    // Wait until the program really runs in a container.
    db.wait_output(id, T).await;
    assert_eq!(containers_of(id).await.len(), 1);
    let pid = child.id().unwrap() as i32;
    std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    child.wait().await.unwrap();
    assert_eq!(db.session(id).await.status, SessionStatus::Running, "nobody has noticed yet");

    // A worker starts (a restart, or any other worker on this host).
    let w = db.worker_with(|c| c.worker.lease_ms = 2000);
    let s = db.wait_done(id, Duration::from_secs(30)).await;
    assert_eq!((s.status, s.end_reason), (SessionStatus::Error, Some(EndReason::WorkerLost)));
    assert!(s.error.unwrap().contains("stopped responding"));
    let logs = db.logs(id).await;
    assert_eq!(logs.last().unwrap().stream, Stream::System);
    assert_eq!(logs.iter().map(|l| l.seq).collect::<Vec<_>>(), (1..=logs.len() as i32).collect::<Vec<_>>());
    // The orphan container is reaped.
    wait_no_containers(id, Duration::from_secs(30)).await;
    // Not retried: the worker looks again, finds nothing to claim, and it
    // stays as it ended.
    w.claim_pass(ClaimPass::NothingClaimable).await;
    let s = db.session(id).await;
    assert_eq!((s.status, s.attempt), (SessionStatus::Error, 1));
    w.stop().await.unwrap();
}

#[tokio::test]
async fn cancel_kills_a_running_session_quickly() {
    let db = TestDb::new().await;
    let user = db.user().await;
    // A heartbeat (which also sees cancel requests) a minute apart: only
    // the NOTIFY path ends it within the wait below.
    let w = db.worker_with(|c| {
        c.worker.heartbeat_interval_ms = 60_000;
        c.worker.lease_ms = 180_000;
    });
    let id = db.submit(user, "python", "import time\nprint('waiting', flush=True)\ntime.sleep(600)").await;
    db.wait_output(id, T).await;
    // The owner cancels, as a frontend does.
    let mut c = db.client().await;
    let tx = as_user(&mut c, Some(user)).await;
    let n = tx
        .execute("update backend_execution_sessions set cancel_requested_at = now() where id = $1", &[&id])
        .await
        .unwrap();
    assert_eq!(n, 1);
    tx.commit().await.unwrap();
    let s = db.wait_done(id, Duration::from_secs(30)).await;
    assert_eq!((s.status, s.end_reason), (SessionStatus::Cancelled, Some(EndReason::Cancelled)));
    assert!(s.error.unwrap().contains("cancelled by the owner"));
    wait_no_containers(id, Duration::from_secs(10)).await;
    w.stop().await.unwrap();
}

#[tokio::test]
async fn cancel_of_a_pending_session_needs_no_worker() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let id = db.submit(user, "python", "print('never')").await;
    db.cancel_as(user, id).await;
    let s = db.session(id).await;
    assert_eq!((s.status, s.end_reason), (SessionStatus::Cancelled, Some(EndReason::Cancelled)));
    assert!(s.finished && s.cancel_requested);
    // A worker that starts now looks, and finds nothing to claim.
    let w = db.worker();
    w.claim_pass_since(0, ClaimPass::NothingClaimable).await;
    assert_eq!(db.session(id).await.status, SessionStatus::Cancelled);
    assert!(db.logs(id).await.is_empty());
    w.stop().await.unwrap();
}

#[tokio::test]
async fn graceful_shutdown_finishes_or_kills_within_the_grace_period() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker_with(|c| c.worker.shutdown_grace_ms = 3_000);
    let short = db.submit(user, "python", "import time\nprint('a', flush=True)\ntime.sleep(1)\nprint('b')").await;
    let long = db.submit(user, "python", "import time\nprint('a', flush=True)\ntime.sleep(600)").await;
    for id in [short, long] {
        db.wait_output(id, T).await;
    }
    let late = db.submit(user, "python", "print('late')").await;
    tokio::time::timeout(Duration::from_secs(60), w.stop()).await.expect("the worker stops").unwrap();
    let s = db.session(short).await;
    assert_eq!((s.status, s.end_reason), (SessionStatus::Completed, Some(EndReason::Exit)));
    assert_eq!(db.stdout(short).await, ["a", "b"]);
    let s = db.session(long).await;
    assert_eq!((s.status, s.end_reason), (SessionStatus::Error, Some(EndReason::Shutdown)));
    assert!(s.error.unwrap().contains("shut down"));
    // The drain removed it before the worker returned.
    assert!(containers_of(long).await.is_empty());
    // Not claimed by a stopping worker; picked up by the next one.
    let s = db.session(late).await;
    assert!(s.status == SessionStatus::Pending || s.status == SessionStatus::Completed, "{s:?}");
    let w = db.worker();
    assert_eq!(db.wait_done(late, T).await.status, SessionStatus::Completed);
    w.stop().await.unwrap();
}

#[tokio::test]
async fn sessions_inserted_while_no_worker_runs_are_picked_up() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let ids: Vec<Uuid> = futures::future::join_all((0..5).map(|i| {
        let db = &db;
        async move { db.submit(user, "python", &format!("print({i})")).await }
    }))
    .await;
    // Long poll interval: only the startup rescan can find them quickly.
    let w = db.worker_with(|c| c.worker.poll_interval_ms = 60_000);
    for id in ids {
        assert_eq!(db.wait_done(id, Duration::from_secs(30)).await.status, SessionStatus::Completed);
    }
    // And a new insert is heard through LISTEN, not the (60 s) poll.
    let id = db.submit(user, "python", "print('heard')").await;
    assert_eq!(db.wait_done(id, Duration::from_secs(20)).await.status, SessionStatus::Completed);
    w.stop().await.unwrap();
}

#[tokio::test]
async fn the_worker_survives_losing_its_database_connections() {
    let db = TestDb::new().await;
    let user = db.user().await;
    // Long poll interval: only LISTEN (re-established) and its rescan are fast.
    let w = db.worker_with(|c| c.worker.poll_interval_ms = 60_000);
    let first = db.submit(user, "python", "print('before')").await;
    assert_eq!(db.wait_done(first, T).await.status, SessionStatus::Completed);
    assert!(db.cut_connections().await >= 2, "the worker's listener and pool were connected");
    let second = db.submit(user, "python", "print('after')").await;
    assert_eq!(db.wait_done(second, Duration::from_secs(20)).await.status, SessionStatus::Completed);
    assert_eq!(db.stdout(second).await, ["after"]);
    // Again, while a session runs: its log rows and outcome still arrive.
    let third = db.submit(user, "python", "import time\nprint('x', flush=True)\ntime.sleep(1)\nprint('y')").await;
    db.wait_output(third, T).await;
    db.cut_connections().await;
    assert_eq!(db.wait_done(third, Duration::from_secs(20)).await.status, SessionStatus::Completed);
    assert_eq!(db.stdout(third).await, ["x", "y"]);
    w.stop().await.unwrap();
}

#[tokio::test]
async fn sigterm_drains_the_worker_process() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_execbox"))
        .arg("worker")
        .env("DATABASE_URL", db.worker_url())
        .env("EXECBOX_SHUTDOWN_GRACE_MS", "20000")
        .env("EXECBOX_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let id = db.submit(user, "python", "import time\nprint('a', flush=True)\ntime.sleep(1.5)\nprint('b')").await;
    db.wait_output(id, T).await;
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait()).await.expect("worker exits").unwrap();
    assert!(status.success(), "{status}");
    // The running session was allowed to finish.
    assert_eq!(db.session(id).await.status, SessionStatus::Completed);
    assert_eq!(db.stdout(id).await, ["a", "b"]);
    assert!(containers_of(id).await.is_empty());
}
