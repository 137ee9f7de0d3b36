"""SmartAssign (Fig. 2): encoder → GKFM_rk/ck/sk → TKFF → D_dr, D_ds, D_re; DRM for the contrast.

Presets (``registry.PRESETS``) fix the sizes the paper leaves open; ablations are constructor
switches (see ``registry.build_network`` and ``configs/``), never copies of the network.
"""

from ..config import ConfigError
from .drm import DRM
from .encoder import Encoder
from .gkfm import GKFM
from .heads import TKFF
from .layers import crop_to, pad_to_multiple
from .registry import RestorationNet, register_network

HEAD_INPUTS = ("both", "common", "unique")


@register_network("smartassign", "hard")
class SmartAssign(RestorationNet):
    """The SmartAssign network.

    Output in training mode: (R_dr, R_ds[, R_re][, M_rk, M_ck, M_sk]); in inference mode
    (``set_train(False)``): (R_dr, R_ds[, R_re]). R_re is present unless ``recognition=False``
    (V5); the M matrices are present when the contrast is on (not V1, not V2).
    Any H×W works: the input is padded to a multiple of patch_size·window_size and cropped back.
    ``assignment="hard"`` is V2: no GKFM, every head reads F_wk (and no contrast).
    ``head_fullres``: each image head adds its own full-resolution path (``heads.ImageHead``).
    """

    def __init__(
        self,
        encoder,
        drm_grid,
        drm_dim,
        assignment="smartassign",
        head_input="both",
        recognition=True,
        contrast=True,
        head_fullres=False,
    ):
        """``encoder``: the keyword arguments of :class:`Encoder` (sizes, attention, gated conv)."""
        if assignment not in ("smartassign", "hard"):
            raise ConfigError(f"model.assignment={assignment!r}: SmartAssign takes smartassign or hard")
        if head_input not in HEAD_INPUTS:
            raise ConfigError(f"model.head_input={head_input!r}; choose one of {', '.join(HEAD_INPUTS)}")
        if assignment == "hard" and head_input != "both":
            raise ConfigError("model.head_input (K1/K2) needs model.assignment=smartassign")
        shallow_dim, embed_dim, patch_size = encoder["shallow_dim"], encoder["embed_dim"], encoder["patch_size"]
        window_size, reduction = encoder["window_size"], encoder["reduction"]
        if window_size % drm_grid:
            raise ConfigError(f"model.drm_grid={drm_grid} must divide model.window_size={window_size}")
        smart = assignment == "smartassign"
        super().__init__(patch_size * window_size, recognition, contrast=contrast and smart)
        self.smart = smart
        self.encoder = Encoder(**encoder)
        if self.smart:
            self.gkfm_rk = GKFM(embed_dim, reduction)
            self.gkfm_ck = GKFM(embed_dim, reduction)
            self.gkfm_sk = GKFM(embed_dim, reduction)
        self.encoder_cells = ("encoder", "gkfm_rk", "gkfm_ck", "gkfm_sk") if self.smart else ("encoder",)
        route = (
            "hard" if not self.smart else {"both": "smartassign", "common": "common", "unique": "unique"}[head_input]
        )
        self.tkff = TKFF(route, embed_dim, shallow_dim, patch_size, recognition, head_fullres)
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
