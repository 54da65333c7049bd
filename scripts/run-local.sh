#!/usr/bin/env bash
# Runs execbox on this machine: a local PostgreSQL with the Supabase stand-in
# and execbox's migrations (data kept in .execbox/pg between runs), the
# runtime images, and a worker. Installs what is missing on Debian.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$EXECBOX_ROOT"

port=${EXECBOX_PG_PORT:-54322}
ensure_postgres
ensure_debootstrap
ensure_docker

log "building execbox (release)"
cargo build --locked --release --quiet
bin=./target/release/execbox
"$bin" images build

start_cluster "$EXECBOX_STATE/pg" "$port"
export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
EXECBOX_LOG=warn "$bin" migrate --supabase-fixture

cat >&2 <<MSG

==> execbox worker is starting against $DATABASE_URL
    Try it from another terminal:

    psql "$DATABASE_URL" <<'SQL'
    insert into auth.users (id) values ('00000000-0000-0000-0000-000000000001') on conflict do nothing;
    insert into backend_execution_sessions (user_id, language, code)
      values ('00000000-0000-0000-0000-000000000001', 'python', 'print("hello from execbox")')
      returning id;
    SQL
    psql "$DATABASE_URL" -c "select status, exit_code, error from backend_execution_sessions order by created_at desc limit 1" \\
                         -c "select seq, stream, message from execution_logs order by id desc limit 5"

    Ctrl-C stops the worker (running sessions get a grace period).

MSG
exec "$bin" worker
