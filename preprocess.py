"""310 pipeline, step 1: images -> fixed-shape float32 NCHW tile .bin files + manifest.json.

    python preprocess.py --data_path DIR --output_path OUT --mindir_json MODEL.mindir[.json]
        [--target_dir DIR] [--overlap N] [--tile N] [--task auto|rain|snow]

DIR is a folder of images, or a paired folder with input/ and target/ sub-folders (targets
enable metrics in postprocess.py). Tiles go to OUT/tiles/<image>_t<k>.bin; see
src/infer/pipeline310.py for the manifest.
"""

import argparse
import sys

import src  # noqa: F401
from src.errors import run_entry


def build_parser():
    p = argparse.ArgumentParser(prog="preprocess.py", description=__doc__.split("\n")[1])
    p.add_argument("--data_path", required=True, help="image folder, or a folder with input/ and target/")
    p.add_argument("--output_path", required=True, help="writes tiles/ and manifest.json here")
    p.add_argument(
        "--mindir_json",
        default=None,
        help="the exported model's JSON (or the model file beside it): tile size and outputs",
    )
    p.add_argument("--tile", type=int, default=None, help="tile size when no JSON is given")
    p.add_argument("--overlap", type=int, default=None, help="tile overlap in pixels (default tile // 8)")
    p.add_argument("--target_dir", default=None, help="folder of ground truths (same names) for metrics")
    p.add_argument(
        "--task",
        default="auto",
        choices=("auto", "rain", "snow"),
        help="the task postprocess.py will use: rain or snow skips the tiles blind mode recognises on",
    )
    return p


def _main(argv):
    args = build_parser().parse_args(argv)
    from src.infer.pipeline310 import preprocess

    preprocess(
        args.data_path,
        args.output_path,
        tile=args.tile,
        overlap=args.overlap,
        target_dir=args.target_dir,
        export_json=args.mindir_json,
        task=args.task,
    )


def main(argv=None):
    """Exit code (docs/cli.md): 0 ok, 2 bad arguments, inputs or files."""
    return run_entry("preprocess.py", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
