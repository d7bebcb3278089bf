#!/usr/bin/env bash
# Schema-driven fuzzing of the REST API: runs schemathesis (from PyPI) against the OpenAPI
# document of a freshly started `stsd serve` on SQLite, and fails on any server error (5xx) or
# any answer that breaks the documented schema, status codes, content types or headers.
#
# Environment:
#   STSD_TOOLS_DIR        where the Python venv lives (default ~/.cache/stsd-tools)
#   CARGO_TARGET_DIR      cargo's target directory (default ./target)
#   FUZZ_MAX_EXAMPLES     examples per operation and phase (default 50)
#   FUZZ_TIMEOUT          seconds the schemathesis run may take (default 600; about
#                         2 minutes on an idle 2-core machine, much more while other builds run)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
start=$(date +%s)

tools="${STSD_TOOLS_DIR:-$HOME/.cache/stsd-tools}"
venv="$tools/venv"
schemathesis_version="4.32.5"
max_examples="${FUZZ_MAX_EXAMPLES:-50}"
fuzz_timeout="${FUZZ_TIMEOUT:-600}"

# --- schemathesis, pinned, in its own venv --------------------------------------------------
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$schemathesis_version"; then
    echo "installing schemathesis $schemathesis_version into $venv" >&2
    mkdir -p "$tools"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
fi

# --- build -----------------------------------------------------------------------------------
cargo build --quiet --locked -p stsd
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
stsd="$target/debug/stsd"
[[ -x "$stsd" ]] || { echo "no stsd binary at $stsd" >&2; exit 1; }

# --- start a server on free ports with a fresh data directory -------------------------------
work=$(mktemp -d)
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
port=$(free_port)
base="http://127.0.0.1:$port"

# Every listener on a free loopback port, so that the run never collides with a real server.
# The customer's DNS is stsd's own DNS listener: it answers REFUSED for every name outside
# the service zone, at once, so MX discovery and the reading of a domain's own MTA-STS fail
# fast and the API reports it in the answer, which is part of the contract being fuzzed. (A
# dead address would make each of those requests wait out the whole DNS timeout.)
dns_port=$(free_port)
env -i PATH="$PATH" HOME="$HOME" RUST_LOG="${RUST_LOG:-warn}" \
    STSD_DATA_DIR="$work/data" \
    STSD_API_LISTEN="127.0.0.1:$port" \
    STSD_EDGE_HTTPS_LISTEN="127.0.0.1:$(free_port)" \
    STSD_EDGE_HTTP_LISTEN="127.0.0.1:$(free_port)" \
    STSD_DNS_LISTEN="127.0.0.1:$dns_port" \
    STSD_SMTP_LISTEN="127.0.0.1:$(free_port)" \
    STSD_METRICS_LISTEN="127.0.0.1:$(free_port)" \
    STSD_RESOLVERS="127.0.0.1:$dns_port" \
    STSD_MX_GATE_WAIT_SECONDS=3 \
    "$stsd" serve >"$work/server.log" 2>&1 &
server_pid=$!

for _ in $(seq 1 100); do
    if curl -fsS "$base/healthz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "stsd exited during start:" >&2
        cat "$work/server.log" >&2
        exit 1
    fi
    sleep 0.2
done
curl -fsS "$base/readyz" >/dev/null

# --- an account to fuzz with -----------------------------------------------------------------
signup=$(curl -fsS -X POST "$base/api/v1/auth/signup" -H 'content-type: application/json' \
    -d '{"email":"fuzz@example.com","password":"violet quarry lantern 42 drift","tenant_name":"Fuzz"}')
token=$(printf '%s' "$signup" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
tenant=$(printf '%s' "$signup" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tenant"]["id"])')
# One domain with a policy, so that the domain and policy operations have something to find.
curl -fsS -o /dev/null -X POST "$base/api/v1/tenants/$tenant/domains" \
    -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d '{"name":"fuzz.example","policy":{"mode":"testing","mx":["mx.fuzz.example"],"max_age":86400}}'

# --- fuzz -----------------------------------------------------------------------------------
report="$work/junit.xml"
status=0
# The report upload takes gzip or JSON report files (`application/tlsrpt+gzip`), which
# schemathesis cannot generate from a schema; its bad-input cases (bombs, garbage, oversize,
# mislabelled types) are in the API's black-box tests (crates/api/tests/api/reports.rs).
# The access token lives 15 minutes, longer than the run. The `tenant` path parameter is pinned
# to the real tenant, so that the tenant-scoped operations get past the access check and reach
# their handlers; foreign and made-up tenants are the black-box tests' job.
printf '[parameters]\n"path.tenant" = "%s"\n' "$tenant" >"$work/schemathesis.toml"
timeout --kill-after=10 "$fuzz_timeout" \
    "$venv/bin/schemathesis" --config-file "$work/schemathesis.toml" --no-color \
    run "$base/api/v1/openapi.json" \
    --header "Authorization: Bearer $token" \
    --exclude-operation-id uploadReport \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,response_headers_conformance \
    --max-examples "$max_examples" \
    --phases examples,coverage,fuzzing \
    --workers 2 \
    --request-timeout 15 \
    --generation-database none \
    --report junit --report-junit-path "$report" \
    || status=$?

if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "stsd died during the fuzz run:" >&2
    tail -n 50 "$work/server.log" >&2
    status=1
fi
if grep -q '"level":"ERROR"\| ERROR \|panicked' "$work/server.log"; then
    echo "stsd logged errors during the fuzz run:" >&2
    grep '"level":"ERROR"\| ERROR \|panicked' "$work/server.log" | head -n 20 >&2
    status=1
fi

echo "fuzz-api: schemathesis exit $status after $(( $(date +%s) - start ))s"
exit "$status"
