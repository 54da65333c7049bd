//! When the deployment asks for gVisor (`EXECBOX_ISOLATION=gvisor`, or a
//! runtime's own `isolation`) and the engine `execbox dev` manages lacks
//! it: on Debian as root, offering to install Debian's `runsc` and to
//! register it in `/etc/docker/daemon.json` (with `--network=none`), then
//! reloading the engine; elsewhere, the sentence that says how.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};

use super::install::{apt_install, confirm, have, is_debian_root};
use crate::config::Limits;
use crate::runtimes::Runtimes;
use crate::sandbox::{walls, Engine};

const DAEMON_JSON: &str = "/etc/docker/daemon.json";

/// Returns once the engine can build every wall the configuration needs.
pub(crate) async fn ensure(
    engine: &Engine,
    runtimes: &Runtimes,
    limits: &Limits,
    assume_yes: bool,
) -> anyhow::Result<()> {
    let needed = walls::needed(runtimes, limits);
    let Some(why) = walls::missing(&needed, &engine.oci_runtimes().await?, limits) else { return Ok(()) };
    let question = "This configuration runs sessions under gVisor, which the Docker engine lacks. \
                    Install Debian's runsc and register it with the engine now?";
    if !is_debian_root() || !confirm(question, assume_yes) {
        bail!(why);
    }
    if !have("runsc") {
        apt_install("runsc")?;
    }
    let path = Path::new(DAEMON_JSON);
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let new =
        register(&old, &limits.gvisor_runtime).with_context(|| format!("{DAEMON_JSON} is not JSON; fix it by hand"))?;
    std::fs::create_dir_all("/etc/docker")?;
    std::fs::write(path, new).with_context(|| format!("cannot write {DAEMON_JSON}"))?;
    println!("==> registered {} in {DAEMON_JSON}; reloading dockerd", limits.gvisor_runtime);
    // dockerd reloads its runtimes on SIGHUP.
    for pid in dockerd_pids() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGHUP);
    }
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if walls::missing(&needed, &engine.oci_runtimes().await?, limits).is_none() {
            return Ok(());
        }
    }
    bail!("{why} (registered in {DAEMON_JSON}, but the engine did not pick it up; restart dockerd)")
}

/// `daemon.json`'s text with gVisor registered as `name`, everything else kept.
fn register(daemon_json: &str, name: &str) -> anyhow::Result<String> {
    let mut conf: serde_json::Value =
        if daemon_json.trim().is_empty() { serde_json::json!({}) } else { serde_json::from_str(daemon_json)? };
    let Some(obj) = conf.as_object_mut() else { bail!("not a JSON object") };
    let runtimes = obj.entry("runtimes").or_insert_with(|| serde_json::json!({}));
    let Some(runtimes) = runtimes.as_object_mut() else { bail!("`runtimes` is not an object") };
    runtimes.insert(name.into(), serde_json::json!({"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none"]}));
    Ok(serde_json::to_string_pretty(&conf)? + "\n")
}

/// The process ids of every dockerd on this machine.
fn dockerd_pids() -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "dockerd"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gvisor_is_registered_beside_what_daemon_json_holds() {
        let runsc = serde_json::json!({"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none"]});
        #[rustfmt::skip]
        let table: &[(&str, serde_json::Value)] = &[
            ("", serde_json::json!({"runtimes": {"runsc": runsc}})),
            ("{\"log-level\": \"warn\"}", serde_json::json!({"log-level": "warn", "runtimes": {"runsc": runsc}})),
            ("{\"runtimes\": {\"crun\": {\"path\": \"/usr/bin/crun\"}}}",
             serde_json::json!({"runtimes": {"crun": {"path": "/usr/bin/crun"}, "runsc": runsc}})),
        ];
        for (old, want) in table {
            let new: serde_json::Value = serde_json::from_str(&register(old, "runsc").unwrap()).unwrap();
            assert_eq!(&new, want, "{old}");
        }
        assert!(register("[1]", "runsc").is_err());
        assert!(register("{\"runtimes\": 3}", "runsc").is_err());
        assert!(register("{not json", "runsc").is_err());
    }
}
