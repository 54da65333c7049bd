//! The HTTP/WebSocket API (`execbox serve`): the seed's endpoints, a drop-in
//! Piston v2 API, health and metrics. It authenticates Supabase access
//! tokens and turns every request into rows: **the API never talks to
//! Docker** — a session it creates runs on whichever worker claims it, and
//! its output is read back from `execution_logs`.

pub(crate) mod anonymous;
pub(crate) mod auth;
pub(crate) mod door;
pub(crate) mod error;
pub(crate) mod health;
pub(crate) mod json;
pub(crate) mod judge0;
mod jwks;
pub(crate) mod keys;
pub(crate) mod limits;
pub(crate) mod mcp;
pub(crate) mod my_sessions;
pub mod openapi;
pub(crate) mod piston;
pub(crate) mod playground;
pub(crate) mod seed;
pub(crate) mod sessions;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use crate::db::Pool;
use axum::extract::{DefaultBodyLimit, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method};
use axum::routing::{delete, get, post, MethodRouter};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::Config;
use crate::db::hub::Hub;
use crate::db::Database;
use crate::runtimes::Runtimes;
use auth::{Principal, Verifier};
use error::ApiError;

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct ApiState(Arc<Inner>);

pub struct Inner {
    pub cfg: Arc<Config>,
    pub runtimes: Arc<Runtimes>,
    pub database: Database,
    pub pool: Pool,
    /// Wakes waiting requests and sockets (one LISTEN for the node).
    pub(crate) hub: Hub,
    pub(crate) verifier: Verifier,
    pub(crate) open: anonymous::OpenMode,
    /// Refuses synchronous requests the workers would not reach in time.
    pub(crate) door: door::Door,
    pub started: Instant,
}

impl std::ops::Deref for ApiState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl ApiState {
    pub fn new(cfg: Arc<Config>, runtimes: Arc<Runtimes>) -> anyhow::Result<ApiState> {
        let database = Database::of(&cfg)?.named("execbox api");
        ApiState::on(cfg, runtimes, database)
    }

    /// A node's state on `database` (`execbox mcp`'s, chosen as the other
    /// client commands choose theirs).
    pub(crate) fn on(cfg: Arc<Config>, runtimes: Arc<Runtimes>, database: Database) -> anyhow::Result<ApiState> {
        let pool = database.pool(cfg.api.db_pool_size)?;
        let hub = Hub::start(&database, pool.clone());
        Ok(ApiState(Arc::new(Inner {
            verifier: Verifier::new(&cfg.api)?,
            open: anonymous::OpenMode::new(&cfg.api),
            door: door::Door::default(),
            cfg,
            runtimes,
            database,
            pool,
            hub,
            started: Instant::now(),
        })))
    }
}

/// A verified caller (extractor): a Supabase access token or an API key
/// (see [`auth::credential_from`] for where they may be sent).
pub(crate) struct Authed(pub(crate) Principal);

impl<S> FromRequestParts<S> for Authed
where
    ApiState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let st = ApiState::from_ref(state);
        let credential = auth::credential_from(&parts.headers, parts.uri.query())?;
        Ok(Authed(authenticate(&st, credential).await?))
    }
}

/// Who a credential is: a token verified locally, a key looked up (so a
/// revoked key is refused at once).
async fn authenticate(st: &ApiState, credential: auth::Credential) -> Result<Principal, ApiError> {
    match credential {
        auth::Credential::Token(t) => Ok(st.verifier.verify(&t).await?),
        auth::Credential::ApiKey(k) => {
            let db = st.pool.get().await?;
            match crate::db::keys::owner(&db, &k).await? {
                Some(user) => Ok(Principal::User(user)),
                None => Err(auth::AuthError::ApiKeyRefused.into()),
            }
        }
    }
}

/// Every route, in one place: the router is built from this list, and a test
/// checks that `openapi::document` describes exactly these operations.
pub fn routes() -> Vec<(&'static str, MethodRouter<ApiState>)> {
    vec![
        ("/health", get(health::health)),
        ("/metrics", get(health::metrics)),
        ("/api/openapi.json", get(openapi::serve)),
        ("/api/run-backend", post(seed::run_backend::create)),
        ("/api/run-backend/ws/{session_id}", get(seed::run_backend::socket)),
        ("/api/execute/validate", post(seed::execute::validate)),
        ("/api/execute/run", post(seed::execute::run)),
        ("/api/v2/runtimes", get(piston::runtimes)),
        ("/api/v2/execute", post(piston::execute)),
        ("/api/v2/connect", get(piston::connect)),
        ("/api/exec", get(piston::exec)),
        ("/api/keys", post(keys::create).get(keys::list)),
        ("/api/keys/{id}", delete(keys::revoke)),
        ("/api/sessions", get(my_sessions::list)),
        ("/api/sessions/{id}", get(my_sessions::read)),
        ("/api/sessions/{id}/cancel", post(my_sessions::cancel)),
    ]
    .into_iter()
    .chain(judge0::routes())
    .collect()
}

pub(crate) fn router(st: ApiState) -> Router {
    let cors = cors_layer(&st.cfg.api.cors_origins);
    let mut r = Router::new();
    for (path, handler) in routes() {
        r = r.route(path, handler);
    }
    if st.cfg.api.playground {
        for (path, handler) in playground::routes() {
            r = r.route(path, handler);
        }
    }
    let mut r = r
        .merge(mcp::router(st.clone()))
        .fallback(|| async { ApiError::NotFound("no such endpoint; see /api/openapi.json".into()) })
        .method_not_allowed_fallback(|| async {
            let body = error::ErrorBody {
                message: "method not allowed".into(),
                code: "method_not_allowed",
                check: None,
                request_id: None,
            };
            (axum::http::StatusCode::METHOD_NOT_ALLOWED, axum::Json(body))
        })
        .layer(DefaultBodyLimit::max(st.cfg.api.max_body_bytes))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::internal("a request handler panicked").into_response_owned()
        }))
        .with_state(st);
    if let Some(cors) = cors {
        r = r.layer(cors);
    }
    r
}

impl ApiError {
    fn into_response_owned(self) -> axum::response::Response {
        axum::response::IntoResponse::into_response(self)
    }
}

/// A plain HTTP request to a WebSocket endpoint.
pub(crate) fn not_a_websocket(e: axum::extract::ws::rejection::WebSocketUpgradeRejection) -> ApiError {
    ApiError::BadRequest(format!("this endpoint speaks WebSocket: {}", e.body_text()))
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
            .allow_headers([
                axum::http::header::AUTHORIZATION,
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderName::from_static("x-api-key"),
                axum::http::HeaderName::from_static("x-auth-token"),
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// Serves the API on `listener` until `shutdown` completes (then finishes
/// in-flight requests).
pub async fn serve(
    listener: tokio::net::TcpListener,
    st: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "API listening");
    // The peer's address is what open Piston mode limits by.
    let app = router(st).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    Ok(())
}
