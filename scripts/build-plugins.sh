#!/usr/bin/env bash
# Builds every crate under plugins/ as a wasm32-wasip2 component, with the
# `plugin` profile (small and fast), into target/wasm32-wasip2/plugin/, and
# the controllers, scheduling policies and the example runtime driver as
# native shared libraries into target/release/ (trusted native plugins, and
# the WebAssembly-overhead measurements).
set -euo pipefail
cd "$(dirname "$0")/.."
packages_in() {
    for manifest in "$1"/*/Cargo.toml; do
        printf -- '-p\n%s\n' "$(sed -n 's/^name = "\(.*\)"$/\1/p' "$manifest" | head -n 1)"
    done
}
# One build per plugin kind: the SDK's world feature (controller, scheduler,
# admission) must not be unified across kinds, so each component carries
# its own world.
# Runtime drivers are native shared libraries only.
# The testing plugins are of several kinds: one build each.
for kind in plugins/*/; do
    if [[ "$kind" == plugins/runtimes/ ]]; then
        continue
    fi
    mapfile -t packages < <(packages_in "${kind%/}")
    if [[ "$kind" == plugins/testing/ ]]; then
        for ((i = 0; i < ${#packages[@]}; i += 2)); do
            cargo build --locked --target wasm32-wasip2 --profile plugin "${packages[@]:i:2}"
        done
    else
        cargo build --locked --target wasm32-wasip2 --profile plugin "${packages[@]}"
    fi
done
mapfile -t policies < <(packages_in plugins/scheduling)
cargo build --locked --release -p wharf-controller-replicaset -p wharf-controller-deployment -p wharf-runtime-example "${policies[@]}"
