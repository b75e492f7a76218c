#!/usr/bin/env bash
# The whole test suite, runnable on a fresh machine: installs what the tests
# need (rust components, the real model, C tools, cross toolchain, qemu),
# then checks formatting and lints and runs every test: Rust (golden
# fixtures, the real model end to end), the C ABI (scripts/test-c.sh), the
# worker pool under race detectors (scripts/race.sh) and the NEON kernels
# under qemu. `.ci/run` calls exactly this.
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
# aarch64: the NEON kernels (plain and dotprod), cross-compiled and run under
# qemu-user. Linker and runner come from .cargo/config.toml; QEMU_CPU=max
# exposes dotprod, and MINKE_REQUIRE_DOTPROD makes the tests fail if the
# dotprod table was not among those tested.
step "minke-quant on aarch64 (qemu-user)"
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    rustup target add aarch64-unknown-linux-gnu
fi
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null \
    || [ ! -e /usr/aarch64-linux-gnu/lib/libc.so.6 ]; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update
    $sudo_cmd apt-get install -y gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
fi
QEMU_CPU=max MINKE_REQUIRE_DOTPROD=1 \
    cargo test -p minke-quant --locked --target aarch64-unknown-linux-gnu

step "all passed"
