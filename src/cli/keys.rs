//! `execbox keys create|list|revoke`: a user's API keys, made, listed and
//! revoked as that user (under RLS, through `create_api_key()`), exactly as
//! a frontend would through the Supabase client.

use anyhow::{bail, Context};
use uuid::Uuid;

use super::commands::print_table;
use super::target::Target;
use crate::config::Config;
use crate::db::keys;

/// Makes a key and prints it (it is shown this once).
pub(crate) async fn create(cfg: &Config, user: Option<Uuid>, name: &str) -> anyhow::Result<()> {
    let target = Target::resolve(cfg, user)?;
    let user = target.require_user()?;
    let mut db = target.db.connect().await?;
    let key = keys::create(&mut db, user, name).await.context("create_api_key")?;
    println!("{key}");
    eprintln!("This key acts as user {user} until revoked; it is shown only now. Send it as `Authorization: Bearer <key>`, `X-Api-Key` or `X-Auth-Token`.");
    Ok(())
}

pub(crate) async fn list(cfg: &Config, user: Option<Uuid>) -> anyhow::Result<()> {
    let target = Target::resolve(cfg, user)?;
    let user = target.require_user()?;
    let mut db = target.db.connect().await?;
    let mut table = vec![["ID", "NAME", "PREFIX", "CREATED (UTC)", "LAST USED", "REVOKED"].map(String::from).to_vec()];
    let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_else(|| "-".into())
    };
    for k in keys::list(&mut db, user).await? {
        table.push(vec![
            k.id.to_string(),
            k.name,
            format!("{}...", k.prefix),
            when(Some(k.created_at)),
            when(k.last_used_at),
            when(k.revoked_at),
        ]);
    }
    print_table(&table);
    Ok(())
}

pub(crate) async fn revoke(cfg: &Config, user: Option<Uuid>, id: Uuid) -> anyhow::Result<()> {
    let target = Target::resolve(cfg, user)?;
    let user = target.require_user()?;
    let mut db = target.db.connect().await?;
    if !keys::revoke(&mut db, user, id).await? {
        bail!("user {user} has no live key {id}");
    }
    println!("revoked {id}");
    Ok(())
}
