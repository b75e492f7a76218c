#!/usr/bin/env bash
# Builds the JVM binding for this machine, under ${CARGO_TARGET_DIR:-target}/java:
#   native/libminke_jni.so   the JNI library, libminke.a linked in (one file
#                            to ship; it exports JNI_OnLoad only)
#   minke.jar                the dev.minke classes, compiled for Java 8, the
#                            language level Android reads
#   classes/                 the same classes, unpacked
# and libminke itself first (cargo, release) unless --no-cargo is given.
#
#   bindings/java/build.sh [--no-cargo]
#
# Needs a JDK (javac, jar) and gcc; JAVA_HOME is found from javac when
# unset. Use the result with
#   java -Djava.library.path=target/java/native -cp target/java/minke.jar:... App
# For Android, see bindings/java/README.md (Gradle and the NDK build the
# same sources).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"

cargo=1
for a in "$@"; do
    case "$a" in
    --no-cargo) cargo=0 ;;
    *)
        echo "usage: $0 [--no-cargo]" >&2
        exit 2
        ;;
    esac
done

T="${CARGO_TARGET_DIR:-$root/target}"
O="$T/java"
src=bindings/java/src/main

if [[ -z "${JAVA_HOME:-}" ]]; then
    javac_path="$(command -v javac)" || { echo "build.sh: javac not found (install a JDK)" >&2; exit 1; }
    JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$javac_path")")")"
fi
[[ -f "$JAVA_HOME/include/jni.h" ]] || { echo "build.sh: no jni.h under JAVA_HOME=$JAVA_HOME" >&2; exit 1; }

if [[ "$cargo" == 1 ]]; then
    cargo build -p minke-ffi --release --locked >&2
fi
[[ -f "$T/release/libminke.a" ]] || { echo "build.sh: $T/release/libminke.a is missing (run without --no-cargo)" >&2; exit 1; }

rm -rf "$O/classes" "$O/native" "$O/minke.jar"
mkdir -p "$O/classes" "$O/native"

# --release 8: the classes must load on Android, whose toolchain reads
# Java 8 bytecode and APIs everywhere (and more only with desugaring).
# shellcheck disable=SC2046
javac --release 8 -Xlint:all -Werror -encoding UTF-8 -d "$O/classes" \
    $(find "$src/java" -name '*.java' | sort)
jar cf "$O/minke.jar" -C "$O/classes" .

# The JNI library: strict C99, hidden symbols, libminke.a pulled in with
# its symbols kept local (--exclude-libs), so only JNI_OnLoad is exported
# and an app may load another library that links minke without a clash.
os_include="$JAVA_HOME/include/linux"
[[ -d "$os_include" ]] || os_include="$(find "$JAVA_HOME/include" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
gcc -std=c99 -Wall -Wextra -Wpedantic -Werror -O2 -g -fPIC -fvisibility=hidden -shared \
    -I include -I "$JAVA_HOME/include" -I "$os_include" \
    "$src"/c/*.c "$T/release/libminke.a" \
    -Wl,--exclude-libs,ALL -Wl,--gc-sections -Wl,-z,defs \
    -lpthread -ldl -lm -o "$O/native/libminke_jni.so"

printf 'build.sh: %s, %s\n' "${O#"$root"/}/minke.jar" "${O#"$root"/}/native/libminke_jni.so" >&2
