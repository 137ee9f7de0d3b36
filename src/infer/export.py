"""Export SmartAssign at a fixed tile shape to MINDIR, ONNX or AIR, with a JSON sidecar.

``InferenceWrapper(net, task)`` is the exported graph: input ``input`` (N x 3 x H x W float32 in
[0, 1]) and, by task,

=========  ==================================================  ============================
task       outputs (names, in this order)                      needs
=========  ==================================================  ============================
``all``    ``derain`` (N,3,H,W), ``desnow`` (N,3,H,W),          --
           ``recognition`` (N,2) (omitted without recognition)
``rain``   ``derain`` (N,3,H,W)                                --
``snow``   ``desnow`` (N,3,H,W)                                --
``recognition`` ``recognition`` (N,2) only                     the recognition head
``auto``   ``restored`` (N,3,H,W): per sample, the derained     the recognition head
           image if score[rain] >= score[snow], else desnowed  (or a blind output)
=========  ==================================================  ============================

Strategy networks with a blind output (``net.blind``: cross-stitch's fusion head; the
task-parameterised decoder at γ = softmax(recognition)) add ``blind`` (N,3,H,W) as the last output
of ``all``, and ``auto`` returns that image as ``restored``.

``auto`` decides per *tile* when the model runs on tiles; for one decision per photo export
``all`` and let the host choose from the recognition output (``postprocess.py``, the
``Restorer`` of ``src/infer/engine.py``: on a shrunk view of a large photo, then one head).

ONNX parts: ONNX Runtime computes every output of a graph whatever the caller fetches, so an ONNX
``all`` export also writes one graph per output, ``<name>.derain.onnx``, ``<name>.desnow.onnx``
and ``<name>.recognition.onnx`` (the sidecar lists them under ``parts``). The ONNX backend runs
the part that computes exactly what the engine asks for: one head per tile, recognition alone on
the view. (MindSpore prunes the unused heads itself; the 310 program runs the ``all`` graph.)

Clipping: outputs are **not** clipped by default, so a tile's output equals the checkpoint
network's bit for bit and merged tiles equal in-process tiled inference; images are clipped once,
after blending, by ``to_uint8``. ``clip=True`` bakes ``clip(0, 1)`` (min and max: ONNX-safe) into
the graph for consumers that use tile outputs directly; with overlapping tiles that may differ
from clip-after-merge inside the overlaps.

Padding: the network pads to a multiple of 32 internally (a constant-index gather, which exports
to every format) and crops back, so any tile size works; multiples of 32 need no padding.

The sidecar JSON (``<model file>.json``, e.g. ``sa.mindir.json``) records format, task, clip,
input/output names, shapes and dtypes, tile size, the model config (preset and switches),
MindSpore version and export date; ``preprocess.py``, ``run_infer_310.sh`` and the ONNX backend read the tile size from
it; ``multiple`` is the network stride the host pads images to before tiling.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from typing import Optional, Tuple

import numpy as np
import mindspore as ms
from mindspore import nn, ops

from . import weights
from .engine import default_tile
from .sidecar import read_sidecar, sidecar_path
from ..errors import UsageError, run_entry

__all__ = [
    "FORMATS",
    "TASKS",
    "ExportError",
    "InferenceWrapper",
    "export_network",
    "output_specs",
    "sidecar_path",
    "read_sidecar",
]

FORMATS = ("MINDIR", "ONNX", "AIR")
TASKS = ("all", "rain", "snow", "auto", "recognition")
PART_TASKS = {"derain": "rain", "desnow": "snow", "recognition": "recognition"}  # ONNX parts of ``all``
EXTENSIONS = {"MINDIR": ".mindir", "ONNX": ".onnx", "AIR": ".air"}
INPUT_NAME = "input"
SIDECAR_VERSION = 1


class ExportError(UsageError):
    """An export that cannot be done as asked; the message says why and what to do."""


class InferenceWrapper(nn.Cell):
    """The exported inference graph: SmartAssign in eval mode, outputs chosen by ``task``.

    ``net`` must be a SmartAssign cell (any preset/switches); it is put in inference mode.
    """

    def __init__(self, net, task: str = "all", clip: bool = False):
        super().__init__()
        if task not in TASKS:
            raise ExportError(f"task={task!r} is not valid; choose one of {', '.join(TASKS)}")
        self.recognition = net.recognition
        self.blind = net.blind
        if task == "recognition" and not self.recognition:
            raise ExportError(
                "task 'recognition' exports the recognition head, which this model does not have "
                "(model.recognition: false)"
            )
        if task == "auto" and not (self.recognition or self.blind):
            raise ExportError(
                "task 'auto' picks the image by the recognition scores, but this model "
                "has no recognition head (model.recognition: false); export 'all', "
                "'rain' or 'snow'"
            )
        self.net = net
        self.net.set_train(False)
        self.task = task
        self.clip = bool(clip)
        self.multiple = net.multiple
        self.set_train(False)

    def output_names(self) -> Tuple[str, ...]:
        if self.task == "all":
            return (
                ("derain", "desnow")
                + (("recognition",) if self.recognition else ())
                + (("blind",) if self.blind else ())
            )
        return {"rain": ("derain",), "snow": ("desnow",), "auto": ("restored",), "recognition": ("recognition",)}[
            self.task
        ]

    def _finish(self, img, h, w):
        img = img[:, :, :h, :w]
        if self.clip:
            img = ops.clip(img, 0.0, 1.0)
        return img

    def construct(self, x):
        h, w = x.shape[2], x.shape[3]
        out = self.net(x)
        if self.task == "recognition":
            return out[2]
        r_dr = self._finish(out[0], h, w)
        r_ds = self._finish(out[1], h, w)
        if self.task == "rain":
            return r_dr
        if self.task == "snow":
            return r_ds
        if self.task == "auto" and self.blind:
            return self._finish(out[-1], h, w)
        if self.task == "auto":
            scores = out[2]
            is_rain = (scores[:, 0:1] >= scores[:, 1:2]).reshape((-1, 1, 1, 1))
            return ops.select(ops.broadcast_to(is_rain, r_dr.shape), r_dr, r_ds)
        if self.blind and self.recognition:
            return r_dr, r_ds, out[2], self._finish(out[-1], h, w)
        if self.blind:
            return r_dr, r_ds, self._finish(out[-1], h, w)
        if self.recognition:
            return r_dr, r_ds, out[2]
        return r_dr, r_ds


def output_specs(wrapper: InferenceWrapper, batch: int, height: int, width: int):
    """[{name, shape, dtype}] of the wrapper's outputs for an N x 3 x H x W input."""
    specs = []
    for name in wrapper.output_names():
        shape = [batch, 2] if name == "recognition" else [batch, 3, height, width]
        specs.append({"name": name, "shape": shape, "dtype": "float32"})
    return specs


def _plain_config(model_cfg):
    if model_cfg is None:
        return None
    if hasattr(model_cfg, "to_dict"):
        model_cfg = model_cfg.to_dict()
    return json.loads(json.dumps(dict(model_cfg), default=str))


def _check_size(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ExportError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def export_network(
    net,
    file_format: str,
    file_name: str,
    height: int,
    width: int,
    task: str = "all",
    model_cfg: Optional[dict] = None,
    *,
    clip: bool = False,
    batch_size: int = 1,
    extra: Optional[dict] = None,
) -> Tuple[str, str]:
    """Export ``InferenceWrapper(net, task, clip)`` at input shape (batch_size, 3, height, width).

    ``file_name`` may carry the format's extension or not. Returns ``(model_path, json_path)``.
    AIR needs MindSpore running on Ascend; elsewhere an ``ExportError`` says so.
    """
    file_format = str(file_format).upper()
    if file_format not in FORMATS:
        raise ExportError(f"file_format={file_format!r} is not valid; choose one of {', '.join(FORMATS)}")
    height, width = _check_size("height", height), _check_size("width", width)
    batch_size = _check_size("batch_size", batch_size)
    if file_format == "AIR":
        target = ms.get_context("device_target")
        if target != "Ascend":
            raise ExportError(
                f"AIR export needs MindSpore on an Ascend device (this process runs on "
                f"{target}); export MINDIR for MindSpore Lite / Ascend 310 or ONNX instead"
            )
    wrapper = InferenceWrapper(net, task, clip=clip)
    ext = EXTENSIONS[file_format]
    base = str(file_name)
    if base.lower().endswith(ext):
        base = base[: -len(ext)]
    model_path = base + ext
    os.makedirs(os.path.dirname(os.path.abspath(model_path)), exist_ok=True)
    example = ms.Tensor(np.zeros((batch_size, 3, height, width), np.float32))
    names = list(wrapper.output_names())
    if file_format == "ONNX":
        ms.onnx.export(wrapper, example, file_name=model_path, input_names=[INPUT_NAME], output_names=names)
    else:
        ms.export(wrapper, example, file_name=base, file_format=file_format)
    if not os.path.isfile(model_path):
        raise ExportError(f"MindSpore reported no error but {model_path} was not written")
    parts = {}
    if file_format == "ONNX" and task == "all":  # ONNX Runtime runs a whole graph: one per output too
        for name in names:
            if name in PART_TASKS:
                part = InferenceWrapper(net, PART_TASKS[name], clip=clip)
                parts[name] = f"{base}.{name}{ext}"
                ms.onnx.export(part, example, file_name=parts[name], input_names=[INPUT_NAME], output_names=[name])
                if not os.path.isfile(parts[name]):
                    raise ExportError(f"MindSpore reported no error but {parts[name]} was not written")

    cfg = _plain_config(model_cfg)
    info = {
        "version": SIDECAR_VERSION,
        "format": file_format,
        "model_file": os.path.basename(model_path),
        "task": task,
        "clip": wrapper.clip,
        "tile": {"height": height, "width": width},
        "batch_size": batch_size,
        "multiple": wrapper.multiple,
        "input": {
            "name": INPUT_NAME,
            "shape": [batch_size, 3, height, width],
            "dtype": "float32",
            "layout": "NCHW",
            "range": [0.0, 1.0],
            "channels": "RGB",
        },
        "outputs": output_specs(wrapper, batch_size, height, width),
        "preset": (cfg or {}).get("preset"),
        "model_config": cfg,
        "mindspore_version": ms.__version__,
        "export_date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
    }
    if parts:
        info["parts"] = {name: os.path.basename(path) for name, path in parts.items()}
    if extra:
        info.update(extra)
    json_path = sidecar_path(model_path)
    tmp = json_path + f".tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(info, fh, indent=2, sort_keys=False)
        fh.write("\n")
    os.replace(tmp, json_path)
    return model_path, json_path


# --------------------------------------------------------------------------- command line
def build_parser():
    import argparse

    p = argparse.ArgumentParser(
        prog="export.py",
        description="Export a SmartAssign checkpoint at a fixed tile shape (MINDIR for MindSpore / "
        "MindSpore Lite / Ascend 310, ONNX, or AIR on Ascend), plus <model file>.json.",
    )
    p.add_argument(
        "--ckpt_file",
        default=None,
        help="checkpoint written by train.py (holds its model config); default: the "
        "weights weights/lite.ckpt of this repository",
    )
    p.add_argument("--file_format", default="MINDIR", type=str.upper, choices=FORMATS)
    p.add_argument("--file_name", default="smartassign", help="output path without extension")
    p.add_argument(
        "--height",
        type=int,
        default=None,
        help="tile height, a multiple of 32 avoids padding (default: --width if given, else the tile "
        "infer.py uses for the checkpoint's preset: 512 for lite, 256 otherwise)",
    )
    p.add_argument(
        "--width", type=int, default=None, help="tile width (default: --height; square tiles for the tiled engine)"
    )
    p.add_argument(
        "--task",
        default="all",
        choices=TASKS,
        help="all: derain, desnow[, recognition] (ONNX: also one file per output); rain/snow: that "
        "image; recognition: the scores only; auto: per-tile choice by the recognition scores",
    )
    p.add_argument("--batch_size", type=int, default=1)
    p.add_argument("--clip", action="store_true", help="clip output images to [0, 1] in the graph")
    p.add_argument(
        "--device_target",
        default="CPU",
        choices=("CPU", "Ascend", "GPU", "auto"),
        help="device to export on (AIR needs Ascend)",
    )
    p.add_argument("--device_id", type=int, default=None)
    return p


def export_shape(height: Optional[int], width: Optional[int], model_cfg: dict) -> Tuple[int, int]:
    """(height, width) of the export: a missing side copies the given one; with neither, the
    square tile the engine restores this model with (``engine.default_tile`` of its preset)."""
    if height is None and width is None:
        height = width = default_tile((model_cfg or {}).get("preset"))
    return (width if height is None else height), (height if width is None else width)


def _cli(argv):
    from ..device import setup_device
    from ..train.checkpoint import load_model

    args = build_parser().parse_args(argv)
    if args.file_format == "AIR" and args.device_target not in ("Ascend", "auto"):
        raise ExportError(
            f"AIR export needs MindSpore on an Ascend device (--device_target "
            f"{args.device_target}); export MINDIR for MindSpore Lite / Ascend 310 "
            "or ONNX instead"
        )
    ckpt_file, is_default = weights.resolve_ckpt(args.ckpt_file)
    print(f"export.py: {weights.describe(ckpt_file, is_default)}")
    target = setup_device(args.device_target, args.device_id, mode="graph")
    net, model_cfg, _ = load_model(ckpt_file)
    args.height, args.width = export_shape(args.height, args.width, model_cfg)
    model_path, json_path = export_network(
        net,
        args.file_format,
        args.file_name,
        args.height,
        args.width,
        task=args.task,
        model_cfg=model_cfg,
        clip=args.clip,
        batch_size=args.batch_size,
        extra={"checkpoint": os.path.abspath(ckpt_file), "device_target": target},
    )
    print(
        f"exported {model_path} ({args.file_format}, task {args.task}, input 1x3x{args.height}x"
        f"{args.width}) and {json_path}"
    )


def run_cli(argv=None) -> int:
    """export.py: returns the exit code (docs/cli.md: 0 exported, 2 nothing exported)."""
    return run_entry("export.py", _cli, argv)
