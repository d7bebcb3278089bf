#!/usr/bin/env bash
# A new user's first run, following the README literally: in a fresh clone, its run command
# (dashboard build + `cargo run --release -p stsd -- serve`), its admin commands and its curl
# session, each block taken out of README.md as it stands and run as written with bash.
# Fails when a command fails, when jq (Debian's, 1.6) cannot read its filter, or when the
# answers lack what the README says they show. Used by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

command -v jq >/dev/null || {
    echo "the README's curl session uses jq: apt-get install jq" >&2
    exit 1
}

work=$(mktemp -d /tmp/stsd-readme-walk.XXXXXX)
server_pid=
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill -TERM -- "-$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# The blocks, as the README has them.
python3 - "$repo/README.md" "$work" <<'PY'
import pathlib, re, sys
readme, out = pathlib.Path(sys.argv[1]).read_text(), pathlib.Path(sys.argv[2])
def section(title):
    start = readme.index(f"\n## {title}\n")
    end = readme.find("\n## ", start + 1)
    return readme[start:end if end != -1 else None]
def blocks(text):
    return re.findall(r"```sh\n(.*?)```", text, re.S)
quick = blocks(section("Quick start"))
run = [l for l in quick[0].splitlines() if "-- serve" in l]
assert len(run) == 1, quick[0]
(out / "run.sh").write_text(run[0] + "\n")
admin = [b for b in quick if "admin create-user" in b]
assert len(admin) == 1, quick
(out / "admin.sh").write_text(admin[0])
curl = blocks(section("A first domain with curl"))
(out / "curl.sh").write_text(curl[0])
PY

git clone -q "$repo" "$work/clone"
# The build cache is shared with the rest of the suite (and survives the clone); the port and
# the data directory are the README's defaults.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
cd "$work/clone"
if curl -s -o /dev/null "http://127.0.0.1:8080/readyz"; then
    echo "something already listens on 127.0.0.1:8080, where the README's stsd goes" >&2
    exit 1
fi

echo "== run: $(cat "$work/run.sh")"
setsid bash -euo pipefail "$work/run.sh" >"$work/serve.log" 2>&1 &
server_pid=$!
# The first run builds the dashboard and a release binary: 10 minutes or more on two cores.
for _ in $(seq 1 2400); do
    if curl -sf -o /dev/null http://127.0.0.1:8080/readyz; then break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        tail -n 40 "$work/serve.log" >&2
        echo "the README's run command stopped" >&2
        exit 1
    fi
    sleep 1
done
curl -sf -o /dev/null http://127.0.0.1:8080/readyz || {
    tail -n 40 "$work/serve.log" >&2
    echo "stsd did not become ready" >&2
    exit 1
}
grep -q "dashboard at http://127.0.0.1:8080/" "$work/serve.log" || {
    tail -n 40 "$work/serve.log" >&2
    echo "stsd serve did not log the dashboard's address" >&2
    exit 1
}
page=$(curl -s http://127.0.0.1:8080/)
[[ "$page" == *"<!doctype html>"* || "$page" == *"<!DOCTYPE html>"* ]] || {
    echo "the dashboard is not at /: $page" >&2
    exit 1
}

echo "== admin commands"
bash -euo pipefail "$work/admin.sh" >"$work/admin.out" 2>&1 || {
    cat "$work/admin.out" >&2
    exit 1
}
grep -q "user created" "$work/admin.out" && grep -q "tenant created" "$work/admin.out" || {
    cat "$work/admin.out" >&2
    echo "the admin commands did not say what they created" >&2
    exit 1
}
# Run twice, as a user retrying would: the tenant is not made twice.
if bash -euo pipefail <(grep "create-tenant" "$work/admin.sh") >"$work/admin2.out" 2>&1; then
    cat "$work/admin2.out" >&2
    echo "create-tenant made a second tenant of the same name" >&2
    exit 1
fi
grep -q "already has a tenant named" "$work/admin2.out"

echo "== curl session"
bash -euo pipefail "$work/curl.sh" >"$work/curl.out" 2>"$work/curl.err" || {
    cat "$work/curl.out" "$work/curl.err" >&2
    exit 1
}
if [[ -s "$work/curl.err" ]]; then
    cat "$work/curl.err" >&2
    echo "the curl session wrote errors (jq?)" >&2
    exit 1
fi
out=$(cat "$work/curl.out")
# The add-domain answer (its MX discovery may find nothing on a machine without internet,
# so the proposed policy is not looked for), the zone-file snippet and a planned move's steps.
for want in '"label": "' '"state": "pending"' 'CNAME' '"step": "finish"'; do
    [[ "$out" == *"$want"* ]] || {
        echo "$out" >&2
        echo "the curl session's output lacks $want" >&2
        exit 1
    }
done
# The edit's new policy id, the token and the enforce refusal (409 with the failing checks).
grep -Eq '^"[0-9]{8}T[0-9]{6}[A-Za-z0-9]*"$' "$work/curl.out" || {
    echo "$out" >&2
    echo "the policy edit printed no new id" >&2
    exit 1
}
grep -Eq '^stsd_[A-Za-z0-9_-]+$' "$work/curl.out" || {
    echo "$out" >&2
    echo "no API token in the output" >&2
    exit 1
}
[[ "$out" == *'"code": "'* ]] || {
    echo "$out" >&2
    echo "the enforce switch did not answer with the error envelope" >&2
    exit 1
}
echo "README walk passed"
