"""Gated Knowledge Filtering Module, eq. (11): F_gkfm = Conv₂(F_wk ⊙ Gate(FC₂(Pool(F_wk))))."""

from mindspore import nn

from .layers import ChannelGate, conv3x3


class GKFM(nn.Cell):
    """Selects knowledge atoms (channels) of F_wk with a SiLU gate, then refines them with two convs.

    Three instances give F_rk (rain-only), F_ck (common) and F_sk (snow-only), eq. (2).
    """

    def __init__(self, channels, reduction=4):
        super().__init__()
        self.gate = ChannelGate(channels, reduction)
        self.refine = nn.SequentialCell(conv3x3(channels, channels), nn.SiLU(), conv3x3(channels, channels))

    def gate_values(self, f_wk):
        """Per-channel gate values (N×C×1×1): which knowledge atoms this module keeps."""
        return self.gate.gate_values(f_wk)

    def construct(self, f_wk):
        return self.refine(self.gate(f_wk))
