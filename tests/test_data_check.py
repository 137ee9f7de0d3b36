"""Image decoding rules and the pre-training check: every bad input has its documented outcome."""

import os

import cv2
import numpy as np
import pytest

import prepare_data
from src.config import load_config
from src.data.check import DataCheckError, check_sets
from src.data.image_io import ImageReadError, read_rgb, write_rgb

CFG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "data_defaults.yaml")


def rgb(h=10, w=14, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def put(path, arr):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    assert cv2.imwrite(str(path), arr)


def test_conversions_to_8bit_rgb(tmp_path):
    img = rgb()
    put(tmp_path / "gray.png", img[:, :, 0])
    out, notes = read_rgb(str(tmp_path / "gray.png"), with_notes=True)
    assert out.shape == (10, 14, 3) and out.dtype == np.uint8 and notes == ["grayscale"]
    assert (out == img[:, :, :1]).all()

    bgra = np.dstack([img[:, :, ::-1], np.full((10, 14), 7, np.uint8)])  # alpha 7: dropped, colours kept
    put(tmp_path / "rgba.png", bgra)
    out, notes = read_rgb(str(tmp_path / "rgba.png"), with_notes=True)
    assert np.array_equal(out, img) and notes == ["alpha dropped"]

    put(tmp_path / "deep.png", img[:, :, ::-1].astype(np.uint16) * 257)
    out, notes = read_rgb(str(tmp_path / "deep.png"), with_notes=True)
    assert np.array_equal(out, img) and notes == ["16-bit"]
    put(tmp_path / "deep.tif", np.minimum(img[:, :, ::-1].astype(np.uint32) * 257 + 100, 65535).astype(np.uint16))
    assert np.array_equal(read_rgb(str(tmp_path / "deep.tif")), img)  # rounds to nearest

    from PIL import Image

    pal = Image.fromarray(img).convert("P", palette=Image.ADAPTIVE, colors=16)
    pal.save(tmp_path / "pal.png")
    out, notes = read_rgb(str(tmp_path / "pal.png"), with_notes=True)
    assert np.array_equal(out, np.asarray(pal.convert("RGB"))) and "palette" in notes

    put(tmp_path / "plain.bmp", img[:, :, ::-1])
    out, notes = read_rgb(str(tmp_path / "plain.bmp"), with_notes=True)
    assert np.array_equal(out, img) and notes == []


def test_unreadable_files_raise_with_reason(tmp_path):
    img = rgb(64, 64)
    (tmp_path / "zero.png").write_bytes(b"")
    put(tmp_path / "ok.png", img)
    put(tmp_path / "ok.jpg", img)
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.png").write_bytes(b"not an image at all")
    cases = {
        "zero.png": "0 bytes",
        "cut.png": "PNG",
        "cut.jpg": "truncated JPEG",
        "text.png": "cannot decode",
        "missing.png": "not found",
    }
    for name, reason in cases.items():
        with pytest.raises(ImageReadError, match=reason) as err:
            read_rgb(str(tmp_path / name))
        assert err.value.path.endswith(name)
    assert read_rgb(str(tmp_path / "ok.jpg")).shape == (64, 64, 3)


def test_write_rgb_is_atomic_and_lossless(tmp_path):
    img = rgb()
    write_rgb(str(tmp_path / "sub" / "a.png"), img)
    assert os.listdir(tmp_path / "sub") == ["a.png"]
    assert np.array_equal(read_rgb(str(tmp_path / "sub" / "a.png")), img)


def bad_tree(root):
    """A generic paired set (the demo layout) with one of every problem and every conversion."""
    tin, ttg = root / "rain" / "train" / "input", root / "rain" / "train" / "target"
    for i in range(3):
        put(tin / f"good{i}.png", rgb(seed=i))
        put(ttg / f"good{i}.png", rgb(seed=i))
    put(tin / "gray.png", rgb()[:, :, 0])
    put(ttg / "gray.png", rgb())
    put(tin / "rgba.png", np.dstack([rgb(), np.zeros((10, 14), np.uint8)]))
    put(ttg / "rgba.png", rgb())
    put(tin / "deep.png", rgb().astype(np.uint16) * 200)
    put(ttg / "deep.png", rgb())
    (tin / "zero.png").write_bytes(b"")
    put(ttg / "zero.png", rgb())
    put(tin / "cut.png", rgb(64, 64))
    data = (tin / "cut.png").read_bytes()
    (tin / "cut.png").write_bytes(data[:200])
    put(ttg / "cut.png", rgb(64, 64))
    put(tin / "lonely.png", rgb())  # no target
    put(ttg / "orphan.png", rgb())  # no input
    put(tin / "big.png", rgb(12, 14))  # size mismatch
    put(ttg / "big.png", rgb(10, 14))
    (tin / "notes.txt").write_text("ignored")
    for split in ("test",):
        for d in ("input", "target"):
            put(root / "rain" / split / d / "x.png", rgb())


def test_check_reports_every_bad_pair_and_stops(tmp_path, capsys):
    bad_tree(tmp_path)
    cfg = load_config(CFG, [f"--data.roots.demo={tmp_path}"]).data
    with pytest.raises(DataCheckError, match="5 bad pair") as err:
        check_sets(cfg, ["demo_rain/train"])
    msg = str(err.value)
    assert "skip_bad" in msg and "\n" not in msg
    out = capsys.readouterr().out
    assert "pairs found 11, good 6, bad 5" in out
    for text in (
        "input without target 1",
        "target without input 1",
        "undecodable 2",
        "size mismatch 1",
        "lonely.png",
        "orphan.png",
        "zero.png",
        "cut.png",
        "big.png",
        "notes.txt",
    ):
        assert text in out, text
    assert "alpha dropped 1" in out and "grayscale 1" in out and "16-bit 1" in out


def test_skip_bad_leaves_out_and_reports(tmp_path, capsys):
    bad_tree(tmp_path)
    cfg = load_config(CFG, [f"--data.roots.demo={tmp_path}", "--data.skip_bad=true"]).data
    report = check_sets(cfg, ["demo_rain/train"])
    good = sorted(p.name for p in report.pairs("demo_rain/train"))
    assert good == ["deep.png", "good0.png", "good1.png", "good2.png", "gray.png", "rgba.png"]
    assert report.bad_count == 5
    assert "leaving out 5 bad pair" in capsys.readouterr().out


def test_check_command_exit_codes(tmp_path, capsys):
    bad_tree(tmp_path)
    args = ["check", "--config_path", CFG, f"--data.roots.demo={tmp_path}", "--set", "demo_rain/train"]
    assert prepare_data.main(args) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("prepare_data.py: error: data check failed")
    assert prepare_data.main(args + ["--data.skip_bad=true"]) == 0
    assert "OK: 6 good pairs" in capsys.readouterr().out
    assert (
        prepare_data.main(["check", "--config_path", CFG, "--set", "demo_rain/test", f"--data.roots.demo={tmp_path}"])
        == 0
    )
    assert (
        prepare_data.main(["check", "--config_path", CFG, "--set", "csd/test", f"--data.roots.csd={tmp_path / 'nope'}"])
        == 2
    )
    assert "--data.roots.csd=" in capsys.readouterr().err


def test_training_prints_the_data_check_once(tmp_path):
    """Every epoch builds its dataset and checks its sets again; the report is printed by the first
    epoch only, and again when the files change."""
    from helpers import write_demo_tree
    from src.logs import capture
    from src.train.runner import train_dataset_factory

    root = write_demo_tree(tmp_path / "demo", train=4, test=1, val=1)
    demo = os.path.join(os.path.dirname(CFG), "demo.yaml")
    cfg = load_config(demo, [f"--data.roots.demo={root}", "--train.batch_size=2", "--data.num_workers=1"])
    factory = train_dataset_factory(cfg, 0, 1)
    with capture() as lines:
        factory(0)
        factory(1)
    headers = [line for line in lines if line.startswith(("demo_rain/train [", "demo_snow/train ["))]
    assert len(headers) == 2 and "pairs found 4, good 4, bad 0" in "\n".join(lines), lines
    os.remove(os.path.join(root, "rain", "train", "target", "rain00.png"))
    with capture() as lines, pytest.raises(DataCheckError, match="1 bad pair"):
        factory(2)
    assert [line for line in lines if line.startswith("demo_rain/train [")], lines  # changed: printed again
    assert not [line for line in lines if line.startswith("demo_snow/train [")], lines
