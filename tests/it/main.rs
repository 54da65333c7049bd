//! execbox's integration tests: one binary, real PostgreSQL, real Docker.
//! Run through `scripts/test.sh`, which prepares both on a fresh machine.

mod support;

mod api;
mod cases;
mod cli;
mod fleet;
mod interactive;
mod judge0;
mod keys;
mod languages;
mod migrate;
mod pgtap;
mod piston_cli;
mod playground;
mod queue;
mod realtime;
mod rls;
mod run;
mod sandbox;
mod schemathesis;
mod supabase_cli;
mod supabase_js;
mod tls;
mod types;
mod validation;
mod warm;
