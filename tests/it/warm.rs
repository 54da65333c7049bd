//! The warm pool: pre-started containers serve sessions once, carry the same
//! policy as cold ones, are recycled, drained, and skipped when a session
//! needs other limits.

use std::collections::HashSet;
use std::time::Duration;

use crate::support::*;
use execbox::model::Isolation;

const T: Duration = Duration::from_secs(60);

#[tokio::test]
async fn warm_containers_serve_one_session_each_with_the_cold_policy() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let (w, worker_id) = pooled_worker(&db, move |c| {
        c.worker.warm_pool.insert("python".into(), 2);
        // A limit above the default is served cold.
        c.limits.max_memory_mb = 1024;
    });
    let before = wait_pool(w.steps(), &worker_id, 2).await;

    // The same policy, checked on real containers: a warm one against one
    // the cold path builds for the same request.
    let engine = execbox::sandbox::Engine::connect("", execbox::config::Limits::default()).unwrap();
    let rt = execbox::runtimes::Runtimes::builtin().resolve("python").unwrap().clone();
    let cold = engine
        .create(&execbox::exec::default_spec(&rt, &execbox::config::Limits::default(), Default::default()))
        .await
        .unwrap();
    let inspect = |id: String| {
        let docker = engine.docker().clone();
        async move {
            docker.inspect_container(&id, None::<bollard::query_parameters::InspectContainerOptions>).await.unwrap()
        }
    };
    let warm_i = inspect(before.iter().next().unwrap().clone()).await;
    let cold_i = inspect(cold.id.clone()).await;
    engine.remove(&cold.id).await.unwrap();
    let strip = |mut c: bollard::models::ContainerConfig| {
        c.labels = None;
        c.hostname = None;
        c
    };
    assert_eq!(warm_i.host_config, cold_i.host_config, "warm and cold containers differ in their host configuration");
    assert_eq!(strip(warm_i.config.unwrap()), strip(cold_i.config.unwrap()), "warm and cold containers differ");

    // Sessions take warm containers, one each, never again.
    let code = "import os, socket\nprint(os.getuid(), open('/proc/self/status').read().split('CapEff:')[1].split()[0])\nprint(sorted(i[1] for i in socket.if_nameindex()))";
    let warm_before = execbox::metrics::METRICS.containers_warm.load(std::sync::atomic::Ordering::Relaxed);
    let a = db.submit(user, "python", code).await;
    assert_eq!(db.wait_done(a, T).await.status, SessionStatus::Completed);
    // (Counters are per process and other tests run meanwhile: at least one more.)
    assert!(execbox::metrics::METRICS.containers_warm.load(std::sync::atomic::Ordering::Relaxed) > warm_before);
    let b = db.submit(user, "python", code).await;
    assert_eq!(db.wait_done(b, T).await.status, SessionStatus::Completed);
    let (ca, cb) = (container_of(&db, a).await, container_of(&db, b).await);
    assert!(before.contains(&ca), "the first session ran on a warm container");
    assert_ne!(ca, cb, "a container serves one session only");
    for id in [a, b] {
        assert_eq!(db.stdout(id).await, ["65534 0000000000000000", "['lo']"], "the sandbox holds on the warm path");
    }
    // Used warm containers are removed.
    wait_container_gone(&ca, Duration::from_secs(10)).await;
    wait_container_gone(&cb, Duration::from_secs(10)).await;
    // The pool refills.
    let refilled = wait_pool(w.steps(), &worker_id, 2).await;

    // A lower memory limit: a warm container, its limit lowered to the
    // session's before the code arrives.
    let limit = "import os\nfor p in ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']:\n    if os.path.exists(p):\n        print(open(p).read().strip())\n        break";
    let c = db.submit_with(user, "python", limit, None, None, Some(128)).await;
    let s = db.wait_done(c, T).await;
    assert_eq!(s.status, SessionStatus::Completed, "{s:?} {:?}", db.logs(c).await);
    assert!(refilled.contains(&container_of(&db, c).await), "a lower limit is served warm");
    assert_eq!(db.stdout(c).await, [(128u64 << 20).to_string()]);
    // A higher one: the cold path.
    let d = db.submit_with(user, "python", limit, None, None, Some(1024)).await;
    assert_eq!(db.wait_done(d, T).await.status, SessionStatus::Completed);
    assert!(!refilled.contains(&container_of(&db, d).await), "a higher limit is served cold");
    assert_eq!(db.stdout(d).await, [(1024u64 << 20).to_string()]);

    // Shutdown drains the pool.
    w.stop().await.unwrap();
    assert!(pool_containers(&worker_id).await.is_empty(), "warm containers left after shutdown");
}

#[tokio::test]
async fn idle_warm_containers_are_recycled() {
    let db = TestDb::new().await;
    let (w, worker_id) = pooled_worker(&db, move |c| {
        c.worker.warm_pool.insert("node".into(), 1);
        c.worker.warm_ttl_ms = 1_000;
        c.worker.poll_interval_ms = 300;
    });
    let first = wait_pool(w.steps(), &worker_id, 1).await;
    eventually("the idle container replaced", T, || async {
        let now = pool_containers(&worker_id).await;
        (!now.is_empty() && now.is_disjoint(&first)).then_some(())
    })
    .await;
    w.stop().await.unwrap();
    assert!(pool_containers(&worker_id).await.is_empty());
}

/// Python and Node.js start before their code arrives (`prestart`): whether
/// the interpreter was warm in a pool or started with the container, the
/// program sees what a fresh `python3 main.py` or `node main.js` sees — its
/// argv and file, the script on disk (error reports quote it), its extra
/// files and nothing else in its directory, and its stdin.
#[tokio::test]
async fn a_prestarted_interpreter_is_indistinguishable_from_a_fresh_one() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let (w, worker_id) = pooled_worker(&db, move |c| {
        c.worker.warm_pool.insert("python".into(), 1);
        c.worker.warm_pool.insert("node".into(), 1);
        // A limit above the default is served cold.
        c.limits.max_memory_mb = 1024;
    });
    let python = "import os, sys, helper\n\
                  print(sys.argv, __file__, os.path.isfile(__file__))\n\
                  print(open(__file__).read().splitlines()[0])\n\
                  print(helper.VALUE, input(), sorted(os.listdir('.')))\n\
                  raise ValueError('from line five')\n";
    let node = "const fs = require('fs'), helper = require('./helper');\n\
                console.log(JSON.stringify(process.argv.slice(1)), __filename, fs.statSync(__filename).isFile());\n\
                console.log(fs.readFileSync(__filename, 'utf8').split('\\n')[0]);\n\
                console.log(helper.VALUE, fs.readFileSync(0, 'utf8').trim(), JSON.stringify(fs.readdirSync('.').sort()));\n\
                throw new Error('from line five');\n";
    let cases = [
        (
            "python",
            "execbox/python:3.11",
            python,
            ("helper.py", "VALUE = 42\n"),
            ["['main.py'] /work/main.py True", "import os, sys, helper", "42 typed ['helper.py', 'main.py']"],
            ["File \"/work/main.py\", line 5", "raise ValueError('from line five')"],
        ),
        (
            "node",
            "execbox/node:18",
            node,
            ("helper.js", "exports.VALUE = 42;\n"),
            [
                "[\"/work/main.js\"] /work/main.js true",
                "const fs = require('fs'), helper = require('./helper');",
                "42 typed [\"helper.js\",\"main.js\"]",
            ],
            ["/work/main.js:5", "throw new Error('from line five');"],
        ),
    ];
    for (language, image, code, helper, expected, quoted) in cases {
        let files = serde_json::json!([{"name": helper.0, "content": helper.1}]);
        let mut seen = Vec::new();
        // Default memory: a warm container; other limits: the cold path.
        for memory in [None, Some(1024)] {
            let pooled = wait_pool_of(w.steps(), &worker_id, 1, Some(image)).await;
            let req = execbox::model::Request {
                language: language.into(),
                code: code.into(),
                stdin: Some("typed\n".into()),
                files: Some(files.clone()),
                memory_limit_mb: memory,
                ..Default::default()
            };
            let id = db.insert(user, &req).await;
            let s = db.wait_done(id, T).await;
            assert_eq!((s.status, s.exit_code), (SessionStatus::Failed, Some(1)), "{language}: {s:?}");
            let warm = pooled.contains(&container_of(&db, id).await);
            assert_eq!(warm, memory.is_none(), "{language}: warm first, then cold");
            let stdout = db.stdout(id).await;
            assert_eq!(stdout, expected, "{language}, warm {warm}");
            let stderr: Vec<String> =
                db.logs(id).await.into_iter().filter(|l| l.stream == Stream::Stderr).map(|l| l.message).collect();
            assert!(
                stderr.iter().any(|l| l.contains(quoted[0])) && stderr.iter().any(|l| l.trim() == quoted[1]),
                "{language}: the error report quotes the script: {stderr:?}"
            );
            seen.push((stdout, stderr));
        }
        assert_eq!(seen[0], seen[1], "{language}: warm and cold runs print the same");
    }
    w.stop().await.unwrap();
}

/// Kills one of the worker's ready warm containers (as a Docker restart
/// does) and returns its id.
async fn kill_one(w: &Worker, worker_id: &str) -> String {
    let dead = wait_pool(w.steps(), worker_id, 1).await.into_iter().next().unwrap();
    let st = tokio::process::Command::new("docker").args(["kill", &dead]).output().await.unwrap();
    assert!(st.status.success(), "{st:?}");
    dead
}

/// A warm container that died while idle (as a Docker restart leaves them)
/// is noticed when a session takes it — from its attach stream, no engine
/// call — and the session runs elsewhere instead of failing.
#[tokio::test]
async fn a_warm_container_that_died_idle_is_skipped() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let (w, worker_id) = pooled_worker(&db, move |c| {
        c.worker.warm_pool.insert("python".into(), 1);
        // No refill tick in the way: only the session finds it dead.
        c.worker.poll_interval_ms = 600_000;
    });
    let dead = kill_one(&w, &worker_id).await;
    eventually("the killed container no longer running", T, || async {
        (!pool_ids(&worker_id, false).await.contains(&dead)).then_some(())
    })
    .await;
    let id = db.submit(user, "python", "print('still served')").await;
    let s = db.wait_done(id, T).await;
    assert_eq!(s.status, SessionStatus::Completed, "{s:?}");
    assert_eq!(db.stdout(id).await, ["still served"]);
    assert_ne!(container_of(&db, id).await, dead);
    wait_container_gone(&dead, Duration::from_secs(10)).await;
    w.stop().await.unwrap();
}

/// Idle warm containers that died (as a Docker restart leaves them) are
/// replaced by the pool's own refill, with no session needed to notice.
#[tokio::test]
async fn the_pool_rebuilds_itself_after_its_containers_die() {
    let db = TestDb::new().await;
    let (w, worker_id) = pooled_worker(&db, move |c| {
        c.worker.warm_pool.insert("python".into(), 1);
        c.worker.poll_interval_ms = 200;
    });
    let dead = kill_one(&w, &worker_id).await;
    wait_container_gone(&dead, Duration::from_secs(30)).await;
    let now = wait_pool(w.steps(), &worker_id, 1).await;
    assert!(!now.contains(&dead), "{now:?}");
    w.stop().await.unwrap();
}

/// The pool keeps what fits in its memory budget, not what it was asked for.
#[tokio::test]
async fn the_pool_stays_within_its_memory_budget() {
    let db = TestDb::new().await;
    let memory = db.config().limits.default_memory_mb;
    let (w, worker_id) = pooled_worker(&db, move |c| {
        c.worker.warm_pool.insert("python".into(), 3);
        // Room for two containers' memory limits, not three.
        c.worker.warm_memory_mb = memory * 2 + memory / 2;
        c.worker.poll_interval_ms = 200;
    });
    wait_pool(w.steps(), &worker_id, 2).await;
    // A refill that began with the two made ended without a third.
    w.refilled().await;
    assert_eq!(pool_containers(&worker_id).await.len(), 2, "the pool exceeded its memory budget");
    w.stop().await.unwrap();
}

/// Node.js decides at startup, from `package.json`, how to load its script:
/// a session that sends one is not prestarted. A warm container still
/// serves it: its prestarted interpreter goes unused and the script runs as
/// an ES module, exactly as `node main.js` would next to that file.
#[tokio::test]
async fn a_package_json_is_seen_by_node_at_startup() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let (w, worker_id) = pooled_worker(&db, move |c| {
        c.worker.warm_pool.insert("node".into(), 1);
    });
    let pooled = wait_pool(w.steps(), &worker_id, 1).await;
    let req = execbox::model::Request {
        language: "node".into(),
        code: "import { readFileSync } from 'fs';\nconsole.log('esm', typeof readFileSync);\n".into(),
        files: Some(serde_json::json!([{"name": "package.json", "content": "{\"type\": \"module\"}"}])),
        ..Default::default()
    };
    let id = db.insert(user, &req).await;
    let s = db.wait_done(id, T).await;
    assert_eq!(s.status, SessionStatus::Completed, "{s:?} {:?}", db.logs(id).await);
    assert_eq!(db.stdout(id).await, ["esm function"]);
    assert!(pooled.contains(&container_of(&db, id).await), "a warm container, relaunched");
    w.stop().await.unwrap();
}

/// Warm containers serve sessions whose launcher command line is not the
/// one they were started with — arguments, test cases, a checker program —
/// by sending it first: the unused prestarted interpreter is gone before
/// the program starts, which sees just what it sees on the cold path.
#[tokio::test]
async fn warm_containers_serve_arguments_and_test_cases() {
    use execbox::model::{Checker, Mode, Request};
    use serde_json::json;
    let db = TestDb::new().await;
    let user = db.user().await;
    let (w, worker_id) = pooled_worker(&db, move |c| {
        c.worker.warm_pool.insert("python".into(), 2);
        // A limit above the default is served cold.
        c.limits.max_memory_mb = 1024;
    });
    // The program's argv, stdin, directory and the processes it can see.
    let code = "import os, sys\n\
                print(sys.argv, input())\n\
                print(sorted(os.listdir('.')), sorted(open(f'/proc/{p}/cmdline').read().split('\\0')[0] for p in os.listdir('/proc') if p.isdigit()))";
    let mut seen = Vec::new();
    for memory in [None, Some(1024)] {
        let pooled = wait_pool(w.steps(), &worker_id, 2).await;
        let req = Request {
            language: "python".into(),
            code: code.into(),
            args: vec!["a b".into(), "c".into()],
            stdin: Some("typed\n".into()),
            memory_limit_mb: memory,
            ..Default::default()
        };
        let id = db.insert(user, &req).await;
        let s = db.wait_done(id, T).await;
        assert_eq!(s.status, SessionStatus::Completed, "{s:?} {:?}", db.logs(id).await);
        assert_eq!(pooled.contains(&container_of(&db, id).await), memory.is_none(), "warm first, then cold");
        let stdout = db.stdout(id).await;
        assert_eq!(
            stdout,
            ["['main.py', 'a b', 'c'] typed", "['main.py'] ['/usr/local/bin/execbox-launcher', 'python3']"],
            "memory {memory:?}"
        );
        seen.push(stdout);
    }
    assert_eq!(seen[0], seen[1]);

    // Test cases, judged by a checker program: the solution in a warm
    // container, and the checker in the other.
    let pooled = wait_pool(w.steps(), &worker_id, 2).await;
    let checker = "import sys\nout = open(sys.argv[2]).read().split()\nans = open(sys.argv[3]).read().split()\nsys.exit(0 if out == ans else 1)";
    let req = Request {
        language: "python".into(),
        code: "a, b = map(int, input().split())\nprint(a + b)".into(),
        mode: Mode::Cases,
        cases: Some(json!([
            {"stdin": "1 2\n", "expected_output": "3\n"},
            {"stdin": "5 5\n", "expected_output": "10\n"},
            {"stdin": "2 2\n", "expected_output": "5\n"},
        ])),
        checker: Some(Checker::Program),
        checker_code: Some(checker.into()),
        checker_language: Some("python".into()),
        ..Default::default()
    };
    let id = db.insert(user, &req).await;
    let s = db.wait_done(id, T).await;
    assert_eq!(s.status, SessionStatus::Completed, "{s:?} {:?}", db.logs(id).await);
    assert!(pooled.contains(&container_of(&db, id).await), "the solution ran warm");
    let result: serde_json::Value = db
        .client()
        .await
        .query_one("select result from backend_execution_sessions where id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    let got: Vec<&str> = result["cases"].as_array().unwrap().iter().map(|c| c["status"].as_str().unwrap()).collect();
    assert_eq!(got, ["accepted", "accepted", "wrong_answer"], "{result}");
    // Both warm containers were taken (and are removed once used).
    for id in &pooled {
        wait_container_gone(id, Duration::from_secs(30)).await;
    }
    w.stop().await.unwrap();
}

/// An interpreter that dies before it opens its script (too little memory
/// to start, say) is reported at once with its exit status, never waited
/// for until the time limit: the launcher, in the real image.
#[tokio::test]
async fn the_launcher_reports_an_interpreter_that_died_before_its_script() {
    use execbox::model::request::File;
    use execbox::model::{Exit, Stream};
    use execbox::sandbox::launcher::{self, Decoder, Event};
    use tokio::io::AsyncWriteExt;
    let frames =
        launcher::files(&[File { name: "main.py".into(), content: b"print(1)\n".to_vec() }], &Default::default());
    let mut child = tokio::process::Command::new("docker")
        .args(["run", "--rm", "-i", "--network", "none", "--read-only", "--tmpfs", "/work:mode=1777"])
        .args(["--user", "0:0", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true"])
        .args(execbox::sandbox::policy::LAUNCHER_CAPABILITIES.iter().flat_map(|c| ["--cap-add", c]))
        .args(["--label", "execbox.test=launcher", "--entrypoint", launcher::PATH, "execbox/python:3.11"])
        // Stands for an interpreter that dies while starting.
        .args(["--as", "65534:65534", "--prestart", "main.py", "sh", "-c", "echo dying >&2; exit 3"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&frames).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the launcher waited for a script nobody would read")
        .unwrap();
    let mut d = Decoder::default();
    d.push(&out.stdout);
    let mut events = Vec::new();
    while let Some(e) = d.next_event().unwrap() {
        events.push(e);
    }
    assert_eq!(out.status.code(), Some(3), "{events:?}");
    assert!(events.contains(&Event::Output(Stream::Stderr, "dying\n".into())), "{events:?}");
    assert!(
        matches!(events.last(), Some(Event::Exited(s)) if s.exit == Exit::Code(3)),
        "the status, in-band: {events:?}"
    );
}

/// A worker started with no pool setting keeps warm containers for the
/// languages that start their interpreter ahead, sized from the host, and
/// serves a plain session from them.
#[tokio::test]
async fn a_worker_with_no_setting_keeps_a_pool_sized_from_the_host() {
    // The pace under test is the engine's: no compilers beside it.
    let _cpu = every_language().await;
    let db = TestDb::new().await;
    let user = db.user().await;
    for wall in [Isolation::Runc, Isolation::Gvisor] {
        let (w, worker_id) = pooled_worker(&db, |c| {
            c.worker.warm_auto = true;
            c.limits.isolation = wall;
        });
        let made = PoolMade::watch(&worker_id);
        wait_pool_of(w.steps(), &worker_id, 1, Some("execbox/python:3.11")).await;
        wait_pool_of(w.steps(), &worker_id, 1, Some("execbox/node:18")).await;
        // A sequence of hellos, each sent a moment after the last ended (a
        // user at a keyboard, or a script): each is served warm, the taken
        // container replaced meanwhile, and as many kept as come while one
        // is made, under gVisor's slower start too.
        let mut cold = Vec::new();
        for i in 0..12 {
            let id = db.submit(user, "python", &format!("print('warm by default', {i})")).await;
            assert_eq!(db.wait_done(id, T).await.status, SessionStatus::Completed);
            if !made.made(&container_of(&db, id).await) {
                cold.push(i);
            }
            // The pace under test, not a wait for an event.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        // Until the pool has seen two sessions it does not know their pace:
        // the second may find the first's replacement not yet made. After
        // that, one of ten may meet a slow start on a loaded machine (a
        // pool replaced only when a session ends misses every other one).
        let late: Vec<&usize> = cold.iter().filter(|i| **i >= 2).collect();
        assert!(late.len() <= 1, "{wall:?}: sessions {cold:?} of 12 ran cold");
        w.stop().await.unwrap();
        assert!(pool_containers(&worker_id).await.is_empty(), "warm containers left after shutdown");
    }
}

/// The containers a worker's warm pool made, from the engine's events (a
/// container is removed after its session, its labels with it).
struct PoolMade {
    ids: std::sync::Arc<std::sync::Mutex<HashSet<String>>>,
    _events: tokio::process::Child,
}

impl PoolMade {
    fn watch(worker: &str) -> PoolMade {
        use tokio::io::AsyncBufReadExt;
        let mut events = tokio::process::Command::new("docker")
            .args(["events", "--filter", "event=create", "--filter", "label=execbox.pool=true"])
            .args(["--filter", &format!("label=execbox.worker_id={worker}"), "--format", "{{.ID}}"])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let ids = std::sync::Arc::new(std::sync::Mutex::new(HashSet::new()));
        let mut lines = tokio::io::BufReader::new(events.stdout.take().unwrap()).lines();
        let seen = ids.clone();
        tokio::spawn(async move {
            while let Ok(Some(id)) = lines.next_line().await {
                seen.lock().unwrap().insert(id);
            }
        });
        PoolMade { ids, _events: events }
    }

    /// Whether the pool made it (it was made, and heard of, before its session).
    fn made(&self, container: &str) -> bool {
        self.ids.lock().unwrap().contains(container)
    }
}

/// An image whose launcher is older than execbox's (its label says an older
/// protocol, as an image from an older execbox does) runs no session, warm
/// or cold: its launcher would not run the program as a uid of its own. To
/// the worker it is missing, so its sessions end `image_missing` with the
/// command that rebuilds it, and no warm container of it is made.
#[tokio::test]
async fn an_image_from_an_older_execbox_runs_no_session() {
    let image = older_launcher_image();
    let db = TestDb::new().await;
    let user = db.user().await;
    let worker_id = format!("warm-{}", uuid::Uuid::new_v4().simple());
    let w = worker_with_python_image(&db, image, |c| {
        c.worker.id = worker_id.clone();
        c.worker.warm_pool.insert("python".into(), 1);
        c.worker.unrunnable_after_ms = 1_000;
    });
    let id = db.submit(user, "python", "print('never')").await;
    let s = db.wait_done(id, T).await;
    assert_eq!((s.status, s.end_reason), (SessionStatus::Error, Some(EndReason::ImageMissing)), "{s:?}");
    assert!(s.error.as_deref().unwrap_or("").contains("`execbox images build python`"), "{s:?}");
    // The worker was up and had said what it can run (the session ended
    // for that); its pool made nothing of the image.
    assert!(pool_ids_of(&worker_id, true, Some(image)).await.is_empty());
    let sh = db.submit(user, "bash", "echo still here").await;
    assert_eq!(db.wait_done(sh, T).await.status, SessionStatus::Completed);
    w.stop().await.unwrap();
}
