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
#      pkg-config and CMake's find_package(minke), runs them without
#      LD_LIBRARY_PATH.
# Ends with "N passed, N failed". Work files go to target/c-test.
# About a minute once libminke is built (a cold release build and the
# one-time cbindgen install take a few minutes more on 2 cores).
#
#   scripts/test-c.sh [--target aarch64-unknown-linux-gnu] [--profile NAME]
#
# --target cross-builds libminke and the C programs (Debian's cross gcc)
# and runs them under qemu-user; scripts/test.sh does it for aarch64. Left
# out there: what depends on the host alone (the header's regeneration,
# its C++ builds, the installed consumers, which the host run checks), the
# programs that decode hundreds of tokens (slow under emulation) and leak
# checks (LeakSanitizer cannot run under qemu-user; ASan and UBSan do).
# --profile picks the cargo profile of the library (default release;
# test.sh builds the aarch64 one in `test`, which its Rust tests share).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

host="$(rustc -vV | awk '$1=="host:"{print $2}')"
target="$host"
profile=release
while [[ $# -gt 0 ]]; do
    case "$1" in
    --target) target="${2:-}"; shift 2 ;;
    --target=*) target="${1#*=}"; shift ;;
    --profile) profile="${2:-}"; shift 2 ;;
    --profile=*) profile="${1#*=}"; shift ;;
    *) printf 'test-c: unknown argument %s\n' "$1" >&2; exit 2 ;;
    esac
done
# Cross: the binutils/gcc prefix of Debian's cross toolchain, and qemu-user
# with the target's libraries (QEMU_CPU=max: every extension, dotprod too).
cross=0
tools=""
RUN=()
if [[ "$target" != "$host" ]]; then
    cross=1
    case "$target" in
    aarch64-unknown-linux-gnu) gnu=aarch64-linux-gnu qemu=qemu-aarch64 ;;
    armv7-unknown-linux-gnueabihf) gnu=arm-linux-gnueabihf qemu=qemu-arm ;;
    *) printf 'test-c: no cross set-up for %s\n' "$target" >&2; exit 2 ;;
    esac
    tools="$gnu-"
    RUN=("$qemu" -L "/usr/$gnu")
    export QEMU_CPU="${QEMU_CPU:-max}"
fi
CC="${tools}gcc"

CBINDGEN_VERSION=0.29.4
T="${CARGO_TARGET_DIR:-$root/target}"
B="$T/c-test"
[[ "$cross" == 1 ]] && B="$T/c-test-$target"
# Where cargo puts the profile's output (`dev` and `test` share `debug`).
case "$profile" in
dev | test) pdir=debug ;;
*) pdir="$profile" ;;
esac
L="$T/$pdir"
[[ "$cross" == 1 ]] && L="$T/$target/$pdir"
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
    local name="$1" t0=$SECONDS
    shift
    if "$@" >"$B/log/$name.log" 2>&1; then
        pass "$name ($((SECONDS - t0)) s)"
    else
        fail "$name ($((SECONDS - t0)) s, log: ${B#"$root"/}/log/$name.log)"
        tail -n 20 "$B/log/$name.log" | sed 's/^/        /' >&2
    fi
}

# ---------------------------------------------------------------------------
step "tools"
need=()
if [[ "$cross" == 0 ]]; then
    command -v gcc >/dev/null || need+=(gcc)
    command -v g++ >/dev/null || need+=(g++)
    command -v make >/dev/null || need+=(make)
    command -v cmake >/dev/null || need+=(cmake)
    command -v pkg-config >/dev/null || need+=(pkg-config)
    command -v nm >/dev/null && command -v readelf >/dev/null || need+=(binutils)
    # libc.a, for the fully static link.
    command -v gcc >/dev/null && [[ "$(gcc -print-file-name=libc.a)" == /* ]] || need+=(libc6-dev)
else
    # scripts/test.sh installs the cross toolchain and qemu; say so if not.
    for t in "$CC" "${tools}readelf" "${tools}nm" "${tools}strip" "${RUN[0]}"; do
        command -v "$t" >/dev/null || { printf 'test-c: %s is missing (see scripts/test.sh)\n' "$t" >&2; exit 1; }
    done
fi
if ((${#need[@]})); then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    # apt-get update only when the package lists cannot serve the install.
    $sudo_cmd apt-get install -y "${need[@]}" >&2 ||
        { $sudo_cmd apt-get update >&2 && $sudo_cmd apt-get install -y "${need[@]}" >&2; }
fi
if [[ "$cross" == 0 ]] && ! cbindgen --version 2>/dev/null | grep -qx "cbindgen $CBINDGEN_VERSION"; then
    cargo install cbindgen --version "$CBINDGEN_VERSION" --locked >&2
fi

rm -rf "$B"
mkdir -p "$B/lib" "$B/bin" "$B/asan" "$B/log"

# ---------------------------------------------------------------------------
step "build libminke ($target, $profile)"
cross_args=()
[[ "$cross" == 1 ]] && cross_args=(--target "$target")
cargo build -p minke-ffi --profile "$profile" "${cross_args[@]}" --locked >&2
version="$(awk '/^\[workspace.package\]/{p=1;next} /^\[/{p=0} p && $1=="version"{gsub(/"/,"",$3); print $3; exit}' Cargo.toml)"

if [[ "$cross" == 0 ]]; then
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
fi
abi="$(awk '$1=="#define" && $2=="MINKE_ABI_VERSION"{print $3}' include/minke.h)"
hv="$(awk '$1=="#define" && $2 ~ /^MINKE_VERSION_(MAJOR|MINOR|PATCH)$/{printf "%s%s", sep, $3; sep="."}' include/minke.h)"
check version-macros test "$hv" = "$version"

# Stage the libraries the way an install lays them out: programs load the
# soname, libminke.so.ABI; the static library is the shipped one, cargo's
# archive repacked by scripts/pack-static.sh (as scripts/install.sh does).
cp "$L/libminke.so" "$B/lib/libminke.so.$abi"
ln -sf "libminke.so.$abi" "$B/lib/libminke.so"
check pack-static scripts/pack-static.sh "$L/libminke.a" "$B/lib/libminke.a" --tools "$tools"
so="$B/lib/libminke.so.$abi"
LINK=(-I"$root/include" -L"$B/lib" -lminke -Wl,-rpath,"$B/lib")
STATIC_LIBS=(-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc)

# ---------------------------------------------------------------------------
step "exports"
grep -E '^[a-z]' include/minke.h | grep -v '^typedef' | grep -oE 'minke_[a-z0-9_]+\(' |
    tr -d '(' | sort -u >"$B/declared.txt"
"${tools}nm" -D --defined-only "$so" | awk '{print $3}' | sort -u >"$B/exported.txt"
check exports-only-minke bash -c "! grep -v '^minke_' '$B/exported.txt'"
check exports-match-header diff -u "$B/declared.txt" "$B/exported.txt"
# The shipped archive: every global (and weak) symbol it defines is the
# C API's, and all of the C API is there. (readelf, not nm, as in
# pack-static.sh.) Cargo's own archive, for the record, defines thousands.
static_globals() {
    { readelf -Ws --wide "$1" 2>/dev/null || true; } |
        awk '($5=="GLOBAL" || $5=="WEAK") && $7!="UND" {print $8}' | sort -u
}
static_globals "$B/lib/libminke.a" >"$B/static-exported.txt"
check static-lib-exports-only-minke bash -c "! grep -v '^minke_' '$B/static-exported.txt'"
check static-lib-has-api diff -u "$B/declared.txt" "$B/static-exported.txt"
check soname bash -c "readelf -d '$so' | grep -q 'Library soname: \[libminke.so.$abi\]'"
printf '  %s functions exported; cargo'"'"'s archive defines %s global symbols, the shipped one %s\n' \
    "$(wc -l <"$B/exported.txt")" "$(static_globals "$L/libminke.a" | wc -l)" \
    "$(wc -l <"$B/static-exported.txt")" >&2
# The C++ wrapper covers the whole API: a function added to the header
# without a wrapper is named here.
wrapper_complete() {
    local f missing=""
    while read -r f; do
        grep -q "\b$f(" examples/cpp/minke.hpp || missing="$missing $f"
    done <"$B/declared.txt"
    [[ -z "$missing" ]] || { echo "examples/cpp/minke.hpp does not use:$missing"; return 1; }
}
[[ "$cross" == 0 ]] && check cpp-wrapper-complete wrapper_complete

# ---------------------------------------------------------------------------
step "build examples and tests (-Werror)"
MODEL="$(scripts/fetch-model.sh)"
TESTS=(test_api test_misuse test_threads test_after test_special test_names test_queries test_state
    test_shift test_speculative)
cc_ok=1
for src in examples/c/generate.c examples/c/chat.c; do
    n="$(basename "$src" .c)"
    "$CC" "${STRICT_C[@]}" "$src" -o "$B/bin/$n" "${LINK[@]}" || cc_ok=0
done
for n in "${TESTS[@]}" test_memory test_corpus; do
    "$CC" "${STRICT_C[@]}" -I ffi/tests/c "ffi/tests/c/$n.c" -o "$B/bin/$n" "${LINK[@]}" -lpthread -lm || cc_ok=0
done
if [[ "$cross" == 0 ]]; then
    g++ "${STRICT_CXX[@]}" examples/cpp/ask.cpp -o "$B/bin/ask" "${LINK[@]}" || cc_ok=0
    g++ "${STRICT_CXX[@]}" -I examples/cpp ffi/tests/cpp/test_wrapper.cpp -o "$B/bin/test_wrapper" \
        "${LINK[@]}" || cc_ok=0
    # The header alone, in other language modes.
    echo '#include <minke.h>' >"$B/inc.c"
    gcc -std=c11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -I include "$B/inc.c" || cc_ok=0
    g++ -std=c++11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -I include -x c++ "$B/inc.c" || cc_ok=0
fi
if [[ "$cc_ok" == 1 ]]; then pass "strict-build"; else fail "strict-build"; fi
# test_names calls every function that returns a minke_status.
awk '/^minke_status minke_/{sub(/\(.*/, "", $2); print $2}' include/minke.h | sort -u >"$B/fallible.txt"
grep -oE 'NAMED(_ST)?\(minke_[a-z0-9_]+' ffi/tests/c/test_names.c | sed 's/.*(//' | sort -u >"$B/named.txt"
check names-cover-header diff -u "$B/fallible.txt" "$B/named.txt"

# ---------------------------------------------------------------------------
step "run on $(basename "$MODEL")${RUN[*]:+ under ${RUN[0]}}"
run_generate() {
    "${RUN[@]}" "$B/bin/generate" "$MODEL" "The capital of France is" 16 >"$B/generate.out" || return 1
    cat "$B/generate.out"
    grep -q Paris "$B/generate.out"
}
check generate run_generate
# Two turns; the second reuses the first prompt's KV cache.
run_chat() {
    printf 'What is the capital of France?\nAnd of Germany?\n' |
        "${RUN[@]}" "$B/bin/chat" "$MODEL" "You are a helpful assistant. Answer in one sentence." \
            2>"$B/chat.err" || return 1
    cat "$B/chat.err"
    grep -q '[1-9][0-9]* reused' "$B/chat.err"
}
# Under emulation a token costs about 0.3 s of CPU: the programs that
# decode hundreds (chat's two turns, test_threads' four threads twice over,
# test_after's generations, test_state's, test_shift's and
# test_speculative's) are left to the host run, as are the C++ ones; the
# ABI's calls, names, queries, misuse, special tokens and memory reports
# run everywhere.
RUN_TESTS=("${TESTS[@]}" test_memory)
if [[ "$cross" == 1 ]]; then
    RUN_TESTS=(test_api test_misuse test_special test_names test_queries test_memory)
    printf '  (not under emulation: chat, test_threads, test_after, test_state, test_shift, %s)\n' \
        test_speculative >&2
else
    check chat run_chat
    check ask "$B/bin/ask" "$MODEL"
    check test_wrapper "$B/bin/test_wrapper" "$MODEL"
fi
for n in "${RUN_TESTS[@]}"; do
    check "$n" "${RUN[@]}" "$B/bin/$n" "$MODEL"
done
# The fuzzers' GGUF seeds and corpus: a named error or a run for each.
CORPUS=(fuzz/seeds/gguf fuzz/corpus/gguf)
check test_corpus "${RUN[@]}" "$B/bin/test_corpus" "${CORPUS[@]}"

# ---------------------------------------------------------------------------
if [[ "$cross" == 1 ]]; then
    # ASan and UBSan run under qemu-user, LeakSanitizer does not (it stops
    # the world through ptrace-like means qemu does not give): leak checks
    # stay with the host run. The programs that feed the library hostile
    # calls and files, where a memory error would come from.
    step "sanitizers (ASan + UBSan, leak checks off under ${RUN[0]})"
    export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:halt_on_error=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    "$CC" "${STRICT_C[@]}" "${SAN[@]}" -I ffi/tests/c ffi/tests/c/test_misuse.c -o "$B/asan/test_misuse" \
        "${LINK[@]}" -lpthread -lm
    check asan-ubsan-test_misuse "${RUN[@]}" "$B/asan/test_misuse" "$MODEL"
    "$CC" "${STRICT_C[@]}" "${SAN[@]}" -I ffi/tests/c ffi/tests/c/test_corpus.c -o "$B/asan/test_corpus" \
        "${LINK[@]}"
    check asan-ubsan-test_corpus "${RUN[@]}" "$B/asan/test_corpus" "${CORPUS[@]}"
    unset ASAN_OPTIONS UBSAN_OPTIONS
else
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
fi

# ---------------------------------------------------------------------------
step "static linking and sizes"
"$CC" "${STRICT_C[@]}" examples/c/generate.c -o "$B/bin/generate_static" -I include \
    "$B/lib/libminke.a" "${STATIC_LIBS[@]}"
check static-no-libminke-needed bash -c "! readelf -d '$B/bin/generate_static' | grep -q libminke"
check static-generate bash -c "${RUN[*]} '$B/bin/generate_static' '$MODEL' 'The capital of France is' 16 | cmp - '$B/generate.out'"
# Fully static too (glibc warns that getaddrinfo and getpwuid_r, which the
# Rust standard library links but minke never calls, want its shared parts).
"$CC" "${STRICT_C[@]}" examples/c/generate.c -o "$B/bin/generate_fullstatic" -I include -static \
    "$B/lib/libminke.a" -lutil -lrt -lpthread -lm -ldl -lc 2>"$B/log/fullstatic-link.log"
check fully-static-generate bash -c "${RUN[*]} '$B/bin/generate_fullstatic' '$MODEL' 'The capital of France is' 16 | cmp - '$B/generate.out'"

# A second Rust static library in the same program, as an app may link
# one. Built by another toolchain (the pinned nightly scripts/race.sh
# uses), its copy of the Rust standard library defines the same unmangled
# symbols as the one inside cargo's archive (rust_eh_personality, ...),
# and the link fails; the shipped archive keeps its copy to itself. Under
# --target, the stable toolchain builds it: a link and a run all the same.
two_rust_libs() {
    local rustc=(rustc)
    if [[ "$cross" == 0 ]]; then
        local nightly
        nightly="$(cat scripts/nightly-toolchain)"
        rustup toolchain install "$nightly" --profile minimal --component miri,rust-src >/dev/null 2>&1 ||
            rustup toolchain install "$nightly" --profile minimal --component miri,rust-src || return 1
        rustc=(rustup run "$nightly" rustc)
    fi
    cat >"$B/other.rs" <<'EOF'
//! Another Rust static library: it allocates and catches a panic, so it
//! needs its own standard library's allocator and unwinder.
#[no_mangle]
pub extern "C" fn other_sum(n: u32) -> u64 {
    std::panic::catch_unwind(|| {
        let v: Vec<u64> = (1..=n as u64).collect();
        if n == 0 {
            panic!("nothing to add");
        }
        v.iter().sum()
    })
    .unwrap_or(0)
}
EOF
    cat >"$B/two_libs.c" <<'EOF'
#include <minke.h>
#include <stdint.h>
#include <stdio.h>
uint64_t other_sum(uint32_t n);
int main(void)
{
    printf("libminke %s, other_sum(10) = %llu\n", minke_version(), (unsigned long long)other_sum(10));
    return minke_abi_version() != MINKE_ABI_VERSION || other_sum(10) != 55 || other_sum(0) != 0;
}
EOF
    "${rustc[@]}" --edition 2021 --crate-type staticlib -C opt-level=1 --target "$target" \
        "$B/other.rs" -o "$B/libother.a" || return 1
    "$CC" "${STRICT_C[@]}" -I include \
        "$B/two_libs.c" "$B/lib/libminke.a" "$B/libother.a" "${STATIC_LIBS[@]}" \
        -o "$B/bin/two_rust_libs" || return 1
    "${RUN[@]}" "$B/bin/two_rust_libs" || return 1
    # For the record: cargo's archive in the same link.
    if "$CC" -I include "$B/two_libs.c" \
        "$L/libminke.a" "$B/libother.a" "${STATIC_LIBS[@]}" -o "$B/two_rust_libs_cargo" \
        2>"$B/log/two-libs-cargo-archive.log"; then
        echo "(cargo's own archive links beside it too)"
    else
        echo "(cargo's own archive does not: $(grep -c 'multiple definition' "$B/log/two-libs-cargo-archive.log") multiple definitions)"
    fi
}
check two-rust-static-libs two_rust_libs
grep -h '^(' "$B/log/two-rust-static-libs.log" | sed 's/^/  /' >&2 || true

"${tools}strip" --strip-unneeded -o "$B/libminke.stripped.so" "$so"
"${tools}strip" -o "$B/generate_static.stripped" "$B/bin/generate_static"
"${tools}strip" -o "$B/generate_fullstatic.stripped" "$B/bin/generate_fullstatic"
size_of() { stat -c %s "$1"; }
printf '  libminke.so stripped:            %8d bytes\n' "$(size_of "$B/libminke.stripped.so")" >&2
printf '  libminke.a shipped:              %8d bytes\n' "$(size_of "$B/lib/libminke.a")" >&2
printf '  generate (libminke.a) stripped:  %8d bytes\n' "$(size_of "$B/generate_static.stripped")" >&2
printf '  generate (-static) stripped:     %8d bytes\n' "$(size_of "$B/generate_fullstatic.stripped")" >&2

# ---------------------------------------------------------------------------
if [[ "$cross" == 0 ]]; then
    step "install, pkg-config and CMake consumers"
    prefix="$B/prefix"
    check install scripts/install.sh --prefix "$prefix" --no-build
    # Programs built against the install run as users run them: without
    # LD_LIBRARY_PATH, finding libminke.so through the rpath the .pc file
    # and the CMake package give.
    consumer_pc() {
        local pc=(env PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config)
        test "$("${pc[@]}" --modversion minke)" = "$version" || return 1
        "${pc[@]}" --cflags --libs minke || return 1
        # shellcheck disable=SC2046
        gcc "${STRICT_C[@]}" ffi/tests/consumer/consumer.c -o "$B/bin/consumer_pc" \
            $("${pc[@]}" --cflags --libs minke) || return 1
        readelf -d "$B/bin/consumer_pc" | grep -q "libminke.so.$abi" || return 1
        env -u LD_LIBRARY_PATH "$B/bin/consumer_pc" "$MODEL"
    }
    check pkg-config-consumer consumer_pc
    consumer_cmake() {
        cmake -S ffi/tests/consumer -B "$B/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
            -DCMAKE_INSTALL_PREFIX="$B/cmake-installed" \
            -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" -DCMAKE_BUILD_TYPE=Release || return 1
        cmake --build "$B/cmake" || return 1
        cmake --install "$B/cmake" || return 1
        for dir in "$B/cmake" "$B/cmake-installed/bin"; do
            env -u LD_LIBRARY_PATH "$dir/consumer_shared" "$MODEL" || return 1
            env -u LD_LIBRARY_PATH "$dir/consumer_static" "$MODEL" || return 1
        done
        ! readelf -d "$B/cmake/consumer_static" | grep -q libminke
    }
    check cmake-consumer consumer_cmake
    # find_package refuses a version this install does not satisfy.
    mkdir -p "$B/cmake-v"
    sed 's/find_package(minke 0.1 REQUIRED)/find_package(minke 9.0 REQUIRED)/' \
        ffi/tests/consumer/CMakeLists.txt >"$B/cmake-v/CMakeLists.txt"
    cp ffi/tests/consumer/consumer.c "$B/cmake-v/"
    check cmake-version-refused bash -c "! cmake -S '$B/cmake-v' -B '$B/cmake-v/build' -DCMAKE_PREFIX_PATH='$prefix'"
fi

printf '\ntest-c (%s): %d passed, %d failed\n' "$target" "$passed" "$failed"
[[ "$failed" == 0 ]]
