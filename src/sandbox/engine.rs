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
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep_until, Instant};

use super::policy::{self, ContainerSpec};
use crate::config::Limits;
use crate::db::input::InputEvent;
use crate::output::{Flow, OutputPipe, Stage, Stream};

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
    /// The compiler failed (its exit code is the run's).
    CompileFailed,
    CompileTimedOut,
    TimedOut,
    OutputLimit,
    Stopped(StopReason),
}

#[cfg(test)]
mod tests {
    #[test]
    fn exit_marker_is_found_and_cut_out() {
        let data = b"err line\n\x1eexecbox:exit:3\x1e\nrest";
        let (at, end, code) = super::exit_marker(data).unwrap();
        assert_eq!((&data[..at], &data[end..], code), (&b"err line\n"[..], &b"rest"[..], 3));
        assert!(super::exit_marker(b"\x1eexecbox:exit:x\x1e").is_none());
        assert!(super::exit_marker(b"no marker").is_none());
    }
}

#[derive(Debug, Clone)]
pub struct Finished {
    pub exit_code: Option<i64>,
    pub ending: Ending,
    pub oom_killed: bool,
    /// From start to exit, as seen by the worker.
    pub wall_time: Duration,
}

/// What goes into the container's stdin: the framed files, then (after the
/// compile stage, if any) the program's stdin.
pub struct Input {
    /// The framed files for the launcher (`files::encode`).
    pub files: Vec<u8>,
    /// The program's stdin.
    pub stdin: Vec<u8>,
    /// Interactive sessions: more stdin, end of input and signals, until
    /// `Eof` or the end of the run. `None`: end of input after `stdin`.
    pub events: Option<mpsc::Receiver<InputEvent>>,
}

/// The launcher's line on stderr that ends a successful compile stage.
const RUN_MARKER: &[u8] = b"\x1eexecbox:run\x1e\n";
/// The launcher's line on stderr when the program has ended:
/// `RS "execbox:exit:" CODE RS "\n"`.
const EXIT_MARKER: &[u8] = b"\x1eexecbox:exit:";

/// Finds the launcher's exit line in `data`: (where it starts, where it
/// ends, the exit code).
fn exit_marker(data: &[u8]) -> Option<(usize, usize, i64)> {
    let at = data.windows(EXIT_MARKER.len()).position(|w| w == EXIT_MARKER)?;
    let rest = &data[at + EXIT_MARKER.len()..];
    let len = rest.iter().position(|b| *b == 0x1e)?;
    let code = std::str::from_utf8(&rest[..len]).ok()?.parse().ok()?;
    let mut end = at + EXIT_MARKER.len() + len + 1;
    if data.get(end) == Some(&b'\n') {
        end += 1;
    }
    Some((at, end, code))
}

/// Limits of one stage.
#[derive(Debug, Clone, Copy)]
pub struct StageLimits {
    pub timeout: Duration,
    pub memory_mb: u64,
    /// CPU share in cores.
    pub cpus: f64,
}

/// The stages of a run: an optional compile stage, then the program.
#[derive(Debug, Clone, Copy)]
pub struct Stages {
    pub compile: Option<StageLimits>,
    pub run: StageLimits,
}

/// Writes stdin; a program that exits without reading it closes the pipe,
/// which is not an error. With a compile stage, the program's part waits for
/// `gate` (the run stage's limits are in force) and is preceded by the
/// launcher's "go" line.
async fn feed_stdin(
    engine: Engine,
    id: String,
    mut pipe: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
    input: Input,
    gate: Option<oneshot::Receiver<()>>,
) {
    if pipe.write_all(&input.files).await.is_err() || pipe.flush().await.is_err() {
        return;
    }
    if let Some(gate) = gate {
        if gate.await.is_err() || pipe.write_all(b"go\n").await.is_err() {
            return;
        }
    }
    if pipe.write_all(&input.stdin).await.is_err() || pipe.flush().await.is_err() {
        return;
    }
    let Some(mut events) = input.events else {
        let _ = pipe.shutdown().await;
        return;
    };
    while let Some(event) = events.recv().await {
        match event {
            InputEvent::Stdin(bytes) => {
                if pipe.write_all(&bytes).await.is_err() || pipe.flush().await.is_err() {
                    return;
                }
            }
            InputEvent::Eof => {
                let _ = pipe.shutdown().await;
                return;
            }
            InputEvent::Signal(sig) => engine.signal(&id, &sig).await,
        }
    }
}

/// A started container, attached, its launcher waiting for its files.
pub struct Running {
    pub id: String,
    output: std::pin::Pin<Box<dyn futures::Stream<Item = Result<LogOutput, DockerError>> + Send>>,
    input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
}

impl Running {
    /// Whether the launcher still waits for its files, as far as the attach
    /// stream tells without waiting: a container that died (a Docker restart
    /// kills them all) has closed it, and a waiting launcher prints nothing.
    /// No engine round trip, so a warm container is checked on the claim
    /// path for free.
    pub fn is_waiting(&mut self) -> bool {
        use futures::FutureExt;
        self.output.next().now_or_never().is_none()
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
    /// Attaches (before start, so no output is missed) and starts: the
    /// launcher then waits for its files on stdin.
    pub async fn start(&self, c: &Created) -> Result<Running, SandboxError> {
        let opts = AttachContainerOptionsBuilder::default()
            .stdin(true)
            .stdout(true)
            .stderr(true)
            .stream(true)
            .logs(false)
            .build();
        let attached = self.docker.attach_container(&c.id, Some(opts)).await?;
        self.docker.start_container(&c.id, None::<bollard::query_parameters::StartContainerOptions>).await?;
        Ok(Running { id: c.id.clone(), output: attached.output, input: attached.input })
    }

    /// Feeds `input`, streams output into `pipe` and ends the run on exit,
    /// deadline, output cap or a stop request. Deadlines count from this
    /// call. The container is left for [`Engine::remove`].
    pub async fn run(
        &self,
        r: Running,
        input: Input,
        stages: &Stages,
        pipe: &mut OutputPipe,
        stop: &mut watch::Receiver<Option<StopReason>>,
    ) -> Result<Finished, SandboxError> {
        let c = Created { id: r.id };
        let mut output = r.output;
        let attached_input = r.input;
        // auto_remove is off, so waiting on a container that already exited
        // still returns its status: a fast exit cannot be missed.
        let mut wait = Box::pin(self.docker.wait_container(&c.id, None::<WaitContainerOptions>));
        let started = Instant::now();

        // Stdin is written concurrently with reading output: a program that
        // prints before reading must not deadlock against us.
        let (gate_tx, gate_rx) = oneshot::channel();
        let mut gate_tx = stages.compile.map(|_| gate_tx);
        let gate_rx = stages.compile.map(|_| gate_rx);
        let writer = tokio::spawn(feed_stdin(self.clone(), c.id.clone(), attached_input, input, gate_rx));
        let mut compiling = stages.compile.is_some();
        if compiling {
            pipe.set_stage(Stage::Compile).await;
        }

        let mut deadline = started + stages.compile.unwrap_or(stages.run).timeout;
        let far = started + Duration::from_secs(86_400 * 365);
        let mut ending: Option<Ending> = None;
        let mut killed_at: Option<Instant> = None;
        let mut exit: Option<i64> = None;
        let mut exited_at: Option<Instant> = None;
        let mut output_open = true;
        let mut stop_open = true;
        // The launcher's in-band exit line, seen on stdout and on stderr.
        let (mut exit_out, mut exit_err, mut inband) = (false, false, None::<i64>);

        loop {
            if exit.is_some() && !output_open {
                break;
            }
            if exit_out && exit_err && exit.is_none() {
                // Every byte of both streams is in; the outcome is known
                // without waiting for the container's teardown.
                exit = inband;
                exited_at = Some(Instant::now());
                break;
            }
            tokio::select! {
                frame = output.next(), if output_open => match frame {
                    Some(Ok(LogOutput::StdOut { message })) => {
                        let mut data: &[u8] = &message;
                        if !compiling && !exit_out {
                            if let Some((at, end, code)) = exit_marker(data) {
                                pipe.push(Stream::Stdout, &data[..at]).await;
                                exit_out = true;
                                inband = Some(code);
                                data = &data[end..];
                            }
                        }
                        if pipe.push(Stream::Stdout, data).await == Flow::Stop && ending.is_none() {
                            ending = Some(Ending::OutputLimit);
                            killed_at = Some(self.kill(&c.id).await);
                        }
                    }
                    Some(Ok(LogOutput::StdErr { message })) => {
                        let mut data: &[u8] = &message;
                        // The launcher writes the marker in one write, after
                        // the compiler exited: it cannot be forged by the
                        // program, which has not started yet.
                        if compiling {
                            if let Some(at) = data.windows(RUN_MARKER.len()).position(|w| w == RUN_MARKER) {
                                pipe.push(Stream::Stderr, &data[..at]).await;
                                pipe.set_stage(Stage::Run).await;
                                compiling = false;
                                if let Some(compile) = stages.compile {
                                    self.switch_limits(&c.id, &compile, &stages.run).await?;
                                }
                                if let Some(tx) = gate_tx.take() {
                                    let _ = tx.send(());
                                }
                                deadline = Instant::now() + stages.run.timeout;
                                data = &data[at + RUN_MARKER.len()..];
                            }
                        }
                        // The launcher's in-band exit status: the outcome is
                        // known now, without waiting for the container's
                        // teardown. (A program printing the line itself only
                        // cuts its own run short.)
                        if !compiling && !exit_err {
                            if let Some((at, end, code)) = exit_marker(data) {
                                pipe.push(Stream::Stderr, &data[..at]).await;
                                exit_err = true;
                                inband = Some(code);
                                data = &data[end..];
                            }
                        }
                        if pipe.push(Stream::Stderr, data).await == Flow::Stop && ending.is_none() {
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
                    ending = Some(if compiling { Ending::CompileTimedOut } else { Ending::TimedOut });
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

        let ending = ending.unwrap_or(if compiling { Ending::CompileFailed } else { Ending::Exited });
        // Only a SIGKILL (exit 137) can be the OOM killer's, and only then is
        // the engine asked (saving a round trip on every other exit). It
        // learns of an OOM kill from a separate event, which can land after
        // the exit: a SIGKILL nobody here sent is re-inspected briefly before
        // it is called anything but out of memory.
        let mut state = bollard::models::ContainerState::default();
        if exit.is_none() || exit == Some(137) {
            state =
                self.docker.inspect_container(&c.id, None::<InspectContainerOptions>).await?.state.unwrap_or_default();
            let unexplained = matches!(ending, Ending::Exited | Ending::CompileFailed);
            for _ in 0..10 {
                if !unexplained || state.oom_killed == Some(true) || exit.or(state.exit_code) != Some(137) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                state = self
                    .docker
                    .inspect_container(&c.id, None::<InspectContainerOptions>)
                    .await?
                    .state
                    .unwrap_or_default();
            }
        }
        Ok(Finished {
            exit_code: exit.or(state.exit_code),
            ending,
            oom_killed: state.oom_killed.unwrap_or(false),
            wall_time,
        })
    }

    /// Applies the run stage's memory and CPU limits to the container after
    /// the compile stage's.
    async fn switch_limits(&self, id: &str, from: &StageLimits, to: &StageLimits) -> Result<(), SandboxError> {
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
        self.docker.update_container(id, update).await.map_err(|e| {
            SandboxError::Docker(DockerError::DockerStreamError {
                error: format!("cannot apply the run stage's limits: {e}"),
            })
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
