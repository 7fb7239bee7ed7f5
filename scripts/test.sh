#!/usr/bin/env bash
# Runs every check and test of Wharf: format, lints, unit, conformance,
# crash and end-to-end tests, with the real parts (etcd) they need.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! command -v cargo >/dev/null 2>&1; then . "$HOME/.cargo/env"; fi

cargo fmt --all --check
# The plugin components the runtime's tests and the end-to-end tests load
# (those in other languages are built by `wharf plugin build`, debug).
cargo build --locked -p wharf
target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
bash scripts/build-plugins.sh
cargo clippy --workspace --all-targets --locked -- -D warnings
# The SDKs in other languages (with their examples), and the unit tests of
# the sample plugins written in them, each in its language's runner.
(cd sdk/python && ../../.venv/bin/python -m pytest -q)
npm test --prefix sdk/js --silent
for folder in plugins/*/*/ sdk/c/examples/*/; do
    if [ -f "$folder/plugin.yaml" ] && [ ! -f "$folder/Cargo.toml" ]; then
        "$target/debug/wharf" plugin test "$folder"
    fi
done
# Never let the etcd cases skip here: fail if etcd is missing.
WHARF_REQUIRE_ETCD=1 cargo test --workspace --locked
# End-to-end: the real `wharf` binary driven by kubectl and the Python client.
cargo build --locked -p wharf
.venv/bin/pytest -q tests/e2e
