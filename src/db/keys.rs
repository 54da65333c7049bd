//! API keys (`execbox_api_keys`): made by the owner through
//! `create_api_key()` (under RLS, as a frontend would), listed and revoked
//! by the owner, and resolved to their owner by the API on every request (a
//! revoked key is refused at once). Only a key's sha256 is stored; the
//! lookup hashes in the database.

use super::{Sql, SqlTx, Transact};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Keys are `exb_` and 64 hex digits.
pub(crate) const PREFIX: &str = "exb_";

/// Whether a credential is shaped like an API key (not a JWT).
pub(crate) fn looks_like_key(credential: &str) -> bool {
    credential.starts_with(PREFIX)
}

/// The owner of a live key, noting its use (to the minute). None: unknown
/// or revoked.
pub(crate) async fn owner(db: &impl Sql, key: &str) -> Result<Option<Uuid>, tokio_postgres::Error> {
    let row = db
        .fetch_opt(
            "with k as (
               select id, user_id from public.execbox_api_keys
               where key_hash = encode(extensions.digest($1::text, 'sha256'), 'hex') and revoked_at is null
             ), used as (
               update public.execbox_api_keys a set last_used_at = now()
               from k where a.id = k.id and (a.last_used_at is null or a.last_used_at < now() - interval '1 minute')
             )
             select user_id from k",
            &[&key],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// A key as its owner lists it.
#[derive(Debug, Clone)]
pub(crate) struct KeyInfo {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) prefix: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) last_used_at: Option<DateTime<Utc>>,
    pub(crate) revoked_at: Option<DateTime<Utc>>,
}

/// Makes a key for `user`, as the user (RLS, `create_api_key`); the key.
pub(crate) async fn create(
    client: &mut impl Transact,
    user: Uuid,
    name: &str,
) -> Result<String, tokio_postgres::Error> {
    let tx = super::user::as_user(client, user).await?;
    let key: String = tx.fetch_one("select public.create_api_key($1)", &[&name]).await?.get(0);
    tx.commit().await?;
    Ok(key)
}

/// The user's keys, newest first, as the user sees them.
pub(crate) async fn list(client: &mut impl Transact, user: Uuid) -> Result<Vec<KeyInfo>, tokio_postgres::Error> {
    let tx = super::user::as_user(client, user).await?;
    let rows = tx
        .fetch(
            "select id, name, prefix, created_at, last_used_at, revoked_at from public.execbox_api_keys
             order by created_at desc",
            &[],
        )
        .await?;
    tx.commit().await?;
    rows.into_iter()
        .map(|r| {
            Ok(KeyInfo {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                prefix: r.try_get(2)?,
                created_at: r.try_get(3)?,
                last_used_at: r.try_get(4)?,
                revoked_at: r.try_get(5)?,
            })
        })
        .collect()
}

/// Revokes one of the user's keys; false if the user has no such live key.
pub(crate) async fn revoke(client: &mut impl Transact, user: Uuid, id: Uuid) -> Result<bool, tokio_postgres::Error> {
    let tx = super::user::as_user(client, user).await?;
    let n = tx
        .exec("update public.execbox_api_keys set revoked_at = now() where id = $1 and revoked_at is null", &[&id])
        .await?;
    tx.commit().await?;
    Ok(n == 1)
}
