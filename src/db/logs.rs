//! The log writer: the only code that inserts into `execution_logs`.
//!
//! Lines arrive on a channel; the writer takes everything that is waiting
//! (up to a batch bound) and writes it in one INSERT, so a slow trickle is
//! written line by line within one round trip of being printed, and a flood
//! is written in large batches — never one INSERT per line under load.
//! `seq` counts from 1 without gaps. Every batch is fenced on the session's
//! attempt: a worker that lost the session writes nothing.

use super::{Pool, Sql};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::output::LogLine;

/// Most rows in one INSERT.
const MAX_BATCH_ROWS: usize = 2_000;
/// Most message bytes in one INSERT.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Lines buffered between the container and the database; when full, reading
/// the container's output waits (backpressure, not loss).
pub(crate) const CHANNEL_CAPACITY: usize = 8_192;

#[derive(Debug, thiserror::Error)]
pub(crate) enum LogError {
    #[error("the session is no longer owned by this attempt; its logs were not written")]
    Fenced,
    #[error("cannot write log rows: {0}")]
    Db(String),
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LogStats {
    pub rows: u64,
    pub batches: u64,
}

/// Starts a writer for one session attempt. Drop every sender to finish; the
/// handle returns once all lines are written.
pub(crate) fn spawn(
    pool: Pool,
    session_id: Uuid,
    attempt: i32,
) -> (mpsc::Sender<LogLine>, JoinHandle<Result<LogStats, LogError>>) {
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let handle = tokio::spawn(write_all(pool, session_id, attempt, rx));
    (tx, handle)
}

async fn write_all(
    pool: Pool,
    session_id: Uuid,
    attempt: i32,
    mut rx: mpsc::Receiver<LogLine>,
) -> Result<LogStats, LogError> {
    let mut stats = LogStats::default();
    let mut next_seq: i32 = 1;
    let mut batch: Vec<LogLine> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut bytes = first.message.len();
        batch.push(first);
        while batch.len() < MAX_BATCH_ROWS && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(line) => {
                    bytes += line.message.len();
                    batch.push(line);
                }
                Err(_) => break,
            }
        }
        if let Err(e) = insert(&pool, session_id, attempt, next_seq, &batch).await {
            // Keep draining so the producer never blocks on a dead writer.
            rx.close();
            return Err(e);
        }
        next_seq += batch.len() as i32;
        crate::metrics::METRICS.log_rows_written.fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
        stats.rows += batch.len() as u64;
        stats.batches += 1;
        batch.clear();
    }
    Ok(stats)
}

async fn insert(
    pool: &Pool,
    session_id: Uuid,
    attempt: i32,
    first_seq: i32,
    batch: &[LogLine],
) -> Result<(), LogError> {
    let seqs: Vec<i32> = (first_seq..first_seq + batch.len() as i32).collect();
    let streams: Vec<&str> = batch.iter().map(|l| l.stream.as_str()).collect();
    let levels: Vec<&str> = batch.iter().map(|l| l.level.as_str()).collect();
    let messages: Vec<&str> = batch.iter().map(|l| l.message.as_str()).collect();
    let newlines: Vec<bool> = batch.iter().map(|l| l.newline).collect();
    let stages: Vec<&str> = batch.iter().map(|l| l.stage.as_str()).collect();
    let cases: Vec<Option<i32>> = batch.iter().map(|l| l.case).collect();
    // A transient failure (connection reset) is retried a few times: the
    // unique (session_id, seq) key makes a retry of a committed batch fail
    // loudly instead of duplicating rows.
    let mut delay = std::time::Duration::from_millis(50);
    let mut tries = 0;
    loop {
        tries += 1;
        let result = async {
            let db = pool.get().await.map_err(|e| LogError::Db(e.to_string()))?;
            db.exec(
                "insert into public.execution_logs
                       (session_id, user_id, seq, stream, level, message, newline, stage, case_index)
                     select s.id, s.user_id, l.seq, l.stream, l.level, l.message, l.newline, l.stage, l.case_index
                     from public.backend_execution_sessions s,
                          unnest($3::int[], $4::text[], $5::text[], $6::text[], $7::bool[], $8::text[], $9::int[])
                            as l(seq, stream, level, message, newline, stage, case_index)
                     where s.id = $1 and s.attempt = $2 and s.status = 'running'",
                &[&session_id, &attempt, &seqs, &streams, &levels, &messages, &newlines, &stages, &cases],
            )
            .await
            .map_err(|e| LogError::Db(crate::error_chain(&e)))
        }
        .await;
        match result {
            Ok(0) => return Err(LogError::Fenced),
            Ok(_) => return Ok(()),
            Err(e) if tries <= 3 => {
                tracing::warn!(error = %e, "log batch failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 4;
            }
            Err(e) => return Err(e),
        }
    }
}
