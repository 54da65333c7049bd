//! The walls a session runs behind: a hardened container on the host's
//! kernel (runc) or the same container inside gVisor's user-space kernel,
//! chosen by the deployment; a worker that cannot build the wall it was
//! told to build does not start.

use std::time::Duration;

use execbox::config::PistonAuth;
use execbox::model::Isolation;

use crate::api::{api_config, piston, post, user_token, Api};
use crate::support::*;

const T: Duration = Duration::from_secs(60);

/// What the program's kernel says it is.
const RELEASE: &str = "import platform\nprint(platform.release())\n";

#[tokio::test]
async fn gvisor_serves_programs_from_its_own_kernel_and_runc_from_the_hosts() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let host = String::from_utf8(std::process::Command::new("uname").arg("-r").output().unwrap().stdout).unwrap();
    for (wall, kernel) in [(Isolation::Gvisor, "4.4.0"), (Isolation::Runc, host.trim())] {
        let w = db.worker_with(|c| c.limits.isolation = wall);
        let id = db.submit(user, "python", RELEASE).await;
        let s = db.wait_done(id, T).await;
        assert_eq!(s.status, SessionStatus::Completed, "{wall:?}: {s:?}");
        assert_eq!(db.stdout(id).await, [kernel], "{wall:?}");
        // The session says which wall it ran behind: its column, its usage
        // and the dashboard's view.
        let row = db
            .client()
            .await
            .query_one(
                "select s.isolation, s.usage ->> 'isolation', o.isolation
                 from backend_execution_sessions s join session_overview o using (id) where s.id = $1",
                &[&id],
            )
            .await
            .unwrap();
        let said: [Option<String>; 3] = [row.get(0), row.get(1), row.get(2)];
        assert_eq!(said, [Some(wall.as_str().to_string()), Some(wall.as_str().into()), Some(wall.as_str().into())]);
        w.stop().await.unwrap();
    }
    // A session gVisor cannot build (a checker program that compiles) is
    // refused before any sandbox: no wall.
    let w = db.worker_with(|c| c.limits.isolation = Isolation::Gvisor);
    let req = execbox::model::Request {
        language: "python".into(),
        code: "print(input())".into(),
        mode: execbox::model::Mode::Cases,
        cases: Some(serde_json::json!([{"stdin": "1\n", "expected_output": "1\n"}])),
        checker: Some(execbox::model::Checker::Program),
        checker_code: Some("int main(void) { return 0; }".into()),
        checker_language: Some("c".into()),
        ..Default::default()
    };
    let id = db.insert(user, &req).await;
    let s = db.wait_done(id, T).await;
    assert_eq!((s.status, s.end_reason), (SessionStatus::Error, Some(EndReason::Infrastructure)), "{s:?}");
    assert!(s.error.as_deref().unwrap_or("").starts_with("c compiles before it runs"), "{s:?}");
    let wall: Option<String> = db
        .client()
        .await
        .query_one("select isolation from backend_execution_sessions where id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(wall, None);
    w.stop().await.unwrap();
}

#[tokio::test]
async fn a_worker_told_to_use_a_wall_its_engine_lacks_refuses_to_start() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let id = db.submit(user, "python", "print('never')").await;
    let mut w = db.worker_with(|c| {
        c.limits.isolation = Isolation::Gvisor;
        c.limits.gvisor_runtime = "runsc-nowhere".into();
    });
    let err = w.ended(T).await.expect("the worker stops by itself").unwrap_err().to_string();
    for said in
        ["no OCI runtime named \"runsc-nowhere\"", "apt-get install runsc", "\"runtimeArgs\": [\"--network=none\"]"]
    {
        assert!(err.contains(said), "{said}: {err}");
    }
    // It claimed nothing: the session waits for a worker that can run it.
    let s = db.session(id).await;
    assert_eq!((s.status, s.attempt), (SessionStatus::Pending, 0), "{s:?}");
}

/// Open Piston mode's anonymous callers get their own, stronger wall
/// (`EXECBOX_ANONYMOUS_ISOLATION`); a signed-in user's session keeps the
/// deployment's.
#[tokio::test]
async fn anonymous_callers_run_behind_their_own_wall() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let mut cfg = api_config(&db);
    cfg.api.piston_auth = PistonAuth::None;
    cfg.limits.anonymous_isolation = Some(Isolation::Gvisor);
    let api = Api::start(cfg, true).await;
    let host = String::from_utf8(std::process::Command::new("uname").arg("-r").output().unwrap().stdout).unwrap();
    let token = user_token(user);
    for (who, token, kernel) in [("anonymous", None, "4.4.0"), ("signed in", Some(token.as_str()), host.trim())] {
        let (status, answer) = post(&api, "/api/v2/execute", token, piston(RELEASE)).await;
        assert_eq!(status, 200, "{who}: {answer}");
        assert_eq!(answer["run"]["stdout"], format!("{kernel}\n"), "{who}: {answer}");
    }
    let walls: Vec<Option<String>> = db
        .client()
        .await
        .query("select isolation from backend_execution_sessions order by created_at", &[])
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(walls, [Some("gvisor".to_string()), Some("runc".to_string())]);
    api.stop().await;
}

/// CPU time and peak memory are the kernel's measurements under both walls
/// (under gVisor, its own kernel's): a program that burns about half a
/// second of CPU and holds 100 MiB is reported within a few percent of what
/// it measured itself.
#[tokio::test]
async fn cpu_time_and_peak_memory_are_measured_behind_either_wall() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let code = "import time\n\
                held = bytearray(100 << 20)\n\
                for i in range(0, len(held), 4096):\n    held[i] = 1\n\
                t = time.process_time()\n\
                while time.process_time() - t < 0.5:\n    pass\n\
                print(round(time.process_time() * 1000))\n";
    for wall in [Isolation::Runc, Isolation::Gvisor] {
        let w = db.worker_with(|c| c.limits.isolation = wall);
        let id = db.submit(user, "python", code).await;
        let s = db.wait_done(id, T).await;
        assert_eq!(s.status, SessionStatus::Completed, "{wall:?}: {s:?}");
        let own_ms: f64 = db.stdout(id).await[0].parse().unwrap();
        let usage = db.usage(id).await;
        let (cpu_ms, memory_kb) = (usage["run"]["cpuMs"].as_f64().unwrap(), usage["run"]["memoryKb"].as_f64().unwrap());
        eprintln!("{wall:?}: the program measured {own_ms} ms of CPU; reported {cpu_ms} ms and {memory_kb} KiB");
        // The interpreter's start and exit are the program's too.
        assert!(cpu_ms >= own_ms * 0.95 && cpu_ms <= own_ms + 1_000.0, "{wall:?}: {own_ms} ms own, {usage}");
        let held_kb = 100.0 * 1024.0;
        assert!(memory_kb >= held_kb && memory_kb <= held_kb + 64.0 * 1024.0, "{wall:?}: {usage}");
        w.stop().await.unwrap();
    }
}
