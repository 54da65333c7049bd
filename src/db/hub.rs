//! One node's view of sessions in progress: a single dedicated connection
//! LISTENs on `execbox_started` (NOTIFY at the claim and when the container
//! is recorded), `execbox_logs` (per log batch) and `execbox_done` (at the
//! end); payload the session id and wakes whoever follows that session,
//! however many requests and sockets wait on it; reads go through a bounded
//! pool and hold a connection only while they run.
//!
//! Subscriptions are per session: the first follower of a session creates
//! its channel, the last one to leave removes it. A notification for a
//! session nobody here follows costs one map lookup. NOTIFY is lost while
//! the connection is down, so after every (re)connect every channel is
//! woken and its followers read again. Whether notifications arrive at all
//! is checked after each LISTEN ([`wakeups::verify`]); where they do not (a
//! transaction pooler), followers poll and the hub checks again every
//! [`wakeups::RECHECK`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Pool;
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, DropGuard};
use uuid::Uuid;

use super::wakeups::{self, Listening, Wakeups};
use super::Database;

const STARTED_CHANNEL: &str = "execbox_started";
const LOGS_CHANNEL: &str = "execbox_logs";
const DONE_CHANNEL: &str = "execbox_done";

/// How often the idle connection is checked, so a silently dead link is
/// noticed and replaced.
const PING_INTERVAL: Duration = Duration::from_secs(15);

/// Per session: a counter bumped by each notification. A follower's
/// receiver sees every bump since its last read, so a notification between
/// a read and the next wait is never lost.
type Channels = Mutex<HashMap<Uuid, watch::Sender<u64>>>;

/// Cheap to clone; the listener stops when the last clone is dropped.
#[derive(Clone)]
pub(crate) struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    channels: Arc<Channels>,
    /// Listen while LISTEN is established and verified (a follower then
    /// needs no short poll).
    listening: watch::Receiver<Wakeups>,
    _stop: DropGuard,
}

impl Hub {
    /// Starts the listener on its own connection; reads use `pool`.
    pub(crate) fn start(db: &Database, pool: Pool) -> Hub {
        let channels: Arc<Channels> = Arc::default();
        let (listening_tx, listening) = watch::channel(Wakeups::Unknown);
        let stop = CancellationToken::new();
        tokio::spawn(run(db.clone(), pool.clone(), channels.clone(), listening_tx, stop.clone()));
        Hub { inner: Arc::new(Inner { pool, channels, listening, _stop: stop.drop_guard() }) }
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// Whether notifications are arriving now.
    pub(crate) fn is_listening(&self) -> bool {
        self.wakeups() == Wakeups::Listen
    }

    /// How this node learns of new rows now.
    pub(crate) fn wakeups(&self) -> Wakeups {
        *self.inner.listening.borrow()
    }

    /// Wakes on every notification about `session` from now on.
    pub(crate) fn subscribe(&self, session: Uuid) -> Subscription {
        let mut map = lock(&self.inner.channels);
        let rx = match map.get(&session) {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = watch::channel(0);
                map.insert(session, tx);
                rx
            }
        };
        Subscription { session, rx, channels: self.inner.channels.clone() }
    }

    /// Sessions followed on this node now.
    #[cfg(test)]
    pub(crate) fn followed(&self) -> usize {
        lock(&self.inner.channels).len()
    }
}

fn lock(c: &Channels) -> std::sync::MutexGuard<'_, HashMap<Uuid, watch::Sender<u64>>> {
    c.lock().unwrap_or_else(|e| e.into_inner())
}

/// Wakes the followers of `session`, if any.
fn wake(channels: &Channels, session: Uuid) {
    if let Some(tx) = lock(channels).get(&session) {
        bump(tx);
    }
}

fn bump(tx: &watch::Sender<u64>) {
    tx.send_modify(|n| *n = n.wrapping_add(1));
}

/// One follower's interest in one session; leaving drops the session's
/// channel when nobody else follows it.
pub(crate) struct Subscription {
    session: Uuid,
    rx: watch::Receiver<u64>,
    channels: Arc<Channels>,
}

impl Subscription {
    /// Until the next notification about the session (or a reconnect),
    /// returning at once when one arrived since the last call.
    pub(crate) async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            // The sender is gone only with the map entry, which lives as
            // long as this subscription: never here, but never spin.
            std::future::pending::<()>().await
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut map = lock(&self.channels);
        // This subscription's receiver is still counted here.
        if map.get(&self.session).is_some_and(|tx| tx.receiver_count() <= 1) {
            map.remove(&self.session);
        }
    }
}

/// The listener: reconnects with exponential backoff until stopped.
async fn run(
    db: Database,
    pool: Pool,
    channels: Arc<Channels>,
    listening: watch::Sender<Wakeups>,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let result = tokio::select! {
            _ = stop.cancelled() => return,
            r = listen_once(&db, &pool, &channels, &listening) => r,
        };
        let wait = match result {
            Ok(()) => {
                listening.send_replace(Wakeups::Polling);
                wakeups::RECHECK
            }
            Err(e) => {
                if *listening.borrow() != Wakeups::Polling {
                    listening.send_replace(Wakeups::Unknown);
                }
                tracing::warn!(error = %format!("{e:#}"), retry_in = ?backoff, "progress LISTEN connection lost");
                backoff = (backoff * 2).min(Duration::from_secs(5));
                backoff
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One connection's life: returns (with the reason) when it breaks, and
/// `Ok` at once when notifications do not arrive on it.
async fn listen_once(
    db: &Database,
    pool: &Pool,
    channels: &Channels,
    listening: &watch::Sender<Wakeups>,
) -> anyhow::Result<()> {
    let listened = wakeups::listen(db, &[STARTED_CHANNEL, LOGS_CHANNEL, DONE_CHANNEL]).await?;
    pool.notifications_arrive(listened.is_some());
    let Some(Listening { client, mut notifications, meanwhile }) = listened else { return Ok(()) };
    listening.send_replace(Wakeups::Listen);
    for n in meanwhile {
        if let Ok(id) = Uuid::parse_str(n.payload()) {
            wake(channels, id);
        }
    }
    // Anything may have happened while not listening: everyone reads again.
    for tx in lock(channels).values() {
        bump(tx);
    }
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.tick().await;
    loop {
        tokio::select! {
            n = notifications.recv() => {
                let Some(n) = n else { anyhow::bail!("connection closed") };
                let Ok(id) = Uuid::parse_str(n.payload()) else {
                    tracing::warn!(channel = n.channel(), "ignoring a notification whose payload is not a session id");
                    continue;
                };
                wake(channels, id);
            }
            _ = ping.tick() => {
                tokio::time::timeout(Duration::from_secs(10), client.simple_query("")).await??;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> Hub {
        // Nothing listens there: the listener keeps retrying, which these
        // tests do not need.
        let db = Database::new(crate::config::Secret::new("postgresql://nobody@127.0.0.1:9/none"), None).unwrap();
        let pool = db.pool(1).unwrap();
        Hub::start(&db, pool)
    }

    #[tokio::test]
    async fn a_session_has_one_channel_while_anyone_follows_it() {
        let h = hub();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let a1 = h.subscribe(a);
        let a2 = h.subscribe(a);
        let b1 = h.subscribe(b);
        assert_eq!(h.followed(), 2);
        drop(a1);
        assert_eq!(h.followed(), 2, "a is still followed by a2");
        drop(a2);
        assert_eq!(h.followed(), 1);
        drop(b1);
        assert_eq!(h.followed(), 0);
        assert!(!h.is_listening());
    }

    #[tokio::test]
    async fn a_notification_wakes_every_follower_of_its_session_and_is_kept_until_waited_for() {
        let h = hub();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let (mut a1, mut a2, mut b1) = (h.subscribe(a), h.subscribe(a), h.subscribe(b));
        // Woken before anyone waits: the next wait returns at once.
        wake(&h.inner.channels, a);
        let soon = Duration::from_millis(200);
        assert!(tokio::time::timeout(soon, a1.changed()).await.is_ok());
        assert!(tokio::time::timeout(soon, a2.changed()).await.is_ok());
        assert!(tokio::time::timeout(soon, b1.changed()).await.is_err(), "b was not notified");
        // Seen once: the next wait waits.
        assert!(tokio::time::timeout(soon, a1.changed()).await.is_err());
        // A session nobody follows: nothing happens, nothing is created.
        wake(&h.inner.channels, Uuid::new_v4());
        assert_eq!(h.followed(), 2);
    }
}
