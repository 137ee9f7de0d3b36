"""Host side of the Ascend 310 / MindSpore Lite pipeline: images -> .bin tiles -> images + metrics.

It does exactly what ``infer.py``/``eval.py`` do with a fixed-tile model (``engine.Restorer``):
the image (``uint8 / 255`` as float32) is reflect-padded at the bottom/right to a multiple of the
network stride (``engine.pad_image_to_multiple``, the network's own rule), cut by
``split_tiles(padded, tile, overlap)`` (which pads further, up to the tile, if the image is
smaller), and after blending (``TileMerger``) the result is cropped back to the original size.

``preprocess`` writes each tile as a raw float32 1x3xTxT file ``<bin_dir>/<image>_t<k>.bin``
(k in the manifest's row-major tile order), plus ``manifest.json``:

    {"version", "tile", "overlap", "multiple", "input_shape", "dtype", "bin_dir",
     "export": <the model's export JSON> | null, "export_json", "task": "auto" | "rain" | "snow",
     "images": [{"name", "input", "target", "height", "width", "exif",  # exif: orientation applied
                 "padding": {"bottom", "right", "mode"},     # stride padding (reflect|edge)
                 "tiles": [file names], "positions": [[y, x], ...],
                 "tiling": <split_tiles manifest of the stride-padded image>,
                 "view": null | {"height", "width", "tiles", "tiling"}}]}

``view``: a photo larger than the recognition view (``engine.RECOGNITION_VIEW``, 512 px long side)
is also written shrunk to it, as tiles ``<image>_v<k>.bin``, when the model has a recognition
output and preprocess runs for ``--task auto`` (the default): ``--task auto`` decides on the view's
scores, as ``infer.py`` does, then reads only the chosen head's tiles of the photo. A manifest
preprocessed for rain or snow has no views, and postprocess refuses blind mode on it.

The C++ program (``ascend310_infer/out/main``) writes output ``i`` of tile ``<stem>.bin`` to
``<result_dir>/<stem>_<i>.bin``. Which output holds the image (``output_plan``):

=================  ===========  =========================================================
exported task      --task       image read from
=================  ===========  =========================================================
rain / snow / auto (same)       output 0 (the only output)
all                rain         output 0 (derain)
all                snow         output 1 (desnow)
all                auto         output 0 or 1 per image, by the recognition output 2
                                (rain if score >= snow) of the image's view when it has one,
                                else of its tiles (scores averaged by area share)
=================  ===========  =========================================================

Orientation: an image without a target (a user's photo) is read with its EXIF orientation
applied, as ``infer.py`` does (``read_rgb(apply_exif=True)``), so the output is oriented as viewers
show the photo; an image with a target (a scored pair), and the targets, keep the stored pixels
(the evaluation rule), so the pair stays aligned. ``height``/``width`` are those of the image as
read. ``postprocess`` with a ``target_dir`` for images preprocessed without targets refuses an
image whose orientation was changed (re-run ``preprocess.py --target_dir``).

``postprocess`` merges the tiles (``TileMerger``: the same blending as in-process tiling), turns
them into 8-bit images with ``to_uint8`` (clip once, after blending), writes them, and scores them
against the targets with ``MetricAccumulator`` (per-image CSV, summary with the protocol line).
"""

from __future__ import annotations

import json
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..data.image_io import is_image_file, read_rgb, write_rgb
from ..metrics import MetricAccumulator, to_uint8
from .engine import DEFAULT_OVERLAP, pad_image_to_multiple, recognition_view, task_by_scores
from .sidecar import read_sidecar
from .tiling import TileMerger, split_tiles
from ..errors import UsageError
from ..logs import get_logger

logger = get_logger(__name__)

__all__ = ["PipelineError", "default_overlap", "list_images", "output_plan", "postprocess", "preprocess", "run_tiles"]

MANIFEST_VERSION = 2  # 2: the recognition view of a large photo
IMAGE_TASKS = ("rain", "snow", "auto")


class PipelineError(UsageError):
    """A problem with the inputs of a pipeline step; the message names the file and the fix."""


def default_overlap(tile: int) -> int:
    """Overlap used when none is given: infer.py's default (32 px) if smaller than the tile,
    else tile // 4."""
    return DEFAULT_OVERLAP if DEFAULT_OVERLAP < int(tile) else int(tile) // 4


# --------------------------------------------------------------------------- listing
def _images_in(folder: str) -> List[str]:
    if not os.path.isdir(folder):
        raise PipelineError(f"{folder}: not a directory")
    return sorted(f for f in os.listdir(folder) if is_image_file(f) and os.path.isfile(os.path.join(folder, f)))


def _find_target(target_dir: str, fname: str) -> Optional[str]:
    """Target with the same file name, else the same stem with any image extension."""
    same = os.path.join(target_dir, fname)
    if os.path.isfile(same):
        return same
    stem = os.path.splitext(fname)[0]
    matches = [f for f in _images_in(target_dir) if os.path.splitext(f)[0] == stem]
    if len(matches) > 1:
        raise PipelineError(f"{target_dir}: several targets for {fname}: {', '.join(matches)}")
    return os.path.join(target_dir, matches[0]) if matches else None


def list_images(data_path: str, target_dir: Optional[str] = None) -> List[dict]:
    """[{name, input, target}] for a folder of images, or a paired folder (``input/`` +
    ``target/``), or a folder plus ``target_dir``. ``name`` is unique (the file stem, or
    ``<stem>_<ext>`` when two files share a stem)."""
    data_path = os.path.abspath(data_path)
    if (
        target_dir is None
        and os.path.isdir(os.path.join(data_path, "input"))
        and os.path.isdir(os.path.join(data_path, "target"))
    ):
        input_dir, target_dir = os.path.join(data_path, "input"), os.path.join(data_path, "target")
    else:
        input_dir = data_path
    files = _images_in(input_dir)
    if not files:
        raise PipelineError(f"{input_dir}: no images found ({', '.join(('.png', '.jpg', '...'))})")
    stems = [os.path.splitext(f)[0] for f in files]
    items = []
    for fname, stem in zip(files, stems):
        name = stem if stems.count(stem) == 1 else stem + "_" + os.path.splitext(fname)[1][1:]
        target = None
        if target_dir is not None:
            target = _find_target(os.path.abspath(target_dir), fname)
            if target is None:
                raise PipelineError(f"no target for {os.path.join(input_dir, fname)} in {target_dir}")
        items.append({"name": name, "input": os.path.join(input_dir, fname), "target": target})
    return items


def to_float(rgb: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 -> float32 in [0, 1] (the network's input convention)."""
    return rgb.astype(np.float32) / np.float32(255.0)


# --------------------------------------------------------------------------- preprocess
def _export_info(export_json: Optional[str]) -> Optional[dict]:
    """The export JSON, given the JSON itself or the model file beside it (no MindSpore import)."""
    if export_json is None:
        return None
    return read_sidecar(export_json, PipelineError, "re-export or pass --tile")


def _multiple(info: Optional[dict]) -> int:
    """The network stride recorded at export (else patch_size x window_size, 4 x 8 = 32)."""
    if not info:
        return 32
    if info.get("multiple"):
        return int(info["multiple"])
    cfg = info.get("model_config") or {}
    return int(cfg.get("patch_size") or 4) * int(cfg.get("window_size") or 8)


def preprocess(
    data_path: str,
    output_path: str,
    tile: Optional[int] = None,
    overlap: Optional[int] = None,
    target_dir: Optional[str] = None,
    export_json: Optional[str] = None,
    task: Optional[str] = None,
) -> str:
    """Write the tiles of every image and ``<output_path>/manifest.json``; returns its path.

    The tile size comes from ``export_json`` (the sidecar of the exported model, or the model
    file itself) unless ``tile`` is given; both given must agree. ``task`` rain or snow skips the
    recognition view tiles (postprocess will not need them); None or auto writes them.
    """
    task = _check_task(task)
    info = _export_info(export_json)
    if info is not None:
        th, tw = int(info["tile"]["height"]), int(info["tile"]["width"])
        if th != tw:
            raise PipelineError(
                f"{export_json}: the model was exported at {th}x{tw}; tiling needs "
                "square tiles (export with --height equal to --width)"
            )
        if int(info.get("batch_size", 1)) != 1:
            raise PipelineError(
                f"{export_json}: exported with batch_size {info['batch_size']}; "
                "the .bin pipeline writes one tile per file (export with batch_size 1)"
            )
        if tile is not None and int(tile) != th:
            raise PipelineError(f"--tile {tile} differs from the exported tile size {th}")
        tile = th
    if tile is None:
        raise PipelineError("give the exported model's JSON (--mindir_json) or --tile")
    tile = int(tile)
    overlap = default_overlap(tile) if overlap is None else int(overlap)
    output_path = os.path.abspath(output_path)
    bin_dir = os.path.join(output_path, "tiles")
    os.makedirs(bin_dir, exist_ok=True)
    stale = [f for f in os.listdir(bin_dir) if f.endswith(".bin")]
    for f in stale:  # a previous run's tiles would be fed to the model too
        os.remove(os.path.join(bin_dir, f))
    multiple = _multiple(info)
    with_view = task == "auto" and (info is None or "recognition" in [o.get("name") for o in info.get("outputs", [])])
    entries = []
    total = 0
    for item in list_images(data_path, target_dir):
        exif = item["target"] is None  # a user's photo: oriented as viewers show it
        rgb = read_rgb(item["input"], apply_exif=exif)
        h, w = rgb.shape[:2]
        padded = pad_image_to_multiple(to_float(rgb), multiple)
        tiles, tiling = split_tiles(padded, tile, overlap)
        names = []
        for k, t in enumerate(tiles):
            fname = f"{item['name']}_t{k:04d}.bin"
            np.ascontiguousarray(t[None], dtype=np.float32).tofile(os.path.join(bin_dir, fname))
            names.append(fname)
        ph, pw = padded.shape[0] - h, padded.shape[1] - w
        mode = "none" if not (ph or pw) else ("reflect" if (ph < h and pw < w) else "edge")
        view = None
        if with_view:
            shrunk = recognition_view(to_float(rgb))
            if shrunk.shape != (h, w, 3):  # a photo larger than the view: recognised on its view
                vtiles, vtiling = split_tiles(pad_image_to_multiple(shrunk, multiple), tile, overlap)
                view = {"height": shrunk.shape[0], "width": shrunk.shape[1], "tiles": [], "tiling": vtiling}
                for k, t in enumerate(vtiles):
                    fname = f"{item['name']}_v{k:04d}.bin"
                    np.ascontiguousarray(t[None], dtype=np.float32).tofile(os.path.join(bin_dir, fname))
                    view["tiles"].append(fname)
                total += len(vtiles)
        entries.append(
            dict(
                item,
                height=h,
                width=w,
                exif=exif,
                padding={"bottom": ph, "right": pw, "mode": mode},
                tiles=names,
                positions=tiling["positions"],
                tiling=tiling,
                view=view,
            )
        )
        total += len(names)
    manifest = {
        "version": MANIFEST_VERSION,
        "tile": tile,
        "overlap": overlap,
        "multiple": multiple,
        "input_shape": [1, 3, tile, tile],
        "dtype": "float32",
        "bin_dir": bin_dir,
        "export": info,
        "export_json": os.path.abspath(export_json) if export_json else None,
        "task": task,
        "images": entries,
    }
    path = os.path.join(output_path, "manifest.json")
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1)
    os.replace(path + ".tmp", path)
    logger.info(
        f"preprocess: {len(entries)} image(s) -> {total} tile(s) of 1x3x{tile}x{tile} float32 in "
        f"{bin_dir} (overlap {overlap}); manifest {path}"
    )
    return path


# --------------------------------------------------------------------------- postprocess
def _check_task(task: Optional[str]) -> str:
    """``--task`` (None = auto) as one of ``IMAGE_TASKS``; anything else is a one-line error."""
    task = task or "auto"
    if task not in IMAGE_TASKS:
        raise PipelineError(f"--task must be one of {', '.join(IMAGE_TASKS)}, got {task!r}")
    return task


def output_plan(export_task: str, task: Optional[str], num_outputs: int) -> Tuple[str, Dict[str, int]]:
    """(task, {role: output index}) for a model exported with ``export_task``.

    Roles: ``image`` (a single image output), or ``rain``/``snow``/``recognition``."""
    if export_task in IMAGE_TASKS:
        if task not in (None, export_task):
            raise PipelineError(
                f"the model was exported for task {export_task!r} (one image output); "
                f"--task {task} needs an export with --task {task} or all"
            )
        return export_task, {"image": 0}
    if export_task != "all":
        raise PipelineError(f"unknown exported task {export_task!r}")
    task = _check_task(task)
    if task == "auto":
        if num_outputs < 3:
            raise PipelineError(
                "--task auto needs the recognition output, but this model has none "
                "(exported without recognition); use --task rain or snow"
            )
        return task, {"rain": 0, "snow": 1, "recognition": 2}
    return task, {task: 0 if task == "rain" else 1}


def _read_bin(path: str, shape: Sequence[int]) -> np.ndarray:
    if not os.path.isfile(path):
        raise PipelineError(f"{path}: result missing (did the inference step process every tile?)")
    data = np.fromfile(path, dtype=np.float32)
    if data.size != int(np.prod(shape)):
        raise PipelineError(
            f"{path}: {data.size * 4} bytes, expected {int(np.prod(shape)) * 4} "
            f"(float32 {'x'.join(map(str, shape))})"
        )
    return data.reshape(shape)


def _stem(fname: str) -> str:
    return os.path.splitext(fname)[0]


def _merge(result_dir: str, entry: dict, roles: Sequence[str], plan: Dict[str, int], outputs) -> tuple:
    """The blended outputs ``roles`` of the tiles ``entry`` lists (an image's or its view's)."""
    merger = TileMerger(entry["tiling"])
    for fname in entry["tiles"]:
        merger.add(
            tuple(
                _read_bin(os.path.join(result_dir, f"{_stem(fname)}_{plan[r]}.bin"), outputs[plan[r]]["shape"])
                for r in roles
            )
        )
    result = merger.result()
    return tuple(result) if isinstance(result, (tuple, list)) else (result,)


def postprocess(
    manifest_path: str,
    result_dir: str,
    output_dir: str,
    task: Optional[str] = None,
    target_dir: Optional[str] = None,
    export_json: Optional[str] = None,
    csv_path: Optional[str] = None,
    set_name: str = "",
    set_task: Optional[str] = None,
) -> Tuple[Dict[str, np.ndarray], Optional[MetricAccumulator]]:
    """Merge result tiles into 8-bit images in ``output_dir`` and score them if targets exist.

    Returns ({name: uint8 HxWx3}, accumulator or None). Writes ``<output_dir>/<name>.png``,
    ``metrics.csv`` (per image; ``csv_path`` overrides) and ``summary.txt`` when scored.
    The metrics' task column is ``set_task`` (the set's degradation, as eval.py reports it) or,
    if not given, the head used.
    """
    with open(manifest_path, encoding="utf-8") as fh:
        manifest = json.load(fh)
    info = _export_info(export_json) if export_json else manifest.get("export")
    if info is None:
        raise PipelineError(f"{manifest_path} records no exported model; pass --mindir_json")
    outputs = info["outputs"]
    task, plan = output_plan(info["task"], task, len(outputs))
    if task == "auto" and manifest.get("task", "auto") != "auto":
        raise PipelineError(
            f"{manifest_path} was preprocessed for --task {manifest['task']} (no recognition views); "
            "run preprocess.py with --task auto for blind mode, or give postprocess.py that task"
        )
    t = int(manifest["tile"])
    os.makedirs(output_dir, exist_ok=True)
    acc = None
    images, heads = {}, {}
    for entry in manifest["images"]:
        view = entry.get("view") if "recognition" in plan else None
        if view:  # recognised on the view, then only the chosen head's tiles are read
            (score,) = _merge(result_dir, view, ["recognition"], plan, outputs)
            roles = [task_by_scores(score.reshape(-1))]
        else:
            roles = list(plan)
        merged = dict(zip(roles, _merge(result_dir, entry, roles, plan, outputs)))
        if "recognition" in merged:
            chosen = task_by_scores(np.asarray(merged["recognition"]).reshape(-1))
        else:  # "image": an "auto" export chose per tile
            chosen = task if "image" in plan else roles[0]
        img = merged["image" if "image" in plan else chosen]
        heads[chosen] = heads.get(chosen, 0) + 1
        pred = to_uint8(img[: entry["height"], : entry["width"]], layout="HWC")
        images[entry["name"]] = pred
        write_rgb(os.path.join(output_dir, entry["name"] + ".png"), pred)
        target_path = entry.get("target")
        if target_dir is not None:
            target_path = _find_target(os.path.abspath(target_dir), os.path.basename(entry["input"]))
            if target_path is None:
                raise PipelineError(f"no target for {entry['input']} in {target_dir}")
        if target_path:
            if entry.get("exif") and not np.array_equal(
                read_rgb(entry["input"], apply_exif=True), read_rgb(entry["input"])
            ):
                raise PipelineError(
                    f"{entry['input']}: preprocessed without a target, so its EXIF "
                    "orientation was applied and it no longer lines up with "
                    f"{target_path}; re-run preprocess.py with --target_dir"
                )
            if acc is None:
                acc = MetricAccumulator(set_name)
            acc.add(entry["name"], pred, read_rgb(target_path), task=set_task or chosen)
    logger.info(
        f"postprocess: {len(images)} image(s) written to {output_dir} (task {task}, tile {t}; "
        f"heads used: {', '.join(f'{k} {v}' for k, v in sorted(heads.items()))})"
    )
    if acc is not None:
        csv_path = csv_path or os.path.join(output_dir, "metrics.csv")
        acc.write_csv(csv_path)
        lines = acc.summary_lines()
        with open(os.path.join(output_dir, "summary.txt"), "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        for line in lines:
            logger.info(line)
        logger.info(f"per-image scores: {csv_path}")
    return images, acc


# --------------------------------------------------------------------------- stand-in for main
def run_tiles(model_fn: Callable, bin_dir: str, result_dir: str, input_shape: Sequence[int]) -> int:
    """Do what ``ascend310_infer/out/main`` does, in Python: for every ``<stem>.bin`` (sorted)
    run ``model_fn`` (float32 array -> array or tuple) and write output i to
    ``<result_dir>/<stem>_<i>.bin``. Returns the number of tiles."""
    os.makedirs(result_dir, exist_ok=True)
    files = sorted(f for f in os.listdir(bin_dir) if f.endswith(".bin"))
    for fname in files:
        x = _read_bin(os.path.join(bin_dir, fname), input_shape)
        out = model_fn(x)
        out = out if isinstance(out, (tuple, list)) else (out,)
        for i, o in enumerate(out):
            o = o.asnumpy() if hasattr(o, "asnumpy") else np.asarray(o)
            np.ascontiguousarray(o, dtype=np.float32).tofile(os.path.join(result_dir, f"{_stem(fname)}_{i}.bin"))
    return len(files)
