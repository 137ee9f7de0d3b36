"""Train SmartAssign.

    python train.py --config_path configs/smartassign.yaml [--key=value ...]
    python train.py --config_path configs/demo.yaml --train.resume auto

Every scalar config key can be overridden (``--train.lr=2e-4``, or ``--lr=2e-4`` when unique).
Launch on several devices with scripts/run_distribute_train.sh (msrun) or
scripts/run_distribute_train_ascend.sh (rank table).
"""
import os
import sys

import src  # noqa: F401  (caps oneDNN's ISA on MindSpore >= 2.9 before mindspore is imported)
from src.config import ConfigError, load_config, split_cli

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "smartassign.yaml")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    from src.data.check import DataCheckError
    from src.train.callbacks import NonFiniteLossError
    from src.train.checkpoint import CheckpointError
    try:
        path, overrides = split_cli(argv, DEFAULT_CONFIG)
        cfg = load_config(path, overrides)
        from src.train.runner import run
        run(cfg)
    except (ConfigError, DataCheckError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NonFiniteLossError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
