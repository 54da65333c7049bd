//! A drop-in Piston v2 API: `POST /api/v2/execute`, `GET /api/v2/runtimes`
//! and the interactive WebSocket `/api/v2/connect` (also at `/api/exec`).
//! Beyond Piston: signals really reach the program, stdin can be closed
//! (`{"type":"eof"}`), output is capped, every request is authenticated, and
//! stdin travels through the database so any API node can serve the socket.

mod socket;
pub(crate) mod wire;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};

use super::anonymous::PistonCaller;
use super::error::{ApiError, ErrorBody};
use super::json::JsonBody;
use super::sessions::{self, Output, StageOutput};
use super::ApiState;
use crate::db::follow::SessionState;
use crate::model::outcome::signal_name;
use crate::model::{EndReason, Exit, Request, SessionStatus, StageUsage};
use crate::runtimes::Runtime;
use wire::{ExecuteRequest, ExecuteResult, StageResult, StageStatus, Verdict};

/// Piston: the installed runtimes, that is those some live worker has the
/// image for.
#[utoipa::path(get, path = "/api/v2/runtimes", tag = "piston", responses(
    (status = 200, description = "The runtimes some live worker can run", body = Vec<wire::Runtime>),
    (status = 503, description = "The database is unreachable", body = ErrorBody),
))]
pub(crate) async fn runtimes(State(st): State<ApiState>) -> Result<Json<Vec<wire::Runtime>>, ApiError> {
    let list = super::health::served_runtimes(&st)
        .await?
        .into_iter()
        .map(|rt| wire::Runtime {
            language: rt.language.clone(),
            version: rt.version.clone(),
            aliases: rt.aliases.clone(),
            runtime: rt.language.clone(),
        })
        .collect();
    Ok(Json(list))
}

/// The `version`s that select `rt` (as does none) besides the longer ones
/// of [`longer_versions`]: any (`*`, `x` or empty), its version, or a
/// prefix of it by whole components (`3`, `3.11` for `3.11.4`). The
/// OpenAPI document lists the same.
pub(crate) fn versions(rt: &Runtime) -> Vec<String> {
    let parts: Vec<&str> = rt.version.split('.').collect();
    let any = ["*", "x", ""].map(String::from);
    any.into_iter().chain((1..=parts.len()).map(|n| parts[..n].join("."))).collect()
}

/// The pattern of the more precise versions that also select `rt`: its
/// version and more components of letters and digits (`17.0.2` for `17`).
pub(crate) fn longer_versions(rt: &Runtime) -> String {
    format!("^{}(\\.[0-9A-Za-z]+)+$", regex::escape(&rt.version))
}

fn version_matches(rt: &Runtime, wanted: Option<&str>) -> bool {
    let Some(wanted) = wanted else { return true };
    let longer = wanted
        .strip_prefix(&rt.version)
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|rest| rest.split('.').all(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_alphanumeric())));
    longer || versions(rt).iter().any(|v| v == wanted)
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

/// Piston's `status`, `signal` and `code` of a stage that ended this way.
fn verdict(reason: Option<EndReason>, exit: Option<Exit>) -> Verdict {
    use EndReason as R;
    use StageStatus as S;
    let v = |status, signal: Option<String>, code| Verdict { status, signal, code };
    let killed = || v(Some(S::Signalled), Some("SIGKILL".into()), None);
    match reason {
        Some(R::Exit) | Some(R::CompileError) => match exit {
            Some(Exit::Code(0)) => v(None, None, Some(0)),
            Some(Exit::Code(c)) => v(Some(S::RuntimeError), None, Some(c)),
            Some(Exit::Signal(n)) => v(Some(S::Signalled), Some(signal_name(n)), None),
            None => v(Some(S::RuntimeError), None, None),
        },
        Some(R::Signal) => match exit {
            Some(Exit::Signal(n)) => v(Some(S::Signalled), Some(signal_name(n)), None),
            _ => killed(),
        },
        Some(R::Timeout | R::CpuTime | R::CompileTimeout) => v(Some(S::TimedOut), Some("SIGKILL".into()), None),
        Some(R::OutputLimit) => v(Some(S::OutputLimit), Some("SIGKILL".into()), None),
        Some(R::MemoryLimit) | Some(R::CompileMemoryLimit) | Some(R::Cancelled) => killed(),
        Some(
            R::InvalidRequest | R::ImageMissing | R::Infrastructure | R::WorkerLost | R::Shutdown | R::CheckerFailed,
        )
        | None => v(Some(S::Internal), None, None),
    }
}

/// One of Piston's stage results.
fn stage_result(
    out: &StageOutput,
    verdict: Verdict,
    message: Option<String>,
    usage: Option<StageUsage>,
) -> StageResult {
    StageResult {
        stdout: out.stdout.clone(),
        stderr: out.stderr.clone(),
        output: out.output.clone(),
        code: verdict.code,
        signal: verdict.signal,
        message,
        status: verdict.status,
        cpu_time: usage.map(|u| u.cpu_ms.round() as i64),
        wall_time: usage.map(|u| u.wall_ms.round() as i64),
        memory: usage.map(|u| u.memory_kb as i64 * 1024),
    }
}

/// Piston's `run` result of a finished session.
fn run_stage(state: &SessionState, out: &Output) -> StageResult {
    let verdict = verdict(state.end_reason, state.exit());
    let message = if state.status == SessionStatus::Completed { None } else { state.error.clone() };
    stage_result(&out.run, verdict, message, state.usage.run)
}

/// Piston's `compile` result (compiled languages only): the compile stage
/// failed, or it ran and the run stage followed.
fn compile_stage(state: &SessionState, out: &Output) -> Option<StageResult> {
    let failed = state.end_reason.is_some_and(EndReason::in_compile_stage);
    if !(failed || state.usage.compile.is_some() || out.compile.any || out.run.any) {
        return None;
    }
    let (verdict, message) = if failed {
        (verdict(state.end_reason, state.exit()), state.error.clone())
    } else {
        (Verdict { status: None, signal: None, code: Some(0) }, None)
    };
    Some(stage_result(&out.compile, verdict, message, state.usage.compile))
}

/// Piston: run and wait for the result.
#[utoipa::path(post, path = "/api/v2/execute", tag = "piston", security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    request_body = ExecuteRequest,
    responses(
        (status = 200, description = "The result", body = ExecuteResult),
        (status = 400, description = "Unknown runtime, bad file, or a limit above the server's", body = ErrorBody),
        (status = 401, description = "Missing or refused credentials", body = ErrorBody),
        (status = 403, description = "X-Execbox-User names another user", body = ErrorBody),
        (status = 413, description = "Too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Wrong shape", body = ErrorBody),
        (status = 429, description = "Rate or concurrency limit", body = ErrorBody),
        (status = 503, description = "Too much work queued to run it in time (see Retry-After), or no worker ran it in time", body = ErrorBody),
    ))]
pub(crate) async fn execute(
    State(st): State<ApiState>,
    caller: PistonCaller,
    headers: HeaderMap,
    JsonBody(req): JsonBody<ExecuteRequest>,
) -> Result<Json<ExecuteResult>, ApiError> {
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
    Ok(Json(ExecuteResult { language: rt.language, version: rt.version, run, compile }))
}

/// Piston: an interactive run over a WebSocket.
#[utoipa::path(get, path = "/api/v2/connect", tag = "piston", security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    responses(
        (status = 101, description = "WebSocket: init, data, eof, signal; runtime, stage, data, exit, error"),
        (status = 400, description = "Not a WebSocket request", body = ErrorBody),
        (status = 401, description = "Missing or refused credentials", body = ErrorBody),
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
        if let Err(e) = socket::interactive(st, socket, user, &caller).await {
            tracing::debug!(error = %format!("{e:#}"), "piston socket ended");
        }
    }))
}

/// Piston's older path of [`connect`].
#[utoipa::path(get, path = "/api/exec", tag = "piston", security(("bearer" = []), ("api_key" = []), ("auth_token" = [])),
    responses(
        (status = 101, description = "WebSocket: init, data, eof, signal; runtime, stage, data, exit, error"),
        (status = 400, description = "Not a WebSocket request", body = ErrorBody),
        (status = 401, description = "Missing or refused credentials", body = ErrorBody),
    ))]
pub(crate) async fn exec(
    st: State<ApiState>,
    caller: PistonCaller,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    connect(st, caller, headers, ws).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use EndReason as R;

    #[test]
    fn a_version_selects_its_runtime_by_whole_components() {
        let rt = Runtime { version: "3.11.4".into(), ..crate::runtimes::Runtimes::builtin().all()[0].clone() };
        let table = [
            (None, true),
            (Some("*"), true),
            (Some("x"), true),
            (Some(""), true),
            (Some("3"), true),
            (Some("3.11"), true),
            (Some("3.11.4"), true),
            (Some("3.1"), false),
            (Some("3.11.4.1"), true),
            (Some("3.11.4.1b.2"), true),
            (Some("3.11.4."), false),
            (Some("3.11.4..1"), false),
            (Some("3.11.4.1 "), false),
            (Some("3.11.45"), false),
            (Some(" 3.11"), false),
            (Some("3."), false),
            (Some("2"), false),
            (Some("3.11.x"), false),
        ];
        let longer = regex::Regex::new(&longer_versions(&rt)).unwrap();
        for (wanted, selects) in table {
            assert_eq!(version_matches(&rt, wanted), selects, "{wanted:?}");
            // The document says the same: the listed ones, or the pattern.
            let said = wanted.is_none_or(|w| versions(&rt).iter().any(|v| v == w) || longer.is_match(w));
            assert_eq!(said, selects, "the document on {wanted:?}");
        }
    }

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
        use StageStatus as S;
        let v = |status, signal: Option<&str>, code| Verdict { status, signal: signal.map(String::from), code };
        let sg = |s| v(Some(S::Signalled), Some(s), None);
        #[rustfmt::skip]
        let table: &[(Option<R>, Option<Exit>, Verdict)] = &[
            (Some(R::Exit), Some(Exit::Code(0)), v(None, None, Some(0))),
            (Some(R::Exit), Some(Exit::Code(3)), v(Some(S::RuntimeError), None, Some(3))),
            (Some(R::Exit), None, v(Some(S::RuntimeError), None, None)),
            (Some(R::Exit), Some(Exit::Signal(11)), sg("SIGSEGV")),
            (Some(R::CompileError), Some(Exit::Code(1)), v(Some(S::RuntimeError), None, Some(1))),
            (Some(R::Signal), Some(Exit::Signal(11)), sg("SIGSEGV")),
            (Some(R::Signal), Some(Exit::Signal(25)), sg("SIGXFSZ")),
            (Some(R::Signal), None, sg("SIGKILL")),
            (Some(R::Timeout), Some(Exit::Signal(9)), v(Some(S::TimedOut), Some("SIGKILL"), None)),
            (Some(R::CpuTime), None, v(Some(S::TimedOut), Some("SIGKILL"), None)),
            (Some(R::CompileTimeout), None, v(Some(S::TimedOut), Some("SIGKILL"), None)),
            (Some(R::OutputLimit), None, v(Some(S::OutputLimit), Some("SIGKILL"), None)),
            (Some(R::MemoryLimit), Some(Exit::Signal(9)), sg("SIGKILL")),
            (Some(R::CompileMemoryLimit), None, sg("SIGKILL")),
            (Some(R::Cancelled), None, sg("SIGKILL")),
            (Some(R::InvalidRequest), None, v(Some(S::Internal), None, None)),
            (Some(R::ImageMissing), None, v(Some(S::Internal), None, None)),
            (Some(R::Infrastructure), None, v(Some(S::Internal), None, None)),
            (Some(R::WorkerLost), None, v(Some(S::Internal), None, None)),
            (Some(R::Shutdown), None, v(Some(S::Internal), None, None)),
            (Some(R::CheckerFailed), None, v(Some(S::Internal), None, None)),
            (None, None, v(Some(S::Internal), None, None)),
        ];
        for (reason, exit, want) in table {
            assert_eq!(&verdict(*reason, *exit), want, "{reason:?} {exit:?}");
        }
        for reason in R::ALL {
            assert!(table.iter().any(|(r, _, _)| *r == Some(*reason)), "{reason} is in the table");
        }
    }
}
