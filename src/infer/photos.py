"""Restoring a user's photos (infer.py): listing, output names, comparisons, per-file reports.

Inputs: one image file, or a folder searched recursively for JPEG/PNG/TIFF/BMP/WebP/PNM files.
Each output is an 8-bit RGB PNG at the input's path relative to the
input folder with the extension replaced by ``.png`` (``a/b.jpg`` -> ``OUT/a/b.png``); when two
inputs would get the same name (``x.jpg`` and ``x.tif``) both keep their extension
(``x.jpg.png``, ``x.tif.png``). Grayscale, RGBA (alpha dropped) and 16-bit inputs are decoded to
8-bit RGB by ``data.image_io.read_rgb``, with the EXIF orientation applied (``apply_exif=True``),
so a phone photo comes out the way viewers show it (a portrait stays portrait). ``--compare``
also writes input | restored side by side under ``OUT/compare/`` with the same relative names;
``--compare_with`` adds the restorations of other checkpoints as further panels, to the right.
The panels are plain images separated by white gaps (no labels drawn); ``OUT/compare/README.txt``
names them, left to right.

Nothing is left out silently. ``list_inputs`` returns, besides the images, every entry of the
folder that is not one, with the reason (:class:`Skipped`): other file types (``.gif``, ``.txt``,
...), hidden files and folders (not searched), folders named like images (``fake.jpg/``: searched
like any folder, never read as an image) and special files (FIFOs, sockets). A file with an image
extension that cannot be read (a text file named ``.png``, a truncated JPEG) is a failure
(:class:`Failure`). infer.py names each skipped and each failed file on its own line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..data.image_io import ImageReadError, is_image_file, read_rgb, write_rgb
from ..metrics import to_uint8
from .cli import ProgressLine
from .engine import Restorer
from ..logs import get_logger

logger = get_logger(__name__)

__all__ = [
    "Failure",
    "InferReport",
    "Skipped",
    "compare_image",
    "compare_key",
    "list_inputs",
    "output_names",
    "restore_files",
    "skip_reason",
]

COMPARE_DIR = "compare"
COMPARE_KEY = "README.txt"  # names the panels of the comparison images, left to right
GAP = 8  # white pixels between the panels of a comparison image


@dataclass
class Failure:
    """An image file that could not be restored (exit code 1)."""

    path: str
    reason: str


@dataclass
class Skipped:
    """An entry of the input folder that is not an image file (listed; exit code unaffected)."""

    path: str
    reason: str


@dataclass
class InferReport:
    done: List[str] = field(default_factory=list)
    failed: List[Failure] = field(default_factory=list)


SUPPORTED = "JPEG, PNG, TIFF, BMP, WebP, PNM, HEIC/HEIF"
# image formats people have that OpenCV (as shipped in the wheel) cannot read
UNSUPPORTED_IMAGES = {
    ".gif": "GIF",
    ".avif": "AVIF",
    ".jp2": "JPEG 2000",
    ".jxl": "JPEG XL",
    ".svg": "SVG",
    ".ico": "ICO",
    ".psd": "PSD",
    ".dng": "DNG (raw)",
    ".cr2": "CR2 (raw)",
    ".nef": "NEF (raw)",
    ".arw": "ARW (raw)",
    ".exr": "OpenEXR",
}


def skip_reason(name: str) -> str:
    """Why a file named ``name`` is not read as an image."""
    ext = os.path.splitext(name)[1].lower()
    if ext in UNSUPPORTED_IMAGES:
        return (
            f"{UNSUPPORTED_IMAGES[ext]} images are not supported (supported: {SUPPORTED}); " "convert it to PNG or JPEG"
        )
    if not ext:
        return f"not an image file (no extension; supported: {SUPPORTED})"
    return f"not an image file ({ext}; supported: {SUPPORTED})"


def list_inputs(path: str) -> Tuple[List[Tuple[str, str]], List[Skipped]]:
    """([(image file, path relative to the input)], [Skipped entries]), both sorted by path.

    A single file is always tried (whatever its name); a folder is searched recursively and only
    regular files with an image extension are taken."""
    if os.path.isfile(path):
        return [(path, os.path.basename(path))], []
    if not os.path.isdir(path):
        raise FileNotFoundError(f"--input {path}: no such file or folder")
    found, skipped = [], []
    for dirpath, dirnames, files in os.walk(path):
        for d in sorted(dirnames):
            full = os.path.join(dirpath, d)
            if d.startswith("."):
                skipped.append(Skipped(full + os.sep, "hidden folder, not searched"))
            elif os.path.islink(full):  # os.walk does not follow links to folders
                skipped.append(Skipped(full + os.sep, "link to a folder, not followed"))
            elif is_image_file(d):
                skipped.append(
                    Skipped(full + os.sep, "a folder named like an image, not an image " "(searched like any folder)")
                )
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and not os.path.islink(os.path.join(dirpath, d))
        )
        for name in sorted(files):
            full = os.path.join(dirpath, name)
            if name.startswith("."):
                skipped.append(Skipped(full, "hidden file"))
            elif not is_image_file(name):
                skipped.append(Skipped(full, skip_reason(name)))
            elif os.path.exists(full) and not os.path.isfile(full):
                skipped.append(Skipped(full, "not a regular file (a FIFO, socket or device)"))
            else:  # a broken link fails when read, and is reported as a failure
                found.append((full, os.path.relpath(full, path)))
    return found, sorted(skipped, key=lambda s: s.path)


def output_names(rels: List[str]) -> List[str]:
    """Relative output names: extension -> .png; clashing names keep their extension."""
    plain = [os.path.splitext(r)[0] + ".png" for r in rels]
    counts = {}
    for p in plain:
        key = os.path.normcase(p)
        counts[key] = counts.get(key, 0) + 1
    return [p if counts[os.path.normcase(p)] == 1 else r + ".png" for p, r in zip(plain, rels)]


def compare_image(before: np.ndarray, *after: np.ndarray) -> np.ndarray:
    """uint8 side-by-side image: input | white gap | restored (| white gap | restored ...)."""
    gap = np.full((before.shape[0], GAP, 3), 255, np.uint8)
    parts = [before]
    for panel in after:
        parts += [gap, panel]
    return np.concatenate(parts, axis=1)


def compare_key(names: Sequence[str]) -> str:
    """The text of ``OUT/compare/README.txt``: what each panel shows, left to right."""
    lines = [f"Each image here is a photo and its restorations side by side ({GAP}-pixel white gaps), left to right:"]
    lines += [f"  {i}. {name}" for i, name in enumerate(names, 1)]
    return "\n".join(lines) + "\n"


def _describe(r) -> str:
    how = "auto" if r.auto else "forced"
    if r.confidence is None and not r.auto:  # a given task runs its own head only
        return f"{r.task} ({how})"
    if r.confidence is None:
        return f"{r.task} ({how}, no recognition head)"
    return f"{r.task} ({how}, p={r.confidence:.3f})"


def restore_files(
    restorer,
    inputs: List[Tuple[str, str]],
    output_dir: str,
    task: str = "auto",
    compare: bool = False,
    progress: Optional[ProgressLine] = None,
    compare_with: Sequence[Tuple[str, Restorer]] = (),
    name: str = "restored",
) -> InferReport:
    """Restore every (file, relative path); a file that cannot be read or written is reported
    and skipped. Prints one line per file.

    ``compare`` writes the side-by-side images: the input, ``restorer``'s restoration, then that of
    each ``(name, Restorer)`` of ``compare_with`` (which implies ``compare``; each restores the
    photo on its own, its restorations are not saved apart), and README.txt naming the panels
    ("input", ``name``, the ``compare_with`` names)."""
    progress = progress or ProgressLine()
    compare = compare or bool(compare_with)
    report = InferReport()
    outs = output_names([rel for _, rel in inputs])
    n = len(inputs)
    for i, ((src, rel), out_rel) in enumerate(zip(inputs, outs), 1):
        prefix = f"[{i}/{n}] {rel}"
        try:
            image = read_rgb(src, apply_exif=True)  # as viewers show it
            progress.show(f"{prefix} {image.shape[1]}x{image.shape[0]}")
            result = restorer.restore(image, task=task, progress=lambda d, t: progress.bar(prefix, d, t))
            restored = to_uint8(result.image)
            others = [
                (other, r.restore(image, task=task, progress=lambda d, t: progress.bar(f"{prefix} ({other})", d, t)))
                for other, r in compare_with
            ]
            dst = os.path.join(output_dir, out_rel)
            write_rgb(dst, restored)
            if compare:
                panels = [to_uint8(o.image) for _, o in others]
                write_rgb(os.path.join(output_dir, COMPARE_DIR, out_rel), compare_image(image, restored, *panels))
        except (ImageReadError, OSError, ValueError) as exc:
            progress.clear()
            reason = exc.reason if isinstance(exc, ImageReadError) else str(exc)
            report.failed.append(Failure(src, reason))
            logger.info(f"{prefix}: FAILED: {reason}")
            continue
        except MemoryError:
            progress.clear()
            report.failed.append(Failure(src, "out of memory"))
            logger.info(f"{prefix}: FAILED: out of memory; use a smaller --tile")
            continue
        progress.clear()
        report.done.append(dst)
        logger.info(
            f"{prefix} -> {dst} | {_describe(result)} | {image.shape[1]}x{image.shape[0]}, "
            f"{result.tiles} tile{'s' if result.tiles != 1 else ''}, {result.seconds:.2f} s"
            + "".join(f" | {other}: {_describe(o)}" for other, o in others)
        )
    if compare and report.done:
        with open(os.path.join(output_dir, COMPARE_DIR, COMPARE_KEY), "w", encoding="utf-8") as fh:
            fh.write(compare_key(["input", name] + [other for other, _ in compare_with]))
    return report
