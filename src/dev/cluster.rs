//! A project-local PostgreSQL cluster made from the machine's own server
//! binaries: `execbox dev` keeps one in `.execbox/pg`, the integration tests
//! one in `target/`. Started with `wal_level=logical` (what Realtime needs),
//! trust authentication and loopback only — for local use, never production.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{bail, Context};

#[derive(Debug, Clone)]
pub struct Cluster {
    pub dir: PathBuf,
    pub port: u16,
    bindir: PathBuf,
    /// PostgreSQL refuses to run as root: then every server command runs as
    /// the `postgres` user.
    as_postgres: bool,
}

/// Where the server binaries are: `EXECBOX_PG_BINDIR` if set (and only
/// there), else a directory on PATH holding `initdb`, `pg_ctl` and
/// `postgres`, else the newest `/usr/lib/postgresql/*/bin` (that parent can
/// be moved with `EXECBOX_PG_SYSTEM_DIR`, for unusual installs and tests).
/// The server binaries, offering (Debian, root) to install Debian's
/// PostgreSQL when there are none.
pub(crate) fn ensure_bindir(assume_yes: bool) -> anyhow::Result<PathBuf> {
    use super::install::{apt_install, confirm, is_debian_root};
    let missing = match find_bindir() {
        Ok(dir) => return Ok(dir),
        Err(e) => e,
    };
    if std::env::var_os("EXECBOX_PG_BINDIR").is_some() || !is_debian_root() {
        return Err(missing);
    }
    if !confirm("PostgreSQL is not installed. Install Debian's postgresql now?", assume_yes) {
        bail!("{missing}; or run `execbox dev --yes` to let execbox install it");
    }
    apt_install("postgresql")?;
    find_bindir()
}

pub(crate) fn find_bindir() -> anyhow::Result<PathBuf> {
    let complete = |d: &Path| ["initdb", "pg_ctl", "postgres"].iter().all(|b| d.join(b).is_file());
    if let Some(dir) = std::env::var_os("EXECBOX_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        if complete(&dir) {
            return Ok(dir);
        }
        bail!(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) are not in EXECBOX_PG_BINDIR={}; fix: point it at a PostgreSQL bin directory, or unset it",
            dir.display()
        );
    }
    let on_path = which::which_all("postgres").into_iter().flatten().filter_map(|p| p.parent().map(Path::to_path_buf));
    if let Some(d) = on_path.into_iter().find(|d| complete(d)) {
        return Ok(d);
    }
    let system =
        std::env::var_os("EXECBOX_PG_SYSTEM_DIR").map(PathBuf::from).unwrap_or_else(|| "/usr/lib/postgresql".into());
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(&system)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path().join("bin"))))
        .filter(|(_, d)| complete(d))
        .collect();
    found.sort();
    match found.pop() {
        Some((_, d)) => Ok(d),
        None => bail!(
            "PostgreSQL server binaries were not found on PATH or in {}/*/bin; fix: apt-get install -y postgresql (or set EXECBOX_PG_BINDIR)",
            system.display()
        ),
    }
}

impl Cluster {
    /// A cluster kept in `dir` (created on first start) on 127.0.0.1:`port`.
    pub fn new(dir: &Path, port: u16) -> anyhow::Result<Cluster> {
        let bindir = find_bindir()?;
        let dir = std::path::absolute(dir).with_context(|| format!("bad data directory {}", dir.display()))?;
        let dir = dir.as_path();
        let as_postgres = super::is_root();
        let dir = if as_postgres { reachable_by_postgres(dir)? } else { dir.to_path_buf() };
        Ok(Cluster { dir, port, bindir, as_postgres })
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn cmd(&self, bin: &str) -> Command {
        let path = self.bindir.join(bin);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    pub(crate) fn is_initialized(&self) -> bool {
        self.dir.join("PG_VERSION").is_file()
    }

    pub(crate) fn is_running(&self) -> bool {
        self.cmd("pg_ctl").arg("-D").arg(&self.dir).arg("status").output().map(|o| o.status.success()).unwrap_or(false)
    }

    /// Port of the running server, from `postmaster.pid`.
    fn running_port(&self) -> Option<u16> {
        let pid = std::fs::read_to_string(self.dir.join("postmaster.pid")).ok()?;
        pid.lines().nth(3)?.trim().parse().ok()
    }

    /// Initializes (first time) and starts the cluster, or reuses it when it
    /// already runs. Returns true when this call started the server.
    pub fn start(&self) -> anyhow::Result<bool> {
        if !self.is_initialized() {
            self.init()?;
        }
        if self.is_running() {
            match self.running_port() {
                Some(p) if p == self.port => return Ok(false),
                Some(p) => bail!(
                    "the cluster in {} already runs on port {p}, not {}; fix: stop it ({}/pg_ctl -D {} stop) or use port {p}",
                    self.dir.display(),
                    self.port,
                    self.bindir.display(),
                    self.dir.display()
                ),
                None => return Ok(false),
            }
        }
        if TcpListener::bind(("127.0.0.1", self.port)).is_err() {
            bail!(
                "port {} is taken by another program; fix: stop that program, or choose another port with EXECBOX_DEV_PORT",
                self.port
            );
        }
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c wal_level=logical -c max_connections=300",
            self.port,
            self.dir.display()
        );
        let out = self
            .cmd("pg_ctl")
            .arg("-D")
            .arg(&self.dir)
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "60", "-o", &opts, "start"])
            .output()
            .context("cannot run pg_ctl")?;
        if !out.status.success() {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            bail!(
                "{}",
                explain("PostgreSQL did not start", &out, &tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
            );
        }
        Ok(true)
    }

    fn init(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir).with_context(|| format!("cannot create {}", self.dir.display()))?;
        if self.as_postgres {
            let ok = Command::new("chown").arg("postgres:postgres").arg(&self.dir).status()?.success()
                && Command::new("chmod").arg("700").arg(&self.dir).status()?.success();
            if !ok {
                bail!("cannot hand {} to the postgres user; fix: check that the user exists (apt-get install -y postgresql)", self.dir.display());
            }
        }
        let out = self
            .cmd("initdb")
            .arg("-D")
            .arg(&self.dir)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"])
            .output()
            .context("cannot run initdb")?;
        if !out.status.success() {
            bail!("{}", explain("initdb failed", &out, ""));
        }
        Ok(())
    }

    pub(crate) fn stop(&self) -> anyhow::Result<()> {
        let out = self.cmd("pg_ctl").arg("-D").arg(&self.dir).args(["-m", "fast", "-w", "stop"]).output()?;
        if !out.status.success() && self.is_running() {
            bail!("{}", explain("PostgreSQL did not stop", &out, ""));
        }
        Ok(())
    }
}

/// One sentence plus the fix, from a failed server command.
fn explain(what: &str, out: &Output, log: &str) -> String {
    let text = format!("{}\n{}\n{log}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if text.contains("No space left on device") {
        format!("{what}: the disk is full; fix: free some space (df -h) and run this again")
    } else if text.contains("Address already in use") {
        format!("{what}: its port is taken by another program; fix: stop that program or set EXECBOX_DEV_PORT")
    } else if text.contains("Permission denied") {
        format!(
            "{what}: permission denied; fix: make the data directory's parents readable by the postgres user\n{}",
            text.trim()
        )
    } else {
        format!("{what}:\n{}", text.trim())
    }
}

/// As root, the server runs as `postgres`, which must reach the data
/// directory. A checkout under a private home (0700) cannot host it: the data
/// then lives in /var/tmp under a name derived from the wanted path, so the
/// same checkout finds the same cluster again.
fn reachable_by_postgres(dir: &Path) -> anyhow::Result<PathBuf> {
    let parent = dir.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let ok = Command::new("runuser")
        .args(["-u", "postgres", "--", "test", "-x"])
        .arg(parent)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if ok {
        return Ok(dir.to_path_buf());
    }
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    dir.hash(&mut h);
    Ok(PathBuf::from(format!("/var/tmp/execbox-pg-{:016x}", h.finish())))
}
