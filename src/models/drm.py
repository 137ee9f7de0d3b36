"""Dimension Reduction Module: knowledge atoms (channels) → rows of a C×F matrix M for eq. (17)."""

from mindspore import nn, ops


class DRM(nn.Cell):
    """Pool each channel's map to a g×g grid, project g² → F with a small MLP, L2-normalise rows.

    One DRM is shared by F_rk, F_ck and F_sk so that their rows live in the same space.
    The token map's height and width must be multiples of ``grid`` (the model pads to that).
    """

    def __init__(self, grid=4, dim=16):
        super().__init__()
        self.grid = grid
        self.fc1 = nn.Dense(grid * grid, dim)
        self.act = nn.ReLU()
        self.fc2 = nn.Dense(dim, dim)

    def construct(self, feat):
        b, c, h, w = feat.shape
        g = self.grid
        pooled = feat.reshape(b, c, g, h // g, g, w // g).mean(axis=(3, 5)).reshape(b, c, g * g)
        m = self.fc2(self.act(self.fc1(pooled)))
        norm = ops.sqrt((m * m).sum(axis=-1, keepdims=True) + 1e-12)
        return m / norm
