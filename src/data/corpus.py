"""Training and validation from a folder of clean photos (``data.format: corpus``).

Every training crop gets a fresh degradation: item ``k`` of a task's stream (one epoch) is photo
``order[k]`` cropped, flipped and rendered with a generator seeded by (seed, rank, task, k), where
the epoch's ``seed`` comes from the training run (base seed + epoch). So no rendering repeats
within or across epochs, and a given (seed, k) always gives the same sample: a resumed run that
skips the first ``n`` batches sees exactly what the uninterrupted run saw.

``data.corpus`` keys (paths relative to ``data.roots.clean``):

- ``dirs``: folders of clean photos for training; ``val_dirs``: folders for validation, rendered
  once per task with ``val_seed`` (centre crop ``train.val_crop``).
- ``exclude_like``: folders of images (e.g. the targets of test pairs, relative to
  ``data.roots.real`` when that root is set, else to ``roots.clean``) whose photos are removed from
  the training and validation photos when their content matches (standardised 48×32 luma
  thumbnails within ``EXCLUDE_TOLERANCE``, in any orientation, also after a change of tone or
  colour), so that a test image is never trained or selected on.
- ``crops_per_photo``: renderings per photo and task in an epoch (src/data/pipeline.py).
- ``scale``: length scale of the synthetic streaks and flakes (1 = pixels of a ~500 px photo).
- ``clean_fraction``: share of training crops left clean (input = target, default 0): they teach
  the heads to leave a photo without weather unchanged. Whether crop ``k`` stays clean is drawn
  from its own generator, so the other crops and their degradations do not depend on it. A clean
  crop carries its stream's task plus ``NO_WEATHER`` (src/data/labels.py): it trains that task's
  head, and the recognition loss leaves it out (it shows no weather to recognise). So does a
  render that left its crop unchanged (light rain can miss a small crop entirely).
- ``scene_haze``: share of all crops (rain, snow and clean alike) whose photo is first given a mild
  veil of its own, kept in the target (default 0): a naturally soft, hazy scene is part of the
  photo, and only the weather and the weather's own veil are removed from it. Drawn from its own
  generator, so the crops and renderings are otherwise the same as without it.
  ``scene_haze_beta``: the range of its optical depth (default ``SCENE_HAZE_BETA``, thinner than any
  rain veil; an upper end above the rain veil's lowest, 0.5, makes the thinnest rain veils more
  often the scene's than the rain's).
- ``val_seed``: the seed of the validation renders.

``report.py validate`` also renders each validation photo as the lightest rain the synthesis makes
(:func:`lightest_rain_samples`): whether light rain comes out no worse than it went in.
"""

import functools
import os

import cv2
import numpy as np

from src.data.image_io import is_image_file, read_rgb
from src.data.labels import LABELS, NO_WEATHER
from src.data.readers import DataConfigError, _get
from src.data.synth import add_rain, add_veil, degrade
from src.logs import get_logger

logger = get_logger(__name__)

EXCLUDE_TOLERANCE = 0.1  # mean |difference| of standardised luma thumbnails (same photo: < 0.01, others > 0.5)
SCENE_HAZE_BETA = (0.05, 0.5)  # a scene's own haze: thinner than any rain veil (synth.RAIN_RANGES veil_beta 0.5-1.6)
CROP_OPTIONS = ("clean_fraction", "scene_haze", "scene_haze_beta")  # the keys CorpusSource takes
LIGHTEST_KEY = 2  # the lightest-rain renders' generator key beside the tasks' (rain 0, snow 1)
_THUMB = (48, 32)


def _corpus_cfg(data_cfg):
    corpus = _get(data_cfg, "corpus")
    if not corpus:
        raise DataConfigError("data.format=corpus needs a data.corpus section (dirs, val_dirs)")
    return corpus


def _root(data_cfg, key):
    roots = _get(data_cfg, "roots") or {}
    root = roots.get(key) if hasattr(roots, "get") else None
    return root


def list_photos(root, dirs, what):
    """Sorted image paths under ``root``/each of ``dirs`` (one level); a missing folder is an error."""
    paths = []
    for d in dirs or []:
        folder = os.path.join(root, d)
        if not os.path.isdir(folder):
            raise DataConfigError(
                f"{what}: {folder} is not a folder of photos; set data.roots.clean "
                "or data.corpus." + what.split(".")[-1]
            )
        paths += sorted(
            os.path.join(folder, f)
            for f in os.listdir(folder)
            if is_image_file(f) and os.path.isfile(os.path.join(folder, f))
        )
    return paths


def _thumb(rgb):
    """A landscape 48×32 luma thumbnail standardised to mean 0, std 1: the same photo matches after
    a change of tone or colour (Rain12's targets are tone-shifted BSDS500 photos)."""
    if rgb.shape[0] > rgb.shape[1]:
        rgb = rgb.transpose(1, 0, 2)
    luma = cv2.resize(rgb, _THUMB, interpolation=cv2.INTER_AREA).astype(np.float32).mean(axis=2)
    return (luma - luma.mean()) / (luma.std() + 1e-6)


def excluded(paths, like_paths):
    """The subset of ``paths`` whose content matches an image of ``like_paths`` (any orientation).
    Cached per (paths, like_paths): every epoch's dataset asks again, and the answer needs a decode
    of every photo."""
    return set(_excluded(tuple(paths), tuple(like_paths)))


@functools.lru_cache(maxsize=8)
def _excluded(paths, like_paths):
    if not like_paths:
        return frozenset()
    like = []
    for p in like_paths:  # the 8 orientations: landscape-normalised, then its 4 flips/rotations
        t = _thumb(read_rgb(p))
        like += [t, t[::-1], t[:, ::-1], t[::-1, ::-1]]
    like = np.stack(like)
    out = set()
    for p in paths:
        d = np.abs(like - _thumb(read_rgb(p))).mean(axis=(1, 2))
        if d.min() <= EXCLUDE_TOLERANCE:
            out.add(p)
    return frozenset(out)


def corpus_photos(data_cfg, split):
    """Training (``split='train'``) or validation (``'val'``) photo paths, after ``exclude_like``."""
    corpus = _corpus_cfg(data_cfg)
    clean = _root(data_cfg, "clean")
    if not clean:
        raise DataConfigError("data.format=corpus needs data.roots.clean (a folder of clean photos)")
    key = "dirs" if split == "train" else "val_dirs"
    paths = list_photos(clean, list(corpus.get(key) or []), f"data.corpus.{key}")
    like_root = _root(data_cfg, "real") or clean
    like = list_photos(like_root, list(corpus.get("exclude_like") or []), "data.corpus.exclude_like")
    drop = excluded(paths, like)
    if drop:
        logger.info(
            f"corpus {split}: left out {len(drop)} photo(s) that match images of data.corpus.exclude_like "
            f"(e.g. {os.path.basename(sorted(drop)[0])})"
        )
    return [p for p in paths if p not in drop]


def _crop(img, size, rng, flip):
    h, w = img.shape[:2]
    if h < size or w < size:
        img = cv2.copyMakeBorder(img, 0, max(size - h, 0), 0, max(size - w, 0), cv2.BORDER_REFLECT_101)
        h, w = img.shape[:2]
    y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    out = img[y : y + size, x : x + size]
    if flip and rng.random() < 0.5:
        out = out[:, ::-1]
    if flip and rng.random() < 0.5:
        out = out[::-1]
    return np.ascontiguousarray(out)


class CorpusSource:
    """Random-access source for ``GeneratorDataset``: item k → (degraded crop, clean crop, label),
    uint8 HWC. ``length`` items walk seeded permutations of the photos (each photo once per cycle)."""

    def __init__(
        self,
        paths,
        task,
        length,
        crop,
        seed,
        rank=0,
        flip=True,
        scale=1.0,
        clean_fraction=0.0,
        scene_haze=0.0,
        scene_haze_beta=SCENE_HAZE_BETA,
    ):
        if not paths:
            raise DataConfigError(f"the {task} corpus has no photos; check data.corpus.dirs")
        self.paths, self.task, self.length = list(paths), task, int(length)
        self.crop, self.flip, self.scale = int(crop), bool(flip), float(scale)
        self.clean_fraction = check_share(clean_fraction, "data.corpus.clean_fraction", "crops left clean")
        self.scene_haze = check_share(scene_haze, "data.corpus.scene_haze", "crops whose scene is hazy")
        self.scene_haze_beta = check_beta_range(scene_haze_beta)
        self.key = (int(seed), int(rank), LABELS[task])
        cycles = -(-self.length // len(self.paths))
        rng = np.random.default_rng(self.key)
        self.order = np.concatenate([rng.permutation(len(self.paths)) for _ in range(cycles)])[: self.length]
        self.cache = {}

    def __len__(self):
        return self.length

    def _photo(self, i):
        img = self.cache.get(i)
        if img is None:
            img = self.cache[i] = read_rgb(self.paths[i])
        return img

    def __getitem__(self, k):
        k = int(k)
        rng = np.random.default_rng(self.key + (k,))
        clean = self._scene(_crop(self._photo(int(self.order[k])), self.crop, rng, self.flip), k)
        task = LABELS[self.task]
        pick = np.random.default_rng(self.key + (k, 1))
        if self.clean_fraction and pick.random() < self.clean_fraction:
            return clean.copy(), clean, np.array(task + NO_WEATHER, np.int32)
        out = degrade(clean, self.task, rng, self.scale)
        if np.array_equal(out, clean):  # a few light streaks can miss a small crop: it shows no weather either
            task += NO_WEATHER
        return out, clean, np.array(task, np.int32)

    def _scene(self, clean, k):
        """Crop ``k``'s photo with a mild haze of its own (``scene_haze``); the target keeps it."""
        if not self.scene_haze:
            return clean
        haze = np.random.default_rng(self.key + (k, 2))
        if haze.random() < self.scene_haze:
            return add_veil(clean, haze, self.scale, self.scene_haze_beta)
        return clean


def check_share(value, key, what):
    """A share in [0, 1) (``data.corpus.clean_fraction``, ``scene_haze``); anything else is a one-line error."""
    try:
        fraction = float(value or 0.0)
    except (TypeError, ValueError):
        fraction = -1.0
    if not 0.0 <= fraction < 1.0:
        raise DataConfigError(f"{key}={value!r}: give a share in [0, 1) of {what}")
    return fraction


def check_beta_range(value):
    """``data.corpus.scene_haze_beta`` as (low, high) with 0 <= low <= high; else a one-line error."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        low, high = 1.0, -1.0
    if not 0.0 <= low <= high:
        raise DataConfigError(
            f"data.corpus.scene_haze_beta={value!r}: give [low, high] optical depths, 0 <= low <= high"
        )
    return low, high


def corpus_source(data_cfg, paths, task, length, crop, seed, rank):
    """The :class:`CorpusSource` of one task with ``data.corpus``'s crop options (unset: the defaults)."""
    corpus = _corpus_cfg(data_cfg)
    options = {key: corpus.get(key) for key in CROP_OPTIONS if corpus.get(key) is not None}
    return CorpusSource(
        paths,
        task,
        length,
        crop,
        seed,
        rank,
        bool(_get(data_cfg, "flip", True)),
        float(corpus.get("scale", 1.0) or 1.0),
        **options,
    )


def corpus_task_dataset(data_cfg, paths, task, length, crop, seed, rank, workers):
    """Unbatched uint8 HWC (image, target, label) rows of one task, in a fixed order."""
    import mindspore.dataset as ds

    src = corpus_source(data_cfg, paths, task, length, crop, seed, rank)
    return ds.GeneratorDataset(
        src, ["image", "target", "label"], shuffle=False, num_parallel_workers=workers, python_multiprocessing=False
    )


def _val_photos(data_cfg, crop, max_images):
    """(index, photo uint8 HWC centre-cropped to ``crop`` (0 = whole), file name) of the validation photos."""
    paths = corpus_photos(data_cfg, "val")
    if max_images:
        paths = paths[: int(max_images)]
    if not paths:
        raise DataConfigError("data.corpus.val_dirs holds no photos; validation needs held-out photos")
    for i, p in enumerate(paths):
        img = read_rgb(p)
        if crop:
            h, w = img.shape[:2]
            th, tw = min(crop, h), min(crop, w)
            img = np.ascontiguousarray(img[(h - th) // 2 : (h - th) // 2 + th, (w - tw) // 2 : (w - tw) // 2 + tw])
        yield i, img, os.path.basename(p)


def _val_render_options(data_cfg):
    corpus = _corpus_cfg(data_cfg)
    return int(corpus.get("val_seed", 1)), float(corpus.get("scale", 1.0) or 1.0)


def corpus_val_samples(data_cfg, tasks, crop, max_images):
    """Validation pairs rendered once per task from ``data.corpus.val_dirs`` with ``val_seed``: a list
    of (input uint8 HWC, target uint8 HWC, label, photo file name), centre-cropped to ``crop``."""
    seed, scale = _val_render_options(data_cfg)
    out = []
    for i, img, name in _val_photos(data_cfg, crop, max_images):
        for task in tasks:
            rng = np.random.default_rng((seed, LABELS[task], i, 0))  # 0: the renders of earlier releases
            out.append((degrade(img, task, rng, scale), img, LABELS[task], name))
    return out


def lightest_rain_samples(data_cfg, crop, max_images):
    """Each validation photo rendered as the lightest rain the synthesis makes (level 0, no veil;
    its own seed): a list of (input uint8 HWC, target uint8 HWC, photo file name)."""
    seed, scale = _val_render_options(data_cfg)
    return [
        (add_rain(img, np.random.default_rng((seed, LIGHTEST_KEY, i)), haze=False, level=0.0, scale=scale), img, name)
        for i, img, name in _val_photos(data_cfg, crop, max_images)
    ]
