//! `/api/sessions`: the caller's own sessions as a resource: the newest
//! first, one in full, and a cancel (as the owner, under RLS, exactly as a
//! frontend's update). Another user's session is a 404, so ids do not leak.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use super::json::query;
use super::{ApiState, Authed};
use crate::db::sessions::{self, SessionSummary, SessionView};
use crate::model::SessionStatus;

/// `POST /api/sessions/{id}/cancel`'s answer: the session after the request
/// (a pending one is cancelled at once; a running one when its worker stops
/// it).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CancelRequested {
    pub id: Uuid,
    pub status: SessionStatus,
    pub cancel_requested: bool,
}

/// The most a listing returns.
const MAX_LIMIT: i64 = 100;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    /// How many sessions, newest first: 1 to 100 (default 20).
    #[param(value_type = i64, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

/// The user whose sessions these are; None for the service role (every
/// user's).
fn owner(p: Principal) -> Option<Uuid> {
    match p {
        Principal::User(u) => Some(u),
        Principal::Service => None,
    }
}

fn session_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound(format!("no session {raw}")))
}

#[utoipa::path(get, path = "/api/sessions", tag = "sessions",
    security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "The caller's sessions, newest first", body = Vec<SessionSummary>),
        (status = 400, description = "A limit outside 1 to 100, or an unknown parameter", body = ErrorBody),
        (status = 401, description = "Missing or refused credentials", body = ErrorBody),
    ))]
pub(crate) async fn list(
    State(st): State<ApiState>,
    Authed(p): Authed,
    q: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Vec<SessionSummary>>, ApiError> {
    // Read as text: an empty `limit` is refused, not taken as absent.
    let limit = match query(q)?.limit {
        None => 20,
        Some(raw) => raw.trim().parse::<i64>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
            ApiError::BadRequest(format!("limit must be a whole number between 1 and {MAX_LIMIT} (got {raw:?})"))
        })?,
    };
    let db = st.pool.get().await?;
    Ok(Json(sessions::recent(&db, owner(p), limit).await?))
}

#[utoipa::path(get, path = "/api/sessions/{id}", tag = "sessions",
    security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    params(("id" = String, Path, description = "The session's id")),
    responses(
        (status = 200, description = "The session", body = SessionView),
        (status = 401, description = "Missing or refused credentials", body = ErrorBody),
        (status = 404, description = "No session of the caller's with that id", body = ErrorBody),
    ))]
pub(crate) async fn read(
    State(st): State<ApiState>,
    Authed(p): Authed,
    Path(id): Path<String>,
) -> Result<Json<SessionView>, ApiError> {
    let id = session_id(&id)?;
    let db = st.pool.get().await?;
    match sessions::one(&db, owner(p), id).await? {
        Some(s) => Ok(Json(s)),
        None => Err(ApiError::NotFound(format!("no session {id}"))),
    }
}

#[utoipa::path(post, path = "/api/sessions/{id}/cancel", tag = "sessions",
    security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    params(("id" = String, Path, description = "The session's id")),
    responses(
        (status = 202, description = "Asked: a pending session is cancelled now, a running one as soon as its worker stops it, an ended one stays as it ended", body = CancelRequested),
        (status = 401, description = "Missing or refused credentials", body = ErrorBody),
        (status = 403, description = "Not a user (a cancel is the owner's)", body = ErrorBody),
        (status = 404, description = "No session of the caller's with that id", body = ErrorBody),
    ))]
pub(crate) async fn cancel(
    State(st): State<ApiState>,
    Authed(p): Authed,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<CancelRequested>), ApiError> {
    let id = session_id(&id)?;
    let Principal::User(user) = p else {
        return Err(ApiError::Forbidden("a cancel is the owner's: call as the user".into()));
    };
    let mut db = st.pool.get().await?;
    // Under RLS: only the owner's session that has not ended is updated;
    // an ended one stays as it ended (and is still answered).
    crate::db::user::cancel(&mut db, user, id).await?;
    let s = sessions::one(&db, Some(user), id).await?.ok_or_else(|| ApiError::NotFound(format!("no session {id}")))?;
    Ok((StatusCode::ACCEPTED, Json(CancelRequested { id, status: s.status, cancel_requested: s.cancel_requested })))
}
