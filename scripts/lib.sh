# Shared shell helpers for execbox's scripts: make a fresh Debian machine
# ready (Docker engine, PostgreSQL binaries, debootstrap), without doing
# anything that is already done. Source it; do not run it.

EXECBOX_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXECBOX_STATE=${EXECBOX_STATE:-$EXECBOX_ROOT/.execbox}
mkdir -p "$EXECBOX_STATE"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root for: $* (run as root, or install sudo)"
  fi
}

apt_updated=""
apt_install() {
  command -v apt-get >/dev/null || die "missing $* and this is not a Debian-like system: install them by hand"
  if [ -z "$apt_updated" ]; then
    log "apt-get update"
    as_root apt-get update -qq
    apt_updated=1
  fi
  log "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# (The PostgreSQL cluster itself is started by execbox: src/dev/cluster.rs.)
pg_bindir() {
  local d
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && [ -x "$(dirname "$(command -v initdb)")/postgres" ]; then
    dirname "$(command -v initdb)"; return
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && { echo "$d"; return; }
  done
  return 1
}

# PostgreSQL server binaries (any version >= 15), pgTAP and pg_prove (what
# `supabase test db` runs), plpgsql_check (what `supabase db lint` needs), psql.
ensure_postgres() {
  if ! pg_bindir >/dev/null || ! command -v psql >/dev/null; then
    apt_install postgresql-15 postgresql-client-15
  fi
  local bin; bin=$(pg_bindir) || die "no PostgreSQL server binaries found"
  local ver; ver=$("$bin/postgres" --version | grep -oE '[0-9]+' | head -1)
  local missing=()
  [ -f "/usr/share/postgresql/$ver/extension/pgtap.control" ] || missing+=("postgresql-$ver-pgtap")
  [ -f "/usr/share/postgresql/$ver/extension/plpgsql_check.control" ] || missing+=("postgresql-$ver-plpgsql-check")
  command -v pg_prove >/dev/null || missing+=(libtap-parser-sourcehandler-pgtap-perl)
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

# PgBouncer (Debian's), which the tests put in front of their cluster, in
# session and transaction mode (tests/it/pooler.rs starts their own, as the
# postgres user, on a free port). The package's own service (port 6432) is
# not wanted: stopped and disabled, when it was started at all.
ensure_pgbouncer() {
  command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || apt_install pgbouncer
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    if systemctl is-enabled --quiet pgbouncer 2>/dev/null || systemctl is-active --quiet pgbouncer 2>/dev/null; then
      log "stopping and disabling the pgbouncer service (the tests start their own)"
      as_root systemctl disable --now --quiet pgbouncer
    fi
  elif [ -f /run/postgresql/pgbouncer.pid ] && [ -x /etc/init.d/pgbouncer ]; then
    log "stopping the pgbouncer service (the tests start their own)"
    as_root /etc/init.d/pgbouncer stop >/dev/null || true
    command -v update-rc.d >/dev/null && as_root update-rc.d pgbouncer disable >/dev/null 2>&1 || true
  fi
}

# `npm ci` in DIR when its packages are missing or older than its lock file
# (Node.js and npm from Debian when missing); WHAT says what they are.
npm_ci_when_stale() {
  local dir="$EXECBOX_ROOT/$1" what=$2
  command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
  local stamp="$dir/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ]; then
    log "npm ci ($1: $what)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# The JavaScript tools the tests drive (supabase-js, the Supabase CLI,
# PostgREST 12 as a static binary,
# postgres-meta, Piston's CLI's libraries, playwright-core, the MCP SDK), pinned by
# tests/js/package-lock.json.
ensure_js_tools() {
  npm_ci_when_stale tests/js "supabase-js, the Supabase CLI, PostgREST, postgres-meta, playwright-core, the MCP SDK"
}

# The playground's build tools (esbuild, the editor's packages), pinned by
# web/package-lock.json: the suite rebuilds web/dist/ and compares.
ensure_web_tools() {
  npm_ci_when_stale web "esbuild and the playground's editor"
}

# Debian's Chromium, which the browser tests drive (a browser download
# does not work without internet).
ensure_chromium() {
  [ -x /usr/bin/chromium ] || apt_install chromium
}

# A Python virtualenv in tests/py/.venv with the Python tools the tests
# drive (Judge0's SDK, schemathesis, the MCP SDK), pinned by tests/py/requirements.txt.
ensure_py_tools() {
  python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv python3-pip
  local venv="$EXECBOX_ROOT/tests/py/.venv" req="$EXECBOX_ROOT/tests/py/requirements.txt"
  if [ ! -f "$venv/.installed" ] || [ "$req" -nt "$venv/.installed" ]; then
    log "pip install (tests/py: the Judge0 SDK, schemathesis, the MCP SDK)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    touch "$venv/.installed"
  fi
}

ensure_debootstrap() {
  command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || apt_install debootstrap
}

# A second Docker engine beside the first, for the suite's two-engine test
# (a fleet of two hosts on one machine): its own data root, exec root,
# pidfile and socket, no bridge network (sessions have none), in a network
# namespace of its own: a dockerd with --bridge=none deletes any docker0
# it can see, which would be the first engine's.
DOCKER2_SOCKET=${EXECBOX_DOCKER2_SOCKET:-/run/execbox-docker2.sock}
DOCKER2_ROOT=${EXECBOX_DOCKER2_ROOT:-/var/lib/execbox-docker2}
DOCKER2_NETNS=execbox-docker2

docker2() { docker -H "unix://$DOCKER2_SOCKET" "$@"; }

ensure_docker2() {
  if docker2 info >/dev/null 2>&1; then return; fi
  command -v ip >/dev/null || [ -x /usr/sbin/ip ] || apt_install iproute2
  [ -e "/run/netns/$DOCKER2_NETNS" ] || as_root ip netns add "$DOCKER2_NETNS"
  as_root ip -n "$DOCKER2_NETNS" link set lo up
  # A daemon killed (the suite kills this one) leaves its pidfile and its
  # containerd's, and their pids may linger as zombies until they are
  # reaped: dockerd would refuse to start, or wait on a containerd that is
  # gone, while those pids "run".
  local pidfile pid state
  for pidfile in "$DOCKER2_ROOT/dockerd.pid" "$DOCKER2_ROOT/exec/containerd/containerd.pid"; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile" 2>/dev/null)
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
    if [ -z "$state" ] || [ "$state" = Z ]; then as_root rm -f "$pidfile"; fi
  done
  log "starting a second dockerd (socket $DOCKER2_SOCKET, network namespace $DOCKER2_NETNS, log: $EXECBOX_STATE/dockerd2.log)"
  as_root mkdir -p "$DOCKER2_ROOT/data" "$DOCKER2_ROOT/exec"
  # nsenter, not `ip netns exec`: that one also remounts /sys, hiding the
  # cgroup filesystem from dockerd.
  as_root sh -c "nohup nsenter --net='/run/netns/$DOCKER2_NETNS' dockerd --data-root '$DOCKER2_ROOT/data' \
      --exec-root '$DOCKER2_ROOT/exec' --pidfile '$DOCKER2_ROOT/dockerd.pid' -H 'unix://$DOCKER2_SOCKET' \
      --bridge=none --iptables=false >'$EXECBOX_STATE/dockerd2.log' 2>&1 &"
  wait_for_engine docker2 "$EXECBOX_STATE/dockerd2.log" "the second dockerd"
}

# gVisor (Debian's runsc) registered as the OCI runtime "runsc" with every
# engine reading /etc/docker/daemon.json (both of the suite's), with
# --network=none (containers have no network; without it gVisor refuses to
# start them in the host's network namespace). Engines already running
# reload their runtimes on SIGHUP.
ensure_runsc() {
  command -v runsc >/dev/null || apt_install runsc
  local conf=/etc/docker/daemon.json
  if ! as_root test -f "$conf" || ! as_root grep -q '"runsc"' "$conf"; then
    log "registering runsc (gVisor) in $conf"
    as_root mkdir -p /etc/docker
    as_root python3 - "$conf" <<'PY'
import json, os, sys
path = sys.argv[1]
conf = json.load(open(path)) if os.path.exists(path) else {}
conf.setdefault("runtimes", {})["runsc"] = {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none"]}
json.dump(conf, open(path, "w"), indent=2)
PY
  fi
  local pid
  for pid in $(pidof dockerd || true); do
    if ! docker_of_pid_has_runsc "$pid"; then as_root kill -HUP "$pid"; fi
  done
  local i
  for i in $(seq 1 20); do
    docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"runsc"' && return
    sleep 0.5
  done
  die "the Docker engine did not pick up runsc from $conf"
}

# Whether the engine of dockerd PID already lists runsc (unknown: no).
docker_of_pid_has_runsc() {
  local sock
  sock=$(tr '\0' ' ' <"/proc/$1/cmdline" | grep -o 'unix://[^ ]*' | head -1)
  docker ${sock:+-H "$sock"} info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"runsc"'
}

# Waits up to 30 s for the engine that CLI ($1: docker or docker2) talks to;
# dies with the tail of its daemon's log ($2) when it never answers.
wait_for_engine() {
  local i
  for i in $(seq 1 60); do
    "$1" info >/dev/null 2>&1 && return
    sleep 0.5
  done
  tail -20 "$2" >&2 || true
  die "$3 did not come up"
}

# The second engine's images: the first engine's, built from the local base
# image, copied over (no registry, and the second engine has no network).
ensure_docker2_images() {
  local image
  for image in "$@"; do
    if [ "$(docker image inspect -f '{{.Id}}' "$image")" != "$(docker2 image inspect -f '{{.Id}}' "$image" 2>/dev/null)" ]; then
      log "copying $image to the second engine"
      docker save "$image" | docker2 load >/dev/null
    fi
  done
}

# A Docker engine that answers; installs Debian's docker.io and starts
# dockerd in the background when none does.
ensure_docker() {
  if docker info >/dev/null 2>&1; then return; fi
  if ! command -v dockerd >/dev/null && [ ! -x /usr/sbin/dockerd ]; then
    apt_install docker.io
  fi
  if ! docker info >/dev/null 2>&1; then
    log "starting dockerd (log: $EXECBOX_STATE/dockerd.log)"
    as_root sh -c "nohup dockerd >'$EXECBOX_STATE/dockerd.log' 2>&1 &"
    wait_for_engine docker "$EXECBOX_STATE/dockerd.log" dockerd
  fi
}

