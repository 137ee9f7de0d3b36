"""Train SmartAssign.

    python train.py --config_path configs/smartassign.yaml [--key=value ...]
    python train.py --config_path configs/demo.yaml --train.resume auto

Every scalar config key can be overridden (``--train.lr=2e-4``, or ``--lr=2e-4`` when unique).
Launch on several devices with scripts/run_distribute_train.sh (msrun) or
scripts/run_distribute_train_ascend.sh (rank table).

Exit code: 0 trained; 1 the loss stayed non-finite (the run stopped; resume from its last
checkpoint with a lower train.lr); 2 nothing trained (bad config, data or checkpoint).
"""

import os
import sys

import src  # noqa: F401  (caps oneDNN's ISA on MindSpore >= 2.9 before mindspore is imported)
from src.config import load_config, split_cli
from src.errors import run_entry

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "smartassign.yaml")


def _main(argv):
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    path, overrides = split_cli(argv, DEFAULT_CONFIG)
    cfg = load_config(path, overrides)
    from src.train.runner import run

    run(cfg)


def main(argv=None):
    """Exit code (docs/cli.md): 0 trained, 1 the loss stayed non-finite, 2 bad config, data or checkpoint."""
    return run_entry("train.py", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
