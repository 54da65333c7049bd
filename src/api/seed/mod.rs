//! The seed's API: `POST /api/run-backend` with its log socket, and seed
//! 004's `POST /api/execute/validate` and `/run`.

pub(crate) mod execute;
pub(crate) mod run_backend;
pub(crate) mod wire;
