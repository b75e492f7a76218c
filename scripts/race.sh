#!/usr/bin/env bash
# The worker pool (core/src/threads.rs) under race detectors. It is
# lock-free and hands each job to its workers as a borrowed pointer whose
# lifetime it erases, so its soundness rests on its atomics: the tests
# check it two ways.
#   1. Miri: the pool's unit tests interpreted, with undefined behaviour,
#      data races and memory-order errors reported, under several thread
#      schedules (-Zmiri-many-seeds).
#   2. ThreadSanitizer: the pool's unit tests and a multi-threaded prefill
#      and decode of a tiny model (core/tests/session.rs), with std rebuilt
#      instrumented (-Zbuild-std), as TSan needs to see std's atomics.
#
#   scripts/race.sh [miri|tsan]...      (both when none is named)
#
# Needs a pinned nightly with miri and rust-src, which it installs; the
# workspace itself builds on stable. About 2 minutes for Miri and 4 for a
# cold TSan build on 2 cores. `.ci/run` runs it through scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

NIGHTLY="$(cat scripts/nightly-toolchain)"
NICE="${NICE:-5}"
say() { printf '==> %s\n' "$*" >&2; }

rustup toolchain install "$NIGHTLY" --profile minimal --component miri,rust-src >/dev/null 2>&1 ||
    rustup toolchain install "$NIGHTLY" --profile minimal --component miri,rust-src

miri() {
    say "Miri: the worker pool's tests, 4 schedules"
    # Isolation off: the tests read the clock (a worker that sleeps).
    MIRIFLAGS="-Zmiri-disable-isolation -Zmiri-many-seeds=0..4" \
        nice -n "$NICE" cargo "+$NIGHTLY" miri test -p minke --lib --locked -- threads::
    MIRIFLAGS="-Zmiri-disable-isolation" canary Miri \
        nice -n "$NICE" cargo "+$NIGHTLY" miri test -p minke --lib --locked
}

tsan() {
    say "ThreadSanitizer: the worker pool's tests and a tiny model on 1-4 threads"
    local target
    target="$(rustc -vV | sed -n 's/^host: //p')"
    # Its own target folder: the instrumented std must not mix with the
    # normal build's artifacts.
    RUSTFLAGS="-Zsanitizer=thread" CARGO_TARGET_DIR=target/tsan \
        TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
        nice -n "$NICE" cargo "+$NIGHTLY" test -Zbuild-std --target "$target" --locked \
        -p minke --lib --test session -- threads:: thread_counts interleaved_weights
    RUSTFLAGS="-Zsanitizer=thread" CARGO_TARGET_DIR=target/tsan canary ThreadSanitizer \
        nice -n "$NICE" cargo "+$NIGHTLY" test -Zbuild-std --target "$target" --locked -p minke --lib
}

# canary NAME CMD...: CMD runs the deliberately racy test; its detector
# must report the race, or the detector is not working. A detector sees
# a race only in the interleavings it runs, so up to three tries.
canary() {
    local name=$1
    shift
    say "$name: the canary race must be reported"
    local out try
    for try in 1 2 3; do
        out="$("$@" -- --ignored --exact threads::tests::canary_data_race 2>&1 || true)"
        if grep -qi "data race" <<<"$out"; then
            printf '  reported (try %s)\n' "$try" >&2
            return 0
        fi
    done
    echo "scripts/race.sh: $name did not report the deliberate race in canary_data_race (3 tries)" >&2
    exit 1
}

jobs=("$@")
[ ${#jobs[@]} -eq 0 ] && jobs=(miri tsan)
for j in "${jobs[@]}"; do
    case "$j" in
    miri) miri ;;
    tsan) tsan ;;
    *)
        echo "scripts/race.sh: unknown job '$j' (miri, tsan)" >&2
        exit 2
        ;;
    esac
done
say "race detectors: no report"
