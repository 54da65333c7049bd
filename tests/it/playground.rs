//! The playground page: served with its policy and assets, its API
//! (`/api/sessions`: the caller's sessions, one in full, a cancel), and the
//! page itself in headless Chromium (`tests/js/playground.mjs`).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

use crate::api::{api_config, body, get, http, post, service_token, user_token, Api};
use crate::support::*;

const T: Duration = Duration::from_secs(60);

/// Another user's session is a 404 (ids do not leak); a limit outside its
/// bounds or an unknown parameter is a 400; a pending session's cancel ends
/// it on the spot, a cancel of an ended one changes nothing.
#[tokio::test]
async fn the_callers_sessions_listed_read_and_cancelled() {
    let db = TestDb::new().await;
    let api = Api::start(api_config(&db), false).await;
    let (alice, bob) = (db.user().await, db.user().await);
    let (ta, tb) = (user_token(alice), user_token(bob));
    let mut mine = Vec::new();
    for i in 0..3 {
        mine.push(db.submit(alice, "python", &format!("print({i})\n# {}", "x".repeat(300))).await);
    }
    let theirs = db.submit(bob, "python", "print('bob')").await;

    let (status, list) = get(&api, "/api/sessions", Some(&ta)).await;
    assert_eq!(status, 200, "{list}");
    let ids: Vec<Uuid> = list.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().parse().unwrap()).collect();
    assert_eq!(ids, mine.iter().rev().copied().collect::<Vec<_>>(), "alice's, newest first");
    let first = &list[0];
    assert_eq!((first["language"].as_str(), first["status"].as_str()), (Some("python"), Some("pending")));
    assert_eq!(first["code"].as_str().unwrap().chars().count(), 200, "a preview of the code");
    assert!(first["endReason"].is_null());
    let (_, two) = get(&api, "/api/sessions?limit=2", Some(&ta)).await;
    assert_eq!(two.as_array().unwrap().len(), 2);
    for bad in ["limit=0", "limit=101", "limit=ten", "limit=", "limit=2.5", "user=bob"] {
        let (status, v) = get(&api, &format!("/api/sessions?{bad}"), Some(&ta)).await;
        assert_eq!(status, 400, "{bad}: {v}");
        assert_eq!(v["code"], "bad_request", "{bad}");
    }
    assert_eq!(get(&api, "/api/sessions", None).await.0, 401);
    // The service role sees everyone's.
    let (_, all) = get(&api, "/api/sessions?limit=100", Some(&service_token())).await;
    assert_eq!(all.as_array().unwrap().len(), 4);

    let (status, one) = get(&api, &format!("/api/sessions/{}", mine[0]), Some(&ta)).await;
    assert_eq!(status, 200, "{one}");
    assert!(one["code"].as_str().unwrap().starts_with("print(0)") && one["code"].as_str().unwrap().len() > 300);
    assert_eq!(one["status"], "pending");
    assert_eq!(one["cancelRequested"], false);
    for (path, token) in [
        (format!("/api/sessions/{theirs}"), &ta),
        (format!("/api/sessions/{}", mine[0]), &tb),
        (format!("/api/sessions/{}", Uuid::new_v4()), &ta),
        ("/api/sessions/not-an-id".to_string(), &ta),
    ] {
        let (status, v) = get(&api, &path, Some(token)).await;
        assert_eq!((status, v["code"].as_str()), (404, Some("not_found")), "{path}");
        let (status, _) = post(&api, &format!("{path}/cancel"), Some(token), json!(null)).await;
        assert_eq!(status, 404, "cancel {path}");
    }
    assert_eq!(db.session(theirs).await.status, SessionStatus::Pending, "bob's session is untouched");

    let (status, v) = post(&api, &format!("/api/sessions/{}/cancel", mine[0]), Some(&ta), json!(null)).await;
    assert_eq!(status, 202, "{v}");
    assert_eq!((v["status"].as_str(), v["cancelRequested"].as_bool()), (Some("cancelled"), Some(true)));
    let s = db.session(mine[0]).await;
    assert_eq!((s.status, s.end_reason), (SessionStatus::Cancelled, Some(EndReason::Cancelled)));
    // Again: it stays as it ended.
    let (status, v) = post(&api, &format!("/api/sessions/{}/cancel", mine[0]), Some(&ta), json!(null)).await;
    assert_eq!((status, v["status"].as_str()), (202, Some("cancelled")));
    let (status, _) =
        post(&api, &format!("/api/sessions/{}/cancel", mine[1]), Some(&service_token()), json!(null)).await;
    assert_eq!(status, 403, "a cancel is the owner's");
    api.stop().await;
}

/// The page and its assets: embedded, same-origin by policy, revalidated
/// cheaply; the templates are the runtime table's; off by a setting.
#[tokio::test]
async fn the_page_is_served_with_its_policy() {
    let db = TestDb::new().await;
    let api = Api::start(api_config(&db), false).await;
    let resp = http().get(format!("{}/", api.base)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = h["content-security-policy"].to_str().unwrap();
    for directive in ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert_eq!(h["referrer-policy"], "no-referrer");
    let page = resp.text().await.unwrap();
    assert!(page.contains("data-testid=\"run\""));
    for (asset, kind) in [
        ("/assets/playground.js", "text/javascript"),
        ("/assets/playground.css", "text/css"),
        ("/assets/licenses.txt", "text/plain"),
    ] {
        let resp = http().get(format!("{}{asset}", api.base)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{asset}");
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with(kind), "{asset}");
        let etag = resp.headers()["etag"].clone();
        let again = http().get(format!("{}{asset}", api.base)).header("if-none-match", etag).send().await.unwrap();
        assert_eq!(again.status(), 304, "{asset}");
    }
    let (status, templates) = get(&api, "/assets/templates.json", None).await;
    assert_eq!(status, 200);
    let runtimes = execbox::runtimes::Runtimes::builtin();
    for rt in runtimes.all() {
        assert_eq!(templates[&rt.language].as_str(), Some(rt.hello.as_str()), "{}", rt.language);
    }
    api.stop().await;

    let mut cfg = api_config(&db);
    cfg.api.playground = false;
    let api = Api::start(cfg, false).await;
    let resp = http().get(format!("{}/", api.base)).send().await.unwrap();
    assert_eq!(body(resp).await.0, 404, "EXECBOX_PLAYGROUND=false serves no page");
    api.stop().await;
}

/// Runs `tests/js/playground.mjs` against a live API and worker: its JSON
/// lines, or a panic with what it printed.
async fn drive(base: &str, token: &str, shots: &std::path::Path) -> Vec<Value> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("tests/js/node_modules/playwright-core").is_dir(),
        "tests/js needs its packages: run `npm ci --prefix tests/js` (scripts/test.sh does)"
    );
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "the browser tests need Debian's chromium (scripts/test.sh installs it: ensure_chromium in scripts/lib.sh)"
    );
    let mut command = tokio::process::Command::new("node");
    command.arg(root.join("tests/js/playground.mjs")).args([base, token, shots.to_str().unwrap()]);
    let stdout = run_client(command, Duration::from_secs(600), "the browser run").await;
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("{l}"))).collect()
}

/// The page in Chromium, as a newcomer uses it (each step's checks are in
/// the script); here, what the database says the page did.
#[tokio::test]
async fn the_playground_in_headless_chromium() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let mut cfg = api_config(&db);
    cfg.worker.warm_pool.insert("python".into(), 1);
    let api = Api::start(cfg, true).await;
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/playground");
    let steps = drive(&api.base, &user_token(user), &shots).await;
    let names: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "signed-in",
            "streamed",
            "stdin",
            "cancelled",
            "compile-error",
            "reopened",
            "keyboard",
            "narrow",
            "refused-in-url",
            "sign-in",
            "same-origin"
        ]
    );
    let session = |step: &str| -> Uuid {
        let s = steps.iter().find(|s| s["step"] == step).unwrap();
        s["session"].as_str().unwrap().parse().unwrap()
    };
    // The page's sessions are the user's, ended as the page showed.
    let streamed = db.wait_done(session("streamed"), T).await;
    assert_eq!((streamed.status, streamed.end_reason), (SessionStatus::Completed, Some(EndReason::Exit)));
    assert_eq!(db.stdout(session("streamed")).await, ["first line", "second line"]);
    let cancelled = db.wait_done(session("cancelled"), T).await;
    assert_eq!((cancelled.status, cancelled.end_reason), (SessionStatus::Cancelled, Some(EndReason::Cancelled)));
    let broken = db.wait_done(session("compile-error"), T).await;
    assert_eq!((broken.status, broken.end_reason), (SessionStatus::Failed, Some(EndReason::CompileError)));
    for step in ["streamed", "cancelled", "compile-error"] {
        let owner: Uuid = db
            .client()
            .await
            .query_one("select user_id from backend_execution_sessions where id = $1", &[&session(step)])
            .await
            .unwrap()
            .get(0);
        assert_eq!(owner, user, "{step}");
    }
    let keyboard = db.wait_done(session("keyboard"), T).await;
    assert_eq!(keyboard.status, SessionStatus::Completed);
    assert_eq!(db.stdout(session("keyboard")).await, ["hello"]);
    for shot in [
        "1-signed-in",
        "2-streaming",
        "3-completed",
        "4-cancelled",
        "5-compile-error",
        "6-reopened",
        "7-keyboard",
        "8-narrow",
        "9-refused-in-url",
        "10-refused",
    ] {
        assert!(shots.join(format!("{shot}.png")).is_file(), "{shot}");
    }
    api.stop().await;
}

/// The embedded script is what `web/` builds from its source with its
/// pinned packages (`cd web && npm ci && npm run build` rewrites it).
#[test]
fn the_embedded_bundle_is_what_web_builds() {
    let web = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web");
    assert!(
        web.join("node_modules/esbuild").is_dir(),
        "web needs its packages: run `npm ci --prefix web` (scripts/test.sh does)"
    );
    let out = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("node").arg(web.join("build.mjs")).arg(out.path()).status().unwrap();
    assert!(status.success());
    for file in ["playground.js", "licenses.txt"] {
        let built = std::fs::read(out.path().join(file)).unwrap();
        let embedded = std::fs::read(web.join("dist").join(file)).unwrap();
        assert!(
            built == embedded,
            "web/dist/{file} is not what web/ builds: run `cd web && npm run build` and commit it"
        );
    }
}
