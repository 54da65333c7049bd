//! Following one session: its log rows as they are written and its final
//! status, whichever worker runs it. A dedicated connection LISTENs on
//! `execbox_logs` and `execbox_done` (NOTIFY per log batch and at the end);
//! a short poll covers lost notifications.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_postgres::{Client, Notification, Row};
use uuid::Uuid;

use crate::db::Database;
use crate::model::{EndReason, Exit, Level, SessionStatus, Stage, Stream, Usage};

const POLL: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Serialize)]
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
    client: Client,
    wake: mpsc::UnboundedReceiver<Notification>,
    session: Uuid,
    user: Option<Uuid>,
    next_seq: i32,
}

impl Follower {
    /// Connects and starts listening (before the first read, so nothing
    /// written in between is missed). Reads as `user` under RLS when given.
    pub(crate) async fn open(db: &Database, session: Uuid, user: Option<Uuid>) -> anyhow::Result<Follower> {
        let (client, wake) = db.connect_listening().await?;
        client.batch_execute("LISTEN execbox_logs; LISTEN execbox_done;").await?;
        Ok(Follower { client, wake, session, user, next_seq: 1 })
    }

    async fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> anyhow::Result<Vec<Row>> {
        Ok(match self.user {
            Some(user) => {
                let tx = super::user::as_user(&mut self.client, user).await?;
                let rows = tx.query(sql, params).await?;
                tx.commit().await?;
                rows
            }
            None => self.client.query(sql, params).await?,
        })
    }

    /// Rows written since the last call.
    pub(crate) async fn fetch(&mut self) -> anyhow::Result<Vec<LogRow>> {
        let (session, from) = (self.session, self.next_seq);
        let rows = self
            .query(
                "select seq, stream, level, message, created_at, newline, stage from public.execution_logs
                 where session_id = $1 and seq >= $2 order by seq",
                &[&session, &from],
            )
            .await?;
        let rows = rows
            .into_iter()
            .map(|r| {
                Ok(LogRow {
                    seq: r.try_get(0)?,
                    stream: r.try_get(1)?,
                    level: r.try_get(2)?,
                    message: r.try_get(3)?,
                    created_at: r.try_get(4)?,
                    newline: r.try_get(5)?,
                    stage: r.try_get(6)?,
                })
            })
            .collect::<Result<Vec<LogRow>, tokio_postgres::Error>>()?;
        if let Some(last) = rows.last() {
            self.next_seq = last.seq + 1;
        }
        Ok(rows)
    }

    /// The session's status; an error if the user cannot see it.
    pub(crate) async fn state(&mut self) -> anyhow::Result<SessionState> {
        let session = self.session;
        let rows = self
            .query(
                "select status, end_reason, exit_code, error, usage from public.backend_execution_sessions where id = $1",
                &[&session],
            )
            .await?;
        let Some(r) = rows.first() else { anyhow::bail!("session {session} does not exist (or is not yours)") };
        let usage: Option<serde_json::Value> = r.try_get(4)?;
        Ok(SessionState {
            status: r.try_get(0)?,
            end_reason: r.try_get(1)?,
            exit_code: r.try_get(2)?,
            error: r.try_get(3)?,
            usage: usage.and_then(|u| serde_json::from_value(u).ok()).unwrap_or_default(),
        })
    }

    /// The session's state and the rows written since the last call, read in
    /// that order: when the state is terminal, the rows are complete.
    pub(crate) async fn poll(&mut self) -> anyhow::Result<(SessionState, Vec<LogRow>)> {
        let state = self.state().await?;
        let rows = self.fetch().await?;
        Ok((state, rows))
    }

    /// Waits for a notification about this session, or the poll interval.
    pub(crate) async fn wait(&mut self) {
        let session = self.session.to_string();
        let _ = tokio::time::timeout(POLL, async {
            while let Some(n) = self.wake.recv().await {
                if n.payload() == session {
                    return;
                }
            }
            // The connection closed: fall back to the poll interval.
            std::future::pending::<()>().await
        })
        .await;
    }

    /// Streams every row to `on_row` until the session ends; returns how it
    /// ended. A terminal status means every row is already written.
    pub(crate) async fn stream_to_end(&mut self, mut on_row: impl FnMut(&LogRow)) -> anyhow::Result<SessionState> {
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
