"""infer.py --compare_with: one side-by-side image per photo, input | --ckpt_file's restoration |
each other checkpoint's, every panel what that checkpoint restores alone (tiny preset, random
weights; the recognition heads set so the two checkpoints choose different tasks)."""

import os

import numpy as np
import pytest

from src.data.image_io import read_rgb, write_rgb
from src.infer.photos import COMPARE_DIR, COMPARE_KEY, GAP, compare_image
from src.metrics import to_uint8
from src.models import build_network
from src.train import checkpoint
from test_infer import MODEL_CFG, photo, set_recognition

import infer

H, W = 40, 56


@pytest.fixture(scope="module")
def two_ckpts(tmp_path_factory):
    """Two tiny checkpoints with other weights; in blind mode the first picks rain, the second snow."""
    folder = tmp_path_factory.mktemp("ckpts")
    paths = []
    for seed, scores in ((0, (3.0, -3.0)), (1, (-3.0, 3.0))):
        net = build_network(MODEL_CFG, seed=seed)
        set_recognition(net, *scores)
        paths.append(checkpoint.save(net, str(folder / f"seed{seed}.ckpt"), MODEL_CFG))
    return paths


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("in")
    for i, name in enumerate(("a.png", "sub/b.png")):
        write_rgb(str(folder / name), to_uint8(photo(H, W, seed=10 + i)))
    return folder


def restore_alone(ckpt, photos, out):
    assert infer.main(["--ckpt_file", ckpt, "--input", str(photos), "--output", str(out), "--tile", "0"]) == 0
    return {rel: read_rgb(str(out / rel)) for rel in ("a.png", "sub/b.png")}


@pytest.mark.slow
def test_each_panel_is_what_its_checkpoint_restores_alone(two_ckpts, photos, tmp_path, capsys):
    first, second = two_ckpts
    out = tmp_path / "side"
    args = ["--ckpt_file", first, "--compare_with", second, "--input", str(photos), "--output", str(out)]
    assert infer.main(args + ["--tile", "0"]) == 0
    printed = capsys.readouterr().out
    assert f"left to right: input | {first} | {second}" in printed
    assert printed.count("| rain (auto, p=0.998) |") == 2  # the first checkpoint's choice ...
    assert printed.count(f"| {second}: snow (auto, p=0.998)") == 2  # ... and the second's
    alone = [restore_alone(ckpt, photos, tmp_path / f"alone{i}") for i, ckpt in enumerate(two_ckpts)]
    assert not np.array_equal(alone[0]["a.png"], alone[1]["a.png"])
    white = np.full((H, GAP, 3), 255, np.uint8)
    for rel in ("a.png", "sub/b.png"):
        side = read_rgb(str(out / COMPARE_DIR / rel))
        assert side.shape == (H, 3 * W + 2 * GAP, 3)
        panels = [side[:, k * (W + GAP) : k * (W + GAP) + W] for k in range(3)]
        assert np.array_equal(panels[0], read_rgb(str(photos / rel)))
        assert np.array_equal(panels[1], alone[0][rel]) and np.array_equal(panels[2], alone[1][rel])
        assert all(np.array_equal(side[:, k * (W + GAP) - GAP : k * (W + GAP)], white) for k in (1, 2))
        assert np.array_equal(read_rgb(str(out / rel)), alone[0][rel])  # the restored file: --ckpt_file's
    key = (out / COMPARE_DIR / COMPARE_KEY).read_text(encoding="utf-8").splitlines()
    assert key[1:] == ["  1. input", f"  2. {first}", f"  3. {second}"]
    assert sorted(os.listdir(out / COMPARE_DIR)) == [COMPARE_KEY, "a.png", "sub"]


def test_compare_image_keeps_the_panel_order():
    panels = [np.full((3, 2, 3), v, np.uint8) for v in (10, 20, 30)]
    side = compare_image(*panels)
    assert side.shape == (3, 3 * 2 + 2 * GAP, 3)
    assert [int(side[0, k * (2 + GAP), 0]) for k in range(3)] == [10, 20, 30]
    assert compare_image(*panels[:2]).shape == (3, 2 * 2 + GAP, 3)  # plain --compare: input | restored


def test_compare_with_errors_are_one_line(two_ckpts, photos, tmp_path, capsys):
    missing = str(tmp_path / "nope.ckpt")
    base = ["--ckpt_file", two_ckpts[0], "--input", str(photos), "--output", str(tmp_path / "o")]
    assert infer.main(base + ["--compare_with", missing]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and missing in err[0]
    assert infer.main(base + ["--backend", "onnxruntime", "--onnx_file", "m.onnx", "--compare_with", two_ckpts[1]]) == 2
    assert "--compare_with takes checkpoints" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
