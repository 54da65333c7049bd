//! What `execbox dev` keeps between runs in `.execbox/dev.json` (mode 0600):
//! the cluster's port, the dev user, and the secret that signs dev tokens.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::Secret;

/// No `Debug`: it holds a secret.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct DevState {
    pub port: u16,
    pub user_id: Uuid,
    jwt_secret: String,
}

impl DevState {
    /// A new state with a fresh user id and a random 256-bit secret.
    pub(crate) fn generate(port: u16) -> DevState {
        let secret: String = (0..2).map(|_| Uuid::new_v4().simple().to_string()).collect();
        DevState { port, user_id: Uuid::new_v4(), jwt_secret: secret }
    }

    pub(crate) fn jwt_secret(&self) -> Secret {
        Secret::new(self.jwt_secret.clone())
    }

    pub(crate) fn database_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub(crate) fn read(path: &Path) -> anyhow::Result<DevState> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is damaged; delete it to start over", path.display()))
    }

    pub(crate) fn write(&self, path: &Path) -> anyhow::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        f.write_all(serde_json::to_string_pretty(self)?.as_bytes())?;
        Ok(())
    }
}
