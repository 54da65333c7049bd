//! What `execbox bench` reads and writes to measure: the statements of its
//! measurements, kept with the rest of execbox's SQL.

use uuid::Uuid;

use super::Sql;

/// Starts hearing `channel` on a listening connection.
pub(crate) async fn listen(db: &impl Sql, channel: &str) -> Result<(), tokio_postgres::Error> {
    db.batch(&format!("LISTEN {channel}")).await
}

/// A follower's state read, as the bench times one statement's round trip.
pub(crate) async fn state_read(db: &impl Sql, id: Uuid, user: Option<Uuid>) -> Result<(), tokio_postgres::Error> {
    db.fetch(
        "select status, end_reason, exit_code, error, usage from public.backend_execution_sessions
         where id = $1 and ($2::uuid is null or user_id = $2)",
        &[&id, &user],
    )
    .await?;
    Ok(())
}

/// A session's status and result.
pub(crate) async fn status_and_result(
    db: &impl Sql,
    id: Uuid,
) -> Result<(String, Option<serde_json::Value>), tokio_postgres::Error> {
    let row =
        db.fetch_one("select status, result from public.backend_execution_sessions where id = $1", &[&id]).await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// A session's first log line.
pub(crate) async fn first_line(db: &impl Sql, id: Uuid) -> Result<String, tokio_postgres::Error> {
    db.fetch_one("select message from public.execution_logs where session_id = $1 and seq = 1", &[&id])
        .await?
        .try_get(0)
}

/// How many log rows a session has, and the seconds between the first and
/// the last one's commit.
pub(crate) async fn rows_and_span(db: &impl Sql, id: Uuid) -> Result<(i64, f64), tokio_postgres::Error> {
    let row = db
        .fetch_one(
            "select count(*), coalesce(extract(epoch from max(created_at) - min(created_at))::float8, 0)
             from public.execution_logs where session_id = $1",
            &[&id],
        )
        .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// How many Realtime broadcasts of log batches a session made; None
/// without Realtime's table.
pub(crate) async fn broadcasts(db: &impl Sql, id: Uuid) -> Result<Option<i64>, tokio_postgres::Error> {
    db.fetch_one(
        "select case when to_regclass('realtime.messages') is null then null
                else (select count(*) from realtime.messages where topic = 'session:' || $1::text and event = 'logs') end",
        &[&id.to_string()],
    )
    .await?
    .try_get(0)
}

/// When a session's first log broadcast was written (seconds since the
/// epoch, the database's clock).
pub(crate) async fn first_broadcast_at(db: &impl Sql, id: Uuid) -> Result<Option<f64>, tokio_postgres::Error> {
    db.fetch_one(
        "select extract(epoch from min(inserted_at) at time zone current_setting('TimeZone'))::float8
         from realtime.messages where topic = 'session:' || $1::text and event = 'logs'",
        &[&id.to_string()],
    )
    .await?
    .try_get(0)
}

/// One log line in its own INSERT, as a naive worker writes them.
pub(crate) async fn insert_line(
    db: &impl Sql,
    id: Uuid,
    user: Uuid,
    seq: i32,
    message: &str,
) -> Result<(), tokio_postgres::Error> {
    db.exec(
        "insert into public.execution_logs (session_id, user_id, seq, stream, level, message)
         values ($1, $2, $3, 'stdout', 'info', $4)",
        &[&id, &user, &seq, &message],
    )
    .await?;
    Ok(())
}

/// The API nodes' connections to this database now.
pub(crate) async fn api_connections(db: &impl Sql) -> Result<i64, tokio_postgres::Error> {
    db.fetch_one(
        "select count(*) from pg_stat_activity
         where datname = current_database() and application_name = 'execbox api'",
        &[],
    )
    .await?
    .try_get(0)
}
