"""Training from clean photos (data.format: corpus): fresh seeded degradations, determinism, resume,
exclusion of test images, the synthesis ranges; the shared photo corpus when it is present."""

import os

import cv2
import mindspore as ms
import numpy as np
import pytest

from src.config import load_config
from src.data import corpus, synth
from src.data.pipeline import create_train_dataset
from src.data.labels import NO_WEATHER
from src.metrics import psnr_y, to_uint8
from src.train import checkpoint
from src.train.runner import run

from helpers import smooth_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTOS = os.path.join(ROOT, "configs", "photos.yaml")
SHARED = os.path.join(ROOT, "..", "shared", "data")


def _photo(seed, h=80, w=96):
    """A photo stand-in with texture (uint8 HWC)."""
    rng = np.random.default_rng(seed)
    img = smooth_image(rng, h, w).transpose(1, 2, 0)
    img = img + 0.15 * rng.random((h, w, 3))
    return np.clip(img * 200 + 20, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """clean/{train,val}/*.png and real/target/ holding one of the training photos, rotated."""
    root = tmp_path_factory.mktemp("corpus")
    for split, n, off in (("train", 6, 0), ("val", 2, 100)):
        os.makedirs(root / "clean" / split)
        for i in range(n):
            assert cv2.imwrite(str(root / "clean" / split / f"p{i}.png"), _photo(off + i)[:, :, ::-1])
    os.makedirs(root / "real" / "target")
    rotated = np.rot90(_photo(3)).copy()
    assert cv2.imwrite(str(root / "real" / "target" / "t.png"), rotated[:, :, ::-1])
    return root


def _overrides(root, out_dir="", **extra):
    base = {
        "data.roots.clean": str(root / "clean"),
        "data.roots.real": str(root / "real"),
        "data.corpus.dirs": "[train]",
        "data.corpus.val_dirs": "[val]",
        "data.corpus.exclude_like": "[target]",
        "data.corpus.crops_per_photo": 2,
        "data.crop_size": 32,
        "data.num_workers": 2,
        "train.batch_size": 4,
    }
    if out_dir:
        base.update(
            {
                "train.output_dir": out_dir,
                "train.log_every": 1000,
                "train.val_max_images": 1,
                "train.val_crop": 32,
                "train.save_every": 1,
                "train.keep_checkpoints": 20,
                "train.max_steps": 0,
                "train.epochs": 10,
            }
        )
    base.update(extra)
    return [f"--{k}={v}" for k, v in base.items()]


def _batches(cfg, seed):
    data = create_train_dataset(cfg.data, cfg.train.batch_size, seed=seed)
    return [{k: v.copy() for k, v in b.items()} for b in data.create_dict_iterator(num_epochs=1, output_numpy=True)]


def test_exclude_like_drops_test_images_in_any_orientation(tree):
    cfg = load_config(PHOTOS, _overrides(tree))
    train = corpus.corpus_photos(cfg.data, "train")
    assert [os.path.basename(p) for p in train] == ["p0.png", "p1.png", "p2.png", "p4.png", "p5.png"]
    assert len(corpus.corpus_photos(cfg.data, "val")) == 2


def test_batches_are_deterministic_balanced_fresh_and_resumable(tree):
    cfg = load_config(PHOTOS, _overrides(tree))
    a, b = _batches(cfg, 7), _batches(cfg, 7)
    assert len(a) == 5 * 2 // 2  # 5 photos x 2 crops per photo / 2 per task and batch
    for x, y in zip(a, b):
        for k in x:
            assert np.array_equal(x[k], y[k])
    for x in a:
        assert x["label"].tolist() == [0, 0, 1, 1]  # half rain, half snow
        assert x["image"].shape == (4, 3, 32, 32) and x["image"].dtype == np.float32
        assert not np.array_equal(x["image"], x["target"])
    # A mid-epoch resume skips batches: the rest is exactly what the uninterrupted epoch saw.
    data = create_train_dataset(cfg.data, 4, seed=7).skip(3)
    rest = list(data.create_dict_iterator(num_epochs=1, output_numpy=True))
    assert len(rest) == len(a) - 3
    assert all(np.array_equal(r["image"], x["image"]) for r, x in zip(rest, a[3:]))
    # Another epoch seed gives other crops and other degradations.
    c = _batches(cfg, 8)
    assert not np.array_equal(c[0]["image"], a[0]["image"])


def test_every_crop_gets_a_fresh_degradation(tree):
    """A photo seen twice in an epoch (crops_per_photo 2) is degraded differently each time."""
    photo = [str(tree / "clean" / "train" / "p0.png")]
    src = corpus.CorpusSource(photo, "rain", 4, 32, seed=1, flip=False)
    degradations = [src[k][0].astype(int) - src[k][1].astype(int) for k in range(4)]
    for i in range(4):
        for j in range(i + 1, 4):
            assert not np.array_equal(degradations[i], degradations[j])
    again = corpus.CorpusSource(photo, "rain", 4, 32, seed=1, flip=False)
    assert all(np.array_equal(src[k][0], again[k][0]) for k in range(4))


def test_clean_fraction_leaves_crops_clean_without_shifting_the_others(tree):
    """data.corpus.clean_fraction: that share of crops has input == target; every other crop is
    exactly the crop the run without clean crops renders (its own generator decides)."""
    photos = [str(tree / "clean" / "train" / f"p{i}.png") for i in range(3)]
    plain = corpus.CorpusSource(photos, "snow", 60, 32, seed=2)
    mixed = corpus.CorpusSource(photos, "snow", 60, 32, seed=2, clean_fraction=0.3)
    kept = [k for k in range(60) if np.array_equal(mixed[k][0], mixed[k][1])]
    assert 8 <= len(kept) <= 30  # about 18 of 60
    assert [int(mixed[k][2]) for k in range(60)] == [1 + NO_WEATHER * (k in kept) for k in range(60)]  # carried
    assert not any(np.array_equal(plain[k][0], plain[k][1]) for k in range(60))
    for k in range(60):
        assert np.array_equal(mixed[k][1], plain[k][1])  # same crop either way
        if k not in kept:
            assert np.array_equal(mixed[k][0], plain[k][0])
    for bad in (1.0, -0.1, "half"):
        with pytest.raises(Exception) as err:
            corpus.CorpusSource(photos, "rain", 4, 32, seed=2, clean_fraction=bad)
        assert "data.corpus.clean_fraction" in str(err.value) and "\n" not in str(err.value)


def _scene_option(tree, crop, seed, **option):
    """The rain source without and with ``scene_haze``, the clean crops and the crops it changed,
    after what it must do: the same crops stay clean; about half of the crops change, clean and
    rendered ones; a changed rendered crop is the same weather rendered over the changed photo;
    every other crop is exactly as without it."""
    photos = [str(tree / "clean" / "train" / f"p{i}.png") for i in range(3)]
    plain = corpus.CorpusSource(photos, "rain", 80, crop, seed=seed, clean_fraction=0.3)
    scene = corpus.CorpusSource(photos, "rain", 80, crop, seed=seed, clean_fraction=0.3, **option)
    clean = [k for k in range(80) if np.array_equal(plain[k][0], plain[k][1])]
    assert clean == [k for k in range(80) if np.array_equal(scene[k][0], scene[k][1])]
    changed = [k for k in range(80) if not np.array_equal(scene[k][1], plain[k][1])]
    assert 0.25 * 80 <= len(changed) <= 0.75 * 80 and set(changed) & set(clean) and set(changed) - set(clean)
    for k in set(changed) - set(clean):
        rng = np.random.default_rng(scene.key + (k,))
        corpus._crop(scene._photo(int(scene.order[k])), crop, rng, True)
        assert np.array_equal(scene[k][0], synth.degrade(scene[k][1], "rain", rng, 1.0))
    for k in set(range(80)) - set(changed):
        assert np.array_equal(scene[k][0], plain[k][0]) and np.array_equal(scene[k][1], plain[k][1])
    return plain, scene, clean, changed


def test_scene_haze_is_a_mild_veil_kept_in_the_target_of_every_kind_of_crop(tree):
    """data.corpus.scene_haze: that share of all crops (rendered and clean) shows a photo with a mild
    haze of its own, thinner than any rain veil, that the target keeps; which crops are clean stays,
    and the crops without it are unchanged."""
    assert corpus.SCENE_HAZE_BETA[1] <= synth.RAIN_RANGES["veil_beta"][0]
    photos = [str(tree / "clean" / "train" / f"p{i}.png") for i in range(3)]
    plain, hazy, kept, hazed = _scene_option(tree, 32, 2, scene_haze=0.5)
    for k in hazed:  # the target itself is hazier: dark pixels lifted, contrast lower, mildly
        target, photo = hazy[k][1].astype(float), plain[k][1].astype(float)
        assert np.percentile(target, 5) > np.percentile(photo, 5) and target.std() < photo.std()
        assert np.abs(target - photo).mean() < 40
    for bad in ({"scene_haze": 1.5}, {"scene_haze_beta": (0.5, 0.1)}, {"scene_haze_beta": "thin"}):
        with pytest.raises(Exception) as err:
            corpus.CorpusSource(photos, "rain", 4, 32, seed=2, **bad)
        assert f"data.corpus.{next(iter(bad))}=" in str(err.value) and "\n" not in str(err.value)
    thick = corpus.CorpusSource(
        photos, "rain", 80, 32, seed=2, clean_fraction=0.3, scene_haze=0.5, scene_haze_beta=(0.5, 0.6)
    )  # the same crops hazed, more thickly
    assert [k for k in range(80) if not np.array_equal(thick[k][1], plain[k][1])] == hazed
    assert np.mean([thick[k][1].std() for k in hazed]) < np.mean([hazy[k][1].std() for k in hazed])


def test_the_config_reaches_the_crop_options(tree):
    """data.corpus's crop options in a config reach the training source; unset ones keep the defaults."""
    photos = [str(tree / "clean" / "train" / f"p{i}.png") for i in range(3)]
    options = {
        "data.corpus.clean_fraction": 0.3,
        "data.corpus.scene_haze": 0.4,
        "data.corpus.scene_haze_beta": "[0.1, 0.2]",
    }
    src = corpus.corpus_source(load_config(PHOTOS, _overrides(tree, **options)).data, photos, "rain", 8, 32, 2, 0)
    assert (src.clean_fraction, src.scene_haze, src.scene_haze_beta) == (0.3, 0.4, (0.1, 0.2))
    plain = corpus.corpus_source(load_config(PHOTOS, _overrides(tree)).data, photos, "rain", 8, 32, 2, 0)
    assert (plain.clean_fraction, plain.scene_haze, plain.scene_haze_beta) == (0.0, 0.0, corpus.SCENE_HAZE_BETA)


def test_validation_renders_are_fixed_and_from_held_out_photos(tree):
    cfg = load_config(PHOTOS, _overrides(tree))
    a = corpus.corpus_val_samples(cfg.data, ("rain", "snow"), 32, 0)
    b = corpus.corpus_val_samples(cfg.data, ("rain", "snow"), 32, 0)
    assert [s[2] for s in a] == [0, 1, 0, 1]
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(a, b))
    val_photo = cv2.imread(str(tree / "clean" / "val" / "p0.png"))[:, :, ::-1]
    h, w = val_photo.shape[:2]
    assert np.array_equal(a[0][1], val_photo[(h - 32) // 2 : (h - 32) // 2 + 32, (w - 32) // 2 : (w - 32) // 2 + 32])


def test_lightest_rain_renders_each_validation_photo_once(tree):
    """report.py validate's lightest-rain row: each validation photo (the targets of the rain and
    snow renders) as the lightest rain, level 0 without a veil, from its own seed."""
    renders = corpus.corpus_val_samples(load_config(PHOTOS, _overrides(tree)).data, ("rain", "snow"), 32, 0)
    light = corpus.lightest_rain_samples(load_config(PHOTOS, _overrides(tree)).data, 32, 0)
    assert [name for _, _, name in light] == ["p0.png", "p1.png"]
    for i, (inp, tgt, _) in enumerate(light):
        assert np.array_equal(tgt, renders[2 * i][1])
        want = synth.add_rain(tgt, np.random.default_rng((1, corpus.LIGHTEST_KEY, i)), haze=False, level=0.0, scale=1.0)
        assert np.array_equal(inp, want) and 20 < psnr_y(inp, tgt) < 60  # light: streaks, no veil
        assert not any(np.array_equal(inp, r[0]) for r in renders)


def test_exclude_like_matches_a_tone_and_colour_shifted_copy(tmp_path):
    """A test target that is a training photo with another tone curve and white balance (Rain12's
    targets are such BSDS500 photos) is excluded; a different photo is not."""
    photo, other = _photo(11, 120, 160), _photo(12, 120, 160)
    shifted = 255.0 * (photo / 255.0) ** 0.8 * np.array([1.08, 0.97, 0.9])
    paths = {}
    for name, img in (("photo", photo), ("other", other), ("shifted", np.clip(shifted, 0, 255).astype(np.uint8))):
        paths[name] = str(tmp_path / f"{name}.png")
        assert cv2.imwrite(paths[name], np.ascontiguousarray(img[:, :, ::-1]))
    assert corpus.excluded([paths["photo"], paths["other"]], [paths["shifted"]]) == {paths["photo"]}


def test_missing_corpus_folder_is_a_one_line_error(tree):
    cfg = load_config(PHOTOS, _overrides(tree, **{"data.corpus.dirs": "[nowhere]"}))
    with pytest.raises(Exception) as err:
        corpus.corpus_photos(cfg.data, "train")
    assert "nowhere" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow
def test_resume_on_the_corpus_is_exact(tree, tmp_path):
    """5 steps in one run == 2 steps, stop, resume to 5 (crossing the epoch boundary at 5 steps per
    epoch is covered by test_resume_plateau; here the corpus renderings are what must repeat)."""
    whole, split = str(tmp_path / "whole"), str(tmp_path / "split")
    run(load_config(PHOTOS, _overrides(tree, whole, **{"train.max_steps": 5})))
    run(load_config(PHOTOS, _overrides(tree, split, **{"train.max_steps": 2})))
    run(load_config(PHOTOS, _overrides(tree, split, **{"train.max_steps": 5, "train.resume": "auto"})))
    a, _, _ = checkpoint.read(os.path.join(whole, "ckpt", "step_00000005.ckpt"))
    b, _, _ = checkpoint.read(os.path.join(split, "ckpt", "step_00000005.ckpt"))
    differ = [k for k in a if not np.array_equal(a[k].asnumpy(), b[k].asnumpy())]
    assert not differ, differ[:5]


# ---------------------------------------------------------------- synthesis ranges


def _levels_psnr(fn, levels, n=4):
    out = []
    for lv in levels:
        vals = []
        for i in range(n):
            img = _photo(200 + i, 160, 240)
            vals.append(psnr_y(fn(img, np.random.default_rng(i), level=lv), img))
        out.append(float(np.median(vals)))
    return out


@pytest.mark.parametrize("task,light", [("rain", 27.0), ("snow", 24.0)])
def test_level_spans_light_to_heavy(task, light):
    """The intensity level moves the input PSNR-Y monotonically from light (benchmarks of the
    Rain100L / Snow100K-S kind, 25-35 dB) to heavy (Rain100H / Snow100K-L kind, under 17 dB); on
    this dark stand-in image bright flakes cost more than on the photos behind docs/synthesis.md."""
    fn = synth.add_rain if task == "rain" else synth.add_snow
    psnr = _levels_psnr(fn, (0.0, 0.5, 1.0))
    assert psnr[0] > psnr[1] > psnr[2]
    assert psnr[0] > light and psnr[2] < 17, psnr


def test_rain_veil_is_drawn_apart_from_the_streak_level():
    """Rain + fog benchmarks (Outdoor-Rain kind, input PSNR-Y 12-19 dB) pair fine streaks with a
    dense grey veil: at the lightest streak level a veiled render must reach that range, and the
    veil can darken (atmospheric light below the photo) as well as brighten."""
    img = _photo(300, 160, 240)
    light = [psnr_y(synth.add_rain(img, np.random.default_rng(i), haze=True, level=0.0), img) for i in range(12)]
    assert min(light) < 19 and np.median(light) < 24, light
    img = np.clip(img.astype(np.int32) + 60, 0, 255).astype(np.uint8)  # a bright scene
    means = [synth.add_rain(img, np.random.default_rng(i), haze=True, level=0.0).mean() for i in range(12)]
    assert min(means) < img.mean() < max(means)
    lo, hi = synth.RAIN_RANGES["veil_light"]
    assert lo < 0.5 < 0.95 < hi


def test_veil_depth_spans_the_photo_not_the_crop():
    """Synthesis version 4: the far-to-near ramp spans a 512·scale px photo, so a 128 px training
    crop sees a window of it (an almost even veil, as the same region of a photo shows) at a random
    height, while a whole photo still goes from far (top) to near (bottom)."""
    whole = [synth._depth(512, 512, np.random.default_rng(i), 1.0) for i in range(8)]
    assert all(d[:64].mean() > d[-64:].mean() + 0.3 for d in whole)
    crops = [synth._depth(128, 128, np.random.default_rng(i), 1.0) for i in range(40)]
    ramps = [d[:16].mean() - d[-16:].mean() for d in crops]
    assert max(ramps) < 0.3 and np.mean(ramps) > 0  # still far at the top, but a window of the ramp
    means = [d.mean() for d in crops]
    assert max(means) - min(means) > 0.25  # windows from near the top to near the bottom
    assert np.allclose(synth._depth(256, 256, np.random.default_rng(0), 0.5).shape, (256, 256))
    lo, hi = synth.RAIN_RANGES["veil_prob"]
    assert lo <= 0.05 < hi  # light rain (Rain100L kind) is seldom veiled


def test_rain_splashes_sit_low_and_are_flat():
    """Ground splashes (synthesis version 3): bright, wider than tall, denser towards the bottom,
    and never in a frame above the random ground row (top rows stay free on average)."""
    h, w = 240, 320
    tops, bottoms, flat = [], [], []
    for i in range(20):
        layer = synth._splash_layer(np.random.default_rng(i), h, w, 1.0, 1.0)
        assert 0.0 <= layer.min() and layer.max() <= 1.0
        tops.append(layer[: h // 4].mean())
        bottoms.append(layer[-h // 4 :].mean())
        ys, xs = np.nonzero(layer > 0.2)
        if len(ys):
            flat.append(np.abs(np.diff(layer, axis=1)).sum() < np.abs(np.diff(layer, axis=0)).sum())
    assert np.mean(bottoms) > 3 * np.mean(tops) > 0
    assert np.mean(flat) > 0.9  # edges are mostly horizontal: a flat ellipse changes faster vertically
    lo, hi = synth.RAIN_RANGES["splash_density"]
    light = synth._splash_layer(np.random.default_rng(0), h, w, 0.0, 1.0)
    assert 0 < lo < hi and light.mean() < synth._splash_layer(np.random.default_rng(0), h, w, 1.0, 1.0).mean()


def test_rain_mist_is_a_dim_directional_haze():
    """Far rain (synthesis version 3): it brightens the frame smoothly (no streak reaches the
    brightness of a near streak) and carries the rain's direction (smoother along it)."""
    img = _photo(3, 160, 200)
    plain = synth.add_rain(img, np.random.default_rng(7), haze=False, level=0.0, mist=False, splash=False)
    misty = synth.add_rain(img, np.random.default_rng(7), haze=False, level=0.0, mist=True, splash=False)
    lift = misty.astype(np.float32).mean(axis=2) - plain.astype(np.float32).mean(axis=2)
    assert lift.min() >= -1 and 3 < lift.mean() < 60, lift.mean()
    far = synth._streak_layer(np.random.default_rng(0), (200, 200), 0.03, 1, 50.0, 0.0, 0.1, 2.0)
    assert np.abs(np.diff(far, axis=0)).mean() < 0.5 * np.abs(np.diff(far, axis=1)).mean()  # vertical rain
    for key in ("mist_prob", "splash_prob"):
        lo, hi = synth.RAIN_RANGES[key]
        assert 0 <= lo < hi <= 0.6, key  # heavy rain shows them more often, light rain seldom


def test_short_far_rain_is_a_visible_directional_grain(monkeypatch):
    """Synthesis version 5: far rain shorter than 25 px is the grain of a downpour's fine drops,
    brighter and sharper than the long far-rain haze: more fine detail, still along the rain."""
    img = _photo(3, 160, 200)
    R = dict(synth.RAIN_RANGES)

    def detail(length):
        monkeypatch.setitem(synth.RAIN_RANGES, "mist_length", (length, length + 1.0))
        plain = synth.add_rain(img, np.random.default_rng(7), haze=False, level=0.0, mist=False, splash=False)
        misty = synth.add_rain(img, np.random.default_rng(7), haze=False, level=0.0, mist=True, splash=False)
        lift = misty.astype(np.float32).mean(axis=2) - plain.astype(np.float32).mean(axis=2)
        return np.abs(np.diff(lift, axis=1)).mean(), np.abs(np.diff(lift, axis=0)).mean()

    grain_x, grain_y = detail(10.0)
    haze_x, _ = detail(50.0)
    assert grain_x > 2 * haze_x and grain_y < grain_x  # finer texture, smoother along the (near-vertical) rain
    assert R["mist_length"][0] < synth.GRAIN_LENGTH < R["mist_length"][1]
    assert R["mist_grain"][0] > R["mist_brightness"][0] and R["mist_grain_blur"][1] <= R["mist_blur"][0]


def test_rain_ranges_are_ordered_light_to_heavy():
    for key in ("density", "length", "width", "brightness", "veil_prob"):
        lo, hi = synth.RAIN_RANGES[key]
        assert 0 < lo < hi, key
    for key in ("small_area", "mid_area", "large_area"):
        lo, hi = synth.SNOW_RANGES[key]
        assert lo > hi > 0, key  # fewer px² per flake = more flakes when heavy


# ---------------------------------------------------------------- the shared photo corpus


@pytest.mark.skipif(
    not os.path.isdir(os.path.join(SHARED, "clean", "bsds500")),
    reason="the shared photo corpus (../shared/data/clean) is not on this machine",
)
def test_shared_corpus_leaves_out_every_real_test_target():
    cfg = load_config(
        PHOTOS,
        [f"--data.roots.clean={os.path.join(SHARED, 'clean')}", f"--data.roots.real={os.path.join(SHARED, 'real')}"],
    )
    train = corpus.corpus_photos(cfg.data, "train")
    val = corpus.corpus_photos(cfg.data, "val")
    targets = corpus.list_photos(os.path.join(SHARED, "real"), ["heavy_rain_pairs/target"], "t")
    everything = corpus.list_photos(
        os.path.join(SHARED, "clean"), ["bsds500/train", "bsds500/test", "bsds500/val"], "all"
    )
    matched = corpus.excluded(everything, targets)
    assert len(matched) == len(targets)  # each real heavy-rain target is a BSDS photo
    assert not matched & (set(train) | set(val))
    assert not set(train) & set(val)


def test_paired_difference_reference():
    """report.py validate's paired column: d = (1, 0, 2) has mean 1, standard error 1/sqrt(3), 2 wins."""
    from src.report.validation import paired

    got = paired([1.0, 2.0, 3.0], [0.0, 2.0, 1.0])
    assert got["mean"] == pytest.approx(1.0) and got["se"] == pytest.approx(1 / np.sqrt(3))
    assert (got["better"], got["n"]) == (2, 3)


@pytest.mark.slow
def test_report_validate_measures_what_training_validation_does(tree, tmp_path, capsys):
    """report.py validate on the corpus validation renders gives training's validation numbers
    (PSNR-Y, recognition) and the lightest-rain row (mean and worst gain of the rain head over each
    photo's lightest-rain render, restored whole); a checkpoint compared with itself
    differs by exactly 0; the command writes its table and JSON (with ``--flip_ensemble`` a second
    row per checkpoint), and a missing checkpoint is one line."""
    import json

    from mindspore.train import Model

    import report
    from src.infer.backends import make_backend
    from src.infer.engine import Restorer
    from src.models import build_network
    from src.report.validation import compare_checkpoints
    from src.train.validate import ValidationNet, create_val_dataset, validation_metrics

    cfg = load_config(PHOTOS, _overrides(tree))
    net = build_network({"preset": "tiny"}, seed=0)
    ckpt = checkpoint.save(net, str(tmp_path / "a.ckpt"), {"preset": "tiny"})
    net.set_train(False)
    metrics = validation_metrics(net)
    model = Model(ValidationNet(net), eval_network=ValidationNet(net), metrics=metrics, eval_indexes=[0, 1, 2])
    want = model.eval(create_val_dataset(cfg.data, [], 32, 0), dataset_sink_mode=False)
    gains = []
    for inp, tgt, _ in corpus.lightest_rain_samples(cfg.data, 32, 0):
        rain = net(ms.Tensor(inp.transpose(2, 0, 1)[None].astype(np.float32) / 255.0))[0]
        gains.append(psnr_y(to_uint8(rain.asnumpy()[0], "CHW"), tgt) - psnr_y(inp, tgt))
    restorer = Restorer(make_backend("mindspore", ckpt_file=ckpt), tile=0)
    first, second = compare_checkpoints([("a", restorer), ("b", restorer)], cfg.data, [], 32, 0)
    assert first["psnr_y"] == pytest.approx(want["psnr"], abs=1e-3) and first["n"] == 4
    assert first["recognition"] == pytest.approx(want["recognition"], abs=1e-4)
    assert first["light"]["gain"] == pytest.approx(np.mean(gains), abs=1e-3)
    assert first["light"]["worst"] == pytest.approx(min(gains), abs=1e-3)
    assert first["light"]["worst_photo"] == f"p{int(np.argmin(gains))}.png"
    assert (first["light"]["n"], first["light"]["worse"]) == (2, sum(g < 0 for g in gains))
    assert "paired" not in first and second["paired"] == {"mean": 0.0, "se": 0.0, "better": 0, "n": 4}

    out = tmp_path / "v.md"
    argv = ["validate", "--ckpt_file", ckpt, "--ckpt_file", ckpt, "--config", PHOTOS, "--out", str(out)]
    overrides = _overrides(tree, **{"train.val_crop": 32, "train.val_max_images": 0})
    assert report.main(argv + ["--flip_ensemble"] + overrides) == 0
    assert "| reference |" in out.read_text() and "+0.000 ± 0.000, 0 of 4" in out.read_text()
    rows = json.loads((tmp_path / "v.json").read_text())["checkpoints"]
    assert [r["checkpoint"] for r in rows] == [ckpt, f"{ckpt} (flip ensemble)"] * 2
    assert rows[0]["psnr_y"] == pytest.approx(first["psnr_y"]) and rows[0]["light"]["worse"] >= 0
    assert rows[1]["paired"]["mean"] != 0 and rows[3]["paired"] == rows[1]["paired"]  # the mirror changes it
    capsys.readouterr()
    assert report.main(["validate", "--ckpt_file", str(tmp_path / "none.ckpt"), "--config", PHOTOS]) == 2
    err = capsys.readouterr().err.strip()
    assert "none.ckpt" in err and "\n" not in err
