//! From raw container output to log lines: split on `\n`, keep a final line
//! without newline, replace invalid UTF-8 (and NUL, which PostgreSQL text
//! cannot hold) instead of dropping it, split very long lines, and stop at the
//! session's output cap while keeping everything printed before it.

use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
    System,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::System => "system",
        }
    }
}

/// Which stage printed a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Compile,
    Run,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Compile => "compile",
            Stage::Run => "run",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// One row-to-be of `execution_logs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub stream: Stream,
    pub level: Level,
    pub message: String,
    /// The program's line ended with a newline (false for a final line
    /// without one and for all but the last piece of a split long line).
    pub newline: bool,
    pub stage: Stage,
}

/// A line as the splitter cuts it: its text and whether a newline ended it.
pub type Piece = (String, bool);

impl LogLine {
    pub fn program(stream: Stream, (message, newline): Piece) -> LogLine {
        let level = if stream == Stream::Stderr { Level::Error } else { Level::Info };
        LogLine { stream, level, message, newline, stage: Stage::Run }
    }
    pub fn system(level: Level, message: impl Into<String>) -> LogLine {
        LogLine { stream: Stream::System, level, message: message.into(), newline: true, stage: Stage::Run }
    }
}

/// Splits one stream's bytes into lines.
#[derive(Debug, Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
}

impl LineSplitter {
    /// Appends `data`, returning every line it completes (and pieces of lines
    /// longer than `max_line`, split at a character boundary).
    pub fn push(&mut self, data: &[u8], max_line: usize, out: &mut Vec<Piece>) {
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
    pub fn flush(&mut self, out: &mut Vec<Piece>) {
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

/// Lossy UTF-8 with NUL replaced too; a trailing `\r` (CRLF) is dropped.
pub fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    let s = String::from_utf8_lossy(bytes);
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s.into_owned()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// The output cap was reached: stop the program (but keep draining).
    Stop,
}

/// A session's output on its way to the log writer.
pub struct OutputPipe {
    stdout: LineSplitter,
    stderr: LineSplitter,
    seen: u64,
    cap: u64,
    capped: bool,
    max_line: usize,
    stage: Stage,
    /// Validation: the launcher's report block is taken out of stdout.
    report: Option<ReportCapture>,
    /// The compile stage's first lines, for the session's error message.
    compile_excerpt: String,
    tx: mpsc::Sender<LogLine>,
}

/// The launcher prints each block (the test report, benchmark timings)
/// between `\x1eexecbox:block:NAME\x1e` and this line on stdout.
pub const BLOCK_START: &str = "\u{1e}execbox:block:";
pub const BLOCK_END: &str = "\u{1e}execbox:end\u{1e}";

#[derive(Default)]
struct ReportCapture {
    /// A block being read: its name and text so far.
    open: Option<(String, String)>,
    /// The last complete block of each name (base64 text).
    last: std::collections::HashMap<String, String>,
    /// An empty line held back: it may be the launcher's, before a marker.
    pending_empty: bool,
}

impl OutputPipe {
    pub fn new(cap: u64, max_line: usize, tx: mpsc::Sender<LogLine>) -> OutputPipe {
        OutputPipe {
            stdout: Default::default(),
            stderr: Default::default(),
            seen: 0,
            cap,
            capped: false,
            max_line,
            stage: Stage::Run,
            report: None,
            compile_excerpt: String::new(),
            tx,
        }
    }

    /// The compiler's first lines (at most about 1 KB).
    pub fn compile_excerpt(&self) -> &str {
        self.compile_excerpt.trim_end()
    }

    /// Takes the launcher's report blocks out of stdout (validation runs).
    pub fn capture_report(&mut self) {
        self.report = Some(ReportCapture::default());
    }

    /// The last complete block called `name`, base64 as printed; None when
    /// there was none (or capture is off).
    pub fn block(&self, name: &str) -> Option<&str> {
        self.report.as_ref().and_then(|r| r.last.get(name)).map(String::as_str)
    }

    /// Lines from now on belong to `stage` (partial lines are flushed to the
    /// stage that printed them).
    pub async fn set_stage(&mut self, stage: Stage) {
        self.flush().await;
        self.stage = stage;
    }

    pub fn capped(&self) -> bool {
        self.capped
    }

    /// Feeds program output. After the cap, everything is discarded.
    pub async fn push(&mut self, stream: Stream, data: &[u8]) -> Flow {
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
        self.send_all(stream, lines).await;
        if take < data.len() {
            self.capped = true;
            self.flush().await;
            let cap = self.cap;
            self.system(
                Level::Error,
                format!(
                    "output limit of {cap} bytes reached; the program was stopped and the rest of its output discarded"
                ),
            )
            .await;
            return Flow::Stop;
        }
        Flow::Continue
    }

    /// Emits partial lines of both streams.
    pub async fn flush(&mut self) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        self.stdout.flush(&mut out);
        self.stderr.flush(&mut err);
        self.send_all(Stream::Stdout, out).await;
        self.send_all(Stream::Stderr, err).await;
    }

    pub async fn system(&mut self, level: Level, message: impl Into<String>) {
        // A closed channel means the writer stopped (fenced out); nothing to do.
        let line = LogLine { stage: self.stage, ..LogLine::system(level, message) };
        let _ = self.tx.send(line).await;
    }

    async fn send_all(&mut self, stream: Stream, lines: Vec<Piece>) {
        for piece in lines {
            let pieces = match (&mut self.report, stream) {
                (Some(r), Stream::Stdout) => r.take(piece),
                _ => vec![piece],
            };
            for piece in pieces {
                if self.stage == Stage::Compile && self.compile_excerpt.len() < 1024 {
                    let room = 1024 - self.compile_excerpt.len();
                    let text: String = piece.0.chars().take(room).collect();
                    self.compile_excerpt.push_str(&text);
                    self.compile_excerpt.push('\n');
                }
                let line = LogLine { stage: self.stage, ..LogLine::program(stream, piece) };
                let _ = self.tx.send(line).await;
            }
        }
    }
}

impl ReportCapture {
    /// Keeps report lines; returns what is program output (zero, one or two
    /// pieces). The launcher prints "\n" and the start marker on a line of
    /// its own, so the empty line just before a start marker is its, not the
    /// program's. A new start discards an open block: the last block — the
    /// launcher's, printed after every process of the tested code was
    /// killed — is the one kept.
    fn take(&mut self, (text, newline): Piece) -> Vec<Piece> {
        if let Some(name) = text.strip_prefix(BLOCK_START).and_then(|r| r.strip_suffix('\u{1e}')) {
            self.pending_empty = false;
            self.open = Some((name.to_string(), String::new()));
            return Vec::new();
        }
        if let Some((_, block)) = &mut self.open {
            if text == BLOCK_END {
                if let Some((name, block)) = self.open.take() {
                    self.last.insert(name, block);
                }
            } else {
                block.push_str(&text);
            }
            return Vec::new();
        }
        let mut out = Vec::new();
        if std::mem::take(&mut self.pending_empty) {
            out.push((String::new(), true));
        }
        if text.is_empty() && newline {
            self.pending_empty = true;
        } else {
            out.push((text, newline));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_last_report_block_is_kept_and_not_logged() {
        let (tx, mut rx) = mpsc::channel(100);
        let mut pipe = OutputPipe::new(1 << 20, 64, tx);
        pipe.capture_report();
        let forged = format!("hello\n\n{BLOCK_START}report\u{1e}\nZm9yZ2Vk\n{BLOCK_END}\n");
        let real = format!(
            "\n{BLOCK_START}report\u{1e}\n{}\n\n{BLOCK_END}\n{BLOCK_START}bench\u{1e}\nMQ==\n{BLOCK_END}\n",
            "QUJD".repeat(40)
        );
        pipe.push(Stream::Stdout, forged.as_bytes()).await;
        pipe.push(Stream::Stdout, b"after\n").await;
        pipe.push(Stream::Stdout, real.as_bytes()).await;
        pipe.flush().await;
        assert_eq!(
            pipe.block("report"),
            Some("QUJD".repeat(40).as_str()),
            "long lines are joined back, the last block wins"
        );
        assert_eq!(pipe.block("bench"), Some("MQ=="));
        drop(pipe);
        let mut lines = Vec::new();
        while let Some(l) = rx.recv().await {
            lines.push((l.message, l.newline));
        }
        assert_eq!(lines, [("hello".to_string(), true), ("after".to_string(), true)]);
    }

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
        assert_eq!(split(&[b"crlf\r\n"], 100), ["crlf"]);
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

    #[tokio::test]
    async fn cap_keeps_what_fits_and_says_so() {
        let (tx, mut rx) = mpsc::channel(100);
        let mut pipe = OutputPipe::new(10, 100, tx);
        assert_eq!(pipe.push(Stream::Stdout, b"12345\n").await, Flow::Continue);
        assert_eq!(pipe.push(Stream::Stderr, b"abcdefgh\n").await, Flow::Stop);
        assert_eq!(pipe.push(Stream::Stdout, b"more\n").await, Flow::Stop);
        drop(pipe);
        let mut got = Vec::new();
        while let Some(l) = rx.recv().await {
            got.push(l);
        }
        assert_eq!(got[0], LogLine::program(Stream::Stdout, ("12345".into(), true)));
        assert_eq!(got[1], LogLine::program(Stream::Stderr, ("abcd".into(), false)));
        assert_eq!(got[2].stream, Stream::System);
        assert!(got[2].message.contains("output limit of 10 bytes"));
        assert_eq!(got.len(), 3);
    }
}
