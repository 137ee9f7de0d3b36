#!/usr/bin/env bash
# Data-parallel training on Ascend with a rank table: one process per device, one folder per rank.
# Usage: bash scripts/run_distribute_train_ascend.sh RANK_TABLE_FILE CONFIG_PATH [DEVICE_NUM] [SERVER_ID] [--key=value ...]
#   The rank table comes from hccl_tools.py (MindSpore model zoo utils) for this server's devices.
#   On several servers run it on each with its SERVER_ID (0, 1, ...); RANK_SIZE = servers x DEVICE_NUM
#   is read from the rank table.
set -euo pipefail
usage="Usage: bash scripts/run_distribute_train_ascend.sh RANK_TABLE_FILE CONFIG_PATH [DEVICE_NUM] [SERVER_ID] [--key=value ...]"
if [ $# -lt 2 ]; then echo "$usage" >&2; exit 2; fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RANK_TABLE="$(realpath "$1")"; CONFIG="$(realpath "$2")"; shift 2
[ -f "$RANK_TABLE" ] || { echo "error: rank table not found: $RANK_TABLE" >&2; exit 2; }
[ -f "$CONFIG" ] || { echo "error: config file not found: $CONFIG" >&2; exit 2; }
DEVICE_NUM=8; SERVER_ID=0
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then DEVICE_NUM="$1"; shift; fi
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then SERVER_ID="$1"; shift; fi
RANK_SIZE="$(python -c "import json,sys; t=json.load(open(sys.argv[1])); print(sum(len(s['device']) for s in t['server_list']))" "$RANK_TABLE")"
export RANK_TABLE_FILE="$RANK_TABLE" RANK_SIZE HCCL_CONNECT_TIMEOUT="${HCCL_CONNECT_TIMEOUT:-600}"
echo "rank table $RANK_TABLE: $RANK_SIZE ranks; starting $DEVICE_NUM on server $SERVER_ID"
pids=()
for ((i = 0; i < DEVICE_NUM; i++)); do
  export DEVICE_ID="$i" RANK_ID="$((SERVER_ID * DEVICE_NUM + i))"
  dir="$ROOT/runs/rank_$RANK_ID"
  mkdir -p "$dir"
  env > "$dir/env.log"
  (cd "$ROOT" && python train.py --config_path "$CONFIG" "$@" > "$dir/train.log" 2>&1) &
  pids+=("$!")
  echo "rank $RANK_ID on device $i: log $dir/train.log"
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
if [ "$status" -ne 0 ]; then echo "error: a rank failed (exit $status); see runs/rank_*/train.log" >&2; fi
exit "$status"
