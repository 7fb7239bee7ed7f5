#!/usr/bin/env bash
# Runs every check and test of Wharf: format, lints, unit, conformance,
# crash and end-to-end tests, with the real parts (etcd) they need.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! command -v cargo >/dev/null 2>&1; then . "$HOME/.cargo/env"; fi

cargo fmt --all --check
# The plugin components the runtime's tests and the end-to-end tests load.
bash scripts/build-plugins.sh
cargo clippy --workspace --all-targets --locked -- -D warnings
# Never let the etcd cases skip here: fail if etcd is missing.
WHARF_REQUIRE_ETCD=1 cargo test --workspace --locked
# End-to-end: the real `wharf` binary driven by kubectl and the Python client.
cargo build --locked -p wharf
.venv/bin/pytest -q tests/e2e
