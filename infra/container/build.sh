#!/usr/bin/env bash
# Builds the stsd image: a release build of the binary and the dashboard, staged into a
# build context with the Containerfile, then `podman build` (or docker). Prints the image
# name. The base is pulled when a registry is reachable; `--local-base` makes it first with
# base.sh (mmdebstrap) for machines without one.
#
# Usage: infra/container/build.sh [--engine podman|docker] [--tag NAME] [--local-base]
#                                 [--no-compile]
# Environment: CARGO_TARGET_DIR (where the release build goes, default ./target).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

engine=podman
tag=localhost/stsd:0.1.0
local_base=no
compile=yes
while [[ $# -gt 0 ]]; do
    case "$1" in
        --engine) engine=$2; shift 2 ;;
        --tag) tag=$2; shift 2 ;;
        --local-base) local_base=yes; shift ;;
        --no-compile) compile=no; shift ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done

target="${CARGO_TARGET_DIR:-$root/target}"
if [[ $compile == yes ]]; then
    cargo build --locked --release -q -p stsd --bin stsd
    # Only the image's name goes to standard output.
    (cd frontend && { [[ -d node_modules ]] || npm ci --no-audit --no-fund >&2; } && npm run -s build >&2)
fi
[[ -x "$target/release/stsd" ]] || { echo "no release build at $target/release/stsd" >&2; exit 1; }
[[ -f frontend/dist/index.html ]] || { echo "no dashboard build in frontend/dist" >&2; exit 1; }

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
# Debug information stays out of the image (the binary is the image's largest part).
objcopy --strip-debug "$target/release/stsd" "$context/stsd"
cp -r frontend/dist "$context/dashboard"
mkdir "$context/data"
cp infra/container/Containerfile "$context/Containerfile"

# The base is pulled when missing, unless it was just made here.
pull=missing
if [[ $local_base == yes ]]; then
    infra/container/base.sh --engine "$engine" >/dev/null
    pull=never
fi
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
"$engine" build --quiet --pull="$pull" -f "$context/Containerfile" \
    --build-arg "REVISION=$revision" -t "$tag" "$context" >/dev/null
echo "$tag"
