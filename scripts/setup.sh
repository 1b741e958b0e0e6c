#!/usr/bin/env bash
# Installs what `cargo test` needs to run the conformance suite against a real Kratos:
#
#   1. Kratos, built from its Go module at the version pinned in kratos-build/go.mod
#      (target/kratos/<version>/kratos). Go's module and build caches make a rebuild
#      with nothing changed take seconds.
#   2. For the default `container` backend, a container engine and the image under test:
#      - a reachable Docker (or DOCKER_HOST): the official oryd/kratos image is pulled;
#      - otherwise Podman from Debian's packages, serving the Docker API on
#        unix:///run/podman/podman.sock, and a local image built from the binary above
#        (localhost/kratos-conformance/kratos:<version>), because nothing can be pulled.
#
#   3. PostgreSQL's server from Debian's packages, where it is missing: cargo test runs the suite on
#      PostgreSQL too (tests/postgres.rs; each run starts a private server of its own).
#   4. A real browser for the @real-browser scenarios: Debian's chromium (headless; the
#      suite drives it over the DevTools protocol, so no chromedriver is needed), and NSS's certutil
#      (libnss3-tools), which puts the CA a run trusts into the browser's own certificate database.
#   5. The reverse proxy of the production topology (KRATOS_TOPOLOGY=production, which
#      tests/production.rs runs): Debian's nginx. The suite starts its own nginx per run
#      on ports of its own; the package's system service is never started (it would take
#      port 80), so apt runs with a policy-rc.d that refuses to start services.
#
# KRATOS_BACKEND=process skips step 2; KRATOS_BACKEND=external (verifying a deployment
# that runs already, with cargo test --test conformance) installs the browser only. Run it again at any time: every step
# is skipped or quick when its result is already there.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

say() { printf '==> %s\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }
seconds() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(seconds)" 'BEGIN { printf "%.1f s", b - a }'; }

version=$(awk '$1 == "require" && $2 == "github.com/ory/kratos" { print $3 }' kratos-build/go.mod)
[ -n "$version" ] || die "kratos-build/go.mod does not pin github.com/ory/kratos"
backend=${KRATOS_BACKEND:-container}
local_image="localhost/kratos-conformance/kratos:${version}"
official_image="docker.io/oryd/kratos:${version}"
podman_socket=/run/podman/podman.sock

if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi

# --- 1. Kratos from Go modules ------------------------------------------------------
build_kratos() {
    command -v go >/dev/null || die "Go is not installed; install Go >= 1.23 (https://go.dev/dl/) and run this again"
    command -v gcc >/dev/null || die "gcc is not installed; Kratos' SQLite driver needs cgo (apt-get install gcc)"
    local out="target/kratos/${version}"
    mkdir -p "$out"
    local t; t=$(seconds)
    say "building Kratos ${version} from Go modules (tags sqlite; static)"
    # Static so that the image can be FROM scratch; netgo/osusergo keep glibc's NSS out.
    (cd kratos-build && CGO_ENABLED=1 GOFLAGS=-mod=readonly go build -trimpath \
        -tags sqlite,sqlite_omit_load_extension,netgo,osusergo \
        -ldflags "-s -w -X github.com/ory/kratos/driver/config.Version=${version} -linkmode external -extldflags -static" \
        -o "${root}/${out}/kratos" .)
    # Read whole first: `grep -q` leaves at the first match, and under pipefail the
    # binary's SIGPIPE on its next line failed this check now and then.
    local reported; reported=$("${out}/kratos" version 2>&1) || die "the built binary does not run: ${reported}"
    grep -q "${version}" <<<"${reported}" || die "the built binary does not report ${version}: ${reported}"
    say "built ${out}/kratos in $(elapsed "$t")"
}

# --- 2. container engine and image --------------------------------------------------
docker_api_get() { # $1: DOCKER_HOST value, $2: API path
    case "$1" in
        unix://*) curl -sf --max-time 3 --unix-socket "${1#unix://}" "http://d$2" 2>/dev/null ;;
        tcp://*) curl -sf --max-time 3 "http://${1#tcp://}$2" 2>/dev/null ;;
        *) return 1 ;;
    esac
}
docker_api_ok() { docker_api_get "$1" /_ping >/dev/null; }

install_podman() {
    if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
        command -v apt-get >/dev/null || die "no container engine found and no apt-get to install Podman; install Docker or Podman, or use KRATOS_BACKEND=process"
        say "installing Podman and runc from Debian's packages"
        "${sudo[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends podman runc >/dev/null
    fi
    # Settings verified for podman 4.3 in a container-like host: runc, cgroupfs, explicit
    # ulimits (the inherited ones are refused) and a file events logger (no journald).
    # A drop-in, so an existing containers.conf stays as it is.
    local conf=/etc/containers/containers.conf.d/50-kratos-conformance.conf
    if [ ! -f "$conf" ]; then
        "${sudo[@]}" mkdir -p "$(dirname "$conf")"
        "${sudo[@]}" tee "$conf" >/dev/null <<'CONF'
# Written by kratos-conformance scripts/setup.sh
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=10000:10000"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
    fi
}

start_podman_service() {
    docker_api_ok "unix://${podman_socket}" && return 0
    say "starting the Podman API service on unix://${podman_socket}"
    "${sudo[@]}" mkdir -p "$(dirname "$podman_socket")"
    mkdir -p target
    # --time=0: serve until stopped. setsid: outlive this script (CI runs cargo test next).
    "${sudo[@]}" setsid nohup podman system service --time=0 "unix://${podman_socket}" \
        >target/podman-service.log 2>&1 </dev/null &
    for _ in $(seq 1 100); do
        docker_api_ok "unix://${podman_socket}" && return 0
        sleep 0.1
    done
    die "the Podman API service did not answer on ${podman_socket} within 10 s; see target/podman-service.log"
}

build_local_image() { # $1: engine command (podman or docker)
    local t; t=$(seconds)
    local ctx="target/kratos/${version}/image"
    rm -rf "$ctx" && mkdir -p "$ctx/tmp"
    chmod 1777 "$ctx/tmp"
    cp "target/kratos/${version}/kratos" "$ctx/kratos"
    say "building image ${local_image}"
    "$1" build -q -f kratos-build/Containerfile -t "$local_image" "$ctx" >/dev/null
    say "built ${local_image} in $(elapsed "$t")"
}

setup_engine() {
    local host=${DOCKER_HOST:-}
    if [ -z "$host" ] && [ -S /var/run/docker.sock ]; then host=unix:///var/run/docker.sock; fi
    if [ -n "$host" ] && docker_api_ok "$host"; then
        local engine_version; engine_version=$(docker_api_get "$host" /version || true)
        if grep -q '"Podman Engine"' <<<"${engine_version}"; then
            say "container engine: Podman at ${host}"
            build_local_image podman
            build_suite_image podman
        else
            say "container engine: Docker at ${host}"
            if ! DOCKER_HOST=$host docker pull -q "$official_image" >/dev/null; then
                say "could not pull ${official_image}; building ${local_image} from source instead"
                DOCKER_HOST=$host build_local_image docker
                DOCKER_HOST=$host build_suite_image docker
            else
                DOCKER_HOST=$host build_suite_image docker pull
            fi
        fi
        return 0
    fi
    [ -z "${DOCKER_HOST:-}" ] || die "DOCKER_HOST=${DOCKER_HOST} does not answer; start that engine or unset DOCKER_HOST"
    install_podman
    start_podman_service
    say "container engine: Podman at unix://${podman_socket}"
    build_local_image podman
    build_suite_image podman
}

# --- 2b. the suite's own image ---------------------------------------------------------
# localhost/kratos-conformance/suite:<crate version> (Containerfile): the command, the
# features and Chromium, for a CI that runs `docker run … verify`. Its base is Debian
# bookworm: pulled where the engine can pull, else made here with debootstrap.
suite_image="localhost/kratos-conformance/suite:$(awk -F'"' '$1 ~ /^version *= */ { print $2; exit }' Cargo.toml)"
local_base="localhost/kratos-conformance/debian:bookworm"
build_suite_image() { # $1: engine command (podman or docker), $2: "pull" where it can pull
    local t; t=$(seconds)
    command -v cargo >/dev/null || die "cargo is not installed; install Rust (https://rustup.rs) and run this again"
    say "building the command (cargo build --bin kratos-conformance) for the suite's image"
    cargo build --quiet --locked --bin kratos-conformance
    local base=docker.io/library/debian:bookworm-slim
    if [ "${2:-}" != pull ]; then
        base=$local_base
        if ! "$1" image inspect "$base" >/dev/null 2>&1; then
            command -v debootstrap >/dev/null || {
                "${sudo[@]}" apt-get update -qq
                DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
            }
            local tb; tb=$(seconds)
            local rootfs=target/suite-image/rootfs
            "${sudo[@]}" rm -rf "$rootfs" && mkdir -p "$rootfs"
            say "making ${base} with debootstrap (nothing can be pulled here), then Chromium in it with apt"
            "${sudo[@]}" debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian \
                >target/suite-image/debootstrap.log 2>&1 || die "debootstrap failed; see target/suite-image/debootstrap.log"
            # apt in the new system resolves what debootstrap's --include cannot (a
            # D-Bus session bus for dconf, which Chromium's GTK pulls in).
            "${sudo[@]}" mount -t proc proc "$rootfs/proc"
            local status=0
            "${sudo[@]}" chroot "$rootfs" /bin/sh -c 'export DEBIAN_FRONTEND=noninteractive; apt-get update -qq &&
                apt-get install -y -qq --no-install-recommends chromium libnss3-tools ca-certificates' \
                >>target/suite-image/debootstrap.log 2>&1 || status=$?
            "${sudo[@]}" umount "$rootfs/proc"
            [ "$status" -eq 0 ] || die "installing Chromium into ${base} failed; see target/suite-image/debootstrap.log"
            "${sudo[@]}" rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
            "${sudo[@]}" tar -C "$rootfs" -c . | "$1" import - "$base" >/dev/null
            "${sudo[@]}" rm -rf "$rootfs"
            say "made ${base} in $(elapsed "$tb")"
        fi
    fi
    local ctx=target/suite-image/context
    rm -rf "$ctx" && mkdir -p "$ctx"
    cp target/debug/kratos-conformance "$ctx/" && cp -r features "$ctx/features" && cp Containerfile "$ctx/"
    "$1" build -q --build-arg "BASE=${base}" -f "$ctx/Containerfile" -t "$suite_image" "$ctx" >/dev/null
    say "built ${suite_image} in $(elapsed "$t")"
}

# --- 3. PostgreSQL --------------------------------------------------------------------
install_postgres() {
    if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null; then
        say "PostgreSQL: $(postgres_version)"
        return 0
    fi
    command -v apt-get >/dev/null || die "PostgreSQL's server is missing and there is no apt-get to install it; install PostgreSQL (initdb, postgres) or skip tests/postgres.rs"
    say "installing PostgreSQL's server from Debian's packages"
    # The suite starts a server of its own per run: no cluster of the system's.
    if [ ! -f /etc/postgresql-common/createcluster.conf ]; then
        "${sudo[@]}" mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" | "${sudo[@]}" tee /etc/postgresql-common/createcluster.conf >/dev/null
    fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    say "PostgreSQL: $(postgres_version)"
}

postgres_version() {
    local initdb
    initdb=$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)
    "$initdb" --version 2>/dev/null || echo "server at ${initdb%/initdb}"
}

# --- 4. a real browser -------------------------------------------------------------------
install_browser() {
    if [ -n "${KRATOS_CHROMIUM:-}" ]; then
        [ -x "$KRATOS_CHROMIUM" ] || die "KRATOS_CHROMIUM=${KRATOS_CHROMIUM} is not an executable"
        say "browser: ${KRATOS_CHROMIUM} (KRATOS_CHROMIUM)"
        return 0
    fi
    if ! command -v chromium >/dev/null; then
        command -v apt-get >/dev/null || die "no Chromium and no apt-get to install it; install Chromium or point KRATOS_CHROMIUM at one"
        local t; t=$(seconds)
        say "installing Chromium from Debian's packages"
        "${sudo[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
        say "installed $(chromium --version 2>/dev/null) in $(elapsed "$t")"
    fi
    say "browser: $(chromium --version 2>/dev/null)"
    # certutil puts the CA a run trusts (its own, or KRATOS_CA_CERT) into the
    # browser's certificate database, so that HTTPS pages are checked, not waved through.
    if ! command -v certutil >/dev/null; then
        command -v apt-get >/dev/null || die "no certutil and no apt-get to install it; install NSS's tools (libnss3-tools)"
        local t; t=$(seconds)
        "${sudo[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends libnss3-tools >/dev/null
        say "installed certutil (libnss3-tools) for the browser's trust store in $(elapsed "$t")"
    fi
}

# --- 5. the reverse proxy of the production topology ------------------------------------
install_proxy() {
    if [ -n "${KRATOS_NGINX:-}" ]; then
        [ -x "$KRATOS_NGINX" ] || die "KRATOS_NGINX=${KRATOS_NGINX} is not an executable"
        say "reverse proxy: ${KRATOS_NGINX} (KRATOS_NGINX)"
        return 0
    fi
    if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
        command -v apt-get >/dev/null || die "no nginx and no apt-get to install it; install nginx or point KRATOS_NGINX at one (the production topology needs it)"
        local t; t=$(seconds)
        say "installing nginx from Debian's packages (its system service is not started)"
        # Only where the machine has no policy of its own; removed again right after.
        local policy=/usr/sbin/policy-rc.d placed=
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\n# kratos-conformance setup: no service starts while nginx is installed\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
            "${sudo[@]}" chmod 755 "$policy"
            placed=1
        fi
        "${sudo[@]}" apt-get update -qq
        local status=0
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends nginx >/dev/null || status=$?
        [ -z "$placed" ] || "${sudo[@]}" rm -f "$policy"
        [ "$status" -eq 0 ] || die "apt-get install nginx failed (exit ${status})"
        say "installed nginx in $(elapsed "$t")"
    fi
    local nginx; nginx=$(command -v nginx || echo /usr/sbin/nginx)
    say "reverse proxy: $("$nginx" -v 2>&1)"
}

total=$(seconds)
case "$backend" in
    container | process) ;;
    external)
        # Verifying a deployment that runs already needs no Kratos of the suite's, no
        # database and no proxy: only the browser (and the suite, which cargo builds).
        say "KRATOS_BACKEND=external: no Kratos build, container engine, PostgreSQL or nginx needed"
        install_browser
        say "set-up done in $(elapsed "$total"); now run: KRATOS_BACKEND=external KRATOS_PUBLIC_URL=… KRATOS_ADMIN_URL=… cargo test --test conformance"
        exit 0 ;;
    *) die "KRATOS_BACKEND=${backend} is not one of container, process, external" ;;
esac
install_postgres
build_kratos
case "$backend" in
    container) setup_engine ;;
    process) say "KRATOS_BACKEND=process: no container engine needed" ;;
esac
install_browser
install_proxy
say "set-up done in $(elapsed "$total"); now run: cargo test"
