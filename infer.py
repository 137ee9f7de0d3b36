"""Restore your own rainy or snowy photos with a SmartAssign checkpoint (or its ONNX export).

    python infer.py --ckpt_file run/best.ckpt --input photos/ --output restored/
    python infer.py --ckpt_file run/best.ckpt --input img.jpg --output out/ --task snow --compare
    python infer.py --backend onnxruntime --onnx_file sa.onnx --input photos/ --output restored/

Any size (large images go through overlapping --tile x --tile tiles blended without seams),
JPEG/PNG/TIFF/BMP, grayscale/RGBA/16-bit. Outputs are 8-bit PNGs mirroring the input's names and
sub-folders (see src/infer/photos.py). --task auto (default) lets the recognition head choose
derain or desnow per image and prints its choice and confidence.

Exit code: 0 = every file restored; 1 = some files failed (each is reported, the rest finished,
and the last line says how many); 2 = nothing was done (bad arguments, model or input path).
"""
import argparse
import sys

import src  # noqa: F401  (sets the oneDNN ISA cap before MindSpore loads)


def build_parser():
    from src.infer.cli import add_engine_args

    p = argparse.ArgumentParser(prog="infer.py", allow_abbrev=False,
                                description=__doc__.split("\n\n")[0],
                                epilog="exit code: 0 all restored, 1 some files failed, 2 fatal error",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", required=True, help="an image file or a folder (searched recursively)")
    p.add_argument("--output", required=True, help="output folder (created)")
    p.add_argument("--compare", action="store_true",
                   help="also write input | restored side by side under OUTPUT/compare/")
    add_engine_args(p)
    return p


def main(argv=None):
    """Run infer.py; returns the exit code (0 ok, 1 some files failed, 2 fatal)."""
    args = build_parser().parse_args(argv)
    from src.infer.backends import BackendError
    from src.infer.engine import EngineError
    from src.infer.photos import list_inputs, restore_files
    from src.train.checkpoint import CheckpointError

    def fail(msg):
        print(f"infer.py: error: {msg}", file=sys.stderr)
        return 2

    try:
        inputs, ignored = list_inputs(args.input)
    except FileNotFoundError as exc:
        return fail(exc)
    if not inputs:
        return fail(f"--input {args.input}: no image files found (JPEG, PNG, TIFF, BMP, WebP)")
    try:
        from src.infer.cli import make_restorer
        restorer = make_restorer(args)
        restorer.check_task(args.task)
    except (BackendError, EngineError, CheckpointError, ValueError) as exc:
        return fail(exc)
    how = "whole images" if restorer.tile == 0 else \
        f"tiles {restorer.tile}x{restorer.tile}, overlap {restorer.overlap}"
    print(f"infer.py: {len(inputs)} image(s) from {args.input}"
          + (f" ({ignored} non-image file(s) ignored)" if ignored else "")
          + f"; backend {restorer.backend.name}, {how}, task {args.task}")
    report = restore_files(restorer, inputs, args.output, task=args.task, compare=args.compare,
                           log=print)
    sys.stdout.flush()
    if report.failed:
        print(f"infer.py: {len(report.failed)} of {len(inputs)} file(s) failed: "
              + "; ".join(f"{f.path} ({f.reason})" for f in report.failed), file=sys.stderr)
        return 1
    print(f"infer.py: restored {len(report.done)} image(s) into {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
