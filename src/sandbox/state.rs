//! One run as a state machine: what happened ([`Input`]) in, what to do
//! ([`Action`]) out. No I/O and no clock: the driver (`run`) owns the
//! container, the timers and the output, and feeds every happening here.
//!
//! The rules that keep every session finite:
//! * the first reason to end wins (a cap, a deadline, a stop request, the
//!   program's own exit); later ones change nothing;
//! * output over the cap decides even when it is read after the container
//!   went (the program printed it before it ended; how fast the worker
//!   reads changes no outcome);
//! * a kill is an action the driver starts and does not wait for: output
//!   keeps being read while Docker kills the container (Docker's SIGKILL
//!   waits for its copy of the output to drain, which waits for its reader);
//! * after a kill, the run ends when the container is seen gone, or fails
//!   when it is not within the kill grace.

use super::launcher::Status;
use crate::model::Stage;

/// Why execbox stopped a program before it ended by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// The owner set `cancel_requested_at`.
    Cancelled,
    /// This worker no longer holds the session (lease expired, reclaimed).
    LeaseLost,
    /// The worker is shutting down and the grace period is over.
    Shutdown,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Ending {
    /// The program (or test runner) ended by itself.
    Exited(Status),
    /// The compiler failed.
    CompileFailed(Status),
    CompileTimedOut,
    TimedOut,
    OutputLimit,
    Stopped(StopReason),
    /// The container ended without the launcher's word (its exit code, as
    /// Docker saw it): the launcher itself was killed.
    Vanished(Option<i64>),
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Input {
    /// The launcher's compiler status.
    Compiled(Status),
    /// The launcher's program status (its last frame).
    Exited(Status),
    /// The output pipe reached the session's cap.
    CapReached,
    /// The current stage's deadline passed.
    Deadline,
    /// execbox wants the program stopped.
    Stop(StopReason),
    /// The container's output stream ended.
    OutputClosed,
    /// Docker reports the container ended, with this exit code.
    ContainerExited(Option<i64>),
    /// Output may still arrive after the container ended; no more waiting.
    DrainOver,
    /// The container was killed this long ago and is still not gone.
    KillGraceOver,
    /// The launcher broke the protocol or said it failed.
    LauncherFailed(String),
}

/// What to do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Kill the container (without waiting for Docker's answer) and arm the
    /// kill grace.
    Kill,
    /// Arm the deadline of `stage` (replacing any other).
    ArmDeadline(Stage),
    /// The compiler succeeded: apply the run stage's limits, tag output as
    /// the run stage's, then let the program start.
    StartRun,
    /// Keep reading output while it comes; give up on the rest once none
    /// came for a short grace (the driver's reading, not its writer, is
    /// timed).
    ArmDrain,
    /// The run is over.
    Finish(Ending),
    /// The sandbox failed (an infrastructure fault).
    Fail(Failure),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Killed, yet not gone within the kill grace.
    KillTimeout,
    Launcher(String),
}

#[derive(Debug)]
pub(crate) struct RunState {
    stage: Stage,
    /// The compile stage is all (its sandbox exports /work): a compiler
    /// that succeeded is followed by the launcher's last frame, not a run.
    export: bool,
    /// The reason the run ends, once there is one.
    ending: Option<Ending>,
    output_open: bool,
    /// Docker's word that the container ended (and its exit code).
    container_exit: Option<Option<i64>>,
    done: bool,
}

impl RunState {
    /// A run that starts in the compile stage or straight in the run stage
    /// (`export`: the compile stage is all); the actions to take at once.
    pub(crate) fn start(compile: bool, export: bool) -> (RunState, Vec<Action>) {
        let stage = if compile { Stage::Compile } else { Stage::Run };
        let state = RunState { stage, export, ending: None, output_open: true, container_exit: None, done: false };
        (state, vec![Action::ArmDeadline(stage)])
    }

    pub(crate) fn stage(&self) -> Stage {
        self.stage
    }

    #[cfg(test)]
    fn is_done(&self) -> bool {
        self.done
    }

    /// A reason to end was decided (a kill is under way): later output is
    /// beyond the cut.
    pub(crate) fn ending_decided(&self) -> bool {
        self.ending.is_some()
    }

    /// The next step.
    pub(crate) fn on(&mut self, input: Input) -> Vec<Action> {
        if self.done {
            return Vec::new();
        }
        let actions = self.step(input);
        if actions.iter().any(|a| matches!(a, Action::Finish(_) | Action::Fail(_))) {
            self.done = true;
        }
        actions
    }

    fn step(&mut self, input: Input) -> Vec<Action> {
        match input {
            Input::Compiled(status) if self.ending.is_none() && self.stage == Stage::Compile => {
                if status.success() && self.export {
                    // /work follows, then the launcher's last frame.
                    Vec::new()
                } else if status.success() {
                    self.stage = Stage::Run;
                    vec![Action::StartRun, Action::ArmDeadline(Stage::Run)]
                } else {
                    self.finish(Ending::CompileFailed(status))
                }
            }
            Input::Exited(status) => match self.ending {
                // The launcher's last frame: every byte of output came
                // before it. A reason to end decided earlier stands.
                Some(ending) => self.finish(ending),
                None => self.finish(Ending::Exited(status)),
            },
            // The output was over the cap whenever it is read: a container
            // already gone has nothing left to kill, yet its output decides.
            Input::CapReached if self.ending.is_none() && self.container_exit.is_some() => {
                self.ending = Some(Ending::OutputLimit);
                Vec::new()
            }
            Input::CapReached => self.end_by_kill(Ending::OutputLimit),
            Input::Deadline => self.end_by_kill(match self.stage {
                Stage::Compile => Ending::CompileTimedOut,
                Stage::Run => Ending::TimedOut,
            }),
            Input::Stop(reason) => self.end_by_kill(Ending::Stopped(reason)),
            Input::OutputClosed => {
                self.output_open = false;
                match self.container_exit {
                    Some(code) => self.finish(self.ending.unwrap_or(Ending::Vanished(code))),
                    None => Vec::new(),
                }
            }
            Input::ContainerExited(code) => {
                self.container_exit = Some(code);
                if self.output_open {
                    vec![Action::ArmDrain]
                } else {
                    self.finish(self.ending.unwrap_or(Ending::Vanished(code)))
                }
            }
            Input::DrainOver => match self.container_exit {
                Some(code) => self.finish(self.ending.unwrap_or(Ending::Vanished(code))),
                None => Vec::new(),
            },
            Input::KillGraceOver if self.container_exit.is_none() => vec![Action::Fail(Failure::KillTimeout)],
            Input::LauncherFailed(why) => vec![Action::Kill, Action::Fail(Failure::Launcher(why))],
            // A compile status out of turn (the run is already ending), or
            // a kill grace that ran out after the container went.
            Input::Compiled(_) | Input::KillGraceOver => Vec::new(),
        }
    }

    fn end_by_kill(&mut self, ending: Ending) -> Vec<Action> {
        // The first reason stands; a container already gone ended first.
        if self.ending.is_some() || self.container_exit.is_some() {
            return Vec::new();
        }
        self.ending = Some(ending);
        vec![Action::Kill]
    }

    fn finish(&mut self, ending: Ending) -> Vec<Action> {
        vec![Action::Finish(ending)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Exit, StageUsage};

    fn status(exit: Exit) -> Status {
        Status {
            exit,
            usage: StageUsage::default(),
            oom_kills: Some(0),
            cpu_exceeded: false,
            wall_exceeded: false,
            output_exceeded: false,
        }
    }

    use Action::*;
    use Input::*;

    /// Runs `inputs` through a fresh machine; every step's actions.
    fn trace(compile: bool, inputs: Vec<Input>) -> Vec<Vec<Action>> {
        trace_of(RunState::start(compile, false), inputs)
    }

    fn trace_of((mut m, first): (RunState, Vec<Action>), inputs: Vec<Input>) -> Vec<Vec<Action>> {
        let mut out = vec![first];
        for i in inputs {
            out.push(m.on(i));
        }
        out
    }

    #[test]
    fn a_compile_stage_that_exports_ends_with_the_launchers_last_frame() {
        let (ok, bad) = (status(Exit::Code(0)), status(Exit::Code(1)));
        type Row = (&'static str, Vec<Input>, Vec<Vec<Action>>);
        #[rustfmt::skip]
        let table: Vec<Row> = vec![
            ("compiled: no run stage, the compiler's status ends it (in the compile stage)",
             vec![Compiled(ok), Exited(ok)],
             vec![vec![ArmDeadline(Stage::Compile)], vec![], vec![Finish(Ending::Exited(ok))]]),
            ("a failed compile ends it as ever",
             vec![Compiled(bad)],
             vec![vec![ArmDeadline(Stage::Compile)], vec![Finish(Ending::CompileFailed(bad))]]),
            ("the compile deadline while /work is sent",
             vec![Compiled(ok), Deadline, ContainerExited(Some(137)), OutputClosed],
             vec![vec![ArmDeadline(Stage::Compile)], vec![], vec![Kill], vec![ArmDrain], vec![Finish(Ending::CompileTimedOut)]]),
        ];
        for (what, inputs, want) in table {
            assert_eq!(trace_of(RunState::start(true, true), inputs), want, "{what}");
        }
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn transitions() {
        let ok = status(Exit::Code(0));
        let bad = status(Exit::Code(1));
        let segv = status(Exit::Signal(11));
        #[rustfmt::skip]
        let table: Vec<(&str, bool, Vec<Input>, Vec<Vec<Action>>)> = vec![
            ("a plain run ends with the launcher's status",
             false, vec![Exited(ok)],
             vec![vec![ArmDeadline(Stage::Run)], vec![Finish(Ending::Exited(ok))]]),
            ("a crash is the program's status too",
             false, vec![Exited(segv)],
             vec![vec![ArmDeadline(Stage::Run)], vec![Finish(Ending::Exited(segv))]]),
            ("a compiled program: compile, switch, run",
             true, vec![Compiled(ok), Exited(bad)],
             vec![vec![ArmDeadline(Stage::Compile)], vec![StartRun, ArmDeadline(Stage::Run)], vec![Finish(Ending::Exited(bad))]]),
            ("a failed compile ends the run",
             true, vec![Compiled(bad)],
             vec![vec![ArmDeadline(Stage::Compile)], vec![Finish(Ending::CompileFailed(bad))]]),
            ("the compile deadline",
             true, vec![Deadline, ContainerExited(Some(137)), OutputClosed],
             vec![vec![ArmDeadline(Stage::Compile)], vec![Kill], vec![ArmDrain], vec![Finish(Ending::CompileTimedOut)]]),
            ("the run deadline; the attach stream closes first",
             false, vec![Deadline, OutputClosed, ContainerExited(Some(137))],
             vec![vec![ArmDeadline(Stage::Run)], vec![Kill], vec![], vec![Finish(Ending::TimedOut)]]),
            // The flood bug: the cap is reached, the kill is on its way and
            // output keeps coming; the run ends once Docker reports the
            // container gone, whatever the stream does.
            ("the output cap: kill, keep reading, end when gone",
             false, vec![CapReached, CapReached, Deadline, ContainerExited(Some(137)), DrainOver],
             vec![vec![ArmDeadline(Stage::Run)], vec![Kill], vec![], vec![], vec![ArmDrain], vec![Finish(Ending::OutputLimit)]]),
            ("a deadline then the cap: the deadline decided",
             false, vec![Deadline, CapReached, OutputClosed, ContainerExited(Some(137))],
             vec![vec![ArmDeadline(Stage::Run)], vec![Kill], vec![], vec![], vec![Finish(Ending::TimedOut)]]),
            ("a status that races a kill: the kill's reason stands",
             false, vec![CapReached, Exited(ok)],
             vec![vec![ArmDeadline(Stage::Run)], vec![Kill], vec![Finish(Ending::OutputLimit)]]),
            ("a cancel",
             false, vec![Stop(StopReason::Cancelled), ContainerExited(Some(137)), OutputClosed],
             vec![vec![ArmDeadline(Stage::Run)], vec![Kill], vec![ArmDrain], vec![Finish(Ending::Stopped(StopReason::Cancelled))]]),
            ("a cancel while compiling: no run stage follows",
             true, vec![Stop(StopReason::Cancelled), Compiled(ok), ContainerExited(None), DrainOver],
             vec![vec![ArmDeadline(Stage::Compile)], vec![Kill], vec![], vec![ArmDrain], vec![Finish(Ending::Stopped(StopReason::Cancelled))]]),
            ("the launcher killed from outside (e.g. its OOM kill)",
             false, vec![OutputClosed, ContainerExited(Some(137))],
             vec![vec![ArmDeadline(Stage::Run)], vec![], vec![Finish(Ending::Vanished(Some(137)))]]),
            ("a container gone while its output stays open",
             false, vec![ContainerExited(Some(1)), DrainOver],
             vec![vec![ArmDeadline(Stage::Run)], vec![ArmDrain], vec![Finish(Ending::Vanished(Some(1)))]]),
            ("a kill that never lands fails the run",
             false, vec![Deadline, KillGraceOver],
             vec![vec![ArmDeadline(Stage::Run)], vec![Kill], vec![Fail(Failure::KillTimeout)]]),
            ("a kill grace after the container went is nothing",
             false, vec![Deadline, ContainerExited(Some(137)), KillGraceOver, DrainOver],
             vec![vec![ArmDeadline(Stage::Run)], vec![Kill], vec![ArmDrain], vec![], vec![Finish(Ending::TimedOut)]]),
            // Output is read behind the program: a flood read after the
            // container went was over the cap all the same.
            ("the cap read after the container went: the output decided",
             false, vec![ContainerExited(Some(0)), CapReached, Exited(ok)],
             vec![vec![ArmDeadline(Stage::Run)], vec![ArmDrain], vec![], vec![Finish(Ending::OutputLimit)]]),
            ("the cap read after the container went, then no report",
             false, vec![ContainerExited(Some(0)), CapReached, DrainOver],
             vec![vec![ArmDeadline(Stage::Run)], vec![ArmDrain], vec![], vec![Finish(Ending::OutputLimit)]]),
            ("a deadline after the container went kills nothing",
             false, vec![ContainerExited(Some(0)), Deadline, DrainOver],
             vec![vec![ArmDeadline(Stage::Run)], vec![ArmDrain], vec![], vec![Finish(Ending::Vanished(Some(0)))]]),
            ("a broken launcher",
             false, vec![LauncherFailed("bad frame".into())],
             vec![vec![ArmDeadline(Stage::Run)], vec![Kill, Fail(Failure::Launcher("bad frame".into()))]]),
            ("nothing happens after the end",
             false, vec![Exited(ok), Deadline, CapReached, OutputClosed],
             vec![vec![ArmDeadline(Stage::Run)], vec![Finish(Ending::Exited(ok))], vec![], vec![], vec![]]),
        ];
        for (name, compile, inputs, want) in table {
            assert_eq!(trace(compile, inputs), want, "{name}");
        }
    }

    #[test]
    fn the_stage_follows_the_compile_status() {
        let (mut m, _) = RunState::start(true, false);
        assert_eq!(m.stage(), Stage::Compile);
        m.on(Compiled(status(Exit::Code(0))));
        assert_eq!(m.stage(), Stage::Run);
        assert!(!m.is_done());
        m.on(Exited(status(Exit::Code(0))));
        assert!(m.is_done());
    }
}
