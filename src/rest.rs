//! execbox's tables through a Supabase project's Data API (PostgREST behind
//! the gateway's `/rest/v1`), as one signed-in user under RLS: the way in
//! for a client that has the project's URL, its anon key and the user's
//! access token, and never the database. Requests go through the `postgrest`
//! crate (supabase-community/postgrest-rs); every answer is read here, once,
//! into the rows the database layer uses ([`LogRow`], [`SessionState`],
//! [`Listed`]) or a [`RestError`] that says what went wrong in one sentence.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use uuid::Uuid;

use crate::db::follow::{Follow, FollowError, LogRow, SessionState};
use crate::db::sessions::Listed;
use crate::model::{EndReason, Request, SessionStatus, Usage};

/// How long one request may take.
const REQUEST_LIMIT: Duration = Duration::from_secs(30);
/// Rows per page of logs (Supabase's default max-rows is 1,000).
const PAGE: usize = 1000;
/// How often a follower asks while output keeps coming, and at most while
/// it does not.
const POLL_FAST: Duration = Duration::from_millis(200);
const POLL_SLOW: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub(crate) enum RestError {
    #[error("{0}")]
    Setup(String),
    #[error("cannot reach the project at {url}: {why}")]
    Unreachable { url: String, why: String },
    #[error("the project's gateway refused the anon key ({0}); check SUPABASE_ANON_KEY")]
    Key(String),
    #[error(
        "the access token has expired; sign in again for a fresh one (see the README: the CLI on a hosted project)"
    )]
    Expired,
    #[error("the project refused the access token ({0}); sign in again for a fresh one")]
    Token(String),
    #[error("the project has no execbox schema ({0}); apply execbox's migrations to it (`supabase db push`)")]
    NoSchema(String),
    #[error("the project refused it: {0}")]
    Refused(String),
    #[error("session {0} does not exist, or is not yours")]
    NotFound(Uuid),
    #[error("the project answered {status}: {body}")]
    Unexpected { status: u16, body: String },
}

/// PostgREST's error body (the gateway's has only `message`).
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    code: Option<String>,
    message: Option<String>,
    details: Option<String>,
    hint: Option<String>,
}

/// What an error answer means. `expired`: the token's own `exp` is past
/// (read unverified; the server's refusal is the authority).
fn refusal(status: u16, body: &str, expired: bool) -> RestError {
    let e: ErrorBody = serde_json::from_str(body).unwrap_or_default();
    let message = e.message.clone().unwrap_or_else(|| body.trim().chars().take(300).collect());
    let said = [Some(message.clone()), e.details, e.hint].into_iter().flatten().collect::<Vec<_>>().join("; ");
    match (status, e.code.as_deref()) {
        // Kong's key check: a message and no code.
        (401, None) if e.message.is_some() => RestError::Key(message),
        (401, Some("PGRST301")) if expired => RestError::Expired,
        (401, Some("PGRST300" | "PGRST301" | "PGRST302")) => RestError::Token(message),
        // A relation or function missing from the schema (cache): PostgREST
        // 12.0 answers a table it does not know with a bare `{}`.
        (404, Some("42P01" | "PGRST205" | "PGRST202")) => RestError::NoSchema(message),
        (404, None) if e.message.is_none() => RestError::NoSchema("the Data API knows none of its tables".into()),
        (400..=499, Some(_)) => RestError::Refused(said),
        _ => RestError::Unexpected { status, body: body.trim().chars().take(300).collect() },
    }
}

/// A header value must be visible ASCII: the `postgrest` crate panics on
/// anything else.
fn header_safe(what: &str, value: &str) -> Result<(), RestError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(RestError::Setup(format!("{what} is empty or has spaces or control characters")));
    }
    Ok(())
}

/// The `exp` of a JWT, unverified.
fn expiry(token: &str) -> Option<i64> {
    use base64::Engine as _;
    let claims = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes).ok()?.get("exp")?.as_i64()
}

/// One project, as one user.
#[derive(Clone)]
pub(crate) struct Project {
    url: String,
    client: postgrest::Postgrest,
    token: String,
}

#[derive(Deserialize)]
struct Id {
    id: Uuid,
}

#[derive(Deserialize)]
struct StateRow {
    status: SessionStatus,
    end_reason: Option<EndReason>,
    exit_code: Option<i32>,
    error: Option<String>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct ListedRow {
    id: Uuid,
    user_id: Uuid,
    language: String,
    status: SessionStatus,
    end_reason: Option<EndReason>,
    exit_code: Option<i32>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl Project {
    /// `url`: the project's URL (`https://<ref>.supabase.co`); `anon_key`:
    /// its anon (or publishable) key; `token`: the user's access token.
    pub(crate) fn new(url: &str, anon_key: &str, token: &str) -> Result<Project, RestError> {
        let parsed = reqwest::Url::parse(url.trim())
            .map_err(|e| RestError::Setup(format!("SUPABASE_URL {url:?} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(RestError::Setup(format!("SUPABASE_URL {url:?} is not an http(s) URL")));
        }
        header_safe("SUPABASE_ANON_KEY", anon_key)?;
        header_safe("the access token", token)?;
        if token.split('.').count() != 3 {
            return Err(RestError::Setup(
                "the access token is not one (a JWT: three dot-separated parts); see the README for how to get it"
                    .into(),
            ));
        }
        let url = parsed.as_str().trim_end_matches('/').to_string();
        let client = postgrest::Postgrest::new(format!("{url}/rest/v1")).insert_header("apikey", anon_key);
        Ok(Project { url, client, token: token.to_string() })
    }

    fn from(&self, table: &str) -> postgrest::Builder {
        self.client.from(table).auth(&self.token)
    }

    /// Sends `request`; its JSON answer as `T`, or what went wrong.
    async fn answer<T: DeserializeOwned>(&self, request: postgrest::Builder) -> Result<T, RestError> {
        let sent = request
            .build()
            .timeout(REQUEST_LIMIT)
            .send()
            .await
            .map_err(|e| RestError::Unreachable { url: self.url.clone(), why: crate::error_chain(&e) })?;
        let status = sent.status().as_u16();
        let body = sent
            .text()
            .await
            .map_err(|e| RestError::Unreachable { url: self.url.clone(), why: crate::error_chain(&e) })?;
        if !(200..300).contains(&status) {
            let expired = expiry(&self.token).is_some_and(|exp| exp <= Utc::now().timestamp());
            return Err(refusal(status, &body, expired));
        }
        serde_json::from_str(&body).map_err(|e| RestError::Unexpected {
            status,
            body: format!("{e}: {}", body.chars().take(300).collect::<String>()),
        })
    }

    /// Inserts a pending session as the user; its id.
    pub(crate) async fn submit(&self, req: &Request) -> Result<Uuid, RestError> {
        let body = serde_json::to_string(req).expect("a request serializes");
        let rows: Vec<Id> = self.answer(self.from("backend_execution_sessions").select("id").insert(body)).await?;
        rows.first().map(|r| r.id).ok_or_else(|| RestError::Refused("the session was not inserted".into()))
    }

    /// The session's state as its owner sees it.
    pub(crate) async fn state(&self, id: Uuid) -> Result<SessionState, RestError> {
        let request = self
            .from("backend_execution_sessions")
            .select("status,end_reason,exit_code,error,usage")
            .eq("id", id.to_string());
        let rows: Vec<StateRow> = self.answer(request).await?;
        let r = rows.into_iter().next().ok_or(RestError::NotFound(id))?;
        Ok(SessionState {
            status: r.status,
            end_reason: r.end_reason,
            exit_code: r.exit_code,
            error: r.error,
            usage: r.usage.unwrap_or_default(),
            container: None,
        })
    }

    /// Up to a page of the session's log rows after `seq`, in order.
    pub(crate) async fn logs_after(&self, id: Uuid, seq: i32) -> Result<Vec<LogRow>, RestError> {
        let request = self
            .from("execution_logs")
            .select("seq,stream,level,message,newline,stage,created_at")
            .eq("session_id", id.to_string())
            .gt("seq", seq.to_string())
            .order("seq.asc")
            .limit(PAGE);
        self.answer(request).await
    }

    /// The session's whole row, as the user may read it.
    pub(crate) async fn row_json(&self, id: Uuid) -> Result<serde_json::Value, RestError> {
        let rows: Vec<serde_json::Value> =
            self.answer(self.from("backend_execution_sessions").select("*").eq("id", id.to_string())).await?;
        rows.into_iter().next().ok_or(RestError::NotFound(id))
    }

    /// Asks the workers to stop the session (the database stamps the
    /// time). False: no such session of the user's.
    pub(crate) async fn cancel(&self, id: Uuid) -> Result<bool, RestError> {
        let body = serde_json::json!({"cancel_requested_at": Utc::now()}).to_string();
        let rows: Vec<Id> = self
            .answer(self.from("backend_execution_sessions").select("id").eq("id", id.to_string()).update(body))
            .await?;
        Ok(!rows.is_empty())
    }

    /// The user's newest sessions.
    pub(crate) async fn recent(&self, limit: usize) -> Result<Vec<Listed>, RestError> {
        let request = self
            .from("backend_execution_sessions")
            .select("id,user_id,language,status,end_reason,exit_code,started_at,finished_at,created_at")
            .order("created_at.desc")
            .limit(limit);
        let rows: Vec<ListedRow> = self.answer(request).await?;
        Ok(rows
            .into_iter()
            .map(|r| Listed {
                id: r.id.to_string(),
                user_id: r.user_id.to_string(),
                language: r.language,
                status: r.status,
                end_reason: r.end_reason,
                exit_code: r.exit_code,
                duration_ms: r
                    .started_at
                    .zip(r.finished_at)
                    .map(|(s, f)| (f - s).num_microseconds().unwrap_or(0) as f64 / 1000.0),
                created_utc: r.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            })
            .collect())
    }
}

/// Following one session through the Data API: no notifications reach a
/// client there (Realtime would; this is a terminal), so it asks, often
/// while output comes and less often while none does.
pub(crate) struct Follower {
    project: Project,
    id: Uuid,
    last_seq: i32,
    pause: Duration,
}

impl Follower {
    pub(crate) fn new(project: Project, id: Uuid) -> Follower {
        Follower { project, id, last_seq: 0, pause: POLL_FAST }
    }
}

impl Follow for Follower {
    /// The state, then every row written since the last call, page by page
    /// (in that order: when the state is terminal, the rows are complete).
    async fn poll(&mut self) -> Result<(SessionState, Vec<LogRow>), FollowError> {
        let state = self.project.state(self.id).await.map_err(|e| match e {
            RestError::NotFound(id) => FollowError::NotFound(id),
            e => FollowError::Unavailable(e.into()),
        })?;
        let mut rows = Vec::new();
        loop {
            let page = self.project.logs_after(self.id, self.last_seq).await.map_err(anyhow::Error::from)?;
            let full = page.len() == PAGE;
            if let Some(last) = page.last() {
                self.last_seq = last.seq;
            }
            rows.extend(page);
            if !full {
                break;
            }
        }
        self.pause = if rows.is_empty() { (self.pause * 3 / 2).min(POLL_SLOW) } else { POLL_FAST };
        Ok((state, rows))
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_one_sentence() {
        #[rustfmt::skip]
        let table: &[(u16, &str, bool, &str)] = &[
            (401, r#"{"message":"Invalid API key"}"#, false, "the project's gateway refused the anon key (Invalid API key); check SUPABASE_ANON_KEY"),
            (401, r#"{"message":"No API key found in request"}"#, false, "the project's gateway refused the anon key (No API key found in request); check SUPABASE_ANON_KEY"),
            (401, r#"{"code":"PGRST301","details":null,"hint":null,"message":"JWT expired"}"#, true, "the access token has expired; sign in again for a fresh one (see the README: the CLI on a hosted project)"),
            (401, r#"{"code":"PGRST301","details":null,"hint":null,"message":"JWSError JWSInvalidSignature"}"#, false, "the project refused the access token (JWSError JWSInvalidSignature); sign in again for a fresh one"),
            (404, r#"{"code":"42P01","details":null,"hint":null,"message":"relation \"public.backend_execution_sessions\" does not exist"}"#, false, "the project has no execbox schema (relation \"public.backend_execution_sessions\" does not exist); apply execbox's migrations to it (`supabase db push`)"),
            (403, r#"{"code":"42501","details":null,"hint":null,"message":"new row violates row-level security policy"}"#, false, "the project refused it: new row violates row-level security policy"),
            (400, r#"{"code":"P0001","details":"2 are running","hint":"wait for one to end","message":"too many sessions at once"}"#, false, "the project refused it: too many sessions at once; 2 are running; wait for one to end"),
            (404, "{}", false, "the project has no execbox schema (the Data API knows none of its tables); apply execbox's migrations to it (`supabase db push`)"),
            (404, r#"{"message":"no Route matched with those values"}"#, false, "the project answered 404: {\"message\":\"no Route matched with those values\"}"),
            (502, "Bad Gateway", false, "the project answered 502: Bad Gateway"),
            (500, r#"{"code":"XX000","message":"boom"}"#, false, r#"the project answered 500: {"code":"XX000","message":"boom"}"#),
        ];
        for (status, body, expired, want) in table {
            assert_eq!(refusal(*status, body, *expired).to_string(), *want, "{status} {body}");
        }
    }

    #[test]
    fn bad_settings_are_refused_before_any_request() {
        let token = "a.b.c";
        for (url, key, token, want) in [
            ("not a url", "k", token, "is not a URL"),
            ("ftp://x.supabase.co", "k", token, "is not an http(s) URL"),
            ("https://x.supabase.co", "k\n", token, "SUPABASE_ANON_KEY is empty or has spaces"),
            ("https://x.supabase.co", "k", "", "the access token is empty"),
            ("https://x.supabase.co", "k", "opaque", "is not one (a JWT"),
        ] {
            let err = Project::new(url, key, token).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(want), "{url} {key:?} {token:?}: {err}");
        }
        let p = Project::new("https://x.supabase.co/", "k", token).unwrap();
        assert_eq!(p.url, "https://x.supabase.co");
    }

    #[test]
    fn the_expiry_is_read_from_the_token() {
        use base64::Engine as _;
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"exp":1700000000}"#);
        assert_eq!(expiry(&format!("h.{claims}.s")), Some(1_700_000_000));
        assert_eq!(expiry("h.!!.s"), None);
    }
}
