#!/usr/bin/env bash
# `npm test [-- vitest arguments]`: sets up what is missing (scripts/setup.sh --with-browser
# --with-cluster: Node.js, node_modules, Docker engine, sandbox image, Chromium, redis-server and
# PostgreSQL), then runs the whole suite (every Vitest project) on that Node.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/runtime.sh
source scripts/runtime.sh
bosun_use_node
bash scripts/setup.sh --with-browser --with-cluster
exec node_modules/.bin/vitest run "$@"
