"""Export a SmartAssign checkpoint at a fixed tile shape (see src/infer/export.py).

    python export.py [--ckpt_file PATH] --file_format MINDIR|ONNX|AIR --file_name NAME \
        --height H --width W [--task all|rain|snow|auto] [--clip]

Without --ckpt_file the weights weights/lite.ckpt of this repository are exported
(src/infer/weights.py); the first line names the checkpoint used.
"""

import sys

import src  # noqa: F401  (sets the oneDNN ISA cap before mindspore is imported)


def main(argv=None):
    from src.infer.export import run_cli

    return run_cli(argv)


if __name__ == "__main__":
    sys.exit(main())
