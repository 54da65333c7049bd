//! Piston's interactive socket: `init` creates the session; then the
//! session's events go out as `stage`, `data` and `exit`, while the client's
//! `data`, `eof` and `signal` become rows of `session_input` (as the user),
//! which the session's worker reads. Piston's close codes say why a socket
//! ended.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use uuid::Uuid;

use super::wire::{ClientMessage, ServerMessage, SessionEnd};
use super::{piston_error, to_session, verdict};
use crate::api::anonymous::PistonCaller;
use crate::api::error::ApiError;
use crate::api::sessions;
use crate::api::ApiState;
use crate::db::follow::{Event, Events, Follower, SessionState};
use crate::model::{EndReason, InputEvent, Stage, Stream};

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

/// The signals a client may send.
const SIGNALS: [&str; 7] = ["SIGKILL", "SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2"];

/// How long a client has to send `init`.
const INIT_WAIT: Duration = Duration::from_secs(1);

/// Why a socket is closed: a close code and its reason, perhaps after an
/// `error` message.
struct Closing {
    code: u16,
    reason: &'static str,
    error: Option<String>,
}

impl Closing {
    fn with(code: u16, reason: &'static str) -> Closing {
        Closing { code, reason, error: None }
    }

    /// An `error` message, then Piston's "Notified Error".
    fn error(message: impl Into<String>) -> Closing {
        Closing { code: close::NOTIFIED_ERROR, reason: "Notified Error", error: Some(message.into()) }
    }
}

async fn send(socket: &mut WebSocket, m: ServerMessage<'_>) -> anyhow::Result<()> {
    Ok(socket.send(m.frame()).await?)
}

async fn close(socket: &mut WebSocket, c: Closing) {
    if let Some(message) = &c.error {
        let _ = socket.send(ServerMessage::Error { message }.frame()).await;
    }
    let frame = CloseFrame { code: c.code, reason: c.reason.into() };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// A client's message, read as text; None when the client went away.
fn read(msg: Option<Result<Message, axum::Error>>) -> Option<Result<ClientMessage, Closing>> {
    match msg {
        None | Some(Err(_)) | Some(Ok(Message::Close(_))) => None,
        Some(Ok(Message::Text(t))) => {
            Some(serde_json::from_str(&t).map_err(|e| Closing::error(format!("not a message this socket reads: {e}"))))
        }
        Some(Ok(_)) => Some(Err(Closing::error("send JSON text messages"))),
    }
}

pub(super) async fn interactive(
    st: ApiState,
    mut socket: WebSocket,
    user: Uuid,
    caller: &PistonCaller,
) -> anyhow::Result<()> {
    if let Some(c) = serve(&st, &mut socket, user, caller).await? {
        close(&mut socket, c).await;
    }
    Ok(())
}

/// The socket's life; how to close it (None: the client went away).
async fn serve(
    st: &ApiState,
    socket: &mut WebSocket,
    user: Uuid,
    caller: &PistonCaller,
) -> anyhow::Result<Option<Closing>> {
    // The first message must be `init`, within a second.
    let req = match tokio::time::timeout(INIT_WAIT, socket.recv()).await.map(read) {
        Err(_) => return Ok(Some(Closing::with(close::INIT_TIMEOUT, "Initialization Timeout"))),
        Ok(None) => return Ok(None),
        Ok(Some(Err(c))) => return Ok(Some(c)),
        Ok(Some(Ok(ClientMessage::Init(req)))) => req,
        Ok(Some(Ok(_))) => return Ok(Some(Closing::with(close::NOT_INITIALIZED, "Not yet Initialized"))),
    };
    let created = async {
        let (new, rt) = to_session(st, &req, true)?;
        let valid = new.validate(&st.runtimes, &st.cfg.limits).map_err(piston_error)?;
        let id = sessions::create(st, user, caller.quota(), &valid).await?;
        Ok::<_, ApiError>((id, rt))
    };
    let (id, rt) = match created.await {
        Ok(x) => x,
        Err(e) => return Ok(Some(Closing::error(e.to_string()))),
    };
    send(socket, ServerMessage::Runtime { language: &rt.language, version: &rt.version }).await?;
    // Compiled languages report a compile stage first, as Piston does; it
    // ends when the first run-stage line arrives or the session ends.
    let mut stage = if rt.compile.is_some() { Stage::Compile } else { Stage::Run };
    send(socket, ServerMessage::Stage { stage }).await?;

    let mut events = Events::new(Follower::open(&st.hub, id, Some(user)));
    loop {
        tokio::select! {
            event = events.next() => match event? {
                Some(Event::Changed(_)) => {}
                Some(Event::Row(row)) if row.stream == Stream::System => {}
                Some(Event::Row(row)) => {
                    if row.stage == Stage::Run {
                        stage = run_stage_begins(socket, stage).await?;
                    }
                    send(socket, ServerMessage::Data { stream: row.stream, data: row.text() }).await?;
                }
                Some(Event::End(state)) => return Ok(Some(ended(socket, stage, state).await?)),
                None => return Ok(None),
            },
            msg = socket.recv() => match read(msg) {
                None => {
                    // The client went away: nobody wants the program any more.
                    let mut db = st.pool.get().await?;
                    crate::db::user::cancel(&mut db, user, id).await?;
                    return Ok(None);
                }
                Some(Err(c)) => return Ok(Some(c)),
                Some(Ok(m)) => match input(m) {
                    Err(c) => return Ok(Some(c)),
                    Ok(events) => feed(st, user, id, &events).await,
                },
            },
        }
    }
}

/// The compile stage's `exit` and the run stage's `stage`, once, when the
/// session is still in its compile stage.
async fn run_stage_begins(socket: &mut WebSocket, stage: Stage) -> anyhow::Result<Stage> {
    if stage == Stage::Compile {
        send(socket, ServerMessage::Exit { stage: Stage::Compile, code: Some(0), signal: None, end: None }).await?;
        send(socket, ServerMessage::Stage { stage: Stage::Run }).await?;
    }
    Ok(Stage::Run)
}

/// The session's last `exit`; then Piston's "Job Completed".
async fn ended(socket: &mut WebSocket, stage: Stage, state: SessionState) -> anyhow::Result<Closing> {
    let compile_failed = state.end_reason.is_some_and(EndReason::in_compile_stage);
    let stage = if compile_failed { stage } else { run_stage_begins(socket, stage).await? };
    let v = verdict(state.end_reason, state.exit());
    let end = SessionEnd { status: state.status, end_reason: state.end_reason, message: state.error };
    send(socket, ServerMessage::Exit { stage, code: v.code, signal: v.signal, end: Some(end) }).await?;
    Ok(Closing::with(close::JOB_COMPLETED, "Job Completed"))
}

/// What a client's message after `init` does to the program's input.
fn input(m: ClientMessage) -> Result<Vec<InputEvent>, Closing> {
    match m {
        ClientMessage::Init(_) => Err(Closing::with(close::ALREADY_INITIALIZED, "Already Initialized")),
        ClientMessage::Data { stream, .. } if stream != "stdin" => {
            Err(Closing::with(close::ONLY_STDIN, "Can only write to stdin"))
        }
        ClientMessage::Data { data, eof, .. } => {
            let data = (!data.is_empty()).then(|| InputEvent::Stdin(data.into_bytes()));
            Ok(data.into_iter().chain(eof.then_some(InputEvent::Eof)).collect())
        }
        ClientMessage::Eof => Ok(vec![InputEvent::Eof]),
        ClientMessage::Signal { signal } if SIGNALS.contains(&signal.as_str()) => Ok(vec![InputEvent::Signal(signal)]),
        ClientMessage::Signal { .. } => Err(Closing::with(close::INVALID_SIGNAL, "Invalid signal")),
        ClientMessage::Unknown => Err(Closing::error("unknown message type (data, eof or signal)")),
    }
}

/// Inserts the events as rows of input, as the user (RLS applies, as for a
/// Supabase client). One that is refused is let go: the session may just
/// have ended, which its next read tells.
async fn feed(st: &ApiState, user: Uuid, id: Uuid, events: &[InputEvent]) {
    for event in events {
        let fed = async {
            let mut db = st.pool.get().await?;
            crate::db::user::input(&mut db, user, id, event).await?;
            anyhow::Ok(())
        };
        if let Err(e) = fed.await {
            tracing::debug!(error = %format!("{e:#}"), "input not accepted");
            return;
        }
    }
}
