//! Runs the pgTAP files in supabase/tests (what `supabase test db` runs) with
//! psql against a fresh database, and requires every test to pass.

use crate::support::*;

#[tokio::test]
async fn supabase_pgtap_files_pass() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("supabase/tests");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no pgTAP files in {}", dir.display());
    for file in files {
        let db = TestDb::new().await;
        db.client().await.batch_execute("create extension if not exists pgtap with schema extensions").await.unwrap();
        let out = std::process::Command::new("psql")
            .args([
                db.url.as_str(),
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                "set search_path = public, extensions",
                "-f",
            ])
            .arg(&file)
            .output()
            .expect("psql");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: psql failed\n{stdout}\n{stderr}", file.display());
        let plan: usize = stdout
            .lines()
            .find_map(|l| l.strip_prefix("1..").and_then(|n| n.trim().parse().ok()))
            .unwrap_or_else(|| panic!("{}: no plan\n{stdout}", file.display()));
        let ok = stdout.lines().filter(|l| l.starts_with("ok ")).count();
        let not_ok: Vec<&str> = stdout.lines().filter(|l| l.starts_with("not ok")).collect();
        assert!(not_ok.is_empty(), "{}: failing pgTAP tests:\n{stdout}", file.display());
        assert_eq!(ok, plan, "{}: {ok} of {plan} planned tests ran\n{stdout}", file.display());
    }
}
