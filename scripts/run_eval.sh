#!/usr/bin/env bash
# Evaluate a checkpoint on the configured test sets (PSNR/SSIM, Y and RGB; per-image CSV).
# Usage: bash scripts/run_eval.sh CONFIG_PATH CKPT_FILE [DEVICE_ID] [--key=value ...]
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "Usage: bash scripts/run_eval.sh CONFIG_PATH CKPT_FILE [DEVICE_ID] [--key=value ...]" >&2
  exit 2
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONFIG="$(realpath "$1")"; CKPT="$(realpath "$2")"; shift 2
[ -f "$CONFIG" ] || { echo "error: config file not found: $CONFIG" >&2; exit 2; }
[ -f "$CKPT" ] || { echo "error: checkpoint not found: $CKPT" >&2; exit 2; }
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then export DEVICE_ID="$1"; shift; fi
cd "$ROOT"
exec python eval.py --config_path "$CONFIG" --ckpt_file "$CKPT" "$@"
