//! THE sandbox policy: the one function that turns a run request into a
//! hardened container configuration. Every container execbox starts is built
//! here; the README's "Resource limits" section documents the same list.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, ResourcesUlimits};
use uuid::Uuid;

use crate::config::Limits;
use crate::model::Isolation;

/// Label every execbox container carries; the reaper only touches these.
pub(crate) const LABEL_MANAGED: &str = "execbox.managed";
pub(crate) const LABEL_SESSION: &str = "execbox.session_id";
pub(crate) const LABEL_ATTEMPT: &str = "execbox.attempt";
pub(crate) const LABEL_WORKER: &str = "execbox.worker_id";
/// Which database the session lives in, so that deployments (or test
/// databases) sharing one Docker engine never reap each other's containers.
pub(crate) const LABEL_SCOPE: &str = "execbox.scope";
/// A warm container, made before any session: it belongs to its worker.
pub(crate) const LABEL_POOL: &str = "execbox.pool";

/// Where the submitted files are written (a tmpfs).
pub(crate) const WORK_DIR: &str = "/work";

/// The labels of a container that runs one session's attempt.
pub(crate) fn session_labels(scope: &str, session: Uuid, attempt: i32, worker_id: &str) -> HashMap<String, String> {
    HashMap::from([
        (LABEL_MANAGED.to_string(), "true".to_string()),
        (LABEL_SCOPE.to_string(), scope.to_string()),
        (LABEL_SESSION.to_string(), session.to_string()),
        (LABEL_ATTEMPT.to_string(), attempt.to_string()),
        (LABEL_WORKER.to_string(), worker_id.to_string()),
    ])
}

/// The labels of a warm container: of this database and worker, pooled.
pub(crate) fn pool_labels(scope: &str, worker_id: &str) -> HashMap<String, String> {
    HashMap::from([
        (LABEL_MANAGED.to_string(), "true".to_string()),
        (LABEL_SCOPE.to_string(), scope.to_string()),
        (LABEL_WORKER.to_string(), worker_id.to_string()),
        (LABEL_POOL.to_string(), "true".to_string()),
    ])
}

/// Whose a managed container is, by its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Owner {
    /// A session's attempt.
    Session { id: Uuid, attempt: i32 },
    /// A warm container of this worker (None: the label is missing).
    Pool { worker: Option<String> },
    /// Labels execbox did not write.
    Unknown,
}

/// Reads the labels [`session_labels`] and [`pool_labels`] write.
pub(crate) fn owner(labels: &HashMap<String, String>) -> Owner {
    if labels.contains_key(LABEL_POOL) {
        return Owner::Pool { worker: labels.get(LABEL_WORKER).cloned() };
    }
    let session = labels.get(LABEL_SESSION).and_then(|s| Uuid::parse_str(s).ok());
    let attempt = labels.get(LABEL_ATTEMPT).and_then(|a| a.parse::<i32>().ok());
    match (session, attempt) {
        (Some(id), Some(attempt)) => Owner::Session { id, attempt },
        _ => Owner::Unknown,
    }
}

/// What one container is for.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    pub image: String,
    pub cmd: Vec<String>,
    pub env: Vec<(String, String)>,
    pub memory_mb: u64,
    /// CPU share in cores.
    pub cpus: f64,
    /// Size of the /work tmpfs.
    pub work_mb: u64,
    /// /work may hold executables (compiled programs); otherwise `noexec`.
    pub exec_work: bool,
    /// The wall the container is built in (by the engine's OCI runtime for it).
    pub isolation: Isolation,
    pub labels: HashMap<String, String>,
}

/// What the launcher keeps, and nothing else in the container has: it starts
/// as root with these, becomes a uid of its own (never the program's) and
/// starts every program process as `Limits::user` with none of them and an
/// empty bounding set. With them it hands the files it writes to the
/// program (CHOWN), cleans up what the program left between test cases
/// (DAC_OVERRIDE, FOWNER), kills the program's processes (KILL) and drops
/// to the program's uid (SETUID, SETGID, SETPCAP for the bounding set). The
/// program, another uid without capabilities, can neither signal the
/// launcher nor open its `/proc` entries, under runc and gVisor alike.
pub const LAUNCHER_CAPABILITIES: [&str; 7] = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID", "SETPCAP"];

/// Host tasks a gVisor sandbox may have per process of its program: its
/// kernel's threads and the ptrace platform's stubs. Measured: a fork bomb
/// held to 63 processes inside needs more than 256 host tasks, and runs to
/// the limit within 512.
const GVISOR_PIDS_PER_PROCESS: i64 = 8;

/// The hardened configuration for `spec` under `limits`.
pub(crate) fn container_config(spec: &ContainerSpec, limits: &Limits) -> ContainerCreateBody {
    let memory = (spec.memory_mb * 1024 * 1024) as i64;
    let mut env: Vec<String> = vec!["HOME=/tmp".into(), "TMPDIR=/tmp".into(), "LANG=C.UTF-8".into()];
    env.extend(spec.env.iter().map(|(k, v)| format!("{k}={v}")));
    let tmpfs = HashMap::from([
        ("/tmp".to_string(), format!("rw,nosuid,nodev,noexec,size={}m,mode=1777", limits.tmp_size_mb)),
        (
            WORK_DIR.to_string(),
            format!(
                "rw,nosuid,nodev,{},size={}m,mode=1777",
                if spec.exec_work { "exec" } else { "noexec" },
                spec.work_mb
            ),
        ),
    ]);
    let ulimit = |name: &str, n: i64| ResourcesUlimits { name: Some(name.into()), soft: Some(n), hard: Some(n) };
    let mut ulimits = vec![
        ulimit("nofile", limits.nofile),
        ulimit("fsize", limits.max_file_size_mb * 1024 * 1024),
        ulimit("core", 0),
    ];
    // The processes a program may have: as many under both walls. Under
    // runc, the container's pids cgroup counts them and the launcher
    // (RLIMIT_NPROC would count every process of the uid on the host,
    // other containers' too). Under gVisor the cgroup holds the sandbox's
    // own kernel, whose host threads and ptrace stubs a fork bomb
    // multiplies (at 64 it crashes the sandbox, blaming the infrastructure):
    // gVisor's kernel counts the program's processes (RLIMIT_NPROC, per
    // sandbox and uid), and the cgroup stays as an outer bound with room for
    // both. That count leaves out the launcher (another uid) and the
    // program's first process (the launcher forked it before it took the
    // program's uid), hence two fewer.
    let pids = match spec.isolation {
        Isolation::Runc => limits.pids_limit,
        Isolation::Gvisor => {
            ulimits.push(ulimit("nproc", (limits.pids_limit - 2).max(1)));
            limits.pids_limit * GVISOR_PIDS_PER_PROCESS
        }
    };
    let host = HostConfig {
        // Resources.
        memory: Some(memory),
        memory_swap: Some(memory), // equal to memory: no swap
        memory_swappiness: None,
        nano_cpus: Some((spec.cpus * 1e9) as i64),
        pids_limit: Some(pids),
        ulimits: Some(ulimits),
        // Filesystem: read-only image, small bounded scratch space.
        readonly_rootfs: Some(true),
        tmpfs: Some(tmpfs),
        shm_size: Some(16 * 1024 * 1024),
        ipc_mode: Some("private".into()),
        // Privileges.
        cap_drop: Some(vec!["ALL".into()]),
        cap_add: Some(LAUNCHER_CAPABILITIES.iter().map(|c| c.to_string()).collect()),
        security_opt: Some(vec!["no-new-privileges:true".into()]),
        privileged: Some(false),
        // Network.
        network_mode: Some(if limits.allow_network { "bridge".into() } else { "none".into() }),
        // Process hygiene: the launcher is PID 1 (it reaps orphans and
        // passes signals on); no other process holds the container's stdio.
        init: Some(false),
        // Output goes through attach only; a flood never reaches the engine's disk.
        log_config: Some(bollard::models::HostConfigLogConfig { typ: Some("none".into()), config: None }),
        auto_remove: Some(false),
        // Named always: the engine's default runtime may be another.
        runtime: Some(limits.oci_runtime(spec.isolation).to_string()),
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        // The launcher starts as root and runs the program as `limits.user`.
        entrypoint: Some(vec![super::launcher::PATH.into(), "--as".into(), limits.user.clone()]),
        cmd: Some(spec.cmd.clone()),
        env: Some(env),
        // No working_dir: Docker would chown the tmpfs to root 0755. The
        // launcher changes into WORK_DIR itself.
        user: Some("0:0".into()),
        labels: Some(spec.labels.clone()),
        network_disabled: Some(!limits.allow_network),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        open_stdin: Some(true),
        stdin_once: Some(true),
        tty: Some(false),
        host_config: Some(host),
        ..Default::default()
    }
}

#[cfg(test)]
impl ContainerSpec {
    /// A plain spec for unit tests: 512 MB, half a CPU.
    pub(crate) fn sample() -> ContainerSpec {
        ContainerSpec {
            image: "i".into(),
            cmd: vec!["x".into()],
            env: vec![],
            memory_mb: 512,
            cpus: 0.5,
            work_mb: 16,
            exec_work: false,
            isolation: Isolation::Runc,
            labels: HashMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_locked_down() {
        let spec = ContainerSpec::sample();
        let c = container_config(&spec, &Limits::default());
        let h = c.host_config.unwrap();
        assert_eq!(h.network_mode.as_deref(), Some("none"));
        assert_eq!(c.network_disabled, Some(true));
        assert_eq!(h.memory, h.memory_swap);
        assert_eq!(h.memory, Some(512 * 1024 * 1024));
        assert_eq!(h.nano_cpus, Some(500_000_000));
        assert_eq!(h.pids_limit, Some(64));
        assert_eq!(h.readonly_rootfs, Some(true));
        assert_eq!(h.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(h.cap_add.as_ref().map(Vec::len), Some(LAUNCHER_CAPABILITIES.len()));
        assert_eq!(h.init, Some(false), "the launcher is PID 1");
        assert_eq!(
            c.entrypoint.as_deref(),
            Some(&["/usr/local/bin/execbox-launcher", "--as", "65534:65534"].map(String::from)[..])
        );
        assert_eq!(c.user.as_deref(), Some("0:0"), "the launcher starts as root, the program never does");
        let tmpfs = h.tmpfs.unwrap();
        assert!(tmpfs.values().all(|o| o.contains("size=") && o.contains("noexec")), "{tmpfs:?}");
        // Compiled languages get an exec-able /work, nothing else.
        let compiled = ContainerSpec { exec_work: true, ..spec.clone() };
        let t = container_config(&compiled, &Limits::default()).host_config.unwrap().tmpfs.unwrap();
        assert!(t["/work"].contains(",exec,") && t["/tmp"].contains("noexec"), "{t:?}");
        // The wall is always named: runc, or gVisor's runtime by its name.
        assert_eq!(h.runtime.as_deref(), Some("runc"));
        let gvisor = ContainerSpec { isolation: Isolation::Gvisor, ..spec };
        let limits = Limits { gvisor_runtime: "runsc-ptrace".into(), ..Limits::default() };
        let h = container_config(&gvisor, &limits).host_config.unwrap();
        assert_eq!(h.runtime.as_deref(), Some("runsc-ptrace"));
        // gVisor's kernel counts the program's processes; the cgroup has room for it.
        assert_eq!(h.pids_limit, Some(64 * GVISOR_PIDS_PER_PROCESS));
        let nproc = h.ulimits.unwrap().into_iter().find(|u| u.name.as_deref() == Some("nproc")).and_then(|u| u.hard);
        assert_eq!(nproc, Some(62), "the launcher and the program's first process are not counted");
    }

    #[test]
    fn labels_say_whose_a_container_is() {
        let id = Uuid::new_v4();
        assert_eq!(owner(&session_labels("db", id, 3, "w")), Owner::Session { id, attempt: 3 });
        assert_eq!(owner(&pool_labels("db", "w")), Owner::Pool { worker: Some("w".into()) });
        let mut broken = session_labels("db", id, 3, "w");
        broken.insert(LABEL_ATTEMPT.into(), "three".into());
        assert_eq!(owner(&broken), Owner::Unknown);
    }
}
