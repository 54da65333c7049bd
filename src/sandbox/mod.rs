//! Running one program in a hardened container. This layer knows Docker
//! and the launcher, nothing of the database or the API.
//!
//! * [`policy`] builds the container configuration (all hardening is there);
//! * [`launcher`] is the protocol with the container's first process;
//! * [`stages`] are a run's stages and their limits;
//! * [`state`] is one run as a pure state machine, [`run`] its driver;
//! * [`engine`] is the Docker engine through bollard: create, attach
//!   before start, kill, inspect, remove, and find containers left behind;
//! * [`warm`] keeps warm, started containers ready per language;
//! * [`walls`] decides whether the engine can build the isolation asked for.

pub(crate) mod engine;
pub mod launcher;
pub mod policy;
pub(crate) mod run;
pub(crate) mod stages;
pub(crate) mod state;
pub(crate) mod walls;
pub(crate) mod warm;

pub(crate) use engine::Running;
pub use engine::{Created, Engine, SandboxError};
pub(crate) use run::{CaseLink, CaseReport, Finished, Input, Io};
pub(crate) use stages::{StageLimits, Stages};
pub(crate) use state::{Ending, StopReason};
