//! Following one session: its log rows as they are written and its final
//! status, whichever worker runs it. The node's [`Hub`] wakes a follower
//! when the session's rows or status change; reads borrow a pooled
//! connection for one round trip, so a waiting follower holds none.
//!
//! Every follower (the API's requests and sockets, the CLI, `execbox dev`)
//! reads the same typed stream, [`Events`]: a change of state, each row in
//! order, and last the end.

use std::collections::VecDeque;
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
    /// The newest container of the session, once its worker recorded it
    /// (known through the database; the Data API's follower leaves it out).
    #[serde(skip)]
    pub container: Option<String>,
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

/// Why a session cannot be followed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FollowError {
    /// Not found and not the user's are one answer, so ids do not leak.
    #[error("session {0} does not exist, or is not yours")]
    NotFound(Uuid),
    /// The database (or the project) cannot be read now.
    #[error(transparent)]
    Unavailable(#[from] anyhow::Error),
}

impl From<tokio_postgres::Error> for FollowError {
    fn from(e: tokio_postgres::Error) -> Self {
        FollowError::Unavailable(e.into())
    }
}

impl From<deadpool_postgres::PoolError> for FollowError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        FollowError::Unavailable(e.into())
    }
}

pub(crate) struct Follower {
    hub: Hub,
    sub: Subscription,
    session: Uuid,
    user: Option<Uuid>,
    next_seq: i32,
}

const STATE_SQL: &str = "select s.status, s.end_reason, s.exit_code, s.error, s.usage,
                                (select c.container_id from public.container_instances c where c.session_id = s.id
                                 order by c.created_at desc limit 1)
                         from public.backend_execution_sessions s
                         where s.id = $1 and ($2::uuid is null or s.user_id = $2)";
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
/// written since the last call, and a pause between calls. Read through
/// [`Events`].
pub(crate) trait Follow {
    /// The state, then the new rows, read in that order: when the state is
    /// terminal, the rows are complete.
    async fn poll(&mut self) -> Result<(SessionState, Vec<LogRow>), FollowError>;

    /// Until something may have changed.
    async fn wait(&mut self);
}

/// What following a session yields, in this order per read: a change of
/// state, the rows written since, and once the session ended, its end
/// (after every row).
#[derive(Debug, Clone)]
pub(crate) enum Event {
    /// The state differs from the last one given (always given first): a
    /// worker claimed the session, or recorded its container.
    Changed(SessionState),
    Row(LogRow),
    /// The last event: every row was given before it.
    End(SessionState),
}

/// The one way to follow a session: a stream of [`Event`]s over a
/// [`Follow`]. `next` is cancel-safe (it may lose a race in a `select!`
/// without losing an event): state changes only between its awaits.
pub(crate) struct Events<F> {
    follow: F,
    rows: VecDeque<LogRow>,
    /// The last state given or to be given.
    last: Option<SessionState>,
    /// The end, once read, given after the buffered rows.
    end: Option<SessionState>,
    ended: bool,
}

impl<F: Follow> Events<F> {
    pub(crate) fn new(follow: F) -> Events<F> {
        Events { follow, rows: VecDeque::new(), last: None, end: None, ended: false }
    }

    /// The newest state read so far.
    pub(crate) fn state(&self) -> Option<&SessionState> {
        self.last.as_ref()
    }

    /// The next event, waiting for it; `None` after the end.
    pub(crate) async fn next(&mut self) -> Result<Option<Event>, FollowError> {
        loop {
            if let Some(row) = self.rows.pop_front() {
                return Ok(Some(Event::Row(row)));
            }
            if let Some(end) = self.end.take() {
                self.ended = true;
                return Ok(Some(Event::End(end)));
            }
            if self.ended {
                return Ok(None);
            }
            if self.last.is_some() {
                self.follow.wait().await;
            }
            let (state, rows) = self.follow.poll().await?;
            self.rows.extend(rows);
            let changed = self.last.as_ref().is_none_or(|l| differs(l, &state));
            self.last = Some(state.clone());
            if state.is_done() {
                self.end = Some(state);
            } else if changed {
                return Ok(Some(Event::Changed(state)));
            }
        }
    }

    /// Every row to `on_row` until the session ends; how it ended.
    pub(crate) async fn rows_to_end(&mut self, mut on_row: impl FnMut(&LogRow)) -> Result<SessionState, FollowError> {
        loop {
            match self.next().await? {
                Some(Event::Row(row)) => on_row(&row),
                Some(Event::Changed(_)) => {}
                Some(Event::End(state)) => return Ok(state),
                None => unreachable!("the end is given once, and then nothing"),
            }
        }
    }
}

/// Whether a follower learns something new from `now`: the status or the
/// container (the rest changes only with the end).
fn differs(last: &SessionState, now: &SessionState) -> bool {
    last.status != now.status || last.container != now.container
}

impl Follow for Follower {
    /// The session's state, then the rows written since the last call, read
    /// in that order on one pooled connection (pipelined: one round trip):
    /// when the state is terminal, the rows are complete. An error if the
    /// user cannot see the session.
    async fn poll(&mut self) -> Result<(SessionState, Vec<LogRow>), FollowError> {
        let (session, user, from) = (self.session, self.user, self.next_seq);
        let (state, rows) = {
            let db = self.hub.pool().get().await?;
            let (state_params, rows_params): ([&dyn Param; 2], [&dyn Param; 2]) =
                ([&session, &user], [&session, &from]);
            futures::try_join!(db.fetch(STATE_SQL, &state_params), db.fetch(ROWS_SQL, &rows_params))?
        };
        let Some(r) = state.first() else { return Err(FollowError::NotFound(session)) };
        let usage: Option<serde_json::Value> = r.try_get(4)?;
        let state = SessionState {
            status: r.try_get(0)?,
            end_reason: r.try_get(1)?,
            exit_code: r.try_get(2)?,
            error: r.try_get(3)?,
            usage: usage.and_then(|u| serde_json::from_value(u).ok()).unwrap_or_default(),
            container: r.try_get(5)?,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// One read: the status, the container, the seqs of the new rows.
    type Read = (SessionStatus, Option<&'static str>, Vec<i32>);

    /// A session's reads, scripted: each poll gives the next one.
    struct Script(VecDeque<Read>);

    impl Follow for Script {
        async fn poll(&mut self) -> Result<(SessionState, Vec<LogRow>), FollowError> {
            let (status, container, seqs) = self.0.pop_front().expect("no poll after the end");
            let state = SessionState {
                status,
                end_reason: None,
                exit_code: None,
                error: None,
                usage: Usage::default(),
                container: container.map(String::from),
            };
            Ok((state, seqs.into_iter().map(row).collect()))
        }

        async fn wait(&mut self) {}
    }

    fn row(seq: i32) -> LogRow {
        LogRow {
            seq,
            stream: Stream::Stdout,
            level: Level::Info,
            message: seq.to_string(),
            newline: true,
            stage: Stage::Run,
            created_at: Utc::now(),
        }
    }

    /// Each event as a word: `pending`/`running+c` for a change, the row's
    /// seq, `end` for the end.
    async fn words(reads: Vec<Read>) -> Vec<String> {
        let mut events = Events::new(Script(reads.into()));
        let mut out = Vec::new();
        while let Some(e) = events.next().await.unwrap() {
            out.push(match e {
                Event::Changed(s) => format!("{}{}", s.status, s.container.map_or(String::new(), |c| format!("+{c}"))),
                Event::Row(r) => r.seq.to_string(),
                Event::End(s) => format!("end {}", s.status),
            });
        }
        out
    }

    #[tokio::test]
    async fn a_change_comes_before_its_rows_and_the_end_after_every_row() {
        use SessionStatus::*;
        let table: &[(Vec<Read>, &[&str])] = &[
            // Ended before the first read: no change, the rows, the end.
            (vec![(Completed, Some("c"), vec![1, 2])], &["1", "2", "end completed"]),
            // Each state once, however often it is read.
            (
                vec![
                    (Pending, None, vec![]),
                    (Pending, None, vec![]),
                    (Running, None, vec![]),
                    (Running, None, vec![]),
                ]
                .into_iter()
                .chain([(Failed, None, vec![])])
                .collect(),
                &["pending", "running", "end failed"],
            ),
            // The container is news too; rows read with a change follow it.
            (
                vec![(Running, None, vec![]), (Running, Some("c"), vec![1]), (Running, Some("c"), vec![2, 3])]
                    .into_iter()
                    .chain([(Completed, Some("c"), vec![4])])
                    .collect(),
                &["running", "running+c", "1", "2", "3", "4", "end completed"],
            ),
        ];
        for (reads, want) in table {
            assert_eq!(words(reads.clone()).await, *want, "{reads:?}");
        }
    }
}
