//! The database as a client sees it: submit a session as a user (RLS
//! applies, exactly as a frontend's insert), follow its log rows live, read
//! sessions. Used by `execbox run`, `execbox logs`, `execbox sessions` and the
//! `execbox dev` demo.

pub mod commands;
pub mod follow;
pub mod target;

use tokio_postgres::{Client, Transaction};
use uuid::Uuid;

/// Begins a transaction as PostgREST runs a request of `user`: role
/// `authenticated` and the user's JWT claims.
pub async fn as_user(client: &mut Client, user: Uuid) -> Result<Transaction<'_>, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.batch_execute("set local role authenticated").await?;
    let claims = serde_json::json!({"sub": user.to_string(), "role": "authenticated", "aud": "authenticated"});
    tx.execute("select set_config('request.jwt.claims', $1, true)", &[&claims.to_string()]).await?;
    Ok(tx)
}

/// A session to create: the request columns of `backend_execution_sessions`.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub language: String,
    pub code: String,
    pub stdin: Option<String>,
    pub args: Vec<String>,
    pub files: Option<serde_json::Value>,
    pub timeout_ms: Option<i32>,
    pub memory_limit_mb: Option<i32>,
    pub interactive: bool,
    pub room_id: Option<Uuid>,
    pub session_name: Option<String>,
    /// `run` (also when empty), `validate` or `benchmark`.
    pub mode: String,
    pub tests: Option<String>,
    pub runs: Option<i32>,
}

/// Inserts a pending session for `user`, under RLS, exactly as a frontend's
/// insert. Returns its id.
pub async fn submit(client: &mut Client, user: Uuid, req: &Request) -> Result<Uuid, tokio_postgres::Error> {
    let tx = as_user(client, user).await?;
    let row = tx
        .query_one(
            "insert into public.backend_execution_sessions
               (language, code, stdin, args, files, timeout_ms, memory_limit_mb, interactive, room_id, session_name,
                mode, tests, runs)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, coalesce(nullif($11, ''), 'run'), $12, $13) returning id",
            &[
                &req.language,
                &req.code,
                &req.stdin,
                &req.args,
                &req.files,
                &req.timeout_ms,
                &req.memory_limit_mb,
                &req.interactive,
                &req.room_id,
                &req.session_name,
                &req.mode,
                &req.tests,
                &req.runs,
            ],
        )
        .await?;
    tx.commit().await?;
    Ok(row.get(0))
}

/// Asks for a cancel, as the owner.
pub async fn cancel(client: &mut Client, user: Uuid, id: Uuid) -> anyhow::Result<bool> {
    let tx = as_user(client, user).await?;
    let n = tx
        .execute("update public.backend_execution_sessions set cancel_requested_at = now() where id = $1", &[&id])
        .await?;
    tx.commit().await?;
    Ok(n == 1)
}

/// The server's message for a database error, without the driver's wrapping.
pub fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => d.message().to_string(),
        None => crate::error_chain(e),
    }
}
