#!/usr/bin/env bash
# Fetch the MindSpore Lite C++ headers and library from PyPI's mindspore-lite 2.0.0 wheel.
#
# Usage: bash scripts/fetch_mindspore_lite.sh [DEST]
#   DEST defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/smartassign/mindspore-lite-2.0.0.
#   On success the only line on stdout is the directory to use as MS_LITE_HOME
#   (the wheel's mindspore_lite/ folder); progress and errors go to stderr.
#   Env: PYTHON (interpreter whose pip downloads the wheel; default python3).
#
# The wheel exists only for Python 3.7, but `pip download --python-version 3.7` fetches it from
# any Python. It is used only to compile and link ascend310_infer/ on x86_64 Linux: its runtime is
# too old to load a MindSpore 2.8 MINDIR. A real Ascend 310 needs an official MindSpore Lite
# release matching the CANN version (version table: docs/ascend310.md).
#
# Idempotent: an existing, complete DEST is reused without network access. The wheel is downloaded
# and unpacked into a temporary directory next to DEST, checked, then renamed into place, so an
# interrupted run never leaves a half-filled DEST.
set -euo pipefail

LITE_VERSION="2.0.0"
WHEEL="mindspore_lite-${LITE_VERSION}-cp37-cp37m-manylinux1_x86_64.whl"
# sha256 of ${WHEEL} as published on PyPI.
WHEEL_SHA256="199cd0605cc985b88eddb273db9dfe9000a585ba10ca2292b6b36ebfff07b3ec"

die() { echo "fetch_mindspore_lite.sh: error: $*" >&2; exit 1; }
log() { echo "fetch_mindspore_lite.sh: $*" >&2; }

if [ "$#" -gt 1 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  echo "usage: bash scripts/fetch_mindspore_lite.sh [DEST]" >&2
  exit 2
fi

DEST="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/smartassign/mindspore-lite-${LITE_VERSION}}"
PY="${PYTHON:-python3}"

# A complete unpacked wheel: the C++ API headers plus the library exporting mindspore::Model.
is_complete() {
  [ -f "$1/mindspore_lite/include/api/model.h" ] &&
    [ -f "$1/mindspore_lite/include/api/context.h" ] &&
    [ -f "$1/mindspore_lite/lib/libmindspore-extendrt_python.so" ]
}

if is_complete "$DEST"; then
  log "reusing cached MindSpore Lite ${LITE_VERSION} in $DEST"
  echo "$DEST/mindspore_lite"
  exit 0
fi
if [ -e "$DEST" ] && ! { [ -d "$DEST" ] && [ -z "$(ls -A "$DEST")" ]; }; then
  die "$DEST exists but does not hold an unpacked mindspore-lite ${LITE_VERSION} wheel (no mindspore_lite/include/api/model.h or lib/libmindspore-extendrt_python.so); remove it or pass another DEST"
fi

command -v "$PY" >/dev/null 2>&1 || die "Python interpreter '$PY' not found (set PYTHON)"
"$PY" -m pip --version >/dev/null 2>&1 || die "'$PY -m pip' does not work (set PYTHON to an interpreter with pip)"

PARENT="$(dirname "$DEST")"
mkdir -p "$PARENT" || die "cannot create $PARENT"
TMP="$(mktemp -d "$PARENT/.mindspore-lite-${LITE_VERSION}.tmp.XXXXXX")" || die "cannot create a temporary directory in $PARENT"
trap 'rm -rf "$TMP"' EXIT

log "downloading mindspore-lite==${LITE_VERSION} (Python 3.7 wheel, about 169 MB) from PyPI"
if ! "$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.7 \
      --platform manylinux1_x86_64 --implementation cp --abi cp37m \
      --no-cache-dir "mindspore-lite==${LITE_VERSION}" -d "$TMP/wheel" >"$TMP/pip.log" 2>&1; then
  tail -n 5 "$TMP/pip.log" >&2
  die "pip download of mindspore-lite==${LITE_VERSION} failed (network or index unreachable?); the last lines of its output are above"
fi
[ -f "$TMP/wheel/$WHEEL" ] || die "pip download did not produce $WHEEL (got: $(ls "$TMP/wheel" | tr '\n' ' '))"

GOT_SHA256="$("$PY" - "$TMP/wheel/$WHEEL" <<'EOF'
import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
print(h.hexdigest())
EOF
)"
[ "$GOT_SHA256" = "$WHEEL_SHA256" ] || die "sha256 mismatch for $WHEEL: expected $WHEEL_SHA256, got $GOT_SHA256"

log "unpacking $WHEEL"
"$PY" -m zipfile -e "$TMP/wheel/$WHEEL" "$TMP/unpacked" || die "cannot unzip $TMP/wheel/$WHEEL"
is_complete "$TMP/unpacked" || die "the wheel lacks mindspore_lite/include/api/{model,context}.h or mindspore_lite/lib/libmindspore-extendrt_python.so"
# zipfile does not keep permission bits; the libraries only need to be readable.
chmod -R u+rwX,go+rX "$TMP/unpacked"

# Atomic publish. If a concurrent run got there first, keep its copy.
if mv -T "$TMP/unpacked" "$DEST" 2>/dev/null; then
  log "MindSpore Lite ${LITE_VERSION} unpacked in $DEST"
else
  is_complete "$DEST" || die "cannot move the unpacked wheel to $DEST"
  log "another run populated $DEST concurrently; using it"
fi
echo "$DEST/mindspore_lite"
