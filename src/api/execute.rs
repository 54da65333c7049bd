//! Seed 004's API: `POST /api/execute/validate` (a solution against a test
//! suite) and `POST /api/execute/run` (validate, then time the tests `runs`
//! times). Both create a session (mode `validate` or `benchmark`) as the
//! calling user and answer with its `result`.

use std::time::Duration;

use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::json::JsonBody;
use super::sessions::{self, NewSession};
use super::{ApiState, Authed};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    pub solution: String,
    pub tests: String,
    pub language: String,
    #[serde(default)]
    pub runs: Option<i64>,
}

pub async fn validate(
    State(st): State<ApiState>,
    Authed(p): Authed,
    JsonBody(req): JsonBody<ExecuteRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    execute(st, p, req, "validate").await
}

pub async fn run(
    State(st): State<ApiState>,
    Authed(p): Authed,
    JsonBody(req): JsonBody<ExecuteRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    execute(st, p, req, "benchmark").await
}

async fn execute(
    st: ApiState,
    p: super::auth::Principal,
    req: ExecuteRequest,
    mode: &str,
) -> Result<axum::Json<Value>, ApiError> {
    let user = sessions::acting_user(p, None)?;
    let rt = st.runtimes.resolve(&req.language).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "unsupported language {:?}; supported languages: {}",
            req.language,
            st.runtimes.describe()
        ))
    })?;
    if rt.validate.is_none() || (mode == "benchmark" && rt.benchmark.is_none()) {
        return Err(ApiError::BadRequest(format!("{mode} is not available for {}", rt.language)));
    }
    let l = &st.cfg.limits;
    let runs = match (mode, req.runs) {
        ("benchmark", Some(r)) if r < 1 || r as u64 > l.max_benchmark_runs => {
            return Err(ApiError::BadRequest(format!("runs must be between 1 and {} (got {r})", l.max_benchmark_runs)))
        }
        ("benchmark", r) => r.map(|r| r as i32),
        _ => None,
    };
    if req.tests.len() > sessions::MAX_CODE_BYTES {
        return Err(ApiError::PayloadTooLarge(format!(
            "tests are {} bytes; the limit is {}",
            req.tests.len(),
            sessions::MAX_CODE_BYTES
        )));
    }
    let new = NewSession {
        language: rt.language.clone(),
        code: req.solution,
        mode: mode.to_string(),
        tests: Some(req.tests),
        runs,
        session_name: Some(format!("api {mode}")),
        ..Default::default()
    };
    let id = sessions::create(&st, user, &new).await?;
    let limit = Duration::from_millis(l.default_timeout_ms + l.default_compile_timeout_ms);
    let (state, out) = sessions::wait(&st, id, user, limit).await?;
    let db = st.pool.get().await?;
    let result: Option<Value> =
        db.query_one("select result from public.backend_execution_sessions where id = $1", &[&id]).await?.get(0);
    if state.status == "error" {
        return Err(ApiError::Unavailable(
            state.error.unwrap_or_else(|| "the run failed for reasons of execbox's".into()),
        ));
    }
    let mut body = result.unwrap_or_else(|| json!({"passed": false, "testsPassed": 0, "totalTests": 0, "tests": []}));
    body["sessionId"] = json!(id);
    body["status"] = json!(state.status);
    body["output"] = json!(format!("{}{}", out.compile.output, out.run.output));
    if state.status != "completed" {
        body["error"] = json!(state.error);
    }
    Ok(axum::Json(body))
}
