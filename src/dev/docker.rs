//! Making sure a Docker engine answers before `execbox dev` needs one, and
//! saying exactly what to do when none does (on Debian as root: offering to
//! install and start Debian's engine).

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};

use super::install::{apt_install, confirm, have, is_debian_root};
use crate::sandbox::Engine;

/// Returns once the engine answers, or fails with one sentence and the fix.
pub(crate) async fn ensure(engine: &Engine, assume_yes: bool, state_dir: &Path) -> anyhow::Result<()> {
    let err = match engine.ping().await {
        Ok(()) => return Ok(()),
        Err(e) => crate::error_chain(&e),
    };
    if err.contains("Permission denied") || err.contains("permission denied") {
        bail!("the Docker engine refused this user (permission denied on its socket); fix: `sudo usermod -aG docker $USER` and log in again, or run as root");
    }
    if !is_debian_root() {
        bail!("no Docker engine answers ({err}); fix: install Docker and start it (Debian: `apt-get install -y docker.io && dockerd &`), or set EXECBOX_DOCKER_HOST");
    }
    let install = !have("dockerd");
    let question = if install {
        "No Docker engine here. Install Debian's docker.io and start dockerd now?"
    } else {
        "dockerd is installed but not running. Start it now?"
    };
    if !confirm(question, assume_yes) {
        bail!(
            "no Docker engine answers; fix: {}`dockerd &` (or run `execbox dev --yes` to let execbox do it)",
            if install { "`apt-get install -y docker.io`, then " } else { "" }
        );
    }
    if install {
        apt_install("docker.io")?;
    }
    let log = state_dir.join("dockerd.log");
    println!("==> starting dockerd (log: {})", log.display());
    let out = std::fs::File::create(&log).with_context(|| format!("cannot write {}", log.display()))?;
    std::process::Command::new("setsid")
        .arg("dockerd")
        .stdout(out.try_clone()?)
        .stderr(out)
        .stdin(std::process::Stdio::null())
        .spawn()
        .context("cannot start dockerd")?;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if engine.ping().await.is_ok() {
            return Ok(());
        }
    }
    bail!("dockerd did not come up within 30 s; fix: read {}", log.display())
}
