#!/usr/bin/env bash
# Makes the libminke.a that is shipped out of the one cargo builds.
#
#   scripts/pack-static.sh IN.a OUT.a [--tools PREFIX]
#
# Cargo's staticlib is an archive of several hundred objects: minke's own
# and those of the Rust standard library and compiler builtins, whose
# ~8,400 global symbols (rust_eh_personality, compiler builtins such as
# __addtf3, std's functions) are all visible to the final link. An app that
# also links another Rust static library, built by another toolchain, then
# fails with "multiple definition of `rust_eh_personality'" (with the same
# toolchain, one library silently runs on the other's copy of std).
#
# The shipped archive holds one object instead: every member linked
# together (`ld -r`), then every global symbol but the C API's (`minke_*`)
# made local, so the library's Rust internals bind to each other and
# nothing else. Three details:
#   - COMDAT groups are dissolved into plain sections. A group is merged
#     with same-named groups of other objects at the final link; with its
#     symbols made local, a copy kept from this object would leave the
#     other object's references to it undefined (DW.ref.rust_eh_personality
#     does exactly that).
#   - The LLVM bitcode rustc embeds (.llvmbc, .llvmcmd) goes: no linker
#     reads it from a C build, and it is a third of the archive.
#   - The kept list is the archive's own defined minke_* symbols;
#     scripts/test-c.sh checks that it is exactly the header's functions.
# Linkers drop unused sections with --gc-sections as before (rustc puts
# each function in its own section, and `ld -r` keeps them apart).
#
# --tools PREFIX names the binutils of the archive's target, e.g.
# `aarch64-linux-gnu-` (default: the host's ld, objcopy, ar, readelf).
set -euo pipefail

die() {
    printf 'pack-static: error: %s\n' "$*" >&2
    exit 1
}

[[ $# -ge 2 ]] || die "usage: scripts/pack-static.sh IN.a OUT.a [--tools PREFIX]"
in="$1"
out="$2"
shift 2
tools=""
while [[ $# -gt 0 ]]; do
    case "$1" in
    --tools) tools="${2:-}"; shift 2 ;;
    --tools=*) tools="${1#*=}"; shift ;;
    *) die "unknown argument '$1'" ;;
    esac
done
[[ -f "$in" ]] || die "$in: no such archive"
for t in ld objcopy ar readelf; do
    command -v "${tools}$t" >/dev/null || die "${tools}$t not found (binutils for the archive's target)"
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# readelf, not nm: nm's LTO plugin chokes on the bitcode rustc embeds.
"${tools}readelf" -Ws --wide "$in" 2>/dev/null |
    awk '$5=="GLOBAL" && $7!="UND" && $8 ~ /^minke_/ {print $8}' | sort -u >"$work/keep"
[[ -s "$work/keep" ]] || die "$in defines no minke_* function: not a libminke archive?"

"${tools}ld" -r --whole-archive "$in" -o "$work/linked.o" ||
    die "partial link (ld -r) of $in failed"
"${tools}objcopy" \
    --keep-global-symbols="$work/keep" \
    --remove-section=.group \
    --remove-section=.llvmbc \
    --remove-section=.llvmcmd \
    "$work/linked.o" "$work/libminke.o"

# Write beside the target, then move: OUT is whole or absent.
rm -f "$out.tmp"
"${tools}ar" rcsD "$out.tmp" "$work/libminke.o"
mv -f "$out.tmp" "$out"
