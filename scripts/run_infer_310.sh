#!/usr/bin/env bash
# MindSpore Lite / Ascend 310 inference: build -> preprocess -> infer -> postprocess.
#
# Usage: bash scripts/run_infer_310.sh [MINDIR_PATH] [DATA_PATH] [DEVICE_TYPE] [DEVICE_ID] [TARGET_DIR](optional) [TASK](optional)
#   MINDIR_PATH  a MINDIR written by export.py; its JSON (MINDIR_PATH.json) gives the tile size
#   DATA_PATH    a folder of images, or a folder with input/ and target/ (targets -> metrics)
#   DEVICE_TYPE  Ascend or CPU;  DEVICE_ID  e.g. 0
#   TARGET_DIR   ground truths for metrics ("none" for no metrics / the paired default)
#   TASK         rain | snow | auto (default: the exported task; auto for an "all" export)
# Env: MS_LITE_HOME (required: MindSpore Lite release or the wheel's mindspore_lite/ folder),
#      OUTPUT_DIR (default ./infer_310 under the current directory), PYTHON (default python3),
#      OVERLAP (tile overlap, default tile/8).
# Each step logs to OUTPUT_DIR/<step>.log; the first failing step stops the run, its log's tail is
# shown and the script exits non-zero. Works from any directory.
set -euo pipefail

usage() {
  echo "Usage: bash run_infer_310.sh [MINDIR_PATH] [DATA_PATH] [DEVICE_TYPE] [DEVICE_ID] [TARGET_DIR](optional) [TASK](optional)" >&2
  echo "  DEVICE_TYPE: Ascend or CPU; set MS_LITE_HOME to a MindSpore Lite location first" >&2
}
die() { echo "run_infer_310.sh: error: $*" >&2; exit 1; }

if [ "$#" -lt 4 ] || [ "$#" -gt 6 ]; then
  usage
  exit 2
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
real_path() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

MINDIR="$(real_path "$1")"
DATA="$(real_path "$2")"
DEVICE_TYPE="$3"
DEVICE_ID="$4"
TARGET_DIR="${5:-none}"
TASK="${6:-}"
PY="${PYTHON:-python3}"
OUT="$(real_path "${OUTPUT_DIR:-infer_310}")"

case "$DEVICE_TYPE" in Ascend|CPU) ;; *) usage; die "DEVICE_TYPE must be Ascend or CPU, got '$DEVICE_TYPE'" ;; esac
[[ "$DEVICE_ID" =~ ^[0-9]+$ ]] || die "DEVICE_ID must be a non-negative integer, got '$DEVICE_ID'"
case "$TASK" in ""|rain|snow|auto) ;; *) die "TASK must be rain, snow or auto, got '$TASK'" ;; esac
[ -f "$MINDIR" ] || die "MINDIR not found: $MINDIR"
[ -f "$MINDIR.json" ] || die "$MINDIR.json not found: export.py writes it beside the MINDIR (re-export)"
[ -d "$DATA" ] || die "DATA_PATH is not a directory: $DATA"
if [ "$TARGET_DIR" != "none" ]; then
  TARGET_DIR="$(real_path "$TARGET_DIR")"
  [ -d "$TARGET_DIR" ] || die "TARGET_DIR is not a directory: $TARGET_DIR"
fi
command -v "$PY" >/dev/null 2>&1 || die "Python interpreter '$PY' not found (set PYTHON)"

TILE="$("$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
h, w = d["tile"]["height"], d["tile"]["width"]
if d.get("format", "MINDIR") != "MINDIR" or h != w:
    sys.exit("%s: need a MINDIR exported with a square tile, got %s %sx%s" % (sys.argv[1], d.get("format"), h, w))
print(h)' "$MINDIR.json")" || die "cannot read the tile size from $MINDIR.json"

mkdir -p "$OUT"
echo "run_infer_310.sh: $MINDIR (tile ${TILE}x${TILE}) on $DEVICE_TYPE $DEVICE_ID; data $DATA; output $OUT"

STEP_TAIL_LINES="${STEP_TAIL_LINES:-30}"
run_step() {  # run_step NAME CMD...: log to $OUT/NAME.log, stop the run on failure
  local name="$1"; shift
  local log="$OUT/$name.log"
  local rc=0
  echo "run_infer_310.sh: [$name] started (log: $log)"
  "$@" >"$log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "run_infer_310.sh: [$name] FAILED (exit $rc); last $STEP_TAIL_LINES lines of $log:" >&2
    tail -n "$STEP_TAIL_LINES" "$log" | sed 's/^/  | /' >&2
    echo "run_infer_310.sh: stopped at step '$name'" >&2
    exit 1
  fi
  echo "run_infer_310.sh: [$name] done"
}

# 1. build (build.sh itself reports a missing MS_LITE_HOME)
run_step build bash "$ROOT/ascend310_infer/build.sh"

# 2. preprocess
PRE=(--data_path "$DATA" --output_path "$OUT/preprocess" --mindir_json "$MINDIR.json" --tile "$TILE")
[ -n "${OVERLAP:-}" ] && PRE+=(--overlap "$OVERLAP")
[ "$TARGET_DIR" != "none" ] && PRE+=(--target_dir "$TARGET_DIR")
[ -n "$TASK" ] && PRE+=(--task "$TASK")
run_step preprocess "$PY" "$ROOT/preprocess.py" "${PRE[@]}"

# 3. infer
rm -rf "$OUT/result_Files" "$OUT/time_Result"
run_step infer "$ROOT/ascend310_infer/out/main" --mindir_path="$MINDIR" \
  --input0_path="$OUT/preprocess/tiles" --device_type="$DEVICE_TYPE" --device_id="$DEVICE_ID" \
  --result_dir="$OUT/result_Files" --time_dir="$OUT/time_Result"

# 4. postprocess
POST=(--manifest "$OUT/preprocess/manifest.json" --result_dir "$OUT/result_Files" --output_dir "$OUT/images")
[ -n "$TASK" ] && POST+=(--task "$TASK")
run_step postprocess "$PY" "$ROOT/postprocess.py" "${POST[@]}"

cat "$OUT/postprocess.log"
[ -f "$OUT/time_Result/test_perform_static.txt" ] && cat "$OUT/time_Result/test_perform_static.txt"
echo "run_infer_310.sh: images in $OUT/images"
