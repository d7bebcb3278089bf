#!/usr/bin/env bash
# Installs the Debian packages the test suite needs when they are missing (idempotent; quick
# when everything is there). Used by scripts/test.sh and .ci/run. Needs root or sudo.
set -euo pipefail

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
updated=no
install() {
    if [[ $updated == no ]]; then
        as_root apt-get update -qq
        updated=yes
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

need=()
# pebble: the ACME server the certificate tests issue from; unbound: the recursive resolver of
# the end-to-end world (tests/world); chromium: the dashboard's e2e test.
# knot and knot-dnsutils (kdig): the real secondary of the service zone's transfer test;
# zonemaster-cli: the delegation checker run against two `stsd dns` processes.
# jq: the README's curl session, run by scripts/readme-walk.sh.
# prometheus (for promtool), yamllint, shellcheck, podman, runc, mmdebstrap: infra/test.sh.
for pkg in postgresql postgresql-client pebble unbound chromium knot knot-dnsutils zonemaster-cli jq \
    prometheus yamllint shellcheck podman runc mmdebstrap; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
# scripts/fuzz-api.sh installs schemathesis into a venv; Debian ships venv separately.
python3 -m venv --help >/dev/null 2>&1 || need+=(python3-venv)
for tool in curl python3; do
    command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
# scripts/fuzz.sh: libfuzzer-sys compiles libFuzzer's C++ sources.
command -v c++ >/dev/null 2>&1 || need+=(g++)
# Node.js and npm build the dashboard; the machines here bring Node 20, a bare Debian gets its
# own packages (Vite needs Node 20.19 or later: install a newer one when apt's is older).
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
node_ok() {
    local v
    v=$(node -p 'process.versions.node' 2>/dev/null) || return 1
    local major=${v%%.*} rest=${v#*.}
    local minor=${rest%%.*}
    ((major > 20 || (major == 20 && minor >= 19)))
}
if ((${#need[@]})); then
    echo "installing ${need[*]}" >&2
    install "${need[@]}"
fi
# Debian bookworm's nodejs is 18: too old for the dashboard's build (Vite needs 20.19+).
if ! node_ok; then
    echo "Node.js $(node -v 2>/dev/null || echo '(none)') is too old for the dashboard's build: it needs 20.19 or later." >&2
    echo "Install it from https://nodejs.org (or NodeSource's Debian packages, deb.nodesource.com), or use Debian trixie's nodejs." >&2
    exit 1
fi
# Trixie's Pebble 2.6 (ARI, `replaces`) for the renewal tests, in a private prefix beside
# bookworm's /usr/bin/pebble; the machine's apt sources are left alone.
bash "$(dirname "${BASH_SOURCE[0]}")/pebble-trixie.sh" >/dev/null
