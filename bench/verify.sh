#!/usr/bin/env bash
# The verifier benchmark (issue 7): 10,000 registered domains whose customer DNS (a loopback
# authoritative fake) holds their records; the real verify worker checks them all. Prints the
# time, the rate and the peak number of open sockets, on SQLite and on PostgreSQL, at the
# worker's default concurrency (8) and at 32. Loopback only; bounded by --timeout per run.
#
#   bench/verify.sh [DOMAINS]        (default 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
domains="${1:-10000}"
target="${CARGO_TARGET_DIR:-/root/.cache/stsd-bench-target}"
export CARGO_TARGET_DIR="$target"
cargo build --quiet --release --locked -p stsd-bench --bin stsd-bench-verify
bin="$target/release/stsd-bench-verify"

pg_admin="postgres://postgres@127.0.0.1:5432/postgres"
if ! psql "$pg_admin" -qtAc 'select 1' >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect 15 main start
fi
db="stsd_bench_verify_$$"
cleanup() { psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; }
trap cleanup EXIT

for concurrency in 8 32; do
    echo "== SQLite, $domains domains, concurrency $concurrency"
    "$bin" --domains "$domains" --concurrency "$concurrency" --timeout 600
    echo "== PostgreSQL, $domains domains, concurrency $concurrency"
    psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
    "$bin" --domains "$domains" --concurrency "$concurrency" --timeout 600 \
        --database-url "postgres://postgres@127.0.0.1:5432/$db"
done
