//! Overload at the door: a synchronous request the live workers would not
//! reach within its queue wait is refused at once, before it becomes a
//! session (503 with `Retry-After`), instead of failing after waiting that
//! long. The estimate is the queue's depth against the workers' measured
//! throughput, read at most every [`REFRESH`] (one read at a time) and
//! counting what this node admitted since.

use std::time::{Duration, Instant};

use super::error::ApiError;
use super::ApiState;
use crate::db::workers::Backlog;

/// How old a read of the backlog may be.
const REFRESH: Duration = Duration::from_millis(250);
/// A session's run time before any has been measured.
const UNMEASURED_RUN_S: f64 = 1.0;
/// A request is admitted while its expected wait is within this share of
/// the queue wait: the estimate is a mean, and a wait just over the queue
/// wait costs the caller the whole of it.
const MARGIN: f64 = 0.75;
/// The longest `Retry-After` given.
const MAX_RETRY_AFTER_S: u64 = 300;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Verdict {
    Admit,
    /// The expected wait for a worker, and when to come back.
    Refuse {
        expected_s: f64,
        retry_after_s: u64,
    },
}

/// Whether one more session, behind the backlog and the `admitted` this
/// node let in since reading it, would be claimed within `queue_wait`.
/// Without a live worker nothing is known: the queue wait decides, as for
/// any request.
pub(crate) fn decide(b: &Backlog, admitted: i64, queue_wait: Duration) -> Verdict {
    if b.slots <= 0 {
        return Verdict::Admit;
    }
    let per_run = b.mean_run_s.unwrap_or(UNMEASURED_RUN_S).max(0.0);
    let ahead = (b.depth + admitted).max(0) as f64;
    let expected_s = ahead * per_run / b.slots as f64;
    let within = queue_wait.as_secs_f64() * MARGIN;
    if expected_s <= within {
        Verdict::Admit
    } else {
        let retry_after_s = ((expected_s - within).ceil() as u64).clamp(1, MAX_RETRY_AFTER_S);
        Verdict::Refuse { expected_s, retry_after_s }
    }
}

/// The node's door: the last backlog read and what it admitted since.
#[derive(Default)]
pub(crate) struct Door(tokio::sync::Mutex<Seen>);

#[derive(Default)]
struct Seen {
    read_at: Option<Instant>,
    backlog: Option<Backlog>,
    admitted: i64,
}

impl Door {
    /// Lets one synchronous request in, or refuses it with when to retry.
    pub(crate) async fn enter(&self, st: &ApiState) -> Result<(), ApiError> {
        let mut seen = self.0.lock().await;
        if seen.read_at.is_none_or(|t| t.elapsed() > REFRESH) {
            let db = st.pool.get().await?;
            seen.backlog = Some(crate::db::workers::backlog(&db, super::health::fresh(st)).await?);
            seen.read_at = Some(Instant::now());
            seen.admitted = 0;
        }
        let backlog = seen.backlog.expect("read above");
        let queue_wait = Duration::from_millis(st.cfg.api.queue_wait_ms);
        match decide(&backlog, seen.admitted, queue_wait) {
            Verdict::Admit => {
                seen.admitted += 1;
                Ok(())
            }
            Verdict::Refuse { expected_s, retry_after_s } => Err(ApiError::Overloaded {
                message: format!(
                    "too much work is queued: {} sessions wait for {} runs at a time, about {expected_s:.0} s, longer than a request waits ({} s); retry later",
                    backlog.depth + seen.admitted,
                    backlog.slots,
                    queue_wait.as_secs()
                ),
                retry_after_secs: retry_after_s,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_refused_when_the_workers_would_not_reach_it_in_time() {
        let b = |depth, slots, mean_run_s| Backlog { depth, slots, mean_run_s };
        let wait = Duration::from_secs(30);
        #[rustfmt::skip]
        let table: &[(Backlog, i64, Verdict)] = &[
            // No live worker: nothing known, the queue wait decides.
            (b(1000, 0, Some(1.0)), 0, Verdict::Admit),
            (b(0, 8, None), 0, Verdict::Admit),
            // 176 ahead at 1 s on 8 slots: 22 s, within 22.5.
            (b(176, 8, Some(1.0)), 0, Verdict::Admit),
            (b(170, 8, Some(1.0)), 11, Verdict::Refuse { expected_s: 22.625, retry_after_s: 1 }),
            // Unmeasured runs count a second each.
            (b(23, 1, None), 0, Verdict::Refuse { expected_s: 23.0, retry_after_s: 1 }),
            // Fast runs let a deep queue in.
            (b(1000, 4, Some(0.05)), 0, Verdict::Admit),
            (b(1000, 1, Some(0.5)), 0, Verdict::Refuse { expected_s: 500.0, retry_after_s: 300 }),
            (b(100, 2, Some(1.0)), 0, Verdict::Refuse { expected_s: 50.0, retry_after_s: 28 }),
        ];
        for (backlog, admitted, want) in table {
            assert_eq!(decide(backlog, *admitted, wait), *want, "{backlog:?} +{admitted}");
        }
    }
}
