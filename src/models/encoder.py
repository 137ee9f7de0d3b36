"""Backbone encoder E(·), eq. (4)-(6): F_p = Conv(I); F_sam = SAM(F_p); F_wk = GLSF-ViT_N(F_pe)."""

from mindspore import nn

from .glsf_vit import TOPK_FRACTIONS, GLSFViT
from .layers import conv3x3
from .sam import SAM


class Encoder(nn.Cell):
    """Returns (F_wk as an N×C×h×w token map, F_sam at full resolution; SmartAssign uses only F_wk,
    a cross-stitch branch feeds its own F_sam to its own head)."""

    def __init__(
        self,
        shallow_dim,
        embed_dim,
        patch_size,
        depth,
        num_heads,
        window_size,
        mlp_ratio,
        reduction,
        attention="window",
        gated_conv=True,
        topk_fractions=TOPK_FRACTIONS,
    ):
        super().__init__()
        self.project = conv3x3(3, shallow_dim)  # (4)
        self.sam = SAM(shallow_dim)  # (5)
        self.patch_embed = nn.Conv2d(
            shallow_dim, embed_dim, patch_size, stride=patch_size, pad_mode="valid", has_bias=True
        )  # F_pe
        self.blocks = nn.CellList(
            [
                GLSFViT(
                    embed_dim,
                    num_heads,
                    window_size,
                    mlp_ratio,
                    shift=(window_size // 2 if i % 2 else 0),
                    attention=attention,
                    gated_conv=gated_conv,
                    reduction=reduction,
                    topk_fractions=topk_fractions,
                )
                for i in range(depth)
            ]
        )  # (6)

    def embed(self, image):
        """(F_pe as NHWC tokens, F_sam): everything before the GLSF-ViT blocks."""
        f_sam = self.sam(self.project(image))
        return self.patch_embed(f_sam).transpose(0, 2, 3, 1), f_sam

    def construct(self, image):
        x, f_sam = self.embed(image)  # NHWC tokens
        for block in self.blocks:
            x = block(x)
        return x.transpose(0, 3, 1, 2), f_sam
