#!/usr/bin/env bash
# Installs what building and testing Wharf needs on Debian, idempotently:
# Debian packages, the wasm32-wasip2 Rust target, the tests' Python clients.
# Then checks that each piece is really there and works, and stops with one
# line per missing piece naming its package. Quiet when all is in place;
# safe to run again and again.
set -euo pipefail

# Debian packages: a C compiler and libc's headers for the crates that build
# C (wasmtime) and as Rust's linker, protoc and the well-known .proto files
# (libprotobuf-dev) for etcd-client, etcd for the etcd backend and its tests,
# venv for the end-to-end tests' Python environment, iproute2 (`ip netns`)
# and the CNI plugins for pod networks, nftables for the service proxy, the
# Docker Engine and a static busybox for the docker runtime driver (its
# tests build their image from it, and the pause image is built from it),
# clang, lld, wasi-libc and clang's wasm32 runtime for plugins written in C.
packages=(gcc libc6-dev protobuf-compiler libprotobuf-dev etcd-server python3-venv iproute2 containernetworking-plugins nftables docker.io busybox-static clang lld wasi-libc libclang-rt-14-dev-wasm32)

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
command -v cargo >/dev/null 2>&1 || { echo "setup: cargo not found; install Rust with rustup first (https://rustup.rs)" >&2; exit 1; }

# Plugins are built for WebAssembly components.
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi

# What the build, `wharf up` and the tests run, checked now rather than
# deep inside a build: one line per missing piece, with its package.
# (nft, ip and dockerd live in /usr/sbin, which a user's PATH may lack.)
problems=()
check() {
    local what="$1"
    shift
    "$@" >/dev/null 2>&1 || problems+=("$what")
}
found() {
    PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" command -v "$1" >/dev/null 2>&1
}
# ldd fails on a static executable ("not a dynamic executable").
static() {
    test -x "$1" && ! ldd "$1" >/dev/null 2>&1
}
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
printf 'int main(void) { return 0; }\n' >"$scratch/check.c"
printf 'syntax = "proto3";\nimport "google/protobuf/descriptor.proto";\n' >"$scratch/check.proto"
check "cc cannot build a C program, which Rust needs as its linker (Debian gcc and libc6-dev)" \
    cc "$scratch/check.c" -o "$scratch/check"
if protoc --version >/dev/null 2>&1; then
    check "protoc cannot find google/protobuf/descriptor.proto, which etcd-client imports (Debian libprotobuf-dev: /usr/include/google/protobuf)" \
        protoc -I "$scratch" --descriptor_set_out=/dev/null "$scratch/check.proto"
else
    problems+=("protoc does not run (Debian protobuf-compiler; and libprotobuf-dev for its .proto files)")
fi
check "etcd is not on PATH (Debian etcd-server)" etcd --version
check "python3 -m venv cannot create environments: no ensurepip (Debian python3-venv)" python3 -c 'import ensurepip, venv'
check "ip is missing (Debian iproute2)" found ip
check "the CNI plugins bridge, host-local, loopback and portmap are not all in /usr/lib/cni (Debian containernetworking-plugins)" \
    test -x /usr/lib/cni/bridge -a -x /usr/lib/cni/host-local -a -x /usr/lib/cni/loopback -a -x /usr/lib/cni/portmap
check "nft is missing (Debian nftables)" found nft
check "dockerd is missing (Debian docker.io)" found dockerd
check "/bin/busybox is missing or not static (Debian busybox-static)" static /bin/busybox
printf '#include <stdlib.h>\nvoid *f(void) { return malloc(1); }\n' >"$scratch/plugin.c"
check "clang cannot build a wasm32-wasi reactor, which C plugins are (Debian clang, lld, wasi-libc, libclang-rt-14-dev-wasm32)" \
    clang --target=wasm32-wasi -mexec-model=reactor -o "$scratch/plugin.wasm" "$scratch/plugin.c"
check "the Rust target wasm32-wasip2 is not installed (rustup target add wasm32-wasip2)" \
    test -d "$(rustc --print sysroot)/lib/rustlib/wasm32-wasip2/lib"
if [ "${#problems[@]}" -gt 0 ]; then
    printf 'setup: %s\n' "${problems[@]}" >&2
    echo "setup: ${#problems[@]} missing; install the packages named above (setup installs: ${packages[*]})" >&2
    exit 1
fi

# Node.js and npm for JavaScript/TypeScript plugins: Debian's (18) unless
# the machine has a Node.js already. The JavaScript SDK's toolchain
# (componentize-js, esbuild, TypeScript; pinned by its package-lock.json)
# goes into sdk/js/node_modules.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "setup: installing Debian packages: nodejs npm"
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
fi
js_sdk="$(cd "$(dirname "$0")/.." && pwd)/sdk/js"
if ! cmp -s "$js_sdk/package-lock.json" "$js_sdk/node_modules/.wharf-package-lock.json"; then
    npm ci --prefix "$js_sdk" --no-audit --no-fund --loglevel=error
    cp "$js_sdk/package-lock.json" "$js_sdk/node_modules/.wharf-package-lock.json"
fi

# The end-to-end tests' clients: kubectl v1.37 and the official Python client,
# in a virtualenv inside the clone (.venv, ignored by git). A venv whose
# creation failed half-way (no pip) is completed.
repo="$(cd "$(dirname "$0")/.." && pwd)"
if [ ! -x "$repo/.venv/bin/pip" ]; then
    python3 -m venv "$repo/.venv"
fi
# The same environment has the Python plugin SDK's pinned toolchain
# (componentize-py, pytest), which `wharf plugin build` and `test` use.
stamp="$repo/.venv/.requirements"
wanted="$(cat "$repo/tests/e2e/requirements.txt" "$repo/sdk/python/requirements.txt")"
if [ "$wanted" != "$(cat "$stamp" 2>/dev/null)" ]; then
    "$repo/.venv/bin/pip" install --quiet --disable-pip-version-check \
        -r "$repo/tests/e2e/requirements.txt" -r "$repo/sdk/python/requirements.txt"
    printf '%s' "$wanted" >"$stamp"
fi
