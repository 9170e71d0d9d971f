#!/usr/bin/env bash
# `npm test [-- vitest arguments]`: sets up what is missing (scripts/setup.sh --with-browser:
# Node.js, node_modules, Docker engine, sandbox image, Chromium), then runs the whole suite (both
# Vitest projects) on that Node.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/runtime.sh
source scripts/runtime.sh
bosun_use_node
bash scripts/setup.sh --with-browser
exec node_modules/.bin/vitest run "$@"
