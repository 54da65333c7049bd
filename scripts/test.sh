#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a warm one: installs what is
# missing (Docker engine, PostgreSQL, pgTAP, debootstrap), starts dockerd and
# a test PostgreSQL cluster when none runs, builds the runtime images (cached
# after the first time), then runs every test against the real things.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$EXECBOX_ROOT"

ensure_postgres
ensure_debootstrap
ensure_docker

log "building execbox"
cargo build --locked --quiet
log "building runtime images"
./target/debug/execbox images build

EXECBOX_TEST_PG=$(scripts/test-postgres.sh)
export EXECBOX_TEST_PG
log "running tests (database cluster: $EXECBOX_TEST_PG)"
cargo test --locked -- --test-threads "${EXECBOX_TEST_THREADS:-6}"
