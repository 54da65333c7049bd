//! Sessions from insert to outcome: output, streams, exit codes, stdin,
//! request checks.

use std::time::Duration;

use crate::support::*;

const T: Duration = Duration::from_secs(60);

#[tokio::test]
async fn python_and_node_hello() {
    init_tracing();
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker();
    let py = db.submit(user, "python", "print('hello from python')").await;
    let js = db.submit(user, "javascript", "console.log('hello from node')").await;
    for (id, want) in [(py, "hello from python"), (js, "hello from node")] {
        let s = db.wait_done(id, T).await;
        assert_eq!(s.status, SessionStatus::Completed, "{s:?}");
        assert_eq!(s.exit_code, Some(0));
        assert_eq!(s.error, None);
        assert!(s.started && s.finished);
        let logs = db.logs(id).await;
        assert_eq!(logs, vec![Log { seq: 1, stream: Stream::Stdout, level: Level::Info, message: want.into() }]);
        // The container was tracked and removed (removal happens right after
        // the outcome is recorded, off the user's critical path).
        let c = db.client().await;
        let row = eventually("the container's row says removed", Duration::from_secs(10), || async {
            let row = c
                .query_one("select status, exit_code, oom_killed, container_id, removed_at is not null, image from container_instances where session_id = $1", &[&id])
                .await
                .unwrap();
            (row.get::<_, String>(0) == "removed").then_some(row)
        })
        .await;
        assert_eq!(row.get::<_, Option<i32>>(1), Some(0));
        assert_eq!(row.get::<_, Option<bool>>(2), Some(false));
        assert!(row.get::<_, bool>(4));
        assert!(row.get::<_, String>(5).starts_with("execbox/"));
        wait_no_containers(id, Duration::from_secs(10)).await;
    }
    w.stop().await.unwrap();
}

#[tokio::test]
async fn stdout_and_stderr_keep_their_order_and_levels() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker();
    // Lines of the two streams keep their order when they are apart by more
    // than a CPU-quota period (100 ms): a throttled container can hold both
    // pipes' bytes until it runs again.
    let code = "import sys, time\n\
                for i in range(3):\n\
                \x20   print(f'out {i}'); time.sleep(0.25)\n\
                \x20   print(f'err {i}', file=sys.stderr); time.sleep(0.25)\n";
    let id = db.submit(user, "py", code).await;
    assert_eq!(db.wait_done(id, T).await.status, SessionStatus::Completed);
    let logs = db.logs(id).await;
    let got: Vec<(Stream, Level, String)> = logs.iter().map(|l| (l.stream, l.level, l.message.clone())).collect();
    let mut want = Vec::new();
    for i in 0..3 {
        want.push((Stream::Stdout, Level::Info, format!("out {i}")));
        want.push((Stream::Stderr, Level::Error, format!("err {i}")));
    }
    assert_eq!(got, want);
    assert_eq!(logs.iter().map(|l| l.seq).collect::<Vec<_>>(), (1..=6).collect::<Vec<_>>());
    w.stop().await.unwrap();
}

#[tokio::test]
async fn nonzero_exit_fails_with_code_and_message() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker();
    let py = db.submit(user, "python", "import sys\nprint('bye')\nsys.exit(3)").await;
    let js = db.submit(user, "node", "throw new Error('boom')").await;
    let s = db.wait_done(py, T).await;
    assert_eq!((s.status, s.exit_code), (SessionStatus::Failed, Some(3)));
    assert!(s.error.unwrap().contains("exited with code 3"));
    assert_eq!(db.stdout(py).await, ["bye"]);
    let s = db.wait_done(js, T).await;
    assert_eq!((s.status, s.exit_code), (SessionStatus::Failed, Some(1)));
    let logs = db.logs(js).await;
    assert!(logs.iter().any(|l| l.stream == Stream::Stderr && l.message.contains("Error: boom")), "{logs:?}");
    // The last row tells the user what happened.
    assert_eq!(logs.last().unwrap().stream, Stream::System);
    w.stop().await.unwrap();
}

#[tokio::test]
async fn stdin_is_delivered_then_closed() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker();
    // read() returns only at EOF: a missing EOF would hang until the timeout.
    let py = db
        .submit_with(
            user,
            "python",
            "import sys\ndata = sys.stdin.read()\nprint(repr(data))",
            Some("line 1\nline 2"),
            Some(20_000),
            None,
        )
        .await;
    let js = db
        .submit_with(
            user,
            "node",
            "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(s.toUpperCase()))",
            Some("from stdin"),
            Some(20_000),
            None,
        )
        .await;
    let none = db.submit(user, "python", "import sys\nprint(len(sys.stdin.read()))").await;
    assert_eq!(db.wait_done(py, T).await.status, SessionStatus::Completed);
    assert_eq!(db.stdout(py).await, ["'line 1\\nline 2'"]);
    assert_eq!(db.wait_done(js, T).await.status, SessionStatus::Completed);
    assert_eq!(db.stdout(js).await, ["FROM STDIN"]);
    assert_eq!(db.wait_done(none, T).await.status, SessionStatus::Completed);
    assert_eq!(db.stdout(none).await, ["0"]);
    w.stop().await.unwrap();
}

#[tokio::test]
async fn unicode_invalid_utf8_nul_and_missing_newline() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker();
    let code = "import sys\n\
                print('héllo wörld ✓ 🚀')\n\
                sys.stdout.flush()\n\
                sys.stdout.buffer.write(b'bad \\xff\\xfe bytes\\n')\n\
                sys.stdout.buffer.write(b'nul\\x00byte\\n')\n\
                sys.stdout.buffer.write(b'crlf\\r\\n')\n\
                sys.stdout.buffer.write(b'no newline at the end')\n";
    let id = db.submit(user, "python", code).await;
    assert_eq!(db.wait_done(id, T).await.status, SessionStatus::Completed);
    assert_eq!(
        db.stdout(id).await,
        ["héllo wörld ✓ 🚀", "bad \u{FFFD}\u{FFFD} bytes", "nul\u{FFFD}byte", "crlf\r", "no newline at the end"]
    );
    w.stop().await.unwrap();
}

#[tokio::test]
async fn long_lines_are_split_and_nothing_is_lost() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker_with(|c| c.limits.max_line_bytes = 1000);
    let id = db.submit(user, "python", "print('x' * 2500)\nprint('after')").await;
    assert_eq!(db.wait_done(id, T).await.status, SessionStatus::Completed);
    let out = db.stdout(id).await;
    assert_eq!(out.iter().map(|l| l.len()).collect::<Vec<_>>(), [1000, 1000, 500, 5]);
    assert_eq!(out[..3].concat(), "x".repeat(2500));
    w.stop().await.unwrap();
}

#[tokio::test]
async fn many_lines_arrive_complete_and_in_order() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker();
    let id = db.submit(user, "python", "for i in range(20000): print(i)").await;
    assert_eq!(db.wait_done(id, T).await.status, SessionStatus::Completed);
    let logs = db.logs(id).await;
    assert_eq!(logs.len(), 20_000);
    for (i, l) in logs.iter().enumerate() {
        assert_eq!(l.seq as usize, i + 1);
        assert_eq!(l.message, i.to_string());
    }
    // Batched: created_at is the inserting transaction's now(), so distinct
    // values count INSERTs. One INSERT per line would give 20,000.
    let c = db.client().await;
    let inserts: i64 = c
        .query_one("select count(distinct created_at) from execution_logs where session_id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert!(inserts < 2_000, "{inserts} INSERTs for 20,000 lines");
    w.stop().await.unwrap();
}

#[tokio::test]
async fn bad_requests_fail_with_a_clear_error() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker_with(|c| {
        c.limits.max_timeout_ms = 60_000;
        c.limits.max_memory_mb = 256;
        c.limits.default_memory_mb = 256;
    });
    let intercal = db.submit(user, "intercal", "DISPLAY 'HI'").await;
    let slow = db.submit_with(user, "python", "print(1)", None, Some(600_000), None).await;
    let big = db.submit_with(user, "python", "print(1)", None, None, Some(1024)).await;
    let tiny = db.submit_with(user, "python", "print(1)", None, None, Some(1)).await;
    for (id, needle) in [
        (intercal, "unsupported language \"intercal\"; supported languages: python (py, python3), node"),
        (slow, "timeout_ms 600000 is above this server's maximum of 60000 ms"),
        (big, "memory_limit_mb 1024 is above this server's maximum of 256 MB"),
        (tiny, "memory_limit_mb 1 is below this server's minimum"),
    ] {
        let s = db.wait_done(id, T).await;
        assert_eq!(s.status, SessionStatus::Failed, "{s:?}");
        assert_eq!(s.exit_code, None);
        assert!(s.error.as_deref().unwrap_or("").contains(needle), "{:?} lacks {needle:?}", s.error);
        wait_no_containers(id, Duration::from_secs(10)).await;
        // The user watching the logs sees the same explanation.
        assert!(db.logs(id).await.iter().any(|l| l.stream == Stream::System && l.message.contains(needle)));
    }
    w.stop().await.unwrap();
}

/// A worker claims only runtimes whose image its engine has (see
/// fleet.rs); an image removed after that check ends the session as
/// `image_missing`, with the command that builds it.
#[tokio::test]
async fn a_missing_image_is_an_infrastructure_error() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let image = format!("execbox/vanishing-{}:0", uuid::Uuid::new_v4().simple());
    let docker = |args: &[&str]| {
        let out = std::process::Command::new("docker").args(args).output().expect("the docker CLI runs");
        assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    docker(&["tag", "execbox/python:3.11", &image]);
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("runtimes.toml");
    std::fs::write(
        &table,
        format!("[[runtime]]\nlanguage='python'\nversion='0'\nimage='{image}'\nbuild='python'\nfile='main.py'\nrun=['python3','main.py']\n"),
    )
    .unwrap();
    let mut cfg = db.config();
    cfg.runtimes_file = Some(table.clone());
    cfg.worker.id = "worker-whose-image-vanishes".into();
    // No second look at the images while the test runs.
    cfg.worker.reap_interval_ms = 600_000;
    let runtimes = execbox::runtimes::Runtimes::load(Some(&table)).unwrap();
    let w = Worker::start_with(cfg.finish().unwrap(), runtimes);
    // The worker has seen the image...
    let c = db.client().await;
    eventually("the worker reports Python among its runtimes", T, || async {
        c.query_opt(
            "select 1 from execbox_workers where id = 'worker-whose-image-vanishes' and 'python' = any(runtimes)",
            &[],
        )
        .await
        .unwrap()
        .map(|_| ())
    })
    .await;
    // ...which is gone when the session comes.
    docker(&["rmi", &image]);
    let id = db.submit(user, "python", "print(1)").await;
    let s = db.wait_done(id, T).await;
    assert_eq!(s.status, SessionStatus::Error);
    let err = s.error.unwrap();
    assert!(err.contains(&image) && err.contains("`execbox images build python`"), "{err}");
    assert_eq!(s.end_reason, Some(EndReason::ImageMissing));
    w.stop().await.unwrap();
}
