#!/usr/bin/env bash
# Train on one device.
# Usage: bash scripts/run_standalone_train.sh CONFIG_PATH [DEVICE_ID] [--key=value ...]
#   e.g. bash scripts/run_standalone_train.sh configs/smartassign.yaml 0 --data.roots.csd=/data/CSD
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "Usage: bash scripts/run_standalone_train.sh CONFIG_PATH [DEVICE_ID] [--key=value ...]" >&2
  exit 2
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONFIG="$(realpath "$1")"; shift
[ -f "$CONFIG" ] || { echo "error: config file not found: $CONFIG" >&2; exit 2; }
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then export DEVICE_ID="$1"; shift; fi
export DEVICE_ID="${DEVICE_ID:-0}"
cd "$ROOT"
exec python train.py --config_path "$CONFIG" "$@"
