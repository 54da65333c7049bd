//! What `execbox doctor` asks a database (and, where one answers, a
//! PgBouncer's admin console): read-only questions, each one statement.

use tokio_postgres::{Client, SimpleQueryMessage};

use super::Sql;

/// The server's version, e.g. `15.8`, and its number, e.g. 150008.
pub(crate) async fn server_version(db: &impl Sql) -> Result<(String, i32), tokio_postgres::Error> {
    let row = db
        .fetch_one("select current_setting('server_version'), current_setting('server_version_num')::int", &[])
        .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// The migrations recorded as applied, or None without the table.
pub(crate) async fn applied_migrations(db: &impl Sql) -> Result<Option<Vec<String>>, tokio_postgres::Error> {
    let exists: bool =
        db.fetch_one("select to_regclass('supabase_migrations.schema_migrations') is not null", &[]).await?.get(0);
    if !exists {
        return Ok(None);
    }
    let rows = db.fetch("select version from supabase_migrations.schema_migrations order by version", &[]).await?;
    Ok(Some(rows.into_iter().map(|r| r.get(0)).collect()))
}

/// Which of `names` exist as schemas.
pub(crate) async fn schemas_present(db: &impl Sql, names: &[String]) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = db.fetch("select nspname::text from pg_namespace where nspname = any($1::text[])", &[&names]).await?;
    Ok(rows.into_iter().map(|r| r.get(0)).collect())
}

/// The role connected, and whether it is a superuser.
pub(crate) async fn role(db: &impl Sql) -> Result<(String, bool), tokio_postgres::Error> {
    let row = db
        .fetch_one("select current_user::text, (select rolsuper from pg_roles where rolname = current_user)", &[])
        .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// For each (table, privilege): whether the connected role has it, on the
/// table or on some of its columns (grants may name columns); None where
/// the table does not exist.
pub(crate) async fn table_privileges(
    db: &impl Sql,
    wanted: &[(&str, &str)],
) -> Result<Vec<Option<bool>>, tokio_postgres::Error> {
    let tables: Vec<String> = wanted.iter().map(|(t, _)| t.to_string()).collect();
    let privileges: Vec<String> = wanted.iter().map(|(_, p)| p.to_string()).collect();
    let rows = db
        .fetch(
            "select case when to_regclass(w.t) is null then null
                         when w.p = 'DELETE' then has_table_privilege(w.t, w.p)
                         else has_any_column_privilege(w.t, w.p) end
             from unnest($1::text[], $2::text[]) with ordinality as w(t, p, i) order by w.i",
            &[&tables, &privileges],
        )
        .await?;
    rows.into_iter().map(|r| r.try_get(0)).collect()
}

/// Whether the connected role may act as `role` (`SET ROLE`).
pub(crate) async fn may_become(db: &impl Sql, role: &str) -> Result<Option<bool>, tokio_postgres::Error> {
    let row = db
        .fetch_one(
            "select case when exists (select 1 from pg_roles where rolname = $1)
                         then pg_has_role(current_user, $1, 'MEMBER') end",
            &[&role],
        )
        .await?;
    row.try_get(0)
}

/// The address and port the server says this connection reached it on
/// (None over a Unix socket).
pub(crate) async fn server_address(db: &impl Sql) -> Result<Option<(String, i32)>, tokio_postgres::Error> {
    let row = db.fetch_one("select host(inet_server_addr()), inet_server_port()", &[]).await?;
    Ok(row.try_get::<_, Option<String>>(0)?.zip(row.try_get::<_, Option<i32>>(1)?))
}

/// A PgBouncer admin console's pool mode for `database` (its own entry's
/// mode, else the default of `SHOW CONFIG`). The console speaks only the
/// simple protocol.
pub(crate) async fn pgbouncer_pool_mode(
    admin: &Client,
    database: &str,
) -> Result<Option<String>, tokio_postgres::Error> {
    let cell = |messages: &[SimpleQueryMessage], key: &str, key_column: &str, value_column: &str| {
        messages.iter().find_map(|m| match m {
            SimpleQueryMessage::Row(r) if r.get(key_column) == Some(key) => {
                r.get(value_column).filter(|v| !v.is_empty()).map(str::to_string)
            }
            _ => None,
        })
    };
    let databases = admin.simple_query("SHOW DATABASES").await?;
    if let Some(mode) = cell(&databases, database, "name", "pool_mode") {
        return Ok(Some(mode));
    }
    let config = admin.simple_query("SHOW CONFIG").await?;
    Ok(cell(&config, "pool_mode", "key", "value"))
}
