"""Table 3 (V1-V6) and Table 4 (K1, K2) in miniature, and the related-work strategies at equal
budget (docs/design.md, "Strategies"): train every variant on the same budget, evaluate each on the held-out test
sets with eval.py's code, write Markdown/CSV/JSON tables.

Each variant is ``configs/demo.yaml`` (or ``--config``) plus the switches of its overlay in
``configs/ablations/`` given as overrides, trained in ``<out>/<variant>`` with
``--train.resume=auto``: a rerun continues an unfinished run and skips a finished one (its
checkpoint has reached ``--steps``). K1/K2 start from V6's ``best.ckpt`` (``train.pretrained``)
with everything before TKFF frozen. Evaluation: ``best.ckpt`` (the newest ``step_N.ckpt`` if no
validation has run yet), each test set with its own task's head (rain -> derain, snow -> desnow);
V4 variants only on their task. Wall time is the time spent in training, summed over reruns.
Several seeds per variant, resumable results and the paired comparisons: ``study.py`` (``--study``).
"""

import json
import os
import time

from .common import ReportError, md_table, write_csv, write_json, write_text
from ..metrics import fmt_number
from ..logs import get_logger, log_to_file, quiet
from .runlog import read_log_csv, read_val

logger = get_logger(__name__)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_CONFIG = os.path.join(ROOT, "configs", "demo.yaml")
TASKS = ("rain", "snow")
METRIC_KEYS = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")
METRIC_NAMES = ("PSNR-Y", "SSIM-Y", "PSNR-RGB", "SSIM-RGB")

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

# The paper's Table 3/4 (PSNR/SSIM on Rain1200 / CSD), for the ordering comparison.
PAPER = {
    "V1": ((32.34, 0.906), (31.73, 0.941)),
    "V2": ((32.11, 0.894), (31.93, 0.933)),
    "V3": ((32.46, 0.916), (32.03, 0.946)),
    "V4r": ((32.19, 0.919), None),
    "V4s": (None, (32.20, 0.944)),
    "V5": ((33.01, 0.921), (32.41, 0.953)),
    "V6": ((33.07, 0.927), (32.50, 0.957)),
    "K1": ((30.11, 0.904), (29.86, 0.915)),
    "K2": ((31.43, 0.913), (31.65, 0.932)),
}


def parse_variants(text):
    keys = [k.strip() for k in (text or "").split(",") if k.strip()] or list(DEFAULT_VARIANTS)
    expand = {"all": list(DEFAULT_VARIANTS) + ["CS", "TP", "TK"], "strategies": list(STRATEGY_ROWS)}
    keys = [k2 for k in keys for k2 in expand.get(k.lower(), [k])]
    lookup = {k.lower(): k for k in VARIANTS}
    bad = [k for k in keys if k.lower() not in lookup]
    if bad:
        raise ReportError(f"--variants: unknown {', '.join(bad)}; choose from {', '.join(VARIANTS)}")
    keys = [lookup[k.lower()] for k in keys]
    return sorted(set(keys), key=list(VARIANTS).index)


def _set_task(data_cfg, set_name):
    bench = set_name.split("/")[0]
    try:
        return data_cfg["benchmarks"][bench]["task"]
    except (KeyError, TypeError):
        raise ReportError(f"{set_name}: benchmark {bench!r} is not configured (configs/datasets.yaml)")


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
    raise ReportError(f"{run_dir}: no checkpoint to evaluate (training wrote none)")


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
        raise ReportError(f"[{key}] no test sets for tasks {', '.join(tasks)} in data.test_sets")
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


def collect_row(key, cfg, run_dir, result):
    rec = {"train_seconds": None}
    path = os.path.join(run_dir, "report_time.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as fh:
            rec.update(json.load(fh))
    val = read_val(run_dir)
    row = {
        "variant": key,
        "what": VARIANTS[key][0],
        "table": VARIANTS[key][3],
        "params": result["params"],
        "gflops": result.get("gflops"),
        "blind_accuracy": (result.get("blind") or {}).get("accuracy"),
        "blind_psnr_y": ((result.get("blind") or {}).get("restored") or {}).get("psnr_y"),
        "blind_ssim_y": ((result.get("blind") or {}).get("restored") or {}).get("ssim_y"),
        "steps": steps_done(run_dir),
        "ckpt": result["ckpt_kind"],
        "ckpt_step": result["ckpt_step"],
        "crop": int(cfg.data.crop_size),
        "batch": int(cfg.train.batch_size),
        "seed": int(cfg.train.seed),
        "lr": float(cfg.train.lr),
        "wall_s": rec["train_seconds"],
        "median_step_s": _median_step_time(run_dir),
        "best_val_psnr_y": max((v["psnr_y"] for v in val), default=None),
        "run_dir": os.path.relpath(run_dir),
    }
    for task in TASKS:
        got = result["tasks"].get(task)
        for m in METRIC_KEYS:
            row[f"{task}_{m}"] = got["restored"][m] if got else None
            row[f"{task}_input_{m}"] = got["input"][m] if got else None
    return row


def _ordering(rows, task):
    ranked = sorted(
        (r for r in rows if r.get(f"{task}_psnr_y") is not None and r["table"] == 3), key=lambda r: -r[f"{task}_psnr_y"]
    )
    return " > ".join(r["variant"] for r in ranked)


def _paper_ordering(keys, task):
    i = TASKS.index(task)
    have = [(k, PAPER[k][i][0]) for k in keys if VARIANTS[k][3] == 3 and PAPER.get(k) and PAPER[k][i]]
    return " > ".join(k for k, _ in sorted(have, key=lambda kv: -kv[1]))


def render_markdown(rows, budget):
    """The README-includable Markdown: budget, Table 3 rows, Table 4 rows, orderings."""
    lines = [
        "<!-- generated by `python report.py ablations`; do not edit by hand -->",
        f"Budget per variant: {budget['steps']} steps, {budget['preset']} preset, crop {budget['crop']}, "
        f"batch {budget['batch']}, lr {budget['lr']:g}, seed {budget['seed']}, CPU "
        f"({budget['cpus']} cores). Test sets: {', '.join(budget['test_sets'])} (full images, each set "
        "with its own task's head; MATLAB Y and RGB PSNR/SSIM as in eval.py). Checkpoint: best.ckpt "
        f"(validation PSNR-Y on {', '.join(budget.get('val_sets') or ['data.val_sets'])}: held out of the "
        "training data, never the test sets).",
        "",
    ]
    header = ["variant", "what", "params (M)"]
    for task in TASKS:
        header += [f"{task} {n}" for n in METRIC_NAMES]
    header += ["steps", "wall (min)", "s/step"]

    def table(subset):
        out = []
        first = next((r for r in rows if all(r.get(f"{t}_input_psnr_y") is not None for t in TASKS)), None)
        if first:
            out.append(
                ["input", "degraded input (no restoration)", "–"]
                + [fmt_number(first[f"{t}_input_{m}"], 2 if "psnr" in m else 4) for t in TASKS for m in METRIC_KEYS]
                + ["–", "–", "–"]
            )
        for r in subset:
            cells = [
                f"**{r['variant']}**" if r["variant"] == "V6" else r["variant"],
                r["what"],
                fmt_number(r["params"] / 1e6, 3),
            ]
            cells += [fmt_number(r[f"{t}_{m}"], 2 if "psnr" in m else 4) for t in TASKS for m in METRIC_KEYS]
            cells += [
                str(r["steps"]) + ("" if r["ckpt"] == "best" else " (last ckpt)"),
                fmt_number(r["wall_s"] / 60 if r["wall_s"] is not None else None, 1),
                fmt_number(r["median_step_s"], 2),
            ]
            out.append(cells)
        return md_table(header, out)

    t3 = [r for r in rows if r["table"] == 3]
    t4 = [r for r in rows if r["table"] == 4 or r["variant"] == "V6"]
    if t3:
        lines += ["**Table 3 (ablations V1–V6), synthetic demo data**", ""] + table(t3) + [""]
    if any(r["table"] == 4 for r in rows):
        lines += (
            ["**Table 4 (K1/K2: V6's encoder frozen, heads retrained for the same number of steps)**", ""]
            + table(t4)
            + [""]
        )
    strat = [r for r in rows if r["variant"] in STRATEGY_ROWS]
    if any(r["table"] == "S" for r in rows):
        names = {
            "V6": "smartassign",
            "V2": "hard",
            "CS": "cross_stitch",
            "TP": "task_param",
            "TK": "smartassign + topk",
        }
        head = (
            ["strategy", "config", "params (M)", "GFLOPs @256²", "s/step"]
            + [f"{t} {n}" for t in TASKS for n in METRIC_NAMES]
            + ["blind: right task", "blind PSNR-Y / SSIM-Y (all)"]
        )
        body = []
        for r in strat:
            cells = [
                names[r["variant"]],
                r["what"],
                fmt_number(r["params"] / 1e6, 3),
                fmt_number(r.get("gflops"), 2),
                fmt_number(r["median_step_s"], 2),
            ]
            cells += [fmt_number(r[f"{t}_{m}"], 2 if "psnr" in m else 4) for t in TASKS for m in METRIC_KEYS]
            acc = r.get("blind_accuracy")
            cells += [
                "–" if acc is None else f"{100 * acc:.0f}%",
                f"{fmt_number(r.get('blind_psnr_y'), 2)} / {fmt_number(r.get('blind_ssim_y'), 4)}",
            ]
            body.append(cells)
        lines += (
            ['**Knowledge-assignment strategies at equal budget (docs/design.md, "Strategies")**', ""]
            + md_table(head, body)
            + [""]
        )
    keys = [r["variant"] for r in rows]
    for task, bench in zip(TASKS, ("Rain1200", "CSD")):
        ours = _ordering(rows, task)
        if ours:
            lines.append(
                f"- {task} PSNR-Y ordering here: {ours}; paper ({bench}, same variants): "
                f"{_paper_ordering(keys, task) or '–'}"
            )
    return "\n".join(lines) + "\n"


CSV_FIELDS = (
    ["variant", "what", "table", "params"]
    + [f"{t}_{m}" for t in TASKS for m in METRIC_KEYS]
    + [f"{t}_input_{m}" for t in TASKS for m in METRIC_KEYS]
    + ["gflops", "blind_accuracy", "blind_psnr_y", "blind_ssim_y"]
    + [
        "steps",
        "ckpt",
        "ckpt_step",
        "crop",
        "batch",
        "seed",
        "lr",
        "wall_s",
        "median_step_s",
        "best_val_psnr_y",
        "run_dir",
    ]
)


def run_ablations(variants, steps, out, table, config=DEMO_CONFIG, overrides=(), echo=True, train=True):
    """Train/evaluate ``variants``; write ``table`` (.md) and its .csv/.json. Returns the rows."""
    import multiprocessing

    out = os.path.abspath(out)
    overrides = [o[2:] if o.startswith("--") else o for o in overrides]
    rows, budget = [], None
    for key in variants:
        run_dir = os.path.join(out, key)
        pretrained = None
        if VARIANTS[key][3] == 4:
            v6 = os.path.join(out, "V6")
            if steps_done(v6) < steps:
                raise ReportError(f"[{key}] needs a finished V6 run in {v6} (run V6 first: --variants V6,{key})")
            pretrained, _ = eval_checkpoint(v6)
        cfg = variant_config(key, config, steps, run_dir, overrides, pretrained)
        if budget is None:
            budget = {
                "steps": int(steps),
                "preset": cfg.model.preset,
                "crop": int(cfg.data.crop_size),
                "batch": int(cfg.train.batch_size),
                "lr": float(cfg.train.lr),
                "seed": int(cfg.train.seed),
                "cpus": multiprocessing.cpu_count(),
                "test_sets": list(cfg.data.get("test_sets") or []),
                "val_sets": list(cfg.data.get("val_sets") or []),
                "config": os.path.relpath(config),
                "overrides": overrides,
            }
        if train:
            train_variant(key, cfg, run_dir, steps, echo=echo)
        result = evaluate_variant(key, cfg, run_dir)
        rows.append(collect_row(key, cfg, run_dir, result))
        write_outputs(rows, budget, table)  # after every variant: partial tables survive a stop
    return rows


def write_outputs(rows, budget, table):
    base = os.path.splitext(table)[0]
    write_text(table, render_markdown(rows, budget))
    write_csv(base + ".csv", rows, CSV_FIELDS)
    write_json(base + ".json", {"budget": budget, "rows": rows})
    return table
