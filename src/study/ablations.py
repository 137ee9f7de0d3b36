"""The multi-seed ablation study of Table 3/4 (and the strategies): ``python study.py ablations``.

Every (variant, seed) is the variant of ``ablations_variants.py`` (its overlay's switches over
``configs/study.yaml`` or ``--config``) with ``train.seed`` and ``data.seed`` set to the seed (the
weights' initialisation, the data order and, for ``data.format: corpus``, the synthetic rain and
snow of every crop). It trains in its own folder ``<out>/<variant>/seed<k>`` (``--train.resume=auto``:
an interrupted run continues there); K1/K2 of seed k start from V6 seed k's ``best.ckpt``.

After each finished run its results go to ``<results>/<variant>/seed<k>.json`` (committed with
the repository; never a checkpoint): test metrics per task, blind-mode accuracy, params, GFLOPs
@256², s/step, steps, the checkpoint's hash and the resolved config. A rerun skips every run whose
JSON exists and records the requested config (keys that do not change results, such as paths,
workers and logging, are not compared: ``IGNORED``); a JSON of another config is refused with a
one-line message naming the key, unless ``force`` (the run then starts over). On a new machine
the checkpoints are gone: V6 of a seed is retrained only when K1/K2 of that seed still have to run.

Test data (never used for training or for choosing ``best.ckpt``): for the corpus format, Kodak24
(``data.roots.clean``/kodak24) rendered with the fixed seeds and levels of
``report.testset.KODAK_RENDERS`` (light rain, heavy rain, snow), plus the real heavy-rain pairs
(``data.roots.real``/heavy_rain_pairs) as a second rain test when present; for the folder format,
``data.test_sets`` through ``ablations_variants.evaluate_variant``. The page (``ablations_stats``)
is written from the JSONs alone.
"""

import copy
import glob
import hashlib
import json
import multiprocessing
import os
import shutil
import time

from . import ablations_stats
from .common import DEFAULT_SEEDS, StudyError, run_dir
from .ablations_variants import (
    DEFAULT_VARIANTS,
    STRATEGY_ROWS,
    TASKS,
    VARIANTS,
    _median_step_time,
    eval_checkpoint,
    variant_config,
)
from ..report.common import ReportError, write_csv, write_json, write_text
from ..data.synth import SYNTH_VERSION
from ..logs import get_logger, quiet

logger = get_logger(__name__)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STUDY_CONFIG = os.path.join(ROOT, "configs", "study.yaml")
RESULTS = os.path.join("results", "study")
TABLE = os.path.join("docs", "study.md")
SCHEMA = 1
EVAL_VERSION = 2
EVAL_TILE = 0  # whole crops (exactly net(x))
# Every test pair is scored on its centre EVAL_CROP x EVAL_CROP crop (the real pairs are 481x321, so
# 320 is the largest square all of them hold): one input shape, so one compiled graph per run, and
# a third of the whole-image time (v1 scored whole images and took 3.5 minutes per run).
EVAL_CROP = 320
REAL_PAIRS = (("real heavy rain pairs", "heavy_rain_pairs", "rain"),)
# Config keys that do not change a run's results (machine paths, workers, logging, checkpoint cadence).
IGNORED = (
    "config_path",
    "train.output_dir",
    "train.resume",
    "train.pretrained",
    "train.device_target",
    "train.device_id",
    "train.log_every",
    "train.log_all_ranks",
    "train.check_replicas",
    "train.keep_checkpoints",
    "train.save_every",
    "data.num_workers",
    "data.roots",
    "data.check",
    "data.mindrecord_path",
)
DONE_MARK = "study_done.json"


def json_path(results, key, seed):
    return os.path.join(results, key, f"seed{int(seed)}.json")


# ----------------------------------------------------------------------------- configs and drift
def _strip(overrides):
    return [o[2:] if o.startswith("--") else o for o in overrides or ()]


def study_config(key, seed, config, steps, rdir, overrides, pretrained=None):
    """The resolved config of (variant, seed): the variant's config with train.seed = data.seed = seed
    (K1/K2: model.contrast=false, which train.py would switch off anyway)."""
    for o in _strip(overrides):
        if o.split("=", 1)[0] in ("train.seed", "data.seed", "seed"):
            raise StudyError(f"--{o}: the study sets train.seed and data.seed from --seeds; leave them out")
    ov = _strip(overrides) + [f"train.seed={int(seed)}", f"data.seed={int(seed)}"]
    if VARIANTS[key][3] == 4:
        ov.append("model.contrast=false")
    return variant_config(key, config, steps, rdir, ov, pretrained)


def _drop(tree, dotted):
    parts = dotted.split(".")
    node = tree
    for p in parts[:-1]:
        node = node.get(p) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict):
        node.pop(parts[-1], None)


def comparable(cfg):
    """The config as recorded and compared: plain dicts, only the benchmarks the sets name,
    without the ``IGNORED`` keys."""
    tree = copy.deepcopy(cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg))
    data = tree.get("data") or {}
    if isinstance(data.get("benchmarks"), dict):
        used = {str(s).split("/")[0] for k in ("train_sets", "val_sets", "test_sets") for s in data.get(k) or []}
        data["benchmarks"] = {k: v for k, v in data["benchmarks"].items() if k in used}
    for key in IGNORED:
        _drop(tree, key)
    return json.loads(json.dumps(tree, default=str))  # tuples → lists, as read back from JSON


def flatten(tree, prefix=""):
    out = {}
    for k, v in (tree or {}).items():
        if isinstance(v, dict) and v:
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_diff(old, new):
    """Dotted keys whose values differ (keys of one side only included), sorted."""
    a, b = flatten(old), flatten(new)
    return sorted(k for k in set(a) | set(b) if a.get(k, "<absent>") != b.get(k, "<absent>"))


def eval_protocol(cfg):
    """What a run is tested on (recorded and compared like the config; ``description`` is not compared)."""
    from ..metrics import PROTOCOL

    data = cfg.data
    if data.get("format") == "corpus":
        from ..report.testset import KODAK_RENDERS

        real_root = (data.get("roots") or {}).get("real") or ""
        real = [rel for _, rel, _ in REAL_PAIRS if real_root and os.path.isdir(os.path.join(real_root, rel, "input"))]
        renders = [list(r) for r in KODAK_RENDERS]
        desc = (
            "Kodak24 (data.roots.clean/kodak24, never trained or validated on) rendered with fixed seeds as "
            + ", ".join(f"{lab.replace('kodak24 ', '')} (level {lvl:g}, seed {sd})" for lab, _, lvl, sd in renders)
            + "; rain = both rain renders, snow = the snow render"
            + ("; second test: the real heavy-rain pairs (data.roots.real/heavy_rain_pairs)" if real else "")
            + f". Centre {EVAL_CROP}x{EVAL_CROP} crops, each with its own task's head; blind mode = the "
            "recognition head's choice. " + PROTOCOL + "."
        )
        return {
            "kind": "corpus renders",
            "kodak": "kodak24",
            "renders": renders,
            "real_pairs": real,
            "tile": EVAL_TILE,
            "crop": EVAL_CROP,
            "metrics": PROTOCOL,
            "version": EVAL_VERSION,
            "description": desc,
        }
    sets = list(data.get("test_sets") or [])
    return {
        "kind": "test sets",
        "test_sets": sets,
        "metrics": PROTOCOL,
        "version": EVAL_VERSION,
        "description": f"data.test_sets {', '.join(sets)} (eval.py's code, each set with its own task's head). "
        + PROTOCOL
        + ".",
    }


def identity(cfg):
    """What makes two runs comparable: the config, the evaluation and the synthesis that rendered
    the training crops and the test renders (``synth.SYNTH_VERSION``)."""
    return {"config": comparable(cfg), "eval_protocol": eval_protocol(cfg), "synthesis": SYNTH_VERSION}


def _protocol_for_compare(p):
    return {k: v for k, v in (p or {}).items() if k != "description"}


def first_drift(rec, want):
    """(key, recorded, requested) of the first difference, or None (records without a synthesis
    version were rendered by version 1)."""
    if rec.get("synthesis", 1) != want["synthesis"]:
        return "synthesis version", rec.get("synthesis", 1), want["synthesis"]
    d = config_diff(rec.get("config"), want["config"])
    if d:
        a, b = flatten(rec.get("config")), flatten(want["config"])
        return d[0], a.get(d[0], "<absent>"), b.get(d[0], "<absent>")
    d = config_diff(_protocol_for_compare(rec.get("eval_protocol")), _protocol_for_compare(want["eval_protocol"]))
    if d:
        a = flatten(_protocol_for_compare(rec.get("eval_protocol")))
        b = flatten(_protocol_for_compare(want["eval_protocol"]))
        return "eval." + d[0], a.get(d[0], "<absent>"), b.get(d[0], "<absent>")
    return None


def _short(v):
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def drift_message(key, seed, path, drift):
    k, old, new = drift
    return (
        f"[{key} seed {seed}] {_rel(path)} was made with {k}={_short(old)}, this run asks for "
        f"{_short(new)}; pass --force to rerun it, or go back to the recorded settings"
    )


def _rel(path):
    """``path`` relative to the working directory when inside it, else absolute."""
    rel = os.path.relpath(path)
    return os.path.abspath(path) if rel.startswith("..") else rel


def read_json(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ----------------------------------------------------------------------------- test renders and scoring
_RENDERS = {}


def centre_crop(img, size=EVAL_CROP):
    """The centre size x size crop of an H x W x 3 image (the whole side where it is shorter)."""
    h, w = img.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return img[top : top + size, left : left + size]


def corpus_test_sets(data_cfg, tasks):
    """[(label, task, kind, [(name, input uint8, target uint8)])], kind "synthetic" (Kodak renders,
    cached per process) or "real" (the real pairs); the centre ``EVAL_CROP`` crop of every pair
    (Kodak is rendered whole, then cropped, so the renders are those of the whole-image protocol)."""
    import numpy as np
    from ..data.image_io import read_rgb
    from ..data.synth import add_rain, add_snow
    from ..report.testset import KODAK_RENDERS, _images, _target_for

    roots = data_cfg.get("roots") or {}
    clean, real = roots.get("clean") or "", roots.get("real") or ""
    kodak_dir = os.path.join(clean, "kodak24")
    if not os.path.isdir(kodak_dir):
        raise StudyError(f"{kodak_dir}: no Kodak24 folder for the test renders (set --data.roots.clean)")
    out = []
    for label, task, level, seed in KODAK_RENDERS:
        if task not in tasks:
            continue
        key = (os.path.abspath(kodak_dir), task, float(level), int(seed))
        if key not in _RENDERS:
            fn = add_rain if task == "rain" else add_snow
            pairs = []
            for i, f in enumerate(_images(kodak_dir)):
                img = read_rgb(os.path.join(kodak_dir, f))
                deg = fn(img, np.random.default_rng((seed, i)), level=level)
                pairs.append((f, centre_crop(deg), centre_crop(img)))
            _RENDERS[key] = pairs
        out.append((label, task, "synthetic", _RENDERS[key]))
    for label, rel, task in REAL_PAIRS:
        folder = os.path.join(real, rel) if real else ""
        if task not in tasks or not folder or not os.path.isdir(os.path.join(folder, "input")):
            continue
        inp, tgt = os.path.join(folder, "input"), os.path.join(folder, "target")
        pairs = [
            (f, centre_crop(read_rgb(os.path.join(inp, f))), centre_crop(read_rgb(_target_for(tgt, f))))
            for f in _images(inp)
        ]
        out.append((label, task, "real", pairs))
    return out


def score_sets(restorer, sets, blind=True):
    """Restore every pair with its task's head and score it; blind mode from the recognition scores
    of the same forward (the image ``--task auto`` returns: the chosen head's, or the model's own
    blind output). Returns tasks/input (synthetic, per task), real/real_input, sets, blind."""
    from ..metrics import MetricAccumulator, to_uint8

    acc = {(kind, which): MetricAccumulator(kind) for kind in ("synthetic", "real") for which in ("out", "in")}
    blind_acc = MetricAccumulator("blind")
    right = {"synthetic": [0, 0], "real": [0, 0]}
    per_set = {}
    has_blind_output = "blind" in getattr(restorer, "outputs", ())
    for label, task, kind, pairs in sets:
        s_out, s_in = MetricAccumulator(label), MetricAccumulator(label)
        for name, inp, tgt in pairs:
            r = restorer.restore(inp, task=task, recognize=True)
            pred = to_uint8(r.image)
            for a, img in ((s_out, pred), (acc[(kind, "out")], pred)):
                a.add(name, img, tgt, task)
            for a in (s_in, acc[(kind, "in")]):
                a.add(name, inp, tgt, task)
            if not blind or r.scores is None:
                continue
            chose = "rain" if r.scores[0] >= r.scores[1] else "snow"
            right[kind][0] += chose == task
            right[kind][1] += 1
            if kind != "synthetic":
                continue
            if has_blind_output:
                b = to_uint8(restorer.restore(inp, task="auto").image)
            elif chose == task:
                b = pred
            else:
                b = to_uint8(restorer.restore(inp, task=chose).image)
            blind_acc.add(name, b, tgt, task)
        per_set[label] = {
            "task": task,
            "kind": kind,
            "n": len(pairs),
            "restored": s_out.means()["all"],
            "input": s_in.means()["all"],
        }

    def by_task(a):
        if not len(a):
            return {}
        m = a.means()
        return {t: dict(m[t], n=m[t].pop("count")) for t in TASKS if t in m}

    result = {
        "tasks": by_task(acc[("synthetic", "out")]),
        "input": by_task(acc[("synthetic", "in")]),
        "real": by_task(acc[("real", "out")]),
        "real_input": by_task(acc[("real", "in")]),
        "sets": per_set,
        "blind": None,
    }
    if right["synthetic"][1]:
        m = blind_acc.means()["all"]
        result["blind"] = {
            "accuracy": right["synthetic"][0] / right["synthetic"][1],
            "n": right["synthetic"][1],
            "restored": {k: v for k, v in m.items() if k != "count"},
            "real_accuracy": right["real"][0] / right["real"][1] if right["real"][1] else None,
        }
    return result


def evaluate_run(key, cfg, rdir):
    """The default evaluator: the run's best.ckpt (else its newest checkpoint) on the test data."""
    from ..device import setup_device
    from ..flops import count_flops, count_params

    ckpt, kind = eval_checkpoint(rdir)
    tasks = VARIANTS[key][2]
    t0 = time.perf_counter()
    if cfg.data.get("format") != "corpus":
        from .ablations_variants import evaluate_variant

        res = evaluate_variant(key, cfg, rdir)
        out = {
            "ckpt": res["ckpt"],
            "ckpt_kind": res["ckpt_kind"],
            "ckpt_step": res["ckpt_step"],
            "params": res["params"],
            "gflops": res["gflops"],
            "tasks": {
                t: dict({k: v for k, v in r["restored"].items() if k != "count"}, n=r["restored"]["count"])
                for t, r in res["tasks"].items()
            },
            "input": {
                t: dict({k: v for k, v in r["input"].items() if k != "count"}, n=r["input"]["count"])
                for t, r in res["tasks"].items()
            },
            "real": {},
            "real_input": {},
            "sets": {},
            "blind": None,
        }
        if res.get("blind"):
            out["blind"] = {
                "accuracy": res["blind"]["accuracy"],
                "restored": {k: v for k, v in res["blind"]["restored"].items() if k != "count"},
            }
        out["eval_seconds"] = time.perf_counter() - t0
        return out
    from ..infer.backends import MindSporeBackend
    from ..infer.engine import Restorer
    from ..train.checkpoint import load_model

    setup_device(cfg.train.device_target, cfg.train.device_id, "graph")
    net, model_cfg, meta = load_model(ckpt)
    restorer = Restorer(MindSporeBackend(net, model_cfg), tile=EVAL_TILE)
    sets = corpus_test_sets(cfg.data, tasks)
    out = score_sets(restorer, sets, blind=net.recognition and len(tasks) == len(TASKS))
    out.update(
        ckpt=ckpt,
        ckpt_kind=kind,
        ckpt_step=meta.get("step"),
        params=count_params(net),
        gflops=count_flops(net, (1, 3, 256, 256)) / 1e9,
        eval_seconds=time.perf_counter() - t0,
    )
    logger.info(
        f"[{key}] evaluated {os.path.basename(ckpt)} (step {meta.get('step')}) on "
        + ", ".join(f"{lab} ({len(p)})" for lab, _, _, p in sets)
    )
    return out


def train_run(key, cfg, rdir, steps, echo=True):
    """The default trainer: ``ablations.train_variant`` (continues an unfinished run, skips a finished one).
    A demo-format config builds its demo set with seed 0 first, so that every seed tests on the same photos."""
    from .ablations_variants import train_variant

    data = cfg.data
    if data.get("auto_demo", False):
        from ..data.synth import build_demo, demo_is_current

        if not demo_is_current(data.roots.demo):
            build_demo(data.roots.demo, seed=0)
    return train_variant(key, cfg, rdir, steps, echo=echo)


def _run_facts(rdir):
    """What the run folder says about training: steps, s/step, time, best validation PSNR-Y."""
    from ..report.runlog import read_log_csv, read_val

    facts = {"s_per_step": _median_step_time(rdir), "train_seconds": None, "steps": None, "best_val_psnr_y": None}
    try:
        steps = read_log_csv(os.path.join(rdir, "log.csv")).get("step") or []
        facts["steps"] = int(max(steps)) if steps else None
    except FileNotFoundError:
        pass
    path = os.path.join(rdir, "report_time.json")
    if os.path.isfile(path):
        facts["train_seconds"] = read_json(path).get("train_seconds")
    try:
        facts["best_val_psnr_y"] = max((v["psnr_y"] for v in read_val(rdir)), default=None)
    except (FileNotFoundError, OSError, ValueError):
        pass
    return facts


def build_record(key, seed, cfg, want, result, rdir, steps, pretrained=None):
    facts = _run_facts(rdir)
    ckpt = result.get("ckpt")
    try:
        import mindspore

        ms_version = mindspore.__version__
    except ImportError:
        ms_version = None
    rec = {
        "schema": SCHEMA,
        "variant": key,
        "what": VARIANTS[key][0],
        "table": VARIANTS[key][3],
        "seed": int(seed),
        "steps": facts["steps"] or int(steps),
        "config": want["config"],
        "eval_protocol": want["eval_protocol"],
        "synthesis": want["synthesis"],
        "pretrained": pretrained,
        "ckpt": result.get("ckpt_kind"),
        "ckpt_step": result.get("ckpt_step"),
        "ckpt_sha256": sha256(ckpt) if ckpt and os.path.isfile(ckpt) else None,
        "best_val_psnr_y": facts["best_val_psnr_y"],
        "params": result.get("params"),
        "gflops": result.get("gflops"),
        "s_per_step": facts["s_per_step"],
        "train_seconds": facts["train_seconds"],
        "eval_seconds": result.get("eval_seconds"),
        "tasks": result.get("tasks") or {},
        "input": result.get("input") or {},
        "real": result.get("real") or {},
        "real_input": result.get("real_input") or {},
        "sets": result.get("sets") or {},
        "blind": result.get("blind"),
        "machine": {
            "cpus": multiprocessing.cpu_count(),
            "mindspore": ms_version,
            "roots": dict(cfg.data.get("roots") or {}),
            "run_dir": _rel(rdir),
        },
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    return rec


# ----------------------------------------------------------------------------- the study
def v6_hashes(rec6):
    """The checkpoints a V6 record stands for: its own and those of retrainings for K1/K2."""
    return {rec6.get("ckpt_sha256")} | {r.get("ckpt_sha256") for r in rec6.get("retrained") or []}


def _has_checkpoint(rdir):
    try:
        eval_checkpoint(rdir)
        return True
    except StudyError:
        return False


def _finished(rdir, steps):
    """The trainer returned for this run folder with at least ``steps`` steps and a checkpoint is there."""
    mark = os.path.join(rdir, DONE_MARK)
    if not os.path.isfile(mark) or not _has_checkpoint(rdir):
        return False
    return int(read_json(mark).get("steps", 0)) >= int(steps)


def _stale_folder(rdir, want):
    """The key of the first difference between the run folder's config.yaml and ``want``, or None."""
    path = os.path.join(rdir, "config.yaml")
    if not os.path.isfile(path):
        return None
    import yaml

    with open(path, encoding="utf-8") as fh:
        stored = yaml.safe_load(fh) or {}
    d = config_diff(comparable(stored), want["config"])
    return d[0] if d else None


def run_study(
    variants=None,
    seeds=None,
    steps=None,
    out=os.path.join("runs", "study"),
    results=RESULTS,
    table=TABLE,
    config=STUDY_CONFIG,
    overrides=(),
    echo=True,
    train=True,
    force=False,
    trainer=None,
    evaluator=None,
    figure=True,
):
    """Train and evaluate every (variant, seed) not done yet, write its JSON, then the report.
    ``train=False``: only the report, from the JSONs (``variants``/``seeds`` filter them when given)."""
    results, table = os.path.abspath(results), os.path.abspath(table)
    if not train:
        return write_report(results, table, variants, seeds, figure=figure)
    from ..config import load_config

    variants = list(variants or DEFAULT_VARIANTS)
    seeds = list(seeds if seeds is not None else DEFAULT_SEEDS)
    out, overrides = os.path.abspath(out), _strip(overrides)
    trainer, evaluator = trainer or train_run, evaluator or evaluate_run
    if steps is None:
        steps = int(load_config(config, overrides).train.max_steps)
    if int(steps) <= 0:
        raise StudyError(f"--steps {steps}: the study needs a step budget (--steps N or train.max_steps in the config)")
    steps = int(steps)

    def cfg_for(key, seed, pretrained=None):
        rdir = run_dir(out, key, seed)
        if pretrained is None and VARIANTS[key][3] == 4:
            pretrained = os.path.join(run_dir(out, "V6", seed), "ckpt", "best.ckpt")
        return study_config(key, seed, config, steps, rdir, overrides, pretrained), rdir

    # Plan: every (seed, variant); config drift is refused before anything trains.
    plan, recs = [], {}
    for seed in seeds:
        for key in variants:
            cfg, rdir = cfg_for(key, seed)
            want, path = identity(cfg), json_path(results, key, seed)
            state, drift = "todo", None
            if os.path.isfile(path):
                rec = read_json(path)
                drift = first_drift(rec, want)
                state = "drift" if drift else "done"
                if state == "done":
                    recs[(key, seed)] = rec
            plan.append([seed, key, state, drift, want])
    for item in plan:  # K1/K2 done earlier must come from V6's recorded checkpoint
        seed, key, state = item[:3]
        if state != "done" or VARIANTS[key][3] != 4:
            continue
        v6 = recs.get(("V6", seed))
        if v6 is None and "V6" not in variants and os.path.isfile(json_path(results, "V6", seed)):
            v6 = read_json(json_path(results, "V6", seed))
        v6_state = next((p[2] for p in plan if p[0] == seed and p[1] == "V6"), None)
        got = (recs[(key, seed)].get("pretrained") or {}).get("sha256")
        if v6_state in ("todo", "drift"):
            item[2], item[3] = (
                "drift",
                ("train.pretrained", f"V6 seed {seed}'s recorded best.ckpt", f"a new V6 seed {seed} ({v6_state})"),
            )
        elif v6 is not None and got not in v6_hashes(v6):
            item[2], item[3] = (
                "drift",
                (
                    "train.pretrained",
                    f"sha256 {str(got)[:12]}",
                    f"V6 seed {seed}'s sha256 {str(v6.get('ckpt_sha256'))[:12]}",
                ),
            )
    for seed, key, state, drift, _ in plan:
        if state == "drift" and not force:
            raise StudyError(drift_message(key, seed, json_path(results, key, seed), drift))
    done = sum(p[2] == "done" for p in plan)
    logger.info(
        f"study: {len(plan)} runs ({len(variants)} variants x {len(seeds)} seeds), {done} done earlier, "
        f"{len(plan) - done} to run; {steps} steps each; runs in {out}, results in {results}"
    )

    def train_and_record(key, seed, cfg, rdir, want, pretrained=None):
        trainer(key, cfg, rdir, steps, echo=echo)
        write_json(os.path.join(rdir, DONE_MARK), {"steps": steps})
        result = evaluator(key, cfg, rdir)
        rec = build_record(key, seed, cfg, want, result, rdir, steps, pretrained)
        write_json(json_path(results, key, seed), rec)
        recs[(key, seed)] = rec
        main = ", ".join(f"{t} PSNR-Y {rec['tasks'][t]['psnr_y']:.2f}" for t in TASKS if t in rec["tasks"])
        logger.info(f"[{key} seed {seed}] results in {_rel(json_path(results, key, seed))}: {main}")
        return rec

    def fresh_folder(key, seed, rdir, want, why):
        stale = _stale_folder(rdir, want)
        if why or stale:
            if not force and not why:
                raise StudyError(
                    f"[{key} seed {seed}] {_rel(rdir)} holds a run of another config "
                    f"({stale} differs) and no results JSON; pass --force to start it over"
                )
            if os.path.isdir(rdir):
                logger.info(f"[{key} seed {seed}] --force: {why or stale + ' differs'}; starting {_rel(rdir)} over")
                shutil.rmtree(rdir)

    def v6_checkpoint(key, seed):
        """V6 seed k's checkpoint for K1/K2 of seed k, retrained when its JSON exists but it is gone."""
        cfg6, rdir6 = cfg_for("V6", seed)
        if _finished(rdir6, steps):
            return eval_checkpoint(rdir6)[0]
        path6 = json_path(results, "V6", seed)
        if not os.path.isfile(path6):
            raise StudyError(
                f"[{key} seed {seed}] needs V6 seed {seed}'s best.ckpt: add V6 to --variants "
                f"(e.g. --variants V6,{key})"
            )
        want6 = identity(cfg6)
        drift = first_drift(read_json(path6), want6)
        if drift:
            raise StudyError(drift_message("V6", seed, path6, drift))
        logger.info(
            f"[{key} seed {seed}] V6 seed {seed} has results ({_rel(path6)}) but its checkpoint is "
            f"not in {_rel(rdir6)} (a new machine?): retraining V6 seed {seed} for K1/K2 of seed "
            f"{seed} (its recorded results stay; the retrained run is added to them under 'retrained')"
        )
        fresh_folder("V6", seed, rdir6, want6, None)
        trainer("V6", cfg6, rdir6, steps, echo=echo)
        write_json(os.path.join(rdir6, DONE_MARK), {"steps": steps})
        again = build_record("V6", seed, cfg6, want6, evaluator("V6", cfg6, rdir6), rdir6, steps)
        rec6 = read_json(path6)
        rec6.setdefault("retrained", []).append(
            {k: again[k] for k in ("ckpt", "ckpt_step", "ckpt_sha256", "tasks", "real", "blind", "finished", "machine")}
        )
        write_json(path6, rec6)
        recs[("V6", seed)] = rec6
        return eval_checkpoint(rdir6)[0]

    for seed, key, state, drift, want in plan:
        if state == "done":
            logger.info(f"[{key} seed {seed}] done earlier ({_rel(json_path(results, key, seed))}): skipping")
            continue
        rdir = run_dir(out, key, seed)
        fresh_folder(key, seed, rdir, want, f"{drift[0]} differs from the recorded run" if drift else None)
        pretrained, cfg = None, None
        if VARIANTS[key][3] == 4:
            ckpt = v6_checkpoint(key, seed)
            pretrained = {"from": f"V6/seed{seed}", "path": _rel(ckpt), "sha256": sha256(ckpt)}
            cfg, _ = cfg_for(key, seed, ckpt)
        else:
            cfg, _ = cfg_for(key, seed)
        train_and_record(key, seed, cfg, rdir, want, pretrained)
        try:  # the report so far (a stopped session leaves it up to date)
            with quiet():
                write_report(results, table, None, None, figure=figure, expected=(variants, seeds))
        except StudyError as exc:  # e.g. budgets mixed until a --force rerun has gone round
            logger.info(f"study: report not updated yet ({exc})")
    return write_report(results, table, None, None, figure=figure, expected=(variants, seeds))


# ----------------------------------------------------------------------------- the report
def load_records(results):
    out = []
    for path in sorted(glob.glob(os.path.join(results, "*", "seed*.json"))):
        rec = read_json(path)
        if rec.get("schema") == SCHEMA and rec.get("variant") in VARIANTS:
            rec["_path"] = _rel(path)
            out.append(rec)
    return out


def write_report(results, table, variants=None, seeds=None, figure=True, expected=None):
    """docs/study.md (+ .csv, .json, ``<table>_psnr.png``) from ``results``/*/seed*.json only."""
    records = load_records(results)
    if variants:
        records = [r for r in records if r["variant"] in variants]
    if seeds:
        records = [r for r in records if int(r["seed"]) in seeds]
    if not records:
        raise StudyError(f"{_rel(results)}: no study results (run `python study.py ablations`)")
    msg = ablations_stats.check_budget(records)
    if msg:
        raise StudyError(msg)
    have = {(r["variant"], int(r["seed"])) for r in records}
    want_v, want_s = expected or (variants, seeds)
    want_v = list(want_v or dict.fromkeys(list(DEFAULT_VARIANTS) + [r["variant"] for r in records]))
    want_s = list(want_s or sorted(set(DEFAULT_SEEDS) | {int(r["seed"]) for r in records}))
    missing = [f"{v}/seed{s}" for s in want_s for v in sorted(want_v, key=list(VARIANTS).index) if (v, s) not in have]
    order, what = list(VARIANTS), {k: VARIANTS[k][0] for k in VARIANTS}
    base = os.path.splitext(table)[0]
    write_text(table, ablations_stats.render_markdown(records, order, what, STRATEGY_ROWS, missing))
    write_csv(base + ".csv", ablations_stats.csv_rows(records, order, what), ablations_stats.csv_fields())
    write_json(
        base + ".json",
        {
            "budget": ablations_stats.budget_of(records),
            "aggregate": ablations_stats.aggregate(records),
            "paired_vs_V6": ablations_stats.paired_table(records),
            "claims": ablations_stats.judge_claims(records),
            "missing": missing,
            "runs": [{"variant": r["variant"], "seed": r["seed"], "json": r["_path"]} for r in records],
        },
    )
    files = [table, base + ".csv", base + ".json"]
    if figure:
        try:
            files.append(ablations_stats.plot_psnr(records, order, base + "_psnr.png"))
        except ReportError as exc:
            logger.info(f"study.py: no figure ({exc})")
    logger.info(f"study report: {len(records)} runs -> " + ", ".join(_rel(f) for f in files))
    return {"records": records, "files": files, "missing": missing}
