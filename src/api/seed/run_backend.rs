//! `POST /api/run-backend` and its log WebSocket
//! `/api/run-backend/ws/{sessionId}` (`connected`, `log`, `execution_complete`).

use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Path, State, WebSocketUpgrade};
use axum::response::Response;
use uuid::Uuid;

use super::wire::{RunBackendCreated, RunRequest, SocketMessage};
use crate::api::error::{ApiError, ErrorBody};
use crate::api::json::JsonBody;
use crate::api::sessions;
use crate::api::{ApiState, Authed};
use crate::db::follow::{Event, Events, Follower};
use crate::model::{Request, SessionStatus};

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Creates the session and answers once a worker has it (or after a short
/// wait): `{sessionId, containerId, status}`.
#[utoipa::path(post, path = "/api/run-backend", tag = "seed", security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    request_body = RunRequest,
    responses(
        (status = 200, description = "The session", body = RunBackendCreated),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "Missing or refused credentials", body = ErrorBody),
        (status = 403, description = "userId is not the caller", body = ErrorBody),
        (status = 413, description = "Too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Wrong shape", body = ErrorBody),
        (status = 429, description = "Rate or concurrency limit; see Retry-After", body = ErrorBody),
    ))]
pub(crate) async fn create(
    State(st): State<ApiState>,
    Authed(p): Authed,
    JsonBody(req): JsonBody<RunRequest>,
) -> Result<axum::Json<RunBackendCreated>, ApiError> {
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
    let valid = new.validate(&st.runtimes, &st.cfg.limits)?;
    let id = sessions::create(&st, user, sessions::Quota::PerUser, &valid).await?;
    // A worker usually claims it and records its container within
    // milliseconds (each wakes the follower); the WebSocket works either way.
    let mut events = Events::new(Follower::open(&st.hub, id, Some(user)));
    let started = async {
        loop {
            match events.next().await? {
                Some(Event::Changed(s)) if s.container.is_some() => return Ok(()),
                Some(Event::End(_)) | None => return Ok(()),
                Some(_) => {}
            }
        }
    };
    if let Ok(read) = tokio::time::timeout(CONTAINER_WAIT, started).await {
        read.map_err(sessions::follow_error)?;
    }
    let (status, container_id) = match events.state() {
        Some(s) => (s.status, s.container.clone()),
        None => (SessionStatus::Pending, None),
    };
    Ok(axum::Json(RunBackendCreated { session_id: id, container_id, status }))
}

/// How long `POST /api/run-backend` waits for the session's container.
const CONTAINER_WAIT: Duration = Duration::from_secs(2);

/// The session's log lines: those already written, then live ones, then
/// `execution_complete`. Owner only (404 otherwise, so ids do not leak).
#[utoipa::path(get, path = "/api/run-backend/ws/{session_id}", tag = "seed", security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    params(("session_id" = String, Path, description = "The session's id")),
    responses(
        (status = 101, description = "WebSocket: connected, log..., execution_complete"),
        (status = 400, description = "Not a WebSocket request", body = ErrorBody),
        (status = 401, description = "Missing or refused credentials", body = ErrorBody),
        (status = 404, description = "No such session of the caller's", body = ErrorBody),
    ))]
pub(crate) async fn socket(
    State(st): State<ApiState>,
    Authed(p): Authed,
    Path(session_id): Path<String>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&session_id).map_err(|_| ApiError::NotFound(format!("no session {session_id}")))?;
    let owner = sessions::owner_of(&st, p, id).await?;
    let ws = ws.map_err(crate::api::not_a_websocket)?;
    Ok(ws.on_upgrade(move |socket| async move {
        if let Err(e) = stream_logs(st, socket, id, owner).await {
            tracing::debug!(session_id = %id, error = %format!("{e:#}"), "log socket ended");
        }
    }))
}

async fn stream_logs(st: ApiState, mut socket: WebSocket, id: Uuid, owner: Uuid) -> anyhow::Result<()> {
    socket.send(SocketMessage::Connected { session_id: id, timestamp: now() }.frame()).await?;
    let mut events = Events::new(Follower::open(&st.hub, id, Some(owner)));
    loop {
        let event = tokio::select! {
            event = events.next() => event?,
            msg = socket.recv() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(()),
                Some(Ok(_)) => continue,
            }
        };
        let message = match &event {
            Some(Event::Changed(_)) => continue,
            Some(Event::Row(row)) => SocketMessage::Log {
                message: &row.message,
                level: row.level,
                stream: row.stream,
                stage: row.stage,
                newline: row.newline,
                seq: row.seq,
                timestamp: row.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            },
            Some(Event::End(state)) => SocketMessage::ExecutionComplete {
                status: state.status,
                end_reason: state.end_reason,
                exit_code: state.exit_code,
                error: state.error.as_deref(),
                timestamp: now(),
            },
            None => return Ok(()),
        };
        socket.send(message.frame()).await?;
        if let Some(Event::End(_)) = event {
            let _ = socket.send(Message::Close(None)).await;
            return Ok(());
        }
    }
}
