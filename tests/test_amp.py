"""Mixed precision and loss scaling: the Ascend fp16 (O2) training cell, built exactly as run() builds
it on Ascend, compiles and trains on CPU; in fp32 the loss scale stays 1, in fp16 it is dynamic."""

import os

import numpy as np
import mindspore as ms
import pytest

from src.logs import capture
from src.config import load_config
from src.models import build_network
from src.train.runner import build_train_cell

from helpers import mixed_batch

pytestmark = pytest.mark.slow  # every test compiles a training cell (15-70 s each)

MAIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "smartassign.yaml")


def _cfg(*extra):
    return load_config(MAIN, ["--model.preset=tiny", "--train.loss_scale_window=2"] + list(extra))


def _batch():
    x, g, lab = mixed_batch(2, 64, 64, seed=0)
    assert lab.tolist() == [0, 1]
    return ms.Tensor(x), ms.Tensor(g), ms.Tensor(lab)


def test_ascend_fp16_cell_builds_and_trains_on_cpu():
    """amp_level auto on Ascend = O2: custom_mixed_precision wraps the network (_OutputTo32), the loss
    reads its flags through the wrapper, and the step runs with fp16 compute; the scale grows."""
    net, loss, optimizer, step, fp16 = build_train_cell(_cfg("--train.loss_scale=1.0"), "Ascend")
    assert fp16 and step.dynamic and type(net).__name__ == "_OutputTo32"
    assert loss.use_recog and loss.use_contra  # flags of the wrapped SmartAssign
    x, g, lab = _batch()

    # The wrapped network really computes in fp16: same weights as an fp32 build, slightly other output.
    ref = build_network(_cfg().model, seed=0)
    ref.set_train(False)
    net.set_train(False)
    out16, out32 = net(x)[0], ref(x)[0]
    assert out16.dtype == ms.float32  # cast back by the wrapper
    diff = float(np.abs(out16.asnumpy() - out32.asnumpy()).max())
    assert 0 < diff < 0.05, diff
    net.set_train(True)

    before = {p.name: p.asnumpy().copy() for p in net.trainable_params()}
    scales = []
    for _ in range(4):
        out = step(x, g, lab)
        assert len(out) == len(loss.terms) + 2
        assert not bool(out[-2].asnumpy()), "overflow in the fp16 step"
        assert all(np.isfinite(o.asnumpy()).all() for o in out[: len(loss.terms)])
        scales.append(float(out[-1].asnumpy()))
    assert scales == [1.0, 1.0, 2.0, 2.0]  # dynamic: doubles every 2 finite steps
    assert float(step.loss_scale.asnumpy()) == 4.0
    after = {p.name: p.asnumpy() for p in net.trainable_params()}
    assert any(not np.array_equal(before[k], after[k]) for k in before)


def test_fp32_loss_scale_stays_one():
    """In fp32 (CPU, amp_level auto) the scale is fixed at 1 whatever train.loss_scale asks: 4 finite
    steps with window 2 do not raise it (a dynamic scale would be 4 by then), and a step with
    non-finite gradients still leaves the weights untouched."""
    with capture() as logs:
        net, loss, _, step, fp16 = build_train_cell(_cfg("--train.loss_scale=1024"), "CPU")
    assert not fp16 and not step.dynamic
    assert any("train.loss_scale=1024 ignored" in line for line in logs)
    x, g, lab = _batch()
    bad = x.asnumpy().copy()
    bad[0, 0, 0, 0] = np.nan
    before = {p.name: p.asnumpy().copy() for p in net.trainable_params()}
    out = step(ms.Tensor(bad), g, lab)
    assert bool(out[-2].asnumpy()) and float(out[-1].asnumpy()) == 1.0
    assert all(np.array_equal(before[p.name], p.asnumpy()) for p in net.trainable_params())
    for _ in range(4):
        out = step(x, g, lab)
        assert float(out[-1].asnumpy()) == 1.0 and not bool(out[-2].asnumpy())
        assert np.isfinite(out[0].asnumpy())
    assert float(step.loss_scale.asnumpy()) == 1.0


def test_run_trains_validates_and_resumes_under_o2(tmp_path):
    """The whole run() path with amp_level O2 on CPU: steps, validation through the AMP wrapper,
    checkpoints whose weights load strictly into a plain network, and a resume."""
    import mindspore.dataset as ds
    from helpers import write_demo_tree
    from src.train import checkpoint
    from src.train.runner import run

    demo = write_demo_tree(str(tmp_path / "demo"), train=2, test=1, val=1)
    out = str(tmp_path / "o2")
    x, g, lab = mixed_batch(4, 64, 64, seed=0)

    def factory(epoch):
        return ds.NumpySlicesDataset({"image": x, "target": g, "label": lab}, shuffle=False).batch(2)

    demo_cfg = os.path.join(os.path.dirname(MAIN), "demo.yaml")
    base = [
        f"--data.roots.demo={demo}",
        "--data.auto_demo=false",
        f"--train.output_dir={out}",
        "--train.amp_level=O2",
        "--train.val_crop=0",
        "--train.val_max_images=1",
        "--train.save_every=0",
    ]
    state = run(load_config(demo_cfg, base + ["--train.max_steps=2"]), dataset_factory=factory)
    assert state.step == 2 and state.epoch == 1 and np.isfinite(state.best_score)
    net, _, _ = checkpoint.load_model(os.path.join(out, "ckpt", "best.ckpt"))  # strict: same names
    params, _, _ = checkpoint.read(os.path.join(out, "ckpt", "step_00000002.ckpt"))
    assert float(params["loss_scale"].asnumpy()) == 65536.0
    with capture() as logs:
        state = run(
            load_config(demo_cfg, base + ["--train.max_steps=3", "--train.resume=auto"]), dataset_factory=factory
        )
    assert state.step == 3
    assert any(line.startswith("resumed from") and "loss scale 65536" in line for line in logs)
