"""report.py: Figure 3 (t-SNE + gate heatmap equal to the network's own gate values) and training
curves of a real tiny run, curves from a log.csv, benchmark table, extras message, and no
command that trains (the studies are study.py's: tests/test_study.py)."""

import csv
import json
import os

import cv2
import numpy as np
import pytest

import report
import train
from src.report import bench as report_bench
from src.report.common import ReportError, require
from src.report.runlog import read_val

from helpers import tiny_demo_overrides, write_demo_tree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The demo recipe on a tree of small synthetic pairs for 4 steps (one epoch: validation runs,
    best.ckpt and val.csv exist)."""
    demo = write_demo_tree(str(tmp_path_factory.mktemp("demo")))
    run = str(tmp_path_factory.mktemp("report") / "run")
    argv = [
        "--config_path",
        os.path.join(ROOT, "configs", "demo.yaml"),
        f"--train.output_dir={run}",
        "--train.max_steps=4",
        *tiny_demo_overrides(demo),
    ]
    assert train.main(argv) == 0
    return {"run": run, "demo": demo}


def test_no_command_trains():
    """report.py only reads checkpoints, run folders and JSONs; the commands that train are study.py's."""
    import argparse

    sub = next(a for a in report.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    commands = sub.choices
    assert sorted(commands) == ["bench", "curves", "figure3", "test", "validate"]
    with pytest.raises(SystemExit):
        report.main(["ablations", "--study", "--no_train"])


@pytest.mark.slow
def test_figure3_tsne_and_gates(tiny_run, tmp_path):
    pytest.importorskip("matplotlib", reason="needs matplotlib (optional: requirements-report.txt)")
    pytest.importorskip("sklearn", reason="needs scikit-learn (optional: requirements-report.txt)")
    import mindspore as ms
    from src.models.layers import pad_to_multiple
    from src.train.checkpoint import load_model

    ckpt = os.path.join(tiny_run["run"], "ckpt", "best.ckpt")
    out = str(tmp_path / "fig")
    assert (
        report.main(
            [
                "figure3",
                "--ckpt_file",
                ckpt,
                "--out",
                out,
                "--data_root",
                tiny_run["demo"],
                "--size",
                "64",
                "--gate_images",
                "2",
            ]
        )
        == 0
    )
    tsne = cv2.imread(os.path.join(out, "figure3_tsne.png"))
    gates_png = cv2.imread(os.path.join(out, "figure3_gates.png"))
    assert tsne is not None and gates_png is not None
    assert tsne.shape[1] > 3 * tsne.shape[0] > 0  # four panels side by side
    assert gates_png.shape[0] > 0 and gates_png.shape[1] > 0
    rec = json.load(open(os.path.join(out, "figure3_gates.json"), encoding="utf-8"))
    net, _, _ = load_model(ckpt)
    net.set_train(False)
    channels = net.gkfm_rk.gate.fc2.out_channels
    for task in ("rain", "snow"):
        kinds = rec["tsne"][task]["kinds"]
        assert len(rec["tsne"][task]["points"]) == 3 * channels
        assert [kinds.count(k) for k in ("rk", "ck", "sk")] == [channels] * 3
    for task in ("rain", "snow"):
        paths = rec["gate_images"][task]
        assert len(paths) == 2
        direct = {"rk": [], "ck": [], "sk": []}
        for p in paths:  # independent loading: cv2, centre 64×64
            img = cv2.imread(p)[:, :, ::-1]
            h, w = img.shape[:2]
            img = img[(h - 64) // 2 : (h - 64) // 2 + 64, (w - 64) // 2 : (w - 64) // 2 + 64]
            x = ms.Tensor(np.ascontiguousarray(img.transpose(2, 0, 1)[None], np.float32) / 255.0)
            f_wk = net.knowledge(pad_to_multiple(x, net.multiple))[0]
            for kind, gkfm in (("rk", net.gkfm_rk), ("ck", net.gkfm_ck), ("sk", net.gkfm_sk)):
                g = gkfm.gate_values(f_wk).asnumpy()
                assert g.shape == (1, channels, 1, 1)
                direct[kind].append(g.reshape(-1))
        for kind in direct:
            np.testing.assert_allclose(rec["gates"][kind][task], np.mean(direct[kind], axis=0), rtol=1e-4, atol=1e-5)
    d = rec["drm_distances"]  # the contrast's atoms on the 4 gate images: distances are cosines in [0, 2]
    assert d["images"] == 4 and 0.0 <= d["same_kind"] <= 2.0 and 0.0 <= d["cross_kind"] <= 2.0


def _write_log(run, steps=30, val_epochs=3):
    os.makedirs(run, exist_ok=True)
    fields = [
        "step",
        "epoch",
        "total",
        "char",
        "grad",
        "sparsity",
        "recog",
        "contra",
        "overflow",
        "loss_scale",
        "lr",
        "step_time",
    ]
    with open(os.path.join(run, "log.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(fields)
        for s in range(1, steps + 1):
            e = (s - 1) // 10 + 1
            w.writerow([s, e, 1.0 / s, 0.5 / s, 0.1 / s, 2.0, 0.25, 0.3, 0, 1.0, 1e-3, 0.1])
    return [f"validation after epoch {e}: PSNR-Y {20 + e:.3f} dB (best {20 + e:.3f})" for e in range(1, val_epochs + 1)]


def test_curves_from_log_csv_and_console(tmp_path):
    pytest.importorskip("matplotlib", reason="needs matplotlib (optional: requirements-report.txt)")
    run = str(tmp_path / "run")
    console = _write_log(run)
    with open(os.path.join(run, "train.log"), "w") as fh:
        fh.write("step 1 epoch 1: ...\n" + "\n".join(console) + "\n")
    val = read_val(run)  # no val.csv: parsed from train.log
    assert [(v["epoch"], v["step"], v["psnr_y"]) for v in val] == [(1, 10, 21.0), (2, 20, 22.0), (3, 30, 23.0)]
    with open(os.path.join(run, "val.csv"), "w", newline="") as fh:  # the trainer's record wins
        fh.write("step,epoch,psnr_y,eval_loss,lr\n10,1,25.5,,0.001\n20,2,26.5,,0.001\n")
    assert [(v["step"], v["psnr_y"]) for v in read_val(run)] == [(10, 25.5), (20, 26.5)]
    out = str(tmp_path / "curves.png")
    assert report.main(["curves", "--run", run, "--out", out]) == 0
    img = cv2.imread(out)
    assert img is not None and img.shape[0] > 100 and img.shape[1] > 100
    assert report.main(["curves", "--run", str(tmp_path / "nope")]) == 2


@pytest.mark.slow
def test_curves_of_a_trained_run(tiny_run, tmp_path):
    pytest.importorskip("matplotlib", reason="needs matplotlib (optional: requirements-report.txt)")
    out = str(tmp_path / "run.png")
    assert report.main(["curves", "--run", tiny_run["run"], "--out", out]) == 0
    assert cv2.imread(out) is not None
    assert read_val(tiny_run["run"])[0]["step"] == 4


@pytest.mark.slow
def test_bench_quick(tmp_path):
    pytest.importorskip("onnxruntime", reason="the inference bench compares with onnxruntime (requirements-dev.txt)")
    out = str(tmp_path / "bench.md")
    assert report.main(["bench", "--quick", "--only", "model,ops,data,infer", "--out", out]) == 0
    md = open(out, encoding="utf-8").read()
    for part in (
        "**Model**",
        "| tiny | 0.42 |",
        "Same-run MindSpore ceiling",
        "**Per-op costs",
        "| ops.split |",
        "**Inference**",
        "512x512",
        "**Input pipeline**",
        "| folder |",
    ):
        assert part in md, part
    raw = json.load(open(str(tmp_path / "bench.json"), encoding="utf-8"))
    assert raw["results"]["model"]["result"]["rows"][0]["params_M"] > 0
    infer = raw["results"]["infer"]["result"]["rows"]
    assert {r["backend"] for r in infer} == {"mindspore", "onnxruntime"} and all(r["s_per_mp"] > 0 for r in infer)


def test_bench_infer_configs_name_presets_or_checkpoints():
    """Same-run ratios of two checkpoints (the shipped weights against a former one) or presets."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_infer", os.path.join(ROOT, "bench", "bench_infer.py"))
    bench_infer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_infer)
    got = bench_infer.parse_configs("old/lite.ckpt@512/32, lite@256/16:rain", "default", 256, 32)
    assert got == [("old/lite.ckpt", 512, 32, "auto"), ("lite", 256, 16, "rain")]
    assert bench_infer.parse_configs("", "tiny", 128, 8) == [("tiny", 128, 8, "auto")]
    with pytest.raises(SystemExit, match="'lite@512' is not preset@tile/overlap"):
        bench_infer.parse_configs("lite@512", "tiny", 128, 8)
    assert bench_infer.SIZES["480x320"] == (480, 320)


def test_bench_infer_peak_memory_is_the_measuring_process_own():
    """A size's subprocess reports its own peak RSS, not the peak its (larger) parent reached."""
    import subprocess
    import sys

    ballast = np.ones(int(64e6))  # 0.5 GiB touched in this process before the child starts
    code = (
        "import bench_infer, resource; "
        "print(bench_infer.peak_rss_gib(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=os.path.join(ROOT, "bench"), capture_output=True, text=True, check=True
    )
    own, inherited = map(float, out.stdout.split())
    assert ballast.sum() > 0 and inherited > 0.45  # what ru_maxrss reported
    assert own < 0.2


def test_bench_missing_script_is_a_marked_hook(tmp_path, monkeypatch):
    monkeypatch.setitem(report_bench.SCRIPTS, "train", ("bench/no_such_bench.py", [], []))
    out = str(tmp_path / "bench.md")
    assert report.main(["bench", "--quick", "--only", "train", "--out", out]) == 0
    assert "bench/no_such_bench.py not found (hook: src/report/bench.py SCRIPTS['train'])" in open(out).read()


def test_missing_extra_gives_one_line_message(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)  # import now raises ImportError
    with pytest.raises(ReportError, match=r"^t-SNE needs scikit-learn, .*pip install -r requirements-report.txt$"):
        require("sklearn.manifold", "t-SNE")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ReportError, match=r"^plotting needs matplotlib, .*requirements-report.txt$"):
        from src.report.common import pyplot

        pyplot()
