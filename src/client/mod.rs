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

/// What a client asks for.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub language: String,
    pub code: String,
    pub stdin: Option<String>,
    pub timeout_ms: Option<i32>,
    pub memory_limit_mb: Option<i32>,
    pub session_name: Option<String>,
}

/// Inserts a pending session for `user`, under RLS. Returns its id.
pub async fn submit(client: &mut Client, user: Uuid, req: &Request) -> anyhow::Result<Uuid> {
    let tx = as_user(client, user).await?;
    let row = tx
        .query_one(
            "insert into public.backend_execution_sessions (language, code, stdin, timeout_ms, memory_limit_mb, session_name)
             values ($1, $2, $3, $4, $5, $6) returning id",
            &[&req.language, &req.code, &req.stdin, &req.timeout_ms, &req.memory_limit_mb, &req.session_name],
        )
        .await
        .map_err(|e| anyhow::anyhow!("the database refused the session: {}", db_message(&e)))?;
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
