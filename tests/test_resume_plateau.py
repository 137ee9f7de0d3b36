"""LR halving on a validation plateau, its counters across checkpoint + resume, and exact resume
with two dataset workers across an epoch boundary."""

import csv
import hashlib
import json
import os
import random
import shutil
import time

import numpy as np
import mindspore as ms
import pytest
from mindspore import nn
from mindspore.train.callback import RunContext, _InternalCallbackParam

import src.data.pipeline as pipeline
from src.config import ConfigError, load_config
from src.train import checkpoint, validate
from src.train.callbacks import CheckpointSaver, PersistentPlateau, TrainState
from src.train.runner import run, warmup_steps

from helpers import write_demo_tree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_CFG = os.path.join(ROOT, "configs", "demo.yaml")


def _overrides(demo_root, out_dir, **extra):
    base = {
        "data.roots.demo": demo_root,
        "data.crop_size": 32,
        "data.auto_demo": False,
        "data.num_workers": 1,
        "data.val_sets": "[demo_rain/val, demo_snow/val]",
        "train.output_dir": out_dir,
        "train.log_every": 1000,
        "train.val_max_images": 1,
        "train.val_crop": 32,
        "train.save_every": 0,
        "train.keep_checkpoints": 20,
        "train.batch_size": 4,
        "train.epoch_repeat": 1,
        "train.max_steps": 0,
        "train.lr": 0.001,
        "train.plateau_factor": 0.5,
        "train.min_lr": 1e-6,
    }
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


def _demo_tree(root, train, seed):
    """write_demo_tree with small images, plus a val split (a copy of test if the helper writes none)."""
    write_demo_tree(root, train=train, test=1, h=40, w=44, seed=seed)
    for task in ("rain", "snow"):
        if not os.path.isdir(os.path.join(root, task, "val")):
            shutil.copytree(os.path.join(root, task, "test"), os.path.join(root, task, "val"))
    return root


def _ckpt(out_dir, step):
    return checkpoint.read(os.path.join(out_dir, "ckpt", f"step_{step:08d}.ckpt"))


def _lr(params):
    return float(params["learning_rate"].asnumpy())


def _val_rows(out_dir):
    """(step, epoch, psnr_y, lr) of every validation in val.csv."""
    lines = open(os.path.join(out_dir, "val.csv"), encoding="utf-8").read().splitlines()
    assert lines[0] == "step,epoch,psnr_y,eval_loss,lr,recognition"
    return [(int(s), int(e), float(p), float(lr)) for s, e, p, _, lr, *_ in (ln.split(",") for ln in lines[1:])]


# ---------------------------------------------------------------- 4. LR on plateau


def _epoch_end(plateau, psnr, complete=True):
    """What Model.fit hands the callback at an epoch end with a validation result."""
    cb = _InternalCallbackParam()
    cb.optimizer = None  # Model(train_step) leaves it None; the callback uses its own
    cb.eval_results = {"psnr": psnr} if psnr is not None else {}
    cb.cur_epoch_num = 0
    plateau.state.epoch_complete = complete
    plateau.on_train_epoch_end(RunContext(cb))


def _plateau(state, optimizer, patience=3):
    p = PersistentPlateau(
        state, optimizer, monitor="psnr", mode="max", factor=0.5, patience=patience, min_lr=1e-6, verbose=False
    )
    p.on_train_begin(RunContext(_InternalCallbackParam()))
    return p


def _adam(lr=1e-3):
    return nn.Adam([ms.Parameter(ms.Tensor(np.zeros(3, np.float32)), name="w")], learning_rate=lr)


def test_plateau_halves_lr_after_patience_epochs():
    opt = _adam()
    state = TrainState(steps_per_epoch=1)
    p = _plateau(state, opt, patience=3)
    lrs = []
    for psnr in (20.0, 21.0, 21.0, 20.5, 20.9, 20.0, 20.0, 20.0):
        _epoch_end(p, psnr)
        lrs.append(float(opt.learning_rate.asnumpy()))
    # best 21 after epoch 2; epochs 3, 4, 5 do not beat it -> halved at epoch 5; 6, 7, 8 -> again.
    np.testing.assert_allclose(lrs, [1e-3] * 4 + [5e-4] * 3 + [2.5e-4], rtol=1e-6)
    assert state.plateau == {"best": 21.0, "wait": 0, "cooldown": 0}
    # Epochs cut short by max_steps and epochs without a validation result do not count.
    _epoch_end(p, 10.0, complete=False)
    _epoch_end(p, None)
    assert state.plateau["wait"] == 0
    _epoch_end(p, 10.0)
    assert state.plateau == {"best": 21.0, "wait": 1, "cooldown": 0}


def test_plateau_counters_survive_resume():
    """Two epochs into a wait of three, a checkpoint; the resumed callback halves after one more."""
    opt = _adam()
    state = TrainState(steps_per_epoch=1)
    p = _plateau(state, opt, patience=3)
    for psnr in (20.0, 19.0, 19.5):
        _epoch_end(p, psnr)
    meta = json.loads(json.dumps(state.meta()))  # what a checkpoint keeps
    assert meta["plateau"] == {"best": 20.0, "wait": 2, "cooldown": 0}

    resumed_opt = _adam()
    resumed_state = TrainState(steps_per_epoch=1)
    resumed_state.plateau = meta["plateau"]
    resumed = _plateau(resumed_state, resumed_opt, patience=3)
    resumed.on_train_begin(RunContext(_InternalCallbackParam()))  # every later fit(): no reset
    assert (resumed.best, resumed.wait) == (20.0, 2)
    _epoch_end(resumed, 19.9)  # 3rd epoch without beating 20
    assert float(resumed_opt.learning_rate.asnumpy()) == pytest.approx(5e-4)
    assert resumed_state.plateau == {"best": 20.0, "wait": 0, "cooldown": 0}

    restarted = _plateau(TrainState(steps_per_epoch=1), _adam(), patience=3)  # what a reset would do
    _epoch_end(restarted, 19.9)
    assert float(restarted.optimizer.learning_rate.asnumpy()) == pytest.approx(1e-3)


@pytest.fixture(scope="module")
def one_step_demo(tmp_path_factory):
    """2 pairs per task: with batch 4 (2 rain + 2 snow) one step per epoch."""
    return _demo_tree(str(tmp_path_factory.mktemp("demo1")), train=2, seed=1)


@pytest.mark.slow
def test_plateau_through_train_and_resume(one_step_demo, tmp_path, monkeypatch):
    """train.py with a validation PSNR that never improves after epoch 1 and patience 2: the LR must
    halve after epochs 3 and 5. The run is stopped after epoch 2 (wait 1) and resumed: the resumed
    run continues the wait (halving after epoch 3, and again after 5); a restarted wait would take
    epoch 3 as a new best and halve only after epoch 5 (final LR 5e-4 instead of 2.5e-4)."""
    monkeypatch.setattr(validate.ValPSNR, "eval", lambda self: 20.0)
    out = str(tmp_path / "run")
    extra = {"train.plateau_patience": 2}
    run(load_config(DEMO_CFG, _overrides(one_step_demo, out, **extra, **{"train.epochs": 2})))
    params, _, meta = _ckpt(out, 2)
    assert meta["epoch"] == 2 and meta["plateau"] == {"best": 20.0, "wait": 1, "cooldown": 0}
    assert _lr(params) == pytest.approx(1e-3)
    state = run(
        load_config(DEMO_CFG, _overrides(one_step_demo, out, **extra, **{"train.epochs": 5, "train.resume": "auto"}))
    )
    assert state.step == 5 and state.epoch == 5

    expected_lr = [1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4]
    expected_wait = [0, 1, 0, 1, 0]
    rows = _val_rows(out)
    assert [r[:3] for r in rows] == [(e, e, 20.0) for e in range(1, 6)]
    np.testing.assert_allclose([r[3] for r in rows], expected_lr, rtol=1e-6)
    for step in range(2, 6):
        params, _, meta = _ckpt(out, step)
        assert meta["plateau"] == {"best": 20.0, "wait": expected_wait[step - 1], "cooldown": 0}, step
        assert _lr(params) == pytest.approx(expected_lr[step - 1]), step


@pytest.mark.parametrize("value", [-1, 2.5, "some", 4])
def test_warmup_must_be_whole_steps_within_the_first_epoch(value):
    """train.warmup_steps: a negative, fractional or non-numeric value, or one that reaches the
    plateau schedule's first epoch end (4 steps here), is a one-line error naming the option."""
    with pytest.raises(ConfigError) as err:
        warmup_steps({"warmup_steps": value}, 4)
    assert "train.warmup_steps=" in str(err.value) and "\n" not in str(err.value)
    assert warmup_steps({"warmup_steps": 3}, 4) == 3 and warmup_steps({}, 4) == 0


# ---------------------------------------------------------------- 5. exact resume, 2 workers


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """8 pairs per task: with batch 4, 4 steps per epoch."""
    return _demo_tree(str(tmp_path_factory.mktemp("demo8")), train=8, seed=2)


def _batch_hashes(data_cfg, seed, skip=0):
    data = pipeline.create_train_dataset(data_cfg, 4, seed=seed)
    if skip:
        data = data.skip(skip)
    return [
        hashlib.sha256(b["image"].tobytes() + b["target"].tobytes() + b["label"].tobytes()).hexdigest()
        for b in data.create_dict_iterator(num_epochs=1, output_numpy=True)
    ]


def test_two_worker_batches_do_not_depend_on_worker_timing(demo, monkeypatch):
    """Random decode delays (workers finishing out of order) change neither the batches of an epoch
    nor what is left after skipping some of them (how a resumed run re-enters an epoch)."""
    real, jitter = pipeline.load_pair, random.Random(0)

    def slow_load_pair(*args, **kwargs):
        time.sleep(jitter.uniform(0.0, 0.01))
        return real(*args, **kwargs)

    cfg = load_config(DEMO_CFG, _overrides(demo, "unused", **{"data.num_workers": 2})).data
    reference = _batch_hashes(cfg, seed=7)
    monkeypatch.setattr(pipeline, "load_pair", slow_load_pair)
    assert len(reference) == 4 and len(set(reference)) == 4
    assert _batch_hashes(cfg, seed=7) == reference
    assert _batch_hashes(cfg, seed=7, skip=3) == reference[3:]
    assert _batch_hashes(cfg, seed=8) != reference  # each epoch has its own order


@pytest.mark.slow
def test_resume_equivalence_two_workers_across_epochs(demo, tmp_path):
    """7 steps in one run == 2 steps (epoch 1), stop, --train.resume auto, 5 more: the resumed part
    finishes epoch 1 (with its validation) and runs 3 steps of epoch 2. Identical weights, optimizer
    state (Adam moments, LR, loss scale) and per-step losses; the log continues where it stopped.
    With a 3-step LR warm-up, stopped in the middle of it: the LR rises lr/3, 2lr/3, lr and stays,
    in both runs."""
    extra = {"data.num_workers": 2, "train.save_every": 1, "train.epochs": 10, "train.warmup_steps": 3}
    whole = str(tmp_path / "whole")
    run(load_config(DEMO_CFG, _overrides(demo, whole, **extra, **{"train.max_steps": 7})))
    split = str(tmp_path / "split")
    run(load_config(DEMO_CFG, _overrides(demo, split, **extra, **{"train.max_steps": 2})))
    assert _ckpt(split, 2)[2]["epoch"] == 0
    state = run(
        load_config(DEMO_CFG, _overrides(demo, split, **extra, **{"train.max_steps": 7, "train.resume": "auto"}))
    )
    assert state.step == 7 and state.epoch == 1
    assert "num_workers: 2" in open(os.path.join(split, "config.yaml"), encoding="utf-8").read()
    a, _, meta_a = _ckpt(whole, 7)
    b, _, meta_b = _ckpt(split, 7)
    assert meta_a["epoch"] == meta_b["epoch"] == 1 and meta_a["plateau"] == meta_b["plateau"]
    assert set(a) == set(b)
    assert any(k.startswith("moment2.") for k in a) and "learning_rate" in a and "loss_scale" in a  # optimizer state
    differ = [k for k in a if not np.array_equal(a[k].asnumpy(), b[k].asnumpy())]
    assert not differ, differ[:5]
    rows_a = open(os.path.join(whole, "log.csv")).read().splitlines()
    rows_b = open(os.path.join(split, "log.csv")).read().splitlines()
    assert len(rows_a) == len(rows_b) == 8
    assert [r.split(",")[:-1] for r in rows_a] == [r.split(",")[:-1] for r in rows_b]  # all but step_time
    lr = [float(row["lr"]) for row in csv.DictReader(rows_a)]
    np.testing.assert_allclose(lr, [1e-3 / 3, 2e-3 / 3] + [1e-3] * 5, rtol=1e-6)
    # Validations after epoch 1 (step 4) and at the final stop (step 7); Model.fit also validates at a
    # max_steps stop, so the split run has an extra row at step 2.
    assert _val_rows(whole) == [r for r in _val_rows(split) if r[0] > 2]


# ---------------------------------------------------------------- 5. training only the recognition head


class _Step(nn.Cell):
    """What CheckpointSaver needs of a train step: a cell with an optimizer."""

    def __init__(self):
        super().__init__()
        self.optimizer = _adam()


def _saver_end(saver, step, results):
    """An epoch end with these validation results, as Model.fit hands it to CheckpointSaver."""
    saver.state.step, saver.state.epoch = step, step
    cb = _InternalCallbackParam()
    cb.eval_results = dict(results)
    saver.on_train_epoch_end(RunContext(cb))


def test_best_ckpt_follows_the_monitored_score(tmp_path):
    """best.ckpt is the validation with the highest monitored score (PSNR-Y here) so far; every
    validation is a row of val.csv."""

    ckpt_dir = str(tmp_path / "ckpt")
    saver = CheckpointSaver(TrainState(4), _Step(), nn.Dense(2, 2), {}, ckpt_dir)
    chosen = []
    for step, psnr in ((1, 30.0), (2, 29.0), (3, 31.0), (4, 29.5)):
        _saver_end(saver, step, {"psnr": psnr, "recognition": 0.7})
        chosen.append(checkpoint.read(os.path.join(ckpt_dir, "best.ckpt"))[2]["step"])
    assert chosen == [1, 1, 3, 3]
    _, _, meta = checkpoint.read(os.path.join(ckpt_dir, "best.ckpt"))
    assert meta == {"step": 3, "monitor": "psnr", "score": 31.0, "psnr_y": 31.0}
    rows = open(tmp_path / "val.csv", encoding="utf-8").read().splitlines()
    assert len(rows) == 5 and rows[3].split(",")[2] == "31.0" and rows[3].endswith(",0.7")


def test_val_csv_keeps_its_columns_across_releases(tmp_path):
    """A val.csv from before the recognition column keeps its columns while rows leave it empty,
    and the first row that fills it rewrites the file with it (older rows empty there); a val.csv
    with columns no longer written (the lightest-rain row's) keeps them, empty in new rows."""

    old_header = "step,epoch,psnr_y,eval_loss,lr"
    (tmp_path / "val.csv").write_text(f"{old_header}\n4,1,25.5,0.01,0.001\n", encoding="utf-8")
    saver = CheckpointSaver(TrainState(4), _Step(), nn.Dense(2, 2), {}, str(tmp_path / "ckpt"))
    _saver_end(saver, 8, {"psnr": 25.6})
    assert (tmp_path / "val.csv").read_text(encoding="utf-8").splitlines()[0] == old_header
    _saver_end(saver, 12, {"psnr": 25.7, "recognition": 0.72})
    with open(tmp_path / "val.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == old_header.split(",") + ["recognition"]
    assert [r["step"] for r in rows] == ["4", "8", "12"] and rows[0]["psnr_y"] == "25.5"
    assert [r["recognition"] for r in rows] == ["", "", "0.72"]
    assert not [f for f in os.listdir(tmp_path) if ".tmp" in f]

    light_header = "step,epoch,psnr_y,eval_loss,lr,recognition,light_gain,light_worst"
    (tmp_path / "val.csv").write_text(f"{light_header}\n4,1,25.5,0.01,0.001,0.7,0.1,-0.4\n", encoding="utf-8")
    _saver_end(saver, 16, {"psnr": 25.8, "recognition": 0.73})
    lines = (tmp_path / "val.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == light_header and lines[2].startswith("16,16,25.8,") and lines[2].endswith(",0.73,,")


def test_val_recognition_is_the_mean_probability_of_the_true_task():
    metric = validate.ValRecognition()
    scores = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 3.0]], np.float32)
    metric.update((None, ms.Tensor(scores)), (None, ms.Tensor(np.array([0, 1, 1], np.int32))))
    want = np.mean([1 / (1 + np.exp(-2.0)), 1 / (1 + np.exp(-1.0)), 0.5])
    assert metric.eval() == pytest.approx(want, rel=1e-6)
    metric.clear()
    metric.update((None, ms.Tensor(scores[:1])), (None, ms.Tensor(np.array([1], np.int32))))  # sure and wrong
    assert metric.eval() == pytest.approx(1 / (1 + np.exp(2.0)), rel=1e-6)


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"train.trainable": "heads"}, r"train.trainable='heads' is not valid; choose all or recognition"),
        ({"train.trainable": "derain"}, r"train.trainable='derain' is not valid; choose all or recognition"),
        ({"train.trainable": "recognition"}, r"trains only the recognition head .* --train.pretrained="),
        (
            {"train.trainable": "recognition", "train.pretrained": "x.ckpt", "model.recognition": False},
            r"this model has no recognition head",
        ),
    ],
)
def test_trainable_refuses_what_it_cannot_train(extra, message, tmp_path):
    from src.config import ConfigError
    from src.train.runner import check_train_config

    cfg = load_config(DEMO_CFG, _overrides(str(tmp_path), str(tmp_path / "run"), **extra))
    with pytest.raises(ConfigError, match=message) as exc:
        check_train_config(cfg)
    assert "\n" not in str(exc.value)


def _head_only_run(demo, tmp_path, trainable, prefix):
    """Two steps of ``train.trainable`` from a saved network: asserts that weights moved and that
    every moved weight starts with ``prefix``; returns (run folder, overrides, state, step-2 meta)."""
    from src.models import build_network

    net = build_network({"preset": "tiny"}, seed=3)
    pre = checkpoint.save(net, str(tmp_path / "pre" / "best.ckpt"), {"preset": "tiny"})
    before = {p.name: p.asnumpy().copy() for p in net.get_parameters()}
    out = str(tmp_path / "run")
    extra = {"train.trainable": trainable, "train.pretrained": pre, "train.epochs": 2}
    state = run(load_config(DEMO_CFG, _overrides(demo, out, **extra)))
    assert state.step == 2
    params, _, meta = _ckpt(out, 2)
    moved = {n for n, v in before.items() if not np.array_equal(params[n].asnumpy(), v)}
    assert moved and all(n.startswith(prefix) for n in moved), sorted(moved)
    return out, extra, state, meta


@pytest.mark.slow
def test_recognition_only_training_changes_only_d_re(one_step_demo, tmp_path):
    """train.trainable=recognition from a trained model: after two steps every weight outside D_re
    is bit-identical to the pretrained one (so the restored images are too) while D_re moved;
    best.ckpt follows the validation recognition score (val.csv records it), and a run that
    chooses by PSNR refuses to resume from it."""
    from src.config import ConfigError

    out, extra, state, meta = _head_only_run(one_step_demo, tmp_path, "recognition", "tkff.head_re.")
    assert state.monitor == "recognition"
    assert meta["monitor"] == "recognition" and 0.0 < meta["best_score"] < 1.0
    _, _, best = checkpoint.read(os.path.join(out, "ckpt", "best.ckpt"))
    assert best["monitor"] == "recognition" and best["score"] == pytest.approx(meta["best_score"])
    rows = open(os.path.join(out, "val.csv"), encoding="utf-8").read().splitlines()
    assert rows[0].endswith(",recognition") and len(rows) == 3
    assert all(0.0 < float(r.split(",")[5]) < 1.0 for r in rows[1:])
    with pytest.raises(ConfigError, match=r"chosen by validation recognition, this run chooses by psnr"):
        run(load_config(DEMO_CFG, _overrides(one_step_demo, out, **{"train.resume": "auto", "train.epochs": 3})))
    resumed = {**extra, "train.resume": "auto", "train.epochs": 3}
    state = run(load_config(DEMO_CFG, _overrides(one_step_demo, out, **resumed)))
    assert state.step == 3 and state.best_score >= meta["best_score"]


def test_resume_refuses_a_run_that_trained_a_removed_head_option(tmp_path):
    """A checkpoint of a run that trained D_dr alone (``train.trainable: derain``, an option since
    removed) is refused with one line that says how to start from its weights instead."""
    from src.models import build_network
    from src.train.runner import resume_training

    net = build_network({"preset": "tiny"}, seed=0)
    meta = {"step": 2, "epoch": 1, "monitor": "psnr", "trainable": "derain", "best_score": 20.0}
    ckpt = checkpoint.save(net, str(tmp_path / "step_00000002.ckpt"), {"preset": "tiny"}, meta)
    cfg = load_config(DEMO_CFG, _overrides(str(tmp_path), str(tmp_path / "run"), **{"train.resume": ckpt}))
    with pytest.raises(
        ConfigError, match=r"trained train.trainable=derain, this run trains all; .*--train.pretrained="
    ):
        resume_training(cfg, TrainState(1), None, None, False, str(tmp_path))
