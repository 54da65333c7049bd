//! `execbox migrate` on an empty database: fixture, migrations, idempotence.

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
    // The fixture's role statements are cluster-wide: keep clear of the
    // template build other tests may be doing (see support::TestDb::new).
    let admin = connect(admin_url()).await;
    admin.execute("select pg_advisory_lock(4242)", &[]).await.unwrap();
    let first = run(&["migrate", "--supabase-fixture"]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(String::from_utf8_lossy(&first.stdout)
        .contains(&format!("applied {} migration(s)", execbox::db::migrate::embedded().len())));
    let second = run(&["migrate", "--supabase-fixture"]);
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    assert_eq!(String::from_utf8_lossy(&second.stdout).trim(), "database is up to date");
    admin.execute("select pg_advisory_unlock(4242)", &[]).await.unwrap();
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
