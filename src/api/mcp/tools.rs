//! The tools: their names, descriptions and input schemas (from the
//! argument types), and what a call does.

use rmcp::model::{CallToolResult, ContentBlock, ProgressNotificationParam, ProgressToken, Tool};
use rmcp::service::{Peer, RequestContext};
use rmcp::RoleServer;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use utoipa::PartialSchema;
use uuid::Uuid;

use super::wire::{Language, Languages, NoArgs, RunCode, RunResult, RunTests, SessionArg, TestsResult};
use super::Caller;
use crate::api::error::ApiError;
use crate::api::sessions::{self, Output};
use crate::api::ApiState;
use crate::db::follow::{LogRow, SessionState};
use crate::model::cases::CasesResult;
use crate::model::outcome::signal_name;
use crate::model::{EndReason, Exit, Request, SessionStatus, Stream};

crate::model::text_enum! {
    /// The tools, by their MCP names.
    pub enum ToolName {
        RunCode = "run_code",
        RunTests = "run_tests",
        ListLanguages = "list_languages",
        GetSession = "get_session",
        CancelSession = "cancel_session",
    }
}

impl ToolName {
    fn describe(self) -> Tool {
        let (text, schema) = match self {
            ToolName::RunCode => (
                "Run a program once in a sandbox: its stdout, stderr, exit code, status and end reason, CPU \
                 time and peak memory. A program that fails, times out or does not compile is a result with \
                 isError set. With a progress token, each line it prints arrives as a progress notification.",
                RunCode::schema(),
            ),
            ToolName::RunTests => (
                "Judge a solution against test cases: compiled once, each case run with its stdin and \
                 compared with its expected output (or by a checker program). Answers the verdict and every \
                 case's result.",
                RunTests::schema(),
            ),
            ToolName::ListLanguages => (
                "The languages this deployment runs now: names, aliases, versions and preinstalled libraries.",
                NoArgs::schema(),
            ),
            ToolName::GetSession => ("One of your earlier sessions, by id.", SessionArg::schema()),
            ToolName::CancelSession => (
                "Stop one of your sessions: a pending one at once, a running one as soon as its worker can.",
                SessionArg::schema(),
            ),
        };
        let schema = match serde_json::to_value(schema).expect("a schema serializes") {
            Value::Object(o) => o,
            other => unreachable!("a tool's input schema is an object, not {other}"),
        };
        Tool::new(self.as_str(), text, schema)
    }
}

/// Every tool, described.
pub(super) fn list() -> Vec<Tool> {
    ToolName::ALL.iter().map(|t| t.describe()).collect()
}

/// One call: its result, or a tool error (`isError`) saying why.
pub(super) async fn call(
    st: &ApiState,
    caller: Caller,
    name: ToolName,
    args: Value,
    ctx: &RequestContext<RoleServer>,
) -> CallToolResult {
    let answered = async {
        match name {
            ToolName::RunCode => run_code(st, caller, &parse(args)?, ctx).await,
            ToolName::RunTests => run_tests(st, caller, &parse(args)?, ctx).await,
            ToolName::ListLanguages => {
                parse::<NoArgs>(args)?;
                languages(st).await
            }
            ToolName::GetSession => session(st, caller, parse::<SessionArg>(args)?.id, false).await,
            ToolName::CancelSession => session(st, caller, parse::<SessionArg>(args)?.id, true).await,
        }
    };
    answered.await.unwrap_or_else(refused)
}

/// A tool's arguments, or the field that is wrong.
fn parse<T: DeserializeOwned>(args: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(args).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." { String::new() } else { format!("{path}: ") };
        ApiError::BadRequest(format!("invalid arguments: {at}{}", e.into_inner()))
    })
}

/// A result whose JSON is both its structured content and its text.
fn answer(value: &impl Serialize, failed: bool) -> CallToolResult {
    let value = serde_json::to_value(value).expect("a tool result serializes");
    let text = vec![ContentBlock::text(value.to_string())];
    let mut result = if failed { CallToolResult::error(text) } else { CallToolResult::success(text) };
    result.structured_content = Some(value);
    result
}

/// A call the API would have answered with an error status: the same
/// body, as a tool error (with when to retry, for a refusal by the limits).
fn refused(e: ApiError) -> CallToolResult {
    let retry_after = e.retry_after();
    let mut body = serde_json::to_value(e.body()).expect("an error body serializes");
    if let Some(secs) = retry_after {
        body["retryAfterSeconds"] = json!(secs);
    }
    let mut result = CallToolResult::error(vec![ContentBlock::text(e.to_string())]);
    result.structured_content = Some(json!({ "error": body }));
    result
}

async fn run_code(
    st: &ApiState,
    caller: Caller,
    args: &RunCode,
    ctx: &RequestContext<RoleServer>,
) -> Result<CallToolResult, ApiError> {
    let Ran { id, state, out, compiled } = run(st, caller, &args.request(), ctx).await?;
    let exit = state.exit();
    let kept = out.run.stdout.len() + out.run.stderr.len() + out.compile.output.len();
    let result = RunResult {
        session_id: id,
        status: state.status,
        end_reason: state.end_reason,
        exit_code: state.exit_code,
        signal: exit.and_then(Exit::signal).map(signal_name),
        compile_output: compiled.then(|| out.compile.output.clone()),
        stdout: out.run.stdout,
        stderr: out.run.stderr,
        error: state.error,
        usage: state.usage,
        output_cut_at_bytes: (state.end_reason == Some(EndReason::OutputLimit)).then_some(kept),
    };
    let ok = result.status == SessionStatus::Completed && exit == Some(Exit::Code(0));
    Ok(answer(&result, !ok))
}

async fn run_tests(
    st: &ApiState,
    caller: Caller,
    args: &RunTests,
    ctx: &RequestContext<RoleServer>,
) -> Result<CallToolResult, ApiError> {
    let Ran { id, state, out, compiled } = run(st, caller, &args.request(), ctx).await?;
    let db = st.pool.get().await?;
    let cases = match crate::db::sessions::result(&db, id).await? {
        Some(v) => Some(
            serde_json::from_value::<CasesResult>(v)
                .map_err(|e| ApiError::internal(format!("session {id}'s result is not a cases result: {e}")))?,
        ),
        None => None,
    };
    let result = TestsResult {
        session_id: id,
        status: state.status,
        end_reason: state.end_reason,
        verdict: cases.as_ref().map(|c| c.verdict),
        passed: cases.as_ref().map_or(0, |c| c.passed),
        total: cases.as_ref().map_or(args.cases.len(), |c| c.total),
        cases: cases.map(|c| c.cases).unwrap_or_default(),
        compile_output: compiled.then(|| out.compile.output.clone()),
        error: state.error,
        usage: state.usage,
    };
    let ok = result.status == SessionStatus::Completed && result.verdict == Some(crate::model::CaseStatus::Accepted);
    Ok(answer(&result, !ok))
}

/// A session that ran to its end.
struct Ran {
    id: Uuid,
    state: SessionState,
    out: Output,
    /// Its language compiles.
    compiled: bool,
}

/// Creates the caller's session and follows it to its end; its output
/// lines go to the client as progress notifications when it asked for
/// them. A call the client cancels cancels its session.
async fn run(
    st: &ApiState,
    caller: Caller,
    request: &Request,
    ctx: &RequestContext<RoleServer>,
) -> Result<Ran, ApiError> {
    let valid = request.validate(&st.runtimes, &st.cfg.limits)?;
    let (limits, compiled) = (valid.limits, valid.runtime.compile.is_some());
    st.door.enter(st).await?;
    let id = sessions::create(st, caller.user, caller.quota, &valid).await?;
    let (lines, forwarded) = match ctx.meta.get_progress_token() {
        Some(token) => {
            let (tx, rx) = mpsc::unbounded_channel();
            (Some(tx), Some(tokio::spawn(progress(ctx.peer.clone(), token, rx))))
        }
        None => (None, None),
    };
    let seen = |row: &LogRow| {
        if let (Some(tx), false) = (&lines, row.stream == Stream::System) {
            let _ = tx.send(row.text());
        }
    };
    let run_limit = limits.timeout + limits.compile_timeout;
    let ended = tokio::select! {
        ended = sessions::wait_seeing(st, id, caller.user, run_limit, seen) => ended,
        () = ctx.ct.cancelled() => {
            sessions::cancel_abandoned(st, caller.user, id, "its MCP call was cancelled").await;
            Err(ApiError::BadRequest(format!("the call was cancelled; so was session {id}")))
        }
    };
    drop(lines);
    // Every line is sent before the result.
    if let Some(forwarded) = forwarded {
        let _ = forwarded.await;
    }
    let (state, out) = ended?;
    Ok(Ran { id, state, out, compiled })
}

/// Sends each line as a progress notification, numbered from 1.
async fn progress(peer: Peer<RoleServer>, token: ProgressToken, mut lines: mpsc::UnboundedReceiver<String>) {
    let mut n = 0u64;
    while let Some(line) = lines.recv().await {
        n += 1;
        let mut note = ProgressNotificationParam::new(token.clone(), n as f64);
        note.message = Some(line);
        if peer.notify_progress(note).await.is_err() {
            return;
        }
    }
}

/// What the live workers run, as `/api/v2/runtimes` says.
async fn languages(st: &ApiState) -> Result<CallToolResult, ApiError> {
    let languages = crate::api::health::served_runtimes(st)
        .await?
        .into_iter()
        .map(|rt| Language {
            language: rt.language.clone(),
            version: rt.version.clone(),
            aliases: rt.aliases.clone(),
            libraries: rt.libraries.clone(),
            compiled: rt.compile.is_some(),
        })
        .collect();
    Ok(answer(&Languages { languages }, false))
}

/// The caller's session `id` (first asking it to stop, for a cancel).
async fn session(st: &ApiState, caller: Caller, id: Uuid, stop: bool) -> Result<CallToolResult, ApiError> {
    let mut db = st.pool.get().await?;
    if stop {
        crate::db::user::cancel(&mut db, caller.user, id).await?;
    }
    match crate::db::sessions::one(&db, Some(caller.user), id).await? {
        Some(s) => Ok(answer(&s, false)),
        None => Err(ApiError::NotFound(format!("no session {id} of yours"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_describes_its_arguments_without_references() {
        for tool in list() {
            let schema = Value::Object((*tool.input_schema).clone());
            assert_eq!(schema["type"], "object", "{}: {schema}", tool.name);
            assert!(
                !schema.to_string().contains("$ref"),
                "{}: a reference the client cannot resolve: {schema}",
                tool.name
            );
        }
        let run = list().into_iter().find(|t| t.name == "run_code").unwrap();
        let required = run.input_schema["required"].as_array().unwrap();
        assert_eq!(required, &[json!("language"), json!("code")]);
        let name = &run.input_schema["properties"]["files"]["items"]["properties"]["name"]["pattern"];
        assert_eq!(name, crate::model::request::SAFE_NAME_PATTERN);
    }

    #[test]
    fn a_wrong_argument_is_named() {
        let table = [
            (json!({"code": "x"}), "missing field `language`"),
            (json!({"language": "python", "code": 1}), "code: invalid type"),
            (json!({"language": "python", "code": "x", "files": [{"name": "a"}]}), "files[0]: missing field `content`"),
            (
                json!({"language": "python", "code": "x", "limits": {"timeout": 1}}),
                "limits.timeout: unknown field `timeout`",
            ),
            (
                json!({"language": "python", "code": "x", "limits": {"timeout_ms": 1e12}}),
                "limits.timeout_ms: invalid type",
            ),
        ];
        for (args, says) in table {
            let e = parse::<RunCode>(args.clone()).unwrap_err().to_string();
            assert!(e.contains(says), "{args}: {e:?} should say {says:?}");
        }
    }
}
