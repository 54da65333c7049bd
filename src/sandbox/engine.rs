//! The Docker engine, through bollard.

use std::collections::HashMap;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptions, InspectContainerOptions, KillContainerOptions,
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, WaitContainerOptions,
};
use bollard::Docker;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Instant};

use super::policy::{self, ContainerSpec};
use crate::config::Limits;
use crate::db::input::InputEvent;
use crate::output::{Flow, OutputPipe, Stream};

/// Why a sandbox could not do its job. Every variant is an infrastructure
/// fault (the session ends `error`), never the user's program's fault.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("runtime image {0} is not available on this Docker engine; build it with `execbox images build`")]
    ImageMissing(String),
    #[error("Docker engine is unreachable: {0}")]
    Unreachable(#[source] DockerError),
    #[error("Docker engine error: {0}")]
    Docker(#[from] DockerError),
    #[error("the container did not stop within {0:?} of being killed")]
    KillTimeout(Duration),
}

fn classify(e: DockerError, image: &str) -> SandboxError {
    match &e {
        DockerError::DockerResponseServerError { status_code: 404, message } if message.contains("image") => {
            SandboxError::ImageMissing(image.to_string())
        }
        DockerError::IOError { .. } | DockerError::HyperResponseError { .. } | DockerError::RequestTimeoutError => {
            SandboxError::Unreachable(e)
        }
        _ => SandboxError::Docker(e),
    }
}

/// Why execbox stopped a program before it ended by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The owner set `cancel_requested_at`.
    Cancelled,
    /// This worker no longer holds the session (lease expired, reclaimed).
    LeaseLost,
    /// The worker is shutting down and the grace period is over.
    Shutdown,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Exited,
    TimedOut,
    OutputLimit,
    Stopped(StopReason),
}

#[derive(Debug, Clone)]
pub struct Finished {
    pub exit_code: Option<i64>,
    pub ending: Ending,
    pub oom_killed: bool,
    /// From start to exit, as seen by the worker.
    pub wall_time: Duration,
}

/// What the program's stdin gets.
pub enum Stdin {
    /// These bytes, then end of input.
    Fixed(Vec<u8>),
    /// These bytes, then whatever the events say, until `Eof` (or the run
    /// ends). `Signal` events are delivered to the container.
    Interactive { first: Vec<u8>, events: mpsc::Receiver<InputEvent> },
}

/// Writes stdin; a program that exits without reading it closes the pipe,
/// which is not an error.
async fn feed_stdin(
    engine: Engine,
    id: String,
    mut input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
    stdin: Stdin,
) {
    match stdin {
        Stdin::Fixed(bytes) => {
            if input.write_all(&bytes).await.is_ok() {
                let _ = input.shutdown().await;
            }
        }
        Stdin::Interactive { first, mut events } => {
            if input.write_all(&first).await.is_err() {
                return;
            }
            let _ = input.flush().await;
            while let Some(event) = events.recv().await {
                match event {
                    InputEvent::Stdin(bytes) => {
                        if input.write_all(&bytes).await.is_err() || input.flush().await.is_err() {
                            return;
                        }
                    }
                    InputEvent::Eof => {
                        let _ = input.shutdown().await;
                        return;
                    }
                    InputEvent::Signal(sig) => engine.signal(&id, &sig).await,
                }
            }
        }
    }
}

/// A created, not yet started container.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: String,
}

/// How long output may still arrive after the container exited.
const DRAIN_GRACE: Duration = Duration::from_millis(500);
/// How long a killed container may take to be reported dead.
const KILL_GRACE: Duration = Duration::from_secs(15);

/// A handle to the Docker engine plus the sandbox limits.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    limits: Limits,
}

impl Engine {
    /// Connects to `host` (empty: DOCKER_HOST or the local socket). Nothing
    /// is sent until the first call.
    pub fn connect(host: &str, limits: Limits) -> anyhow::Result<Engine> {
        let docker = if host.is_empty() { Docker::connect_with_defaults()? } else { Docker::connect_with_host(host)? };
        Ok(Engine { docker, limits })
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub async fn ping(&self) -> Result<(), SandboxError> {
        self.docker.ping().await.map(|_| ()).map_err(SandboxError::Unreachable)
    }

    pub async fn image_exists(&self, image: &str) -> Result<bool, SandboxError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => Ok(false),
            Err(e) => Err(classify(e, image)),
        }
    }

    pub async fn create(&self, spec: &ContainerSpec) -> Result<Created, SandboxError> {
        let body = policy::container_config(spec, &self.limits);
        let resp = self
            .docker
            .create_container(None::<CreateContainerOptions>, body)
            .await
            .map_err(|e| classify(e, &spec.image))?;
        Ok(Created { id: resp.id })
    }

    /// Attaches (before start, so no output is missed), starts, feeds
    /// `payload` then EOF, streams output into `pipe` and ends the run on
    /// exit, deadline, output cap or a stop request. The container is left
    /// for [`Engine::remove`].
    pub async fn run(
        &self,
        c: &Created,
        stdin: Stdin,
        timeout: Duration,
        pipe: &mut OutputPipe,
        stop: &mut watch::Receiver<Option<StopReason>>,
        on_started: impl FnOnce(),
    ) -> Result<Finished, SandboxError> {
        let opts = AttachContainerOptionsBuilder::default()
            .stdin(true)
            .stdout(true)
            .stderr(true)
            .stream(true)
            .logs(false)
            .build();
        let attached = self.docker.attach_container(&c.id, Some(opts)).await?;
        let mut output = attached.output;
        let input = attached.input;
        // auto_remove is off, so waiting on a container that already exited
        // still returns its status: a fast exit cannot be missed.
        let mut wait = Box::pin(self.docker.wait_container(&c.id, None::<WaitContainerOptions>));
        self.docker.start_container(&c.id, None::<bollard::query_parameters::StartContainerOptions>).await?;
        let started = Instant::now();
        on_started();

        // Stdin is written concurrently with reading output: a program that
        // prints before reading must not deadlock against us.
        let writer = tokio::spawn(feed_stdin(self.clone(), c.id.clone(), input, stdin));

        let deadline = started + timeout;
        let far = started + Duration::from_secs(86_400 * 365);
        let mut ending: Option<Ending> = None;
        let mut killed_at: Option<Instant> = None;
        let mut exit: Option<i64> = None;
        let mut exited_at: Option<Instant> = None;
        let mut output_open = true;
        let mut stop_open = true;

        loop {
            if exit.is_some() && !output_open {
                break;
            }
            tokio::select! {
                frame = output.next(), if output_open => match frame {
                    Some(Ok(LogOutput::StdOut { message })) => {
                        if pipe.push(Stream::Stdout, &message).await == Flow::Stop && ending.is_none() {
                            ending = Some(Ending::OutputLimit);
                            killed_at = Some(self.kill(&c.id).await);
                        }
                    }
                    Some(Ok(LogOutput::StdErr { message })) => {
                        if pipe.push(Stream::Stderr, &message).await == Flow::Stop && ending.is_none() {
                            ending = Some(Ending::OutputLimit);
                            killed_at = Some(self.kill(&c.id).await);
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "attach stream failed; waiting for the exit without further output");
                        output_open = false;
                    }
                    None => output_open = false,
                },
                res = wait.next(), if exit.is_none() => {
                    let code = match res {
                        Some(Ok(r)) => r.status_code,
                        Some(Err(DockerError::DockerContainerWaitError { code, .. })) => code,
                        Some(Err(e)) => {
                            self.kill(&c.id).await;
                            return Err(e.into());
                        }
                        None => {
                            self.kill(&c.id).await;
                            return Err(SandboxError::Docker(DockerError::DockerStreamError { error: "wait stream ended without an exit status".into() }));
                        }
                    };
                    exit = Some(code);
                    exited_at = Some(Instant::now());
                }
                _ = sleep_until(deadline), if ending.is_none() && exit.is_none() => {
                    ending = Some(Ending::TimedOut);
                    killed_at = Some(self.kill(&c.id).await);
                }
                changed = stop.changed(), if stop_open && ending.is_none() && exit.is_none() => {
                    match changed {
                        Ok(()) => {
                            let reason = *stop.borrow_and_update();
                            if let Some(reason) = reason {
                                ending = Some(Ending::Stopped(reason));
                                killed_at = Some(self.kill(&c.id).await);
                            }
                        }
                        Err(_) => stop_open = false,
                    }
                }
                _ = sleep_until(exited_at.map(|t| t + DRAIN_GRACE).unwrap_or(far)), if exited_at.is_some() && output_open => {
                    tracing::debug!("output still open after exit; closing it");
                    output_open = false;
                }
                _ = sleep_until(killed_at.map(|t| t + KILL_GRACE).unwrap_or(far)), if killed_at.is_some() && exit.is_none() => {
                    return Err(SandboxError::KillTimeout(KILL_GRACE));
                }
            }
        }
        let wall_time = exited_at.unwrap_or_else(Instant::now) - started;
        writer.abort();
        pipe.flush().await;

        let ending = ending.unwrap_or(Ending::Exited);
        let mut state = self.docker.inspect_container(&c.id, None::<InspectContainerOptions>).await?.state.unwrap_or_default();
        // The engine learns of an OOM kill from a separate event, which can
        // land after the exit: a SIGKILL nobody here sent is re-inspected
        // briefly before it is called anything but out of memory.
        let sigkill = exit.or(state.exit_code) == Some(137);
        for _ in 0..10 {
            if !(sigkill && ending == Ending::Exited) || state.oom_killed == Some(true) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            state = self.docker.inspect_container(&c.id, None::<InspectContainerOptions>).await?.state.unwrap_or_default();
        }
        Ok(Finished {
            exit_code: exit.or(state.exit_code),
            ending,
            oom_killed: state.oom_killed.unwrap_or(false),
            wall_time,
        })
    }

    /// Sends a signal to the container's processes (through its init).
    pub async fn signal(&self, id: &str, signal: &str) {
        let opts = KillContainerOptions { signal: signal.into() };
        if let Err(e) = self.docker.kill_container(id, Some(opts)).await {
            tracing::debug!(container = id, signal, error = %e, "signal not delivered (container probably stopped)");
        }
    }

    /// SIGKILL; failures (already dead, already gone) are only logged.
    /// Returns when the kill was sent.
    pub async fn kill(&self, id: &str) -> Instant {
        let opts = KillContainerOptions { signal: "SIGKILL".into() };
        if let Err(e) = self.docker.kill_container(id, Some(opts)).await {
            tracing::debug!(container = id, error = %e, "kill failed (container probably already stopped)");
        }
        Instant::now()
    }

    /// Force-removes a container and its anonymous volumes. A container that
    /// is already gone counts as removed.
    pub async fn remove(&self, id: &str) -> Result<(), SandboxError> {
        let opts = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        match self.docker.remove_container(id, Some(opts)).await {
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
    pub async fn list_managed(&self, scope: &str) -> Result<Vec<(String, HashMap<String, String>)>, SandboxError> {
        let filters = HashMap::from([(
            "label",
            vec![format!("{}=true", policy::LABEL_MANAGED), format!("{}={scope}", policy::LABEL_SCOPE)],
        )]);
        let opts = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let list = self.docker.list_containers(Some(opts)).await.map_err(SandboxError::Unreachable)?;
        Ok(list.into_iter().filter_map(|c| Some((c.id?, c.labels.unwrap_or_default()))).collect())
    }
}
