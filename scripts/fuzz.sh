#!/usr/bin/env bash
# Runs the coverage-guided fuzz targets of fuzz/ (cargo-fuzz, libFuzzer) for a while each and
# fails when any of them finds a crash, a timeout or an out-of-memory input. See fuzz/README.md.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   SECONDS_PER_TARGET  libFuzzer's -max_total_time for each target (default 60)
#   TARGET...           targets to run (default: all, as `cargo fuzz list` names them)
#
# Environment:
#   STSD_TOOLS            where cargo-fuzz is installed if missing (default ~/.cache/stsd-tools)
#   STSD_FUZZ_TARGET_DIR  cargo target dir of the fuzz build (default ~/.cache/stsd-fuzz)
#   STSD_FUZZ_WORK        working corpora, artifacts and logs (default ~/.cache/stsd-fuzz-work)
#   STSD_FUZZ_SANITIZER   cargo-fuzz --sanitizer: none (default) or address
#   STSD_FUZZ_MAX_CORPUS  a working corpus with more inputs is minimized first (default 4000)
#
# The committed seeds (fuzz/corpus/<target>/) are copied into the working corpus, which keeps
# what earlier runs on this machine found; nothing is written into the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
if [[ ! "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2
    exit 2
fi
shift $(( $# > 0 ? 1 : 0 ))

CARGO_FUZZ_VERSION=0.13.2
tools="${STSD_TOOLS:-$HOME/.cache/stsd-tools}"
target_dir="${STSD_FUZZ_TARGET_DIR:-$HOME/.cache/stsd-fuzz}"
work="${STSD_FUZZ_WORK:-$HOME/.cache/stsd-fuzz-work}"
sanitizer="${STSD_FUZZ_SANITIZER:-none}"
export PATH="$tools/bin:$PATH"
export CARGO_TERM_COLOR=never
# Sanitizers (-Zsanitizer) are unstable flags; rustc accepts them on a stable toolchain only
# with this. The default build (no sanitizer) needs no unstable flag.
if [[ "$sanitizer" != none ]]; then
    export RUSTC_BOOTSTRAP=1
fi

if ! command -v c++ >/dev/null 2>&1; then
    echo "libFuzzer builds with a C++ compiler: install g++ (scripts/deps.sh does)" >&2
    exit 1
fi
if [[ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    echo "installing cargo-fuzz $CARGO_FUZZ_VERSION into $tools (a few minutes, once)" >&2
    # Its own build directory, not the CARGO_TARGET_DIR that CI sets for the workspace.
    env -u CARGO_TARGET_DIR cargo install --quiet --locked --root "$tools" cargo-fuzz \
        --version "$CARGO_FUZZ_VERSION"
fi

if ! cargo metadata --quiet --locked --format-version 1 --manifest-path fuzz/Cargo.toml \
    >/dev/null 2>&1; then
    echo "warning: fuzz/Cargo.lock is out of date with the crates; cargo updates it now:" \
        "commit the change" >&2
fi

if (( $# > 0 )); then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
fi

build_flags=(--fuzz-dir fuzz --target-dir "$target_dir" --release --debug-assertions
    --sanitizer "$sanitizer")
started=$(date +%s)
if (( $# > 0 )); then
    for t in "${targets[@]}"; do
        cargo fuzz build "${build_flags[@]}" "$t"
    done
else
    cargo fuzz build "${build_flags[@]}"
fi
echo "fuzz targets built in $(( $(date +%s) - started ))s"

triple="$(rustc -vV | sed -n 's/^host: //p')"
bin_dir="$target_dir/$triple/release"
run_id="$(date -u +%Y%m%dT%H%M%SZ)-$$"
max_corpus="${STSD_FUZZ_MAX_CORPUS:-4000}"
# Logs of the last 20 runs are kept.
if [[ -d "$work/logs" ]]; then
    find "$work/logs" -mindepth 1 -maxdepth 1 -type d | sort | head -n -19 | xargs -r rm -rf
fi
failed=()
summary=()

for t in "${targets[@]}"; do
    bin="$bin_dir/$t"
    if [[ ! -x "$bin" ]]; then
        echo "no fuzz target named $t (see: cargo fuzz list --fuzz-dir fuzz)" >&2
        exit 2
    fi
    corpus="$work/corpus/$t"
    artifacts="$work/artifacts/$run_id/$t"
    log="$work/logs/$run_id/$t.log"
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
    if [[ -d "fuzz/corpus/$t" ]]; then
        cp -n fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
    fi
    # The working corpus keeps growing from run to run. Past a few thousand inputs, and half as
    # many again as after the last merge, libFuzzer's merge keeps a smaller set with the same
    # coverage (seconds), so that loading it does not eat the run.
    inputs=$(find "$corpus" -type f | wc -l)
    merged=$(cat "$work/corpus/.$t.merged" 2>/dev/null || echo 0)
    if (( inputs > max_corpus && inputs > merged * 3 / 2 )); then
        rm -rf "$corpus.min" && mkdir -p "$corpus.min"
        if "$bin" -merge=1 -timeout=10 "$corpus.min" "$corpus" >"$log.merge" 2>&1; then
            rm -rf "$corpus" && mv "$corpus.min" "$corpus"
            inputs=$(find "$corpus" -type f | wc -l)
            echo "$inputs" >"$work/corpus/.$t.merged"
            echo "   working corpus merged down to $inputs inputs"
        else
            rm -rf "$corpus.min"
        fi
    fi
    echo "== $t: ${seconds}s (corpus $corpus, log $log)"
    set +e
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1
    status=$?
    set -e
    # libFuzzer's last status line: "#N DONE cov: C ft: F corp: ... exec/s: E rss: R".
    last="$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)"
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
    cov="$(grep -oE 'cov: [0-9]+' <<<"$last" | cut -d' ' -f2 || true)"
    ft="$(grep -oE 'ft: [0-9]+' <<<"$last" | cut -d' ' -f2 || true)"
    corp="$(grep -oE 'corp: [0-9]+' <<<"$last" | cut -d' ' -f2 || true)"
    found=()
    while IFS= read -r -d '' f; do found+=("$f"); done < <(
        find "$artifacts" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' \
            -o -name 'leak-*' \) -print0
    )
    result=ok
    if (( ${#found[@]} > 0 )) || (( status != 0 )); then
        result=FAILED
        failed+=("$t")
        echo "!! $t failed (libFuzzer exit $status); the end of its log:"
        grep -v '^\(INFO\|#\)' "$log" | tail -n 40
        for f in "${found[@]}"; do
            echo "!! artifact: $f ($(stat -c %s "$f") bytes)"
            od -A x -t x1z -v "$f" | head -n 32
            echo "!! reproduce: $bin $f"
            echo "!!   or: cargo fuzz run --fuzz-dir fuzz --sanitizer $sanitizer $t $f"
        done
    else
        rmdir "$artifacts" 2>/dev/null || true
    fi
    line="$(printf '%-14s %-6s execs %-10s exec/s %-7s cov %-6s ft %-7s corpus %s' \
        "$t" "$result" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")"
    echo "$line"
    summary+=("$line")
done

echo
echo "fuzzing summary (${seconds}s per target, in $(( $(date +%s) - started ))s with the build):"
printf '  %s\n' "${summary[@]}"
if (( ${#failed[@]} > 0 )); then
    echo "fuzzing found problems in: ${failed[*]} (artifacts under $work/artifacts/$run_id)" >&2
    exit 1
fi
