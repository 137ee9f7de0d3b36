"""The network registry, the presets and the interface every network declares.

``build_network(model_cfg)`` builds the network that ``model.assignment`` names from the registry
(``@register_network``): ``smartassign`` and ``hard`` (V2) are :class:`SmartAssign`,
``cross_stitch`` is :class:`CrossStitchNet`, ``task_param`` is :class:`TaskParamNet`. Each network
is given only the arguments of its own constructor: ``encoder`` (the keyword arguments of the
shared :class:`Encoder`: the preset's sizes, ``attention``, ``gated_conv``...) and the ``model``
keys it takes itself; keys it has no use for (the DRM's sizes for a strategy without contrast)
are not passed.
"""

import inspect

import mindspore as ms
from mindspore import nn

from ..config import ConfigError
from .encoder import Encoder
from .heads import RecognitionHead

# What a given set of weights computes changes with the revision; checkpoints store it and older
# ones are refused. 1: first release (GELU; a separate LN for the conv branch). 2: SiLU throughout,
# one LN(F_pe) for eq. 7 and 9. 3: the image heads take no F_sam skip (only TKFF-routed knowledge);
# D_re pools by global max; `starter` preset.
# 4: presets lite and default use 2×2 patch tokens (the fidelity study, docs/fidelity.md);
# checkpoints store their preset's sizes. weights/lite.ckpt, trained at revision 3 as the former
# lite (4×4 patches, embed_dim 32), was re-saved at revision 4 with those sizes written out: it
# computes exactly what it did (tests/test_default_weights.py).
NETWORK_REVISION = 4

# The sizes a preset fixes (the paper leaves them open), in this order in PRESETS.
SIZES = ("shallow_dim", "embed_dim", "patch_size", "depth", "num_heads", "window_size", "mlp_ratio", "reduction",
         "drm_grid", "drm_dim")  # fmt: skip
PRESETS = {
    # CPU demo and CI.
    "tiny": dict(zip(SIZES, (16, 48, 4, 2, 2, 8, 2.0, 4, 4, 16))),
    # The CPU preset of the shipped weights: 8 channels at full resolution (projection, SAM, the
    # heads' last conv), which dominates CPU time at photo sizes, and 2×2 patch tokens of 16
    # channels: the fidelity study's choice at the 4×4/32-channel network's GFLOPs (docs/fidelity.md).
    "lite": dict(zip(SIZES, (8, 16, 2, 2, 2, 8, 2.0, 4, 4, 16))),
    # What we publish for Ascend training: 2×2 patch tokens at the GFLOPs of 4×4 tokens of 128
    # channels (the fidelity study: finer tokens win at equal GFLOPs).
    "default": dict(zip(SIZES, (32, 64, 2, 12, 4, 8, 2.0, 4, 4, 32))),
}
# model keys beyond the preset's sizes (each network takes those its constructor names)
SWITCHES = (
    "head_input",
    "head_fullres",
    "gated_conv",
    "recognition",
    "contrast",
    "attention",
    "topk_fractions",
    "cross_stitch_fixed",
)
ATTENTIONS = ("window", "global", "topk")

NETWORKS = {}


def register_network(*names):
    """Class decorator: ``model.assignment`` values that build this network."""

    def add(cls):
        for name in names:
            if name in NETWORKS:
                raise ValueError(f"network {name!r} is registered twice ({NETWORKS[name].__name__}, {cls.__name__})")
            NETWORKS[name] = cls
        return cls

    return add


class RestorationNet(nn.Cell):
    """The interface every network declares once, in its constructor (read by the loss, validation,
    inference and export):

    * ``multiple``: inputs are padded to a multiple of it inside the network;
    * ``recognition``: the outputs include R_re (after R_dr, R_ds);
    * ``contrast``: training outputs end with M_rk, M_ck, M_sk (eq. 17-18);
    * ``fused``: training outputs end with a fused blind image (the loss adds a global term on it);
    * ``blind``: inference outputs end with the blind (``--task auto``) image;
    * ``needs_task``: ``construct(image, task)`` takes the task label in training;
    * ``encoder_cells``: the cells before the task heads (``encoder_parameters``, K1/K2).
    """

    def __init__(self, multiple, recognition, contrast=False, fused=False, blind=False, needs_task=False):
        super().__init__()
        self.multiple = int(multiple)
        self.recognition = bool(recognition)
        self.contrast = bool(contrast)
        self.fused = bool(fused)
        self.blind = bool(blind)
        self.needs_task = bool(needs_task)
        self.encoder_cells = ()  # attribute names of the cells before the task heads (set by each network)

    def encoder_parameters(self):
        """Everything before the task heads (frozen by ``model.freeze_encoder``, K1/K2): the
        parameters of the cells a network names in ``encoder_cells``."""
        return [p for name in self.encoder_cells for p in getattr(self, name).get_parameters()]

    def recognition_parameters(self):
        """The recognition head D_re's parameters: all that ``train.trainable: recognition`` trains
        (D_re reads F_rk, F_sk and feeds no image head, eq. 3, so the restored images stay as they are)."""
        heads = [cell for _, cell in self.cells_and_names() if isinstance(cell, RecognitionHead)]
        return [p for head in heads for p in head.get_parameters()]


def network_config(model_cfg):
    """(assignment, constructor arguments) of a ``model`` config section: the preset's sizes,
    overridden by the section's own values, and the switches the chosen network takes."""
    preset = model_cfg.get("preset", "default")
    if preset not in PRESETS:
        raise ConfigError(f"model.preset={preset!r}; choose one of {', '.join(PRESETS)}")
    assignment = model_cfg.get("assignment") or "smartassign"
    if assignment not in NETWORKS:
        raise ConfigError(f"model.assignment={assignment!r}; choose one of {', '.join(NETWORKS)}")
    attention = model_cfg.get("attention") or "window"
    if attention not in ATTENTIONS:
        raise ConfigError(f"model.attention={attention!r}; choose one of {', '.join(ATTENTIONS)}")
    takes = inspect.signature(NETWORKS[assignment]).parameters
    if model_cfg.get("head_input") not in (None, "both") and "head_input" not in takes:
        raise ConfigError(f"model.head_input={model_cfg['head_input']!r} (K1/K2) needs model.assignment=smartassign")
    if model_cfg.get("head_fullres") and "head_fullres" not in takes:
        raise ConfigError(f"model.head_fullres=true needs model.assignment=smartassign or hard, not {assignment}")
    values = {k: (model_cfg[k] if model_cfg.get(k) is not None else v) for k, v in PRESETS[preset].items()}
    values.update({k: model_cfg[k] for k in SWITCHES if model_cfg.get(k) is not None})
    if attention == "topk" and "topk_fractions" in values:
        values["topk_fractions"] = tuple(float(f) for f in values["topk_fractions"])
    else:
        values.pop("topk_fractions", None)
    if "cross_stitch_fixed" in values:
        values["cross_stitch_fixed"] = bool(values["cross_stitch_fixed"])
    encoder_takes = inspect.signature(Encoder).parameters
    kwargs = {"encoder": {k: v for k, v in values.items() if k in encoder_takes}}
    kwargs.update({k: v for k, v in values.items() if k in takes and k not in encoder_takes})
    if "assignment" in takes:
        kwargs["assignment"] = assignment
    return assignment, kwargs


def stored_model_config(model_cfg):
    """``model_cfg`` with every size of its preset spelled out: what a checkpoint stores, so that its
    weights describe the same network whatever the presets become."""
    cfg = dict(model_cfg)
    for key, value in PRESETS.get(cfg.get("preset", "default"), {}).items():
        if cfg.get(key) is None:
            cfg[key] = value
    return cfg


def resolved_model_config(model_cfg):
    """``model_cfg`` with every value its network is built with filled in (the preset's sizes for
    null keys), as one flat dict of config keys (compared when a run resumes)."""
    _, kwargs = network_config(model_cfg)
    return {**model_cfg, **kwargs.pop("encoder"), **kwargs}


def build_network(model_cfg, seed=None):
    """The network of a ``model`` config section; ``freeze_encoder`` (K1/K2) freezes everything
    before the task heads; ``seed`` makes the initial weights reproducible."""
    assignment, kwargs = network_config(model_cfg)
    if seed is not None:
        ms.set_seed(seed)
    net = NETWORKS[assignment](**kwargs)
    if model_cfg.get("freeze_encoder", False):
        for p in net.encoder_parameters():
            p.requires_grad = False
    return net
