#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser that reads bytes from outside
# (cargo-fuzz + libFuzzer; targets and their input formats in
# fuzz/fuzz_targets/). Each target reads two committed folders:
#   fuzz/seeds/<target>/   seed-*: inputs made from tests/fixtures (any
#                          size); regress-*: inputs that crashed once
#   fuzz/corpus/<target>/  what fuzzing grew, minimized, inputs of at most
#                          4 KiB (bigger ones regrow from the seeds)
#
#   scripts/fuzz.sh [run] [-m MINUTES | -r RUNS] [-j JOBS] [TARGET...]
#       Builds the targets, then fuzzes each in turn (all when none is
#       named) for MINUTES minutes (default 5) or RUNS executions, growing
#       fuzz/corpus/<target>/; prints the executions each target reached.
#       Add a finding's input to fuzz/seeds/<target>/regress-NAME with its
#       fix.
#       A crash, hang (> 10 s) or allocation over 2 GiB stops that target:
#       the input is in fuzz/artifacts/<target>/, and the script exits 1.
#   scripts/fuzz.sh smoke
#       What scripts/test.sh runs: installs the pinned nightly and
#       cargo-fuzz if missing, builds, and runs every target for a few
#       seconds from the seeds and corpus with a fixed seed (-seed=1); new
#       inputs go to a scratch folder, the committed ones are only read.
#       Fails on any finding.
#   scripts/fuzz.sh cmin [TARGET...]
#       After a campaign: drops grown inputs over 4 KiB and minimizes the
#       rest (cargo fuzz cmin), before the corpus is committed.
#   scripts/fuzz.sh seeds
#       Rewrites fuzz/seeds/<target>/seed-* from tests/fixtures/
#       (fuzz/examples/make_seeds.rs).
#   scripts/fuzz.sh list
#       The targets.
#
# A finding is reproduced with
#   cargo +$NIGHTLY fuzz run TARGET fuzz/artifacts/TARGET/crash-...
# Only fuzzing needs nightly (libFuzzer's instrumentation); the workspace
# itself builds on stable. Environment: NICE (default 10) runs builds and
# fuzzers at that niceness; CARGO_BUILD_JOBS limits build parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned: a new nightly or cargo-fuzz is a deliberate change, not a
# surprise in CI.
NIGHTLY="$(cat scripts/nightly-toolchain)"
CARGO_FUZZ_VERSION=0.13.2
TARGETS=(gguf safetensors config tokenizer lora sampler ffi)
NICE="${NICE:-10}"

say() { printf '==> %s\n' "$*" >&2; }

install_tools() {
    if ! rustup run "$NIGHTLY" rustc --version >/dev/null 2>&1; then
        say "installing $NIGHTLY"
        rustup toolchain install "$NIGHTLY" --profile minimal
    fi
    if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
        say "installing cargo-fuzz $CARGO_FUZZ_VERSION"
        cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
    fi
}

fuzz() { (cd fuzz && nice -n "$NICE" cargo "+$NIGHTLY" fuzz "$@"); }

build() {
    say "building the fuzz targets ($NIGHTLY, AddressSanitizer, debug assertions)"
    fuzz build "$@"
}

# run_one TARGET LOG CORPUS_DIR... -- LIBFUZZER_ARGS...: fuzzes TARGET,
# prints "TARGET EXECS SECONDS STATUS" and returns the fuzzer's status.
run_one() {
    local t=$1 log=$2
    shift 2
    local dirs=()
    while [ "$1" != "--" ]; do
        dirs+=("$1")
        shift
    done
    shift
    local start=$SECONDS rc=0
    fuzz run "$t" "${dirs[@]}" -- -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "$@" >"$log" 2>&1 || rc=$?
    local execs
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    local status=ok
    if [ "$rc" -ne 0 ]; then
        status="FAILED (exit $rc; see $log)"
        grep -E "^(==[0-9]+==ERROR|SUMMARY|thread .* panicked)|artifact_prefix|Test unit written" "$log" >&2 || true
    fi
    printf '%-12s %12s execs %6ss  %s\n' "$t" "${execs:-?}" "$((SECONDS - start))" "$status"
    return "$rc"
}

cmd_run() {
    local minutes=5 runs="" jobs=1 targets=()
    while [ $# -gt 0 ]; do
        case "$1" in
            -m) minutes=$2; shift 2 ;;
            -r) runs=$2; shift 2 ;;
            -j) jobs=$2; shift 2 ;;
            -*) echo "unknown option $1" >&2; exit 2 ;;
            *) targets+=("$1"); shift ;;
        esac
    done
    [ ${#targets[@]} -gt 0 ] || targets=("${TARGETS[@]}")
    local limit=(-max_total_time=$((minutes * 60)))
    [ -n "$runs" ] && limit=(-runs="$runs")
    # More than one job: libFuzzer's fork mode (its workers' counts are
    # not summed here).
    [ "$jobs" -gt 1 ] && limit+=(-fork="$jobs")
    install_tools
    build
    mkdir -p fuzz/artifacts
    local failed=0
    for t in "${targets[@]}"; do
        mkdir -p "fuzz/corpus/$t" "fuzz/seeds/$t"
        run_one "$t" "$PWD/fuzz/artifacts/$t.log" "$PWD/fuzz/corpus/$t" "$PWD/fuzz/seeds/$t" -- \
            "${limit[@]}" || failed=1
    done
    exit "$failed"
}

cmd_smoke() {
    install_tools
    build
    local tmp failed=0
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    for t in "${TARGETS[@]}"; do
        mkdir -p "$tmp/$t"
        # New inputs go to the scratch folder (the first); the committed
        # ones are only read.
        mkdir -p "fuzz/corpus/$t" "fuzz/seeds/$t"
        if ! run_one "$t" "$tmp/$t.log" "$tmp/$t" "$PWD/fuzz/corpus/$t" "$PWD/fuzz/seeds/$t" -- \
            -seed=1 -runs=20000 -max_total_time=15; then
            tail -40 "$tmp/$t.log" >&2
            failed=1
        fi
    done
    return "$failed"
}

cmd_cmin() {
    local targets=("$@")
    [ ${#targets[@]} -gt 0 ] || targets=("${TARGETS[@]}")
    install_tools
    build
    for t in "${targets[@]}"; do
        local before after
        before=$(ls "fuzz/corpus/$t" | wc -l)
        find "fuzz/corpus/$t" -type f -size +4096c -delete
        fuzz cmin "$t" "$PWD/fuzz/corpus/$t" -- -timeout=10 -rss_limit_mb=2048 \
            >"fuzz/artifacts/$t-cmin.log" 2>&1
        after=$(ls "fuzz/corpus/$t" | wc -l)
        printf '%-12s %6s -> %6s inputs, %s\n' "$t" "$before" "$after" \
            "$(du -sh --apparent-size "fuzz/corpus/$t" | cut -f1)"
    done
}

cmd_seeds() {
    install_tools
    say "writing fuzz/seeds/ from tests/fixtures/"
    (cd fuzz && nice -n "$NICE" cargo "+$NIGHTLY" run --release --example make_seeds -- seeds)
}

case "${1:-run}" in
    run) shift $(($# > 0 ? 1 : 0)); cmd_run "$@" ;;
    smoke) cmd_smoke ;;
    cmin) shift; mkdir -p fuzz/artifacts; cmd_cmin "$@" ;;
    seeds) cmd_seeds ;;
    list) printf '%s\n' "${TARGETS[@]}" ;;
    -*) cmd_run "$@" ;;
    *) if printf '%s\n' "${TARGETS[@]}" | grep -qx "$1"; then cmd_run "$@"; else
        echo "usage: scripts/fuzz.sh [run|smoke|cmin|seeds|list] [options] [TARGET...]" >&2; exit 2
    fi ;;
esac
