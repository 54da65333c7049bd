//! Running one program in a hardened container.
//!
//! * [`policy`] builds the container configuration (all hardening is there);
//! * [`files`] frames the submitted files and stdin for the image's launcher;
//! * [`engine`] drives the Docker engine through bollard: create, attach
//!   before start, feed stdin then EOF, stream output, enforce the deadline,
//!   kill, inspect, remove, and find containers left behind.

pub mod engine;
pub mod files;
pub mod policy;

pub use engine::{Ending, Engine, Finished, Input, SandboxError, StageLimits, Stages, StopReason};
