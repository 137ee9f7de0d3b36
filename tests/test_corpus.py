"""Training from clean photos (data.format: corpus): fresh seeded degradations, determinism, resume,
exclusion of test images, the synthesis ranges; the shared photo corpus when it is present."""

import csv
import os

import cv2
import mindspore as ms
import numpy as np
import pytest

from src.config import load_config
from src.data import corpus, synth
from src.data.pipeline import create_train_dataset
from src.data.readers import LABELS, LIGHT
from src.metrics import psnr_y, to_uint8
from src.train import checkpoint
from src.train.runner import run

from helpers import smooth_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STARTER = os.path.join(ROOT, "configs", "starter.yaml")
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
    cfg = load_config(STARTER, _overrides(tree))
    train = corpus.corpus_photos(cfg.data, "train")
    assert [os.path.basename(p) for p in train] == ["p0.png", "p1.png", "p2.png", "p4.png", "p5.png"]
    assert len(corpus.corpus_photos(cfg.data, "val")) == 2


def test_batches_are_deterministic_balanced_fresh_and_resumable(tree):
    cfg = load_config(STARTER, _overrides(tree))
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
    assert not any(np.array_equal(plain[k][0], plain[k][1]) for k in range(60))
    for k in range(60):
        assert np.array_equal(mixed[k][1], plain[k][1])  # same crop either way
        if k not in kept:
            assert np.array_equal(mixed[k][0], plain[k][0])
    for bad in (1.0, -0.1, "half"):
        with pytest.raises(Exception) as err:
            corpus.CorpusSource(photos, "rain", 4, 32, seed=2, clean_fraction=bad)
        assert "data.corpus.clean_fraction" in str(err.value) and "\n" not in str(err.value)


def test_clean_pick_keeps_the_brightest_candidate_and_leaves_the_other_crops(tree):
    """data.corpus.clean_pick: a clean crop is the brightest of that many candidates of its photo,
    at least as bright as the crop it replaces; the rendered crops do not change."""
    photos = [str(tree / "clean" / "train" / f"p{i}.png") for i in range(3)]
    one = corpus.CorpusSource(photos, "rain", 60, 32, seed=2, clean_fraction=0.3)
    four = corpus.CorpusSource(photos, "rain", 60, 32, seed=2, clean_fraction=0.3, clean_pick=4)
    kept = [k for k in range(60) if np.array_equal(four[k][0], four[k][1])]
    assert kept == [k for k in range(60) if np.array_equal(one[k][0], one[k][1])]
    brighter = [four[k][1].mean() - one[k][1].mean() for k in kept]
    assert min(brighter) >= 0 and np.mean(brighter) > 1.0, brighter
    for k in set(range(60)) - set(kept):
        assert np.array_equal(four[k][0], one[k][0]) and np.array_equal(four[k][1], one[k][1])
    for bad in (0, 2.5, "many"):
        with pytest.raises(Exception) as err:
            corpus.CorpusSource(photos, "rain", 4, 32, seed=2, clean_pick=bad)
        assert "data.corpus.clean_pick" in str(err.value) and "\n" not in str(err.value)
    flat = corpus.CorpusSource(photos, "rain", 60, 32, seed=2, clean_fraction=0.3, clean_pick=4, clean_pick_by="flat")
    assert [k for k in range(60) if np.array_equal(flat[k][0], flat[k][1])] == kept

    def contrast(k, src):
        return np.std(src[k][1].mean(axis=2))

    softer = [contrast(k, flat) - contrast(k, one) for k in kept]
    assert max(softer) <= 1e-9 and np.mean(softer) < -1.0, softer
    busy = corpus.CorpusSource(photos, "rain", 60, 32, seed=2, clean_fraction=0.3, clean_pick=4, clean_pick_by="busy")
    finer = [corpus._detail(busy[k][1]) - corpus._detail(one[k][1]) for k in kept]
    assert min(finer) >= 0 and np.mean(finer) > 0.1, finer
    with pytest.raises(Exception, match="clean_pick_by='dark'"):
        corpus.CorpusSource(photos, "rain", 4, 32, seed=2, clean_pick_by="dark")


def test_clean_veil_hazes_input_and_target_alike_and_leaves_the_other_crops(tree):
    """data.corpus.clean_veil: that share of the clean crops is a hazy photo (input = target, the
    veil lifting the dark pixels towards the atmospheric light); which crops are clean and every
    rendered crop stay as they were."""
    photos = [str(tree / "clean" / "train" / f"p{i}.png") for i in range(3)]
    plain = corpus.CorpusSource(photos, "rain", 60, 32, seed=2, clean_fraction=0.4)
    hazy = corpus.CorpusSource(photos, "rain", 60, 32, seed=2, clean_fraction=0.4, clean_veil=0.5)
    kept = [k for k in range(60) if np.array_equal(hazy[k][0], hazy[k][1])]
    assert kept == [k for k in range(60) if np.array_equal(plain[k][0], plain[k][1])]
    veiled = [k for k in kept if not np.array_equal(hazy[k][1], plain[k][1])]
    assert 0.2 * len(kept) <= len(veiled) <= 0.8 * len(kept), (len(veiled), len(kept))
    for k in veiled:  # the darkest pixels are lifted, the crop's contrast falls
        assert np.percentile(hazy[k][1], 5) > np.percentile(plain[k][1], 5)
        assert hazy[k][1].astype(float).std() < plain[k][1].astype(float).std()
    for k in set(range(60)) - set(kept):
        assert np.array_equal(hazy[k][0], plain[k][0]) and np.array_equal(hazy[k][1], plain[k][1])
    for bad in (1.0, -0.1, "some"):
        with pytest.raises(Exception) as err:
            corpus.CorpusSource(photos, "rain", 4, 32, seed=2, clean_veil=bad)
        assert "data.corpus.clean_veil" in str(err.value) and "\n" not in str(err.value)


def _scene_option(tree, crop, seed, **option):
    """The rain source without and with a scene option (``scene_haze``, ``scene_lines``), the clean
    crops and the crops the option changed, after what every scene option must do: the same crops
    stay clean; about half of the crops change, clean and rendered ones; a changed rendered crop is
    the same weather rendered over the changed photo; every other crop is exactly as without it."""
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


def test_a_clean_veiled_crop_gets_no_scene_haze_on_top(tree):
    """clean_veil and scene_haze together: a clean crop has one veil at most (clean_veil's), while
    the crops clean_veil leaves alone are hazed exactly as without it."""
    photos = [str(tree / "clean" / "train" / f"p{i}.png") for i in range(3)]
    opts = dict(seed=3, clean_fraction=0.5, clean_veil=0.5)
    veiled = corpus.CorpusSource(photos, "rain", 80, 32, **opts)
    both = corpus.CorpusSource(photos, "rain", 80, 32, scene_haze=0.9, **opts)
    hazy = corpus.CorpusSource(photos, "rain", 80, 32, seed=3, clean_fraction=0.5, scene_haze=0.9)
    plain = corpus.CorpusSource(photos, "rain", 80, 32, seed=3, clean_fraction=0.5)
    clean = [k for k in range(80) if np.array_equal(plain[k][0], plain[k][1])]
    by_veil = [k for k in clean if not np.array_equal(veiled[k][1], plain[k][1])]
    assert len(by_veil) >= 10 and len(clean) - len(by_veil) >= 10
    for k in by_veil:  # clean_veil's veil alone
        assert np.array_equal(both[k][1], veiled[k][1]) and not np.array_equal(both[k][1], hazy[k][1])
    for k in set(range(80)) - set(by_veil):  # everything else: as scene haze alone makes it
        assert np.array_equal(both[k][0], hazy[k][0]) and np.array_equal(both[k][1], hazy[k][1])
    assert sum(not np.array_equal(hazy[k][1], plain[k][1]) for k in clean) > len(by_veil)


def test_light_rain_renders_thin_unveiled_streaks_on_picked_crops_and_leaves_the_others(tree):
    """data.corpus.light_rain: that share of the rain stream's rendered crops is light rain without
    a veil (only brighter pixels, few of them changed: the scene's tones are the target's) on the
    brightest of clean_pick candidates; the clean crops and every other crop are unchanged, and
    the snow stream ignores it."""
    photos = [str(tree / "clean" / "train" / f"p{i}.png") for i in range(3)]
    opts = dict(seed=4, clean_fraction=0.2, clean_pick=4)
    plain = corpus.CorpusSource(photos, "rain", 80, 48, **opts)
    light = corpus.CorpusSource(photos, "rain", 80, 48, light_rain=0.5, **opts)
    clean = [k for k in range(80) if np.array_equal(plain[k][0], plain[k][1])]
    assert 5 <= len(clean) <= 30
    changed = [k for k in range(80) if any(not np.array_equal(a, b) for a, b in zip(light[k], plain[k]))]
    assert 0.25 * (80 - len(clean)) <= len(changed) <= 0.75 * (80 - len(clean)) and not set(changed) & set(clean)
    for k in set(range(80)) - set(changed):
        assert np.array_equal(light[k][0], plain[k][0]) and np.array_equal(light[k][1], plain[k][1])
    gain = [light[k][1].mean() - plain[k][1].mean() for k in changed]  # the brightest of 4 candidates
    assert min(gain) >= 0 and np.mean(gain) > 1.0, gain
    assert sum(not np.array_equal(light[k][0], light[k][1]) for k in changed) >= 0.8 * len(changed)
    for k in changed:  # screen-blended streaks: nothing darker, the scene's tones kept (no veil)
        bad, target = light[k][0].astype(int), light[k][1].astype(int)
        assert (bad >= target - 1).all() and np.median(bad - target) <= 1 and psnr_y(light[k][0], light[k][1]) > 20
    busy = corpus.CorpusSource(photos, "rain", 80, 48, light_rain=0.5, light_pick_by="busy", **opts)
    assert all(np.array_equal(busy[k][0], plain[k][0]) for k in set(range(80)) - set(changed))
    assert all(np.array_equal(busy[k][1], light[k][1]) for k in clean)  # clean crops still by clean_pick_by
    detail = [corpus._detail(busy[k][1]) - corpus._detail(plain[k][1]) for k in changed]
    assert min(detail) >= 0 and np.mean(detail) > 0.1, detail
    snow = corpus.CorpusSource(photos, "snow", 40, 48, light_rain=0.5, **opts)
    snow_plain = corpus.CorpusSource(photos, "snow", 40, 48, **opts)
    assert all(np.array_equal(snow[k][0], snow_plain[k][0]) for k in range(40))
    for bad in ({"light_rain": 1.0}, {"light_pick_by": "dark"}):
        with pytest.raises(Exception) as err:
            corpus.CorpusSource(photos, "rain", 4, 32, seed=2, **bad)
        assert f"data.corpus.{next(iter(bad))}=" in str(err.value) and "\n" not in str(err.value)


def test_scene_lines_are_thin_opaque_lines_kept_in_the_target_of_every_kind_of_crop(tree):
    """data.corpus.scene_lines: that share of all crops (rendered and clean) shows its photo with a
    few thin straight lines of its own, which the target keeps; the weather is rendered over them
    as it would be without them, which crops are clean stays, and the other crops are unchanged."""
    photos = [str(tree / "clean" / "train" / f"p{i}.png") for i in range(3)]
    plain, lined, _, drawn = _scene_option(tree, 48, 5, scene_lines=0.5)
    for k in drawn:  # thin lines: a minority of the pixels changed, the rest exactly the photo
        changed = np.any(lined[k][1] != plain[k][1], axis=2)
        assert 0.005 < changed.mean() < 0.5, changed.mean()
    flat = np.full((128, 128, 3), 128, np.uint8)
    upright, cover = [], []
    for seed in range(60):  # straight lines, often along the streaks' directions (near vertical)
        mask = np.any(corpus.add_lines(flat, np.random.default_rng(seed)) != 128, axis=2).astype(float)
        if mask.any():  # a line may fall outside the crop
            across, down = np.abs(np.diff(mask, axis=1)).sum(), np.abs(np.diff(mask, axis=0)).sum()
            upright.append(across > 1.5 * down)
            cover.append(mask.mean())
    assert len(cover) > 40 and 0.3 < np.mean(upright) < 0.9 and 0.02 < np.median(cover) < 0.2 and max(cover) < 0.4
    with pytest.raises(Exception) as err:
        corpus.CorpusSource(photos, "rain", 4, 32, seed=2, scene_lines=1.5)
    assert "data.corpus.scene_lines=" in str(err.value) and "\n" not in str(err.value)


def test_the_config_reaches_the_crop_options(tree):
    """data.corpus's crop options in a config reach the training source; unset ones keep the defaults."""
    photos = [str(tree / "clean" / "train" / f"p{i}.png") for i in range(3)]
    options = {
        "data.corpus.clean_fraction": 0.3,
        "data.corpus.clean_pick": 3,
        "data.corpus.clean_pick_by": "flat",
        "data.corpus.clean_veil": 0.2,
        "data.corpus.scene_haze": 0.4,
        "data.corpus.scene_haze_beta": "[0.1, 0.2]",
        "data.corpus.light_rain": 0.25,
        "data.corpus.light_pick_by": "busy",
        "data.corpus.scene_lines": 0.2,
    }
    src = corpus.corpus_source(load_config(STARTER, _overrides(tree, **options)).data, photos, "rain", 8, 32, 2, 0)
    assert (src.clean_fraction, src.clean_pick, src.clean_veil, src.scene_haze) == (0.3, 3, 0.2, 0.4)
    assert src.clean_pick_by is corpus.CLEAN_PICK_BY["flat"] and src.scene_haze_beta == (0.1, 0.2)
    assert src.light_rain == 0.25 and src.light_pick_by is corpus.CLEAN_PICK_BY["busy"] and src.scene_lines == 0.2
    plain = corpus.corpus_source(load_config(STARTER, _overrides(tree)).data, photos, "rain", 8, 32, 2, 0)
    assert (plain.clean_pick_by, plain.scene_haze_beta) == (corpus.CLEAN_PICK_BY["bright"], corpus.SCENE_HAZE_BETA)
    assert plain.light_pick_by is plain.clean_pick_by


def test_validation_renders_are_fixed_and_from_held_out_photos(tree):
    cfg = load_config(STARTER, _overrides(tree))
    a = corpus.corpus_val_samples(cfg.data, ("rain", "snow"), 32, 0)
    b = corpus.corpus_val_samples(cfg.data, ("rain", "snow"), 32, 0)
    assert [s[2] for s in a] == [0, 1, 0, 1]
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(a, b))
    val_photo = cv2.imread(str(tree / "clean" / "val" / "p0.png"))[:, :, ::-1]
    h, w = val_photo.shape[:2]
    assert np.array_equal(a[0][1], val_photo[(h - 32) // 2 : (h - 32) // 2 + 32, (w - 32) // 2 : (w - 32) // 2 + 32])


def test_val_light_adds_each_photos_lightest_rain_render(tree):
    """data.corpus.val_light: after each validation photo's rain and snow renders, the photo as the
    lightest rain (level 0, no veil, its own seed) labelled LIGHT; the other renders are unchanged,
    and without rain among the tasks there is no such row."""
    plain = corpus.corpus_val_samples(load_config(STARTER, _overrides(tree)).data, ("rain", "snow"), 32, 0)
    cfg = load_config(STARTER, _overrides(tree, **{"data.corpus.val_light": True}))
    light = corpus.corpus_val_samples(cfg.data, ("rain", "snow"), 32, 0)
    assert [s[2] for s in light] == [0, 1, LIGHT, 0, 1, LIGHT] and LIGHT not in LABELS.values()
    kept = [s for s in light if s[2] != LIGHT]
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(kept, plain))
    for i, (inp, tgt, _, name) in enumerate(s for s in light if s[2] == LIGHT):
        assert name == f"p{i}.png"
        assert np.array_equal(tgt, plain[2 * i][1])
        want = synth.add_rain(tgt, np.random.default_rng((1, LIGHT, i)), haze=False, level=0.0, scale=1.0)
        assert np.array_equal(inp, want) and 20 < psnr_y(inp, tgt) < 60  # light: streaks, no veil
    assert [s[2] for s in corpus.corpus_val_samples(cfg.data, ("snow",), 32, 0)] == [1, 1]


def test_missing_corpus_folder_is_a_one_line_error(tree):
    cfg = load_config(STARTER, _overrides(tree, **{"data.corpus.dirs": "[nowhere]"}))
    with pytest.raises(Exception) as err:
        corpus.corpus_photos(cfg.data, "train")
    assert "nowhere" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow
def test_resume_on_the_corpus_is_exact(tree, tmp_path):
    """5 steps in one run == 2 steps, stop, resume to 5 (crossing the epoch boundary at 5 steps per
    epoch is covered by test_resume_plateau; here the corpus renderings are what must repeat)."""
    whole, split = str(tmp_path / "whole"), str(tmp_path / "split")
    light = {"data.corpus.val_light": True}  # validation only: the weights must not depend on it
    run(load_config(STARTER, _overrides(tree, whole, **{"train.max_steps": 5}, **light)))
    run(load_config(STARTER, _overrides(tree, split, **{"train.max_steps": 2})))
    run(load_config(STARTER, _overrides(tree, split, **{"train.max_steps": 5, "train.resume": "auto"})))
    a, _, _ = checkpoint.read(os.path.join(whole, "ckpt", "step_00000005.ckpt"))
    b, _, _ = checkpoint.read(os.path.join(split, "ckpt", "step_00000005.ckpt"))
    differ = [k for k in a if not np.array_equal(a[k].asnumpy(), b[k].asnumpy())]
    assert not differ, differ[:5]
    # The lightest-rain row of the last validation (step 5): the rain head's gain over the input.
    with open(os.path.join(whole, "val.csv"), newline="", encoding="utf-8") as fh:
        last = list(csv.DictReader(fh))[-1]
    assert last["step"] == "5" and float(last["light_gain"]) == pytest.approx(float(last["light_worst"]))
    cfg = load_config(STARTER, _overrides(tree, whole, **light))
    inp, tgt, _, _ = corpus.corpus_val_samples(cfg.data, ("rain", "snow"), 32, 1)[2]
    net, _, _ = checkpoint.load_model(os.path.join(whole, "ckpt", "step_00000005.ckpt"))
    out = net(ms.Tensor(inp.transpose(2, 0, 1)[None].astype(np.float32) / 255.0))
    gains = [psnr_y(to_uint8(o.asnumpy()[0], "CHW"), tgt) - psnr_y(inp, tgt) for o in out[:2]]
    assert abs(gains[0] - float(last["light_gain"])) < 0.05 < abs(gains[1] - float(last["light_gain"]))


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
        STARTER,
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


def test_report_validate_measures_what_training_validation_does(tree, tmp_path, capsys):
    """report.py validate on the corpus validation renders gives training's validation numbers
    (PSNR-Y, recognition, the lightest-rain row's mean and worst); a checkpoint compared with itself
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

    cfg = load_config(STARTER, _overrides(tree, **{"data.corpus.val_light": True}))
    net = build_network({"preset": "tiny"}, seed=0)
    ckpt = checkpoint.save(net, str(tmp_path / "a.ckpt"), {"preset": "tiny"})
    net.set_train(False)
    metrics = validation_metrics(net, light=True)
    model = Model(ValidationNet(net), eval_network=ValidationNet(net), metrics=metrics, eval_indexes=[0, 1, 2])
    want = model.eval(create_val_dataset(cfg.data, [], 32, 0), dataset_sink_mode=False)
    restorer = Restorer(make_backend("mindspore", ckpt_file=ckpt), tile=0)
    first, second = compare_checkpoints([("a", restorer), ("b", restorer)], cfg.data, [], 32, 0)
    assert first["psnr_y"] == pytest.approx(want["psnr"], abs=1e-3) and first["n"] == 4
    assert first["recognition"] == pytest.approx(want["recognition"], abs=1e-4)
    assert first["light"]["gain"] == pytest.approx(want["light_gain"], abs=1e-3)
    assert first["light"]["worst"] == pytest.approx(want["light_worst"], abs=1e-3)
    assert first["light"]["n"] == 2 and first["light"]["worst_photo"] in ("p0.png", "p1.png")
    assert "paired" not in first and second["paired"] == {"mean": 0.0, "se": 0.0, "better": 0, "n": 4}

    out = tmp_path / "v.md"
    argv = ["validate", "--ckpt_file", ckpt, "--ckpt_file", ckpt, "--config", STARTER, "--out", str(out)]
    overrides = _overrides(tree, **{"train.val_crop": 32, "train.val_max_images": 0})
    assert report.main(argv + ["--flip_ensemble"] + overrides) == 0
    assert "| reference |" in out.read_text() and "+0.000 ± 0.000, 0 of 4" in out.read_text()
    rows = json.loads((tmp_path / "v.json").read_text())["checkpoints"]
    assert [r["checkpoint"] for r in rows] == [ckpt, f"{ckpt} (flip ensemble)"] * 2
    assert rows[0]["psnr_y"] == pytest.approx(first["psnr_y"]) and rows[0]["light"]["worse"] >= 0
    assert rows[1]["paired"]["mean"] != 0 and rows[3]["paired"] == rows[1]["paired"]  # the mirror changes it
    capsys.readouterr()
    assert report.main(["validate", "--ckpt_file", str(tmp_path / "none.ckpt"), "--config", STARTER]) == 2
    err = capsys.readouterr().err.strip()
    assert "none.ckpt" in err and "\n" not in err
