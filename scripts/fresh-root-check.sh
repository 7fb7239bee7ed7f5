#!/usr/bin/env bash
# Proves the README's "Set up" on a fresh Debian 12 machine: makes a fresh
# Debian root with debootstrap (from this machine's own package source),
# lends it the host's Rust toolchain (rustup's ~/.rustup and ~/.cargo/bin,
# read-only), copies in a clean clone of HEAD, and runs `./scripts/run.sh`
# there until it prints its `ready` line (and `./scripts/test.sh` with
# --tests). The build is cold: its own cargo registry and target directory
# inside the root. Needs root (debootstrap, mounts, chroot).
#
#   sudo scripts/fresh-root-check.sh [--tests] [--keep] [--fresh] ...
#   CARGO_BUILD_JOBS=1 nice -n 19 scripts/fresh-root-check.sh   # beside other work
#
# Stages, each timed: base (debootstrap, or unpack the cached base), prepare
# (apt sources, CAs), clone, setup (scripts/setup.sh, with the network),
# fetch (cargo fetch), run (scripts/run.sh until `ready`, then stopped),
# tests (scripts/test.sh, with --tests). run and tests run in a network
# namespace of their own (loopback, and a default route out of a veth pair
# that leads nowhere, as a machine has one): `wharf up` as root makes a bridge,
# nftables rules and pod namespaces, which must not touch the host's; setup
# and fetch have already fetched what they need.
#
# Every mount (/proc, /sys, /dev, /run, the toolchain) is made in a private
# mount namespace of the command run inside the root, so none is ever seen
# by, or left on, the host; on exit the processes left in the root are
# stopped and nothing stays mounted under it.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: fresh-root-check.sh [options]
  --tests            also run ./scripts/test.sh (after run.sh reached ready)
  --fresh            debootstrap a new base even if one is cached
  --keep             keep the root afterwards (default: delete it; the base
                     tarball stays cached)
  --reuse            run again in the root a --keep run left (no new root,
                     no new clone: a warm re-check, not a fresh machine)
  --dir DIR          where the cache and the root live (/var/tmp/wharf-fresh-root)
  --repo DIR         the clone to check (this script's)
  --rev REV          the commit to check (HEAD)
  --mirror URL       the Debian mirror (read from /etc/apt/sources.list*)
  --timeout SECS     how long run.sh may take to print ready (3600)
  --tests-timeout SECS  how long test.sh may take (10800)
  --host-network     run run.sh and test.sh in the host's network namespace
  --shell            end with an interactive shell in the root (mounted)
Environment: CARGO_BUILD_JOBS is passed into the root; nice/ionice are
inherited (`nice -n 19 scripts/fresh-root-check.sh`).
EOF
}

suite=bookworm
dir=/var/tmp/wharf-fresh-root
repo="$(cd "$(dirname "$0")/.." && pwd)"
rev=HEAD
mirror=""
tests=0 fresh=0 keep=0 reuse=0 host_network=0 shell=0
ready_timeout=3600
tests_timeout=10800
while [ "$#" -gt 0 ]; do
    case "$1" in
        --tests) tests=1 ;;
        --fresh) fresh=1 ;;
        --keep) keep=1 ;;
        --reuse) reuse=1 keep=1 ;;
        --host-network) host_network=1 ;;
        --shell) shell=1 keep=1 ;;
        --dir) dir="$2"; shift ;;
        --repo) repo="$(cd "$2" && pwd)"; shift ;;
        --rev) rev="$2"; shift ;;
        --mirror) mirror="$2"; shift ;;
        --timeout) ready_timeout="$2"; shift ;;
        --tests-timeout) tests_timeout="$2"; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
    shift
done

declare -a timings=()
stage_name="" stage_start=0
say() { echo "fresh-root: $*"; }
verdict_said=0 current_stage=start
die() {
    stage_done
    stage_times
    echo "fresh-root check: FAILED: $*"
    verdict_said=1
    exit 1
}
stage() {
    stage_done
    stage_name="$1" stage_start=$SECONDS current_stage="$1"
    say "== $1"
}
stage_times() {
    [ "${#timings[@]}" -gt 0 ] || return 0
    local line
    line="$(printf '%s, ' "${timings[@]}")"
    say "stage times: ${line%, }"
}
stage_done() {
    if [ -n "$stage_name" ]; then
        timings+=("$stage_name $((SECONDS - stage_start)) s")
        stage_name=""
    fi
}

[ "$(id -u)" -eq 0 ] || { echo "fresh-root: needs root (debootstrap, mounts, chroot): sudo $0" >&2; exit 1; }
dir="$(mkdir -p "$dir" && cd "$dir" && pwd)"
root="$dir/root"
base_tar="$dir/base-$suite.tar"
logs="$dir/logs"
# The mount namespaces of the commands run in the root (see rooted_pids).
mount_namespaces="$dir/mount-namespaces"
mkdir -p "$logs"
: >"$mount_namespaces"

# The toolchain to lend: the invoking user's (sudo) or root's.
home="$HOME"
if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
    home="$(getent passwd "$SUDO_USER" | cut -d: -f6)"
fi
cargo_home="${CARGO_HOME:-$home/.cargo}"
rustup_home="${RUSTUP_HOME:-$home/.rustup}"
[ -x "$cargo_home/bin/cargo" ] || die "no cargo in $cargo_home/bin (set CARGO_HOME)"
[ -d "$rustup_home/toolchains" ] || die "no rustup toolchains in $rustup_home (set RUSTUP_HOME)"

# ---------------------------------------------------------------- mounts and cleanup
mounted_under_root() {
    findmnt -rn -o TARGET | awk -v root="$root" '$0 == root || index($0, root "/") == 1'
}
# Processes in the root: in a mount namespace a command in the root was
# given (each is noted in $mount_namespaces), or whose root directory is the
# fresh root (or inside it).
rooted_pids() {
    local proc target
    for proc in /proc/[0-9]*; do
        target="$(readlink "$proc/ns/mnt" 2>/dev/null)" || continue
        if [ -s "$mount_namespaces" ] && grep -qxF "$target" "$mount_namespaces"; then
            echo "${proc#/proc/}"
            continue
        fi
        target="$(readlink "$proc/root" 2>/dev/null)" || continue
        if [ "$target" = "$root" ] || [ "${target#"$root"/}" != "$target" ]; then
            echo "${proc#/proc/}"
        fi
    done
}
stop_rooted() {
    local pids
    pids="$(rooted_pids)"
    [ -n "$pids" ] || return 0
    say "stopping processes left in the root: $(echo "$pids" | tr '\n' ' ')"
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        pids="$(rooted_pids)"
        [ -n "$pids" ] || return 0
        sleep 1
    done
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 1
}
# Stops a process group started with setsid: TERM, then KILL after 30 s.
stop_group() {
    local pid="$1"
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 30); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
background=()
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ "$status" -ne 0 ] && [ "$verdict_said" -eq 0 ]; then
        stage_done
        stage_times
        case "$status" in
            130 | 143) echo "fresh-root check: INTERRUPTED in stage $current_stage" ;;
            *) echo "fresh-root check: FAILED in stage $current_stage (status $status)" ;;
        esac
    fi
    local pid
    for pid in "${background[@]}"; do stop_group "$pid"; done
    stop_rooted
    # Mounts are made in private namespaces and die with them; this only
    # catches what something else left here.
    local left
    left="$(mounted_under_root | sort -r)"
    if [ -n "$left" ]; then
        say "unmounting what is left under the root"
        echo "$left" | while read -r target; do umount -l "$target" 2>/dev/null || true; done
    fi
    if [ -n "$(mounted_under_root)" ]; then
        say "WARNING: still mounted under $root:"; mounted_under_root
    elif [ "$keep" -eq 0 ] && [ -d "$root" ]; then
        rm -rf --one-file-system "$root"
    fi
    [ "$keep" -eq 1 ] && [ -d "$root" ] && say "the root is kept: $root (logs: $logs)"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

remove_root() {
    [ -n "$(mounted_under_root)" ] && die "something is mounted under $root; not removing it"
    stop_rooted
    rm -rf --one-file-system "$root"
}

# The command that runs "$command" in the root: a private mount namespace
# (and network namespace unless shared) with /proc, /sys (and the host's
# cgroup hierarchies), /dev, a fresh /run and the toolchain, then the root
# made the namespace's own root (pivot_root, as a container's is: under a
# chroot, `docker exec` runs its command in the chroot's files instead of
# the container's) with the environment of a root login. Sets the array
# `enter`.
enter_argv() {
    local network="$1"
    local namespaces=(--mount --propagation private)
    if [ "$network" = private ]; then namespaces+=(--net); fi
    # shellcheck disable=SC2016 # expanded by the inner bash
    enter=(unshare "${namespaces[@]}" -- bash -c '
        set -e
        root="$1" cargo_home="$2" rustup_home="$3" network="$4" noted="$5" command="$6"
        readlink /proc/self/ns/mnt >>"$noted"
        if [ "$network" = private ]; then
            ip link set lo up
            # A machine has a default route: without one, connecting to a
            # ClusterIP fails (no route) before nftables can DNAT it. Out
            # of a veth pair whose other end leads nowhere.
            ip link add wharf-up0 type veth peer name wharf-up1
            ip addr add 192.0.2.2/24 dev wharf-up0
            ip addr add 192.0.2.1/24 dev wharf-up1
            ip link set wharf-up0 up
            ip link set wharf-up1 up
            ip route add default via 192.0.2.1 dev wharf-up0
        fi
        # The root a mount point of its own, as / is on a machine: without
        # it `ip netns exec` fails ("mount --make-rslave /" failed).
        mount --bind "$root" "$root"
        mount -t proc proc "$root/proc"
        mount -t sysfs sysfs "$root/sys"
        mount --rbind /sys/fs/cgroup "$root/sys/fs/cgroup"
        mount --rbind /dev "$root/dev"
        mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$root/run"
        mkdir -p "$root/run/lock" "$root/root/.rustup" "$root/root/.cargo/bin"
        mount --bind "$rustup_home" "$root/root/.rustup"
        mount -o remount,bind,ro "$root/root/.rustup"
        mount --bind "$cargo_home/bin" "$root/root/.cargo/bin"
        mount -o remount,bind,ro "$root/root/.cargo/bin"
        mkdir -p "$root/.old-root"
        cd "$root"
        pivot_root . .old-root
        umount -l /.old-root
        exec /usr/bin/env -i \
            HOME=/root USER=root LOGNAME=root SHELL=/bin/bash TERM="${TERM:-dumb}" LANG=C.UTF-8 \
            PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            CARGO_HOME=/root/.cargo RUSTUP_HOME=/root/.rustup \
            ${CARGO_BUILD_JOBS:+CARGO_BUILD_JOBS="$CARGO_BUILD_JOBS"} \
            /bin/bash -c "cd /root/wharf 2>/dev/null || cd /root; $command"
    ' fresh-root "$root" "$cargo_home" "$rustup_home" "$network" "$mount_namespaces")
}
# in_root NETWORK COMMAND LOG: runs COMMAND in the root, in the foreground.
in_root() {
    enter_argv "$1"
    "${enter[@]}" "$2" >>"$3" 2>&1
}
# Why a stage failed: its log's last lines.
show_log() {
    say "last lines of $1:"
    tail -n "${2:-40}" "$1" | sed 's/^/    /'
}
run_network=private
[ "$host_network" -eq 1 ] && run_network=host

# ---------------------------------------------------------------- the base root
# This machine's Debian package source: "URI SUITE COMPONENTS..." per entry
# of /etc/apt/sources.list, sources.list.d/*.list (one-line) and *.sources
# (deb822), binary entries only.
apt_etc=/etc/apt
host_sources() {
    local files=()
    [ -f "$apt_etc/sources.list" ] && files+=("$apt_etc/sources.list")
    for file in "$apt_etc"/sources.list.d/*.list; do [ -f "$file" ] && files+=("$file"); done
    for file in "${files[@]}"; do
        awk '$1 == "deb" {
            i = 2
            if ($2 ~ /^\[/) { while ($i !~ /\]$/ && i < NF) i++; i++ }
            line = $i; for (j = i + 1; j <= NF; j++) line = line " " $j
            print line
        }' "$file"
    done
    for file in "$apt_etc"/sources.list.d/*.sources; do
        [ -f "$file" ] || continue
        awk '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && enabled !~ /^[Nn]o/)
                    for (u = 1; u <= nu; u++) for (s = 1; s <= ns; s++) print uris[u], suites[s], comps
                types = ""; enabled = ""; comps = ""; nu = 0; ns = 0
            }
            /^#/ { next }
            /^[ \t]*$/ { flush(); next }
            {
                key = tolower($1); sub(/:$/, "", key)
                value = $0; sub(/^[^:]*:[ \t]*/, "", value)
                if (key == "types") types = value
                else if (key == "enabled") enabled = value
                else if (key == "components") comps = value
                else if (key == "uris") nu = split(value, uris, /[ \t]+/)
                else if (key == "suites") ns = split(value, suites, /[ \t]+/)
            }
            END { flush() }' "$file"
    done
}

make_base() {
    if ! command -v debootstrap >/dev/null 2>&1; then
        say "installing Debian's debootstrap"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    fi
    local staging="$dir/base"
    [ -n "$(findmnt -rn -o TARGET | awk -v d="$staging" 'index($0, d) == 1')" ] && die "something is mounted under $staging"
    rm -rf --one-file-system "$staging" "$base_tar.tmp"
    # The default variant (required and important priorities: what a minimal
    # Debian installation has) and what installing Rust with rustup's
    # installer needed: curl and the CA certificates. No compiler.
    say "debootstrap $suite from $mirror (log: $logs/debootstrap.log)"
    debootstrap --include=ca-certificates,curl "$suite" "$staging" "$mirror" >"$logs/debootstrap.log" 2>&1 || {
        show_log "$logs/debootstrap.log"
        rm -rf --one-file-system "$staging"
        die "debootstrap failed"
    }
    rm -rf "$staging/var/cache/apt/archives/"*.deb
    tar -C "$staging" --numeric-owner -cpf "$base_tar.tmp" .
    mv "$base_tar.tmp" "$base_tar"
    rm -rf --one-file-system "$staging"
}

if [ -z "$mirror" ]; then
    mirror="$(host_sources | awk -v suite="$suite" '$2 == suite { print $1; exit }')"
    [ -n "$mirror" ] || die "no '$suite' entry in /etc/apt/sources.list or sources.list.d; pass --mirror URL"
fi

# The clone: HEAD (or --rev) of the repository, never its uncommitted work.
commit="$(git -C "$repo" rev-parse --verify "$rev^{commit}")" || die "no commit $rev in $repo"
dirty="$(git -C "$repo" status --porcelain | wc -l)"
if [ "$dirty" -gt 0 ] && [ "$reuse" -eq 0 ]; then
    say "WARNING: $repo has $dirty uncommitted or untracked paths; the check uses commit ${commit:0:12} without them"
fi

if [ "$reuse" -eq 1 ]; then
    [ -d "$root/root/wharf" ] || die "nothing to reuse: no root at $root (run once with --keep)"
    say "reusing the root at $root (a warm re-check)"
else
    stage base
    if [ "$fresh" -eq 1 ] || [ ! -f "$base_tar" ]; then
        make_base
    else
        say "unpacking the cached base $base_tar (--fresh makes a new one)"
    fi
    [ -d "$root" ] && remove_root
    mkdir -p "$root"
    tar -C "$root" --numeric-owner -xpf "$base_tar"

    stage prepare
    # This machine's package sources for the suite (and its -updates and
    # -security), and how apt reaches them (proxies, validity).
    host_sources | awk -v suite="$suite" '$2 == suite || index($2, suite "-") == 1 { print "deb " $0 }' \
        >"$root/etc/apt/sources.list"
    cat /etc/apt/apt.conf.d/* 2>/dev/null | grep -iE '^\s*Acquire::.*(proxy|check-valid-until|check-date)' \
        >"$root/etc/apt/apt.conf.d/99host-source" || true
    cat /etc/resolv.conf >"$root/etc/resolv.conf"
    # What rustup's installer leaves in the home besides the toolchain.
    mkdir -p "$root/root/.cargo/bin"
    [ -f "$cargo_home/env" ] && cp "$cargo_home/env" "$root/root/.cargo/env"
    # No services start inside the root (docker.io's and etcd-server's
    # would start in the host's network namespace).
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
    # The host's own CAs, when it reaches the registries through a TLS
    # proxy of its own (not needed on a machine that reaches them directly).
    local_cas=(/usr/local/share/ca-certificates/*.crt)
    if [ -f "${local_cas[0]}" ]; then
        say "trusting the host's local CAs: ${local_cas[*]##*/}"
        cp "${local_cas[@]}" "$root/usr/local/share/ca-certificates/"
        in_root host "update-ca-certificates" "$logs/prepare.log" || { show_log "$logs/prepare.log"; die "update-ca-certificates failed"; }
    fi

    stage clone
    git -c safe.directory='*' -c init.defaultBranch=main clone --quiet --no-hardlinks --no-checkout "$repo" "$root/root/wharf"
    git -C "$root/root/wharf" checkout --quiet --detach "$commit"
    say "cloned ${commit:0:12} ($(git -C "$repo" log -1 --format=%s "$commit" | cut -c1-70))"
fi
: >"$logs/setup.log" ; : >"$logs/fetch.log"; : >"$logs/run.log"; : >"$logs/tests.log"

# ---------------------------------------------------------------- the README's commands
stage setup
say "scripts/setup.sh, as run.sh starts (log: $logs/setup.log)"
if ! in_root host "./scripts/setup.sh" "$logs/setup.log"; then
    show_log "$logs/setup.log"
    die "scripts/setup.sh failed on the fresh root"
fi

stage fetch
if ! in_root host "cargo fetch --locked" "$logs/fetch.log"; then
    show_log "$logs/fetch.log"
    die "cargo fetch --locked failed on the fresh root"
fi

# start_bg NETWORK COMMAND LOG: starts COMMAND in the root, in its own
# session (process group); sets `pid`.
start_bg() {
    enter_argv "$1"
    setsid "${enter[@]}" "$2" >>"$3" 2>&1 </dev/null &
    pid=$!
    background+=("$pid")
}
# wait_for PID LOG TIMEOUT [PATTERN]: until the log has a line with the
# word PATTERN (0), the process exits (its status, or 1 if 0 without the
# line), or the timeout (124). Prints progress every 5 minutes.
wait_for() {
    local pid="$1" log="$2" timeout="$3" pattern="${4:-}" start=$SECONDS next=300
    while :; do
        if [ -n "$pattern" ] && grep -w -- "$pattern" "$log" |
            grep -qvE '^\s*(Compiling|Checking|Downloaded|Downloading|Fresh|Running|warning|error)\b'; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            local status=0
            wait "$pid" || status=$?
            [ -n "$pattern" ] && [ "$status" -eq 0 ] && status=1
            return "$status"
        fi
        if [ $((SECONDS - start)) -ge "$timeout" ]; then return 124; fi
        if [ $((SECONDS - start)) -ge "$next" ]; then
            say "$(((SECONDS - start) / 60)) min: $(grep -v '^\s*$' "$log" | tail -n 1 | cut -c1-100)"
            next=$((next + 300))
        fi
        sleep 2
    done
}

stage run
say "./scripts/run.sh in the background until it prints ready (log: $logs/run.log, timeout $ready_timeout s, network: $run_network)"
run_start=$SECONDS
start_bg "$run_network" "exec ./scripts/run.sh" "$logs/run.log"
run_pid=$pid
status=0
wait_for "$run_pid" "$logs/run.log" "$ready_timeout" ready || status=$?
ready_after=$((SECONDS - run_start))
if [ "$status" -ne 0 ]; then
    show_log "$logs/run.log"
    case "$status" in
        124) die "run.sh did not print ready within $ready_timeout s" ;;
        *) die "run.sh exited (status $status) without printing ready, after $ready_after s" ;;
    esac
fi
say "$(grep -w -m 1 ready "$logs/run.log")"
# The README's next step talks to it with kubectl: the same namespaces.
smoke="kubectl get nodes"
if nsenter --target "$run_pid" --mount --net --root --wd env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    KUBECONFIG=/root/.local/share/wharf/kubeconfig /root/wharf/.venv/bin/kubectl get nodes >"$logs/kubectl.log" 2>&1; then
    sed 's/^/    /' "$logs/kubectl.log"
    smoke="$smoke: ok"
else
    show_log "$logs/kubectl.log" 10
    smoke="$smoke: FAILED"
fi
if [ "$shell" -eq 1 ]; then
    say "a shell in the running root (exit to stop run.sh)"
    nsenter --target "$run_pid" --mount --net --root --wd env -i HOME=/root TERM="${TERM:-dumb}" \
        PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        CARGO_HOME=/root/.cargo RUSTUP_HOME=/root/.rustup KUBECONFIG=/root/.local/share/wharf/kubeconfig \
        /bin/bash -i </dev/tty >/dev/tty 2>&1 || true
fi
stop_group "$run_pid"
say "run.sh stopped"

verdict="fresh-root check: run.sh reached ready in $ready_after s ($smoke)"
if [ "$tests" -eq 1 ]; then
    stage tests
    say "./scripts/test.sh (log: $logs/tests.log, timeout $tests_timeout s)"
    start_bg "$run_network" "exec ./scripts/test.sh" "$logs/tests.log"
    tests_pid=$pid
    tests_start=$SECONDS
    status=0
    wait_for "$tests_pid" "$logs/tests.log" "$tests_timeout" || status=$?
    if [ "$status" -ne 0 ]; then
        show_log "$logs/tests.log" 60
        [ "$status" -eq 124 ] && die "test.sh did not finish within $tests_timeout s; $verdict"
        die "test.sh failed (status $status) after $((SECONDS - tests_start)) s; $verdict"
    fi
    verdict="$verdict; test.sh passed in $((SECONDS - tests_start)) s"
fi
stage_done
stage_times
echo "$verdict"
