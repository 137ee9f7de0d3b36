"""Training pipeline (balanced, aligned, sharded, single-task), MindRecord round trip, test iterator."""

import json
import os
from collections import Counter

import cv2
import numpy as np
import pytest

import prepare_data
from src.config import load_config
from src.data.check import DataCheckError
from src.data.mindrecord import iterate_records, write_mindrecord
from src.data.pipeline import create_train_dataset, iterate_test_set
from src.data.readers import DataConfigError, list_set, load_pair

CFG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "data_defaults.yaml")
RAIN_IDS, SNOW_IDS = list(range(8)), list(range(100, 112))


def put(path, rgb):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))


def coded(ident, task, h=20, w=24):
    """Red = id, green = a spatial pattern, blue = task; its target is 255 - input (checks alignment)."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([np.full((h, w), ident), (xx * 5 + yy * 3) % 256, np.full((h, w), 255 * task)], axis=2)
    return img.astype(np.uint8)


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("coded")
    for task, idents in (("rain", RAIN_IDS), ("snow", SNOW_IDS)):
        for i in idents:
            h, w = (10, 12) if i in (3, 105) else (20, 24)  # smaller than the crop: reflect-padded
            img = coded(i, task == "snow", h, w)
            put(root / task / "train" / "input" / f"{i}.png", img)
            put(root / task / "train" / "target" / f"{i}.png", 255 - img)
        for i in range(2):
            img = coded(i, task == "snow", 30 + i, 41)
            put(root / task / "test" / "input" / f"t{i}.png", img)
            put(root / task / "test" / "target" / f"t{i}.png", 255 - img)
    return root


def data_cfg(root, *extra):
    return load_config(
        CFG,
        [
            f"--data.roots.demo={root}",
            "--data.train_sets=[demo_rain/train, demo_snow/train]",
            "--data.crop_size=16",
            "--data.num_workers=1",
        ]
        + list(extra),
    ).data


def epoch(dset):
    """One epoch as a list of (ids, labels) with every sample's properties asserted on the way."""
    out = []
    for img, tgt, lab in dset.create_tuple_iterator(output_numpy=True, num_epochs=1):
        assert img.dtype == tgt.dtype == np.float32 and lab.dtype == np.int32
        assert img.shape[1:] == (3, 16, 16) and img.min() >= 0 and img.max() <= 1
        assert np.allclose(img + tgt, 1.0, atol=1e-6)  # same crop and flips
        assert np.array_equal(np.round(img[:, 2].mean(axis=(1, 2))), lab)  # label matches the image's task
        out.append((np.round(img[:, 0].mean(axis=(1, 2)) * 255).astype(int).tolist(), lab.tolist()))
    return out


def test_every_batch_holds_both_tasks(demo_root):
    d = create_train_dataset(data_cfg(demo_root), 4, seed=0)
    assert d.get_dataset_size() == 6 and d.get_col_names() == ["image", "target", "label"]
    batches = epoch(d)
    assert len(batches) == 6
    assert all(lab == [0, 0, 1, 1] for _, lab in batches)
    snow = [i for ids, _ in batches for i in ids[2:]]
    rain = [i for ids, _ in batches for i in ids[:2]]
    assert sorted(snow) == SNOW_IDS  # the larger pool: each pair once per epoch
    assert set(rain) == set(RAIN_IDS)  # the smaller pool is repeated to fill the epoch
    it = d.create_tuple_iterator(output_numpy=True, num_epochs=2)
    assert [sum(1 for _ in it) for _ in range(2)] == [6, 6]


@pytest.mark.parametrize("fmt", ["folder", "mindrecord"])
def test_shards_are_disjoint_and_cover(demo_root, tmp_path, fmt):
    extra = []
    if fmt == "mindrecord":
        path = str(tmp_path / "mr" / "train.mindrecord")
        write_mindrecord(data_cfg(demo_root), path, shards=2)
        extra = ["--data.format=mindrecord", f"--data.mindrecord_path={path}"]
    seen = {}
    for rank in (0, 1):
        d = create_train_dataset(data_cfg(demo_root, *extra), 4, rank=rank, group_size=2, seed=3)
        batches = epoch(d)
        assert d.get_dataset_size() == len(batches) == 3
        assert all(lab == [0, 0, 1, 1] for _, lab in batches)
        seen[rank] = ({i for ids, _ in batches for i in ids[:2]}, [i for ids, _ in batches for i in ids[2:]])
    assert not seen[0][0] & seen[1][0] and seen[0][0] | seen[1][0] == set(RAIN_IDS)
    assert not set(seen[0][1]) & set(seen[1][1]) and sorted(seen[0][1] + seen[1][1]) == SNOW_IDS


def test_single_task_switch(demo_root):
    d = create_train_dataset(data_cfg(demo_root, "--data.single_task=snow"), 3, seed=0)
    batches = epoch(d)
    assert len(batches) == 4 and all(lab == [1, 1, 1] for _, lab in batches)
    assert sorted(i for ids, _ in batches for i in ids) == SNOW_IDS
    d = create_train_dataset(data_cfg(demo_root, "--data.single_task=rain"), 2, seed=0)
    assert {i for ids, lab in epoch(d) for i in ids} == set(RAIN_IDS)


def test_bad_batch_and_pool_sizes(demo_root):
    with pytest.raises(DataConfigError, match="not even"):
        create_train_dataset(data_cfg(demo_root), 3)
    with pytest.raises(DataConfigError, match="rain pool has 8 pairs"):
        create_train_dataset(data_cfg(demo_root), 4, group_size=8, rank=1)
    with pytest.raises(DataConfigError, match="single_task"):
        create_train_dataset(data_cfg(demo_root, "--data.single_task=fog"), 4)
    with pytest.raises(DataConfigError, match="no snow|snow pool has 0"):
        create_train_dataset(data_cfg(demo_root, "--data.train_sets=[demo_rain/train]"), 4)


def test_seeded_runs_repeat(demo_root):
    def first_epoch(seed):
        d = create_train_dataset(data_cfg(demo_root), 4, seed=seed)
        return [
            np.concatenate([a.ravel() for a in row]) for row in d.create_tuple_iterator(output_numpy=True, num_epochs=1)
        ]

    a, b, c = first_epoch(1), first_epoch(1), first_epoch(2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


@pytest.fixture(scope="module")
def mixed_root(tmp_path_factory):
    """Pairs in several formats: side-by-side JPEG, TIFF, PNG (16-bit, grayscale, RGBA), JPEG."""
    root = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(0)
    pic = lambda h=18, w=22: rng.integers(0, 256, (h, w, 3), dtype=np.uint8)  # noqa: E731
    for i in range(3):
        put(root / "Rain1200" / "train" / f"{i}.jpg", pic(18, 44))
        put(root / "CSD" / "Train" / "Snow" / f"{i}.tif", pic())
        put(root / "CSD" / "Train" / "Gt" / f"{i}.tif", pic())
        put(root / "Snow100K" / "all" / "synthetic" / f"s{i}.jpg", pic())
        put(root / "Snow100K" / "all" / "gt" / f"s{i}.jpg", pic())
    spa = root / "SPA" / "real_test_1000"
    os.makedirs(spa / "rain")
    os.makedirs(spa / "gt")
    cv2.imwrite(str(spa / "rain" / "000.png"), pic().astype(np.uint16) * 250)
    cv2.imwrite(str(spa / "gt" / "000gt.png"), pic()[:, :, 0])
    cv2.imwrite(str(spa / "rain" / "001.png"), np.dstack([pic(), pic()[:, :, :1]]))
    cv2.imwrite(str(spa / "gt" / "001gt.png"), pic())
    return root


NO_VAL = [f"--data.benchmarks.{b}.holdout.val=0" for b in ("rain1200", "csd", "snow100k")]  # 3 pairs: all train


def mixed_cfg(root, *extra):
    roots = {"rain1200": "Rain1200", "csd": "CSD", "snow100k": "Snow100K", "spa": "SPA"}
    return load_config(
        CFG,
        [f"--data.roots.{k}={root / v}" for k, v in roots.items()]
        + ["--data.train_sets=[rain1200/train, spa/test, csd/train, snow100k/train]"]
        + NO_VAL
        + list(extra),
    ).data


@pytest.mark.parametrize("encoding", ["auto", "raw"])
def test_mindrecord_round_trip_is_pixel_identical(mixed_root, tmp_path, encoding):
    cfg = mixed_cfg(mixed_root)
    dst = str(tmp_path / "rec" / "train.mindrecord")
    meta = write_mindrecord(cfg, dst, shards=3, encoding=encoding)
    assert meta["count"] == 11 and meta["tasks"] == {"rain": 5, "snow": 6}
    assert sorted(os.listdir(tmp_path / "rec")) == sorted(
        ["train.mindrecord.json"] + [f"train.mindrecord{i}{s}" for i in range(3) for s in ("", ".db")]
    )
    expected = {}
    for s in cfg.train_sets:
        for p in list_set(cfg, s).pairs:
            expected[(s, p.name)] = (p.label,) + load_pair(p)
    got = list(iterate_records(dst))
    assert len(got) == len(expected) == 11
    for name, set_name, label, inp, tgt in got:
        lab, e_inp, e_tgt = expected.pop((set_name, name))
        assert label == lab and np.array_equal(inp, e_inp) and np.array_equal(tgt, e_tgt), name
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_mindrecord(cfg, dst, shards=3)
    write_mindrecord(cfg, dst, shards=1, overwrite=True)
    assert sorted(os.listdir(tmp_path / "rec")) == ["train.mindrecord", "train.mindrecord.db", "train.mindrecord.json"]
    assert json.load(open(dst + ".json"))["count"] == 11


def test_mindrecord_command_and_config_checks(mixed_root, tmp_path, capsys):
    dst = str(tmp_path / "r.mindrecord")
    args = (
        ["mindrecord", "--config_path", CFG, "--dst", dst, "--shards", "2"]
        + [f"--data.roots.{k}={mixed_root / v}" for k, v in (("rain1200", "Rain1200"), ("csd", "CSD"))]
        + NO_VAL
    )
    assert prepare_data.main(args) == 0
    assert "verified 6 rows" in capsys.readouterr().out
    assert prepare_data.main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    cfg = mixed_cfg(mixed_root, "--data.format=mindrecord", f"--data.mindrecord_path={dst}")
    with pytest.raises(DataConfigError, match="was built from"):
        create_train_dataset(cfg, 2)
    with pytest.raises(DataConfigError, match="prepare_data.py mindrecord"):
        create_train_dataset(
            mixed_cfg(mixed_root, "--data.format=mindrecord", f"--data.mindrecord_path={tmp_path / 'none'}"), 2
        )


def test_test_set_iterator_full_size(demo_root, tmp_path):
    ts = iterate_test_set(data_cfg(demo_root), "demo_snow/test")
    samples = list(ts)
    assert len(ts) == len(samples) == 2
    name, task, inp, tgt = samples[1]
    assert (name, task) == ("t1.png", "snow") and inp.shape == tgt.shape == (31, 41, 3) and inp.dtype == np.uint8
    assert np.array_equal(inp.astype(int) + tgt, np.full(inp.shape, 255))
    root = tmp_path / "bad"
    put(root / "rain" / "test" / "input" / "a.png", coded(1, 0))
    put(root / "rain" / "test" / "target" / "a.png", coded(1, 0, 21, 24))
    put(root / "rain" / "test" / "input" / "b.png", coded(2, 0))
    put(root / "rain" / "test" / "target" / "b.png", coded(2, 0))
    with pytest.raises(DataCheckError, match="a.png"):
        list(iterate_test_set(data_cfg(root), "demo_rain/test"))
    ok = iterate_test_set(data_cfg(root, "--data.skip_bad=true"), "demo_rain/test")
    assert [s.name for s in ok] == ["b.png"] and len(ok.skipped) == 1
    put(root / "rain" / "test" / "input" / "c.png", coded(3, 0))
    with pytest.raises(DataCheckError, match="unpaired"):
        iterate_test_set(data_cfg(root), "demo_rain/test")
    assert Counter(s.task for s in iterate_test_set(data_cfg(demo_root), "demo_rain/test")) == {"rain": 2}
