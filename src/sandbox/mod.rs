//! Running one program in a hardened container.
//!
//! * [`policy`] builds the container configuration (all hardening is there);
//! * [`files`] frames the submitted files and stdin for the image's launcher;
//! * [`engine`] drives the Docker engine through bollard: create, attach
//!   before start, feed stdin then EOF, stream output, enforce the deadline,
//!   kill, inspect, remove, and find containers left behind;
//! * [`pool`] keeps warm, started containers ready per language.

pub mod engine;
pub mod files;
pub mod policy;
pub mod pool;

pub use engine::{Created, Ending, Engine, Finished, Input, Running, SandboxError, StageLimits, Stages, StopReason};
