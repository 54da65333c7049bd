//! The sandbox holds: limits, isolation, hostile programs — on the cold path
//! and on the warm path, under runc and under gVisor alike (every test runs
//! on all four, and proves which container its sessions took).

use std::collections::HashSet;
use std::time::Duration;

use execbox::config::Config;
use execbox::model::Isolation;
use uuid::Uuid;

use crate::support::*;

const T: Duration = Duration::from_secs(60);

/// Where a session's container comes from, and the wall it is built in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Cold,
    Warm,
    GvisorCold,
    GvisorWarm,
}

impl Path {
    fn warm(self) -> bool {
        matches!(self, Path::Warm | Path::GvisorWarm)
    }

    fn wall(self) -> Isolation {
        match self {
            Path::Cold | Path::Warm => Isolation::Runc,
            Path::GvisorCold | Path::GvisorWarm => Isolation::Gvisor,
        }
    }
}

/// Every test runs on each: both walls, cold and warm.
const PATHS: [Path; 4] = [Path::Cold, Path::Warm, Path::GvisorCold, Path::GvisorWarm];

/// A worker on one path: on the warm path its pool keeps a container of each
/// language the test uses, and every session is checked to have run in one.
struct Sandbox<'a> {
    db: &'a TestDb,
    user: Uuid,
    path: Path,
    worker: Worker,
    worker_id: String,
}

impl<'a> Sandbox<'a> {
    async fn start(db: &'a TestDb, path: Path, languages: &[&str], tweak: impl FnOnce(&mut Config)) -> Sandbox<'a> {
        let user = db.user().await;
        let (worker, worker_id) = pooled_worker(db, |c| {
            c.limits.isolation = path.wall();
            if path.warm() {
                for l in languages {
                    c.worker.warm_pool.insert(l.to_string(), 1);
                }
            }
            tweak(c);
        });
        Sandbox { db, user, path, worker, worker_id }
    }

    /// Submits a session; returns it and the container it ran in, which on
    /// the warm path is one the pool had ready, on the cold path not.
    async fn submit(&self, language: &str, code: &str, timeout_ms: Option<i32>) -> (Uuid, String) {
        let req =
            execbox::model::Request { language: language.into(), code: code.into(), timeout_ms, ..Default::default() };
        self.submit_request(req).await
    }

    async fn submit_request(&self, req: execbox::model::Request) -> (Uuid, String) {
        let image = execbox::runtimes::Runtimes::builtin().resolve(&req.language).unwrap().image.clone();
        let ready = match self.path.warm() {
            true => wait_pool_of(self.worker.steps(), &self.worker_id, 1, Some(&image)).await,
            false => HashSet::new(),
        };
        let id = self.db.insert(self.user, &req).await;
        let container = container_of(self.db, id).await;
        assert_eq!(ready.contains(&container), self.path.warm(), "{:?} path: {id} ran in {container}", self.path);
        (id, container)
    }

    async fn stop(self) {
        self.worker.stop().await.unwrap();
    }
}

#[tokio::test]
async fn identity_privileges_and_filesystem() {
    let db = TestDb::new().await;
    let code = r#"
import ctypes, os, errno
print("uid", os.getuid(), os.getgid())
status = open("/proc/self/status").read()
for key in ("CapEff", "CapPrm", "CapInh", "CapBnd"):
    print([l for l in status.splitlines() if l.startswith(key + ":")][0].split()[1], key)
# prctl(PR_GET_NO_NEW_PRIVS): gVisor's /proc/self/status has no such line.
print(ctypes.CDLL(None, use_errno=True).prctl(39, 0, 0, 0, 0), "NoNewPrivs")
for path in ("/var/tmp/evil", "/usr/evil", "/etc/passwd", "/work/../root/x"):
    try:
        open(path, "w").write("x")
        print("WROTE", path)
    except OSError as e:
        print("refused", path, errno.errorcode[e.errno])
# What Docker masks of the host's kernel stays masked (under gVisor the
# files are gVisor's own, or absent).
for path in ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/sys/firmware/dmi/tables/DMI"):
    try:
        print("read", path, len(open(path, "rb").read(4096)))
    except OSError as e:
        print("masked", path, type(e).__name__)
for path in ("/proc/sys/kernel/hostname", "/proc/sysrq-trigger", "/sys/kernel/mm/transparent_hugepage/enabled"):
    try:
        with open(path, "w") as f:
            f.write("x")
        print("WROTE", path)
    except OSError as e:
        print("refused", path, type(e).__name__)
# Its stdio is its own (the launcher made the pipes as its uid).
for name in ("stdout", "stderr"):
    with open(f"/dev/{name}", "w") as f:
        f.write(f"reopened /dev/{name}\n")
print(len(open("/dev/stdin").read()), "bytes on a reopened /dev/stdin")
open("/tmp/ok", "w").write("scratch is writable")
print(open("/tmp/ok").read())
try:
    with open("/tmp/big", "wb") as f:
        for _ in range(200):
            f.write(b"\0" * (1 << 20))
    print("WROTE 200 MiB to /tmp")
except OSError as e:
    print("tmp bounded", errno.errorcode[e.errno])
"#;
    for path in PATHS {
        let sb = Sandbox::start(&db, path, &["python"], |_| {}).await;
        let (id, _) = sb.submit("python", code, None).await;
        let s = db.wait_done(id, T).await;
        let out = db.stdout(id).await;
        assert_eq!(s.status, SessionStatus::Completed, "{path:?}: {s:?} {out:?}");
        assert!(out.contains(&"uid 65534 65534".to_string()), "{path:?}: {out:?}");
        assert!(out.contains(&"0000000000000000 CapEff".to_string()), "{path:?}: {out:?}");
        assert!(out.contains(&"0000000000000000 CapPrm".to_string()), "{path:?}: {out:?}");
        assert!(out.contains(&"0000000000000000 CapInh".to_string()), "{path:?}: {out:?}");
        // None to gain either: the launcher's capabilities are not in the program's bounding set.
        assert!(out.contains(&"0000000000000000 CapBnd".to_string()), "{path:?}: {out:?}");
        assert!(out.contains(&"1 NoNewPrivs".to_string()), "{path:?}: {out:?}");
        // A directory anyone may write to, but in the image: the root is
        // read-only (under gVisor, /usr refuses by its permissions first).
        assert!(out.iter().any(|l| l == "refused /var/tmp/evil EROFS"), "{path:?}: {out:?}");
        assert!(out.iter().any(|l| l.starts_with("refused /usr/evil")), "{path:?}: {out:?}");
        assert!(out.iter().any(|l| l.starts_with("refused /etc/passwd")), "{path:?}: {out:?}");
        assert!(!out.iter().any(|l| l.starts_with("WROTE")), "{path:?}: {out:?}");
        // Masked: nothing of the host's kernel memory, keys, timers or firmware.
        let revealed: Vec<&String> = out.iter().filter(|l| l.starts_with("read ") && !l.ends_with(" 0")).collect();
        assert!(revealed.is_empty(), "{path:?}: {revealed:?}");
        assert_eq!(out.iter().filter(|l| l.starts_with("read ") || l.starts_with("masked ")).count(), 5, "{path:?}");
        assert!(out.contains(&"scratch is writable".to_string()));
        assert!(out.contains(&"reopened /dev/stdout".to_string()), "{path:?}: {out:?}");
        assert!(out.contains(&"0 bytes on a reopened /dev/stdin".to_string()), "{path:?}: {out:?}");
        let err: Vec<String> =
            db.logs(id).await.into_iter().filter(|l| l.stream == Stream::Stderr).map(|l| l.message).collect();
        assert_eq!(err, ["reopened /dev/stderr"], "{path:?}");
        // /tmp is 64 MiB; RLIMIT_FSIZE would say EFBIG, the tmpfs ENOSPC.
        assert!(out.iter().any(|l| l.starts_with("tmp bounded")), "{path:?}: {out:?}");
        sb.stop().await;
    }
}

#[tokio::test]
async fn network_is_unreachable() {
    let db = TestDb::new().await;
    let code = r#"
import socket
print(sorted(i[1] for i in socket.if_nameindex()))
for host in ("1.1.1.1", "172.17.0.1", "10.0.0.1"):
    try:
        socket.create_connection((host, 80), timeout=2)
        print("CONNECTED", host)
    except OSError as e:
        print("blocked", host)
"#;
    for path in PATHS {
        let sb = Sandbox::start(&db, path, &["python"], |_| {}).await;
        let (id, _) = sb.submit("python", code, None).await;
        assert_eq!(db.wait_done(id, T).await.status, SessionStatus::Completed);
        let out = db.stdout(id).await;
        assert_eq!(out, ["['lo']", "blocked 1.1.1.1", "blocked 172.17.0.1", "blocked 10.0.0.1"], "{path:?}");
        sb.stop().await;
    }
}

#[tokio::test]
async fn wall_clock_timeout_kills_the_program() {
    let db = TestDb::new().await;
    for path in PATHS {
        let sb = Sandbox::start(&db, path, &["python", "node"], |_| {}).await;
        // Room for the interpreter to start while the suite loads both cores
        // with compilers.
        let code = "import time\nprint('start', flush=True)\nwhile True: time.sleep(0.1)";
        let (id, container) = sb.submit("python", code, Some(3_000)).await;
        let s = db.wait_done(id, T).await;
        assert_eq!(s.status, SessionStatus::Timeout, "{path:?}: {s:?}");
        assert!(s.error.unwrap().contains("time limit of 3000 ms"));
        assert_eq!(db.stdout(id).await, ["start"], "{path:?}: what was printed before the kill is kept");
        wait_container_gone(&container, Duration::from_secs(10)).await;
        // A busy loop (no sleeping) is killed the same way.
        let (spin, _) = sb.submit("node", "for(;;){}", Some(1_000)).await;
        assert_eq!(db.wait_done(spin, T).await.status, SessionStatus::Timeout, "{path:?}");
        sb.stop().await;
    }
}

#[tokio::test]
async fn memory_bomb_is_killed() {
    let db = TestDb::new().await;
    let code = "chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))\n";
    for path in PATHS {
        // The default memory limit, so that warm containers fit the session.
        let sb = Sandbox::start(&db, path, &["python"], |c| c.limits.default_memory_mb = 64).await;
        let (id, _) = sb.submit("python", code, Some(30_000)).await;
        let s = db.wait_done(id, T).await;
        assert_eq!(s.status, SessionStatus::Failed, "{path:?}: {s:?}");
        assert_eq!(s.exit_code, Some(137));
        // The engine reports the OOM kill when its event arrives in time; when
        // the program dies faster than the engine watches, the kill is still
        // blamed on the memory limit.
        let err = s.error.unwrap();
        assert!(err.contains("64 MB") && err.contains("memory limit"), "{path:?}: {err}");
        // The container's row is completed after the outcome, with its removal.
        let c = db.client().await;
        let oom: Option<bool> = eventually("the container's row completed", Duration::from_secs(20), || async {
            let row = c
                .query_one("select oom_killed, status from container_instances where session_id = $1", &[&id])
                .await
                .unwrap();
            (row.get::<_, String>(1) == "removed").then(|| row.get(0))
        })
        .await;
        assert_eq!(oom.is_some_and(|o| o), err.contains("out of memory"), "{path:?}: the flag and the message agree");
        sb.stop().await;
    }
}

#[tokio::test]
async fn fork_bomb_is_contained() {
    let db = TestDb::new().await;
    let code = r#"
import os, time
n = 0
try:
    for _ in range(1000):
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
except OSError as e:
    print("fork refused after", n, flush=True)
"#;
    let mut forked = Vec::new();
    for path in PATHS {
        let sb = Sandbox::start(&db, path, &["python"], |_| {}).await;
        let (id, container) = sb.submit("python", code, Some(20_000)).await;
        let s = db.wait_done(id, T).await;
        let out = db.stdout(id).await;
        assert_eq!(s.status, SessionStatus::Completed, "{path:?}: {s:?} {out:?}");
        let n: usize = out[0].strip_prefix("fork refused after ").expect("fork must fail").parse().unwrap();
        assert!(n < 64, "{path:?}: {n} processes forked under a pids limit of 64");
        forked.push(n);
        // The sleeping children died with the container: it ended before
        // their sleep of 60 s did (by the database's clock).
        let ran = db.ran_secs(id).await;
        assert!(ran < 60.0, "{path:?}: ended {ran:.1} s after it started");
        // Then the worker removes it (gVisor's teardown of a sandbox with
        // dozens of traced processes takes seconds on a loaded engine).
        wait_container_gone(&container, Duration::from_secs(60)).await;
        sb.stop().await;
    }
    // The same number of processes whatever the wall or path.
    assert!(forked.iter().all(|n| *n == forked[0]), "{:?} forked {forked:?}", PATHS);
}

#[tokio::test]
async fn output_flood_is_capped_keeping_what_was_printed() {
    let db = TestDb::new().await;
    for path in PATHS {
        let sb = Sandbox::start(&db, path, &["python"], |c| c.limits.output_limit_bytes = 100_000).await;
        let code = "i = 0\nwhile True:\n    print(f'line {i:08d}')\n    i += 1\n";
        let (id, container) = sb.submit("python", code, Some(30_000)).await;
        let s = db.wait_done(id, T).await;
        assert_eq!(s.status, SessionStatus::Failed, "{path:?}: {s:?}");
        assert!(s.error.unwrap().contains("output limit of 100000 bytes"));
        let logs = db.logs(id).await;
        let out: Vec<&Log> = logs.iter().filter(|l| l.stream == Stream::Stdout).collect();
        let bytes: usize = out.iter().map(|l| l.message.len() + 1).sum();
        assert!((99_000..=100_001).contains(&bytes), "{path:?}: {bytes} bytes kept");
        // Every kept line is the program's, in order.
        for (i, l) in out.iter().take(out.len() - 1).enumerate() {
            assert_eq!(l.message, format!("line {i:08}"));
        }
        assert!(logs
            .iter()
            .any(|l| l.stream == Stream::System && l.message.contains("output limit of 100000 bytes reached")));
        wait_container_gone(&container, Duration::from_secs(10)).await;
        sb.stop().await;
    }
}

/// CPU time is counted for the program and everything it starts, and it
/// stops burners, never sleepers.
#[tokio::test]
async fn cpu_time_limits_stop_burners_not_sleepers() {
    let db = TestDb::new().await;
    let limited = |code: &str, cpu_ms: i32| execbox::model::Request {
        language: "python".into(),
        code: code.into(),
        timeout_ms: Some(30_000),
        cpu_time_limit_ms: Some(cpu_ms),
        ..Default::default()
    };
    for path in PATHS {
        let sb = Sandbox::start(&db, path, &["python"], |_| {}).await;
        for (what, code) in [
            ("a burner", "while True:\n    pass\n"),
            ("burning children", "import os\nfor _ in range(3):\n    if os.fork() == 0:\n        while True: pass\nimport time\ntime.sleep(600)\n"),
        ] {
            let (id, _) = sb.submit_request(limited(code, 500)).await;
            let s = db.wait_done(id, T).await;
            let what = format!("{path:?}: {what}");
            assert_eq!(s.status, SessionStatus::Timeout, "{what}: {s:?}");
            let (_, reason) = ended_on_time(&db, id, Duration::from_secs(30), &what).await;
            assert_eq!(reason, EndReason::CpuTime, "{what}");
            assert!(s.error.unwrap().contains("CPU time limit of 500 ms"), "{what}");
        }
        let (id, _) = sb.submit_request(limited("import time\ntime.sleep(2)\nprint('slept')\n", 300)).await;
        let s = db.wait_done(id, T).await;
        assert_eq!(s.status, SessionStatus::Completed, "{path:?}: a sleeper is not stopped: {s:?}");
        let usage = db.usage(id).await;
        let run = &usage["run"];
        assert!(run["wallMs"].as_f64().unwrap() >= 2000.0, "{path:?}: {usage}");
        assert!(run["cpuMs"].as_f64().unwrap() < 300.0, "{path:?}: {usage}");
        assert!(run["memoryKb"].as_u64().unwrap() > 1000, "{path:?}: {usage}");
        sb.stop().await;
    }
}

/// How long past its limit a session may take to end: the kill, Docker's
/// teardown and the last log batch.
const GRACE: Duration = Duration::from_secs(5);

/// The session ended, by the database clock, within its time limit plus
/// [`GRACE`]; its log rows are numbered 1..n without a gap; its last row
/// is execbox's, saying why.
async fn ended_on_time(db: &TestDb, id: Uuid, limit: Duration, what: &str) -> (SessionStatus, EndReason) {
    let row = db
        .client()
        .await
        .query_one(
            "select status, end_reason, error,
                    (extract(epoch from finished_at - started_at) * 1000)::float8
             from backend_execution_sessions where id = $1",
            &[&id],
        )
        .await
        .unwrap();
    let (status, reason, error, ms): (SessionStatus, Option<EndReason>, Option<String>, f64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert!(
        Duration::from_secs_f64(ms / 1000.0) <= limit + GRACE,
        "{what}: ended {ms:.0} ms after it started; the limit was {limit:?}"
    );
    let logs = db.logs(id).await;
    for (i, l) in logs.iter().enumerate() {
        assert_eq!(l.seq, i as i32 + 1, "{what}: seq has a gap");
    }
    let reason = reason.unwrap_or_else(|| panic!("{what}: no end_reason"));
    if status != SessionStatus::Completed {
        let last = logs.last().unwrap_or_else(|| panic!("{what}: no log rows"));
        assert_eq!(last.stream, Stream::System, "{what}: {last:?}");
        assert!(last.message.contains(error.as_deref().unwrap_or("?")), "{what}: {last:?} vs {error:?}");
    }
    (status, reason)
}

/// The invariant: whatever a program does to its output, input, children or
/// exit, at the default output limit, its session ends within its time
/// limit plus a small grace, with its logs complete up to the cut.
#[tokio::test]
async fn every_session_ends_on_time_whatever_the_program_does() {
    let _cpu = flooding().await;
    let db = TestDb::new().await;
    let limit = Duration::from_secs(8);
    #[rustfmt::skip]
    let programs: &[(&str, &str, &[EndReason])] = &[
        ("short lines on stdout", "while True:\n    print(1)\n", &[EndReason::OutputLimit, EndReason::Timeout]),
        ("no newline ever", "import sys\nwhile True:\n    sys.stdout.write('x' * 4096)\n", &[EndReason::OutputLimit]),
        ("lines on stderr", "import sys\nwhile True:\n    print('e' * 60, file=sys.stderr)\n", &[EndReason::OutputLimit]),
        ("both streams at once",
         "import sys, threading\ndef err():\n    while True:\n        sys.stderr.write('e' * 100 + '\\n')\nthreading.Thread(target=err, daemon=True).start()\nwhile True:\n    sys.stdout.write('o' * 100 + '\\n')\n",
         &[EndReason::OutputLimit]),
        ("stdout closed, then sleeping", "import os, time\nos.close(1)\nos.close(2)\ntime.sleep(600)\n", &[EndReason::Timeout]),
        ("a child floods after its parent exited",
         "import os, sys\nif os.fork() == 0:\n    while True:\n        sys.stdout.write('child\\n')\nprint('parent done')\n",
         &[EndReason::Exit, EndReason::OutputLimit]),
        ("a daemonized child holds the pipes open",
         "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(600)\n    os._exit(0)\nprint('bye')\n",
         &[EndReason::Exit]),
        ("stdin read to its end, then sleeping", "import sys, time\nsys.stdin.read()\ntime.sleep(600)\n", &[EndReason::Timeout]),
    ];
    for path in PATHS {
        let sb = Sandbox::start(&db, path, &["python"], |_| {}).await;
        for (what, code, reasons) in programs {
            let (id, container) = sb.submit("python", code, Some(limit.as_millis() as i32)).await;
            db.wait_done(id, limit + GRACE + Duration::from_secs(10)).await;
            let what = format!("{path:?}: {what}");
            let (status, reason) = ended_on_time(&db, id, limit, &what).await;
            assert!(reasons.contains(&reason), "{what}: {status}/{reason}");
            let want = match reason {
                EndReason::Exit => SessionStatus::Completed,
                EndReason::Timeout => SessionStatus::Timeout,
                _ => SessionStatus::Failed,
            };
            assert_eq!(status, want, "{what}");
            if reason == EndReason::OutputLimit {
                // Cut at the limit: what fits is kept, to the byte but for
                // the line the cut fell in.
                let kept: usize =
                    db.logs(id).await.iter().filter(|l| l.stream != Stream::System).map(|l| l.message.len() + 1).sum();
                let cap = db.config().limits.output_limit_bytes as usize;
                assert!(kept > cap * 9 / 10 && kept <= cap + 16 * 1024 + 1, "{what}: kept {kept} of {cap}");
            }
            wait_container_gone(&container, Duration::from_secs(20)).await;
        }
        sb.stop().await;
    }
    // Eight floods at once on one worker, each its own session: every one
    // ends on time, and the worker serves the next session right after.
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker_with(|c| c.worker.max_concurrent_runs = 8);
    let mut ids = Vec::new();
    for i in 0..8 {
        let code = programs[i % 2].1;
        let req = execbox::model::Request {
            language: "python".into(),
            code: code.into(),
            timeout_ms: Some(limit.as_millis() as i32),
            ..Default::default()
        };
        ids.push(db.insert(user, &req).await);
    }
    for id in &ids {
        db.wait_done(*id, limit + GRACE + Duration::from_secs(30)).await;
        let (_, reason) = ended_on_time(&db, *id, limit, "eight at once").await;
        assert!([EndReason::OutputLimit, EndReason::Timeout].contains(&reason), "eight at once: {reason}");
    }
    let next = db.submit(user, "python", "print('next')").await;
    assert_eq!(db.wait_done(next, Duration::from_secs(60)).await.status, SessionStatus::Completed);
    w.stop().await.unwrap();
}

/// The worker reads output behind the program. When its log writer is held
/// up (here the database: a lock keeps its inserts waiting) after the
/// program printed everything and its container ended, the rest still in
/// Docker's stream is read once the writer moves, to the program's last
/// line and exit: a slow database costs time, never the outcome.
#[tokio::test]
async fn output_read_behind_a_held_up_writer_keeps_the_outcome() {
    let db = TestDb::new().await;
    // More lines than the writer's channel, its batch and the reading
    // queue hold together, so reading stops on the writer with the rest in
    // the stream; few enough that the rest fits in the stream's buffers and
    // the program ends meanwhile.
    let lines = 20_000;
    let code = format!("import sys\nsys.stdin.readline()\nfor i in range({lines}):\n    print(i)\nprint('end')\n");
    for path in PATHS {
        // The worker's own upkeep (rescuing expired leases writes log rows)
        // waits on the lock too: a lease longer than the hold keeps the
        // session this worker's.
        let sb = Sandbox::start(&db, path, &["python"], |c| c.worker.lease_ms = 60_000).await;
        let req = execbox::model::Request {
            language: "python".into(),
            code: code.clone(),
            interactive: true,
            ..Default::default()
        };
        let (id, container) = sb.submit_request(req).await;
        // The program waits for its line; the log writer is held from now.
        let mut c = db.client().await;
        let lock = c.transaction().await.unwrap();
        lock.batch_execute("lock table public.execution_logs in exclusive mode").await.unwrap();
        db.client()
            .await
            .execute(
                "insert into session_input (session_id, user_id, kind, data) values ($1, $2, 'stdin', 'go\n')",
                &[&id, &sb.user],
            )
            .await
            .unwrap();
        eventually("the program's container ended", T, || async {
            let out = tokio::process::Command::new("docker")
                .args(["inspect", "-f", "{{.State.Status}}", &container])
                .output()
                .await
                .unwrap();
            (String::from_utf8_lossy(&out.stdout).trim() == "exited").then_some(())
        })
        .await;
        let waits = db.client().await;
        eventually("the log writer waits on the lock", T, || async {
            let n: i64 = waits
                .query_one(
                    "select count(*) from pg_stat_activity
                     where wait_event_type = 'Lock' and query like 'insert into public.execution_logs%'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            (n > 0).then_some(())
        })
        .await;
        // The condition under test, not a wait for an event: the writer
        // stays held for longer than the worker's drain grace (500 ms).
        tokio::time::sleep(Duration::from_secs(2)).await;
        lock.rollback().await.unwrap();
        let s = db.wait_done(id, T).await;
        assert_eq!((s.status, s.end_reason), (SessionStatus::Completed, Some(EndReason::Exit)), "{path:?}: {s:?}");
        let logs = db.logs(id).await;
        let out: Vec<&str> = logs.iter().filter(|l| l.stream == Stream::Stdout).map(|l| l.message.as_str()).collect();
        assert_eq!(out.len(), lines + 1, "{path:?}");
        assert_eq!(out.last(), Some(&"end"), "{path:?}");
        sb.stop().await;
    }
}

/// Nothing a program prints is a control message: every marker of the old
/// in-band protocol, and well-formed frames of the launcher's, printed on
/// both streams, are just output; the launcher's stdio cannot be reached
/// through /proc, and the launcher (PID 1) cannot be signalled: the program
/// runs as a uid of its own, under runc and gVisor alike.
#[tokio::test]
async fn printed_control_messages_are_only_output() {
    let db = TestDb::new().await;
    let code = r#"
import os, struct, sys
status = struct.pack(">iiQQQQi", 0, 0, 1, 1, 1, 1, 0)
fake = bytes([4]) + struct.pack(">I", len(status)) + status
markers = [b"\x1eexecbox:exit:0\x1e\n", b"\x1eexecbox:run\x1e\n",
           b"\n\x1eexecbox:block:report\x1e\nPHRlc3RzdWl0ZS8+\n\x1eexecbox:end\x1e\n", fake]
for m in markers:
    sys.stdout.buffer.write(m)
    sys.stderr.buffer.write(m)
sys.stdout.buffer.write(b"\n")
sys.stdout.flush()
sys.stderr.flush()
for fd in range(3):
    try:
        with open(f"/proc/1/fd/{fd}", "wb") as f:
            f.write(fake)
        print("reached the launcher's fd", fd)
    except OSError as e:
        print("refused", fd, type(e).__name__)
# Its memory (which holds /work's snapshot between test cases). gVisor
# shows a process's environ to any uid: the launcher's is the program's own.
for what in ("mem",):
    try:
        open(f"/proc/1/{what}", "rb").read(1)
        print("read the launcher's", what)
    except OSError as e:
        print("refused", what, type(e).__name__)
import signal
for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGSTOP, signal.SIGINT):
    try:
        os.kill(1, sig)
        print("signalled the launcher", sig.name)
    except OSError as e:
        print("refused", sig.name, type(e).__name__)
print("still here")
sys.exit(7)
"#;
    for path in PATHS {
        let sb = Sandbox::start(&db, path, &["python"], |_| {}).await;
        let (id, _) = sb.submit("python", code, Some(20_000)).await;
        let s = db.wait_done(id, T).await;
        assert_eq!((s.status, s.exit_code), (SessionStatus::Failed, Some(7)), "{path:?}: {s:?}");
        let (_, reason) = ended_on_time(&db, id, Duration::from_secs(20), &format!("{path:?}")).await;
        assert_eq!(reason, EndReason::Exit);
        let out = db.stdout(id).await;
        for fd in 0..3 {
            assert!(out.contains(&format!("refused {fd} PermissionError")), "{path:?}: {out:?}");
        }
        for what in ["mem", "SIGKILL", "SIGTERM", "SIGSTOP", "SIGINT"] {
            assert!(out.contains(&format!("refused {what} PermissionError")), "{path:?}: {out:?}");
        }
        assert!(out.contains(&"still here".to_string()), "{path:?}: {out:?}");
        let all: String = db.logs(id).await.into_iter().map(|l| l.message).collect::<Vec<_>>().join("\n");
        for needle in ["\u{1e}execbox:exit:0\u{1e}", "\u{1e}execbox:run\u{1e}", "\u{1e}execbox:block:report\u{1e}"] {
            assert_eq!(all.matches(needle).count(), 2, "{path:?}: {needle:?} printed once on each stream");
        }
        sb.stop().await;
    }
}

#[tokio::test]
async fn a_real_container_carries_the_whole_policy() {
    use execbox::config::Limits;
    use execbox::sandbox::policy::ContainerSpec;
    let limits = Limits::default();
    let engine = execbox::sandbox::Engine::connect("", limits.clone()).unwrap();
    let spec = ContainerSpec {
        image: "execbox/python:3.11".into(),
        cmd: vec!["python3".into(), "main.py".into()],
        env: vec![],
        memory_mb: 128,
        cpus: 0.5,
        work_mb: 16,
        exec_work: false,
        isolation: Isolation::Runc,
        labels: std::collections::HashMap::from([("execbox.test".to_string(), "policy".to_string())]),
    };
    let created = engine.create(&spec).await.unwrap();
    let inspect = engine
        .docker()
        .inspect_container(&created.id, None::<bollard::query_parameters::InspectContainerOptions>)
        .await
        .unwrap();
    engine.remove(&created.id).await.unwrap();
    let h = inspect.host_config.unwrap();
    let c = inspect.config.unwrap();
    assert_eq!(h.memory, Some(128 * 1024 * 1024));
    assert_eq!(h.memory_swap, Some(128 * 1024 * 1024), "no swap");
    assert_eq!(h.nano_cpus, Some(500_000_000));
    assert_eq!(h.pids_limit, Some(64));
    assert_eq!(h.readonly_rootfs, Some(true));
    assert_eq!(h.network_mode.as_deref(), Some("none"));
    assert_eq!(c.network_disabled, Some(true));
    assert_eq!(h.cap_drop, Some(vec!["ALL".to_string()]));
    // The launcher's few, which it keeps from the program (see the identity test).
    let added: HashSet<String> = h.cap_add.unwrap_or_default().into_iter().collect();
    let launcher: HashSet<String> =
        ["CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID", "SETPCAP"].map(String::from).into();
    assert_eq!(added, launcher);
    assert_eq!(h.privileged, Some(false));
    assert_eq!(h.security_opt, Some(vec!["no-new-privileges:true".to_string()]));
    assert_eq!(h.init, Some(false), "the launcher is PID 1");
    assert_eq!(h.ipc_mode.as_deref(), Some("private"));
    assert_eq!(h.log_config.unwrap().typ.as_deref(), Some("none"));
    assert_eq!(h.auto_remove, Some(false));
    assert_eq!(h.runtime.as_deref(), Some("runc"), "the wall is named, whatever the engine's default");
    let tmpfs = h.tmpfs.unwrap();
    assert!(tmpfs["/tmp"].contains("size=64m") && tmpfs["/tmp"].contains("noexec"));
    assert!(tmpfs["/work"].contains("size=16m"));
    assert!(h.binds.unwrap_or_default().is_empty(), "no host paths");
    assert_eq!(c.user.as_deref(), Some("0:0"), "the launcher starts as root");
    assert_eq!(c.entrypoint.unwrap()[1..], ["--as", "65534:65534"], "and runs the program as nobody");
    assert_eq!(c.tty, Some(false));
    let ulimits: Vec<(String, i64)> =
        h.ulimits.unwrap().into_iter().map(|u| (u.name.unwrap(), u.hard.unwrap())).collect();
    assert!(ulimits.contains(&("core".to_string(), 0)));
    assert!(ulimits.contains(&("nofile".to_string(), 256)));
    assert!(ulimits.contains(&("fsize".to_string(), 64 * 1024 * 1024)));
}
