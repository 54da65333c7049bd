//! Log lines from the pipe to the log writer, as the writer takes them:
//! nothing in the run waits for it, and a writer that stopped (fenced out)
//! gets nothing more.

use tokio::sync::mpsc::error::{SendError, TrySendError};
use tokio::sync::mpsc::{Permit, Sender};

use crate::output::{LogLine, OutputPipe};

/// Lines queued beyond which reading output waits for the writer
/// (backpressure, not loss).
const QUEUE_HIGH: usize = 4096;

/// The hand-off of the pipe's queued lines to the log writer.
pub(super) struct Handoff<'a> {
    logs: &'a Sender<LogLine>,
}

impl<'a> Handoff<'a> {
    pub(super) fn new(logs: &'a Sender<LogLine>) -> Handoff<'a> {
        Handoff { logs }
    }

    /// Hands queued lines over as far as the writer takes them now.
    pub(super) fn now(&self, pipe: &mut OutputPipe) {
        while pipe.queued() > 0 {
            match self.logs.try_reserve() {
                Ok(permit) => permit.send(pipe.pop().expect("a queued line")),
                Err(TrySendError::Full(())) => break,
                Err(TrySendError::Closed(())) => drop_all(pipe),
            }
        }
    }

    /// Room in the writer's queue, once there is (the driver waits for it
    /// only while lines are queued).
    pub(super) async fn room(&self) -> Result<Permit<'a, LogLine>, SendError<()>> {
        self.logs.reserve().await
    }

    /// The writer had room for one line, or stopped.
    pub(super) fn took(&self, permit: Result<Permit<'_, LogLine>, SendError<()>>, pipe: &mut OutputPipe) {
        match permit {
            Ok(permit) => permit.send(pipe.pop().expect("a queued line")),
            Err(_) => drop_all(pipe),
        }
    }

    /// Whether the writer is so far behind that reading waits for it.
    pub(super) fn behind(&self, pipe: &OutputPipe) -> bool {
        pipe.queued() >= QUEUE_HIGH
    }
}

/// The writer stopped (fenced out): nobody wants the lines.
fn drop_all(pipe: &mut OutputPipe) {
    while pipe.pop().is_some() {}
}
