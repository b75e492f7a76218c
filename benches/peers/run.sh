#!/usr/bin/env bash
# minke against llama.cpp and candle, on the same GGUF files, the same
# thread counts, alternating runs; prints a markdown table (stdout) with
# ratios and the machine's memory-read bandwidth. Runnable on a fresh
# machine: the peers come from package registries only.
#
#   llama.cpp  the llama-cpp-python package, built from source by
#              build-llama-cpp.sh (native flags, AMX code generation off)
#              in a venv under the cache folder; timed by llama_bench.c,
#              linked against the libllama that build produced
#   candle     candle-core + candle-transformers from the crate registry,
#              built with -C target-cpu=native (its SIMD is chosen at compile
#              time), timed by candle-bench/ (its quantized llama / qwen2)
#   models     SmolLM2-135M-Instruct Q4_1 (scripts/fetch-model.sh, copied
#              in 2 MiB pieces), made Q4_0 and Q8_0 by
#              core/examples/requant_gguf.rs; a random
#              Qwen2-1.5B-shaped Q4_0 model by core/examples/make_qwen2_gguf.rs;
#              K-quant files (make-kquants.sh, llama.cpp's own quantizer):
#              sm:TYPE = SmolLM2 in TYPE (q2_k q3_k_m q4_k_m q5_k_m q6_k
#              iq4_xs iq4_nl q5_0 q5_1), qwen:TYPE = the random
#              Qwen2-1.5B shape (q4_k_m q5_k_m q3_k_m q2_k q6_k, or
#              pure-TYPE with every matrix in one type);
#              minke also runs the .minke file `minke quantize` makes of
#              each (the same numbers in 16-row interleaved groups)
#
#   MINKE_CACHE=dir   cache root (default ~/.cache/minke)
#   REPS=n            alternating rounds (default 3); INNER=n in-process reps (2)
#   THREADS=1,2       thread counts
#   MODELS="q4_0 q4_1 q8_0 qwen1.5b"   which models (also sm:TYPE, qwen:TYPE)
#   SKIP=candle       tools to leave out (comma-separated)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${MINKE_CACHE:-$HOME/.cache/minke}"
export MINKE_CACHE="$cache"
work="$cache/peers"
mkdir -p "$work"

log() { printf 'peers: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

command -v cargo >/dev/null || die "cargo is needed"
command -v cc >/dev/null || die "a C compiler is needed (build-essential)"
command -v python3 >/dev/null || die "python3 is needed"

log "building minke (release) and its model tools"
(cd "$root" && cargo build --release -q -p minke-cli &&
    cargo build --release -q -p minke --example requant_gguf --example make_qwen2_gguf) >&2 ||
    die "cargo build of minke failed"
minke="$root/target/release/minke"
[[ -x "$minke" ]] || die "$minke not found after the build"

log "llama.cpp: llama-cpp-python built from source with native flags and -mno-amx-* (build-llama-cpp.sh)"
py="$("$here/build-llama-cpp.sh")" || die "build-llama-cpp.sh failed"
site="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
inc="$site/include"
lib="$site/llama_cpp/lib"
[[ -f "$inc/llama.h" && -d "$lib" ]] || die "no llama.h / libllama in $site"
llama="$work/llama-bench-minke"
cc -O2 -o "$llama" "$here/llama_bench.c" -I"$inc" -L"$lib" -lllama -Wl,-rpath,"$lib" ||
    die "compiling llama_bench.c against $lib failed"
log "llama.cpp: $("$py" -c 'import importlib.metadata as m; print("llama-cpp-python", m.version("llama_cpp_python"))')"

# candle picks its SIMD kernels at compile time (a stock build runs its
# scalar code), so it is built for this CPU, as its documentation advises.
log "candle: building candle-bench (candle-core, candle-transformers from the crate registry) with -C target-cpu=native"
(cd "$here/candle-bench" && CARGO_TARGET_DIR="$work/candle-target-native" RUSTFLAGS="-C target-cpu=native" \
    cargo build --release -q --locked) >&2 ||
    die "building candle-bench failed"
candle="$work/candle-target-native/release/candle-bench"

log "bandwidth probe"
bandwidth="$work/bandwidth"
cc -O3 -march=native -pthread -o "$bandwidth" "$here/bandwidth.c" || die "compiling bandwidth.c failed"

# Every model file is (re)written by this run in whole 2 MiB pieces, so
# that the page cache holds each in 2 MiB folios for every tool alike (on
# file systems with large folios): decode speed from a map depends on it
# (20-30% for SmolLM2, see core/src/mmap.rs), and a file's state would
# otherwise depend on whoever wrote or read it first.
log "models (written afresh in 2 MiB pieces)"
fetched="$("$root/scripts/fetch-model.sh")" || die "fetch-model.sh failed"
q41="$work/smollm2-135m-q4_1.gguf"
dd if="$fetched" of="$q41" bs=2M status=none || die "copying $fetched failed"
for t in q4_0 q8_0; do
    "$root/target/release/examples/requant_gguf" "$q41" "$work/smollm2-135m-$t.gguf" "$t" >&2 ||
        die "requant to $t failed"
done
qwen="$work/qwen2-1.5b-random-q4_0.gguf"
specs=()
for m in ${MODELS:-q4_0 q4_1 q8_0 qwen1.5b}; do
    case "$m" in
    q4_0) specs+=("SmolLM2-135M Q4_0=$work/smollm2-135m-q4_0.gguf") ;;
    q4_1) specs+=("SmolLM2-135M Q4_1=$q41") ;;
    q8_0) specs+=("SmolLM2-135M Q8_0=$work/smollm2-135m-q8_0.gguf") ;;
    qwen1.5b)
        "$root/target/release/examples/make_qwen2_gguf" "$qwen" >&2 ||
            die "writing the Qwen2-1.5B-shaped model failed"
        specs+=("Qwen2-1.5B-shape Q4_0 (random)=$qwen")
        ;;
    sm:* | qwen:*)
        t="${m#*:}"
        case "$m" in
        sm:*) f="$cache/kquants/smollm2-135m-$t.gguf" name="SmolLM2-135M ${t^^}" src=smollm2 ;;
        *) f="$cache/kquants/qwen2-1.5b-random-$t.gguf" name="Qwen2-1.5B-shape ${t^^} (random)" src=qwen2 ;;
        esac
        if [[ ! -f "$f" ]]; then
            MODELS="$src" "$here/make-kquants.sh" >/dev/null || die "make-kquants.sh failed"
        fi
        [[ -f "$f" ]] || die "make-kquants.sh wrote no $f (unknown type '$t'?)"
        # Written afresh in 2 MiB pieces, as the other models are.
        dd if="$f" of="$work/$(basename "$f")" bs=2M status=none || die "copying $f failed"
        specs+=("$name=$work/$(basename "$f")")
        ;;
    *) die "unknown model '$m' (q4_0 q4_1 q8_0 qwen1.5b sm:TYPE qwen:TYPE)" ;;
    esac
done

# Each GGUF with its .minke conversion.
pairs=()
for spec in "${specs[@]}"; do
    f="${spec#*=}"
    x="$work/$(basename "${f%.gguf}").minke"
    "$minke" quantize "$f" -o "$x" >&2 || die "minke quantize of $f failed"
    pairs+=("$spec,$x")
done

log "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$here/compare.py" --minke "$minke" --llama "$llama" --candle "$candle" \
    --bandwidth "$bandwidth" --threads "${THREADS:-1,2}" --reps "${REPS:-3}" \
    --inner "${INNER:-2}" --skip "${SKIP:-}" "${pairs[@]}"
echo
echo "llama.cpp: llama-cpp-python $("$py" -c 'import importlib.metadata as m; print(m.version("llama_cpp_python"))'), built from source (GGML_NATIVE=ON, -mno-amx-int8 -mno-amx-tile -mno-amx-bf16); candle (target-cpu=native): $(grep -A1 'name = "candle-core"' "$here/candle-bench/Cargo.lock" | sed -n 's/version = "\(.*\)"/\1/p')."
echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) cpus; load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
