"""SmartAssign (Fig. 2): encoder → GKFM_rk/ck/sk → TKFF → D_dr, D_ds, D_re; DRM for the contrast.

Presets fix the sizes the paper leaves open; ablations and knowledge-assignment strategies are
constructor switches (see ``build_model`` and ``configs/``), never copies of the network.
"""
import mindspore as ms
from mindspore import nn

from .cross_stitch import CrossStitchNet
from .drm import DRM
from .encoder import Encoder
from .gkfm import GKFM
from .glsf_vit import TOPK_FRACTIONS
from .heads import TKFF
from .layers import crop_to, pad_to_multiple
from .task_param import TaskParamNet

# What a given set of weights computes changes with the revision; checkpoints store it and older
# ones are refused. 1: first release (GELU; a separate LN for the conv branch). 2: SiLU throughout,
# one LN(F_pe) for eq. 7 and 9. 3: the image heads take no F_sam skip (only TKFF-routed knowledge); D_re pools
# by global max; `starter` preset.
NETWORK_REVISION = 3

PRESETS = {
    # CPU demo and CI.
    "tiny": dict(shallow_dim=16, embed_dim=48, patch_size=4, depth=2, num_heads=2, window_size=8,
                 mlp_ratio=2.0, reduction=4, drm_grid=4, drm_dim=16),
    # The shipped starter weights: tiny with a narrower full-resolution stage (projection, SAM and
    # the heads' last conv at 8 channels), which dominates CPU time at photo sizes.
    "starter": dict(shallow_dim=8, embed_dim=48, patch_size=4, depth=2, num_heads=2, window_size=8,
                    mlp_ratio=2.0, reduction=4, drm_grid=4, drm_dim=16),
    # What we publish for Ascend training.
    "default": dict(shallow_dim=32, embed_dim=128, patch_size=4, depth=12, num_heads=4, window_size=8,
                    mlp_ratio=2.0, reduction=4, drm_grid=4, drm_dim=32),
}
# Knowledge-assignment strategies (docs/design.md, "Strategies"): smartassign (GKFM + TKFF), hard (V2: every head
# reads F_wk), cross_stitch (CMUDRN: two stitched encoders + fusion head, CrossStitchNet) and
# task_param (Decouple Learning: decoder convs generated from a task parameter, TaskParamNet).
ASSIGNMENTS = ("smartassign", "hard", "cross_stitch", "task_param")
HEAD_INPUTS = ("both", "common", "unique")
ATTENTIONS = ("window", "global", "topk")


class SmartAssign(nn.Cell):
    """The SmartAssign network.

    Output in training mode: (R_dr, R_ds[, R_re][, M_rk, M_ck, M_sk]); in inference mode
    (``set_train(False)``): (R_dr, R_ds[, R_re]). R_re is present unless ``recognition=False``
    (V5); the M matrices are present when the contrast is on (not V1, not V2).
    Any H×W works: the input is padded to a multiple of patch_size·window_size and cropped back.
    Strategy cells (``CrossStitchNet``, ``TaskParamNet``) share this interface and these flags:
    ``fused`` (training outputs end with a fused image for the loss), ``blind`` (inference outputs
    end with the blind image for ``--task auto``), ``needs_task`` (construct takes the label).
    """

    fused = False
    blind = False
    needs_task = False

    def __init__(self, shallow_dim, embed_dim, patch_size, depth, num_heads, window_size, mlp_ratio,
                 reduction, drm_grid, drm_dim, assignment="smartassign", head_input="both",
                 gated_conv=True, recognition=True, contrast=True, attention="window",
                 topk_fractions=TOPK_FRACTIONS):
        super().__init__()
        if assignment not in ("smartassign", "hard"):
            raise ValueError(f"model.assignment={assignment!r}: SmartAssign takes smartassign or hard; "
                             "build the other strategies with build_model")
        if head_input not in HEAD_INPUTS:
            raise ValueError(f"model.head_input={head_input!r}; choose one of {', '.join(HEAD_INPUTS)}")
        if attention not in ATTENTIONS:
            raise ValueError(f"model.attention={attention!r}; choose one of {', '.join(ATTENTIONS)}")
        if assignment == "hard" and head_input != "both":
            raise ValueError("model.head_input (K1/K2) needs model.assignment=smartassign")
        if window_size % drm_grid:
            raise ValueError(f"model.drm_grid={drm_grid} must divide model.window_size={window_size}")
        self.multiple = patch_size * window_size
        self.smart = assignment == "smartassign"
        self.recognition = recognition
        self.contrast = contrast and self.smart
        self.encoder = Encoder(shallow_dim, embed_dim, patch_size, depth, num_heads, window_size,
                               mlp_ratio, reduction, attention, gated_conv, topk_fractions)
        if self.smart:
            self.gkfm_rk = GKFM(embed_dim, reduction)
            self.gkfm_ck = GKFM(embed_dim, reduction)
            self.gkfm_sk = GKFM(embed_dim, reduction)
        route = "hard" if not self.smart else {"both": "smartassign", "common": "common",
                                               "unique": "unique"}[head_input]
        self.tkff = TKFF(route, embed_dim, shallow_dim, patch_size, recognition)
        if self.contrast:
            self.drm = DRM(drm_grid, drm_dim)

    def knowledge(self, image):
        """(F_wk, F_rk, F_ck, F_sk) for a padded image; without GKFM, F_rk = F_ck = F_sk = F_wk."""
        f_wk, _ = self.encoder(image)
        if self.smart:
            return f_wk, self.gkfm_rk(f_wk), self.gkfm_ck(f_wk), self.gkfm_sk(f_wk)
        return f_wk, f_wk, f_wk, f_wk

    def construct(self, image):
        h, w = image.shape[2], image.shape[3]
        x = pad_to_multiple(image, self.multiple)
        f_wk, f_rk, f_ck, f_sk = self.knowledge(x)
        r_dr, r_ds, r_re = self.tkff((f_wk, f_rk, f_ck, f_sk), x)
        out = (crop_to(r_dr, h, w), crop_to(r_ds, h, w))
        if self.recognition:
            out = out + (r_re,)
        if self.training and self.contrast:
            out = out + (self.drm(f_rk), self.drm(f_ck), self.drm(f_sk))
        return out

    def encoder_parameters(self):
        """Everything before TKFF: the encoder and the three GKFMs (frozen by K1/K2)."""
        params = list(self.encoder.get_parameters())
        if self.smart:
            for m in (self.gkfm_rk, self.gkfm_ck, self.gkfm_sk):
                params += list(m.get_parameters())
        return params


def model_kwargs(model_cfg):
    """Resolve a ``model`` config section into SmartAssign constructor arguments."""
    preset = model_cfg.get("preset", "default")
    if preset not in PRESETS:
        raise ValueError(f"model.preset={preset!r}; choose one of {', '.join(PRESETS)}")
    kwargs = dict(PRESETS[preset])
    for key in kwargs:
        if model_cfg.get(key) is not None:
            kwargs[key] = model_cfg[key]
    for key in ("assignment", "head_input", "gated_conv", "recognition", "contrast", "attention"):
        if key in model_cfg and model_cfg[key] is not None:
            kwargs[key] = model_cfg[key]
    assignment = kwargs.get("assignment", "smartassign")
    if assignment not in ASSIGNMENTS:
        raise ValueError(f"model.assignment={assignment!r}; choose one of {', '.join(ASSIGNMENTS)}")
    attention = kwargs.get("attention", "window")
    if attention not in ATTENTIONS:
        raise ValueError(f"model.attention={attention!r}; choose one of {', '.join(ATTENTIONS)}")
    if attention == "topk" and model_cfg.get("topk_fractions") is not None:
        kwargs["topk_fractions"] = tuple(float(f) for f in model_cfg["topk_fractions"])
    if assignment == "cross_stitch" and model_cfg.get("cross_stitch_fixed") is not None:
        kwargs["cross_stitch_fixed"] = bool(model_cfg["cross_stitch_fixed"])
    return kwargs


NETWORKS = {"smartassign": SmartAssign, "hard": SmartAssign, "cross_stitch": CrossStitchNet,
            "task_param": TaskParamNet}


def build_model(model_cfg, seed=None):
    """Build the network of a ``model`` config section (``model.assignment`` picks SmartAssign,
    CrossStitchNet or TaskParamNet); ``freeze_encoder`` (K1/K2) freezes everything before TKFF.
    ``seed`` makes the initial weights reproducible."""
    if seed is not None:
        ms.set_seed(seed)
    kwargs = model_kwargs(model_cfg)
    net = NETWORKS[kwargs.get("assignment", "smartassign")](**kwargs)
    if model_cfg.get("freeze_encoder", False):
        for p in net.encoder_parameters():
            p.requires_grad = False
    return net
