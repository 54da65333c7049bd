//! `container_instances`: what the dashboard shows about containers. Purely
//! informational; ownership of real containers is carried by Docker labels.

use tokio_postgres::GenericClient;
use uuid::Uuid;

/// Records a container that is running the session; returns the row id.
pub async fn started(
    db: &impl GenericClient,
    session_id: Uuid,
    attempt: i32,
    worker_id: &str,
    container_id: &str,
    image: &str,
) -> Result<Uuid, tokio_postgres::Error> {
    let row = db
        .query_one(
            "insert into public.container_instances (session_id, attempt, worker_id, container_id, image, status, started_at)
             values ($1, $2, $3, $4, $5, 'running', now()) returning id",
            &[&session_id, &attempt, &worker_id, &container_id, &image],
        )
        .await?;
    Ok(row.get(0))
}

pub async fn exited(
    db: &impl GenericClient,
    row: Uuid,
    exit_code: Option<i32>,
    oom_killed: bool,
) -> Result<(), tokio_postgres::Error> {
    db.execute(
        "update public.container_instances
         set status = 'exited', exit_code = $2, oom_killed = $3, finished_at = coalesce(finished_at, now())
         where id = $1",
        &[&row, &exit_code, &oom_killed],
    )
    .await?;
    Ok(())
}

/// Marks containers removed, by Docker id (also used by the reaper, which
/// knows nothing but the id).
pub async fn removed(db: &impl GenericClient, container_id: &str) -> Result<(), tokio_postgres::Error> {
    db.execute(
        "update public.container_instances
         set status = 'removed', removed_at = now(), finished_at = coalesce(finished_at, now())
         where container_id = $1 and removed_at is null",
        &[&container_id],
    )
    .await?;
    Ok(())
}
