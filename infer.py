"""Restore your own rainy or snowy photos with a SmartAssign checkpoint (or its ONNX export).

    python infer.py --input photos/ --output restored/          # the default weights
    python infer.py --ckpt_file run/best.ckpt --input photos/ --output restored/
    python infer.py --ckpt_file run/best.ckpt --input img.jpg --output out/ --task snow --compare
    python infer.py --ckpt_file run/best.ckpt --compare_with weights/lite.ckpt --input photos/ --output out/
    python infer.py --backend onnxruntime --onnx_file sa.onnx --input photos/ --output restored/

Without --ckpt_file the weights shipped in weights/lite.ckpt are used (found relative
to this repository, whatever the working directory; src/infer/weights.py). Any size (large
images go through overlapping --tile x --tile tiles blended without seams), JPEG/PNG/TIFF/BMP/
WebP, grayscale/RGBA/16-bit; phone photos are turned as their EXIF orientation says, as viewers
show them. Outputs are 8-bit PNGs mirroring the input's names and sub-folders (see
src/infer/photos.py). --task auto (default) lets the recognition head choose derain or desnow per
image and prints its choice and confidence.

Every file that is not restored is named at the end, one line each with the reason: "skipped"
for entries that are not image files (other types such as GIF, hidden files, folders named like
images, which are searched like any folder), "failed" for image files that could not be read or
restored (corrupt, truncated, a text file named .png).

Exit code: 0 = every image file restored (skipped non-image files do not count); 1 = some image
files failed (the rest finished; the last line says how many); 2 = nothing was done (bad
arguments, model, checkpoint or input path); docs/cli.md.
"""

import argparse
import os
import sys

import src  # noqa: F401  (sets the oneDNN ISA cap before MindSpore loads)
from src.errors import EXIT_FAILURE, EXIT_OK, UsageError, run_entry


def build_parser():
    from src.infer.cli import add_engine_args

    p = argparse.ArgumentParser(
        prog="infer.py",
        allow_abbrev=False,
        description=__doc__.split("\n\n")[0],
        epilog="exit code: 0 all image files restored (non-image files are listed as skipped), "
        "1 some image files failed, 2 fatal error",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--input", required=True, help="an image file or a folder (searched recursively)")
    p.add_argument("--output", required=True, help="output folder (created)")
    p.add_argument(
        "--compare", action="store_true", help="also write input | restored side by side under OUTPUT/compare/"
    )
    p.add_argument(
        "--compare_with",
        nargs="+",
        action="extend",
        default=[],
        metavar="CKPT",
        help="add each photo's restoration by these checkpoints (e.g. weights/lite.ckpt) to its "
        "--compare image, left to right after --ckpt_file's (implies --compare; panels named in "
        "OUTPUT/compare/README.txt)",
    )
    add_engine_args(p)
    return p


def _main(argv):
    args = build_parser().parse_args(argv)
    from src.infer.cli import make_restorer, resolve_checkpoint
    from src.infer.photos import COMPARE_DIR, SUPPORTED, list_inputs, restore_files

    inputs, skipped = list_inputs(args.input)

    def list_skipped():
        for s in skipped:
            print(f"infer.py: skipped {s.path}: {s.reason}", file=sys.stderr)

    if not inputs:
        list_skipped()
        raise UsageError(
            f"--input {args.input}: no image files found ({SUPPORTED})"
            + (
                f"; {len(skipped)} other entr{'y' if len(skipped) == 1 else 'ies'} " "skipped (listed above)"
                if skipped
                else ""
            )
        )
    which = resolve_checkpoint(args)
    if args.compare_with and args.backend != "mindspore":
        raise UsageError("--compare_with takes checkpoints: use it with --backend mindspore (the default)")
    restorer = make_restorer(args)
    restorer.check_task(args.task)
    compare_with = []
    for ckpt in args.compare_with:
        other = make_restorer(argparse.Namespace(**dict(vars(args), ckpt_file=ckpt)))
        other.check_task(args.task)
        compare_with.append((ckpt, other))
    how = "whole images" if restorer.tile == 0 else f"tiles {restorer.tile}x{restorer.tile}, overlap {restorer.overlap}"
    if which:
        print(f"infer.py: {which}")
    print(
        f"infer.py: {len(inputs)} image(s) from {args.input}"
        + (
            f" ({len(skipped)} other entr{'y' if len(skipped) == 1 else 'ies'} skipped, listed at " "the end)"
            if skipped
            else ""
        )
        + f"; backend {restorer.backend.name}, {how}, task {args.task}"
    )
    if compare_with:
        panels = " | ".join(["input", args.ckpt_file] + args.compare_with)
        print(f"infer.py: side-by-side images in {os.path.join(args.output, COMPARE_DIR)}, left to right: {panels}")
    report = restore_files(
        restorer,
        inputs,
        args.output,
        task=args.task,
        compare=args.compare,
        compare_with=compare_with,
        name=args.ckpt_file or args.onnx_file,
    )
    sys.stdout.flush()
    list_skipped()
    for f in report.failed:
        print(f"infer.py: failed {f.path}: {f.reason}", file=sys.stderr)
    also = f"; {len(skipped)} non-image entr{'y' if len(skipped) == 1 else 'ies'} skipped" if skipped else ""
    if report.failed:
        print(
            f"infer.py: {len(report.failed)} of {len(inputs)} file(s) failed; restored "
            f"{len(report.done)} image(s) into {args.output}{also}",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    print(f"infer.py: restored {len(report.done)} image(s) into {args.output}{also}")
    return EXIT_OK


def main(argv=None):
    """Run infer.py; returns the exit code (docs/cli.md: 0 ok, 1 some files failed, 2 nothing done)."""
    return run_entry("infer.py", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
