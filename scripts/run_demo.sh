#!/usr/bin/env bash
# The CPU demo, end to end on a fresh machine: virtualenv + pinned requirements, the synthetic
# demo set (built from scikit-image photos), ~10 minutes of training of the tiny preset, then
# PSNR/SSIM of the input and of the output on the held-out demo photos, and side-by-side images.
# Usage: bash scripts/run_demo.sh [--key=value ...]   (overrides for configs/demo.yaml)
# Re-running continues the run in runs/demo (or does nothing more if it finished).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
bash "$ROOT/scripts/setup_env.sh" "$VENV"
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
RUN=runs/demo
python train.py --config_path configs/demo.yaml --train.device_target=CPU --train.resume=auto \
  --train.output_dir="$RUN" "$@"
CKPT="$RUN/ckpt/best.ckpt"
[ -f "$CKPT" ] || { echo "error: training wrote no $CKPT" >&2; exit 1; }
python eval.py --config_path configs/demo.yaml --ckpt_file "$CKPT" --device_target CPU \
  --output_dir "$RUN/eval" --save_images
for task in rain snow; do
  python infer.py --ckpt_file "$CKPT" --device_target CPU --input "data/demo/$task/test/input" \
    --output "$RUN/side_by_side/$task" --task auto --compare
done
echo "demo done: metrics in $RUN/eval, restored images in $RUN/eval, side-by-side images in $RUN/side_by_side"
