#!/usr/bin/env bash
# The recipe of the revision-4 lite weights weights/lite_r4.ckpt (2x2 tokens), replayed stage by
# stage: each stage is one train.py command line over configs/lite.yaml. Re-running continues an
# interrupted stage (--train.resume=auto) and skips finished ones, so it can span several sessions.
# Selection is on validation only: each stage's best.ckpt is its best validation checkpoint (held-out
# BSDS500 val photos rendered with a fixed seed) and the next stage starts from it.
# Usage: bash scripts/train_lite.sh [DATA_ROOT] [OUT]   (defaults: ../shared/data, runs/lite)
# Then ship it (Kodak24 renders, real pairs and photos under DATA_ROOT; writes weights/lite_r4.json
# with every stage's config, steps and best checkpoint; --name lite would make it the default):
#   python report.py test --data_root DATA_ROOT --package OUT/stage3 --name lite_r4 \
#       --recipe scripts/train_lite.sh --stages OUT/stage1,OUT/stage2,OUT/stage3
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="$(realpath "${1:-$ROOT/../shared/data}")"
OUT="$(realpath -m "${2:-$ROOT/runs/lite}")"
[ -d "$DATA/clean" ] || { echo "error: $DATA/clean not found; pass the data folder (with clean/ and real/)" >&2; exit 2; }
cd "$ROOT"
stage() {  # stage NAME [--key=value ...]: one train.py run in OUT/NAME
  python train.py --config_path configs/lite.yaml --data.roots.clean="$DATA/clean" \
    --data.roots.real="$DATA/real" --train.output_dir="$OUT/$1" --train.resume=auto "${@:2}"
}
# 1. The whole network from scratch.
stage stage1 --train.seed=0 --data.seed=0 --train.lr=0.001 --train.max_steps=6140
# 2. From stage 1's best at a lower LR, halved after 2 epochs without a better validation PSNR-Y.
stage stage2 --train.pretrained="$OUT/stage1/ckpt/best.ckpt" --train.seed=1 --data.seed=1 --train.lr=0.0003 \
  --train.plateau_patience=2 --train.max_steps=2456
# 3. The recognition head D_re alone on larger crops (the images stay as stage 2 made them),
#    chosen by the validation recognition score.
stage stage3 --train.pretrained="$OUT/stage2/ckpt/best.ckpt" --train.trainable=recognition --train.seed=2 \
  --data.seed=2 --train.lr=0.0005 --data.crop_size=320 --data.corpus.clean_fraction=0 --train.max_steps=640
echo "recipe done: $OUT/stage3/ckpt/best.ckpt (ship it with report.py test --package, see the header)"
