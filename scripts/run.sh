#!/usr/bin/env bash
# Builds Wharf and runs it. Until `wharf up` lands this runs the store
# benchmark on the embedded store (see README). Extra arguments go to wharf.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! command -v cargo >/dev/null 2>&1; then . "$HOME/.cargo/env"; fi

if [ "$#" -eq 0 ]; then set -- bench store; fi
exec cargo run --release --locked -p wharf -- "$@"
