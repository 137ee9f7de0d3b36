"""Task heads and the TKFF routing, eq. (3) and (12).

TKFF (eq. 3) is not a layer but a routing rule: F_rk and F_ck feed the deraining head D_dr,
F_sk and F_ck feed the desnowing head D_ds, F_rk and F_sk feed the recognition head D_re.
Because D_dr never sees F_sk, a deraining loss can only shape GKFM_rk, GKFM_ck and the encoder.
Nothing shared reaches a head past this routing: the heads take no skip from the encoder (its
full-resolution F_sam would carry shared knowledge around GKFM/TKFF and void K1/K2).
"""

from mindspore import nn, ops

from ..config import ConfigError

from .layers import conv1x1, conv3x3


class ImageHead(nn.Cell):
    """R = I + Conv₃(features): 3×3 fuse, 1×1 + pixel shuffle back to full resolution, 3×3 to RGB;
    the head predicts a residual. ``skip`` (a full-resolution map of ``shallow_dim`` channels) is
    added before the last conv only where it is task-specific (a cross-stitch branch's own F_sam).

    ``fullres``: the head's own full-resolution path. It sees the input image through its own 3×3
    conv and refines [its upsampled knowledge, that view] with two 3×3 convs before the output conv.
    Everything in it belongs to this head, so no shared feature passes GKFM/TKFF (K1/K2 stay exact)."""

    def __init__(self, in_dim, embed_dim, shallow_dim, patch_size, fullres=False):
        super().__init__()
        self.fuse = conv3x3(in_dim, embed_dim)
        self.act = nn.SiLU()
        self.up = conv1x1(embed_dim, shallow_dim * patch_size * patch_size)
        self.shuffle = nn.PixelShuffle(patch_size)
        self.fullres = bool(fullres)
        if self.fullres:
            self.view = conv3x3(3, shallow_dim)
            self.refine = nn.SequentialCell(
                conv3x3(2 * shallow_dim, shallow_dim), nn.SiLU(), conv3x3(shallow_dim, shallow_dim), nn.SiLU()
            )
        self.out = conv3x3(shallow_dim, 3)

    def construct(self, feats, image, skip=None):
        y = self.shuffle(self.up(self.act(self.fuse(feats))))
        if skip is not None:
            y = y + skip
        if self.fullres:
            y = self.refine(ops.cat((y, self.view(image)), 1))
        return image + self.out(y)


class RecognitionHead(nn.Cell):
    """R_re = FC(Pool(Conv₃(F_rk, F_sk))): two scores, (rain, snow).

    Pool is a global *max* over the token map: whether a weather pattern occurs anywhere. With a
    global mean the head stayed at the constant 0.5/0.5 answer on varied photos (the mean of each
    feature is dominated by image content), see docs/design.md "Recognition head"."""

    def __init__(self, in_dim, embed_dim, num_classes=2):
        super().__init__()
        self.body = nn.SequentialCell(
            conv3x3(in_dim, embed_dim),
            nn.SiLU(),
            conv3x3(embed_dim, embed_dim),
            nn.SiLU(),
            conv3x3(embed_dim, embed_dim),
        )
        self.fc = nn.Dense(embed_dim, num_classes)

    def construct(self, feats):
        return self.fc(self.body(feats).max(axis=(2, 3)))


KNOWLEDGE = ("wk", "rk", "ck", "sk")
ROUTES = {
    # name: (D_dr inputs, D_ds inputs, D_re inputs) as names of knowledge tensors
    "smartassign": (("rk", "ck"), ("sk", "ck"), ("rk", "sk")),  # eq. (3), V6
    "hard": (("wk",), ("wk",), ("wk",)),  # V2: conventional MTL
    "common": (("ck",), ("ck",), ("rk", "sk")),  # K1: heads read only F_ck
    "unique": (("rk",), ("sk",), ("rk", "sk")),  # K2: heads read only F_rk / F_sk
}


class TKFF(nn.Cell):
    """Routes knowledge to D_dr, D_ds and D_re according to one of ``ROUTES``."""

    def __init__(self, route, embed_dim, shallow_dim, patch_size, recognition=True, fullres=False):
        super().__init__()
        if route not in ROUTES:
            raise ConfigError(f"unknown TKFF route {route!r}; choose one of {', '.join(ROUTES)}")
        self.route = ROUTES[route]
        self.index = tuple(tuple(KNOWLEDGE.index(n) for n in names) for names in self.route)
        dr, ds, re = self.route
        self.head_dr = ImageHead(len(dr) * embed_dim, embed_dim, shallow_dim, patch_size, fullres)
        self.head_ds = ImageHead(len(ds) * embed_dim, embed_dim, shallow_dim, patch_size, fullres)
        self.recognition = recognition
        if recognition:
            self.head_re = RecognitionHead(len(re) * embed_dim, embed_dim)

    @staticmethod
    def _gather(knowledge, idx):
        if len(idx) == 1:
            return knowledge[idx[0]]
        return ops.cat(tuple(knowledge[i] for i in idx), 1)

    def construct(self, knowledge, image):
        """knowledge: (F_wk, F_rk, F_ck, F_sk), N×C×h×w maps; image: the padded input I.
        Returns (R_dr, R_ds, R_re or None)."""
        dr, ds, re = self.index
        r_dr = self.head_dr(self._gather(knowledge, dr), image)
        r_ds = self.head_ds(self._gather(knowledge, ds), image)
        r_re = self.head_re(self._gather(knowledge, re)) if self.recognition else None
        return r_dr, r_ds, r_re
