"""PSNR/SSIM with the deraining community's MATLAB protocol (docs/design.md, "Evaluation protocol"), plus RGB scores.

Protocol:

* Y = channel 1 of MATLAB ``rgb2ycbcr`` on the uint8 image: ``Y = 16 + (65.481 R + 128.553 G +
  24.966 B) / 255`` with R, G, B in 0..255, rounded to uint8 (half away from zero, like MATLAB).
* PSNR = ``20 log10(255 / sqrt(MSE))``, no border crop, ``inf`` for identical images.
* SSIM = ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=255)``, i.e. Zhou Wang's ``ssim_index.m``: normalised
  11x11 Gaussian window, sigma 1.5, K = (0.01, 0.03), mean over the 'valid' region.
* RGB: PSNR over all three channels; SSIM per channel with the same settings, averaged.

Scores are measured on the saved 8-bit image (``to_uint8``), never on float or resized outputs.

Rounding of exact ties in Y: 194 of the 2^24 RGB triples give a Y exactly halfway between two
integers. ``rgb_to_y`` uses exact integer arithmetic and rounds them up (MATLAB's ``round`` of the
exact value); MATLAB's floating-point evaluation may land on either side of such a tie, which can
change Y by one grey level on those rare pixels (effect on PSNR ~1e-5 dB; not checked in MATLAB).
"""

from __future__ import annotations

import csv
import math
import os
from typing import Dict, Iterable, List, Optional

import numpy as np
from skimage.metrics import structural_similarity

__all__ = [
    "COLUMNS",
    "PROTOCOL",
    "SSIM_MIN_SIZE",
    "MetricAccumulator",
    "describe_protocol",
    "psnr_rgb",
    "psnr_y",
    "rgb_to_y",
    "score_pair",
    "ssim_rgb",
    "ssim_y",
    "to_uint8",
]

COLUMNS = ("name", "task", "psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")
METRICS = COLUMNS[2:]
SSIM_MIN_SIZE = 11  # the Gaussian window is 11x11 and only the 'valid' region is scored
_SSIM_KW = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)


def describe_protocol(crop_border: int = 0) -> str:
    """One-line description of the protocol, to print next to the numbers."""
    crop = "no crop" if crop_border == 0 else f"crop {crop_border} px per side"
    return (
        "PSNR/SSIM on Y of MATLAB rgb2ycbcr (BT.601, rounded uint8), peak 255, "
        f"{crop}; SSIM Gaussian 11x11 σ1.5 K=(0.01,0.03) valid; "
        "RGB: same on R,G,B (mean over channels); measured on saved uint8 images"
    )


PROTOCOL = describe_protocol(0)


# --------------------------------------------------------------------------- input handling
def _check_image(img, what: str) -> np.ndarray:
    """Return ``img`` if it is a non-empty uint8 HxWx3 array, else raise a one-line error."""
    if not isinstance(img, np.ndarray):
        raise TypeError(f"{what} must be a numpy uint8 HxWx3 array, got {type(img).__name__}")
    if img.dtype != np.uint8:
        raise TypeError(
            f"{what} must be uint8 (the saved 8-bit image), got {img.dtype}; "
            "convert network output with to_uint8() first"
        )
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{what} must be HxWx3 RGB, got shape {img.shape}")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"{what} is empty (shape {img.shape})")
    return img


def _check_pair(pred, target, crop_border: int):
    """Validate a prediction/target pair and apply the border crop."""
    pred = _check_image(pred, "prediction")
    target = _check_image(target, "target")
    if pred.shape != target.shape:
        raise ValueError(
            f"size mismatch: prediction {pred.shape[0]}x{pred.shape[1]} vs target "
            f"{target.shape[0]}x{target.shape[1]}; metrics are measured at the "
            "original size, never on resized images"
        )
    if isinstance(crop_border, bool) or not isinstance(crop_border, (int, np.integer)) or crop_border < 0:
        raise ValueError(f"crop_border must be an int >= 0, got {crop_border!r}")
    if crop_border:
        h, w = pred.shape[:2]
        if 2 * crop_border >= min(h, w):
            raise ValueError(f"crop_border={crop_border} leaves nothing of a {h}x{w} image")
        sl = (slice(crop_border, h - crop_border), slice(crop_border, w - crop_border))
        pred, target = pred[sl], target[sl]
    return pred, target


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Y channel of MATLAB ``rgb2ycbcr`` for a uint8 HxWx3 RGB image, as uint8 in [16, 235]."""
    img = _check_image(img, "image")
    r, g, b = (img[..., i].astype(np.int64) for i in range(3))
    # 255000 * Y = 65481 R + 128553 G + 24966 B + 16 * 255000, all integers: round half up exactly.
    num = 65481 * r + 128553 * g + 24966 * b + 4080000
    return ((2 * num + 255000) // 510000).astype(np.uint8)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR with peak 255 between two integer-valued arrays; inf when they are equal."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if mse == 0.0:
        return math.inf
    return 20.0 * math.log10(255.0 / math.sqrt(mse))


def _ssim(a: np.ndarray, b: np.ndarray, channel_axis: Optional[int]) -> float:
    """Zhou Wang's ssim_index.m via scikit-image (Gaussian 11x11, sigma 1.5, valid region)."""
    h, w = a.shape[:2]
    if min(h, w) < SSIM_MIN_SIZE:
        raise ValueError(
            f"SSIM needs at least {SSIM_MIN_SIZE}x{SSIM_MIN_SIZE} pixels " f"(after any crop), got {h}x{w}"
        )
    return float(
        structural_similarity(a.astype(np.float64), b.astype(np.float64), channel_axis=channel_axis, **_SSIM_KW)
    )


def psnr_y(pred: np.ndarray, target: np.ndarray, crop_border: int = 0) -> float:
    """PSNR (dB) on the rounded MATLAB Y channel, peak 255."""
    pred, target = _check_pair(pred, target, crop_border)
    return _psnr(rgb_to_y(pred), rgb_to_y(target))


def ssim_y(pred: np.ndarray, target: np.ndarray, crop_border: int = 0) -> float:
    """SSIM on the rounded MATLAB Y channel (ssim_index.m settings)."""
    pred, target = _check_pair(pred, target, crop_border)
    return _ssim(rgb_to_y(pred), rgb_to_y(target), None)


def psnr_rgb(pred: np.ndarray, target: np.ndarray, crop_border: int = 0) -> float:
    """PSNR (dB) over all three RGB channels, peak 255."""
    pred, target = _check_pair(pred, target, crop_border)
    return _psnr(pred, target)


def ssim_rgb(pred: np.ndarray, target: np.ndarray, crop_border: int = 0) -> float:
    """SSIM per RGB channel (ssim_index.m settings), averaged over the channels."""
    pred, target = _check_pair(pred, target, crop_border)
    return _ssim(pred, target, 2)


def score_pair(pred: np.ndarray, target: np.ndarray, crop_border: int = 0) -> Dict[str, float]:
    """All four scores for one image pair: psnr_y, ssim_y, psnr_rgb, ssim_rgb."""
    pred, target = _check_pair(pred, target, crop_border)
    yp, yt = rgb_to_y(pred), rgb_to_y(target)
    return {
        "psnr_y": _psnr(yp, yt),
        "ssim_y": _ssim(yp, yt, None),
        "psnr_rgb": _psnr(pred, target),
        "ssim_rgb": _ssim(pred, target, 2),
    }


# --------------------------------------------------------------------------- float -> uint8
def to_uint8(x, layout: Optional[str] = None) -> np.ndarray:
    """Float RGB in [0, 1] (HWC, CHW or 1xCHW) -> the uint8 HxWx3 image exactly as saved.

    Values are clipped to [0, 1], multiplied by 255 in float64 and rounded half up
    (``floor(v * 255 + 0.5)``, = MATLAB ``im2uint8``'s round-half-away for non-negative values).
    ``layout`` is "HWC" or "CHW" (a leading batch axis of 1 is dropped); by default it is
    inferred from where the size-3 axis is, and an ambiguous shape (3xHx3) must name it.
    """
    if hasattr(x, "asnumpy"):  # a MindSpore Tensor
        x = x.asnumpy()
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"to_uint8 expects a float image in [0, 1], got {x.dtype}")
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
        layout = layout or "CHW"
    if x.ndim != 3:
        raise ValueError(f"to_uint8 expects HxWx3, 3xHxW or 1x3xHxW, got shape {x.shape}")
    if layout is None:
        if x.shape[0] == 3 and x.shape[2] == 3:
            raise ValueError(f"ambiguous layout for shape {x.shape}: pass layout='HWC' or 'CHW'")
        layout = "CHW" if x.shape[0] == 3 else "HWC"
    if layout == "CHW":
        x = np.transpose(x, (1, 2, 0))
    elif layout != "HWC":
        raise ValueError(f"layout must be 'HWC' or 'CHW', got {layout!r}")
    if x.shape[2] != 3:
        raise ValueError(f"expected 3 colour channels in layout {layout}, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("image contains NaN or inf; refusing to save/score it")
    v = np.clip(x.astype(np.float64), 0.0, 1.0)
    return np.floor(v * 255.0 + 0.5).astype(np.uint8)


# --------------------------------------------------------------------------- accumulator
def fmt_number(value, digits: int = 4, missing: str = "–") -> str:
    """Fixed-point text for a score or a table cell: ``missing`` for None, inf/nan kept readable
    (used by every table and CSV the project writes)."""
    if value is None:
        return missing
    return f"{value:.{digits}f}" if math.isfinite(value) else str(value)


class MetricAccumulator:
    """Per-image rows (name, task, psnr_y, ssim_y, psnr_rgb, ssim_rgb), means and CSV output.

    ``task`` groups rows (e.g. "rain"/"snow" or a benchmark name); means are reported per task
    and over all rows ("all"). An ``inf`` PSNR (identical images) makes its mean ``inf``.
    """

    def __init__(self, set_name: str = "", crop_border: int = 0):
        self.set_name = set_name
        self.crop_border = crop_border
        self.rows: List[dict] = []

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def protocol(self) -> str:
        """The protocol line for this accumulator's settings."""
        return describe_protocol(self.crop_border)

    def add(self, name: str, pred: np.ndarray, target: np.ndarray, task: str = "") -> dict:
        """Score one uint8 pair and store its row; returns the row."""
        scores = score_pair(pred, target, self.crop_border)
        return self.add_row(name, task, **scores)

    def add_row(self, name: str, task: str, psnr_y: float, ssim_y: float, psnr_rgb: float, ssim_rgb: float) -> dict:
        """Store precomputed scores (e.g. gathered from other workers); returns the row."""
        if task == "all":
            raise ValueError('task name "all" is reserved for the overall mean')
        row = {
            "name": str(name),
            "task": str(task),
            "psnr_y": float(psnr_y),
            "ssim_y": float(ssim_y),
            "psnr_rgb": float(psnr_rgb),
            "ssim_rgb": float(ssim_rgb),
        }
        self.rows.append(row)
        return row

    def means(self) -> Dict[str, dict]:
        """{"all": {...}, <task>: {...}}: metric means and "count" per group (tasks sorted)."""
        if not self.rows:
            raise ValueError("no images were scored")
        groups: Dict[str, List[dict]] = {"all": self.rows}
        for task in sorted({r["task"] for r in self.rows if r["task"]}):
            groups[task] = [r for r in self.rows if r["task"] == task]
        out = {}
        for key, rows in groups.items():
            out[key] = {m: float(np.mean([r[m] for r in rows])) for m in METRICS}
            out[key]["count"] = len(rows)
        return out

    def summary_lines(self) -> List[str]:
        """Human-readable result lines, the protocol first."""
        title = f"[{self.set_name}] " if self.set_name else ""
        lines = [f"{title}protocol: {self.protocol}"]
        for key, m in self.means().items():
            lines.append(
                f"{title}{key}: n={m['count']} PSNR-Y {fmt_number(m['psnr_y'], 4)} "
                f"SSIM-Y {fmt_number(m['ssim_y'], 4)} | PSNR-RGB {fmt_number(m['psnr_rgb'], 4)} "
                f"SSIM-RGB {fmt_number(m['ssim_rgb'], 4)}"
            )
        return lines

    def write_csv(self, path: str, include_means: bool = False) -> str:
        """Write per-image rows (columns ``COLUMNS``); optionally mean rows named "<mean>"."""
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        rows: Iterable[dict] = list(self.rows)
        if include_means and self.rows:
            rows = list(rows) + [
                dict(name="<mean>", task=k, **{m: v[m] for m in METRICS}) for k, v in self.means().items()
            ]
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(COLUMNS)
            for r in rows:
                writer.writerow(
                    [
                        r["name"],
                        r["task"],
                        fmt_number(r["psnr_y"], 6),
                        fmt_number(r["ssim_y"], 8),
                        fmt_number(r["psnr_rgb"], 6),
                        fmt_number(r["ssim_rgb"], 8),
                    ]
                )
        return path
