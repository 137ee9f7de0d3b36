#!/usr/bin/env bash
# The CPU demo, end to end on a fresh machine: virtualenv + pinned requirements, the synthetic
# demo set (built from scikit-image photos), ~10 minutes of training of the tiny preset, then
# PSNR/SSIM of the input and of the output on the held-out demo photos, and side-by-side images.
# Validation during training (best.ckpt, LR on plateau) uses demo_*/val: other renderings of the
# training photos, never the test photos (docs/validation.md). A data/demo built by an older
# version (no val) is rebuilt on first use.
# Usage: bash scripts/run_demo.sh [--key=value ...]   (overrides for configs/demo.yaml)
# Re-running continues the run in runs/demo (or does nothing more if it finished); a run folder
# from before held-out validation (it validated on the test photos) is moved aside first.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
bash "$ROOT/scripts/setup_env.sh" "$VENV"
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
RUN=runs/demo
if [ -f "$RUN/config.yaml" ] && python - "$RUN/config.yaml" <<'EOF'
import sys
import yaml
data = (yaml.safe_load(open(sys.argv[1], encoding="utf-8")) or {}).get("data") or {}
sys.exit(0 if set(data.get("val_sets") or []) & set(data.get("test_sets") or []) else 1)
EOF
then
  OLD="$RUN.val-on-test.$(date +%Y%m%d-%H%M%S)"
  mv "$RUN" "$OLD"
  echo "note: $RUN chose best.ckpt on the test photos (an older demo run); moved it to $OLD, training afresh" >&2
fi
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
