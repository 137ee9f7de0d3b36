"""Experiments that train many runs and compare them: the multi-seed ablation study and the fidelity study.

    python study.py ablations [--seeds 0,1,2] [--steps N] [--variants V6,V1,...|strategies|all]
                              [--out runs/study] [--results results/study] [--table docs/study.md]
                              [--config configs/study.yaml] [--force] [--no_train] [--quiet] [--key=value ...]
    python study.py fidelity ...   (its own options: python study.py fidelity --help)

ablations: Table 3/4 (and the strategies) with several seeds. Every (variant, seed) trains in
  <out>/<variant>/seed<k> and leaves its results in <results>/<variant>/seed<k>.json (a rerun skips
  those and refuses config drift unless --force); <table> (+ .csv, .json, _psnr.png): mean ± std
  over seeds, paired differences against V6 of the same seed, one verdict per claim of the paper.
  --no_train: only the page, from the JSONs. --key=value overrides go to every run's config.
  Variants: V6,V1,V2,V3,V4r,V4s,V5,K1,K2 (default); 'strategies' = V6,V2,CS,TP,TK; 'all' = both.
fidelity:  where the network loses detail (src/study/fidelity.py).
Exit code 0 ok, 2 error.
"""

import argparse
import os
import sys

import src  # noqa: F401  (oneDNN ISA cap before MindSpore loads)
from src.errors import run_entry


def build_parser():
    p = argparse.ArgumentParser(
        prog="study.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("ablations", help="Table 3/4 and the strategies, several seeds, paired differences")
    a.add_argument("--seeds", default=None, help="comma list (default 0,1,2); each sets train.seed and data.seed")
    a.add_argument("--steps", type=int, default=None, help="train.max_steps of every run (default: the config's)")
    a.add_argument(
        "--variants",
        default="",
        help="comma list (default: V6,V1,V2,V3,V4r,V4s,V5,K1,K2); 'strategies' = V6,V2,CS,TP,TK; 'all' = both",
    )
    a.add_argument("--out", default=os.path.join("runs", "study"), help="run folders <out>/<variant>/seed<k>")
    a.add_argument(
        "--results",
        default=os.path.join("results", "study"),
        help="folder of the per-run JSONs <results>/<variant>/seed<k>.json",
    )
    a.add_argument("--table", default=None, help="the Markdown page (default docs/study.md); .csv, .json beside it")
    a.add_argument("--config", default=None, help="default configs/study.yaml")
    a.add_argument("--no_train", action="store_true", help="only the page, from the results JSONs")
    a.add_argument("--force", action="store_true", help="rerun runs whose JSON records another config")
    a.add_argument("--quiet", action="store_true", help="do not echo the training log (it is still in train.log)")
    sub.add_parser("fidelity", help="where the network loses detail (its own options)", add_help=False)
    return p


def ablations(args, overrides):
    from src.study.ablations import STUDY_CONFIG, TABLE, run_study
    from src.study.ablations_variants import parse_variants
    from src.study.common import parse_seeds

    table = args.table or TABLE
    if not args.no_train:
        import mindspore as ms

        ms.set_context(mode=ms.GRAPH_MODE)
    run_study(
        parse_variants(args.variants) if args.variants or not args.no_train else None,
        parse_seeds(args.seeds) if args.seeds or not args.no_train else None,
        args.steps,
        args.out,
        args.results,
        table,
        args.config or STUDY_CONFIG,
        overrides,
        echo=not args.quiet,
        train=not args.no_train,
        force=args.force,
    )
    print(f"study.py: page in {table} (+ .csv, .json, _psnr.png); results in {args.results}")


def _main(argv):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "fidelity":  # its own command line
        from src.study.fidelity import main as fidelity_main

        return fidelity_main(argv[1:])
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    bad = [o for o in extra if not (o.startswith("--") and "=" in o)]
    if bad:
        parser.error(f"unrecognized arguments: {' '.join(bad)} (config overrides are written --key=value)")
    ablations(args, extra)


def main(argv=None):
    """Exit code (docs/cli.md): 0 ok, 2 nothing written (bad option, missing input, config drift)."""
    return run_entry("study.py", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
