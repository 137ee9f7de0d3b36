"""Inference backends: callables ``tiles (N, 3, h, w) float32 -> tuple of numpy arrays``.

Every backend exposes

* ``outputs``: names of the arrays it returns, in order: a subset of ``derain`` (N, 3, h, w),
  ``desnow`` (N, 3, h, w), ``recognition`` (N, 2: raw rain and snow scores) and ``blind``
  (N, 3, h, w: the blind output of the cross-stitch / task-parameterised strategies);
* ``fixed_tile``: ``None`` when any h x w works, else the only tile size it accepts (square);
* ``fixed_batch``: ``None`` or the only batch size it accepts;
* ``multiple``: the network's stride (inputs are padded to it; 32 for both presets).

``backend(tiles, names)`` returns only the outputs ``names`` asks for, in that order. For a single
output the MindSpore backend runs the graph ``export.py --task rain|snow|recognition`` exports,
so the other heads are not run (what makes a known ``--task``, and blind mode's restore-with-one-
head pass, fast); an ONNX model runs the part of its export that computes exactly that output
(``parts`` in its JSON, written by ``export.py --task all``), else the whole exported graph.

``MindSporeBackend(net)`` runs a SmartAssign cell (GRAPH_MODE when the context says so: MindSpore
compiles once per input shape and reuses the graph). ``OnnxBackend(path)`` runs a model written by
``export.py --file_format ONNX`` with ONNX Runtime on CPU, at the fixed tile shape recorded in its
JSON sidecar. ``onnxruntime`` is optional: it is imported only when an ``OnnxBackend`` is made.
"""

from __future__ import annotations

import os
from typing import Optional, Tuple

import numpy as np
from ..errors import SmartAssignError
from .sidecar import read_sidecar, sidecar_path

__all__ = ["BackendError", "MindSporeBackend", "OnnxBackend", "BACKENDS", "make_backend"]

BACKENDS = ("mindspore", "onnxruntime")
IMAGE_OUTPUTS = ("derain", "desnow")


class BackendError(SmartAssignError, RuntimeError):
    """A model file or runtime that cannot be used; the message says what to do."""


class MindSporeBackend:
    """A SmartAssign cell in inference mode as a backend (any tile size, any batch).

    ``fixed_tile`` makes the engine use tiles of exactly that size, as for an exported model
    (e.g. to compare with the ONNX/MINDIR export at the same shape).
    """

    fixed_batch = None
    name = "mindspore"

    def __init__(self, net, model_cfg: Optional[dict] = None, fixed_tile: Optional[int] = None):
        import mindspore as ms

        self.fixed_tile = fixed_tile

        self._ms = ms
        self.net = net
        self.net.set_train(False)
        self.model_cfg = dict(model_cfg or {})
        self.preset = self.model_cfg.get("preset")  # picks the engine's default tile
        self.multiple = net.multiple
        self.outputs = IMAGE_OUTPUTS + (("recognition",) if net.recognition else ()) + (("blind",) if net.blind else ())
        self._cells = {}

    @classmethod
    def from_checkpoint(cls, path: str, fallback_model_cfg: Optional[dict] = None):
        """Build the network a checkpoint describes (or ``fallback_model_cfg`` if it stores none)."""
        from ..models import build_network
        from ..train.checkpoint import CheckpointError, load_weights, read

        params, model_cfg, _ = read(path)
        if model_cfg is None:
            if not fallback_model_cfg:
                raise CheckpointError(
                    f"{path} has no stored model config; pass --config_path with "
                    "the model section it was trained with"
                )
            model_cfg = dict(fallback_model_cfg)
        net = build_network(model_cfg)
        load_weights(net, params, source=path)
        return cls(net, model_cfg)

    def _cell(self, names):
        """(cell, index) for ``names``: one output (an image or the recognition scores) runs
        export's ``InferenceWrapper`` for that task (the graph ``export.py --task rain`` writes: only
        that head is computed); anything else runs the whole network and picks ``index`` from its
        outputs."""
        names = tuple(names or self.outputs)
        unknown = [n for n in names if n not in self.outputs]
        if unknown:
            raise BackendError(f"this network has no output {unknown[0]!r} (outputs: {', '.join(self.outputs)})")
        task = {("derain",): "rain", ("desnow",): "snow", ("recognition",): "recognition"}.get(names)
        if task is None:  # the blind image is the network's last output, the others in ``outputs`` order
            return self.net, tuple(-1 if n == "blind" else self.outputs.index(n) for n in names)
        if task not in self._cells:
            from .export import InferenceWrapper

            self._cells[task] = InferenceWrapper(self.net, task)
        return self._cells[task], None

    def __call__(self, tiles: np.ndarray, names=None) -> Tuple[np.ndarray, ...]:
        cell, index = self._cell(names)
        out = cell(self._ms.Tensor(np.ascontiguousarray(tiles, dtype=np.float32)))
        if index is None:
            return (out.asnumpy(),)
        return tuple(out[i].asnumpy() for i in index)


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendError(
            "--backend onnxruntime needs the onnxruntime package: "
            "pip install onnxruntime==1.31.1 (see requirements-dev.txt), "
            "or use --backend mindspore"
        ) from exc
    return onnxruntime


def _open_session(ort, path: str, options):
    """An ONNX Runtime CPU session of ``path``; a file it cannot load is a one-line BackendError."""
    try:
        return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise BackendError(f"{path}: ONNX Runtime cannot load it ({exc})") from exc


class OnnxBackend:
    """An ONNX model from ``export.py`` run by ONNX Runtime (CPU) at its fixed tile shape."""

    fixed_batch = None
    name = "onnxruntime"

    def __init__(self, path: str, threads: Optional[int] = None):
        if not os.path.isfile(path):
            raise BackendError(
                f"ONNX model not found: {path} (write one with export.py "
                "--file_format ONNX, then pass it as --onnx_file)"
            )
        ort = _import_onnxruntime()
        info = read_sidecar(
            sidecar_path(path),
            BackendError,
            "the ONNX backend reads the tile size and outputs from it; re-export the model",
        )
        tile = info.get("tile") or {}
        th, tw = int(tile.get("height", 0)), int(tile.get("width", 0))
        if th < 1 or th != tw:
            raise BackendError(
                f"{path}: tiles are {th}x{tw}; the tiled engine needs square tiles "
                "(export with --height equal to --width)"
            )
        names = [o["name"] if isinstance(o, dict) else str(o) for o in info.get("outputs", [])]
        if "restored" in names:
            raise BackendError(
                f"{path} was exported with --task auto (one choice per tile); "
                "export with --task all so the engine decides once per photo"
            )
        self.fixed_tile = th
        self.fixed_batch = int(info.get("batch_size", 1))
        self.model_cfg = info.get("model_config") or {}
        self.info = info
        cfg = self.model_cfg  # both presets: patch 4 x window 8 (read without importing MindSpore)
        self.multiple = int(cfg.get("patch_size") or 4) * int(cfg.get("window_size") or 8)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        if info.get("parts"):  # several sessions, one thread pool each: idle pools must not spin
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = _open_session(ort, str(path), options)
        self.input_name = self.session.get_inputs()[0].name
        self.parts = {}  # output name -> session computing only it
        for name, fname in (info.get("parts") or {}).items():
            part = os.path.join(os.path.dirname(os.path.abspath(path)), fname)
            if not os.path.isfile(part):
                raise BackendError(f"{path}: its part {part} is missing; re-export with export.py --task all")
            self.parts[name] = _open_session(ort, part, options)
            if [o.name for o in self.parts[name].get_outputs()] != [name]:
                raise BackendError(f"{part}: expected the single output {name!r}; re-export with export.py --task all")
        got = [o.name for o in self.session.get_outputs()]
        if names and got != names:
            raise BackendError(f"{path}: outputs {got} differ from its JSON {names}; re-export")
        self.outputs = tuple(names or got)
        unknown = [n for n in self.outputs if n not in IMAGE_OUTPUTS + ("recognition", "blind")]
        if unknown:
            raise BackendError(
                f"{path}: unknown outputs {unknown}; expected derain, desnow, " "recognition (export.py --task all)"
            )

    def __call__(self, tiles: np.ndarray, names=None) -> Tuple[np.ndarray, ...]:
        t = self.fixed_tile
        if tiles.shape[1:] != (3, t, t) or tiles.shape[0] != self.fixed_batch:
            raise BackendError(
                f"ONNX model takes {self.fixed_batch}x3x{t}x{t} tiles, got " f"{'x'.join(map(str, tiles.shape))}"
            )
        fetch = list(names) if names else None
        feed = {self.input_name: np.ascontiguousarray(tiles, np.float32)}
        if fetch and len(fetch) == 1 and fetch[0] in self.parts:
            return tuple(self.parts[fetch[0]].run(fetch, feed))
        return tuple(self.session.run(fetch, feed))


def make_backend(
    kind: str,
    ckpt_file: Optional[str] = None,
    onnx_file: Optional[str] = None,
    fallback_model_cfg: Optional[dict] = None,
    threads: Optional[int] = None,
):
    """The backend named ``kind`` (``mindspore`` needs ``ckpt_file``, ``onnxruntime`` ``onnx_file``)."""
    if kind == "mindspore":
        if not ckpt_file:
            raise BackendError("--backend mindspore needs --ckpt_file PATH (a checkpoint from train.py)")
        return MindSporeBackend.from_checkpoint(ckpt_file, fallback_model_cfg)
    if kind == "onnxruntime":
        if not onnx_file:
            raise BackendError(
                "--backend onnxruntime needs --onnx_file PATH (export.py " "--file_format ONNX --task all writes one)"
            )
        return OnnxBackend(onnx_file, threads=threads)
    raise BackendError(f"--backend {kind!r} is not valid; choose one of {', '.join(BACKENDS)}")
