#!/usr/bin/env bash
# Prompt lookup decoding against plain decoding on input-grounded prompts.
#
# For each prompt file here (*.txt: chat-formatted text that gives the
# model something to copy) runs `minke run -f FILE --temp 0` greedily,
# plain and with `--lookup N` for each N, alternating, ROUNDS times; checks
# that every run prints the same text as plain decoding; prints the median
# generation speed of each, their ratio and the share of guesses accepted.
#
#   benches/speculative/run.sh                 # SmolLM2-135M-Instruct Q4_1
#   MINKE_MODEL=model.gguf THREADS=4 ROUNDS=5 LOOKUPS="4 8" benches/speculative/run.sh
#
# Environment: MINKE_MODEL (default: the model scripts/fetch-model.sh
# fetches), THREADS (2), ROUNDS (5), LOOKUPS ("4 8 16"), N (most tokens
# generated, 256), MINKE (the minke binary; default: build it with cargo).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
model=${MINKE_MODEL:-$HOME/.cache/minke/models/SmolLM2-135M-Instruct.Q4_1.gguf}
threads=${THREADS:-2}
rounds=${ROUNDS:-5}
lookups=${LOOKUPS:-4 8 16}
n=${N:-256}
if [ -z "${MINKE:-}" ]; then
    cargo build --release --quiet -p minke-cli --manifest-path "$root/Cargo.toml"
    MINKE=$root/target/release/minke
fi
[ -f "$model" ] || { echo "no model at $model (set MINKE_MODEL or run scripts/fetch-model.sh)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run NAME FILE [FLAGS...]: one greedy run; its text goes to $tmp/NAME.out,
# its generation speed is appended to $tmp/NAME.tps, its drafted and
# accepted counts to $tmp/NAME.acc.
run() {
    local name=$1 file=$2
    shift 2
    "$MINKE" run -m "$model" -f "$file" -n "$n" -t "$threads" --temp 0 --repeat-penalty 1 \
        "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" || { cat "$tmp/$name.err" >&2; exit 1; }
    local stats
    stats=$(grep -o 'generated at [0-9.]* tok/s.*' "$tmp/$name.err")
    echo "$stats" | sed 's/generated at \([0-9.]*\) tok\/s.*/\1/' >>"$tmp/$name.tps"
    echo "$stats" | sed -n 's/.*drafted \([0-9]*\), accepted \([0-9]*\).*/\1 \2/p' >>"$tmp/$name.acc"
    grep -o '[0-9]* generated' "$tmp/$name.err" | cut -d' ' -f1 >"$tmp/$name.n"
}

median() { sort -g "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "model $model, $threads threads, median of $rounds alternating rounds, greedy, at most $n tokens"
echo
printf '| %-10s | %6s | %-9s | %11s | %11s | %6s | %10s |\n' \
    prompt tokens decoding "plain tok/s" "spec. tok/s" ratio acceptance
printf '|%s|\n' "------------|--------|-----------|-------------|-------------|--------|------------"
declare -A ratios
for file in "$here"/*.txt; do
    p=$(basename "$file" .txt)
    rm -f "$tmp"/*
    for _ in $(seq "$rounds"); do
        run plain "$file"
        cp "$tmp/plain.out" "$tmp/want"
        for k in $lookups; do
            run "lookup$k" "$file" --lookup "$k"
            cmp -s "$tmp/want" "$tmp/lookup$k.out" || {
                echo "$p: --lookup $k printed another text than plain decoding:" >&2
                diff "$tmp/want" "$tmp/lookup$k.out" >&2 || true
                exit 1
            }
        done
    done
    plain=$(median "$tmp/plain.tps")
    for k in $lookups; do
        spec=$(median "$tmp/lookup$k.tps")
        ratio=$(awk -v a="$spec" -v b="$plain" 'BEGIN { printf "%.2f", a / b }')
        acc=$(awk '{ d += $1; a += $2 } END { printf "%.0f%%", d ? 100 * a / d : 0 }' "$tmp/lookup$k.acc")
        printf '| %-10s | %6s | %-9s | %11s | %11s | %5s× | %10s |\n' \
            "$p" "$(cat "$tmp/plain.n")" "lookup $k" "$plain" "$spec" "$ratio" "$acc"
        ratios[$k]="${ratios[$k]:-} $ratio"
    done
done
echo
for k in $lookups; do
    # shellcheck disable=SC2086
    echo ${ratios[$k]} | tr ' ' '\n' | awk -v k="$k" \
        '{ s += log($1); n++ } END { printf "--lookup %s: geometric mean of the ratios %.2f×\n", k, exp(s / n) }'
done
echo "every run's text was plain decoding's"
