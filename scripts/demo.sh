#!/usr/bin/env bash
# The main job, on a fresh machine: build minke in release mode, fetch the
# default model (SmolLM2-135M-Instruct, GGUF Q4_1) if needed, convert it
# once to a .minke file beside it (the same numbers, its matrices in 16-row
# interleaved groups, which decode faster; under a second), and hold a
# short chat with it. Extra arguments go to `minke run` (e.g. -t 2).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
    echo "demo: cargo is needed (https://rustup.rs)" >&2
    exit 1
fi
echo "==> building (release)" >&2
cargo build --release --locked -p minke-cli >&2
minke="${CARGO_TARGET_DIR:-target}/release/minke"
gguf="$(scripts/fetch-model.sh)"
model="${gguf%.gguf}.minke"
# Remade when the GGUF or minke itself is newer: a newer minke may write
# the file better (it now writes whole 2 MiB pieces, which the page cache
# keeps in huge pages; decoding reads them 20-30% faster).
if [ ! -s "$model" ] || [ "$gguf" -nt "$model" ] || [ "$minke" -nt "$model" ]; then
    echo "==> converting to $model" >&2
    "$minke" quantize "$gguf" -o "$model.tmp" >&2
    mv "$model.tmp" "$model"
fi
echo "==> model: $model" >&2
printf '%s\n' \
    "What is the capital of France?" \
    "Write a haiku about a small whale." |
    "$minke" run -m "$model" --chat -n 96 --temp 0 "$@"
