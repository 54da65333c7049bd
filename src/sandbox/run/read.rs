//! The container's output as it is read: launcher frames decoded into
//! happenings for the state machine.

use std::collections::{HashMap, VecDeque};

use bollard::container::LogOutput;
use bytes::Bytes;

use super::cases::CaseCapture;
use crate::output::{Flow, OutputPipe};
use crate::sandbox::engine::SandboxError;
use crate::sandbox::launcher::{Decoder, Event, Status};
use crate::sandbox::state::{Action, Input as Happened, RunState};

/// The container's output as it is read: launcher frames decoded, the
/// program's output into the pipe (and the current case's capture), every
/// happening to the state machine at once (whether output is past the cut
/// depends on the frame before it), and what the launcher hands over kept
/// for the end.
pub(super) struct Reader {
    decoder: Decoder,
    pub(super) cases: Option<CaseCapture>,
    pub(super) compiled: Option<Status>,
    /// Named files the launcher sent.
    pub(super) blocks: HashMap<String, Bytes>,
    /// The launcher's own words outside its protocol (before it could
    /// speak it), bounded.
    diagnostics: String,
}

impl Reader {
    pub(super) fn new(cases: Option<CaseCapture>) -> Reader {
        Reader {
            decoder: Decoder::default(),
            cases,
            compiled: None,
            blocks: HashMap::new(),
            diagnostics: String::new(),
        }
    }

    /// One frame of the attach stream.
    pub(super) fn frame(
        &mut self,
        frame: LogOutput,
        state: &mut RunState,
        pipe: &mut OutputPipe,
        actions: &mut VecDeque<Action>,
    ) {
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
                    c.done(status, pipe);
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

    /// The run stage started: a case's output counts from now.
    pub(super) fn run_stage(&mut self, pipe: &mut OutputPipe) {
        if let Some(c) = self.cases.as_mut() {
            c.start(pipe);
        }
    }

    /// The launcher failed: why, with what it said outside its protocol.
    pub(super) fn failed(&self, why: String) -> SandboxError {
        let said = self.diagnostics.trim();
        SandboxError::Launcher(if said.is_empty() { why } else { format!("{why}; it said: {said}") })
    }

    /// The run ended: what the launcher left unsaid is logged.
    pub(super) fn end(&self, vanished: bool) {
        if self.decoder.pending() > 0 && vanished {
            tracing::debug!(bytes = self.decoder.pending(), "the launcher was cut off mid-frame");
        }
        if !self.diagnostics.trim().is_empty() {
            tracing::warn!(said = %self.diagnostics.trim(), "the launcher wrote outside its protocol");
        }
    }
}
