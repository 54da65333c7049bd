//! One run, driven: a thin `select!` over the container's output, Docker's
//! wait, the timers, stop requests and the log writer. Every happening goes
//! to the state machine (`state.rs`), whose actions are carried out here;
//! nothing in this loop waits on Docker or the database while a deadline
//! could pass (kills are fired off, log lines are queued and delivered as
//! the writer takes them).
//!
//! Around the loop: [`read`] decodes the launcher's frames, [`cases`]
//! captures each test case's output, [`handoff`] gives log lines to the
//! writer, [`timers`] says which timer fires next, and [`feed`] writes the
//! container's stdin beside the loop.

mod cases;
mod feed;
mod handoff;
mod read;
mod timers;

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::models::ContainerWaitResponse;
use bollard::query_parameters::WaitContainerOptions;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

pub(crate) use cases::{CaseLink, CaseReport};
use feed::Feeder;
use handoff::Handoff;
use read::Reader;
use timers::{Timers, KILL_GRACE};

use super::engine::{Engine, Running, SandboxError};
use super::launcher::Status;
use super::stages::Stages;
use super::state::{Action, Ending, Failure, Input as Happened, RunState, StopReason};
use crate::model::request::File;
use crate::model::{InputEvent, Stage};
use crate::output::{LogLine, OutputPipe};

/// What goes into the container: the files, then (after the compile
/// stage, if any) the program's stdin.
pub(crate) struct Input {
    /// /work as another sandbox compiled it, restored before the files.
    pub tree: Option<Bytes>,
    pub files: Vec<File>,
    /// The program's stdin.
    pub stdin: Vec<u8>,
    /// Interactive sessions: more stdin, end of input and signals, until
    /// `Eof` or the end of the run. `None`: end of input after `stdin`.
    pub events: Option<mpsc::Receiver<InputEvent>>,
    /// Test cases (a `--cases` launcher): instead of stdin.
    pub cases: Option<CaseLink>,
}

/// Where a run's output goes and where its stop requests come from.
pub(crate) struct Io<'a> {
    /// The program's output, as log lines.
    pub pipe: &'a mut OutputPipe,
    /// The log writer, which takes the pipe's lines.
    pub logs: &'a mpsc::Sender<LogLine>,
    pub stop: &'a mut watch::Receiver<Option<StopReason>>,
}

impl Io<'_> {
    /// The same, lent for a run (a session may drive more than one).
    pub(crate) fn lend(&mut self) -> Io<'_> {
        Io { pipe: &mut *self.pipe, logs: self.logs, stop: &mut *self.stop }
    }
}

/// How a run ended and what the launcher reported.
#[derive(Debug, Clone)]
pub(crate) struct Finished {
    pub ending: Ending,
    /// The stage the run was in when it ended.
    pub stage: Stage,
    /// The compiler's status, when it ran to its end.
    pub compiled: Option<Status>,
    /// Named files the launcher sent (validation: `report`, `bench`).
    pub blocks: HashMap<String, Bytes>,
    /// An OOM kill the launcher could not count: the container was
    /// SIGKILLed whole with no signal from its user, or Docker says so (it
    /// is asked when the launcher was signalled, or the cgroup was
    /// unreadable).
    pub oom_killed: bool,
    /// From the start of the run to its end, as seen by the worker.
    pub wall_time: Duration,
}

/// Feeds `input`, streams output into `io`'s pipe (delivered to its log
/// writer) and ends the run on exit, deadline, output cap or a stop
/// request. Deadlines count from this call. The container is left for
/// [`Engine::remove`].
pub(crate) async fn run(
    engine: &Engine,
    running: Running,
    input: Input,
    stages: &Stages,
    io: Io<'_>,
) -> Result<Finished, SandboxError> {
    let Running { id, output, input: stdin } = running;
    // auto_remove is off, so waiting on a container that already exited
    // still returns its status: a fast exit cannot be missed.
    let wait = engine.docker().wait_container(&id, None::<WaitContainerOptions>).boxed();
    let started = Instant::now();
    let Feeder { task: _feeder, gate, cases, signalled } = Feeder::start(engine, &id, stdin, input, stages);
    let mut driver = Driver::new(engine, &id, stages, io.pipe, io.logs, Reader::new(cases), gate);
    let ending = driver.drive(output, wait, io.stop).await?;
    let signalled = signalled.load(std::sync::atomic::Ordering::Relaxed);
    driver.finish(ending, started.elapsed(), signalled).await
}

/// The attach stream's output half.
type Output = Pin<Box<dyn Stream<Item = Result<LogOutput, DockerError>> + Send>>;
/// Docker's wait for the container's end.
type Wait<'a> = Pin<Box<dyn Stream<Item = Result<ContainerWaitResponse, DockerError>> + Send + 'a>>;

/// One run's driver: the state machine and the actions it asked for, the
/// reader of the container's output, the timers and the log hand-off.
struct Driver<'a> {
    engine: &'a Engine,
    id: &'a str,
    stages: &'a Stages,
    state: RunState,
    actions: VecDeque<Action>,
    reader: Reader,
    timers: Timers,
    pipe: &'a mut OutputPipe,
    handoff: Handoff<'a>,
    /// Opened when the run stage's limits are in force (the feeder then
    /// writes GO).
    gate: Option<oneshot::Sender<()>>,
}

impl<'a> Driver<'a> {
    fn new(
        engine: &'a Engine,
        id: &'a str,
        stages: &'a Stages,
        pipe: &'a mut OutputPipe,
        logs: &'a mpsc::Sender<LogLine>,
        mut reader: Reader,
        gate: Option<oneshot::Sender<()>>,
    ) -> Driver<'a> {
        let (state, first) = RunState::start(stages.compile.is_some(), stages.export);
        pipe.set_stage(state.stage());
        if state.stage() == Stage::Run {
            reader.run_stage(pipe);
        }
        let (actions, timers, handoff) = (first.into(), Timers::new(), Handoff::new(logs));
        Driver { engine, id, stages, state, actions, reader, timers, pipe, handoff, gate }
    }

    /// The loop: carries out the actions, hands lines to the writer, and
    /// waits for the next happening, until the state machine decides the
    /// ending.
    async fn drive(
        &mut self,
        mut output: Output,
        mut wait: Wait<'_>,
        stop: &mut watch::Receiver<Option<StopReason>>,
    ) -> Result<Ending, SandboxError> {
        let (mut output_open, mut wait_open, mut stop_open) = (true, true, true);
        loop {
            if let Some(ending) = self.act().await? {
                return Ok(ending);
            }
            self.handoff.now(self.pipe);
            // Once the run is ending, output is read (so Docker can finish)
            // and dropped; until then, a writer that falls behind slows the
            // reading.
            let read = output_open && (self.state.ending_decided() || !self.handoff.behind(self.pipe));
            self.timers.drain.reading(read);
            let happened = tokio::select! {
                frame = output.next(), if read => match frame {
                    Some(Ok(frame)) => {
                        self.timers.drain.heard();
                        self.reader.frame(frame, &mut self.state, self.pipe, &mut self.actions);
                        None
                    }
                    closed => {
                        if let Some(Err(e)) = closed {
                            tracing::warn!(error = %e, "attach stream failed; waiting for the exit without further output");
                        }
                        output_open = false;
                        Some(Happened::OutputClosed)
                    }
                },
                permit = self.handoff.room(), if self.pipe.queued() > 0 => {
                    self.handoff.took(permit, self.pipe);
                    None
                }
                exit = wait.next(), if wait_open => {
                    wait_open = false;
                    Some(Happened::ContainerExited(self.exit_code(exit).await?))
                }
                timer = self.timers.fired() => {
                    tracing::debug!(?timer, stage = ?self.state.stage(), "timer fired");
                    Some(self.timers.fire(timer))
                }
                changed = stop.changed(), if stop_open => match changed {
                    Ok(()) => stop.borrow_and_update().map(Happened::Stop),
                    Err(_) => {
                        stop_open = false;
                        None
                    }
                },
            };
            if let Some(happened) = happened {
                self.actions.extend(self.state.on(happened));
            }
        }
    }

    /// Carries out the queued actions; the ending, once the state machine
    /// decided it.
    async fn act(&mut self) -> Result<Option<Ending>, SandboxError> {
        while let Some(action) = self.actions.pop_front() {
            match action {
                Action::Kill => {
                    let (engine, id) = (self.engine.clone(), self.id.to_string());
                    tokio::spawn(async move { engine.kill(&id).await });
                    self.timers.arm_kill_grace();
                }
                Action::ArmDeadline(stage) => self.timers.arm_deadline(self.stages.limits(stage).timeout),
                Action::StartRun => {
                    self.pipe.set_stage(Stage::Run);
                    self.reader.run_stage(self.pipe);
                    if let Some(compile) = self.stages.compile {
                        self.engine.switch_limits(self.id, &compile, &self.stages.run).await?;
                    }
                    if let Some(tx) = self.gate.take() {
                        // The feeder may be gone (stdin closed): the
                        // launcher then learns nothing more, which is fine.
                        let _ = tx.send(());
                    }
                }
                Action::ArmDrain => self.timers.arm_drain(),
                Action::Finish(ending) => return Ok(Some(ending)),
                Action::Fail(Failure::KillTimeout) => return Err(SandboxError::KillTimeout(KILL_GRACE)),
                Action::Fail(Failure::Launcher(why)) => return Err(self.reader.failed(why)),
            }
        }
        Ok(None)
    }

    /// The exit code Docker's wait reported; a failed wait other than the
    /// container's own error fails the run (and the container is killed).
    async fn exit_code(
        &self,
        exit: Option<Result<ContainerWaitResponse, DockerError>>,
    ) -> Result<Option<i64>, SandboxError> {
        match exit {
            Some(Ok(r)) => Ok(Some(r.status_code)),
            Some(Err(DockerError::DockerContainerWaitError { code, .. })) => Ok(Some(code)),
            Some(Err(e)) => {
                self.engine.kill(self.id).await;
                Err(e.into())
            }
            None => Ok(None),
        }
    }

    /// The run ended: the last line flushed, Docker asked about an OOM kill
    /// when the launcher could not tell. A container SIGKILLed whole while
    /// nobody signalled it (execbox's own kills end a run as `Stopped`) was
    /// killed by the kernel: under gVisor the memory cgroup's OOM killer
    /// takes the whole sandbox, and Docker's flag for it can be lost on a
    /// loaded host (seen: the kernel logged the kill, Docker never said it).
    async fn finish(self, ending: Ending, wall_time: Duration, signalled: bool) -> Result<Finished, SandboxError> {
        self.pipe.flush();
        self.reader.end(matches!(ending, Ending::Vanished(_)));
        let oom_killed = match ending {
            Ending::Vanished(Some(137)) if !signalled => true,
            Ending::Vanished(code) => self.engine.oom_killed(self.id, code == Some(137)).await?,
            Ending::Exited(s) | Ending::CompileFailed(s) if s.exit.signal() == Some(9) && s.oom_kills.is_none() => {
                self.engine.oom_killed(self.id, true).await?
            }
            _ => false,
        };
        let Reader { compiled, blocks, .. } = self.reader;
        Ok(Finished { ending, stage: self.state.stage(), compiled, blocks, oom_killed, wall_time })
    }
}
