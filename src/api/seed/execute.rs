//! Seed 004's API: `POST /api/execute/validate` (a solution against a test
//! suite) and `POST /api/execute/run` (validate, then time the tests `runs`
//! times). Both create a session (mode `validate` or `benchmark`) as the
//! calling user and answer with its `result`.

use axum::extract::State;
use axum::Json;

use super::wire::{ExecuteRequest, ExecuteResult};
use crate::api::error::{ApiError, ErrorBody};
use crate::api::json::JsonBody;
use crate::api::sessions;
use crate::api::{ApiState, Authed};
use crate::model::{Mode, Request, SessionStatus};
use crate::validate::ValidationResult;

/// Validate a solution against a test suite (seed 004).
#[utoipa::path(post, path = "/api/execute/validate", tag = "seed", security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    request_body = ExecuteRequest,
    responses(
        (status = 200, description = "The result", body = ExecuteResult),
        (status = 400, description = "Invalid request (language, runs, limits)", body = ErrorBody),
        (status = 401, description = "Missing or refused credentials", body = ErrorBody),
        (status = 413, description = "Too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Wrong shape", body = ErrorBody),
        (status = 429, description = "Rate or concurrency limit", body = ErrorBody),
        (status = 503, description = "Too much work queued to run it in time (see Retry-After), or no worker ran it in time", body = ErrorBody),
    ))]
pub(crate) async fn validate(
    State(st): State<ApiState>,
    Authed(p): Authed,
    JsonBody(req): JsonBody<ExecuteRequest>,
) -> Result<Json<ExecuteResult>, ApiError> {
    execute(st, p, req, Mode::Validate).await
}

/// Validate, then time the test suite `runs` times in one process (seed 004).
#[utoipa::path(post, path = "/api/execute/run", tag = "seed", security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    request_body = ExecuteRequest,
    responses(
        (status = 200, description = "The result", body = ExecuteResult),
        (status = 400, description = "Invalid request (language, runs, limits)", body = ErrorBody),
        (status = 401, description = "Missing or refused credentials", body = ErrorBody),
        (status = 413, description = "Too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Wrong shape", body = ErrorBody),
        (status = 429, description = "Rate or concurrency limit", body = ErrorBody),
        (status = 503, description = "Too much work queued to run it in time (see Retry-After), or no worker ran it in time", body = ErrorBody),
    ))]
pub(crate) async fn run(
    State(st): State<ApiState>,
    Authed(p): Authed,
    JsonBody(req): JsonBody<ExecuteRequest>,
) -> Result<Json<ExecuteResult>, ApiError> {
    execute(st, p, req, Mode::Benchmark).await
}

async fn execute(
    st: ApiState,
    p: crate::api::auth::Principal,
    req: ExecuteRequest,
    mode: Mode,
) -> Result<Json<ExecuteResult>, ApiError> {
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
    let result = crate::db::sessions::result(&db, id).await?;
    if state.status == SessionStatus::Error {
        return Err(ApiError::Unavailable(
            state.error.unwrap_or_else(|| "the run failed for reasons of execbox's".into()),
        ));
    }
    let result = match result.map(serde_json::from_value::<ValidationResult>) {
        None => ValidationResult::default(),
        Some(Ok(r)) => r,
        Some(Err(e)) => return Err(ApiError::internal(format!("session {id}'s result is not a validation's: {e}"))),
    };
    Ok(Json(ExecuteResult {
        session_id: id,
        status: state.status,
        end_reason: state.end_reason,
        result,
        usage: state.usage,
        output: format!("{}{}", out.compile.output, out.run.output),
        error: (state.status != SessionStatus::Completed).then_some(state.error),
    }))
}
