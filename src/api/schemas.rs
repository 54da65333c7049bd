//! The shapes of the API's JSON responses, as the OpenAPI document names
//! them. Handlers that answer with a fixed shape serialize these types
//! themselves; those whose answer is assembled from a session's row (Piston's
//! stages, the seed's results, Judge0's submissions with their `fields`) are
//! described here, and the suite's schemathesis run checks every response
//! against these descriptions.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

pub(crate) use super::error::ErrorBody;

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

/// Judge0's `{id, name}` of a language.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Judge0Language {
    pub id: i64,
    pub name: String,
}

/// Judge0's `GET /languages/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Judge0LanguageDetail {
    pub id: i64,
    pub name: String,
    pub is_archived: bool,
    pub source_file: String,
    pub compile_cmd: Option<String>,
    pub run_cmd: String,
}

/// Judge0's `{id, description}` of a status.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Judge0Status {
    pub id: i64,
    pub description: String,
}

/// A created submission's token.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Judge0Token {
    pub token: Uuid,
}

/// One of a created batch: a token, or why that submission was refused.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum Judge0BatchItem {
    Token { token: Uuid },
    Error { error: String },
}

/// A submission as Judge0 shows it: only the `fields` asked for (by default
/// `token,stdout,time,memory,stderr,compile_output,message,status`); texts
/// base64 with `base64_encoded=true`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Judge0Submission {
    pub token: Option<Uuid>,
    pub source_code: Option<String>,
    pub language_id: Option<i64>,
    pub language: Option<Judge0Language>,
    pub stdin: Option<String>,
    pub expected_output: Option<String>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub compile_output: Option<String>,
    pub message: Option<String>,
    pub status: Option<Judge0Status>,
    pub status_id: Option<i64>,
    pub exit_code: Option<i64>,
    pub exit_signal: Option<i64>,
    /// CPU seconds, as text (`"0.012"`), averaged over the runs.
    pub time: Option<String>,
    pub wall_time: Option<String>,
    /// Peak KB.
    pub memory: Option<i64>,
    pub created_at: Option<String>,
    pub finished_at: Option<String>,
    pub number_of_runs: Option<i64>,
    pub cpu_time_limit: Option<f64>,
    pub cpu_extra_time: Option<f64>,
    pub wall_time_limit: Option<f64>,
    pub memory_limit: Option<i64>,
    pub stack_limit: Option<i64>,
    pub max_processes_and_or_threads: Option<i64>,
    pub enable_per_process_and_thread_time_limit: Option<bool>,
    pub enable_per_process_and_thread_memory_limit: Option<bool>,
    pub max_file_size: Option<i64>,
    pub compiler_options: Option<String>,
    pub command_line_arguments: Option<String>,
    pub redirect_stderr_to_stdout: Option<bool>,
    pub callback_url: Option<String>,
    pub additional_files: Option<String>,
    pub enable_network: Option<bool>,
}

/// `GET /submissions/batch`: the submissions in the tokens' order (null for
/// a token that is not the caller's).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Judge0Submissions {
    pub submissions: Vec<Option<Judge0Submission>>,
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
