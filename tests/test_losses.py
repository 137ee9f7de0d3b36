"""Loss terms against independent NumPy computations; contrast direction; task masks."""

import numpy as np
import mindspore as ms
import pytest

from src.losses import (
    SPARSITY_FILTERS,
    SmartAssignLoss,
    charbonnier,
    contrast_loss,
    gradient_loss,
    knowledge_distances,
    quasi_sparsity,
    recognition_loss,
)
from src.data.labels import NO_WEATHER
from src.models import RestorationNet

RNG = np.random.default_rng(42)
R = RNG.random((2, 3, 17, 23)).astype(np.float32)
G = RNG.random((2, 3, 17, 23)).astype(np.float32)
IMG = RNG.random((2, 3, 17, 23)).astype(np.float32)


# Independent NumPy references ------------------------------------------------------------------


def np_charbonnier(r, g, eps=1e-3):
    return np.mean(np.sqrt((r.astype(np.float64) - g) ** 2 + eps**2))


def np_gradient(r, g):
    r, g = r.astype(np.float64), g.astype(np.float64)
    gx = np.diff(r, axis=3) - np.diff(g, axis=3)
    gy = np.diff(r, axis=2) - np.diff(g, axis=2)
    return np.mean(gx**2) + np.mean(gy**2)


def np_filter_abs_mean(x, k):
    """'valid' 3×3 correlation, written out pixel by pixel over the kernel taps."""
    x = x.astype(np.float64)
    h, w = x.shape[2] - 2, x.shape[3] - 2
    acc = np.zeros(x.shape[:2] + (h, w))
    for dy in range(3):
        for dx in range(3):
            acc += k[dy, dx] * x[:, :, dy : dy + h, dx : dx + w]
    return np.abs(acc).mean()


def np_sparsity(r, i):
    dx = np.array([[0, 0, 0], [0, -1, 1], [0, 0, 0]])
    dy = dx.T
    dxx = np.array([[0, 0, 0], [1, -2, 1], [0, 0, 0]])
    dyy = dxx.T
    dxy = np.array([[0, 0, 0], [0, 1, -1], [0, -1, 1]])
    bank = [dx, dy, dxx, dyy, dxy]
    return np.mean([np_filter_abs_mean(r, k) + np_filter_abs_mean(i - r, k) for k in bank])


def np_dist(a, b):
    an = a / np.linalg.norm(a, axis=-1, keepdims=True)
    bn = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return 1.0 - an.astype(np.float64) @ np.swapaxes(bn, 1, 2)


def np_contrast(mr, mc, ms_, m=0.1):
    d = np_dist
    z = (
        (d(mr, mr) + m) / (d(mr, mc) + d(mr, ms_) + m)
        + (d(mc, mc) + m) / (d(mc, mr) + d(mc, ms_) + m)
        + (d(ms_, ms_) + m) / (d(ms_, mr) + d(ms_, mc) + m)
    ) / 3.0
    return z.mean()


def np_distances(mr, mc, ms_):
    c = mr.shape[1]
    off = ~np.eye(c, dtype=bool)
    same = np.mean([np_dist(a, a)[:, off].mean() for a in (mr, mc, ms_)])
    cross = np.mean([np_dist(a, b).mean() for a, b in ((mr, mc), (mr, ms_), (mc, ms_))])
    return same, cross


def unit_rows(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


# Tests ------------------------------------------------------------------------------------------


def test_sparsity_filter_bank_is_levin_weiss():
    assert SPARSITY_FILTERS.shape == (5, 3, 3)
    assert np.allclose(SPARSITY_FILTERS.sum(axis=(1, 2)), 0)  # derivative filters


def test_terms_match_numpy():
    t = ms.Tensor
    assert float(charbonnier(t(R), t(G)).asnumpy()) == pytest.approx(np_charbonnier(R, G), rel=1e-5)
    assert float(gradient_loss(t(R), t(G)).asnumpy()) == pytest.approx(np_gradient(R, G), rel=1e-5)
    filters = t(SPARSITY_FILTERS[:, None])
    assert float(quasi_sparsity(t(R), t(IMG), filters).asnumpy()) == pytest.approx(np_sparsity(R, IMG), rel=1e-5)
    rre = RNG.standard_normal((4, 2)).astype(np.float32)
    onehot = np.eye(2, dtype=np.float32)[[0, 1, 1, 0]]
    assert float(recognition_loss(t(rre), t(onehot)).asnumpy()) == pytest.approx(
        np.mean((rre.astype(np.float64) - onehot) ** 2), rel=1e-5
    )
    m = [unit_rows(RNG.standard_normal((2, 6, 5))) for _ in range(3)]
    assert float(contrast_loss(*map(t, m)).asnumpy()) == pytest.approx(np_contrast(*m), rel=1e-4)


def test_contrast_direction():
    base = [unit_rows(RNG.standard_normal((1, 8, 16))) for _ in range(3)]
    loss = lambda ms_: float(contrast_loss(*map(ms.Tensor, ms_)).asnumpy())  # noqa: E731
    l0 = loss(base)
    # Same-kind rows closer: pull every row of each kind towards that kind's mean row.
    closer = [unit_rows(m + 2.0 * m.mean(axis=1, keepdims=True)) for m in base]
    assert loss(closer) < l0
    # Kinds apart: give each kind its own dominant direction.
    dirs = np.eye(16, dtype=np.float32)[:3]
    apart = [unit_rows(m + 1.5 * dirs[k][None, None]) for k, m in enumerate(base)]
    assert loss(apart) < l0
    # And the reverse: kinds pulled to a common direction raises it.
    together = [unit_rows(m + 1.5 * dirs[0][None, None]) for m in base]
    assert loss(together) > l0


def _contrast(m):
    return float(contrast_loss(*map(ms.Tensor, m)).asnumpy())


def test_collapse_scores_worse_than_separation():
    """Every row equal (all distances 0) scores 1, strictly worse than random rows and than kinds
    on orthogonal directions (the plain ratio scored collapse 0, the same as perfect separation)."""
    v = unit_rows(RNG.standard_normal((1, 1, 16)))
    collapsed = [np.repeat(v, 8, axis=1)] * 3
    dirs = np.eye(16, dtype=np.float32)
    separated = [np.repeat(dirs[k][None, None], 8, axis=1) for k in range(3)]
    random = [unit_rows(RNG.standard_normal((1, 8, 16))) for _ in range(3)]
    assert _contrast(collapsed) == pytest.approx(1.0, abs=1e-5)
    assert _contrast(separated) == pytest.approx(0.1 / 2.1, rel=1e-4)
    assert _contrast(separated) < _contrast(random) < _contrast(collapsed)


def test_collapse_is_not_a_minimum():
    """From rows perturbed slightly away from one common vector, gradient descent on the loss moves
    the kinds apart (cross-kind distance grows, and faster than same-kind distance) instead of back
    to collapse. At exact collapse every cosine-distance gradient is 0, hence the perturbation."""
    v = RNG.standard_normal((1, 1, 16)).astype(np.float32)
    raw = [
        ms.Parameter(
            ms.Tensor(np.repeat(v, 8, axis=1) + 0.01 * RNG.standard_normal((1, 8, 16)).astype(np.float32)), name=f"m{k}"
        )
        for k in range(3)
    ]

    def unit(x):
        return x / ms.ops.sqrt((x * x).sum(axis=-1, keepdims=True))

    def loss(a, b, c):
        return contrast_loss(unit(a), unit(b), unit(c))

    before = np_distances(*[unit_rows(p.asnumpy()) for p in raw])
    grad_fn = ms.grad(loss, grad_position=(0, 1, 2))
    for _ in range(20):
        grads = grad_fn(*raw)
        for p, g in zip(raw, grads):
            p.set_data(p - 0.002 * g / (np.abs(g.asnumpy()).max() + 1e-12))
    after = np_distances(*[unit_rows(p.asnumpy()) for p in raw])
    assert after[1] > 2 * before[1], (before, after)  # kinds moved apart
    assert after[1] - before[1] > after[0] - before[0]  # ... more than within a kind


def test_knowledge_distances_match_numpy():
    m = [unit_rows(RNG.standard_normal((2, 6, 5))) for _ in range(3)]
    same, cross = knowledge_distances(*map(ms.Tensor, m))
    ref = np_distances(*m)
    assert float(same.asnumpy()) == pytest.approx(ref[0], rel=1e-5)
    assert float(cross.asnumpy()) == pytest.approx(ref[1], rel=1e-5)


class _FixedNet(RestorationNet):
    """Stands in for SmartAssign: returns fixed R_dr, R_ds, R_re, M_rk, M_ck, M_sk."""

    def __init__(self, outs):
        super().__init__(multiple=1, recognition=True, contrast=True)
        self.outs = tuple(ms.Tensor(o) for o in outs)

    def construct(self, image):
        return self.outs


def test_total_uses_each_samples_own_head():
    rdr = RNG.random((2, 3, 16, 16)).astype(np.float32)
    rds = RNG.random((2, 3, 16, 16)).astype(np.float32)
    img = RNG.random((2, 3, 16, 16)).astype(np.float32)
    tgt = RNG.random((2, 3, 16, 16)).astype(np.float32)
    rre = RNG.standard_normal((2, 2)).astype(np.float32)
    m = [unit_rows(RNG.standard_normal((2, 4, 8))) for _ in range(3)]
    label = np.array([0, 1], np.int32)  # sample 0 rain → R_dr, sample 1 snow → R_ds
    cell = SmartAssignLoss(_FixedNet([rdr, rds, rre] + m), lambda_sparsity=0.01, lambda_contra=0.001)
    out = [float(o.asnumpy()) for o in cell(ms.Tensor(img), ms.Tensor(tgt), ms.Tensor(label))]
    r = np.stack([rdr[0], rds[1]])
    expect = dict(
        char=np_charbonnier(r, tgt),
        grad=np_gradient(r, tgt),
        sparsity=np_sparsity(r, img),
        recog=np.mean((rre - np.eye(2)[label]) ** 2),
        contra=np_contrast(*m),
    )
    expect["d_same"], expect["d_cross"] = np_distances(*m)
    for name, value in zip(SmartAssignLoss.TERMS[1:], out[1:]):
        assert value == pytest.approx(expect[name], rel=1e-4), name
    total = expect["char"] + expect["grad"] + expect["recog"] + 0.01 * expect["sparsity"] + 0.001 * expect["contra"]
    assert out[0] == pytest.approx(total, rel=1e-5)
    # The other head's output is ignored: swapping in garbage for the unused halves changes nothing.
    rdr2, rds2 = rdr.copy(), rds.copy()
    rdr2[1] += 5.0
    rds2[0] -= 5.0
    cell2 = SmartAssignLoss(_FixedNet([rdr2, rds2, rre] + m))
    out2 = [float(o.asnumpy()) for o in cell2(ms.Tensor(img), ms.Tensor(tgt), ms.Tensor(label))]
    assert out2[1:4] == pytest.approx(out[1:4], rel=1e-6)


@pytest.mark.slow
def test_recognition_leaves_out_clean_crops():
    """A clean crop (label task + NO_WEATHER) has no weather to recognise: eq. (16) averages over
    the other samples only, its own score has no effect, and a batch of clean crops gives
    L_recog = 0. Its image losses use its task's head, as a render's do. The label decides, not
    the pixels: a render whose input equals its target is still recognised."""
    rdr, rds = (RNG.random((3, 3, 16, 16)).astype(np.float32) for _ in range(2))
    img = RNG.random((3, 3, 16, 16)).astype(np.float32)
    tgt = RNG.random((3, 3, 16, 16)).astype(np.float32)
    tgt[1] = img[1]  # sample 1 is a clean crop of the snow stream
    rre = RNG.standard_normal((3, 2)).astype(np.float32)
    m = [unit_rows(RNG.standard_normal((3, 4, 8))) for _ in range(3)]
    task = np.array([0, 1, 1], np.int32)
    label = task + np.array([0, NO_WEATHER, 0], np.int32)

    def terms(scores, labels=label):
        cell = SmartAssignLoss(_FixedNet([rdr, rds, scores] + m))
        return [float(o.asnumpy()) for o in cell(ms.Tensor(img), ms.Tensor(tgt), ms.Tensor(labels))]

    def recog(scores, labels=label):
        return terms(scores, labels)[4]

    keep = [0, 2]
    assert recog(rre) == pytest.approx(np.mean((rre[keep] - np.eye(2)[task[keep]]) ** 2), rel=1e-5)
    moved = rre.copy()
    moved[1] += 7.0
    assert recog(moved) == pytest.approx(recog(rre), rel=1e-6)
    assert recog(rre, task + NO_WEATHER) == 0.0
    assert recog(rre, task) == pytest.approx(np.mean((rre - np.eye(2)[task]) ** 2), rel=1e-5)
    r = np.stack([rdr[0], rds[1], rds[2]])  # the clean crop is restored by its stream's head (snow)
    assert terms(rre)[1:3] == pytest.approx([np_charbonnier(r, tgt), np_gradient(r, tgt)], rel=1e-4)
    assert terms(rre)[1:4] == pytest.approx(terms(rre, task)[1:4], rel=1e-6)
    assert recognition_loss(
        ms.Tensor(rre), ms.Tensor(np.eye(2, dtype=np.float32)[task]), ms.Tensor(np.ones(3, np.float32))
    ).asnumpy() == pytest.approx(np.mean((rre - np.eye(2)[task]) ** 2), rel=1e-5)


class _TaskNet(RestorationNet):
    """A task-parameterised stand-in: R_dr and R_ds are the image scaled by (1 + the task it is given)."""

    def __init__(self):
        super().__init__(multiple=1, recognition=False, needs_task=True)

    def construct(self, image, task):
        r = image * (1.0 + task.astype(ms.float32).reshape(-1, 1, 1, 1))
        return r, r


def test_a_task_parameterised_network_gets_the_task_of_a_clean_crops_label():
    """``needs_task`` networks are given the task (rain 0, snow 1), never NO_WEATHER's offset."""
    img = RNG.random((2, 3, 16, 16)).astype(np.float32)
    tgt = RNG.random((2, 3, 16, 16)).astype(np.float32)
    cell = SmartAssignLoss(_TaskNet())

    def terms(label):
        return [float(o.asnumpy()) for o in cell(ms.Tensor(img), ms.Tensor(tgt), ms.Tensor(np.array(label, np.int32)))]

    clean = terms([0 + NO_WEATHER, 1 + NO_WEATHER])
    assert clean == pytest.approx(terms([0, 1]), rel=1e-6)
    r = img * np.array([1.0, 2.0], np.float32).reshape(-1, 1, 1, 1)
    assert clean[1] == pytest.approx(np_charbonnier(r, tgt), rel=1e-5)
