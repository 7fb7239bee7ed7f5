#!/usr/bin/env bash
# Installs what building and testing Wharf needs on Debian, idempotently:
# Debian packages, the wasm32-wasip2 Rust target. Safe to run again and again.
set -euo pipefail

# Debian packages: etcd for the etcd backend and its tests, protoc for
# etcd-client, venv for the end-to-end tests' Python environment, nftables
# for the service proxy, the CNI plugins for pod networks, the Docker Engine
# and a static busybox for the docker runtime driver (its tests build their
# image from it, and the pause image is built from it).
packages=(etcd-server protobuf-compiler python3-venv nftables containernetworking-plugins docker.io busybox-static)

sudo_if_needed() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null 2>&1 || { echo "setup: cargo not found; install Rust with rustup first" >&2; exit 1; }

# Plugins are built for WebAssembly components.
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi

# The end-to-end tests' clients: kubectl v1.37 and the official Python client,
# in a virtualenv inside the clone (.venv, ignored by git).
repo="$(cd "$(dirname "$0")/.." && pwd)"
if [ ! -x "$repo/.venv/bin/python" ]; then
    python3 -m venv "$repo/.venv"
fi
requirements="$repo/tests/e2e/requirements.txt"
stamp="$repo/.venv/.requirements"
if ! cmp -s "$requirements" "$stamp"; then
    "$repo/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$stamp"
fi
