//! The pgTAP files in supabase/tests, run as `supabase test db` runs them:
//! pgTAP installed in the `extensions` schema, then `pg_prove` over the
//! directory, connected as `postgres` with nothing but the role's own
//! search path (`"$user", public, extensions`, as on Supabase) to find
//! pgTAP's functions.

use crate::support::*;

#[tokio::test]
async fn supabase_pgtap_files_pass_as_supabase_test_db_runs_them() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("supabase/tests");
    let files = std::fs::read_dir(&dir).unwrap().flatten().filter(|e| e.path().extension().is_some_and(|x| x == "sql"));
    assert!(files.count() > 0, "no pgTAP files in {}", dir.display());
    let db = TestDb::new().await;
    db.client().await.batch_execute("create extension if not exists pgtap with schema extensions").await.unwrap();
    let out = tokio::process::Command::new("pg_prove")
        .args(["--ext", ".pg", "--ext", ".sql", "-r", "-d", db.url.as_str()])
        .arg(&dir)
        .output()
        .await
        .expect("pg_prove (Debian's libtap-parser-sourcehandler-pgtap-perl)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "pg_prove failed\n{stdout}\n{stderr}");
    assert!(stdout.contains("All tests successful"), "{stdout}\n{stderr}");
}
