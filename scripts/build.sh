#!/usr/bin/env bash
# `npm run build [-- --if-stale]`: compiles src/ to dist/ now, or with --if-stale only when dist/
# is missing or older than the sources (as `npm start` does by itself).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/runtime.sh
source scripts/runtime.sh
bosun_use_node
bosun_ensure_deps
case "${1:-}" in
  --if-stale) bosun_ensure_build ;;
  "")
    bosun_lock_checkout
    bosun_build
    bosun_unlock_checkout
    ;;
  *) bosun_die "unknown option $1 (known: --if-stale)" ;;
esac
