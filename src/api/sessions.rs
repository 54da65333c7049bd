//! What every endpoint does with sessions, through the database only: create
//! one as the calling user (RLS applies, exactly as a frontend's insert),
//! enforce per-user limits (in the database, shared by every node), wait for the outcome, gather the output.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::auth::Principal;
use super::error::ApiError;
use super::ApiState;
use crate::db::follow::{Event, Events, FollowError, Follower, LogRow, SessionState};
use crate::db::limits::{Admission, Caller, Limits};
use crate::model::{SessionStatus, Stage, Stream, ValidRequest};

/// The user a request acts for: the token's subject; a `userId` named in the
/// request must match it. A service-role token must name the user.
pub(crate) fn acting_user(p: Principal, named: Option<Uuid>) -> Result<Uuid, ApiError> {
    match (p, named) {
        (Principal::User(u), Some(n)) if n != u => Err(ApiError::Forbidden(
            "userId does not match the signed-in user; it is taken from the access token".into(),
        )),
        (Principal::User(u), _) => Ok(u),
        (Principal::Service, Some(n)) => Ok(n),
        (Principal::Service, None) => Err(ApiError::BadRequest(
            "a service_role request must name the user it acts for (userContext.userId, or the X-Execbox-User header)"
                .into(),
        )),
    }
}

/// A user named by a service-role caller in `X-Execbox-User` (Piston and
/// Judge0 requests have no user field).
pub(crate) fn named_user(headers: &axum::http::HeaderMap) -> Result<Option<Uuid>, ApiError> {
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

/// Which limits a new session counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quota {
    /// The user's: sessions per minute and sessions at once.
    PerUser,
    /// None more: the caller was admitted already (once for a whole Judge0
    /// batch, by [`admit`]).
    Admitted,
    /// Admitted per client address (open Piston mode); the session counts
    /// against that address's sessions at once.
    Client(IpAddr),
}

/// The limits a caller's requests are held to.
fn limits_of(st: &ApiState, caller: Caller<'_>) -> Limits {
    let api = &st.cfg.api;
    match caller {
        Caller::User(_) => {
            Limits { per_minute: api.rate_limit_per_minute, max_active: api.max_active_sessions_per_user }
        }
        Caller::Client(_) => {
            Limits { per_minute: api.piston_ip_rate_per_minute, max_active: api.piston_ip_max_active as i64 }
        }
    }
}

/// A refused request's 429, in the caller's terms.
fn refusal(caller: Caller<'_>, limits: Limits, admission: Admission) -> ApiError {
    let max = limits.max_active;
    match (admission, caller) {
        (Admission::Admitted, _) => ApiError::internal("an admitted request was refused"),
        (Admission::TooManyActive(n), Caller::User(_)) => ApiError::TooManyRequests {
            message: format!("you already have {n} sessions pending or running; the limit is {max}"),
            retry_after_secs: 1,
        },
        (Admission::TooManyActive(n), Caller::Client(_)) => ApiError::TooManyRequests {
            message: format!("{n} sessions from one address are pending or running at once; the limit is {max}"),
            retry_after_secs: 1,
        },
        (Admission::RateLimited(wait), caller) => ApiError::TooManyRequests {
            message: match caller {
                Caller::User(_) => format!("rate limit: at most {} sessions per minute", limits.per_minute),
                Caller::Client(_) => {
                    format!("rate limit: at most {} requests per minute from one address", limits.per_minute)
                }
            },
            retry_after_secs: wait.as_secs() + 1,
        },
    }
}

/// Checks `user`'s limits (sessions per minute, sessions at once) for one
/// more request, in the database, so every node holds the same limits. For
/// a request whose sessions are created later and counted once (a Judge0
/// batch); a single session is admitted with its insert, by [`create`].
pub(crate) async fn admit(st: &ApiState, db: &impl crate::db::Sql, user: Uuid) -> Result<(), ApiError> {
    let limits = limits_of(st, Caller::User(user));
    match crate::db::limits::admit(db, Caller::User(user), limits).await? {
        Admission::Admitted => Ok(()),
        refused => Err(refusal(Caller::User(user), limits, refused)),
    }
}

/// Creates a pending session for `user` from a request its caller has
/// validated (in its own terms, for a 400), with the `quota`'s limits
/// decided in the insert's transaction (so concurrent requests cannot
/// overshoot them).
pub(crate) async fn create(
    st: &ApiState,
    user: Uuid,
    quota: Quota,
    valid: &ValidRequest<'_>,
) -> Result<Uuid, ApiError> {
    let req = valid.request;
    let address;
    let caller = match quota {
        Quota::PerUser => Some(Caller::User(user)),
        Quota::Client(ip) => {
            address = ip.to_string();
            Some(Caller::Client(&address))
        }
        Quota::Admitted => None,
    };
    let gate = caller.map(|c| (c, limits_of(st, c)));
    let mut db = st.pool.get().await?;
    let created =
        crate::db::user::submit_admitted(&mut db, user, req, gate).await.map_err(|e| match e.as_db_error() {
            Some(d) if d.code().code() == "23503" => ApiError::Unprocessable(format!("unknown user {user}")),
            _ => ApiError::db(&e),
        })?;
    created.map_err(|refused| {
        let (caller, limits) = gate.expect("only a gate refuses");
        refusal(caller, limits, refused)
    })
}

/// Whether `user` can see session `id` (RLS decides; a service principal
/// sees all). Not found and not yours are the same answer, so ids do not leak.
pub(crate) async fn owner_of(st: &ApiState, p: Principal, id: Uuid) -> Result<Uuid, ApiError> {
    let db = st.pool.get().await?;
    match (crate::db::sessions::owner(&db, id).await?, p) {
        (Some(owner), Principal::Service) => Ok(owner),
        (Some(owner), Principal::User(u)) if owner == u => Ok(owner),
        _ => Err(ApiError::NotFound(format!("no session {id}"))),
    }
}

/// One stage's output as text.
#[derive(Debug, Default)]
pub(crate) struct StageOutput {
    pub stdout: String,
    pub stderr: String,
    /// stdout and stderr interleaved as they were printed.
    pub output: String,
    /// Lines were printed in this stage.
    pub any: bool,
}

/// How a finished session's output reads, per stage.
#[derive(Debug, Default)]
pub(crate) struct Output {
    pub compile: StageOutput,
    pub run: StageOutput,
    /// execbox's own notes (system rows).
    pub system: Vec<String>,
}

impl Output {
    pub(crate) fn push(&mut self, row: &LogRow) {
        let text = row.text();
        let stage = match row.stage {
            Stage::Compile => &mut self.compile,
            Stage::Run => &mut self.run,
        };
        match row.stream {
            Stream::Stdout => stage.stdout.push_str(&text),
            Stream::Stderr => stage.stderr.push_str(&text),
            Stream::System => {
                self.system.push(row.message.clone());
                return;
            }
        }
        stage.output.push_str(&text);
        stage.any = true;
    }
}

/// Waits for the session to end, collecting its output. A session nobody
/// claims within `queue_wait` is cancelled and reported as unavailable, as
/// is one that outlives its limits by far (its worker is gone).
pub(crate) async fn wait(
    st: &ApiState,
    id: Uuid,
    user: Uuid,
    run_limit: Duration,
) -> Result<(SessionState, Output), ApiError> {
    wait_seeing(st, id, user, run_limit, |_| {}).await
}

/// [`wait`], showing `seen` each log row as it arrives.
pub(crate) async fn wait_seeing(
    st: &ApiState,
    id: Uuid,
    user: Uuid,
    run_limit: Duration,
    mut seen: impl FnMut(&LogRow),
) -> Result<(SessionState, Output), ApiError> {
    let mut events = Events::new(Follower::open(&st.hub, id, Some(user)));
    let started = Instant::now();
    let queue_wait = Duration::from_millis(st.cfg.api.queue_wait_ms);
    let mut deadline = started + queue_wait;
    let mut out = Output::default();
    loop {
        let event = match tokio::time::timeout_at(deadline.into(), events.next()).await {
            Ok(event) => event.map_err(follow_error)?,
            Err(_) => return Err(gave_up(st, user, id).await),
        };
        match event {
            Some(Event::Changed(state)) if state.status != SessionStatus::Pending => {
                deadline = started + queue_wait + run_limit + Duration::from_secs(30);
            }
            Some(Event::Changed(_)) => {}
            Some(Event::Row(row)) => {
                seen(&row);
                out.push(&row)
            }
            Some(Event::End(state)) => return Ok((state, out)),
            None => return Err(ApiError::internal("a followed session gave no end")),
        }
    }
}

/// A session nobody finished in time: cancelled, and said so.
async fn gave_up(st: &ApiState, user: Uuid, id: Uuid) -> ApiError {
    cancel_abandoned(st, user, id, "nobody finished it").await;
    ApiError::Unavailable("no worker finished the session in time; it was cancelled".into())
}

/// Cancels `user`'s session `id`, which nobody waits for any more (`why`);
/// a failure is only logged (the session ends by its own limits anyway).
pub(crate) async fn cancel_abandoned(st: &ApiState, user: Uuid, id: Uuid, why: &str) {
    let cancelled = async {
        let mut db = st.pool.get().await?;
        crate::db::user::cancel(&mut db, user, id).await?;
        anyhow::Ok(())
    };
    if let Err(e) = cancelled.await {
        tracing::warn!(session_id = %id, error = %format!("{e:#}"), why, "cannot cancel an abandoned session");
    }
}

/// A session that cannot be followed: not found (or not the caller's), or
/// the database is unavailable (its detail logged, never sent).
pub(crate) fn follow_error(e: FollowError) -> ApiError {
    match e {
        FollowError::NotFound(id) => ApiError::NotFound(format!("no session {id}")),
        FollowError::Unavailable(e) => ApiError::unavailable(format!("{e:#}")),
    }
}
