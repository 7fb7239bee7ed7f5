#!/usr/bin/env bash
# Builds every crate under plugins/ as a wasm32-wasip2 component, with the
# `plugin` profile (small and fast), into target/wasm32-wasip2/plugin/, and
# the controllers, scheduling policies and the example runtime driver as
# native shared libraries into target/release/ (trusted native plugins, and
# the WebAssembly-overhead measurements). The sample plugins written in
# other languages (Python, TypeScript, C: a plugin.yaml and no Cargo.toml)
# are built by `wharf plugin build` with a `wharf` binary: $WHARF_BIN, else
# the debug build (build it first: `cargo build -p wharf`).
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

# The plugins in other languages, into the same folder as the Rust ones.
target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
wharf="${WHARF_BIN:-$target/debug/wharf}"
out="$target/wasm32-wasip2/plugin"
mkdir -p "$out"
for folder in plugins/*/*/; do
    if [ -f "$folder/plugin.yaml" ] && [ ! -f "$folder/Cargo.toml" ]; then
        "$wharf" plugin build "$folder" -o "$out" >/dev/null
    fi
done
