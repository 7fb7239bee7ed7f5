#!/usr/bin/env bash
# Builds Wharf and runs it: `wharf up` by default; arguments replace `up`
# (for example `./scripts/run.sh bench store`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! command -v cargo >/dev/null 2>&1; then . "$HOME/.cargo/env"; fi

bash scripts/build-plugins.sh
if [ "$#" -eq 0 ]; then set -- up; fi
exec cargo run --release --locked -p wharf -- "$@"
