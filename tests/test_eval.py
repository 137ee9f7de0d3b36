"""eval.py: per-image CSV, printed table = src.metrics on the saved PNGs, configured sets, errors."""

import csv
import json
import os

import cv2
import numpy as np
import pytest

from helpers import add_rain, add_snow, smooth_image
from src.data.image_io import write_rgb
from src.metrics import COLUMNS, METRICS, score_pair, to_uint8
from src.models import build_network
from src.train import checkpoint

import eval as eval_py

MODEL_CFG = {"preset": "tiny"}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    net = build_network(MODEL_CFG, seed=0)
    return checkpoint.save(net, str(tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"), MODEL_CFG)


def make_pairs(input_dir, target_dir, task, n, seed):
    """n degraded/clean 48x64 pairs; returns {name: (input uint8, target uint8)}."""
    rng = np.random.default_rng(seed)
    pairs = {}
    for i in range(n):
        clean = smooth_image(rng, 48, 64)
        bad = add_rain(rng, clean) if task == "rain" else add_snow(rng, clean)
        name = f"img{i}.png"
        pairs[name] = (to_uint8(bad), to_uint8(clean))
        write_rgb(os.path.join(input_dir, name), pairs[name][0])
        write_rgb(os.path.join(target_dir, name), pairs[name][1])
    return pairs


def table_rows(stdout):
    """{(set, image kind): [psnr_y, ssim_y, psnr_rgb, ssim_rgb]} from the printed table."""
    rows = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 8 and parts[3] in ("input", "restored"):
            rows[(parts[0], parts[3])] = [float(v) for v in parts[4:]]
    return rows


def means(rows):
    return [float(np.mean([r[m] for r in rows])) for m in METRICS]


def test_folder_csv_and_table_match_metrics_on_saved_pngs(ckpt, tmp_path, capsys):
    pairs = make_pairs(str(tmp_path / "rainy"), str(tmp_path / "clean"), "rain", 3, seed=0)
    out = tmp_path / "res"
    rc = eval_py.main(
        [
            "--ckpt_file",
            ckpt,
            "--input_dir",
            str(tmp_path / "rainy"),
            "--target_dir",
            str(tmp_path / "clean"),
            "--task",
            "rain",
            "--output_dir",
            str(out),
            "--save_images",
        ]
    )
    stdout = capsys.readouterr().out
    assert rc == 0, stdout
    assert "protocol: PSNR/SSIM on Y of MATLAB rgb2ycbcr" in stdout
    folder = out / "folder_rainy"
    with open(folder / "metrics.csv", newline="") as fh:
        lines = list(csv.reader(fh))
    assert tuple(lines[0]) == COLUMNS
    assert sorted(r[0] for r in lines[1:]) == sorted(pairs) and {r[1] for r in lines[1:]} == {"rain"}
    restored, given = [], []
    for row in lines[1:]:
        saved = cv2.imread(str(folder / "images" / row[0]), cv2.IMREAD_UNCHANGED)[:, :, ::-1]
        inp, target = pairs[row[0]]
        scores = score_pair(np.ascontiguousarray(saved), target)
        assert [float(v) for v in row[2:]] == pytest.approx([scores[m] for m in METRICS], abs=1e-5)
        restored.append(scores)
        given.append(score_pair(inp, target))
    printed = table_rows(stdout)
    assert printed[("folder/rainy", "restored")] == pytest.approx(means(restored), abs=6e-5)
    assert printed[("folder/rainy", "input")] == pytest.approx(means(given), abs=6e-5)
    assert printed[("folder/rainy", "restored")] != printed[("folder/rainy", "input")]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sets"]["folder/rainy"]["restored"]["count"] == 3


def test_configured_sets_per_task_and_auto(ckpt, tmp_path, capsys):
    root = tmp_path / "demo"
    for task, seed in (("rain", 1), ("snow", 2)):
        base = root / task / "test"
        make_pairs(str(base / "input"), str(base / "target"), task, 2, seed)
    out = tmp_path / "res"
    rc = eval_py.main(
        [
            "--ckpt_file",
            ckpt,
            f"--data.roots.demo={root}",
            "--sets",
            "demo_rain/test,demo_snow/test",
            "--task",
            "auto",
            "--output_dir",
            str(out),
        ]
    )
    stdout = capsys.readouterr().out
    assert rc == 0, stdout
    printed = table_rows(stdout)
    for kind in ("input", "restored"):
        # one set per task: the per-task row repeats the set's row; "all" is the pooled mean
        assert printed[("all:rain", kind)] == printed[("demo_rain/test", kind)]
        assert printed[("all:snow", kind)] == printed[("demo_snow/test", kind)]
        pooled = np.mean([printed[("demo_rain/test", kind)], printed[("demo_snow/test", kind)]], 0)
        assert printed[("all", kind)] == pytest.approx(pooled, abs=1e-4)
    assert "[demo_rain/test] recognition chose rain for" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert sum(summary["sets"]["demo_snow/test"]["head"].values()) == 2
    assert (out / "demo_snow_test" / "input_metrics.csv").is_file()


def test_errors_exit_2_with_a_message(ckpt, tmp_path, capsys):
    assert (
        eval_py.main(
            ["--ckpt_file", ckpt, "--input_dir", str(tmp_path), "--target_dir", str(tmp_path), "--task", "auto"]
        )
        == 2
    )
    assert "--set_task" in capsys.readouterr().err
    assert eval_py.main(["--ckpt_file", ckpt, "--sets", "nosuch/test"]) == 2
    assert "unknown benchmark 'nosuch'" in capsys.readouterr().err
    assert eval_py.main(["--ckpt_file", ckpt, "--sets", "csd/test", "--no_such_key=1"]) == 2
    assert "--no_such_key" in capsys.readouterr().err


@pytest.mark.slow
def test_benchmark_images_are_scored_whole_unless_tiles_are_asked(ckpt, tmp_path, capsys):
    """eval.py restores an image larger than the model's default tile (tiny: 256) whole, the same
    forward as training's validation; --tile 256 tiles it, which is a different function (the
    gates pool over their whole input)."""
    from src.infer.backends import MindSporeBackend
    from src.infer.engine import Restorer

    rng = np.random.default_rng(4)
    clean = smooth_image(rng, 300, 320)
    for d, img in (("rainy", add_rain(rng, clean)), ("clean", clean)):
        write_rgb(str(tmp_path / d / "big.png"), to_uint8(img))
    saved = {}
    for tile in (None, 256):
        out = tmp_path / f"res{tile}"
        args = ["--ckpt_file", ckpt, "--input_dir", str(tmp_path / "rainy"), "--target_dir", str(tmp_path / "clean")]
        args += ["--task", "rain", "--output_dir", str(out), "--save_images"] + (["--tile", str(tile)] if tile else [])
        assert eval_py.main(args) == 0
        stdout = capsys.readouterr().out
        assert ("(1 of 1 images whole)" in stdout) == (tile is None), stdout
        saved[tile] = cv2.imread(str(out / "folder_rainy" / "images" / "big.png"))[:, :, ::-1]
    inp = cv2.imread(str(tmp_path / "rainy" / "big.png"))[:, :, ::-1]
    for tile in (0, 256):
        expect = to_uint8(Restorer(MindSporeBackend.from_checkpoint(ckpt), tile=tile).restore(inp, task="rain").image)
        np.testing.assert_array_equal(saved[tile or None], expect)
    assert not np.array_equal(saved[None], saved[256])
