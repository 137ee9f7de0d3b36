#!/usr/bin/env bash
# Data-parallel training with msrun, on one node or many (CPU, GPU or Ascend).
# Usage: bash scripts/run_distribute_train.sh CONFIG_PATH WORKER_NUM [LOCAL_WORKER_NUM] [MASTER_ADDR]
#            [MASTER_PORT] [NODE_RANK] [--key=value ...]
#   one node, 8 devices:   bash scripts/run_distribute_train.sh configs/smartassign.yaml 8
#   two nodes x 8 devices: on node 0: ... 16 8 10.0.0.1 8118 0 ; on node 1: ... 16 8 10.0.0.1 8118 1
# Every worker trains on its own shard with batch train.batch_size; the global batch is
# WORKER_NUM x train.batch_size (see docs/training.md, "Changing the device count").
set -euo pipefail
usage="Usage: bash scripts/run_distribute_train.sh CONFIG_PATH WORKER_NUM [LOCAL_WORKER_NUM] [MASTER_ADDR] [MASTER_PORT] [NODE_RANK] [--key=value ...]"
if [ $# -lt 2 ]; then echo "$usage" >&2; exit 2; fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONFIG="$(realpath "$1")"; WORKERS="$2"; shift 2
[ -f "$CONFIG" ] || { echo "error: config file not found: $CONFIG" >&2; exit 2; }
[[ "$WORKERS" =~ ^[0-9]+$ ]] || { echo "error: WORKER_NUM must be a number, got '$WORKERS'" >&2; echo "$usage" >&2; exit 2; }
LOCAL="$WORKERS"; ADDR="127.0.0.1"; PORT="8118"; NODE_RANK="0"
for var in LOCAL ADDR PORT NODE_RANK; do
  if [ $# -gt 0 ] && [[ "$1" != --* ]]; then printf -v "$var" '%s' "$1"; shift; fi
done
command -v msrun >/dev/null || { echo "error: msrun not found on PATH; activate the virtualenv that has MindSpore >= 2.3" >&2; exit 2; }
LOG_DIR="${LOG_DIR:-$ROOT/runs/msrun_logs}"
mkdir -p "$LOG_DIR"
cd "$ROOT"
echo "msrun: $WORKERS workers ($LOCAL on this node, node rank $NODE_RANK), master $ADDR:$PORT, logs in $LOG_DIR"
exec msrun --worker_num="$WORKERS" --local_worker_num="$LOCAL" --master_addr="$ADDR" --master_port="$PORT" \
  --node_rank="$NODE_RANK" --log_dir="$LOG_DIR" --join=True train.py --config_path "$CONFIG" "$@"
