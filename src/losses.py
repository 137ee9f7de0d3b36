"""The losses of §3.3, eq. (13)-(19). All terms are means over pixels and batch.

Each image loss uses the head of the sample's own task (rain → R_dr, snow → R_ds) through a
per-sample mask, so one batch may hold both tasks; the label (src/data/labels.py) says the task and
whether the sample shows weather at all.
"""

import numpy as np
import mindspore as ms
from mindspore import nn, ops

from .data.labels import RAIN, shows_weather, task_of

# The five derivative filters of the Levin–Weiss sparse prior, in 3×3 form (centre = pixel m):
# d/dx, d/dy, d²/dx², d²/dy², d²/dxdy.
SPARSITY_FILTERS = np.array(
    [
        [[0, 0, 0], [0, -1, 1], [0, 0, 0]],
        [[0, 0, 0], [0, -1, 0], [0, 1, 0]],
        [[0, 0, 0], [1, -2, 1], [0, 0, 0]],
        [[0, 1, 0], [0, -2, 0], [0, 1, 0]],
        [[0, 0, 0], [0, 1, -1], [0, -1, 1]],
    ],
    np.float32,
)


def charbonnier(r, g, eps=1e-3):
    """Eq. (13): mean(sqrt((R − G)² + ε²))."""
    return ops.sqrt((r - g) ** 2 + eps * eps).mean()


def gradient_loss(r, g):
    """Eq. (14): MSE between forward differences of R and G, horizontal plus vertical."""
    dx = (r[:, :, :, 1:] - r[:, :, :, :-1]) - (g[:, :, :, 1:] - g[:, :, :, :-1])
    dy = (r[:, :, 1:, :] - r[:, :, :-1, :]) - (g[:, :, 1:, :] - g[:, :, :-1, :])
    return (dx * dx).mean() + (dy * dy).mean()


def _filter_l1(x, filters):
    """mean |w_k * x| over pixels, channels, batch and the filters ('valid' correlation per channel)."""
    b, c, h, w = x.shape
    resp = ops.conv2d(x.reshape(b * c, 1, h, w), filters, pad_mode="valid")
    return ops.abs(resp).mean()


def quasi_sparsity(r, image, filters):
    """Eq. (15), mean-normalised: (1/5)Σ_k [mean|w_k * R| + mean|w_k * (I − R)|]."""
    return _filter_l1(r, filters) + _filter_l1(image - r, filters)


def recognition_loss(r_re, onehot, weight=None):
    """Eq. (16): MSE between R_re and the one-hot label (rain = [1, 0], snow = [0, 1]).
    ``weight`` (N,) of 0/1 leaves samples out: the mean is then over the samples with weight 1
    (0 when there are none)."""
    d = r_re - onehot
    if weight is None:
        return (d * d).mean()
    per_sample = (d * d).mean(axis=1)
    return (per_sample * weight).sum() / ops.maximum(weight.sum(), ops.ones((), weight.dtype))


def _distance(a, b):
    """D = 1 − cos between the rows of a and b (rows are unit vectors): N×C×C."""
    return 1.0 - ops.BatchMatMul(transpose_b=True)(a, b)


def contrast_loss(m_rk, m_ck, m_sk, margin=0.1):
    """Eq. (17)-(18) with distances instead of similarities and a margin m (docs/design.md, "Contrast"):
    Z = ⅓((D_rr+m)/(D_rc+D_rs+m) + (D_cc+m)/(D_cr+D_cs+m) + (D_ss+m)/(D_sr+D_sc+m)),  L = mean(Z).
    Minimising it pulls atoms of one kind together and pushes the kinds apart. The margin makes
    collapse (every row equal, all D = 0) score 1, strictly worse than separation (→ m/(2+m))."""
    d_rr, d_cc, d_ss = _distance(m_rk, m_rk), _distance(m_ck, m_ck), _distance(m_sk, m_sk)
    d_rc, d_rs, d_cs = _distance(m_rk, m_ck), _distance(m_rk, m_sk), _distance(m_ck, m_sk)
    d_cr, d_sr, d_sc = d_rc.swapaxes(1, 2), d_rs.swapaxes(1, 2), d_cs.swapaxes(1, 2)
    z = (
        (d_rr + margin) / (d_rc + d_rs + margin)
        + (d_cc + margin) / (d_cr + d_cs + margin)
        + (d_ss + margin) / (d_sr + d_sc + margin)
    ) / 3.0
    return z.mean()


def knowledge_distances(m_rk, m_ck, m_sk):
    """(mean same-kind, mean cross-kind) cosine distance between rows of M (same-kind pairs i ≠ j):
    the training log's check that the knowledge atoms have not collapsed (both would be 0)."""
    c = m_rk.shape[1]
    same = _distance(m_rk, m_rk).sum() + _distance(m_ck, m_ck).sum() + _distance(m_sk, m_sk).sum()
    same = same / (3.0 * m_rk.shape[0] * c * (c - 1))
    cross = (_distance(m_rk, m_ck).mean() + _distance(m_rk, m_sk).mean() + _distance(m_ck, m_sk).mean()) / 3.0
    return same, cross


def core_network(network):
    """The network itself under mixed-precision wrappers (``amp.custom_mixed_precision`` returns an
    ``_OutputTo32`` cell holding it as ``_backbone``): where the interface flags live."""
    while not hasattr(network, "recognition") and hasattr(network, "_backbone"):
        network = network._backbone
    return network


class SmartAssignLoss(nn.Cell):
    """Network + eq. (19): returns (total, L_char, L_grad, L_sparsity, L_recog, L_contra, d_same,
    d_cross[, L_fused]); d_same/d_cross are the mean same-kind and cross-kind distances of the rows
    of M (logged, not trained). Terms switched off by the model (V5 no recognition; V1/V2 no
    contrast) are returned as 0. L_recog leaves out clean crops (labels with ``NO_WEATHER``: they show
    no weather to recognise), which still train their task's head to leave the photo unchanged.
    Strategy networks (docs/design.md, "Strategies") add, through flags on the network:

    * ``network.fused`` (cross-stitch): the training outputs end with a fused blind image; the
      global term L_fused = L_char + L_grad of it on *every* sample is appended (weight
      ``lambda_fused``), and ``self.terms`` = ``TERMS + ("fused",)``. ``TERMS`` itself never changes.
    * ``network.needs_task`` (task-parameterised): the network is called as ``network(image, task)``.
    """

    TERMS = ("total", "char", "grad", "sparsity", "recog", "contra", "d_same", "d_cross")
    EXTRA_TERMS = ("fused",)

    def __init__(
        self, network, char_eps=1e-3, lambda_sparsity=0.01, lambda_contra=0.001, lambda_fused=1.0, contrast_margin=0.1
    ):
        super().__init__(auto_prefix=False)  # keep the network's parameter names in checkpoints
        self.network = network
        self.char_eps = char_eps
        self.lambda_sparsity = lambda_sparsity
        self.lambda_contra = lambda_contra
        self.lambda_fused = lambda_fused
        self.contrast_margin = float(contrast_margin)
        core = core_network(network)  # the flags live on the network, not on AMP's wrapper
        self.use_recog = bool(core.recognition)
        self.use_contra = bool(core.contrast)
        self.use_fused = bool(core.fused)
        self.needs_task = bool(core.needs_task)
        self.fused_index = 2 + int(bool(self.use_recog)) + (3 if self.use_contra else 0)
        self.terms = self.TERMS + (self.EXTRA_TERMS if self.use_fused else ())
        self.filters = ms.Tensor(SPARSITY_FILTERS[:, None])

    def construct(self, image, target, label):
        task = task_of(label)
        if self.needs_task:
            out = self.network(image, task)
        else:
            out = self.network(image)
        r_dr, r_ds = out[0], out[1]
        is_rain = (task == RAIN).reshape(-1, 1, 1, 1)
        r = ops.select(ops.broadcast_to(is_rain, r_dr.shape), r_dr, r_ds)
        zero = ops.zeros((), ms.float32)
        l_char = charbonnier(r, target, self.char_eps)
        l_grad = gradient_loss(r, target)
        l_sparse = quasi_sparsity(r, image, self.filters)
        l_recog = zero
        if self.use_recog:
            onehot = ops.one_hot(task, 2, ops.ones((), ms.float32), zero)
            l_recog = recognition_loss(out[2].astype(ms.float32), onehot, shows_weather(label).astype(ms.float32))
        l_contra, d_same, d_cross = zero, zero, zero
        if self.use_contra:
            k = 3 if self.use_recog else 2
            m = (out[k].astype(ms.float32), out[k + 1].astype(ms.float32), out[k + 2].astype(ms.float32))
            l_contra = contrast_loss(*m, margin=self.contrast_margin)
            d_same, d_cross = knowledge_distances(*m)
            d_same, d_cross = ops.stop_gradient(d_same), ops.stop_gradient(d_cross)
        total = l_char + l_grad + l_recog + self.lambda_sparsity * l_sparse + self.lambda_contra * l_contra
        if self.use_fused:
            fused = out[self.fused_index]
            l_fused = charbonnier(fused, target, self.char_eps) + gradient_loss(fused, target)
            total = total + self.lambda_fused * l_fused
            return total, l_char, l_grad, l_sparse, l_recog, l_contra, d_same, d_cross, l_fused
        return total, l_char, l_grad, l_sparse, l_recog, l_contra, d_same, d_cross
