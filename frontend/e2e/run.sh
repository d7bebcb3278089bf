#!/usr/bin/env bash
# Runs the dashboard's end-to-end test against a real `stsd serve`: a temporary SQLite data
# dir, free loopback ports, the built dashboard (frontend/dist), stsd's local CA, and the
# customer's world from `stsd-fake-customer` (crates/testkit): their authoritative DNS, which
# stsd resolves through, and their STARTTLS MX, whose CA stsd's MX check trusts. Builds
# nothing: needs `cargo build -p stsd -p stsd-testkit --bin stsd --bin stsd-fake-customer` and
# `npm run build` first. Always stops both.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
frontend=$(dirname "$here")
repo=$(dirname "$frontend")
target="${CARGO_TARGET_DIR:-$repo/target}"
bin="${STSD_BIN:-$target/debug/stsd}"
if [[ ! -x "$bin" ]]; then
    echo "no stsd binary at $bin: run \`cargo build -p stsd\` (same CARGO_TARGET_DIR)" >&2
    exit 1
fi
customer_bin="${STSD_FAKE_CUSTOMER_BIN:-$(dirname "$bin")/stsd-fake-customer}"
if [[ ! -x "$customer_bin" ]]; then
    echo "no stsd-fake-customer binary at $customer_bin: run \`cargo build -p stsd-testkit --bin stsd-fake-customer\`" >&2
    exit 1
fi
if [[ ! -f "$frontend/dist/index.html" ]]; then
    echo "no built dashboard: run \`npm run build\` in frontend/" >&2
    exit 1
fi

free_port() {
    node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}
tmp=$(mktemp -d)
pid=""
customer_pid=""
cleanup() {
    for p in "$pid" "$customer_pid"; do
        if [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null; then
            kill "$p" 2>/dev/null || true
            wait "$p" 2>/dev/null || true
        fi
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

# The customer's DNS and MX, and their own policy host for the import step: on port 443, as
# senders (and stsd) fetch it, of a loopback address nothing else uses (binding 443 needs root,
# as CI runs). It writes its addresses once it listens.
"$customer_bin" --mx-ca-out "$tmp/mx-ca.pem" --state-out "$tmp/customer.env" \
    --policy-listen 127.0.3.1:443 >"$tmp/customer.log" 2>&1 &
customer_pid=$!
for _ in $(seq 1 100); do
    if [[ -f "$tmp/customer.env" ]] || ! kill -0 "$customer_pid" 2>/dev/null; then break; fi
    sleep 0.1
done
if [[ ! -f "$tmp/customer.env" ]]; then
    echo "stsd-fake-customer did not start:" >&2
    cat "$tmp/customer.log" >&2
    exit 1
fi
# CUSTOMER_DNS, CUSTOMER_SMTP_PORT, CUSTOMER_CONTROL, CUSTOMER_POLICY
source "$tmp/customer.env"

api_port=$(free_port)
dns_port=$(free_port)
export STSD_DATA_DIR="$tmp/data"
export STSD_API_LISTEN="127.0.0.1:$api_port"
export STSD_EDGE_HTTPS_LISTEN="127.0.0.1:$(free_port)"
export STSD_EDGE_HTTP_LISTEN="127.0.0.1:$(free_port)"
export STSD_SMTP_LISTEN="127.0.0.1:$(free_port)"
export STSD_METRICS_LISTEN="127.0.0.1:$(free_port)"
export STSD_DNS_LISTEN="127.0.0.1:$dns_port"
# Every lookup of the customer's names (MX discovery, the verifier) asks their DNS, which
# holds only what the test publishes: nothing leaves the machine. Their MX hosts resolve to
# 127.0.0.1, where the fake MX listens on CUSTOMER_SMTP_PORT.
export STSD_RESOLVERS="$CUSTOMER_DNS"
export STSD_MX_SMTP_PORT="$CUSTOMER_SMTP_PORT"
# The fake customer's MX is on loopback.
export STSD_MX_PROBE_ALLOW_PRIVATE=true
export STSD_MX_CA_ROOTS="$tmp/mx-ca.pem"
export STSD_DASHBOARD_DIR="$frontend/dist"
unset STSD_CONFIG STSD_DATABASE_URL
base="http://127.0.0.1:$api_port"

# Run from the checkout: the API serves ./frontend/dist by default.
(cd "$repo" && exec "$bin" serve) >"$tmp/stsd.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    if curl -fsS "$base/readyz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "stsd exited:" >&2
        cat "$tmp/stsd.log" >&2
        exit 1
    fi
    sleep 0.2
done
curl -fsS "$base/readyz" >/dev/null || { echo "stsd not ready at $base" >&2; cat "$tmp/stsd.log" >&2; exit 1; }

status=0
node "$frontend/scripts/check-api-types.mjs" "$base" || status=1
STSD_E2E_URL="$base" STSD_E2E_CUSTOMER="$CUSTOMER_CONTROL" node "$here/dashboard.e2e.mjs" || status=1
if [[ $status -ne 0 ]]; then
    echo "--- stsd log (tail) ---" >&2
    tail -n 40 "$tmp/stsd.log" >&2
    echo "--- stsd-fake-customer log (tail) ---" >&2
    tail -n 20 "$tmp/customer.log" >&2
fi
exit $status
