//! execbox's integration tests: one binary, real PostgreSQL, real Docker.
//! Run through `scripts/test.sh`, which prepares both on a fresh machine.

// The tests write and read as a frontend or an operator would, on the
// direct address: tokio-postgres' own (preparing) methods are fine here;
// what goes through a pooler is execbox's code, which `clippy.toml` holds to
// unnamed statements.
#![allow(clippy::disallowed_methods)]

mod gateway;
mod jwt;
mod support;

mod addresses;
mod api;
mod api_auth;
mod api_operations;
mod cases;
mod cli;
mod data_api;
mod fleet;
mod hosted_cli;
mod interactive;
mod isolation;
mod judge0;
mod keys;
mod languages;
mod mcp;
mod migrate;
mod overload;
mod pgtap;
mod piston_api;
mod piston_cli;
mod playground;
mod pooler;
mod queue;
mod realtime;
mod rls;
mod run;
mod sandbox;
mod schemathesis;
mod seed_api;
mod supabase_cli;
mod supabase_js;
mod tls;
mod types;
mod validation;
mod warm;
