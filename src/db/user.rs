//! The database as a user sees it: a transaction as PostgREST runs a
//! request (role `authenticated`, the user's claims; RLS applies), and the
//! writes a frontend makes through it: submit a session, ask for a cancel,
//! feed an interactive session's input. Used by the API, the CLI, the dev
//! demo and the benchmark, so they all write exactly as a frontend does.

use super::{Sql, SqlTx, Transact};
use uuid::Uuid;

use super::limits::{self, Admission, Caller, Limits};
use crate::model::Request;

/// Begins a transaction as PostgREST runs a request of `user`: role
/// `authenticated` and the user's JWT claims.
pub(crate) async fn as_user<C: Transact>(client: &mut C, user: Uuid) -> Result<C::Tx<'_>, tokio_postgres::Error> {
    let tx = client.begin().await?;
    become_user(&tx, user).await?;
    Ok(tx)
}

/// The rest of `tx` runs as PostgREST runs a request of `user`.
async fn become_user(tx: &impl Sql, user: Uuid) -> Result<(), tokio_postgres::Error> {
    tx.batch("set local role authenticated").await?;
    let claims = serde_json::json!({"sub": user.to_string(), "role": "authenticated", "aud": "authenticated"});
    tx.exec("select set_config('request.jwt.claims', $1, true)", &[&claims.to_string()]).await?;
    Ok(())
}

/// Inserts a pending session for `user`, under RLS, exactly as a frontend's
/// insert. Returns its id.
pub async fn submit(
    client: &mut tokio_postgres::Client,
    user: Uuid,
    req: &Request,
) -> Result<Uuid, tokio_postgres::Error> {
    let admitted = submit_admitted(client, user, req, None).await?;
    Ok(admitted.expect("no limits, nothing refused"))
}

/// [`submit`], admitted first, in the same transaction, by `gate`'s limits
/// (its caller's sessions at once, then a token from its bucket; see
/// [`limits::admit`]). The bucket's row stays locked until the insert
/// commits, so one caller's concurrent requests, on any node, are decided
/// one after another, each counting the sessions inserted before it. A
/// client address's session is tagged with it, to count against it.
/// `Err(admission)`: refused, nothing written.
pub(crate) async fn submit_admitted(
    client: &mut impl Transact,
    user: Uuid,
    req: &Request,
    gate: Option<(Caller<'_>, Limits)>,
) -> Result<Result<Uuid, Admission>, tokio_postgres::Error> {
    let tx = client.begin().await?;
    if let Some((caller, l)) = gate {
        let admission = limits::admit(&tx, caller, l).await?;
        if admission != Admission::Admitted {
            return Ok(Err(admission));
        }
    }
    become_user(&tx, user).await?;
    let id = insert(&tx, req).await?;
    if let Some((Caller::Client(address), _)) = gate {
        // The tag is execbox's own record, not the user's to write.
        tx.batch("reset role").await?;
        limits::tag_client(&tx, id, address).await?;
    }
    tx.commit().await?;
    Ok(Ok(id))
}

/// The insert of a session's row, as the user `tx` runs as.
async fn insert(tx: &impl Sql, req: &Request) -> Result<Uuid, tokio_postgres::Error> {
    let row = tx
        .fetch_one(
            "insert into public.backend_execution_sessions
               (language, code, stdin, args, files, timeout_ms, memory_limit_mb, interactive, room_id, session_name,
                mode, tests, runs, compile_timeout_ms, compile_memory_limit_mb, cpu_time_limit_ms,
                compile_cpu_time_limit_ms, cases, checker, checker_code, checker_language, checker_abs_tolerance,
                checker_rel_tolerance, stop_on_failure)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
                     $22, $23, $24) returning id",
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
                &req.compile_timeout_ms,
                &req.compile_memory_limit_mb,
                &req.cpu_time_limit_ms,
                &req.compile_cpu_time_limit_ms,
                &req.cases,
                &req.checker,
                &req.checker_code,
                &req.checker_language,
                &req.checker_abs_tolerance,
                &req.checker_rel_tolerance,
                &req.stop_on_failure,
            ],
        )
        .await?;
    Ok(row.get(0))
}

/// Asks for a cancel, as the owner.
pub(crate) async fn cancel(client: &mut impl Transact, user: Uuid, id: Uuid) -> Result<bool, tokio_postgres::Error> {
    let tx = as_user(client, user).await?;
    let n = tx
        .exec("update public.backend_execution_sessions set cancel_requested_at = now() where id = $1", &[&id])
        .await?;
    tx.commit().await?;
    Ok(n == 1)
}

/// Feeds an interactive session: stdin text, end of input or a signal.
pub(crate) async fn input(
    client: &mut impl Transact,
    user: Uuid,
    id: Uuid,
    event: &crate::model::InputEvent,
) -> Result<(), tokio_postgres::Error> {
    let (kind, data) = event.to_row();
    let tx = as_user(client, user).await?;
    tx.exec("insert into public.session_input (session_id, kind, data) values ($1, $2, $3)", &[&id, &kind, &data])
        .await?;
    tx.commit().await
}

/// The server's message for a database error, without the driver's wrapping.
pub(crate) fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => d.message().to_string(),
        None => crate::error_chain(e),
    }
}

/// Creates the anonymous user `id` in `auth.users` (as Supabase Auth marks
/// one: `is_anonymous`, provider `anonymous`) unless it exists, through the
/// one function an API node's role may call for it.
pub(crate) async fn ensure_anonymous(db: &impl Sql, id: Uuid) -> Result<(), tokio_postgres::Error> {
    db.exec("select execbox_private.ensure_anonymous_user($1)", &[&id]).await?;
    Ok(())
}

/// Creates a user in `auth.users` (the dev stack's user, as Supabase Auth
/// would sign one up) unless it exists.
pub(crate) async fn ensure_user(db: &impl Sql, id: Uuid, email: &str) -> Result<(), tokio_postgres::Error> {
    db.exec(
        "insert into auth.users (id, aud, role, email) values ($1, 'authenticated', 'authenticated', $2)
         on conflict (id) do nothing",
        &[&id, &email],
    )
    .await?;
    Ok(())
}
