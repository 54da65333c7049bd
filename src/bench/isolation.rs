//! (k) What the second wall costs: the same hello under runc and under
//! gVisor, warm and cold, against a bare process and `docker run --runtime
//! runsc`; sessions per second at the bench's concurrency under each wall;
//! and the host memory one idle warm container holds under each.

use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio_postgres::Client;
use uuid::Uuid;

use super::{latency, round, sessions_throughput, time_command, warm_up, BenchOptions, Done, WorkerProc};
use crate::config::Config;
use crate::db::Database;
use crate::model::Isolation;

/// Measures every wall in one run; the engine must have gVisor's runtime
/// (`execbox dev` registers it).
pub(super) async fn measure(
    cfg: &Config,
    database: &Database,
    db: &mut Client,
    done: &Done,
    user: Uuid,
    opts: &BenchOptions,
) -> anyhow::Result<Value> {
    let n = opts.iterations;
    let engine = crate::sandbox::Engine::connect(&cfg.docker_host, cfg.limits.clone())?;
    let gvisor = cfg.limits.oci_runtime(Isolation::Gvisor).to_string();
    anyhow::ensure!(
        engine.oci_runtimes().await?.contains(&gvisor),
        "the engine has no {gvisor} runtime: the isolation part measures gVisor (`EXECBOX_ISOLATION=gvisor execbox dev` registers it)"
    );
    let mut out = json!({});
    let python = if std::path::Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
    eprintln!("==> (k) bare {python} -c 'print(1)' x{n}");
    out["bare_process"] = time_command(n, python, &["-c", "print(1)"])?;
    eprintln!("==> (k) docker run --rm --runtime {gvisor} x{n}");
    let args = ["run", "--rm", "--runtime", &gvisor, "--network", "none", "--entrypoint", "python3"];
    out["docker_run_gvisor"] =
        time_command(n, "docker", &[&args[..], &["execbox/python:3.11", "-c", "print(1)"]].concat())?;
    for wall in [Isolation::Runc, Isolation::Gvisor] {
        let w = wall.as_str();
        let id = format!("bench-{w}-{}", Uuid::new_v4().simple());
        let env = [("EXECBOX_ISOLATION", w), ("EXECBOX_WORKER_ID", id.as_str())];
        let worker = WorkerProc::start(database, Some("python=2"), &env)?;
        warm_up(db, done, user).await?;
        let pooled = full_pool(&engine, &id, 2).await?;
        out[w]["idle_warm_container_kb"] = json!(memory_kb(&engine, &pooled).await?);
        eprintln!("==> (k) {w}: INSERT to completed, warm pool, x{n}");
        out[w]["warm"] = latency(db, done, user, n, Duration::from_millis(300)).await?;
        drop(worker);
        // What a new user gets on this wall: no pool setting at all.
        let worker = WorkerProc::start(database, None, &env)?;
        warm_up(db, done, user).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        eprintln!("==> (k) {w}: INSERT to completed, a worker with no settings, x{n}");
        out[w]["default"] = latency(db, done, user, n, Duration::from_millis(300)).await?;
        drop(worker);
        let worker = WorkerProc::start(database, Some("off"), &env)?;
        warm_up(db, done, user).await?;
        eprintln!("==> (k) {w}: INSERT to completed, cold, x{n}");
        out[w]["cold"] = latency(db, done, user, n, Duration::from_millis(50)).await?;
        eprintln!("==> (k) {w}: {} sessions at concurrency {} (cold)", opts.sessions, opts.concurrency);
        let (per_s, _) = sessions_throughput(database, done, &worker, user, opts).await?;
        out[w]["sessions_per_s"] = json!(round(per_s));
        drop(worker);
    }
    Ok(out)
}

/// The worker's `n` warm containers, once all are up.
async fn full_pool(engine: &crate::sandbox::Engine, worker: &str, n: usize) -> anyhow::Result<Vec<String>> {
    let filters = std::collections::HashMap::from([(
        "label".to_string(),
        vec!["execbox.pool=true".to_string(), format!("execbox.worker_id={worker}")],
    )]);
    let options = bollard::query_parameters::ListContainersOptions { filters: Some(filters), ..Default::default() };
    for _ in 0..600 {
        let up = engine.docker().list_containers(Some(options.clone())).await?;
        if up.len() >= n {
            // A moment for the last to settle (its interpreter prestarted).
            tokio::time::sleep(Duration::from_secs(2)).await;
            return Ok(up.into_iter().filter_map(|c| c.id).collect());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the warm pool of {worker} did not fill within a minute")
}

/// Mean host memory (the cgroup's usage: under gVisor its kernel and
/// gofer too) of the containers, in KiB.
async fn memory_kb(engine: &crate::sandbox::Engine, ids: &[String]) -> anyhow::Result<u64> {
    let mut total = 0;
    for id in ids {
        let options = bollard::query_parameters::StatsOptions { stream: false, one_shot: true };
        let stats = engine.docker().stats(id, Some(options)).next().await.context("no stats")??;
        total += stats.memory_stats.and_then(|m| m.usage).unwrap_or_default() / 1024;
    }
    Ok(total / ids.len().max(1) as u64)
}
