//! Everything execbox says to PostgreSQL.
//!
//! * [`listener`]: one dedicated connection that LISTENs for wake-ups;
//! * [`queue`]: claim, heartbeat, fenced finish, rescue of expired leases;
//! * [`logs`]: the batching writer, the only writer of `execution_logs`;
//! * [`containers`]: `container_instances` bookkeeping;
//! * [`migrate`]: applies `supabase/migrations`.

pub mod containers;
pub mod listener;
pub mod logs;
pub mod migrate;
pub mod queue;

use anyhow::Context;
use deadpool_postgres::{ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use crate::config::Secret;

/// A connection pool. Nothing connects until first use.
pub fn pool(url: &Secret, max_size: usize) -> anyhow::Result<Pool> {
    let pg: tokio_postgres::Config = url
        .expose()
        .parse()
        .context("DATABASE_URL is not a valid PostgreSQL connection string")?;
    let mgr = deadpool_postgres::Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(mgr)
        .max_size(max_size)
        .runtime(Runtime::Tokio1)
        .build()
        .context("cannot build the database pool")
}

/// One connection outside any pool, driven by a background task.
pub async fn connect(url: &Secret) -> anyhow::Result<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::connect(url.expose(), NoTls)
        .await
        .context("cannot connect to the database")?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "database connection closed");
        }
    });
    Ok(client)
}

/// A label value naming this database, so deployments (and test databases)
/// that share one Docker engine never touch each other's containers.
pub async fn scope(client: &tokio_postgres::Client) -> anyhow::Result<String> {
    // The cluster's system identifier tells apart clusters whose databases
    // share a name (every Supabase project's is `postgres`). Where a managed
    // service denies pg_control_system(), the server address stands in.
    let row = match client
        .query_one(
            "select current_database()::text, (select system_identifier::text from pg_control_system())",
            &[],
        )
        .await
    {
        Ok(row) => row,
        Err(_) => client
            .query_one(
                "select current_database()::text,
                        coalesce(host(inet_server_addr()), 'local') || ':' || coalesce(inet_server_port(), 0)",
                &[],
            )
            .await
            .context("cannot identify the database")?,
    };
    let (db, cluster): (String, String) = (row.get(0), row.get(1));
    Ok(format!("{db}@{cluster}"))
}
