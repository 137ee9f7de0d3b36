"""Synthetic rain and snow: deterministic by seed, really degrading, written atomically."""

import json
import os
import shutil

import cv2
import numpy as np
import pytest

import prepare_data
from src.logs import capture
from src.data import synth
from src.data.image_io import read_rgb


def clean(h=96, w=128):
    """A smooth mid-grey photo stand-in (leaves room for bright streaks and flakes)."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([90 + 40 * np.sin(xx / 17.0), 100 + 30 * np.cos(yy / 11.0), 80 + 0 * xx], axis=2)
    return img.astype(np.uint8)


def test_rain_is_deterministic_and_adds_bright_streaks():
    img = clean()
    a = synth.render(img, "rain", 3, "x.png", 0, haze=0.0)
    assert np.array_equal(a, synth.render(img, "rain", 3, "x.png", 0, haze=0.0))
    assert not np.array_equal(a, synth.render(img, "rain", 4, "x.png", 0, haze=0.0))
    assert not np.array_equal(a, synth.render(img, "rain", 3, "x.png", 1, haze=0.0))
    # streaks alone (no far-rain mist, no splashes): bright, sparse and elongated
    a = synth.add_rain(img, np.random.default_rng(3), haze=False, level=0.6, mist=False, splash=False)
    diff = a.astype(int) - img.astype(int)
    assert diff.min() >= -1  # screen blend never darkens (up to rounding)
    streak = diff.max(axis=2) > 40
    assert 0.005 < streak.mean() < 0.5  # visible, sparse streaks
    # streaks are elongated: the streak mask is correlated along its direction far more than a point set
    ys, xs = np.nonzero(streak)
    assert streak[np.clip(ys + 2, 0, 95), xs].mean() > 0.3 or streak[ys, np.clip(xs + 2, 0, 127)].mean() > 0.3
    hazy = synth.add_rain(img, np.random.default_rng(0), haze=True)
    assert not np.array_equal(hazy, synth.add_rain(img, np.random.default_rng(0), haze=False))


def test_snow_is_deterministic_and_adds_bright_flakes():
    img = clean()
    a = synth.render(img, "snow", 0, "x.png", 0)
    assert np.array_equal(a, synth.render(img, "snow", 0, "x.png", 0))
    assert not np.array_equal(a, synth.render(img, "snow", 1, "x.png", 0))
    flakes = (a.astype(int) - img.astype(int)).min(axis=2) > 60  # whiter in all channels
    assert flakes.mean() > 0.002
    assert a[flakes].mean() > 180
    assert a.mean() > img.mean()


def write_sources(folder, n=3):
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        assert cv2.imwrite(os.path.join(folder, f"p{i}.jpg"), np.roll(clean(), 9 * i, axis=1))
    open(os.path.join(folder, "README.txt"), "w").close()


def test_synth_folder_layout_determinism_and_refusal(tmp_path):
    src = str(tmp_path / "clean")
    write_sources(src)
    dst1, dst2 = str(tmp_path / "a"), str(tmp_path / "b")
    assert synth.synthesize_folder(src, dst1, "snow", seed=5, copies=2) == 6
    synth.synthesize_folder(src, dst2, "snow", seed=5, copies=2)
    names = sorted(os.listdir(os.path.join(dst1, "input")))
    expected = [f"p{i}_{k}.png" for i in range(3) for k in (0, 1)]
    assert names == sorted(os.listdir(os.path.join(dst1, "target"))) == expected
    for n in names:
        assert open(os.path.join(dst1, "input", n), "rb").read() == open(os.path.join(dst2, "input", n), "rb").read()
        assert not np.array_equal(read_rgb(os.path.join(dst1, "input", n)), read_rgb(os.path.join(dst1, "target", n)))
    assert np.array_equal(read_rgb(os.path.join(dst1, "target", "p1_0.png")), read_rgb(os.path.join(src, "p1.jpg")))
    assert json.load(open(os.path.join(dst1, "synth.json")))["pairs"] == 6
    with pytest.raises(FileExistsError, match="--overwrite"):
        synth.synthesize_folder(src, dst1, "snow", seed=5)
    synth.synthesize_folder(src, dst1, "rain", seed=5, overwrite=True)
    assert sorted(os.listdir(os.path.join(dst1, "input"))) == ["p0.png", "p1.png", "p2.png"]
    assert [f for f in os.listdir(tmp_path) if ".tmp-" in f or ".old-" in f] == []


def test_synth_command_errors(tmp_path, capsys):
    src = tmp_path / "clean"
    write_sources(str(src), 1)
    (src / "broken.png").write_bytes(b"")
    dst = str(tmp_path / "out")
    assert prepare_data.main(["synth", "--task", "rain", "--src", str(src), "--dst", dst]) == 2
    err = capsys.readouterr()
    assert "broken.png" in err.out and "--skip_bad" in err.err and not os.path.exists(dst)
    assert prepare_data.main(["synth", "--task", "rain", "--src", str(src), "--dst", dst, "--skip_bad"]) == 0
    assert os.listdir(os.path.join(dst, "input")) == ["p0.png"]
    assert prepare_data.main(["synth", "--task", "rain", "--src", str(tmp_path / "none"), "--dst", dst + "2"]) == 2
    assert "--src" in capsys.readouterr().err


def test_demo_is_atomic_idempotent_and_split_by_photo(tmp_path, monkeypatch):
    dst = str(tmp_path / "demo")
    calls = {"n": 0}
    real_render = synth.render

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt("simulated kill")
        return real_render(*args, **kwargs)

    small = [(n, cv2.resize(i, (96, 64))) for n, i in synth.demo_photos(synth.DEMO_TRAIN + synth.DEMO_TEST)]
    monkeypatch.setattr(synth, "demo_photos", lambda names: [p for p in small if p[0] in names])
    monkeypatch.setattr(synth, "render", failing)
    with pytest.raises(KeyboardInterrupt):
        synth.build_demo(dst, seed=0)
    assert os.listdir(tmp_path) == []  # nothing half-built is left under any name
    monkeypatch.setattr(synth, "render", real_render)
    synth.build_demo(dst, seed=0)
    meta = json.load(open(os.path.join(dst, synth.DEMO_MARKER)))
    assert meta["pairs"] == {
        "rain/train": 16,
        "snow/train": 16,
        "rain/val": 4,
        "snow/val": 4,
        "rain/test": 4,
        "snow/test": 4,
    }
    assert meta["version"] == synth.DEMO_VERSION >= 2
    stamp = os.path.getmtime(os.path.join(dst, synth.DEMO_MARKER))
    assert synth.build_demo(dst, seed=0) == dst
    assert os.path.getmtime(os.path.join(dst, synth.DEMO_MARKER)) == stamp
    with pytest.raises(FileExistsError, match="seed"):
        synth.build_demo(dst, seed=1)
    photos = {
        split: {f.rsplit("_", 1)[0] for f in os.listdir(os.path.join(dst, "snow", split, "input"))}
        for split in ("train", "val", "test")
    }
    assert photos["train"] == photos["val"] == set(synth.DEMO_TRAIN) and photos["test"] == set(synth.DEMO_TEST)
    assert not photos["train"] & photos["test"]
    # val: held-out renderings of the training photos, never a training file or rendering
    for task in ("rain", "snow"):
        tdir, vdir = (os.path.join(dst, task, s) for s in ("train", "val"))
        assert not set(os.listdir(os.path.join(tdir, "input"))) & set(os.listdir(os.path.join(vdir, "input")))
        train_inputs = [read_rgb(os.path.join(tdir, "input", f)) for f in os.listdir(os.path.join(tdir, "input"))]
        for f in os.listdir(os.path.join(vdir, "input")):
            v = read_rgb(os.path.join(vdir, "input", f))
            assert not any(t.shape == v.shape and np.array_equal(t, v) for t in train_inputs), f
            photo = dict(small)[f.rsplit("_", 1)[0]]
            assert np.array_equal(read_rgb(os.path.join(vdir, "target", f)), photo)
            assert not np.array_equal(v, photo)


def test_old_demo_is_rebuilt_with_val_or_refused(tmp_path, monkeypatch):
    """A version-1 demo (no val) is rebuilt in place; one with foreign files is refused with the fix."""
    small = [(n, cv2.resize(i, (48, 32))) for n, i in synth.demo_photos(synth.DEMO_TRAIN + synth.DEMO_TEST)]
    monkeypatch.setattr(synth, "demo_photos", lambda names: [p for p in small if p[0] in names])
    dst = str(tmp_path / "demo")
    synth.build_demo(dst, seed=0)
    assert synth.demo_is_current(dst)

    def make_v1():
        for task in ("rain", "snow"):
            shutil.rmtree(os.path.join(dst, task, "val"))
        with open(os.path.join(dst, synth.DEMO_MARKER), "w") as fh:
            json.dump(
                {
                    "version": 1,
                    "seed": 0,
                    "train_photos": list(synth.DEMO_TRAIN),
                    "test_photos": list(synth.DEMO_TEST),
                    "pairs": {},
                },
                fh,
            )

    make_v1()
    assert not synth.demo_is_current(dst) and synth.demo_version(dst) == 1
    with capture() as logs:
        assert synth.build_demo(dst, seed=0) == dst
    assert synth.demo_is_current(dst) and any("version 1" in m for m in logs)
    assert len(os.listdir(os.path.join(dst, "rain", "val", "input"))) == len(synth.DEMO_TRAIN) * synth.DEMO_VAL_COPIES
    make_v1()
    open(os.path.join(dst, "notes.txt"), "w").write("mine")
    with pytest.raises(FileExistsError, match="--overwrite"):
        synth.build_demo(dst, seed=0)
    assert os.path.isfile(os.path.join(dst, "notes.txt"))
    with open(os.path.join(dst, synth.DEMO_MARKER), "w") as fh:
        json.dump({"version": synth.DEMO_VERSION + 1, "seed": 0}, fh)
    os.remove(os.path.join(dst, "notes.txt"))
    with pytest.raises(FileExistsError, match=f"version {synth.DEMO_VERSION + 1}"):
        synth.build_demo(dst, seed=0)
    synth.build_demo(dst, seed=0, overwrite=True)
    assert synth.demo_is_current(dst)


def test_demo_photos_ship_offline():
    photos = synth.demo_photos(synth.DEMO_TRAIN + synth.DEMO_TEST)
    assert len(photos) == 6
    for _, img in photos:
        assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8
        assert np.abs(img[..., 0].astype(int) - img[..., 1]).mean() > 3  # colour, not grey
    arrays = [p[1] for p in photos]
    assert all(not np.array_equal(a, b) for i, a in enumerate(arrays) for b in arrays[i + 1 :] if a.shape == b.shape)
