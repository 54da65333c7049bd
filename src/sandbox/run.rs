//! One run, driven: a thin `select!` over the container's output, Docker's
//! wait, the timers, stop requests and the log writer. Every happening goes
//! to the state machine (`state.rs`), whose actions are carried out here;
//! nothing in this loop waits on Docker or the database while a deadline
//! could pass (kills are fired off, log lines are queued and delivered as
//! the writer takes them).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::query_parameters::WaitContainerOptions;
use bytes::Bytes;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep_until, Instant};

use super::engine::{Engine, Running, SandboxError};
use super::launcher::{self, Decoder, Event, Status};
use super::stages::Stages;
use super::state::{Action, Ending, Failure, Input as Happened, RunState, StopReason};
use crate::model::request::File;
use crate::model::{InputEvent, Stage, Stream};
use crate::output::{Flow, LogLine, OutputPipe};

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

/// Test cases: CASE frames in from whoever conducts them (the next is sent
/// after the previous case's report), each case's report out. When the
/// frames end, so do the cases.
pub(crate) struct CaseLink {
    pub frames: mpsc::Receiver<Vec<u8>>,
    pub reports: mpsc::Sender<CaseReport>,
    /// Bytes of each stream a report keeps.
    pub keep_bytes: usize,
}

/// How a case ended and what it printed (up to `keep_bytes` per stream).
#[derive(Debug, Clone)]
pub(crate) struct CaseReport {
    pub status: Status,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// More was printed than was kept.
    pub cut: bool,
}

/// The current case's output, gathered for its report.
struct CaseCapture {
    reports: mpsc::Sender<CaseReport>,
    keep: usize,
    /// Counting: the run stage started.
    active: bool,
    index: i32,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    cut: bool,
}

impl CaseCapture {
    fn push(&mut self, stream: Stream, data: &[u8]) {
        if !self.active {
            return;
        }
        let buf = if stream == Stream::Stderr { &mut self.stderr } else { &mut self.stdout };
        let room = self.keep.saturating_sub(buf.len());
        buf.extend_from_slice(&data[..data.len().min(room)]);
        self.cut |= data.len() > room;
    }

    /// The case ended: its report goes out, the next case's output starts.
    fn done(&mut self, status: Status) {
        let report = CaseReport {
            status,
            stdout: std::mem::take(&mut self.stdout),
            stderr: std::mem::take(&mut self.stderr),
            cut: std::mem::take(&mut self.cut),
        };
        self.index += 1;
        if self.reports.try_send(report).is_err() {
            tracing::debug!("a case report nobody waits for");
        }
    }
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
    /// Docker's word on an OOM kill, asked only when the launcher could
    /// not tell (it was killed itself, or the cgroup was unreadable).
    pub oom_killed: bool,
    /// From the start of the run to its end, as seen by the worker.
    pub wall_time: Duration,
}

/// The container's output as it is read: launcher frames decoded, the
/// program's output into the pipe (and the current case's capture), every
/// happening to the state machine at once (whether output is past the cut
/// depends on the frame before it), and what the launcher hands over kept
/// for the end.
struct Reader {
    decoder: Decoder,
    cases: Option<CaseCapture>,
    compiled: Option<Status>,
    /// Named files the launcher sent.
    blocks: HashMap<String, Bytes>,
    /// The launcher's own words outside its protocol (before it could
    /// speak it), bounded.
    diagnostics: String,
}

impl Reader {
    fn new(cases: Option<CaseCapture>) -> Reader {
        Reader {
            decoder: Decoder::default(),
            cases,
            compiled: None,
            blocks: HashMap::new(),
            diagnostics: String::new(),
        }
    }

    /// One frame of the attach stream.
    fn frame(&mut self, frame: LogOutput, state: &mut RunState, pipe: &mut OutputPipe, actions: &mut VecDeque<Action>) {
        let message = match frame {
            LogOutput::StdOut { message } => message,
            LogOutput::StdErr { message } => {
                if self.diagnostics.len() < 2048 {
                    self.diagnostics.push_str(&String::from_utf8_lossy(&message));
                }
                return;
            }
            _ => return,
        };
        self.decoder.push(&message);
        loop {
            let event = match self.decoder.next_event() {
                Ok(Some(e)) => e,
                Ok(None) => return,
                Err(e) => {
                    actions.extend(state.on(Happened::LauncherFailed(e.to_string())));
                    return;
                }
            };
            if !matches!(event, Event::Output(..)) {
                tracing::debug!(?event, "launcher event");
            }
            if let Some(h) = self.event(event, state.ending_decided(), pipe) {
                actions.extend(state.on(h));
            }
        }
    }

    /// One launcher event; what happened, if the state machine is to know.
    fn event(&mut self, event: Event, ending_decided: bool, pipe: &mut OutputPipe) -> Option<Happened> {
        match event {
            Event::Output(stream, data) => {
                if let Some(c) = self.cases.as_mut() {
                    c.push(stream, &data);
                }
                let capped = !ending_decided && pipe.push(stream, &data) == Flow::Stop;
                // Each case has its own output limit; the session's only
                // ends the logging.
                (capped && self.cases.is_none()).then_some(Happened::CapReached)
            }
            Event::CaseDone(status) => match self.cases.as_mut() {
                Some(c) => {
                    c.done(status);
                    pipe.set_case(Some(c.index));
                    None
                }
                None => Some(Happened::LauncherFailed("a case status outside cases".into())),
            },
            Event::Compiled(status) => {
                self.compiled = Some(status);
                Some(Happened::Compiled(status))
            }
            Event::Exited(status) => Some(Happened::Exited(status)),
            Event::Block(name, data) => {
                self.blocks.insert(name, data);
                None
            }
            Event::Fatal(why) => Some(Happened::LauncherFailed(format!("the launcher failed: {why}"))),
        }
    }
}

/// After the container ended, how long the attach stream may stay silent
/// before the rest of its output is given up on. The grace starts again
/// with every frame and stands still while reading waits for the log
/// writer: a flood still in the stream when the container went is read to
/// its end, however slowly this worker gets to it.
const DRAIN_GRACE: Duration = Duration::from_millis(500);
/// The drain grace: off until the container ended, then counting while the
/// driver reads and hears nothing; standing still while reading waits for
/// the log writer.
#[derive(Debug, Clone, Copy)]
enum Drain {
    Off,
    Counting(Instant),
    Paused,
}

impl Drain {
    fn counting() -> Drain {
        Drain::Counting(Instant::now() + DRAIN_GRACE)
    }

    /// A frame arrived: the grace starts again.
    fn heard(&mut self) {
        if let Drain::Counting(_) = self {
            *self = Drain::counting();
        }
    }

    /// Whether the driver reads now.
    fn reading(&mut self, read: bool) {
        *self = match (*self, read) {
            (Drain::Counting(_), false) => Drain::Paused,
            (Drain::Paused, true) => Drain::counting(),
            (d, _) => d,
        };
    }

    fn until(&self) -> Option<Instant> {
        match self {
            Drain::Counting(t) => Some(*t),
            Drain::Off | Drain::Paused => None,
        }
    }
}

/// How long a killed container may take to be reported gone.
const KILL_GRACE: Duration = Duration::from_secs(15);
/// Lines queued for the log writer beyond which reading output waits for
/// the writer (backpressure, not loss).
const QUEUE_HIGH: usize = 4096;

/// Waits until `at`, or forever without one.
async fn at(t: Option<Instant>) {
    match t {
        Some(t) => sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Aborts the task when the run is over.
struct Owned(tokio::task::JoinHandle<()>);

impl Drop for Owned {
    fn drop(&mut self) {
        self.0.abort();
    }
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
    let Io { pipe, logs, stop } = io;
    let Running { id, mut output, input: container_stdin } = running;
    // auto_remove is off, so waiting on a container that already exited
    // still returns its status: a fast exit cannot be missed.
    let mut wait = Box::pin(engine.docker().wait_container(&id, None::<WaitContainerOptions>));
    let started = Instant::now();

    // Stdin is written concurrently with reading output: a program that
    // prints before reading must not deadlock against us.
    let (gate_tx, gate_rx) = oneshot::channel();
    let mut gate = stages.compile.map(|_| gate_tx);
    let gate_rx = stages.compile.map(|_| gate_rx);
    let cpu = launcher::CpuLimits { compile: stages.compile.and_then(|c| c.cpu_time), run: stages.run.cpu_time };
    let Input { tree, files, stdin, events, cases } = input;
    let (frames, cases) = match cases {
        Some(c) => (
            Some(c.frames),
            Some(CaseCapture {
                reports: c.reports,
                keep: c.keep_bytes,
                active: false,
                index: 0,
                stdout: Vec::new(),
                stderr: Vec::new(),
                cut: false,
            }),
        ),
        None => (None, None),
    };
    let feeding = Feed { tree, files, stdin, events, frames, cpu };
    let _feeder = Owned(tokio::spawn(feed(engine.clone(), id.clone(), container_stdin, feeding, gate_rx)));

    let mut reader = Reader::new(cases);
    let (mut state, first) = RunState::start(stages.compile.is_some(), stages.export);
    pipe.set_stage(state.stage());
    if let (Some(c), Stage::Run) = (reader.cases.as_mut(), state.stage()) {
        c.active = true;
        pipe.set_case(Some(0));
    }
    let mut actions: VecDeque<Action> = first.into();
    let (mut deadline, mut kill_grace, mut drain) = (None, None, Drain::Off);
    let (mut output_open, mut wait_open, mut stop_open) = (true, true, true);

    let ending = 'run: loop {
        while let Some(action) = actions.pop_front() {
            match action {
                Action::Kill => {
                    let (engine, id) = (engine.clone(), id.clone());
                    tokio::spawn(async move { engine.kill(&id).await });
                    kill_grace = Some(Instant::now() + KILL_GRACE);
                }
                Action::ArmDeadline(stage) => deadline = Some(Instant::now() + stages.limits(stage).timeout),
                Action::StartRun => {
                    pipe.set_stage(Stage::Run);
                    if let Some(c) = reader.cases.as_mut() {
                        c.active = true;
                        pipe.set_case(Some(0));
                    }
                    if let Some(compile) = stages.compile {
                        engine.switch_limits(&id, &compile, &stages.run).await?;
                    }
                    if let Some(tx) = gate.take() {
                        // The feeder may be gone (stdin closed): the
                        // launcher then learns nothing more, which is fine.
                        let _ = tx.send(());
                    }
                }
                Action::ArmDrain => drain = Drain::counting(),
                Action::Finish(ending) => break 'run ending,
                Action::Fail(Failure::KillTimeout) => return Err(SandboxError::KillTimeout(KILL_GRACE)),
                Action::Fail(Failure::Launcher(why)) => {
                    let said = reader.diagnostics.trim();
                    let why = if said.is_empty() { why } else { format!("{why}; it said: {said}") };
                    return Err(SandboxError::Launcher(why));
                }
            }
        }
        // Hand queued lines to the writer as far as it takes them now.
        while pipe.queued() > 0 {
            match logs.try_reserve() {
                Ok(permit) => permit.send(pipe.pop().expect("a queued line")),
                Err(mpsc::error::TrySendError::Full(())) => break,
                Err(mpsc::error::TrySendError::Closed(())) => {
                    // The writer stopped (fenced out): nobody wants them.
                    while pipe.pop().is_some() {}
                }
            }
        }
        // Once the run is ending, output is read (so Docker can finish) and
        // dropped; until then, a writer that falls behind slows the reading.
        let ending_decided = state.ending_decided();
        let read = output_open && (ending_decided || pipe.queued() < QUEUE_HIGH);
        drain.reading(read);
        tokio::select! {
            frame = output.next(), if read => {
                if matches!(frame, Some(Ok(_))) {
                    drain.heard();
                }
                match frame {
                    Some(Ok(frame)) => reader.frame(frame, &mut state, pipe, &mut actions),
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "attach stream failed; waiting for the exit without further output");
                        output_open = false;
                        actions.extend(state.on(Happened::OutputClosed));
                    }
                    None => {
                        output_open = false;
                        actions.extend(state.on(Happened::OutputClosed));
                    }
                }
            }
            permit = logs.reserve(), if pipe.queued() > 0 => match permit {
                Ok(permit) => permit.send(pipe.pop().expect("a queued line")),
                Err(_) => while pipe.pop().is_some() {},
            },
            res = wait.next(), if wait_open => {
                wait_open = false;
                let code = match res {
                    Some(Ok(r)) => Some(r.status_code),
                    Some(Err(DockerError::DockerContainerWaitError { code, .. })) => Some(code),
                    Some(Err(e)) => {
                        engine.kill(&id).await;
                        return Err(e.into());
                    }
                    None => None,
                };
                actions.extend(state.on(Happened::ContainerExited(code)));
            }
            _ = at(deadline) => {
                tracing::debug!(stage = ?state.stage(), "deadline passed");
                deadline = None;
                actions.extend(state.on(Happened::Deadline));
            }
            _ = at(kill_grace) => {
                kill_grace = None;
                actions.extend(state.on(Happened::KillGraceOver));
            }
            _ = at(drain.until()) => {
                drain = Drain::Off;
                actions.extend(state.on(Happened::DrainOver));
            }
            changed = stop.changed(), if stop_open => match changed {
                Ok(()) => {
                    let reason = *stop.borrow_and_update();
                    if let Some(reason) = reason {
                        actions.extend(state.on(Happened::Stop(reason)));
                    }
                }
                Err(_) => stop_open = false,
            },
        }
    };
    let wall_time = started.elapsed();
    pipe.flush();
    if reader.decoder.pending() > 0 && matches!(ending, Ending::Vanished(_)) {
        tracing::debug!(bytes = reader.decoder.pending(), "the launcher was cut off mid-frame");
    }
    let oom_killed = match ending {
        Ending::Vanished(code) => engine.oom_killed(&id, code == Some(137)).await?,
        Ending::Exited(s) | Ending::CompileFailed(s) if s.exit.signal() == Some(9) && s.oom_kills.is_none() => {
            engine.oom_killed(&id, true).await?
        }
        _ => false,
    };
    if !reader.diagnostics.trim().is_empty() {
        tracing::warn!(said = %reader.diagnostics.trim(), "the launcher wrote outside its protocol");
    }
    let Reader { compiled, blocks, .. } = reader;
    Ok(Finished { ending, stage: state.stage(), compiled, blocks, oom_killed, wall_time })
}

/// What the feeder writes.
struct Feed {
    tree: Option<Bytes>,
    files: Vec<File>,
    stdin: Vec<u8>,
    events: Option<mpsc::Receiver<InputEvent>>,
    frames: Option<mpsc::Receiver<Vec<u8>>>,
    cpu: launcher::CpuLimits,
}

/// Writes the files, then (after `gate`, the run stage's limits are in
/// force, and GO) stdin, then EOF or the interactive input; or, for test
/// cases, each case's frame as it comes, then EOF. A program that exits
/// without reading its stdin closes the pipe, which is not an error.
async fn feed(
    engine: Engine,
    id: String,
    mut pipe: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
    input: Feed,
    gate: Option<oneshot::Receiver<()>>,
) {
    let mut first = input.tree.as_deref().map(launcher::tree).unwrap_or_default();
    first.extend(launcher::files(&input.files, &input.cpu));
    if pipe.write_all(&first).await.is_err() || pipe.flush().await.is_err() {
        return;
    }
    if let Some(gate) = gate {
        if gate.await.is_err() || pipe.write_all(&launcher::go()).await.is_err() {
            return;
        }
        tracing::debug!("GO written");
    }
    if let Some(mut frames) = input.frames {
        while let Some(frame) = frames.recv().await {
            if pipe.write_all(&frame).await.is_err() || pipe.flush().await.is_err() {
                return;
            }
        }
        let _ = pipe.write_all(&launcher::eof()).await;
        let _ = pipe.flush().await;
        return;
    }
    let mut first = launcher::stdin(&input.stdin);
    if input.events.is_none() {
        first.extend(launcher::eof());
    }
    if pipe.write_all(&first).await.is_err() || pipe.flush().await.is_err() {
        return;
    }
    let Some(mut events) = input.events else { return };
    while let Some(event) = events.recv().await {
        let frame = match event {
            InputEvent::Stdin(bytes) => launcher::stdin(&bytes),
            InputEvent::Eof => launcher::eof(),
            InputEvent::Signal(sig) => {
                engine.signal(&id, &sig).await;
                continue;
            }
        };
        if pipe.write_all(&frame).await.is_err() || pipe.flush().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The drain grace counts only the driver's own waiting on Docker.
    #[test]
    fn the_drain_grace_stands_still_while_the_writer_holds_reading() {
        let kind = |d: &Drain| match d {
            Drain::Off => "off",
            Drain::Counting(_) => "counting",
            Drain::Paused => "paused",
        };
        // (before, reading now, a frame heard, after)
        #[rustfmt::skip]
        let table = [
            (Drain::Off, true, true, "off"),
            (Drain::Off, false, false, "off"),
            (Drain::counting(), true, false, "counting"),
            (Drain::counting(), false, false, "paused"),
            (Drain::Paused, false, false, "paused"),
            (Drain::Paused, true, false, "counting"),
            (Drain::Paused, true, true, "counting"),
        ];
        for (before, read, heard, after) in table {
            let mut d = before;
            d.reading(read);
            if heard {
                d.heard();
            }
            assert_eq!(kind(&d), after, "{before:?} reading={read} heard={heard}");
            assert_eq!(d.until().is_some(), after == "counting");
        }
        // A frame starts the grace again.
        let mut d = Drain::Counting(Instant::now());
        d.heard();
        assert!(d.until().unwrap() > Instant::now() + DRAIN_GRACE / 2);
    }
}
