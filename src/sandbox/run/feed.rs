//! The container's stdin, written beside the driver: the files, then
//! (once the run stage's limits are in force) stdin and interactive input,
//! or each test case's frame as it comes.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::AbortOnDropHandle;

use super::cases::CaseCapture;
use super::Input;
use crate::model::request::File;
use crate::model::InputEvent;
use crate::sandbox::engine::Engine;
use crate::sandbox::launcher;
use crate::sandbox::stages::Stages;

/// The feeder, started.
pub(super) struct Feeder {
    /// Writing until the run is over (dropped: stopped).
    pub task: AbortOnDropHandle<()>,
    /// With a compile stage: opened once the run stage's limits are in
    /// force, and the feeder then writes GO and the program's input.
    pub gate: Option<oneshot::Sender<()>>,
    /// Test cases: the capture of the cases whose frames it forwards.
    pub cases: Option<CaseCapture>,
    /// Set once the user sent the container a signal (an interactive
    /// session's): a SIGKILL that ends it may be theirs.
    pub signalled: Arc<AtomicBool>,
}

impl Feeder {
    /// Starts writing `input` to the container `id`'s stdin (`pipe`).
    pub(super) fn start(
        engine: &Engine,
        id: &str,
        pipe: Pin<Box<dyn AsyncWrite + Send>>,
        input: Input,
        stages: &Stages,
    ) -> Feeder {
        // Stdin is written concurrently with reading output: a program that
        // prints before reading must not deadlock against us.
        let (gate, gate_rx) = match stages.compile {
            Some(_) => {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let cpu = launcher::CpuLimits { compile: stages.compile.and_then(|c| c.cpu_time), run: stages.run.cpu_time };
        let Input { tree, files, stdin, events, cases } = input;
        let (cases, frames) = cases.map(CaseCapture::new).unzip();
        let feeding = Feed { tree, files, stdin, events, frames, cpu };
        let signalled = Arc::new(AtomicBool::new(false));
        let feeding = feed(engine.clone(), id.to_string(), pipe, feeding, gate_rx, signalled.clone());
        let task = AbortOnDropHandle::new(tokio::spawn(feeding));
        Feeder { task, gate, cases, signalled }
    }
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
    mut pipe: Pin<Box<dyn AsyncWrite + Send>>,
    input: Feed,
    gate: Option<oneshot::Receiver<()>>,
    signalled: Arc<AtomicBool>,
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
                signalled.store(true, Ordering::Relaxed);
                engine.signal(&id, &sig).await;
                continue;
            }
        };
        if pipe.write_all(&frame).await.is_err() || pipe.flush().await.is_err() {
            return;
        }
    }
}
