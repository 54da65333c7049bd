//! `GET /health` (public) and `GET /metrics` (Prometheus text; service role).
//! Docker's state comes from the workers' presence rows, not from Docker:
//! an API node without a worker still answers truthfully.

use std::fmt::Write;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Principal;
use super::error::ApiError;
use super::{ApiState, Authed};
use crate::db::workers;

/// How recent a worker's heartbeat must be to count as alive.
pub(crate) fn fresh(st: &ApiState) -> Duration {
    st.cfg.worker.heartbeat_interval() * 3
}

/// The runtimes some live worker can run (all of them while no worker
/// says which it has): what `/api/v2/runtimes` and MCP's `list_languages`
/// offer.
pub(crate) async fn served_runtimes(st: &ApiState) -> Result<Vec<&crate::runtimes::Runtime>, ApiError> {
    let live = workers::live_runtimes(&st.pool.get().await?, fresh(st)).await?;
    Ok(st.runtimes.all().iter().filter(|rt| live.as_ref().is_none_or(|l| l.contains(&rt.language))).collect())
}

/// The runtimes no live worker can run (`live`: what they can, None: any).
fn without_worker(st: &ApiState, live: Option<&[String]>) -> Vec<String> {
    let Some(live) = live else { return Vec::new() };
    st.runtimes.all().iter().map(|rt| &rt.language).filter(|l| !live.contains(l)).cloned().collect()
}

/// `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    pub timestamp: String,
    /// Seconds since the API started.
    pub uptime: f64,
    pub database: DatabaseHealth,
    pub docker: DockerHealth,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DatabaseHealth {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// How this node learns of new rows: `listen` (LISTEN/NOTIFY, verified
    /// by a round trip), `polling` (notifications do not arrive: a
    /// transaction pooler) or `unknown` (connecting).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wakeups: Option<&'static str>,
    /// How its pool sends statements now: `unnamed` (safe through any
    /// pooler) or `prepared`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statements: Option<&'static str>,
    /// `unreachable` when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DockerHealth {
    /// Some live worker has a working Docker engine.
    pub ok: bool,
    /// Live workers (null when the database cannot say).
    pub workers: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers_with_docker: Option<i64>,
    /// Runtimes no live worker has the image for: their sessions wait
    /// until one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtimes_without_worker: Option<Vec<String>>,
}

/// Liveness of the database and of workers with Docker.
#[utoipa::path(get, path = "/health", tag = "health", responses(
    (status = 200, description = "All parts answer", body = Health),
    (status = 503, description = "The database or every worker's Docker is down", body = Health),
))]
pub(crate) async fn health(State(st): State<ApiState>) -> Response {
    let t0 = Instant::now();
    let db = async {
        let c = st.pool.get().await.map_err(|e| crate::error_chain(&e))?;
        let probe = workers::alive(&c, fresh(&st)).await.map_err(|e| crate::error_chain(&e))?;
        let live = workers::live_runtimes(&c, fresh(&st)).await.map_err(|e| crate::error_chain(&e))?;
        Ok::<_, String>((probe, live))
    };
    let result = tokio::time::timeout(Duration::from_secs(3), db).await.unwrap_or_else(|_| Err("timed out".into()));
    let latency_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let (database, docker) = match result {
        Ok(((alive, docker_ok), live)) => (
            DatabaseHealth {
                ok: true,
                latency_ms: Some(latency_ms),
                wakeups: Some(st.hub.wakeups().as_str()),
                statements: Some(st.pool.sending().as_str()),
                error: None,
            },
            DockerHealth {
                ok: docker_ok > 0,
                workers: Some(alive),
                workers_with_docker: Some(docker_ok),
                runtimes_without_worker: Some(without_worker(&st, live.as_deref())),
            },
        ),
        Err(e) => {
            // The cause (hosts, driver details) goes to the log, not to
            // this public endpoint.
            tracing::warn!(error = %e, "health: database unreachable");
            let database = DatabaseHealth {
                ok: false,
                latency_ms: None,
                wakeups: None,
                statements: None,
                error: Some("unreachable"),
            };
            let docker =
                DockerHealth { ok: false, workers: None, workers_with_docker: None, runtimes_without_worker: None };
            (database, docker)
        }
    };
    let ok = docker.ok;
    let body = Health {
        status: if ok { "ok" } else { "unavailable" },
        timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        uptime: st.started.elapsed().as_secs_f64(),
        database,
        docker,
    };
    if ok {
        (StatusCode::OK, axum::Json(body)).into_response()
    } else {
        let retry = [(header::RETRY_AFTER, super::error::UNAVAILABLE_RETRY_AFTER_S.to_string())];
        (StatusCode::SERVICE_UNAVAILABLE, retry, axum::Json(body)).into_response()
    }
}

/// Prometheus metrics (service role).
#[utoipa::path(get, path = "/metrics", tag = "health", security(("bearer" = []), ("api_key" = []), ("auth_token" = [])), responses(
    (status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain"),
    (status = 401, description = "Missing or refused credentials", body = super::error::ErrorBody),
    (status = 403, description = "Not the service role", body = super::error::ErrorBody),
))]
pub(crate) async fn metrics(State(st): State<ApiState>, Authed(p): Authed) -> Result<Response, ApiError> {
    if p != Principal::Service {
        return Err(ApiError::Forbidden("metrics are for the service role".into()));
    }
    let db = st.pool.get().await?;
    let mut out = String::new();
    let by_status = crate::db::sessions::last_hour_by_status(&db).await?;
    let _ = writeln!(out, "# HELP execbox_sessions_last_hour Sessions created in the last hour, by current status.\n# TYPE execbox_sessions_last_hour gauge");
    for status in crate::model::SessionStatus::ALL {
        let n = by_status.iter().find(|(s, _)| s == status).map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "execbox_sessions_last_hour{{status=\"{status}\"}} {n}");
    }
    let depth = crate::db::sessions::queue_depth(&db).await?;
    let _ = writeln!(out, "# HELP execbox_queue_depth Sessions waiting for a worker.\n# TYPE execbox_queue_depth gauge\nexecbox_queue_depth {depth}");
    let (alive, docker_ok) = workers::alive(&db, fresh(&st)).await?;
    let _ = writeln!(out, "# HELP execbox_workers_alive Workers with a recent heartbeat.\n# TYPE execbox_workers_alive gauge\nexecbox_workers_alive {alive}");
    let _ = writeln!(out, "# HELP execbox_workers_docker_ok Alive workers whose Docker engine answers.\n# TYPE execbox_workers_docker_ok gauge\nexecbox_workers_docker_ok {docker_ok}");
    let polling = i32::from(st.hub.wakeups() == crate::db::wakeups::Wakeups::Polling);
    let _ = writeln!(out, "# HELP execbox_wakeups_polling 1 when notifications do not arrive on this node's database address and it polls instead.\n# TYPE execbox_wakeups_polling gauge\nexecbox_wakeups_polling {polling}");
    crate::metrics::METRICS.render(&mut out);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}
