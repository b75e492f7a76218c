#!/usr/bin/env bash
# Writes GGUF files in the K-quant formats and their relatives (Q2_K..Q6_K,
# Q5_0, Q5_1, IQ4_NL, IQ4_XS) with llama.cpp's own quantizer, into
# $MINKE_CACHE/kquants/ (default ~/.cache/minke/kquants/), and prints a table
# of the files with their tensor types on stdout (progress on stderr):
#
#   smollm2-135m-<mix>.gguf            SmolLM2-135M-Instruct (scripts/fetch-model.sh's
#                                      Q4_1, made f32 first) in Q2_K Q3_K_M Q4_K_M
#                                      Q5_K_M Q6_K IQ4_XS IQ4_NL Q5_0 Q5_1
#   qwen2-1.5b-random-pure-<type>.gguf a random Qwen2-1.5B-shaped model (f16 first),
#                                      every matrix in one type: q2_k q3_k q4_k q5_k
#                                      q6_k q5_0 q5_1 iq4_nl iq4_xs
#   qwen2-1.5b-random-<mix>.gguf       the same in Q4_K_M Q5_K_M Q3_K_M Q2_K (its Q6_K
#                                      mix is pure-q6_k byte for byte)
#   v2-lite-random-q4_k_m.gguf         a random DeepSeek-V2-Lite-shaped Q4_K_M
#                                      (from a 16.7 GB Q8_0 source, deleted after)
#
# SmolLM2's hidden size, 576, is not a multiple of 256: llama.cpp gives the
# matrices that read rows of 576 a 32-block fallback (Q4_K -> Q5_0, Q5_K ->
# Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0, IQ4_XS -> IQ4_NL), so only ffn_down
# is a 256-block type there. The Qwen2 shape (1536, 8960) takes every type
# as asked; V2-Lite's expert width 1408 and dense FFN 10944 give ffn_down
# fallbacks, attn_k_b's rows of 128 too.
#
# Idempotent: files that exist are skipped. Each new file is loaded by
# llama.cpp and run (a short greedy generation for SmolLM2, four tokens for
# the random models). Leaves about 28 GB: SmolLM2 0.9 GB + its 0.5 GB f32
# source, Qwen2 12.7 GB + its 3.6 GB f16 source, V2-Lite 9.7 GB; the V2-Lite
# step needs 27 GB free while its source exists. On a busy 2-core machine:
# SmolLM2 2 minutes, Qwen2 35, V2-Lite 22.
#
#   MINKE_CACHE=dir     cache root (default ~/.cache/minke)
#   MODELS=smollm2,qwen2,v2lite   which models (default: all)
#   JOBS=n              quantizer threads (default: number of CPUs)
#   VERBOSE=1           show llama.cpp's own log (a line per tensor)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${MINKE_CACHE:-$HOME/.cache/minke}"
export MINKE_CACHE="$cache"

log() { printf 'make-kquants: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

py="$("$here/build-llama-cpp.sh")" || die "build-llama-cpp.sh failed"
if ! "$py" -c 'import importlib.metadata as m, sys; sys.exit(m.version("gguf") != "0.19.0")' 2>/dev/null; then
    log "installing gguf==0.19.0 into $(dirname "$(dirname "$py")")"
    "$py" -m pip install --quiet gguf==0.19.0 >&2 || die "could not install gguf==0.19.0"
fi

models="${MODELS:-smollm2,qwen2,v2lite}"
args=(--out "$cache/kquants" --models "$models" --threads "${JOBS:-$(nproc 2>/dev/null || echo 2)}")
if [[ ",$models," == *,smollm2,* ]]; then
    q41="$("$root/scripts/fetch-model.sh")" || die "fetch-model.sh failed"
    args+=(--smollm2 "$q41")
fi
[[ -n "${VERBOSE:-}" ]] && args+=(--verbose)
exec "$py" "$here/make_kquants.py" "${args[@]}"
