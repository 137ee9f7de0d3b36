#!/usr/bin/env bash
# The CPU demo, end to end on a fresh machine: virtualenv + pinned requirements, the synthetic
# demo set (built from scikit-image photos), ~10 minutes of training of the tiny preset, then
# PSNR/SSIM of the input and of the output on the held-out demo photos, for the demo model and for
# the shipped weights (weights/lite.ckpt, trained far longer on real photos), and one side-by-side
# image per test photo: input | demo model | shipped weights (named in side_by_side/*/compare/README.txt).
# Validation during training (best.ckpt, LR on plateau) uses demo_*/val: other renderings of the
# training photos, never the test photos (docs/validation.md). A data/demo built by an older
# version (no val) is rebuilt on first use.
# Usage: bash scripts/run_demo.sh [--key=value ...]   (overrides for configs/demo.yaml; the run
# folder is runs/demo, or --train.output_dir=DIR)
# Re-running continues the run in its folder (or does nothing more if it finished); a run folder
# from before held-out validation (it validated on the test photos) is moved aside first.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
bash "$ROOT/scripts/setup_env.sh" "$VENV"
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
RUN=runs/demo
for arg in "$@"; do
  case "$arg" in --train.output_dir=* | --output_dir=*) RUN="${arg#*=}" ;; esac
done
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
SHIPPED=weights/lite.ckpt
python eval.py --config_path configs/demo.yaml --ckpt_file "$CKPT" --device_target CPU \
  --output_dir "$RUN/eval" --save_images
python eval.py --config_path configs/demo.yaml --ckpt_file "$SHIPPED" --device_target CPU \
  --output_dir "$RUN/eval_shipped"
# each photo restored with its set's head, as eval.py scores it
for task in rain snow; do
  python infer.py --ckpt_file "$CKPT" --compare_with "$SHIPPED" --device_target CPU \
    --input "data/demo/$task/test/input" --output "$RUN/side_by_side/$task" --task "$task"
done
echo "PSNR/SSIM on all demo test photos: the demo model ($CKPT) and the shipped weights ($SHIPPED)"
python - "$RUN/eval/summary.json" "$RUN/eval_shipped/summary.json" <<'EOF'
import json
import sys

from src.infer.evaluate import format_table

for k, (who, path) in enumerate(zip(("demo model", "shipped weights"), sys.argv[1:])):
    with open(path, encoding="utf-8") as fh:
        lines = format_table(json.load(fh))
    if k == 0:
        print(lines[0])
        print(" " * 17 + lines[1])
    for line in lines[2:]:
        cells = line.split()
        if cells[0] == "all" and (k == 0 or cells[3] == "restored"):
            print(f"{who if cells[3] == 'restored' else '':<17}{line}")
EOF
echo "demo done in $((SECONDS / 60)) min $((SECONDS % 60)) s: metrics in $RUN/eval (demo model) and" \
  "$RUN/eval_shipped (shipped weights), restored images in $RUN/eval, side-by-side images" \
  "(input | demo model | shipped weights) in $RUN/side_by_side/*/compare"
