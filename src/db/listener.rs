//! The wake-up channel: one dedicated connection LISTENing on `execbox_input`
//! (input for an interactive session),
//! `execbox_session` (a pending session was inserted) and `execbox_cancel`
//! (an owner asked to cancel a running session).
//!
//! NOTIFY is a hint: it is lost while disconnected. So after every
//! (re)connect, once LISTEN is registered and a NOTIFY round trip showed
//! that notifications arrive ([`wakeups::verify`]), the listener reports
//! [`Wake::Listening`] and the worker rescans the table; a slow poll in the
//! worker covers anything else. When the round trip fails (a transaction
//! pooler), it reports [`Wake::Polling`], says so once, and checks again
//! every [`wakeups::RECHECK`]; the worker then polls quickly.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::wakeups::{self, Listening};
use super::Database;

pub(crate) const SESSION_CHANNEL: &str = "execbox_session";
pub(crate) const CANCEL_CHANNEL: &str = "execbox_cancel";
pub(crate) const INPUT_CHANNEL: &str = "execbox_input";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Wake {
    /// LISTEN is (re)established and notifications arrive: anything may
    /// have been missed meanwhile.
    Listening,
    /// Notifications do not arrive on this address: poll.
    Polling,
    Session(Uuid),
    Cancel(Uuid),
    /// New `session_input` rows for a session.
    Input(Uuid),
}

/// How often the idle connection is checked, so a silently dead link is
/// noticed and replaced.
const PING_INTERVAL: Duration = Duration::from_secs(15);

/// Runs until `shutdown`, reconnecting with exponential backoff.
pub(crate) fn spawn(db: Database, tx: mpsc::Sender<Wake>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            let result = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = listen_once(&db, &tx) => r,
            };
            if tx.is_closed() {
                return;
            }
            let wait = match result {
                Ok(Ended::Closed) => {
                    backoff = Duration::from_millis(100);
                    backoff
                }
                Ok(Ended::NotDelivered) => wakeups::RECHECK,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), retry_in = ?backoff, "LISTEN connection lost");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    backoff
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    })
}

/// How a connection's life ended (other than by an error).
enum Ended {
    /// The worker is gone.
    Closed,
    /// Notifications do not arrive here.
    NotDelivered,
}

/// One connection's life: returns when it breaks, or at once when
/// notifications do not arrive on it.
async fn listen_once(db: &Database, tx: &mpsc::Sender<Wake>) -> anyhow::Result<Ended> {
    let Some(Listening { client, mut notifications, meanwhile }) =
        wakeups::listen(db, &[SESSION_CHANNEL, CANCEL_CHANNEL, INPUT_CHANNEL]).await?
    else {
        let _ = tx.send(Wake::Polling).await;
        return Ok(Ended::NotDelivered);
    };
    tracing::debug!("listening for sessions and cancel requests (a NOTIFY round trip arrived)");
    if tx.send(Wake::Listening).await.is_err() {
        return Ok(Ended::Closed);
    }
    for n in meanwhile {
        if !forward(tx, &n).await {
            return Ok(Ended::Closed);
        }
    }
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.tick().await;
    loop {
        tokio::select! {
            n = notifications.recv() => {
                let Some(n) = n else { anyhow::bail!("connection closed") };
                if !forward(tx, &n).await {
                    return Ok(Ended::Closed);
                }
            }
            _ = ping.tick() => {
                tokio::time::timeout(Duration::from_secs(10), client.simple_query("")).await??;
            }
        }
    }
}

/// Passes one notification on to the worker; false when the worker is gone.
async fn forward(tx: &mpsc::Sender<Wake>, n: &tokio_postgres::Notification) -> bool {
    let Ok(id) = Uuid::parse_str(n.payload()) else {
        tracing::warn!(channel = n.channel(), "ignoring a notification whose payload is not a session id");
        return true;
    };
    let wake = match n.channel() {
        CANCEL_CHANNEL => Wake::Cancel(id),
        INPUT_CHANNEL => Wake::Input(id),
        _ => Wake::Session(id),
    };
    tx.send(wake).await.is_ok()
}
