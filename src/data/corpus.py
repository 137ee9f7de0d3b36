"""Training and validation from a folder of clean photos (``data.format: corpus``).

Every training crop gets a fresh degradation: item ``k`` of a task's stream (one epoch) is photo
``order[k]`` cropped, flipped and rendered with a generator seeded by (seed, rank, task, k), where
the epoch's ``seed`` comes from the training run (base seed + epoch). So no rendering repeats
within or across epochs, and a given (seed, k) always gives the same sample: a resumed run that
skips the first ``n`` batches sees exactly what the uninterrupted run saw.

``data.corpus`` keys (paths relative to ``data.roots.clean``):

- ``dirs``: folders of clean photos for training; ``val_dirs``: folders for validation, rendered
  once with ``val_seed`` (``val_copies`` renderings per photo and task, centre crop ``train.val_crop``).
  ``val_light``: also render each validation photo once as the lightest rain the synthesis makes
  (level 0, no veil; label ``LIGHT``), the row that shows whether light rain is left no worse.
- ``exclude_like``: folders of images (e.g. the targets of test pairs, relative to
  ``data.roots.real`` when that root is set, else to ``roots.clean``) whose photos are removed from
  the training and validation photos when their content matches (a 48×32 thumbnail within
  ``EXCLUDE_TOLERANCE`` grey levels), so that a test image is never trained or selected on.
- ``scale``: length scale of the synthetic streaks and flakes (1 = pixels of a ~500 px photo).
- ``clean_fraction``: share of training crops left clean (input = target, default 0): they teach
  the heads to leave a photo without weather unchanged. Whether crop ``k`` stays clean is drawn
  from its own generator, so the other crops and their degradations do not depend on it. A clean
  crop keeps its stream's label for the head it trains, but the recognition loss leaves it out
  (``losses.has_weather``): it shows no weather to recognise.
- ``clean_pick``: a clean crop is the best of this many candidate crops of its photo (default 1:
  any crop) by ``clean_pick_by``: ``bright`` (default; the highest mean, so that clean skies, water
  and walls teach the heads not to remove a veil that is not there; what it changed:
  ``docs/lite.md``), ``flat`` (the lowest contrast, the standard deviation of its grey levels:
  soft, hazy-looking scenes to leave alone) or ``busy`` (the most fine detail, the mean gradient
  magnitude of its grey levels).
- ``clean_veil``: share of the clean crops shown as a hazy photo, the same veil in input and target
  (``synth.add_veil``, default 0): a veil without rain streaks is scenery to keep, while the rain
  renders' veils (rain + fog) are removed with the streaks. Such a crop gets no ``scene_haze``.
- ``scene_haze``: share of all crops (rain, snow and clean alike) whose photo is first given a mild
  veil of its own, kept in the target (default 0): a naturally soft, hazy scene is part of the
  photo, and only the weather and the weather's own veil are removed from it. Drawn from its own
  generator, so the crops and renderings are otherwise the same as without it.
  ``scene_haze_beta``: the range of its optical depth (default ``SCENE_HAZE_BETA``, thinner than any
  rain veil; an upper end above the rain veil's lowest, 0.5, makes the thinnest rain veils more
  often the scene's than the rain's).
- ``scene_lines``: share of all crops whose photo first gets a few thin, straight, opaque lines of
  its own (``add_lines``: window frames, railings, masts; often along the streaks' directions, half
  of them crossed into a grid), kept in the target: thin lines along the rain are scenery unless
  they are streaks (the lightest-rain row's worst photos are facades whose window frames the rain
  head dims). Drawn from its own generator; every crop is otherwise rendered as without it.
- ``light_rain``: share of the rain stream's crops rendered as light rain without a veil or
  far-rain haze (level drawn in ``LIGHT_RAIN_LEVELS``) on the best of ``clean_pick`` candidate
  crops by ``light_pick_by`` (default: ``clean_pick_by``'s score; default share 0): bright or soft
  scenes under a few thin streaks, where the right output removes the streaks and leaves the
  scene's own tones alone (the lightest-rain row's worst photos are such scenes, darkened as if a
  veil were removed), or with ``busy`` (the most fine detail) windows, shutters and railings whose
  thin lines are not streaks. Drawn from its own generator after the ``clean_fraction`` draw;
  every other crop is rendered as without it. Ignored by the snow stream.
"""

import functools
import os

import cv2
import numpy as np

from src.config import whole_number
from src.data.image_io import is_image_file, read_rgb
from src.data.readers import LABELS, LIGHT, DataConfigError, _get
from src.data.synth import add_rain, add_veil, degrade
from src.logs import get_logger

logger = get_logger(__name__)

EXCLUDE_TOLERANCE = 2.0
SCENE_LINES = dict(
    count=(2, 8),  # lines per family in a 128² crop, scaled with the crop's diagonal (a family: parallel
    # lines; a second family at right angles half the time)
    width=(1, 3),  # px
    along=0.6,  # share of renders whose first family runs within the rain streaks' angles (±25° of vertical)
    alpha=(0.7, 1.0),  # opacity
)
LINES_DIAG = float(np.hypot(128, 128))  # the crop diagonal SCENE_LINES["count"] is given for
LIGHT_RAIN_LEVELS = (0.0, 0.3)  # light_rain crops: synth level range (0.25: the Kodak24 "light rain" renders)
SCENE_HAZE_BETA = (0.05, 0.5)  # a scene's own haze: thinner than any rain veil (synth.RAIN_RANGES veil_beta 0.5-1.6)
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
    if rgb.shape[0] > rgb.shape[1]:
        rgb = rgb.transpose(1, 0, 2)
    return cv2.resize(rgb, _THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)


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
        d = np.abs(like - _thumb(read_rgb(p))).mean(axis=(1, 2, 3))
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
        clean_pick=1,
        clean_veil=0.0,
        clean_pick_by="bright",
        scene_haze=0.0,
        scene_haze_beta=SCENE_HAZE_BETA,
        light_rain=0.0,
        light_pick_by="",
        scene_lines=0.0,
    ):
        if not paths:
            raise DataConfigError(f"the {task} corpus has no photos; check data.corpus.dirs")
        self.paths, self.task, self.length = list(paths), task, int(length)
        self.crop, self.flip, self.scale = int(crop), bool(flip), float(scale)
        self.clean_fraction = check_clean_fraction(clean_fraction)
        self.clean_pick = check_clean_pick(clean_pick)
        self.clean_pick_by = pick_score(clean_pick_by, "clean_pick_by")
        self.light_pick_by = pick_score(light_pick_by, "light_pick_by") if light_pick_by else self.clean_pick_by
        self.clean_veil = check_clean_fraction(clean_veil, "data.corpus.clean_veil", "clean crops shown veiled")
        self.scene_haze = check_clean_fraction(scene_haze, "data.corpus.scene_haze", "crops whose scene is hazy")
        self.scene_haze_beta = check_beta_range(scene_haze_beta)
        self.scene_lines = check_clean_fraction(scene_lines, "data.corpus.scene_lines", "crops with lines of their own")
        self.light_rain = check_clean_fraction(light_rain, "data.corpus.light_rain", "rain crops rendered light")
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
        clean = _crop(self._photo(int(self.order[k])), self.crop, rng, self.flip)
        label = np.array(LABELS[self.task], np.int32)
        pick = np.random.default_rng(self.key + (k, 1))
        if self.clean_fraction and pick.random() < self.clean_fraction:
            clean = self._picked(clean, k, pick, self.clean_pick_by)
            if self.clean_veil and pick.random() < self.clean_veil:
                clean = add_veil(self._lines(clean, k), pick, self.scale)  # natural haze: input = target, both veiled
            else:  # one veil at most: a crop clean_veil veiled gets no scene haze on top
                clean = self._scene(clean, k)
            return clean.copy(), clean, label
        if self.light_rain and self.task == "rain":
            light = np.random.default_rng(self.key + (k, 3))
            if light.random() < self.light_rain:
                clean = self._scene(self._picked(clean, k, light, self.light_pick_by), k)
                level = float(light.uniform(*LIGHT_RAIN_LEVELS))
                return add_rain(clean, light, haze=False, level=level, scale=self.scale, mist=False), clean, label
        clean = self._scene(clean, k)
        return degrade(clean, self.task, rng, self.scale), clean, label

    def _picked(self, crop, k, rng, score):
        """The best of ``clean_pick`` candidate crops of crop ``k``'s photo by ``score``."""
        photo = self._photo(int(self.order[k]))
        others = [_crop(photo, self.crop, rng, self.flip) for _ in range(self.clean_pick - 1)]
        return max([crop, *others], key=score)

    def _lines(self, clean, k):
        """Crop ``k``'s photo with thin lines of its own (``scene_lines``; the target keeps them)."""
        if self.scene_lines:
            lines = np.random.default_rng(self.key + (k, 4))
            if lines.random() < self.scene_lines:
                return add_lines(clean, lines)
        return clean

    def _scene(self, clean, k):
        """Crop ``k``'s photo with its own lines (``scene_lines``) and mild haze (``scene_haze``);
        the target keeps both."""
        clean = self._lines(clean, k)
        if not self.scene_haze:
            return clean
        haze = np.random.default_rng(self.key + (k, 2))
        if haze.random() < self.scene_haze:
            return add_veil(clean, haze, self.scale, self.scene_haze_beta)
        return clean


def add_lines(img, rng):
    """Thin straight opaque lines drawn into a uint8 RGB photo as part of the scene (``SCENE_LINES``):
    one family of parallel lines, within the rain's angles in ``along`` of renders, else at any angle,
    crossed by a second family at right angles half the time; each line spans the crop or a part of
    it; near-white, dark or one of the photo's own colours."""
    out = img.astype(np.float32)
    h, w = img.shape[:2]
    diag = float(np.hypot(h, w))
    angle = rng.uniform(-25.0, 25.0) if rng.random() < SCENE_LINES["along"] else rng.uniform(-90.0, 90.0)
    for family in range(1 + int(rng.random() < 0.5)):
        a = np.deg2rad(angle + 90.0 * family)
        along, normal = np.array([np.sin(a), np.cos(a)]), np.array([np.cos(a), -np.sin(a)])
        mask = np.zeros((h, w), np.float32)
        width = int(rng.integers(SCENE_LINES["width"][0], SCENE_LINES["width"][1] + 1))
        count = int(rng.integers(SCENE_LINES["count"][0], SCENE_LINES["count"][1] + 1))
        for _ in range(max(1, int(round(count * diag / LINES_DIAG)))):
            mid = np.array([w / 2.0, h / 2.0]) + rng.uniform(-diag / 2, diag / 2) * normal
            start, span = (
                (-diag, 2 * diag) if rng.random() < 0.5 else (rng.uniform(-diag / 2, 0), rng.uniform(0.3, 1) * diag)
            )
            p, q = mid + start * along, mid + (start + span) * along
            cv2.line(mask, tuple(int(round(v)) for v in p), tuple(int(round(v)) for v in q), 1.0, width, cv2.LINE_AA)
        kind = rng.random()
        if kind < 0.5:
            colour = rng.uniform(200.0, 255.0) * rng.uniform(0.92, 1.0, 3)
        elif kind < 0.8:
            colour = rng.uniform(0.0, 60.0, 3)
        else:
            colour = out[int(rng.integers(h)), int(rng.integers(w))].copy()
        cover = np.clip(mask, 0.0, 1.0)[:, :, None] * rng.uniform(*SCENE_LINES["alpha"])
        out = out * (1.0 - cover) + colour.astype(np.float32) * cover
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


CROP_OPTIONS = (
    "clean_fraction",
    "clean_pick",
    "clean_veil",
    "clean_pick_by",
    "scene_haze",
    "scene_haze_beta",
    "light_rain",
    "light_pick_by",
    "scene_lines",
)


def check_clean_fraction(value, key="data.corpus.clean_fraction", what="crops left clean"):
    """A share in [0, 1) (``data.corpus.clean_fraction``, ``clean_veil``); anything else is a one-line error."""
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


def _detail(crop):
    """Mean gradient magnitude of a crop's grey levels (``clean_pick_by: busy``)."""
    grey = crop.mean(axis=2, dtype=np.float32)
    return float(np.mean(np.abs(np.diff(grey, axis=0))) + np.mean(np.abs(np.diff(grey, axis=1))))


CLEAN_PICK_BY = {  # data.corpus.clean_pick_by / light_pick_by: the score a candidate crop is picked by (highest wins)
    "bright": np.mean,  # sky, water, walls
    "flat": lambda crop: -float(np.std(crop.mean(axis=2))),  # the lowest contrast: soft, hazy-looking scenes
    "busy": _detail,  # the most fine detail: windows, shutters, railings, foliage
}


def pick_score(name, key):
    """The score ``data.corpus.<key>`` (``clean_pick_by``, ``light_pick_by``) names; else a one-line error."""
    if name not in CLEAN_PICK_BY:
        raise DataConfigError(f"data.corpus.{key}={name!r}: choose one of {', '.join(CLEAN_PICK_BY)}")
    return CLEAN_PICK_BY[name]


def check_clean_pick(value):
    """``data.corpus.clean_pick`` as an int >= 1; anything else is a one-line error."""
    value = 1 if value is None else value
    pick = whole_number(value)
    if pick is None or pick < 1:
        raise DataConfigError(f"data.corpus.clean_pick={value!r}: give a whole number >= 1 of candidate crops")
    return pick


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


def corpus_val_samples(data_cfg, tasks, crop, max_images):
    """Validation pairs rendered once from ``data.corpus.val_dirs`` with ``val_seed``: a list of
    (input uint8 HWC, target uint8 HWC, label, photo file name), centre-cropped to ``crop`` (0 = whole
    photo); with ``val_light`` (and rain among ``tasks``) each photo's lightest-rain render last,
    labelled ``LIGHT``."""
    corpus = _corpus_cfg(data_cfg)
    paths = corpus_photos(data_cfg, "val")
    if max_images:
        paths = paths[: int(max_images)]
    seed, copies = int(corpus.get("val_seed", 1)), int(corpus.get("val_copies", 1) or 1)
    scale = float(corpus.get("scale", 1.0) or 1.0)
    out = []
    for i, p in enumerate(paths):
        img = read_rgb(p)
        if crop:
            h, w = img.shape[:2]
            th, tw = min(crop, h), min(crop, w)
            img = np.ascontiguousarray(img[(h - th) // 2 : (h - th) // 2 + th, (w - tw) // 2 : (w - tw) // 2 + tw])
        for task in tasks:
            for c in range(copies):
                rng = np.random.default_rng((seed, LABELS[task], i, c))
                out.append((degrade(img, task, rng, scale), img, LABELS[task], os.path.basename(p)))
        if corpus.get("val_light", False) and "rain" in tasks:
            rng = np.random.default_rng((seed, LIGHT, i))
            out.append((add_rain(img, rng, haze=False, level=0.0, scale=scale), img, LIGHT, os.path.basename(p)))
    if not out:
        raise DataConfigError("data.corpus.val_dirs holds no photos; validation needs held-out photos")
    return out
