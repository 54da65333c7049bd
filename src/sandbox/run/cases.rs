//! Test cases in a run: CASE frames forwarded from whoever conducts them,
//! each case's output captured for its report.

use tokio::sync::mpsc;

use crate::model::Stream;
use crate::output::OutputPipe;
use crate::sandbox::launcher::Status;

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
pub(super) struct CaseCapture {
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
    /// The capture for `link`'s reports, and the frames for the feeder.
    pub(super) fn new(link: CaseLink) -> (CaseCapture, mpsc::Receiver<Vec<u8>>) {
        let capture = CaseCapture {
            reports: link.reports,
            keep: link.keep_bytes,
            active: false,
            index: 0,
            stdout: Vec::new(),
            stderr: Vec::new(),
            cut: false,
        };
        (capture, link.frames)
    }

    /// The run stage started: the first case's output counts.
    pub(super) fn start(&mut self, pipe: &mut OutputPipe) {
        self.active = true;
        pipe.set_case(Some(0));
    }

    pub(super) fn push(&mut self, stream: Stream, data: &[u8]) {
        if !self.active {
            return;
        }
        let buf = if stream == Stream::Stderr { &mut self.stderr } else { &mut self.stdout };
        let room = self.keep.saturating_sub(buf.len());
        buf.extend_from_slice(&data[..data.len().min(room)]);
        self.cut |= data.len() > room;
    }

    /// The case ended: its report goes out, the next case's output starts.
    pub(super) fn done(&mut self, status: Status, pipe: &mut OutputPipe) {
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
        pipe.set_case(Some(self.index));
    }
}
