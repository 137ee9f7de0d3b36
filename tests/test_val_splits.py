"""Validation never touches the test sets: for EVERY config under configs/, the validation sets
(best.ckpt, LR on plateau) share no set name and no file with its test sets, nor with its training
sets. The file-level checks run on fixture trees in each benchmark's native layout, large enough
for the configured holdout counts (2,000 test + 200 val pairs of rain_streak and so on)."""

import glob
import hashlib
import os
import zlib

import cv2
import numpy as np
import pytest

from src.config import load_config
from src.data.readers import DataConfigError, list_set, resolve_val_sets, set_task, split_set_name

from helpers import write_demo_tree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(
    glob.glob(os.path.join(ROOT, "configs", "*.yaml"))
    + glob.glob(os.path.join(ROOT, "configs", "ablations", "*.yaml"))
    + glob.glob(os.path.join(ROOT, "configs", "strategies", "*.yaml"))
)
TRAINING_CONFIGS = [c for c in CONFIGS if os.path.basename(c) != "datasets.yaml"]  # datasets.yaml: no sets
DEFAULTS = os.path.join(ROOT, "configs", "data_defaults.yaml")

# Benchmark sizes of the fixture trees: above the configured holdouts (test + val) of each.
N_RAIN_STREAK, N_SRRS, N_TRAIN, N_TEST = 2300, 1300, 260, 6


def _img(key, h=4, w=8):
    """A tiny image whose bytes are unique to ``key``."""
    return np.random.default_rng(zlib.crc32(key.encode())).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _put(path, rgb):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))


def _paired(root, in_dir, tgt_dir, names, tgt_name=lambda n: n, tag=""):
    for n in names:
        _put(os.path.join(root, in_dir, n), _img(f"{tag}{in_dir}/{n}"))
        _put(os.path.join(root, tgt_dir, tgt_name(n)), _img(f"{tag}{tgt_dir}/{n}"))


def build_trees(base):
    """Fixture trees of every benchmark of configs/datasets.yaml; returns data.roots overrides."""
    roots = {k: os.path.join(base, k) for k in ("rain_streak", "rain1200", "spa", "snow100k", "srrs", "csd", "demo")}
    _paired(roots["rain_streak"], "input", "target", [f"{i}.png" for i in range(N_RAIN_STREAK)])
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        for i in range(n):
            _put(os.path.join(roots["rain1200"], split, f"{i}.jpg"), _img(f"rain1200/{split}/{i}", w=16))
    spa, lines = roots["spa"], []
    for i in range(N_TRAIN):
        scene = f"{i // 20:03d}"
        inp, gt = f"real_world/{scene}/{scene}-{i}/{i}_1.png", f"real_world_gt/{scene}/{scene}_{i}.png"
        _put(os.path.join(spa, inp), _img(f"spa/{inp}"))
        _put(os.path.join(spa, gt), _img(f"spa/{gt}"))
        lines.append(f"/{inp} /{gt}")
    with open(os.path.join(spa, "real_world.txt"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    _paired(
        spa,
        "real_test_1000/rain",
        "real_test_1000/gt",
        [f"{i:03d}.png" for i in range(N_TEST)],
        lambda n: n.replace(".png", "gt.png"),
    )
    for sub, n in (("all", N_TRAIN), ("Snow100K-S", N_TEST), ("Snow100K-M", N_TEST), ("Snow100K-L", N_TEST)):
        _paired(roots["snow100k"], f"{sub}/synthetic", f"{sub}/gt", [f"{sub}_{i:05d}.jpg" for i in range(n)])
    _paired(roots["srrs"], "Syn", "gt", [f"{i}.tif" for i in range(N_SRRS)], lambda n: n.replace(".tif", ".jpg"))
    for split, n in (("Train", N_TRAIN), ("Test", N_TEST)):
        _paired(roots["csd"], f"{split}/Snow", f"{split}/Gt", [f"{i + 1}.tif" for i in range(n)])
    write_demo_tree(roots["demo"], train=4, test=2, val=2, h=16, w=16)
    return [f"--data.roots.{k}={v}" for k, v in roots.items()]


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    return build_trees(str(tmp_path_factory.mktemp("benchmarks")))


_HASHES = {}


def _digest(path):
    if path not in _HASHES:
        with open(path, "rb") as fh:
            _HASHES[path] = hashlib.sha1(fh.read()).hexdigest()
    return _HASHES[path]


def _keys(pairs):
    """What identifies a pair's files: real paths and the bytes of its input and its target."""
    ins = {os.path.realpath(p.input) for p in pairs} | {_digest(p.input) for p in pairs}
    tgts = {os.path.realpath(p.target) for p in pairs} | {_digest(p.target) for p in pairs}
    return ins, tgts


def expected_val_sets(data_cfg):
    """data.val_sets as the trainer reads it, expanded here independently of resolve_val_sets."""
    single = data_cfg.get("single_task") or ""
    out = []
    for name in data_cfg.get("val_sets") or []:
        if name != "auto":
            out.append(name)
            continue
        for t in data_cfg.train_sets:
            if not single or set_task(data_cfg, t) == single:
                out.append(f"{split_set_name(t)[0]}/val")
    return list(dict.fromkeys(out))


def _dirs(names):
    return [os.path.normpath(str(d)) for d in names or []]


def _nested(a, b):
    return a == b or a.startswith(b + os.sep) or b.startswith(a + os.sep)


def check_names(cfg):
    data = cfg.data
    val, test, train = expected_val_sets(data), list(data.test_sets), list(data.train_sets)
    if data.get("format") == "corpus":  # validation = held-out photo folders, rendered once
        vd, td = _dirs(data.corpus.get("val_dirs")), _dirs(data.corpus.get("dirs"))
        assert vd, f"{cfg.config_path}: data.corpus.val_dirs is empty"
        bad = [(v, t) for v in vd for t in td if _nested(v, t)]
        assert not bad, f"{cfg.config_path}: corpus val_dirs share folders with the training dirs: {bad}"
    else:
        assert val, f"{cfg.config_path}: no validation sets (best.ckpt and the LR schedule need them)"
    assert not set(val) & set(test), f"{cfg.config_path}: val_sets {val} share {set(val) & set(test)} with test_sets"
    assert not set(val) & set(train), f"{cfg.config_path}: val_sets {val} share {set(val) & set(train)} with train_sets"
    assert resolve_val_sets(data) == val
    return val, test, train


def check_files(cfg):
    """Every validation pair is a file of neither a test set nor a training set of the config."""
    val, test, train = check_names(cfg)
    listed = {s: list_set(cfg.data, s).pairs for s in dict.fromkeys(val + test + train)}
    for v in val:
        assert listed[v], f"{cfg.config_path}: {v} is empty"
        v_in, v_tgt = _keys(listed[v])
        for t in test:  # neither the degraded inputs nor the clean scenes of a test set
            t_in, t_tgt = _keys(listed[t])
            assert not v_in & t_in and not v_tgt & t_tgt, f"{cfg.config_path}: {v} shares files with test set {t}"
        for t in train:  # no trained-on input (the demo's val re-renders training photos)
            t_in, _ = _keys(listed[t])
            assert not v_in & t_in, f"{cfg.config_path}: {v} shares pairs with training set {t}"
    return listed


def check_corpus_files(cfg, base):
    """Corpus configs: fixture photo folders for every configured dir; a training photo and a val
    photo copied into exclude_like (as test targets) are left out; val and train photos are disjoint."""
    from src.data.corpus import corpus_photos

    corpus = cfg.data.corpus
    clean, real = os.path.join(base, "clean"), os.path.join(base, "real")
    for d in _dirs(corpus.get("dirs")) + _dirs(corpus.get("val_dirs")):
        for i in range(3):
            _put(os.path.join(clean, d, f"p{i}.png"), _img(f"{d}/{i}", h=32, w=48))
    like = _dirs(corpus.get("exclude_like"))
    for d in like:  # every listed folder exists (fidelity.yaml lists three)
        os.makedirs(os.path.join(real, d), exist_ok=True)
    copies = {"train": _dirs(corpus.get("dirs"))[0], "val": _dirs(corpus.get("val_dirs"))[0]}
    for k, (split, d) in enumerate(copies.items()):
        if like:
            _put(os.path.join(real, like[k % len(like)], f"{split}_copy.png"), _img(f"{d}/0", h=32, w=48))
    cfg = load_config(cfg.config_path, [f"--data.roots.clean={clean}", f"--data.roots.real={real}"])
    train = corpus_photos(cfg.data, "train")
    val = corpus_photos(cfg.data, "val")
    assert val and train
    assert not {os.path.realpath(p) for p in val} & {os.path.realpath(p) for p in train}
    assert not {_digest(p) for p in val} & {_digest(p) for p in train}
    if like:
        for split, d in copies.items():
            assert os.path.join(clean, d, "p0.png") not in train + val, f"{split} photo equal to a test target kept"


def test_every_config_is_covered():
    names = {os.path.relpath(c, ROOT) for c in TRAINING_CONFIGS}
    assert {
        "configs/data_defaults.yaml",
        "configs/smartassign.yaml",
        "configs/demo.yaml",
        "configs/ablations/v4_rain_only.yaml",
        "configs/strategies/hard.yaml",
    } <= names
    assert len(names) >= 15


@pytest.mark.parametrize("path", TRAINING_CONFIGS, ids=lambda p: os.path.relpath(p, ROOT))
def test_val_sets_are_not_test_sets(path):
    check_names(load_config(path))


@pytest.mark.parametrize("path", TRAINING_CONFIGS, ids=lambda p: os.path.relpath(p, ROOT))
def test_val_pairs_are_disjoint_from_test_and_train_files(path, roots, tmp_path):
    cfg = load_config(path, roots)
    if cfg.data.get("format") == "corpus":
        check_names(cfg)
        check_corpus_files(cfg, str(tmp_path))
        return
    listed = check_files(cfg)
    for name, pairs in listed.items():
        if name.endswith("/val") and not name.startswith("demo"):
            assert len(pairs) == 200, (name, len(pairs))


@pytest.mark.parametrize(
    "bench", ["rain_streak", "rain1200", "spa", "snow100k", "srrs", "csd", "demo_rain", "demo_snow"]
)
def test_every_benchmark_holds_out_val_from_its_training_data(bench, roots):
    """Each benchmark's val split, at the configured counts and seeds: disjoint from its train and test
    splits, drawn from the training files (train + val = the training data), never trained on."""
    data = load_config(DEFAULTS, roots).data
    splits = list(data.benchmarks[bench].splits)
    assert "val" in splits
    listed = {s: list_set(data, f"{bench}/{s}").pairs for s in splits}
    val_in, val_tgt = _keys(listed["val"])
    for s, pairs in listed.items():
        if s == "val":
            continue
        ins, tgts = _keys(pairs)
        assert not val_in & ins, f"{bench}/val shares inputs with {bench}/{s}"
        if s != "train":
            assert not val_tgt & tgts, f"{bench}/val shares targets with {bench}/{s}"
    if not bench.startswith("demo"):
        assert len(listed["val"]) == 200
        no_val = load_config(DEFAULTS, roots + [f"--data.benchmarks.{bench}.holdout.val=0"]).data
        whole = {p.input for p in list_set(no_val, f"{bench}/train").pairs}
        # train + val = the training data of the split without a val part: val comes out of it
        assert {p.input for p in listed["train"]} | {p.input for p in listed["val"]} == whole


OLD_CONFIG = """_base_: {base}
data:
  train_sets: {train}
  test_sets: {test}
  val_sets: {test}
"""


@pytest.mark.parametrize(
    "train,test",
    [
        ("[rain1200/train, csd/train]", "[rain1200/test, csd/test]"),  # old defaults
        ("[demo_rain/train, demo_snow/train]", "[demo_rain/test, demo_snow/test]"),
    ],
)
def test_the_old_validation_on_test_sets_fails(tmp_path, roots, train, test):
    """The checks catch the old configs (val_sets = the test sets), by name and by file."""
    old = tmp_path / "old.yaml"
    old.write_text(OLD_CONFIG.format(base=DEFAULTS, train=train, test=test))
    cfg = load_config(str(old), roots)
    with pytest.raises(AssertionError, match="share"):
        check_names(cfg)
    with pytest.raises(DataConfigError, match="also in data.test_sets"):
        resolve_val_sets(cfg.data)
    # by file: a "val" split that reads the test files under another name is caught too
    bench = split_set_name(test.strip("[]").split(",")[0])[0]
    cfg.data.benchmarks[bench].splits["val"] = dict(cfg.data.benchmarks[bench].splits["test"])
    cfg.data["val_sets"] = [f"{bench}/val"]
    with pytest.raises(AssertionError, match="shares files with test set"):
        check_files(cfg)


def test_no_config_reports_on_a_val_split():
    """eval.py and report.py evaluate data.test_sets: no config lists a val split (or part) there."""
    for path in TRAINING_CONFIGS:
        data = load_config(path).data
        for name in data.test_sets:
            bench, split = split_set_name(name)
            spec = data.benchmarks[bench].splits[split]
            assert split != "val" and (spec.get("holdout") or {}).get("part", "test") == "test", (path, name)
