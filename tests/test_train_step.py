"""Training step in GRAPH_MODE on CPU: every term returned, loss-scale overflow skip, clipping, overfit."""

import numpy as np
import mindspore as ms
import pytest
from mindspore import nn

from src.losses import SmartAssignLoss
from src.models import build_network
from src.train.step import TrainStep, build_optimizer

from helpers import mixed_batch

pytestmark = pytest.mark.slow  # every test compiles a GRAPH_MODE training step (15-40 s each)


def _snapshot(params):
    return {p.name: p.asnumpy().copy() for p in params}


def test_overflow_skips_update_and_lowers_scale():
    net = build_network({"preset": "tiny"}, seed=0)
    opt = build_optimizer(net.trainable_params(), 4e-4)
    step = TrainStep(SmartAssignLoss(net), opt, loss_scale=1024.0, scale_window=2)
    x, g, lab = mixed_batch(2, 64, 64, seed=1)
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan  # forces non-finite gradients
    before = _snapshot(net.trainable_params())
    moments = _snapshot(opt.moment1)
    out = step(ms.Tensor(bad), ms.Tensor(g), ms.Tensor(lab))
    assert len(out) == len(SmartAssignLoss.TERMS) + 2  # total, the terms, overflow, scale
    assert bool(out[-2].asnumpy()) is True
    assert float(out[-1].asnumpy()) == 1024.0  # the scale used by this step
    assert float(step.loss_scale.asnumpy()) == 512.0
    after = _snapshot(net.trainable_params())
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert all(np.array_equal(moments[k], v) for k, v in _snapshot(opt.moment1).items())

    # Finite steps update the weights; two in a row (scale_window=2) raise the scale again.
    for _ in range(2):
        out = step(ms.Tensor(x), ms.Tensor(g), ms.Tensor(lab))
        assert bool(out[-2].asnumpy()) is False
        assert np.isfinite(out[0].asnumpy())
    changed = _snapshot(net.trainable_params())
    assert any(not np.array_equal(before[k], changed[k]) for k in before)
    assert float(step.loss_scale.asnumpy()) == 1024.0


def test_global_norm_clipping_bounds_the_update():
    net = build_network({"preset": "tiny", "contrast": False}, seed=0)
    params = net.trainable_params()
    step = TrainStep(SmartAssignLoss(net), nn.SGD(params, learning_rate=1.0), clip_norm=1e-3)
    x, g, lab = mixed_batch(2, 64, 64, seed=2)
    before = _snapshot(params)
    step(ms.Tensor(x), ms.Tensor(g), ms.Tensor(lab))
    after = _snapshot(params)
    norm = np.sqrt(sum(((after[k] - before[k]).astype(np.float64) ** 2).sum() for k in before))
    assert 0.5e-3 < norm <= 1.0001e-3


def test_tiny_overfits_a_mixed_batch_in_graph_mode():
    assert ms.get_context("mode") == ms.GRAPH_MODE
    net = build_network({"preset": "tiny"}, seed=0)
    step = TrainStep(SmartAssignLoss(net), build_optimizer(net.trainable_params(), 4e-4))
    x, g, lab = mixed_batch(4, 64, 64, seed=0)
    assert set(lab.tolist()) == {0, 1}
    args = (ms.Tensor(x), ms.Tensor(g), ms.Tensor(lab))
    history = [[float(v.asnumpy()) for v in step(*args)] for _ in range(30)]
    first, last = history[0], history[-1]
    assert all(np.isfinite(h).all() for h in history)
    assert all(h[-2] == 0.0 for h in history)  # no overflow in fp32
    assert last[0] <= 0.5 * first[0], (first[0], last[0])
    assert last[1] < first[1]  # the Charbonnier term itself falls
    # The total is the weighted sum of the returned terms (eq. 19).
    assert np.isclose(last[0], last[1] + last[2] + last[4] + 0.01 * last[3] + 0.001 * last[5], rtol=1e-5)
