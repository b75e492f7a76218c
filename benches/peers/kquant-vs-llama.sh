#!/usr/bin/env bash
# minke's logits against llama.cpp's on the same GGUF file, for the random
# Qwen2-1.5B-shaped K-quant files of make-kquants.sh (every matrix in one
# type with `pure-TYPE`, or llama.cpp's mixes): top-1 agreement and
# KL(llama.cpp || minke) over a few hundred positions of one sequence of
# token ids. Prints a markdown table on stdout. (The weights are random,
# so there is no text to score: the comparison is between the two
# programs.)
#
#   TYPES="pure-q2_k pure-q3_k pure-q4_k pure-q5_k pure-q6_k pure-q5_0 pure-q5_1 pure-iq4_nl pure-iq4_xs q4_k_m"
#   POSITIONS=256  THREADS=2
#
# Both keep the KV cache in f32.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${MINKE_CACHE:-$HOME/.cache/minke}"
export MINKE_CACHE="$cache"
log() { printf 'kquant-vs-llama: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

threads="${THREADS:-2}"
positions="${POSITIONS:-256}"
(cd "$root" && cargo build --release -q -p minke-cli) >&2 || die "cargo build failed"
minke="$root/target/release/minke"
py="$("$here/build-llama-cpp.sh")" || die "build-llama-cpp.sh failed"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# A fixed pseudo-random sequence of ids below 150000.
"$py" -c 'import json, sys; n = int(sys.argv[1]); print(json.dumps([(i * 7919 + 11) % 150000 for i in range(n)]))' \
    "$positions" > "$work/ids.json"
ids="$("$py" -c 'import json, sys; print(",".join(map(str, json.load(open(sys.argv[1])))))' "$work/ids.json")"

echo "| file | top-1 agreement | mean KL(llama.cpp ∥ minke) | max KL |"
echo "|---|---|---|---|"
for t in ${TYPES:-pure-q2_k pure-q3_k pure-q4_k pure-q5_k pure-q6_k pure-q5_0 pure-q5_1 pure-iq4_nl pure-iq4_xs q4_k_m}; do
    f="$cache/kquants/qwen2-1.5b-random-$t.gguf"
    if [[ ! -f "$f" ]]; then
        MODELS=qwen2 "$here/make-kquants.sh" >/dev/null || die "make-kquants.sh failed"
    fi
    [[ -f "$f" ]] || die "no $f"
    log "$t"
    "$py" "$here/llama_ppl.py" "$f" --tokens-file "$work/ids.json" --npy "$work/llama.npy" --kv f32 -t "$threads" >/dev/null 2>&1 ||
        die "llama.cpp logits of $f failed"
    "$minke" logits -m "$f" --tokens "$ids" --all --npy "$work/minke.npy" -t "$threads" >/dev/null 2>&1 ||
        die "minke logits of $f failed"
    row="$("$py" - "$work/llama.npy" "$work/minke.npy" <<'PY'
import sys
import numpy as np
def logsoftmax(a):
    a = a.astype(np.float64)
    m = a.max(-1, keepdims=True)
    return a - m - np.log(np.exp(a - m).sum(-1, keepdims=True))
p, q = (logsoftmax(np.load(f)) for f in sys.argv[1:3])
kl = (np.exp(p) * (p - q)).sum(-1)
top = (p.argmax(-1) == q.argmax(-1)).mean()
print(f"{top:.3f} | {kl.mean():.5f} | {kl.max():.4f}")
PY
)"
    echo "| $t | $row |"
    rm -f "$work/llama.npy" "$work/minke.npy"
done
echo
echo "$positions positions of one fixed id sequence, $threads threads."
