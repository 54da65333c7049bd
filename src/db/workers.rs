//! `execbox_workers`: each worker's presence, renewed with its heartbeat,
//! so any node (an API without a worker, an operator) can tell whether some
//! worker with a working Docker engine is alive.

use std::time::Duration;

use super::Sql;

/// What a worker says about itself.
#[derive(Debug, Clone)]
pub(crate) struct Presence<'a> {
    pub id: &'a str,
    pub hostname: &'a str,
    pub docker_ok: bool,
    pub running: usize,
    pub max_runs: usize,
    /// The runtimes its engine has images for (None: not known yet).
    pub runtimes: Option<&'a [String]>,
}

pub(crate) async fn beat(db: &impl Sql, p: &Presence<'_>) -> Result<(), tokio_postgres::Error> {
    db.exec(
        "insert into public.execbox_workers (id, hostname, version, docker_ok, running, max_runs, runtimes)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (id) do update
           set last_seen = now(), docker_ok = excluded.docker_ok, running = excluded.running,
               runtimes = excluded.runtimes",
        &[
            &p.id,
            &p.hostname,
            &env!("CARGO_PKG_VERSION"),
            &p.docker_ok,
            &(p.running as i32),
            &(p.max_runs as i32),
            &p.runtimes,
        ],
    )
    .await?;
    Ok(())
}

/// A worker that stops cleanly says goodbye; dead ones age out.
pub(crate) async fn leave(db: &impl Sql, id: &str) -> Result<(), tokio_postgres::Error> {
    db.exec("delete from public.execbox_workers where id = $1", &[&id]).await?;
    Ok(())
}

/// Forgets workers not seen for an hour.
pub(crate) async fn prune(db: &impl Sql) -> Result<u64, tokio_postgres::Error> {
    db.exec("delete from public.execbox_workers where last_seen < now() - interval '1 hour'", &[]).await
}

/// Workers seen within `fresh`: (alive, alive with a working Docker engine).
pub(crate) async fn alive(db: &impl Sql, fresh: Duration) -> Result<(i64, i64), tokio_postgres::Error> {
    let row = db
        .fetch_one(
            "select count(*), count(*) filter (where docker_ok) from public.execbox_workers
             where last_seen > now() - $1::bigint * interval '1 millisecond'",
            &[&(fresh.as_millis() as i64)],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

/// Ids of workers seen within `fresh`.
pub(crate) async fn alive_ids(db: &impl Sql, fresh: Duration) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = db
        .fetch(
            "select id from public.execbox_workers where last_seen > now() - $1::bigint * interval '1 millisecond'",
            &[&(fresh.as_millis() as i64)],
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.get(0)).collect())
}

/// The runtimes some live worker with a working engine can run; None when
/// one of them does not say (it may run any).
pub(crate) async fn live_runtimes(
    db: &impl Sql,
    fresh: Duration,
) -> Result<Option<Vec<String>>, tokio_postgres::Error> {
    let row = db
        .fetch_one(
            "select bool_or(runtimes is null),
                    coalesce(array_agg(distinct r) filter (where r is not null), '{}')
               from public.execbox_workers w
               left join lateral unnest(w.runtimes) r on true
              where w.docker_ok and w.last_seen > now() - $1::bigint * interval '1 millisecond'",
            &[&(fresh.as_millis() as i64)],
        )
        .await?;
    let any_unsaid: Option<bool> = row.try_get(0)?;
    Ok(if any_unsaid == Some(true) { None } else { Some(row.try_get(1)?) })
}

/// How much work waits and how fast the live workers get through it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Backlog {
    /// Sessions pending now.
    pub depth: i64,
    /// Runs the live workers with a working engine take at once.
    pub slots: i64,
    /// The mean seconds from claim to end of the sessions that ended in the
    /// last ten minutes (the newest 200); None without any.
    pub mean_run_s: Option<f64>,
}

/// The queue's depth against the live workers' measured throughput.
pub(crate) async fn backlog(db: &impl Sql, fresh: Duration) -> Result<Backlog, tokio_postgres::Error> {
    let row = db
        .fetch_one(
            "select (select count(*) from public.backend_execution_sessions where status = 'pending'),
                    (select coalesce(sum(max_runs), 0)::bigint from public.execbox_workers
                      where docker_ok and last_seen > now() - $1::bigint * interval '1 millisecond'),
                    (select avg(extract(epoch from r.finished_at - r.started_at))::float8
                       from (select finished_at, started_at from public.backend_execution_sessions
                              where created_at > now() - interval '10 minutes'
                                and started_at is not null and finished_at is not null
                              order by created_at desc limit 200) r)",
            &[&(fresh.as_millis() as i64)],
        )
        .await?;
    Ok(Backlog { depth: row.try_get(0)?, slots: row.try_get(1)?, mean_run_s: row.try_get(2)? })
}
