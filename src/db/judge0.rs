//! The Judge0 API's rows: tokens written as their owner (RLS), and what a
//! token's view needs read in one statement (its session, its case, its
//! runs' results), plus the compile output and a run's interleaved output
//! when asked for.

use super::{Sql, SqlTx, Transact};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::model::{EndReason, SessionStatus};

/// A token to write.
#[derive(Debug, Clone)]
pub(crate) struct NewToken {
    pub token: Uuid,
    pub session_id: Uuid,
    pub first_case: i32,
    pub runs: i32,
    pub language_id: i32,
    pub redirect: bool,
}

/// Writes tokens as `user` (RLS: only to the user's own sessions).
pub(crate) async fn insert(
    client: &mut impl Transact,
    user: Uuid,
    tokens: &[NewToken],
) -> Result<(), tokio_postgres::Error> {
    let tx = super::user::as_user(client, user).await?;
    let ids: Vec<Uuid> = tokens.iter().map(|t| t.token).collect();
    let sessions: Vec<Uuid> = tokens.iter().map(|t| t.session_id).collect();
    let firsts: Vec<i32> = tokens.iter().map(|t| t.first_case).collect();
    let runs: Vec<i32> = tokens.iter().map(|t| t.runs).collect();
    let languages: Vec<i32> = tokens.iter().map(|t| t.language_id).collect();
    let redirects: Vec<bool> = tokens.iter().map(|t| t.redirect).collect();
    tx.exec(
        "insert into public.judge0_submissions (token, session_id, first_case, runs, language_id, redirect_stderr_to_stdout)
         select * from unnest($1::uuid[], $2::uuid[], $3::int[], $4::int[], $5::int[], $6::bool[])",
        &[&ids, &sessions, &firsts, &runs, &languages, &redirects],
    )
    .await?;
    tx.commit().await
}

/// What one token's view is made of.
#[derive(Debug, Clone)]
pub(crate) struct TokenRow {
    pub token: Uuid,
    pub session_id: Uuid,
    pub first_case: i32,
    pub runs: i32,
    pub language_id: i32,
    pub redirect: bool,
    pub status: SessionStatus,
    pub end_reason: Option<EndReason>,
    pub error: Option<String>,
    pub code: String,
    /// The submission's case as requested.
    pub case: Option<Value>,
    /// Its runs' results (once the session ended).
    pub results: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// The tokens' rows, in no particular order; `owner` None: any owner (a
/// service-role caller).
pub(crate) async fn lookup(
    db: &impl Sql,
    tokens: &[Uuid],
    owner: Option<Uuid>,
) -> Result<Vec<TokenRow>, tokio_postgres::Error> {
    let rows = db
        .fetch(
            "select j.token, j.session_id, j.first_case, j.runs, j.language_id, j.redirect_stderr_to_stdout,
                    s.status, s.end_reason, s.error, s.code, s.cases -> j.first_case,
                    (select jsonb_agg(r.e order by r.i) from jsonb_array_elements(s.result -> 'cases')
                       with ordinality as r(e, i)
                     where r.i > j.first_case and r.i <= j.first_case + j.runs),
                    j.created_at, s.finished_at
             from public.judge0_submissions j
             join public.backend_execution_sessions s on s.id = j.session_id
             where j.token = any($1) and ($2::uuid is null or j.user_id = $2)",
            &[&tokens, &owner],
        )
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(TokenRow {
                token: r.try_get(0)?,
                session_id: r.try_get(1)?,
                first_case: r.try_get(2)?,
                runs: r.try_get(3)?,
                language_id: r.try_get(4)?,
                redirect: r.try_get(5)?,
                status: r.try_get(6)?,
                end_reason: r.try_get(7)?,
                error: r.try_get(8)?,
                code: r.try_get(9)?,
                case: r.try_get(10)?,
                results: r.try_get(11)?,
                created_at: r.try_get(12)?,
                finished_at: r.try_get(13)?,
            })
        })
        .collect()
}

/// The compile stage's output, as printed.
pub(crate) async fn compile_output(db: &impl Sql, session: Uuid) -> Result<String, tokio_postgres::Error> {
    printed(db, session, None).await
}

/// A case's stdout and stderr interleaved as printed (from its log rows).
pub(crate) async fn case_output(db: &impl Sql, session: Uuid, case: i32) -> Result<String, tokio_postgres::Error> {
    printed(db, session, Some(case)).await
}

/// What the program printed (stdout and stderr, in order): in case `case`,
/// or without one, in the compile stage.
async fn printed(db: &impl Sql, session: Uuid, case: Option<i32>) -> Result<String, tokio_postgres::Error> {
    let row = db
        .fetch_one(
            "select coalesce(string_agg(message || case when newline then E'\\n' else '' end, '' order by seq), '')
             from public.execution_logs
             where session_id = $1 and stream in ('stdout', 'stderr')
               and case when $2::int is null then stage = 'compile' else case_index = $2 end",
            &[&session, &case],
        )
        .await?;
    row.try_get(0)
}
