//! The worker: one loop that `select!`s over a closed set of events — a
//! wake-up from LISTEN, the slow poll, the quick poll (only while
//! notifications do not arrive), the heartbeat, the reaper tick, a finished
//! run, and shutdown — and claims sessions while it has free slots.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;
use tokio::time::{interval, sleep_until, Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

mod reap;

use crate::config::Config;
use crate::db::containers;
use crate::db::listener::{self, Wake};
use crate::db::queue;
use crate::db::workers::{self, Presence};
use crate::exec::{self, Ctx};
use crate::runtimes::{Runnable, Runtimes};
use crate::sandbox::policy;
use crate::sandbox::warm::{Budget, WarmPool};
use crate::sandbox::{Engine, StopReason};

struct Run {
    attempt: i32,
    stop: watch::Sender<Option<StopReason>>,
    /// Notified when input for this (interactive) session arrives.
    input: Arc<Notify>,
}

struct Worker {
    ctx: Ctx,
    runs: HashMap<Uuid, Run>,
    tasks: JoinSet<Uuid>,
    docker_ok: bool,
    docker_seen: bool,
    /// What the engine can run (None until its images were checked).
    runnable: Option<Runnable>,
    /// Notifications do not arrive (a transaction pooler): poll quickly.
    polling: bool,
    /// What this worker's loop has done, for whoever watches.
    steps: Arc<watch::Sender<Steps>>,
    /// The last refill of the warm pool (one runs at a time).
    refilling: Option<tokio::task::JoinHandle<()>>,
}

/// What a worker's loop has done so far, for whoever watches it (the
/// tests): a worker that looked for sessions and passed one over says so.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Steps {
    /// Claim passes begun, and ended (one at a time).
    pub claims_begun: u64,
    pub claims_ended: u64,
    /// What the last ended claim pass did.
    pub last_claim: ClaimPass,
    /// Refills of the warm pool begun, and ended (one at a time).
    pub fills_begun: u64,
    pub fills_ended: u64,
    /// Warm containers being made now (by a refill, or to replace one
    /// taken): at 0, every one this worker started is listed.
    pub warm_making: usize,
}

/// What one claim pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClaimPass {
    /// No pass has ended yet.
    #[default]
    None,
    /// Claimed this many sessions (at least one).
    Claimed(usize),
    /// Asked the database with free slots; nothing was claimable.
    NothingClaimable,
    /// Did not ask: no free slot.
    NoFreeSlot,
    /// Did not ask: the engine does not answer, or its images are not
    /// known yet.
    EngineNotOk,
    /// The database did not answer.
    Failed,
}

/// Runs a worker until `shutdown` fires, then drains: no new claims, running
/// sessions get `shutdown_grace` to finish, the rest are killed and recorded
/// as `error`. Returns when no container of this worker is left running.
pub async fn run(cfg: Arc<Config>, runtimes: Arc<Runtimes>, shutdown: CancellationToken) -> anyhow::Result<()> {
    run_reporting(cfg, runtimes, shutdown, watch::channel(Steps::default()).0).await
}

/// [`run`], reporting the loop's [`Steps`] on `steps`.
pub async fn run_reporting(
    cfg: Arc<Config>,
    runtimes: Arc<Runtimes>,
    shutdown: CancellationToken,
    steps: watch::Sender<Steps>,
) -> anyhow::Result<()> {
    let wc = &cfg.worker;
    let database = crate::db::Database::of(&cfg)?.named("execbox worker");
    let pool = database.pool(wc.max_concurrent_runs * 2 + 4)?;
    let scope = {
        let db = connect_with_retry(&pool, &shutdown).await?;
        let Some(db) = db else { return Ok(()) };
        crate::db::scope(&db).await?
    };
    let engine = Engine::connect(&cfg.docker_host, cfg.limits.clone())
        .context("cannot set up the Docker client")?
        .with_call_limit(Duration::from_millis(wc.docker_call_timeout_ms));
    let warm = warm_pool(&cfg, &runtimes, &engine, &scope).await?;
    let steps = Arc::new(steps);
    if let Some(pool) = &warm {
        tokio::spawn(report_making(pool.making(), steps.clone()));
    }
    let ctx = Ctx { pool, engine, runtimes, cfg: cfg.clone(), scope, warm, engine_suspect: Default::default() };
    let mut w = Worker {
        ctx,
        runs: HashMap::new(),
        tasks: JoinSet::new(),
        docker_ok: false,
        docker_seen: false,
        runnable: None,
        polling: false,
        steps,
        refilling: None,
    };
    tracing::info!(worker_id = %wc.id, max_concurrent_runs = wc.max_concurrent_runs, "worker starting");

    // An engine that cannot build the wall asked for: no start at all.
    w.check_docker().await?;
    w.check_images().await;
    w.announce().await;
    w.reap().await;
    w.refill();

    let (wake_tx, mut wake_rx) = mpsc::channel(1024);
    let listener_stop = CancellationToken::new();
    let listener = listener::spawn(database, wake_tx, listener_stop.clone());

    let mut poll = interval(wc.poll_interval());
    let mut quick = interval(wc.fallback_poll());
    let mut heartbeat = interval(wc.heartbeat_interval());
    let mut reap = interval(wc.reap_interval());
    for t in [&mut poll, &mut quick, &mut heartbeat, &mut reap] {
        t.set_missed_tick_behavior(MissedTickBehavior::Delay);
    }
    reap.reset();

    let fatal = loop {
        // Biased, in this order: events first (a shutdown, the heartbeat
        // that keeps the leases, a run that ended, a wake-up), periodic
        // work last. A maintenance branch that takes longer than its
        // interval (an engine that stalls each call) is always ready, and
        // chosen at random it would starve the rest.
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break None,
            _ = heartbeat.tick() => w.heartbeat().await,
            Some(done) = w.tasks.join_next() => {
                w.finished(done);
                w.claim().await;
                w.refill();
            }
            Some(wake) = wake_rx.recv() => match wake {
                Wake::Listening => {
                    w.polling = false;
                    w.ctx.pool.notifications_arrive(true);
                    w.claim().await
                }
                Wake::Session(_) => w.claim().await,
                Wake::Polling => {
                    w.polling = true;
                    w.ctx.pool.notifications_arrive(false);
                    w.claim().await
                }
                Wake::Cancel(id) => w.stop(id, StopReason::Cancelled),
                Wake::Input(id) => {
                    if let Some(run) = w.runs.get(&id) {
                        run.input.notify_one();
                    }
                }
            },
            _ = poll.tick() => {
                if let Err(e) = w.check_docker().await {
                    break Some(e);
                }
                w.rescue().await;
                w.claim().await;
                w.refill();
            }
            _ = quick.tick(), if w.polling => {
                w.claim().await;
                w.cancels().await;
            }
            _ = reap.tick() => {
                w.check_images().await;
                w.reap().await;
            }
        }
    };

    match &fatal {
        Some(e) => tracing::error!(error = %e, running = w.runs.len(), "stopping: no new claims"),
        None => tracing::info!(running = w.runs.len(), "shutting down: no new claims"),
    }
    listener_stop.cancel();
    if let Some(pool) = &w.ctx.warm {
        pool.drain().await;
    }
    let _ = listener.await;
    let grace_end = Instant::now() + wc.shutdown_grace();
    let mut killed = false;
    while !w.runs.is_empty() {
        tokio::select! {
            Some(done) = w.tasks.join_next() => w.finished(done),
            _ = heartbeat.tick() => w.heartbeat().await,
            _ = sleep_until(grace_end), if !killed => {
                tracing::warn!(running = w.runs.len(), "grace period over; killing the remaining runs");
                killed = true;
                let ids: Vec<Uuid> = w.runs.keys().copied().collect();
                for id in ids {
                    w.stop(id, StopReason::Shutdown);
                }
            }
        }
    }
    on_db(&w.ctx.pool, "cannot remove this worker's presence row; it ages out", |db| async move {
        workers::leave(&db, &wc.id).await
    })
    .await;
    tracing::info!("worker stopped");
    fatal.map_or(Ok(()), Err)
}

/// The warm pool the configuration asks for: its counts, or with none (and
/// `warm_auto`) a pool sized from this host for the languages that start
/// their interpreter ahead and whose image the engine has.
async fn warm_pool(
    cfg: &Config,
    runtimes: &Runtimes,
    engine: &Engine,
    scope: &str,
) -> anyhow::Result<Option<Arc<WarmPool>>> {
    let wc = &cfg.worker;
    let labels = || policy::pool_labels(scope, &wc.id);
    let budget = Budget { memory_mb: wc.warm_memory_mb, cpus: wc.warm_cpus };
    let sized_here = wc.warm_auto && wc.warm_pool.is_empty();
    let counts = if sized_here {
        let mut langs = Vec::new();
        for rt in runtimes.all().iter().filter(|rt| rt.prestart) {
            if engine.runtime_image_ready(&rt.image).await.unwrap_or(false) {
                let spec = exec::default_spec(rt, &cfg.limits, labels());
                langs.push((rt.language.clone(), (spec.memory_mb, spec.cpus)));
            }
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let counts = crate::sandbox::warm::auto_size(&langs, cores, free_memory_mb(), budget);
        tracing::info!(?counts, cores, "warm pool sized from this host (EXECBOX_WARM_POOL sets it)");
        counts
    } else {
        wc.warm_pool.clone()
    };
    let mut wanted = HashMap::new();
    for (name, count) in &counts {
        let rt = runtimes.resolve(name).with_context(|| format!("EXECBOX_WARM_POOL: unknown language {name:?}"))?;
        if *count == 0 {
            continue;
        }
        // An image from an older execbox runs no session here (its launcher
        // cannot run the program as a uid of its own): none kept warm.
        if let Ok(Some(image)) = engine.image(&rt.image).await {
            if !image.launcher_is_current() {
                tracing::warn!(
                    language = %rt.language,
                    image = %rt.image,
                    protocol = ?image.protocol,
                    "this image's launcher is older than execbox's: not kept warm, and its sessions are left to other workers (rebuild it with `execbox images build`)"
                );
                continue;
            }
        }
        wanted.insert(rt.language.clone(), (exec::default_spec(rt, &cfg.limits, labels()), *count));
    }
    let pool = WarmPool::new(engine.clone(), wanted, sized_here, wc.warm_ttl(), budget);
    Ok((!pool.is_empty()).then(|| Arc::new(pool)))
}

/// Copies the pool's count of containers being made into the steps, until
/// the pool is gone.
async fn report_making(mut making: watch::Receiver<usize>, steps: Arc<watch::Sender<Steps>>) {
    while making.changed().await.is_ok() {
        let n = *making.borrow_and_update();
        steps.send_modify(|s| s.warm_making = n);
    }
}

/// The host's available memory (MB), from /proc/meminfo where there is one.
fn free_memory_mb() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = info.lines().find(|l| l.starts_with("MemAvailable:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// Runs `query` on a pooled connection. Either failure (no connection, or
/// the query's) is logged once, as `failed`, and is `None`: every caller
/// treats an unknown answer as "nothing to do now".
async fn on_db<T, Q>(pool: &crate::db::Pool, failed: &str, query: impl FnOnce(crate::db::Conn) -> Q) -> Option<T>
where
    Q: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
{
    let result = match pool.get().await {
        Ok(db) => query(db).await.map_err(|e| crate::error_chain(&e)),
        Err(e) => Err(crate::error_chain(&e)),
    };
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(error = %e, "{failed}");
            None
        }
    }
}

/// Waits for the database, retrying with backoff; `None` on shutdown.
async fn connect_with_retry(
    pool: &crate::db::Pool,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<crate::db::Conn>> {
    let mut backoff = Duration::from_millis(200);
    loop {
        match pool.get().await {
            Ok(c) => return Ok(Some(c)),
            Err(e) => {
                tracing::warn!(error = %crate::error_chain(&e), retry_in = ?backoff, "database unreachable")
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

impl Worker {
    /// Tops the warm pool up in the background (never on the claim path),
    /// unless a refill of this worker's still runs.
    fn refill(&mut self) {
        let (Some(pool), true) = (&self.ctx.warm, self.docker_ok) else { return };
        if self.refilling.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let (pool, steps) = (pool.clone(), self.steps.clone());
        steps.send_modify(|s| s.fills_begun += 1);
        self.refilling = Some(tokio::spawn(async move {
            pool.fill().await;
            steps.send_modify(|s| s.fills_ended += 1);
        }));
    }

    fn free_slots(&self) -> usize {
        self.ctx.cfg.worker.max_concurrent_runs.saturating_sub(self.runs.len())
    }

    /// Claims as many sessions as there are free slots, and starts them.
    /// Without a working Docker engine nothing is claimed: the sessions stay
    /// pending for a worker that can run them.
    async fn claim(&mut self) {
        self.steps.send_modify(|s| s.claims_begun += 1);
        let pass = self.claim_pass().await;
        self.steps.send_modify(|s| {
            s.claims_ended += 1;
            s.last_claim = pass;
        });
    }

    async fn claim_pass(&mut self) -> ClaimPass {
        if self.ctx.engine_suspect.swap(false, std::sync::atomic::Ordering::Relaxed) {
            // A wall the engine cannot build stops the worker at its next
            // poll tick; nothing is claimed meanwhile (the engine is not ok).
            if let Err(e) = self.check_docker().await {
                tracing::error!(error = %e, "not claiming");
                return ClaimPass::EngineNotOk;
            }
        }
        let free = self.free_slots();
        if free == 0 {
            return ClaimPass::NoFreeSlot;
        }
        let Some(runnable) = self.runnable.as_ref().filter(|_| self.docker_ok) else { return ClaimPass::EngineNotOk };
        let (wc, refused) = (&self.ctx.cfg.worker, runnable.refused.as_slice());
        let claimed = on_db(&self.ctx.pool, "claim failed", |db| async move {
            queue::claim(&db, &wc.id, free, wc.lease(), refused).await
        });
        let Some(claimed) = claimed.await else { return ClaimPass::Failed };
        let pass = match claimed.len() {
            0 => ClaimPass::NothingClaimable,
            n => ClaimPass::Claimed(n),
        };
        for s in claimed {
            let (stop_tx, stop_rx) = watch::channel(None);
            let (id, attempt) = (s.id, s.attempt);
            let input = Arc::new(Notify::new());
            self.runs.insert(id, Run { attempt, stop: stop_tx, input: input.clone() });
            let span = tracing::info_span!("session", session_id = %id, attempt);
            let ctx = self.ctx.clone();
            self.tasks.spawn(
                async move {
                    tracing::info!("claimed");
                    exec::execute(ctx, s, stop_rx, input).await;
                    id
                }
                .instrument(span),
            );
        }
        pass
    }

    fn finished(&mut self, done: Result<Uuid, tokio::task::JoinError>) {
        match done {
            Ok(id) => {
                self.runs.remove(&id);
            }
            Err(e) => {
                // A panicking run leaves its session to the lease rescue.
                tracing::error!(error = %e, "a session task failed");
                let finished: Vec<Uuid> =
                    self.runs.iter().filter(|(_, r)| r.stop.is_closed()).map(|(id, _)| *id).collect();
                for id in finished {
                    self.runs.remove(&id);
                }
            }
        }
    }

    fn stop(&self, id: Uuid, reason: StopReason) {
        if let Some(run) = self.runs.get(&id) {
            tracing::info!(session_id = %id, ?reason, "stopping run");
            // A closed channel: the run just ended by itself.
            if run.stop.send(Some(reason)).is_err() {
                tracing::debug!(session_id = %id, "the run ended before it was stopped");
            }
        }
    }

    /// Renews this worker's presence and its runs' leases; stops runs
    /// that are no longer ours or whose owner asked to cancel.
    async fn heartbeat(&mut self) {
        self.announce().await;
        let runs: Vec<(Uuid, i32)> = self.runs.iter().map(|(id, r)| (*id, r.attempt)).collect();
        if runs.is_empty() {
            return;
        }
        // A failure is not fatal yet: the lease is several heartbeats long.
        let (lease, runs_ref) = (self.ctx.cfg.worker.lease(), &runs);
        let renewed =
            on_db(&self.ctx.pool, "heartbeat failed", |db| async move { queue::heartbeat(&db, runs_ref, lease).await });
        let Some(renewed) = renewed.await else { return };
        for (id, _) in runs {
            match renewed.iter().find(|r| r.id == id) {
                None => self.stop(id, StopReason::LeaseLost),
                Some(r) if r.cancel_requested => self.stop(id, StopReason::Cancelled),
                Some(_) => {}
            }
        }
    }

    /// Stops the runs whose owner asked to cancel (what `execbox_cancel`
    /// says when notifications arrive).
    async fn cancels(&self) {
        let ids: Vec<Uuid> = self.runs.iter().filter(|(_, r)| r.stop.borrow().is_none()).map(|(id, _)| *id).collect();
        if ids.is_empty() {
            return;
        }
        let ids = &ids;
        let failed = "cannot check for cancel requests";
        let Some(cancelled) =
            on_db(&self.ctx.pool, failed, |db| async move { queue::cancel_requested(&db, ids).await }).await
        else {
            return;
        };
        for id in cancelled {
            self.stop(id, StopReason::Cancelled);
        }
    }

    async fn announce(&self) {
        let wc = &self.ctx.cfg.worker;
        let host = hostname::get().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
        let presence = Presence {
            id: &wc.id,
            hostname: &host,
            docker_ok: self.docker_ok,
            running: self.runs.len(),
            max_runs: wc.max_concurrent_runs,
            runtimes: self.runnable.as_ref().map(|r| r.languages.as_slice()),
        };
        let presence = &presence;
        on_db(&self.ctx.pool, "cannot record presence", |db| async move { workers::beat(&db, presence).await }).await;
    }

    /// Pings the engine; logs only when reachability changes.
    /// Whether the engine answers; once it does (at start, or back after
    /// an outage), whether it can build every wall this worker's sessions
    /// get: an error when it cannot (the worker stops, rather than run a
    /// session behind a weaker wall).
    async fn check_docker(&mut self) -> anyhow::Result<()> {
        let ok = self.ctx.engine.ping().await;
        if ok.is_ok() && !self.docker_ok {
            let walls = crate::sandbox::walls::needed(&self.ctx.runtimes, &self.ctx.cfg.limits);
            match self.ctx.engine.oci_runtimes().await {
                Ok(oci) => {
                    if let Some(why) = crate::sandbox::walls::missing(&walls, &oci, &self.ctx.cfg.limits) {
                        anyhow::bail!(why);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %crate::error_chain(&e), "cannot tell the engine's OCI runtimes yet");
                    return Ok(());
                }
            }
        }
        match (&ok, self.docker_ok) {
            (Ok(()), false) => tracing::info!("Docker engine reachable; claiming sessions"),
            (Err(e), true) => {
                tracing::error!(error = %crate::error_chain(e), "Docker engine unreachable; not claiming sessions")
            }
            (Err(e), false) if !self.docker_seen => {
                tracing::error!(error = %crate::error_chain(e), "Docker engine unreachable; not claiming sessions")
            }
            _ => {}
        }
        self.docker_seen = true;
        let was_ok = std::mem::replace(&mut self.docker_ok, ok.is_ok());
        if self.docker_ok && !was_ok {
            self.check_images().await;
        }
        Ok(())
    }

    /// Which runtimes the engine has images for: this worker claims only
    /// those (checked at start, when the engine comes back, and at every
    /// reap interval, so an image built meanwhile is picked up). What cannot
    /// be checked keeps the last answer.
    async fn check_images(&mut self) {
        if !self.docker_ok {
            return;
        }
        let mut present = std::collections::HashSet::new();
        let images: std::collections::BTreeSet<&str> =
            self.ctx.runtimes.all().iter().map(|rt| rt.image.as_str()).collect();
        for image in images {
            // An older execbox's image is as good as missing.
            match self.ctx.engine.runtime_image_ready(image).await {
                Ok(true) => {
                    present.insert(image.to_string());
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::debug!(image, error = %crate::error_chain(&e), "cannot check an image; keeping the last answer");
                    self.suspect_if_down(&e);
                    return;
                }
            }
        }
        let runnable = self.ctx.runtimes.runnable(|image| present.contains(image));
        if self.runnable.as_ref() != Some(&runnable) {
            let missing: Vec<&str> = self
                .ctx
                .runtimes
                .all()
                .iter()
                .filter(|rt| !runnable.languages.contains(&rt.language))
                .map(|rt| rt.language.as_str())
                .collect();
            if missing.is_empty() {
                tracing::info!(runtimes = runnable.languages.len(), "every runtime's image is here");
            } else {
                tracing::warn!(
                    ?missing,
                    "these runtimes' images are missing here, or an older execbox built them (`execbox images build`); their sessions are left to other workers"
                );
            }
            self.runnable = Some(runnable);
        }
    }

    /// An engine that did not answer a maintenance call is pinged at the
    /// next claim pass (and, still down, asked nothing more until a poll
    /// finds it back): a stalled daemon must not hold the loop call after
    /// call.
    fn suspect_if_down(&self, e: &crate::sandbox::SandboxError) {
        if e.engine_down() {
            self.ctx.engine_suspect.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    async fn rescue(&self) {
        let rescued =
            on_db(&self.ctx.pool, "rescue failed", |db| async move { queue::rescue_expired(&db).await }).await;
        if let Some(ids) = rescued.filter(|ids| !ids.is_empty()) {
            tracing::warn!(?ids, "ended sessions whose worker stopped responding");
        }
        let wc = &self.ctx.cfg.worker;
        if let (Some(r), Some(after)) = (&self.runnable, wc.unrunnable_after()) {
            let failed = "cannot end the sessions no worker can run";
            let (lease, r) = (wc.lease(), r);
            let ended = on_db(&self.ctx.pool, failed, |db| async move {
                queue::end_unrunnable(&db, &r.refused, &r.refused_runtime, lease, after).await
            });
            if let Some(ids) = ended.await.filter(|ids| !ids.is_empty()) {
                tracing::warn!(?ids, "ended sessions no live worker can run (their runtime's image is built on none)");
            }
        }
        on_db(&self.ctx.pool, "cannot prune old presence rows", |db| async move { workers::prune(&db).await }).await;
    }

    /// Removes containers of this database whose session attempt is no longer
    /// live (its worker died, or it finished and removal failed), and warm
    /// containers nobody owns. What cannot be known (a failed query) is kept.
    async fn reap(&self) {
        // Not while the engine is suspect (`check_images` just found it
        // not answering): another call would only stall as long again.
        if !self.docker_ok || self.ctx.engine_suspect.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let containers = match self.ctx.engine.list_managed(&self.ctx.scope).await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %crate::error_chain(&e), "reap skipped: cannot list containers");
                self.suspect_if_down(&e);
                return;
            }
        };
        let me = self.ctx.cfg.worker.id.as_str();
        let seen: Vec<(String, policy::Owner)> =
            containers.into_iter().map(|(id, labels)| (id, policy::owner(&labels))).collect();
        let others_pooled = seen.iter().any(|(_, o)| matches!(o, policy::Owner::Pool { worker: Some(w) } if w != me));
        // Other workers' liveness is asked only when it matters; unknown
        // (the query failed) keeps their containers.
        let alive = if others_pooled {
            let lease = self.ctx.cfg.worker.lease();
            let failed = "cannot tell which workers are alive; keeping their containers";
            on_db(&self.ctx.pool, failed, |db| async move { workers::alive_ids(&db, lease).await }).await
        } else {
            Some(Vec::new())
        };
        let (mut garbage, ask) = {
            let runs = self.runs.iter().map(|(id, r)| (*id, r.attempt)).collect();
            let owns = |cid: &str| self.ctx.warm.as_ref().is_some_and(|p| p.owns(cid));
            let mine = reap::Mine { worker_id: me, runs: &runs, pool_owns: &owns };
            reap::classify(&seen, &mine, alive.as_deref())
        };
        if !ask.is_empty() {
            let runs: Vec<(Uuid, i32)> = ask.iter().map(|(_, run)| *run).collect();
            let (failed, runs) = ("cannot tell which sessions are live; keeping their containers", &runs);
            if let Some(live) = on_db(&self.ctx.pool, failed, |db| async move { queue::live(&db, runs).await }).await {
                garbage.extend(reap::dead(ask, &live));
            }
        }
        for cid in garbage {
            match self.ctx.engine.remove(&cid).await {
                Ok(()) => {
                    tracing::info!(container = %cid, "reaped a container whose session is no longer live");
                    let failed = "cannot record a reaped container's removal (dashboard only)";
                    let cid = cid.as_str();
                    on_db(&self.ctx.pool, failed, |db| async move { containers::removed(&db, cid).await }).await;
                }
                Err(e) => {
                    tracing::warn!(container = %cid, error = %crate::error_chain(&e), "cannot reap container")
                }
            }
        }
    }
}
