#!/usr/bin/env bash
# Builds Wharf and runs it: `wharf up` by default; arguments replace `up`
# (for example `./scripts/run.sh bench store`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! command -v cargo >/dev/null 2>&1; then . "$HOME/.cargo/env"; fi

cargo build --release --locked -p wharf
target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
WHARF_BIN="$target/release/wharf" bash scripts/build-plugins.sh
if [ "$#" -eq 0 ]; then set -- up; fi
exec cargo run --release --locked -p wharf -- "$@"
