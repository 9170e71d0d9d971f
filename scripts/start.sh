#!/usr/bin/env bash
# `npm start`: sets up what is missing (scripts/setup.sh: Node.js, node_modules, Docker engine,
# sandbox image), compiles src/ to dist/ when dist/ is missing or older than the sources, then
# replaces itself with `node dist/main.js`, so that a signal sent to npm reaches bosun directly
# (npm passes SIGINT and SIGTERM on to its child; a shell in between would not).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/runtime.sh
source scripts/runtime.sh
bosun_use_node
bash scripts/setup.sh
bosun_ensure_build
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-$bosun_malloc_arena_max}"
exec node "${bosun_node_flags[@]}" dist/main.js "$@"
