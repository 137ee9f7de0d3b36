"""Readers: fixture trees in every benchmark's native layout give exact pair counts and correct pairing."""

import os

import cv2
import numpy as np
import pytest

from src.config import load_config
from src.data.readers import DataConfigError, PairMismatchError, holdout_parts, list_set, load_pair, resolve_val_sets

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
    cfg = cfg_for(
        {"rain_streak": root},
        "--data.benchmarks.rain_streak.holdout.count=10",
        "--data.benchmarks.rain_streak.holdout.val=5",
    )
    train, val, test = (list_set(cfg, f"rain_streak/{s}") for s in ("train", "val", "test"))
    assert (len(train.pairs), len(val.pairs), len(test.pairs)) == (15, 5, 10)
    assert not train.problems and train.task == val.task == "rain"
    names_train, names_val, names_test = ({p.name for p in x.pairs} for x in (train, val, test))
    assert not names_train & names_test and not names_val & (names_train | names_test)
    assert len(names_train | names_val | names_test) == 30
    # the test part does not depend on the validation part (same 10 pairs as without val)
    no_val = cfg_for(
        {"rain_streak": root},
        "--data.benchmarks.rain_streak.holdout.count=10",
        "--data.benchmarks.rain_streak.holdout.val=0",
    )
    assert {p.name for p in list_set(no_val, "rain_streak/test").pairs} == names_test
    assert {p.name for p in list_set(no_val, "rain_streak/train").pairs} == names_train | names_val
    for p in test.pairs:
        a, b, _, _ = ids(p)
        assert a == b == int(p.name.split(".")[0])


def test_rain1200_side_by_side_left_is_input(tmp_path):
    root = tmp_path / "Rain1200"
    for split, n in (("train", 5), ("test", 3)):
        for i in range(n):
            rainy, clean = coded(i, value=200), coded(i, value=20)
            put(str(root / split / f"{i}.jpg"), np.concatenate([rainy, clean], axis=1))
    cfg = cfg_for({"rain1200": root}, "--data.benchmarks.rain1200.holdout.val=2")
    train, val, test = (list_set(cfg, f"rain1200/{s}") for s in ("train", "val", "test"))
    assert (len(train.pairs), len(val.pairs), len(test.pairs)) == (3, 2, 3)
    assert {p.input for p in train.pairs}.isdisjoint(p.input for p in val.pairs)
    assert all(os.sep + "train" + os.sep in p.input for p in val.pairs)  # val comes out of train/
    for p in test.pairs:
        _, _, inp, tgt = ids(p)
        assert inp.shape == tgt.shape == (12, 16, 3)
        assert abs(inp[..., 1].mean() - 200) < 6 and abs(tgt[..., 1].mean() - 20) < 6  # left = rainy input
    cfg_r = cfg_for(
        {"rain1200": root},
        "--data.benchmarks.rain1200.splits.test.input_side=right",
        "--data.benchmarks.rain1200.holdout.val=2",
    )
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
    cfg = cfg_for({"spa": root}, "--data.benchmarks.spa.holdout.val=0")
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
    cfg = cfg_for({"snow100k": root}, "--data.benchmarks.snow100k.holdout.val=2")
    got = {s: len(list_set(cfg, f"snow100k/{s}").pairs) for s in ("train", "val", "test_s", "test_m", "test_l")}
    assert got == {"train": 4, "val": 2, "test_s": 2, "test_m": 3, "test_l": 4}
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
    cfg = cfg_for({"srrs": root}, "--data.benchmarks.srrs.holdout.count=4", "--data.benchmarks.srrs.holdout.val=2")
    train, val, test = (list_set(cfg, f"srrs/{s}") for s in ("train", "val", "test"))
    assert (len(train.pairs), len(val.pairs), len(test.pairs)) == (6, 2, 4)
    names = [{p.name for p in x.pairs} for x in (train, val, test)]
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
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
    cfg = cfg_for({"csd": root}, "--data.benchmarks.csd.holdout.val=2")
    train, val, test = (list_set(cfg, f"csd/{s}") for s in ("train", "val", "test"))
    assert (len(train.pairs), len(val.pairs), len(test.pairs)) == (3, 2, 3) and train.task == test.task == "snow"
    assert all("Train" in p.input for p in val.pairs) and not {p.name for p in val.pairs} & {
        p.name for p in train.pairs
    }
    for p in train.pairs + val.pairs + test.pairs:
        a, b, inp, tgt = ids(p)
        assert a == b and inp[..., 1].mean() == 220 and tgt[..., 1].mean() == 60


def test_config_errors_name_the_key(tmp_path):
    cfg = cfg_for({"csd": tmp_path / "nowhere"})
    with pytest.raises(DataConfigError, match=r"--data.roots.csd="):
        list_set(cfg, "csd/test")
    with pytest.raises(DataConfigError, match="unknown benchmark"):
        list_set(cfg, "nope/test")
    with pytest.raises(DataConfigError, match="csd/train, csd/val, csd/test"):
        list_set(cfg, "csd/valid")
    with pytest.raises(DataConfigError, match="<benchmark>/<split>"):
        list_set(cfg, "csd")
    (tmp_path / "CSD").mkdir()
    with pytest.raises(DataConfigError, match="Test/Snow"):
        list_set(cfg_for({"csd": tmp_path / "CSD"}), "csd/test")


def _flat(root, n):
    for i in range(n):
        put(str(root / "input" / f"{i:02d}.png"), coded(i))
        put(str(root / "target" / f"{i:02d}.png"), coded(i, value=7))


def test_holdout_parts_are_disjoint_cover_and_seeded():
    for n, count, val in ((30, 10, 5), (3200, 1000, 200), (12000, 0, 200), (7, 0, 0)):
        parts = holdout_parts(n, count, 0, val, 1)
        assert [len(parts[k]) for k in ("test", "val", "train")] == [count, val, n - count - val]
        assert set().union(*parts.values()) == set(range(n))
        assert not parts["test"] & parts["val"] and not parts["train"] & (parts["test"] | parts["val"])
        assert parts == holdout_parts(n, count, 0, val, 1)  # seeded
    assert holdout_parts(30, 10, 0, 5, 1)["val"] != holdout_parts(30, 10, 0, 5, 2)["val"]
    assert holdout_parts(30, 10, 0, 5, 1)["test"] == holdout_parts(30, 10, 0, 5, 2)["test"]


def test_holdout_errors_name_the_key(tmp_path):
    root = tmp_path / "rs"
    _flat(root, 6)
    base = {"rain_streak": root}
    with pytest.raises(DataConfigError, match=r"lower data.benchmarks.rain_streak.holdout"):
        list_set(
            cfg_for(
                base, "--data.benchmarks.rain_streak.holdout.count=4", "--data.benchmarks.rain_streak.holdout.val=2"
            ),
            "rain_streak/train",
        )
    with pytest.raises(DataConfigError, match=r"part=val needs holdout.val > 0"):
        list_set(
            cfg_for(
                base, "--data.benchmarks.rain_streak.holdout.count=2", "--data.benchmarks.rain_streak.holdout.val=0"
            ),
            "rain_streak/val",
        )
    with pytest.raises(DataConfigError, match="use train, val or test"):
        list_set(cfg_for(base, "--data.benchmarks.rain_streak.splits.val.holdout.part=dev"), "rain_streak/val")
    # one split's holdout changed alone: its pairs would overlap its siblings' -> refused, naming both
    with pytest.raises(DataConfigError, match=r"rain_streak/train .*rain_streak/val .*overlap"):
        _sibling_mismatch(base)


def _sibling_mismatch(base):
    cfg = cfg_for(base, "--data.benchmarks.rain_streak.holdout.count=2", "--data.benchmarks.rain_streak.holdout.val=1")
    cfg.benchmarks.rain_streak.splits.val["holdout"] = {"part": "val", "val_seed": 7}
    list_set(cfg, "rain_streak/train")


def test_like_follows_the_train_split_when_it_is_overridden(tmp_path):
    root = tmp_path / "Rain1200"
    for d, n in (("heavy", 4), ("light", 4), ("test", 2)):
        for i in range(n):
            put(str(root / d / f"{d}{i}.jpg"), np.concatenate([coded(i, value=200), coded(i, value=20)], axis=1))
    cfg = cfg_for(
        {"rain1200": root},
        "--data.benchmarks.rain1200.splits.train.dirs=[heavy, light]",
        "--data.benchmarks.rain1200.holdout.val=3",
    )
    train, val = list_set(cfg, "rain1200/train"), list_set(cfg, "rain1200/val")
    assert (len(train.pairs), len(val.pairs)) == (5, 3)
    assert {p.input for p in train.pairs} | {p.input for p in val.pairs} == {
        str(root / d / f"{d}{i}.jpg") for d in ("heavy", "light") for i in range(4)
    }
    assert not {p.input for p in train.pairs} & {p.input for p in val.pairs}


def test_val_sets_auto_and_guards(tmp_path):
    cfg = cfg_for({})
    assert resolve_val_sets(cfg) == ["rain1200/val", "csd/val"]
    one = cfg_for({}, "--data.single_task=snow")
    assert resolve_val_sets(one) == ["csd/val"]
    other = cfg_for({}, "--data.train_sets=[spa/train, snow100k/train, srrs/train]")
    assert resolve_val_sets(other) == ["spa/val", "snow100k/val", "srrs/val"]
    assert resolve_val_sets(cfg_for({}, "--data.val_sets=[auto, snow100k/val]")) == [
        "rain1200/val",
        "csd/val",
        "snow100k/val",
    ]
    assert resolve_val_sets(cfg_for({}, "--data.val_sets=[]")) == []
    with pytest.raises(DataConfigError, match="also in data.test_sets"):
        resolve_val_sets(cfg_for({}, "--data.val_sets=[rain1200/test]"))
    with pytest.raises(DataConfigError, match="also in data.train_sets"):
        resolve_val_sets(cfg_for({}, "--data.val_sets=[csd/train]"))
    bad = cfg_for({})
    bad["train_sets"] = ["snow100k/train"]
    del bad.benchmarks.snow100k.splits["val"]
    with pytest.raises(DataConfigError, match="needs a validation split snow100k/val"):
        resolve_val_sets(bad)
