"""310 pipeline, step 3: result .bin files -> merged 8-bit images (+ PSNR/SSIM when targets exist).

    python postprocess.py --manifest OUT/manifest.json --result_dir RESULTS --output_dir IMAGES
        [--task rain|snow|auto] [--target_dir DIR] [--mindir_json MODEL.mindir.json] [--csv PATH]

Output i of tile <stem>.bin is <result_dir>/<stem>_<i>.bin. A model exported with --task all has
outputs 0 derain, 1 desnow, 2 recognition: --task rain reads 0, snow reads 1, auto (the default)
picks 0 or 1 per image from the merged recognition scores. A rain/snow/auto export has one output
(0). Metrics use the same code as eval.py (per-image CSV; summary with the protocol line).
"""

import argparse
import sys

import src  # noqa: F401
from src.errors import run_entry


def build_parser():
    p = argparse.ArgumentParser(prog="postprocess.py", description=__doc__.split("\n")[1])
    p.add_argument("--manifest", required=True, help="manifest.json written by preprocess.py")
    p.add_argument("--result_dir", required=True, help="the inference program's <stem>_<i>.bin files")
    p.add_argument("--output_dir", required=True, help="restored images, metrics.csv, summary.txt")
    p.add_argument(
        "--task",
        default=None,
        choices=("rain", "snow", "auto"),
        help="which image to keep (default: the exported task; auto for an 'all' export)",
    )
    p.add_argument("--target_dir", default=None, help="ground truths (overrides the manifest's)")
    p.add_argument("--mindir_json", default=None, help="export JSON (default: the one in the manifest)")
    p.add_argument("--csv", default=None, help="per-image CSV path (default OUTPUT_DIR/metrics.csv)")
    p.add_argument("--set_name", default="", help="label printed with the metrics")
    p.add_argument(
        "--set_task",
        default=None,
        choices=("rain", "snow"),
        help="the set's degradation, for the metrics' task column (default: head used)",
    )
    return p


def _main(argv):
    args = build_parser().parse_args(argv)
    from src.infer.pipeline310 import postprocess

    postprocess(
        args.manifest,
        args.result_dir,
        args.output_dir,
        task=args.task,
        target_dir=args.target_dir,
        export_json=args.mindir_json,
        csv_path=args.csv,
        set_name=args.set_name,
        set_task=args.set_task,
    )


def main(argv=None):
    """Exit code (docs/cli.md): 0 ok, 2 bad arguments, inputs or files."""
    return run_entry("postprocess.py", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
