//! The CLI as a user of a hosted Supabase project has it: the project's URL,
//! its anon key and the user's access token, no database address. Every
//! command goes through the real PostgREST behind the gateway stand-in
//! (`gateway.rs`), under RLS.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use uuid::Uuid;

use crate::gateway::Project;
use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_execbox");
const T: Duration = Duration::from_secs(60);

/// `execbox ARGS` in `dir` (no `.execbox` state above it) with only the
/// project's settings and `token`.
async fn execbox(dir: &Path, url: &str, anon_key: &str, token: &str, args: &[&str]) -> Output {
    let out = tokio::process::Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("EXECBOX_USER_ID")
        .env("SUPABASE_URL", url)
        .env("SUPABASE_ANON_KEY", anon_key)
        .env("EXECBOX_ACCESS_TOKEN", token)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(T, out).await.unwrap_or_else(|_| panic!("execbox {args:?} did not end")).unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The one sentence a failed command printed, checked to be one line.
fn sentence(out: &Output) -> String {
    assert!(!out.status.success(), "{out:?}");
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one sentence: {err}");
    err
}

#[tokio::test]
async fn a_hosted_project_user_runs_follows_lists_and_cancels_from_the_terminal() {
    let db = TestDb::new().await;
    let (user, other) = (db.user().await, db.user().await);
    let p = Project::start(&db, axum::Router::new()).await;
    let token = p.token_for(user, 600);
    let w = db.worker();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: Vec<String>| {
        let (dir, url, key, token) = (dir.path().to_owned(), p.url.clone(), p.anon_key.clone(), token.clone());
        async move { execbox(&dir, &url, &key, &token, &args.iter().map(String::as_str).collect::<Vec<_>>()).await }
    };

    // The program's streams to ours, its exit code ours.
    std::fs::write(
        dir.path().join("hello.py"),
        "import sys\nprint('hello')\nprint('warn', file=sys.stderr)\nsys.exit(3)\n",
    )
    .unwrap();
    let out = run(vec!["run".into(), "hello.py".into()]).await;
    assert_eq!(text(&out.stdout), "hello\n", "{out:?}");
    assert!(text(&out.stderr).contains("warn"), "{out:?}");
    assert_eq!(out.status.code(), Some(3));

    // More lines than a page of the Data API, in order; stdin passed.
    std::fs::write(
        dir.path().join("many.py"),
        "import sys\nname = sys.stdin.read().strip()\nfor i in range(2500):\n    print(name, i)\n",
    )
    .unwrap();
    let out = run(vec!["run".into(), "many.py".into(), "--stdin".into(), "ada".into()]).await;
    let want: String = (0..2500).map(|i| format!("ada {i}\n")).collect();
    assert!(text(&out.stdout) == want, "{} bytes of {}; {}", out.stdout.len(), want.len(), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0));

    // The user's sessions, and only theirs.
    let theirs = db.submit(other, "python", "print(1)").await;
    let out = run(vec!["sessions".into()]).await;
    let listed = text(&out.stdout);
    assert_eq!(listed.lines().count(), 3, "a header and two sessions: {listed}");
    assert!(!listed.contains(&theirs.to_string()), "{listed}");
    let first: Uuid = listed.lines().nth(2).unwrap().split_whitespace().next().unwrap().parse().unwrap();

    // Logs of an ended session, with its exit code when followed.
    let out = run(vec!["logs".into(), first.to_string()]).await;
    assert_eq!(text(&out.stdout), "hello\n", "{out:?}");
    let out = run(vec!["logs".into(), first.to_string(), "--follow".into()]).await;
    assert_eq!(out.status.code(), Some(3));
    // Another user's session is not there for this user.
    let out = run(vec!["logs".into(), theirs.to_string()]).await;
    assert!(sentence(&out).contains("does not exist, or is not yours"), "{out:?}");

    // Cancel a running session; a follower of it ends with the cancel.
    std::fs::write(dir.path().join("sleep.py"), "import time\nprint('up', flush=True)\ntime.sleep(600)\n").unwrap();
    let running = {
        let (dir, url, key, token) = (dir.path().to_owned(), p.url.clone(), p.anon_key.clone(), token.clone());
        tokio::spawn(async move { execbox(&dir, &url, &key, &token, &["run", "sleep.py"]).await })
    };
    let id = eventually("the program runs", T, || async {
        let c = db.client().await;
        c.query_opt(
            "select s.id from backend_execution_sessions s join execution_logs l on l.session_id = s.id
             where s.session_name = 'sleep.py' and s.status = 'running' limit 1",
            &[],
        )
        .await
        .unwrap()
        .map(|r| r.get::<_, Uuid>(0))
    })
    .await;
    let out = run(vec!["cancel".into(), id.to_string()]).await;
    assert!(out.status.success(), "{out:?}");
    let out = running.await.unwrap();
    assert_eq!(text(&out.stdout), "up\n", "{out:?}");
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    let out = run(vec!["cancel".into(), theirs.to_string()]).await;
    assert!(sentence(&out).contains("does not exist, or is not yours"), "{out:?}");
    assert!(!db.wait_done(theirs, T).await.cancel_requested);

    // A language no worker has: the session's own error, on stderr.
    let out = run(vec!["run".into(), "hello.py".into(), "--lang".into(), "klingon".into()]).await;
    assert!(text(&out.stderr).contains("unsupported language \"klingon\""), "{out:?}");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // Over the limits the project allows: the refusal says which.
    let out = run(vec!["run".into(), "hello.py".into(), "--timeout".into(), "100m".into()]).await;
    assert!(!out.status.success(), "{out:?}");
    assert!(text(&out.stderr).contains("timeout"), "{out:?}");
    w.stop().await.unwrap();
}

#[tokio::test]
async fn a_hosted_project_user_gets_one_sentence_for_what_goes_wrong() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let p = Project::start(&db, axum::Router::new()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.py"), "print('hello')\n").unwrap();
    let hello = ["run", "hello.py"];

    let cases: Vec<(&str, String, String, String, &str)> = vec![
        ("an expired token", p.url.clone(), p.anon_key.clone(), p.token_for(user, -60), "has expired"),
        (
            "a forged token",
            p.url.clone(),
            p.anon_key.clone(),
            forged(&p.token_for(user, 600)),
            "refused the access token",
        ),
        ("not a token", p.url.clone(), p.anon_key.clone(), "hunter2".into(), "is not one (a JWT"),
        (
            "another project's key",
            p.url.clone(),
            "sb_publishable_x".into(),
            p.token_for(user, 600),
            "refused the anon key",
        ),
        (
            "nothing listening",
            "http://127.0.0.1:9".into(),
            p.anon_key.clone(),
            p.token_for(user, 600),
            "cannot reach the project",
        ),
        ("no URL at all", String::new(), p.anon_key.clone(), p.token_for(user, 600), "set SUPABASE_URL"),
    ];
    for (what, url, key, token, want) in cases {
        let out = execbox(dir.path(), &url, &key, &token, &hello).await;
        let said = sentence(&out);
        assert!(said.contains(want), "{what}: {said}");
    }

    // A project without execbox's schema.
    let bare = TestDb::with_fixture().await;
    let q = Project::start(&bare, axum::Router::new()).await;
    let out = execbox(dir.path(), &q.url, &q.anon_key, &q.token_for(user, 600), &hello).await;
    assert!(sentence(&out).contains("has no execbox schema"), "{out:?}");
    let out = execbox(dir.path(), &q.url, &q.anon_key, &q.token_for(user, 600), &["sessions"]).await;
    assert!(sentence(&out).contains("has no execbox schema"), "{out:?}");
}

/// The token with its signature replaced by another of the same length.
fn forged(token: &str) -> String {
    let (rest, sig) = token.rsplit_once('.').unwrap();
    format!("{rest}.{}", "A".repeat(sig.len()))
}
