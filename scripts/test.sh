#!/usr/bin/env bash
# The whole test suite, runnable on a fresh machine: installs what the tests
# need (rust components, the real model, C tools, cross toolchain, qemu),
# then checks formatting and lints and runs every test: Rust (golden
# fixtures, the real model end to end), the C ABI (scripts/test-c.sh), the
# worker pool under race detectors (scripts/race.sh), the crates' packages
# and docs, the suite again on aarch64 under qemu, and builds for Android
# and 32-bit ARM. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$SECONDS
step() { printf '\n==> [%4ss] %s\n' "$((SECONDS - start))" "$*" >&2; }

step "toolchain components"
rustup component add rustfmt clippy >/dev/null 2>&1 || true

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "the real model (SmolLM2-135M-Instruct, GGUF Q4_1)"
MINKE_MODEL="$(scripts/fetch-model.sh)"
export MINKE_MODEL MINKE_REQUIRE_MODEL=1

step "cargo test"
cargo test --workspace --locked --no-fail-fast

step "the C ABI"
scripts/test-c.sh

step "the JVM binding (scripts/test-java.sh; installs a JDK if javac is missing)"
scripts/test-java.sh

step "the worker pool under Miri and ThreadSanitizer (pinned nightly)"
scripts/race.sh

step "fuzz smoke (every fuzz target a few seconds from its corpus)"
scripts/fuzz.sh smoke

# ---------------------------------------------------------------------------
# The crates as crates.io and docs.rs would take them: every package
# assembles (license files, metadata, path dependencies with versions;
# `--no-verify`: building the packaged sources again costs a minute, and
# `cargo publish --workspace --dry-run` does that before a release), and the
# docs build as docs.rs builds them, warnings as errors. minke-ffi's
# library is also named `minke`, so its docs build apart.
step "cargo package, docs as docs.rs builds them"
cargo package --workspace --locked --no-verify --allow-dirty >/dev/null
RUSTDOCFLAGS="--cfg docsrs -D warnings" cargo doc --no-deps --locked -p minke-quant -p minke
RUSTDOCFLAGS="--cfg docsrs -D warnings" cargo doc --no-deps --locked -p minke-ffi

# ---------------------------------------------------------------------------
# aarch64: the suite on a second architecture, cross-compiled and run under
# qemu-user (linker and runner in .cargo/config.toml): the NEON kernels
# (QEMU_CPU=max exposes dotprod; MINKE_REQUIRE_DOTPROD fails the kernel
# tests if the dotprod table was not among those tested), minke's tests
# (fixtures of every architecture, zero allocations, hostile files, a part
# of the real model), the C ABI's Rust tests and the C suite.
step "aarch64 toolchain (cross gcc, qemu-user)"
A64=aarch64-unknown-linux-gnu
if ! rustup target list --installed | grep -qx "$A64"; then
    rustup target add "$A64"
fi
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null \
    || [ ! -e /usr/aarch64-linux-gnu/lib/libc.so.6 ]; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update
    $sudo_cmd apt-get install -y gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
fi
# The tests and libminke build once, in the test profile (opt-level 2,
# debug assertions on), with line tables only: full debug information
# makes the aarch64 build a third slower and is not read under qemu.
export CARGO_PROFILE_TEST_DEBUG=line-tables-only
A64_PKGS=(-p minke-quant -p minke -p minke-ffi)

step "aarch64: build the tests"
cargo test "${A64_PKGS[@]}" --locked --target "$A64" --no-run

# Under emulation a token of the real model costs about 0.3 s of CPU, so of
# its tests run those that compare logits, greedy text and perplexity with
# the references (the same bounds as on x86; perplexity on the first of its
# 22 chunks, MINKE_PPL_CHUNKS) and skip those that read whole texts, sample
# many answers or re-read a sequence many ways (chunking invariance stays
# checked on the fixtures in every format; speculative decoding's
# exactness on three of them). The tokenizer's speed test
# measures the emulator.
# MINKE_TEST_RUNNER lets a test re-run its own binary under qemu;
# MINKE_TEST_TIME_SCALE stretches the time bounds of the template tests.
step "aarch64: run the tests under qemu-user"
QEMU_CPU=max MINKE_REQUIRE_DOTPROD=1 MINKE_PPL_CHUNKS=1 MINKE_TEST_TIME_SCALE=20 \
    MINKE_TEST_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu" \
    cargo test "${A64_PKGS[@]}" --locked --target "$A64" --no-fail-fast -- --exact \
    --skip teacher_forced_texts_agree_with_transformers \
    --skip the_interleaved_conversion_is_as_accurate \
    --skip best_of_n_ranks_by_the_policys_own_log_probs \
    --skip continuation_scores_follow_transformers \
    --skip seeded_sampling_is_reproducible_across_threads \
    --skip a_q8_0_cache_keeps_the_perplexity \
    --skip a_context_shift_stays_close_to_rereading \
    --skip the_real_model_is_chunking_invariant \
    --skip encode_speed_english \
    --skip greedy_speculation_gives_plain_decodings_tokens_on_every_architecture \
    --skip prompt_lookup_on_the_real_model_gives_greedy_text

step "aarch64: the C ABI (scripts/test-c.sh under qemu-user)"
scripts/test-c.sh --target "$A64" --profile test
unset CARGO_PROFILE_TEST_DEBUG

# ---------------------------------------------------------------------------
# Android and 32-bit ARM, built without the NDK: a static library needs no
# linker (the cdylib does; apps built with the NDK link either). arm64
# Android builds libminke.a, and the shipped form of it is checked; 32-bit
# ARM is refused at build time (core/src/lib.rs says why) while
# minke-quant alone builds there.
step "Android arm64 libminke.a; 32-bit ARM refused"
for t in aarch64-linux-android armv7-linux-androideabi; do
    rustup target list --installed | grep -qx "$t" || rustup target add "$t"
done
cargo rustc -p minke-ffi --lib --crate-type staticlib --locked --target aarch64-linux-android
droid="${CARGO_TARGET_DIR:-target}/aarch64-linux-android/debug"
scripts/pack-static.sh "$droid/libminke.a" "$droid/libminke.shipped.a" --tools aarch64-linux-gnu-
if readelf -Ws --wide "$droid/libminke.shipped.a" |
    awk '($5=="GLOBAL" || $5=="WEAK") && $7!="UND" {print $8}' | grep -v '^minke_'; then
    echo "the Android libminke.a exports more than minke_*" >&2
    exit 1
fi
cargo build -p minke-quant --locked --target armv7-linux-androideabi
if cargo check -p minke --locked --target armv7-linux-androideabi 2>"${CARGO_TARGET_DIR:-target}/armv7-refusal.log"; then
    echo "minke built for 32-bit ARM: the compile_error! in core/src/lib.rs is gone" >&2
    exit 1
fi
grep -q "minke supports 64-bit targets only" "${CARGO_TARGET_DIR:-target}/armv7-refusal.log" || {
    cat "${CARGO_TARGET_DIR:-target}/armv7-refusal.log" >&2
    exit 1
}

step "all passed"
