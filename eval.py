"""Evaluate a SmartAssign checkpoint on paired test sets: PSNR/SSIM (MATLAB Y and RGB).

    python eval.py --config_path configs/smartassign.yaml --ckpt_file run/best.ckpt
    python eval.py --ckpt_file run/best.ckpt --sets rain1200/test,csd/test --data.roots.csd=/mnt/CSD
    python eval.py --ckpt_file run/best.ckpt --input_dir pairs/rainy --target_dir pairs/clean --task rain
    python eval.py --sets demo_rain/test,demo_snow/test      # the default weights (weights/lite.ckpt)

Without --ckpt_file (MindSpore backend) the weights weights/lite.ckpt of this
repository are used and the checkpoint line says so (src/infer/weights.py). Images are scored
as stored: EXIF orientation is not applied (``read_rgb(apply_exif=False)``), so pairs stay aligned.

Sets come from --sets, else from data.test_sets of the config (configs/data_defaults.yaml supplies
the data section when the config has none); --input_dir/--target_dir evaluate one paired folder
instead (file names matched by --target_name). --task: default = each set's own task; auto = the
recognition head chooses per image; rain/snow = force a head (for a folder, --task rain/snow also
says what the pairs are; with --task auto give --set_task). Any --key=value overrides a config key.
Images are restored whole, as the benchmarks' papers score them, up to 1024×1024 pixels
(``EVAL_WHOLE_MAX_PIXELS``); larger ones in the model's default tiles. --tile N tiles every image
larger than N, --tile 0 restores every image whole. Prints the protocol and a table of the
input's and the restored images' mean scores per set (and
per task); writes per-image CSVs, summary.json and, with --save_images, the restored 8-bit PNGs
(exactly the arrays that were scored) into --output_dir. Exit code 0 ok, 2 nothing evaluated
(bad option, config, set, checkpoint or model file; docs/cli.md).
"""

import argparse
import os
import sys

import src  # noqa: F401  (sets the oneDNN ISA cap before MindSpore loads)
from src.errors import UsageError, run_entry

ROOT = os.path.dirname(os.path.abspath(__file__))
DATA_DEFAULTS = os.path.join(ROOT, "configs", "data_defaults.yaml")


def build_parser():
    from src.infer.cli import add_engine_args
    from src.infer.engine import EVAL_WHOLE_MAX_PIXELS

    p = argparse.ArgumentParser(
        prog="eval.py",
        allow_abbrev=False,
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--config_path",
        help="YAML config (its data section lists data.test_sets; its "
        "model section is used only if the checkpoint stores none)",
    )
    p.add_argument("--sets", help="comma-separated sets, e.g. rain1200/test,csd/test " "(default: data.test_sets)")
    p.add_argument("--input_dir", help="evaluate this folder of degraded images ...")
    p.add_argument("--target_dir", help="... against the clean images in this folder")
    p.add_argument(
        "--target_name",
        default="{name}",
        help="target file name template over {stem}, {ext}, {name} (default: same name)",
    )
    p.add_argument("--set_task", choices=("rain", "snow"), help="task of the --input_dir pairs when --task is auto")
    p.add_argument("--output_dir", default="eval_results", help="CSVs, summary.json, images")
    p.add_argument("--save_images", action="store_true", help="save the restored 8-bit PNGs")
    add_engine_args(
        p,
        task_default=None,
        task_help="default: each set's own task; auto: the recognition head chooses "
        "per image; rain/snow: force that head",
        tile_help="tile every image in tiles of this size, a multiple of 32 (default: images of up to "
        f"{EVAL_WHOLE_MAX_PIXELS} pixels ({int(EVAL_WHOLE_MAX_PIXELS**0.5)}²) whole, as benchmark papers "
        "score them, larger ones in the model's tiles); 0 = always the whole image",
    )
    return p


def load_data_cfg(config_path, overrides):
    """The config (its data section comes from configs/data_defaults.yaml through ``_base_``;
    without --config_path, data_defaults.yaml itself), with overrides applied."""
    from src.config import load_config

    return load_config(config_path or DATA_DEFAULTS, overrides)


def _main(argv):
    args, overrides = build_parser().parse_known_args(argv)
    bad = [o for o in overrides if not (o.startswith("--") and "=" in o)]
    if bad:
        raise UsageError(f"unrecognized arguments: {' '.join(bad)} (config overrides are written --key=value)")
    from src.infer.cli import make_restorer, resolve_checkpoint
    from src.infer.engine import EVAL_WHOLE_MAX_PIXELS
    from src.infer.evaluate import evaluate, folder_data_cfg, format_table

    cfg = load_data_cfg(args.config_path, overrides)
    data_cfg = cfg.get("data", {})
    if args.input_dir or args.target_dir:
        if not (args.input_dir and args.target_dir):
            raise UsageError("--input_dir and --target_dir go together")
        pair_task = args.set_task or (args.task if args.task in ("rain", "snow") else None)
        data_cfg, set_name = folder_data_cfg(
            args.input_dir, args.target_dir, pair_task, args.target_name, base=data_cfg
        )
        sets = [set_name]
    else:
        sets = [
            s.strip() for s in (args.sets.split(",") if args.sets else data_cfg.get("test_sets") or []) if s.strip()
        ]
        if not sets:
            raise UsageError(
                "no test sets: pass --sets a/test,b/test, set data.test_sets in "
                "--config_path, or give --input_dir and --target_dir"
            )
    which = resolve_checkpoint(args)
    if which:
        print(f"eval.py: {which}")
    restorer = make_restorer(args, fallback_model_cfg=cfg.get("model"), whole_max_pixels=EVAL_WHOLE_MAX_PIXELS)
    if args.task:
        restorer.check_task(args.task)
    summary = evaluate(restorer, data_cfg, sets, args.output_dir, task=args.task, save_images=args.save_images)
    for line in format_table(summary):
        print(line)
    print(f"eval.py: per-image CSVs and summary.json in {args.output_dir}")


def main(argv=None):
    """Run eval.py; returns the exit code (docs/cli.md: 0 ok, 2 nothing evaluated). The summary is in summary.json."""
    return run_entry("eval.py", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
