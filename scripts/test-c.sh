#!/usr/bin/env bash
# The C ABI's test suite, runnable on a fresh Debian machine:
#   1. installs what it needs (gcc, g++, cmake, pkg-config; cbindgen pinned),
#   2. builds libminke in release and checks include/minke.h is what
#      cbindgen generates from ffi/src (CI fails on a stale header),
#   3. checks the .so exports exactly the header's minke_* functions, its
#      soname and the version macros against Cargo.toml,
#   4. builds the C/C++ examples and the C and C++ tests with strict
#      warnings and runs them on the real model (scripts/fetch-model.sh);
#      checks that the C++ wrapper (examples/cpp/minke.hpp) uses every
#      function of the header,
#   5. runs the C and C++ tests under AddressSanitizer + UBSan (leaks
#      included), or valgrind where ASan cannot run,
#   6. links a program statically and reports stripped sizes,
#   7. installs to a temporary prefix and builds consumers through
#      pkg-config and CMake's find_package(minke).
# Ends with "N passed, N failed". Work files go to target/c-test.
# About a minute once libminke is built (a cold release build and the
# one-time cbindgen install take a few minutes more on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

CBINDGEN_VERSION=0.29.4
T="${CARGO_TARGET_DIR:-$root/target}"
B="$T/c-test"
STRICT_C=(-std=c99 -Wall -Wextra -Wpedantic -Werror -O1 -g)
STRICT_CXX=(-std=c++17 -Wall -Wextra -Wpedantic -Werror -O1 -g)
SAN=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)

step() { printf '\n==> %s\n' "$*" >&2; }
passed=0
failed=0
pass() {
    passed=$((passed + 1))
    printf '  ok    %s\n' "$*" >&2
}
fail() {
    failed=$((failed + 1))
    printf '  FAIL  %s\n' "$*" >&2
}
# check NAME CMD...: runs CMD, output to $B/log/NAME.log; counts the result.
# (CMD may be a function: `set -e` does not apply inside it here, so the
# functions below chain their steps with `|| return 1`.)
check() {
    local name="$1"
    shift
    if "$@" >"$B/log/$name.log" 2>&1; then
        pass "$name"
    else
        fail "$name (log: ${B#"$root"/}/log/$name.log)"
        tail -n 20 "$B/log/$name.log" | sed 's/^/        /' >&2
    fi
}

# ---------------------------------------------------------------------------
step "tools"
need=()
command -v gcc >/dev/null || need+=(gcc)
command -v g++ >/dev/null || need+=(g++)
command -v make >/dev/null || need+=(make)
command -v cmake >/dev/null || need+=(cmake)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v nm >/dev/null && command -v readelf >/dev/null || need+=(binutils)
# libc.a, for the fully static link.
command -v gcc >/dev/null && [[ "$(gcc -print-file-name=libc.a)" == /* ]] || need+=(libc6-dev)
if ((${#need[@]})); then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    # apt-get update only when the package lists cannot serve the install.
    $sudo_cmd apt-get install -y "${need[@]}" >&2 ||
        { $sudo_cmd apt-get update >&2 && $sudo_cmd apt-get install -y "${need[@]}" >&2; }
fi
if ! cbindgen --version 2>/dev/null | grep -qx "cbindgen $CBINDGEN_VERSION"; then
    cargo install cbindgen --version "$CBINDGEN_VERSION" --locked >&2
fi

rm -rf "$B"
mkdir -p "$B/lib" "$B/bin" "$B/asan" "$B/log"

# ---------------------------------------------------------------------------
step "build libminke (release)"
cargo build -p minke-ffi --release --locked >&2
version="$(awk '/^\[workspace.package\]/{p=1;next} /^\[/{p=0} p && $1=="version"{gsub(/"/,"",$3); print $3; exit}' Cargo.toml)"

step "include/minke.h is up to date"
# Regenerate in place: the file must not change (a stale working copy), and
# in a git checkout it must equal the committed one (CI's fresh clone).
before="$(mktemp)"
cp include/minke.h "$before" 2>/dev/null || : >"$before"
cbindgen --quiet --config cbindgen.toml --output include/minke.h ffi
check header-regenerated diff -u "$before" include/minke.h
rm -f "$before"
if git ls-files --error-unmatch include/minke.h >/dev/null 2>&1; then
    check header-committed git diff --exit-code include/minke.h
else
    printf '  (include/minke.h is not tracked by git yet: commit it)\n' >&2
fi
abi="$(awk '$1=="#define" && $2=="MINKE_ABI_VERSION"{print $3}' include/minke.h)"
hv="$(awk '$1=="#define" && $2 ~ /^MINKE_VERSION_(MAJOR|MINOR|PATCH)$/{printf "%s%s", sep, $3; sep="."}' include/minke.h)"
check version-macros test "$hv" = "$version"

# Stage the libraries the way an install lays them out: programs load the
# soname, libminke.so.ABI.
cp "$T/release/libminke.so" "$B/lib/libminke.so.$abi"
ln -sf "libminke.so.$abi" "$B/lib/libminke.so"
cp "$T/release/libminke.a" "$B/lib/libminke.a"
so="$B/lib/libminke.so.$abi"
LINK=(-I"$root/include" -L"$B/lib" -lminke -Wl,-rpath,"$B/lib")
STATIC_LIBS=(-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc)

# ---------------------------------------------------------------------------
step "exports"
grep -E '^[a-z]' include/minke.h | grep -v '^typedef' | grep -oE 'minke_[a-z0-9_]+\(' |
    tr -d '(' | sort -u >"$B/declared.txt"
nm -D --defined-only "$so" | awk '{print $3}' | sort -u >"$B/exported.txt"
check exports-only-minke bash -c "! grep -v '^minke_' '$B/exported.txt'"
check exports-match-header diff -u "$B/declared.txt" "$B/exported.txt"
# readelf, not nm: nm's LTO plugin chokes on the bitcode rustc embeds.
readelf -Ws "$B/lib/libminke.a" 2>/dev/null |
    awk '$5=="GLOBAL" && $7!="UND" && $8 ~ /^minke_/{print $8}' | sort -u >"$B/static-exported.txt"
check static-lib-has-api diff -u "$B/declared.txt" "$B/static-exported.txt"
check soname bash -c "readelf -d '$so' | grep -q 'Library soname: \[libminke.so.$abi\]'"
printf '  %s functions exported\n' "$(wc -l <"$B/exported.txt")" >&2
# The C++ wrapper covers the whole API: a function added to the header
# without a wrapper is named here.
wrapper_complete() {
    local f missing=""
    while read -r f; do
        grep -q "\b$f(" examples/cpp/minke.hpp || missing="$missing $f"
    done <"$B/declared.txt"
    [[ -z "$missing" ]] || { echo "examples/cpp/minke.hpp does not use:$missing"; return 1; }
}
check cpp-wrapper-complete wrapper_complete

# ---------------------------------------------------------------------------
step "build examples and tests (-Werror)"
MODEL="$(scripts/fetch-model.sh)"
TESTS=(test_api test_misuse test_threads test_after test_special test_names test_queries test_state
    test_shift)
cc_ok=1
for src in examples/c/generate.c examples/c/chat.c; do
    n="$(basename "$src" .c)"
    gcc "${STRICT_C[@]}" "$src" -o "$B/bin/$n" "${LINK[@]}" || cc_ok=0
done
for n in "${TESTS[@]}" test_memory test_corpus; do
    gcc "${STRICT_C[@]}" -I ffi/tests/c "ffi/tests/c/$n.c" -o "$B/bin/$n" "${LINK[@]}" -lpthread -lm || cc_ok=0
done
g++ "${STRICT_CXX[@]}" examples/cpp/ask.cpp -o "$B/bin/ask" "${LINK[@]}" || cc_ok=0
g++ "${STRICT_CXX[@]}" -I examples/cpp ffi/tests/cpp/test_wrapper.cpp -o "$B/bin/test_wrapper" \
    "${LINK[@]}" || cc_ok=0
# The header alone, in other language modes.
echo '#include <minke.h>' >"$B/inc.c"
gcc -std=c11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -I include "$B/inc.c" || cc_ok=0
g++ -std=c++11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -I include -x c++ "$B/inc.c" || cc_ok=0
if [[ "$cc_ok" == 1 ]]; then pass "strict-build"; else fail "strict-build"; fi
# test_names calls every function that returns a minke_status.
awk '/^minke_status minke_/{sub(/\(.*/, "", $2); print $2}' include/minke.h | sort -u >"$B/fallible.txt"
grep -oE 'NAMED(_ST)?\(minke_[a-z0-9_]+' ffi/tests/c/test_names.c | sed 's/.*(//' | sort -u >"$B/named.txt"
check names-cover-header diff -u "$B/fallible.txt" "$B/named.txt"

# ---------------------------------------------------------------------------
step "run on $(basename "$MODEL")"
run_generate() {
    "$B/bin/generate" "$MODEL" "The capital of France is" 16 >"$B/generate.out" || return 1
    cat "$B/generate.out"
    grep -q Paris "$B/generate.out"
}
check generate run_generate
# Two turns; the second reuses the first prompt's KV cache.
run_chat() {
    printf 'What is the capital of France?\nAnd of Germany?\n' |
        "$B/bin/chat" "$MODEL" "You are a helpful assistant. Answer in one sentence." \
            2>"$B/chat.err" || return 1
    cat "$B/chat.err"
    grep -q '[1-9][0-9]* reused' "$B/chat.err"
}
check chat run_chat
check ask "$B/bin/ask" "$MODEL"
check test_wrapper "$B/bin/test_wrapper" "$MODEL"
for n in "${TESTS[@]}" test_memory; do
    check "$n" "$B/bin/$n" "$MODEL"
done
# The fuzzers' GGUF seeds and corpus: a named error or a run for each.
CORPUS=(fuzz/seeds/gguf fuzz/corpus/gguf)
check test_corpus "$B/bin/test_corpus" "${CORPUS[@]}"

# ---------------------------------------------------------------------------
step "sanitizers"
echo 'int main(void) { return 0; }' >"$B/probe.c"
if gcc "${SAN[@]}" "$B/probe.c" -o "$B/asan/probe" 2>/dev/null && "$B/asan/probe"; then
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    for n in "${TESTS[@]}"; do
        gcc "${STRICT_C[@]}" "${SAN[@]}" -I ffi/tests/c "ffi/tests/c/$n.c" -o "$B/asan/$n" \
            "${LINK[@]}" -lpthread -lm
        check "asan-ubsan-$n" "$B/asan/$n" "$MODEL"
    done
    gcc "${STRICT_C[@]}" "${SAN[@]}" -I ffi/tests/c ffi/tests/c/test_corpus.c -o "$B/asan/test_corpus" \
        "${LINK[@]}"
    check asan-ubsan-test_corpus "$B/asan/test_corpus" "${CORPUS[@]}"
    check asan-ubsan-generate bash -c "gcc ${STRICT_C[*]} ${SAN[*]} examples/c/generate.c -o '$B/asan/generate' ${LINK[*]} && '$B/asan/generate' '$MODEL' Hello 8"
    check asan-ubsan-test_wrapper bash -c "g++ ${STRICT_CXX[*]} ${SAN[*]} -I examples/cpp ffi/tests/cpp/test_wrapper.cpp -o '$B/asan/test_wrapper' ${LINK[*]} && '$B/asan/test_wrapper' '$MODEL'"
    unset ASAN_OPTIONS UBSAN_OPTIONS
else
    printf '  AddressSanitizer cannot run here: valgrind memcheck instead\n' >&2
    command -v valgrind >/dev/null || { apt-get install -y valgrind >&2 || { apt-get update >&2 && apt-get install -y valgrind >&2; }; }
    for n in "${TESTS[@]}" test_wrapper; do
        check "valgrind-$n" valgrind -q --error-exitcode=99 --leak-check=full \
            --show-possibly-lost=no --errors-for-leak-kinds=definite,indirect \
            "$B/bin/$n" "$MODEL"
    done
fi

# ---------------------------------------------------------------------------
step "static linking and sizes"
gcc "${STRICT_C[@]}" examples/c/generate.c -o "$B/bin/generate_static" -I include \
    "$B/lib/libminke.a" "${STATIC_LIBS[@]}"
check static-no-libminke-needed bash -c "! readelf -d '$B/bin/generate_static' | grep -q libminke"
check static-generate bash -c "'$B/bin/generate_static' '$MODEL' 'The capital of France is' 16 | cmp - '$B/generate.out'"
# Fully static too (glibc warns that getaddrinfo and getpwuid_r, which the
# Rust standard library links but minke never calls, want its shared parts).
gcc "${STRICT_C[@]}" examples/c/generate.c -o "$B/bin/generate_fullstatic" -I include -static \
    "$B/lib/libminke.a" -lutil -lrt -lpthread -lm -ldl -lc 2>"$B/log/fullstatic-link.log"
check fully-static-generate bash -c "'$B/bin/generate_fullstatic' '$MODEL' 'The capital of France is' 16 | cmp - '$B/generate.out'"
strip --strip-unneeded -o "$B/libminke.stripped.so" "$so"
strip -o "$B/generate_static.stripped" "$B/bin/generate_static"
strip -o "$B/generate_fullstatic.stripped" "$B/bin/generate_fullstatic"
size_of() { stat -c %s "$1"; }
printf '  libminke.so stripped:            %8d bytes\n' "$(size_of "$B/libminke.stripped.so")" >&2
printf '  generate (libminke.a) stripped:  %8d bytes\n' "$(size_of "$B/generate_static.stripped")" >&2
printf '  generate (-static) stripped:     %8d bytes\n' "$(size_of "$B/generate_fullstatic.stripped")" >&2

# ---------------------------------------------------------------------------
step "install, pkg-config and CMake consumers"
prefix="$B/prefix"
check install scripts/install.sh --prefix "$prefix" --no-build
consumer_pc() {
    local pc=(env PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config)
    test "$("${pc[@]}" --modversion minke)" = "$version" || return 1
    "${pc[@]}" --cflags --libs minke || return 1
    # shellcheck disable=SC2046
    gcc "${STRICT_C[@]}" ffi/tests/consumer/consumer.c -o "$B/bin/consumer_pc" \
        $("${pc[@]}" --cflags --libs minke) -Wl,-rpath,"$prefix/lib" || return 1
    readelf -d "$B/bin/consumer_pc" | grep -q "libminke.so.$abi" || return 1
    "$B/bin/consumer_pc" "$MODEL"
}
check pkg-config-consumer consumer_pc
consumer_cmake() {
    cmake -S ffi/tests/consumer -B "$B/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" -DCMAKE_BUILD_TYPE=Release || return 1
    cmake --build "$B/cmake" || return 1
    "$B/cmake/consumer_shared" "$MODEL" || return 1
    "$B/cmake/consumer_static" "$MODEL" || return 1
    ! readelf -d "$B/cmake/consumer_static" | grep -q libminke
}
check cmake-consumer consumer_cmake
# find_package refuses a version this install does not satisfy.
mkdir -p "$B/cmake-v"
sed 's/find_package(minke 0.1 REQUIRED)/find_package(minke 9.0 REQUIRED)/' \
    ffi/tests/consumer/CMakeLists.txt >"$B/cmake-v/CMakeLists.txt"
cp ffi/tests/consumer/consumer.c "$B/cmake-v/"
check cmake-version-refused bash -c "! cmake -S '$B/cmake-v' -B '$B/cmake-v/build' -DCMAKE_PREFIX_PATH='$prefix'"

printf '\ntest-c: %d passed, %d failed\n' "$passed" "$failed"
[[ "$failed" == 0 ]]
