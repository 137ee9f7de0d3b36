"""The JSON that export.py writes beside every exported model (``<model file>.json``): tile size,
batch, outputs, stride, model config. Read here by the ONNX backend, the 310 pipeline and export
itself (no MindSpore import)."""

import json
import os


def sidecar_path(model_path: str) -> str:
    """The JSON written beside a model file: ``<model file>.json``."""
    return str(model_path) + ".json"


def read_sidecar(path: str, error=FileNotFoundError, fix: str = "re-export the model") -> dict:
    """The export JSON, given the JSON itself or the model file beside it; a missing JSON raises
    ``error`` with a one-line message ending in ``fix``."""
    path = str(path)
    json_path = path if path.endswith(".json") else sidecar_path(path)
    if not os.path.isfile(json_path):
        raise error(f"{json_path} not found: export.py writes it beside the model (<model file>.json); {fix}")
    with open(json_path, encoding="utf-8") as fh:
        return json.load(fh)
