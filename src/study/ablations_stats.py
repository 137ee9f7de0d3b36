"""The multi-seed ablation study's tables, from the per-run JSONs only (no MindSpore): mean ± standard
deviation over seeds, paired differences against V6 of the same seed, one verdict per claim of
the paper, and the PSNR-Y figure.

Statistics: the standard deviation is the sample one (n − 1) over seeds; a paired difference is
``variant − V6`` (``K2 − K1`` for Table 4's claim) computed seed by seed, then summarised the same
way. A claim *holds* when the mean paired difference in the claimed direction exceeds its seed
spread (``mean > std``) and every seed agrees in sign; it *does not hold* when the same is true in
the opposite direction; anything else (including a single seed) is *not resolved at this scale*.
"""

import math

from ..data.labels import TASKS
from ..report.common import md_table

METRIC_KEYS = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")
METRIC_NAMES = {"psnr_y": "PSNR-Y", "ssim_y": "SSIM-Y", "psnr_rgb": "PSNR-RGB", "ssim_rgb": "SSIM-RGB"}
MAIN = "psnr_y"
REAL = "real_rain"  # the second test: real heavy-rain pairs (rain heads only)
EXTRA_KEYS = (
    "params",
    "gflops",
    "s_per_step",
    "blind_accuracy",
    "blind_psnr_y",
    "best_val_psnr_y",
    "train_seconds",
    "steps",
)
VERDICTS = ("holds", "does not hold", "not resolved at this scale")

# The paper's claims as paired comparisons (a beats b on PSNR-Y); per task: (a, b) or None.
CLAIMS = (
    ("GKFM/TKFF beat hard sharing", {"rain": ("V6", "V2"), "snow": ("V6", "V2")}),
    ("joint training beats single-task training", {"rain": ("V6", "V4r"), "snow": ("V6", "V4s")}),
    ("the knowledge contrast helps", {"rain": ("V6", "V1"), "snow": ("V6", "V1")}),
    ("the gated conv in GLSF-ViT helps", {"rain": ("V6", "V3"), "snow": ("V6", "V3")}),
    ("the recognition task helps", {"rain": ("V6", "V5"), "snow": ("V6", "V5")}),
    ("unique knowledge matters more than common knowledge", {"rain": ("K2", "K1"), "snow": ("K2", "K1")}),
)


def mean_std(values):
    """(mean, sample std, n) of the non-None values; std None when n < 2, mean None when n = 0."""
    vals = [float(v) for v in values if v is not None]
    n = len(vals)
    if not n:
        return None, None, 0
    m = sum(vals) / n
    if n < 2:
        return m, None, n
    return m, math.sqrt(sum((v - m) ** 2 for v in vals) / (n - 1)), n


def metric_value(rec, key):
    """One number of a run record by flat key: ``rain_psnr_y``, ``real_rain_ssim_y``, ``params``..."""
    for group, where in (
        (REAL + "_", "real"),
        ("rain_input_", "input:rain"),
        ("snow_input_", "input:snow"),
        ("rain_", "tasks:rain"),
        ("snow_", "tasks:snow"),
    ):
        if key.startswith(group):
            metric = key[len(group) :]
            if where == "real":
                got = (rec.get("real") or {}).get("rain")
            else:
                section, task = where.split(":")
                got = (rec.get(section) or {}).get(task)
            return None if not got else got.get(metric)
    if key == "blind_accuracy":
        return (rec.get("blind") or {}).get("accuracy")
    if key == "blind_psnr_y":
        return ((rec.get("blind") or {}).get("restored") or {}).get("psnr_y")
    return rec.get(key)


def metric_keys():
    keys = [f"{t}_{m}" for t in TASKS for m in METRIC_KEYS] + [f"{REAL}_{m}" for m in METRIC_KEYS]
    return keys + list(EXTRA_KEYS)


def by_variant(records):
    """{variant: {seed: record}}."""
    out = {}
    for r in records:
        out.setdefault(r["variant"], {})[int(r["seed"])] = r
    return out


def paired_diffs(runs, a, b, key):
    """[(seed, value(a) − value(b))] over the seeds where both have the value."""
    out = []
    for seed in sorted(set(runs.get(a, {})) & set(runs.get(b, {}))):
        va, vb = metric_value(runs[a][seed], key), metric_value(runs[b][seed], key)
        if va is not None and vb is not None:
            out.append((seed, float(va) - float(vb)))
    return out


def verdict(diffs):
    """holds / does not hold / not resolved at this scale, for paired differences in the claimed direction."""
    d = [v for _, v in diffs] if diffs and isinstance(diffs[0], tuple) else list(diffs)
    m, s, n = mean_std(d)
    if n < 2:
        return VERDICTS[2]
    if abs(m) > s and all(v > 0 for v in d):
        return VERDICTS[0]
    if abs(m) > s and all(v < 0 for v in d):
        return VERDICTS[1]
    return VERDICTS[2]


def aggregate(records):
    """{variant: {key: {"mean", "std", "n", "values": {seed: v}}}} over seeds."""
    runs = by_variant(records)
    out = {}
    for v, seeds in runs.items():
        out[v] = {}
        for key in metric_keys():
            vals = {s: metric_value(r, key) for s, r in sorted(seeds.items())}
            vals = {s: x for s, x in vals.items() if x is not None}
            m, sd, n = mean_std(vals.values())
            out[v][key] = {"mean": m, "std": sd, "n": n, "values": vals}
    return out


def paired_table(records, base="V6"):
    """{variant: {key: {"mean", "std", "n", "diffs": {seed: d}}}}: variant − base, seed by seed
    (plus "K2-K1")."""
    runs = by_variant(records)
    pairs = [(v, base) for v in runs if v != base] + ([("K2", "K1")] if "K1" in runs and "K2" in runs else [])
    out = {}
    for a, b in pairs:
        name = a if b == base else f"{a}-{b}"
        out[name] = {}
        for key in [f"{t}_{m}" for t in TASKS for m in METRIC_KEYS] + [f"{REAL}_{m}" for m in METRIC_KEYS]:
            d = paired_diffs(runs, a, b, key)
            m, sd, n = mean_std([x for _, x in d])
            out[name][key] = {"mean": m, "std": sd, "n": n, "diffs": dict(d)}
    return out


def _pm(m, s, digits, signed=False):
    if m is None:
        return "–"
    fmt = f"{{:{'+' if signed else ''}.{digits}f}}"
    return fmt.format(m) + ("" if s is None else " ± " + f"{s:.{digits}f}")


def judge_claims(records, key=MAIN):
    """One entry per claim: per task the paired differences a − b, their mean/std and the verdict,
    and the plain sentence."""
    runs = by_variant(records)
    out = []
    for text, per_task in CLAIMS:
        entry = {"claim": text, "tasks": {}}
        parts = []
        for task in TASKS:
            a, b = per_task[task]
            d = paired_diffs(runs, a, b, f"{task}_{key}")
            m, sd, n = mean_std([x for _, x in d])
            v = verdict(d) if d else VERDICTS[2]
            entry["tasks"][task] = {"a": a, "b": b, "diffs": dict(d), "mean": m, "std": sd, "n": n, "verdict": v}
            if not d:
                parts.append(f"{v} on {task} (no seed has both {a} and {b})")
                continue
            ahead = sum(1 for _, x in d if x > 0)
            spread = "one seed, no spread" if sd is None else f"± {sd:.2f}"
            parts.append(
                f"{v} on {task} ({a} − {b} = {m:+.2f} {spread} dB {METRIC_NAMES.get(key, key)}, "
                f"{a} ahead in {ahead}/{n} seeds)"
            )
        pair = " / ".join(dict.fromkeys(f"{a} vs {b}" for a, b in per_task.values()))
        entry["sentence"] = f"{text[0].upper()}{text[1:]} ({pair}): " + "; ".join(parts) + "."
        out.append(entry)
    return out


def check_budget(records):
    """The shared budget of the records (steps, preset, crop, batch, lr, data); StudyError-worthy
    message (str) when they differ, else None."""
    fields = {
        "train.max_steps": lambda c: c["train"]["max_steps"],
        "model.preset": lambda c: c["model"]["preset"],
        "data.crop_size": lambda c: c["data"]["crop_size"],
        "train.batch_size": lambda c: c["train"]["batch_size"],
        "train.lr": lambda c: c["train"]["lr"],
        "data.format": lambda c: c["data"].get("format", "folder"),
    }
    seen = {}
    for r in records:
        for name, get in fields.items():
            try:
                val = get(r["config"])
            except (KeyError, TypeError):
                continue
            first = seen.setdefault(name, (val, f"{r['variant']}/seed{r['seed']}"))
            if first[0] != val:
                return (
                    f"the results mix budgets ({name}: {first[0]!r} in {first[1]}, {val!r} in "
                    f"{r['variant']}/seed{r['seed']}); rerun those runs or move their JSONs away"
                )
    return None


def budget_of(records):
    ref = next((r for r in records if r["variant"] == "V6"), records[0])
    c = ref["config"]
    return {
        "steps": c["train"]["max_steps"],
        "preset": c["model"]["preset"],
        "crop": c["data"]["crop_size"],
        "batch": c["train"]["batch_size"],
        "lr": c["train"]["lr"],
        "format": c["data"].get("format", "folder"),
        "synthesis": sorted({int(r.get("synthesis", 1)) for r in records}),
        "eval": ref.get("eval_protocol"),
        "seeds": sorted({int(r["seed"]) for r in records}),
        "machine": ref.get("machine"),
    }


def budget_gain(records, base="V6"):
    """[(set, mean gain of ``base`` over the input, seed std, seeds)] for PSNR-Y on each test set:
    the budget is large enough to compare variants only where the spread is well below the gain."""
    runs = [r for r in records if r.get("variant") == base]
    out = []
    for key, label in (
        ("rain_psnr_y", "rain renders"),
        ("snow_psnr_y", "snow renders"),
        (f"{REAL}_psnr_y", "real rain pairs"),
    ):
        gains = []
        for r in runs:
            got, inp = metric_value(r, key), _input_value(r, key)
            if got is not None and inp is not None:
                gains.append(got - inp)
        m, s, n = mean_std(gains)
        if n:
            out.append((label, m, s, n))
    return out


def render_markdown(records, order, what, strategy_rows, missing=()):
    """docs/study.md: budget, claims, mean ± std table, paired differences, strategies, per-seed PSNR-Y."""
    agg, paired, claims = aggregate(records), paired_table(records), judge_claims(records)
    budget = budget_of(records)
    variants = [v for v in order if v in agg]
    ev = budget.get("eval") or {}
    lines = [
        "<!-- generated by `python study.py ablations --no_train` from results/study/*/seed*.json; "
        "do not edit by hand -->",
        "",
    ]
    lines.append(
        f"Budget per run: {budget['steps']} steps, {budget['preset']} preset, crop {budget['crop']}, batch "
        f"{budget['batch']}, lr {budget['lr']:g}, data format {budget['format']}, synthesis version "
        f"{', '.join(map(str, budget['synthesis']))} (src/data/synth.py SYNTH_VERSION); seeds "
        f"{', '.join(map(str, budget['seeds']))} (a seed sets both train.seed, the weights, and data.seed, "
        "the data order and the synthetic degradations). Checkpoint: best.ckpt, chosen by train.py on "
        "held-out validation data only."
    )
    if ev.get("description"):
        lines += ["", f"Test data: {ev['description']}"]
    gains = budget_gain(records)
    if gains:
        parts = [
            f"{label} {m:+.2f}"
            + (f" ± {s:.2f}" if s is not None else " (one seed)")
            + (
                ""
                if s is None
                else (" (spread well below the gain)" if s < abs(m) / 3 else " (spread NOT well below the gain)")
            )
            for label, m, s, _ in gains
        ]
        lines += [
            "",
            "Is the budget big enough? V6's PSNR-Y gain over the input, mean ± std over seeds: "
            + "; ".join(parts)
            + ".",
        ]
    lines += [
        "",
        "Numbers are mean ± sample standard deviation (n − 1) over seeds; a paired difference is "
        "computed seed by seed against V6 of the same seed. A claim *holds* when the mean paired "
        "PSNR-Y difference in its direction exceeds its seed spread and every seed agrees in sign, "
        "*does not hold* when that is true the other way, and is *not resolved at this scale* otherwise.",
        "",
        "**The paper's claims at this scale (PSNR-Y on the synthetic test renders)**",
        "",
    ]
    lines += [f"- {c['sentence']}" for c in claims]
    lines.append("")

    def head_metrics(prefix=""):
        return [f"{prefix}{t} {METRIC_NAMES[m]}" for t in TASKS for m in METRIC_KEYS] + [
            f"{prefix}real rain {METRIC_NAMES[m]}" for m in ("psnr_y", "ssim_y")
        ]

    keys = [f"{t}_{m}" for t in TASKS for m in METRIC_KEYS] + [f"{REAL}_psnr_y", f"{REAL}_ssim_y"]
    digits = lambda k: 2 if "psnr" in k else 4  # noqa: E731
    body = []
    ref = next((r for r in records if all(t in (r.get("input") or {}) for t in TASKS)), None)
    if ref:
        body.append(
            ["input", "degraded input (no restoration)", "–"]
            + [_pm(_input_value(ref, k), None, digits(k)) for k in keys]
        )
    for v in variants:
        a = agg[v]
        n = max(x["n"] for x in a.values())
        body.append(
            [f"**{v}**" if v == "V6" else v, what.get(v, ""), str(n)]
            + [_pm(a[k]["mean"], a[k]["std"], digits(k)) for k in keys]
        )
    lines += ["**Mean ± std over seeds**", ""] + md_table(["variant", "what", "seeds"] + head_metrics(), body) + [""]

    body = []
    for name, p in paired.items():
        n = max(x["n"] for x in p.values())
        body.append(
            [name.replace("-", " − ") if "-" in name else f"{name} − V6", str(n)]
            + [_pm(p[k]["mean"], p[k]["std"], digits(k), signed=True) for k in keys]
        )
    if body:
        lines += ["**Paired differences (same seed), mean ± std**", ""]
        lines += md_table(["difference", "pairs"] + head_metrics("Δ "), body) + [""]

    strat = [v for v in strategy_rows if v in agg]
    if any(v not in ("V6", "V2") for v in strat):
        body = []
        for v in strat:
            a = agg[v]
            acc = a["blind_accuracy"]
            body.append(
                [
                    v,
                    what.get(v, ""),
                    _pm(a["params"]["mean"] and a["params"]["mean"] / 1e6, None, 3),
                    _pm(a["gflops"]["mean"], None, 2),
                    _pm(a["s_per_step"]["mean"], a["s_per_step"]["std"], 2),
                    "–"
                    if acc["mean"] is None
                    else _pm(100 * acc["mean"], None if acc["std"] is None else 100 * acc["std"], 0) + " %",
                    _pm(a["blind_psnr_y"]["mean"], a["blind_psnr_y"]["std"], 2),
                ]
                + [_pm(a[f"{t}_psnr_y"]["mean"], a[f"{t}_psnr_y"]["std"], 2) for t in TASKS]
                + [
                    "–"
                    if v == "V6"
                    else _pm(paired[v][f"{t}_psnr_y"]["mean"], paired[v][f"{t}_psnr_y"]["std"], 2, signed=True)
                    for t in TASKS
                ]
            )
        lines += ["**Knowledge-assignment strategies (same budget)**", ""]
        lines += md_table(
            [
                "variant",
                "strategy",
                "params (M)",
                "GFLOPs @256²",
                "s/step",
                "blind: right task",
                "blind PSNR-Y",
                "rain PSNR-Y",
                "snow PSNR-Y",
                "Δ rain vs V6",
                "Δ snow vs V6",
            ],
            body,
        )
        lines += [
            "",
            "s/step is the median training step time of each run (wall clock; other work on the "
            "machine inflates it). Blind mode: the recognition head picks the head (`--task auto`).",
            "",
        ]

    seeds = budget["seeds"]
    body = []
    for v in variants:
        body.append(
            [v] + ["/".join(_pm(agg[v][f"{t}_psnr_y"]["values"].get(s), None, 2) for t in TASKS) for s in seeds]
        )
    lines += ["**Per seed: rain / snow PSNR-Y**", ""] + md_table(["variant"] + [f"seed {s}" for s in seeds], body)
    if missing:
        lines += ["", "Not run yet (no JSON): " + ", ".join(missing) + "."]
    return "\n".join(lines) + "\n"


def csv_rows(records, order, what):
    agg, paired = aggregate(records), paired_table(records)
    rows = []
    for v in [v for v in order if v in agg]:
        row = {"variant": v, "what": what.get(v, "")}
        for key, a in agg[v].items():
            row[f"{key}_mean"], row[f"{key}_std"], row[f"{key}_n"] = a["mean"], a["std"], a["n"]
        for key, p in (paired.get(v) or {}).items():
            row[f"d_{key}_mean"], row[f"d_{key}_std"] = p["mean"], p["std"]
        rows.append(row)
    return rows


def csv_fields():
    keys = metric_keys()
    diff = [f"{t}_{m}" for t in TASKS for m in METRIC_KEYS] + [f"{REAL}_{m}" for m in METRIC_KEYS]
    return (
        ["variant", "what"]
        + [f"{k}_{s}" for k in keys for s in ("mean", "std", "n")]
        + [f"d_{k}_{s}" for k in diff for s in ("mean", "std")]
    )


def _input_value(rec, key):
    """The degraded input's score for a restored-metric key (``rain_psnr_y`` → input vs target)."""
    if key.startswith(REAL + "_"):
        return ((rec.get("real_input") or {}).get("rain") or {}).get(key[len(REAL) + 1 :])
    task, metric = key.split("_", 1)
    return ((rec.get("input") or {}).get(task) or {}).get(metric)


def plot_psnr(records, order, path):
    """Error bars (mean ± std over seeds) of PSNR-Y per variant, one panel per test (rain, snow,
    real rain pairs), the single seeds as dots."""
    from ..report.common import pyplot, save_figure

    plt = pyplot()
    agg = aggregate(records)
    variants = [v for v in order if v in agg]
    panels = [(f"{t}_psnr_y", f"{t} (synthetic test renders)") for t in TASKS]
    if any(agg[v][f"{REAL}_psnr_y"]["n"] for v in variants):
        panels.append((f"{REAL}_psnr_y", "real heavy-rain pairs"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (key, title) in zip(axes[0], panels):
        xs = [i for i, v in enumerate(variants) if agg[v][key]["n"]]
        for i in xs:
            a = agg[variants[i]][key]
            ax.errorbar(
                [i],
                [a["mean"]],
                yerr=[a["std"] or 0.0],
                fmt="o",
                capsize=4,
                color="tab:red" if variants[i] == "V6" else "tab:blue",
            )
            vals = list(a["values"].values())
            ax.plot([i + 0.15] * len(vals), vals, ".", color="0.5", markersize=4)
        ref = next((r for r in records if _input_value(r, key) is not None), None)
        if ref:  # in the title, not as a line: it would squash the differences
            title += f"; input {_input_value(ref, key):.2f} dB"
        ax.set_xticks(range(len(variants)))
        ax.set_xticklabels(variants, rotation=45, fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("PSNR-Y (dB)")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Mean ± std over seeds (grey: single seeds)", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)
