"""The restoration engine shared by eval.py, infer.py and the 310 postprocess: task choice + tiling.

``Restorer(backend, tile, overlap).restore(image, task)`` returns the restored float image
(H x W x 3, unclipped; ``metrics.to_uint8`` gives the 8-bit image to save and score), the head
used and the recognition confidence.

Whole image or tiles: with ``tile=0``, or when the image (padded to the network stride) fits in
one tile, the network sees the whole image, exactly like ``net(x)``. Otherwise the image is first
reflect-padded at the bottom/right to a multiple of the stride with the network's own rule
(``models.layers.pad_to_multiple``), so tiles at the image border see the same pixels as the whole
image does, then split into ``tile`` x ``tile`` tiles overlapping by ``overlap`` and blended
(``tiling.tile_apply``), and cropped back. A backend with a fixed tile shape (ONNX) always goes
through tiles of exactly that size (small images are padded up to it).

Task choice (``task="auto"``): the recognition head's two raw scores (rain, snow) pick the derain
output if score_rain >= score_snow, else the desnow output. Confidence = softmax of the two
scores at the chosen task (0.5 = undecided). The head sees the photo at most ``RECOGNITION_VIEW``
px on its long side, the scale of the ~500 px photos the models are trained on: a larger photo is
first shrunk (area interpolation) into this *view*, recognised there (one call when the view fits
in a tile, else its tiles' scores averaged by area share, as ``tiling`` does for non-image
outputs), and then restored with the chosen head only, so blind mode costs one small extra pass
instead of a second image head and the recognition head on every tile. A photo no larger than the
view is restored and recognised in one pass with both heads.
``task="rain"|"snow"`` forces a head (the confidence then says how much recognition agrees).
Strategy models with a ``blind`` output (cross-stitch: the fusion head; task-parameterised: the
decoder at γ = softmax(recognition), decided per tile) answer ``auto`` with that image instead;
``Restored.task`` is then ``"blind"`` (confidence: recognition's top probability, if present).

Flip self-ensemble (``flip=True``, off by default): every pass that restores also runs on the
left-right mirror of its input, and the two restored images (the mirror's mirrored back) are
averaged. Training flips crops left-right, so the mirror is a photo the network knows; it costs
twice the time. The task choice stays with the photo itself: averaging the recognition scores with
the mirror's turned 2 of the 12 real rainy photos to "snow" with the default weights (their
margins are thin), so recognition never sees the mirror.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import cv2
import numpy as np

from .tiling import tile_apply, tile_grid
from ..errors import UsageError

__all__ = [
    "DEFAULT_OVERLAP",
    "DEFAULT_TILE",
    "EVAL_WHOLE_MAX_PIXELS",
    "EngineError",
    "Restored",
    "Restorer",
    "TASK_CHOICES",
    "RECOGNITION_VIEW",
    "pad_image_to_multiple",
    "recognition_view",
    "softmax",
    "default_tile",
    "task_by_scores",
]

TASK_CHOICES = ("auto", "rain", "snow")
TASK_OUTPUT = {"rain": "derain", "snow": "desnow"}
DEFAULT_TILE = 256  # default preset, MindSpore CPU: 1080p peaks at 3.5 GiB RSS (docs/bench.md, 2026-12-08)
# Per-preset default tiles, chosen by measuring 1080p speed and peak memory (bench/bench_infer.py
# --configs; docs/performance.md); presets not listed use DEFAULT_TILE.
# lite: 512. The shipped lite weights at 256 against 512 tiles (python report.py test --tile):
# light rain +1.30 / +2.19 dB, lightest rain -0.66 / -0.23, rain + fog +0.60 / +1.28; 1080p speed
# 1.90x / 1.85x over tiny@256/32 (same run), so 512.
PRESET_TILES = {"lite": 512}
DEFAULT_OVERLAP = 32
# eval.py scores benchmark images whole, as papers do (the gates pool over the whole input, so a
# tiled image is not the same function); only images above this many pixels (padded) are tiled.
# Every benchmark of the paper fits (Rain1200 512×512, CSD 640×480, Outdoor-Rain 720×480).
EVAL_WHOLE_MAX_PIXELS = 1024 * 1024
RECOGNITION_VIEW = 512  # long side (px) of the photo as the recognition head sees it


def default_tile(preset: Optional[str]) -> int:
    """The tile a model of ``preset`` is restored with when none is given (infer/eval), and the
    shape export.py writes when neither --height nor --width is given."""
    return PRESET_TILES.get(preset, DEFAULT_TILE)


class EngineError(UsageError):
    """A request the engine cannot serve (bad tile size, task without the needed head)."""


@dataclass
class Restored:
    """One restored image and how it was made."""

    image: np.ndarray  # float32 H x W x 3, unclipped
    task: str  # head used: "rain" (derain) or "snow" (desnow)
    auto: bool  # True when the recognition head chose ``task``
    confidence: Optional[float]  # softmax probability of ``task`` (None without recognition)
    scores: Optional[np.ndarray]  # raw (rain, snow) recognition scores
    tiles: int  # 1 = whole image
    seconds: float


def softmax(scores) -> np.ndarray:
    """Numerically stable softmax of a 1-D score vector (float64)."""
    s = np.asarray(scores, np.float64).reshape(-1)
    e = np.exp(s - s.max())
    return e / e.sum()


def pad_image_to_multiple(img: np.ndarray, multiple: int) -> np.ndarray:
    """Pad an H x W x C NumPy image bottom/right to a multiple, as the network pads its tensor input
    (``models.layers.pad_to_multiple``): reflect if both pads are
    smaller than the sides, else edge (= MindSpore "replicate")."""
    h, w = img.shape[:2]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return img
    mode = "reflect" if (ph < h and pw < w) else "edge"
    return np.pad(img, ((0, ph), (0, pw), (0, 0)), mode=mode)


def recognition_view(img: np.ndarray, size: int = RECOGNITION_VIEW) -> np.ndarray:
    """The H x W x C image the recognition head sees: ``img`` itself when its long side is at most
    ``size``, else ``img`` shrunk with area interpolation to a long side of ``size``."""
    h, w = img.shape[:2]
    if max(h, w) <= size:
        return img
    s = size / float(max(h, w))
    return cv2.resize(img, (max(1, int(round(w * s))), max(1, int(round(h * s)))), interpolation=cv2.INTER_AREA)


def task_by_scores(scores) -> str:
    """The task the recognition scores (rain, snow) pick: rain on a tie."""
    return "rain" if scores[0] >= scores[1] else "snow"


def _as_float_image(image) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < 1:
        raise EngineError(f"expected an H x W x 3 RGB image, got shape {img.shape}")
    if img.dtype == np.uint8:
        return img.astype(np.float32) / np.float32(255.0)
    if np.issubdtype(img.dtype, np.floating):
        return img.astype(np.float32, copy=False)
    raise EngineError(f"expected a uint8 or float image, got {img.dtype}")


class Restorer:
    """Task selection and (tiled) inference over a backend (see ``backends``).

    ``tile=None`` means the backend's fixed tile, else ``DEFAULT_TILE``; ``tile=0`` = whole image
    (not for fixed-tile backends). ``tile_batch`` tiles go through the backend at a time (always
    full batches, so one compiled shape serves every image). ``view``: long side of the image the
    recognition head sees (``RECOGNITION_VIEW``; see the module docstring). ``flip``: average each
    restored image with that of the photo's left-right mirror; recognition sees the photo only.
    ``whole_max_pixels``: images up to this many (padded) pixels go through whole even when a tile
    is set (eval.py: benchmark images are scored whole, as papers do, larger ones tiled).
    """

    def __init__(
        self,
        backend,
        tile: Optional[int] = None,
        overlap: int = DEFAULT_OVERLAP,
        tile_batch: int = 1,
        window: str = "cosine",
        margin: Optional[int] = None,
        view: int = RECOGNITION_VIEW,
        flip: bool = False,
        whole_max_pixels: int = 0,
    ):
        self.backend = backend
        self.whole_max_pixels = int(whole_max_pixels)
        self.flip = bool(flip)
        self.multiple = int(getattr(backend, "multiple", 32))
        fixed = getattr(backend, "fixed_tile", None)
        if fixed:
            if tile not in (None, fixed):
                raise EngineError(
                    f"--tile {tile}: this {backend.name} model takes {fixed}x{fixed} "
                    f"tiles only; pass --tile {fixed} or leave --tile out"
                )
            tile = fixed
        elif tile is None:
            tile = default_tile(getattr(backend, "preset", None))
        if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or tile < 0:
            raise EngineError(f"--tile must be 0 (whole image) or a positive size, got {tile!r}")
        if tile and not fixed and tile % self.multiple:
            raise EngineError(
                f"--tile {tile} is not a multiple of the network stride {self.multiple}; "
                f"use e.g. --tile {max(self.multiple, tile // self.multiple * self.multiple)}"
            )
        if tile and not 0 <= overlap < tile:
            raise EngineError(f"--tile_overlap {overlap} must be >= 0 and smaller than --tile {tile}")
        fixed_batch = getattr(backend, "fixed_batch", None)
        if fixed_batch:
            tile_batch = fixed_batch
        if tile_batch < 1:
            raise EngineError(f"--tile_batch must be >= 1, got {tile_batch}")
        self.tile, self.overlap, self.tile_batch = int(tile), int(overlap), int(tile_batch)
        if isinstance(view, bool) or not isinstance(view, (int, np.integer)) or view < 1:
            raise EngineError(f"the recognition view must be a positive size in pixels, got {view!r}")
        self.window, self.margin, self.view = window, margin, int(view)
        self.outputs = tuple(backend.outputs)

    @property
    def has_recognition(self) -> bool:
        return "recognition" in self.outputs

    def plan(self, height: int, width: int) -> int:
        """Number of tiles an image of this size goes through (1 = whole image)."""
        if self._whole(height, width):
            return 1
        hp, wp = height + (-height) % self.multiple, width + (-width) % self.multiple
        return len(tile_grid(hp, wp, self.tile, self.overlap))

    def _whole(self, height: int, width: int) -> bool:
        if getattr(self.backend, "fixed_tile", None):
            return False
        hp, wp = height + (-height) % self.multiple, width + (-width) % self.multiple
        if self.tile == 0 or hp * wp <= self.whole_max_pixels:
            return True
        return height + (-height) % self.multiple <= self.tile and width + (-width) % self.multiple <= self.tile

    def check_task(self, task: str, recognize: bool = False):
        """Output names needed for ``task``; raises EngineError if the model cannot serve it.
        A known task runs its own head only, plus the recognition head when ``recognize`` asks
        for its scores (evaluation counts them); ``auto`` always needs them."""
        if task not in TASK_CHOICES:
            raise EngineError(f"--task {task!r} is not valid; choose one of {', '.join(TASK_CHOICES)}")
        if task == "auto" and "blind" in self.outputs:
            names = ["blind"]
        elif task == "auto":
            if not self.has_recognition:
                raise EngineError(
                    "--task auto needs the recognition head, which this model does not "
                    "have (model.recognition: false or an export without it); pass "
                    "--task rain or --task snow"
                )
            names = ["derain", "desnow"]
        else:
            names = [TASK_OUTPUT[task]]
            if names[0] not in self.outputs:
                raise EngineError(
                    f"--task {task}: this model has no {names[0]} output "
                    f"(outputs: {', '.join(self.outputs)}); re-export with --task all"
                )
        if self.has_recognition and (task == "auto" or recognize):
            names.append("recognition")
        return names

    def recognize(self, image) -> Tuple[str, np.ndarray]:
        """(task, probabilities of rain and snow) that blind mode decides on for one H x W x 3 image:
        one pass of the recognition head over its recognition view."""
        if not self.has_recognition:
            raise EngineError(f"this model has no recognition output (outputs: {', '.join(self.outputs)})")
        scores = self._recognition_scores(recognition_view(_as_float_image(image), self.view))
        return task_by_scores(scores), softmax(scores)

    def _recognition_scores(self, view: np.ndarray) -> np.ndarray:
        """The recognition head's (rain, snow) scores for a float H x W x 3 view, averaged by tile area."""
        return self._run(view, ["recognition"])[0]["recognition"]

    def restore(
        self,
        image,
        task: str = "auto",
        progress: Optional[Callable[[int, int], None]] = None,
        recognize: bool = False,
    ) -> Restored:
        """Restore one H x W x 3 image (uint8, or float in [0, 1]); ``progress(done, total)``
        is called after each batch of tiles. ``recognize``: also return the recognition scores
        (and confidence) for a known ``task`` (``auto`` always does)."""
        start = time.perf_counter()
        names = self.check_task(task, recognize)
        auto = task == "auto"
        img = _as_float_image(image)
        view = recognition_view(img, self.view) if "recognition" in names and "blind" not in names else img
        if view is img:  # one pass: the heads and, if asked, recognition on the same pixels
            by_name, total = self._run(img, names, progress)
            if auto:
                task = "blind" if "blind" in by_name else task_by_scores(by_name["recognition"])
        else:  # recognise on the view, then restore with one head
            scores = self._recognition_scores(view)
            task = task_by_scores(scores) if auto else task
            by_name, total = self._run(img, [TASK_OUTPUT[task]], progress)
            by_name["recognition"] = scores
        return self._restored(by_name, task, auto, total, start)

    def _run(self, img: np.ndarray, names, progress=None):
        """({name: array}, tiles): the backend's ``names`` outputs for a float H x W x 3 image,
        whole or tiled (images cropped back to H x W, scores averaged by tile area); with ``flip``
        the image outputs are averaged with those of the mirrored image (mirrored back)."""
        total = self.plan(*img.shape[:2])
        images = [n for n in names if n != "recognition"] if self.flip else []
        runs = total * (2 if images else 1)
        by_name = dict(zip(names, self._pass(img, names, total, runs, 0, progress)))
        if images:
            mirrored = np.ascontiguousarray(img[:, ::-1])
            for name, out in zip(images, self._pass(mirrored, images, total, runs, total, progress)):
                by_name[name] = (by_name[name] + out[:, ::-1]) / 2
        return by_name, total

    def _pass(self, img, names, total, runs, offset, progress):
        """The ``names`` outputs (a list) of one pass over ``img``; ``progress(done, runs)`` counts
        tiles from ``offset``."""
        h, w = img.shape[:2]
        done = [offset]

        def fn(batch):
            arrays = self.backend(batch, names)
            done[0] = min(runs, done[0] + batch.shape[0])
            if progress is not None:
                progress(done[0], runs)
            return arrays

        if total == 1 and self._whole(h, w):
            outs = fn(np.ascontiguousarray(img.transpose(2, 0, 1)[None]))
            outs = [o[0].transpose(1, 2, 0) if o.ndim == 4 else o[0] for o in outs]
        else:
            padded = pad_image_to_multiple(img, self.multiple)
            outs = tile_apply(
                padded,
                fn,
                self.tile,
                self.overlap,
                tile_batch=self.tile_batch,
                margin=self.margin,
                window=self.window,
                fixed_batch=self.tile_batch > 1,
            )
            outs = [o[:h, :w] if o.ndim == 3 else o for o in outs]
        return outs

    @staticmethod
    def _restored(by_name, chosen, auto, total, start) -> Restored:
        """The Restored record of head ``chosen`` (``blind``, ``rain`` or ``snow``)."""
        scores = by_name.get("recognition")
        probs = softmax(scores) if scores is not None else None
        if probs is None:
            confidence = None
        elif chosen == "blind":
            confidence = float(probs.max())
        else:
            confidence = float(probs[0 if chosen == "rain" else 1])
        image_out = np.ascontiguousarray(by_name[TASK_OUTPUT.get(chosen, chosen)], dtype=np.float32)
        return Restored(
            image_out,
            chosen,
            auto,
            confidence,
            None if scores is None else np.asarray(scores, np.float64).reshape(-1),
            total,
            time.perf_counter() - start,
        )
