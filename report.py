"""The reproduction report: tables and figures read from checkpoints, run folders and JSONs.

    python report.py figure3   --ckpt_file RUN/ckpt/best.ckpt [--out docs] [--size 128] [--gate_images 4]
    python report.py curves    --run RUN [--out RUN/curves.png] [--console train.log]
    python report.py bench     [--out docs/bench.md] [--quick] [--only model,ops,data,infer,train]
    python report.py test      [--ckpt_file weights/lite.ckpt] [--name lite] [--data_root ../shared/data]
                               [--out docs/<name>_results.md] [--package RUN --note TEXT]
    python report.py validate  --ckpt_file A.ckpt --ckpt_file B.ckpt ... [--config configs/photos.yaml]
                               [--out runs/validate.md] [--key=value ...]

figure3:   t-SNE of the per-channel maps of F_rk, F_ck, F_sk for a rainy and a snowy image
  (figure3_tsne.png) and each GKFM's gate values per channel, rain vs snow (figure3_gates.png,
  values in figure3_gates.json).
curves:    every loss term of log.csv and the validation PSNR (val.csv, or parsed from the console log).
test:      how a checkpoint does on the test data: real heavy-rain and rain+fog pairs, Kodak24 renders
  (light rain, heavy rain, snow; fixed seeds) and blind-mode recognition of real rainy/snowy photos.
validate:  checkpoints compared on the config's validation data (never a test set), per render: PSNR-Y
  per task, recognition, the lightest-rain row (mean, worst photo, photos made worse) and each
  checkpoint's paired difference to the first (mean ± standard error, renders where it is higher).
  --key=value overrides go to the config (e.g. --data.roots.clean=... --train.val_max_images=0).
bench:     runs bench/bench_model.py, bench_ops.py, bench_train.py, bench_infer.py and bench_data.py
  with --json and writes the performance table (Markdown + JSON).
The studies that train many runs (the multi-seed ablations, fidelity): study.py.
Plots need the extras: pip install -r requirements-report.txt. Exit code 0 ok, 2 error.
"""

import argparse
import os
import sys

import src  # noqa: F401  (oneDNN ISA cap before MindSpore loads)
from src.errors import run_entry

ROOT = os.path.dirname(os.path.abspath(__file__))


def build_parser():
    p = argparse.ArgumentParser(
        prog="report.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    sub = p.add_subparsers(dest="command", required=True)

    f = sub.add_parser("figure3", help="t-SNE of F_rk/F_ck/F_sk and GKFM gate heatmap")
    f.add_argument("--ckpt_file", required=True)
    f.add_argument("--out", default="docs", help="folder for figure3_tsne.png, figure3_gates.png/.json")
    f.add_argument("--data_root", default=os.path.join("data", "demo"), help="demo-layout tree")
    f.add_argument("--rain_image", help="rainy image (default: the first demo rain test input)")
    f.add_argument("--snow_image", help="snowy image (default: the first demo snow test input)")
    f.add_argument("--gate_images", type=int, default=4, help="test images per task for the gate means")
    f.add_argument("--size", type=int, default=128, help="centre crop (multiple of 32; 0 = whole image)")
    f.add_argument("--seed", type=int, default=0, help="t-SNE seed")

    c = sub.add_parser("curves", help="loss terms and validation PSNR of a run")
    c.add_argument("--run", required=True, help="run folder (log.csv; val.csv or train.log)")
    c.add_argument("--out", help="PNG (default <run>/curves.png)")
    c.add_argument("--console", help="console log to parse for validation PSNR (default: val.csv, then train.log)")
    c.add_argument("--smooth", type=int, default=0, help="moving-average window (default: about 2%% of the steps)")

    b = sub.add_parser("bench", help="run the benchmarks, write the performance table")
    b.add_argument("--out", default=os.path.join("docs", "bench.md"), help="Markdown (JSON beside it)")
    b.add_argument("--only", default="model,ops,data,infer,train", help="subset of model,ops,data,infer,train")
    b.add_argument("--quick", action="store_true", help="tiny sizes and repeats (tests, smoke runs)")
    b.add_argument("--workdir", help="keep each script's JSON and output here (default: beside --out)")
    s = sub.add_parser("test", help="a checkpoint on the test data (the shipped weights' tables)")
    s.add_argument("--ckpt_file", default=None, help="checkpoint (default: the default weights weights/lite.ckpt)")
    s.add_argument(
        "--data_root",
        default=os.path.join(ROOT, "..", "shared", "data"),
        help="folder with clean/kodak24 and real/{heavy_rain_pairs,outdoor_rain_test1,photos_rain,photos_snow}",
    )
    s.add_argument(
        "--out",
        default=None,
        help="Markdown (JSON beside it); default: docs/<name>_results.md",
    )
    s.add_argument("--tile", type=int, default=None, help="tile size (default: infer.py's)")
    s.add_argument("--tile_overlap", type=int, default=None)
    s.add_argument("--flip_ensemble", action="store_true", help="as infer.py --flip_ensemble")
    s.add_argument(
        "--package",
        metavar="RUN",
        help="also ship RUN (its best.ckpt and newest step checkpoint) as weights/<name>.ckpt + weights/<name>.json",
    )
    s.add_argument(
        "--name",
        default="lite",
        help="the weights' name: names the report and, with --package, weights/<name>.ckpt "
        "(default lite = the default checkpoint of infer/eval/export)",
    )
    s.add_argument("--note", default="", help="with --package: a note for <name>.json (e.g. why training stopped)")
    s.add_argument(
        "--recipe",
        metavar="SCRIPT",
        help="with --package: the script that replays the weights' stages (e.g. scripts/train_lite.sh)",
    )
    s.add_argument(
        "--stages",
        default="",
        help="with --package: the recipe's run folders in order, comma-separated (each stage's config, "
        "steps and best go into <name>.json; default: RUN alone)",
    )
    v = sub.add_parser("validate", help="checkpoints compared on the validation data, per render and paired")
    v.add_argument(
        "--ckpt_file", action="append", required=True, help="a checkpoint (repeat it; the first is the reference)"
    )
    v.add_argument("--config", default=os.path.join(ROOT, "configs", "photos.yaml"), help="the training config")
    v.add_argument("--out", help="also write this Markdown file (JSON beside it)")
    v.add_argument(
        "--flip_ensemble", action="store_true", help="also score each checkpoint with infer.py's --flip_ensemble"
    )
    return p


def _main(argv):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "validate":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    bad = [o for o in extra if not (o.startswith("--") and "=" in o)]
    if bad:
        parser.error(f"unrecognized arguments: {' '.join(bad)} (config overrides are written --key=value)")
    if args.command == "figure3":
        import mindspore as ms

        ms.set_context(mode=ms.GRAPH_MODE)
        from src.report.figure3 import make_figure3

        files = make_figure3(
            args.ckpt_file,
            args.out,
            args.data_root,
            args.rain_image,
            args.snow_image,
            args.gate_images,
            args.size,
            args.seed,
        )
        print("report.py: wrote " + ", ".join(files))
    elif args.command == "curves":
        from src.report.curves import plot_curves

        out = plot_curves(args.run, args.out, args.console, args.smooth)
        print(f"report.py: wrote {out}")
    elif args.command == "test":
        from src.device import setup_device
        from src.infer.backends import make_backend
        from src.infer.engine import DEFAULT_OVERLAP, Restorer
        from src.infer.weights import resolve_ckpt
        from src.report.testset import check_weights_name, write_test_report

        check_weights_name(args.name)  # before the evaluation, not after it
        if args.out is None:
            args.out = os.path.join("docs", f"{args.name}_results.md")
        if args.package and not args.ckpt_file:
            args.ckpt_file = os.path.join(args.package, "ckpt", "best.ckpt")
        ckpt, _ = resolve_ckpt(args.ckpt_file)
        setup_device("CPU", 0, mode="graph")
        kw = {} if args.tile is None else {"tile": args.tile}
        restorer = Restorer(
            make_backend("mindspore", ckpt_file=ckpt),
            overlap=args.tile_overlap if args.tile_overlap is not None else DEFAULT_OVERLAP,
            flip=args.flip_ensemble,
            **kw,
        )
        out_json = os.path.splitext(args.out)[0] + ".json"
        result = write_test_report(restorer, args.data_root, out_json, args.out, {"checkpoint": ckpt}, ckpt=ckpt)
        print(f"report.py: wrote {args.out} and {out_json}")
        if args.package:
            from src.report.testset import package_run

            stages = [d.strip() for d in args.stages.split(",") if d.strip()] or [args.package]
            package_run(args.package, os.path.join(ROOT, "weights"), result, args.note, args.name, args.recipe, stages)
            print(f"report.py: shipped weights/{args.name}.ckpt, weights/{args.name}.json, weights/resume/")
    elif args.command == "validate":
        validate(args, extra)
    elif args.command == "bench":
        from src.report.bench import run_bench

        out = run_bench(args.out, args.only, args.quick, args.workdir)
        print(f"report.py: wrote {out}")


def validate(args, overrides):
    """``report.py validate``: load the config, score every checkpoint, print (and write) the table."""
    from src.config import load_config
    from src.device import setup_device
    from src.infer.backends import make_backend
    from src.infer.engine import Restorer
    from src.report.common import write_json, write_text
    from src.report.validation import compare_checkpoints, format_markdown
    from src.train.runner import validation_sets

    cfg = load_config(args.config, overrides)
    setup_device(cfg.train.get("device_target", "auto"), mode="graph")
    restorers = []
    for ck in args.ckpt_file:
        backend = make_backend("mindspore", ckpt_file=ck)
        restorers.append((ck, Restorer(backend, tile=0)))
        if args.flip_ensemble:
            restorers.append((f"{ck} (flip ensemble)", Restorer(backend, tile=0, flip=True)))
    crop, most = int(cfg.train.val_crop), int(cfg.train.val_max_images)
    rows = compare_checkpoints(restorers, cfg.data, validation_sets(cfg), crop, most)
    what = f"{os.path.basename(args.config)}, " + (f"centre {crop}² crops" if crop else "full images")
    what += f", {'all' if not most else f'the first {most}'} held-out photos or pairs per set"
    text = format_markdown(rows, what)
    print(text)
    if args.out:
        write_text(args.out, text + "\n")
        write_json(os.path.splitext(args.out)[0] + ".json", {"validation": what, "checkpoints": rows})
        print(f"report.py: wrote {args.out} and {os.path.splitext(args.out)[0]}.json")


def main(argv=None):
    """Exit code (docs/cli.md): 0 ok, 2 nothing written (bad option, missing input or package)."""
    return run_entry("report.py", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
