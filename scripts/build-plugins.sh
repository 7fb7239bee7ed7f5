#!/usr/bin/env bash
# Builds every crate under plugins/ as a wasm32-wasip2 component, with the
# `plugin` profile (small and fast), into target/wasm32-wasip2/plugin/, and
# the controllers as native shared libraries into target/release/.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=()
for manifest in plugins/*/*/Cargo.toml; do
    packages+=(-p "$(sed -n 's/^name = "\(.*\)"$/\1/p' "$manifest" | head -n 1)")
done
cargo build --locked --target wasm32-wasip2 --profile plugin "${packages[@]}"
# The controllers as native shared libraries too (target/release/lib*.so),
# for trusted native plugins and the WebAssembly-overhead measurements.
cargo build --locked --release -p wharf-controller-replicaset -p wharf-controller-deployment
