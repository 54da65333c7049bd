//! Which database and which user a client command acts on: DATABASE_URL (and
//! --user / EXECBOX_USER_ID), or else the `execbox dev` state found in
//! `.execbox/` of this directory or a parent.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use uuid::Uuid;

use crate::config::{Config, Secret};
use crate::db::Database;
use crate::dev::state::DevState;

#[derive(Clone)]
pub(crate) struct Target {
    pub db: Database,
    pub user: Option<Uuid>,
}

/// The nearest `.execbox/dev.json` from `start` upwards.
pub(crate) fn find_dev_state(start: &Path) -> Option<PathBuf> {
    start.ancestors().map(|d| d.join(".execbox").join("dev.json")).find(|p| p.is_file())
}

impl Target {
    /// A small hub of its own for following sessions (one listening
    /// connection, two for reads).
    pub(crate) fn hub(&self) -> anyhow::Result<crate::db::hub::Hub> {
        Ok(crate::db::hub::Hub::start(&self.db, self.db.pool(2)?))
    }

    /// `cfg` supplies TLS settings; its URL is used only when DATABASE_URL
    /// was really set.
    pub(crate) fn resolve(cfg: &Config, user: Option<Uuid>) -> anyhow::Result<Target> {
        let env_user = match std::env::var("EXECBOX_USER_ID") {
            Ok(u) if !u.is_empty() => Some(Uuid::parse_str(u.trim()).context("EXECBOX_USER_ID is not a uuid")?),
            _ => None,
        };
        let user = user.or(env_user);
        if let Ok(url) = std::env::var("DATABASE_URL") {
            if !url.is_empty() {
                let db = Database::new(Secret::new(url), cfg.database_ca_file.as_deref())?
                    .with_statements(cfg.database_statements);
                return Ok(Target { db, user });
            }
        }
        let cwd = std::env::current_dir()?;
        let Some(path) = find_dev_state(&cwd) else {
            bail!("no database to talk to: run `execbox dev` in this project first, or set DATABASE_URL");
        };
        let state = DevState::read(&path)?;
        Ok(Target { db: Database::new(Secret::new(state.database_url()), None)?, user: user.or(Some(state.user_id)) })
    }

    pub(crate) fn require_user(&self) -> anyhow::Result<Uuid> {
        match self.user {
            Some(u) => Ok(u),
            None => bail!("which user? pass --user <uuid> or set EXECBOX_USER_ID (the session is inserted as that user, under RLS)"),
        }
    }
}
