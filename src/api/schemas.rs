//! The shapes of the API's JSON responses, as the OpenAPI document names
//! them. Handlers that answer with a fixed shape serialize these types
//! themselves; those whose answer is assembled from a session's row (Piston's
//! stages, the seed's results) are described here, and the suite's
//! schemathesis run checks every response against these descriptions.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// Every error: a sentence, a stable code, and for 401s which check failed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong, for people.
    pub message: String,
    /// What went wrong, for programs (`bad_request`, `unauthorized`, ...).
    pub code: String,
    /// For a refused credential: which check refused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
}

/// `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    pub timestamp: String,
    /// Seconds since the API started.
    pub uptime: f64,
    pub database: Value,
    pub docker: Value,
}

/// `POST /api/run-backend`: the session, and its container once a worker
/// claimed it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunBackendCreated {
    pub session_id: Uuid,
    pub container_id: Option<String>,
    /// The session's status (`pending`, `running`, or terminal).
    #[schema(value_type = String)]
    pub status: crate::model::SessionStatus,
}

/// The seed's `POST /api/execute/validate` and `/run` (some fields only for
/// one of them; see the README).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SeedResult {
    pub session_id: Uuid,
    pub status: String,
    pub end_reason: Option<String>,
    pub passed: bool,
    pub tests_passed: i64,
    pub total_tests: i64,
    /// Compile and run output.
    pub output: String,
    pub usage: Option<Value>,
    pub error: Option<String>,
}

/// `GET /api/v2/runtimes`: one installed runtime.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PistonRuntime {
    pub language: String,
    pub version: String,
    pub aliases: Vec<String>,
    pub runtime: String,
}

/// A Piston stage's result.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PistonStage {
    pub stdout: String,
    pub stderr: String,
    pub output: String,
    pub code: Option<i64>,
    pub signal: Option<String>,
    pub message: Option<String>,
    /// `RE`, `SG`, `TO`, `OL`, `XX` or null.
    pub status: Option<String>,
    /// CPU milliseconds.
    pub cpu_time: Option<i64>,
    pub wall_time: Option<i64>,
    /// Peak bytes.
    pub memory: Option<i64>,
}

/// `POST /api/v2/execute`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PistonResult {
    pub language: String,
    pub version: String,
    pub run: PistonStage,
    /// Only for a compiled language.
    pub compile: Option<PistonStage>,
}

/// `POST /api/keys`: the key, shown only in this answer.
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

/// `GET /api/sessions`: one of the caller's sessions, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionSummary {
    pub id: Uuid,
    pub language: String,
    /// `run`, `validate`, `benchmark` or `cases`.
    pub mode: String,
    pub session_name: Option<String>,
    /// `pending`, `running`, `completed`, `failed`, `timeout`, `cancelled` or `error`.
    pub status: String,
    /// Why it ended (see the README's end_reason table); null until then.
    pub end_reason: Option<String>,
    pub exit_code: Option<i32>,
    /// The code's first 200 characters.
    pub code: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// `GET /api/sessions/{id}`: one of the caller's sessions in full.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionView {
    pub id: Uuid,
    pub language: String,
    pub mode: String,
    pub session_name: Option<String>,
    pub code: String,
    pub stdin: Option<String>,
    pub args: Vec<String>,
    pub status: String,
    pub end_reason: Option<String>,
    pub exit_code: Option<i32>,
    /// Why it did not complete, for people.
    pub error: Option<String>,
    /// `{compile?: {cpuMs, wallMs, memoryKb}, run?: {...}}` for the stages that ran to their end.
    pub usage: Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// From the start of the run to its end.
    pub duration_ms: Option<f64>,
    pub cancel_requested: bool,
}

/// `POST /api/sessions/{id}/cancel`: the session after the request (a
/// pending one is cancelled at once; a running one when its worker stops it).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CancelRequested {
    pub id: Uuid,
    pub status: String,
    pub cancel_requested: bool,
}
