#!/usr/bin/env bash
# minke and llama.cpp on the same K-quant GGUF files (make-kquants.sh):
# perplexity as llama-perplexity computes it, and how far each one's
# logits are from the exact product of the file's own numbers, that is
# minke on the file's weights expanded to f32 (`minke quantize --type
# f32`; minke's f32 path matches transformers to 1e-4). Prints a markdown
# table on stdout.
#
#   TYPES="q2_k q3_k_m q4_k_m q5_k_m q6_k iq4_xs iq4_nl q5_0 q5_1"
#   CTX=256      perplexity context; THREADS=2
#   TEXT=file    the text (default benches/peers/ppl-text.txt)
#   POSITIONS=300  logit positions compared (the text's first tokens)
#
# Both programs keep the KV cache in f32 here (llama.cpp's default is f16).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${MINKE_CACHE:-$HOME/.cache/minke}"
export MINKE_CACHE="$cache"
log() { printf 'kquant-accuracy: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

text="${TEXT:-$here/ppl-text.txt}"
ctx="${CTX:-256}"
threads="${THREADS:-2}"
positions="${POSITIONS:-300}"
[[ -f "$text" ]] || die "no text file $text"

(cd "$root" && cargo build --release -q -p minke-cli) >&2 || die "cargo build failed"
minke="$root/target/release/minke"
py="$("$here/build-llama-cpp.sh")" || die "build-llama-cpp.sh failed"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

ppl_of() { awk '/^PPL = / { print $3 }' | tail -1; }

echo "| file | llama.cpp PPL | minke PPL | f32 expansion PPL | minke − llama.cpp | KL llama.cpp | KL minke | top-1 llama.cpp | top-1 minke |"
echo "|---|---|---|---|---|---|---|---|---|"
for t in ${TYPES:-q2_k q3_k_m q4_k_m q5_k_m q6_k iq4_xs iq4_nl q5_0 q5_1}; do
    f="$cache/kquants/smollm2-135m-$t.gguf"
    if [[ ! -f "$f" ]]; then
        MODELS=smollm2 "$here/make-kquants.sh" >/dev/null || die "make-kquants.sh failed"
    fi
    [[ -f "$f" ]] || die "no $f"
    log "$t"
    x="$work/$t-f32.minke"
    "$minke" quantize "$f" -o "$x" --type f32 >/dev/null 2>&1 || die "minke quantize --type f32 $f failed"
    lp="$("$py" "$here/llama_ppl.py" "$f" -f "$text" -c "$ctx" -t "$threads" --kv f32 2>/dev/null | ppl_of)"
    mp="$("$minke" perplexity -m "$f" -f "$text" -c "$ctx" -t "$threads" 2>/dev/null | ppl_of)"
    rp="$("$minke" perplexity -m "$x" -f "$text" -c "$ctx" -t "$threads" 2>/dev/null | ppl_of)"
    # Logits at the text's first positions, from each.
    "$py" -c 'import json, sys; ids = json.loads(sys.stdin.read())[:int(sys.argv[1])]; print(json.dumps(ids))' \
        "$positions" < <("$minke" tokenize -m "$f" -p "$(head -c 4000 "$text")" 2>/dev/null) > "$work/ids.json"
    ids="$("$py" -c 'import json, sys; print(",".join(map(str, json.load(open(sys.argv[1])))))' "$work/ids.json")"
    "$py" "$here/llama_ppl.py" "$f" --tokens-file "$work/ids.json" --npy "$work/llama.npy" --kv f32 -t "$threads" >/dev/null 2>&1 ||
        die "llama.cpp logits of $f failed"
    "$minke" logits -m "$f" --tokens "$ids" --all --npy "$work/minke.npy" -t "$threads" >/dev/null 2>&1 || die "minke logits of $f failed"
    "$minke" logits -m "$x" --tokens "$ids" --all --npy "$work/ref.npy" -t "$threads" >/dev/null 2>&1 || die "minke logits of $x failed"
    rm -f "$x"
    kl="$("$py" - "$work/ref.npy" "$work/llama.npy" "$work/minke.npy" <<'PY'
import sys
import numpy as np
def logsoftmax(a):
    a = a.astype(np.float64)
    m = a.max(-1, keepdims=True)
    return a - m - np.log(np.exp(a - m).sum(-1, keepdims=True))
ref = logsoftmax(np.load(sys.argv[1]))
out = []
for p in sys.argv[2:]:
    x = logsoftmax(np.load(p))
    n = min(len(x), len(ref))
    kl = (np.exp(ref[:n]) * (ref[:n] - x[:n])).sum(-1).mean()
    top = (ref[:n].argmax(-1) == x[:n].argmax(-1)).mean()
    out += [f"{kl:.5f}", f"{top:.3f}"]
print(out[0], out[2], out[1], out[3])
PY
)"
    read -r kll klm tl tm <<<"$kl"
    diff="$(awk -v a="$mp" -v b="$lp" 'BEGIN { printf "%+.2f%%", (a / b - 1) * 100 }')"
    echo "| $t | $lp | $mp | $rp | $diff | $kll | $klm | $tl | $tm |"
done
echo
echo "Text: $(basename "$text") ($(wc -w < "$text") words), -c $ctx, $threads threads; KL(f32 expansion || program) mean over the first $positions positions."
