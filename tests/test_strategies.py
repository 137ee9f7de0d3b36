"""Knowledge-assignment strategies as switches (docs/design.md, "Strategies"): cross-stitch, task-parameterised
decoder, top-k sparse attention; gradients, parameter formulas, training, shapes, export parity."""

import numpy as np
import mindspore as ms
import pytest
from mindspore import nn

from src.flops import count_params
from src.infer.backends import MindSporeBackend
from src.infer.engine import Restorer
from src.infer.export import InferenceWrapper, export_network
from src.losses import SPARSITY_FILTERS, SmartAssignLoss, charbonnier, gradient_loss, quasi_sparsity
from src.models.glsf_vit import TOPK_FRACTIONS, WindowAttention, shift_mask
from src.models import PRESETS, build_network
from src.train.step import TrainStep, build_optimizer

from helpers import mixed_batch

FILTERS = ms.Tensor(SPARSITY_FILTERS[:, None])
STRATEGIES = {
    "hard": {"assignment": "hard"},
    "cross_stitch": {"assignment": "cross_stitch"},
    "task_param": {"assignment": "task_param"},
    "topk": {"attention": "topk"},
}


def _max_abs(grads):
    return max(float(np.abs(g.asnumpy()).max()) for g in grads)


# ---------------------------------------------------------------- cross-stitch


def _derain_grads(identity):
    """Max |grad| of a derain-only loss on (desnow encoder, derain encoder), α frozen.

    α is set before the first call: GRAPH mode compiles frozen (requires_grad=False) parameters
    into the function by value, so each α needs its own network."""
    net = build_network({"preset": "tiny", "assignment": "cross_stitch", "cross_stitch_fixed": True}, seed=2)
    assert not any("stitch" in p.name for p in net.trainable_params())  # α frozen
    if identity:
        for unit in net.stitch:
            eye = np.array([1, 0, 0, 1], np.float32)[:, None] * np.ones((1, unit.alpha.shape[1]), np.float32)
            unit.alpha.set_data(ms.Tensor(eye))
    net.set_train(False)
    x, g, _ = mixed_batch(2, 32, 32, seed=4)
    snow = [p for p in net.trainable_params() if p.name.startswith("encoder_s.")]
    rain = [p for p in net.trainable_params() if p.name.startswith("encoder_r.")]
    assert snow and rain

    def derain(x, g):
        r = net(x)[0]
        return charbonnier(r, g) + gradient_loss(r, g) + 0.01 * quasi_sparsity(r, x, FILTERS)

    _, grads = ms.value_and_grad(derain, None, snow + rain)(ms.Tensor(x), ms.Tensor(g))
    return _max_abs(grads[: len(snow)]), _max_abs(grads[len(snow) :])


@pytest.mark.slow
def test_cross_stitch_identity_alpha_isolates_branches():
    snow, rain = _derain_grads(identity=True)
    assert snow == 0.0 and rain > 1e-6
    snow, rain = _derain_grads(identity=False)  # initial α: 0.9 / 0.1
    assert snow > 1e-6 and rain > 1e-6


# ---------------------------------------------------------------- task-parameterised decoder


def test_task_param_gamma_changes_kernels_and_outputs_and_meta_learns():
    net = build_network({"preset": "tiny", "assignment": "task_param"}, seed=5)
    net.set_train(False)
    gam_a = ms.Tensor(np.array([[1, 0], [0.3, 0.7]], np.float32))
    gam_b = ms.Tensor(np.array([[0, 1], [0.9, 0.1]], np.float32))
    for conv in (net.decoder.fuse, net.decoder.up, net.decoder.out):
        wa, ba = (t.asnumpy() for t in conv.kernels(gam_a))
        wb, bb = (t.asnumpy() for t in conv.kernels(gam_b))
        assert wa.shape == (2, conv.out_channels, conv.in_channels) + conv.kernel_size
        assert np.abs(wa - wb).reshape(2, -1).max(axis=1).min() > 1e-3  # each sample's kernel
        assert np.abs(ba - bb).max(axis=1).min() > 1e-4
    x, g, lab = mixed_batch(2, 32, 32, seed=6)
    xa = net(ms.Tensor(x), gam_a)[0].asnumpy()
    xb = net(ms.Tensor(x), gam_b)[0].asnumpy()
    assert np.abs(xa - xb).reshape(2, -1).max(axis=1).min() > 1e-4  # every sample changes

    meta = [p for p in net.trainable_params() if ".meta." in p.name]
    assert len(meta) == 6  # one FC (weight, bias) per conv

    def loss(x, g, lab):
        r = net(x, lab)[0]
        return charbonnier(r, g) + gradient_loss(r, g)

    _, grads = ms.value_and_grad(loss, None, meta)(ms.Tensor(x), ms.Tensor(g), ms.Tensor(lab))
    for p, gr in zip(meta, grads):
        assert float(np.abs(gr.asnumpy()).max()) > 0.0, p.name


# ---------------------------------------------------------------- top-k sparse attention


def _qkv(b=2, heads=2, n=64, d=8, seed=0):
    rng = np.random.default_rng(seed)
    return [ms.Tensor(rng.standard_normal((b, heads, n, d)).astype(np.float32)) for _ in range(3)]


def test_topk_with_all_keys_is_plain_attention():
    plain = WindowAttention(16, 2, 8, shift=4, mode="window")
    topk = WindowAttention(16, 2, 8, shift=4, mode="topk", topk_fractions=(1.0, 1.0, 1.0))
    topk.topk_mix.set_data(ms.Tensor(np.array([0.3, -1.0, 2.0], np.float32)))  # any mixing
    q, k, v = _qkv(b=4)  # 4 windows of one 16x16 token map, shifted
    mask = shift_mask(16, 16, 8, 4)
    for m in (None, mask):
        ref = plain.attend(q, k, v, m).asnumpy()
        got = topk.attend(q, k, v, m).asnumpy()
        assert np.abs(got - ref).max() <= 1e-5
    sparse = WindowAttention(16, 2, 8, mode="topk", topk_fractions=TOPK_FRACTIONS)
    assert np.abs(sparse.attend(q, k, v, None).asnumpy() - plain.attend(q, k, v, None).asnumpy()).max() > 1e-3


def test_topk_with_one_key_returns_best_value_row():
    att = WindowAttention(16, 2, 8, mode="topk", topk_fractions=(1e-6,))  # k = 1
    q, k, v = _qkv(seed=1)
    out = att.attend(q, k, v, None).asnumpy()
    scores = np.einsum("bhid,bhjd->bhij", q.asnumpy() * att.scale, k.asnumpy())
    best = scores.argmax(-1)
    expect = np.take_along_axis(v.asnumpy(), best[..., None], axis=2)
    assert np.abs(out - expect).max() <= 1e-6


# ---------------------------------------------------------------- parameter formulas


def _conv(cin, cout, k):
    return cin * cout * k * k + cout


def _dense(i, o):
    return i * o + o


def _gate(c, r):
    hidden = max(c // r, 4)
    return _conv(c, hidden, 1) + _conv(hidden, c, 1)


def _encoder(p, topk=0):
    s, c = p["shallow_dim"], p["embed_dim"]
    hid = int(c * p["mlp_ratio"])
    # LN(F_pe) (shared by eq. 7 and 9) and LN(F_msa), qkv, proj, MLP, conv, gate, top-k mixing
    block = (
        2 * 2 * c
        + _dense(c, 3 * c)
        + _dense(c, c)
        + _dense(c, hid)
        + _dense(hid, c)
        + _conv(c, c, 3)
        + _gate(c, p["reduction"])
        + topk
    )
    sam = 2 * _conv(s, s, 3) + _conv(s, 1, 3)
    return _conv(3, s, 3) + sam + _conv(s, c, p["patch_size"]) + p["depth"] * block


def _image_head(cin, p):
    s, c, ps = p["shallow_dim"], p["embed_dim"], p["patch_size"]
    return _conv(cin, c, 3) + _conv(c, s * ps * ps, 1) + _conv(s, 3, 3)


def _recog(cin, c):
    return _conv(cin, c, 3) + 2 * _conv(c, c, 3) + _dense(c, 2)


def expected_params(preset, strategy):
    p = PRESETS[preset]
    s, c, ps, depth = p["shallow_dim"], p["embed_dim"], p["patch_size"], p["depth"]
    if strategy == "smartassign" or strategy == "topk":
        gkfm = _gate(c, p["reduction"]) + 2 * _conv(c, c, 3)
        drm = _dense(p["drm_grid"] ** 2, p["drm_dim"]) + _dense(p["drm_dim"], p["drm_dim"])
        topk = len(TOPK_FRACTIONS) if strategy == "topk" else 0  # mixing weights per block
        return _encoder(p, topk) + 3 * gkfm + 2 * _image_head(2 * c, p) + _recog(2 * c, c) + drm
    if strategy == "hard":
        return _encoder(p) + 2 * _image_head(c, p) + _recog(c, c)
    if strategy == "cross_stitch":
        stitch = depth * 4 * c  # α_rr, α_rs, α_sr, α_ss per channel
        fusion = _conv(9, s, 3) + _conv(s, 3, 3)
        return 2 * _encoder(p) + stitch + 2 * _image_head(c, p) + _recog(2 * c, c) + fusion
    if strategy == "task_param":
        meta = sum(
            _dense(2, _conv(ci, co, k)) for ci, co, k in ((c, c, 3), (c, s * ps * ps, 1), (s, 3, 3))
        )  # one FC(γ) per decoder conv
        return _encoder(p) + _recog(c, c) + meta
    raise KeyError(strategy)


@pytest.mark.parametrize("preset", ["tiny", "default"])
@pytest.mark.parametrize("strategy", ["smartassign"] + list(STRATEGIES))
def test_parameter_count_formula(preset, strategy):
    cfg = {"preset": preset, **STRATEGIES.get(strategy, {})}
    net = build_network(cfg, seed=0)
    assert count_params(net) == expected_params(preset, strategy)


# ---------------------------------------------------------------- train, shapes, export


@pytest.fixture(scope="module", params=list(STRATEGIES))
def strategy_net(request):
    return request.param, build_network({"preset": "tiny", **STRATEGIES[request.param]}, seed=7)


@pytest.mark.slow
def test_strategy_trains_runs_odd_size_and_exports(strategy_net, tmp_path):
    name, net = strategy_net
    loss = SmartAssignLoss(net)
    step = TrainStep(loss, build_optimizer(net.trainable_params(), 4e-4))
    x, g, lab = mixed_batch(2, 32, 32, seed=8)
    out = step(ms.Tensor(x), ms.Tensor(g), ms.Tensor(lab))
    terms = [float(o.asnumpy()) for o in out[: len(loss.terms)]]
    assert len(out) == len(loss.terms) + 2
    assert all(np.isfinite(terms)), dict(zip(loss.terms, terms))
    assert bool(out[-2].asnumpy()) is False  # no overflow
    if name == "cross_stitch":
        assert loss.terms == SmartAssignLoss.TERMS + ("fused",) and terms[-1] > 0
    else:
        assert loss.terms == SmartAssignLoss.TERMS

    net.set_train(False)
    odd = np.random.default_rng(9).random((1, 3, 37, 45), dtype=np.float32)
    res = net(ms.Tensor(odd))
    n_img = 2 + int(getattr(net, "blind", False))
    shapes = [tuple(o.shape) for o in res]
    assert shapes.count((1, 3, 37, 45)) == n_img and (1, 2) in shapes and len(shapes) == n_img + 1
    assert all(np.isfinite(o.asnumpy()).all() for o in res)

    # --task auto through the engine: the blind output for cross_stitch / task_param.
    restored = Restorer(MindSporeBackend(net), tile=0).restore(odd[0].transpose(1, 2, 0), "auto")
    if net.blind:
        assert restored.task == "blind"
        np.testing.assert_array_equal(restored.image, res[-1].asnumpy()[0].transpose(1, 2, 0))
    else:
        assert restored.task in ("rain", "snow")

    # MINDIR export + GraphCell parity (task all: derain, desnow, recognition[, blind]).
    tile = np.random.default_rng(10).random((1, 3, 32, 32), dtype=np.float32)
    path, _ = export_network(
        net, "MINDIR", str(tmp_path / name), 32, 32, task="all", model_cfg={"preset": "tiny", **STRATEGIES[name]}
    )
    ref = [o.asnumpy() for o in InferenceWrapper(net, "all")(ms.Tensor(tile))]
    got = nn.GraphCell(ms.load(path))(ms.Tensor(tile))
    got = [o.asnumpy() for o in (got if isinstance(got, (tuple, list)) else (got,))]
    assert len(got) == len(ref) == 3 + int(net.blind)
    assert max(float(np.abs(a - b).max()) for a, b in zip(got, ref)) <= 1e-5
