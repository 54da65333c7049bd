//! Making sure a Docker engine answers before `execbox dev` needs one, and
//! saying exactly what to do when none does (on Debian as root: offering to
//! install and start Debian's engine).

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::sandbox::Engine;

fn is_debian_root() -> bool {
    Path::new("/etc/debian_version").exists() && super::is_root()
}

fn have(cmd: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).chain(["/usr/sbin".into(), "/usr/bin".into()]).any(|d| d.join(cmd).is_file())
}

/// Asks a yes/no question on the terminal; `assume_yes` answers for the user.
fn confirm(question: &str, assume_yes: bool) -> bool {
    if assume_yes {
        return true;
    }
    if !std::io::stdin().is_terminal() {
        return false;
    }
    print!("{question} [Y/n] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "" | "y" | "yes")
}

/// Returns once the engine answers, or fails with one sentence and the fix.
pub async fn ensure(engine: &Engine, assume_yes: bool, state_dir: &Path) -> anyhow::Result<()> {
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
        println!("==> apt-get install -y docker.io");
        let ok = std::process::Command::new("apt-get").args(["update", "-qq"]).status()?.success()
            && std::process::Command::new("apt-get")
                .args(["install", "-y", "-qq", "docker.io"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()?
                .success();
        if !ok {
            bail!("installing docker.io failed; fix: run `apt-get install -y docker.io` and read its error");
        }
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
