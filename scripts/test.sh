#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a warm one: the lint gate
# (rustfmt, clippy with warnings as errors), then installs what is missing
# (Docker engine, gVisor's runsc, PostgreSQL, pgTAP, PgBouncer, debootstrap, Chromium, the
# JavaScript and Python tools the tests drive), starts dockerd and a test
# PostgreSQL cluster when none runs, builds the runtime images (cached after
# the first time), runs every test against the real things, then builds
# execbox's own container image and checks it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$EXECBOX_ROOT"

log "lint gate: cargo fmt --check, cargo clippy -D warnings"
cargo fmt --all -- --check
cargo clippy --locked --all-targets --quiet -- -D warnings

ensure_postgres
ensure_pgbouncer
ensure_debootstrap
ensure_docker
ensure_runsc
ensure_js_tools
ensure_web_tools
ensure_chromium
ensure_py_tools

log "building execbox"
cargo build --locked --quiet
log "building runtime images"
./target/debug/execbox images build
# A second engine, with Python only: the suite's fleet of two hosts.
ensure_docker2
ensure_docker2_images execbox/python:3.11
export EXECBOX_TEST_DOCKER2="unix://$DOCKER2_SOCKET"

# Containers of earlier test runs that died mid-test (their test database is
# never visited again, so no worker would reap them), and those tests start
# directly (label execbox.test), on both engines.
for engine in docker docker2; do
  stale=$($engine ps -a --filter label=execbox.managed=true --format '{{.ID}} {{.Label "execbox.scope"}}' | awk '$2 ~ /^execbox_test_/ {print $1}')
  [ -z "$stale" ] || $engine rm -f $stale >/dev/null
  stale=$($engine ps -aq --filter label=execbox.test)
  [ -z "$stale" ] || $engine rm -f $stale >/dev/null
done

# The tests start their own PostgreSQL cluster (in target/) unless
# EXECBOX_TEST_PG names one.
log "running tests"
cargo test --locked -- --test-threads "${EXECBOX_TEST_THREADS:-6}"

# The deployment artifact: execbox's own image builds and works.
scripts/check-image.sh
