//! `execbox migrate`: applies the embedded `supabase/migrations` in order, for
//! deployments without the Supabase CLI.
//!
//! Applied versions are recorded where the Supabase CLI records them
//! (`supabase_migrations.schema_migrations`), so `supabase db push` and
//! `execbox migrate` agree on what a database already has. Each migration
//! runs in its own transaction, which first takes a transaction-scoped
//! advisory lock and then checks whether it is still pending: two migrators
//! never apply one twice, and nothing outlives a transaction, so migrations
//! run through a transaction pooler too.

use anyhow::Context;
use tokio_postgres::Client;

use super::{Sql, Transact};

/// The Supabase stand-in for plain PostgreSQL (roles, `auth`, `extensions`,
/// the Realtime publication). Never needed on a real Supabase project.
pub const SUPABASE_FIXTURE: &str = include_str!("../../supabase/fixture/supabase_base.sql");

/// (version_name, sql), sorted by version.
pub fn embedded() -> &'static [(&'static str, &'static str)] {
    crate::embedded::MIGRATIONS
}

/// Splits `20261122000000_execution_core` into ("20261122000000", "execution_core").
fn split_name(stem: &str) -> (&str, &str) {
    stem.split_once('_').unwrap_or((stem, ""))
}

/// Applies the fixture (idempotent).
pub async fn apply_fixture(client: &Client) -> anyhow::Result<()> {
    client.batch(SUPABASE_FIXTURE).await.context("applying the Supabase base fixture")
}

/// Applies every migration not applied yet; returns the versions applied.
pub async fn run(client: &mut Client) -> anyhow::Result<Vec<String>> {
    client
        .batch(
            "create schema if not exists supabase_migrations;
             create table if not exists supabase_migrations.schema_migrations (
               version text primary key, statements text[], name text
             );",
        )
        .await
        .context("preparing supabase_migrations.schema_migrations")?;
    let mut applied = Vec::new();
    for (stem, sql) in embedded() {
        let (version, name) = split_name(stem);
        let tx = client.begin().await?;
        tx.exec("select pg_advisory_xact_lock(7406385201)", &[]).await?;
        let done = tx
            .fetch_opt("select 1 from supabase_migrations.schema_migrations where version = $1", &[&version])
            .await?
            .is_some();
        if done {
            continue;
        }
        tx.batch(sql).await.with_context(|| format!("migration {stem} failed"))?;
        tx.exec(
            "insert into supabase_migrations.schema_migrations (version, name, statements) values ($1, $2, array[$3])",
            &[&version, &name, sql],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, name, "applied migration");
        applied.push(version.to_string());
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    #[test]
    fn embedded_migrations_are_sorted_and_named() {
        let m = super::embedded();
        assert!(!m.is_empty());
        for w in m.windows(2) {
            assert!(w[0].0 < w[1].0);
        }
        for (stem, _) in m {
            let (v, n) = super::split_name(stem);
            assert_eq!(v.len(), 14, "{stem}: versions are YYYYMMDDHHMMSS");
            assert!(v.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty(), "{stem}");
        }
    }
}
