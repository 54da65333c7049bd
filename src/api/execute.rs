//! Seed 004's API: `POST /api/execute/validate` (a solution against a test
//! suite) and `POST /api/execute/run` (validate, then time the tests `runs`
//! times). Both create a session (mode `validate` or `benchmark`) as the
//! calling user and answer with its `result`.

use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::json::JsonBody;
use super::sessions;
use super::{ApiState, Authed};
use crate::model::{Mode, Request, SessionStatus};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SeedExecuteRequest)]
pub(crate) struct ExecuteRequest {
    #[schema(pattern = r"^[^\x00]*$")]
    pub solution: String,
    #[schema(pattern = r"^[^\x00]*$")]
    pub tests: String,
    pub language: String,
    #[serde(default, deserialize_with = "super::json::integer::optional")]
    pub runs: Option<i64>,
}

/// Validate a solution against a test suite (seed 004).
#[utoipa::path(post, path = "/api/execute/validate", tag = "seed", security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    request_body = ExecuteRequest,
    responses(
        (status = 200, description = "The result", body = super::schemas::SeedResult),
        (status = 400, description = "Invalid request (language, runs, limits)", body = super::schemas::ErrorBody),
        (status = 401, description = "Missing or refused credentials", body = super::schemas::ErrorBody),
        (status = 413, description = "Too large", body = super::schemas::ErrorBody),
        (status = 415, description = "Not JSON", body = super::schemas::ErrorBody),
        (status = 422, description = "Wrong shape", body = super::schemas::ErrorBody),
        (status = 429, description = "Rate or concurrency limit", body = super::schemas::ErrorBody),
        (status = 503, description = "Too much work queued to run it in time (see Retry-After), or no worker ran it in time", body = super::schemas::ErrorBody),
    ))]
pub(crate) async fn validate(
    State(st): State<ApiState>,
    Authed(p): Authed,
    JsonBody(req): JsonBody<ExecuteRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    execute(st, p, req, Mode::Validate).await
}

/// Validate, then time the test suite `runs` times in one process (seed 004).
#[utoipa::path(post, path = "/api/execute/run", tag = "seed", security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    request_body = ExecuteRequest,
    responses(
        (status = 200, description = "The result", body = super::schemas::SeedResult),
        (status = 400, description = "Invalid request (language, runs, limits)", body = super::schemas::ErrorBody),
        (status = 401, description = "Missing or refused credentials", body = super::schemas::ErrorBody),
        (status = 413, description = "Too large", body = super::schemas::ErrorBody),
        (status = 415, description = "Not JSON", body = super::schemas::ErrorBody),
        (status = 422, description = "Wrong shape", body = super::schemas::ErrorBody),
        (status = 429, description = "Rate or concurrency limit", body = super::schemas::ErrorBody),
        (status = 503, description = "Too much work queued to run it in time (see Retry-After), or no worker ran it in time", body = super::schemas::ErrorBody),
    ))]
pub(crate) async fn run(
    State(st): State<ApiState>,
    Authed(p): Authed,
    JsonBody(req): JsonBody<ExecuteRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    execute(st, p, req, Mode::Benchmark).await
}

async fn execute(
    st: ApiState,
    p: super::auth::Principal,
    req: ExecuteRequest,
    mode: Mode,
) -> Result<axum::Json<Value>, ApiError> {
    let user = sessions::acting_user(p, None)?;
    // Checked in every mode (the session's validation bounds it): a value
    // out of bounds is refused, never silently ignored.
    let runs = req
        .runs
        .map(|r| {
            i32::try_from(r).map_err(|_| {
                ApiError::BadRequest(format!(
                    "runs must be between 1 and {} (got {r})",
                    st.cfg.limits.max_benchmark_runs
                ))
            })
        })
        .transpose()?;
    let new = Request {
        language: req.language,
        code: req.solution,
        mode,
        tests: Some(req.tests),
        runs,
        session_name: Some(format!("api {mode}")),
        ..Default::default()
    };
    let valid = new.validate(&st.runtimes, &st.cfg.limits)?;
    let limits = valid.limits;
    st.door.enter(&st).await?;
    let id = sessions::create(&st, user, sessions::Quota::PerUser, &valid).await?;
    let (state, out) = sessions::wait(&st, id, user, limits.timeout + limits.compile_timeout).await?;
    let db = st.pool.get().await?;
    let result: Option<Value> = crate::db::sessions::result(&db, id).await?;
    if state.status == SessionStatus::Error {
        return Err(ApiError::Unavailable(
            state.error.unwrap_or_else(|| "the run failed for reasons of execbox's".into()),
        ));
    }
    let mut body = result.unwrap_or_else(|| crate::validate::ValidationResult::default().to_json());
    body["sessionId"] = json!(id);
    body["status"] = json!(state.status);
    body["endReason"] = json!(state.end_reason);
    body["usage"] = json!(state.usage);
    body["output"] = json!(format!("{}{}", out.compile.output, out.run.output));
    if state.status != SessionStatus::Completed {
        body["error"] = json!(state.error);
    }
    Ok(axum::Json(body))
}
