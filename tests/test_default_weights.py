"""The default checkpoint (weights/lite.ckpt): infer.py, eval.py and export.py use it when
--ckpt_file is omitted and say so; when it is absent they stop with one line naming the path."""

import json
import os

import numpy as np
import pytest

from helpers import add_rain, smooth_image
from src.data.image_io import write_rgb
from src.infer import weights
from src.metrics import to_uint8
from src.models import build_network
from src.train import checkpoint

import eval as eval_py
import export as export_py
import infer

MODEL_CFG = {"preset": "tiny"}


@pytest.fixture(scope="module")
def fake_repo(tmp_path_factory):
    """A stand-in repository holding weights/lite.ckpt (tiny preset) and its JSON."""
    root = tmp_path_factory.mktemp("repo")
    path = checkpoint.save(
        build_network(MODEL_CFG, seed=0), str(root / "weights" / "lite.ckpt"), MODEL_CFG, {"step": 0}
    )
    with open(root / "weights" / "lite.json", "w", encoding="utf-8") as fh:
        json.dump({"config": "tiny", "steps": 0}, fh)
    return path


@pytest.fixture
def default_ckpt(fake_repo, monkeypatch):
    monkeypatch.setattr(weights, "DEFAULT_CKPT", fake_repo)
    return fake_repo


@pytest.fixture
def absent(tmp_path, monkeypatch):
    path = str(tmp_path / "repo" / "weights" / "lite.ckpt")
    monkeypatch.setattr(weights, "DEFAULT_CKPT", path)
    return path


@pytest.fixture
def pairs(tmp_path):
    rng = np.random.default_rng(0)
    clean = smooth_image(rng, 32, 48)
    write_rgb(str(tmp_path / "rainy" / "a.png"), to_uint8(add_rain(rng, clean), layout="CHW"))
    write_rgb(str(tmp_path / "clean" / "a.png"), to_uint8(clean, layout="CHW"))
    return str(tmp_path / "rainy"), str(tmp_path / "clean")


def test_the_default_path_is_in_the_repository(root_dir, tmp_path, monkeypatch):
    assert weights.DEFAULT_CKPT == os.path.join(root_dir, "weights", "lite.ckpt")
    assert weights.DEFAULT_CKPT_INFO == os.path.join(root_dir, "weights", "lite.json")
    monkeypatch.chdir(tmp_path)  # the working directory plays no part
    assert weights.resolve_ckpt("given.ckpt") == ("given.ckpt", False)
    if not os.path.isfile(weights.DEFAULT_CKPT):
        with pytest.raises(weights.MissingWeightsError, match=weights.DEFAULT_CKPT):
            weights.resolve_ckpt(None)
    else:
        assert weights.resolve_ckpt(None) == (weights.DEFAULT_CKPT, True)


def test_infer_without_ckpt_file_uses_the_default(default_ckpt, pairs, tmp_path, capsys):
    rc = infer.main(["--input", os.path.join(pairs[0], "a.png"), "--output", str(tmp_path / "out"), "--task", "rain"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert (tmp_path / "out" / "a.png").is_file()
    assert f"infer.py: checkpoint {default_ckpt} (default weights, no --ckpt_file" in out
    assert os.path.splitext(default_ckpt)[0] + ".json" in out


def test_eval_without_ckpt_file_uses_the_default(default_ckpt, pairs, tmp_path, capsys):
    rc = eval_py.main(
        ["--input_dir", pairs[0], "--target_dir", pairs[1], "--task", "rain", "--output_dir", str(tmp_path / "res")]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    assert f"eval.py: checkpoint {default_ckpt} (default weights, no --ckpt_file" in out
    assert (tmp_path / "res" / "summary.json").is_file()


def test_export_without_ckpt_file_uses_the_default(default_ckpt, tmp_path, capsys):
    name = str(tmp_path / "sa")
    rc = export_py.main(["--file_format", "MINDIR", "--file_name", name, "--height", "32", "--width", "32"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.splitlines()[0].startswith(f"export.py: checkpoint {default_ckpt} (default weights")
    with open(name + ".mindir.json", encoding="utf-8") as fh:
        assert json.load(fh)["checkpoint"] == os.path.abspath(default_ckpt)


def test_an_explicit_ckpt_file_is_named_without_default(fake_repo, absent, pairs, tmp_path, capsys):
    rc = infer.main(["--ckpt_file", fake_repo, "--input", pairs[0], "--output", str(tmp_path / "o"), "--task", "rain"])
    out = capsys.readouterr().out
    assert rc == 0 and f"infer.py: checkpoint {fake_repo}\n" in out and "default" not in out


@pytest.mark.parametrize("prog", ["infer", "eval", "export"])
def test_missing_default_is_a_one_line_error(prog, absent, pairs, tmp_path, capsys):
    argv = {
        "infer": ["--input", pairs[0], "--output", str(tmp_path / "o")],
        "eval": [
            "--input_dir",
            pairs[0],
            "--target_dir",
            pairs[1],
            "--task",
            "rain",
            "--output_dir",
            str(tmp_path / "res"),
        ],
        "export": ["--file_name", str(tmp_path / "sa")],
    }[prog]
    main = {"infer": infer.main, "eval": eval_py.main, "export": export_py.main}[prog]
    rc = main(argv)
    err = capsys.readouterr().err.splitlines()
    assert rc == 2  # nothing was done (docs/cli.md)
    assert len(err) == 1, err
    assert err[0] == (
        f"{prog}.py: error: no --ckpt_file given and the default checkpoint {absent} "
        "does not exist: pass --ckpt_file PATH or train one (python train.py)"
    )
    assert not os.path.exists(tmp_path / "o") and not os.path.exists(tmp_path / "sa.mindir")


def test_onnx_backend_needs_no_checkpoint(absent, pairs, tmp_path, capsys):
    """--backend onnxruntime never falls back to the default checkpoint."""
    rc = infer.main(["--backend", "onnxruntime", "--input", pairs[0], "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "needs --onnx_file" in err and "default checkpoint" not in err


def test_export_shape_defaults_to_the_tile_the_engine_restores_with():
    from src.infer.engine import DEFAULT_TILE, PRESET_TILES, Restorer
    from src.infer.export import export_shape

    assert PRESET_TILES["lite"] == 512 and DEFAULT_TILE == 256
    assert export_shape(None, None, {"preset": "lite"}) == (512, 512)  # the default weights' preset
    assert export_shape(None, None, {"preset": "tiny"}) == (256, 256)
    assert export_shape(None, None, {}) == (256, 256)
    assert export_shape(96, None, {"preset": "lite"}) == (96, 96)  # one side given: square
    assert export_shape(None, 64, {}) == (64, 64)
    assert export_shape(64, 96, {"preset": "lite"}) == (64, 96)

    class Lite:  # what infer.py would restore the same checkpoint with
        preset, outputs = "lite", ("derain",)

    assert Restorer(Lite()).tile == export_shape(None, None, {"preset": "lite"})[0]


def test_export_with_one_side_given_is_square(default_ckpt, tmp_path, capsys):
    name = str(tmp_path / "sa")
    rc = export_py.main(["--file_format", "MINDIR", "--file_name", name, "--height", "64", "--task", "rain"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "input 1x3x64x64" in out
    with open(name + ".mindir.json", encoding="utf-8") as fh:
        tile = json.load(fh)["tile"]
    assert (tile["height"], tile["width"]) == (64, 64)
