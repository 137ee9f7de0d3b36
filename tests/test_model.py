"""Network: output shapes, TKFF routing by gradients, ablation switches."""

import numpy as np
import mindspore as ms
import pytest
from mindspore import ops

from src.losses import SPARSITY_FILTERS, charbonnier, gradient_loss, quasi_sparsity, recognition_loss
from src.models import PRESETS, build_network

from helpers import mixed_batch


@pytest.mark.parametrize("preset", ["tiny", "lite", pytest.param("default", marks=pytest.mark.slow)])
def test_head_shapes_odd_size(preset):
    net = build_network({"preset": preset}, seed=0)
    x = ms.Tensor(np.random.default_rng(0).random((2, 3, 67, 101), dtype=np.float32))
    net.set_train(True)
    out = net(x)
    c = PRESETS[preset]["embed_dim"]
    f = PRESETS[preset]["drm_dim"]
    assert [tuple(o.shape) for o in out] == [(2, 3, 67, 101), (2, 3, 67, 101), (2, 2), (2, c, f), (2, c, f), (2, c, f)]
    m = out[3].asnumpy()
    np.testing.assert_allclose(np.linalg.norm(m, axis=-1), 1.0, atol=1e-5)  # DRM rows are unit
    net.set_train(False)
    out = net(x)
    assert [tuple(o.shape) for o in out] == [(2, 3, 67, 101), (2, 3, 67, 101), (2, 2)]
    assert all(np.isfinite(o.asnumpy()).all() for o in out)


# ---------------------------------------------------------------- TKFF routing by gradients

FILTERS = ms.Tensor(SPARSITY_FILTERS[:, None])


def _image_loss(r, g, x):
    return charbonnier(r, g) + gradient_loss(r, g) + 0.01 * quasi_sparsity(r, x, FILTERS)


def _loss_fns(net):
    def derain(x, g, onehot):
        out = net(x)
        return _image_loss(out[0], g, x)

    def desnow(x, g, onehot):
        out = net(x)
        return _image_loss(out[1], g, x)

    def recog(x, g, onehot):
        out = net(x)
        return recognition_loss(out[2], onehot)

    return {"derain": derain, "desnow": desnow, "recog": recog}


@pytest.fixture(scope="module")
def routing_grads():
    """Max |gradient| per GKFM for each single-task loss (one compile per loss)."""
    net = build_network({"preset": "tiny", "contrast": False}, seed=1)
    net.set_train(False)
    x, g, lab = mixed_batch(2, 64, 64, seed=3)
    onehot = np.eye(2, dtype=np.float32)[lab]
    args = (ms.Tensor(x), ms.Tensor(g), ms.Tensor(onehot))
    groups = {
        name: [p for p in net.trainable_params() if p.name.startswith(name + ".")]
        for name in ("gkfm_rk", "gkfm_ck", "gkfm_sk", "encoder")
    }
    weights = net.trainable_params()
    result = {}
    for task, fn in _loss_fns(net).items():
        _, grads = ms.value_and_grad(fn, None, weights)(*args)
        by_name = {p.name: np.abs(gr.asnumpy()).max() for p, gr in zip(weights, grads)}
        result[task] = {k: max(by_name[p.name] for p in ps) for k, ps in groups.items()}
    return result


@pytest.mark.parametrize(
    "task,zero,nonzero",
    [
        ("derain", "gkfm_sk", ("gkfm_rk", "gkfm_ck")),
        ("desnow", "gkfm_rk", ("gkfm_sk", "gkfm_ck")),
        ("recog", "gkfm_ck", ("gkfm_rk", "gkfm_sk")),
    ],
)
@pytest.mark.slow
def test_tkff_routes_gradients(routing_grads, task, zero, nonzero):
    g = routing_grads[task]
    assert g[zero] == 0.0, f"{task} loss must not reach {zero}"
    for name in nonzero + ("encoder",):
        assert g[name] > 1e-9, f"{task} loss must reach {name}"


def _tkff_loss_fns(tkff, img, target, onehot):
    def derain(a, b, c, d):
        return charbonnier(tkff((a, b, c, d), img)[0], target)

    def desnow(a, b, c, d):
        return charbonnier(tkff((a, b, c, d), img)[1], target)

    def recog(a, b, c, d):
        return recognition_loss(tkff((a, b, c, d), img)[2], onehot)

    return {"derain": derain, "desnow": desnow, "recog": recog}


def test_hard_sharing_routes_every_task_through_f_wk():
    """V2: every head reads F_wk, so each task's loss reaches F_wk and nothing else."""
    rng = np.random.default_rng(0)
    for route, expect in (
        ("hard", {"derain": "wk", "desnow": "wk", "recog": "wk"}),
        ("smartassign", {"derain": "rk ck", "desnow": "sk ck", "recog": "rk sk"}),
    ):
        net = build_network(
            {"preset": "tiny", "contrast": False, "assignment": "hard" if route == "hard" else "smartassign"}, seed=0
        )
        tkff = net.tkff
        feats = [ms.Tensor(rng.standard_normal((1, 48, 8, 8)).astype(np.float32)) for _ in range(4)]
        img = ms.Tensor(rng.random((1, 3, 32, 32), dtype=np.float32))
        target = ms.Tensor(rng.random((1, 3, 32, 32), dtype=np.float32))
        onehot = ms.Tensor(np.array([[1.0, 0.0]], np.float32))
        fns = _tkff_loss_fns(tkff, img, target, onehot)
        for task, fn in fns.items():
            grads = ops.grad(fn, grad_position=(0, 1, 2, 3))(*feats)
            reached = {k for k, gr in zip(("wk", "rk", "ck", "sk"), grads) if np.abs(gr.asnumpy()).max() > 0}
            assert reached == set(expect[task].split()), (route, task, reached)


@pytest.mark.slow
@pytest.mark.parametrize(
    "head_input,path,fullres",
    [
        ("common", ("gkfm_ck",), False),
        ("unique", ("gkfm_rk",), False),
        ("both", ("gkfm_rk", "gkfm_ck"), False),
        ("common", ("gkfm_ck",), True),
        ("both", ("gkfm_rk", "gkfm_ck"), True),
    ],
)
def test_derain_loss_reaches_only_its_assigned_knowledge(head_input, path, fullres):
    """K1 (common): the derain loss gives exactly zero gradient to everything after the encoder that
    is not on the F_ck path (GKFM_rk, GKFM_sk, D_ds, D_re); K2 (unique): only the F_rk path. Nothing
    shared reaches D_dr past its GKFM (the heads take no encoder skip), so the encoder's gradient is
    non-zero only through the assigned GKFM. The same holds with each head's own full-resolution
    path (``head_fullres``): it reads the input image, never an encoder feature."""
    cfg = {"preset": "tiny", "contrast": False, "head_input": head_input, "head_fullres": fullres}
    net = build_network(cfg, seed=2)
    net.set_train(False)
    x, g, _ = mixed_batch(2, 64, 64, seed=5)
    weights = net.trainable_params()

    def derain(x, g):
        return _image_loss(net(x)[0], g, x)

    _, grads = ms.value_and_grad(derain, None, weights)(ms.Tensor(x), ms.Tensor(g))
    reached = {
        p.name.split(".")[0] if not p.name.startswith("tkff.") else ".".join(p.name.split(".")[:2])
        for p, gr in zip(weights, grads)
        if np.abs(gr.asnumpy()).max() > 0
    }
    assert reached == {"encoder", "tkff.head_dr"} | set(path), reached
    # With the assigned GKFM's output held fixed (its last conv zeroed), the encoder gets nothing:
    # no path from the encoder to D_dr bypasses GKFM/TKFF.
    for name in path:
        last = getattr(net, name).refine[-1]
        last.weight.set_data(ms.Tensor(np.zeros(last.weight.shape, np.float32)))
        last.bias.set_data(ms.Tensor(np.zeros(last.bias.shape, np.float32)))
    _, grads = ms.value_and_grad(derain, None, weights)(ms.Tensor(x), ms.Tensor(g))
    enc = [np.abs(gr.asnumpy()).max() for p, gr in zip(weights, grads) if p.name.startswith("encoder.")]
    assert max(enc) == 0.0


def test_fullres_head_sees_the_input_image():
    """With the knowledge held fixed, a plain head's residual R − I does not depend on I (it decodes
    the 1/4-resolution knowledge only); the full-resolution head's does, through its own view of I."""
    from src.models.heads import ImageHead

    rng = np.random.default_rng(0)
    feats = ms.Tensor(rng.standard_normal((1, 16, 8, 8)).astype(np.float32))
    img = ms.Tensor(rng.random((1, 3, 32, 32), dtype=np.float32))
    for fullres in (False, True):
        ms.set_seed(0)
        head = ImageHead(16, 16, 8, 4, fullres=fullres)

        def residual(i):
            return (head(feats, i) - i).sum()

        grad = np.abs(ops.grad(residual)(img).asnumpy()).max()
        assert (grad > 1e-6) == fullres, (fullres, grad)
    assert {p.name.split(".")[0] for p in head.trainable_params()} == {"fuse", "up", "view", "refine", "out"}


# ---------------------------------------------------------------- ablation switches


def _names(cfg):
    net = build_network(dict(preset="tiny", **cfg), seed=0)
    return net, {p.name for p in net.get_parameters()}, {p.name for p in net.trainable_params()}


def test_ablation_switches_change_parameter_sets():
    full, names, trainable = _names({})
    c = PRESETS["tiny"]["embed_dim"]
    assert any(n.startswith("drm.") for n in names)
    assert any(n.startswith("gkfm_ck.") for n in names)
    assert any(".local" in n or ".conv." in n for n in names if n.startswith("encoder.blocks"))
    assert full.tkff.head_dr.fuse.in_channels == 2 * c

    _, v1, _ = _names({"contrast": False})  # V1: no DRM
    assert v1 == {n for n in names if not n.startswith("drm.")}

    v2net, v2, _ = _names({"assignment": "hard"})  # V2: no GKFM, heads read F_wk
    assert not any(n.startswith(("gkfm_", "drm.")) for n in v2)
    assert v2net.tkff.head_dr.fuse.in_channels == c and v2net.tkff.head_re.body[0].in_channels == c

    _, v3, _ = _names({"gated_conv": False})  # V3: no gated conv branch
    removed = names - v3
    assert removed and all(
        n.startswith("encoder.blocks") and any(k in n for k in (".conv.", ".gate.")) for n in removed
    )  # LN(F_pe) stays for (7)
    assert v3 < names

    _, v5, _ = _names({"recognition": False})  # V5: no recognition head
    assert v5 == {n for n in names if not n.startswith("tkff.head_re.")}

    for head_input, (dr_in, ds_in) in (("common", (c, c)), ("unique", (c, c))):  # K1, K2
        knet, kn, ktrain = _names({"head_input": head_input, "freeze_encoder": True})
        assert knet.tkff.head_dr.fuse.in_channels == dr_in and knet.tkff.head_ds.fuse.in_channels == ds_in
        assert not any(n.startswith(("encoder.", "gkfm_")) for n in ktrain)
        assert any(n.startswith("tkff.head_dr.") for n in ktrain)
    assert _names({"head_input": "common"})[0].tkff.route[0] == ("ck",)
    assert _names({"head_input": "unique"})[0].tkff.route[:2] == (("rk",), ("sk",))


def test_bad_switch_names_the_key():
    with pytest.raises(ValueError, match="model.assignment"):
        build_network({"preset": "tiny", "assignment": "soft"})
    with pytest.raises(ValueError, match="model.preset"):
        build_network({"preset": "huge"})


# ---------------------------------------------------------------- CPU-fast forms of standard ops


def test_window_order_is_roll_then_partition():
    """The one-gather shift + partition equals np.roll followed by the Swin window partition."""
    from src.models.glsf_vit import window_order

    for h, w, shift in ((16, 24, 4), (8, 8, 0), (24, 16, 4), (32, 16, 0)):
        tokens = np.arange(h * w).reshape(h, w)
        rolled = np.roll(tokens, (-shift, -shift), (0, 1))
        windows = rolled.reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3).reshape(-1)
        np.testing.assert_array_equal(window_order(h, w, 8, 8, shift), windows)


def test_global_pool_is_the_spatial_mean():
    from src.models.layers import global_pool

    x = np.random.default_rng(1).random((2, 6, 5, 7), dtype=np.float32)
    np.testing.assert_allclose(
        global_pool(ms.Tensor(x)).asnumpy(), x.mean(axis=(2, 3), keepdims=True), rtol=1e-5, atol=1e-6
    )
    half = global_pool(ms.Tensor(x.astype(np.float16)))  # mixed precision keeps the dtype
    assert half.dtype == ms.float16
    np.testing.assert_allclose(half.asnumpy(), x.mean(axis=(2, 3), keepdims=True), atol=2e-3)
