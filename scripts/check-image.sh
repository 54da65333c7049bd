#!/usr/bin/env bash
# Builds execbox's own container image from the Dockerfile and checks that it
# works: it prints its version and migrates a fresh database. Part of
# scripts/test.sh (the deployment artifact is verified, not just written).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$EXECBOX_ROOT"

base=${EXECBOX_BASE_IMAGE:-}
if [ -z "$base" ]; then
  if docker image inspect debian:bookworm-slim >/dev/null 2>&1; then base=debian:bookworm-slim; else base=execbox/debian-base:bookworm; fi
fi
# A TLS-intercepting proxy's CA (as on build machines without direct egress).
ca=""
for f in /usr/local/share/ca-certificates/*.crt; do [ -f "$f" ] && ca+="$(cat "$f")"$'\n'; done

log "docker build -t execbox:check (FROM $base)"
docker build -q --build-arg BASE="$base" --build-arg CA_CERTS="$ca" -t execbox:check . >/dev/null

version=$(docker run --rm execbox:check --version)
log "image runs: $version"
[ "$version" = "execbox $(grep -m1 '^version' Cargo.toml | cut -d'"' -f2)" ] || die "unexpected version output: $version"

# Migrate a scratch database of the tests' cluster from inside the image.
url=${EXECBOX_TEST_PG:-postgres://postgres@127.0.0.1:${EXECBOX_TEST_PG_PORT:-54329}/postgres}
db="execbox_image_check_$$"
psql -X -q "$url" -c "create database $db"
trap 'psql -X -q "$url" -c "drop database if exists $db" >/dev/null 2>&1 || true' EXIT
out=$(docker run --rm --network host -e EXECBOX_LOG=warn -e DATABASE_URL="${url%/*}/$db" execbox:check migrate --supabase-fixture)
echo "$out" | grep -q "applied" || die "migrate from the image failed: $out"
log "image migrates a database: $out"

# The compose example: valid, and it runs the image with the Docker socket.
command -v docker-compose >/dev/null || apt_install docker-compose
export DATABASE_URL="postgres://user:secret@db.example.invalid:5432/postgres"
docker-compose -f docker-compose.yml config -q
docker tag execbox:check execbox:latest
docker-compose -f docker-compose.yml run --rm --no-deps worker --version | grep -q "^execbox " \
  || die "docker-compose could not run the worker image"
docker-compose -f docker-compose.yml run --rm --no-deps --entrypoint sh worker -c 'test -S /var/run/docker.sock' \
  || die "the compose service does not get the Docker socket"
docker-compose -f docker-compose.yml down >/dev/null 2>&1 || true
log "docker-compose.yml is valid and runs the image with the Docker socket"
