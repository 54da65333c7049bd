//! How the API authenticates a caller, on a real port: HS256 tokens and
//! every failure's reason, JWKS with ES256/RS256 and key rotation (never
//! waited for by a check of a known key), Supabase Auth's online check of
//! revoked sessions.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use execbox::config::Secret;
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::api::*;
use crate::jwt::{es256_key, rs256_key, sign};
use crate::support::*;

#[tokio::test]
async fn hs256_token_failures_each_say_which_check_failed() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let mut cfg = api_config(&db);
    cfg.api.jwt_issuer = Some("https://example.supabase.co/auth/v1".into());
    let api = Api::start(cfg, false).await;
    let iss = "https://example.supabase.co/auth/v1";
    let good = |extra: Value| {
        let mut c = claims(user);
        c["iss"] = json!(iss);
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let alg_none = {
        let e = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.", e(&json!({"alg": "none", "typ": "JWT"})), e(&good(json!({}))))
    };
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "missing_token"),
        (Some("not-a-jwt".into()), "malformed"),
        (Some(hs256(&good(json!({"exp": now() - 3600})), SECRET)), "expired"),
        (Some(hs256(&good(json!({"nbf": now() + 3600})), SECRET)), "not_yet_valid"),
        (Some(hs256(&good(json!({"aud": "somebody-else"})), SECRET)), "wrong_audience"),
        (Some(hs256(&good(json!({"iss": "https://evil.example/auth/v1"})), SECRET)), "wrong_issuer"),
        (Some(hs256(&good(json!({})), "another-secret-another-secret-another!!")), "bad_signature"),
        (Some(alg_none), "alg_none"),
        (Some(hs256(&good(json!({"role": "anon"})), SECRET)), "role"),
        (Some(hs256(&good(json!({"sub": "not-a-uuid"})), SECRET)), "bad_subject"),
    ];
    for (token, check) in cases {
        let (status, v) = post(&api, "/api/v2/execute", token.as_deref(), piston("print(1)")).await;
        assert_eq!(status, 401, "{check}: {v}");
        assert_eq!(v["check"], check, "{v}");
        assert!(!v["message"].as_str().unwrap().is_empty());
        assert!(!v.to_string().contains(SECRET), "the secret leaked");
    }
    // A wrongly set header is malformed, not missing.
    let resp = http()
        .get(format!("{}/api/run-backend/ws/x", api.base))
        .header("Authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(body(resp).await.1["check"], "malformed");
    api.stop().await;
}

/// A stand-in for `<SUPABASE_URL>/auth/v1/.well-known/jwks.json`, whose keys
/// the test rotates; counts fetches.
async fn jwks_server(keys: Arc<Mutex<Vec<Value>>>, fetches: Arc<std::sync::atomic::AtomicUsize>) -> String {
    let app = axum::Router::new().route(
        "/auth/v1/.well-known/jwks.json",
        axum::routing::get(move || {
            let keys = keys.clone();
            let fetches = fetches.clone();
            async move {
                fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                axum::Json(json!({"keys": keys.lock().unwrap().clone()}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn jwks_keys_verify_and_rotate_without_restart() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let (es_key, es_jwk) = es256_key("es-1");
    let (rs_key, rs_jwk) = rs256_key("rs-1");
    let keys = Arc::new(Mutex::new(vec![es_jwk.clone(), rs_jwk]));
    let fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let supabase = jwks_server(keys.clone(), fetches.clone()).await;
    let mut cfg = db.config();
    cfg.api.supabase_url = Some(supabase);
    cfg.api.jwks_refetch_min_interval_ms = 0;
    let api = Api::start(cfg, true).await;

    // Both algorithms verify; the keys were fetched once.
    let es = sign(Algorithm::ES256, "es-1", &es_key, &claims(user));
    let rs = sign(Algorithm::RS256, "rs-1", &rs_key, &claims(user));
    for t in [&es, &rs] {
        let (status, v) = post(&api, "/api/v2/execute", Some(t), piston("print('OK')")).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["run"]["stdout"], "OK\n");
    }
    assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 1, "keys are cached");

    // HS256 is refused: no shared secret is configured.
    let (status, v) = post(&api, "/api/v2/execute", Some(&user_token(user)), piston("print(1)")).await;
    assert_eq!((status, v["check"].as_str()), (401, Some("hs256_not_accepted")), "{v}");
    // A token whose header claims another algorithm than its key's.
    let (other_key, _) = rs256_key("es-1");
    let mismatched = sign(Algorithm::RS256, "es-1", &other_key, &claims(user));
    let (status, v) = post(&api, "/api/v2/execute", Some(&mismatched), piston("print(1)")).await;
    assert_eq!((status, v["check"].as_str()), (401, Some("algorithm_mismatch")), "{v}");
    // Signed by a key nobody published.
    let (stranger, _) = es256_key("es-9");
    let (status, v) =
        post(&api, "/api/v2/execute", Some(&sign(Algorithm::ES256, "es-9", &stranger, &claims(user))), piston("1"))
            .await;
    assert_eq!((status, v["check"].as_str()), (401, Some("unknown_kid")), "{v}");
    // Published kid, wrong key: bad signature.
    let forged = sign(Algorithm::ES256, "es-1", &stranger, &claims(user));
    let (status, v) = post(&api, "/api/v2/execute", Some(&forged), piston("1")).await;
    assert_eq!((status, v["check"].as_str()), (401, Some("bad_signature")), "{v}");

    // Rotation: the project publishes a new key; a token signed with it
    // works at once (unknown kid -> refetch), without a restart.
    let (new_key, new_jwk) = es256_key("es-2");
    keys.lock().unwrap().push(new_jwk);
    let rotated = sign(Algorithm::ES256, "es-2", &new_key, &claims(user));
    let (status, v) = post(&api, "/api/v2/execute", Some(&rotated), piston("print('rotated')")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["run"]["stdout"], "rotated\n");
    api.stop().await;
}

/// Token checks read a snapshot of the project's keys: while a refresh (a
/// rotation's unknown key id) waits on a slow JWKS endpoint, tokens signed
/// with a known key are answered at once, and the waiting checks share one
/// fetch.
#[tokio::test]
async fn token_checks_never_wait_for_a_jwks_refresh() {
    use std::sync::atomic::Ordering::SeqCst;
    let db = TestDb::new().await;
    let user = db.user().await;
    let (es_key, es_jwk) = es256_key("es-1");
    let (new_key, new_jwk) = es256_key("es-2");
    let keys = Arc::new(Mutex::new(vec![es_jwk]));
    let fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // The endpoint answers only while the gate is open.
    let (gate, gated) = tokio::sync::watch::channel(true);
    let app = axum::Router::new().route(
        "/auth/v1/.well-known/jwks.json",
        axum::routing::get({
            let (keys, fetches) = (keys.clone(), fetches.clone());
            move || {
                let (keys, fetches, mut gated) = (keys.clone(), fetches.clone(), gated.clone());
                async move {
                    fetches.fetch_add(1, SeqCst);
                    while !*gated.borrow_and_update() {
                        gated.changed().await.unwrap();
                    }
                    axum::Json(json!({"keys": keys.lock().unwrap().clone()}))
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let supabase = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut cfg = db.config();
    cfg.api.supabase_url = Some(supabase);
    cfg.api.jwks_refetch_min_interval_ms = 0;
    let api = Arc::new(Api::start(cfg, false).await);
    // Authenticated, then refused for its language: no worker needed.
    let probe = json!({"language": "no-such-language", "files": [{"content": "1"}]});
    let known = sign(Algorithm::ES256, "es-1", &es_key, &claims(user));
    let (status, v) = post(&api, "/api/v2/execute", Some(&known), probe.clone()).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(fetches.load(SeqCst), 1);

    // A rotation begins: the endpoint hangs, five checks of the new key wait.
    gate.send(false).unwrap();
    let rotated = sign(Algorithm::ES256, "es-2", &new_key, &claims(user));
    let waiting: Vec<_> = (0..5)
        .map(|_| {
            let (api, token, probe) = (api.clone(), rotated.clone(), probe.clone());
            tokio::spawn(async move { post(&api, "/api/v2/execute", Some(&token), probe).await })
        })
        .collect();
    eventually("a second JWKS fetch", Duration::from_secs(30), || async { (fetches.load(SeqCst) >= 2).then_some(()) })
        .await;
    // Meanwhile a known key is answered without waiting for the endpoint
    // (which answers nothing until the gate opens): while the five checks
    // of the new key still wait for the refresh, which was still in flight
    // when the gate opened (they verify with the key it fetched, below).
    let answered = post(&api, "/api/v2/execute", Some(&known), probe.clone()).await;
    assert!(waiting.iter().all(|w| !w.is_finished()), "a check of a known key waited for the JWKS refresh");
    assert_eq!(answered.0, 400, "{}", answered.1);

    keys.lock().unwrap().push(new_jwk);
    gate.send(true).unwrap();
    for w in waiting {
        let (status, v) = w.await.unwrap();
        assert_eq!(status, 400, "the new key verifies once fetched: {v}");
    }
    assert_eq!(fetches.load(SeqCst), 2, "the five waiting checks shared one fetch");
}

#[tokio::test]
async fn online_check_refuses_revoked_sessions_and_code_is_capped() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let live = user_token(user);
    let mut revoked_claims = claims(user);
    revoked_claims["session_id"] = json!("revoked");
    let revoked = hs256(&revoked_claims, SECRET);
    // A stand-in for Supabase Auth's GET /auth/v1/user: knows one session.
    let known = live.clone();
    let auth = axum::Router::new().route(
        "/auth/v1/user",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let known = known.clone();
            async move {
                let ok = headers.get("apikey").is_some_and(|k| k == "anon-key")
                    && headers.get("authorization").is_some_and(|a| a.to_str().unwrap() == format!("Bearer {known}"));
                if ok {
                    (axum::http::StatusCode::OK, "{}")
                } else {
                    (axum::http::StatusCode::UNAUTHORIZED, "{}")
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let supabase = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, auth).await });
    let mut cfg = api_config(&db);
    cfg.api.supabase_url = Some(supabase);
    cfg.api.online_check = true;
    cfg.api.supabase_anon_key = Some(Secret::new("anon-key"));
    let api = Api::start(cfg, false).await;
    let path = format!("/api/run-backend/ws/{}", Uuid::new_v4());
    assert_eq!(get(&api, &path, Some(&live)).await.0, 404, "a live session passes auth");
    let (status, v) = get(&api, &path, Some(&revoked)).await;
    assert_eq!((status, v["check"].as_str()), (401, Some("revoked")), "{v}");

    // The code itself is capped (1 MiB), below the body limit.
    let big = json!({"code": "#".repeat(1024 * 1024 + 1), "language": "python"});
    let (status, v) = post(&api, "/api/run-backend", Some(&live), big).await;
    assert_eq!(status, 413, "{v}");
    assert!(v["message"].as_str().unwrap().contains("the limit is 1048576"));
    api.stop().await;
}
