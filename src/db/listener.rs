//! The wake-up channel: one dedicated connection LISTENing on `execbox_input`
//! (input for an interactive session),
//! `execbox_session` (a pending session was inserted) and `execbox_cancel`
//! (an owner asked to cancel a running session).
//!
//! NOTIFY is a hint: it is lost while disconnected. So after every
//! (re)connect, once LISTEN is registered, the listener reports
//! [`Wake::Connected`] and the worker rescans the table; a fallback poll in
//! the worker covers anything else.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Database;

pub(crate) const SESSION_CHANNEL: &str = "execbox_session";
pub(crate) const CANCEL_CHANNEL: &str = "execbox_cancel";
pub(crate) const INPUT_CHANNEL: &str = "execbox_input";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Wake {
    /// LISTEN is (re)established: anything may have been missed.
    Connected,
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
            match result {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), retry_in = ?backoff, "LISTEN connection lost")
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    })
}

/// One connection's life: returns when it breaks.
async fn listen_once(db: &Database, tx: &mpsc::Sender<Wake>) -> anyhow::Result<()> {
    let (client, mut notifications) = db.connect_listening().await?;
    client
        .batch_execute(&format!("LISTEN {SESSION_CHANNEL}; LISTEN {CANCEL_CHANNEL}; LISTEN {INPUT_CHANNEL};"))
        .await?;
    tracing::debug!("listening for sessions and cancel requests");
    let _ = tx.send(Wake::Connected).await;
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
                let wake = match n.channel() {
                    CANCEL_CHANNEL => Wake::Cancel(id),
                    INPUT_CHANNEL => Wake::Input(id),
                    _ => Wake::Session(id),
                };
                if tx.send(wake).await.is_err() {
                    return Ok(());
                }
            }
            _ = ping.tick() => {
                tokio::time::timeout(Duration::from_secs(10), client.simple_query("")).await??;
            }
        }
    }
}
