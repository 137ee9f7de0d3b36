"""The fidelity study (src/study/fidelity.py): commands, per-run records, paired summaries, report."""

import json
import os

import numpy as np
import pytest

from src.metrics import psnr_y, to_uint8
from src.models import build_network
from src.study import fidelity
from src.train import checkpoint

from helpers import add_rain, smooth_image

import study


def test_train_command_sets_the_variant_seed_and_folder(tmp_path):
    cmd = fidelity.train_command("p2", 3, str(tmp_path))
    assert "--model.patch_size=2" in cmd and "--model.embed_dim=16" in cmd
    assert "--train.seed=3" in cmd and "--data.seed=3" in cmd and "--train.resume=auto" in cmd
    assert f"--train.output_dir={tmp_path / 'p2' / 'seed3'}" in cmd
    assert "--model.head_fullres=true" in fidelity.train_command("p4_fullres", 0, str(tmp_path))
    os.makedirs(tmp_path / "p4" / "seed0" / "ckpt")
    for step in (320, 960):
        (tmp_path / "p4" / "seed0" / "ckpt" / f"step_{step:08d}.ckpt").write_bytes(b"")
    assert fidelity.trained_steps(str(tmp_path / "p4" / "seed0")) == 960
    assert fidelity.trained_steps(str(tmp_path / "p2" / "seed0")) == 0


def test_train_skips_finished_and_recorded_runs(tmp_path, monkeypatch):
    """A run with a record (trained on another machine) or at max_steps is not trained again."""
    calls = []
    monkeypatch.setattr(fidelity.subprocess, "call", lambda cmd, **kw: calls.append(cmd) or 0)
    (tmp_path / "res" / "p4").mkdir(parents=True)
    (tmp_path / "res" / "p4" / "seed0.json").write_text("{}")
    os.makedirs(tmp_path / "runs" / "p2" / "seed0" / "ckpt")
    (tmp_path / "runs" / "p2" / "seed0" / "ckpt" / "step_00000010.ckpt").write_bytes(b"")
    fidelity.train_all(["p4", "p2", "p4_fullres"], [0], str(tmp_path / "runs"), 10, results=str(tmp_path / "res"))
    assert [c[c.index("--train.seed=0") - 1] for c in calls] == ["--model.head_fullres=true"]


def _record(variant, seed, gains, inputs=20.0):
    sets = {}
    for key in fidelity.VAL_SETS + fidelity.REAL_SETS:
        identity = key.startswith(fidelity.IDENTITY)
        sets[key] = {
            "names": [f"im{i}.png" for i in range(len(gains))],
            "psnr_y": [inputs + g for g in gains],
            "ssim_y": [0.9] * len(gains),
            "input_psnr_y": [] if identity else [inputs] * len(gains),
            "input_ssim_y": [] if identity else [0.8] * len(gains),
            "p_true": [],
        }
    return {"variant": variant, "seed": seed, "steps": 960, "best": {"step": 960, "psnr_y": 25.0}, "sets": sets}


def test_summary_pairs_each_seed_with_the_reference(tmp_path):
    pytest.importorskip("matplotlib", reason="the report's figure needs matplotlib (requirements-report.txt)")
    recs = {
        "p4": {0: _record("p4", 0, [1.0, 2.0, -1.0]), 1: _record("p4", 1, [1.0, 1.0, 1.0])},
        "p2": {0: _record("p2", 0, [1.5, 2.0, -2.0]), 1: _record("p2", 1, [2.0, 2.0, 2.0])},
    }
    rows = {(r["variant"], r["set"]): r for r in fidelity.summarize(recs, "p4")}
    ref, p2 = rows[("p4", "light rain")], rows[("p2", "light rain")]
    assert ref["mean"] == pytest.approx(np.mean([2 / 3, 1.0])) and ref["worse"] == [1, 0]
    assert ref["worst"] == [-1.0, 1.0] and ref["worst_image"] == ["im2.png", "im0.png"]
    # seed 0: (0.5 + 0 - 1)/3 = -1/6, seed 1: +1 -> mean 5/12; per image (seed-averaged): 0.75, 0.5, 0 -> 2 better
    assert p2["paired"]["mean"] == pytest.approx(5 / 12)
    assert p2["paired"]["sd"] == pytest.approx(np.std([-1 / 6, 1.0], ddof=1))
    assert p2["paired"]["better"] == 2
    assert "paired" not in ref
    identity = rows[("p4", f"{fidelity.IDENTITY} D_dr")]
    assert identity["worse"] is None and identity["mean"] == pytest.approx(20 + np.mean([2 / 3, 1.0]))
    for variant, by_seed in recs.items():
        for seed, rec in by_seed.items():
            os.makedirs(tmp_path / "res" / variant, exist_ok=True)
            (tmp_path / "res" / variant / f"seed{seed}.json").write_text(json.dumps(rec))
    assert study.main(["fidelity", "report", "--results", str(tmp_path / "res"), "--docs", str(tmp_path / "docs")]) == 0
    page = (tmp_path / "docs" / "fidelity.md").read_text()
    assert "| light rain (3) | +0.83 ± 0.24 | +0.42 ± 0.82 (2) |" in page, page
    assert (tmp_path / "docs" / "fidelity.png").stat().st_size > 0


def test_per_flop_names_the_cost_and_the_sets_beyond_the_seed_spread():
    recs = {
        "p4": {0: _record("p4", 0, [1.0, 1.0]), 1: _record("p4", 1, [1.0, 1.0])},
        "p2": {0: _record("p2", 0, [2.0, 2.0]), 1: _record("p2", 1, [1.5, 1.5])},  # +1.0, +0.5: SD 0.35
    }
    for seed, delta in ((0, -2.0), (1, -1.0)):  # heavy rain: behind by more than its SD
        recs["p2"][seed]["sets"]["heavy rain"]["psnr_y"] = [21.0 + delta] * 2
    speed = {
        "p4": {"gflops_256": 2.0, "params_M": 0.2, "restore_1080p_s": 4.0},
        "p2": {"gflops_256": 2.0, "params_M": 0.05, "restore_1080p_s": 6.0},
    }
    (line,) = fidelity._per_flop(fidelity.summarize(recs, "p4"), ["p4", "p2"], "p4", speed)
    assert "1.00× the GFLOPs, 0.25× the parameters, 1.50× the 1080p time" in line
    assert "ahead by more than the seeds' SD on lightest rain +0.75, light rain +0.75" in line, line
    assert "behind on heavy rain -1.50." in line, line
    assert "cost not measured" in fidelity._per_flop(fidelity.summarize(recs, "p4"), ["p4", "p2"], "p4", {})[0]


@pytest.mark.slow
def test_evaluate_run_scores_whole_images_through_each_head(tmp_path):
    """The record holds, per image, PSNR-Y of exactly what the run's best.ckpt restores whole."""
    from src.infer.backends import MindSporeBackend
    from src.infer.engine import Restorer

    model = {"preset": "tiny"}
    os.makedirs(tmp_path / "p4" / "seed0" / "ckpt")
    ckpt = checkpoint.save(build_network(model, seed=0), str(tmp_path / "p4" / "seed0" / "ckpt" / "best.ckpt"), model)
    rng = np.random.default_rng(0)
    clean = [to_uint8(smooth_image(rng, 70, 90)) for _ in range(2)]
    rainy = [to_uint8(add_rain(rng, c / 255.0)) for c in clean]
    sets = {
        fidelity.IDENTITY: [(c, c, f"c{i}") for i, c in enumerate(clean)],
        "light rain": [(r, c, f"r{i}") for i, (r, c) in enumerate(zip(rainy, clean))],
    }
    rec = fidelity.evaluate_run("p4", 0, str(tmp_path), str(tmp_path / "res"), {"model": model}, sets)
    saved = json.loads((tmp_path / "res" / "p4" / "seed0.json").read_text())
    assert saved["sets"].keys() == {f"{fidelity.IDENTITY} D_dr", f"{fidelity.IDENTITY} D_ds", "light rain"}
    restorer = Restorer(MindSporeBackend.from_checkpoint(ckpt), tile=0)
    want = [psnr_y(to_uint8(restorer.restore(r, task="rain").image), c) for r, c in zip(rainy, clean)]
    assert rec["sets"]["light rain"]["psnr_y"] == pytest.approx(want)
    assert rec["sets"]["light rain"]["input_psnr_y"] == pytest.approx([psnr_y(r, c) for r, c in zip(rainy, clean)])
    snow_id = [psnr_y(to_uint8(restorer.restore(c, task="snow").image), c) for c in clean]
    assert saved["sets"][f"{fidelity.IDENTITY} D_ds"]["psnr_y"] == pytest.approx(snow_id)


def test_unknown_variant_is_one_line(capsys):
    assert study.main(["fidelity", "report", "--variants", "p3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--variants: unknown p3" in err[0]
