//! Input to interactive sessions: rows of `session_input` (stdin text, end
//! of input, signals) become events for the running container, in order.
//! Anyone allowed to insert them (the owner through Supabase, the API's
//! WebSockets on any node) reaches the program through the database.

use std::sync::Arc;
use std::time::Duration;

use super::{Pool, Sql};
use tokio::sync::{mpsc, Notify};
use uuid::Uuid;

pub(crate) use crate::model::InputEvent;

/// Re-reads the table when nothing was notified for this long.
const POLL: Duration = Duration::from_millis(500);

/// Follows `session_input` of `session` until the receiver is dropped.
/// `wake` is notified when the worker hears `execbox_input` for it.
pub(crate) fn follow(pool: Pool, session: Uuid, wake: Arc<Notify>) -> mpsc::Receiver<InputEvent> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut last: i64 = 0;
        loop {
            let rows = match pool.get().await {
                Ok(db) => db
                    .fetch(
                        "select id, kind, data from public.session_input where session_id = $1 and id > $2 order by id",
                        &[&session, &last],
                    )
                    .await
                    .map_err(|e| crate::error_chain(&e)),
                Err(e) => Err(crate::error_chain(&e)),
            };
            match rows {
                Ok(rows) => {
                    for r in rows {
                        last = r.get(0);
                        let kind: String = r.get(1);
                        let data: Option<String> = r.get(2);
                        let event = match InputEvent::from_row(&kind, data) {
                            Ok(event) => event,
                            Err(e) => {
                                tracing::warn!(error = %e, "session input of no kind execbox knows; skipped");
                                continue;
                            }
                        };
                        if tx.send(event).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read session input"),
            }
            tokio::select! {
                _ = tx.closed() => return,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    });
    rx
}
