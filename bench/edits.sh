#!/usr/bin/env bash
# Edit-to-edge latency (issue 13): two edge followers with their own pools on one PostgreSQL
# database; 50 edits saved and published as the API does, timed until both edges serve them;
# on an idle fleet, then while the verify worker checks 10,000 pending domains. Loopback only.
#
#   bench/edits.sh [EDITS] [BUSY_DOMAINS]        (default 50 and 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
edits="${1:-50}"
busy="${2:-10000}"
target="${CARGO_TARGET_DIR:-/root/.cache/stsd-bench-target}"
export CARGO_TARGET_DIR="$target"
cargo build --quiet --release --locked -p stsd-bench --bin stsd-bench-edits
pg_admin="postgres://postgres@127.0.0.1:5432/postgres"
if ! psql "$pg_admin" -qtAc 'select 1' >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect 15 main start
fi
db="stsd_bench_edits_$$"
cleanup() { psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; }
trap cleanup EXIT
psql "$pg_admin" -qc "CREATE DATABASE $db" >/dev/null
timeout 900 "$target/release/stsd-bench-edits" --edits "$edits" --busy-domains "$busy" \
    --database-url "postgres://postgres@127.0.0.1:5432/$db"
