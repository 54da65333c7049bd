//! The launcher protocol: how execbox talks to `execbox-launcher`, the
//! container's first process (`images/launcher/launcher.c`). This module
//! owns both directions: the launcher's command line, the frames execbox
//! writes to the container's stdin, and the decoder from the container's
//! stdout to a closed set of [`Event`]s.
//!
//! Every byte in either direction is a frame: kind (u8), payload length
//! (u32, big-endian), payload. The program's own stdout and stderr are pipes
//! that only the launcher reads and forwards as output frames, so nothing
//! the program prints is ever taken for a control message; the launcher is
//! PID 1 and not dumpable, so the program cannot write to the container's
//! stdio through `/proc` either. The container's stderr carries only what
//! the launcher says when it cannot speak the protocol at all.
//!
//! ```text
//! execbox → launcher                      launcher → execbox
//!   LAUNCH u16 count, each u32 length +     STDOUT    bytes
//!          bytes: a warm container's
//!          session's command line
//!   FILE   u16 name length, name, bytes
//!   START  (every file is written)          STDERR    bytes
//!   GO     (run-stage limits in force)      COMPILED  status
//!   STDIN  bytes                            EXITED    status (the run's last frame)
//!   EOF    (end of the program's stdin;     BLOCK     u16 name length, name, bytes
//!          --cases: no more cases)          FATAL     message
//!   CASE   (--cases) one more run           CASE_DONE status (--cases)
//!
//! status: i32 exit code (-1 if signalled), i32 signal, u64 user µs,
//!         u64 system µs, u64 wall µs, u64 peak RSS KiB, i32 OOM kills (-1 unknown),
//!         u32 flags (1: killed for its CPU time, 2: for its wall time,
//!         4: for its output bytes; the last two in cases only)
//! START:  u64 compile-stage CPU ms, u64 run-stage CPU ms (0: no limit)
//! CASE:   u64 wall ms, u64 CPU ms (0: none), u64 output bytes,
//!         u16 argument count, each u32 length + bytes,
//!         u16 file count, each u16 name length + name + u32 length + bytes,
//!         then the case's whole stdin
//! ```
//!
//! A run: [LAUNCH], FILE…, START; with a compile stage the launcher answers COMPILED
//! and, if it succeeded, waits for GO; then STDIN… EOF while it forwards
//! output, until EXITED. Validation runs end with BLOCK frames (the test
//! report, the benchmark timings) before EXITED, sent after every process of
//! the tested code was killed.
//!
//! LAUNCH, only ever the first frame, lets a warm container serve a session
//! whose command line is not the one the container was started with
//! (arguments, test cases, another stage plan): the launcher kills its
//! prestarted interpreter, unused, and goes on as if started with the
//! frame's command line, which may not prestart.
//!
//! With `--cases` the program does not start after GO: the launcher keeps
//! /work as compiled, then runs the program once per CASE (one at a time:
//! execbox sends the next after CASE_DONE), each in /work restored, /tmp
//! emptied, every earlier process killed, under the case's own limits; its
//! output frames come between the CASE and its CASE_DONE. EOF ends the
//! cases: the launcher answers EXITED (whose status means nothing).

use bytes::{Buf, BytesMut};

use crate::model::request::{is_safe_name, File};
use crate::model::{Exit, StageUsage, Stream};

/// Where every runtime image has the launcher.
pub const PATH: &str = "/usr/local/bin/execbox-launcher";

/// This protocol's version, which `execbox images build` labels every image
/// with ([`PROTOCOL_LABEL`]); 2 added LAUNCH, 3 the program's own uid (the
/// launcher starts as root and takes `--as UID:GID` first), `--export` and
/// TREE. A worker runs
/// no session on an image that says less, or nothing (built by an older
/// execbox, or by hand without the label): it counts as missing.
pub const PROTOCOL: u32 = 3;
/// The image label that carries [`PROTOCOL`].
pub const PROTOCOL_LABEL: &str = "execbox.launcher.protocol";

mod kind {
    // execbox → launcher
    pub(crate) const FILE: u8 = 1;
    pub(crate) const START: u8 = 2;
    pub(crate) const GO: u8 = 3;
    pub(crate) const STDIN: u8 = 4;
    pub(crate) const EOF: u8 = 5;
    pub(crate) const CASE: u8 = 6;
    pub(crate) const LAUNCH: u8 = 7;
    pub(crate) const TREE: u8 = 8;
    // launcher → execbox
    pub(crate) const STDOUT: u8 = 1;
    pub(crate) const STDERR: u8 = 2;
    pub(crate) const COMPILED: u8 = 3;
    pub(crate) const EXITED: u8 = 4;
    pub(crate) const BLOCK: u8 = 5;
    pub(crate) const FATAL: u8 = 6;
    pub(crate) const CASE_DONE: u8 = 7;
}

/// Largest frame either side accepts.
const MAX_FRAME: usize = 64 << 20;
/// Stdin goes out in frames of at most this much.
const STDIN_CHUNK: usize = 1 << 20;

// ---------------------------------------------------------------------------
// The command line
// ---------------------------------------------------------------------------

/// Validation: where the framework's report is, and the benchmark's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Report {
    pub path: String,
    /// The runner prints its report on stdout (captured into `path`).
    pub from_stdout: bool,
    /// The benchmark harness's output file.
    pub bench: Option<String>,
    /// The benchmark harness, run after the tests pass.
    pub then: Option<Vec<String>>,
}

/// What the launcher runs: its command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Launch {
    /// Plain runs of interpreters: start it before the files arrive, its
    /// script this file (a FIFO until the content is fed).
    pub prestart: Option<String>,
    pub report: Option<Report>,
    pub compile: Option<Vec<String>>,
    pub run: Vec<String>,
    /// Run the program once per CASE frame (test cases).
    pub cases: bool,
    /// With `compile`: the compiler is all; /work comes back as the
    /// [`TREE_BLOCK`] and no program runs (see [`Launch::apart`]).
    pub export: bool,
}

impl Launch {
    /// The container's command (the launcher is its entrypoint).
    pub(crate) fn argv(&self) -> Vec<String> {
        let mut cmd = Vec::new();
        if self.cases {
            cmd.push("--cases".to_string());
        }
        if self.export {
            cmd.push("--export".to_string());
        }
        if let Some(file) = &self.prestart {
            cmd.extend(["--prestart".to_string(), file.clone()]);
        }
        if let Some(r) = &self.report {
            cmd.push(if r.from_stdout { "--report-stdout" } else { "--report" }.to_string());
            cmd.push(r.path.clone());
            if let Some(b) = &r.bench {
                cmd.extend(["--bench".to_string(), b.clone()]);
            }
        }
        if let Some(compile) = &self.compile {
            cmd.push("--compile".to_string());
            cmd.extend(compile.iter().cloned());
            cmd.push("--".to_string());
        }
        cmd.extend(self.run.iter().cloned());
        if let Some(then) = self.report.as_ref().and_then(|r| r.then.as_ref()) {
            cmd.push("--then".to_string());
            cmd.extend(then.iter().cloned());
        }
        cmd
    }
}

impl Launch {
    /// Compiling in one sandbox and running in another (a wall that cannot
    /// change a sandbox's limits between the stages): the first's launcher
    /// compiles and sends /work back, the second's takes it ([`tree`]) and
    /// runs. None: nothing compiles.
    pub(crate) fn apart(&self) -> Option<(Launch, Launch)> {
        let compile = Launch {
            prestart: None,
            report: None,
            compile: Some(self.compile.clone()?),
            run: self.run.clone(),
            cases: false,
            export: true,
        };
        Some((compile, Launch { compile: None, export: false, ..self.clone() }))
    }
}

/// The block an exporting launcher sends /work in, as [`tree`] takes it.
pub(crate) const TREE_BLOCK: &str = "execbox.work";

// ---------------------------------------------------------------------------
// execbox → launcher
// ---------------------------------------------------------------------------

fn frame(out: &mut Vec<u8>, kind: u8, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    out.push(kind);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    for p in parts {
        out.extend_from_slice(p);
    }
}

/// LAUNCH: `launch` as the command line of a started (warm) container,
/// before any other frame. It may not prestart (the container's own
/// command line did, or not).
pub(crate) fn relaunch(launch: &Launch) -> Vec<u8> {
    assert!(launch.prestart.is_none(), "LAUNCH cannot prestart");
    let argv = launch.argv();
    let mut p = Vec::with_capacity(2 + argv.iter().map(|a| a.len() + 4).sum::<usize>());
    p.extend_from_slice(&(argv.len() as u16).to_be_bytes());
    for a in &argv {
        p.extend_from_slice(&(a.len() as u32).to_be_bytes());
        p.extend_from_slice(a.as_bytes());
    }
    let mut out = Vec::with_capacity(p.len() + 5);
    frame(&mut out, kind::LAUNCH, &[&p]);
    out
}

/// CPU-time limits the launcher enforces on each stage (the program and
/// everything it starts, as the container's cgroup counts them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuLimits {
    pub compile: Option<std::time::Duration>,
    pub run: Option<std::time::Duration>,
}

/// The files, then START (with the CPU-time limits: u64 ms of the compile
/// and run stages, 0 for none). Names must satisfy [`is_safe_name`]
/// (checked by the request's validation; asserted here).
pub fn files(files: &[File], cpu: &CpuLimits) -> Vec<u8> {
    let size: usize = files.iter().map(|f| f.name.len() + f.content.len() + 7).sum::<usize>() + 21;
    let mut out = Vec::with_capacity(size);
    for f in files {
        assert!(is_safe_name(&f.name), "unsafe file name reached the sandbox: {:?}", f.name);
        frame(&mut out, kind::FILE, &[&(f.name.len() as u16).to_be_bytes(), f.name.as_bytes(), &f.content]);
    }
    let ms = |d: Option<std::time::Duration>| d.map_or(0, |d| d.as_millis().max(1) as u64).to_be_bytes();
    frame(&mut out, kind::START, &[&ms(cpu.compile), &ms(cpu.run)]);
    out
}

/// TREE: /work as another sandbox compiled it (the [`TREE_BLOCK`] its
/// launcher sent), restored before the files and START.
pub(crate) fn tree(work: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(work.len() + 5);
    frame(&mut out, kind::TREE, &[work]);
    out
}

/// The run stage may start (its limits are in force).
pub(crate) fn go() -> Vec<u8> {
    let mut out = Vec::new();
    frame(&mut out, kind::GO, &[]);
    out
}

/// One test case for a `--cases` launcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Case<'a> {
    pub wall: std::time::Duration,
    pub cpu: Option<std::time::Duration>,
    /// Most bytes of output (stdout and stderr) before the case is killed.
    pub output_bytes: u64,
    /// Appended to the run command.
    pub args: &'a [String],
    /// Written into /work after it is restored (names as [`is_safe_name`]).
    pub files: &'a [File],
    pub stdin: &'a [u8],
}

/// A CASE frame.
pub(crate) fn case(c: &Case<'_>) -> Vec<u8> {
    let mut p = Vec::with_capacity(64 + c.stdin.len() + c.files.iter().map(|f| f.content.len() + 140).sum::<usize>());
    p.extend_from_slice(&(c.wall.as_millis().max(1) as u64).to_be_bytes());
    p.extend_from_slice(&c.cpu.map_or(0, |d| d.as_millis().max(1) as u64).to_be_bytes());
    p.extend_from_slice(&c.output_bytes.to_be_bytes());
    p.extend_from_slice(&(c.args.len() as u16).to_be_bytes());
    for a in c.args {
        p.extend_from_slice(&(a.len() as u32).to_be_bytes());
        p.extend_from_slice(a.as_bytes());
    }
    p.extend_from_slice(&(c.files.len() as u16).to_be_bytes());
    for f in c.files {
        assert!(is_safe_name(&f.name), "unsafe file name reached the sandbox: {:?}", f.name);
        p.extend_from_slice(&(f.name.len() as u16).to_be_bytes());
        p.extend_from_slice(f.name.as_bytes());
        p.extend_from_slice(&(f.content.len() as u32).to_be_bytes());
        p.extend_from_slice(&f.content);
    }
    p.extend_from_slice(c.stdin);
    let mut out = Vec::with_capacity(p.len() + 5);
    frame(&mut out, kind::CASE, &[&p]);
    out
}

/// Bytes for the program's stdin.
pub(crate) fn stdin(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 5 * (data.len() / STDIN_CHUNK + 1));
    for chunk in data.chunks(STDIN_CHUNK) {
        frame(&mut out, kind::STDIN, &[chunk]);
    }
    out
}

/// The end of the program's stdin.
pub(crate) fn eof() -> Vec<u8> {
    let mut out = Vec::new();
    frame(&mut out, kind::EOF, &[]);
    out
}

// ---------------------------------------------------------------------------
// launcher → execbox
// ---------------------------------------------------------------------------

/// How a process the launcher ran ended, and what the kernel measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Status {
    pub exit: Exit,
    pub usage: StageUsage,
    /// OOM kills in the container's cgroup while it ran (None: unknown).
    pub oom_kills: Option<u32>,
    /// The launcher killed it for its CPU time...
    pub cpu_exceeded: bool,
    /// ...(a case) for its wall time...
    pub wall_exceeded: bool,
    /// ...(a case) for its output bytes.
    pub output_exceeded: bool,
}

impl Status {
    pub(crate) fn success(&self) -> bool {
        self.exit == Exit::Code(0)
    }
}

/// Everything the launcher can say.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Output(Stream, bytes::Bytes),
    /// The compiler ended (on success, the launcher waits for GO).
    Compiled(Status),
    /// The program (or test runner) ended; nothing follows.
    Exited(Status),
    /// A named file (validation: `report`, `bench`).
    Block(String, bytes::Bytes),
    /// The launcher could not do its job.
    Fatal(String),
    /// A case ended (`--cases`).
    CaseDone(Status),
}

/// The container's stdout broke the protocol: an infrastructure fault (the
/// image's launcher is not this execbox's), never the program's doing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the sandbox's launcher broke its protocol: {0} (rebuild the images with `execbox images build`)")]
pub struct ProtocolError(String);

/// Turns the container's stdout, in whatever pieces it arrives, into events.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
}

impl Decoder {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete event, if one has arrived.
    pub fn next_event(&mut self) -> Result<Option<Event>, ProtocolError> {
        if self.buf.len() < 5 {
            return Ok(None);
        }
        let kind = self.buf[0];
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if len > MAX_FRAME {
            return Err(ProtocolError(format!("a frame of {len} bytes")));
        }
        if self.buf.len() < 5 + len {
            return Ok(None);
        }
        self.buf.advance(5);
        let payload = self.buf.split_to(len).freeze();
        let bad = |what: &str| ProtocolError(format!("{what} frame of {len} bytes"));
        Ok(Some(match kind {
            kind::STDOUT => Event::Output(Stream::Stdout, payload),
            kind::STDERR => Event::Output(Stream::Stderr, payload),
            kind::COMPILED => Event::Compiled(status(&payload).ok_or_else(|| bad("a short COMPILED"))?),
            kind::EXITED => Event::Exited(status(&payload).ok_or_else(|| bad("a short EXITED"))?),
            kind::BLOCK => {
                let n = payload
                    .get(..2)
                    .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
                    .ok_or_else(|| bad("a BLOCK"))?;
                let name = payload.get(2..2 + n).ok_or_else(|| bad("a BLOCK"))?;
                Event::Block(String::from_utf8_lossy(name).into_owned(), payload.slice(2 + n..))
            }
            kind::FATAL => Event::Fatal(String::from_utf8_lossy(&payload).into_owned()),
            kind::CASE_DONE => Event::CaseDone(status(&payload).ok_or_else(|| bad("a short CASE_DONE"))?),
            other => return Err(ProtocolError(format!("an unknown frame kind {other}"))),
        }))
    }

    /// Bytes of an incomplete frame (at the end of the stream: a cut).
    pub(crate) fn pending(&self) -> usize {
        self.buf.len()
    }
}

fn status(p: &[u8]) -> Option<Status> {
    let mut p = p;
    if p.len() < 44 {
        return None;
    }
    let code = p.get_i32();
    let signal = p.get_i32();
    let (user, system, wall, rss) = (p.get_u64(), p.get_u64(), p.get_u64(), p.get_u64());
    let ooms = p.get_i32();
    let flags = if p.len() >= 4 { p.get_u32() } else { 0 };
    let exit = if code >= 0 { Exit::Code(code) } else { Exit::Signal(signal) };
    Some(Status {
        exit,
        usage: StageUsage { cpu_ms: (user + system) as f64 / 1000.0, wall_ms: wall as f64 / 1000.0, memory_kb: rss },
        oom_kills: u32::try_from(ooms).ok(),
        cpu_exceeded: flags & 1 != 0,
        wall_exceeded: flags & 2 != 0,
        output_exceeded: flags & 4 != 0,
    })
}

#[cfg(test)]
pub(crate) fn encode_status(code: i32, signal: i32, cpu_us: u64, ooms: i32, flags: u32) -> Vec<u8> {
    let mut p = Vec::new();
    for v in [code.to_be_bytes(), signal.to_be_bytes()] {
        p.extend_from_slice(&v);
    }
    for v in [cpu_us, 0, 2000, 1234] {
        p.extend_from_slice(&v.to_be_bytes());
    }
    p.extend_from_slice(&ooms.to_be_bytes());
    p.extend_from_slice(&flags.to_be_bytes());
    p
}

#[cfg(test)]
pub(crate) fn encode_event(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    frame(&mut out, kind, &[payload]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines() {
        let run = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let table = [
            (
                Launch {
                    prestart: None,
                    report: None,
                    compile: None,
                    run: run(&["python3", "main.py"]),
                    cases: false,
                    export: false,
                },
                "python3 main.py",
            ),
            (
                Launch {
                    prestart: None,
                    report: None,
                    compile: Some(run(&["g++", "x.cpp"])),
                    run: run(&["./a.out"]),
                    cases: true,
                    export: false,
                },
                "--cases --compile g++ x.cpp -- ./a.out",
            ),
            (
                Launch {
                    prestart: Some("main.py".into()),
                    report: None,
                    compile: None,
                    run: run(&["python3", "main.py"]),
                    cases: false,
                    export: false,
                },
                "--prestart main.py python3 main.py",
            ),
            (
                Launch {
                    prestart: None,
                    report: None,
                    compile: Some(run(&["g++", "x.cpp"])),
                    run: run(&["./a.out"]),
                    cases: false,
                    export: false,
                },
                "--compile g++ x.cpp -- ./a.out",
            ),
            (
                Launch {
                    prestart: None,
                    report: Some(Report {
                        path: "/work/r".into(),
                        from_stdout: true,
                        bench: Some("/work/b".into()),
                        then: Some(run(&["bench", "5"])),
                    }),
                    compile: None,
                    run: run(&["test"]),
                    cases: false,
                    export: false,
                },
                "--report-stdout /work/r --bench /work/b test --then bench 5",
            ),
        ];
        for (launch, want) in table {
            assert_eq!(launch.argv().join(" "), want);
        }
    }

    #[test]
    fn requests_are_framed() {
        let f = files(&[File { name: "main.py".into(), content: b"print(1)\n".to_vec() }], &CpuLimits::default());
        assert_eq!(
            f,
            b"\x01\x00\x00\x00\x12\x00\x07main.pyprint(1)\n\x02\x00\x00\x00\x10\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
        );
        let limited = CpuLimits { compile: None, run: Some(std::time::Duration::from_millis(1500)) };
        assert_eq!(&files(&[], &limited)[5..], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x05, 0xdc]);
        assert_eq!(stdin(b"ab"), b"\x04\x00\x00\x00\x02ab");
        assert!(stdin(b"").is_empty());
        assert_eq!(eof(), b"\x05\x00\x00\x00\x00");
        assert_eq!(go(), b"\x03\x00\x00\x00\x00");
        let args = ["a".to_string()];
        let files = [File { name: "in".into(), content: b"xy".to_vec() }];
        let c = Case {
            wall: std::time::Duration::from_millis(300),
            cpu: None,
            output_bytes: 1 << 16,
            args: &args,
            files: &files,
            stdin: b"5\n",
        };
        let mut want = vec![6, 0, 0, 0, 45];
        want.extend([0, 0, 0, 0, 0, 0, 1, 44, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
        want.extend(b"\x00\x01\x00\x00\x00\x01a\x00\x01\x00\x02in\x00\x00\x00\x02xy5\n");
        assert_eq!(case(&c), want);
        let cases = Launch {
            prestart: None,
            report: None,
            compile: None,
            run: vec!["python3".into(), "main.py".into(), "a b".into()],
            cases: true,
            export: false,
        };
        let mut want = vec![7, 0, 0, 0, 42, 0, 4];
        for a in ["--cases", "python3", "main.py", "a b"] {
            want.extend((a.len() as u32).to_be_bytes());
            want.extend(a.as_bytes());
        }
        assert_eq!(relaunch(&cases), want);
        let big = stdin(&vec![7u8; STDIN_CHUNK + 1]);
        assert_eq!(big.len(), STDIN_CHUNK + 1 + 10, "two frames");
    }

    #[test]
    fn events_decode_across_any_split() {
        let mut stream = Vec::new();
        stream.extend(encode_event(kind::STDOUT, b"hello\n"));
        stream.extend(encode_event(kind::STDERR, b"\x1eexecbox:exit:0\x1e\n"));
        stream.extend(encode_event(kind::COMPILED, &encode_status(0, 0, 1500, 0, 0)));
        stream.extend(encode_event(kind::BLOCK, b"\x00\x06reportXML"));
        stream.extend(encode_event(kind::CASE_DONE, &encode_status(-1, 9, 0, 0, 6)));
        stream.extend(encode_event(kind::EXITED, &encode_status(-1, 9, 0, 1, 1)));
        let want = vec![
            Event::Output(Stream::Stdout, bytes::Bytes::from_static(b"hello\n")),
            Event::Output(Stream::Stderr, bytes::Bytes::from_static(b"\x1eexecbox:exit:0\x1e\n")),
            Event::Compiled(Status {
                exit: Exit::Code(0),
                usage: StageUsage { cpu_ms: 1.5, wall_ms: 2.0, memory_kb: 1234 },
                oom_kills: Some(0),
                cpu_exceeded: false,
                wall_exceeded: false,
                output_exceeded: false,
            }),
            Event::Block("report".into(), bytes::Bytes::from_static(b"XML")),
            Event::CaseDone(Status {
                exit: Exit::Signal(9),
                usage: StageUsage { cpu_ms: 0.0, wall_ms: 2.0, memory_kb: 1234 },
                oom_kills: Some(0),
                cpu_exceeded: false,
                wall_exceeded: true,
                output_exceeded: true,
            }),
            Event::Exited(Status {
                exit: Exit::Signal(9),
                usage: StageUsage { cpu_ms: 0.0, wall_ms: 2.0, memory_kb: 1234 },
                oom_kills: Some(1),
                cpu_exceeded: true,
                wall_exceeded: false,
                output_exceeded: false,
            }),
        ];
        for split in 1..stream.len() {
            let mut d = Decoder::default();
            let mut got = Vec::new();
            for piece in stream.chunks(split) {
                d.push(piece);
                while let Some(e) = d.next_event().unwrap() {
                    got.push(e);
                }
            }
            assert_eq!(got, want, "pieces of {split}");
            assert_eq!(d.pending(), 0);
        }
    }

    #[test]
    fn broken_streams_are_errors() {
        for bad in [
            encode_event(9, b""),
            encode_event(kind::EXITED, b"short"),
            encode_event(kind::BLOCK, b"\x00\x09abc"),
            vec![kind::STDOUT, 0xff, 0xff, 0xff, 0xff],
        ] {
            let mut d = Decoder::default();
            d.push(&bad);
            assert!(d.next_event().is_err(), "{bad:?}");
        }
        let mut d = Decoder::default();
        d.push(b"\x01\x00\x00");
        assert_eq!(d.next_event(), Ok(None));
        assert_eq!(d.pending(), 3);
    }
}
