//! The sessions table as a job queue.
//!
//! A claim moves `pending` to `running`, bumps `attempt` and sets a lease
//! (`FOR UPDATE SKIP LOCKED`, so many workers never take the same row). Every
//! later write by the worker is fenced on `(id, attempt, status = 'running')`:
//! a worker that lost its lease cannot overwrite anything. All times come
//! from the database clock. Statements go through [`Sql`], unnamed unless
//! the deployment asked for prepared ones.

use std::time::Duration;

use super::Sql;
use uuid::Uuid;

use crate::model::{Outcome, Request};

/// A session this worker now owns.
#[derive(Debug, Clone)]
pub(crate) struct Claimed {
    pub id: Uuid,
    pub attempt: i32,
    pub request: Request,
    /// Made by an anonymous caller (open Piston mode: tagged with its
    /// client address, no user of its own).
    pub anonymous: bool,
}

/// (session, attempt) pairs as the two arrays SQL's `unnest` takes.
fn split_runs(runs: &[(Uuid, i32)]) -> (Vec<Uuid>, Vec<i32>) {
    runs.iter().copied().unzip()
}

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

/// Claims up to `limit` pending sessions, oldest first, except those in a
/// `refused` language (or with a checker in one; names in lower case): this
/// worker's engine lacks their image, another worker may have it.
pub(crate) async fn claim(
    db: &impl Sql,
    worker_id: &str,
    limit: usize,
    lease: Duration,
    refused: &[String],
) -> Result<Vec<Claimed>, tokio_postgres::Error> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let rows = db
        .fetch(
            "with next as (
               select id from public.backend_execution_sessions
               where status = 'pending'
                 and lower(language) <> all($4::text[])
                 and (checker_language is null or lower(checker_language) <> all($4::text[]))
               order by created_at, id
               limit $2
               for update skip locked
             )
             update public.backend_execution_sessions s
             set status = 'running', attempt = s.attempt + 1, claimed_by = $1,
                 started_at = now(), lease_expires_at = now() + $3::bigint * interval '1 millisecond'
             from next where s.id = next.id
             returning s.id, s.attempt, s.language, s.code, s.stdin, s.timeout_ms, s.memory_limit_mb,
                       s.args, s.files, s.interactive, s.compile_timeout_ms, s.compile_memory_limit_mb,
                       s.mode, s.tests, s.runs, s.room_id, s.session_name, s.cpu_time_limit_ms,
                       s.compile_cpu_time_limit_ms, s.cases, s.checker, s.checker_code, s.checker_language,
                       s.checker_abs_tolerance, s.checker_rel_tolerance, s.stop_on_failure,
                       exists (select 1 from public.execbox_session_clients c where c.session_id = s.id) as anonymous",
            &[&worker_id, &(limit as i64), &ms(lease), &refused],
        )
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Claimed {
                id: r.try_get("id")?,
                attempt: r.try_get("attempt")?,
                request: Request {
                    language: r.try_get("language")?,
                    code: r.try_get("code")?,
                    stdin: r.try_get("stdin")?,
                    timeout_ms: r.try_get("timeout_ms")?,
                    memory_limit_mb: r.try_get("memory_limit_mb")?,
                    args: r.try_get("args")?,
                    files: r.try_get("files")?,
                    interactive: r.try_get("interactive")?,
                    compile_timeout_ms: r.try_get("compile_timeout_ms")?,
                    compile_memory_limit_mb: r.try_get("compile_memory_limit_mb")?,
                    cpu_time_limit_ms: r.try_get("cpu_time_limit_ms")?,
                    compile_cpu_time_limit_ms: r.try_get("compile_cpu_time_limit_ms")?,
                    mode: r.try_get("mode")?,
                    tests: r.try_get("tests")?,
                    runs: r.try_get("runs")?,
                    room_id: r.try_get("room_id")?,
                    session_name: r.try_get("session_name")?,
                    cases: r.try_get("cases")?,
                    checker: r.try_get("checker")?,
                    checker_code: r.try_get("checker_code")?,
                    checker_language: r.try_get("checker_language")?,
                    checker_abs_tolerance: r.try_get("checker_abs_tolerance")?,
                    checker_rel_tolerance: r.try_get("checker_rel_tolerance")?,
                    stop_on_failure: r.try_get("stop_on_failure")?,
                },
                anonymous: r.try_get("anonymous")?,
            })
        })
        .collect()
}

/// A session whose lease was renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Renewed {
    pub id: Uuid,
    pub cancel_requested: bool,
}

/// Extends the leases of `runs` (session, attempt). Runs missing from the
/// answer are no longer ours and must be stopped.
pub(crate) async fn heartbeat(
    db: &impl Sql,
    runs: &[(Uuid, i32)],
    lease: Duration,
) -> Result<Vec<Renewed>, tokio_postgres::Error> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let (ids, attempts) = split_runs(runs);
    let rows = db
        .fetch(
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
pub(crate) async fn finish(
    db: &impl Sql,
    id: Uuid,
    attempt: i32,
    outcome: &Outcome,
) -> Result<bool, tokio_postgres::Error> {
    let usage = (!outcome.usage.is_empty()).then(|| serde_json::to_value(outcome.usage).expect("usage serializes"));
    let exit_code = outcome.exit.map(|e| e.code());
    let n = db
        .exec(
            "update public.backend_execution_sessions
             set status = $3, end_reason = $4, exit_code = $5, error = $6, result = $7, usage = $8,
                 finished_at = now(), lease_expires_at = null
             where id = $1 and attempt = $2 and status = 'running'",
            &[&id, &attempt, &outcome.status, &outcome.end_reason, &exit_code, &outcome.error, &outcome.result, &usage],
        )
        .await?;
    Ok(n == 1)
}

/// Ends sessions whose worker stopped renewing the lease (crash, SIGKILL,
/// partition). They are finished as `error`, never retried: the program may
/// already have run and printed, and a session must never run twice. A final
/// `system` log row tells the watching user what happened.
pub(crate) async fn rescue_expired(db: &impl Sql) -> Result<Vec<Uuid>, tokio_postgres::Error> {
    let rows = db
        .fetch(
            "with expired as (
               update public.backend_execution_sessions
               set status = 'error', end_reason = 'worker_lost', finished_at = now(), lease_expires_at = null,
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

/// Ends the pending sessions that no live worker can run — their runtime
/// (or their checker's) has its image on no live worker's engine — once
/// they have waited `after`: `error` / `image_missing`, with the command
/// that builds the image, and one `system` row saying so. `names`: every
/// name of the runtimes this worker lacks, `runtimes` the runtime of each.
/// Nothing ends while a live worker has not said what it can run, or while
/// no worker is live (the sessions wait for one).
pub(crate) async fn end_unrunnable(
    db: &impl Sql,
    names: &[String],
    runtimes: &[String],
    fresh: Duration,
    after: Duration,
) -> Result<Vec<Uuid>, tokio_postgres::Error> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let rows = db
        .fetch(
            "with live as (
               select w.runtimes from public.execbox_workers w
               where w.docker_ok and w.last_seen > now() - $3::bigint * interval '1 millisecond'
             ), lacking as (
               select r.name, r.runtime from unnest($1::text[], $2::text[]) as r(name, runtime)
               where exists (select 1 from live)
                 and not exists (select 1 from live where live.runtimes is null)
                 and not exists (select 1 from live where r.runtime = any(live.runtimes))
             ), ended as (
               update public.backend_execution_sessions s
               set status = 'error', end_reason = 'image_missing', finished_at = now(),
                   error = 'no live worker has the image of runtime ' || l.runtime ||
                           '; build it with `execbox images build ' || l.runtime || '`'
               from lacking l
               where s.status = 'pending'
                 and s.created_at < now() - $4::bigint * interval '1 millisecond'
                 and (lower(s.language) = l.name or lower(s.checker_language) = l.name)
               returning s.id, s.user_id, s.error
             )
             insert into public.execution_logs (session_id, user_id, seq, stream, level, message)
             select e.id, e.user_id, 1, 'system', 'error', 'execbox: ' || e.error from ended e
             returning session_id",
            &[&names, &runtimes, &(fresh.as_millis() as i64), &(after.as_millis() as i64)],
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.get(0)).collect())
}

/// Which of `runs` are still live: running under that attempt with a lease
/// that has not expired. The reaper keeps only their containers.
pub(crate) async fn live(db: &impl Sql, runs: &[(Uuid, i32)]) -> Result<Vec<(Uuid, i32)>, tokio_postgres::Error> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let (ids, attempts) = split_runs(runs);
    let rows = db
        .fetch(
            "select s.id, s.attempt from public.backend_execution_sessions s
             join unnest($1::uuid[], $2::int[]) as r(id, attempt) on s.id = r.id and s.attempt = r.attempt
             where s.status = 'running' and s.lease_expires_at > now()",
            &[&ids, &attempts],
        )
        .await?;
    Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Which of `ids` (running sessions) their owner asked to cancel.
pub(crate) async fn cancel_requested(db: &impl Sql, ids: &[Uuid]) -> Result<Vec<Uuid>, tokio_postgres::Error> {
    let rows = db
        .fetch(
            "select id from public.backend_execution_sessions
             where id = any($1::uuid[]) and status = 'running' and cancel_requested_at is not null",
            &[&ids],
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.get(0)).collect())
}
