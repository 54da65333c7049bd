//! The Docker engine, through bollard.

use std::collections::HashMap;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptions, InspectContainerOptions, KillContainerOptions,
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;
use tokio::time::Instant;

use super::policy::{self, ContainerSpec};
use super::stages::StageLimits;
use crate::config::Limits;

/// Why a sandbox could not do its job. Every variant is an infrastructure
/// fault (the session ends `error`), never the user's program's fault.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("runtime image {0} is not available on this Docker engine; build it with `execbox images build`")]
    ImageMissing(String),
    #[error(
        "runtime image {0} has no execbox launcher (an older execbox built it); rebuild it with `execbox images build`"
    )]
    ImageOutdated(String),
    #[error("Docker engine is unreachable: {0}")]
    Unreachable(#[source] DockerError),
    #[error("Docker engine did not answer a {0} call within {1:?}")]
    Stalled(&'static str, Duration),
    #[error("Docker engine error: {0}")]
    Docker(#[from] DockerError),
    #[error("the container did not stop within {0:?} of being killed")]
    KillTimeout(Duration),
    #[error("{0}")]
    Launcher(String),
    #[error("cannot apply the run stage's limits: {0}")]
    SwitchLimits(#[source] DockerError),
}

impl SandboxError {
    /// The engine itself did not answer (as opposed to refusing a call):
    /// nothing else should be asked of it until a ping says it is back.
    pub(crate) fn engine_down(&self) -> bool {
        matches!(self, SandboxError::Unreachable(_) | SandboxError::Stalled(..))
    }
}

/// How long one engine call may take by default (the worker's is
/// `EXECBOX_DOCKER_CALL_TIMEOUT_MS`).
const CALL_LIMIT: Duration = Duration::from_secs(10);
/// The most a ping may take, whatever the call limit: the worker's loop
/// waits for it, so a stalled daemon holds that loop (and its heartbeats)
/// no longer than this.
const PING_LIMIT: Duration = Duration::from_secs(3);

/// How long an unexplained SIGKILL waits for Docker's word on an OOM kill
/// (its event passes through the shim and containerd, and can land after
/// the exit).
const OOM_WORD_WAIT: Duration = Duration::from_secs(1);

/// `f`, the engine call named `call`, if it answers within `limit`.
async fn within<T>(
    call: &'static str,
    limit: Duration,
    f: impl std::future::Future<Output = Result<T, DockerError>>,
) -> Result<Result<T, DockerError>, SandboxError> {
    tokio::time::timeout(limit, f).await.map_err(|_| SandboxError::Stalled(call, limit))
}

fn classify(e: DockerError, image: &str) -> SandboxError {
    match &e {
        DockerError::DockerResponseServerError { status_code: 404, message } if message.contains("image") => {
            SandboxError::ImageMissing(image.to_string())
        }
        DockerError::DockerResponseServerError { message, .. } if message.contains(super::launcher::PATH) => {
            SandboxError::ImageOutdated(image.to_string())
        }
        DockerError::IOError { .. } | DockerError::HyperResponseError { .. } | DockerError::RequestTimeoutError => {
            SandboxError::Unreachable(e)
        }
        _ => SandboxError::Docker(e),
    }
}

/// An image on the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Image {
    pub size_bytes: i64,
    /// The launcher protocol its label says its launcher speaks (None: no
    /// label, as on images built by an older execbox or by hand).
    pub protocol: Option<u32>,
}

impl Image {
    /// Its launcher speaks this execbox's protocol ([`super::launcher::PROTOCOL`]).
    pub(crate) fn launcher_is_current(&self) -> bool {
        self.protocol.is_some_and(|p| p >= super::launcher::PROTOCOL)
    }
}

/// A started container, attached, its launcher waiting for its files.
pub(crate) struct Running {
    pub id: String,
    pub(super) output: std::pin::Pin<Box<dyn futures::Stream<Item = Result<LogOutput, DockerError>> + Send>>,
    pub(super) input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
}

impl Running {
    /// Whether the launcher still waits for its files, as far as the attach
    /// stream tells without waiting: a container that died (a Docker restart
    /// kills them all) has closed it, and a waiting launcher prints nothing.
    /// No engine round trip, so a warm container is checked on the claim
    /// path for free.
    pub(crate) fn is_waiting(&mut self) -> bool {
        use futures::FutureExt;
        self.output.next().now_or_never().is_none()
    }

    /// Writes frames to the launcher (before the run's driver takes over).
    pub(crate) async fn send(&mut self, frames: &[u8]) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.input.write_all(frames).await?;
        self.input.flush().await
    }
}

/// A created, not yet started container.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: String,
    pub image: String,
}

/// A handle to the Docker engine plus the sandbox limits.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    limits: Limits,
    call_limit: Duration,
}

impl Engine {
    /// Connects to `host` (empty: DOCKER_HOST or the local socket). Nothing
    /// is sent until the first call.
    pub fn connect(host: &str, limits: Limits) -> anyhow::Result<Engine> {
        let docker = if host.is_empty() { Docker::connect_with_defaults()? } else { Docker::connect_with_host(host)? };
        Ok(Engine { docker, limits, call_limit: CALL_LIMIT })
    }

    /// Bounds every call of a session (create, attach, start, update,
    /// inspect, kill, remove, list) by `limit`: a daemon that accepts
    /// connections and never answers then ends a session `error` /
    /// `infrastructure` within it, not within bollard's two minutes. Image
    /// builds go through [`Engine::docker`] and are not bounded.
    pub fn with_call_limit(mut self, limit: Duration) -> Engine {
        self.call_limit = limit;
        self
    }

    /// `f`, the engine call named `call`, within the call limit.
    async fn bounded<T>(
        &self,
        call: &'static str,
        f: impl std::future::Future<Output = Result<T, DockerError>>,
    ) -> Result<Result<T, DockerError>, SandboxError> {
        within(call, self.call_limit, f).await
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    pub(crate) async fn ping(&self) -> Result<(), SandboxError> {
        within("ping", self.call_limit.min(PING_LIMIT), self.docker.ping())
            .await?
            .map(|_| ())
            .map_err(SandboxError::Unreachable)
    }

    /// The names of the OCI runtimes the engine can run containers with.
    pub(crate) async fn oci_runtimes(&self) -> Result<Vec<String>, SandboxError> {
        let info = self.bounded("info", self.docker.info()).await??;
        Ok(info.runtimes.map(|m| m.into_keys().collect()).unwrap_or_default())
    }

    /// What the engine knows of an image, or None when it is not there.
    pub(crate) async fn image(&self, image: &str) -> Result<Option<Image>, SandboxError> {
        match self.bounded("image inspect", self.docker.inspect_image(image)).await? {
            Ok(i) => Ok(Some(Image {
                size_bytes: i.size.unwrap_or_default(),
                protocol: i
                    .config
                    .and_then(|c| c.labels)
                    .and_then(|l| l.get(super::launcher::PROTOCOL_LABEL).and_then(|v| v.parse().ok())),
            })),
            Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
            Err(e) => Err(classify(e, image)),
        }
    }

    pub(crate) async fn image_exists(&self, image: &str) -> Result<bool, SandboxError> {
        Ok(self.image(image).await?.is_some())
    }

    /// A runtime image sessions can run on: here, and its launcher this
    /// execbox's (an older one would refuse the program's uid).
    pub(crate) async fn runtime_image_ready(&self, image: &str) -> Result<bool, SandboxError> {
        Ok(self.image(image).await?.is_some_and(|i| i.launcher_is_current()))
    }

    pub async fn create(&self, spec: &ContainerSpec) -> Result<Created, SandboxError> {
        let body = policy::container_config(spec, &self.limits);
        let resp = self
            .bounded("create", self.docker.create_container(None::<CreateContainerOptions>, body))
            .await?
            .map_err(|e| classify(e, &spec.image))?;
        Ok(Created { id: resp.id, image: spec.image.clone() })
    }

    /// Attaches (before start, so no output is missed) and starts: the
    /// launcher then waits for its files on stdin.
    pub(crate) async fn start(&self, c: &Created) -> Result<Running, SandboxError> {
        let opts = AttachContainerOptionsBuilder::default()
            .stdin(true)
            .stdout(true)
            .stderr(true)
            .stream(true)
            .logs(false)
            .build();
        let attached = self
            .bounded("attach", self.docker.attach_container(&c.id, Some(opts)))
            .await?
            .map_err(|e| classify(e, &c.image))?;
        let start = self.docker.start_container(&c.id, None::<bollard::query_parameters::StartContainerOptions>);
        self.bounded("start", start).await?.map_err(|e| classify(e, &c.image))?;
        Ok(Running { id: c.id.clone(), output: attached.output, input: attached.input })
    }

    /// Applies the run stage's memory and CPU limits to the container after
    /// the compile stage's.
    pub(super) async fn switch_limits(
        &self,
        id: &str,
        from: &StageLimits,
        to: &StageLimits,
    ) -> Result<(), SandboxError> {
        if from.memory_mb == to.memory_mb && from.cpus == to.cpus {
            return Ok(());
        }
        let bytes = (to.memory_mb * 1024 * 1024) as i64;
        let update = bollard::models::ContainerUpdateBody {
            memory: Some(bytes),
            memory_swap: Some(bytes),
            nano_cpus: Some((to.cpus * 1e9) as i64),
            ..Default::default()
        };
        self.bounded("update", self.docker.update_container(id, update)).await?.map_err(SandboxError::SwitchLimits)
    }

    /// Lowers a (warm) container's memory limit to a session's own, before
    /// its code arrives.
    pub(crate) async fn lower_memory(&self, id: &str, memory_mb: u64) -> Result<(), SandboxError> {
        let bytes = (memory_mb * 1024 * 1024) as i64;
        let update = bollard::models::ContainerUpdateBody {
            memory: Some(bytes),
            memory_swap: Some(bytes),
            ..Default::default()
        };
        self.bounded("update", self.docker.update_container(id, update)).await?.map_err(SandboxError::SwitchLimits)
    }

    /// Whether the kernel's OOM killer ended something in the container, as
    /// Docker knows. Docker learns it from an event that can land after the
    /// exit: with `retry` (an unexplained SIGKILL), it is asked again for up
    /// to [`OOM_WORD_WAIT`] before the answer is no.
    pub(super) async fn oom_killed(&self, id: &str, retry: bool) -> Result<bool, SandboxError> {
        let deadline = Instant::now() + if retry { OOM_WORD_WAIT } else { Duration::ZERO };
        loop {
            let inspect = self.docker.inspect_container(id, None::<InspectContainerOptions>);
            let state = self.bounded("inspect", inspect).await??.state.unwrap_or_default();
            if state.oom_killed == Some(true) {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends a signal to the container's processes (through its init).
    pub(crate) async fn signal(&self, id: &str, signal: &str) {
        let opts = KillContainerOptions { signal: signal.into() };
        match self.bounded("kill", self.docker.kill_container(id, Some(opts))).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(container = id, signal, error = %e, "signal not delivered (container probably stopped)")
            }
            Err(e) => tracing::warn!(container = id, signal, error = %e, "signal not delivered"),
        }
    }

    /// SIGKILL; failures (already dead, already gone) are only logged.
    /// Returns when the kill was sent.
    pub(crate) async fn kill(&self, id: &str) -> Instant {
        let opts = KillContainerOptions { signal: "SIGKILL".into() };
        match self.bounded("kill", self.docker.kill_container(id, Some(opts))).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(container = id, error = %e, "kill failed (container probably already stopped)")
            }
            Err(e) => tracing::warn!(container = id, error = %e, "kill not delivered"),
        }
        Instant::now()
    }

    /// Force-removes a container and its anonymous volumes. A container that
    /// is already gone counts as removed.
    pub async fn remove(&self, id: &str) -> Result<(), SandboxError> {
        let opts = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        match self.bounded("remove", self.docker.remove_container(id, Some(opts))).await? {
            Ok(()) => Ok(()),
            Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
            Err(DockerError::DockerResponseServerError { status_code: 409, message })
                if message.contains("already in progress") =>
            {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Every container execbox made in `scope`, with its labels.
    pub(crate) async fn list_managed(
        &self,
        scope: &str,
    ) -> Result<Vec<(String, HashMap<String, String>)>, SandboxError> {
        let filters = HashMap::from([(
            "label",
            vec![format!("{}=true", policy::LABEL_MANAGED), format!("{}={scope}", policy::LABEL_SCOPE)],
        )]);
        let opts = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let list =
            self.bounded("list", self.docker.list_containers(Some(opts))).await?.map_err(SandboxError::Unreachable)?;
        Ok(list.into_iter().filter_map(|c| Some((c.id?, c.labels.unwrap_or_default()))).collect())
    }
}
