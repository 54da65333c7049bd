//! Following one session: its log rows as they are written and its final
//! status, whichever worker runs it. The node's [`Hub`] wakes a follower
//! when the session's rows or status change; reads borrow a pooled
//! connection for one round trip, so a waiting follower holds none.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::db::hub::{Hub, Subscription};
use crate::db::{Param, Sql};
use crate::model::{EndReason, Exit, Level, SessionStatus, Stage, Stream, Usage};

/// The poll interval while notifications are not arriving.
const POLL: Duration = Duration::from_millis(500);
/// The poll interval while they are: a last resort only.
const SAFETY_POLL: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LogRow {
    pub seq: i32,
    pub stream: Stream,
    pub level: Level,
    pub message: String,
    /// The line ended with a newline in the program's output.
    pub newline: bool,
    pub stage: Stage,
    pub created_at: DateTime<Utc>,
}

impl LogRow {
    /// The text as printed (with its newline, if it had one).
    pub(crate) fn text(&self) -> String {
        if self.newline {
            format!("{}\n", self.message)
        } else {
            self.message.clone()
        }
    }
}

/// The session's state as followers see it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SessionState {
    pub status: SessionStatus,
    pub end_reason: Option<EndReason>,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    pub usage: Usage,
}

impl SessionState {
    pub(crate) fn is_done(&self) -> bool {
        self.status.is_done()
    }

    /// How the program ended, when it did by itself or by a signal.
    pub(crate) fn exit(&self) -> Option<Exit> {
        Exit::from_stored(self.exit_code, self.end_reason)
    }
}

pub(crate) struct Follower {
    hub: Hub,
    sub: Subscription,
    session: Uuid,
    user: Option<Uuid>,
    next_seq: i32,
}

const STATE_SQL: &str = "select status, end_reason, exit_code, error, usage from public.backend_execution_sessions
                         where id = $1 and ($2::uuid is null or user_id = $2)";
const ROWS_SQL: &str = "select seq, stream, level, message, created_at, newline, stage from public.execution_logs
                        where session_id = $1 and seq >= $2 order by seq";

impl Follower {
    /// Subscribes (before the first read, so nothing written in between is
    /// missed). Only `user`'s session is visible when a user is given: the
    /// owner check is part of every state read.
    pub(crate) fn open(hub: &Hub, session: Uuid, user: Option<Uuid>) -> Follower {
        Follower { hub: hub.clone(), sub: hub.subscribe(session), session, user, next_seq: 1 }
    }
}

/// A session followed one way or another (the database with its
/// notifications, or the Data API by asking): its state and the rows
/// written since the last call, and a pause between calls.
pub(crate) trait Follow {
    /// The state, then the new rows, read in that order: when the state is
    /// terminal, the rows are complete. An error if the user cannot see the
    /// session.
    async fn poll(&mut self) -> anyhow::Result<(SessionState, Vec<LogRow>)>;

    /// Until something may have changed.
    async fn wait(&mut self);

    /// Streams every row to `on_row` until the session ends; returns how it
    /// ended. A terminal status means every row is already written.
    async fn stream_to_end(&mut self, mut on_row: impl FnMut(&LogRow)) -> anyhow::Result<SessionState> {
        loop {
            let (state, rows) = self.poll().await?;
            for row in rows {
                on_row(&row);
            }
            if state.is_done() {
                return Ok(state);
            }
            self.wait().await;
        }
    }
}

impl Follow for Follower {
    /// The session's state, then the rows written since the last call, read
    /// in that order on one pooled connection (pipelined: one round trip):
    /// when the state is terminal, the rows are complete. An error if the
    /// user cannot see the session.
    async fn poll(&mut self) -> anyhow::Result<(SessionState, Vec<LogRow>)> {
        let (session, user, from) = (self.session, self.user, self.next_seq);
        let (state, rows) = {
            let db = self.hub.pool().get().await?;
            let (state_params, rows_params): ([&dyn Param; 2], [&dyn Param; 2]) =
                ([&session, &user], [&session, &from]);
            futures::try_join!(db.fetch(STATE_SQL, &state_params), db.fetch(ROWS_SQL, &rows_params))?
        };
        let Some(r) = state.first() else { anyhow::bail!("session {session} does not exist (or is not yours)") };
        let usage: Option<serde_json::Value> = r.try_get(4)?;
        let state = SessionState {
            status: r.try_get(0)?,
            end_reason: r.try_get(1)?,
            exit_code: r.try_get(2)?,
            error: r.try_get(3)?,
            usage: usage.and_then(|u| serde_json::from_value(u).ok()).unwrap_or_default(),
        };
        let rows = rows.iter().map(log_row).collect::<Result<Vec<LogRow>, tokio_postgres::Error>>()?;
        if let Some(last) = rows.last() {
            self.next_seq = last.seq + 1;
        }
        Ok((state, rows))
    }

    /// Waits for a notification about this session, or the poll interval
    /// (short while the hub is not listening, when notifications are lost).
    async fn wait(&mut self) {
        let poll = if self.hub.is_listening() { SAFETY_POLL } else { POLL };
        let _ = tokio::time::timeout(poll, self.sub.changed()).await;
    }
}

fn log_row(r: &Row) -> Result<LogRow, tokio_postgres::Error> {
    Ok(LogRow {
        seq: r.try_get(0)?,
        stream: r.try_get(1)?,
        level: r.try_get(2)?,
        message: r.try_get(3)?,
        created_at: r.try_get(4)?,
        newline: r.try_get(5)?,
        stage: r.try_get(6)?,
    })
}
