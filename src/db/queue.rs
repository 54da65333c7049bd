//! The sessions table as a job queue.
//!
//! A claim moves `pending` to `running`, bumps `attempt` and sets a lease
//! (`FOR UPDATE SKIP LOCKED`, so many workers never take the same row). Every
//! later write by the worker is fenced on `(id, attempt, status = 'running')`:
//! a worker that lost its lease cannot overwrite anything. All times come
//! from the database clock. The statements on every session's path are
//! prepared once per connection (`prepare_cached`).

use std::time::Duration;

use tokio_postgres::GenericClient;
use uuid::Uuid;

/// Terminal statuses a worker writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Completed,
    Failed,
    Timeout,
    Cancelled,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Timeout => "timeout",
            Status::Cancelled => "cancelled",
            Status::Error => "error",
        }
    }
}

/// A session this worker now owns.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: Uuid,
    pub attempt: i32,
    pub user_id: Uuid,
    pub language: String,
    pub code: String,
    pub stdin: Option<String>,
    pub timeout_ms: Option<i32>,
    pub memory_limit_mb: Option<i32>,
    pub args: Vec<String>,
    /// Extra files, as stored: `[{name, content, encoding?}]`.
    pub files: Option<serde_json::Value>,
    pub interactive: bool,
    pub compile_timeout_ms: Option<i32>,
    pub compile_memory_limit_mb: Option<i32>,
    /// `run` or `validate`.
    pub mode: String,
    pub tests: Option<String>,
    pub runs: Option<i32>,
}

/// The result recorded on the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    /// Validation results (`result` column).
    pub result: Option<serde_json::Value>,
}

/// (session, attempt) pairs as the two arrays SQL's `unnest` takes.
fn split_runs(runs: &[(Uuid, i32)]) -> (Vec<Uuid>, Vec<i32>) {
    runs.iter().copied().unzip()
}

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

/// Claims up to `limit` pending sessions, oldest first.
pub async fn claim(
    db: &deadpool_postgres::Client,
    worker_id: &str,
    limit: usize,
    lease: Duration,
) -> Result<Vec<Claimed>, tokio_postgres::Error> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let claim = db
        .prepare_cached(
            "with next as (
               select id from public.backend_execution_sessions
               where status = 'pending'
               order by created_at, id
               limit $2
               for update skip locked
             )
             update public.backend_execution_sessions s
             set status = 'running', attempt = s.attempt + 1, claimed_by = $1,
                 started_at = now(), lease_expires_at = now() + $3::bigint * interval '1 millisecond'
             from next where s.id = next.id
             returning s.id, s.attempt, s.user_id, s.language, s.code, s.stdin, s.timeout_ms, s.memory_limit_mb,
                       s.args, s.files, s.interactive, s.compile_timeout_ms, s.compile_memory_limit_mb,
                       s.mode, s.tests, s.runs",
        )
        .await?;
    let rows = db.query(&claim, &[&worker_id, &(limit as i64), &ms(lease)]).await?;
    Ok(rows
        .into_iter()
        .map(|r| Claimed {
            id: r.get(0),
            attempt: r.get(1),
            user_id: r.get(2),
            language: r.get(3),
            code: r.get(4),
            stdin: r.get(5),
            timeout_ms: r.get(6),
            memory_limit_mb: r.get(7),
            args: r.get(8),
            files: r.get(9),
            interactive: r.get(10),
            compile_timeout_ms: r.get(11),
            compile_memory_limit_mb: r.get(12),
            mode: r.get(13),
            tests: r.get(14),
            runs: r.get(15),
        })
        .collect())
}

/// A session whose lease was renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renewed {
    pub id: Uuid,
    pub cancel_requested: bool,
}

/// Extends the leases of `runs` (session, attempt). Runs missing from the
/// answer are no longer ours and must be stopped.
pub async fn heartbeat(
    db: &impl GenericClient,
    runs: &[(Uuid, i32)],
    lease: Duration,
) -> Result<Vec<Renewed>, tokio_postgres::Error> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let (ids, attempts) = split_runs(runs);
    let rows = db
        .query(
            "update public.backend_execution_sessions s
             set lease_expires_at = now() + $3::bigint * interval '1 millisecond'
             from unnest($1::uuid[], $2::int[]) as r(id, attempt)
             where s.id = r.id and s.attempt = r.attempt and s.status = 'running'
             returning s.id, s.cancel_requested_at is not null",
            &[&ids, &attempts, &ms(lease)],
        )
        .await?;
    Ok(rows.into_iter().map(|r| Renewed { id: r.get(0), cancel_requested: r.get(1) }).collect())
}

/// Records the outcome, fenced on the attempt. `false`: the session was no
/// longer ours and nothing was written.
pub async fn finish(
    db: &deadpool_postgres::Client,
    id: Uuid,
    attempt: i32,
    outcome: &Outcome,
) -> Result<bool, tokio_postgres::Error> {
    let finish = db
        .prepare_cached(
            "update public.backend_execution_sessions
             set status = $3, exit_code = $4, error = $5, result = $6, finished_at = now(), lease_expires_at = null
             where id = $1 and attempt = $2 and status = 'running'",
        )
        .await?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] =
        [&id, &attempt, &outcome.status.as_str(), &outcome.exit_code, &outcome.error, &outcome.result];
    let n = db.execute(&finish, &params).await?;
    Ok(n == 1)
}

/// Ends sessions whose worker stopped renewing the lease (crash, SIGKILL,
/// partition). They are finished as `error`, never retried: the program may
/// already have run and printed, and a session must never run twice. A final
/// `system` log row tells the watching user what happened.
pub async fn rescue_expired(db: &impl GenericClient) -> Result<Vec<Uuid>, tokio_postgres::Error> {
    let rows = db
        .query(
            "with expired as (
               update public.backend_execution_sessions
               set status = 'error', finished_at = now(), lease_expires_at = null,
                   error = 'the worker running this session (' || coalesce(claimed_by, 'unknown') ||
                           ') stopped responding; the run was abandoned and not retried'
               where status = 'running' and lease_expires_at < now()
               returning id, user_id
             )
             insert into public.execution_logs (session_id, user_id, seq, stream, level, message)
             select e.id, e.user_id,
                    coalesce((select max(l.seq) from public.execution_logs l where l.session_id = e.id), 0) + 1,
                    'system', 'error', 'execbox: the worker running this session stopped responding; the run was abandoned'
             from expired e
             returning session_id",
            &[],
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.get(0)).collect())
}

/// Which of `runs` are still live: running under that attempt with a lease
/// that has not expired. The reaper keeps only their containers.
pub async fn live(db: &impl GenericClient, runs: &[(Uuid, i32)]) -> Result<Vec<(Uuid, i32)>, tokio_postgres::Error> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let (ids, attempts) = split_runs(runs);
    let rows = db
        .query(
            "select s.id, s.attempt from public.backend_execution_sessions s
             join unnest($1::uuid[], $2::int[]) as r(id, attempt) on s.id = r.id and s.attempt = r.attempt
             where s.status = 'running' and s.lease_expires_at > now()",
            &[&ids, &attempts],
        )
        .await?;
    Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
}
