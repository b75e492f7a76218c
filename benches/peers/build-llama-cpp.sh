#!/usr/bin/env bash
# Builds llama-cpp-python (pinned) from source into its own virtual
# environment, for the reference data of tests/fixtures/smollm2 and for the
# speed comparison against llama.cpp. Prints the venv's python path on stdout
# (only that; progress goes to stderr). Does nothing when the pinned version
# is already installed there.
#
#   MINKE_CACHE=dir    cache root (default: ~/.cache/minke); the venv goes to
#                      $MINKE_CACHE/venv-llama
#   PYTHON=python3     interpreter used to create the venv
#   JOBS=n             parallel compile jobs (default: number of CPUs)
#
# Build flags: GGML_NATIVE=ON (tuned for this CPU), with AMX code generation
# switched off (-mno-amx-int8 -mno-amx-tile -mno-amx-bf16), because
# llama.cpp's AMX path has a known upstream bug on some CPUs that advertise
# AMX. The build takes several minutes on 2 cores.
set -euo pipefail

PKG=llama-cpp-python
PKG_VERSION=0.3.36

log() { printf 'build-llama-cpp: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

venv="${MINKE_CACHE:-$HOME/.cache/minke}/venv-llama"
py="$venv/bin/python"
python="${PYTHON:-python3}"

installed_version() {
    "$py" -c 'import importlib.metadata as m; print(m.version("llama_cpp_python"))' 2>/dev/null || true
}

if [[ -x "$py" && "$(installed_version)" == "$PKG_VERSION" ]] &&
    "$py" -c 'import llama_cpp' 2>/dev/null; then
    log "$PKG==$PKG_VERSION already installed in $venv"
    printf '%s\n' "$py"
    exit 0
fi

command -v "$python" >/dev/null || die "$python not found (needed to create the venv)"
command -v cc >/dev/null || command -v gcc >/dev/null ||
    die "no C compiler found (install one, e.g. the build-essential package)"
command -v c++ >/dev/null || command -v g++ >/dev/null ||
    die "no C++ compiler found (install one, e.g. the build-essential package)"

if [[ ! -x "$py" ]]; then
    log "creating $venv with $("$python" --version 2>&1)"
    mkdir -p "$(dirname "$venv")" || die "cannot create $(dirname "$venv")"
    "$python" -m venv "$venv" || die "cannot create the venv $venv"
fi

log "installing build tools (cmake, ninja, scikit-build-core) into $venv"
"$py" -m pip install --quiet --upgrade pip >&2 || die "pip upgrade failed in $venv"
"$py" -m pip install --quiet cmake ninja scikit-build-core numpy >&2 ||
    die "could not install cmake/ninja/scikit-build-core/numpy into $venv"

amx_off="-mno-amx-int8 -mno-amx-tile -mno-amx-bf16"
export PATH="$venv/bin:$PATH"
export CMAKE_ARGS="-DGGML_NATIVE=ON"
export CFLAGS="${CFLAGS:-} $amx_off"
export CXXFLAGS="${CXXFLAGS:-} $amx_off"
export CMAKE_BUILD_PARALLEL_LEVEL="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
log "building $PKG==$PKG_VERSION from source (several minutes)"
log "  CMAKE_ARGS=$CMAKE_ARGS"
log "  CFLAGS/CXXFLAGS add: $amx_off (AMX off: known upstream llama.cpp AMX bug)"
log "  jobs: $CMAKE_BUILD_PARALLEL_LEVEL"
"$py" -m pip install --no-cache-dir --no-binary "$PKG" --no-build-isolation \
    "$PKG==$PKG_VERSION" >&2 ||
    die "building $PKG==$PKG_VERSION failed (see the pip output above)"

got="$(installed_version)"
[[ "$got" == "$PKG_VERSION" ]] || die "after the build, $PKG reports version '$got', expected $PKG_VERSION"
"$py" -c 'import llama_cpp' || die "llama_cpp does not import in $venv"
log "installed $PKG==$PKG_VERSION in $venv"
printf '%s\n' "$py"
