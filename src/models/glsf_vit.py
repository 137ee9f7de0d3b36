"""GLSF-ViT block, eq. (7)-(10), working on patch-embedded tokens (NHWC token maps).

Upper branch (7): F_msa = MSA(LN(F_pe)) + F_pe;  F_mlp = MLP(LN(F_msa)) + F_msa.
Lower branch (9): F_cv = Conv(LN(F_pe));  F_local = F_cv ⊙ Gate(FC₂(Pool(F_cv))).
Output (10): F_glf = F_mlp + F_local. One LayerNorm computes LN(F_pe) for both branches.

MSA (8) is softmax(QKᵀ/√d)V inside non-overlapping windows of the token map (shifted by half a
window on alternate blocks, Swin style, with a mask so wrapped tokens never attend to each other),
so time and memory grow linearly with the pixel count. ``attention='global'`` attends over the
whole token map, as printed in the paper (quadratic; small inputs only). ``attention='topk'`` is
window attention with DRSformer's top-k sparse selection (seed 003): per query, only the k
highest scores of the window's keys survive the softmax, for several fractions k/n mixed by
learned weights (``WindowAttention.attend``).
"""

import numpy as np
import mindspore as ms
from mindspore import nn, ops

from ..config import ConfigError

from .layers import ChannelGate, conv3x3


def shift_mask(h, w, window, shift):
    """Additive attention mask (nW, n, n) for a cyclically shifted h×w token map (NumPy, static)."""
    region = np.zeros((h, w), np.int32)
    cuts_h = (slice(0, h - window), slice(h - window, h - shift), slice(h - shift, h))
    cuts_w = (slice(0, w - window), slice(w - window, w - shift), slice(w - shift, w))
    label = 0
    for sh in cuts_h:
        for sw in cuts_w:
            region[sh, sw] = label
            label += 1
    win = region.reshape(h // window, window, w // window, window).transpose(0, 2, 1, 3)
    win = win.reshape(-1, window * window)
    mask = np.where(win[:, :, None] != win[:, None, :], -100.0, 0.0).astype(np.float32)
    return ms.Tensor(mask)


def window_order(h, w, wh, ww, shift):
    """Token indices (NumPy int32, length h·w) that put an h×w map, rolled by (-shift, -shift), into
    window order: position ((a·(w/ww) + b)·wh + u)·ww + v holds token (a·wh+u+shift, b·ww+v+shift).

    Shift and partition are one static permutation, applied with a single gather (and undone with
    its inverse): on MindSpore's CPU backend a gather is several times cheaper than the
    slice/concat roll plus 6-D transpose it replaces."""
    rows = (np.arange(h // wh)[:, None, None, None] * wh + np.arange(wh)[None, None, :, None] + shift) % h
    cols = (np.arange(w // ww)[None, :, None, None] * ww + np.arange(ww)[None, None, None, :] + shift) % w
    return (rows * w + cols).reshape(-1).astype(np.int32)


def window_gathers(h, w, wh, ww, shift):
    """(order, inverse) index Tensors of ``window_order``, or None when the window is the whole map."""
    if (wh, ww) == (h, w):
        return None
    order = window_order(h, w, wh, ww, shift)
    return ms.Tensor(order), ms.Tensor(np.argsort(order).astype(np.int32))


TOPK_FRACTIONS = (0.5, 0.667, 0.75, 0.8)  # DRSformer: 1/2, 2/3, 3/4, 4/5 of the keys


def topk_counts(n, fractions):
    """k = max(1, floor(n·f)) kept keys per query for each fraction (DRSformer uses int(n·f))."""
    return tuple(max(1, min(n, int(n * float(f) + 1e-6))) for f in fractions)


class WindowAttention(nn.Cell):
    """Multi-head self-attention (8) over windows of an NHWC token map.

    ``mode``: ``window`` | ``global`` | ``topk`` (window layout plus top-k sparse attention with
    ``topk_fractions``; one learned mixing logit per fraction, softmax-normalised).
    """

    def __init__(self, dim, num_heads, window, shift=0, mode="window", topk_fractions=TOPK_FRACTIONS):
        super().__init__()
        if dim % num_heads:
            raise ConfigError(f"embed_dim={dim} must be divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.window = window
        self.topk = mode == "topk"
        mode = "window" if self.topk else mode  # topk keeps the window layout (and shifts)
        self.shift = shift if mode == "window" else 0
        self.mode = mode
        if self.topk:
            fractions = tuple(float(f) for f in topk_fractions)
            if not fractions or any(not 0.0 < f <= 1.0 for f in fractions):
                raise ConfigError(f"model.topk_fractions={list(topk_fractions)}: need fractions in (0, 1]")
            self.topk_fractions = fractions
            # Mixing weights of the fractions: logits, softmax-normalised (zeros = equal weights).
            self.topk_mix = ms.Parameter(ms.Tensor(np.zeros(len(fractions), np.float32)), name="topk_mix")
        self.qkv = nn.Dense(dim, 3 * dim)
        self.proj = nn.Dense(dim, dim)
        self.softmax = nn.Softmax(-1)
        self.bmm_qk = ops.BatchMatMul(transpose_b=True)
        self.bmm_av = ops.BatchMatMul()

    def attend(self, q, k, v, mask):
        """softmax(QKᵀ/√d + mask)V for (B', heads, n, d) tensors; mask (nW, n, n) or None."""
        scores = self.bmm_qk(q * self.scale, k)
        if mask is not None:
            nw, n = mask.shape[0], q.shape[2]
            b = scores.shape[0] // nw
            scores = scores.reshape(b, nw, self.num_heads, n, n) + mask.reshape(1, nw, 1, n, n)
            scores = scores.reshape(b * nw, self.num_heads, n, n)
        if self.topk:
            return self.bmm_av(self.sparse_weights(scores), v)
        return self.bmm_av(self.softmax(scores), v)

    def sparse_weights(self, scores):
        """Σ_i w_i softmax(top-k_i(scores)), w = softmax(topk_mix): DRSformer's mixed top-k attention.

        Mixing the attention matrices before the one AV product equals mixing the outputs
        (DRSformer's Σ_i w_i·(A_i V)). Ties at the k-th score keep more than k keys."""
        n = scores.shape[-1]
        mix = self.softmax(self.topk_mix)
        sorted_scores = ops.topk(scores, max(topk_counts(n, self.topk_fractions)))[0]
        out = None
        for i, k in enumerate(topk_counts(n, self.topk_fractions)):
            kth = ops.stop_gradient(sorted_scores[..., k - 1 : k])
            kept = ops.where(scores >= kth, scores, ops.full_like(scores, -1e9))
            a = self.softmax(kept) * mix[i]
            out = a if out is None else out + a
        return out

    def construct(self, x):
        b, h, w, c = x.shape
        wh, ww = (h, w) if self.mode == "global" else (self.window, self.window)
        s = self.shift if (h > self.window and w > self.window) else 0
        mask = shift_mask(h, w, self.window, s) if s else None
        n, d = wh * ww, self.head_dim
        tokens = x.reshape(b, h * w, c)
        gathers = window_gathers(h, w, wh, ww, s)
        if gathers is not None:
            tokens = ops.gather(tokens, gathers[0], 1)
        qkv = self.qkv(tokens).reshape(b * (h * w // n), n, 3, self.num_heads, d).transpose(2, 0, 3, 1, 4)
        q, k, v = ops.split(qkv, 1, 0)  # indexing qkv[0..2] copies far slower on CPU (bench_ops)
        shape = (b * (h * w // n), self.num_heads, n, d)
        out = self.attend(q.reshape(shape), k.reshape(shape), v.reshape(shape), mask)
        out = self.proj(out.transpose(0, 2, 1, 3).reshape(b, h * w, c))
        if gathers is not None:
            out = ops.gather(out, gathers[1], 1)
        return out.reshape(b, h, w, c)


class MLP(nn.Cell):
    """The MLP of eq. (7): FC → SiLU → FC with ``ratio``·C hidden units."""

    def __init__(self, dim, ratio):
        super().__init__()
        hidden = int(dim * ratio)
        self.fc1 = nn.Dense(dim, hidden)
        self.act = nn.SiLU()
        self.fc2 = nn.Dense(hidden, dim)

    def construct(self, x):
        return self.fc2(self.act(self.fc1(x)))


class GLSFViT(nn.Cell):
    """One GLSF-ViT block on an NHWC token map; ``gated_conv=False`` is ablation V3."""

    def __init__(
        self,
        dim,
        num_heads,
        window,
        mlp_ratio=2.0,
        shift=0,
        attention="window",
        gated_conv=True,
        reduction=4,
        topk_fractions=TOPK_FRACTIONS,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm((dim,), begin_norm_axis=-1, begin_params_axis=-1)
        self.msa = WindowAttention(dim, num_heads, window, shift, attention, topk_fractions)
        self.norm2 = nn.LayerNorm((dim,), begin_norm_axis=-1, begin_params_axis=-1)
        self.mlp = MLP(dim, mlp_ratio)
        self.gated_conv = gated_conv
        if gated_conv:
            self.conv = conv3x3(dim, dim)
            self.gate = ChannelGate(dim, reduction)

    def local_branch(self, f_ln):
        """Eq. (9) on f_ln = LN(F_pe): F_local = F_cv ⊙ Gate(FC₂(Pool(F_cv))), F_cv = Conv(f_ln)."""
        f_cv = self.conv(f_ln.transpose(0, 3, 1, 2))
        return self.gate(f_cv).transpose(0, 2, 3, 1)

    def construct(self, x):
        f_ln = self.norm1(x)  # LN(F_pe): one normalisation feeds (7) and (9)
        f_msa = self.msa(f_ln) + x
        f_mlp = self.mlp(self.norm2(f_msa)) + f_msa
        if self.gated_conv:
            return f_mlp + self.local_branch(f_ln)
        return f_mlp
