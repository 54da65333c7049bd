//! The stages of a run and their limits: what the plan decides, the engine
//! applies (the switch between the stages) and the driver times.

use std::time::Duration;

use crate::model::Stage;

/// Limits of one stage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct StageLimits {
    pub timeout: Duration,
    pub memory_mb: u64,
    /// CPU share in cores.
    pub cpus: f64,
    /// CPU time (the program and everything it starts); the launcher
    /// enforces it.
    pub cpu_time: Option<Duration>,
}

/// The stages of a run: an optional compile stage, then the program.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Stages {
    pub compile: Option<StageLimits>,
    pub run: StageLimits,
    /// The compile stage is all: the compiled /work comes back (the
    /// launcher's [`super::launcher::TREE_BLOCK`]) and no program runs here.
    pub export: bool,
}

impl Stages {
    /// The limits in force during `stage`.
    pub(crate) fn limits(&self, stage: Stage) -> StageLimits {
        match (stage, self.compile) {
            (Stage::Compile, Some(c)) => c,
            _ => self.run,
        }
    }
}
