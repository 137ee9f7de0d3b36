"""Prepare data: check benchmark sets, synthesise rain/snow, build the demo set, convert to MindRecord.

    python prepare_data.py sets       --config_path configs/data_defaults.yaml
    python prepare_data.py check      --config_path CFG [--set csd/test ...] [--pairs_only] [--data.roots.csd=/mnt/CSD]
    python prepare_data.py synth      --task rain|snow --src DIR --dst DIR [--seed 0] [--copies 1] [--haze 0.3]
    python prepare_data.py demo       [--dst data/demo] [--seed 0]
    python prepare_data.py mindrecord --config_path CFG [--dst FILE] [--shards 1] [--overwrite] [--set NAME ...]
                                      [--encoding auto|raw]

Config overrides (``--data.key=value``) follow the options of ``check``, ``sets`` and ``mindrecord``.
Exit status: 0 on success, 1 on bad data or bad options (one line on stderr says what to fix).
"""

import argparse
import os
import sys

import src  # noqa: F401  (sets the oneDNN ISA cap before mindspore is imported)
from src.config import ConfigError, load_config
from src.data.check import check_sets
from src.errors import run_entry
from src.data.readers import list_set, resolve_val_sets, set_spec


def _parser():
    p = argparse.ArgumentParser(prog="prepare_data.py", description=__doc__.split("\n")[0], allow_abbrev=False)
    sub = p.add_subparsers(dest="cmd", required=True)

    def with_config(name, text):
        s = sub.add_parser(name, help=text, allow_abbrev=False)
        s.add_argument("--config_path", required=True, help="YAML config with a data: section")
        s.add_argument(
            "--set",
            action="append",
            dest="sets",
            metavar="NAME",
            help="a set such as csd/test (repeatable; default: from the config)",
        )
        return s

    with_config("sets", "list the configured benchmarks, their sets and folders")
    s = with_config("check", "check that every pair is found, decodable and of equal size")
    s.add_argument("--pairs_only", action="store_true", help="only match names (do not decode)")
    s.add_argument("--workers", type=int, default=None, help="decode threads (default data.num_workers)")
    s = with_config("mindrecord", "convert the training sets to MindRecord")
    s.add_argument("--dst", default=None, help="output file (default data.mindrecord_path)")
    s.add_argument("--shards", type=int, default=1)
    s.add_argument("--overwrite", action="store_true", help="replace an existing conversion")
    s.add_argument(
        "--encoding",
        choices=("auto", "raw"),
        default="auto",
        help="auto: keep JPEGs, other images as BMP (fast decode); raw: all as BMP (fastest, largest)",
    )
    s = sub.add_parser("synth", help="turn a folder of clean images into a paired rain or snow set", allow_abbrev=False)
    s.add_argument("--task", required=True, choices=("rain", "snow"))
    s.add_argument("--src", required=True, help="folder of clean images")
    s.add_argument("--dst", required=True, help="output folder (gets input/ and target/)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--copies", type=int, default=1, help="renderings per clean image")
    s.add_argument("--haze", type=float, default=0.3, help="rain only: probability of a haze veil")
    s.add_argument("--overwrite", action="store_true")
    s.add_argument("--skip_bad", action="store_true", help="leave out unreadable source images")
    s = sub.add_parser("demo", help="build the demo set from scikit-image's photos", allow_abbrev=False)
    s.add_argument("--dst", default="data/demo")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--overwrite", action="store_true")
    return p


def _cmd_sets(cfg, args):
    for bench, spec in cfg.data.benchmarks.items():
        for split in spec["splits"]:
            name = f"{bench}/{split}"
            try:
                task, root, _ = set_spec(cfg.data, name)
                n = len(list_set(cfg.data, name).pairs)
                state = f"{n} pairs"
            except ConfigError as exc:
                task, root, state = spec.get("task"), "-", f"not ready: {exc}"
            print(f"{name:22} {task:5} {root}  {state}")
    return 0


def _cmd_check(cfg, args):
    sets = args.sets or list(
        dict.fromkeys(list(cfg.data.train_sets) + resolve_val_sets(cfg.data) + list(cfg.data.test_sets))
    )
    report = check_sets(cfg.data, sets, decode=not args.pairs_only, workers=args.workers)
    total = sum(len(r.good) for r in report.sets.values())
    left_out = f", {report.bad_count} bad left out" if report.bad_count else ""
    print(f"OK: {total} good pairs in {len(sets)} set(s){left_out}")
    return 0


def _cmd_mindrecord(cfg, args):
    from src.data.mindrecord import write_mindrecord

    dst = args.dst or cfg.data.mindrecord_path
    write_mindrecord(
        cfg.data, dst, shards=args.shards, sets=args.sets, overwrite=args.overwrite, encoding=args.encoding
    )
    return 0


def _main(argv):
    args, extra = _parser().parse_known_args(argv)
    if args.cmd in ("synth", "demo"):
        if extra:
            raise ConfigError(f"unknown option {extra[0]} for '{args.cmd}' (see --help)")
        from src.data.synth import build_demo, synthesize_folder

        if args.cmd == "demo":
            build_demo(args.dst, seed=args.seed, overwrite=args.overwrite)
        else:
            synthesize_folder(
                args.src,
                args.dst,
                args.task,
                seed=args.seed,
                copies=args.copies,
                haze=args.haze,
                overwrite=args.overwrite,
                skip_bad=args.skip_bad,
            )
        return 0
    cfg = load_config(args.config_path, extra)
    if "data" not in cfg or "benchmarks" not in cfg.data:
        raise ConfigError(
            f"{args.config_path} has no data.benchmarks section; include configs/data_defaults.yaml " "with _base_"
        )
    return {"sets": _cmd_sets, "check": _cmd_check, "mindrecord": _cmd_mindrecord}[args.cmd](cfg, args)


def main(argv=None):
    """Entry point; returns the exit code (docs/cli.md: 0 ok, 1 a MindRecord write failed its read-back, 2 bad
    config, data or option)."""
    return run_entry("prepare_data.py", _main, argv)


if __name__ == "__main__":
    os.environ.setdefault("GLOG_v", "3")  # keep MindSpore's C++ log quiet for this tool
    sys.exit(main())
