//! The seed's API: `POST /api/run-backend` and its log WebSocket
//! `/api/run-backend/ws/{sessionId}` (`connected`, `log`, `execution_complete`).

use std::time::{Duration, Instant};

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Path, State, WebSocketUpgrade};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::error::ApiError;
use super::json::JsonBody;
use super::sessions;
use super::{ApiState, Authed};
use crate::db::follow::{Follow, Follower};
use crate::model::Request;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = RunBackendRequest)]
pub(crate) struct RunRequest {
    #[schema(pattern = r"^[^\x00]*$")]
    pub code: String,
    pub language: String,
    #[serde(default, deserialize_with = "super::json::object::optional")]
    pub user_context: Option<UserContext>,
    #[serde(default)]
    #[schema(pattern = r"^[^\x00]*$")]
    pub stdin: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct UserContext {
    #[serde(default)]
    pub user_id: Option<Uuid>,
    #[serde(default)]
    pub room_id: Option<Uuid>,
    #[serde(default)]
    #[schema(pattern = r"^[^\x00]*$")]
    pub session_name: Option<String>,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Creates the session and answers once a worker has it (or after a short
/// wait): `{sessionId, containerId, status}`.
#[utoipa::path(post, path = "/api/run-backend", tag = "seed", security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    request_body = RunRequest,
    responses(
        (status = 200, description = "The session", body = super::schemas::RunBackendCreated),
        (status = 400, description = "Invalid request", body = super::schemas::ErrorBody),
        (status = 401, description = "Missing or refused credentials", body = super::schemas::ErrorBody),
        (status = 403, description = "userId is not the caller", body = super::schemas::ErrorBody),
        (status = 413, description = "Too large", body = super::schemas::ErrorBody),
        (status = 415, description = "Not JSON", body = super::schemas::ErrorBody),
        (status = 422, description = "Wrong shape", body = super::schemas::ErrorBody),
        (status = 429, description = "Rate or concurrency limit; see Retry-After", body = super::schemas::ErrorBody),
    ))]
pub(crate) async fn create(
    State(st): State<ApiState>,
    Authed(p): Authed,
    JsonBody(req): JsonBody<RunRequest>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let ctx = req.user_context.as_ref();
    let user = sessions::acting_user(p, ctx.and_then(|c| c.user_id))?;
    let new = Request {
        language: req.language,
        code: req.code,
        stdin: req.stdin,
        room_id: ctx.and_then(|c| c.room_id),
        session_name: ctx.and_then(|c| c.session_name.clone()),
        ..Default::default()
    };
    let id = sessions::create(&st, user, sessions::Quota::PerUser, &new).await?;
    // A worker usually claims it within milliseconds; the container id is
    // then known. The WebSocket works either way.
    let db = st.pool.get().await?;
    let deadline = Instant::now() + Duration::from_secs(2);
    let (status, container) = loop {
        let (status, container) = crate::db::sessions::status_and_container(&db, id).await?;
        if container.is_some() || status.is_done() || Instant::now() > deadline {
            break (status, container);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    Ok(axum::Json(json!({ "sessionId": id, "containerId": container, "status": status })))
}

/// The session's log lines: those already written, then live ones, then
/// `execution_complete`. Owner only (404 otherwise, so ids do not leak).
#[utoipa::path(get, path = "/api/run-backend/ws/{session_id}", tag = "seed", security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    params(("session_id" = String, Path, description = "The session's id")),
    responses(
        (status = 101, description = "WebSocket: connected, log..., execution_complete"),
        (status = 400, description = "Not a WebSocket request", body = super::schemas::ErrorBody),
        (status = 401, description = "Missing or refused credentials", body = super::schemas::ErrorBody),
        (status = 404, description = "No such session of the caller's", body = super::schemas::ErrorBody),
    ))]
pub(crate) async fn socket(
    State(st): State<ApiState>,
    Authed(p): Authed,
    Path(session_id): Path<String>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&session_id).map_err(|_| ApiError::NotFound(format!("no session {session_id}")))?;
    let owner = sessions::owner_of(&st, p, id).await?;
    let ws = ws.map_err(super::not_a_websocket)?;
    Ok(ws.on_upgrade(move |socket| async move {
        if let Err(e) = stream_logs(st, socket, id, owner).await {
            tracing::debug!(session_id = %id, error = %format!("{e:#}"), "log socket ended");
        }
    }))
}

async fn stream_logs(st: ApiState, mut socket: WebSocket, id: Uuid, owner: Uuid) -> anyhow::Result<()> {
    let send = |v: serde_json::Value| Message::Text(v.to_string().into());
    socket.send(send(json!({"type": "connected", "sessionId": id, "timestamp": now()}))).await?;
    let mut f = Follower::open(&st.hub, id, Some(owner));
    loop {
        let (state, rows) = f.poll().await?;
        for row in rows {
            socket
                .send(send(json!({
                    "type": "log",
                    "message": row.message,
                    "level": row.level,
                    "stream": row.stream,
                    "stage": row.stage,
                    "newline": row.newline,
                    "seq": row.seq,
                    "timestamp": row.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                })))
                .await?;
        }
        if state.is_done() {
            socket
                .send(send(json!({
                    "type": "execution_complete",
                    "status": state.status,
                    "endReason": state.end_reason,
                    "exitCode": state.exit_code,
                    "error": state.error,
                    "timestamp": now(),
                })))
                .await?;
            let _ = socket.send(Message::Close(None)).await;
            return Ok(());
        }
        tokio::select! {
            _ = f.wait() => {}
            msg = socket.recv() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(()),
                Some(Ok(_)) => {}
            }
        }
    }
}
