//! Piston v2 on the wire: the execute request (also a socket's `init`), its
//! answer, the runtimes listing, and the socket's messages both ways. The
//! OpenAPI document describes these very types.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::{EndReason, SessionStatus, Stage, Stream};

/// One file of a request (its schema is [`files`]'s).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PistonFile {
    #[serde(default)]
    pub name: Option<String>,
    pub content: String,
    /// `utf8` (the default), `base64` or `hex`.
    #[serde(default)]
    pub encoding: Option<String>,
}

/// Piston's execute request (also the body of a socket's `init`). A limit
/// is a positive number, or -1 (or absent) for the server's default.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(as = PistonExecuteRequest)]
pub(crate) struct ExecuteRequest {
    pub language: String,
    #[serde(default)]
    pub version: Option<String>,
    #[schema(schema_with = files)]
    #[serde(deserialize_with = "crate::api::json::object::list")]
    pub files: Vec<PistonFile>,
    #[serde(default)]
    #[schema(pattern = r"^[^\x00]*$")]
    pub stdin: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    /// Milliseconds.
    #[serde(default, deserialize_with = "crate::api::json::integer::optional")]
    #[schema(schema_with = limit)]
    pub compile_timeout: Option<i64>,
    /// Milliseconds.
    #[serde(default, deserialize_with = "crate::api::json::integer::optional")]
    #[schema(schema_with = limit)]
    pub run_timeout: Option<i64>,
    /// Milliseconds of CPU time.
    #[serde(default, deserialize_with = "crate::api::json::integer::optional")]
    #[schema(schema_with = limit)]
    pub compile_cpu_time: Option<i64>,
    /// Milliseconds of CPU time.
    #[serde(default, deserialize_with = "crate::api::json::integer::optional")]
    #[schema(schema_with = limit)]
    pub run_cpu_time: Option<i64>,
    /// Bytes.
    #[serde(default, deserialize_with = "crate::api::json::integer::optional")]
    #[schema(schema_with = limit)]
    pub compile_memory_limit: Option<i64>,
    /// Bytes.
    #[serde(default, deserialize_with = "crate::api::json::integer::optional")]
    #[schema(schema_with = limit)]
    pub run_memory_limit: Option<i64>,
}

/// `files`: the main file, then extra files for `/work`, each with a name
/// `/work` allows; every file's content as its encoding decodes it. (That
/// a base64 or hex main file decodes to UTF-8 text, and that no two files
/// share a name, no schema can say.)
fn files() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, Schema};
    let array = ArrayBuilder::new()
        .description(Some("The main file first, then extra files for the program's directory."))
        .min_items(Some(1))
        .max_items(Some(crate::model::request::MAX_FILES))
        .prefix_items([file(false)])
        .items(utoipa::openapi::schema::ArrayItems::RefOrSchema(Box::new(file(true).into())));
    Schema::Array(array.build())
}

/// One file, in each encoding's shape: `utf8` (the default), `base64` or
/// `hex`. An extra file (not the main one) needs a name.
fn file(extra: bool) -> utoipa::openapi::schema::Schema {
    use crate::model::request::{BASE64_PATTERN, HEX_PATTERN, SAFE_NAME_PATTERN};
    use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, SchemaType, Type};
    let string = || ObjectBuilder::new().schema_type(Type::String);
    let name = || match extra {
        true => string().pattern(Some(SAFE_NAME_PATTERN)),
        false => ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null])),
    };
    let shape = |encodings: &[Option<&str>], content: &str| {
        let named = encodings.contains(&None);
        let encoding = ObjectBuilder::new()
            .schema_type(match named {
                true => SchemaType::from_iter([Type::String, Type::Null]),
                false => SchemaType::new(Type::String),
            })
            .enum_values(Some(encodings.iter().copied()));
        let required = std::iter::once("content").chain(extra.then_some("name")).chain((!named).then_some("encoding"));
        let mut object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("name", name())
            .property("content", string().pattern(Some(content)))
            .property("encoding", encoding);
        for field in required {
            object = object.required(field);
        }
        object
    };
    let shapes = AnyOfBuilder::new()
        .item(shape(&[Some("utf8"), Some("utf-8"), None], r"^[^\x00]*$"))
        .item(shape(&[Some("base64")], BASE64_PATTERN))
        .item(shape(&[Some("hex")], HEX_PATTERN));
    Schema::AnyOf(shapes.build())
}

/// The largest integer every JSON reader holds exactly (2^53 - 1); larger
/// limits are refused as over the server's anyway.
const MAX_EXACT: i64 = 9_007_199_254_740_991;

/// A Piston limit's schema: -1 (the server's default), a positive integer,
/// or null.
fn limit() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type};
    let default = ObjectBuilder::new().schema_type(Type::Integer).enum_values(Some([-1]));
    let positive = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .maximum(Some(MAX_EXACT));
    let null = ObjectBuilder::new().schema_type(Type::Null);
    Schema::OneOf(OneOfBuilder::new().item(default).item(positive).item(null).build())
}

/// `GET /api/v2/runtimes`: one installed runtime.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PistonRuntime)]
pub(crate) struct Runtime {
    pub language: String,
    pub version: String,
    pub aliases: Vec<String>,
    pub runtime: String,
}

/// Piston's `status` of a stage that did not end well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) enum StageStatus {
    /// A run-time error: a non-zero exit.
    #[serde(rename = "RE")]
    RuntimeError,
    /// Killed by a signal.
    #[serde(rename = "SG")]
    Signalled,
    /// A time limit.
    #[serde(rename = "TO")]
    TimedOut,
    /// The output limit.
    #[serde(rename = "OL")]
    OutputLimit,
    /// execbox's own failure.
    #[serde(rename = "XX")]
    Internal,
}

/// Piston's `status`, `signal` and `code` of a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub status: Option<StageStatus>,
    pub signal: Option<String>,
    pub code: Option<i32>,
}

/// One stage's result.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = PistonStage)]
pub(crate) struct StageResult {
    pub stdout: String,
    pub stderr: String,
    pub output: String,
    pub code: Option<i32>,
    pub signal: Option<String>,
    pub message: Option<String>,
    pub status: Option<StageStatus>,
    /// CPU milliseconds.
    pub cpu_time: Option<i64>,
    pub wall_time: Option<i64>,
    /// Peak bytes.
    pub memory: Option<i64>,
}

/// `POST /api/v2/execute`'s answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PistonResult)]
pub(crate) struct ExecuteResult {
    pub language: String,
    pub version: String,
    pub run: StageResult,
    /// Only for a compiled language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compile: Option<StageResult>,
}

/// A message from the socket's client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum ClientMessage {
    Init(Box<ExecuteRequest>),
    Data {
        stream: String,
        #[serde(default)]
        data: String,
        /// Piston's: end the input after this data.
        #[serde(default)]
        eof: bool,
    },
    Eof,
    Signal {
        signal: String,
    },
    #[serde(other)]
    Unknown,
}

/// How a session ended, on the last `exit`.
#[derive(Debug, Serialize)]
pub(crate) struct SessionEnd {
    pub status: SessionStatus,
    pub end_reason: Option<EndReason>,
    pub message: Option<String>,
}

/// A message to the socket's client.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum ServerMessage<'a> {
    Runtime {
        language: &'a str,
        version: &'a str,
    },
    Stage {
        stage: Stage,
    },
    Data {
        stream: Stream,
        data: String,
    },
    Exit {
        stage: Stage,
        code: Option<i32>,
        signal: Option<String>,
        /// On the session's last `exit` only.
        #[serde(flatten, skip_serializing_if = "Option::is_none")]
        end: Option<SessionEnd>,
    },
    Error {
        message: &'a str,
    },
}

impl ServerMessage<'_> {
    pub(crate) fn frame(&self) -> axum::extract::ws::Message {
        axum::extract::ws::Message::Text(serde_json::to_string(self).expect("a socket message serializes").into())
    }
}
