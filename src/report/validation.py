"""Checkpoints compared on the validation data (``report.py validate``): never a test set.

What training's validation measures, per render instead of as one mean: PSNR-Y of each rain and
snow render restored by its own task's head and the recognition head's probability of the true
task. On corpus validation photos (``data.format: corpus``, rain among the tasks) also the
lightest-rain row, which training does not measure: each photo rendered as the lightest rain
(level 0, no veil) and restored by the rain head, its mean gain over the input, its worst photo and
how many photos it makes worse. Every checkpoint after the first is also compared with the first
render by render (paired): the mean difference, its standard error and on how many renders it is
better. That tells a difference between candidates from the 0.1-0.3 dB that consecutive
epochs of one run differ by.
"""

import math

import numpy as np

from ..data.labels import TASKS
from ..infer.engine import softmax
from ..metrics import psnr_y, to_uint8
from ..data.corpus import lightest_rain_samples
from ..data.pipeline import active_tasks
from ..train.validate import validation_samples
from .common import md_table


def score_checkpoint(restorer, samples, light=()):
    """Per-render scores of one restorer: ``weather`` (PSNR-Y), ``label``, ``p_true`` for the rain
    and snow ``samples``; ``light`` (gain over the input) and ``light_names`` for the lightest-rain
    renders ``light`` (input, target, name), restored by the rain head."""
    out = {"weather": [], "label": [], "p_true": [], "light": [], "light_names": []}
    for inp, tgt, label, _ in samples:
        r = restorer.restore(inp, task=TASKS[label], recognize=True)
        out["weather"].append(psnr_y(to_uint8(r.image), tgt))
        out["label"].append(int(label))
        out["p_true"].append(None if r.scores is None else float(softmax(r.scores)[label]))
    for inp, tgt, name in light:
        r = restorer.restore(inp, task="rain", recognize=False)
        out["light"].append(psnr_y(to_uint8(r.image), tgt) - psnr_y(inp, tgt))
        out["light_names"].append(name)
    return out


def paired(values, reference):
    """Mean, standard error and wins of ``values - reference`` (per render)."""
    d = np.asarray(values, np.float64) - np.asarray(reference, np.float64)
    se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else float("nan")
    return {"mean": float(d.mean()), "se": se, "better": int((d > 0).sum()), "n": int(len(d))}


def summarize(name, scores, reference=None):
    """One checkpoint's row: means per task, recognition, the light row, and the paired comparison."""
    w, label = np.asarray(scores["weather"]), np.asarray(scores["label"])
    row = {"checkpoint": name, "psnr_y": float(w.mean()), "n": int(len(w))}
    for i, task in enumerate(TASKS):
        row[f"{task}_psnr_y"] = float(w[label == i].mean()) if (label == i).any() else None
    known = [p for p in scores["p_true"] if p is not None]
    row["recognition"] = float(np.mean(known)) if known else None
    if scores["light"]:
        light = np.asarray(scores["light"])
        worst = int(np.argmin(light))
        row["light"] = {
            "gain": float(light.mean()),
            "worst": float(light[worst]),
            "worst_photo": scores["light_names"][worst],
            "worse": int((light < 0).sum()),
            "n": int(len(light)),
        }
    if reference is not None:
        row["paired"] = paired(scores["weather"], reference["weather"])
    return row


def lightest_rain(data_cfg, crop, max_images):
    """The lightest-rain renders of the corpus validation photos; none for other data or without rain."""
    if data_cfg.get("format") != "corpus" or "rain" not in active_tasks(data_cfg):
        return []
    return lightest_rain_samples(data_cfg, crop, max_images)


def compare_checkpoints(restorers, data_cfg, sets, crop, max_images):
    """Rows (``summarize``) of the named restorers, in order, on the validation samples."""
    samples = validation_samples(data_cfg, sets, crop, max_images)
    light = lightest_rain(data_cfg, crop, max_images)
    rows, first = [], None
    for name, restorer in restorers:
        scores = score_checkpoint(restorer, samples, light)
        rows.append(summarize(name, scores, first))
        first = first or scores
    return rows


def format_markdown(rows, what):
    """The comparison table, with what was validated (``what``) and how the paired column reads."""
    table = []
    for r in rows:
        light, p = r.get("light"), r.get("paired")
        table.append(
            [
                r["checkpoint"],
                f"{r['psnr_y']:.3f}",
                " / ".join("–" if r[f"{t}_psnr_y"] is None else f"{r[f'{t}_psnr_y']:.3f}" for t in TASKS),
                "–" if r["recognition"] is None else f"{r['recognition']:.4f}",
                "–" if not light else f"{light['gain']:+.3f}",
                "–" if not light else f"{light['worst']:+.2f} ({light['worst_photo']})",
                "–" if not light else f"{light['worse']} of {light['n']}",
                "reference" if not p else f"{p['mean']:+.3f} ± {p['se']:.3f}, {p['better']} of {p['n']}",
            ]
        )
    head = [
        "checkpoint",
        "PSNR-Y (dB)",
        "rain / snow",
        "recognition",
        "lightest rain: mean gain",
        "worst photo",
        "worse",
        "paired vs the first: mean ± SE, better on",
    ]
    return (
        f"Validation ({what}; never a test set). Paired: PSNR-Y difference to the first checkpoint per "
        "render, its mean ± standard error and on how many renders it is higher.\n\n" + "\n".join(md_table(head, table))
    )
