//! `/api/keys`: a signed-in user's API keys over HTTP, as `execbox keys`
//! and `create_api_key()` manage them (as the user, under RLS). The key is
//! shown once, in the answer that creates it; listings show its prefix.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use super::json::JsonBody;
use super::{ApiState, Authed};
use crate::db::keys;

/// `POST /api/keys`' body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKey {
    /// What the key is for (shown in listings): 1 to 100 characters, no
    /// control characters.
    #[schema(min_length = 1, max_length = 100, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    name: String,
}

/// `POST /api/keys`' answer: the key, shown only in this answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedKey {
    pub key: String,
    pub name: String,
    /// Its first characters, which listings show.
    pub prefix: String,
}

/// One of the caller's keys (never the key itself).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KeyEntry {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Keys belong to users: the service role has none to manage.
fn owner(p: Principal) -> Result<Uuid, ApiError> {
    match p {
        Principal::User(u) => Ok(u),
        Principal::Service => Err(ApiError::Forbidden("API keys belong to users; call as the user".into())),
    }
}

#[utoipa::path(post, path = "/api/keys", tag = "keys",
    security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    request_body = NewKey,
    responses(
        (status = 201, description = "The key, shown only now", body = CreatedKey),
        (status = 400, description = "Not valid JSON", body = ErrorBody),
        (status = 413, description = "Too large", body = ErrorBody),
        (status = 401, description = "Missing or refused credentials", body = ErrorBody),
        (status = 403, description = "Not a user", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "A name of 1 to 100 characters, no control characters, is needed", body = ErrorBody),
    ))]
pub(crate) async fn create(
    State(st): State<ApiState>,
    Authed(p): Authed,
    JsonBody(body): JsonBody<NewKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let user = owner(p)?;
    let length = body.name.chars().count();
    if !(1..=100).contains(&length) || body.name.chars().any(char::is_control) {
        return Err(ApiError::Unprocessable(
            "name must be 1 to 100 characters, none of them control characters".into(),
        ));
    }
    let mut db = st.pool.get().await?;
    let key = keys::create(&mut db, user, &body.name).await?;
    let prefix = key.chars().take(12).collect();
    Ok((StatusCode::CREATED, Json(CreatedKey { key, name: body.name, prefix })))
}

#[utoipa::path(get, path = "/api/keys", tag = "keys",
    security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    responses(
        (status = 200, description = "The caller's keys, newest first", body = Vec<KeyEntry>),
        (status = 401, description = "Missing or refused credentials", body = ErrorBody),
        (status = 403, description = "Not a user", body = ErrorBody),
    ))]
pub(crate) async fn list(State(st): State<ApiState>, Authed(p): Authed) -> Result<Json<Vec<KeyEntry>>, ApiError> {
    let user = owner(p)?;
    let mut db = st.pool.get().await?;
    let list = keys::list(&mut db, user).await?;
    Ok(Json(
        list.into_iter()
            .map(|k| KeyEntry {
                id: k.id,
                name: k.name,
                prefix: k.prefix,
                created_at: k.created_at,
                last_used_at: k.last_used_at,
                revoked_at: k.revoked_at,
            })
            .collect(),
    ))
}

#[utoipa::path(delete, path = "/api/keys/{id}", tag = "keys",
    security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    params(("id" = String, Path, description = "The key's id (from the listing)")),
    responses(
        (status = 204, description = "Revoked; requests with it are refused from now on"),
        (status = 401, description = "Missing or refused credentials", body = ErrorBody),
        (status = 403, description = "Not a user", body = ErrorBody),
        (status = 404, description = "No live key of the caller's with that id", body = ErrorBody),
    ))]
pub(crate) async fn revoke(
    State(st): State<ApiState>,
    Authed(p): Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = owner(p)?;
    let not_found = || ApiError::NotFound(format!("no live key {id} of yours"));
    let key = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let mut db = st.pool.get().await?;
    if keys::revoke(&mut db, user, key).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}
