"""Mechanisms against independent NumPy references: shifted-window MSA (8), one GLSF-ViT block
(7, 9, 10), GKFM (11) and SAM (5).

Weights are randomised (biases and LayerNorm affine too, so nothing cancels), copied out of the
MindSpore cells with ``.asnumpy()`` and the forward pass is recomputed in float64 NumPy: the
project's code runs on one side only. Each reference also has a "broken" variant (no shift mask,
no gate, no ``+ F_local``) that must differ clearly from the cell, so the tolerances used are
known to be tight enough to catch those regressions.
"""

import numpy as np
import mindspore as ms
import pytest

from src.models.glsf_vit import GLSFViT, WindowAttention
from src.models.gkfm import GKFM
from src.models.sam import SAM

DIM, HEADS, WINDOW = 16, 2, 4
H = W = 2 * WINDOW  # 2 × 2 windows: the shift mask matters in every window
SHIFT = WINDOW // 2
ATOL = 2e-4  # float32 cell vs float64 reference
CLEARLY = 50 * ATOL  # a broken variant must be at least this far off


# ---------------------------------------------------------------- helpers


def randomise(cell, seed):
    """Fresh normal weights for every parameter (biases, LN beta non-zero; LN gamma around 1)."""
    rng = np.random.default_rng(seed)
    for p in cell.get_parameters():
        shape = tuple(p.shape)
        if p.name.endswith("gamma"):
            val = 1.0 + 0.2 * rng.standard_normal(shape)
        elif len(shape) <= 1:
            val = 0.2 * rng.standard_normal(shape)
        else:
            val = rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))
        p.set_data(ms.Tensor(val.astype(np.float32)))
    return cell


def w64(param):
    return param.asnumpy().astype(np.float64)


def run_cell(cell, x):
    cell.set_train(False)
    return cell(ms.Tensor(x.astype(np.float32))).asnumpy().astype(np.float64)


def max_diff(a, b):
    return float(np.abs(a - b).max())


def np_dense(x, dense):
    return x @ w64(dense.weight).T + w64(dense.bias)


def np_layernorm(x, ln, eps=1e-7):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w64(ln.gamma) + w64(ln.beta)


def np_silu(x):
    return x / (1.0 + np.exp(-x))


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_conv3x3_same(x, conv):
    """3×3 stride-1 cross-correlation with one row/column of zeros on every side (pad_mode='same')."""
    wgt, b = w64(conv.weight), w64(conv.bias)  # (Cout, Cin, 3, 3)
    n, c, h, w = x.shape
    xp = np.zeros((n, c, h + 2, w + 2))
    xp[:, :, 1:-1, 1:-1] = x
    out = np.zeros((n, wgt.shape[0], h, w))
    for ki in range(3):
        for kj in range(3):
            out += np.einsum("nchw,oc->nohw", xp[:, :, ki : ki + h, kj : kj + w], wgt[:, :, ki, kj])
    return out + b[None, :, None, None]


def np_conv1x1(x, conv):
    return np.einsum("nchw,oc->nohw", x, w64(conv.weight)[:, :, 0, 0]) + w64(conv.bias)[None, :, None, None]


def np_gate_values(x, gate):
    """Gate(FC₂(Pool(x))) of an NCHW map: mean over H, W -> FC -> ReLU -> FC -> SiLU, (N, C, 1, 1)."""
    pooled = x.mean(axis=(2, 3), keepdims=True)
    return np_silu(np_conv1x1(np.maximum(np_conv1x1(pooled, gate.fc1), 0.0), gate.fc2))


def np_window_msa(x, attn, window, shift, use_mask=True):
    """Swin-style (shifted) window attention of an NHWC map, written from scratch.

    Roll by -shift, partition into window×window windows, per-window multi-head softmax attention
    where a token may only attend to tokens that had the same wrap status (both wrapped around, or
    both not, along each axis) before the roll, merge the windows and roll back by +shift."""
    b, h, w, c = x.shape
    heads = attn.num_heads
    d = c // heads
    xs = np.roll(x, (-shift, -shift), axis=(1, 2)) if shift else x
    nh, nw = h // window, w // window
    win = xs.reshape(b, nh, window, nw, window, c).transpose(0, 1, 3, 2, 4, 5).reshape(b * nh * nw, window * window, c)
    qkv = np_dense(win, attn.qkv).reshape(win.shape[0], window * window, 3, heads, d).transpose(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]  # (B', heads, n, d)
    scores = (q @ k.transpose(0, 1, 3, 2)) / np.sqrt(d)
    if shift and use_mask:
        ii, jj = np.mgrid[0:h, 0:w]  # coordinates on the rolled map
        region = (ii >= h - shift) * 2 + (jj >= w - shift)  # 1 where the token wrapped around
        rw = region.reshape(nh, window, nw, window).transpose(0, 2, 1, 3).reshape(nh * nw, window * window)
        blocked = rw[:, :, None] != rw[:, None, :]  # (nW, n, n)
        blocked = np.tile(blocked, (b, 1, 1))[:, None]  # windows are batch-major
        scores = np.where(blocked, -np.inf, scores)
    scores = scores - scores.max(-1, keepdims=True)
    a = np.exp(scores)
    a /= a.sum(-1, keepdims=True)
    out = (a @ v).transpose(0, 2, 1, 3).reshape(win.shape[0], window * window, c)
    out = np_dense(out, attn.proj)
    out = out.reshape(b, nh, nw, window, window, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
    return np.roll(out, (shift, shift), axis=(1, 2)) if shift else out


def token_map(seed, b=2, h=H, w=W, c=DIM):
    return np.random.default_rng(seed).standard_normal((b, h, w, c))


# ---------------------------------------------------------------- 1. window attention (8)


@pytest.fixture(scope="module", params=[0, SHIFT], ids=["unshifted", "shifted"])
def msa_case(request):
    shift = request.param
    attn = randomise(WindowAttention(DIM, HEADS, WINDOW, shift=shift, mode="window"), seed=10 + shift)
    x = token_map(1)
    return shift, attn, x, run_cell(attn, x)


def test_window_attention_matches_numpy(msa_case):
    shift, attn, x, out = msa_case
    ref = np_window_msa(x, attn, WINDOW, shift)
    assert out.shape == x.shape
    assert max_diff(out, ref) < ATOL, max_diff(out, ref)


def test_window_attention_shift_and_mask_matter(msa_case):
    """The cell is far from the references that forget the mask, the roll or the windows."""
    shift, attn, x, out = msa_case
    whole_map = np_window_msa(x, attn, H, 0)  # one window = global attention
    assert max_diff(out, whole_map) > CLEARLY
    if shift:
        assert max_diff(out, np_window_msa(x, attn, WINDOW, shift, use_mask=False)) > CLEARLY
        assert max_diff(out, np_window_msa(x, attn, WINDOW, 0)) > CLEARLY


def test_shift_mask_blocks_wrapped_tokens():
    """Moving a token that wrapped around (rolled to the far edge) cannot change the output at a
    token of the same shifted window that was not its neighbour in the image."""
    attn = randomise(WindowAttention(DIM, HEADS, WINDOW, shift=SHIFT, mode="window"), seed=3)
    x = token_map(2, b=1)
    y = x.copy()
    y[0, 0, 0] += 5.0  # original (0, 0) lands at rolled (H-SHIFT, W-SHIFT): bottom-right window
    delta = np.abs(run_cell(attn, x) - run_cell(attn, y)).max(-1)[0]
    # Bottom-right shifted window = original rows/cols {H-SHIFT..H-1} ∪ {0..SHIFT-1}; only the
    # tokens in the wrapped corner {0..SHIFT-1}² share (0, 0)'s region.
    near = np.zeros((H, W), bool)
    near[:SHIFT, :SHIFT] = True
    assert delta[near].min() > 1e-3
    assert delta[~near].max() < 1e-5, delta[~near].max()  # other windows and other regions


# ---------------------------------------------------------------- 2. GLSF-ViT block (7, 9, 10)


def np_glsf(x, blk, shift, gate=True, local=True):
    """a = x + MSA(LN₁(x)); m = a + MLP(LN₂(a)); cv = Conv(LN₁(x)); F_local = cv ⊙ Gate(FC₂(Pool(cv)));
    out = m + F_local (eq. 10). ``gate``/``local`` False give the broken variants."""
    f_ln = np_layernorm(x, blk.norm1)
    a = x + np_window_msa(f_ln, blk.msa, WINDOW, shift)
    m = a + np_dense(np_silu(np_dense(np_layernorm(a, blk.norm2), blk.mlp.fc1)), blk.mlp.fc2)
    if not local:
        return m
    cv = np_conv3x3_same(f_ln.transpose(0, 3, 1, 2), blk.conv)
    f_local = cv * np_gate_values(cv, blk.gate) if gate else cv
    return m + f_local.transpose(0, 2, 3, 1)


@pytest.fixture(scope="module", params=[0, SHIFT], ids=["unshifted", "shifted"])
def glsf_case(request):
    shift = request.param
    blk = randomise(
        GLSFViT(DIM, HEADS, WINDOW, mlp_ratio=2.0, shift=shift, attention="window", gated_conv=True, reduction=4),
        seed=20 + shift,
    )
    x = token_map(4)
    return shift, blk, x, run_cell(blk, x)


def test_glsf_block_matches_numpy(glsf_case):
    shift, blk, x, out = glsf_case
    ref = np_glsf(x, blk, shift)
    assert max_diff(out, ref) < ATOL, max_diff(out, ref)


def test_glsf_block_needs_gate_and_local_sum(glsf_case):
    shift, blk, x, out = glsf_case
    assert max_diff(out, np_glsf(x, blk, shift, gate=False)) > CLEARLY  # F_local without the gate
    assert max_diff(out, np_glsf(x, blk, shift, local=False)) > CLEARLY  # eq. (10) without + F_local


def test_glsf_ablation_v3_is_upper_branch_only():
    blk = randomise(GLSFViT(DIM, HEADS, WINDOW, shift=SHIFT, gated_conv=False), seed=30)
    x = token_map(5)
    assert max_diff(run_cell(blk, x), np_glsf(x, blk, SHIFT, local=False)) < ATOL


# ---------------------------------------------------------------- 3. GKFM (11) and SAM (5)


def feature_map(seed, c=DIM, h=7, w=10):
    return np.random.default_rng(seed).standard_normal((2, c, h, w))


def test_gkfm_matches_numpy():
    cell = randomise(GKFM(DIM, reduction=4), seed=40)
    x = feature_map(6)
    out = run_cell(cell, x)
    conv_a, conv_b = cell.refine[0], cell.refine[2]

    def ref(gated):
        filtered = x * np_gate_values(x, cell.gate) if gated else x
        return np_conv3x3_same(np_silu(np_conv3x3_same(filtered, conv_a)), conv_b)

    assert out.shape == x.shape
    assert max_diff(out, ref(True)) < ATOL, max_diff(out, ref(True))
    assert max_diff(out, ref(False)) > CLEARLY
    gates = cell.gate_values(ms.Tensor(x.astype(np.float32))).asnumpy()
    np.testing.assert_allclose(gates, np_gate_values(x, cell.gate), atol=ATOL)


def test_sam_matches_numpy():
    cell = randomise(SAM(DIM), seed=50)
    x = feature_map(7, h=9, w=6)
    out = run_cell(cell, x)
    c1, c2, c3 = cell.body[0], cell.body[2], cell.body[4]
    h1 = np.maximum(np_conv3x3_same(x, c1), 0.0)
    h2 = np.maximum(np_conv3x3_same(h1, c2), 0.0)
    att = np_sigmoid(np_conv3x3_same(h2, c3))  # (N, 1, H, W)
    assert att.shape == (2, 1, 9, 6)
    assert max_diff(out, att * x) < ATOL, max_diff(out, att * x)
    assert max_diff(out, x) > CLEARLY
    assert max_diff(cell.attention(ms.Tensor(x.astype(np.float32))).asnumpy(), att) < ATOL


def test_conv_reference_is_zero_padded():
    """Self-check of the NumPy convolution on a delta: every tap lands where cross-correlation puts it."""

    class Fake:
        pass

    conv = Fake()
    k = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    conv.weight, conv.bias = ms.Tensor(k), ms.Tensor(np.zeros(1, np.float32))
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 0, 0] = 1.0
    out = np_conv3x3_same(x, conv)[0, 0]
    # out[i, j] = Σ x[i+ki-1, j+kj-1] k[ki, kj]: the delta at (0,0) is seen by (0,0),(0,1),(1,0),(1,1).
    np.testing.assert_array_equal(out[:2, :2], [[4, 3], [1, 0]])
    assert out.sum() == 4 + 3 + 1 + 0
