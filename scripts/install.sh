#!/usr/bin/env bash
# Installs libminke for C and C++ programs: the shared and static
# libraries, include/minke.h, a pkg-config file and a CMake package.
#
#   scripts/install.sh --prefix DIR [--libdir lib] [--profile release] [--no-build]
#                      [--no-strip] [--no-rpath]
#
# Layout under DIR:
#   include/minke.h
#   lib/libminke.so.X.Y.Z, libminke.so.ABI -> it, libminke.so -> that
#   lib/libminke.a                    (one object exporting minke_* only: scripts/pack-static.sh)
#   lib/pkgconfig/minke.pc            (pkg-config --cflags --libs minke)
#   lib/cmake/minke/minkeConfig*.cmake (find_package(minke))
#
# --profile names the cargo profile to build and install (release-small:
# the size profile, README "Size"); --no-build uses target/PROFILE as it
# is (scripts/test-c.sh builds first).
# The libraries are stripped (the .so of all it does not export, the .a of
# debug information) unless --no-strip.
# Programs linked through pkg-config or CMake get an rpath to DIR/lib, so
# that they start without LD_LIBRARY_PATH wherever DIR is; --no-rpath
# leaves it out, for a prefix the loader already searches (/usr, or one
# listed in /etc/ld.so.conf and ldconfig run).
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
    printf 'install: error: %s\n' "$*" >&2
    exit 1
}

prefix=""
libdir="lib"
build=1
profile=release
strip_lib=1
rpath=1
while [[ $# -gt 0 ]]; do
    case "$1" in
    --prefix) prefix="${2:-}"; shift 2 ;;
    --prefix=*) prefix="${1#*=}"; shift ;;
    --libdir) libdir="${2:-}"; shift 2 ;;
    --libdir=*) libdir="${1#*=}"; shift ;;
    --profile) profile="${2:-}"; shift 2 ;;
    --profile=*) profile="${1#*=}"; shift ;;
    --no-build) build=0; shift ;;
    --no-strip) strip_lib=0; shift ;;
    --no-rpath) rpath=0; shift ;;
    -h | --help)
        sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ -n "$prefix" ]] || die "give --prefix DIR"
[[ "$libdir" != /* && "$libdir" != *..* ]] || die "--libdir is relative to the prefix, without '..'"
mkdir -p "$prefix" || die "cannot create $prefix"
prefix="$(cd "$prefix" && pwd)"

# Versions: the package version from Cargo.toml, the ABI from the header.
version="$(awk '/^\[workspace.package\]/{p=1;next} /^\[/{p=0} p && $1=="version"{gsub(/"/,"",$3); print $3; exit}' Cargo.toml)"
[[ "$version" =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] || die "cannot read the version from Cargo.toml"
major="${BASH_REMATCH[1]}"
minor="${BASH_REMATCH[2]}"
abi="$(awk '$1=="#define" && $2=="MINKE_ABI_VERSION"{print $3}' include/minke.h)"
[[ -n "$abi" ]] || die "cannot read MINKE_ABI_VERSION from include/minke.h"

if [[ "$build" == 1 ]]; then
    cargo build -p minke-ffi --profile "$profile" --locked >&2
fi
# Where cargo puts a profile's output (`dev` and `test` share `debug`).
case "$profile" in
dev | test) target="${CARGO_TARGET_DIR:-target}/debug" ;;
*) target="${CARGO_TARGET_DIR:-target}/$profile" ;;
esac

# Library file names and the soname are ELF conventions; the soname
# number is MINKE_ABI_VERSION (ffi/build.rs sets it).
[[ "$(uname -s)" == Linux ]] ||
    die "this script knows the Linux layout only; elsewhere copy include/minke.h and the libraries in $target"
shared_src="$target/libminke.so"
shared_file="libminke.so.$version"
soname="libminke.so.$abi"
links=("libminke.so.$abi" "libminke.so")
# What `rustc --print native-static-libs` lists for the Rust standard
# library inside libminke.a.
private_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
cmake_private_libs="gcc_s;util;rt;m;dl;c"
[[ -f "$shared_src" && -f "$target/libminke.a" ]] ||
    die "no $profile build in $target (run without --no-build)"

lib="$prefix/$libdir"
mkdir -p "$prefix/include" "$lib/pkgconfig" "$lib/cmake/minke"

install -m 644 include/minke.h "$prefix/include/minke.h"
install -m 755 "$shared_src" "$lib/$shared_file"
if [[ "$strip_lib" == 1 ]] && command -v strip >/dev/null; then
    strip --strip-unneeded "$lib/$shared_file"
fi
# The first link is the soname (what programs load); the last, what -lminke finds.
prev="$shared_file"
for l in "${links[@]}"; do
    ln -sfn "$prev" "$lib/$l"
    prev="$l"
done
# Not cargo's archive as it is: one object with only the C API global.
scripts/pack-static.sh "$target/libminke.a" "$lib/libminke.a"
chmod 644 "$lib/libminke.a"
if [[ "$strip_lib" == 1 ]] && command -v strip >/dev/null; then
    strip --strip-debug "$lib/libminke.a"
fi

# From lib/cmake/minke back up to the prefix: one '..' per component.
up="../.."
IFS=/ read -r -a parts <<<"$libdir"
for p in "${parts[@]}"; do
    [[ -n "$p" ]] && up="$up/.."
done

# What the pkg-config file and the CMake package add to a program's link.
pc_rpath=""
cmake_rpath=""
if [[ "$rpath" == 1 ]]; then
    pc_rpath='-Wl,-rpath,${libdir} '
    cmake_rpath='INTERFACE_LINK_OPTIONS "LINKER:-rpath,${_minke_libdir}"'
fi

fill() {
    sed -e "s|@PREFIX@|$prefix|g" \
        -e "s|@LIBDIR@|$libdir|g" \
        -e "s|@VERSION@|$version|g" \
        -e "s|@VERSION_MAJOR@|$major|g" \
        -e "s|@VERSION_MINOR@|$minor|g" \
        -e "s|@URL@|$(awk -F'"' '/^repository/{print $2; exit}' Cargo.toml)|g" \
        -e "s|@PRIVATE_LIBS@|$private_libs|g" \
        -e "s|@CMAKE_PRIVATE_LIBS@|$cmake_private_libs|g" \
        -e "s|@SHARED_FILE@|$shared_file|g" \
        -e "s|@SONAME@|$soname|g" \
        -e "s|@UP@|$up|g" \
        -e "s|@PC_RPATH@|$pc_rpath|g" \
        -e "s|@CMAKE_RPATH@|$cmake_rpath|g" \
        -e "s|@SIZEOF_VOID_P@|$(getconf LONG_BIT | awk '{print $1/8}')|g" \
        "$1"
}
fill ffi/pkg/minke.pc.in >"$lib/pkgconfig/minke.pc"
fill ffi/pkg/minkeConfig.cmake.in >"$lib/cmake/minke/minkeConfig.cmake"
fill ffi/pkg/minkeConfigVersion.cmake.in >"$lib/cmake/minke/minkeConfigVersion.cmake"

printf 'install: libminke %s (ABI %s) installed in %s\n' "$version" "$abi" "$prefix" >&2
