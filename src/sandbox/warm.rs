//! The warm pool: per language, a few containers created, attached and
//! started ahead of time, their launcher waiting for files on stdin, so a
//! session skips the engine's create/start latency.
//!
//! Every warm container is built by the same policy as a cold one (a test
//! compares real containers), serves exactly one session — never reused
//! across sessions or users — and is then removed like any other. Idle ones
//! are recycled after a TTL; dead ones (a Docker restart kills them all)
//! are noticed through their attach stream, with no engine call, at each
//! refill and before use; the pool is drained at shutdown; when the pool is empty the cold path is used.
//!
//! A container given out is replaced at once (not when its session ends).
//! A pool sized from the host (no setting) also follows demand: per
//! language it keeps enough to cover the sessions that arrive while one
//! container is made ([`keep`]), from the measured time to make one on this
//! engine (gVisor's start is about twice runc's) and the measured gap
//! between sessions.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::launcher::{self, Launch};
use super::policy::ContainerSpec;
use super::{Engine, Running};

struct Warm {
    running: Running,
    since: Instant,
}

/// The containers the pool owns: idle ones per language, and those given
/// out (or being made) and not yet removed. One lock over both, so a
/// container taken is never in neither.
#[derive(Default)]
struct Held {
    idle: HashMap<String, VecDeque<Warm>>,
    in_use: HashSet<String>,
}

/// The lock, also after a panic elsewhere while it was held.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A container the pool gave out (or is making): the pool owns it, and the
/// reaper leaves it alone, until this is dropped, after its removal.
#[must_use = "the pool owns the container until this is dropped"]
pub(crate) struct InUse {
    held: Arc<Mutex<Held>>,
    id: String,
}

impl InUse {
    /// Marks `id` in use in `held` (locked as `inner`).
    fn mark(held: &Arc<Mutex<Held>>, inner: &mut Held, id: String) -> InUse {
        inner.in_use.insert(id.clone());
        InUse { held: held.clone(), id }
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        lock(&self.held).in_use.remove(&self.id);
    }
}

/// One language's measured pace: how long a container takes to make, and
/// how far apart its sessions come (moving averages).
#[derive(Debug, Clone, Copy, Default)]
struct Pace {
    make: Option<Duration>,
    gap: Option<Duration>,
    last: Option<Instant>,
}

/// A moving average that weighs the newest sample by a quarter.
fn average(old: Option<Duration>, sample: Duration) -> Duration {
    match old {
        Some(old) => old.mul_f64(0.75) + sample.mul_f64(0.25),
        None => sample,
    }
}

/// Idle containers a language that follows demand keeps: at least `base`,
/// and enough to serve every session that arrives while the one taken is
/// replaced (sessions `gap` apart, one made in `make`: make / gap of them,
/// with [`HEADROOM`], rounded up), at most `cap`.
/// `quiet`: how long since the last session; a quiet spell longer than the
/// gap slows the pace seen, so an idle language goes back to `base`.
pub(crate) fn keep(base: usize, make: Option<Duration>, gap: Option<Duration>, quiet: Duration, cap: usize) -> usize {
    let (Some(make), Some(gap)) = (make, gap) else { return base };
    let gap = gap.max(quiet);
    if gap.is_zero() {
        return base.max(cap);
    }
    let needed = (HEADROOM * make.as_secs_f64() / gap.as_secs_f64()).ceil() as usize;
    base.max(needed.min(cap))
}

/// How much longer than its average a container may take to make: measured
/// on one engine, a gVisor container took from 250 to 540 ms, a runc one
/// from 150 to 300 ms.
const HEADROOM: f64 = 1.5;
/// The most one language keeps when it follows demand.
const MAX_FOLLOWING: usize = 4;
/// The most containers a fill makes at once.
const PARALLEL_MAKES: usize = 2;

/// What idle warm containers may hold together: the sum of their memory
/// limits and of their CPU limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Budget {
    pub memory_mb: u64,
    pub cpus: f64,
}

impl Budget {
    /// Whether memory (MB) and CPUs held together stay within the budget.
    fn covers(&self, (memory_mb, cpus): (u64, f64)) -> bool {
        memory_mb <= self.memory_mb && cpus <= self.cpus + 1e-9
    }

    fn fits(&self, held: (u64, f64), spec: &ContainerSpec) -> bool {
        let (m, c) = demand(spec, 1);
        self.covers((held.0 + m, held.1 + c))
    }
}

/// Memory (MB) and CPUs that `n` containers of `spec` hold.
fn demand(spec: &ContainerSpec, n: usize) -> (u64, f64) {
    (spec.memory_mb * n as u64, spec.cpus * n as f64)
}

fn add(a: (u64, f64), b: (u64, f64)) -> (u64, f64) {
    (a.0 + b.0, a.1 + b.1)
}

/// How a warm container is made ready for a session it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fit {
    /// The session's memory limit, when lower than the container's:
    /// applied before the code arrives.
    pub lower_memory_to: Option<u64>,
    /// The session's launcher command line is not the container's (its
    /// arguments, test cases, a package.json that forbids prestarting): it
    /// is sent as the first frame, and the unused prestarted interpreter goes.
    pub relaunch: bool,
}

/// Whether, and how, a warm container made from `warm` serves a session
/// that would get `cold`: the same container but for its labels, its
/// launcher's command line and a memory limit the session's own is at or
/// below (exactly its own under gVisor, whose sandboxes keep the limits
/// they started with).
pub(crate) fn fit(warm: &ContainerSpec, cold: &ContainerSpec) -> Option<Fit> {
    let same =
        ContainerSpec { labels: warm.labels.clone(), memory_mb: warm.memory_mb, cmd: warm.cmd.clone(), ..cold.clone() }
            == *warm;
    let lowerable = warm.isolation == crate::model::Isolation::Runc;
    let memory = cold.memory_mb == warm.memory_mb || (lowerable && cold.memory_mb < warm.memory_mb);
    (same && memory).then(|| Fit {
        lower_memory_to: (cold.memory_mb < warm.memory_mb).then_some(cold.memory_mb),
        relaunch: cold.cmd != warm.cmd,
    })
}

/// The pool a worker keeps with no setting: for each language that starts
/// its interpreter ahead (`langs`, in order, with one container's memory
/// (MB) and CPUs), one container per two cores (at least one, at most four),
/// as far as the budget covers, and the memory within a quarter of what the
/// host has free (when known).
pub(crate) fn auto_size(
    langs: &[(String, (u64, f64))],
    cores: usize,
    free_mb: Option<u64>,
    budget: Budget,
) -> std::collections::BTreeMap<String, usize> {
    let budget = Budget { memory_mb: free_mb.map_or(budget.memory_mb, |f| budget.memory_mb.min(f / 4)), ..budget };
    let per = (cores / 2).clamp(1, 4);
    let mut counts = std::collections::BTreeMap::new();
    let mut held = (0, 0.0);
    for round in 0..per {
        for (lang, each) in langs {
            if round > 0 && !counts.contains_key(lang) {
                continue;
            }
            if budget.covers(add(held, *each)) {
                held = add(held, *each);
                *counts.entry(lang.clone()).or_insert(0) += 1;
            }
        }
    }
    counts
}

pub(crate) struct WarmPool {
    engine: Engine,
    /// Per language: the container spec and how many to keep ready.
    wanted: HashMap<String, (ContainerSpec, usize)>,
    /// Sized from the host: each language also follows its demand.
    follow: bool,
    pace: Mutex<HashMap<String, Pace>>,
    ttl: Duration,
    budget: Budget,
    held: Arc<Mutex<Held>>,
    filling: tokio::sync::Mutex<()>,
    /// Set by `drain`: no container is made any more.
    closed: std::sync::atomic::AtomicBool,
    /// Containers being made now (created, not yet listed idle or given up).
    making: tokio::sync::watch::Sender<usize>,
}

impl WarmPool {
    /// `wanted`: language → (spec, count). Specs carry `LABEL_POOL` and no
    /// session label. `follow`: the counts were sized from the host, and
    /// each language also follows its demand (see [`keep`]).
    pub(crate) fn new(
        engine: Engine,
        wanted: HashMap<String, (ContainerSpec, usize)>,
        follow: bool,
        ttl: Duration,
        budget: Budget,
    ) -> WarmPool {
        let (memory, cpus) = wanted.values().fold((0, 0.0), |sum, (spec, n)| add(sum, demand(spec, *n)));
        if !budget.covers((memory, cpus)) {
            tracing::warn!(
                memory_mb = memory,
                cpus,
                budget_memory_mb = budget.memory_mb,
                budget_cpus = budget.cpus,
                "the warm pool asks for more than its budget (EXECBOX_WARM_POOL_MEMORY_MB, EXECBOX_WARM_POOL_CPUS); it keeps what fits"
            );
        }
        WarmPool {
            engine,
            wanted,
            follow,
            pace: Mutex::new(HashMap::new()),
            ttl,
            budget,
            held: Arc::default(),
            filling: tokio::sync::Mutex::new(()),
            closed: std::sync::atomic::AtomicBool::new(false),
            making: tokio::sync::watch::channel(0).0,
        }
    }

    /// How many containers are being made, as it changes: at 0, every
    /// container this pool started is listed (idle or taken) or gone.
    pub(crate) fn making(&self) -> tokio::sync::watch::Receiver<usize> {
        self.making.subscribe()
    }

    /// Whether no language is pooled.
    pub(crate) fn is_empty(&self) -> bool {
        self.wanted.is_empty()
    }

    /// The spec warm containers of `language` are made from, if pooled.
    pub(crate) fn spec(&self, language: &str) -> Option<&ContainerSpec> {
        self.wanted.get(language).map(|(s, _)| s)
    }

    /// A ready container for `language`, or None (use the cold path). The
    /// pool owns it until the [`InUse`] is dropped, after its removal.
    pub(crate) async fn take(&self, language: &str) -> Option<(Running, InUse)> {
        loop {
            let (mut warm, in_use) = {
                let mut held = lock(&self.held);
                let warm = held.idle.get_mut(language)?.pop_front()?;
                let in_use = InUse::mark(&self.held, &mut held, warm.running.id.clone());
                (warm, in_use)
            };
            if warm.running.is_waiting() {
                return Some((warm.running, in_use));
            }
            tracing::info!(container = %warm.running.id, "a warm container died while idle; removing it");
            let _ = self.engine.remove(&warm.running.id).await;
        }
    }

    /// A container for a session that would get `spec` and whose launcher
    /// runs `launch`, made ready for it as [`fit`] says; None: the cold path
    /// (nothing fits or is idle, or making one ready failed, and that one is
    /// removed). The pool owns the container until the [`InUse`] is
    /// dropped, after its removal.
    pub(crate) async fn serve(
        self: &Arc<Self>,
        spec: &ContainerSpec,
        language: &str,
        launch: &Launch,
    ) -> Option<(Running, InUse)> {
        let warm = self.spec(language)?;
        self.demanded(language);
        let fit = fit(warm, spec)?;
        let (mut r, in_use) = self.take(language).await?;
        // Replaced at once: the next session may come before this one ends.
        let pool = self.clone();
        tokio::spawn(async move { pool.fill().await });
        let ready = async {
            if let Some(mb) = fit.lower_memory_to {
                self.engine.lower_memory(&r.id, mb).await.map_err(|e| crate::error_chain(&e))?;
            }
            if fit.relaunch {
                let frame = launcher::relaunch(&Launch { prestart: None, ..launch.clone() });
                r.send(&frame).await.map_err(|e| format!("cannot write to its launcher: {e}"))?;
            }
            Ok::<_, String>(())
        };
        match ready.await {
            Ok(()) => Some((r, in_use)),
            Err(e) => {
                tracing::warn!(container = %r.id, error = %e, "cannot make a warm container ready; using a cold one");
                drop(r);
                let engine = self.engine.clone();
                tokio::spawn(async move {
                    if let Err(e) = engine.remove(&in_use.id).await {
                        tracing::warn!(container = %in_use.id, error = %crate::error_chain(&e), "cannot remove a warm container; the reaper will");
                    }
                    drop(in_use);
                });
                None
            }
        }
    }

    /// Whether the pool owns this container (idle or in use): the reaper
    /// leaves those alone.
    pub(crate) fn owns(&self, id: &str) -> bool {
        let held = lock(&self.held);
        held.idle.values().flatten().any(|w| w.running.id == id) || held.in_use.contains(id)
    }

    pub(crate) fn idle_count(&self, language: &str) -> usize {
        lock(&self.held).idle.get(language).map(VecDeque::len).unwrap_or(0)
    }

    /// Recycles expired or dead idle containers and tops every language up.
    /// Concurrent calls do nothing (one fill at a time).
    pub(crate) async fn fill(&self) {
        let Ok(_guard) = self.filling.try_lock() else { return };
        if self.is_closed() {
            return;
        }
        // Expired idle containers are recycled, and dead ones (a Docker
        // restart kills them all) dropped so the pool rebuilds itself; both
        // are seen without an engine call.
        let stale: Vec<String> = {
            let mut held = lock(&self.held);
            let mut out = Vec::new();
            for q in held.idle.values_mut() {
                q.retain_mut(|w| {
                    let keep = w.since.elapsed() <= self.ttl && w.running.is_waiting();
                    if !keep {
                        out.push(w.running.id.clone());
                    }
                    keep
                });
            }
            out
        };
        for id in stale {
            let _ = self.engine.remove(&id).await;
        }
        // Up to PARALLEL_MAKES at once (a pool that follows demand may need
        // more than one made while a session runs), one container per
        // language and round, so that a tight budget is shared rather than
        // taken by the first language.
        let mut languages: Vec<&String> = self.wanted.keys().collect();
        languages.sort();
        let mut failed = HashSet::new();
        loop {
            let mut batch: Vec<(&String, &ContainerSpec)> = Vec::new();
            let mut held = self.held();
            let missing: HashMap<&String, usize> = languages
                .iter()
                .map(|l| (*l, self.target(l, self.wanted[*l].1).saturating_sub(self.idle_count(l))))
                .collect();
            for round in 0..PARALLEL_MAKES {
                for &language in &languages {
                    let spec = &self.wanted[language].0;
                    if batch.len() == PARALLEL_MAKES || failed.contains(language) || missing[language] <= round {
                        continue;
                    }
                    if self.budget.fits(held, spec) {
                        held = add(held, demand(spec, 1));
                        batch.push((language, spec));
                    }
                }
            }
            if self.is_closed() || batch.is_empty() {
                return;
            }
            let made = futures::future::join_all(batch.iter().map(|(l, spec)| self.warm_one(l, spec))).await;
            for ((language, _), ok) in batch.iter().zip(made) {
                if !ok {
                    failed.insert(*language);
                }
            }
        }
    }

    /// A session of `language` came (whether a warm container serves it or not).
    fn demanded(&self, language: &str) {
        let mut pace = lock(&self.pace);
        let p = pace.entry(language.to_string()).or_default();
        let now = Instant::now();
        if let Some(last) = p.last {
            p.gap = Some(average(p.gap, now - last));
        }
        p.last = Some(now);
    }

    /// Idle containers to keep of `language`, whose setting says `base`.
    fn target(&self, language: &str, base: usize) -> usize {
        if !self.follow {
            return base;
        }
        let pace = lock(&self.pace);
        let Some(p) = pace.get(language) else { return base };
        let quiet = p.last.map_or(Duration::MAX, |l| l.elapsed());
        keep(base, p.make, p.gap, quiet, MAX_FOLLOWING.max(base))
    }

    /// Memory (MB) and CPUs the idle containers hold.
    fn held(&self) -> (u64, f64) {
        lock(&self.held).idle.iter().fold((0, 0.0), |sum, (language, q)| match self.wanted.get(language) {
            Some((spec, _)) => add(sum, demand(spec, q.len())),
            None => sum,
        })
    }

    /// Creates and starts one warm container; false when the engine refused.
    async fn warm_one(&self, language: &str, spec: &ContainerSpec) -> bool {
        self.making.send_modify(|n| *n += 1);
        let made = self.make_one(language, spec).await;
        self.making.send_modify(|n| *n -= 1);
        made
    }

    /// One container made and listed idle; whether it was.
    async fn make_one(&self, language: &str, spec: &ContainerSpec) -> bool {
        let t0 = Instant::now();
        let created = match self.engine.create(spec).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(language, error = %crate::error_chain(&e), "cannot warm a container");
                return false;
            }
        };
        // Owned from its creation on, so the reaper leaves it alone
        // while it starts.
        let in_use = InUse::mark(&self.held, &mut lock(&self.held), created.id.clone());
        let started = self.engine.start(&created).await;
        match started {
            Ok(running) => {
                let mut pace = lock(&self.pace);
                let p = pace.entry(language.to_string()).or_default();
                p.make = Some(average(p.make, t0.elapsed()));
                drop(pace);
                // Listed as idle before it stops being in use: never unowned.
                let warm = Warm { running, since: Instant::now() };
                lock(&self.held).idle.entry(language.to_string()).or_default().push_back(warm);
                drop(in_use);
                true
            }
            Err(e) => {
                let _ = self.engine.remove(&created.id).await;
                drop(in_use);
                tracing::warn!(language, error = %crate::error_chain(&e), "cannot warm a container");
                false
            }
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stops making containers, waits for a fill in progress, and removes
    /// every idle container (shutdown).
    pub(crate) async fn drain(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        let _guard = self.filling.lock().await;
        let all: Vec<String> =
            lock(&self.held).idle.drain().flat_map(|(_, q)| q.into_iter().map(|w| w.running.id)).collect();
        for id in all {
            let _ = self.engine.remove(&id).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_bounds_memory_and_cpus_together() {
        let spec = ContainerSpec::sample();
        let budget = Budget { memory_mb: 1024, cpus: 1.0 };
        assert!(budget.fits((0, 0.0), &spec));
        assert!(budget.fits((512, 0.5), &spec), "exactly full fits");
        assert!(!budget.fits((1024, 0.0), &spec), "memory");
        assert!(!budget.fits((0, 0.75), &spec), "cpus");
    }

    #[test]
    fn a_warm_container_serves_the_same_container_at_or_below_its_memory_whatever_its_command() {
        let warm = ContainerSpec { labels: [("pool".to_string(), "w".to_string())].into(), ..ContainerSpec::sample() };
        let cold = ContainerSpec::sample();
        let half = cold.memory_mb / 2;
        let ready = |lower_memory_to, relaunch| Some(Fit { lower_memory_to, relaunch });
        let table: &[(&str, ContainerSpec, Option<Fit>)] = &[
            ("the same container", cold.clone(), ready(None, false)),
            ("less memory", ContainerSpec { memory_mb: half, ..cold.clone() }, ready(Some(half), false)),
            ("another command", ContainerSpec { cmd: vec!["other".into()], ..cold.clone() }, ready(None, true)),
            (
                "another command, less memory",
                ContainerSpec { cmd: vec!["other".into()], memory_mb: half, ..cold.clone() },
                ready(Some(half), true),
            ),
            ("more memory", ContainerSpec { memory_mb: cold.memory_mb + 1, ..cold.clone() }, None),
            ("other cpus", ContainerSpec { cpus: cold.cpus * 2.0, ..cold.clone() }, None),
            ("another image", ContainerSpec { image: "other".into(), ..cold.clone() }, None),
            ("executables in /work", ContainerSpec { exec_work: !cold.exec_work, ..cold.clone() }, None),
            ("another /work size", ContainerSpec { work_mb: cold.work_mb + 1, ..cold.clone() }, None),
            ("other environment", ContainerSpec { env: vec![("A".into(), "b".into())], ..cold.clone() }, None),
            ("another wall", ContainerSpec { isolation: crate::model::Isolation::Gvisor, ..cold.clone() }, None),
        ];
        for (what, c, want) in table {
            assert_eq!(fit(&warm, c), *want, "{what}");
        }
        // gVisor's sandboxes keep their limits: only the same memory fits.
        let gvisor = |s: &ContainerSpec| ContainerSpec { isolation: crate::model::Isolation::Gvisor, ..s.clone() };
        assert_eq!(fit(&gvisor(&warm), &gvisor(&cold)), ready(None, false));
        assert_eq!(fit(&gvisor(&warm), &ContainerSpec { memory_mb: half, ..gvisor(&cold) }), None);
    }

    #[test]
    fn a_pool_that_follows_demand_covers_the_sessions_that_come_while_one_is_made() {
        let ms = Duration::from_millis;
        // (base, make, gap, quiet, cap, expected)
        type Row = (usize, Option<u64>, Option<u64>, u64, usize, usize);
        let table: &[Row] = &[
            // Nothing measured yet: the setting.
            (1, None, None, 0, 4, 1),
            (1, Some(300), None, 0, 4, 1),
            // Made in 200 ms, sessions 350 ms apart: replaced in time.
            (1, Some(200), Some(350), 100, 4, 1),
            // Made in 300 ms: in time on average, not with its headroom.
            (1, Some(300), Some(350), 100, 4, 2),
            // gVisor: made in 600 ms: two come meanwhile, three with headroom.
            (1, Some(600), Some(350), 100, 4, 3),
            (1, Some(1_000), Some(350), 100, 4, 4),
            // Sessions far apart: the setting.
            (1, Some(600), Some(5_000), 100, 4, 1),
            (1, Some(600), Some(800), 100, 4, 2),
            (2, Some(300), Some(5_000), 100, 4, 2),
            // A burst: at most the cap.
            (1, Some(600), Some(10), 0, 4, 4),
            (1, Some(600), Some(0), 0, 4, 4),
            // Quiet for long since the last session: back to the setting.
            (1, Some(600), Some(350), 60_000, 4, 1),
            (3, Some(600), Some(350), 60_000, 4, 3),
        ];
        for &(base, make, gap, quiet, cap, want) in table {
            assert_eq!(
                keep(base, make.map(ms), gap.map(ms), ms(quiet), cap),
                want,
                "base {base}, make {make:?} ms, gap {gap:?} ms, quiet {quiet} ms"
            );
        }
    }

    #[test]
    fn the_pool_with_no_setting_grows_with_the_host_within_the_budget() {
        let langs = |n: &[&str]| n.iter().map(|l| (l.to_string(), (256, 1.0))).collect::<Vec<_>>();
        let two = langs(&["python", "node"]);
        let big = Budget { memory_mb: 2048, cpus: 4.0 };
        let counts = |v: &[(&str, usize)]| v.iter().map(|(l, n)| (l.to_string(), *n)).collect();
        type Row = (usize, Option<u64>, Budget, std::collections::BTreeMap<String, usize>);
        // (cores, free MB, budget, expected)
        let table: Vec<Row> = vec![
            // One per language on a small host.
            (1, None, big, counts(&[("python", 1), ("node", 1)])),
            (2, Some(24_000), big, counts(&[("python", 1), ("node", 1)])),
            // More with cores, the CPU budget capping it (4 CPUs: 2 each).
            (8, Some(24_000), big, counts(&[("python", 2), ("node", 2)])),
            (16, Some(64_000), Budget { memory_mb: 8192, cpus: 16.0 }, counts(&[("python", 4), ("node", 4)])),
            // Little free memory: a quarter of it (512 MB) holds two.
            (8, Some(2048), big, counts(&[("python", 1), ("node", 1)])),
            // A budget too small for both: the first only; for none: none.
            (2, None, Budget { memory_mb: 300, cpus: 4.0 }, counts(&[("python", 1)])),
            (2, None, Budget { memory_mb: 0, cpus: 0.0 }, counts(&[])),
        ];
        for (cores, free, budget, want) in table {
            assert_eq!(auto_size(&two, cores, free, budget), want, "{cores} cores, {free:?} MB free, {budget:?}");
        }
    }
}
