#!/usr/bin/env bash
# Benchmark of certificate issuance against a real ACME server (issue 6, "Done when"):
# `stsd serve` (release build) obtains certificates from Pebble (Debian `pebble`) for N
# customer domains `d{i}.bench.test`, through the whole product path — sign-up, domain
# registration with MX discovery, the customer's CNAMEs in a fake DNS, the checks, HTTP-01
# answered by stsd's edge — until every domain is `active`.
#
# Reported: the wall time from the first registration to the last `active`, the issuance
# rate, the time per certificate (from stsd's log), stsd's peak RSS (VmHWM of the process,
# which runs the certificate worker next to the API, the verifier and the edge) and its RSS
# sampled over the run (memory.csv), and stsd's and Pebble's CPU time. At the end every
# domain's host must serve a chain that verifies against Pebble's root.
#
# The orchestration is crates/bench (stsd-bench-certs); this script installs Pebble when
# missing, builds `stsd` and `stsd-bench` in release mode, and runs it under a hard time limit.
#
# Usage: bench/certs-pebble.sh [--domains N] [--database sqlite|postgres] [--timeout S]
#          [--workdir DIR] [--orders-in-flight N] [--no-install] [--no-build]
# Defaults: 200 domains, SQLite, 900 s to get every domain active. `--database postgres`
# creates a fresh database on STSD_TEST_POSTGRES_URL (default
# postgres://postgres@127.0.0.1:5432/postgres) and drops it afterwards.
# Loopback only (ephemeral ports); every process it starts is stopped on exit.

set -euo pipefail

DOMAINS=200
DATABASE=sqlite
TIMEOUT=900
WORK=/tmp/stsd-bench-certs
INSTALL=1
BUILD=1
IN_FLIGHT=16

while [[ $# -gt 0 ]]; do
    case "$1" in
        --domains) DOMAINS=$2; shift 2 ;;
        --database) DATABASE=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        --workdir) WORK=$2; shift 2 ;;
        --orders-in-flight) IN_FLIGHT=$2; shift 2 ;;
        --no-install) INSTALL=0; shift ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done
case "$DATABASE" in sqlite|postgres) ;; *) echo "--database: sqlite or postgres" >&2; exit 2 ;; esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-/root/.cache/stsd-bench-target}
BIN=$TARGET/release

log() { printf '\n== %s\n' "$*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

# --- cleanup: the bench binary stops what it started; stop the bench binary itself ----------
BENCH_PID=
cleanup() {
    if [[ -n $BENCH_PID ]] && kill -0 "$BENCH_PID" 2>/dev/null; then
        kill -TERM "$BENCH_PID" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$BENCH_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$BENCH_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools -----------------------------------------------------------------------------------
if ! command -v pebble >/dev/null; then
    [[ $INSTALL == 1 ]] || die "pebble is missing (run without --no-install, as root)"
    log "installing pebble"
    # Captured, not piped into `grep -q`: under pipefail its early exit fails the pipe.
    candidate() { [[ $(apt-cache policy pebble 2>/dev/null) == *"Candidate: "[0-9]* ]]; }
    candidate || apt-get update -qq
    candidate || die "no Debian candidate for pebble"
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq pebble >&2
fi

if [[ $BUILD == 1 ]]; then
    log "building stsd and crates/bench (release) into $TARGET"
    (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET timeout 3600 cargo build --release -q -p stsd -p stsd-bench)
fi
for b in stsd stsd-bench-certs; do
    [[ -x $BIN/$b ]] || die "$BIN/$b not built"
done

mkdir -p "$WORK"
rm -f "$WORK"/{stsd.log,pebble.log,memory.csv,bench.log}
: > "$WORK/report.txt"

log "issuing $DOMAINS certificates from Pebble through stsd serve ($DATABASE); work directory $WORK"
# The binary gives up on its own after --timeout; the outer limit only catches a hang in
# setup or teardown.
timeout --signal=TERM --kill-after=30 $((TIMEOUT + 300)) \
    "$BIN/stsd-bench-certs" --stsd "$BIN/stsd" --pebble "$(command -v pebble)" \
    --domains "$DOMAINS" --database "$DATABASE" --timeout "$TIMEOUT" --workdir "$WORK" \
    --orders-in-flight "$IN_FLIGHT" \
    --clk-tck "$(getconf CLK_TCK)" > "$WORK/report.txt" 2> "$WORK/bench.log" &
BENCH_PID=$!
tail -n +1 -f --pid="$BENCH_PID" "$WORK/report.txt" >&2 &
set +e
wait "$BENCH_PID"
STATUS=$?
set -e
BENCH_PID=
sleep 0.2
if [[ $STATUS != 0 ]]; then
    cat "$WORK/bench.log" >&2
    die "the benchmark failed (exit $STATUS); logs in $WORK (stsd.log, pebble.log, bench.log)"
fi
echo "Report: $WORK/report.txt; stsd.log, pebble.log, memory.csv in $WORK" >&2
