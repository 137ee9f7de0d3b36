"""Cross-stitch soft sharing (CMUDRN, seed 004) as a knowledge-assignment strategy.

Two task branches, each an encoder of the same preset (projection + SAM + patch embedding + N
GLSF-ViT blocks), are joined after every GLSF-ViT block by a cross-stitch unit

    [x̃_r; x̃_s] = [[α_rr, α_rs], [α_sr, α_ss]] · [x_r; x_s]

with α learned per channel (initialised 0.9 on the diagonal, 0.1 off it; ``fixed=True`` freezes
them). The rain branch feeds the derain head, the snow branch the desnow head; the recognition
head (if on) reads both branches; a small fusion head merges both restored images with the input
into one blind output R_fu = (R_dr + R_ds)/2 + Conv₂([I, R_dr, R_ds]).

Outputs (training and inference alike): (R_dr, R_ds[, R_re], R_fu). ``fused = True`` tells
``SmartAssignLoss`` to add the global term on R_fu; ``blind = True`` tells the inference code
that the last output is the blind (``--task auto``) image.
"""

import numpy as np
import mindspore as ms
from mindspore import nn, ops

from .encoder import Encoder
from .heads import ImageHead, RecognitionHead
from .layers import conv3x3, crop_to, pad_to_multiple
from .registry import RestorationNet, register_network


class CrossStitchUnit(nn.Cell):
    """α (4, C): rows α_rr, α_rs, α_sr, α_ss, one value per channel, on NHWC token maps."""

    def __init__(self, channels, diag=0.9, off=0.1, fixed=False):
        super().__init__()
        alpha = np.empty((4, channels), np.float32)
        alpha[0] = alpha[3] = diag
        alpha[1] = alpha[2] = off
        self.alpha = ms.Parameter(ms.Tensor(alpha), name="alpha", requires_grad=not fixed)

    def construct(self, x_r, x_s):
        a = self.alpha
        return a[0] * x_r + a[1] * x_s, a[2] * x_r + a[3] * x_s


class FusionHead(nn.Cell):
    """R_fu = (R_dr + R_ds)/2 + Conv₃ₓ₃(SiLU(Conv₃ₓ₃([I, R_dr, R_ds]))): the blind output."""

    def __init__(self, hidden):
        super().__init__()
        self.body = nn.SequentialCell(conv3x3(9, hidden), nn.SiLU(), conv3x3(hidden, 3))

    def construct(self, image, r_dr, r_ds):
        return 0.5 * (r_dr + r_ds) + self.body(ops.cat((image, r_dr, r_ds), 1))


@register_network("cross_stitch")
class CrossStitchNet(RestorationNet):
    """Two stitched encoders → D_dr (rain branch), D_ds (snow branch), D_re (both), fusion.
    No GKFM, so no knowledge contrast; the training and inference outputs end with R_fu."""

    def __init__(self, encoder, recognition=True, cross_stitch_fixed=False):
        """``encoder``: the keyword arguments of :class:`Encoder`, one per branch."""
        shallow_dim, embed_dim, patch_size = encoder["shallow_dim"], encoder["embed_dim"], encoder["patch_size"]
        depth = encoder["depth"]
        super().__init__(patch_size * encoder["window_size"], recognition, fused=True, blind=True)
        self.depth = depth
        self.encoder_r = Encoder(**encoder)
        self.encoder_s = Encoder(**encoder)
        self.encoder_cells = ("encoder_r", "encoder_s", "stitch")
        self.stitch = nn.CellList([CrossStitchUnit(embed_dim, fixed=cross_stitch_fixed) for _ in range(depth)])
        self.head_dr = ImageHead(embed_dim, embed_dim, shallow_dim, patch_size)
        self.head_ds = ImageHead(embed_dim, embed_dim, shallow_dim, patch_size)
        if recognition:
            self.head_re = RecognitionHead(2 * embed_dim, embed_dim)
        self.fusion = FusionHead(shallow_dim)

    def branches(self, x):
        """(F_r, F_s) as N×C×h×w token maps and (F_sam_r, F_sam_s) for a padded image."""
        x_r, sam_r = self.encoder_r.embed(x)
        x_s, sam_s = self.encoder_s.embed(x)
        for i in range(self.depth):
            x_r = self.encoder_r.blocks[i](x_r)
            x_s = self.encoder_s.blocks[i](x_s)
            x_r, x_s = self.stitch[i](x_r, x_s)
        return x_r.transpose(0, 3, 1, 2), x_s.transpose(0, 3, 1, 2), sam_r, sam_s

    def construct(self, image):
        h, w = image.shape[2], image.shape[3]
        x = pad_to_multiple(image, self.multiple)
        f_r, f_s, sam_r, sam_s = self.branches(x)
        r_dr = self.head_dr(f_r, x, sam_r)
        r_ds = self.head_ds(f_s, x, sam_s)
        r_fu = self.fusion(x, r_dr, r_ds)
        out = (crop_to(r_dr, h, w), crop_to(r_ds, h, w))
        if self.recognition:
            out = out + (self.head_re(ops.cat((f_r, f_s), 1)),)
        return out + (crop_to(r_fu, h, w),)
