//! From raw container output to log lines: split on `\n`, keep a final line
//! without newline, replace invalid UTF-8 (and NUL, which PostgreSQL text
//! cannot hold) instead of dropping it, split very long lines, and stop at the
//! session's output cap while keeping everything printed before it.

use std::collections::VecDeque;

pub(crate) use crate::model::{Level, Stage, Stream};

/// One row-to-be of `execution_logs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogLine {
    pub stream: Stream,
    pub level: Level,
    pub message: String,
    /// The program's line ended with a newline (false for a final line
    /// without one and for all but the last piece of a split long line).
    pub newline: bool,
    pub stage: Stage,
    /// Mode cases: the index of the case that printed it.
    pub case: Option<i32>,
}

/// A line as the splitter cuts it: its text and whether a newline ended it.
pub(crate) type Piece = (String, bool);

impl LogLine {
    pub(crate) fn program(stream: Stream, (message, newline): Piece) -> LogLine {
        let level = if stream == Stream::Stderr { Level::Error } else { Level::Info };
        LogLine { stream, level, message, newline, stage: Stage::Run, case: None }
    }
    pub(crate) fn system(level: Level, message: impl Into<String>) -> LogLine {
        LogLine { stream: Stream::System, level, message: message.into(), newline: true, stage: Stage::Run, case: None }
    }
}

/// Splits one stream's bytes into lines.
#[derive(Debug, Default)]
pub(crate) struct LineSplitter {
    buf: Vec<u8>,
}

impl LineSplitter {
    /// Appends `data`, returning every line it completes (and pieces of lines
    /// longer than `max_line`, split at a character boundary).
    pub(crate) fn push(&mut self, data: &[u8], max_line: usize, out: &mut Vec<Piece>) {
        let mut rest = data;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            self.buf.extend_from_slice(&rest[..nl]);
            self.split_long(max_line, out);
            out.push((decode(&self.buf), true));
            self.buf.clear();
            rest = &rest[nl + 1..];
        }
        self.buf.extend_from_slice(rest);
        self.split_long(max_line, out);
    }

    /// Emits a final line that had no newline, if any.
    pub(crate) fn flush(&mut self, out: &mut Vec<Piece>) {
        if !self.buf.is_empty() {
            out.push((decode(&self.buf), false));
            self.buf.clear();
        }
    }

    fn split_long(&mut self, max_line: usize, out: &mut Vec<Piece>) {
        while self.buf.len() > max_line {
            let mut cut = max_line;
            // Back up over UTF-8 continuation bytes (at most 3) so a character
            // is not cut in half.
            while cut > max_line.saturating_sub(3) && cut > 0 && (self.buf[cut] & 0xC0) == 0x80 {
                cut -= 1;
            }
            if (self.buf[cut] & 0xC0) == 0x80 {
                cut = max_line; // not UTF-8 anyway
            }
            out.push((decode(&self.buf[..cut]), false));
            self.buf.drain(..cut);
        }
    }
}

/// Lossy UTF-8 with NUL replaced too (a CR stays: the text is exact).
pub(crate) fn decode(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s.into_owned()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// The output cap was reached: stop the program (later output is
    /// discarded).
    Stop,
}

/// A session's output on its way to the log writer: lines are queued here
/// and taken by whoever delivers them ([`OutputPipe::pop`]), so pushing
/// never waits.
pub(crate) struct OutputPipe {
    stdout: LineSplitter,
    stderr: LineSplitter,
    seen: u64,
    cap: u64,
    capped: bool,
    max_line: usize,
    stage: Stage,
    case: Option<i32>,
    /// Mode cases: reaching the cap stops the logging, not the program
    /// (each case has its own output limit).
    cases: bool,
    /// The compile stage's first lines, for the session's error message.
    compile_excerpt: String,
    queue: VecDeque<LogLine>,
}

impl OutputPipe {
    pub(crate) fn new(cap: u64, max_line: usize) -> OutputPipe {
        OutputPipe {
            stdout: Default::default(),
            stderr: Default::default(),
            seen: 0,
            cap,
            capped: false,
            max_line,
            stage: Stage::Run,
            case: None,
            cases: false,
            compile_excerpt: String::new(),
            queue: VecDeque::new(),
        }
    }

    /// The compiler's first lines (at most about 1 KB).
    pub(crate) fn compile_excerpt(&self) -> &str {
        self.compile_excerpt.trim_end()
    }

    /// Lines from now on belong to `stage` (partial lines are flushed to the
    /// stage that printed them).
    pub(crate) fn set_stage(&mut self, stage: Stage) {
        self.flush();
        self.stage = stage;
    }

    /// Mode cases: reaching the cap ends the logging only.
    pub(crate) fn set_cases_mode(&mut self) {
        self.cases = true;
    }

    /// Lines from now on were printed by case `case` (partial lines are
    /// flushed to the case that printed them).
    pub(crate) fn set_case(&mut self, case: Option<i32>) {
        self.flush();
        self.case = case;
    }

    /// Feeds program output. After the cap, everything is discarded.
    pub(crate) fn push(&mut self, stream: Stream, data: &[u8]) -> Flow {
        if self.capped {
            return Flow::Stop;
        }
        let room = self.cap - self.seen;
        let take = (data.len() as u64).min(room) as usize;
        self.seen += take as u64;
        let mut lines = Vec::new();
        let splitter = match stream {
            Stream::Stderr => &mut self.stderr,
            _ => &mut self.stdout,
        };
        splitter.push(&data[..take], self.max_line, &mut lines);
        self.queue_all(stream, lines);
        if take < data.len() {
            self.capped = true;
            self.flush();
            let cap = self.cap;
            let message = if self.cases {
                format!("output limit of {cap} bytes reached; later output is not logged (each case is still judged)")
            } else {
                format!(
                    "output limit of {cap} bytes reached; the program was stopped and the rest of its output discarded"
                )
            };
            self.system(Level::Error, message);
            return Flow::Stop;
        }
        Flow::Continue
    }

    /// Queues partial lines of both streams.
    pub(crate) fn flush(&mut self) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        self.stdout.flush(&mut out);
        self.stderr.flush(&mut err);
        self.queue_all(Stream::Stdout, out);
        self.queue_all(Stream::Stderr, err);
    }

    pub(crate) fn system(&mut self, level: Level, message: impl Into<String>) {
        let line = LogLine { stage: self.stage, case: self.case, ..LogLine::system(level, message) };
        self.queue.push_back(line);
    }

    /// Lines waiting to be delivered.
    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The oldest line waiting to be delivered.
    pub(crate) fn pop(&mut self) -> Option<LogLine> {
        self.queue.pop_front()
    }

    /// Delivers every queued line (the writer applies backpressure). A
    /// closed channel means the writer stopped (fenced out): the lines are
    /// dropped.
    pub(crate) async fn deliver(&mut self, tx: &tokio::sync::mpsc::Sender<LogLine>) {
        while let Some(line) = self.queue.pop_front() {
            if tx.send(line).await.is_err() {
                self.queue.clear();
                return;
            }
        }
    }

    fn queue_all(&mut self, stream: Stream, lines: Vec<Piece>) {
        for piece in lines {
            if self.stage == Stage::Compile && self.compile_excerpt.len() < 1024 {
                let room = 1024 - self.compile_excerpt.len();
                let text: String = piece.0.chars().take(room).collect();
                self.compile_excerpt.push_str(&text);
                self.compile_excerpt.push('\n');
            }
            self.queue.push_back(LogLine { stage: self.stage, case: self.case, ..LogLine::program(stream, piece) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(chunks: &[&[u8]], max: usize) -> Vec<Piece> {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, max, &mut out);
        }
        s.flush(&mut out);
        out
    }

    fn split(chunks: &[&[u8]], max: usize) -> Vec<String> {
        pieces(chunks, max).into_iter().map(|p| p.0).collect()
    }

    #[test]
    fn newline_flags_rebuild_the_exact_text() {
        let text = "one\ntwo is long\nno newline";
        let p = pieces(&[text.as_bytes()], 5);
        let rebuilt: String = p.iter().map(|(m, nl)| if *nl { format!("{m}\n") } else { m.clone() }).collect();
        assert_eq!(rebuilt, text);
        assert_eq!(p[0], ("one".to_string(), true));
        // "two is long" is cut in pieces of 5: only the last piece ends the line.
        assert_eq!(&p[1..4], &[("two i".to_string(), false), ("s lon".to_string(), false), ("g".to_string(), true)]);
        assert_eq!(p.last().unwrap(), &("wline".to_string(), false));
    }

    #[test]
    fn lines_across_chunks_and_final_line() {
        assert_eq!(split(&[b"a\nb", b"c\n", b"tail"], 100), ["a", "bc", "tail"]);
        assert_eq!(split(&[b"\n\n"], 100), ["", ""]);
        assert_eq!(split(&[b"crlf\r\n"], 100), ["crlf\r"], "exact text: a CR stays");
    }

    #[test]
    fn invalid_utf8_and_nul_are_replaced() {
        assert_eq!(split(&[b"ok \xff\xfe end\n", b"nul\0x\n"], 100), ["ok \u{FFFD}\u{FFFD} end", "nul\u{FFFD}x"]);
    }

    #[test]
    fn long_lines_split_on_char_boundaries() {
        let line = "é".repeat(100); // 200 bytes
        let out = split(&[line.as_bytes(), b"\n"], 65);
        assert!(out.iter().all(|l| l.len() <= 65 && !l.contains('\u{FFFD}')), "{out:?}");
        assert_eq!(out.concat(), line);
    }

    #[test]
    fn cap_keeps_what_fits_and_says_so() {
        let mut pipe = OutputPipe::new(10, 100);
        assert_eq!(pipe.push(Stream::Stdout, b"12345\n"), Flow::Continue);
        assert_eq!(pipe.push(Stream::Stderr, b"abcdefgh\n"), Flow::Stop);
        assert_eq!(pipe.push(Stream::Stdout, b"more\n"), Flow::Stop);
        let mut got = Vec::new();
        while let Some(l) = pipe.pop() {
            got.push(l);
        }
        assert_eq!(got[0], LogLine::program(Stream::Stdout, ("12345".into(), true)));
        assert_eq!(got[1], LogLine::program(Stream::Stderr, ("abcd".into(), false)));
        assert_eq!(got[2].stream, Stream::System);
        assert!(got[2].message.contains("output limit of 10 bytes"));
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn stages_tag_lines_and_the_compiler_is_quoted() {
        let mut pipe = OutputPipe::new(1 << 20, 100);
        pipe.set_stage(Stage::Compile);
        pipe.push(Stream::Stderr, b"main.cpp:1: error: x\npartial");
        pipe.set_stage(Stage::Run);
        pipe.push(Stream::Stdout, b"ran\n");
        let lines: Vec<(Stage, String)> = std::iter::from_fn(|| pipe.pop()).map(|l| (l.stage, l.message)).collect();
        assert_eq!(
            lines,
            [
                (Stage::Compile, "main.cpp:1: error: x".to_string()),
                (Stage::Compile, "partial".to_string()),
                (Stage::Run, "ran".to_string())
            ]
        );
        assert_eq!(pipe.compile_excerpt(), "main.cpp:1: error: x\npartial");
    }
}
