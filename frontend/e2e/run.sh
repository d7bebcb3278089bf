#!/usr/bin/env bash
# Runs the dashboard's end-to-end test against a real `stsd serve`: a temporary SQLite data
# dir, free loopback ports, the built dashboard (frontend/dist). Builds nothing: needs
# `cargo build -p stsd` and `npm run build` first. Always stops stsd.
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
if [[ ! -f "$frontend/dist/index.html" ]]; then
    echo "no built dashboard: run \`npm run build\` in frontend/" >&2
    exit 1
fi

free_port() {
    node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}
tmp=$(mktemp -d)
pid=""
cleanup() {
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

api_port=$(free_port)
dns_port=$(free_port)
export STSD_DATA_DIR="$tmp/data"
export STSD_API_LISTEN="127.0.0.1:$api_port"
export STSD_EDGE_HTTPS_LISTEN="127.0.0.1:$(free_port)"
export STSD_EDGE_HTTP_LISTEN="127.0.0.1:$(free_port)"
export STSD_SMTP_LISTEN="127.0.0.1:$(free_port)"
export STSD_DNS_LISTEN="127.0.0.1:$dns_port"
# Customer DNS lookups go to stsd's own DNS, which refuses names outside its zone: no network.
export STSD_RESOLVERS="127.0.0.1:$dns_port"
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
STSD_E2E_URL="$base" node "$here/dashboard.e2e.mjs" || status=1
if [[ $status -ne 0 ]]; then
    echo "--- stsd log (tail) ---" >&2
    tail -n 40 "$tmp/stsd.log" >&2
fi
exit $status
