#!/usr/bin/env bash
# Runs the whole stsd test suite: every crate's unit and integration tests, including the
# store suite on PostgreSQL, which is mandatory (it fails, never skips, without a server).
#
# PostgreSQL: uses STSD_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres).
# When nothing answers there, it starts the local Debian cluster. Missing Debian packages
# (PostgreSQL, Pebble, Unbound, Chromium, Node, python3-venv) are installed first
# (scripts/deps.sh; needs root or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    cat <<'USAGE'
Usage: scripts/test.sh [cargo test arguments]

Runs the whole test suite: `cargo test --workspace` (extra arguments go to it, e.g. a test
name filter), the API's schema fuzzing (schemathesis), the dashboard's build, unit tests and
size budget, its browser test against a real `stsd serve`, infra/test.sh (Kubernetes
manifests, Prometheus rules and their unit tests, the Grafana dashboard), and the README
walk (the README's run command, admin commands and curl session, run as written in a fresh
clone).

Before the tests it installs what is missing, as root or through sudo:
  - Debian packages (scripts/deps.sh): postgresql, postgresql-client, pebble, unbound,
    chromium, knot, knot-dnsutils, zonemaster-cli, jq, prometheus (promtool), yamllint,
    shellcheck, python3-venv, g++, nodejs/npm if
    absent, and Debian trixie's Pebble 2.6 into ~/.cache/stsd-tools (scripts/pebble-trixie.sh);
  - the npm packages of frontend/ (npm ci), and a Python venv with the PyPI MTA-STS client
    and schemathesis (scripts/mta-sts-client.sh, scripts/fuzz-api.sh);
and starts the local PostgreSQL cluster when nothing answers on 127.0.0.1:5432.

Environment:
  STSD_TEST_POSTGRES_URL  the PostgreSQL server the tests use
                          (default postgres://postgres@127.0.0.1:5432/postgres)
  CARGO_TARGET_DIR        the build directory (default ./target)
USAGE
    exit 0
fi

export STSD_TEST_POSTGRES_URL="${STSD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

ensure_postgres() {
    if [[ "$STSD_TEST_POSTGRES_URL" != *"@127.0.0.1:5432/"* ]]; then
        return 0 # an external server was named; the tests report if it is unreachable
    fi
    if pg_up; then return 0; fi
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
        echo "PostgreSQL is not installed; installing it (needs root and Debian's packages)" >&2
        $(command -v sudo || true) apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $(command -v sudo || true) apt-get install -y -qq postgresql >/dev/null
    fi
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    if [[ -z "$version" ]]; then
        echo "no PostgreSQL cluster found under /etc/postgresql" >&2
        exit 1
    fi
    echo "starting PostgreSQL $version" >&2
    $(command -v sudo || true) pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do
        if pg_up; then break; fi
        sleep 1
    done
    if ! pg_up; then
        echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2
        exit 1
    fi
    # Trust auth for the tests' local connections, as on the CI machine.
    if ! psql -h 127.0.0.1 -U postgres -c 'select 1' >/dev/null 2>&1; then
        echo "cannot connect as postgres to 127.0.0.1:5432; set STSD_TEST_POSTGRES_URL" >&2
        exit 1
    fi
}

./scripts/deps.sh
ensure_postgres
# The real MTA-STS client of the end-to-end world (tests/world), from PyPI into a venv; the
# test runs this itself too, but installing here keeps the download out of the test's time.
./scripts/mta-sts-client.sh >/dev/null
cargo test --workspace --locked --all-targets "$@"
# Schema-driven fuzzing of the API against its OpenAPI document (schemathesis).
./scripts/fuzz-api.sh

# The dashboard: build, unit tests and the API types check, then the browser e2e test against
# a real `stsd serve` built into the same target dir as the tests above.
target="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --locked -p stsd -p stsd-testkit --bin stsd --bin stsd-fake-customer
(
    cd frontend
    [[ -d node_modules ]] || npm ci --no-audit --no-fund
    npm run build
    npm test
    npm run size
)
STSD_BIN="$target/debug/stsd" frontend/e2e/run.sh
# A new user's first run, following the README literally in a fresh clone: its run command
# (a release build, shared through the target dir), admin commands and curl session.
./scripts/readme-walk.sh
# infra/: the image (from the release build the walk made), manifests, alert rules and their
# tests, the metrics they use against each role.
STSD_BIN="$target/debug/stsd" infra/test.sh
