"""The variants of the ablation study: Table 3 (V1-V6), Table 4 (K1, K2) and the related-work
strategies (docs/design.md, "Strategies"), and how one run of a variant trains and is evaluated.

A variant is the study's config plus the switches of its overlay in ``configs/ablations/`` given
as overrides, trained in its own run folder with ``--train.resume=auto``: a rerun continues an
unfinished run and skips a finished one (its checkpoint has reached the step budget). K1/K2 start
from V6's ``best.ckpt`` (``train.pretrained``) with everything before TKFF frozen. Evaluation of
the folder format (``data.test_sets``): ``best.ckpt`` (the newest ``step_N.ckpt`` if no
validation has run yet), each test set with its own task's head (rain -> derain, snow -> desnow);
V4 variants only on their task. Training time is summed over reruns in ``report_time.json``.
The seeds, the results JSONs and the corpus-format test renders: ``ablations.py``.
"""

import json
import os
import time

from ..logs import get_logger, log_to_file, quiet
from ..data.labels import TASKS
from ..report.common import write_json
from ..report.runlog import read_log_csv
from .common import StudyError

logger = get_logger(__name__)


# key: (what, overrides (the overlay's switches), tasks it is evaluated on, table)
VARIANTS = {
    "V6": ("SmartAssign (full model)", [], TASKS, 3),
    "V1": ("no knowledge contrast", ["model.contrast=false"], TASKS, 3),
    "V2": ("no GKFM/TKFF (hard sharing)", ["model.assignment=hard"], TASKS, 3),
    "V3": ("no gated conv in GLSF-ViT", ["model.gated_conv=false"], TASKS, 3),
    "V4r": ("single task: rain only", ["data.single_task=rain"], ("rain",), 3),
    "V4s": ("single task: snow only", ["data.single_task=snow"], ("snow",), 3),
    "V5": ("no recognition task", ["model.recognition=false"], TASKS, 3),
    "K1": (
        "frozen V6 encoder, heads read F_ck only",
        ["model.head_input=common", "model.freeze_encoder=true"],
        TASKS,
        4,
    ),
    "K2": (
        "frozen V6 encoder, D_dr reads F_rk, D_ds F_sk",
        ["model.head_input=unique", "model.freeze_encoder=true"],
        TASKS,
        4,
    ),
    # Related work as switches (table "S"; V6 = smartassign and V2 = hard sharing join it).
    "CS": ("cross-stitch sharing (CMUDRN)", ["model.assignment=cross_stitch"], TASKS, "S"),
    "TP": ("task-parameterised decoder (Decouple Learning)", ["model.assignment=task_param"], TASKS, "S"),
    "TK": ("SmartAssign + top-k attention (DRSformer)", ["model.attention=topk"], TASKS, "S"),
}
DEFAULT_VARIANTS = ("V6", "V1", "V2", "V3", "V4r", "V4s", "V5", "K1", "K2")
STRATEGY_ROWS = ("V6", "V2", "CS", "TP", "TK")  # `--variants strategies`


def parse_variants(text):
    keys = [k.strip() for k in (text or "").split(",") if k.strip()] or list(DEFAULT_VARIANTS)
    expand = {"all": list(DEFAULT_VARIANTS) + ["CS", "TP", "TK"], "strategies": list(STRATEGY_ROWS)}
    keys = [k2 for k in keys for k2 in expand.get(k.lower(), [k])]
    lookup = {k.lower(): k for k in VARIANTS}
    bad = [k for k in keys if k.lower() not in lookup]
    if bad:
        raise StudyError(f"--variants: unknown {', '.join(bad)}; choose from {', '.join(VARIANTS)}")
    keys = [lookup[k.lower()] for k in keys]
    return sorted(set(keys), key=list(VARIANTS).index)


def _set_task(data_cfg, set_name):
    bench = set_name.split("/")[0]
    try:
        return data_cfg["benchmarks"][bench]["task"]
    except (KeyError, TypeError):
        raise StudyError(f"{set_name}: benchmark {bench!r} is not configured (configs/datasets.yaml)")


def sets_by_task(data_cfg, names):
    out = {}
    for name in names or []:
        out.setdefault(_set_task(data_cfg, name), []).append(name)
    return out


def _newest_checkpoint(run_dir):
    from ..train.callbacks import list_checkpoints

    found = list_checkpoints(os.path.join(run_dir, "ckpt"))
    return found[-1] if found else None


def steps_done(run_dir):
    """Step of the newest training checkpoint in the run folder (0 if none)."""
    path = _newest_checkpoint(run_dir)
    if not path:
        return 0
    from ..train import checkpoint

    _, _, meta = checkpoint.read(path)
    return int(meta.get("step", 0))


def eval_checkpoint(run_dir):
    """(path, kind): best.ckpt, else the newest step checkpoint."""
    best = os.path.join(run_dir, "ckpt", "best.ckpt")
    if os.path.isfile(best):
        return best, "best"
    newest = _newest_checkpoint(run_dir)
    if newest:
        return newest, "last"
    raise StudyError(f"{run_dir}: no checkpoint to evaluate (training wrote none)")


def variant_config(key, config_path, steps, run_dir, overrides, pretrained=None):
    """The resolved training config of one variant."""
    from ..config import load_config

    _, switches, tasks, _ = VARIANTS[key]
    ov = (
        list(overrides)
        + list(switches)
        + [f"train.output_dir={run_dir}", f"train.max_steps={int(steps)}", "train.resume=auto"]
    )
    if pretrained:
        ov.append(f"train.pretrained={pretrained}")
    cfg = load_config(config_path, ov)
    if len(tasks) == 1:  # V4: validate (choose best.ckpt) on its own task only
        from ..data.readers import resolve_val_sets

        keep = [s for s in resolve_val_sets(cfg.data) if _set_task(cfg.data, s) == tasks[0]]
        cfg.data["val_sets"] = keep
    return cfg


def _add_time(run_dir, seconds):
    path = os.path.join(run_dir, "report_time.json")
    rec = {"train_seconds": 0.0, "sessions": 0}
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as fh:
            rec.update(json.load(fh))
    rec["train_seconds"] += seconds
    rec["sessions"] += 1
    write_json(path, rec)
    return rec


def train_variant(key, cfg, run_dir, steps, echo=True):
    """Train (or continue) one variant; returns True when it trained, False when already done."""
    from ..train.runner import run

    done = steps_done(run_dir)
    if done >= steps:
        logger.info(f"[{key}] finished earlier ({done} steps in {run_dir}): skipping training")
        return False
    logger.info(f"[{key}] training {'from step ' + str(done) if done else 'from scratch'} to step {steps} in {run_dir}")
    t0 = time.perf_counter()
    try:
        with log_to_file(os.path.join(run_dir, "train.log"), echo=echo):
            run(cfg)
    finally:
        _add_time(run_dir, time.perf_counter() - t0)
    return True


def evaluate_variant(key, cfg, run_dir):
    """Evaluate the variant's checkpoint on its tasks' test sets (cached in <run>/eval)."""
    from ..device import setup_device
    from ..flops import count_flops, count_params
    from ..infer.backends import MindSporeBackend
    from ..infer.engine import Restorer
    from ..infer.evaluate import evaluate
    from ..train.checkpoint import load_model

    ckpt, kind = eval_checkpoint(run_dir)
    tasks = VARIANTS[key][2]
    by_task = sets_by_task(cfg.data, cfg.data.get("test_sets"))
    sets = [s for t in tasks for s in by_task.get(t, [])]
    if not sets:
        raise StudyError(f"[{key}] no test sets for tasks {', '.join(tasks)} in data.test_sets")
    out_dir = os.path.join(run_dir, "eval")
    cache = os.path.join(out_dir, "report_eval.json")
    stamp = {"ckpt": ckpt, "mtime": os.path.getmtime(ckpt), "sets": sets, "version": 2}
    if os.path.isfile(cache):
        with open(cache, encoding="utf-8") as fh:
            saved = json.load(fh)
        if saved.get("stamp") == stamp:
            return saved["result"]
    setup_device(cfg.train.device_target, cfg.train.device_id, "graph")
    net, model_cfg, meta = load_model(ckpt)
    restorer = Restorer(MindSporeBackend(net, model_cfg))
    with quiet():
        summary = evaluate(restorer, cfg.data, sets, out_dir, task=None)
    result = {
        "ckpt": ckpt,
        "ckpt_kind": kind,
        "ckpt_step": meta.get("step"),
        "params": count_params(net),
        "gflops": count_flops(net, (1, 3, 256, 256)) / 1e9,
        "tasks": {
            t: {"restored": summary["tasks"][t]["restored"], "input": summary["tasks"][t]["input"]}
            for t in tasks
            if t in summary["tasks"]
        },
        "sets": sets,
    }
    if net.recognition and len(tasks) == len(TASKS):
        # Blind mode (--task auto): how often recognition names the right task, and the quality of
        # what auto returns (the chosen head; cross_stitch's fused image; task_param's blind decode).
        with quiet():
            blind = evaluate(restorer, cfg.data, sets, os.path.join(run_dir, "eval_auto"), task="auto")
        right = sum(v["recognized"].get(v["task"], 0) for v in blind["sets"].values())
        total = sum(v["restored"]["count"] for v in blind["sets"].values())
        result["blind"] = {"accuracy": right / total if total else None, "restored": blind["all"]["restored"]}
    write_json(cache, {"stamp": stamp, "result": result})
    logger.info(f"[{key}] evaluated {os.path.basename(ckpt)} (step {meta.get('step')}) on {', '.join(sets)}")
    return result


def _median_step_time(run_dir):
    try:
        st = sorted(v for v in read_log_csv(os.path.join(run_dir, "log.csv")).get("step_time", []) if v == v)
    except FileNotFoundError:
        return None
    return st[len(st) // 2] if st else None
