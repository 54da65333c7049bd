//! Whether LISTEN works on this address, checked rather than assumed.
//!
//! Behind a transaction pooler a LISTEN is registered on whichever server
//! connection ran it, and that connection goes back to the pool: nothing
//! sent to the channel afterwards reaches the listening client. So after
//! every LISTEN, [`verify`] sends a NOTIFY on a fresh channel from another
//! connection and waits for it. When it does not arrive, the caller says so
//! once ([`announce_polling`]) and polls instead: slower, never silent.

use std::sync::Once;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio_postgres::{Client, Notification};
use uuid::Uuid;

use super::{Database, Sql};

/// How long a NOTIFY gets to come back. On a direct or session-pooled
/// address it takes a few milliseconds.
pub(crate) const PROBE_WAIT: Duration = Duration::from_secs(3);

/// How often a process that fell back to polling checks again whether
/// notifications arrive.
pub(crate) const RECHECK: Duration = Duration::from_secs(60);

/// How a process learns of new rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wakeups {
    /// Not known yet (connecting, or the check is running).
    Unknown,
    /// LISTEN/NOTIFY, verified by a round trip.
    Listen,
    /// Notifications do not arrive here; rows are polled for.
    Polling,
}

impl Wakeups {
    pub fn as_str(self) -> &'static str {
        match self {
            Wakeups::Unknown => "unknown",
            Wakeups::Listen => "listen",
            Wakeups::Polling => "polling",
        }
    }
}

/// What a check found, and the other notifications that came meanwhile
/// (they are real: the caller handles them).
pub(crate) struct Checked {
    pub arrived: bool,
    pub meanwhile: Vec<Notification>,
}

/// Sends a NOTIFY on a fresh channel from a connection of its own and
/// waits up to `within` for `listener` (whose notifications arrive on
/// `rx`) to receive it. The probe channel is left again either way.
pub(crate) async fn verify(
    db: &Database,
    listener: &Client,
    rx: &mut UnboundedReceiver<Notification>,
    within: Duration,
) -> anyhow::Result<Checked> {
    let channel = format!("execbox_probe_{}", Uuid::new_v4().simple());
    listener.batch(&format!("LISTEN {channel}")).await?;
    let sender = db.connect().await?;
    sender.exec("select pg_notify($1, 'probe')", &[&channel]).await?;
    drop(sender);
    let mut meanwhile = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    let arrived = loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => break false,
            Ok(None) => anyhow::bail!("connection closed"),
            Ok(Some(n)) if n.channel() == channel => break true,
            Ok(Some(n)) => meanwhile.push(n),
        }
    };
    listener.batch(&format!("UNLISTEN {channel}")).await?;
    Ok(Checked { arrived, meanwhile })
}

/// A connection LISTENing on `channels`, and the notifications that came
/// while its round trip was checked.
pub(crate) struct Listening {
    pub client: Client,
    pub notifications: UnboundedReceiver<Notification>,
    pub meanwhile: Vec<Notification>,
}

/// Connects, LISTENs on `channels` and checks that notifications arrive
/// ([`verify`]). `None` when they do not: the LISTEN is left again (it
/// would only burden a pooler's server connections) and the process has
/// said once that it polls.
pub(crate) async fn listen(db: &Database, channels: &[&str]) -> anyhow::Result<Option<Listening>> {
    let (client, mut notifications) = db.connect_listening().await?;
    let listen: String = channels.iter().map(|c| format!("LISTEN {c};")).collect();
    client.batch(&listen).await?;
    let Checked { arrived, meanwhile } = verify(db, &client, &mut notifications, PROBE_WAIT).await?;
    if !arrived {
        client.batch("UNLISTEN *").await?;
        announce_polling();
        return Ok(None);
    }
    Ok(Some(Listening { client, notifications, meanwhile }))
}

/// Says once per process, in plain words, that notifications do not arrive
/// and what that means.
fn announce_polling() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        tracing::warn!(
            "notifications do not arrive on this database address: a NOTIFY sent from another connection never \
             reached this LISTEN, as happens behind a transaction pooler (Supabase's port 6543). execbox keeps \
             serving by polling (workers look for sessions every EXECBOX_FALLBACK_POLL_MS, 250 ms by \
             default; API nodes read the sessions they follow every 500 ms), which is slower. For instant wake-ups, set DATABASE_URL to the session \
             pooler (Supabase's port 5432 on the pooler host) or the direct address; `execbox doctor` checks an address."
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_named_in_one_place() {
        let names: Vec<&str> = [Wakeups::Unknown, Wakeups::Listen, Wakeups::Polling].map(Wakeups::as_str).to_vec();
        assert_eq!(names, ["unknown", "listen", "polling"]);
    }
}
