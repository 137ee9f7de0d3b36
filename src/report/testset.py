"""How well a checkpoint does on the test data (``report.py test``): the shipped weights' tables.

Test data (``--data_root``, the layout of the shared data folder; nothing of it is trained on):

- ``real/heavy_rain_pairs`` (Rain100H kind) and ``real/outdoor_rain_test1`` (Outdoor-Rain, rain +
  fog; target = input name up to the second ``_``): PSNR/SSIM of input and output, Y and RGB.
- ``clean/kodak24`` rendered with fixed seeds as light rain, heavy rain and snow (levels
  ``KODAK_RENDERS``), and as the lightest rain the synthesis makes (level 0, no veil: where a
  model that darkens or sharpens clean regions shows it), scored the same way. Every set also
  counts the images the model made worse than its input (output PSNR-Y below the input's).
- Blind mode (``--task auto``): the recognition head's choice for every Kodak render and for the
  real photos without ground truth (``real/photos_rain``, ``real/photos_snow``): confusion counts.

Every image is restored with the derain or desnow head of its own task (as ``eval.py`` does),
except the blind-mode counts, which follow the recognition head. Writes JSON and Markdown.
"""

import json
import os
import re

import numpy as np

from ..data.image_io import is_image_file, read_rgb
from ..data.labels import TASKS
from ..data.synth import add_rain, add_snow
from ..infer.engine import softmax, task_by_scores
from ..metrics import MetricAccumulator, describe_protocol, to_uint8
from .common import ReportError
from ..logs import get_logger

logger = get_logger(__name__)

KODAK_RENDERS = (  # label, task, level, seed (the ablation study's test renders too)
    ("kodak24 light rain", "rain", 0.25, 11),
    ("kodak24 heavy rain", "rain", 0.9, 12),
    ("kodak24 snow", "snow", 0.5, 13),
)
# the lightest rain the synthesis makes: level 0 and no veil (the veil is forced off)
LIGHTEST_RENDER = ("kodak24 lightest rain", "rain", 0.0, 14)
PAIR_SETS = (  # a set whose folder is absent is left out of the report
    ("Rain12 light rain pairs", "real/rain12_pairs", "rain"),
    ("heavy rain pairs", "real/heavy_rain_pairs", "rain"),
    ("rain + fog pairs", "real/outdoor_rain_test1", "rain"),
)
REAL_PHOTOS = (("real rainy photos", "real/photos_rain", "rain"), ("real snowy photos", "real/photos_snow", "snow"))


def _images(folder):
    if not os.path.isdir(folder):
        raise ReportError(f"{folder}: not found; pass --data_root (a folder with clean/ and real/)")
    return sorted(f for f in os.listdir(folder) if is_image_file(f) and os.path.isfile(os.path.join(folder, f)))


def _target_for(target_dir, name):
    if os.path.exists(os.path.join(target_dir, name)):
        return os.path.join(target_dir, name)
    stem = "_".join(os.path.splitext(name)[0].split("_")[:2])  # Outdoor-Rain: im_0001_s80_a04 → im_0001
    for f in _images(target_dir):
        if os.path.splitext(f)[0] == stem:
            return os.path.join(target_dir, f)
    raise ReportError(f"{os.path.join(target_dir, name)}: no target for this input")


def _scored_sets(root):
    """(label, task, [(name, input, target)]) for the real pairs and the Kodak renders."""
    out = []
    for label, rel, task in PAIR_SETS:
        inp_dir, tgt_dir = os.path.join(root, rel, "input"), os.path.join(root, rel, "target")
        if not os.path.isdir(inp_dir):
            logger.info(f"{label}: {inp_dir} not found; left out of the report")
            continue
        pairs = [(f, read_rgb(os.path.join(inp_dir, f)), read_rgb(_target_for(tgt_dir, f))) for f in _images(inp_dir)]
        out.append((label, task, pairs))
    kodak_dir = os.path.join(root, "clean", "kodak24")
    kodak = [(f, read_rgb(os.path.join(kodak_dir, f))) for f in _images(kodak_dir)]
    renders = [(r, None) for r in KODAK_RENDERS] + [(LIGHTEST_RENDER, False)]
    for (label, task, level, seed), haze in renders:  # haze None: the veil drawn with the level's chance
        pairs = []
        for i, (f, img) in enumerate(kodak):
            rng = np.random.default_rng((seed, i))
            bad = add_rain(img, rng, haze=haze, level=level) if task == "rain" else add_snow(img, rng, level=level)
            pairs.append((f, bad, img))
        out.append((label, task, pairs))
    return out


def _p_true(scores, task):
    """Softmax probability the recognition head gives the photo's true ``task`` (None without scores)."""
    return None if scores is None else float(softmax(scores)[TASKS.index(task)])


def _least_sure(photos):
    """(name, p) of the photo whose true task got the lowest probability, or None."""
    known = [(p["name"], p["p_true"]) for p in photos if p["p_true"] is not None]
    return min(known, key=lambda item: item[1]) if known else None


def evaluate_on_test_data(restorer, root, ckpt=None):
    """The results dictionary (see module docstring); with ``ckpt`` (the
    restorer's checkpoint) also the DRM's same-kind and cross-kind distances."""
    result = {"protocol": describe_protocol(0), "sets": {}, "blind": {}}
    scored = _scored_sets(root)
    for label, task, pairs in scored:
        acc_in, acc_out, chose = MetricAccumulator(label), MetricAccumulator(label), {"rain": 0, "snow": 0}
        photos = []
        for name, inp, tgt in pairs:
            r = restorer.restore(inp, task=task, recognize=True)
            after = acc_out.add(name, to_uint8(r.image), tgt, task)
            before = acc_in.add(name, inp, tgt, task)
            gain = after["psnr_y"] - before["psnr_y"]
            photos.append({"name": name, "gain_y": gain, "p_true": _p_true(r.scores, task)})
            if r.scores is not None:
                chose[task_by_scores(r.scores)] += 1
        result["sets"][label] = {
            "task": task,
            "n": len(pairs),
            "input": acc_in.means()["all"],
            "output": acc_out.means()["all"],
            "worse": sum(p["gain_y"] < 0 for p in photos),
            "photos": photos,
        }
        result["blind"][label] = {"task": task, "n": len(pairs), "chose": chose, "least_sure": _least_sure(photos)}
        m_in, m_out = result["sets"][label]["input"], result["sets"][label]["output"]
        logger.info(f"{label}: PSNR-Y {m_in['psnr_y']:.2f} -> {m_out['psnr_y']:.2f} dB; recognised {chose}")
    result["drm_distances"] = None
    if ckpt:
        renders = {r[0] for r in KODAK_RENDERS}
        photos = [inp for label, task, pairs in scored if label in renders for _, inp, _ in pairs[:4]]
        result["drm_distances"] = drm_distances(ckpt, photos)
    for label, rel, task in REAL_PHOTOS:
        folder = os.path.join(root, rel)
        chose, photos = {"rain": 0, "snow": 0}, []
        for f in _images(folder):
            r = restorer.restore(read_rgb(os.path.join(folder, f), apply_exif=True), task="auto")
            chose[r.task] += 1
            photos.append({"name": f, "p_true": _p_true(r.scores, task)})
        result["blind"][label] = {
            "task": task,
            "n": sum(chose.values()),
            "chose": chose,
            "photos": photos,
            "least_sure": _least_sure(photos),
        }
        logger.info(f"{label}: recognised {chose}")
    return result


def _named(item, number_format):
    """``name (number)`` for a (name, number) pair, an en dash for None."""
    return "–" if not item else f"{os.path.splitext(item[0])[0]} ({number_format.format(item[1])})"


def format_markdown(result):
    lines = [
        "| test data | task | n | input PSNR-Y / SSIM-Y | output PSNR-Y / SSIM-Y | gain Y (dB) "
        "| worse than input | worst photo (gain Y) | input PSNR-RGB / SSIM-RGB | output PSNR-RGB / SSIM-RGB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, s in result["sets"].items():
        i, o = s["input"], s["output"]
        worst = min(s.get("photos") or [], key=lambda p: p["gain_y"], default=None)
        lines.append(
            f"| {label} | {s['task']} | {s['n']} | {i['psnr_y']:.2f} / {i['ssim_y']:.3f} "
            f"| {o['psnr_y']:.2f} / {o['ssim_y']:.3f} | {o['psnr_y'] - i['psnr_y']:+.2f} | {s.get('worse', '–')} "
            f"| {_named(worst and (worst['name'], worst['gain_y']), '{:+.2f}')} "
            f"| {i['psnr_rgb']:.2f} / {i['ssim_rgb']:.3f} | {o['psnr_rgb']:.2f} / {o['ssim_rgb']:.3f} |"
        )
    lines += [
        "",
        "| blind mode (`--task auto`) | true task | n | chose rain | chose snow | right | least sure: p(true task) |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, b in result["blind"].items():
        right = b["chose"][b["task"]] / max(b["n"], 1)
        lines.append(
            f"| {label} | {b['task']} | {b['n']} | {b['chose']['rain']} | {b['chose']['snow']} "
            f"| {100 * right:.0f}% | {_named(b.get('least_sure'), '{:.2f}')} |"
        )
    d = result.get("drm_distances")
    if d:
        lines += [
            "",
            f"Knowledge contrast (rows of M_rk, M_ck, M_sk over {d['images']} Kodak renders): mean cosine "
            f"distance {d['same_kind']:.3f} within a kind, {d['cross_kind']:.3f} across kinds.",
        ]
    return "\n".join(lines) + "\n\nProtocol: " + result["protocol"] + "\n"


def write_test_report(restorer, root, out_json, out_md, extra=None, ckpt=None):
    result = evaluate_on_test_data(restorer, root, ckpt)
    if extra:
        result.update(extra)
    for path in (out_json, out_md):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(out_json, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=1, default=float)
        fh.write("\n")
    with open(out_md, "w", encoding="utf-8") as fh:
        fh.write(format_markdown(result))
    return result


def check_weights_name(name):
    """``--name`` names ``weights/<name>.ckpt``: lower-case letters, digits and ``_``."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name or ""):
        raise ReportError(f"--name {name!r}: use lower-case letters, digits and _ (it names weights/<name>.ckpt)")


SELECTED_BY = {  # what picked best.ckpt (the run's train.trainable; src/train/runner.py monitored_metric)
    "psnr": "PSNR-Y",
    "recognition": "recognition score (mean probability of the true task; only D_re was trained)",
}


def stage_record(run_dir):
    """One recipe stage as recorded in ``weights/<name>.json``: its run folder, resolved config
    (``config.yaml``: everything its command line set), steps trained and the best checkpoint."""
    import yaml
    from ..train import checkpoint
    from ..train.callbacks import list_checkpoints

    steps = list_checkpoints(os.path.join(run_dir, "ckpt"))
    best = os.path.join(run_dir, "ckpt", "best.ckpt")
    if not steps or not os.path.isfile(best) or not os.path.isfile(os.path.join(run_dir, "config.yaml")):
        raise ReportError(f"{run_dir}: not a finished stage (no config.yaml, ckpt/best.ckpt or step checkpoint)")
    best_meta = checkpoint.read(best)[2]
    with open(os.path.join(run_dir, "config.yaml"), encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    return {
        "run": run_dir,
        "trained_steps": checkpoint.read(steps[-1])[2].get("step"),
        "best": {k: best_meta[k] for k in ("step", "monitor", "score", "psnr_y") if k in best_meta},
        "config": config,
    }


def package_run(run_dir, weights_dir, results, steps_note="", name="lite", recipe=None, stages=()):
    """Ship a finished run: ``<run>/ckpt/best.ckpt`` → ``weights/<name>.ckpt``, its newest step
    checkpoint (weights + optimizer state, for ``--train.resume``) → ``weights/resume/``, and
    ``weights/<name>.json`` with the training config, data, steps and the measured results; with
    ``recipe`` (the script replaying the stages) and ``stages`` (their run folders, in order), every
    stage's config, steps and best checkpoint too.
    Resume files are prefixed ``<name>_``, so that shipping one set of weights never removes
    another's; ``weights/lite.ckpt`` is the default checkpoint of infer/eval/export
    (``src/infer/weights.py``)."""
    import shutil
    import yaml
    from ..train import checkpoint
    from ..train.callbacks import list_checkpoints

    best = os.path.join(run_dir, "ckpt", "best.ckpt")
    steps = list_checkpoints(os.path.join(run_dir, "ckpt"))
    if not os.path.isfile(best) or not steps:
        raise ReportError(f"{run_dir}: no ckpt/best.ckpt or step checkpoint; train first (train.py)")
    recipe_stages = [stage_record(d) for d in stages or [run_dir]] if recipe or stages else None  # before any copy
    _, _, best_meta = checkpoint.read(best)
    _, _, last_meta = checkpoint.read(steps[-1])
    check_weights_name(name)
    resume_dir = os.path.join(weights_dir, "resume")
    prefix = name + "_"
    resume_name = prefix + os.path.basename(steps[-1])
    os.makedirs(resume_dir, exist_ok=True)
    for old in os.listdir(resume_dir):
        if old.startswith(prefix + "step_") and old != resume_name:
            os.remove(os.path.join(resume_dir, old))
    for src, dst in (
        (best, os.path.join(weights_dir, name + ".ckpt")),
        (steps[-1], os.path.join(resume_dir, resume_name)),
    ):
        tmp = dst + ".tmp"
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    with open(os.path.join(run_dir, "config.yaml"), encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    info = {
        "checkpoint": f"weights/{name}.ckpt",
        "selected": "best validation "
        + SELECTED_BY[best_meta.get("monitor", "psnr")]
        + " on the held-out BSDS500 val photos rendered with a fixed seed (never a test set)",
        "best": {k: best_meta[k] for k in ("step", "monitor", "score", "psnr_y") if k in best_meta},
        "trained_steps": last_meta.get("step"),
        "resume_checkpoint": "weights/resume/" + resume_name,
        "note": steps_note,
        "config": config,
        "results": results,
    }
    if recipe or stages:
        info["recipe"] = {"script": recipe, "stages": recipe_stages}
    with open(os.path.join(weights_dir, name + ".json"), "w", encoding="utf-8") as fh:
        json.dump(info, fh, indent=1, default=float)
        fh.write("\n")
    return info


def drm_distances(ckpt, images, size=256):
    """Mean same-kind and cross-kind cosine distances between the rows of M_rk, M_ck, M_sk (the
    contrast's knowledge atoms) over ``images`` (uint8 HWC, centre-cropped to ``size``): both 0
    would mean the knowledge contrast has collapsed. None when the network has no DRM."""
    import mindspore as ms
    from ..losses import knowledge_distances
    from ..train import checkpoint

    net, _, _ = checkpoint.load_model(ckpt)
    if not net.contrast:
        return None
    net.set_train(True)  # training outputs carry M_rk, M_ck, M_sk
    k = 3 if net.recognition else 2
    same, cross = [], []
    for img in images:
        h, w = img.shape[:2]
        s = min(size, h, w) // 32 * 32
        crop = img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
        x = ms.Tensor(np.ascontiguousarray(crop.transpose(2, 0, 1))[None].astype(np.float32) / 255.0)
        out = net(x)
        d = knowledge_distances(out[k], out[k + 1], out[k + 2])
        same.append(float(d[0].asnumpy()))
        cross.append(float(d[1].asnumpy()))
    return {"same_kind": float(np.mean(same)), "cross_kind": float(np.mean(cross)), "images": len(images)}
