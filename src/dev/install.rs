//! Offering to install what `execbox dev` needs from Debian's archive, when
//! it runs as root on Debian: asked on the terminal, or answered by `--yes`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::bail;

pub(crate) fn is_debian_root() -> bool {
    Path::new("/etc/debian_version").exists() && super::is_root()
}

/// Where a program is: on PATH, or in the system's sbin and bin (which a
/// user's PATH may lack).
pub(crate) fn which(cmd: &str) -> Option<std::path::PathBuf> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| "/".into());
    which::which(cmd).or_else(|_| which::which_in(cmd, Some("/usr/sbin:/sbin:/usr/bin:/bin"), cwd)).ok()
}

/// Whether a program is on PATH (or in the system's sbin/bin).
pub(crate) fn have(cmd: &str) -> bool {
    which(cmd).is_some()
}

/// Asks a yes/no question on the terminal; `assume_yes` answers for the user.
pub(crate) fn confirm(question: &str, assume_yes: bool) -> bool {
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

/// `apt-get install -y PACKAGE`, non-interactively.
pub(crate) fn apt_install(package: &str) -> anyhow::Result<()> {
    println!("==> apt-get install -y {package}");
    let apt = |args: &[&str]| {
        std::process::Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    if !(apt(&["update", "-qq"]) && apt(&["install", "-y", "-qq", package])) {
        bail!("installing {package} failed; fix: run `apt-get install -y {package}` and read its error");
    }
    Ok(())
}
