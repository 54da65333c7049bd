//! execbox: runs untrusted code from `backend_execution_sessions` rows in
//! hardened Docker containers, streaming output into `execution_logs`.
//!
//! Layout (see ARCHITECTURE.md for the bird's-eye view and the dependency
//! rules between these, which `dependency_rules` checks):
//! * [`model`]: the vocabulary: statuses, end reasons, the request and its
//!   validation, outcomes, test cases;
//! * [`config`]: the one typed configuration;
//! * [`runtimes`]: the language table (data, not code);
//! * [`db`]: queue, listener, log writer, container bookkeeping, migrations;
//! * [`rest`]: the same tables through a Supabase project's Data API, as one
//!   user (the CLI on a hosted project);
//! * [`sandbox`]: the container policy and the Docker engine driver;
//! * [`output`]: raw bytes to log lines (splitting, UTF-8, output cap);
//! * [`exec`]: one session from claim to outcome;
//! * [`validate`]: test reports to validation results;
//! * [`worker`]: the event loop that claims and supervises sessions;
//! * [`images`]: builds the runtime images;
//! * [`dev`]: `execbox dev`, the whole stack on one machine;
//! * [`doctor`]: `execbox doctor`, what a deployment is connected to;
//! * [`api`]: the HTTP/WebSocket API (`execbox serve`);
//! * [`metrics`]: process metrics for `/metrics`;
//! * [`bench`]: `execbox bench`, the benchmark harness;
//! * [`cli`]: the command line (the binary is a thin shell around it).

pub mod api;
pub(crate) mod bench;
pub mod cli;
pub mod config;
pub mod db;
pub mod dev;
pub(crate) mod doctor;
pub mod exec;
pub(crate) mod images;
pub mod metrics;
pub mod model;
pub(crate) mod output;
pub(crate) mod rest;
pub mod runtimes;
pub mod sandbox;
pub mod server;
pub(crate) mod validate;
pub mod worker;

#[cfg(test)]
mod dependency_rules;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// An error and all its causes on one line, for logs.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let msg = c.to_string();
        if !s.contains(&msg) {
            s.push_str(": ");
            s.push_str(&msg);
        }
        cur = c.source();
    }
    s
}
