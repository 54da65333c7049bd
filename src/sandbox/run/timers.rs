//! The run's timers: the stage's deadline, the kill grace and the drain
//! grace, and which one fires next.

use std::time::Duration;

use tokio::time::{sleep_until, Instant};

use crate::sandbox::state::Input as Happened;

/// How long a killed container may take to be reported gone.
pub(super) const KILL_GRACE: Duration = Duration::from_secs(15);

/// After the container ended, how long the attach stream may stay silent
/// before the rest of its output is given up on. The grace starts again
/// with every frame and stands still while reading waits for the log
/// writer: a flood still in the stream when the container went is read to
/// its end, however slowly this worker gets to it.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// The drain grace: off until the container ended, then counting while the
/// driver reads and hears nothing; standing still while reading waits for
/// the log writer.
#[derive(Debug, Clone, Copy)]
pub(super) enum Drain {
    Off,
    Counting(Instant),
    Paused,
}

impl Drain {
    fn counting() -> Drain {
        Drain::Counting(Instant::now() + DRAIN_GRACE)
    }

    /// A frame arrived: the grace starts again.
    pub(super) fn heard(&mut self) {
        if let Drain::Counting(_) = self {
            *self = Drain::counting();
        }
    }

    /// Whether the driver reads now.
    pub(super) fn reading(&mut self, read: bool) {
        *self = match (*self, read) {
            (Drain::Counting(_), false) => Drain::Paused,
            (Drain::Paused, true) => Drain::counting(),
            (d, _) => d,
        };
    }

    fn until(&self) -> Option<Instant> {
        match self {
            Drain::Counting(t) => Some(*t),
            Drain::Off | Drain::Paused => None,
        }
    }
}

/// A timer of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// The current stage's deadline.
    Deadline,
    /// The time a killed container has to be reported gone.
    KillGrace,
    /// The attach stream's silence after the container ended.
    Drain,
}

/// The run's timers, each off until armed and off again once fired.
#[derive(Debug)]
pub(super) struct Timers {
    deadline: Option<Instant>,
    kill_grace: Option<Instant>,
    pub(super) drain: Drain,
}

impl Timers {
    pub(super) fn new() -> Timers {
        Timers { deadline: None, kill_grace: None, drain: Drain::Off }
    }

    /// The current stage's deadline is `timeout` from now.
    pub(super) fn arm_deadline(&mut self, timeout: Duration) {
        self.deadline = Some(Instant::now() + timeout);
    }

    /// The container was just killed.
    pub(super) fn arm_kill_grace(&mut self) {
        self.kill_grace = Some(Instant::now() + KILL_GRACE);
    }

    /// The container ended: its output may still arrive for a while.
    pub(super) fn arm_drain(&mut self) {
        self.drain = Drain::counting();
    }

    /// The timer that fires first, and when (none armed: none).
    fn next(&self) -> Option<(Instant, Timer)> {
        [
            self.deadline.map(|t| (t, Timer::Deadline)),
            self.kill_grace.map(|t| (t, Timer::KillGrace)),
            self.drain.until().map(|t| (t, Timer::Drain)),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|(t, _)| *t)
    }

    /// Waits for the next timer to fire (forever with none armed).
    pub(super) async fn fired(&self) -> Timer {
        match self.next() {
            Some((t, timer)) => {
                sleep_until(t).await;
                timer
            }
            None => std::future::pending().await,
        }
    }

    /// `timer` fired: it is off, and this is what happened.
    pub(super) fn fire(&mut self, timer: Timer) -> Happened {
        match timer {
            Timer::Deadline => {
                self.deadline = None;
                Happened::Deadline
            }
            Timer::KillGrace => {
                self.kill_grace = None;
                Happened::KillGraceOver
            }
            Timer::Drain => {
                self.drain = Drain::Off;
                Happened::DrainOver
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The drain grace counts only the driver's own waiting on Docker.
    #[test]
    fn the_drain_grace_stands_still_while_the_writer_holds_reading() {
        let kind = |d: &Drain| match d {
            Drain::Off => "off",
            Drain::Counting(_) => "counting",
            Drain::Paused => "paused",
        };
        // (before, reading now, a frame heard, after)
        #[rustfmt::skip]
        let table = [
            (Drain::Off, true, true, "off"),
            (Drain::Off, false, false, "off"),
            (Drain::counting(), true, false, "counting"),
            (Drain::counting(), false, false, "paused"),
            (Drain::Paused, false, false, "paused"),
            (Drain::Paused, true, false, "counting"),
            (Drain::Paused, true, true, "counting"),
        ];
        for (before, read, heard, after) in table {
            let mut d = before;
            d.reading(read);
            if heard {
                d.heard();
            }
            assert_eq!(kind(&d), after, "{before:?} reading={read} heard={heard}");
            assert_eq!(d.until().is_some(), after == "counting");
        }
        // A frame starts the grace again.
        let mut d = Drain::Counting(Instant::now());
        d.heard();
        assert!(d.until().unwrap() > Instant::now() + DRAIN_GRACE / 2);
    }

    /// The earliest armed timer fires first, and a fired one is off.
    #[test]
    fn the_earliest_armed_timer_fires_first() {
        let now = Instant::now();
        let at = |ms: u64| Some(now + Duration::from_millis(ms));
        let drain = |ms: Option<u64>| ms.map_or(Drain::Off, |ms| Drain::Counting(now + Duration::from_millis(ms)));
        // (deadline, kill grace, drain, the first to fire), in ms from now
        type Row = (Option<u64>, Option<u64>, Option<u64>, Option<Timer>);
        #[rustfmt::skip]
        let table: &[Row] = &[
            (None, None, None, None),
            (Some(100), None, None, Some(Timer::Deadline)),
            (Some(100), Some(50), None, Some(Timer::KillGrace)),
            (Some(100), Some(50), Some(10), Some(Timer::Drain)),
            (None, Some(50), Some(60), Some(Timer::KillGrace)),
            (Some(5), Some(50), Some(60), Some(Timer::Deadline)),
        ];
        for &(deadline, kill, drained, first) in table {
            let mut timers =
                Timers { deadline: deadline.and_then(at), kill_grace: kill.and_then(at), drain: drain(drained) };
            assert_eq!(timers.next().map(|(_, t)| t), first, "{deadline:?} {kill:?} {drained:?}");
            if let Some(t) = first {
                timers.fire(t);
                assert_ne!(timers.next().map(|(_, next)| next), Some(t), "{t:?} is off once fired");
            }
        }
        // A paused drain never fires.
        let timers = Timers { deadline: None, kill_grace: None, drain: Drain::Paused };
        assert_eq!(timers.next(), None);
    }
}
