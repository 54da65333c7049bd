//! The seed's endpoints on the wire: `run-backend`'s request, answer and
//! log socket messages, and seed 004's validate/run request and result.
//! The OpenAPI document describes these very types.

use axum::extract::ws::Message;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::model::{EndReason, Level, SessionStatus, Stage, Stream, Usage};
use crate::validate::ValidationResult;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = RunBackendRequest)]
pub(crate) struct RunRequest {
    #[schema(pattern = r"^[^\x00]*$")]
    pub code: String,
    pub language: String,
    #[serde(default, deserialize_with = "crate::api::json::object::optional")]
    pub user_context: Option<UserContext>,
    #[serde(default)]
    #[schema(pattern = r"^[^\x00]*$")]
    pub stdin: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct UserContext {
    #[serde(default)]
    pub user_id: Option<Uuid>,
    #[serde(default)]
    pub room_id: Option<Uuid>,
    #[serde(default)]
    #[schema(pattern = r"^[^\x00]*$")]
    pub session_name: Option<String>,
}

/// `POST /api/run-backend`'s answer: the session, and its container once a
/// worker recorded it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunBackendCreated {
    pub session_id: Uuid,
    pub container_id: Option<String>,
    pub status: SessionStatus,
}

/// The seed's log socket, server to client.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", rename_all_fields = "camelCase")]
pub(crate) enum SocketMessage<'a> {
    Connected {
        session_id: Uuid,
        timestamp: String,
    },
    Log {
        message: &'a str,
        level: Level,
        stream: Stream,
        stage: Stage,
        newline: bool,
        seq: i32,
        timestamp: String,
    },
    ExecutionComplete {
        status: SessionStatus,
        end_reason: Option<EndReason>,
        exit_code: Option<i32>,
        error: Option<&'a str>,
        timestamp: String,
    },
}

impl SocketMessage<'_> {
    pub(crate) fn frame(&self) -> Message {
        Message::Text(serde_json::to_string(self).expect("a socket message serializes").into())
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SeedExecuteRequest)]
pub(crate) struct ExecuteRequest {
    #[schema(pattern = r"^[^\x00]*$")]
    pub solution: String,
    #[schema(pattern = r"^[^\x00]*$")]
    pub tests: String,
    pub language: String,
    #[serde(default, deserialize_with = "crate::api::json::integer::optional")]
    pub runs: Option<i64>,
}

/// `POST /api/execute/validate` and `/run`'s answer: the session's result
/// (the counts, each test, and for a benchmark the timings) and how it ended.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SeedResult)]
pub(crate) struct ExecuteResult {
    pub session_id: Uuid,
    pub status: SessionStatus,
    pub end_reason: Option<EndReason>,
    #[serde(flatten)]
    pub result: ValidationResult,
    pub usage: Usage,
    /// Compile and run output.
    pub output: String,
    /// Why it did not complete (present only then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Option<String>>,
}
