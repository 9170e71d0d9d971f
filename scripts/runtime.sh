# shellcheck shell=bash
# The Node.js that bosun runs on, its installed dependencies and its build: sourced (not run) by
# scripts/setup.sh, start.sh, test.sh, build.sh, with-node.sh and .ci/run, so that `npm start`,
# `npm test` and CI all use the same Node and the same node_modules, set up on a fresh clone.
#
# - bosun_use_node: bosun needs Node.js 22 or newer (package.json `engines`). When the machine's
#   `node` is older, Node 24 LTS is installed from the npm registry (the `node-<os>-<arch>@24`
#   package, which ships the binary and the C headers) into .node/ (gitignored), and this shell's
#   PATH and npm_config_nodedir point at it, so native addons (better-sqlite3) build against it.
# - bosun_ensure_deps: runs `npm ci` when node_modules is missing, was installed from another
#   package-lock.json, or by another Node major (another native ABI, process.versions.modules):
#   an addon compiled for Node 20's ABI fails to load in Node 24, or crashes.
# - bosun_ensure_build / bosun_build: compiles src/ to dist/ with tsc (tsconfig.build.json) and
#   copies the dashboard's static files next to the compiled dashboard module, when dist/ is
#   missing or older than any source, config or lockfile.

bosun_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bosun_node_dir="$bosun_root/.node"
# The oldest Node bosun supports, and the major installed when the machine's is older.
bosun_node_min_major=22
bosun_node_install_major=24

# The V8 flags bosun runs with (scripts/start.sh; the README's supervisor examples repeat them).
# V8 grows the young generation to 32 MB per semi-space while modules load and keeps those pages:
# about 20 MB of idle RSS, and some 90 MB more under load. Capped at 1 MB, a fresh bosun idles
# under 100 MB and a loaded one stays near 220 MB, for about 10 % more CPU per GraphQL request
# (bench/results: the idle-rss case and its notes).
bosun_node_flags=(--max-semi-space-size=1)
# glibc gives each thread that calls malloc an arena of its own (up to 8 per core); V8's helper
# threads then leave a few MB touched that bosun's one JavaScript thread does not need.
bosun_malloc_arena_max=2

bosun_say() { printf '[bosun setup] %s\n' "$*" >&2; }
bosun_die() {
  bosun_say "error: $*"
  exit 1
}

# The major version of the node binary $1, or 0 when it does not run (`--version` answers before
# Node starts its JavaScript engine, so this costs milliseconds).
bosun_node_major() {
  local version
  version="$("$1" --version 2>/dev/null)" || version=v0
  version="${version#v}"
  echo "${version%%.*}"
}

# Takes a lock private to this checkout on file descriptor 8 (npm ci and tsc write into it).
bosun_lock_checkout() {
  local lock
  lock="${TMPDIR:-/tmp}/bosun-checkout-$(printf '%s' "$bosun_root" | cksum | cut -d' ' -f1).lock"
  exec 8>"$lock"
  flock -w 900 8 || bosun_die "another set-up of $bosun_root has held $lock for 15 minutes; is one stuck?"
}

bosun_unlock_checkout() { exec 8>&-; }

bosun_install_node() {
  local os arch
  case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    *) bosun_die "no Node.js $bosun_node_install_major package for $(uname -s); install Node.js $bosun_node_min_major or newer yourself" ;;
  esac
  case "$(uname -m)" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) bosun_die "no Node.js $bosun_node_install_major package for $(uname -m); install Node.js $bosun_node_min_major or newer yourself" ;;
  esac
  command -v npm >/dev/null 2>&1 || bosun_die "npm is needed to install Node.js $bosun_node_install_major"
  local package="node-$os-$arch@$bosun_node_install_major"
  bosun_say "node $(node --version 2>/dev/null || echo '(none)') is older than $bosun_node_min_major: installing $package from the npm registry into .node/"
  # Unpacked beside .node/ and renamed into place, so that an interrupted install leaves nothing
  # half-done (and its leftovers are removed by the next one).
  rm -rf "$bosun_root"/.node-install.*
  local work
  work="$(mktemp -d "$bosun_root/.node-install.XXXXXX")"
  if ! (cd "$work" && npm pack "$package" --loglevel=error >/dev/null) || ! tar -xzf "$work"/*.tgz -C "$work"; then
    rm -rf "$work"
    bosun_die "could not fetch $package from the npm registry"
  fi
  local major
  major="$(bosun_node_major "$work/package/bin/node")"
  if [ "$major" != "$bosun_node_install_major" ] || [ ! -f "$work/package/include/node/node.h" ]; then
    rm -rf "$work"
    bosun_die "$package did not unpack to a Node.js $bosun_node_install_major binary with its headers"
  fi
  rm -rf "$bosun_node_dir"
  mv "$work/package" "$bosun_node_dir"
  rm -rf "$work"
  bosun_say "installed Node.js $("$bosun_node_dir/bin/node" --version) in .node/"
}

bosun_use_node() {
  # Chosen already by the script that started this one.
  if [ "${npm_config_nodedir:-}" = "$bosun_node_dir" ] && [[ "$PATH" == "$bosun_node_dir/bin:"* ]] && [ -x "$bosun_node_dir/bin/node" ]; then
    return 0
  fi
  local machine_node
  machine_node="$(command -v node || true)"
  if [ -n "$machine_node" ] && [ "$machine_node" != "$bosun_node_dir/bin/node" ] &&
    [ "$(bosun_node_major "$machine_node")" -ge "$bosun_node_min_major" ]; then
    return 0
  fi
  if [ "$(bosun_node_major "$bosun_node_dir/bin/node")" -lt "$bosun_node_min_major" ]; then
    bosun_lock_checkout
    # Another process may have installed it while this one waited.
    if [ "$(bosun_node_major "$bosun_node_dir/bin/node")" -lt "$bosun_node_min_major" ]; then
      bosun_install_node
    fi
    bosun_unlock_checkout
  fi
  case "$PATH" in
    "$bosun_node_dir/bin:"*) ;;
    *) export PATH="$bosun_node_dir/bin:$PATH" ;;
  esac
  # node-gyp builds native addons against the headers of the Node that will load them.
  export npm_config_nodedir="$bosun_node_dir"
}

# What node_modules was installed for: the lockfile, and the Node major and platform that native
# addons were built for (a Node major keeps one native ABI, process.versions.modules).
bosun_install_key() {
  local lock_hash
  lock_hash="$(sha256sum "$bosun_root/package-lock.json" | cut -c1-16)"
  echo "lock=$lock_hash node=$(bosun_node_major node) platform=$(uname -s)-$(uname -m)"
}

bosun_ensure_deps() {
  local stamp="$bosun_root/node_modules/.bosun-install"
  local want
  want="$(bosun_install_key)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  bosun_lock_checkout
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    if [ -f "$stamp" ]; then
      bosun_say "node_modules was installed for '$(cat "$stamp")', now '$want': reinstalling with npm ci"
    else
      bosun_say "installing the locked dependencies with npm ci (node $(node --version))"
    fi
    (cd "$bosun_root" && npm ci --no-audit --no-fund) >&2 || bosun_die "npm ci failed"
    # The one native addon: a binary for another ABI would only fail once bosun opens its database.
    (cd "$bosun_root" && node -e "new (require('better-sqlite3'))(':memory:').close()") ||
      bosun_die "better-sqlite3 does not load in node $(node --version) after npm ci"
    printf '%s\n' "$want" >"$stamp"
  fi
  bosun_unlock_checkout
}

# Files whose change makes dist/ stale (a deleted source changes its folder's mtime).
bosun_build_inputs=(src tsconfig.json tsconfig.build.json package.json package-lock.json scripts/runtime.sh)

bosun_build() {
  local dist="$bosun_root/dist"
  # Marks when the build began: a source saved while tsc runs is newer than it, so the next start builds again.
  local began
  began="$(mktemp)"
  bosun_say "building dist/ with $("$bosun_root/node_modules/.bin/tsc" --version)"
  rm -rf "$dist"
  (cd "$bosun_root" && node_modules/.bin/tsc -p tsconfig.build.json) || {
    rm -f "$began"
    bosun_die "tsc -p tsconfig.build.json failed"
  }
  # src/dashboard/dashboard-assets.ts serves the page's files from the folder next to its own module.
  cp -R "$bosun_root/src/dashboard/public" "$dist/dashboard/public"
  mv "$began" "$dist/.build-stamp"
}

bosun_ensure_build() {
  local stamp="$bosun_root/dist/.build-stamp"
  if [ -f "$stamp" ]; then
    local newer
    newer="$(cd "$bosun_root" && find "${bosun_build_inputs[@]}" -newer "$stamp" -print -quit)"
    [ -z "$newer" ] && return 0
    bosun_say "$newer changed since the last build"
  fi
  bosun_lock_checkout
  bosun_build
  bosun_unlock_checkout
}
