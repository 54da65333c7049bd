//! Interactive sessions fed through `session_input`, program arguments,
//! extra files, exact output reconstruction, and workers' presence.

use std::time::Duration;

use execbox::model::Request;
use uuid::Uuid;

use crate::support::*;

const T: Duration = Duration::from_secs(60);

/// Inserts a session with the newer request columns, as the user.
async fn submit_full(
    db: &TestDb,
    user: Uuid,
    language: &str,
    code: &str,
    args: &[&str],
    files: Option<serde_json::Value>,
    interactive: bool,
) -> Uuid {
    let args = args.iter().map(|s| s.to_string()).collect();
    let req = Request { language: language.into(), code: code.into(), args, files, interactive, ..Default::default() };
    db.insert(user, &req).await
}

/// Feeds input as the user; Err is the database's message.
async fn feed(db: &TestDb, user: Uuid, session: Uuid, kind: &str, data: Option<&str>) -> Result<(), String> {
    let mut c = db.client().await;
    let tx = as_user(&mut c, Some(user)).await;
    tx.execute("insert into session_input (session_id, kind, data) values ($1, $2, $3)", &[&session, &kind, &data])
        .await
        .map_err(|e| e.as_db_error().map(|d| d.message().to_string()).unwrap_or(e.to_string()))?;
    tx.commit().await.unwrap();
    Ok(())
}

#[tokio::test]
async fn an_interactive_session_reads_what_the_owner_feeds_it() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let other = db.user().await;
    let w = db.worker();
    let code = "import sys\nprint('ready', flush=True)\nfor line in sys.stdin:\n    print('echo:', line.strip().upper(), flush=True)\nprint('bye')";
    let id = submit_full(&db, user, "python", code, &[], None, true).await;
    db.wait_output(id, T).await;
    feed(&db, user, id, "stdin", Some("hello\n")).await.unwrap();
    db.wait_stdout(id, 2, T).await;
    // Another user cannot feed it; bad input kinds are refused by the table.
    let err = feed(&db, other, id, "stdin", Some("intruder\n")).await.unwrap_err();
    assert!(err.contains("row-level security"), "{err}");
    let err = feed(&db, user, id, "signal", Some("SIGSEGV")).await.unwrap_err();
    assert!(err.contains("session_input_data_check"), "{err}");
    feed(&db, user, id, "stdin", Some("world\n")).await.unwrap();
    feed(&db, user, id, "eof", None).await.unwrap();
    let s = db.wait_done(id, T).await;
    assert_eq!(s.status, SessionStatus::Completed, "{s:?}");
    assert_eq!(db.stdout(id).await, ["ready", "echo: HELLO", "echo: WORLD", "bye"]);
    // Finished: no more input accepted.
    assert!(feed(&db, user, id, "stdin", Some("late\n")).await.is_err());
    w.stop().await.unwrap();
}

#[tokio::test]
async fn signals_reach_an_interactive_program() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker();
    let code = "import signal, sys, time\n\
                def bye(n, f):\n    print('got SIGTERM', flush=True)\n    sys.exit(3)\n\
                signal.signal(signal.SIGTERM, bye)\nprint('waiting', flush=True)\ntime.sleep(600)";
    let id = submit_full(&db, user, "python", code, &[], None, true).await;
    db.wait_output(id, T).await;
    feed(&db, user, id, "signal", Some("SIGTERM")).await.unwrap();
    let s = db.wait_done(id, Duration::from_secs(15)).await;
    assert_eq!((s.status, s.exit_code), (SessionStatus::Failed, Some(3)), "{s:?}");
    assert_eq!(db.stdout(id).await, ["waiting", "got SIGTERM"]);
    // SIGKILL cannot be caught.
    let id = submit_full(&db, user, "node", "console.log('up'); setInterval(() => {}, 1000)", &[], None, true).await;
    db.wait_output(id, T).await;
    feed(&db, user, id, "signal", Some("SIGKILL")).await.unwrap();
    let s = db.wait_done(id, Duration::from_secs(15)).await;
    assert_eq!(s.exit_code, Some(137));
    assert!(s.error.unwrap().contains("SIGKILL"));
    w.stop().await.unwrap();
}

#[tokio::test]
async fn input_is_refused_for_sessions_that_are_not_interactive() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let id = submit_full(&db, user, "python", "print(1)", &[], None, false).await;
    let err = feed(&db, user, id, "stdin", Some("x")).await.unwrap_err();
    assert!(err.contains("row-level security"), "{err}");
}

#[tokio::test]
async fn args_and_extra_files_reach_the_program() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker();
    let files = serde_json::json!([
        {"name": "util.py", "content": "def shout(s):\n    return s.upper() + '!'\n"},
        {"name": "data.bin", "content": "AAEC/w==", "encoding": "base64"}
    ]);
    let code =
        "import sys, util\nprint(sys.argv[1:])\nprint(util.shout('hi'))\nprint(list(open('data.bin', 'rb').read()))";
    let id = submit_full(&db, user, "python", code, &["one", "two words", "--flag"], Some(files), false).await;
    assert_eq!(db.wait_done(id, T).await.status, SessionStatus::Completed);
    assert_eq!(db.stdout(id).await, ["['one', 'two words', '--flag']", "HI!", "[0, 1, 2, 255]"]);
    // Hostile or broken file lists end the session with a clear error.
    for (files, needle) in [
        (serde_json::json!([{"name": "../../etc/passwd", "content": "x"}]), "is not allowed"),
        (serde_json::json!([{"name": "main.py", "content": "x"}]), "execbox writes itself"),
        (serde_json::json!([{"name": "a.py", "content": ""}, {"name": "a.py", "content": ""}]), "appears twice"),
        (serde_json::json!([{"name": "a.py", "content": "%%", "encoding": "base64"}]), "invalid base64"),
    ] {
        let id = submit_full(&db, user, "python", "print(1)", &[], Some(files), false).await;
        let s = db.wait_done(id, T).await;
        assert_eq!(s.status, SessionStatus::Failed);
        assert!(s.error.as_deref().unwrap_or("").contains(needle), "{s:?}");
    }
    w.stop().await.unwrap();
}

#[tokio::test]
async fn log_rows_rebuild_the_exact_output() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker();
    let id = db.submit(user, "python", "import sys\nsys.stdout.write('a\\n\\nb')").await;
    assert_eq!(db.wait_done(id, T).await.status, SessionStatus::Completed);
    let c = db.client().await;
    let text: String = c
        .query_one(
            "select string_agg(message || case when newline then E'\\n' else '' end, '' order by seq)
             from execution_logs where session_id = $1 and stream = 'stdout'",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(text, "a\n\nb");
    w.stop().await.unwrap();
}

#[tokio::test]
async fn workers_announce_themselves_and_leave() {
    let db = TestDb::new().await;
    let w = db.worker_with(|c| c.worker.id = "presence-test".into());
    let c = db.client().await;
    let r = eventually("the worker's presence row", T, || async {
        c.query_opt("select docker_ok, max_runs from execbox_workers where id = 'presence-test'", &[]).await.unwrap()
    })
    .await;
    assert!(r.get::<_, bool>(0), "docker is reachable");
    assert_eq!(r.get::<_, i32>(1), 8);
    w.stop().await.unwrap();
    let n: i64 = c.query_one("select count(*) from execbox_workers", &[]).await.unwrap().get(0);
    assert_eq!(n, 0, "a worker that stops cleanly leaves");
}
