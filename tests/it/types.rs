//! `supabase/types.ts`, the TypeScript types a frontend imports, is what
//! `supabase gen types typescript` makes of the migrated schema: generated
//! here by the same generator (postgres-meta, pinned in tests/js) against a
//! fresh database, and compared. `EXECBOX_UPDATE_TYPES=1` rewrites the file.

use std::path::PathBuf;

use crate::support::*;

#[tokio::test]
async fn the_checked_in_typescript_types_are_current() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let meta = root.join("tests/js/node_modules/@supabase/postgres-meta/dist/server/server.js");
    assert!(meta.exists(), "postgres-meta is missing: run `npm ci --prefix tests/js` (scripts/test.sh does)");
    let db = TestDb::new().await;
    let out = tokio::process::Command::new("node")
        .arg(meta)
        .env("PG_META_DB_URL", &db.url)
        .env("PG_META_GENERATE_TYPES", "typescript")
        .env("PG_META_GENERATE_TYPES_INCLUDED_SCHEMAS", "public")
        .env("PG_META_GENERATE_TYPES_DETECT_ONE_TO_ONE_RELATIONSHIPS", "true")
        .output()
        .await
        .expect("node runs postgres-meta");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let generated = String::from_utf8(out.stdout).unwrap();
    assert!(generated.contains("backend_execution_sessions") && generated.contains("session_overview"));
    let path = root.join("supabase/types.ts");
    if std::env::var("EXECBOX_UPDATE_TYPES").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "supabase/types.ts is not what the migrations generate; regenerate it: EXECBOX_UPDATE_TYPES=1 cargo test --test it types"
    );
}
