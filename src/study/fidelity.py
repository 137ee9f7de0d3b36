"""The fidelity study: where does the network lose detail? (``python study.py fidelity ...``)

Every variant is the ``configs/fidelity.yaml`` recipe with a few model keys changed, trained from
scratch for the same steps on the same data, once per seed (``train.seed = data.seed = seed``), in
its own folder ``<out>/<variant>/seed<k>`` (resumed with ``--train.resume=auto`` when interrupted).

``train``     trains every (variant, seed) that has not reached ``train.max_steps``, seed by seed;
``evaluate``  scores each finished run's ``best.ckpt`` (chosen on validation) on whole validation
              renders and the real pairs and writes ``results/fidelity/<variant>/seed<k>.json``
              (runs with a record are skipped by both);
``report``    writes the study page, its CSV and its figure under ``docs/`` from
              the JSONs alone.
"""

import glob
import os
import re
import subprocess
import sys

from .common import StudyError, parse_seeds, run_dir

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "configs", "fidelity.yaml")
OUT = os.path.join("runs", "fidelity")
RESULTS = os.path.join("results", "fidelity")
SEEDS = (0, 1, 2)

# name: (what it tests, model overrides). The first is the reference every other is paired with.
VARIANTS = {  # sizes spelled out: the lite preset itself became p2 after this study (revision 4)
    "p4": ("4×4 patch tokens of 32 channels, heads decode the 1/4-resolution knowledge (the former lite)",
           {"patch_size": 4, "embed_dim": 32}),
    "p2": ("finer tokens: 2×2 patches of 16 channels (the same GFLOPs as p4)", {"patch_size": 2, "embed_dim": 16}),
    "p4_fullres": ("p4 + each image head's own full-resolution path",
                   {"patch_size": 4, "embed_dim": 32, "head_fullres": True}),
}  # fmt: skip


def overrides(variant):
    return [f"--model.{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in VARIANTS[variant][1].items()]


def trained_steps(rdir):
    """The newest step checkpoint's step in ``rdir/ckpt`` (0 when none)."""
    steps = [int(m.group(1)) for p in glob.glob(os.path.join(rdir, "ckpt", "step_*.ckpt"))
             if (m := re.search(r"step_(\d+)\.ckpt$", p))]  # fmt: skip
    return max(steps, default=0)


def train_command(variant, seed, out, config=CONFIG, extra=()):
    return [
        sys.executable,
        os.path.join(ROOT, "train.py"),
        "--config_path",
        config,
        *overrides(variant),
        f"--train.seed={seed}",
        f"--data.seed={seed}",
        f"--train.output_dir={run_dir(out, variant, seed)}",
        "--train.resume=auto",
        *extra,
    ]


def train_all(variants, seeds, out, max_steps, config=CONFIG, extra=(), results=None):
    """Train every unfinished (variant, seed), seed-major so that partial results stay balanced; a
    run with a record in ``results`` is done (its folder may be on another machine)."""
    for seed in seeds:
        for variant in variants:
            rdir = run_dir(out, variant, seed)
            recorded = results and os.path.isfile(os.path.join(results, variant, f"seed{int(seed)}.json"))
            if recorded or trained_steps(rdir) >= max_steps:
                continue
            os.makedirs(rdir, exist_ok=True)
            with open(os.path.join(rdir, "console.log"), "a") as log:
                code = subprocess.call(
                    train_command(variant, seed, out, config, extra), stdout=log, stderr=subprocess.STDOUT
                )
            if code:
                raise RuntimeError(f"{rdir}: train.py exited with {code}; see {rdir}/console.log")


# ----------------------------------------------------------------------------- evaluation
# Validation renders by regime: every held-out val photo (data.corpus.val_dirs, after exclude_like)
# rendered once per regime with its own seed. (label, task, render kwargs, seed): the lightest rain
# is level 0 without veil; light/heavy rain and snow are the levels of the Kodak24 test renders.
REGIMES = (
    ("lightest rain", "rain", {"level": 0.0, "haze": False}, 31),
    ("light rain", "rain", {"level": 0.25}, 32),
    ("heavy rain", "rain", {"level": 0.9}, 33),
    ("snow", "snow", {"level": 0.5}, 34),
)
# The real pairs (data.roots.real): reported, never used to choose.
PAIRS = (
    ("Rain12", "rain12_pairs", "rain"),
    ("heavy rain pairs", "heavy_rain_pairs", "rain"),
    ("rain + fog pairs", "outdoor_rain_test1", "rain"),
)
IDENTITY = "clean photo (identity)"


def validation_renders(data_cfg):
    """{regime: [(input, target, name)]} of the held-out val photos, whole, with fixed seeds."""
    import numpy as np

    from ..data.corpus import corpus_photos
    from ..data.image_io import read_rgb
    from ..data.synth import add_rain, add_snow

    photos = [(os.path.basename(p), read_rgb(p)) for p in corpus_photos(data_cfg, "val")]
    out = {IDENTITY: [(img, img, name) for name, img in photos]}
    for label, task, kwargs, seed in REGIMES:
        add = add_rain if task == "rain" else add_snow
        out[label] = [(add(img, np.random.default_rng((seed, i)), **kwargs), img, name)
                      for i, (name, img) in enumerate(photos)]  # fmt: skip
    return out


def real_pairs(real_root):
    """{set: [(input, target, name)]} of the real pairs present under ``real_root``."""
    from ..data.image_io import read_rgb
    from ..report.testset import _images, _target_for

    out = {}
    for label, folder, _ in PAIRS:
        inp, tgt = (os.path.join(real_root or "", folder, sub) for sub in ("input", "target"))
        if real_root and os.path.isdir(inp):
            out[label] = [(read_rgb(os.path.join(inp, f)), read_rgb(_target_for(tgt, f)), f) for f in _images(inp)]
    return out


def model_config(variant, base_model):
    """The ``model`` section of a variant: the recipe's with the variant's keys."""
    return {**dict(base_model), **VARIANTS[variant][1]}


def score_sets(restorer, sets):
    """Per-image scores {set: {names, psnr_y, ssim_y, input_psnr_y, input_ssim_y[, p_true]}}.

    Whole images (``restorer.tile == 0``), each through its own task's head (rain sets: D_dr; snow:
    D_ds); the clean photos through both heads (``<set> D_dr`` / ``<set> D_ds``: identity)."""
    from ..infer.engine import softmax
    from ..metrics import psnr_y, ssim_y, to_uint8

    tasks = {label: task for label, task, _, _ in REGIMES}
    tasks.update({label: task for label, _, task in PAIRS})
    out = {}
    for label, pairs in sets.items():
        runs = [(f"{label} D_dr", "rain"), (f"{label} D_ds", "snow")] if label == IDENTITY else [(label, tasks[label])]
        for key, task in runs:
            rec = {"names": [], "psnr_y": [], "ssim_y": [], "input_psnr_y": [], "input_ssim_y": [], "p_true": []}
            for inp, tgt, name in pairs:
                r = restorer.restore(inp, task=task, recognize=restorer.has_recognition)
                pred = to_uint8(r.image)
                rec["names"].append(name)
                rec["psnr_y"].append(psnr_y(pred, tgt))
                rec["ssim_y"].append(ssim_y(pred, tgt))
                if label != IDENTITY:
                    rec["input_psnr_y"].append(psnr_y(inp, tgt))
                    rec["input_ssim_y"].append(ssim_y(inp, tgt))
                if r.scores is not None:
                    rec["p_true"].append(float(softmax(r.scores)[0 if task == "rain" else 1]))
            out[key] = rec
    return out


def evaluate_run(variant, seed, out, results, cfg, sets):
    """Score ``<run>/ckpt/best.ckpt`` on ``sets`` and write ``<results>/<variant>/seed<k>.json``."""
    from ..infer.backends import MindSporeBackend
    from ..infer.engine import Restorer
    from ..models import NETWORK_REVISION
    from ..report.common import write_json

    rdir = run_dir(out, variant, seed)
    ckpt = os.path.join(rdir, "ckpt", "best.ckpt")
    if not os.path.isfile(ckpt):
        raise StudyError(f"{ckpt}: not found; run `python study.py fidelity train` first")
    restorer = Restorer(MindSporeBackend.from_checkpoint(ckpt), tile=0)
    record = {
        "variant": variant,
        "seed": int(seed),
        "what": VARIANTS[variant][0],
        "model": model_config(variant, cfg["model"]),
        "network_revision": NETWORK_REVISION,
        "steps": trained_steps(rdir),
        "best": _best_val(rdir),
        "median_step_s": _median_step(rdir),
        "eval": "whole images, MATLAB-Y PSNR/SSIM (src/metrics.py), each set through its task's head",
        "sets": score_sets(restorer, sets),
    }
    write_json(os.path.join(results, variant, f"seed{int(seed)}.json"), record)
    return record


def _csv_rows(path):
    import csv

    if not os.path.isfile(path):
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _best_val(rdir):
    """The validation row with the highest PSNR (what chose best.ckpt), as {step, psnr}."""
    rows = [r for r in _csv_rows(os.path.join(rdir, "val.csv")) if r.get("psnr_y")]
    if not rows:
        return None
    best = max(rows, key=lambda r: float(r["psnr_y"]))
    return {"step": int(best["step"]), "psnr_y": float(best["psnr_y"])}


def _median_step(rdir):
    times = sorted(float(r["step_time"]) for r in _csv_rows(os.path.join(rdir, "log.csv"))[1:] if r.get("step_time"))
    return times[len(times) // 2] if times else None


# ----------------------------------------------------------------------------- speed
def measure_speed(variants, base_model, steps=8, repeats=3):
    """{variant: {params_M, gflops_256, train_step_s, restore_1080p_s}} with random weights (speed
    does not depend on them): a training step at the recipe's batch (4 rain + 4 snow crops of 128²)
    and a 1920×1080 photo restored with D_dr at the engine's default tile. The variants are timed in
    turn, round after round, so that a slow spell of a shared machine hits them alike; medians."""
    import time

    import mindspore as ms
    import numpy as np

    from ..flops import count_flops, count_params
    from ..infer.backends import MindSporeBackend
    from ..infer.engine import Restorer
    from ..losses import SmartAssignLoss
    from ..models import build_network
    from ..train.step import TrainStep, build_optimizer

    rng = np.random.default_rng(0)
    photo = rng.random((1080, 1920, 3), dtype=np.float32)
    batch = (
        ms.Tensor(rng.random((8, 3, 128, 128), dtype=np.float32)),
        ms.Tensor(rng.random((8, 3, 128, 128), dtype=np.float32)),
        ms.Tensor(np.arange(8) % 2, ms.int32),
    )
    out, runners = {}, {}
    for variant in variants:
        model = model_config(variant, base_model)
        ms.set_context(mode=ms.PYNATIVE_MODE)
        net = build_network(model, seed=0)
        net.set_train(False)
        out[variant] = {"params_M": count_params(net) / 1e6, "gflops_256": count_flops(net) / 1e9}
        ms.set_context(mode=ms.GRAPH_MODE)
        net = build_network(model, seed=0)
        step = TrainStep(SmartAssignLoss(net), build_optimizer(net.trainable_params(), 1e-3))
        restorer = Restorer(MindSporeBackend(build_network(model, seed=0), model))
        step(*batch)  # compile
        restorer.restore(photo, task="rain")
        runners[variant] = (step, restorer)
    times = {v: {"train_step_s": [], "restore_1080p_s": []} for v in variants}
    for _ in range(repeats):
        for variant, (step, restorer) in runners.items():
            for _ in range(max(1, steps // repeats)):
                t = time.perf_counter()
                step(*batch)
                times[variant]["train_step_s"].append(time.perf_counter() - t)
            t = time.perf_counter()
            restorer.restore(photo, task="rain")
            times[variant]["restore_1080p_s"].append(time.perf_counter() - t)
    for variant in variants:
        out[variant].update({k: float(np.median(v)) for k, v in times[variant].items()})
    return out


# ----------------------------------------------------------------------------- report
VAL_SETS = tuple(label for label, _, _, _ in REGIMES) + (f"{IDENTITY} D_dr", f"{IDENTITY} D_ds")
REAL_SETS = tuple(label for label, _, _ in PAIRS)


def load_records(results):
    """{variant: {seed: record}} of every ``<results>/<variant>/seed<k>.json``."""
    import json

    out = {}
    for path in sorted(glob.glob(os.path.join(results, "*", "seed*.json"))):
        with open(path, encoding="utf-8") as fh:
            rec = json.load(fh)
        out.setdefault(rec["variant"], {})[int(rec["seed"])] = rec
    return out


def per_image(rec, key):
    """Per-image values of a set: the gain over the input (dB), or PSNR-Y to the photo (identity)."""
    import numpy as np

    s = rec["sets"][key]
    p = np.asarray(s["psnr_y"], np.float64)
    return p - np.asarray(s["input_psnr_y"], np.float64) if s["input_psnr_y"] else p


def summarize(records, reference):
    """Rows per (variant, set): mean over seeds ± SD of the per-seed means (gain, SSIM-Y), worst image
    and images worse than the input per seed, and the paired difference to ``reference`` (same seed,
    same images): mean over seeds ± SD, and on how many images the seed-averaged difference is > 0."""
    import numpy as np

    rows = []
    for variant, by_seed in records.items():
        seeds = sorted(by_seed)
        for key in VAL_SETS + REAL_SETS:
            if any(key not in by_seed[s]["sets"] for s in seeds):
                continue
            vals = [per_image(by_seed[s], key) for s in seeds]
            ssim = [float(np.mean(by_seed[s]["sets"][key]["ssim_y"])) for s in seeds]
            names = by_seed[seeds[0]]["sets"][key]["names"]
            worst = [int(np.argmin(v)) for v in vals]
            row = {
                "variant": variant,
                "set": key,
                "seeds": seeds,
                "n": len(vals[0]),
                "mean": float(np.mean([v.mean() for v in vals])),
                "sd": float(np.std([v.mean() for v in vals], ddof=1)) if len(vals) > 1 else float("nan"),
                "ssim_y": float(np.mean(ssim)),
                "worst": [float(v[i]) for v, i in zip(vals, worst)],
                "worst_image": [names[i] for i in worst],
                "worse": [int((v < 0).sum()) for v in vals] if not key.startswith(IDENTITY) else None,
            }
            ref = records.get(reference, {})
            common = [s for s in seeds if s in ref and key in ref[s]["sets"]]
            if variant != reference and common:
                diffs = np.stack([per_image(by_seed[s], key) - per_image(ref[s], key) for s in common])
                means = diffs.mean(axis=1)
                row["paired"] = {
                    "mean": float(means.mean()),
                    "sd": float(means.std(ddof=1)) if len(common) > 1 else float("nan"),
                    "better": int((diffs.mean(axis=0) > 0).sum()),
                    "seeds": common,
                }
            rows.append(row)
    return rows


def _pm(mean, sd, digits=2):
    return f"{mean:+.{digits}f}" + ("" if sd != sd else f" ± {sd:.{digits}f}")


def write_report(results, docs, reference="p4"):
    """``<docs>/fidelity.md``, ``.csv`` and ``.png`` from the records and ``<results>/speed.json``."""
    import json

    from ..report.common import md_table, write_csv, write_text

    records = load_records(results)
    if reference not in records:
        raise StudyError(
            f"{results}: no records of the reference variant {reference}; run `study.py fidelity evaluate`"
        )
    speed_path = os.path.join(results, "speed.json")
    speed = json.load(open(speed_path, encoding="utf-8")) if os.path.isfile(speed_path) else {}
    rows = summarize(records, reference)
    variants = [v for v in VARIANTS if v in records] + [v for v in records if v not in VARIANTS]
    lines = [
        "# Fidelity study: where the network loses detail",
        "",
        "Generated by `python study.py fidelity report` from `results/fidelity/` (do not edit by hand).",
        "",
        _recipe_text(records[reference]),
        "",
        "## The variants",
        "",
    ]
    head = ["variant", "what", "params (M)", "GFLOPs @256²", "s/step (train)", "1080p restore (s)", "best val PSNR-Y"]
    table = []
    for v in variants:
        sp = speed.get(v, {})
        best = [r["best"]["psnr_y"] for r in records[v].values() if r.get("best")]
        table.append([
            v, VARIANTS.get(v, ("",))[0],
            f"{sp['params_M']:.3f}" if sp else "–", f"{sp['gflops_256']:.2f}" if sp else "–",
            f"{sp['train_step_s']:.3f}" if sp else "–", f"{sp['restore_1080p_s']:.2f}" if sp else "–",
            _pm(sum(best) / len(best), _sd(best)).lstrip("+") if best else "–",
        ])  # fmt: skip
    lines += md_table(head, table)
    lines += ["", _speed_note(speed), "", "## PSNR-Y gain over the input (dB), whole images", ""]
    lines += ["Identity rows: PSNR-Y of the head's output to the clean photo it was given (higher: less changed).", ""]
    lines += _set_table(rows, variants, reference)
    lines += ["", "## Worst image and images worse than the input (per seed)", ""]
    lines += _worst_table(rows, variants)
    lines += ["", "## SSIM-Y (mean over seeds)", ""]
    lines += _ssim_table(rows, variants)
    lines += ["", "## Per FLOP", ""] + _per_flop(rows, variants, reference, speed) + ["", NOT_RUN]
    lines += ["", "![Paired PSNR-Y differences](fidelity.png)", ""]
    write_text(os.path.join(docs, "fidelity.md"), "\n".join(lines) + "\n")
    flat = []
    for r in rows:
        p = r.get("paired") or {}
        row = {k: r[k] for k in ("variant", "set", "n", "mean", "sd", "ssim_y")}
        flat.append({**row, "paired_mean": p.get("mean"), "paired_sd": p.get("sd"), "paired_better": p.get("better")})
    write_csv(os.path.join(docs, "fidelity.csv"), flat, list(flat[0]) if flat else ["variant", "set"])
    _figure(rows, variants, reference, speed, os.path.join(docs, "fidelity.png"))
    return rows


NOT_RUN = (
    "Not run: 1×1 patch tokens (at p4's GFLOPs they have 8 channels, and 4× p2's tokens; p2 already "
    "restores a 1080p photo at about 1.5× p4's time, the speed budget of the CPU preset) and a "
    "multi-scale encoder (the study's answer is that token resolution matters and a full-resolution "
    "path past TKFF does not help at this budget; a multi-scale encoder is the next variant to try)."
)


def _per_flop(rows, variants, reference, speed):
    """Per variant: its cost relative to ``reference`` and the validation sets where its paired
    difference is beyond one SD over seeds (ahead / behind)."""
    by = {(r["variant"], r["set"]): r for r in rows}
    ref = speed.get(reference) or {}
    lines = []
    for v in variants:
        if v == reference:
            continue
        sp = speed.get(v) or {}
        cost = (
            f"{sp['gflops_256'] / ref['gflops_256']:.2f}× the GFLOPs, {sp['params_M'] / ref['params_M']:.2f}× the "
            f"parameters, {sp['restore_1080p_s'] / ref['restore_1080p_s']:.2f}× the 1080p time"
            if sp and ref
            else "cost not measured"
        )
        ahead, behind, seeds = [], [], 0
        for key in VAL_SETS:
            p = (by.get((v, key)) or {}).get("paired")
            if not p:
                continue
            spread, seeds = (0.0 if p["sd"] != p["sd"] else p["sd"]), len(p["seeds"])
            (ahead if p["mean"] - spread > 0 else behind if p["mean"] + spread < 0 else []).append(
                f"{key} {p['mean']:+.2f}"
            )
        beyond = "by more than the seeds' SD" if seeds > 1 else "(one seed: no spread to compare with)"
        lines.append(
            f"- **{v}** against {reference}: {cost}; on validation ahead {beyond} on "
            f"{', '.join(ahead) or 'nothing'}; behind on {', '.join(behind) or 'nothing'}."
        )
    return lines


def _sd(values):
    import numpy as np

    return float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")


def _recipe_text(by_seed):
    rec = next(iter(by_seed.values()))
    return (
        f"Every variant: `configs/fidelity.yaml` (the `lite` widths, the shipped weights' data recipe), "
        f"{rec['steps']} steps from scratch, seeds {', '.join(str(s) for s in sorted(by_seed))} "
        "(`train.seed = data.seed`); `best.ckpt` chosen by training's validation PSNR-Y (40 val photos, "
        "256² centre crops). Scored here on whole images: the 67 held-out BSDS500 val photos rendered once "
        "per regime (validation: what the choice rests on), the same photos clean through each head "
        "(identity: PSNR-Y to the photo), and the real pairs (reported, not used to choose). "
        "± is the SD over seeds; paired columns are the difference to `p4` at the same seed on the same "
        "images (mean over seeds ± SD; `better on` counts images whose seed-averaged difference is > 0)."
    )


def _speed_note(speed):
    if not speed:
        return "Speed: not measured yet (`python study.py fidelity speed`)."
    return (
        "Speed: random weights, one process, the variants timed in turn for 3 rounds "
        "(`python study.py fidelity speed`; ratios within that run are what compares). Training step: batch 8 "
        "(4 rain + 4 snow) at 128², GRAPH mode, median of 6. 1080p: one 1920×1080 photo restored with D_dr at "
        "the engine's default tile, median of 3."
    )


def _set_table(rows, variants, reference):
    from ..report.common import md_table

    by = {(r["variant"], r["set"]): r for r in rows}
    head = ["set", f"{reference} (mean ± SD over seeds)"] + [f"{v} − {reference} (better on)" for v in variants[1:]]
    table = []
    for key in VAL_SETS + REAL_SETS:
        if (reference, key) not in by:
            continue
        ref = by[(reference, key)]
        cells = [f"{key} ({ref['n']})", _pm(ref["mean"], ref["sd"])]
        for v in variants[1:]:
            p = (by.get((v, key)) or {}).get("paired")
            cells.append("–" if not p else f"{_pm(p['mean'], p['sd'])} ({p['better']})")
        table.append(cells)
    return md_table(head, table)


def _worst_table(rows, variants):
    from ..report.common import md_table

    by = {(r["variant"], r["set"]): r for r in rows}
    head = ["set"] + variants
    table = []
    for key in VAL_SETS + REAL_SETS:
        cells = [key]
        for v in variants:
            r = by.get((v, key))
            if not r:
                cells.append("–")
                continue
            worst = "/".join(f"{w:+.1f}" for w in r["worst"])
            cells.append(worst + ("" if r["worse"] is None else f"; worse: {'/'.join(str(w) for w in r['worse'])}"))
        table.append(cells)
    return md_table(head, table)


def _ssim_table(rows, variants):
    from ..report.common import md_table

    by = {(r["variant"], r["set"]): r for r in rows}
    table = [[key] + [f"{by[(v, key)]['ssim_y']:.4f}" if (v, key) in by else "–" for v in variants]
             for key in VAL_SETS + REAL_SETS]  # fmt: skip
    return md_table(["set"] + variants, table)


def _figure(rows, variants, reference, speed, path):
    """Left: paired PSNR-Y difference to the reference per set (SD over seeds). Right: the mean
    validation gain over the four regimes against GFLOPs @256²."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    by = {(r["variant"], r["set"]): r for r in rows}
    keys = [k for k in VAL_SETS + REAL_SETS if (reference, k) in by]
    others = variants[1:]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [2.2, 1]})
    width = 0.8 / max(len(others), 1)
    for j, v in enumerate(others):
        p = [(by.get((v, k)) or {}).get("paired") or {"mean": np.nan, "sd": np.nan} for k in keys]
        ax.bar(np.arange(len(keys)) + j * width, [x["mean"] for x in p], width, yerr=[x["sd"] for x in p], label=v)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(keys)) + width * (len(others) - 1) / 2)
    ax.set_xticklabels(keys, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(f"PSNR-Y − {reference} (dB), same seed")
    ax.legend(fontsize=8)
    regimes = [label for label, _, _, _ in REGIMES]
    for v in variants:
        if v in speed and all((v, k) in by for k in regimes):
            ax2.scatter(speed[v]["gflops_256"], np.mean([by[(v, k)]["mean"] for k in regimes]), label=v)
    ax2.set_xlabel("GFLOPs @256²")
    ax2.set_ylabel("validation gain, mean of 4 regimes (dB)")
    if ax2.collections:
        ax2.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------- command line
def main(argv):
    """``python study.py fidelity {train,evaluate,speed,report} [options]``; returns an exit code."""
    import argparse
    import json

    from ..config import load_config
    from ..report.common import write_json

    p = argparse.ArgumentParser(prog="study.py fidelity", description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=("train", "evaluate", "speed", "report"))
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma list of " + ", ".join(VARIANTS))
    p.add_argument("--seeds", default=",".join(str(s) for s in SEEDS))
    p.add_argument("--config", default=CONFIG, help="the recipe every variant shares")
    p.add_argument("--out", default=OUT, help="run folders (<out>/<variant>/seed<k>)")
    p.add_argument("--results", default=RESULTS, help="per-run JSON records (committed)")
    p.add_argument("--docs", default="docs", help="where fidelity.md/.csv/.png go")
    args, extra = p.parse_known_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise StudyError(f"--variants: unknown {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    seeds = parse_seeds(args.seeds, SEEDS)
    cfg = load_config(args.config, extra)
    if args.command == "train":
        train_all(variants, seeds, args.out, int(cfg["train"]["max_steps"]), args.config, extra, args.results)
    elif args.command == "evaluate":
        sets = {**validation_renders(cfg["data"]), **real_pairs((cfg["data"].get("roots") or {}).get("real"))}
        for seed in seeds:
            for variant in variants:
                rdir = run_dir(args.out, variant, seed)
                done = os.path.isfile(os.path.join(args.results, variant, f"seed{seed}.json"))
                if not done and trained_steps(rdir) >= int(cfg["train"]["max_steps"]):
                    evaluate_run(variant, seed, args.out, args.results, cfg, sets)
    elif args.command == "speed":
        path = os.path.join(args.results, "speed.json")
        old = json.load(open(path, encoding="utf-8")) if os.path.isfile(path) else {}
        write_json(path, {**old, **measure_speed(variants, cfg["model"])})
    else:
        write_report(args.results, args.docs)
    return 0
