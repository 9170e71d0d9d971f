#!/usr/bin/env bash
# `npm run build`: compiles src/ to dist/ now (`npm start` does it by itself when dist/ is stale).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/runtime.sh
source scripts/runtime.sh
bosun_use_node
bosun_ensure_deps
bosun_lock_checkout
bosun_build
bosun_unlock_checkout
