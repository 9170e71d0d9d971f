#!/usr/bin/env bash
# Ensures what bosun needs before it starts or its tests run: Node.js 22 or newer (Node 24 from the
# npm registry into .node/ when the machine's is older), the locked dependencies in node_modules
# installed by that Node (scripts/runtime.sh), a Docker engine that answers and, when SANDBOX_IMAGE
# is the default, the locally built sandbox image. Idempotent and quick when everything is already
# there. On Debian/Ubuntu as root it installs and starts the engine itself; anywhere else it says
# how to get one.
#
# --with-browser (passed by `npm test`): also ensure Debian's Chromium at /usr/bin/chromium, which
# the dashboard test drives headless, and python3, which the Python example's test runs. `npm start`
# does not pass it: serving the dashboard needs no browser.
#
# --with-cluster (passed by `npm test`): also ensure Debian's redis-server and PostgreSQL (15 on
# Debian 12; binaries in /usr/lib/postgresql/<version>/bin), which the cluster tests run on
# loopback. They are installed, never started: each test starts its own throw-away server on a free
# port with a temporary data directory (test/helpers/cluster-servers.ts), so nothing here listens
# or keeps data.
set -euo pipefail

with_browser=0
with_cluster=0
for arg in "$@"; do
  case "$arg" in
    --with-browser) with_browser=1 ;;
    --with-cluster) with_cluster=1 ;;
    *) printf '[bosun setup] error: unknown option %s (known: --with-browser, --with-cluster)\n' "$arg" >&2; exit 2 ;;
  esac
done

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
default_image="bosun-sandbox:latest"
image="${SANDBOX_IMAGE:-$default_image}"
dockerd_log="${BOSUN_DOCKERD_LOG:-/var/log/bosun-dockerd.log}"
lock_file="/tmp/bosun-setup.lock"

say() { printf '[bosun setup] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

wait_for_engine() {
  local seconds="$1"
  for _ in $(seq 1 $((seconds * 4))); do
    engine_answers && return 0
    sleep 0.25
  done
  return 1
}

can_use_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

apt_install() {
  say "installing $* with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -f /tmp/bosun-apt-updated ]; then
    apt-get update -qq >/dev/null && touch /tmp/bosun-apt-updated
  fi
  apt-get install -y -qq "$@" >/dev/null
}

start_dockerd() {
  local driver
  for driver in overlay2 vfs; do
    say "starting dockerd (storage driver $driver), log in $dockerd_log"
    mkdir -p "$(dirname "$dockerd_log")"
    # 9>&- : the daemon must not inherit (and so hold forever) this script's lock.
    setsid nohup dockerd --storage-driver="$driver" --iptables=false --bridge=none \
      >>"$dockerd_log" 2>&1 </dev/null 9>&- &
    local pid=$!
    if wait_for_engine 60; then
      say "Docker engine is up (pid $pid, storage driver $driver)"
      return 0
    fi
    say "dockerd with $driver did not answer; see $dockerd_log"
    kill "$pid" 2>/dev/null || true
    sleep 2
    rm -f /var/run/docker.pid
  done
  return 1
}

ensure_engine() {
  if engine_answers; then
    return 0
  fi
  if [ -n "${DOCKER_HOST:-}" ]; then
    die "DOCKER_HOST=$DOCKER_HOST does not answer 'docker info'; start that engine or unset DOCKER_HOST"
  fi
  if ! can_use_apt; then
    die "no Docker engine answers 'docker info'. Install Docker (https://docs.docker.com/engine/install/) and start it, or point DOCKER_HOST at one; on Debian/Ubuntu as root this script installs and starts it for you"
  fi
  if ! command -v dockerd >/dev/null 2>&1; then
    apt_install docker.io
  fi
  if pgrep -x dockerd >/dev/null 2>&1; then
    say "dockerd is running but not answering yet; waiting"
    wait_for_engine 60 && return 0
    die "dockerd is running but 'docker info' does not answer; see $dockerd_log"
  fi
  start_dockerd || die "could not start dockerd; see $dockerd_log"
}

static_busybox() {
  local candidate
  for candidate in /bin/busybox /usr/bin/busybox; do
    if [ -x "$candidate" ] && ! ldd "$candidate" >/dev/null 2>&1; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

ensure_image() {
  if [ "$image" != "$default_image" ]; then
    docker image inspect "$image" >/dev/null 2>&1 ||
      say "warning: SANDBOX_IMAGE=$image is not present in the engine; pull or build it before starting runs"
    return 0
  fi
  local context="$here/docker/sandbox"
  local version
  version="$(cat "$context/Dockerfile" "$context/passwd" "$context/group" | sha256sum | cut -c1-16)"
  local have
  have="$(docker image inspect --format '{{ index .Config.Labels "bosun.image.version" }}' "$image" 2>/dev/null || true)"
  if [ "$have" = "$version" ]; then
    return 0
  fi
  local busybox
  if ! busybox="$(static_busybox)"; then
    can_use_apt || die "building $image needs a static busybox (Debian package busybox-static)"
    apt_install busybox-static
    busybox="$(static_busybox)" || die "busybox-static is installed but no static busybox was found"
  fi
  say "building sandbox image $image (version $version) from $busybox"
  local build_dir
  build_dir="$(mktemp -d)"
  trap 'rm -rf "$build_dir"' RETURN
  cp "$context/Dockerfile" "$context/passwd" "$context/group" "$build_dir/"
  cp "$busybox" "$build_dir/busybox"
  DOCKER_BUILDKIT=0 docker build --quiet --label "bosun.image.version=$version" -t "$image" "$build_dir" >/dev/null 2>"$build_dir/build.err" ||
    { cat "$build_dir/build.err" >&2; die "building $image failed"; }
  say "built $image"
}

chromium_path="/usr/bin/chromium"

ensure_browser() {
  if [ -x "$chromium_path" ]; then
    return 0
  fi
  if ! can_use_apt; then
    say "warning: $chromium_path is missing and apt-get is not usable here; the dashboard test will fail until Debian's chromium package (or a Chromium at that path) is installed"
    return 0
  fi
  apt_install chromium
  [ -x "$chromium_path" ] || die "the chromium package is installed but $chromium_path is not there"
  say "installed $("$chromium_path" --version 2>/dev/null || echo chromium)"
}

ensure_python() {
  if command -v python3 >/dev/null 2>&1; then
    return 0
  fi
  if ! can_use_apt; then
    say "warning: python3 is missing and apt-get is not usable here; the test of examples/python/fix_loop.py will fail until it is installed"
    return 0
  fi
  apt_install python3
  say "installed $(python3 --version 2>&1)"
}

# Any PostgreSQL server Debian installed (the helper prefers 15, else takes the newest).
postgres_installed() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; }

# Debian's packages start their own service on install where an init system runs (a redis-server
# and a PostgreSQL cluster on the default ports): the tests start their own servers and need
# nothing of them, so a service started here is stopped again (it is not ours to keep running).
stop_started_service() {
  local name="$1"
  if command -v service >/dev/null 2>&1 && service "$name" status >/dev/null 2>&1; then
    say "stopping the $name service its package started (the tests start their own)"
    service "$name" stop >/dev/null 2>&1 || true
  fi
}

ensure_cluster_servers() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  postgres_installed || missing+=(postgresql)
  if [ "${#missing[@]}" = 0 ]; then
    return 0
  fi
  if ! can_use_apt; then
    say "warning: ${missing[*]} missing and apt-get is not usable here (needs root on Debian/Ubuntu); the cluster tests will fail until Debian's redis-server and postgresql (binaries in /usr/lib/postgresql/<version>/bin) are installed"
    return 0
  fi
  apt_install "${missing[@]}"
  for package in "${missing[@]}"; do
    case "$package" in
      redis-server) stop_started_service redis-server ;;
      postgresql) stop_started_service postgresql ;;
    esac
  done
  command -v redis-server >/dev/null 2>&1 || die "the redis-server package is installed but redis-server is not on PATH"
  postgres_installed || die "the postgresql package is installed but no /usr/lib/postgresql/<version>/bin/initdb is there"
  say "installed ${missing[*]}"
}

# shellcheck source=scripts/runtime.sh
source "$here/scripts/runtime.sh"
bosun_use_node
bosun_ensure_deps

exec 9>"$lock_file"
flock -w 900 9 || die "another set-up has held $lock_file for 15 minutes; is one stuck?"

ensure_engine
ensure_image
if [ "$with_browser" = 1 ]; then
  ensure_browser
  ensure_python
fi
if [ "$with_cluster" = 1 ]; then
  ensure_cluster_servers
fi
