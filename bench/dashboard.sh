#!/usr/bin/env bash
# The dashboard's budget (issue 9): the domains page of a tenant with 10,000 domains is usable
# within 1 s, measured in Chromium (frontend/scripts/budget.mjs), plus the initial JavaScript
# gzipped (`npm run size`).
#
#   bench/dashboard.sh [--domains 10000] [--runs 7] [--release] [--workdir DIR] [--no-settle]
#
# With --workdir the seeded store is kept there and reused by the next run with the same
# directory (seeding 10,000 domains takes about two minutes on a debug build).
# Starts a real `stsd serve` (SQLite in a temporary directory, loopback ports, DNS lookups sent
# to its own DNS: no network), signs a user up through the API, stops stsd and adds the domains
# to that user's tenant through the store (`stsd-bench-seed --tenant`: each one registered,
# with a live policy and a certificate, then made active — the same store calls the serving
# benchmark uses; 10,000 API calls would measure the API, not the page), starts stsd again and
# runs the browser measurement. Builds stsd and stsd-bench-seed (debug unless --release) into
# CARGO_TARGET_DIR and frontend/dist when missing. Always stops stsd.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
domains=10000
runs=7
profile=debug
workdir=""
settle=yes
while (($#)); do
    case "$1" in
        --domains) domains=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --release) profile=release; shift ;;
        --workdir) workdir=$2; shift 2 ;;
        --no-settle) settle=no; shift ;;
        -h|--help) sed -n 2,15p "$0"; exit 0 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
target="${CARGO_TARGET_DIR:-$repo/target}"
flags=(--locked)
[[ $profile == release ]] && flags+=(--release)
(cd "$repo" && cargo build "${flags[@]}" -p stsd -p stsd-bench --bin stsd --bin stsd-bench-seed)
bin="$target/$profile/stsd"
seed="$target/$profile/stsd-bench-seed"
if [[ ! -f "$repo/frontend/dist/index.html" ]]; then
    (cd "$repo/frontend" && { [[ -d node_modules ]] || npm ci --no-audit --no-fund; } && npm run build)
fi

free_port() {
    node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}
if [[ -n "$workdir" ]]; then
    mkdir -p "$workdir"
    tmp=$(cd "$workdir" && pwd)
else
    tmp=$(mktemp -d)
fi
pid=""
stop() {
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    pid=""
}
trap 'stop; [[ -n "$workdir" ]] || rm -rf "$tmp"' EXIT

api_port=$(free_port)
dns_port=$(free_port)
export STSD_DATA_DIR="$tmp/data"
export STSD_API_LISTEN="127.0.0.1:$api_port"
export STSD_EDGE_HTTPS_LISTEN="127.0.0.1:$(free_port)"
export STSD_EDGE_HTTP_LISTEN="127.0.0.1:$(free_port)"
export STSD_SMTP_LISTEN="127.0.0.1:$(free_port)"
export STSD_METRICS_LISTEN="127.0.0.1:$(free_port)"
export STSD_DNS_LISTEN="127.0.0.1:$dns_port"
export STSD_RESOLVERS="127.0.0.1:$dns_port"
export STSD_DASHBOARD_DIR="$repo/frontend/dist"
export STSD_DOMAIN_QUOTA=$((domains + 100))
# The key stsd-bench-seed seals the certificates' keys with (32 bytes of 0x09; test data).
export STSD_MASTER_KEY="CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk="
export RUST_LOG=warn
unset STSD_CONFIG STSD_DATABASE_URL
base="http://127.0.0.1:$api_port"

start() {
    (cd "$repo" && exec "$bin" serve) >>"$tmp/stsd.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 150); do
        if curl -fsS "$base/readyz" >/dev/null 2>&1; then return 0; fi
        if ! kill -0 "$pid" 2>/dev/null; then break; fi
        sleep 0.2
    done
    echo "stsd did not start:" >&2
    tail -n 30 "$tmp/stsd.log" >&2
    exit 1
}

email="budget@example.com"
password="violet quarry lantern 42 drift"
if [[ -f "$tmp/seeded-$domains" ]]; then
    tenant=$(cat "$tmp/seeded-$domains")
    echo "reusing the store in $tmp: $domains domains in tenant $tenant"
else
rm -rf "$tmp/data" "$tmp/seed" "$tmp"/seeded-*
start
tenant=$(curl -fsS "$base/api/v1/auth/signup" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"$password\",\"tenant_name\":\"Budget\"}" |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).tenant.id))')
stop

echo "seeding $domains domains into tenant $tenant ($profile build)"
t0=$(date +%s.%N)
"$seed" --db "$tmp/data/stsd.db" --out "$tmp/seed" --domains "$domains" --tenant "$tenant" >/dev/null
echo "seeded in $(node -e "console.log(($(date +%s.%N)-$t0).toFixed(1))") s"
echo "$tenant" >"$tmp/seeded-$domains"
fi

start
# Right after start the verifier gives every domain its first check (10,000 of them, eight at
# a time); the measurement waits for that sweep to end (stsd under 10% of a core for 3 s, at
# most 10 minutes) so that it measures the page, not the sweep; `--no-settle` measures during it.
cpu_ticks() { awk '{print $14+$15}' "/proc/$pid/stat"; }
if [[ $settle == yes ]]; then
    waited=0
    while ((waited < 600)); do
        a=$(cpu_ticks); sleep 3; b=$(cpu_ticks); waited=$((waited + 3))
        # clock ticks are 1/100 s: under 30 ticks in 3 s is under 10% of a core
        if ((b - a < 30)); then break; fi
    done
    echo "stsd settled after ${waited} s (the verifier's first sweep)"
fi
listed=$(curl -fsS "$base/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"$password\"}" |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).access_token))')
# The list request on its own, as the page makes it (first page, 50 rows), timed by curl.
for i in 1 2 3; do
    curl -fsS -o /dev/null -w "GET domains?limit=50: %{time_total}s\n" \
        -H "Authorization: Bearer $listed" "$base/api/v1/tenants/$tenant/domains?limit=50"
done
curl -fsS -o /dev/null -w "GET domains?q=d9999.&limit=50 (search): %{time_total}s\n" \
    -H "Authorization: Bearer $listed" "$base/api/v1/tenants/$tenant/domains?q=d9999.&limit=50"

status=0
STSD_URL="$base" STSD_EMAIL="$email" STSD_PASSWORD="$password" STSD_TENANT="$tenant" \
    node "$repo/frontend/scripts/budget.mjs" --runs "$runs" || status=1
(cd "$repo/frontend" && node scripts/bundle-size.mjs) || status=1
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
