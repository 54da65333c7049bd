//! Reading sessions back for their owner: the newest first, and one in
//! full. The owner check is in every statement (`$1` is the owner, or null
//! for the service role, which sees every session).

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::Row;

use super::Sql;
use uuid::Uuid;

use crate::model::{EndReason, Mode, SessionStatus, Usage};

/// How much of a session's code a listing shows.
pub(crate) const PREVIEW_CHARS: i32 = 200;

/// A session as a listing shows it (`GET /api/sessions`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionSummary {
    pub id: Uuid,
    pub language: String,
    pub mode: Mode,
    pub session_name: Option<String>,
    pub status: SessionStatus,
    /// Why it ended (see the README's end_reason table); null until then.
    pub end_reason: Option<EndReason>,
    pub exit_code: Option<i32>,
    /// The code's first characters.
    pub code: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A session in full: what was asked and how it ended (`GET
/// /api/sessions/{id}`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionView {
    pub id: Uuid,
    pub language: String,
    pub mode: Mode,
    pub session_name: Option<String>,
    pub code: String,
    pub stdin: Option<String>,
    pub args: Vec<String>,
    pub status: SessionStatus,
    pub end_reason: Option<EndReason>,
    pub exit_code: Option<i32>,
    /// Why it did not complete, for people.
    pub error: Option<String>,
    /// CPU time, wall time and peak memory per stage.
    pub usage: Usage,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// From the start of the run to its end, as the database's clock says.
    pub duration_ms: Option<f64>,
    pub cancel_requested: bool,
}

/// The newest `limit` sessions of `owner` (every user's for None).
pub(crate) async fn recent(
    db: &impl Sql,
    owner: Option<Uuid>,
    limit: i64,
) -> Result<Vec<SessionSummary>, tokio_postgres::Error> {
    let rows = db
        .fetch(
            "select id, language, mode, session_name, status, end_reason, exit_code, left(code, $3), created_at,
                    finished_at
             from public.backend_execution_sessions
             where ($1::uuid is null or user_id = $1)
             order by created_at desc, id
             limit $2",
            &[&owner, &limit, &PREVIEW_CHARS],
        )
        .await?;
    rows.iter().map(summary).collect()
}

fn summary(r: &Row) -> Result<SessionSummary, tokio_postgres::Error> {
    Ok(SessionSummary {
        id: r.try_get(0)?,
        language: r.try_get(1)?,
        mode: r.try_get(2)?,
        session_name: r.try_get(3)?,
        status: r.try_get(4)?,
        end_reason: r.try_get(5)?,
        exit_code: r.try_get(6)?,
        code: r.try_get(7)?,
        created_at: r.try_get(8)?,
        finished_at: r.try_get(9)?,
    })
}

/// One session of `owner` (any for None); None if there is no such one.
pub(crate) async fn one(
    db: &impl Sql,
    owner: Option<Uuid>,
    id: Uuid,
) -> Result<Option<SessionView>, tokio_postgres::Error> {
    let Some(r) = db
        .fetch_opt(
            "select id, language, mode, session_name, code, stdin, args, status, end_reason, exit_code, error, usage,
                    created_at, started_at, finished_at,
                    (extract(epoch from finished_at - started_at) * 1000)::float8,
                    cancel_requested_at is not null
             from public.backend_execution_sessions
             where id = $2 and ($1::uuid is null or user_id = $1)",
            &[&owner, &id],
        )
        .await?
    else {
        return Ok(None);
    };
    let usage: Option<serde_json::Value> = r.try_get(11)?;
    Ok(Some(SessionView {
        id: r.try_get(0)?,
        language: r.try_get(1)?,
        mode: r.try_get(2)?,
        session_name: r.try_get(3)?,
        code: r.try_get(4)?,
        stdin: r.try_get(5)?,
        args: r.try_get(6)?,
        status: r.try_get(7)?,
        end_reason: r.try_get(8)?,
        exit_code: r.try_get(9)?,
        error: r.try_get(10)?,
        usage: usage.and_then(|u| serde_json::from_value(u).ok()).unwrap_or_default(),
        created_at: r.try_get(12)?,
        started_at: r.try_get(13)?,
        finished_at: r.try_get(14)?,
        duration_ms: r.try_get(15)?,
        cancel_requested: r.try_get(16)?,
    }))
}

/// Who owns session `id` (any user's: for the service role and the owner
/// check of the API, which answers not-found to anyone else).
pub(crate) async fn owner(db: &impl Sql, id: Uuid) -> Result<Option<Uuid>, tokio_postgres::Error> {
    let row = db.fetch_opt("select user_id from public.backend_execution_sessions where id = $1", &[&id]).await?;
    Ok(row.map(|r| r.get(0)))
}

/// A finished session's `result` column (validation or benchmark).
pub(crate) async fn result(db: &impl Sql, id: Uuid) -> Result<Option<serde_json::Value>, tokio_postgres::Error> {
    let row = db.fetch_opt("select result from public.backend_execution_sessions where id = $1", &[&id]).await?;
    Ok(row.and_then(|r| r.get(0)))
}

/// The whole row, as JSON (`execbox run --json`).
pub(crate) async fn row_json(db: &impl Sql, id: Uuid) -> Result<serde_json::Value, tokio_postgres::Error> {
    let row = db
        .fetch_one("select row_to_json(s)::jsonb from public.backend_execution_sessions s where id = $1", &[&id])
        .await?;
    Ok(row.get(0))
}

/// Sessions created in the last hour, by current status (`/metrics`).
pub(crate) async fn last_hour_by_status(db: &impl Sql) -> Result<Vec<(SessionStatus, i64)>, tokio_postgres::Error> {
    let rows = db
        .fetch(
            "select status, count(*) from public.backend_execution_sessions
             where created_at > now() - interval '1 hour' group by status",
            &[],
        )
        .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

/// Sessions waiting for a worker.
pub(crate) async fn queue_depth(db: &impl Sql) -> Result<i64, tokio_postgres::Error> {
    Ok(db
        .fetch_one("select count(*) from public.backend_execution_sessions where status = 'pending'", &[])
        .await?
        .get(0))
}

/// One row of `execbox sessions`' table.
pub(crate) struct Listed {
    pub id: String,
    pub user_id: String,
    pub language: String,
    pub status: SessionStatus,
    pub end_reason: Option<EndReason>,
    pub exit_code: Option<i32>,
    pub duration_ms: Option<f64>,
    pub created_utc: String,
}

/// The newest sessions of every user (the operator's view, `execbox sessions`).
pub(crate) async fn newest_all(db: &impl Sql, limit: i64) -> Result<Vec<Listed>, tokio_postgres::Error> {
    let rows = db
        .fetch(
            "select id::text, user_id::text, language, status, end_reason, exit_code,
                    (extract(epoch from (finished_at - started_at)) * 1000)::float8,
                    to_char(created_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS')
             from public.backend_execution_sessions order by created_at desc limit $1",
            &[&limit],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Listed {
                id: r.try_get(0)?,
                user_id: r.try_get(1)?,
                language: r.try_get(2)?,
                status: r.try_get(3)?,
                end_reason: r.try_get(4)?,
                exit_code: r.try_get(5)?,
                duration_ms: r.try_get(6)?,
                created_utc: r.try_get(7)?,
            })
        })
        .collect()
}
