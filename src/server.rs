//! One node: the API on a listener and, beside it, a worker, until a
//! shutdown future completes. `execbox serve`, `execbox dev` and the tests
//! all start a node this way.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::runtimes::Runtimes;

/// What a node runs beside its API.
pub enum Worker {
    None,
    /// A worker with its own settings (its own database role, say).
    With(Arc<Config>),
    /// The same, reporting what its loop does (see [`crate::worker::Steps`]).
    Reporting(Arc<Config>, tokio::sync::watch::Sender<crate::worker::Steps>),
}

/// Serves the API on `listener` with `cfg` (and the worker) until
/// `shutdown` completes; then the API finishes its requests in flight and
/// the worker its sessions. A worker or an API that stops by itself (it
/// cannot go on) stops the node, with its error.
pub async fn run(
    listener: TcpListener,
    cfg: Arc<Config>,
    worker: Worker,
    runtimes: Arc<Runtimes>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let st = crate::api::ApiState::new(cfg, runtimes.clone())?;
    let api_stop = CancellationToken::new();
    let stop = api_stop.clone();
    let mut api = tokio::spawn(crate::api::serve(listener, st, async move { stop.cancelled().await }));
    let worker_stop = CancellationToken::new();
    let mut worker = match worker {
        Worker::None => None,
        Worker::With(cfg) => Some(tokio::spawn(crate::worker::run(cfg, runtimes, worker_stop.clone()))),
        Worker::Reporting(cfg, steps) => {
            Some(tokio::spawn(crate::worker::run_reporting(cfg, runtimes, worker_stop.clone(), steps)))
        }
    };
    let worker_ended = async {
        match worker.as_mut() {
            Some(w) => w.await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = shutdown => {}
        ended = worker_ended => {
            api_stop.cancel();
            let _ = api.await;
            return ended.context("worker task")?.context("the worker stopped");
        }
        served = &mut api => {
            worker_stop.cancel();
            if let Some(w) = worker {
                let _ = w.await;
            }
            return served.context("API task")?.context("the API stopped");
        }
    }
    api_stop.cancel();
    let served = api.await.context("API task")?;
    worker_stop.cancel();
    if let Some(w) = worker {
        w.await.context("worker task")??;
    }
    served
}
