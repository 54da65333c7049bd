//! The shapes of the API's JSON responses, as the OpenAPI document names
//! them. Handlers that answer with a fixed shape serialize these types
//! themselves; those whose answer is assembled from a session's row (Piston's
//! stages, the seed's results, Judge0's submissions with their `fields`) are
//! described here, and the suite's schemathesis run checks every response
//! against these descriptions.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

pub(crate) use super::error::ErrorBody;

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
