#!/usr/bin/env bash
# Set up a real Docker engine with Compose v2 and an offline base image, for the compose tests.
#
# No container registry is reachable from CI, and the machine image has only the Docker client.
# Everything therefore comes from Debian's packages, through the machine's own apt configuration:
#   1. docker.io (Engine 20.10, API 1.41) and debootstrap from the release the machine runs;
#   2. dockerd started in the background, logging to a file;
#   3. the Compose v2 CLI plugin, taken from the docker-compose package of Debian's next release
#      (bookworm's docker-compose is the Python v1), fetched with `apt-get download` through a
#      private lists folder so the machine's own apt state is not touched, unpacked with dpkg -x;
#   4. a base image with python3, made by debootstrap and `docker import` (no `docker pull`).
# The mirror is read from the machine's apt sources, never written here.
#
# Idempotent: each step is skipped when its result is already there. Run as root.
# Environment (all optional):
#   CONVERGE_BASE_IMAGE     tag of the imported base image        (converge-base:bookworm)
#   CONVERGE_DOCKER_WORKDIR scratch folder outside the repository (/var/tmp/converge-docker)
#   CONVERGE_DOCKERD_LOG    dockerd's log file                   ($WORKDIR/dockerd.log)
#   CONVERGE_ENGINE_WAIT    seconds to wait for the engine       (60)
set -euo pipefail

BASE_IMAGE="${CONVERGE_BASE_IMAGE:-converge-base:bookworm}"
WORKDIR="${CONVERGE_DOCKER_WORKDIR:-/var/tmp/converge-docker}"
DOCKERD_LOG="${CONVERGE_DOCKERD_LOG:-$WORKDIR/dockerd.log}"
ENGINE_WAIT="${CONVERGE_ENGINE_WAIT:-60}"
BASE_SUITE="bookworm"
NEXT_SUITE="trixie"
PLUGIN_DIR="/usr/local/lib/docker/cli-plugins"
export DEBIAN_FRONTEND=noninteractive

step() { printf 'setup-docker-engine: %s\n' "$*"; }
fail() {
    printf 'setup-docker-engine: error: %s\n' "$*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || fail "must run as root (it installs packages and starts dockerd)"
mkdir -p "$WORKDIR"

# The first deb mirror of the machine's apt configuration that serves $BASE_SUITE: deb822 files
# first (Debian 12's default), then the one-line format.
read_mirror() {
    local file uri
    for file in /etc/apt/sources.list.d/*.sources; do
        [ -f "$file" ] || continue
        uri="$(awk -v suite="$BASE_SUITE" '
            BEGIN { RS = ""; FS = "\n" }
            {
                uris = ""; suites = ""; deb = 0
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^Types:/ && $i ~ /(^|[ \t])deb([ \t]|$)/) deb = 1
                    if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris) }
                    if ($i ~ /^Suites:/) { suites = " " $i " " }
                }
                if (deb && uris != "" && suites ~ ("[ \t]" suite "[ \t]")) {
                    split(uris, u, /[ \t]+/); print u[1]; exit
                }
            }' "$file")"
        if [ -n "$uri" ]; then
            printf '%s\n' "$uri"
            return 0
        fi
    done
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$file" ] || continue
        uri="$(awk -v suite="$BASE_SUITE" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i + 1) == suite) { print $i; exit }
            }' "$file")"
        if [ -n "$uri" ]; then
            printf '%s\n' "$uri"
            return 0
        fi
    done
    return 1
}

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

# --- 1. packages -----------------------------------------------------------------------------
if command -v dockerd >/dev/null 2>&1 && command -v debootstrap >/dev/null 2>&1; then
    step "docker.io and debootstrap already installed"
else
    step "apt-get update"
    apt-get update -qq || fail "apt-get update failed"
    step "installing docker.io and debootstrap"
    # There is no init system to start the daemon from the package scripts; policy-rc.d tells
    # them not to try, and this script starts dockerd itself below.
    policy_created=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        policy_created=1
    fi
    install_ok=1
    apt-get install -y -qq --no-install-recommends docker.io debootstrap >"$WORKDIR/apt-install.log" 2>&1 \
        || install_ok=0
    if [ "$policy_created" -eq 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
    [ "$install_ok" -eq 1 ] || fail "apt-get install docker.io debootstrap failed (see $WORKDIR/apt-install.log)"
fi

# --- 2. the engine ---------------------------------------------------------------------------
if engine_answers; then
    step "docker engine already answering"
else
    step "starting dockerd in the background (log: $DOCKERD_LOG)"
    # A stale pid file from a dockerd that is gone would stop the new one from starting.
    if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        rm -f /var/run/docker.pid
    fi
    nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    waited=0
    until engine_answers; do
        if [ "$waited" -ge "$ENGINE_WAIT" ]; then
            tail -n 20 "$DOCKERD_LOG" >&2 || true
            fail "the docker engine did not answer within ${ENGINE_WAIT}s (log: $DOCKERD_LOG)"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    step "docker engine answering after ${waited}s: $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"
fi

# --- 3. the Compose v2 plugin ----------------------------------------------------------------
compose_v2() { docker compose version --short 2>/dev/null | grep -Eq '^v?2\.'; }
if compose_v2; then
    step "docker compose v2 already present: $(docker compose version --short)"
else
    mirror="$(read_mirror)" || fail "no deb source for $BASE_SUITE in /etc/apt/sources.list(.d)"
    step "fetching docker-compose from $NEXT_SUITE through a private apt folder"
    apt_dir="$WORKDIR/apt-$NEXT_SUITE"
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/download"
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' \
        "$mirror" "$NEXT_SUITE" "$keyring" >"$apt_dir/$NEXT_SUITE.sources"
    apt_private=(
        -o "Dir::Etc::SourceList=/dev/null"
        -o "Dir::Etc::SourceParts=$apt_dir"
        -o "Dir::State::Lists=$apt_dir/lists"
        -o "Dir::Cache=$apt_dir/cache"
        -o "Dir::State::status=/dev/null"
        -o "APT::Get::List-Cleanup=false"
    )
    apt-get "${apt_private[@]}" update -qq >"$WORKDIR/apt-$NEXT_SUITE.log" 2>&1 \
        || fail "apt-get update for $NEXT_SUITE failed (see $WORKDIR/apt-$NEXT_SUITE.log)"
    rm -f "$apt_dir"/download/docker-compose_*.deb
    (cd "$apt_dir/download" && apt-get "${apt_private[@]}" download docker-compose) \
        >>"$WORKDIR/apt-$NEXT_SUITE.log" 2>&1 \
        || fail "apt-get download docker-compose ($NEXT_SUITE) failed (see $WORKDIR/apt-$NEXT_SUITE.log)"
    rm -rf "$apt_dir/unpacked"
    dpkg -x "$apt_dir"/download/docker-compose_*.deb "$apt_dir/unpacked" \
        || fail "dpkg -x of the docker-compose package failed"
    plugin="$(find "$apt_dir/unpacked" -path '*cli-plugins/docker-compose' \( -type f -o -type l \) | head -n 1)"
    [ -n "$plugin" ] || fail "the $NEXT_SUITE docker-compose package holds no cli-plugins/docker-compose"
    mkdir -p "$PLUGIN_DIR"
    install -m 0755 "$(readlink -f "$plugin")" "$PLUGIN_DIR/docker-compose"
    compose_v2 || fail "docker compose version does not report v2 after installing the plugin"
    step "docker compose installed: $(docker compose version --short)"
fi

# --- 4. the base image -----------------------------------------------------------------------
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    step "base image $BASE_IMAGE already present"
else
    mirror="${mirror:-$(read_mirror)}" || fail "no deb source for $BASE_SUITE in /etc/apt/sources.list(.d)"
    rootfs="$WORKDIR/rootfs-$BASE_SUITE"
    # A half-made root from an interrupted run is not trusted: start over.
    if [ ! -f "$rootfs/.converge-complete" ]; then
        step "debootstrap --variant=minbase $BASE_SUITE into $rootfs (log: $WORKDIR/debootstrap.log)"
        rm -rf "$rootfs"
        debootstrap --variant=minbase "$BASE_SUITE" "$rootfs" "$mirror" >"$WORKDIR/debootstrap.log" 2>&1 \
            || { tail -n 20 "$WORKDIR/debootstrap.log" >&2; fail "debootstrap failed (see $WORKDIR/debootstrap.log)"; }
        step "installing python3, python3-pip and python3-venv in the chroot"
        printf 'deb %s %s main\n' "$mirror" "$BASE_SUITE" >"$rootfs/etc/apt/sources.list"
        cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
        mount -t proc proc "$rootfs/proc"
        chroot_ok=1
        chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
            sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 python3-pip python3-venv && apt-get clean && rm -rf /var/lib/apt/lists/*' \
            >"$WORKDIR/chroot-install.log" 2>&1 || chroot_ok=0
        umount "$rootfs/proc" || true
        : >"$rootfs/etc/resolv.conf"
        [ "$chroot_ok" -eq 1 ] || { tail -n 20 "$WORKDIR/chroot-install.log" >&2; fail "installing python3 in the chroot failed (see $WORKDIR/chroot-install.log)"; }
        touch "$rootfs/.converge-complete"
    fi
    step "docker import of $rootfs as $BASE_IMAGE"
    tar --exclude=./.converge-complete -C "$rootfs" -c . \
        | docker import -c 'CMD ["/bin/bash"]' -c 'ENV LANG=C.UTF-8' - "$BASE_IMAGE" >/dev/null \
        || fail "docker import of the base image failed"
fi

step "ready: engine $(docker version --format '{{.Server.Version}}'), compose $(docker compose version --short), base image $BASE_IMAGE"
