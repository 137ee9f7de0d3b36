"""train.py: SIGKILL + resume, non-finite stop, config errors, 2-process data parallel with msrun.
(Exact resume equivalence, mid-epoch and across an epoch boundary: test_resume_plateau.py.)"""

import csv
import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import mindspore.dataset as ds
import pytest

import train
from src.logs import capture
from src.config import ConfigError, load_config
from src.models import build_network
from src.train import checkpoint
from src.train.callbacks import NonFiniteLossError
from src.train.runner import run

from helpers import mixed_batch, write_demo_tree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_CFG = os.path.join(ROOT, "configs", "demo.yaml")


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory):
    """A demo-layout tree (rain|snow)/(train|test)/(input|target) of small synthetic pairs."""
    return write_demo_tree(str(tmp_path_factory.mktemp("demo")))


def _overrides(demo_root, out_dir, **extra):
    base = {
        "data.roots.demo": demo_root,
        "data.crop_size": 64,
        "data.auto_demo": False,
        "data.num_workers": 1,
        "train.output_dir": out_dir,
        "train.log_every": 1000,
        "train.val_max_images": 1,
        "train.val_crop": 0,
        "train.save_every": 1,
        "train.batch_size": 4,
        "train.epoch_repeat": 1,
    }
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


@pytest.mark.slow
def test_nonfinite_loss_stops_the_run(tiny_demo, tmp_path):
    cfg = load_config(DEMO_CFG, _overrides(tiny_demo, str(tmp_path / "nan"), **{"train.max_nonfinite": 3}))
    bad = np.full((8, 3, 64, 64), np.nan, np.float32)
    good = np.zeros((8, 3, 64, 64), np.float32)
    labels = np.array([0, 1] * 4, np.int32)

    def factory(epoch):
        return ds.NumpySlicesDataset({"image": bad, "target": good, "label": labels}, shuffle=False).batch(4)

    with pytest.raises(
        NonFiniteLossError,
        match=r"stopped at step 3: the loss was not finite for 3 steps "
        r"in a row; last good checkpoint: .*step_00000002\.ckpt",
    ):
        run(cfg, dataset_factory=factory)


def test_cli_errors_name_the_key(capsys):
    assert train.main(["--config_path", DEMO_CFG, "--train.lrr=1"]) == 2
    assert "train.lrr: unknown config key" in capsys.readouterr().err
    assert train.main(["--config_path", DEMO_CFG, "--batch_size=four"]) == 2
    assert "train.batch_size: expected int" in capsys.readouterr().err
    assert train.main(["--config_path", DEMO_CFG, "--train.resume", "/nonexistent/x.ckpt"]) == 2
    assert "no such checkpoint" in capsys.readouterr().err


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.distributed
@pytest.mark.skipif(
    shutil.which("msrun", path=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]) is None,
    reason="msrun not installed",
)
def test_two_process_data_parallel_with_msrun(tiny_demo, tmp_path):
    out = tmp_path / "dp"
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    args = ["--config_path", DEMO_CFG] + [
        "--" + o
        for o in _overrides(
            tiny_demo,
            str(out),
            **{"train.max_steps": 3, "train.check_replicas": True, "train.save_every": 0, "train.batch_size": 2},
        )
    ]
    cmd = [
        "msrun",
        "--worker_num=2",
        "--local_worker_num=2",
        "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}",
        f"--log_dir={tmp_path / 'logs'}",
        "--join=True",
        os.path.join(ROOT, "train.py"),
    ] + args
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    logs = "\n".join(p.read_text() for p in sorted((tmp_path / "logs").glob("*.log")))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:] + logs[-5000:]
    assert "rank 0 of 2" in logs
    probes = [json.loads((out / "replicas" / f"rank_{r}.json").read_text()) for r in (0, 1)]
    assert len(probes[0]["batches"]) == len(probes[1]["batches"]) == 3
    assert not set(probes[0]["batches"]) & set(probes[1]["batches"])  # different shards
    w0, _, _ = checkpoint.read(str(out / "replicas" / "rank_0.ckpt"))
    w1, _, _ = checkpoint.read(str(out / "replicas" / "rank_1.ckpt"))
    assert set(w0) == set(w1)
    for k in w0:
        np.testing.assert_array_equal(w0[k].asnumpy(), w1[k].asnumpy())  # identical replicas
    initial = {p.name: p.asnumpy() for p in build_network(load_config(DEMO_CFG).model, seed=0).get_parameters()}
    assert any(not np.array_equal(w0[k].asnumpy(), initial[k]) for k in w0)  # and they trained


@pytest.mark.slow
def test_sigkill_then_resume(tiny_demo, tmp_path):
    """A run killed with SIGKILL right after a checkpoint resumes from it and finishes (32-px crops:
    the property does not depend on the crop size, and smaller steps keep the two processes short)."""
    import signal
    import time

    out, steps = tmp_path / "killed", 16
    args = [sys.executable, os.path.join(ROOT, "train.py"), "--config_path", DEMO_CFG] + [
        "--" + o for o in _overrides(tiny_demo, str(out), **{"train.max_steps": steps, "data.crop_size": 32})
    ]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt_dir = out / "ckpt"
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:
            if len(list(ckpt_dir.glob("step_*.ckpt"))) >= 2:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "training ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    saved = sorted(int(p.stem.split("_")[1]) for p in ckpt_dir.glob("step_*.ckpt"))
    assert saved and saved[-1] < steps
    resumed = subprocess.run(args + ["--train.resume=auto"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumed from {ckpt_dir / f'step_{saved[-1]:08d}.ckpt'}: step {saved[-1]}" in resumed.stdout
    _, _, meta = checkpoint.read(str(ckpt_dir / f"step_{steps:08d}.ckpt"))
    assert meta["step"] == steps
    logged = [int(line.split(",")[0]) for line in (out / "log.csv").read_text().splitlines()[1:]]
    assert logged == list(range(1, steps + 1))  # rows after the checkpoint were dropped, then logged again


def _pairs_factory(n=4, batch=2):
    x, g, lab = mixed_batch(n, 64, 64, seed=0)

    def factory(epoch):
        return ds.NumpySlicesDataset({"image": x, "target": g, "label": lab}, shuffle=False).batch(batch)

    return factory


ABLATIONS = os.path.join(ROOT, "configs", "ablations")


def _quick(out_dir, *extra):
    """Overrides for a tiny run of any config on a dataset_factory (no validation, no data roots)."""
    return [
        "--model.preset=tiny",
        "--data.val_sets=[]",
        "--data.auto_demo=false",
        f"--train.output_dir={out_dir}",
        "--train.save_every=1",
        "--train.log_every=1000",
    ] + list(extra)


@pytest.mark.parametrize("name", ["k1_common_only", "k2_unique_only"])
def test_k1_k2_refuse_to_start_without_pretrained(name, tmp_path, capsys):
    cfg = load_config(os.path.join(ABLATIONS, f"{name}.yaml"), _quick(str(tmp_path / name)))
    with pytest.raises(ConfigError, match=r"model.freeze_encoder=true .*pass --train.pretrained=<V6 best.ckpt>") as exc:
        run(cfg, dataset_factory=_pairs_factory())
    assert "\n" not in str(exc.value)
    assert not (tmp_path / name).exists()  # refused before anything was written
    assert train.main(["--config_path", os.path.join(ABLATIONS, f"{name}.yaml")]) == 2
    assert "--train.pretrained=<V6 best.ckpt>" in capsys.readouterr().err


def test_k1_from_v6_ignores_the_drm_and_trains_no_contrast(tmp_path):
    """K1 from a V6 checkpoint: the DRM weights are ignored with a log line; the contrast is off even
    when asked for (it would train only the DRM, which feeds nothing), so it logs 0."""
    v6 = build_network({"preset": "tiny"}, seed=0)
    best = checkpoint.save(v6, str(tmp_path / "v6" / "best.ckpt"), {"preset": "tiny"})
    out = tmp_path / "k1"
    cfg = load_config(
        os.path.join(ABLATIONS, "k1_common_only.yaml"),
        _quick(str(out), f"--train.pretrained={best}", "--train.max_steps=2", "--model.contrast=true"),
    )
    with capture() as logs:
        state = run(cfg, dataset_factory=_pairs_factory())
    assert state.step == 2
    assert any("model.contrast set to false" in line for line in logs)
    assert any(f"{best}: ignored " in line and "(modules drm)" in line for line in logs), logs
    _, stored, _ = checkpoint.read(str(out / "ckpt" / "step_00000002.ckpt"))
    assert stored["contrast"] is False and stored["freeze_encoder"] is True
    with open(out / "log.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and all(float(r["contra"]) == 0.0 for r in rows)
    trained, _, _ = checkpoint.read(str(out / "ckpt" / "step_00000002.ckpt"))
    frozen = v6.encoder.project.weight.asnumpy()  # everything before TKFF stayed as loaded
    np.testing.assert_array_equal(trained["encoder.project.weight"].asnumpy(), frozen)


@pytest.mark.slow
def test_resume_refuses_a_checkpoint_of_another_model_config(tmp_path, capsys):
    out = tmp_path / "run"
    run(load_config(DEMO_CFG, _quick(str(out), "--train.max_steps=1")), dataset_factory=_pairs_factory())
    ckpt = out / "ckpt" / "step_00000001.ckpt"
    assert ckpt.exists()
    v3 = os.path.join(ABLATIONS, "v3_no_gated_conv.yaml")
    cfg = load_config(v3, _quick(str(out), f"--train.resume={ckpt}", "--train.max_steps=2"))
    with pytest.raises(ConfigError) as exc:
        run(cfg, dataset_factory=_pairs_factory())
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(
        f"--train.resume={ckpt}: the checkpoint's model config (written with demo.yaml) "
        "differs from this run's (v3_no_gated_conv.yaml): model.gated_conv: True in the "
        "checkpoint, False in the run; resume with the config that wrote it"
    ), msg
    # The same config resumes (auto finds the checkpoint in the run folder).
    state = run(
        load_config(DEMO_CFG, _quick(str(out), "--train.resume=auto", "--train.max_steps=2")),
        dataset_factory=_pairs_factory(),
    )
    assert state.step == 2
