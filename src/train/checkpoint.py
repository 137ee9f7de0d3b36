"""Checkpoints: atomic saving, the model config stored inside, loading with clear reports.

A checkpoint is a MindSpore ``.ckpt`` holding the network weights (names as in ``SmartAssign``),
optionally the optimizer state and loss scale (training checkpoints), and strings appended by
``save``: ``model_config`` (YAML of the ``model`` config section with the preset's sizes spelled
out, so inference needs only the file and a later change of a preset does not change it),
``meta`` (JSON: step, epoch, and whatever the trainer needs to resume) and ``network_revision``
(``NETWORK_REVISION``; a checkpoint of another revision is refused, since its weights would
compute something else).
"""

import json
import os

import mindspore as ms
import yaml

from ..models import NETWORK_REVISION, build_network, stored_model_config
from ..errors import SmartAssignError

KNOWN_PREFIXES = ("network.", "_backbone.", "backbone.", "net.")
TRAINING_STATE = ("moment1", "moment2")  # Adam moments in train-step checkpoints (scalars have no ".")


class CheckpointError(SmartAssignError, RuntimeError):
    """A checkpoint that cannot be read, resumed or used as asked; the message names the file."""


def save(cell, path, model_cfg=None, meta=None):
    """Write ``cell``'s parameters to ``path`` atomically (temporary file + rename)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    extra = {"network_revision": str(NETWORK_REVISION)}
    if model_cfg is not None:
        extra["model_config"] = yaml.safe_dump(stored_model_config(model_cfg), sort_keys=True)
    if meta is not None:
        extra["meta"] = json.dumps(meta, sort_keys=True)
    head, tail = os.path.split(os.path.abspath(path))
    tmp = os.path.join(head, f".{tail}.tmp-{os.getpid()}.ckpt")  # save_checkpoint wants .ckpt
    try:
        ms.save_checkpoint(cell, tmp, append_dict=extra or None)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def read(path):
    """(parameter dict, model config dict or None, meta dict)."""
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint not found: {path} (check --ckpt_file / --resume)")
    try:
        params = ms.load_checkpoint(path)
    except Exception as exc:  # MindSpore raises ValueError/RuntimeError for corrupt files
        raise CheckpointError(f"{path}: not a readable MindSpore checkpoint ({exc})") from exc
    model_cfg = params.pop("model_config", None)
    meta = params.pop("meta", None)
    revision = params.pop("network_revision", None)
    to_str = lambda v: v if isinstance(v, str) else str(v.asnumpy()) if hasattr(v, "asnumpy") else str(v)  # noqa: E731
    revision = int(to_str(revision)) if revision is not None else 1
    if revision != NETWORK_REVISION:
        raise CheckpointError(
            f"{path}: saved by network revision {revision}, this code is revision "
            f"{NETWORK_REVISION} (see NETWORK_REVISION in src/models/registry.py); "
            "its weights would compute something else: retrain, or use the release "
            "that wrote it"
        )
    model_cfg = yaml.safe_load(to_str(model_cfg)) if model_cfg is not None else None
    meta = json.loads(to_str(meta)) if meta is not None else {}
    return params, model_cfg, meta


def load_weights(net, params, strict=True, source="checkpoint", ignored=None):
    """Load network weights from a parameter dict, stripping known wrapper prefixes.

    Optimizer moments and other training state in the dict are ignored. With ``strict``, any
    network parameter missing from the dict (or of another shape), and any weight of the network's
    modules that the network does not have, raises with the names; otherwise those keep their
    initial values (or are dropped) and the names of the parameters left initial are returned.
    ``ignored`` (a list), when given, receives the names of the dict's network weights that the
    network does not have at all (e.g. a V6 checkpoint's DRM loaded into a network without one).
    """
    wanted = {p.name: p for p in net.get_parameters()}
    modules = {n.split(".")[0] for n in wanted}
    picked, unexpected = {}, []
    for name, value in params.items():
        key = name
        for prefix in KNOWN_PREFIXES:
            if key not in wanted and key.startswith(prefix):
                key = key[len(prefix) :]
        if key in wanted:
            picked[key] = value
        elif key.split(".")[0] in modules:  # not an optimizer moment or training state
            unexpected.append(key)
        elif ignored is not None and "." in key and key.split(".")[0] not in TRAINING_STATE:
            ignored.append(key)
    if ignored is not None:
        ignored.extend(unexpected)
        ignored.sort()
    missing = sorted(set(wanted) - set(picked))
    bad_shape = sorted(k for k, v in picked.items() if tuple(v.shape) != tuple(wanted[k].shape))
    if strict and (missing or bad_shape or unexpected):
        detail = []
        if missing:
            detail.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            detail.append(f"{len(unexpected)} not in the network (e.g. {', '.join(sorted(unexpected)[:3])})")
        if bad_shape:
            detail.append(f"{len(bad_shape)} with another shape (e.g. {', '.join(bad_shape[:3])})")
        raise CheckpointError(
            f"{source} does not match the network: "
            + "; ".join(detail)
            + ". Check the model config (preset and switches) or load non-strictly."
        )
    for key in bad_shape:
        picked.pop(key)
    ms.load_param_into_net(
        net,
        {k: ms.Parameter(v, name=k) if not isinstance(v, ms.Parameter) else v for k, v in picked.items()},
        strict_load=False,
    )
    return sorted(missing + bad_shape)


def load_model(path, overrides=None, strict=True):
    """Build the network described inside a checkpoint (plus ``overrides``) and load its weights.

    Returns (net, model_cfg, meta)."""
    params, model_cfg, meta = read(path)
    if model_cfg is None and not overrides:
        raise CheckpointError(f"{path} has no stored model config; pass the config (e.g. --config_path)")
    cfg = dict(model_cfg or {})
    cfg.update(overrides or {})
    net = build_network(cfg)
    load_weights(net, params, strict=strict, source=path)
    return net, cfg, meta
