//! Process-wide counters and histograms, rendered in the Prometheus text
//! format by `GET /metrics` (together with gauges read from the database).
//! Plain atomics: no registry crate, nothing to configure.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the histogram buckets.
const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0];

pub(crate) struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Sum in microseconds.
    sum_us: AtomicU64,
}

impl Histogram {
    const fn new() -> Histogram {
        Histogram {
            counts: [const { AtomicU64::new(0) }; BUCKETS.len()],
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }

    pub(crate) fn observe(&self, d: std::time::Duration) {
        let secs = d.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.counts[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, name: &str, help: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {}", self.counts[i].load(Ordering::Relaxed));
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_us.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {count}");
    }
}

use crate::model::EndReason;

/// Room for a counter per end reason (a test checks it is enough).
const REASONS: usize = 16;

pub struct Metrics {
    pub log_rows_written: AtomicU64,
    /// Sessions that ran in a warm container, and in a cold one.
    pub containers_warm: AtomicU64,
    pub containers_cold: AtomicU64,
    /// Finished sessions by end reason (`EndReason::ALL`'s order).
    sessions_finished: [AtomicU64; REASONS],
    pub(crate) run_duration: Histogram,
    pub(crate) container_start: Histogram,
}

pub static METRICS: Metrics = Metrics {
    log_rows_written: AtomicU64::new(0),
    containers_warm: AtomicU64::new(0),
    containers_cold: AtomicU64::new(0),
    sessions_finished: [const { AtomicU64::new(0) }; REASONS],
    run_duration: Histogram::new(),
    container_start: Histogram::new(),
};

impl Metrics {
    pub(crate) fn finished(&self, reason: EndReason) {
        if let Some(i) = EndReason::ALL.iter().position(|r| *r == reason) {
            self.sessions_finished[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// This process's metrics in the Prometheus text format.
    pub(crate) fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP execbox_log_rows_written_total Log rows this process wrote.\n# TYPE execbox_log_rows_written_total counter\nexecbox_log_rows_written_total {}",
            self.log_rows_written.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP execbox_sessions_finished_total Sessions this process's worker finished, by end reason.\n# TYPE execbox_sessions_finished_total counter"
        );
        for (i, r) in EndReason::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "execbox_sessions_finished_total{{end_reason=\"{r}\"}} {}",
                self.sessions_finished[i].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP execbox_containers_total Sessions this process's worker ran, by where their container came from.\n# TYPE execbox_containers_total counter\nexecbox_containers_total{{path=\"warm\"}} {}\nexecbox_containers_total{{path=\"cold\"}} {}",
            self.containers_warm.load(Ordering::Relaxed),
            self.containers_cold.load(Ordering::Relaxed)
        );
        self.run_duration.render("execbox_run_duration_seconds", "Wall time of programs, start to exit.", out);
        self.container_start.render(
            "execbox_container_start_seconds",
            "From claim to the container running the program.",
            out,
        );
    }
}

/// The `q` quantile (0 to 1) of sorted values, interpolated between the
/// two nearest; NaN when there are none.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_end_reason_has_a_counter() {
        assert!(EndReason::ALL.len() <= REASONS);
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new();
        h.observe(std::time::Duration::from_millis(30));
        h.observe(std::time::Duration::from_secs(3));
        let mut out = String::new();
        h.render("x", "help", &mut out);
        assert!(out.contains("x_bucket{le=\"0.025\"} 0"));
        assert!(out.contains("x_bucket{le=\"0.05\"} 1"));
        assert!(out.contains("x_bucket{le=\"5\"} 2"));
        assert!(out.contains("x_bucket{le=\"+Inf\"} 2"));
        assert!(out.contains("x_count 2"));
    }
}
