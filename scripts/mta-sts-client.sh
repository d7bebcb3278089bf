#!/usr/bin/env bash
# Installs the real MTA-STS client the end-to-end world test (tests/world) drives:
# postfix-mta-sts-resolver from PyPI, pinned, in its own venv; prints the path of its
# `mta-sts-query` command. Idempotent and safe to run concurrently (a lock guards the install).
#
# Environment:
#   STSD_TOOLS_DIR   where the venv lives (default ~/.cache/stsd-tools)
set -euo pipefail

version="1.5.1"
tools="${STSD_TOOLS_DIR:-$HOME/.cache/stsd-tools}"
venv="$tools/mta-sts-$version"
query="$venv/bin/mta-sts-query"

mkdir -p "$tools"
exec 9>"$tools/mta-sts.lock"
flock 9
installed=$("$venv/bin/pip" show postfix-mta-sts-resolver 2>/dev/null || true)
if ! grep -qx "Version: $version" <<<"$installed"; then
    echo "installing postfix-mta-sts-resolver $version into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "postfix-mta-sts-resolver==$version" >&2
fi
[[ -x "$query" ]] || { echo "no mta-sts-query in $venv" >&2; exit 1; }
echo "$query"
