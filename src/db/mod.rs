//! Everything execbox says to PostgreSQL.
//!
//! * [`user`]: writes as a user under RLS (submit, cancel, input), as a
//!   frontend makes them through Supabase;
//! * [`follow`]: one session's rows as they are written;
//! * [`hub`]: a node's one LISTEN for progress, fanned out to followers;
//! * [`listener`]: one dedicated connection that LISTENs for wake-ups;
//! * [`queue`]: claim, heartbeat, fenced finish, rescue of expired leases;
//! * [`logs`]: the batching writer, the only writer of `execution_logs`;
//! * [`containers`]: `container_instances` bookkeeping;
//! * [`input`]: interactive input (`session_input`) to running programs;
//! * [`workers`]: workers' presence (`execbox_workers`);
//! * [`wakeups`]: whether LISTEN works on this address, checked;
//! * [`inspect`]: `execbox doctor`'s read-only questions;
//! * [`limits`]: the API's request limits, shared by every node;
//! * [`migrate`]: applies `supabase/migrations`;
//! * [`tls`]: TLS to the database;
//! * [`sql`]: how statements are sent (unnamed, so any pooler works), the
//!   pool, its connections and transactions.

pub(crate) mod bench;
pub(crate) mod containers;
pub(crate) mod follow;
pub(crate) mod hub;
pub(crate) mod input;
pub(crate) mod inspect;
pub(crate) mod judge0;
pub(crate) mod keys;
pub(crate) mod limits;
pub(crate) mod listener;
pub(crate) mod logs;
pub mod migrate;
pub(crate) mod queue;
pub(crate) mod sessions;
pub mod sql;
pub(crate) mod tls;
pub mod user;
pub mod wakeups;
pub(crate) mod workers;

use std::path::Path;

use anyhow::Context;
use deadpool_postgres::{ManagerConfig, RecyclingMethod, Runtime};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, Notification};

use crate::config::Secret;
pub(crate) use sql::{Conn, Param, Pool, Sql, SqlTx, Statements, Transact};

/// Where the database is and how to reach it (TLS per `sslmode`, see
/// [`tls`]). Cheap to clone; nothing connects until asked.
#[derive(Clone)]
pub struct Database {
    url: Secret,
    pg: tokio_postgres::Config,
    tls: tls::Connector,
    statements: Statements,
}

impl Database {
    pub fn new(url: Secret, ca_file: Option<&Path>) -> anyhow::Result<Database> {
        let pg: tokio_postgres::Config =
            url.expose().parse().context("DATABASE_URL is not a valid PostgreSQL connection string")?;
        Ok(Database { url, pg, tls: tls::connector(ca_file)?, statements: Statements::default() })
    }

    /// The database a configuration names, with its TLS settings.
    pub(crate) fn of(cfg: &crate::config::Config) -> anyhow::Result<Database> {
        Ok(Database::new(cfg.database_url.clone(), cfg.database_ca_file.as_deref())?
            .with_statements(cfg.database_statements))
    }

    /// The same database, its pools sending statements as `statements` says.
    pub(crate) fn with_statements(mut self, statements: Statements) -> Database {
        self.statements = statements;
        self
    }

    /// The same database, with connections named `name` in
    /// `pg_stat_activity` (which execbox process holds what).
    pub(crate) fn named(mut self, name: &str) -> Database {
        self.pg.application_name(name);
        self
    }

    /// The same server and credentials, another database (a PgBouncer's
    /// admin console is the database `pgbouncer`).
    pub(crate) fn on_database(mut self, name: &str) -> Database {
        self.pg.dbname(name);
        self
    }

    /// The parsed connection settings (host, port, database).
    pub(crate) fn pg_config(&self) -> &tokio_postgres::Config {
        &self.pg
    }

    pub(crate) fn url(&self) -> &Secret {
        &self.url
    }

    /// A connection pool of at most `max_size` connections.
    pub(crate) fn pool(&self, max_size: usize) -> anyhow::Result<Pool> {
        let mgr = deadpool_postgres::Manager::from_config(
            self.pg.clone(),
            self.tls.clone(),
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = deadpool_postgres::Pool::builder(mgr)
            .max_size(max_size)
            .runtime(Runtime::Tokio1)
            .build()
            .context("cannot build the database pool")?;
        Ok(Pool::new(pool, self.statements))
    }

    /// One connection outside any pool, driven by a background task.
    pub async fn connect(&self) -> anyhow::Result<Client> {
        Ok(self.connect_listening().await?.0)
    }

    /// One connection whose notifications (LISTEN) arrive on the returned
    /// channel; the channel closes when the connection does.
    pub(crate) async fn connect_listening(&self) -> anyhow::Result<(Client, mpsc::UnboundedReceiver<Notification>)> {
        let (client, mut conn) = self.pg.connect(self.tls.clone()).await.context("cannot connect to the database")?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
            while let Some(m) = messages.next().await {
                match m {
                    Ok(AsyncMessage::Notification(n)) => {
                        // Nobody listening any more is fine: keep driving
                        // the connection for the client's queries.
                        let _ = tx.send(n);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "database connection closed");
                        break;
                    }
                }
            }
        });
        Ok((client, rx))
    }
}

/// A label value naming this database, so deployments (and test databases)
/// that share one Docker engine never touch each other's containers.
pub(crate) async fn scope(client: &impl Sql) -> anyhow::Result<String> {
    // The cluster's system identifier tells apart clusters whose databases
    // share a name (every Supabase project's is `postgres`). Where a managed
    // service denies pg_control_system(), the server address stands in.
    let row = match client
        .fetch_one("select current_database()::text, (select system_identifier::text from pg_control_system())", &[])
        .await
    {
        Ok(row) => row,
        Err(_) => client
            .fetch_one(
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
