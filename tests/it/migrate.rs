//! `execbox migrate` on an empty database: fixture, migrations, idempotence.

use std::time::Duration;

use crate::support::*;

#[tokio::test]
async fn migrate_twice_is_a_no_op() {
    let db = TestDb::empty().await;
    let bin = env!("CARGO_BIN_EXE_execbox");
    let run = |args: &[&str]| {
        std::process::Command::new(bin)
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env("EXECBOX_LOG", "warn")
            .output()
            .unwrap()
    };
    let cluster = cluster_lock().await;
    let first = run(&["migrate", "--supabase-fixture"]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(String::from_utf8_lossy(&first.stdout)
        .contains(&format!("applied {} migration(s)", execbox::db::migrate::embedded().len())));
    let second = run(&["migrate", "--supabase-fixture"]);
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    assert_eq!(String::from_utf8_lossy(&second.stdout).trim(), "database is up to date");
    drop(cluster);
    let c = db.client().await;
    let versions: Vec<String> = c
        .query("select version from supabase_migrations.schema_migrations order by 1", &[])
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    let expected: Vec<String> =
        execbox::db::migrate::embedded().iter().map(|(s, _)| s.split('_').next().unwrap().to_string()).collect();
    assert_eq!(versions, expected);
}

#[tokio::test]
async fn migrate_reports_a_bad_database_url_by_name() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_execbox"))
        .arg("migrate")
        .env("DATABASE_URL", "not a url at all")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DATABASE_URL") || err.contains("connect"), "{err}");
}

/// The schema and the code agree on the end reasons: every value the code
/// can write is accepted with a terminal status, nothing else is, and a
/// session has one exactly when it has ended.
#[tokio::test]
async fn end_reasons_of_the_code_are_the_schemas() {
    use execbox::model::{EndReason, SessionStatus};
    let db = TestDb::new().await;
    let user = db.user().await;
    let id = db.submit(user, "python", "print(1)").await;
    let c = db.client().await;
    let set = |status: &'static str, reason: Option<&'static str>| {
        let c = &c;
        async move {
            c.execute(
                "update backend_execution_sessions set status = $2, end_reason = $3 where id = $1",
                &[&id, &status, &reason],
            )
            .await
        }
    };
    for reason in EndReason::ALL {
        let status = reason.status(None).as_str();
        set(status, Some(reason.as_str())).await.unwrap_or_else(|e| panic!("{reason} refused: {e}"));
    }
    let refused = |r: Result<u64, tokio_postgres::Error>, what: &str| {
        let e = r.expect_err(what);
        assert_eq!(e.code(), Some(&tokio_postgres::error::SqlState::CHECK_VIOLATION), "{what}: {e}");
    };
    refused(set("error", Some("gremlins")).await, "an unknown reason");
    for status in SessionStatus::ALL.iter().filter(|s| s.is_done()) {
        refused(set(status.as_str(), None).await, "a terminal status without a reason");
    }
    refused(set("running", Some("exit")).await, "a reason on a running session");
    refused(set("pending", Some("exit")).await, "a reason on a pending session");
}

/// The first migration of the least-privilege schema (execbox's own roles,
/// SECURITY DEFINER helpers out of the exposed schema): the upgrade test
/// starts from the schema just before it.
const LEAST_PRIVILEGE: &str = "20261207000000_least_privilege";

/// A database of the schema before the least-privilege roles (every
/// migration before `LEAST_PRIVILEGE`), in use: sessions, logs, an API key
/// and input rows, and a worker of the previous kind (connected as the
/// owner) running a session while every later migration applies. Everything is still there afterwards, the
/// running session finishes with all its output and its broadcasts, the old
/// key still names its owner, and workers and API nodes of the new kind
/// (their own roles) serve the same database.
#[tokio::test]
async fn the_previous_schema_migrates_with_its_data_while_a_worker_runs() {
    let db = TestDb::with_fixture().await;
    let all = execbox::db::migrate::embedded();
    let at = all.iter().position(|(stem, _)| *stem == LEAST_PRIVILEGE).expect("the least-privilege migration");
    let (previous, later) = all.split_at(at);
    let mut c = db.client().await;
    let cluster = cluster_lock().await;
    c.batch_execute(
        "create schema supabase_migrations;
         create table supabase_migrations.schema_migrations (version text primary key, statements text[], name text);",
    )
    .await
    .unwrap();
    for (stem, sql) in previous {
        let tx = c.transaction().await.unwrap();
        tx.batch_execute(sql).await.unwrap();
        let (version, name) = stem.split_once('_').unwrap();
        tx.execute(
            "insert into supabase_migrations.schema_migrations (version, name) values ($1, $2)",
            &[&version, &name],
        )
        .await
        .unwrap_or_else(|_| panic!("record {stem}"));
        tx.commit().await.unwrap();
    }
    drop(cluster);
    // What a deployment of the previous version holds.
    let user = db.user().await;
    let done = db.submit(user, "python", "print('before')").await;
    let key: String = {
        let tx = as_user(&mut c, Some(user)).await;
        let key = tx.query_one("select public.create_api_key('old key')", &[]).await.unwrap().get(0);
        tx.commit().await.unwrap();
        key
    };
    // A worker of the previous kind: the owner's connection.
    let old = db.worker_with(|cfg| cfg.database_url = execbox::config::Secret::new(db.url.clone()));
    db.wait_done(done, Duration::from_secs(120)).await;
    let running = db.submit(user, "python", "import time\nprint('one', flush=True)\ntime.sleep(4)\nprint('two')").await;
    db.wait_output(running, Duration::from_secs(120)).await;

    // The upgrade, while that session runs.
    let cluster = cluster_lock().await;
    let applied = execbox::db::migrate::run(&mut c).await.unwrap();
    drop(cluster);
    let later: Vec<&str> = later.iter().map(|(stem, _)| stem.split_once('_').unwrap().0).collect();
    assert_eq!(applied, later);
    assert_eq!(db.session(running).await.status, SessionStatus::Running, "the upgrade came while the session ran");

    // The running session ends with all its output, its status broadcast
    // by the moved trigger.
    let s = db.wait_done(running, Duration::from_secs(120)).await;
    assert_eq!(s.status, SessionStatus::Completed, "{s:?}");
    assert_eq!(db.stdout(running).await, ["one", "two"]);
    old.stop().await.unwrap();
    let admin = db.client().await;
    let broadcast: i64 = admin
        .query_one(
            "select count(*) from realtime.messages where topic = $1 and event = 'status'",
            &[&format!("session:{running}")],
        )
        .await
        .unwrap()
        .get(0);
    assert!(broadcast >= 2, "running and completed were broadcast: {broadcast}");
    // Nothing was lost.
    assert_eq!(db.stdout(done).await, ["before"]);
    let keys: i64 =
        admin.query_one("select count(*) from execbox_api_keys where user_id = $1", &[&user]).await.unwrap().get(0);
    assert_eq!(keys, 1);

    // The new kind: the API node's role finds the old key's owner, and a
    // worker of the worker's role runs a session.
    let api = crate::api::Api::start(crate::api::api_config(&db), true).await;
    let (status, v) = crate::api::body(
        crate::api::http()
            .post(format!("{}/api/v2/execute", api.base))
            .header("x-api-key", &key)
            .json(&crate::api::piston("print('after')"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, v["run"]["stdout"].as_str()), (200, Some("after\n")), "{v}");
    api.stop().await;
}
