//! The sandbox holds: limits, isolation, hostile programs.

use std::time::{Duration, Instant};

use crate::support::*;

const T: Duration = Duration::from_secs(60);

#[tokio::test]
async fn identity_privileges_and_filesystem() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker();
    let code = r#"
import os, errno
print("uid", os.getuid(), os.getgid())
status = open("/proc/self/status").read()
for key in ("CapEff", "CapPrm", "NoNewPrivs"):
    print([l for l in status.splitlines() if l.startswith(key + ":")][0].split()[1], key)
for path in ("/usr/evil", "/etc/passwd", "/work/../root/x"):
    try:
        open(path, "w").write("x")
        print("WROTE", path)
    except OSError as e:
        print("refused", path, errno.errorcode[e.errno])
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
    let id = db.submit(user, "python", code).await;
    let s = db.wait_done(id, T).await;
    let out = db.stdout(id).await;
    assert_eq!(s.status, "completed", "{s:?} {out:?}");
    assert!(out.contains(&"uid 65534 65534".to_string()), "{out:?}");
    assert!(out.contains(&"0000000000000000 CapEff".to_string()), "{out:?}");
    assert!(out.contains(&"0000000000000000 CapPrm".to_string()), "{out:?}");
    assert!(out.contains(&"1 NoNewPrivs".to_string()), "{out:?}");
    assert!(out.iter().any(|l| l == "refused /usr/evil EROFS"), "{out:?}");
    assert!(out.iter().any(|l| l.starts_with("refused /etc/passwd")), "{out:?}");
    assert!(!out.iter().any(|l| l.starts_with("WROTE")), "{out:?}");
    assert!(out.contains(&"scratch is writable".to_string()));
    // /tmp is 64 MiB; RLIMIT_FSIZE would say EFBIG, the tmpfs ENOSPC.
    assert!(out.iter().any(|l| l.starts_with("tmp bounded")), "{out:?}");
    w.stop().await.unwrap();
}

#[tokio::test]
async fn network_is_unreachable() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker();
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
    let id = db.submit(user, "python", code).await;
    assert_eq!(db.wait_done(id, T).await.status, "completed");
    let out = db.stdout(id).await;
    assert_eq!(out, ["['lo']", "blocked 1.1.1.1", "blocked 172.17.0.1", "blocked 10.0.0.1"]);
    w.stop().await.unwrap();
}

#[tokio::test]
async fn wall_clock_timeout_kills_the_program() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker();
    let started = Instant::now();
    let id = db
        .submit_with(
            user,
            "python",
            "import time\nprint('start', flush=True)\nwhile True: time.sleep(0.1)",
            None,
            // Room for the interpreter to start while the suite loads both
            // cores with compilers.
            Some(3_000),
            None,
        )
        .await;
    let s = db.wait_done(id, T).await;
    assert_eq!(s.status, "timeout", "{s:?}");
    assert!(s.error.unwrap().contains("time limit of 3000 ms"));
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(db.stdout(id).await, ["start"], "what was printed before the kill is kept");
    wait_no_containers(id, Duration::from_secs(10)).await;
    // A busy loop (no sleeping) is killed the same way.
    let spin = db.submit_with(user, "node", "for(;;){}", None, Some(1_000), None).await;
    assert_eq!(db.wait_done(spin, T).await.status, "timeout");
    w.stop().await.unwrap();
}

#[tokio::test]
async fn memory_bomb_is_killed() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker();
    let code = "chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))\n";
    let id = db.submit_with(user, "python", code, None, Some(30_000), Some(64)).await;
    let s = db.wait_done(id, T).await;
    assert_eq!(s.status, "failed", "{s:?}");
    assert_eq!(s.exit_code, Some(137));
    // The engine reports the OOM kill when its event arrives in time; when
    // the program dies faster than the engine watches, the kill is still
    // blamed on the memory limit.
    let err = s.error.unwrap();
    assert!(err.contains("64 MB") && err.contains("memory limit"), "{err}");
    // The container's row is completed after the outcome, with its removal.
    let c = db.client().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let oom: Option<bool> = loop {
        let row = c
            .query_one("select oom_killed, status from container_instances where session_id = $1", &[&id])
            .await
            .unwrap();
        if row.get::<_, String>(1) == "removed" {
            break row.get(0);
        }
        assert!(Instant::now() < deadline, "the container's row was never completed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(oom.is_some_and(|o| o), err.contains("out of memory"), "the flag and the message agree");
    w.stop().await.unwrap();
}

#[tokio::test]
async fn fork_bomb_is_contained() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker();
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
    let started = Instant::now();
    let id = db.submit_with(user, "python", code, None, Some(20_000), None).await;
    let s = db.wait_done(id, T).await;
    let out = db.stdout(id).await;
    assert_eq!(s.status, "completed", "{s:?} {out:?}");
    let n: usize = out[0].strip_prefix("fork refused after ").expect("fork must fail").parse().unwrap();
    assert!(n < 64, "{n} processes forked under a pids limit of 64");
    // The sleeping children died with the container: no waiting for them.
    assert!(started.elapsed() < Duration::from_secs(15));
    wait_no_containers(id, Duration::from_secs(10)).await;
    w.stop().await.unwrap();
}

#[tokio::test]
async fn output_flood_is_capped_keeping_what_was_printed() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker_with(|c| c.limits.output_limit_bytes = 100_000);
    let id = db
        .submit_with(
            user,
            "python",
            "i = 0\nwhile True:\n    print(f'line {i:08d}')\n    i += 1\n",
            None,
            Some(30_000),
            None,
        )
        .await;
    let s = db.wait_done(id, T).await;
    assert_eq!(s.status, "failed", "{s:?}");
    assert!(s.error.unwrap().contains("output limit of 100000 bytes"));
    let logs = db.logs(id).await;
    let out: Vec<&Log> = logs.iter().filter(|l| l.stream == "stdout").collect();
    let bytes: usize = out.iter().map(|l| l.message.len() + 1).sum();
    assert!((99_000..=100_001).contains(&bytes), "{bytes} bytes kept");
    // Every kept line is the program's, in order.
    for (i, l) in out.iter().take(out.len() - 1).enumerate() {
        assert_eq!(l.message, format!("line {i:08}"));
    }
    assert!(logs.iter().any(|l| l.stream == "system" && l.message.contains("output limit of 100000 bytes reached")));
    wait_no_containers(id, Duration::from_secs(10)).await;
    w.stop().await.unwrap();
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
    assert!(h.cap_add.unwrap_or_default().is_empty());
    assert_eq!(h.privileged, Some(false));
    assert_eq!(h.security_opt, Some(vec!["no-new-privileges:true".to_string()]));
    assert_eq!(h.init, Some(true));
    assert_eq!(h.ipc_mode.as_deref(), Some("private"));
    assert_eq!(h.log_config.unwrap().typ.as_deref(), Some("none"));
    assert_eq!(h.auto_remove, Some(false));
    let tmpfs = h.tmpfs.unwrap();
    assert!(tmpfs["/tmp"].contains("size=64m") && tmpfs["/tmp"].contains("noexec"));
    assert!(tmpfs["/work"].contains("size=16m"));
    assert!(h.binds.unwrap_or_default().is_empty(), "no host paths");
    assert_eq!(c.user.as_deref(), Some("65534:65534"));
    assert_eq!(c.tty, Some(false));
    let ulimits: Vec<(String, i64)> =
        h.ulimits.unwrap().into_iter().map(|u| (u.name.unwrap(), u.hard.unwrap())).collect();
    assert!(ulimits.contains(&("core".to_string(), 0)));
    assert!(ulimits.contains(&("nofile".to_string(), 256)));
    assert!(ulimits.contains(&("fsize".to_string(), 64 * 1024 * 1024)));
}
