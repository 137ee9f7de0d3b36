"""Benchmarks in one command: run bench/bench_{model,ops,train,infer,data}.py with ``--json`` (each in
its own process, one after another so they do not compete for the CPU), keep their printed output,
and write the README's performance table (Markdown, with the raw results as JSON beside it).

A script that is missing (``bench/bench_train.py`` before it lands) is reported as such in the
table: to add a benchmark, add an entry to ``SCRIPTS`` and a renderer to ``RENDER``.
"""

import datetime
import json
import os
import platform
import subprocess
import sys
import time

from .common import ReportError, md_table, write_json, write_text
from ..metrics import fmt_number
from ..logs import get_logger

logger = get_logger(__name__)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ORDER = ("model", "ops", "train", "infer", "data")
# name: (script, full-run arguments, --quick arguments)
SCRIPTS = {
    "model": (
        "bench/bench_model.py",
        ["--presets", "tiny,lite,default", "--size", "256", "--repeat", "10"],
        ["--presets", "tiny", "--size", "64", "--repeat", "1"],
    ),
    "ops": ("bench/bench_ops.py", ["--repeat", "15"], ["--repeat", "2"]),
    "train": (
        "bench/bench_train.py",
        # batch 2: the default preset's GRAPH step at batch 4 peaks at 23 GiB on CPU (docs/performance.md)
        ["--presets", "tiny,lite,default", "--steps", "5", "--batch", "2"],
        ["--presets", "tiny", "--steps", "1"],
    ),
    "infer": (
        "bench/bench_infer.py",
        ["--sizes", "512,1080p", "--preset", "default"],
        ["--sizes", "512", "--preset", "tiny"],
    ),
    "data": ("bench/bench_data.py", [], ["--pairs", "2", "--batches", "3", "--rounds", "1"]),
}


def run_script(name, quick, workdir):
    """Run one benchmark; returns {"status", "result", "seconds", "log", "command"}."""
    script, full, fast = SCRIPTS[name]
    path = os.path.join(ROOT, script)
    if not os.path.isfile(path):
        return {
            "status": "missing",
            "result": None,
            "command": script,
            "note": f"{script} not found (hook: src/report/bench.py SCRIPTS['{name}'])",
        }
    out_json = os.path.join(workdir, f"{name}.json")
    if os.path.exists(out_json):
        os.remove(out_json)
    args = list(fast if quick else full)
    if name == "infer":
        args += ["--workdir", os.path.join(workdir, "infer_models")]
    if name == "train" and quick:
        demo = os.path.join(ROOT, "data", "demo")
        args += ["--demo", demo]
    cmd = [sys.executable, path] + args + ["--json", out_json]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    log = os.path.join(workdir, f"{name}.txt")
    with open(log, "w", encoding="utf-8") as fh:
        fh.write(
            "$ "
            + " ".join(cmd[1:])
            + "\n"
            + proc.stdout
            + ("\n--- stderr ---\n" + proc.stderr if proc.returncode else "")
        )
    shown = [os.path.relpath(a, ROOT) if os.path.isabs(a) and a.startswith(ROOT + os.sep) else a for a in args]
    rec = {"command": " ".join([script] + shown), "seconds": seconds, "log": log, "result": None}
    if os.path.isfile(out_json):
        with open(out_json, encoding="utf-8") as fh:
            rec["result"] = json.load(fh)
    if proc.returncode or rec["result"] is None:
        tail = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or ["no output"])[-1]
        rec.update(status="failed", note=f"exit {proc.returncode}: {tail}")
    else:
        rec["status"] = "ok"
    return rec


def render_model(r):
    rows = [
        [
            x["preset"],
            fmt_number(x["params_M"], 2),
            fmt_number(x["gflops"], 1),
            fmt_number(x["fwd_graph_s"], 3),
            fmt_number(x["fwd_pynative_s"], 3),
            fmt_number(x["train_graph_s"], 3),
            fmt_number(x["train_pynative_s"], 3),
            fmt_number(x["train_pynative_s"] / x["train_graph_s"], 1) + "×",
            f"{fmt_number(x['fwd_graph_gflops_per_s'], 1)} ({fmt_number(x['fwd_graph_best_gflops_per_s'], 1)})",
            fmt_number(x.get("pct_of_conv_ceiling"), 0) + "%",
        ]
        for x in r["rows"]
    ]
    lines = [
        f"**Model** (one {r['size']}×{r['size']} image, batch 1; FLOPs: multiply-add = 2, `src/flops.py`; "
        f"median of {r['repeat']} calls, best in brackets)",
        "",
    ]
    lines += md_table(
        [
            "preset",
            "params (M)",
            f"GFLOPs @{r['size']}²",
            "fwd GRAPH (s)",
            "fwd PYNATIVE (s)",
            "train step GRAPH (s)",
            "train step PYNATIVE (s)",
            "GRAPH speed-up (train)",
            "fwd GFLOP/s",
            "of conv ceiling",
        ],
        rows,
    )
    lines += [
        "",
        f"Same-run MindSpore ceiling (GRAPH): 3×3 conv 64→64 on 4×256×256 "
        f"{r['ceiling_conv_gflops_per_s']:.1f} ({r['ceiling_conv_best_gflops_per_s']:.1f}) GFLOP/s, "
        f"2048² matmul {r['ceiling_matmul_gflops_per_s']:.1f} ({r['ceiling_matmul_best_gflops_per_s']:.1f}) "
        "GFLOP/s. Efficiency = the best forward's GFLOP/s divided by the best conv's (interference on "
        "a shared machine only adds time).",
    ]
    return lines


def render_ops(r):
    rows = [
        [
            x["step"],
            x["variant"],
            fmt_number(x["ms"], 2),
            fmt_number(x.get("gflops_per_s"), 0),
            "yes" if x["used"] else "",
        ]
        for x in r["rows"]
    ]
    lines = [
        f"**Per-op costs behind the GLSF-ViT implementation** ({'×'.join(map(str, r['token_map']))} token map "
        f"= default preset at 256², GRAPH, best of {r['repeat']} ms; `used` marks what the network does)",
        "",
    ]
    return lines + md_table(["step", "variant", "ms", "GFLOP/s", "used"], rows)


def render_train(r):
    rows = [
        [x["preset"], fmt_number(x["graph_s"], 3), fmt_number(x["pynative_s"], 3), fmt_number(x["speedup"], 2) + "×"]
        for x in r["rows"]
    ]
    lines = [f"**Training step** (batch {r.get('batch', 4)}, 256×256, forward + backward + Adam)", ""]
    lines += md_table(["preset", "GRAPH (s/step)", "PYNATIVE (s/step)", "GRAPH speed-up"], rows)
    if r.get("pipeline_step_s") is not None:
        lines += [
            "",
            f"tiny, GRAPH, fed by the data pipeline: {r['pipeline_step_s']:.3f} s/step vs "
            f"{r['fixed_batch_step_s']:.3f} s/step on a fixed batch (data loading "
            f"{100 * r['data_share']:.1f}% of step time).",
        ]
    return lines


def render_infer(r):
    by_size = {}
    for x in r["rows"]:
        by_size.setdefault(x["size"], {})[x["backend"]] = x
    rows = []
    for size, d in by_size.items():
        ms_, ort = d.get("mindspore", {}), d.get("onnxruntime", {})
        sp = (ms_.get("s_per_mp") / ort["s_per_mp"]) if ms_.get("s_per_mp") and ort.get("s_per_mp") else None
        rows.append(
            [
                size,
                str(ms_.get("tiles", ort.get("tiles", "–"))),
                fmt_number(ms_.get("s_per_mp"), 2),
                fmt_number(ort.get("s_per_mp"), 2),
                fmt_number(sp, 2) + ("×" if sp else ""),
                fmt_number(ms_.get("peak_rss_gib"), 2),
                fmt_number(ort.get("peak_rss_gib"), 2),
            ]
        )
    lines = [
        f"**Inference** ({r['preset']} preset, tiles {r['tile']} overlap {r['tile_overlap']}, --task auto; "
        "compilation / session start excluded; peak RSS of the whole process)",
        "",
    ]
    lines += md_table(
        [
            "image",
            "tiles",
            "MindSpore GRAPH (s/MP)",
            "ONNX Runtime (s/MP)",
            "ORT speed-up",
            "MindSpore peak RSS (GiB)",
            "ORT peak RSS (GiB)",
        ],
        rows,
    )
    failed = [x for x in r["rows"] if x.get("failed")]
    if failed:
        lines += [""] + [f"- {x['backend']} {x['size']}: FAILED ({x['failed']})" for x in failed]
    return lines


def render_data(r):
    rows = [[x["source"], fmt_number(x["crops_per_s"], 1), fmt_number(x["cpu_ms_per_crop"], 2)] for x in r["rows"]]
    lines = [
        f"**Input pipeline** (crop {r['crop_size']}, batch {r['batch_size']}, {r['num_workers']} workers, "
        f"{r['pairs']} pairs per task, median of {r['rounds']} rounds, load average {r['load_average']:.1f})",
        "",
    ]
    return lines + md_table(["source", "crops/s", "CPU-ms per crop"], rows)


RENDER = {"model": render_model, "ops": render_ops, "train": render_train, "infer": render_infer, "data": render_data}


def render(results, quick):
    lines = [
        "<!-- generated by `python report.py bench`; do not edit by hand -->",
        f"CPU benchmarks, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{datetime.date.today().isoformat()}"
        + (" (**--quick**: tiny sizes, not representative)" if quick else "")
        + f"; load average at the end {os.getloadavg()[0]:.1f} (other work on the machine slows every number).",
        "",
    ]
    for name in ORDER:
        rec = results.get(name)
        if rec is None:
            continue
        if rec["status"] == "ok":
            try:
                lines += RENDER[name](rec["result"]) + [""]
                continue
            except (KeyError, TypeError, ZeroDivisionError) as exc:
                rec.update(status="failed", note=f"unexpected JSON from {SCRIPTS[name][0]}: {exc!r}")
        lines += [f"**{name}**: {rec['status']} — {rec['note']}", ""]
    lines.append(
        "Commands: " + "; ".join(f"`python {r['command']}`" for r in results.values() if r["status"] != "missing")
    )
    return "\n".join(lines) + "\n"


def run_bench(out, only="model,ops,data,infer,train", quick=False, workdir=None):
    """Run the selected benchmarks; write ``out`` (.md) and ``out`` with .json. Returns ``out``."""
    names = [n.strip() for n in only.split(",") if n.strip()]
    bad = [n for n in names if n not in SCRIPTS]
    if bad:
        raise ReportError(f"--only: unknown {', '.join(bad)}; choose from {', '.join(ORDER)}")
    workdir = os.path.abspath(workdir or os.path.splitext(out)[0] + "_raw")
    os.makedirs(workdir, exist_ok=True)
    results = {}
    for name in [n for n in ORDER if n in names]:
        logger.info(f"[bench] {name}: running {SCRIPTS[name][0]} ...")
        results[name] = run_script(name, quick, workdir)
        rec = results[name]
        logger.info(
            f"[bench] {name}: {rec['status']}"
            + (f" in {rec['seconds']:.0f} s" if "seconds" in rec else "")
            + (f" ({rec['note']})" if rec.get("note") else "")
        )
    write_text(out, render(results, quick))
    write_json(os.path.splitext(out)[0] + ".json", {"quick": quick, "results": results})
    failed = [n for n, r in results.items() if r["status"] == "failed"]
    if failed:
        raise ReportError(f"benchmarks failed: {', '.join(failed)} (table written to {out}; " f"logs in {workdir})")
    return out
