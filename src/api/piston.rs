//! A drop-in Piston v2 API: `POST /api/v2/execute`, `GET /api/v2/runtimes`
//! and the interactive WebSocket `/api/v2/connect` (also at `/api/exec`).
//! Beyond Piston: signals really reach the program, stdin can be closed
//! (`{"type":"eof"}`), output is capped, every request is authenticated, and
//! stdin travels through the database so any API node can serve the socket.

use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::anonymous::PistonCaller;
use super::error::ApiError;
use super::json::JsonBody;
use super::sessions::{self, Output, StageOutput};
use super::ApiState;
use crate::db::follow::{Event, Events, Follower, SessionState};
use crate::model::outcome::signal_name;
use crate::model::{EndReason, Exit, Request, SessionStatus, Stage, StageUsage, Stream};
use crate::runtimes::Runtime;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub(crate) struct PistonFile {
    #[serde(default)]
    pub name: Option<String>,
    #[schema(pattern = r"^[^\x00]*$")]
    pub content: String,
    /// `utf8` (the default), `base64` or `hex`.
    #[serde(default)]
    #[schema(pattern = "^(utf8|utf-8|base64|hex)$")]
    pub encoding: Option<String>,
}

/// Piston's execute request (also the body of a socket's `init`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[schema(as = PistonExecuteRequest)]
pub(crate) struct ExecuteRequest {
    pub language: String,
    #[serde(default)]
    pub version: Option<String>,
    /// The main file first.
    #[schema(min_items = 1)]
    #[serde(deserialize_with = "super::json::object::list")]
    pub files: Vec<PistonFile>,
    #[serde(default)]
    #[schema(pattern = r"^[^\x00]*$")]
    pub stdin: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default, deserialize_with = "super::json::integer::optional")]
    pub compile_timeout: Option<i64>,
    #[serde(default, deserialize_with = "super::json::integer::optional")]
    pub run_timeout: Option<i64>,
    #[serde(default, deserialize_with = "super::json::integer::optional")]
    pub compile_cpu_time: Option<i64>,
    #[serde(default, deserialize_with = "super::json::integer::optional")]
    pub run_cpu_time: Option<i64>,
    #[serde(default, deserialize_with = "super::json::integer::optional")]
    pub compile_memory_limit: Option<i64>,
    #[serde(default, deserialize_with = "super::json::integer::optional")]
    pub run_memory_limit: Option<i64>,
}

/// Piston: the installed runtimes, that is those some live worker has the
/// image for.
#[utoipa::path(get, path = "/api/v2/runtimes", tag = "piston", responses(
    (status = 200, description = "The runtimes some live worker can run", body = Vec<super::schemas::PistonRuntime>),
    (status = 503, description = "The database is unreachable", body = super::schemas::ErrorBody),
))]
pub(crate) async fn runtimes(State(st): State<ApiState>) -> Result<axum::Json<Value>, ApiError> {
    let live = crate::db::workers::live_runtimes(&st.pool.get().await?, super::health::fresh(&st)).await?;
    let list: Vec<Value> = st
        .runtimes
        .all()
        .iter()
        .filter(|rt| live.as_ref().is_none_or(|l| l.contains(&rt.language)))
        .map(
            |rt| json!({"language": rt.language, "version": rt.version, "aliases": rt.aliases, "runtime": rt.language}),
        )
        .collect();
    Ok(axum::Json(Value::Array(list)))
}

/// "*" or absent, the exact version, or a prefix of it by whole components.
fn version_matches(rt: &Runtime, wanted: Option<&str>) -> bool {
    match wanted.map(str::trim) {
        None | Some("") | Some("*") | Some("x") => true,
        Some(v) => {
            rt.version == v || rt.version.starts_with(&format!("{v}.")) || v.starts_with(&format!("{}.", rt.version))
        }
    }
}

/// A Piston limit: absent or -1 is the server's default; anything else
/// must be positive.
fn piston_limit(name: &str, v: Option<i64>) -> Result<Option<i64>, ApiError> {
    match v {
        None | Some(-1) => Ok(None),
        Some(t) if t <= 0 => Err(ApiError::BadRequest(format!("{name} must be positive or -1"))),
        Some(t) => Ok(Some(t)),
    }
}

/// Piston's milliseconds, or bytes rounded up to whole MB, as a session
/// column (values too large for one are refused by the validation).
fn column(v: Option<i64>) -> Option<i32> {
    v.map(|v| i32::try_from(v).unwrap_or(i32::MAX))
}

fn megabytes(bytes: Option<i64>) -> Option<i64> {
    bytes.map(|b| (b as u64).div_ceil(1024 * 1024) as i64)
}

/// Checks a Piston request and turns it into a session request (which the
/// session's own validation then checks against the server's limits).
fn to_session(st: &ApiState, req: &ExecuteRequest, interactive: bool) -> Result<(Request, Runtime), ApiError> {
    let rt = st
        .runtimes
        .resolve(&req.language)
        .filter(|rt| version_matches(rt, req.version.as_deref()))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{}-{} runtime is unknown",
                req.language,
                req.version.as_deref().unwrap_or("*")
            ))
        })?
        .clone();
    let Some(main) = req.files.first() else {
        return Err(ApiError::BadRequest("files must contain at least the main file".into()));
    };
    let code = crate::model::request::decode_content(&main.content, main.encoding.as_deref())
        .map_err(|e| ApiError::BadRequest(format!("files[0]: {e}")))?;
    let code = String::from_utf8(code)
        .map_err(|_| ApiError::BadRequest("files[0]: the main file must be UTF-8 text".into()))?;
    let extra: Vec<Value> = req.files[1..]
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let name = f.name.clone().ok_or_else(|| ApiError::BadRequest(format!("files[{}] needs a name", i + 1)))?;
            Ok(json!({"name": name, "content": f.content, "encoding": f.encoding.clone().unwrap_or_else(|| "utf8".into())}))
        })
        .collect::<Result<_, ApiError>>()?;
    let run_timeout = piston_limit("run_timeout", req.run_timeout)?;
    let run_cpu_time = piston_limit("run_cpu_time", req.run_cpu_time)?;
    let compile_timeout = piston_limit("compile_timeout", req.compile_timeout)?;
    let compile_cpu_time = piston_limit("compile_cpu_time", req.compile_cpu_time)?;
    let run_memory = piston_limit("run_memory_limit", req.run_memory_limit)?;
    let compile_memory = piston_limit("compile_memory_limit", req.compile_memory_limit)?;
    let min_mb = st.cfg.limits.min_memory_mb as i64;
    Ok((
        Request {
            language: rt.language.clone(),
            code,
            stdin: if interactive { req.stdin.clone() } else { Some(piston_stdin(req.stdin.as_deref())) },
            args: req.args.clone(),
            files: (!extra.is_empty()).then_some(Value::Array(extra)),
            timeout_ms: column(run_timeout),
            memory_limit_mb: column(megabytes(run_memory).map(|m| m.max(min_mb))),
            cpu_time_limit_ms: column(run_cpu_time),
            compile_timeout_ms: column(compile_timeout),
            compile_cpu_time_limit_ms: column(compile_cpu_time),
            compile_memory_limit_mb: column(megabytes(compile_memory).map(|m| m.max(min_mb))),
            interactive,
            session_name: Some("piston".into()),
            ..Default::default()
        },
        rt,
    ))
}

/// Piston ends a job's stdin with a newline when it lacks one, so a
/// request without stdin gives the program one empty line: an awk
/// `{print "OK"}` prints once and a `read line` succeeds, as under Piston.
/// (A socket's stdin is the client's to send, so it is left as it is.)
fn piston_stdin(stdin: Option<&str>) -> String {
    let mut s = stdin.unwrap_or_default().to_owned();
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// A refused request in Piston's words (its field names and units).
fn piston_error(e: crate::model::RequestError) -> ApiError {
    use crate::model::RequestError as E;
    match e {
        E::OutOfRange { name, bound, above, .. } => {
            let (field, bound) = match name {
                "timeout_ms" => ("run_timeout", bound),
                "compile_timeout_ms" => ("compile_timeout", bound),
                "memory_limit_mb" => ("run_memory_limit", bound * 1024 * 1024),
                "compile_memory_limit_mb" => ("compile_memory_limit", bound * 1024 * 1024),
                "cpu_time_limit_ms" => ("run_cpu_time", bound),
                "compile_cpu_time_limit_ms" => ("compile_cpu_time", bound),
                other => (other, bound),
            };
            if above {
                ApiError::BadRequest(format!("{field} cannot exceed the configured limit of {bound}"))
            } else {
                ApiError::BadRequest(format!("{field} must be at least {bound}"))
            }
        }
        e => e.into(),
    }
}

/// Piston's `status`, `signal` and `code` of a stage.
type Verdict = (Value, Value, Value);

/// Piston's `status`, `signal` and `code` of a stage that ended this way.
fn verdict(reason: Option<EndReason>, exit: Option<Exit>) -> Verdict {
    use EndReason as R;
    let killed = (json!("SG"), json!("SIGKILL"), Value::Null);
    match reason {
        Some(R::Exit) | Some(R::CompileError) => match exit {
            Some(Exit::Code(0)) => (Value::Null, Value::Null, json!(0)),
            Some(Exit::Code(c)) => (json!("RE"), Value::Null, json!(c)),
            Some(Exit::Signal(n)) => (json!("SG"), json!(signal_name(n)), Value::Null),
            None => (json!("RE"), Value::Null, Value::Null),
        },
        Some(R::Signal) => match exit {
            Some(Exit::Signal(n)) => (json!("SG"), json!(signal_name(n)), Value::Null),
            _ => killed,
        },
        Some(R::Timeout | R::CpuTime | R::CompileTimeout) => (json!("TO"), json!("SIGKILL"), Value::Null),
        Some(R::OutputLimit) => (json!("OL"), json!("SIGKILL"), Value::Null),
        Some(R::MemoryLimit) | Some(R::CompileMemoryLimit) | Some(R::Cancelled) => killed,
        Some(
            R::InvalidRequest | R::ImageMissing | R::Infrastructure | R::WorkerLost | R::Shutdown | R::CheckerFailed,
        )
        | None => (json!("XX"), Value::Null, Value::Null),
    }
}

/// One of Piston's stage objects.
fn stage_object(out: &StageOutput, verdict: Verdict, message: Value, usage: Option<StageUsage>) -> Value {
    let (status, signal, code) = verdict;
    json!({
        "stdout": out.stdout,
        "stderr": out.stderr,
        "output": out.output,
        "code": code,
        "signal": signal,
        "message": message,
        "status": status,
        "cpu_time": usage.map(|u| u.cpu_ms.round() as i64),
        "wall_time": usage.map(|u| u.wall_ms.round() as i64),
        "memory": usage.map(|u| u.memory_kb * 1024),
    })
}

/// Piston's `run` object of a finished session.
fn run_stage(state: &SessionState, out: &Output) -> Value {
    let verdict = verdict(state.end_reason, state.exit());
    let message = if state.status == SessionStatus::Completed { Value::Null } else { json!(state.error) };
    stage_object(&out.run, verdict, message, state.usage.run)
}

/// Piston's `compile` object (compiled languages only): the compile stage
/// failed, or it ran and the run stage followed.
fn compile_stage(state: &SessionState, out: &Output) -> Option<Value> {
    let failed = state.end_reason.is_some_and(EndReason::in_compile_stage);
    if !(failed || state.usage.compile.is_some() || out.compile.any || out.run.any) {
        return None;
    }
    let (verdict, message) = if failed {
        (verdict(state.end_reason, state.exit()), json!(state.error))
    } else {
        ((Value::Null, Value::Null, json!(0)), Value::Null)
    };
    Some(stage_object(&out.compile, verdict, message, state.usage.compile))
}

/// Piston: run and wait for the result.
#[utoipa::path(post, path = "/api/v2/execute", tag = "piston", security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    request_body = ExecuteRequest,
    responses(
        (status = 200, description = "The result", body = super::schemas::PistonResult),
        (status = 400, description = "Unknown runtime, bad file, or a limit above the server's", body = super::schemas::ErrorBody),
        (status = 401, description = "Missing or refused credentials", body = super::schemas::ErrorBody),
        (status = 403, description = "X-Execbox-User names another user", body = super::schemas::ErrorBody),
        (status = 413, description = "Too large", body = super::schemas::ErrorBody),
        (status = 415, description = "Not JSON", body = super::schemas::ErrorBody),
        (status = 422, description = "Wrong shape", body = super::schemas::ErrorBody),
        (status = 429, description = "Rate or concurrency limit", body = super::schemas::ErrorBody),
        (status = 503, description = "Too much work queued to run it in time (see Retry-After), or no worker ran it in time", body = super::schemas::ErrorBody),
    ))]
pub(crate) async fn execute(
    State(st): State<ApiState>,
    caller: PistonCaller,
    headers: HeaderMap,
    JsonBody(req): JsonBody<ExecuteRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    let user = sessions::acting_user(caller.principal(), sessions::named_user(&headers)?)?;
    let (new, rt) = to_session(&st, &req, false)?;
    let valid = new.validate(&st.runtimes, &st.cfg.limits).map_err(piston_error)?;
    let limits = valid.limits;
    st.door.enter(&st).await?;
    let id = sessions::create(&st, user, caller.quota(), &valid).await?;
    let (state, out) = sessions::wait(&st, id, user, limits.timeout + limits.compile_timeout).await?;
    let compile = rt.compile.is_some().then(|| compile_stage(&state, &out)).flatten();
    let compile_failed = state.end_reason.is_some_and(EndReason::in_compile_stage);
    let run = match &compile {
        Some(c) if compile_failed => c.clone(),
        _ => run_stage(&state, &out),
    };
    let mut body = json!({ "language": rt.language, "version": rt.version, "run": run });
    if let Some(c) = compile {
        body["compile"] = c;
    }
    Ok(axum::Json(body))
}

// ---------------------------------------------------------------------------
// WebSocket
// ---------------------------------------------------------------------------

/// Piston's close codes.
mod close {
    pub(crate) const ALREADY_INITIALIZED: u16 = 4000;
    pub(crate) const INIT_TIMEOUT: u16 = 4001;
    pub(crate) const NOTIFIED_ERROR: u16 = 4002;
    pub(crate) const NOT_INITIALIZED: u16 = 4003;
    pub(crate) const ONLY_STDIN: u16 = 4004;
    pub(crate) const INVALID_SIGNAL: u16 = 4005;
    pub(crate) const JOB_COMPLETED: u16 = 4999;
}

const SIGNALS: [&str; 7] = ["SIGKILL", "SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2"];

/// Piston: an interactive run over a WebSocket.
#[utoipa::path(get, path = "/api/v2/connect", tag = "piston", security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    responses(
        (status = 101, description = "WebSocket: init, data, eof, signal; runtime, stage, data, exit, error"),
        (status = 400, description = "Not a WebSocket request", body = super::schemas::ErrorBody),
        (status = 401, description = "Missing or refused credentials", body = super::schemas::ErrorBody),
    ))]
pub(crate) async fn connect(
    State(st): State<ApiState>,
    caller: PistonCaller,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let user = sessions::acting_user(caller.principal(), sessions::named_user(&headers)?)?;
    let ws = ws.map_err(super::not_a_websocket)?;
    Ok(ws.on_upgrade(move |socket| async move {
        // The caller (and an anonymous caller's place) lasts as long as the socket.
        if let Err(e) = interactive(st, socket, user, &caller).await {
            tracing::debug!(error = %format!("{e:#}"), "piston socket ended");
        }
    }))
}

/// Piston's older path of [`connect`].
#[utoipa::path(get, path = "/api/exec", tag = "piston", security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    responses(
        (status = 101, description = "WebSocket: init, data, eof, signal; runtime, stage, data, exit, error"),
        (status = 400, description = "Not a WebSocket request", body = super::schemas::ErrorBody),
        (status = 401, description = "Missing or refused credentials", body = super::schemas::ErrorBody),
    ))]
pub(crate) async fn exec(
    st: State<ApiState>,
    caller: PistonCaller,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    connect(st, caller, headers, ws).await
}

fn text(v: Value) -> Message {
    Message::Text(v.to_string().into())
}

async fn close_with(socket: &mut WebSocket, code: u16, reason: &str) {
    let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: reason.to_string().into() }))).await;
}

async fn error_and_close(socket: &mut WebSocket, message: &str) {
    let _ = socket.send(text(json!({"type": "error", "message": message}))).await;
    close_with(socket, close::NOTIFIED_ERROR, "Notified Error").await;
}

/// Inserts a row of input as the user (RLS applies, as for a Supabase client).
async fn feed(st: &ApiState, user: Uuid, id: Uuid, kind: &str, data: Option<&str>) -> Result<(), ApiError> {
    let mut db = st.pool.get().await?;
    Ok(crate::db::user::input(&mut db, user, id, kind, data).await?)
}

async fn interactive(st: ApiState, mut socket: WebSocket, user: Uuid, caller: &PistonCaller) -> anyhow::Result<()> {
    // The first message must be `init`, within a second.
    let first = tokio::time::timeout(Duration::from_secs(1), socket.recv()).await;
    let msg: Value = match first {
        Err(_) => {
            close_with(&mut socket, close::INIT_TIMEOUT, "Initialization Timeout").await;
            return Ok(());
        }
        Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return Ok(()),
        Ok(Some(Ok(Message::Text(t)))) => match serde_json::from_str(&t) {
            Ok(v) => v,
            Err(e) => {
                error_and_close(&mut socket, &format!("not JSON: {e}")).await;
                return Ok(());
            }
        },
        Ok(Some(Ok(_))) => {
            error_and_close(&mut socket, "send JSON text messages").await;
            return Ok(());
        }
    };
    if msg.get("type").and_then(Value::as_str) != Some("init") {
        close_with(&mut socket, close::NOT_INITIALIZED, "Not yet Initialized").await;
        return Ok(());
    }
    let req: ExecuteRequest = match serde_json::from_value(msg) {
        Ok(r) => r,
        Err(e) => {
            error_and_close(&mut socket, &format!("invalid init: {e}")).await;
            return Ok(());
        }
    };
    let created = async {
        let (new, rt) = to_session(&st, &req, true)?;
        let valid = new.validate(&st.runtimes, &st.cfg.limits).map_err(piston_error)?;
        let id = sessions::create(&st, user, caller.quota(), &valid).await?;
        Ok::<_, ApiError>((id, rt))
    }
    .await;
    let (id, rt) = match created {
        Ok(x) => x,
        Err(e) => {
            error_and_close(&mut socket, &e.to_string()).await;
            return Ok(());
        }
    };
    socket.send(text(json!({"type": "runtime", "language": rt.language, "version": rt.version}))).await?;
    // Compiled languages report a compile stage first, as Piston does; it
    // ends when the first run-stage line arrives or the session ends.
    let mut stage_now = if rt.compile.is_some() { "compile" } else { "run" };
    socket.send(text(json!({"type": "stage", "stage": stage_now}))).await?;

    let mut events = Events::new(Follower::open(&st.hub, id, Some(user)));
    loop {
        let msg = tokio::select! {
            event = events.next() => {
                match event? {
                    Some(Event::Changed(_)) => {}
                    Some(Event::Row(row)) => {
                        if row.stream == Stream::System {
                            continue;
                        }
                        if row.stage == Stage::Run && stage_now == "compile" {
                            socket.send(text(json!({"type": "exit", "stage": "compile", "code": 0, "signal": null}))).await?;
                            socket.send(text(json!({"type": "stage", "stage": "run"}))).await?;
                            stage_now = "run";
                        }
                        socket.send(text(json!({"type": "data", "stream": row.stream, "data": row.text()}))).await?;
                    }
                    Some(Event::End(state)) => {
                        let compile_failed = state.end_reason.is_some_and(EndReason::in_compile_stage);
                        if stage_now == "compile" && !compile_failed {
                            socket.send(text(json!({"type": "exit", "stage": "compile", "code": 0, "signal": null}))).await?;
                            socket.send(text(json!({"type": "stage", "stage": "run"}))).await?;
                            stage_now = "run";
                        }
                        let (_, signal, code) = verdict(state.end_reason, state.exit());
                        let exit = json!({
                            "type": "exit",
                            "stage": stage_now,
                            "code": code,
                            "signal": signal,
                            "status": state.status,
                            "end_reason": state.end_reason,
                            "message": state.error,
                        });
                        socket.send(text(exit)).await?;
                        close_with(&mut socket, close::JOB_COMPLETED, "Job Completed").await;
                        return Ok(());
                    }
                    None => return Ok(()),
                }
                continue;
            }
            msg = socket.recv() => msg,
        };
        {
            {
                let msg = match msg {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => {
                        // The client went away: nobody wants the program any more.
                        let mut db = st.pool.get().await?;
                        crate::db::user::cancel(&mut db, user, id).await?;
                        return Ok(());
                    }
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(_)) => continue,
                };
                let Ok(v) = serde_json::from_str::<Value>(&msg) else {
                    error_and_close(&mut socket, "not JSON").await;
                    return Ok(());
                };
                let result = match v.get("type").and_then(Value::as_str) {
                    Some("init") => {
                        close_with(&mut socket, close::ALREADY_INITIALIZED, "Already Initialized").await;
                        return Ok(());
                    }
                    Some("data") => {
                        if v.get("stream").and_then(Value::as_str) != Some("stdin") {
                            close_with(&mut socket, close::ONLY_STDIN, "Can only write to stdin").await;
                            return Ok(());
                        }
                        let data = v.get("data").and_then(Value::as_str).unwrap_or("");
                        let mut r = Ok(());
                        if !data.is_empty() {
                            r = feed(&st, user, id, "stdin", Some(data)).await;
                        }
                        if r.is_ok() && v.get("eof").and_then(Value::as_bool) == Some(true) {
                            r = feed(&st, user, id, "eof", None).await;
                        }
                        r
                    }
                    Some("eof") => feed(&st, user, id, "eof", None).await,
                    Some("signal") => {
                        let sig = v.get("signal").and_then(Value::as_str).unwrap_or("");
                        if !SIGNALS.contains(&sig) {
                            close_with(&mut socket, close::INVALID_SIGNAL, "Invalid signal").await;
                            return Ok(());
                        }
                        feed(&st, user, id, "signal", Some(sig)).await
                    }
                    _ => {
                        error_and_close(&mut socket, "unknown message type (data, eof or signal)").await;
                        return Ok(());
                    }
                };
                if let Err(e) = result {
                    // The session may just have ended; the next state read tells.
                    tracing::debug!(error = %e, "input not accepted");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EndReason as R;

    #[test]
    fn stdin_ends_with_one_newline_as_under_piston() {
        let table =
            [(None, "\n"), (Some(""), "\n"), (Some("a"), "a\n"), (Some("a\n"), "a\n"), (Some("a\n\n"), "a\n\n")];
        for (given, sent) in table {
            assert_eq!(piston_stdin(given), sent, "{given:?}");
        }
    }

    /// Piston's `status`, `signal` and `code` for every way a stage ends,
    /// decided by the end reason alone (never by the `error` sentence).
    #[test]
    fn verdicts_follow_the_end_reason() {
        let n = Value::Null;
        let sg = |s: &str| (json!("SG"), json!(s), Value::Null);
        #[rustfmt::skip]
        let table: &[(Option<R>, Option<Exit>, Verdict)] = &[
            (Some(R::Exit), Some(Exit::Code(0)), (n.clone(), n.clone(), json!(0))),
            (Some(R::Exit), Some(Exit::Code(3)), (json!("RE"), n.clone(), json!(3))),
            (Some(R::Exit), None, (json!("RE"), n.clone(), n.clone())),
            (Some(R::Exit), Some(Exit::Signal(11)), sg("SIGSEGV")),
            (Some(R::CompileError), Some(Exit::Code(1)), (json!("RE"), n.clone(), json!(1))),
            (Some(R::Signal), Some(Exit::Signal(11)), sg("SIGSEGV")),
            (Some(R::Signal), Some(Exit::Signal(25)), sg("SIGXFSZ")),
            (Some(R::Signal), None, sg("SIGKILL")),
            (Some(R::Timeout), Some(Exit::Signal(9)), (json!("TO"), json!("SIGKILL"), n.clone())),
            (Some(R::CpuTime), None, (json!("TO"), json!("SIGKILL"), n.clone())),
            (Some(R::CompileTimeout), None, (json!("TO"), json!("SIGKILL"), n.clone())),
            (Some(R::OutputLimit), None, (json!("OL"), json!("SIGKILL"), n.clone())),
            (Some(R::MemoryLimit), Some(Exit::Signal(9)), sg("SIGKILL")),
            (Some(R::CompileMemoryLimit), None, sg("SIGKILL")),
            (Some(R::Cancelled), None, sg("SIGKILL")),
            (Some(R::InvalidRequest), None, (json!("XX"), n.clone(), n.clone())),
            (Some(R::ImageMissing), None, (json!("XX"), n.clone(), n.clone())),
            (Some(R::Infrastructure), None, (json!("XX"), n.clone(), n.clone())),
            (Some(R::WorkerLost), None, (json!("XX"), n.clone(), n.clone())),
            (Some(R::Shutdown), None, (json!("XX"), n.clone(), n.clone())),
            (Some(R::CheckerFailed), None, (json!("XX"), n.clone(), n.clone())),
            (None, None, (json!("XX"), n.clone(), n.clone())),
        ];
        for (reason, exit, want) in table {
            assert_eq!(&verdict(*reason, *exit), want, "{reason:?} {exit:?}");
        }
        for reason in R::ALL {
            assert!(table.iter().any(|(r, _, _)| *r == Some(*reason)), "{reason} is in the table");
        }
    }
}
