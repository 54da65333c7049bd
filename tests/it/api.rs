//! The HTTP/WebSocket API on a real port, against real PostgreSQL, real
//! workers and real Docker: authentication (HS256, JWKS with ES256/RS256 and
//! key rotation, every failure), the seed's endpoints, Piston v2, health,
//! metrics, limits, errors and the OpenAPI document.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use execbox::config::{Config, Secret};
use futures::{SinkExt, StreamExt};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use uuid::Uuid;

use crate::jwt::{es256_key, rs256_key, sign};
use crate::support::*;

pub(crate) const SECRET: &str = "test-secret-that-is-long-enough-for-hs256!!";

/// A running API (and its optional worker) on 127.0.0.1:<random>.
pub struct Api {
    pub base: String,
    stop: tokio_util::sync::CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Api {
    pub async fn start(cfg: Config, with_worker: bool) -> Api {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        // The API connects as an API node, its worker as a worker, each
        // with its own login role, whatever user the test's URL names.
        let mut cfg = cfg;
        cfg.database_url = Secret::new(as_role(cfg.database_url.expose(), API_ROLE));
        let cfg = Arc::new(cfg.finish().unwrap());
        let runtimes = Arc::new(execbox::runtimes::Runtimes::builtin());
        let stop = tokio_util::sync::CancellationToken::new();
        let st = execbox::api::ApiState::new(cfg.clone(), runtimes.clone()).unwrap();
        let s = stop.clone();
        let task = tokio::spawn(async move {
            let worker_stop = tokio_util::sync::CancellationToken::new();
            let worker = with_worker.then(|| {
                let mut wcfg = (*cfg).clone();
                wcfg.database_url = Secret::new(as_role(cfg.database_url.expose(), WORKER_ROLE));
                tokio::spawn(execbox::worker::run(Arc::new(wcfg), runtimes, worker_stop.clone()))
            });
            let r = execbox::api::serve(listener, st, async move { s.cancelled().await }).await;
            worker_stop.cancel();
            if let Some(w) = worker {
                w.await.unwrap()?;
            }
            r
        });
        let api = Api { base, stop, task: Some(task) };
        if with_worker {
            // Its worker is live (and says which runtimes it has) before
            // the test's first request.
            eventually("the API's worker live on /health", Duration::from_secs(30), || async {
                (get(&api, "/health", None).await.0 == 200).then_some(())
            })
            .await;
        }
        api
    }

    pub fn ws(&self, path: &str) -> String {
        format!("{}{path}", self.base.replace("http://", "ws://"))
    }

    pub async fn stop(mut self) {
        self.stop.cancel();
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The test configuration with the API's HS256 secret set.
pub(crate) fn api_config(db: &TestDb) -> Config {
    let mut cfg = db.config();
    cfg.database_url = Secret::new(db.api_url());
    cfg.api.jwt_secret = Some(Secret::new(SECRET));
    cfg
}

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub(crate) fn claims(user: Uuid) -> Value {
    json!({"sub": user.to_string(), "role": "authenticated", "aud": "authenticated", "exp": now() + 600, "iat": now()})
}

fn hs256(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

pub(crate) fn user_token(user: Uuid) -> String {
    hs256(&claims(user), SECRET)
}

pub(crate) fn service_token() -> String {
    hs256(&json!({"role": "service_role", "iss": "supabase", "exp": now() + 600}), SECRET)
}

pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::new()
}

pub(crate) async fn body(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text:?}")))
}

pub(crate) async fn post(api: &Api, path: &str, token: Option<&str>, body_json: Value) -> (u16, Value) {
    let mut req = http().post(format!("{}{path}", api.base)).json(&body_json);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    body(req.send().await.unwrap()).await
}

pub(crate) async fn get(api: &Api, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = http().get(format!("{}{path}", api.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    body(req.send().await.unwrap()).await
}

pub(crate) fn piston(code: &str) -> Value {
    json!({"language": "python", "version": "*", "files": [{"name": "test.py", "content": code}]})
}

// ---------------------------------------------------------------------------

#[tokio::test]
async fn health_reports_the_database_and_workers_with_docker() {
    let db = TestDb::new().await;
    let api = Api::start(api_config(&db), false).await;
    let (status, v) = get(&api, "/health", None).await;
    assert_eq!(status, 503, "no worker yet: {v}");
    assert_eq!(v["database"]["ok"], true);
    assert_eq!(v["docker"]["ok"], false);
    let w = db.worker();
    let v = eventually("/health ok", Duration::from_secs(20), || async {
        let (status, v) = get(&api, "/health", None).await;
        (status == 200).then_some(v)
    })
    .await;
    assert_eq!(v["status"], "ok");
    assert!(v["uptime"].as_f64().unwrap() >= 0.0);
    assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
    w.stop().await.unwrap();
    api.stop().await;
    // With the database gone, health says so.
    let mut cfg = api_config(&db);
    cfg.database_url = Secret::new("postgres://postgres@127.0.0.1:1/none");
    let api = Api::start(cfg, false).await;
    let (status, v) = get(&api, "/health", None).await;
    assert_eq!(status, 503);
    assert_eq!(v["database"]["ok"], false);
    api.stop().await;
}

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
    // (which answers nothing until the gate opens).
    let answered =
        tokio::time::timeout(Duration::from_secs(10), post(&api, "/api/v2/execute", Some(&known), probe.clone()))
            .await
            .expect("a check of a known key waited for the JWKS refresh");
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
async fn run_backend_and_its_log_socket() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let other = db.user().await;
    let api = Api::start(api_config(&db), true).await;
    let token = user_token(user);
    let code = "import time\nfor i in range(3):\n    print(f'line {i}', flush=True)\n    time.sleep(0.3)";
    let (status, v) = post(
        &api,
        "/api/run-backend",
        Some(&token),
        json!({"code": code, "language": "python", "userContext": {"userId": user, "sessionName": "seed"}}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let id = v["sessionId"].as_str().unwrap().to_string();
    assert!(matches!(v["status"].as_str(), Some("running") | Some("completed")), "{v}");
    assert!(v["containerId"].is_string(), "{v}");

    // The browser way: token in the query string.
    let url = api.ws(&format!("/api/run-backend/ws/{id}?access_token={token}"));
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let mut msgs = Vec::new();
    while let Some(Ok(m)) = ws.next().await {
        if let WsMessage::Text(t) = m {
            let v: Value = serde_json::from_str(&t).unwrap();
            let done = v["type"] == "execution_complete";
            msgs.push(v);
            if done {
                break;
            }
        }
    }
    assert_eq!(msgs[0]["type"], "connected");
    assert_eq!(msgs[0]["sessionId"], id.as_str());
    let logs: Vec<&str> = msgs.iter().filter(|m| m["type"] == "log").map(|m| m["message"].as_str().unwrap()).collect();
    assert_eq!(logs, ["line 0", "line 1", "line 2"]);
    assert!(msgs.iter().filter(|m| m["type"] == "log").all(|m| m["level"] == "info" && m["timestamp"].is_string()));
    assert_eq!(msgs.last().unwrap()["status"], "completed");
    // A replay after the end gets everything again.
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let mut n = 0;
    while let Some(Ok(m)) = ws.next().await {
        if let WsMessage::Text(t) = m {
            let v: Value = serde_json::from_str(&t).unwrap();
            n += (v["type"] == "log") as usize;
            if v["type"] == "execution_complete" {
                break;
            }
        }
    }
    assert_eq!(n, 3);

    // Another user: their userId in the body is refused; the socket is 404.
    let (status, v) = post(
        &api,
        "/api/run-backend",
        Some(&user_token(other)),
        json!({"code": "1", "language": "python", "userContext": {"userId": user}}),
    )
    .await;
    assert_eq!(status, 403, "{v}");
    let err = tokio_tungstenite::connect_async(
        api.ws(&format!("/api/run-backend/ws/{id}?access_token={}", user_token(other))),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    let (status, _) = get(&api, &format!("/api/run-backend/ws/{}", Uuid::new_v4()), Some(&token)).await;
    assert_eq!(status, 404);
    // The service role acts for the user it names.
    let (status, v) = post(
        &api,
        "/api/run-backend",
        Some(&service_token()),
        json!({"code": "print(2)", "language": "py", "userContext": {"userId": other}}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) =
        post(&api, "/api/run-backend", Some(&service_token()), json!({"code": "print(2)", "language": "py"})).await;
    assert_eq!(status, 400, "{v}");
    // Bad bodies.
    let (status, v) = post(&api, "/api/run-backend", Some(&token), json!({"code": "1", "language": "intercal"})).await;
    assert_eq!(status, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("python"));
    let (status, _) = post(&api, "/api/run-backend", Some(&token), json!({"language": "python"})).await;
    assert_eq!(status, 422);
    api.stop().await;
}

#[tokio::test]
async fn piston_execute_runtimes_and_errors() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let mut cfg = api_config(&db);
    cfg.limits.max_timeout_ms = 60_000;
    cfg.limits.default_timeout_ms = 20_000;
    let api = Api::start(cfg, true).await;
    let token = user_token(user);

    // Runtimes are public.
    let (status, v) = get(&api, "/api/v2/runtimes", None).await;
    assert_eq!(status, 200);
    let py = v.as_array().unwrap().iter().find(|r| r["language"] == "python").unwrap();
    assert!(py["aliases"].as_array().unwrap().contains(&json!("py")));

    // Piston's convention: test.<ext> prints OK.
    let (status, v) = post(&api, "/api/v2/execute", Some(&token), piston("print('OK')")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["language"], "python");
    assert_eq!(v["run"]["stdout"], "OK\n");
    assert_eq!(v["run"]["output"], "OK\n");
    assert_eq!(v["run"]["code"], 0);
    assert_eq!(v["run"]["signal"], Value::Null);
    assert!(v["run"]["wall_time"].as_f64().unwrap() > 0.0);
    let node = json!({"language": "javascript", "version": "*", "files": [{"name": "test.js", "content": "console.log('OK')"}]});
    assert_eq!(post(&api, "/api/v2/execute", Some(&token), node).await.1["run"]["stdout"], "OK\n");

    // stdin, args, extra files, stderr, exit code.
    let req = json!({"language": "python", "files": [
            {"name": "main.py", "content": "import sys, time, helper\nprint(helper.X, sys.argv[1], input())\ntime.sleep(0.1)\nprint('oops', file=sys.stderr)\nsys.exit(4)"},
            {"name": "helper.py", "content": "WD0x", "encoding": "base64"}],
        "stdin": "typed", "args": ["arg1"]});
    let (status, v) = post(&api, "/api/v2/execute", Some(&token), req).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["run"]["stdout"], "1 arg1 typed\n");
    assert_eq!(v["run"]["stderr"], "oops\n");
    assert_eq!(v["run"]["output"], "1 arg1 typed\noops\n");
    assert_eq!((v["run"]["code"].clone(), v["run"]["status"].clone()), (json!(4), json!("RE")));
    // Piston's stdin ends with a newline, added when missing, so a program
    // reading a line gets an empty one rather than end of file.
    for (stdin, line) in [(None, "''"), (Some("typed"), "'typed'"), (Some("two\n"), "'two'")] {
        let mut req = piston("print(repr(input()))");
        if let Some(stdin) = stdin {
            req["stdin"] = json!(stdin);
        }
        let (status, v) = post(&api, "/api/v2/execute", Some(&token), req).await;
        assert_eq!((status, v["run"]["stdout"].clone()), (200, json!(format!("{line}\n"))), "{stdin:?}: {v}");
    }

    // Timeout: a request may lower the limit.
    let mut slow = piston("while True: pass");
    slow["run_timeout"] = json!(1000);
    let (status, v) = post(&api, "/api/v2/execute", Some(&token), slow).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["run"]["status"].clone(), v["run"]["signal"].clone()), (json!("TO"), json!("SIGKILL")));

    // A CPU-time limit stops a burner (Piston's TO), not a sleeper.
    let mut burner = piston("while True: pass");
    burner["run_cpu_time"] = json!(300);
    let (status, v) = post(&api, "/api/v2/execute", Some(&token), burner).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["run"]["status"].clone(), v["run"]["signal"].clone()), (json!("TO"), json!("SIGKILL")), "{v}");
    assert!(v["run"]["cpu_time"].as_i64().unwrap() >= 300, "{v}");
    let mut sleeper = piston("import time\ntime.sleep(1)\nprint('up')");
    sleeper["run_cpu_time"] = json!(300);
    let (status, v) = post(&api, "/api/v2/execute", Some(&token), sleeper).await;
    assert_eq!(
        (status, v["run"]["stdout"].clone(), v["run"]["status"].clone()),
        (200, json!("up\n"), Value::Null),
        "{v}"
    );
    assert!(v["run"]["wall_time"].as_i64().unwrap() >= 1000, "{v}");

    // ...but never raise it.
    let mut greedy = piston("1");
    greedy["run_timeout"] = json!(600_000);
    let (status, v) = post(&api, "/api/v2/execute", Some(&token), greedy).await;
    assert_eq!(status, 400);
    assert!(v["message"].as_str().unwrap().contains("cannot exceed the configured limit"), "{v}");
    let mut greedy = piston("1");
    greedy["run_memory_limit"] = json!(8i64 * 1024 * 1024 * 1024);
    assert_eq!(post(&api, "/api/v2/execute", Some(&token), greedy).await.0, 400);

    // Unknown runtimes, hostile names.
    let (status, v) = post(
        &api,
        "/api/v2/execute",
        Some(&token),
        json!({"language": "intercal", "version": "*", "files": [{"content": "x"}]}),
    )
    .await;
    assert_eq!((status, v["message"].as_str()), (400, Some("intercal-* runtime is unknown")));
    let (status, _) = post(
        &api,
        "/api/v2/execute",
        Some(&token),
        json!({"language": "python", "version": "2.7", "files": [{"content": "x"}]}),
    )
    .await;
    assert_eq!(status, 400);
    let hostile =
        json!({"language": "python", "files": [{"content": "1"}, {"name": "../../etc/passwd", "content": "x"}]});
    let (status, v) = post(&api, "/api/v2/execute", Some(&token), hostile).await;
    assert_eq!(status, 400);
    assert!(v["message"].as_str().unwrap().contains("not allowed"), "{v}");

    // Not JSON, broken JSON, too large, unknown route, wrong method: JSON errors.
    let resp = http()
        .post(format!("{}/api/v2/execute", api.base))
        .bearer_auth(&token)
        .body("language=python")
        .send()
        .await
        .unwrap();
    assert_eq!(body(resp).await.0, 415);
    let resp = http()
        .post(format!("{}/api/v2/execute", api.base))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"language\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(body(resp).await.0, 400);
    let huge = piston(&"#".repeat(3 * 1024 * 1024));
    assert_eq!(post(&api, "/api/v2/execute", Some(&token), huge).await.0, 413);
    assert_eq!(get(&api, "/api/v3/nothing", Some(&token)).await.0, 404);
    let resp = http().delete(format!("{}/api/v2/execute", api.base)).send().await.unwrap();
    assert_eq!(body(resp).await.0, 405);
    api.stop().await;
}

/// Reads socket messages until `pred` matches one (or the socket closes);
/// returns all of them and the close frame's code, if any.
/// The floods that once wedged a session forever, through Piston's API at
/// the default output limit, on the cold path and the warm one: each is
/// answered, as an output limit (or a time limit, if the database wrote
/// more slowly than the program printed), within the limit plus a grace.
#[tokio::test]
async fn piston_floods_end_on_time_at_default_settings() {
    let _cpu = flooding().await;
    let db = TestDb::new().await;
    for warm in [false, true] {
        let mut cfg = api_config(&db);
        let worker_id = format!("flood-{}", Uuid::new_v4().simple());
        cfg.worker.id = worker_id.clone();
        if warm {
            cfg.worker.warm_pool.insert("python".into(), 1);
        }
        assert_eq!(cfg.limits.output_limit_bytes, execbox::config::Limits::default().output_limit_bytes);
        let api = Api::start(cfg, true).await;
        let user = db.user().await;
        let token = user_token(user);
        for code in ["while True:\n    print(1)\n", "import sys\nwhile True:\n    sys.stdout.write('x' * 4096)\n"] {
            let mut req = piston(code);
            req["run_timeout"] = json!(10_000);
            let ready =
                if warm { wait_pool_of(&worker_id, 1, Some("execbox/python:3.11")).await } else { Default::default() };
            // Answered: once these wedged a session forever.
            let (status, v) =
                tokio::time::timeout(Duration::from_secs(120), post(&api, "/api/v2/execute", Some(&token), req))
                    .await
                    .expect("a flood is answered");
            assert_eq!(status, 200, "warm {warm}: {v}");
            // The path it took: a container the pool had ready, or a new one.
            let session: Uuid = db
                .client()
                .await
                .query_one(
                    "select id from backend_execution_sessions where user_id = $1 order by created_at desc limit 1",
                    &[&user],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(ready.contains(&container_of(&db, session).await), warm, "warm {warm}: the path taken");
            // By the database's clock: within its limit and 5 s.
            let ran = db.ran_secs(session).await;
            assert!(ran <= 10.0 + 5.0, "warm {warm}: ended {ran:.1} s after it started");
            let run = &v["run"];
            assert!(run["status"] == "OL" || run["status"] == "TO", "warm {warm}: {run}");
            assert_eq!(run["signal"], "SIGKILL");
            if run["status"] == "OL" {
                assert!(run["stdout"].as_str().unwrap().len() > 1_000_000, "what fits is kept");
            }
        }
        api.stop().await;
    }
}

pub(crate) async fn read_until<S>(ws: &mut S, pred: impl Fn(&Value) -> bool) -> (Vec<Value>, Option<u16>)
where
    S: futures::Stream<Item = Result<WsMessage, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next()).await.expect("socket went quiet");
        match next {
            Some(Ok(WsMessage::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                let stop = pred(&v);
                got.push(v);
                if stop {
                    return (got, None);
                }
            }
            Some(Ok(WsMessage::Close(frame))) => return (got, frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => {}
            None | Some(Err(_)) => return (got, None),
        }
    }
}

#[tokio::test]
async fn piston_socket_stdin_eof_signals_and_close_codes() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let api = Api::start(api_config(&db), true).await;
    let token = user_token(user);
    let connect = |path: &str| {
        let mut req =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(api.ws(path)).unwrap();
        req.headers_mut().insert("Authorization", format!("Bearer {token}").parse().unwrap());
        tokio_tungstenite::connect_async(req)
    };

    // A conversation: stdin in, stdout out, EOF ends it.
    let (mut ws, _) = connect("/api/v2/connect").await.unwrap();
    let code = "import sys\nprint('name?', flush=True)\nfor line in sys.stdin:\n    print('hi ' + line.strip(), flush=True)\nprint('eof')";
    ws.send(WsMessage::Text(
        json!({"type": "init", "language": "python", "version": "*", "files": [{"content": code}]}).to_string().into(),
    ))
    .await
    .unwrap();
    let (got, _) = read_until(&mut ws, |v| v["type"] == "data").await;
    assert_eq!(got[0]["type"], "runtime");
    assert_eq!(got[1], json!({"type": "stage", "stage": "run"}));
    assert_eq!(got[2], json!({"type": "data", "stream": "stdout", "data": "name?\n"}));
    ws.send(WsMessage::Text(json!({"type": "data", "stream": "stdin", "data": "ada\n"}).to_string().into()))
        .await
        .unwrap();
    let (got, _) = read_until(&mut ws, |v| v["type"] == "data").await;
    assert_eq!(got[0]["data"], "hi ada\n");
    ws.send(WsMessage::Text(json!({"type": "eof"}).to_string().into())).await.unwrap();
    let (got, close) = read_until(&mut ws, |_| false).await;
    assert_eq!(got[0]["data"], "eof\n");
    let exit = got.iter().find(|m| m["type"] == "exit").unwrap();
    assert_eq!((exit["stage"].clone(), exit["code"].clone()), (json!("run"), json!(0)));
    assert_eq!(close, Some(4999));

    // A signal that really kills.
    let (mut ws, _) = connect("/api/exec").await.unwrap();
    ws.send(WsMessage::Text(json!({"type": "init", "language": "node", "files": [{"content": "console.log('up'); setInterval(()=>{}, 1000)"}]}).to_string().into())).await.unwrap();
    read_until(&mut ws, |v| v["type"] == "data").await;
    ws.send(WsMessage::Text(json!({"type": "signal", "signal": "SIGKILL"}).to_string().into())).await.unwrap();
    let (got, close) = read_until(&mut ws, |_| false).await;
    let exit = got.iter().find(|m| m["type"] == "exit").unwrap();
    assert_eq!(exit["signal"], "SIGKILL");
    assert_eq!(close, Some(4999));

    // Protocol errors and their close codes.
    let (mut ws, _) = connect("/api/v2/connect").await.unwrap();
    ws.send(WsMessage::Text(json!({"type": "data", "stream": "stdin", "data": "x"}).to_string().into())).await.unwrap();
    assert_eq!(read_until(&mut ws, |_| false).await.1, Some(4003));
    let (mut ws, _) = connect("/api/v2/connect").await.unwrap();
    assert_eq!(read_until(&mut ws, |_| false).await.1, Some(4001), "no init within 1 s");
    let init = json!({"type": "init", "language": "python", "files": [{"content": "import time\nprint(1, flush=True)\ntime.sleep(30)"}]}).to_string();
    for (msg, code) in [
        (json!({"type": "signal", "signal": "SIGSEGV"}), 4005),
        (json!({"type": "data", "stream": "stdout", "data": "x"}), 4004),
        (json!({"type": "init", "language": "python", "files": [{"content": "1"}]}), 4000),
    ] {
        let (mut ws, _) = connect("/api/v2/connect").await.unwrap();
        ws.send(WsMessage::Text(init.clone().into())).await.unwrap();
        read_until(&mut ws, |v| v["type"] == "data").await;
        ws.send(WsMessage::Text(msg.to_string().into())).await.unwrap();
        assert_eq!(read_until(&mut ws, |_| false).await.1, Some(code), "{msg}");
    }
    let (mut ws, _) = connect("/api/v2/connect").await.unwrap();
    ws.send(WsMessage::Text(
        json!({"type": "init", "language": "intercal", "files": [{"content": "1"}]}).to_string().into(),
    ))
    .await
    .unwrap();
    let (got, close) = read_until(&mut ws, |_| false).await;
    assert_eq!(got[0]["type"], "error");
    assert_eq!(close, Some(4002));
    // Unauthenticated sockets are refused before the upgrade.
    let err = tokio_tungstenite::connect_async(api.ws("/api/v2/connect")).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    api.stop().await;
}

#[tokio::test]
async fn per_user_rate_and_concurrency_limits() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let mut cfg = api_config(&db);
    cfg.api.rate_limit_per_minute = 2;
    let api = Api::start(cfg, false).await;
    let token = user_token(user);
    let req = json!({"code": "print(1)", "language": "python"});
    assert_eq!(post(&api, "/api/run-backend", Some(&token), req.clone()).await.0, 200);
    assert_eq!(post(&api, "/api/run-backend", Some(&token), req.clone()).await.0, 200);
    let resp =
        http().post(format!("{}/api/run-backend", api.base)).bearer_auth(&token).json(&req).send().await.unwrap();
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
    let (status, v) = body(resp).await;
    assert_eq!(status, 429, "{v}");
    api.stop().await;

    // Concurrency: sessions pending or running count against the user.
    let mut cfg = api_config(&db);
    cfg.api.max_active_sessions_per_user = 2;
    let api = Api::start(cfg, false).await;
    let other = db.user().await;
    let t = user_token(other);
    assert_eq!(post(&api, "/api/run-backend", Some(&t), req.clone()).await.0, 200);
    assert_eq!(post(&api, "/api/run-backend", Some(&t), req.clone()).await.0, 200);
    let (status, v) = post(&api, "/api/run-backend", Some(&t), req.clone()).await;
    assert_eq!(status, 429, "{v}");
    assert!(v["message"].as_str().unwrap().contains("pending or running"));
    api.stop().await;
}

#[tokio::test]
async fn metrics_cors_and_the_openapi_document() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let mut cfg = api_config(&db);
    cfg.api.cors_origins = vec!["https://ide.example".into()];
    let api = Api::start(cfg, true).await;
    let (status, _) = post(&api, "/api/v2/execute", Some(&user_token(user)), piston("print('OK')")).await;
    assert_eq!(status, 200);

    // Metrics: service role only.
    assert_eq!(get(&api, "/metrics", Some(&user_token(user))).await.0, 403);
    let text = http()
        .get(format!("{}/metrics", api.base))
        .bearer_auth(service_token())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "execbox_queue_depth 0",
        "execbox_sessions_last_hour{status=\"completed\"} 1",
        "execbox_log_rows_written_total",
        "execbox_run_duration_seconds_count",
        "execbox_container_start_seconds_bucket",
        "execbox_containers_total{path=\"cold\"}",
        "execbox_containers_total{path=\"warm\"}",
        "execbox_workers_alive 1",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }

    // CORS preflight for the configured origin only.
    let pre = |origin: &str| {
        http()
            .request(reqwest::Method::OPTIONS, format!("{}/api/v2/execute", api.base))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "authorization,content-type")
            .send()
    };
    let ok = pre("https://ide.example").await.unwrap();
    assert_eq!(ok.headers().get("access-control-allow-origin").unwrap(), "https://ide.example");
    let no = pre("https://evil.example").await.unwrap();
    assert!(no.headers().get("access-control-allow-origin").is_none());

    // The document describes exactly the routes that exist.
    let (status, doc) = get(&api, "/api/openapi.json", None).await;
    assert_eq!(status, 200);
    let limits = api_config(&db).finish().unwrap().limits;
    assert_eq!(doc, execbox::api::openapi::document(&execbox::runtimes::Runtimes::builtin(), &limits));
    let paths = doc["paths"].as_object().unwrap();
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let concrete = path.replace("{session_id}", &Uuid::new_v4().to_string());
            let resp = http()
                .request(method.to_uppercase().parse().unwrap(), format!("{}{concrete}", api.base))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            assert!(
                status != 405 && v["code"] != "not_found" || path.contains("{session_id}"),
                "{method} {path}: {status} {v}"
            );
        }
    }
    let mut documented: Vec<&str> = paths.keys().map(String::as_str).collect();
    documented.sort();
    let mut routed: Vec<&str> = execbox::api::routes().into_iter().map(|(p, _)| p).collect();
    routed.sort();
    assert_eq!(documented, routed, "every route is documented and every documented path is routed");
    api.stop().await;
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

#[tokio::test]
async fn piston_compiled_languages_report_their_compile_stage() {
    let _cpu = compiling().await;
    let db = TestDb::new().await;
    let user = db.user().await;
    let api = Api::start(api_config(&db), true).await;
    let token = user_token(user);
    let req = |lang: &str, code: &str| json!({"language": lang, "version": "*", "files": [{"content": code}]});

    let (status, v) = post(
        &api,
        "/api/v2/execute",
        Some(&token),
        req("go", "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"OK\") }"),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["compile"]["code"], 0, "{v}");
    assert_eq!(v["run"]["stdout"], "OK\n");
    assert_eq!(v["run"]["code"], 0);

    let (status, v) = post(&api, "/api/v2/execute", Some(&token), req("c++", "int main() { return nope; }")).await;
    assert_eq!(status, 200, "{v}");
    assert_ne!(v["compile"]["code"], 0, "{v}");
    assert!(v["compile"]["stderr"].as_str().unwrap().contains("nope"), "{v}");
    assert_eq!(v["run"], v["compile"], "on a compile failure run mirrors compile, as in Piston");
    assert!(v["compile"]["cpu_time"].as_i64().unwrap() > 0, "the compiler's CPU time: {v}");
    assert!(v["compile"]["memory"].as_i64().unwrap() > 0, "the compiler's peak memory: {v}");

    // Piston's compile limits reach the session: a tiny compile timeout
    // times the compiler out, a tiny compile memory limit kills it.
    let mut slow = req("c++", "#include <iostream>\nint main() { std::cout << 1; }");
    slow["compile_timeout"] = json!(1);
    let (status, v) = post(&api, "/api/v2/execute", Some(&token), slow).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["compile"]["status"].clone(), v["compile"]["signal"].clone()),
        (json!("TO"), json!("SIGKILL")),
        "{v}"
    );
    let mut small = req("c++", "#include <iostream>\nint main() { std::cout << 1; }");
    small["compile_memory_limit"] = json!(16 * 1024 * 1024);
    let (status, v) = post(&api, "/api/v2/execute", Some(&token), small).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["compile"]["status"], "SG", "{v}");
    assert!(v["compile"]["message"].as_str().unwrap().contains("while compiling"), "{v}");
    let mut greedy = req("c++", "int main() {}");
    greedy["compile_timeout"] = json!(10_000_000);
    let (status, v) = post(&api, "/api/v2/execute", Some(&token), greedy).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["message"], "compile_timeout cannot exceed the configured limit of 120000", "{v}");

    // Over the socket: compile stage, its exit, then the run stage.
    let mut r =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(api.ws("/api/v2/connect"))
            .unwrap();
    r.headers_mut().insert("Authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(r).await.unwrap();
    ws.send(WsMessage::Text(
        json!({"type": "init", "language": "rust", "files": [{"content": "fn main() { println!(\"OK\"); }"}]})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let (got, close) = read_until(&mut ws, |_| false).await;
    let kinds: Vec<String> =
        got.iter().map(|m| format!("{}:{}", m["type"].as_str().unwrap(), m["stage"].as_str().unwrap_or(""))).collect();
    assert_eq!(kinds, ["runtime:", "stage:compile", "exit:compile", "stage:run", "data:", "exit:run"], "{got:?}");
    assert_eq!(got[4]["data"], "OK\n");
    assert_eq!(close, Some(4999));
    api.stop().await;
}

#[tokio::test]
async fn seed_execute_validate_and_run() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let api = Api::start(api_config(&db), true).await;
    let token = user_token(user);
    let solution = "def fibonacci(n):\n    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)\n";
    let tests = "def test_small():\n    assert fibonacci(1) == 1\n\ndef test_ten():\n    assert fibonacci(10) == 55\n";

    let (status, v) = post(
        &api,
        "/api/execute/validate",
        Some(&token),
        json!({"solution": solution, "tests": tests, "language": "python"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["passed"].clone(), v["testsPassed"].clone(), v["totalTests"].clone()),
        (json!(true), json!(2), json!(2)),
        "{v}"
    );
    assert!(v["output"].is_string());

    let wrong = "def test_wrong():\n    assert fibonacci(10) == 56\n";
    let (status, v) = post(
        &api,
        "/api/execute/validate",
        Some(&token),
        json!({"solution": solution, "tests": wrong, "language": "py"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["passed"].clone(), v["testsPassed"].clone(), v["totalTests"].clone()),
        (json!(false), json!(0), json!(1)),
        "{v}"
    );
    assert!(v["tests"][0]["message"].as_str().unwrap_or("").contains("56"), "{v}");

    let (status, v) = post(
        &api,
        "/api/execute/run",
        Some(&token),
        json!({"solution": solution, "tests": tests, "language": "python", "runs": 10}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["passed"], true, "{v}");
    assert_eq!(v["n"], 10, "{v}");
    assert!(v["meanExecutionTime"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["standardDeviation"].as_f64().unwrap() >= 0.0, "{v}");

    let (status, v) = post(
        &api,
        "/api/execute/run",
        Some(&token),
        json!({"solution": "1", "tests": "", "language": "python", "runs": 5000}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("runs 5000 is above this server's maximum of 1000"), "{v}");
    let (status, _) = post(
        &api,
        "/api/execute/run",
        Some(&token),
        json!({"solution": "1", "tests": "", "language": "python", "runs": 0}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = post(
        &api,
        "/api/execute/validate",
        Some(&token),
        json!({"solution": "1", "tests": "", "language": "intercal"}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) =
        post(&api, "/api/execute/validate", None, json!({"solution": "1", "tests": "", "language": "python"})).await;
    assert_eq!(status, 401);
    api.stop().await;
}
