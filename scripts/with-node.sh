#!/usr/bin/env bash
# `bash scripts/with-node.sh <command…>`: runs a command on bosun's Node.js with its node_modules
# installed (scripts/runtime.sh), without the engine set-up: what `npm run test:unit`, `bench`,
# `soak` and `print-schema` run through, so that they load the native addons that Node built.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/runtime.sh
source scripts/runtime.sh
bosun_use_node
bosun_ensure_deps
exec "$@"
