//! (i) The API under load: an `execbox serve --no-worker` node in front of
//! the worker the bench started, in open Piston mode (so the bench needs no
//! token), its limits out of the way. Sessions per second through
//! `POST /api/v2/execute` at concurrency 8 and 1,000 (all at once), every
//! answer checked; the node's peak database connections (its pool and its
//! one LISTEN, from `pg_stat_activity`) and resident memory. Before
//! those, MCP's overhead: the same hello through `POST /api/v2/execute`
//! and through `/mcp`'s `run_code`, alternately, one at a time.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use serde_json::{json, Value};

use super::round;
use crate::db::Database;

/// The API node subprocess; stopped when dropped.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

pub(super) async fn measure(database: &Database, iterations: usize) -> anyhow::Result<Value> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let base = format!("http://127.0.0.1:{port}");
    let node = Node(
        Command::new(std::env::current_exe()?)
            .args(["serve", "--no-worker", "--listen", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", database.url().expose())
            .env("EXECBOX_PISTON_AUTH", "none")
            .env("EXECBOX_PISTON_IP_RATE_PER_MINUTE", "10000000")
            .env("EXECBOX_PISTON_IP_MAX_ACTIVE", "100000")
            .env("EXECBOX_API_QUEUE_WAIT_MS", "600000")
            .env("EXECBOX_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start an API node")?,
    );
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/health")).send().await.map(|r| r.status().as_u16()).unwrap_or(0) != 200 {
        anyhow::ensure!(Instant::now() < deadline, "the API node never became healthy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The node's connections and memory, sampled throughout.
    let (peak_conns, peak_kb) = (Arc::new(AtomicI64::new(0)), Arc::new(AtomicU64::new(0)));
    let sampler = {
        let (conns, kb, pid) = (peak_conns.clone(), peak_kb.clone(), node.0.id());
        let c = database.connect().await?;
        tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
            loop {
                if let Ok(n) = crate::db::bench::api_connections(&c).await {
                    conns.fetch_max(n, Ordering::Relaxed);
                }
                if let Some(k) = super::rss_kb(pid) {
                    kb.fetch_max(k, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }))
    };

    let execute = |i: usize| {
        let (http, url) = (http.clone(), format!("{base}/api/v2/execute"));
        async move {
            let body = json!({"language": "python", "version": "*", "files": [{"content": format!("print({i})")}]});
            let v: Value = http.post(url).json(&body).send().await?.error_for_status()?.json().await?;
            anyhow::ensure!(v["run"]["stdout"] == format!("{i}\n"), "execute {i} answered {v}");
            Ok(())
        }
    };
    for i in 0..5 {
        execute(i).await?;
        run_code(&http, &base, i).await?;
    }
    let mut out = json!({});
    eprintln!("==> (i) a hello through /api/v2/execute and through MCP's run_code, alternately, x{iterations}");
    let (mut through_api, mut through_mcp) = (Vec::new(), Vec::new());
    for i in 0..iterations {
        // Either goes first every other time (A B B A ...), each after a
        // pause that lets the warm pool refill (as (a) measures): the
        // difference is the protocol's, not which found a warm container.
        for mcp in [i % 2 == 1, i % 2 == 0] {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let t0 = Instant::now();
            match mcp {
                true => run_code(&http, &base, i).await?,
                false => execute(i).await?,
            }
            let ms = t0.elapsed().as_secs_f64() * 1000.0;
            if mcp { &mut through_mcp } else { &mut through_api }.push(ms);
        }
    }
    out["hello_execute"] = super::summary(through_api);
    out["hello_mcp"] = super::summary(through_mcp);
    for (total, concurrency) in [(200, 8), (1000, 1000)] {
        eprintln!("==> (i) {total} executes through the API at concurrency {concurrency}");
        let t0 = Instant::now();
        let results: Vec<anyhow::Result<()>> =
            futures::stream::iter(0..total).map(execute).buffer_unordered(concurrency).collect().await;
        for r in results {
            r?;
        }
        out[format!("c{concurrency}")] =
            json!({"total": total, "sessions_per_s": round(total as f64 / t0.elapsed().as_secs_f64())});
    }
    drop(sampler);
    out["node_peak_db_connections"] = json!(peak_conns.load(Ordering::Relaxed));
    out["node_peak_rss_kb"] = json!(peak_kb.load(Ordering::Relaxed));
    drop(node);
    Ok(out)
}

/// One `tools/call` of `run_code` as an MCP client sends it (stateless:
/// no session to open first), its answer read from the event stream.
async fn run_code(http: &reqwest::Client, base: &str, i: usize) -> anyhow::Result<()> {
    let call = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {
        "name": "run_code", "arguments": {"language": "python", "code": format!("print({i})")}}});
    let answer = http
        .post(format!("{base}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&call)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let result = answer
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .find(|m| m["id"] == json!(i))
        .with_context(|| format!("run_code {i}: no answer in {answer:?}"))?;
    let stdout = &result["result"]["structuredContent"]["stdout"];
    anyhow::ensure!(*stdout == format!("{i}\n"), "run_code {i} answered {result}");
    Ok(())
}
