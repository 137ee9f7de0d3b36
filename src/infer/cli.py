"""Command-line pieces shared by eval.py and infer.py: engine options, backend setup, progress."""

from __future__ import annotations

import sys

from . import weights
from .backends import BACKENDS, make_backend
from .engine import DEFAULT_OVERLAP, DEFAULT_TILE, TASK_CHOICES, Restorer

__all__ = ["ProgressLine", "add_engine_args", "make_restorer", "resolve_checkpoint"]


def add_engine_args(parser, task_default="auto", task_help=None, tile_help=None):
    """Add --ckpt_file, --backend, --onnx_file, --task, --tile, --tile_overlap, --tile_batch,
    --flip_ensemble, --device_target, --device_id and --threads to an argparse parser."""
    g = parser.add_argument_group("model and engine")
    g.add_argument(
        "--ckpt_file",
        help="checkpoint from train.py (it stores its model config); "
        "default: the weights weights/lite.ckpt of "
        "this repository",
    )
    g.add_argument(
        "--backend",
        default="mindspore",
        choices=BACKENDS,
        help="mindspore (default; GRAPH mode) or onnxruntime (CPU, needs --onnx_file)",
    )
    g.add_argument(
        "--onnx_file",
        help="model from export.py --file_format ONNX --task all " "(its .json sidecar gives the tile size)",
    )
    g.add_argument(
        "--task",
        default=task_default,
        choices=TASK_CHOICES,
        help=task_help or "auto: the recognition head picks derain or desnow per image; " "rain/snow: force that head",
    )
    g.add_argument(
        "--tile",
        type=int,
        default=None,
        help=tile_help
        or f"tile size in pixels, a multiple of 32 (default {DEFAULT_TILE}, the lite "
        "weights 512; an ONNX model uses its exported tile); 0 = always the whole image",
    )
    g.add_argument(
        "--tile_overlap",
        type=int,
        default=DEFAULT_OVERLAP,
        help=f"overlap between neighbouring tiles, blended without seams " f"(default {DEFAULT_OVERLAP})",
    )
    g.add_argument("--tile_batch", type=int, default=1, help="tiles per network call (default 1)")
    g.add_argument(
        "--flip_ensemble",
        action="store_true",
        help="also restore the left-right mirror and average the two (twice the time; "
        "about +0.07 dB PSNR-Y with the default weights on their validation photos)",
    )
    g.add_argument(
        "--device_target",
        default="auto",
        choices=("auto", "CPU", "GPU", "Ascend"),
        help="MindSpore device (default: the best available)",
    )
    g.add_argument("--device_id", type=int, default=None)
    g.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads")
    return parser


def resolve_checkpoint(args) -> str:
    """Fill in ``args.ckpt_file`` (the default weights when omitted, for the MindSpore
    backend) and return the line naming it ("checkpoint PATH ..."), or "" for ONNX.
    Raises ``weights.MissingWeightsError`` (one line, names the path) when the default is absent."""
    if args.backend != "mindspore":
        return ""
    args.ckpt_file, is_default = weights.resolve_ckpt(args.ckpt_file)
    return weights.describe(args.ckpt_file, is_default)


def make_restorer(args, fallback_model_cfg=None, whole_max_pixels=0) -> Restorer:
    """Set up the device (MindSpore only), load the backend and wrap it in a Restorer.
    ``args.ckpt_file`` None means the default checkpoint (see ``resolve_checkpoint``).
    ``whole_max_pixels``: without --tile, images up to this size go through whole (eval.py)."""
    if args.backend == "mindspore":
        from ..device import setup_device

        resolve_checkpoint(args)
        setup_device(args.device_target, args.device_id, mode="graph")
    backend = make_backend(
        args.backend,
        ckpt_file=args.ckpt_file,
        onnx_file=args.onnx_file,
        fallback_model_cfg=fallback_model_cfg,
        threads=args.threads,
    )
    return Restorer(
        backend,
        tile=args.tile,
        overlap=args.tile_overlap,
        tile_batch=args.tile_batch,
        flip=args.flip_ensemble,
        whole_max_pixels=whole_max_pixels if args.tile is None else 0,
    )


class ProgressLine:
    """A one-line progress display on stderr (redrawn with \\r on a terminal, silent otherwise)."""

    def __init__(self, stream=None, enabled=None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._width = 0

    def show(self, text: str) -> None:
        if not self.enabled:
            return
        pad = max(0, self._width - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._width = len(text)

    def clear(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    def bar(self, prefix: str, done: int, total: int, width: int = 20) -> None:
        filled = int(width * done / max(total, 1))
        self.show(f"{prefix} [{'#' * filled}{'.' * (width - filled)}] tile {done}/{total}")
