#!/usr/bin/env bash
# The JVM binding's tests (bindings/java), runnable on a fresh Debian machine:
#   1. installs a JDK from the distribution's packages when javac is missing,
#   2. builds libminke, the JNI library and the jar (bindings/java/build.sh),
#   3. checks that the JNI library exports JNI_OnLoad and nothing else, that
#      consumer-rules.pro keeps what it looks up by name, and that the
#      CMake build (the one Android's Gradle runs) makes the same library,
#   4. makes the greedy references: the C example examples/c/generate.c,
#      and `minke run` when a minke binary is there (cargo test builds one),
#   5. runs the Java tests (bindings/java/src/test) on the real model
#      (scripts/fetch-model.sh) and the tiny fixtures, under -Xcheck:jni.
# Work files go to target/java. Ends with "test-java: N passed, N failed";
# exits non-zero on any failure, a missing tool or a missing model.
# About 20 seconds once libminke is built.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
start=$SECONDS

T="${CARGO_TARGET_DIR:-$root/target}"
O="$T/java"
PROMPT="The capital of France is"
N_GEN=24 # MinkeTest.N_GEN

step() { printf '\n==> %s\n' "$*" >&2; }

step "tools"
need=()
command -v javac >/dev/null && command -v jar >/dev/null || need+=(default-jdk-headless)
command -v gcc >/dev/null || need+=(gcc)
command -v nm >/dev/null || need+=(binutils)
command -v cmake >/dev/null || need+=(cmake)
if ((${#need[@]})); then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get install -y "${need[@]}" >&2 ||
        { $sudo_cmd apt-get update >&2 && $sudo_cmd apt-get install -y "${need[@]}" >&2; }
fi
javac -version >&2

step "build"
bindings/java/build.sh
jni="$O/native/libminke_jni.so"

step "exports"
exported="$(nm -D --defined-only "$jni" | awk '{print $3}')"
if [[ "$exported" != "JNI_OnLoad" ]]; then
    printf 'test-java: %s exports more than JNI_OnLoad:\n%s\n' "$jni" "$exported" >&2
    exit 1
fi
printf '  only JNI_OnLoad\n' >&2
# Every class the JNI code looks up by name keeps its name under R8.
for cls in $(grep -oh '"dev/minke/[A-Za-z$]*"' bindings/java/src/main/c/*.c | tr -d '"' | tr / . | sort -u); do
    grep -qF -- "-keep class $cls " bindings/java/consumer-rules.pro ||
        { printf 'test-java: %s is not kept in bindings/java/consumer-rules.pro\n' "$cls" >&2; exit 1; }
done
printf '  consumer-rules.pro keeps every class the JNI code looks up\n' >&2

step "the same library through CMake (as Android's externalNativeBuild builds it)"
rm -rf "$O/cmake"
JAVA_HOME="${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}" \
    cmake -S bindings/java -B "$O/cmake" -DMINKE_LIB="$T/release/libminke.a" -DMINKE_WERROR=ON \
    -DCMAKE_BUILD_TYPE=Release >"$O/cmake.log" 2>&1 || { cat "$O/cmake.log" >&2; exit 1; }
cmake --build "$O/cmake" >>"$O/cmake.log" 2>&1 || { cat "$O/cmake.log" >&2; exit 1; }
test "$(nm -D --defined-only "$O/cmake/libminke_jni.so" | awk '{print $3}')" = JNI_OnLoad
printf '  built, exports only JNI_OnLoad\n' >&2

step "greedy references"
MODEL="$(scripts/fetch-model.sh)"
mkdir -p "$O/ref"
# Programs load libminke by its soname, libminke.so.<ABI>.
abi="$(awk '$1=="#define" && $2=="MINKE_ABI_VERSION"{print $3}' include/minke.h)"
ln -sf "$T/release/libminke.so" "$O/ref/libminke.so.$abi"
gcc -std=c99 -Wall -Wextra -Werror -O1 examples/c/generate.c -o "$O/ref/generate" \
    -I include -L "$T/release" -lminke -Wl,-rpath,"$O/ref"
# generate prints the prompt, the text and a newline; keep the text and newline.
"$O/ref/generate" "$MODEL" "$PROMPT" "$N_GEN" | tail -c +$((${#PROMPT} + 1)) >"$O/ref/greedy-c.txt"
refs="$O/ref/greedy-c.txt"
printf '  C example: %s\n' "$(head -c 60 "$O/ref/greedy-c.txt" | tr '\n' ' ')" >&2
# The newest minke binary, if any (MINKE_CLI names one).
cli="${MINKE_CLI:-$(ls -t "$T/release/minke" "$T/debug/minke" 2>/dev/null | head -n 1 || true)}"
if [[ -n "$cli" ]]; then
    "$cli" run -m "$MODEL" -p "$PROMPT" -n "$N_GEN" --temp 0 --repeat-penalty 1 \
        >"$O/ref/greedy-cli.txt" 2>/dev/null
    refs="$refs,$O/ref/greedy-cli.txt"
    printf '  minke run (%s): %s\n' "${cli#"$root"/}" "$(head -c 60 "$O/ref/greedy-cli.txt" | tr '\n' ' ')" >&2
else
    printf '  no minke binary: NOT comparing with minke run, only with the C example\n' >&2
fi

step "Java tests"
rm -rf "$O/test-classes"
mkdir -p "$O/test-classes"
javac --release 8 -Xlint:all -Werror -encoding UTF-8 -cp "$O/classes" -d "$O/test-classes" \
    bindings/java/src/test/java/dev/minke/*.java
version="$(awk '/^\[workspace.package\]/{p=1;next} /^\[/{p=0} p && $1=="version"{gsub(/"/,"",$3); print $3; exit}' Cargo.toml)"
java -Xcheck:jni -Dminke.jni.library="$jni" -Dminke.model="$MODEL" \
    -Dminke.fixtures="$root/tests/fixtures" -Dminke.greedy="$refs" -Dminke.version="$version" \
    -cp "$O/classes:$O/test-classes" dev.minke.MinkeTest 2>&1 | tee "$O/test.log"
rc="${PIPESTATUS[0]}"
# -Xcheck:jni reports misuse as warnings, not failures: make them fail.
if grep -q "WARNING in native method" "$O/test.log"; then
    printf 'test-java: -Xcheck:jni warned (see %s)\n' "${O#"$root"/}/test.log" >&2
    rc=1
fi
printf 'test-java: %ss\n' "$((SECONDS - start))" >&2
exit "$rc"
