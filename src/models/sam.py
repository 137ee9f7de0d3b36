"""Spatial Attention Module, eq. (5): F_sam = σ(Conv₃(F_p)) ⊙ F_p."""

from mindspore import nn

from .layers import conv3x3


class SAM(nn.Cell):
    """Three 3×3 convolutions produce a one-channel spatial map that re-weights every pixel of F_p."""

    def __init__(self, channels):
        super().__init__()
        self.body = nn.SequentialCell(
            conv3x3(channels, channels), nn.ReLU(), conv3x3(channels, channels), nn.ReLU(), conv3x3(channels, 1)
        )
        self.sigmoid = nn.Sigmoid()

    def attention(self, f_p):
        """σ(Conv₃(F_p)), shape N×1×H×W."""
        return self.sigmoid(self.body(f_p))

    def construct(self, f_p):
        return self.attention(f_p) * f_p
