//! `container_instances`: what the dashboard shows about containers. Purely
//! informational; ownership of real containers is carried by Docker labels.

use super::Sql;
use uuid::Uuid;

/// Records a container that is running the session; returns the row id.
pub(crate) async fn started(
    db: &impl Sql,
    session_id: Uuid,
    attempt: i32,
    worker_id: &str,
    container_id: &str,
    image: &str,
) -> Result<Uuid, tokio_postgres::Error> {
    let row = db
        .fetch_one(
            "insert into public.container_instances (session_id, attempt, worker_id, container_id, image, status, started_at)
             values ($1, $2, $3, $4, $5, 'running', now()) returning id",
            &[&session_id, &attempt, &worker_id, &container_id, &image],
        )
        .await?;
    Ok(row.get(0))
}

/// The container's end, in one write: its exit (when known) and, when it
/// is already gone, its removal.
pub(crate) async fn ended(
    db: &impl Sql,
    row: Uuid,
    exit: Option<(Option<i32>, bool)>,
    removed: bool,
) -> Result<(), tokio_postgres::Error> {
    let (code, oom) = (exit.and_then(|e| e.0), exit.map(|e| e.1));
    db.exec(
        "update public.container_instances
             set status = case when $4 then 'removed' else 'exited' end,
                 exit_code = coalesce($2, exit_code), oom_killed = coalesce($3, oom_killed),
                 finished_at = coalesce(finished_at, now()),
                 removed_at = case when $4 then coalesce(removed_at, now()) else removed_at end
             where id = $1",
        &[&row, &code, &oom, &removed],
    )
    .await?;
    Ok(())
}

/// Marks containers removed, by Docker id (also used by the reaper, which
/// knows nothing but the id).
pub(crate) async fn removed(db: &impl Sql, container_id: &str) -> Result<(), tokio_postgres::Error> {
    db.exec(
        "update public.container_instances
         set status = 'removed', removed_at = now(), finished_at = coalesce(finished_at, now())
         where container_id = $1 and removed_at is null",
        &[&container_id],
    )
    .await?;
    Ok(())
}
