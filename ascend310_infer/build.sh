#!/usr/bin/env bash
# Build the MindSpore Lite inference program: ascend310_infer/out/main.
#
# Usage: bash ascend310_infer/build.sh [MS_LITE_HOME]     (works from any directory)
#   MS_LITE_HOME (first argument, else the environment variable) is either
#     - an official MindSpore Lite release, unpacked (mindspore-lite-<ver>-linux-<arch>/):
#       headers in runtime/include/api/, library runtime/lib/libmindspore-lite.so; or
#     - the mindspore_lite/ folder of PyPI's mindspore-lite wheel, unpacked
#       (bash scripts/fetch_mindspore_lite.sh prints it): headers in include/api/,
#       library lib/libmindspore-extendrt_python.so. Compile/link testing only.
# Env: MS_LITE_CXX11_ABI=ON if that Lite was built with the C++11 string ABI (default OFF);
#      BUILD_JOBS (default 2).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="$HERE/out"

die() { echo "build.sh: error: $*" >&2; exit 1; }

if [ "$#" -gt 1 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  echo "usage: bash ascend310_infer/build.sh [MS_LITE_HOME]  (or set the MS_LITE_HOME environment variable)" >&2
  exit 2
fi

LITE="${1:-${MS_LITE_HOME:-}}"
[ -n "$LITE" ] || die "no MindSpore Lite location given: set MS_LITE_HOME (or pass it as the first argument) to an unpacked MindSpore Lite release or to the mindspore_lite/ folder printed by scripts/fetch_mindspore_lite.sh"
[ -d "$LITE" ] || die "MindSpore Lite location $LITE is not a directory"
LITE="$(cd "$LITE" && pwd)"

# Layout detection. Both layouts keep the headers under <base>/include/api/; the headers include
# each other as "include/api/..." (so <base> is an include dir) and as "mindapi/base/format.h"
# (so <base>/include is one too).
if [ -d "$LITE/runtime" ]; then
  LAYOUT="MindSpore Lite release"
  BASE="$LITE/runtime"
  LIBRARY="$BASE/lib/libmindspore-lite.so"
elif [ -d "$LITE/include/api" ] || [ -d "$LITE/lib" ]; then
  LAYOUT="mindspore-lite wheel"
  BASE="$LITE"
  LIBRARY="$BASE/lib/libmindspore-extendrt_python.so"
elif [ -d "$LITE/mindspore_lite/include/api" ]; then
  die "$LITE looks like the unpacked wheel's root: set MS_LITE_HOME to $LITE/mindspore_lite"
else
  die "$LITE is not a MindSpore Lite location: found neither runtime/ (Lite release) nor include/api/ or lib/ (mindspore_lite/ folder of the wheel)"
fi

MISSING=()
for h in model.h context.h types.h status.h data_type.h; do
  [ -f "$BASE/include/api/$h" ] || MISSING+=("$BASE/include/api/$h")
done
[ -f "$BASE/include/mindapi/base/format.h" ] || MISSING+=("$BASE/include/mindapi/base/format.h")
[ -f "$LIBRARY" ] || MISSING+=("$LIBRARY")
if [ "${#MISSING[@]}" -gt 0 ]; then
  die "incomplete $LAYOUT in $LITE, missing: ${MISSING[*]}"
fi

# Runtime search path: the library's directory plus, in a release, the third-party libraries
# (glog, dnnl, ...) it depends on and the converter libraries it loads to compile a MINDIR.
RUNTIME_DIRS=("$(dirname "$LIBRARY")")
if [ -d "$LITE/tools/converter/lib" ]; then
  RUNTIME_DIRS+=("$LITE/tools/converter/lib")
fi
if [ -d "$BASE/third_party" ]; then
  while IFS= read -r dir; do
    RUNTIME_DIRS+=("$dir")
  done < <(find "$BASE/third_party" -name '*.so*' -printf '%h\n' | sort -u)
fi
RUNTIME_PATH="$(IFS=:; echo "${RUNTIME_DIRS[*]}")"

command -v cmake >/dev/null 2>&1 || die "cmake not found on PATH (CMake >= 3.14 is needed)"
command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || die "no C++ compiler (c++ or g++) on PATH"

mkdir -p "$OUT"
# Serialise concurrent builds of the same tree.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$OUT/.build.lock"
  flock 9
fi

echo "build.sh: $LAYOUT at $LITE"
echo "build.sh: library $LIBRARY"
rm -f "$OUT/main"
cmake -S "$HERE" -B "$OUT" -DCMAKE_BUILD_TYPE=Release \
  "-DMS_LITE_INCLUDE_DIRS=$BASE;$BASE/include" \
  "-DMS_LITE_LIBRARY=$LIBRARY" \
  "-DMS_LITE_RUNTIME_DIRS=$(IFS=';'; echo "${RUNTIME_DIRS[*]}")" \
  "-DMS_LITE_CXX11_ABI=${MS_LITE_CXX11_ABI:-OFF}" \
  || die "CMake configuration failed (see above)"
cmake --build "$OUT" -j "${BUILD_JOBS:-2}" || die "compilation or linking of $OUT/main failed (see above)"
[ -x "$OUT/main" ] || die "the build finished but $OUT/main was not produced"

echo "build.sh: built $OUT/main (rpath: $RUNTIME_PATH)"
echo "build.sh: if the binary is moved or the Lite directory relocated, run it with LD_LIBRARY_PATH=$RUNTIME_PATH\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}; on Ascend also source CANN's set_env.sh first"
