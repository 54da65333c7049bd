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

use super::error::ApiError;
use super::json::JsonBody;
use super::sessions::{self, NewSession, Output, StageOutput};
use super::{ApiState, Authed};
use crate::client::follow::{Follower, SessionState};
use crate::runtimes::Runtime;

#[derive(Debug, Clone, Deserialize)]
pub struct PistonFile {
    #[serde(default)]
    pub name: Option<String>,
    pub content: String,
    #[serde(default)]
    pub encoding: Option<String>,
}

/// Piston's execute request (also the body of a socket's `init`).
#[derive(Debug, Clone, Deserialize)]
pub struct ExecuteRequest {
    pub language: String,
    #[serde(default)]
    pub version: Option<String>,
    pub files: Vec<PistonFile>,
    #[serde(default)]
    pub stdin: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub compile_timeout: Option<i64>,
    #[serde(default)]
    pub run_timeout: Option<i64>,
    #[serde(default)]
    pub compile_cpu_time: Option<i64>,
    #[serde(default)]
    pub run_cpu_time: Option<i64>,
    #[serde(default)]
    pub compile_memory_limit: Option<i64>,
    #[serde(default)]
    pub run_memory_limit: Option<i64>,
}

pub async fn runtimes(State(st): State<ApiState>) -> axum::Json<Value> {
    let list: Vec<Value> = st
        .runtimes
        .all()
        .iter()
        .map(
            |rt| json!({"language": rt.language, "version": rt.version, "aliases": rt.aliases, "runtime": rt.language}),
        )
        .collect();
    axum::Json(Value::Array(list))
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

fn decode(f: &PistonFile, what: &str) -> Result<Vec<u8>, ApiError> {
    crate::sandbox::files::decode_content(&f.content, f.encoding.as_deref())
        .map_err(|e| ApiError::BadRequest(format!("{what}: {e}")))
}

/// Checks a Piston request and turns it into a session request.
fn to_session(st: &ApiState, req: &ExecuteRequest, interactive: bool) -> Result<(NewSession, Runtime, i64), ApiError> {
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
    let code = String::from_utf8(decode(main, "files[0]")?)
        .map_err(|_| ApiError::BadRequest("files[0]: the main file must be UTF-8 text".into()))?;
    let extra: Vec<Value> = req.files[1..]
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let name = f.name.clone().ok_or_else(|| ApiError::BadRequest(format!("files[{}] needs a name", i + 1)))?;
            Ok(json!({"name": name, "content": f.content, "encoding": f.encoding.clone().unwrap_or_else(|| "utf8".into())}))
        })
        .collect::<Result<_, ApiError>>()?;
    let files = (!extra.is_empty()).then_some(Value::Array(extra));
    if let Some(f) = &files {
        crate::sandbox::files::decode_extra(f, &rt.file, code.len()).map_err(ApiError::BadRequest)?;
    }
    let l = &st.cfg.limits;
    let limit = |name: &str, v: Option<i64>, max: u64| -> Result<Option<i64>, ApiError> {
        match v {
            None | Some(-1) => Ok(None),
            Some(t) if t <= 0 => Err(ApiError::BadRequest(format!("{name} must be positive or -1"))),
            Some(t) if t as u64 > max => {
                Err(ApiError::BadRequest(format!("{name} cannot exceed the configured limit of {max}")))
            }
            Some(t) => Ok(Some(t)),
        }
    };
    let run_timeout = limit("run_timeout", req.run_timeout, l.max_timeout_ms)?;
    limit("compile_timeout", req.compile_timeout, l.max_timeout_ms)?;
    limit("run_cpu_time", req.run_cpu_time, l.max_timeout_ms)?;
    limit("compile_cpu_time", req.compile_cpu_time, l.max_timeout_ms)?;
    let max_bytes = l.max_memory_mb * 1024 * 1024;
    let run_memory = limit("run_memory_limit", req.run_memory_limit, max_bytes)?;
    limit("compile_memory_limit", req.compile_memory_limit, max_bytes)?;
    // A CPU-time bound is enforced as the wall-clock bound when tighter.
    let timeout = match (run_timeout, limit("run_cpu_time", req.run_cpu_time, l.max_timeout_ms)?) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let memory_mb = run_memory.map(|b| (b as u64).div_ceil(1024 * 1024).max(l.min_memory_mb) as i32);
    let effective_timeout = timeout.unwrap_or(l.default_timeout_ms as i64);
    Ok((
        NewSession {
            language: rt.language.clone(),
            code,
            stdin: req.stdin.clone(),
            args: req.args.clone(),
            files,
            timeout_ms: timeout.map(|t| t as i32),
            memory_limit_mb: memory_mb,
            interactive,
            session_name: Some("piston".into()),
            ..Default::default()
        },
        rt,
        effective_timeout,
    ))
}

/// A user named by a service-role caller (Piston requests have no user field).
fn named_user(headers: &HeaderMap) -> Result<Option<Uuid>, ApiError> {
    match headers.get("x-execbox-user") {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| Uuid::parse_str(s.trim()).ok())
            .map(Some)
            .ok_or_else(|| ApiError::BadRequest("X-Execbox-User must be a user id".into())),
    }
}

/// Piston's stage object for a finished session's run.
fn stage(state: &SessionState, out: &StageOutput, system: &[String], wall_time_ms: Option<f64>) -> Value {
    let code = state.exit_code;
    let by_signal = code.filter(|c| *c > 128 && *c < 128 + 32).map(|c| signal_name(c - 128));
    let (status, signal, code) = match state.status.as_str() {
        "completed" => (Value::Null, Value::Null, json!(code)),
        "timeout" => (json!("TO"), json!("SIGKILL"), Value::Null),
        "failed" if system.iter().any(|m| m.contains("output limit")) => (json!("OL"), json!("SIGKILL"), Value::Null),
        "failed" if by_signal.is_some() => (json!("SG"), json!(by_signal), Value::Null),
        "failed" => (json!("RE"), Value::Null, json!(code)),
        "cancelled" => (json!("SG"), json!("SIGKILL"), Value::Null),
        _ => (json!("XX"), Value::Null, json!(code)),
    };
    json!({
        "stdout": out.stdout,
        "stderr": out.stderr,
        "output": out.output,
        "code": code,
        "signal": signal,
        "message": state.error,
        "status": status,
        "cpu_time": null,
        "wall_time": wall_time_ms,
        "memory": null,
    })
}

/// Piston's `compile` object (compiled languages only). On a compile
/// failure Piston's `run` mirrors it.
fn compile_stage(state: &SessionState, out: &Output) -> Option<Value> {
    let failed =
        state.error.as_deref().is_some_and(|e| e.starts_with("compilation failed") || e.contains("while compiling"));
    let timed_out = state.error.as_deref().is_some_and(|e| e.starts_with("compile time limit"));
    if !(failed || timed_out || out.compile.any || out.run.any || state.status == "completed") {
        return None;
    }
    let (code, status, signal) = if failed {
        (json!(state.exit_code), json!("RE"), Value::Null)
    } else if timed_out {
        (Value::Null, json!("TO"), json!("SIGKILL"))
    } else {
        (json!(0), Value::Null, Value::Null)
    };
    Some(json!({
        "stdout": out.compile.stdout,
        "stderr": out.compile.stderr,
        "output": out.compile.output,
        "code": code,
        "signal": signal,
        "message": if failed || timed_out { json!(state.error) } else { Value::Null },
        "status": status,
        "cpu_time": null,
        "wall_time": null,
        "memory": null,
    }))
}

fn signal_name(n: i32) -> String {
    match n {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        6 => "SIGABRT",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => return format!("SIG{n}"),
    }
    .to_string()
}

async fn wall_time(st: &ApiState, id: Uuid) -> Option<f64> {
    let db = st.pool.get().await.ok()?;
    db.query_opt(
        "select (extract(epoch from (coalesce(finished_at, now()) - started_at)) * 1000)::float8
         from public.container_instances where session_id = $1 and started_at is not null order by created_at desc limit 1",
        &[&id],
    )
    .await
    .ok()?
    .and_then(|r| r.get(0))
}

pub async fn execute(
    State(st): State<ApiState>,
    Authed(p): Authed,
    headers: HeaderMap,
    JsonBody(req): JsonBody<ExecuteRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    let user = sessions::acting_user(p, named_user(&headers)?)?;
    let (new, rt, timeout_ms) = to_session(&st, &req, false)?;
    let id = sessions::create(&st, user, &new).await?;
    let (state, out) = sessions::wait(&st, id, user, Duration::from_millis(timeout_ms as u64)).await?;
    let compile = rt.compile.is_some().then(|| compile_stage(&state, &out)).flatten();
    let compile_failed = compile.as_ref().is_some_and(|c| !c["status"].is_null());
    let run = match &compile {
        Some(c) if compile_failed => c.clone(),
        _ => stage(&state, &out.run, &out.system, wall_time(&st, id).await),
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
    pub const ALREADY_INITIALIZED: u16 = 4000;
    pub const INIT_TIMEOUT: u16 = 4001;
    pub const NOTIFIED_ERROR: u16 = 4002;
    pub const NOT_INITIALIZED: u16 = 4003;
    pub const ONLY_STDIN: u16 = 4004;
    pub const INVALID_SIGNAL: u16 = 4005;
    pub const JOB_COMPLETED: u16 = 4999;
}

const SIGNALS: [&str; 7] = ["SIGKILL", "SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2"];

pub async fn connect(
    State(st): State<ApiState>,
    Authed(p): Authed,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let user = sessions::acting_user(p, named_user(&headers)?)?;
    let ws = ws.map_err(super::not_a_websocket)?;
    Ok(ws.on_upgrade(move |socket| async move {
        if let Err(e) = interactive(st, socket, user).await {
            tracing::debug!(error = %format!("{e:#}"), "piston socket ended");
        }
    }))
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
    let tx = crate::client::as_user(&mut db, user).await?;
    tx.execute("insert into public.session_input (session_id, kind, data) values ($1, $2, $3)", &[&id, &kind, &data])
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn interactive(st: ApiState, mut socket: WebSocket, user: Uuid) -> anyhow::Result<()> {
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
        let (new, rt, _) = to_session(&st, &req, true)?;
        let id = sessions::create(&st, user, &new).await?;
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

    let mut f = Follower::open(&st.database, id, Some(user)).await?;
    loop {
        let (state, rows) = f.poll().await?;
        let compile_failed = state.error.as_deref().is_some_and(|e| {
            e.starts_with("compilation failed") || e.starts_with("compile time limit") || e.contains("while compiling")
        });
        for row in rows {
            if row.stream == "system" {
                continue;
            }
            if row.stage == "run" && stage_now == "compile" {
                socket.send(text(json!({"type": "exit", "stage": "compile", "code": 0, "signal": null}))).await?;
                socket.send(text(json!({"type": "stage", "stage": "run"}))).await?;
                stage_now = "run";
            }
            let data = if row.newline { format!("{}\n", row.message) } else { row.message };
            socket.send(text(json!({"type": "data", "stream": row.stream, "data": data}))).await?;
        }
        if state.is_done() {
            if stage_now == "compile" && !compile_failed {
                socket.send(text(json!({"type": "exit", "stage": "compile", "code": 0, "signal": null}))).await?;
                socket.send(text(json!({"type": "stage", "stage": "run"}))).await?;
                stage_now = "run";
            }
            let code = state.exit_code;
            let signal = match state.status.as_str() {
                "timeout" | "cancelled" => Some("SIGKILL".to_string()),
                _ => code.filter(|c| *c > 128 && *c < 160).map(|c| signal_name(c - 128)),
            };
            let code = if signal.is_some() { None } else { code };
            let exit = json!({"type": "exit", "stage": stage_now, "code": code, "signal": signal, "status": state.status, "message": state.error});
            socket.send(text(exit)).await?;
            close_with(&mut socket, close::JOB_COMPLETED, "Job Completed").await;
            return Ok(());
        }
        tokio::select! {
            _ = f.wait() => {}
            msg = socket.recv() => {
                let msg = match msg {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => {
                        // The client went away: nobody wants the program any more.
                        let mut db = st.pool.get().await?;
                        crate::client::cancel(&mut db, user, id).await?;
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
