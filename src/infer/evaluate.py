"""Evaluation on paired test sets (eval.py): restore, save 8-bit PNGs, score, print a table.

Each restored image is converted once with ``metrics.to_uint8``; that array is what is saved
(``--save_images``) and what is scored, at the original size. Scores follow
``metrics.describe_protocol()`` (MATLAB Y and RGB PSNR/SSIM). The input's own scores (input vs
target) are reported next to the restored ones. Pairs are read as stored: EXIF orientation is
not applied (``data.image_io.read_rgb(apply_exif=False)``, the training data's rule), so an input
and its target stay aligned even if only one of them carries an Orientation tag.

Outputs under ``output_dir``, per set (``<set>`` with "/" replaced by "_"):
``<set>/metrics.csv`` (restored, columns ``metrics.COLUMNS``), ``<set>/input_metrics.csv`` (the
input's scores), ``<set>/images/<name>.png`` (with --save_images), and ``summary.json`` (means per
set, per task and overall, the recognition head's choices, the protocol).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Dict, Iterable, List, Optional

from ..data.image_io import write_rgb
from ..errors import UsageError
from ..data.pipeline import iterate_test_set
from ..metrics import METRICS, MetricAccumulator, describe_protocol, fmt_number, to_uint8
from .cli import ProgressLine
from ..logs import get_logger

logger = get_logger(__name__)

__all__ = ["FOLDER_BENCHMARK", "evaluate", "folder_data_cfg", "format_table", "set_slug"]

FOLDER_BENCHMARK = "folder"
HEADER = ("set", "task", "n", "image", "PSNR-Y", "SSIM-Y", "PSNR-RGB", "SSIM-RGB")


def folder_data_cfg(
    input_dir: str, target_dir: str, task: str, target_name: str = "{name}", base: Optional[dict] = None
):
    """A data config holding one paired folder as set ``folder/<input folder name>``."""
    if task not in ("rain", "snow"):
        raise UsageError(
            "--input_dir/--target_dir: say which task the pairs are with --task rain "
            "or --task snow (or --set_task when --task auto)"
        )
    for what, path in (("--input_dir", input_dir), ("--target_dir", target_dir)):
        if not os.path.isdir(path):
            raise UsageError(f"{what} {path}: not a folder")
    split = os.path.basename(os.path.normpath(os.path.abspath(input_dir))) or "test"
    cfg = dict(base or {})
    cfg["roots"] = dict(cfg.get("roots") or {}, **{FOLDER_BENCHMARK: os.path.sep})
    spec = {
        "reader": "paired",
        "input": os.path.abspath(input_dir),
        "target": os.path.abspath(target_dir),
        "target_name": target_name,
    }
    cfg["benchmarks"] = dict(cfg.get("benchmarks") or {}, **{FOLDER_BENCHMARK: {"task": task, "splits": {split: spec}}})
    return cfg, f"{FOLDER_BENCHMARK}/{split}"


def set_slug(set_name: str) -> str:
    return set_name.replace("/", "_").replace(os.path.sep, "_")


def _rows(label: str, task: str, means_in: dict, means_out: dict) -> List[tuple]:
    n = str(means_out["count"])
    return [
        (label, task, n, "input") + tuple(fmt_number(means_in[m]) for m in METRICS),
        (label, task, n, "restored") + tuple(fmt_number(means_out[m]) for m in METRICS),
    ]


def format_table(summary: dict) -> List[str]:
    """The printed result: protocol line, then one input and one restored row per set, per
    task (when more than one set) and overall."""
    rows = [HEADER]
    for name, s in summary["sets"].items():
        rows += _rows(name, s["task"], s["input"], s["restored"])
    if len(summary["sets"]) > 1:
        for task, t in summary["tasks"].items():
            rows += _rows(f"all:{task}", task, t["input"], t["restored"])
        rows += _rows("all", "-", summary["all"]["input"], summary["all"]["restored"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = [f"protocol: {summary['protocol']}"]
    if summary.get("forward"):
        whole = sum(s.get("whole_images", 0) for s in summary["sets"].values())
        total = sum(s["restored"].get("count", 0) for s in summary["sets"].values())
        lines.append(f"forward: {summary['forward']}" + (f" ({whole} of {total} images whole)" if total else ""))
    for r in rows:
        lines.append("  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    return lines


def _forward_text(restorer) -> str:
    """How images go through the network: whole, or tiled above a size."""
    if getattr(restorer.backend, "fixed_tile", None):
        return f"tiles of {restorer.tile}² (the exported model's fixed shape), overlap {restorer.overlap}"
    if restorer.tile == 0:
        return "whole images"
    limit = f"{restorer.tile}×{restorer.tile}"
    if restorer.whole_max_pixels:
        limit = f"{restorer.whole_max_pixels / 1e6:.2f} Mpixels or {limit}"
    return f"whole images up to {limit}, larger ones in {restorer.tile}² tiles (overlap {restorer.overlap})"


def evaluate(
    restorer,
    data_cfg,
    set_names: Iterable[str],
    output_dir: str,
    task: Optional[str] = None,
    save_images: bool = False,
    progress: Optional[ProgressLine] = None,
) -> dict:
    """Evaluate ``restorer`` on each set; ``task`` None = each set's own task, else auto|rain|snow.

    Returns the summary (also written to ``output_dir/summary.json``)."""
    progress = progress or ProgressLine()
    os.makedirs(output_dir, exist_ok=True)
    all_in, all_out = MetricAccumulator("all"), MetricAccumulator("all")
    summary: Dict = {
        "protocol": describe_protocol(0),
        "task_mode": task or "set",
        "forward": _forward_text(restorer),
        "sets": {},
    }
    for set_name in set_names:
        samples = iterate_test_set(data_cfg, set_name)
        acc_in, acc_out = MetricAccumulator(set_name), MetricAccumulator(set_name)
        folder = os.path.join(output_dir, set_slug(set_name))
        heads, recognized, set_task, n, whole = Counter(), Counter(), None, len(samples), 0
        for i, s in enumerate(samples, 1):
            prefix = f"[{set_name} {i}/{n}] {s.name}"
            progress.show(prefix)
            head = task or s.task
            whole += restorer.plan(*s.input.shape[:2]) == 1
            r = restorer.restore(s.input, task=head, recognize=True, progress=lambda d, t: progress.bar(prefix, d, t))
            out = to_uint8(r.image)
            if save_images:
                write_rgb(os.path.join(folder, "images", os.path.splitext(s.name)[0] + ".png"), out)
            for acc, glob, img in ((acc_out, all_out, out), (acc_in, all_in, s.input)):
                row = acc.add(s.name, img, s.target, task=s.task)
                glob.add_row(**row)
            heads[r.task] += 1
            if r.scores is not None:  # what the recognition head says, whatever head ran
                recognized["rain" if r.scores[0] >= r.scores[1] else "snow"] += 1
            set_task = s.task
        progress.clear()
        if not len(acc_out):
            raise UsageError(f"{set_name}: no image pairs could be evaluated")
        acc_out.write_csv(os.path.join(folder, "metrics.csv"))
        acc_in.write_csv(os.path.join(folder, "input_metrics.csv"))
        summary["sets"][set_name] = {
            "task": set_task,
            "head": dict(heads),
            "recognized": dict(recognized),
            "csv": os.path.join(folder, "metrics.csv"),
            "input": acc_in.means()["all"],
            "restored": acc_out.means()["all"],
            "skipped": list(getattr(samples, "skipped", [])),
            "whole_images": int(whole),
        }
        if task == "auto":
            right = heads.get(set_task, 0)
            logger.info(
                f"[{set_name}] recognition chose {set_task} for {right}/{len(acc_out)} images "
                f"(heads used: {', '.join(f'{k} {v}' for k, v in sorted(heads.items()))})"
            )
    means_in, means_out = all_in.means(), all_out.means()
    summary["tasks"] = {t: {"input": means_in[t], "restored": means_out[t]} for t in means_out if t != "all"}
    summary["all"] = {"input": means_in["all"], "restored": means_out["all"]}
    with open(os.path.join(output_dir, "summary.json"), "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=2, default=float)
        fh.write("\n")
    return summary
