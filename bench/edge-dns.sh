#!/usr/bin/env bash
# Benchmark of the serving layer against the usual reference servers, on one machine:
#
#   HTTPS edge:  stsd edge vs nginx, the same 1,000 ECDSA P-256 certificates and policy bytes,
#                TLS 1.3 / X25519 / AES-128-GCM, for a new TLS connection per request
#                (no session resumption: every handshake is full) and for keep-alive.
#   DNS:         stsd DNS vs Knot (Debian `knot`), the same 10,000 `<label>.policy.<zone>` TXT
#                names, queried with dnsperf over UDP.
#   Load:        100,000 active domains with certificates: snapshot load time and memory.
#
# Each server is pinned to CPU 0 and its load generator to CPU 1. The figure that matters is
# the server's CPU time per request: the utime+stime delta of the server processes
# (/proc/<pid>/stat) over a measured window, divided by the requests completed in it. The
# load generator's own CPU use is printed too, to show which side is the limit.
#
# The HTTPS load generator is crates/bench (stsd-bench-load): a single-threaded rustls
# (aws-lc-rs) client that skips certificate verification so that it stays cheaper than the
# server it measures.
#
# Usage: bench/edge-dns.sh [--duration S] [--warmup S] [--concurrency N] [--dns-seconds S]
#          [--domains N] [--dns-names N] [--big-domains N (0 = skip)] [--workdir DIR]
#          [--port-base P] [--rounds N] [--only https,dns,load] [--no-install] [--no-build]
# With --rounds N the stsd and reference runs alternate N times and the report shows medians
# (other work on the machine then disturbs both sides alike). Loopback only; everything it starts is stopped on exit. Defaults finish in well under ten
# minutes once built (the first 100,000-domain seeding takes a few minutes and is cached in
# the work directory).

set -euo pipefail

DURATION=10
WARMUP=2
CONCURRENCY=32
DNS_SECONDS=10
DOMAINS=1000
DNS_NAMES=10000
BIG_DOMAINS=100000
WORK=/tmp/stsd-bench
PORT_BASE=18440
INSTALL=1
BUILD=1
ZONE=bench.stsd.example
ROUNDS=1
ONLY=https,dns,load

while [[ $# -gt 0 ]]; do
    case "$1" in
        --duration) DURATION=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --concurrency) CONCURRENCY=$2; shift 2 ;;
        --dns-seconds) DNS_SECONDS=$2; shift 2 ;;
        --domains) DOMAINS=$2; shift 2 ;;
        --dns-names) DNS_NAMES=$2; shift 2 ;;
        --big-domains) BIG_DOMAINS=$2; shift 2 ;;
        --workdir) WORK=$2; shift 2 ;;
        --port-base) PORT_BASE=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        --no-install) INSTALL=0; shift ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-/root/.cache/stsd-bench-target}
BIN=$TARGET/release
STSD_HTTPS=$((PORT_BASE + 3))   # 18443
NGINX_HTTPS=$((PORT_BASE + 4))  # 18444
STSD_DNS=$((PORT_BASE + 13))    # 18453
KNOT_DNS=$((PORT_BASE + 14))    # 18454
TCK=$(getconf CLK_TCK)
RESULTS=$WORK/results.txt

wants() { [[ ",$ONLY," == *",$1,"* ]]; }
log() { printf '\n== %s\n' "$*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

# --- cleanup: stop exactly what this script started -------------------------------------
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop() { # pid
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
}

# --- tools -----------------------------------------------------------------------------------
need_pkgs=()
command -v nginx >/dev/null || need_pkgs+=(nginx)
command -v knotd >/dev/null || need_pkgs+=(knot)
command -v dnsperf >/dev/null || need_pkgs+=(dnsperf)
if [[ ${#need_pkgs[@]} -gt 0 ]]; then
    [[ $INSTALL == 1 ]] || die "missing ${need_pkgs[*]} (run without --no-install, as root)"
    log "installing ${need_pkgs[*]}"
    for p in "${need_pkgs[@]}"; do
        # Captured, not piped into `grep -q`: under pipefail its early exit fails the pipe.
        candidate() { [[ $(apt-cache policy "$1" 2>/dev/null) == *"Candidate: "[0-9]* ]]; }
        candidate "$p" || apt-get update -qq
        candidate "$p" || die "no Debian candidate for $p"
    done
    # Debian's policy-rc.d in containers keeps the packages from starting their services.
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "${need_pkgs[@]}" >&2
fi
command -v taskset >/dev/null || die "taskset (util-linux) is required"

if [[ $BUILD == 1 ]]; then
    log "building crates/bench (release) into $TARGET"
    (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET timeout 1800 cargo build --release -q -p stsd-bench)
fi
for b in stsd-bench-seed stsd-bench-serve stsd-bench-load; do
    [[ -x $BIN/$b ]] || die "$BIN/$b not built"
done

mkdir -p "$WORK"
: > "$RESULTS"

# --- seeding (not measured) ------------------------------------------------------------------
log "seeding $DOMAINS domains for the edge (stsd store + nginx files)"
timeout 600 "$BIN/stsd-bench-seed" --db "$WORK/edge.db" --out "$WORK/edge" \
    --domains "$DOMAINS" --nginx-listen "127.0.0.1:$NGINX_HTTPS" >&2
log "seeding $DNS_NAMES domains for DNS (stsd store + Knot zone)"
timeout 900 "$BIN/stsd-bench-seed" --db "$WORK/dns.db" --out "$WORK/dns" \
    --domains "$DNS_NAMES" --dns-zone "$ZONE" >&2

# --- helpers ---------------------------------------------------------------------------------
wait_for_line() { # file pattern seconds pid
    local i
    for i in $(seq $(($3 * 10))); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$4" 2>/dev/null || { cat "$1" >&2; die "process $4 exited"; }
        sleep 0.1
    done
    cat "$1" >&2
    die "timed out waiting for '$2' in $1"
}

start_stsd() { # name args... ; sets SERVER_PID
    local name=$1; shift
    taskset -c 0 "$BIN/stsd-bench-serve" "$@" > "$WORK/$name.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_for_line "$WORK/$name.log" '^ready' 120 "$SERVER_PID"
    grep '^LOAD' "$WORK/$name.log" >&2
}

fetch() { # port -> prints headers and body of d0's policy, verified against the test CA
    local host=mta-sts.d0.bench.example
    curl -sS --max-time 5 --cacert "$WORK/edge/ca.pem" --tlsv1.3 -D - \
        --resolve "$host:$1:127.0.0.1" "https://$host:$1/.well-known/mta-sts.txt"
}

load() { # label mode port pids
    taskset -c 1 "$BIN/stsd-bench-load" --target "127.0.0.1:$3" --names "$WORK/edge/names.txt" \
        --mode "$2" --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup "$WARMUP" \
        --server-pids "$4" --clk-tck "$TCK" --label "$1" | tee -a "$RESULTS" >&2
}

proc_ticks() { # pids (space-separated) -> summed utime+stime
    local total=0 pid f
    for pid in "$@"; do
        # Fields after the ")" that ends the command name: utime is the 12th, stime the 13th.
        f=$(sed 's/.*) //' "/proc/$pid/stat")
        total=$((total + $(echo "$f" | awk '{print $12 + $13}')))
    done
    echo "$total"
}

cpu_busy() { # cpu -> "busy total" ticks since boot, whoever used the CPU
    awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat
}

dns_run() { # label port pids...
    local label=$1 port=$2; shift 2
    local before after out cpu queries qps rcodes resp client c0a c0b c1a c1b busy
    taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$WORK/dns/queries.txt" -n 1 -t 2 \
        > "$WORK/$label-probe.txt" 2>&1 || true
    grep -q 'Queries completed: *[1-9]' "$WORK/$label-probe.txt" \
        || { cat "$WORK/$label-probe.txt" >&2; die "$label does not answer"; }
    before=$(proc_ticks "$@")
    c0a=$(cpu_busy 0); c1a=$(cpu_busy 1)
    out=$WORK/$label-dnsperf.txt
    # bash's `time` gives dnsperf's own CPU (user+sys seconds).
    { TIMEFORMAT='%U %S'; time taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" \
        -d "$WORK/dns/queries.txt" -l "$DNS_SECONDS" > "$out" 2>&1; } 2> "$WORK/$label-time.txt"
    after=$(proc_ticks "$@")
    c0b=$(cpu_busy 0); c1b=$(cpu_busy 1)
    busy=$(echo "$c0a $c0b $c1a $c1b" | awk '{ printf "cpu0_busy_pct=%.0f cpu1_busy_pct=%.0f", 100 * ($3 - $1) / ($4 - $2), 100 * ($7 - $5) / ($8 - $6) }')
    queries=$(awk '/Queries completed:/ {print $3}' "$out")
    qps=$(awk '/Queries per second:/ {print $4}' "$out")
    rcodes=$(awk -F': *' '/Response codes:/ {print $2}' "$out" | tr -d ' ')
    resp=$(awk '/Average packet size:/ {print $7}' "$out")
    client=$(awk -v s="$DNS_SECONDS" '{printf "%.0f", 100 * ($1 + $2) / s}' "$WORK/$label-time.txt")
    cpu=$(awk -v d=$((after - before)) -v t="$TCK" -v q="$queries" -v s="$DNS_SECONDS" \
        'BEGIN {printf "server_cpu_us_per_query=%.2f server_cpu_pct=%.0f", (q > 0 ? d / t * 1e6 / q : 0), 100 * d / t / s}')
    echo "RESULT label=$label queries=$queries qps=${qps%.*} $cpu client_cpu_pct=$client $busy resp_bytes=$resp rcodes=$rcodes" \
        | tee -a "$RESULTS" >&2
}

# --- HTTPS: stsd -----------------------------------------------------------------------------
https_stsd() {
log "stsd edge on CPU 0, port $STSD_HTTPS"
start_stsd stsd-edge --db "$WORK/edge.db" --https "127.0.0.1:$STSD_HTTPS"
fetch "$STSD_HTTPS" > "$WORK/stsd-fetch.txt" || die "stsd edge does not answer"
cat "$WORK/stsd-fetch.txt" >&2
load stsd-new new-conn "$STSD_HTTPS" "$SERVER_PID"
load stsd-keep keep-alive "$STSD_HTTPS" "$SERVER_PID"
stop "$SERVER_PID"
}

# --- HTTPS: nginx ----------------------------------------------------------------------------
mkdir -p "$WORK/nginx-run/tmp"
cat > "$WORK/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $WORK/nginx-run/nginx.pid;
error_log $WORK/nginx-run/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    server_tokens off;
    client_body_temp_path $WORK/nginx-run/tmp/body;
    proxy_temp_path $WORK/nginx-run/tmp/proxy;
    fastcgi_temp_path $WORK/nginx-run/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx-run/tmp/uwsgi;
    scgi_temp_path $WORK/nginx-run/tmp/scgi;
    # The same protocol and key exchange as the stsd runs (the client offers only
    # TLS_AES_128_GCM_SHA256 and X25519).
    ssl_protocols TLSv1.3;
    ssl_ecdh_curve X25519;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    server_names_hash_max_size 65536;
    include $WORK/edge/nginx/servers.conf;
}
EOF
nginx -t -q -p "$WORK/nginx-run" -c "$WORK/nginx.conf" || die "nginx rejects its configuration"
https_nginx() {
log "nginx (1 worker) on CPU 0, port $NGINX_HTTPS"
taskset -c 0 nginx -p "$WORK/nginx-run" -c "$WORK/nginx.conf" > "$WORK/nginx.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
for _ in $(seq 100); do fetch "$NGINX_HTTPS" > "$WORK/nginx-fetch.txt" 2>/dev/null && break; sleep 0.1; done
cat "$WORK/nginx-fetch.txt" >&2
# Same policy bytes (headers differ: Date, Server, Connection).
diff <(sed '1,/^\r$/d' "$WORK/stsd-fetch.txt") <(sed '1,/^\r$/d' "$WORK/nginx-fetch.txt") >&2 \
    || die "nginx and stsd serve different bytes"
NGINX_PIDS=$(echo "$NGINX_PID" $(pgrep -P "$NGINX_PID") | tr ' ' ',')
load nginx-new new-conn "$NGINX_HTTPS" "$NGINX_PIDS"
load nginx-keep keep-alive "$NGINX_HTTPS" "$NGINX_PIDS"
kill -QUIT "$NGINX_PID" 2>/dev/null || true
stop "$NGINX_PID"
}

# --- DNS: stsd -------------------------------------------------------------------------------
dns_stsd() {
log "stsd DNS on CPU 0, port $STSD_DNS ($DNS_NAMES TXT names)"
start_stsd stsd-dns --db "$WORK/dns.db" --dns "127.0.0.1:$STSD_DNS" --zone "$ZONE"
dns_run stsd-dns "$STSD_DNS" "$SERVER_PID"
stop "$SERVER_PID"
}

# --- DNS: Knot -------------------------------------------------------------------------------
cat > "$WORK/knot.conf" <<EOF
server:
    rundir: "$WORK/knot-run"
    listen: 127.0.0.1@$KNOT_DNS
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: "$WORK/knot-db"
template:
  - id: default
    storage: "$WORK/dns/knot"
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: $ZONE
    file: "$ZONE.zone"
EOF
dns_knot() {
log "knotd on CPU 0, port $KNOT_DNS"
rm -rf "$WORK/knot-run" "$WORK/knot-db"
mkdir -p "$WORK/knot-run" "$WORK/knot-db"
taskset -c 0 knotd -c "$WORK/knot.conf" > "$WORK/knot.log" 2>&1 &
KNOT_PID=$!
PIDS+=("$KNOT_PID")
sleep 1
for _ in $(seq 50); do
    taskset -c 1 dnsperf -s 127.0.0.1 -p "$KNOT_DNS" -d "$WORK/dns/queries.txt" -n 1 -t 1 2>/dev/null \
        | grep -q 'Queries completed: *[1-9]' && break
    sleep 0.2
done
dns_run knot "$KNOT_DNS" "$KNOT_PID"
stop "$KNOT_PID"
}

for round in $(seq "$ROUNDS"); do
    [[ $ROUNDS -gt 1 ]] && log "round $round of $ROUNDS"
    if wants https; then
        https_stsd
        https_nginx
    fi
    if wants dns; then
        dns_stsd
        dns_knot
    fi
done

# --- 100,000 domains: load time and memory ---------------------------------------------------
if [[ $BIG_DOMAINS -gt 0 ]] && wants load; then
    # The cached store is valid for this size and this schema.
    BIG_KEY="$BIG_DOMAINS $(cat "$ROOT"/migrations/sqlite/* 2>/dev/null | sha256sum | cut -c1-16)"
    if [[ -f $WORK/big.db && $(cat "$WORK/big.count" 2>/dev/null) == "$BIG_KEY" ]]; then
        log "reusing $WORK/big.db ($BIG_DOMAINS domains)"
    else
        log "seeding $BIG_DOMAINS domains (once; cached in $WORK/big.db)"
        rm -f "$WORK/big.count"
        timeout 1800 "$BIN/stsd-bench-seed" --db "$WORK/big.db" --out "$WORK/big" \
            --domains "$BIG_DOMAINS" >&2
        echo "$BIG_KEY" > "$WORK/big.count"
    fi
    log "loading the $BIG_DOMAINS-domain snapshot on CPU 0, then on all CPUs"
    taskset -c 0 timeout 300 "$BIN/stsd-bench-serve" --db "$WORK/big.db" --exit-after-load \
        --clk-tck "$TCK" 2>"$WORK/big-load.log" | tee "$WORK/big-load.txt" >&2
    sed 's/^LOAD/RESULT label=big/' "$WORK/big-load.txt" >> "$RESULTS"
    timeout 300 "$BIN/stsd-bench-serve" --db "$WORK/big.db" --exit-after-load \
        --clk-tck "$TCK" 2>>"$WORK/big-load.log" | tee "$WORK/big-load-all.txt" >&2
    sed 's/^LOAD/RESULT label=big-all/' "$WORK/big-load-all.txt" >> "$RESULTS"
fi

# --- report ----------------------------------------------------------------------------------
field() { # label key -> the median over rounds (the last value when not numeric)
    awk -v l="label=$1" -v k="$2" '$2 == l { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' "$RESULTS" \
        | { mapfile -t v; [[ ${#v[@]} -eq 0 ]] && exit 0
            if printf '%s\n' "${v[@]}" | grep -qvE '^-?[0-9.]+$'; then echo "${v[-1]}"
            else printf '%s\n' "${v[@]}" | sort -g | sed -n "$(( (${#v[@]} + 1) / 2 ))p"; fi; }
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { if (r == "n/a") print "?"; else print (r <= t ? "meets" : "MISSES") }'; }

{
    echo
    echo "stsd serving benchmark — $(date -u +%FT%TZ) — $(nproc) CPUs, server on CPU 0, load on CPU 1"
    [[ $ROUNDS -gt 1 ]] && echo "Medians of $ROUNDS alternating rounds (every run: $RESULTS)"
    echo "HTTPS: $DOMAINS hosts, ECDSA P-256, TLS 1.3 X25519 AES-128-GCM, concurrency $CONCURRENCY, ${DURATION}s windows"
    echo
    printf '%-6s %-10s %9s %13s %9s %9s %8s %8s %9s %7s\n' server mode 'req/s' 'CPU µs/req' 'p50 µs' 'p99 µs' 'srv CPU%' 'gen CPU%' 'CPU0 busy' errors
    for s in stsd nginx; do
        for m in new keep; do
            printf '%-6s %-10s %9s %13s %9s %9s %8s %8s %9s %7s\n' "$s" \
                "$([[ $m == new ]] && echo new-conn || echo keep-alive)" \
                "$(field "$s-$m" rps)" "$(field "$s-$m" server_cpu_us_per_req)" \
                "$(field "$s-$m" p50_us)" "$(field "$s-$m" p99_us)" \
                "$(field "$s-$m" server_cpu_pct)" "$(field "$s-$m" client_cpu_pct)" \
                "$(field "$s-$m" cpu0_busy_pct)" "$(field "$s-$m" errors)"
        done
    done
    echo
    echo "DNS: $DNS_NAMES TXT names, dnsperf (UDP, 100 outstanding), ${DNS_SECONDS}s"
    printf '%-6s %9s %15s %9s %9s %9s %10s  %s\n' server qps 'CPU µs/query' 'srv CPU%' 'gen CPU%' 'CPU0 busy' 'resp bytes' rcodes
    for s in stsd-dns knot; do
        printf '%-6s %9s %15s %9s %9s %9s %10s  %s\n' "${s%-dns}" "$(field "$s" qps)" \
            "$(field "$s" server_cpu_us_per_query)" "$(field "$s" server_cpu_pct)" \
            "$(field "$s" client_cpu_pct)" "$(field "$s" cpu0_busy_pct)" \
            "$(field "$s" resp_bytes)" "$(field "$s" rcodes)"
    done
    echo
    r_new=$(ratio "$(field stsd-new server_cpu_us_per_req)" "$(field nginx-new server_cpu_us_per_req)")
    r_keep=$(ratio "$(field stsd-keep server_cpu_us_per_req)" "$(field nginx-keep server_cpu_us_per_req)")
    r_dns=$(ratio "$(field stsd-dns server_cpu_us_per_query)" "$(field knot server_cpu_us_per_query)")
    echo "Server CPU per request, stsd / reference (target):"
    echo "  new-conn   stsd/nginx = $r_new  (≤ 0.80: $(verdict "$r_new" 0.80))"
    echo "  keep-alive stsd/nginx = $r_keep  (≤ 1.00: $(verdict "$r_keep" 1.00))"
    echo "  DNS        stsd/knot  = $r_dns  (≤ 1.25: $(verdict "$r_dns" 1.25))"
    for l in stsd-new stsd-keep nginx-new nginx-keep stsd-dns knot; do
        p=$(field "$l" server_cpu_pct)
        if [[ -n $p && $p -lt 90 ]]; then
            c0=$(field "$l" cpu0_busy_pct); c1=$(field "$l" cpu1_busy_pct); g=$(field "$l" client_cpu_pct)
            if [[ ${c0:-0} -ge 90 ]]; then
                why="CPU 0 was ${c0}% busy: other processes took the rest (CPU µs/request still holds; req/s does not)"
            elif [[ ${g:-0} -ge 90 ]]; then
                why="the load generator was the limit (${g}% of CPU 1)"
            elif [[ ${c1:-0} -ge 90 ]]; then
                why="CPU 1 was ${c1}% busy: other processes slowed the generator (${g}%), so the server idled"
            else
                why="neither side saturated its core (generator ${g}%, CPU 0 ${c0}% busy)"
            fi
            echo "  note: $l: the server used ${p}% of CPU 0; $why"
        fi
        g=$(field "$l" client_cpu_pct)
        if [[ -n $g && $g -ge 90 && -n $p && $p -ge 90 ]]; then
            echo "  note: $l: the generator used ${g}% of CPU 1, near its limit too"
        fi
    done
    if [[ $BIG_DOMAINS -gt 0 ]] && wants load; then
        echo
        echo "Snapshot of $(field big hosts) active domains with certificates (target: load < 5 s, memory < 1024 MiB):"
        echo "  pinned to CPU 0: load $(field big load_s) s wall, $(field big load_cpu_s) s CPU;" \
            "RSS $(field big rss_mib) MiB, peak $(field big peak_rss_mib) MiB"
        echo "  unpinned:        load $(field big-all load_s) s wall, $(field big-all load_cpu_s) s CPU;" \
            "RSS $(field big-all rss_mib) MiB, peak $(field big-all peak_rss_mib) MiB"
    fi
    echo
    echo "Raw results: $RESULTS; logs in $WORK. Other work on this machine makes the figures noisy."
} | tee "$WORK/report.txt"
