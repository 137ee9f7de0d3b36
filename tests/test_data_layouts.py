"""Readers: fixture trees in every benchmark's native layout give exact pair counts and correct pairing."""
import os

import cv2
import numpy as np
import pytest

from src.config import load_config
from src.data.readers import DataConfigError, PairMismatchError, list_set, load_pair

CFG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "data_defaults.yaml")


def coded(ident, h=12, w=16, value=None):
    """A tiny RGB image whose red channel holds ``ident`` (so pairs can be matched by content)."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :, 0] = ident
    img[:, :, 1] = value if value is not None else (np.arange(w) * 7 % 256)[None, :]
    img[:, :, 2] = 99
    return img


def put(path, rgb):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, np.ascontiguousarray(rgb[:, :, ::-1]))


def cfg_for(roots, *extra):
    return load_config(CFG, [f"--data.roots.{k}={v}" for k, v in roots.items()] + list(extra)).data


def ids(pair):
    inp, tgt = load_pair(pair)
    return int(round(inp[..., 0].mean())), int(round(tgt[..., 0].mean())), inp, tgt


def test_rain_streak_generic_pairs_and_holdout(tmp_path):
    root = tmp_path / "rs"
    for i in range(30):
        put(str(root / "input" / f"{i}.png"), coded(i))
        put(str(root / "target" / f"{i}.png"), coded(i, value=7))
    cfg = cfg_for({"rain_streak": root}, "--data.benchmarks.rain_streak.splits.train.holdout.count=10",
                  "--data.benchmarks.rain_streak.splits.test.holdout.count=10")
    train, test = list_set(cfg, "rain_streak/train"), list_set(cfg, "rain_streak/test")
    assert (len(train.pairs), len(test.pairs)) == (20, 10)
    assert not train.problems and train.task == "rain"
    names_train, names_test = {p.name for p in train.pairs}, {p.name for p in test.pairs}
    assert not names_train & names_test and len(names_train | names_test) == 30
    for p in test.pairs:
        a, b, _, _ = ids(p)
        assert a == b == int(p.name.split(".")[0])


def test_rain1200_side_by_side_left_is_input(tmp_path):
    root = tmp_path / "Rain1200"
    for split, n in (("train", 5), ("test", 3)):
        for i in range(n):
            rainy, clean = coded(i, value=200), coded(i, value=20)
            put(str(root / split / f"{i}.jpg"), np.concatenate([rainy, clean], axis=1))
    cfg = cfg_for({"rain1200": root})
    train, test = list_set(cfg, "rain1200/train"), list_set(cfg, "rain1200/test")
    assert (len(train.pairs), len(test.pairs)) == (5, 3)
    for p in test.pairs:
        _, _, inp, tgt = ids(p)
        assert inp.shape == tgt.shape == (12, 16, 3)
        assert abs(inp[..., 1].mean() - 200) < 6 and abs(tgt[..., 1].mean() - 20) < 6  # left = rainy input
    cfg_r = cfg_for({"rain1200": root}, "--data.benchmarks.rain1200.splits.test.input_side=right")
    _, _, inp, _ = ids(list_set(cfg_r, "rain1200/test").pairs[0])
    assert abs(inp[..., 1].mean() - 20) < 6
    put(str(root / "test" / "odd.jpg"), coded(1, w=33))
    odd = [p for p in list_set(cfg, "rain1200/test").pairs if p.name == "odd.jpg"][0]
    with pytest.raises(PairMismatchError, match="odd"):
        load_pair(odd)


def test_spa_test_suffix_rule_and_train_list(tmp_path):
    root = tmp_path / "SPA"
    for i in range(4):
        put(str(root / "real_test_1000" / "rain" / f"{i:03d}.png"), coded(i))
        put(str(root / "real_test_1000" / "gt" / f"{i:03d}gt.png"), coded(i, value=5))
    lines = []
    for i in range(3):
        put(str(root / "real_world" / "000" / f"000-{i}" / f"000-{i}_1_1.png"), coded(10 + i))
        put(str(root / "real_world_gt" / "000" / f"000_1_{i}.png"), coded(10 + i, value=5))
        lead = "/" if i == 0 else ("./" if i == 1 else "")  # SPA lists write "/real_world/..."
        lines.append(f"{lead}real_world/000/000-{i}/000-{i}_1_1.png {lead}real_world_gt/000/000_1_{i}.png")
    lines += ["", "just_one_field.png", "real_world/missing.png real_world_gt/000/000_1_0.png"]
    (root / "real_world.txt").write_text("\n".join(lines) + "\n")
    cfg = cfg_for({"spa": root})
    test = list_set(cfg, "spa/test")
    assert len(test.pairs) == 4 and not test.problems
    for p in test.pairs:
        a, b, _, _ = ids(p)
        assert a == b and p.target.endswith(f"{a:03d}gt.png")
    train = list_set(cfg, "spa/train")
    assert len(train.pairs) == 3
    assert sorted(p.kind for p in train.problems) == ["bad_line", "no_input"]
    for p in train.pairs:
        a, b, _, _ = ids(p)
        assert a == b


def test_snow100k_same_name_and_test_splits(tmp_path):
    root = tmp_path / "Snow100K"
    counts = {"all": 6, "Snow100K-S": 2, "Snow100K-M": 3, "Snow100K-L": 4}
    for sub, n in counts.items():
        for i in range(n):
            name = f"beautiful_smile_{i:05d}.jpg"
            put(str(root / sub / "synthetic" / name), coded(i * 20, value=200))
            put(str(root / sub / "gt" / name), coded(i * 20, value=30))
            put(str(root / sub / "mask" / name), coded(0))
    cfg = cfg_for({"snow100k": root})
    got = {s: len(list_set(cfg, f"snow100k/{s}").pairs) for s in ("train", "test_s", "test_m", "test_l")}
    assert got == {"train": 6, "test_s": 2, "test_m": 3, "test_l": 4}
    for p in list_set(cfg, "snow100k/test_l").pairs:
        a, b, inp, tgt = ids(p)
        assert abs(a - b) <= 3 and inp[..., 1].mean() > tgt[..., 1].mean() + 100
        assert os.path.basename(p.input) == os.path.basename(p.target) and "/gt/" in p.target


def test_srrs_tif_to_jpg_and_split(tmp_path):
    root = tmp_path / "SRRS"
    for i in range(12):
        put(str(root / "Syn" / f"img{i}.tif"), coded(i * 10))
        put(str(root / "gt" / f"img{i}.jpg"), coded(i * 10, value=40))
    put(str(root / "gt" / "extra.jpg"), coded(0))  # a target without input is reported
    cfg = cfg_for({"srrs": root}, "--data.benchmarks.srrs.splits.train.holdout.count=4",
                  "--data.benchmarks.srrs.splits.test.holdout.count=4")
    train, test = list_set(cfg, "srrs/train"), list_set(cfg, "srrs/test")
    assert (len(train.pairs), len(test.pairs)) == (8, 4)
    assert {p.name for p in train.pairs}.isdisjoint({p.name for p in test.pairs})
    assert [(p.kind, os.path.basename(p.path)) for p in train.problems] == [("no_input", "extra.jpg")]
    for p in test.pairs:
        assert p.input.endswith(".tif") and p.target.endswith(".jpg")
        a, b, _, _ = ids(p)
        assert abs(a - b) <= 3


def test_csd_train_test_tif(tmp_path):
    root = tmp_path / "CSD"
    for split, n in (("Train", 5), ("Test", 3)):
        for i in range(1, n + 1):
            for sub, val in (("Snow", 220), ("Gt", 60), ("Mask", 0)):
                put(str(root / split / sub / f"{i}.tif"), coded(i, value=val))
    cfg = cfg_for({"csd": root})
    train, test = list_set(cfg, "csd/train"), list_set(cfg, "csd/test")
    assert (len(train.pairs), len(test.pairs)) == (5, 3) and train.task == test.task == "snow"
    for p in train.pairs + test.pairs:
        a, b, inp, tgt = ids(p)
        assert a == b and inp[..., 1].mean() == 220 and tgt[..., 1].mean() == 60


def test_config_errors_name_the_key(tmp_path):
    cfg = cfg_for({"csd": tmp_path / "nowhere"})
    with pytest.raises(DataConfigError, match=r"--data.roots.csd="):
        list_set(cfg, "csd/test")
    with pytest.raises(DataConfigError, match="unknown benchmark"):
        list_set(cfg, "nope/test")
    with pytest.raises(DataConfigError, match="csd/train"):
        list_set(cfg, "csd/val")
    with pytest.raises(DataConfigError, match="<benchmark>/<split>"):
        list_set(cfg, "csd")
    (tmp_path / "CSD").mkdir()
    with pytest.raises(DataConfigError, match="Test/Snow"):
        list_set(cfg_for({"csd": tmp_path / "CSD"}), "csd/test")
