"""Checkpoints: atomic save with the model config inside, exact reload, clear mismatch errors."""

import os

import numpy as np
import mindspore as ms
import pytest

from src.losses import SmartAssignLoss
from src.models import PRESETS, build_network
from src.train import checkpoint
from src.train.step import TrainStep, build_optimizer


@pytest.mark.slow
def test_roundtrip_and_training_state(tmp_path):
    cfg = {"preset": "tiny", "gated_conv": False}
    net = build_network(cfg, seed=3)
    step = TrainStep(SmartAssignLoss(net), build_optimizer(net.trainable_params(), 4e-4), loss_scale=8.0)
    path = str(tmp_path / "run" / "step_5.ckpt")
    checkpoint.save(step, path, cfg, {"step": 5, "epoch": 1})
    assert os.listdir(tmp_path / "run") == ["step_5.ckpt"]  # no temporary left behind
    params, model_cfg, meta = checkpoint.read(path)
    assert model_cfg == {**cfg, **PRESETS["tiny"]} and meta == {"step": 5, "epoch": 1}
    assert float(params["loss_scale"].asnumpy()) == 8.0
    assert any(k.startswith("moment1.") for k in params)
    net2, _, _ = checkpoint.load_model(path)
    x = ms.Tensor(np.random.default_rng(0).random((1, 3, 40, 36), dtype=np.float32))
    net.set_train(False)
    net2.set_train(False)
    np.testing.assert_array_equal(net(x)[0].asnumpy(), net2(x)[0].asnumpy())


def test_stored_sizes_outlive_a_preset_change(tmp_path, monkeypatch):
    """A checkpoint stores its preset's sizes: when the preset changes later, loading it still builds
    the network its weights were trained as."""
    net = build_network({"preset": "tiny"}, seed=0)
    path = checkpoint.save(net, str(tmp_path / "w.ckpt"), {"preset": "tiny"})
    monkeypatch.setitem(PRESETS, "tiny", {**PRESETS["tiny"], "patch_size": 2, "embed_dim": 16})
    loaded, cfg, _ = checkpoint.load_model(path)
    assert cfg["patch_size"] == 4 and cfg["embed_dim"] == 48
    x = ms.Tensor(np.random.default_rng(1).random((1, 3, 32, 32), dtype=np.float32))
    net.set_train(False)
    loaded.set_train(False)
    np.testing.assert_array_equal(net(x)[0].asnumpy(), loaded(x)[0].asnumpy())


def test_mismatch_and_missing_are_reported(tmp_path):
    net = build_network({"preset": "tiny"}, seed=0)
    path = checkpoint.save(net, str(tmp_path / "w.ckpt"), {"preset": "tiny"})
    other = build_network({"preset": "tiny", "assignment": "hard"})
    params, _, _ = checkpoint.read(path)
    with pytest.raises(checkpoint.CheckpointError, match="does not match the network: .*with another shape"):
        checkpoint.load_weights(other, params, source=path)
    v3 = build_network({"preset": "tiny", "gated_conv": False})  # the full model's conv branch is extra
    with pytest.raises(checkpoint.CheckpointError, match=r"not in the network \(e\.g\. encoder\.blocks\.0\.conv"):
        checkpoint.load_weights(v3, params, source=path)
    with pytest.raises(checkpoint.CheckpointError, match="checkpoint not found: .*nope.ckpt"):
        checkpoint.read(str(tmp_path / "nope.ckpt"))
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(checkpoint.CheckpointError, match="junk.ckpt: not a readable"):
        checkpoint.read(str(tmp_path / "junk.ckpt"))


def test_non_strict_load_reports_what_stays_initial(tmp_path):
    """K1/K2 start from a trained SmartAssign: the re-shaped head convs keep their initial values."""
    net = build_network({"preset": "tiny"}, seed=0)
    params, _, _ = checkpoint.read(checkpoint.save(net, str(tmp_path / "w.ckpt"), {"preset": "tiny"}))
    k1 = build_network({"preset": "tiny", "head_input": "common"}, seed=1)
    left = checkpoint.load_weights(k1, params, strict=False)
    assert left == ["tkff.head_dr.fuse.weight", "tkff.head_ds.fuse.weight"]
    assert np.array_equal(k1.encoder.project.weight.asnumpy(), net.encoder.project.weight.asnumpy())


def test_checkpoint_of_another_network_revision_is_refused(tmp_path, monkeypatch):
    net = build_network({"preset": "tiny"}, seed=0)
    monkeypatch.setattr(checkpoint, "NETWORK_REVISION", 1)  # as the first release wrote them
    path = checkpoint.save(net, str(tmp_path / "old.ckpt"), {"preset": "tiny"})
    monkeypatch.undo()
    current = checkpoint.NETWORK_REVISION
    with pytest.raises(
        checkpoint.CheckpointError, match=rf"old.ckpt: saved by network revision 1, this code is revision {current}"
    ):
        checkpoint.read(path)


def test_non_strict_load_lists_the_weights_the_network_does_not_have(tmp_path):
    """K1/K2 (contrast off, so no DRM) from a V6 train-step checkpoint: the DRM weights are ignored
    and listed, the optimizer moments are not listed, nothing raises."""
    v6 = build_network({"preset": "tiny"}, seed=0)
    step = TrainStep(SmartAssignLoss(v6), build_optimizer(v6.trainable_params(), 4e-4))
    params, _, _ = checkpoint.read(checkpoint.save(step, str(tmp_path / "v6.ckpt"), {"preset": "tiny"}))
    k1 = build_network({"preset": "tiny", "head_input": "common", "freeze_encoder": True, "contrast": False}, seed=1)
    assert not hasattr(k1, "drm")
    ignored = []
    left = checkpoint.load_weights(k1, params, strict=False, ignored=ignored)
    drm = sorted(p.name for p in v6.drm.get_parameters())
    assert drm and ignored == drm
    assert left == ["tkff.head_dr.fuse.weight", "tkff.head_ds.fuse.weight"]
    assert np.array_equal(k1.encoder.project.weight.asnumpy(), v6.encoder.project.weight.asnumpy())
