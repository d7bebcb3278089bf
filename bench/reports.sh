#!/usr/bin/env bash
# Benchmark of TLS report ingestion and queries (issue 8), on one machine, loopback only:
#
#   Ingestion:  a release `stsd serve` on a fresh PostgreSQL database receives a generated
#               corpus (default 100,000 gzip reports for 100 domains, shaped like Google's,
#               Microsoft's and other reporters') over HTTPS at reports.<zone>, as reporters
#               deliver them: C workers, one HTTP/1.1 keep-alive connection each, TLS verified
#               against the local CA root. Prints reports/s, p50/p99/max acknowledge latency
#               (a 2xx comes only once the report is stored), statuses, the CPU time stsd
#               and its PostgreSQL backends spent per report, and how busy the machine was.
#   Summary:    GET …/reports/summary for the domain that has a report every day of the year
#               (365-day range), group_by=day, result, organization and mx: median and p95 of
#               20 calls each (target < 50 ms).
#   Parsing:    stsd's parser (stsd_core::tlsrpt::decode + parse_json) vs parsedmarc (PyPI,
#               installed into a venv) on the same gzip files held in memory, one thread each,
#               pinned to the same CPU: reports/s and the ratio.
#
# Usage: bench/reports.sh [--reports N] [--domains D] [--concurrency C] [--seed S]
#          [--workdir DIR] [--no-build] [--keep-corpus]
# Environment: REPORTS, DOMAINS, CONCURRENCY override the defaults (100000, 100, 16);
#   CARGO_TARGET_DIR (default ~/.cache/stsd-target); STSD_BENCH_CACHE (default
#   ~/.cache/stsd-bench: the parsedmarc venv); PARSEDMARC_VERSION (default 11.1.0);
#   POST_TIMEOUT (seconds, default 3600).
# Needs PostgreSQL 15 on 127.0.0.1:5432 (user postgres, trust): it starts the Debian cluster
# when it is down, creates its own database stsd_bench_<pid> and drops it on exit, and stops
# everything it started.

set -euo pipefail

REPORTS=${REPORTS:-100000}
DOMAINS=${DOMAINS:-100}
CONCURRENCY=${CONCURRENCY:-16}
SEED=${SEED:-1}
WORK=${WORK:-/tmp/stsd-bench-reports}
BUILD=1
KEEP_CORPUS=0
CALLS=20
POST_TIMEOUT=${POST_TIMEOUT:-3600}
PARSEDMARC_VERSION=${PARSEDMARC_VERSION:-11.1.0}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --reports) REPORTS=$2; shift 2 ;;
        --domains) DOMAINS=$2; shift 2 ;;
        --concurrency) CONCURRENCY=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        --workdir) WORK=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --keep-corpus) KEEP_CORPUS=1; shift ;;
        -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/stsd-target}
BIN=$TARGET/release
CACHE=${STSD_BENCH_CACHE:-$HOME/.cache/stsd-bench}
VENV=$CACHE/parsedmarc-$PARSEDMARC_VERSION
ZONE=sts.bench.test
HOST=reports.$ZONE
MASTER_KEY=AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=
PASSWORD='violet quarry lantern 42 drift'
PG="postgres://postgres@127.0.0.1:5432"
DB=stsd_bench_$$
TCK=$(getconf CLK_TCK)
RESULTS=$WORK/results.txt

log() { printf '\n== %s\n' "$*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

# --- cleanup: stop what this script started, drop its database -------------------------------
STSD_PID=
CHILD=
DB_CREATED=0
cleanup() {
    trap '' INT TERM  # a second Ctrl-C must not cut the cleanup short
    if [[ -n $CHILD ]]; then kill -TERM "$CHILD" 2>/dev/null || true; fi
    if [[ -n $STSD_PID ]] && kill -0 "$STSD_PID" 2>/dev/null; then
        kill -TERM "$STSD_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$STSD_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$STSD_PID" 2>/dev/null || true
    fi
    if [[ $DB_CREATED == 1 ]]; then
        timeout 60 psql -q -h 127.0.0.1 -U postgres -d postgres \
            -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    if [[ $KEEP_CORPUS == 0 ]]; then rm -rf "$WORK/corpus"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a long step in the background and waits for it, so that a signal to this script stops
# at once (bash runs a trap only when the foreground command it waits for has ended).
run() { # output-file command...
    local out=$1 rc=0
    shift
    "$@" > "$out" &
    CHILD=$!
    wait "$CHILD" || rc=$?
    CHILD=
    return "$rc"
}

# --- tools -----------------------------------------------------------------------------------
for tool in psql pg_isready pg_ctlcluster curl jq python3 taskset; do
    command -v "$tool" >/dev/null || die "$tool is required (postgresql, postgresql-client, curl, jq, python3, util-linux)"
done
python3 -m venv --help >/dev/null 2>&1 || die "python3 venv is required (Debian: python3-venv)"

if [[ $BUILD == 1 ]]; then
    log "building stsd and crates/bench (release) into $TARGET"
    (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET timeout 3600 cargo build --release -q -p stsd -p stsd-bench)
fi
for b in stsd stsd-bench-reports; do [[ -x $BIN/$b ]] || die "$BIN/$b not built"; done

mkdir -p "$WORK" "$CACHE"
: > "$RESULTS"

# --- PostgreSQL: the local cluster, a database of our own -------------------------------------
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    log "starting the PostgreSQL cluster"
    timeout 60 pg_ctlcluster --skip-systemctl-redirect 15 main start
    for _ in $(seq 100); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
    pg_isready -q -h 127.0.0.1 -p 5432 || die "PostgreSQL does not answer on 127.0.0.1:5432"
fi
timeout 60 psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $DB" >/dev/null
DB_CREATED=1
sql() { timeout 120 psql -qtA -h 127.0.0.1 -U postgres -d "$DB" -c "$1"; }

# --- stsd serve on free loopback ports --------------------------------------------------------
free_ports() { # n -> n ports free for both TCP and UDP on 127.0.0.1
    python3 - "$1" <<'EOF'
import socket, sys
ports, held = [], []
while len(ports) < int(sys.argv[1]):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p))
    except OSError:
        t.close(); continue
    held += [t, u]; ports.append(p)
print(" ".join(map(str, ports)))
EOF
}
read -r API HTTPS HTTP DNS SMTP RESOLVER METRICS <<< "$(free_ports 7)"
mkdir -p "$WORK/run"
# `env` runs stsd with only our STSD_* settings and execs it, so $! is stsd's own pid.
STSD_ENV=(env $(env | sed -n 's/^\(STSD_[A-Z_]*\)=.*/-u \1/p')
    STSD_DATABASE_URL="$PG/$DB" STSD_SERVICE_ZONE=$ZONE STSD_MASTER_KEY=$MASTER_KEY
    STSD_RESOLVERS="127.0.0.1:$RESOLVER" STSD_DOMAIN_QUOTA=1000000
    STSD_DATA_DIR="$WORK/run/data" STSD_API_LISTEN="127.0.0.1:$API"
    STSD_EDGE_HTTPS_LISTEN="127.0.0.1:$HTTPS" STSD_EDGE_HTTP_LISTEN="127.0.0.1:$HTTP"
    STSD_DNS_LISTEN="127.0.0.1:$DNS" STSD_SMTP_LISTEN="127.0.0.1:$SMTP"
    STSD_METRICS_LISTEN="127.0.0.1:$METRICS"
    # 100,000 reports from one address to 100 labels in minutes: far beyond the receiver's
    # per-source and per-label limits for real reporters.
    STSD_REPORTS_SOURCE_REQUESTS_PER_MINUTE=10000000 STSD_REPORTS_SOURCE_MEGABYTES_PER_DAY=10000000
    STSD_REPORTS_LABEL_REQUESTS_PER_HOUR=10000000 STSD_REPORTS_LABEL_MEGABYTES_PER_DAY=10000000)
log "stsd serve: API 127.0.0.1:$API, HTTPS edge 127.0.0.1:$HTTPS, database $DB"
cd "$WORK/run"
"${STSD_ENV[@]}" "$BIN/stsd" serve > "$WORK/stsd.log" 2>&1 &
STSD_PID=$!
cd - >/dev/null
BASE="http://127.0.0.1:$API/api/v1"
for i in $(seq 300); do
    curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$API/readyz" && break
    kill -0 "$STSD_PID" 2>/dev/null || { tail -20 "$WORK/stsd.log" >&2; die "stsd exited"; }
    [[ $i == 300 ]] && { tail -20 "$WORK/stsd.log" >&2; die "stsd not ready after 60 s"; }
    sleep 0.2
done

api() { # method path [json] -> body (fails on HTTP errors)
    curl -sS --fail-with-body --max-time 30 -X "$1" "$BASE$2" -H "authorization: Bearer ${TOKEN:-}" \
        -H 'content-type: application/json' ${3:+--data "$3"}
}
login() {
    TOKEN=$(curl -sS --fail-with-body --max-time 30 "$BASE/auth/login" -H 'content-type: application/json' \
        --data "{\"email\":\"bench@example.com\",\"password\":\"$PASSWORD\"}" | jq -er .access_token)
}
log "sign-up and $DOMAINS domains"
SIGNUP=$(curl -sS --fail-with-body --max-time 30 "$BASE/auth/signup" -H 'content-type: application/json' \
    --data "{\"email\":\"bench@example.com\",\"password\":\"$PASSWORD\",\"tenant_name\":\"Bench\"}")
TOKEN=$(jq -er .access_token <<< "$SIGNUP")
TENANT=$(jq -er .tenant.id <<< "$SIGNUP")
: > "$WORK/labels.txt"
started=$(date +%s.%N)
# 25 at a time: each registration waits for its MX lookup to time out (the resolver port is
# unused so that nothing leaves the machine), which takes seconds.
register() { # index -> "<domain> <label>" appended to labels.txt
    local label
    label=$(api POST "/tenants/$TENANT/domains" "{\"name\":\"d$1.bench.example\"}" | jq -er .label) \
        && echo "d$1.bench.example $label" >> "$WORK/labels.txt"
}
batch=()
for i in $(seq 0 $((DOMAINS - 1))); do
    register "$i" &
    batch+=($!)
    if [[ ${#batch[@]} -ge 25 || $i -eq $((DOMAINS - 1)) ]]; then
        wait "${batch[@]}" || true
        batch=()
    fi
done
[[ $(wc -l < "$WORK/labels.txt") == "$DOMAINS" ]] \
    || die "registered $(wc -l < "$WORK/labels.txt") of $DOMAINS domains"
echo "registered $DOMAINS domains in $(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}') s" >&2

log "waiting for the $HOST certificate (local CA)"
for i in $(seq 120); do
    "${STSD_ENV[@]}" "$BIN/stsd" admin local-ca-root > "$WORK/root.pem" 2>/dev/null || true
    if [[ -s $WORK/root.pem ]] && curl -s -o /dev/null --max-time 2 --cacert "$WORK/root.pem" \
        --resolve "$HOST:$HTTPS:127.0.0.1" "https://$HOST:$HTTPS/"; then
        break
    fi
    [[ $i == 120 ]] && { tail -20 "$WORK/stsd.log" >&2; die "no certificate for $HOST after 120 s"; }
    sleep 1
done

# --- corpus ------------------------------------------------------------------------------------
log "generating $REPORTS reports for $DOMAINS domains (seed $SEED)"
rm -rf "$WORK/corpus"
timeout 1200 "$BIN/stsd-bench-reports" corpus --out "$WORK/corpus" --count "$REPORTS" \
    --domains "$DOMAINS" --seed "$SEED" | tee -a "$RESULTS" >&2
MANIFEST=$WORK/corpus/manifest.json
FROM=$(jq -er .from "$MANIFEST"); TO=$(jq -er .to "$MANIFEST")
YEAR_DOMAIN=$(jq -er .year_domain "$MANIFEST")
YEAR_REPORTS=$(jq -er .year_domain_reports "$MANIFEST")

# --- ingestion ---------------------------------------------------------------------------------
proc_ticks() { # pids... -> "pid ticks" lines
    local pid
    for pid in "$@"; do
        [[ -r /proc/$pid/stat ]] || continue
        # utime and stime are the 12th and 13th fields after the ")" ending the name.
        sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk -v p="$pid" '{print p, $12 + $13}'
    done
}
backends() { sql "SELECT pid FROM pg_stat_activity WHERE datname = '$DB'"; }
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
proc_ticks "$STSD_PID" > "$WORK/cpu-stsd-0"
proc_ticks $(backends) > "$WORK/cpu-pg-0"
MACHINE_0=$(machine_ticks)
log "posting $REPORTS reports over HTTPS, concurrency $CONCURRENCY"
run "$WORK/post.txt" timeout "$POST_TIMEOUT" "$BIN/stsd-bench-reports" post \
    --edge "127.0.0.1:$HTTPS" --host "$HOST" --root "$WORK/root.pem" \
    --labels "$WORK/labels.txt" --dir "$WORK/corpus" --concurrency "$CONCURRENCY" \
    || { cat "$WORK/post.txt" >&2; tail -20 "$WORK/stsd.log" >&2; die "posting failed (see above)"; }
cat "$WORK/post.txt" >&2
MACHINE_1=$(machine_ticks)
proc_ticks "$STSD_PID" > "$WORK/cpu-stsd-1"
proc_ticks $(backends) > "$WORK/cpu-pg-1"
# How busy all CPUs were (whoever used them), in CPU-seconds: what is left after stsd, its
# PostgreSQL backends and the client is other work on the machine.
BUSY_CPU=$(echo "$MACHINE_0 $MACHINE_1" | awk -v t="$TCK" '{ printf "%.1f", ($3 - $1) / t }')
BUSY_PCT=$(echo "$MACHINE_0 $MACHINE_1" | awk '{ printf "%.0f", 100 * ($3 - $1) / ($4 - $2) }')
cpu_delta() { # before after -> seconds: sum over the processes alive at the end
    awk -v t="$TCK" 'NR == FNR { b[$1] = $2; next } { d += $2 - b[$1] } END { printf "%.1f", d / t }' "$1" "$2"
}
STSD_CPU=$(cpu_delta "$WORK/cpu-stsd-0" "$WORK/cpu-stsd-1")
PG_CPU=$(cpu_delta "$WORK/cpu-pg-0" "$WORK/cpu-pg-1")
STORED=$(sql "SELECT count(*) FROM tlsrpt_reports")
DB_SIZE=$(sql "SELECT pg_size_pretty(pg_database_size('$DB'))")
# Rows written per report: each is one INSERT round trip to PostgreSQL in the ingest path.
ROWS=$(sql "SELECT (SELECT count(*) FROM tlsrpt_policies) || ' ' || (SELECT count(*) FROM tlsrpt_failures)")
ROWS_PER_REPORT=$(awk -v r="$ROWS" -v n="$STORED" 'BEGIN { split(r, a, " "); if (n > 0) printf "%.2f policies + %.2f failure details", a[1] / n, a[2] / n }')
sed "s/\$/ stsd_cpu_s=$STSD_CPU pg_cpu_s=$PG_CPU machine_busy_cpu_s=$BUSY_CPU machine_busy_pct=$BUSY_PCT stored=$STORED/" \
    "$WORK/post.txt" >> "$RESULTS"
[[ $STORED == "$REPORTS" ]] || die "$STORED reports stored, expected $REPORTS"

# --- summary queries ---------------------------------------------------------------------------
log "summary of $YEAR_DOMAIN, $FROM to $TO, $CALLS calls per grouping"
login  # the sign-up's access token may have expired during a long ingestion
SUMMARY="/tenants/$TENANT/domains/$YEAR_DOMAIN/reports/summary?from=$FROM&to=$TO"
api GET "$SUMMARY&group_by=day" > "$WORK/summary-day.json"
jq -e --argjson n "$YEAR_REPORTS" \
    '(.groups | length) == 365 and all(.groups[]; .reports > 0) and .totals.reports == $n' \
    "$WORK/summary-day.json" >/dev/null \
    || die "the day summary does not show $YEAR_REPORTS reports on 365 days: $(head -c 300 "$WORK/summary-day.json")"
for g in day result organization mx; do
    api GET "$SUMMARY&group_by=$g" > "$WORK/summary-$g.json"   # warm-up
    for _ in $(seq "$CALLS"); do
        curl -sS --fail --max-time 30 -o /dev/null -w '%{time_total}\n' \
            -H "authorization: Bearer $TOKEN" "$BASE$SUMMARY&group_by=$g"
    done | sort -g > "$WORK/summary-$g.times"
    awk -v g="$g" -v groups="$(jq '.groups | length' "$WORK/summary-$g.json")" '
        { t[NR] = $1 * 1000 }
        END { m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
              p = t[int(NR * 0.95 + 0.999999)]
              printf "RESULT label=summary-%s calls=%d groups=%d median_ms=%.1f p95_ms=%.1f max_ms=%.1f\n", g, NR, groups, m, p, t[NR] }' \
        "$WORK/summary-$g.times" | tee -a "$RESULTS" >&2
done

# stsd is not needed any more; the parsers run on a quieter machine.
kill -TERM "$STSD_PID" 2>/dev/null || true
for _ in $(seq 50); do kill -0 "$STSD_PID" 2>/dev/null || break; sleep 0.1; done

# --- parsing: stsd vs parsedmarc ----------------------------------------------------------------
if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c 'import parsedmarc' 2>/dev/null; then
    log "installing parsedmarc $PARSEDMARC_VERSION from PyPI into $VENV"
    rm -rf "$VENV"
    timeout 120 python3 -m venv "$VENV"
    timeout 900 "$VENV/bin/pip" install -q --disable-pip-version-check "parsedmarc==$PARSEDMARC_VERSION" >&2
fi
CPU=$(($(nproc) - 1))
log "parsing the same $REPORTS files in memory, one thread each, on CPU $CPU"
run "$WORK/parse-stsd.txt" timeout 1200 taskset -c "$CPU" "$BIN/stsd-bench-reports" parse \
    --dir "$WORK/corpus"
tee -a "$RESULTS" < "$WORK/parse-stsd.txt" >&2
cat > "$WORK/parsedmarc-bench.py" <<'EOF'
# Times parsedmarc on the corpus files held in memory (gzip bytes, as stsd gets them):
#   direct: parsedmarc.extract_report(gz) (gunzip + decode) + parse_smtp_tls_report_json(text),
#           the SMTP TLS path with nothing else, like stsd's decode + parse_json;
#   file:   parsedmarc.parse_report_file(gz, offline=True), its entry point for a report file
#           (it tries the DMARC aggregate parser first, then the SMTP TLS one).
import os, statistics, sys, time
import parsedmarc

d = sys.argv[1]
names = sorted(n for n in os.listdir(d) if n.endswith(".json.gz"))
files = []
for n in names:
    with open(os.path.join(d, n), "rb") as f:
        files.append(f.read())

def direct(gz):
    return parsedmarc.parse_smtp_tls_report_json(parsedmarc.extract_report(gz))

def whole(gz):
    r = parsedmarc.parse_report_file(gz, offline=True)
    if r["report_type"] != "smtp_tls":
        raise ValueError(r["report_type"])
    return r

failed = 0
for gz in files[:2000]:
    try:
        direct(gz)
    except Exception as e:
        failed += 1
        if failed == 1:
            print(f"parsedmarc error: {e}", file=sys.stderr)
if failed:
    sys.exit(f"parsedmarc rejected {failed} of the first 2000 files")
# Wall-clock and CPU time (time.process_time) of each pass, like stsd-bench-reports parse.
wall, cpu = [], []
for _ in range(3):
    t, c = time.perf_counter(), time.process_time()
    for gz in files:
        direct(gz)
    wall.append(len(files) / (time.perf_counter() - t))
    cpu.append(len(files) / max(time.process_time() - c, 1e-9))
t, c = time.perf_counter(), time.process_time()
for gz in files:
    whole(gz)
file_rate = len(files) / (time.perf_counter() - t)
file_cpu_rate = len(files) / max(time.process_time() - c, 1e-9)
print(f"RESULT label=parsedmarc-parse files={len(files)} rounds=3 rps={statistics.median(wall):.0f} "
      f"cpu_rps={statistics.median(cpu):.0f} rounds_rps={','.join(f'{r:.0f}' for r in wall)} "
      f"parse_report_file_rps={file_rate:.0f} parse_report_file_cpu_rps={file_cpu_rate:.0f} "
      f"version={parsedmarc.__version__}")
EOF
run "$WORK/parse-parsedmarc.txt" timeout 1800 taskset -c "$CPU" "$VENV/bin/python" \
    "$WORK/parsedmarc-bench.py" "$WORK/corpus"
tee -a "$RESULTS" < "$WORK/parse-parsedmarc.txt" >&2

# --- report ------------------------------------------------------------------------------------
field() { awk -v l="label=$1" -v k="$2" '$2 == l { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' "$RESULTS" | tail -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "n/a" }'; }
per_report() { awk -v s="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.2f", s * 1000 / n; else print "n/a" }'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v + 0 < t ? "meets" : "MISSES") }'; }
{
    echo
    echo "stsd TLS report benchmark — $(date -u +%FT%TZ) — $(nproc) CPUs — PostgreSQL $(sql 'SHOW server_version')"
    echo "Corpus: $REPORTS reports, $DOMAINS domains, $FROM to $TO; average $(awk '/^CORPUS/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "avg_json_bytes") j = kv[2]; if (kv[1] == "avg_gzip_bytes") z = kv[2] } } END { print j " B JSON, " z " B gzip" }' "$RESULTS")"
    echo
    echo "Ingestion over HTTPS (concurrency $CONCURRENCY, keep-alive, PostgreSQL, stored: $STORED, database $DB_SIZE;"
    echo "  rows per report: $ROWS_PER_REPORT):"
    echo "  $(field post rps) reports/s in $(field post seconds) s;" \
        "acknowledge latency p50 $(field post p50_ms) ms, p99 $(field post p99_ms) ms, max $(field post max_ms) ms"
    echo "  statuses: $(grep '^RESULT label=post' "$RESULTS" | grep -o 'status_[0-9]*=[0-9]*' | tr '\n' ' ')errors $(field post errors), retries $(field post retries)"
    echo "  CPU per report: stsd $(per_report "$STSD_CPU" "$REPORTS") ms, PostgreSQL backends $(per_report "$PG_CPU" "$REPORTS") ms, client $(per_report "$(field post client_cpu_s)" "$REPORTS") ms"
    echo "  CPU time in the window: stsd $STSD_CPU s, its PostgreSQL backends $PG_CPU s, client $(field post client_cpu_s) s;" \
        "all CPUs were $BUSY_PCT% busy ($BUSY_CPU CPU-s, the rest is other work on the machine)"
    echo
    echo "Summary of $YEAR_DOMAIN ($YEAR_REPORTS reports, 365 days), $CALLS calls each (target < 50 ms):"
    for g in day result organization mx; do
        printf '  group_by=%-12s median %6s ms   p95 %6s ms   (%s groups)  %s\n' "$g" \
            "$(field "summary-$g" median_ms)" "$(field "summary-$g" p95_ms)" \
            "$(field "summary-$g" groups)" "$(verdict "$(field "summary-$g" p95_ms)" 50)"
    done
    echo
    s=$(field stsd-parse rps); p=$(field parsedmarc-parse rps); f=$(field parsedmarc-parse parse_report_file_rps)
    sc=$(field stsd-parse cpu_rps); pc=$(field parsedmarc-parse cpu_rps); fc=$(field parsedmarc-parse parse_report_file_cpu_rps)
    echo "Parsing the same $REPORTS gzip files in memory, one thread on CPU $CPU (reports/s by wall clock; by CPU time):"
    printf '  %-62s %8s %8s  (decode = gunzip + checks: %s%% of its CPU)\n' "stsd: decode + parse_json" "$s" "$sc" "$(field stsd-parse decode_cpu_pct)"
    printf '  %-62s %8s %8s  → stsd/parsedmarc = %s (CPU: %s)\n' \
        "parsedmarc $(field parsedmarc-parse version): extract_report + parse_smtp_tls_report_json" \
        "$p" "$pc" "$(ratio "$s" "$p")" "$(ratio "$sc" "$pc")"
    printf '  %-62s %8s %8s  → stsd/parsedmarc = %s (CPU: %s)\n' \
        "parsedmarc: parse_report_file(offline=True)" "$f" "$fc" "$(ratio "$s" "$f")" "$(ratio "$sc" "$fc")"
    echo
    echo "Raw results: $RESULTS; stsd log: $WORK/stsd.log"
} | tee "$WORK/report.txt"
