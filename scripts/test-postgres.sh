#!/usr/bin/env bash
# Starts (or reuses) the PostgreSQL cluster the integration tests use and
# prints its admin URL. The tests create a fresh database per test in it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
port=${EXECBOX_TEST_PG_PORT:-54329}
ensure_postgres >&2
start_cluster "$EXECBOX_STATE/test-pg" "$port" >&2
echo "postgres://postgres@127.0.0.1:$port/postgres"
