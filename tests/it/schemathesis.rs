//! The OpenAPI document tells the truth: schemathesis (from PyPI, in
//! `tests/py/.venv`) generates requests from it, valid and invalid, sends
//! them to a real API with a real worker, and checks every answer against
//! it with all of its checks. Settings in `tests/py/schemathesis.toml`.

use std::path::PathBuf;
use std::time::Duration;

use crate::api::{api_config, service_token, user_token, Api};
use crate::support::*;

#[tokio::test]
async fn schemathesis_finds_nothing_against_the_openapi_document() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = root.join("tests/py/.venv/bin/schemathesis");
    assert!(bin.is_file(), "tests/py needs its packages: scripts/test.sh installs them into tests/py/.venv");
    let db = TestDb::new().await;
    let user = db.user().await;
    let mut cfg = api_config(&db);
    // Hundreds of requests from one user in a minute: the limits are
    // tested elsewhere.
    cfg.api.rate_limit_per_minute = 100_000;
    cfg.api.max_active_sessions_per_user = 1_000;
    let api = Api::start(cfg, true).await;
    let report = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(bin);
    command
        .current_dir(root.join("tests/py"))
        .args(["run", &format!("{}/api/openapi.json", api.base)])
        .args(["--url", &api.base])
        .args(["-H", &format!("Authorization: Bearer {}", user_token(user))])
        .args(["--report", "junit", "--report-dir", report.path().to_str().unwrap()])
        // The same requests on every run, so that a failure in CI is one
        // that can be replayed (EXECBOX_SCHEMATHESIS_SEED picks others).
        .args(["--seed", &std::env::var("EXECBOX_SCHEMATHESIS_SEED").unwrap_or_else(|_| "20261202".into())])
        .env("EXECBOX_SERVICE_TOKEN", service_token())
        .env("NO_COLOR", "1");
    let stdout = run_client(command, Duration::from_secs(600), "schemathesis (it found problems)").await;
    // It ran: every operation it selected passed both the coverage and
    // the fuzzing phase ("Operations: 23 selected", then "✅ 23 passed"
    // for each; later counts are of links and test cases).
    let selected = counts_before(&stdout, "selected").first().copied().unwrap_or(0);
    assert!(selected > 0, "no operations selected: {stdout}");
    let passed = counts_before(&stdout, "passed");
    assert!(passed.iter().take(2).all(|&n| n == selected), "a phase did not pass every operation: {stdout}");
    api.stop().await;
}

/// Every number in `text` directly followed by `word` (or `word,`), in order.
fn counts_before(text: &str, word: &str) -> Vec<u64> {
    let words: Vec<&str> = text.split_whitespace().collect();
    words.windows(2).filter(|w| w[1].trim_end_matches(',') == word).filter_map(|w| w[0].parse().ok()).collect()
}

#[test]
fn counts_are_whole_numbers_before_their_word() {
    let report =
        "Operations: 23 selected / 26 total\n ✅ 23 passed\n 2460 generated, 2460 passed, 80 skipped\n 0 passed";
    assert_eq!(counts_before(report, "selected"), [23]);
    assert_eq!(counts_before(report, "passed"), [23, 2460, 0]);
    assert_eq!(counts_before(report, "failed"), [] as [u64; 0]);
}
