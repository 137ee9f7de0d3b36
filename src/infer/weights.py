"""The default checkpoint: the weights shipped with the repository that infer/eval/export use
when no ``--ckpt_file`` is given (``weights/lite.ckpt``: the ``lite`` preset, docs/lite.md).

``infer.py``, ``eval.py`` and ``export.py`` use :data:`DEFAULT_CKPT` when ``--ckpt_file`` is not
given (MindSpore backend only; an ONNX model is always named with ``--onnx_file``). The path is
resolved from this file's location, so it is the same whatever the working directory is.
``weights/lite.json`` beside it records how the weights were trained (config, data, steps)
and what they measured. This module is the one home of both paths; it imports nothing heavy, so
a missing file is reported before MindSpore loads.
"""

from __future__ import annotations

import os
from typing import Optional, Tuple
from ..errors import UsageError

__all__ = ["DEFAULT_CKPT", "DEFAULT_CKPT_INFO", "REPO_ROOT", "MissingWeightsError", "describe", "resolve_ckpt"]

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_CKPT = os.path.join(REPO_ROOT, "weights", "lite.ckpt")
DEFAULT_CKPT_INFO = os.path.splitext(DEFAULT_CKPT)[0] + ".json"  # training record


class MissingWeightsError(UsageError):
    """No --ckpt_file and no default checkpoint on disk; the message is one line."""


def resolve_ckpt(ckpt_file: Optional[str]) -> Tuple[str, bool]:
    """``(checkpoint path, is_default)``: ``ckpt_file`` when given, else :data:`DEFAULT_CKPT`
    (raises :class:`MissingWeightsError` naming the path when that file is absent)."""
    if ckpt_file:
        return ckpt_file, False
    path = DEFAULT_CKPT  # read at call time (tests point it elsewhere)
    if not os.path.isfile(path):
        raise MissingWeightsError(
            f"no --ckpt_file given and the default checkpoint {path} does not "
            "exist: pass --ckpt_file PATH or train one (python train.py)"
        )
    return path, True


def describe(path: str, is_default: bool) -> str:
    """How a run names its checkpoint, e.g. ``checkpoint /repo/weights/lite.ckpt (default
    weights, no --ckpt_file given; see /repo/weights/lite.json)``."""
    if not is_default:
        return f"checkpoint {path}"
    info = os.path.splitext(path)[0] + ".json"
    more = f"; see {info}" if os.path.isfile(info) else ""
    return f"checkpoint {path} (default weights, no --ckpt_file given{more})"
