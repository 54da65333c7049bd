//! Judge0's JSON as this API reads and writes it: the queries and bodies of
//! requests, and every answer but the errors. The OpenAPI document's Judge0
//! schemas are these types.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::status::Status;

/// `POST /submissions`' query.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct CreateParams {
    /// Texts in the body and the answer are base64.
    #[param(value_type = Option<bool>)]
    pub base64_encoded: Option<String>,
    /// Answer once the submission finished, not with its token at once.
    #[param(value_type = Option<bool>)]
    pub wait: Option<String>,
    /// With `wait`: the fields to show (`*` for all), comma-separated (the
    /// document's pattern is `view::fields_pattern`).
    pub fields: Option<String>,
}

/// `GET /submissions/{token}`' query.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ViewParams {
    /// Texts in the answer are base64.
    #[param(value_type = Option<bool>)]
    pub base64_encoded: Option<String>,
    /// The fields to show (`*` for all), comma-separated.
    pub fields: Option<String>,
}

/// `POST /submissions/batch`' query.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct EncodingParams {
    /// Texts in the body are base64.
    #[param(value_type = Option<bool>)]
    pub base64_encoded: Option<String>,
}

/// `GET /submissions/batch`' query.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct BatchParams {
    /// The submissions' tokens, comma-separated (at most 20).
    #[param(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(,[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}){0,19}$"
    )]
    pub tokens: String,
    /// Texts in the answer are base64.
    #[param(value_type = Option<bool>)]
    pub base64_encoded: Option<String>,
    /// The fields to show (`*` for all), comma-separated.
    pub fields: Option<String>,
}

/// The body of `POST /submissions` (and each of a batch's). Limits the
/// server's settings bound (`language_id`'s ids, the time and memory
/// maxima) are filled into the OpenAPI document by `openapi::document`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Judge0SubmissionRequest)]
pub(crate) struct SubmissionBody {
    /// The program (base64 with `base64_encoded=true`).
    #[schema(pattern = r"^[^\x00]*$")]
    pub source_code: String,
    /// A Judge0 language id (see `GET /languages`).
    #[serde(deserialize_with = "crate::api::json::integer::required")]
    pub language_id: i64,
    /// Not supported: absent, null or empty.
    #[schema(max_length = 0)]
    pub compiler_options: Option<String>,
    /// Split into arguments as a POSIX shell would; text a shell could not
    /// split (an unmatched quote) is split at whitespace.
    #[schema(pattern = r"^[^\x00]*$")]
    pub command_line_arguments: Option<String>,
    #[schema(pattern = r"^[^\x00]*$")]
    pub stdin: Option<String>,
    /// With it, each run is judged (`lines`: trailing whitespace ignored).
    #[schema(pattern = r"^[^\x00]*$")]
    pub expected_output: Option<String>,
    /// CPU seconds per run.
    #[schema(exclusive_minimum = 0.0)]
    pub cpu_time_limit: Option<f64>,
    /// Accepted, not applied: the CPU limit is exact.
    #[schema(minimum = 0.0)]
    pub cpu_extra_time: Option<f64>,
    /// Wall-clock seconds per run.
    #[schema(exclusive_minimum = 0.0)]
    pub wall_time_limit: Option<f64>,
    /// KB per run.
    pub memory_limit: Option<f64>,
    /// Accepted, not applied: the sandbox's memory limit covers the stack.
    #[serde(default, deserialize_with = "crate::api::json::integer::optional")]
    #[schema(minimum = 1)]
    pub stack_limit: Option<i64>,
    /// Accepted, not applied: the sandbox's process limit holds.
    #[serde(default, deserialize_with = "crate::api::json::integer::optional")]
    #[schema(minimum = 1)]
    pub max_processes_and_or_threads: Option<i64>,
    /// Only false: limits hold for the whole sandbox.
    pub enable_per_process_and_thread_time_limit: Option<bool>,
    /// Only false: limits hold for the whole sandbox.
    pub enable_per_process_and_thread_memory_limit: Option<bool>,
    /// Accepted, not applied: each run's output is capped by the server.
    #[serde(default, deserialize_with = "crate::api::json::integer::optional")]
    #[schema(minimum = 1)]
    pub max_file_size: Option<i64>,
    pub redirect_stderr_to_stdout: Option<bool>,
    /// Only false: sandboxes have no network.
    pub enable_network: Option<bool>,
    #[serde(default, deserialize_with = "crate::api::json::integer::optional")]
    #[schema(minimum = 1, maximum = 20)]
    pub number_of_runs: Option<i64>,
    /// Not supported (poll, or send `wait=true`): absent, null or empty.
    #[schema(max_length = 0)]
    pub callback_url: Option<String>,
    /// Not supported: absent, null or empty.
    #[schema(max_length = 0)]
    pub additional_files: Option<String>,
}

/// `{"submissions": [...]}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchBody {
    #[schema(min_items = 1, max_items = 20)]
    #[serde(deserialize_with = "crate::api::json::object::list")]
    pub submissions: Vec<SubmissionBody>,
}

/// `GET /about`: Judge0's version this API answers as, and what it is.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Judge0About)]
pub(crate) struct About {
    /// `1.13.1`.
    pub version: &'static str,
    pub homepage: &'static str,
    pub source_code: &'static str,
    pub maintainer: &'static str,
    /// execbox's own version.
    pub execbox: &'static str,
}

/// `GET /config_info`: Judge0's configuration, as this server's limits
/// make it (seconds, KB).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Judge0ConfigInfo)]
pub(crate) struct ConfigInfo {
    pub maintenance_mode: bool,
    pub enable_wait_result: bool,
    pub enable_compiler_options: bool,
    pub allowed_languages_for_compile_options: Vec<String>,
    pub enable_command_line_arguments: bool,
    pub enable_submission_delete: bool,
    pub enable_callbacks: bool,
    pub callbacks_max_tries: u32,
    pub callbacks_timeout: f64,
    pub enable_additional_files: bool,
    pub max_queue_size: u32,
    pub cpu_time_limit: f64,
    pub max_cpu_time_limit: f64,
    pub cpu_extra_time: f64,
    pub max_cpu_extra_time: f64,
    pub wall_time_limit: f64,
    pub max_wall_time_limit: f64,
    pub memory_limit: u64,
    pub max_memory_limit: u64,
    pub stack_limit: u64,
    pub max_stack_limit: u64,
    pub max_processes_and_or_threads: i64,
    pub max_max_processes_and_or_threads: i64,
    pub enable_per_process_and_thread_time_limit: bool,
    pub allow_enable_per_process_and_thread_time_limit: bool,
    pub enable_per_process_and_thread_memory_limit: bool,
    pub allow_enable_per_process_and_thread_memory_limit: bool,
    pub max_file_size: u64,
    pub max_max_file_size: u64,
    pub number_of_runs: i64,
    pub max_number_of_runs: i64,
    pub redirect_stderr_to_stdout: bool,
    pub max_extract_size: u64,
    pub enable_batched_submissions: bool,
    pub max_submission_batch_size: usize,
    pub submission_cache_duration: f64,
    pub use_docs_as_homepage: bool,
    pub enable_network: bool,
    pub allow_enable_network: bool,
}

/// Judge0's `{id, name}` of a language.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(as = Judge0Language)]
pub(crate) struct Language {
    pub id: i64,
    pub name: String,
}

/// `GET /languages/{id}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Judge0LanguageDetail)]
pub(crate) struct LanguageDetail {
    pub id: i64,
    pub name: String,
    pub is_archived: bool,
    /// The file the source is written to.
    pub source_file: String,
    /// Null for an interpreted language.
    pub compile_cmd: Option<String>,
    pub run_cmd: String,
}

/// Judge0's `{id, description}` of a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Judge0Status)]
pub(crate) struct StatusEntry {
    #[schema(minimum = 1, maximum = 14)]
    pub id: u8,
    pub description: &'static str,
}

impl From<Status> for StatusEntry {
    fn from(s: Status) -> StatusEntry {
        StatusEntry { id: s.id(), description: s.description() }
    }
}

/// One of a created batch: a token, or why that submission was refused.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = Judge0BatchItem)]
pub(crate) enum BatchItem {
    Token { token: Uuid },
    Error { error: String },
}

/// A submission as Judge0 shows it: only the `fields` asked for (by default
/// `token,stdout,time,memory,stderr,compile_output,message,status`), each
/// absent when not asked for and null when asked for but without a value;
/// texts base64 with `base64_encoded=true`. A submission created without
/// `wait` is shown by its token alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[schema(as = Judge0Submission)]
pub(crate) struct SubmissionView {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub token: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub source_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub language_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub language: Option<Language>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdin: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_output: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compile_output: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub status: Option<StatusEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 1, maximum = 14)]
    pub status_id: Option<u8>,
    /// The decisive run's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<Option<i32>>,
    /// The number of the signal that ended the decisive run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_signal: Option<Option<i32>>,
    /// CPU seconds, as text (`"0.012"`), averaged over the runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^[0-9]+\.[0-9]{3}$")]
    pub time: Option<Option<String>>,
    /// Wall-clock seconds, as `time`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^[0-9]+\.[0-9]{3}$")]
    pub wall_time: Option<Option<String>>,
    /// Peak KB of the runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, format = DateTime)]
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub finished_at: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 1)]
    pub number_of_runs: Option<i32>,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_time_limit: Option<Option<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub cpu_extra_time: Option<f64>,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall_time_limit: Option<Option<f64>>,
    /// KB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<Option<u64>>,
    /// Null: not applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_limit: Option<Option<i64>>,
    /// Null: not applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_processes_and_or_threads: Option<Option<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub enable_per_process_and_thread_time_limit: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub enable_per_process_and_thread_memory_limit: Option<bool>,
    /// Null: not applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_file_size: Option<Option<i64>>,
    /// Null: not supported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compiler_options: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command_line_arguments: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub redirect_stderr_to_stdout: Option<bool>,
    /// Null: not supported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<Option<String>>,
    /// Null: not supported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_files: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub enable_network: Option<bool>,
}

/// `GET /submissions/batch`: the submissions in the tokens' order (null for
/// a token that is not the caller's).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Judge0Submissions)]
pub(crate) struct Submissions {
    pub submissions: Vec<Option<SubmissionView>>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_status_is_judge0s_id_and_description() {
        let nzec = serde_json::to_value(StatusEntry::from(Status::Nzec)).unwrap();
        assert_eq!(nzec, json!({"id": 11, "description": "Runtime Error (NZEC)"}));
    }

    #[test]
    fn a_submission_shows_what_was_asked_null_or_not() {
        let view = SubmissionView { stdout: Some(None), status_id: Some(3), ..Default::default() };
        assert_eq!(serde_json::to_value(view).unwrap(), json!({"stdout": null, "status_id": 3}));
    }
}
