"""Inference speed and memory: seconds per megapixel and peak RSS, MindSpore GRAPH vs ONNX Runtime.

    python bench/bench_infer.py                      # 512x512, 1920x1080, 3840x2160, both backends
    python bench/bench_infer.py --sizes 512,1080p --backends onnxruntime --preset tiny
    python bench/bench_infer.py --json results.json    # also write the rows as JSON
    python bench/bench_infer.py --sizes 1080p --configs tiny@256/32,lite@512/32   # same-run ratios
    python bench/bench_infer.py --sizes 1080p --configs tiny@256/32,lite@512/32:rain   # a known task
    python bench/bench_infer.py --sizes 1080p --configs tiny@256/32:auto-tiles,lite@512/32  # the old blind mode
    python bench/bench_infer.py --sizes 1080p --configs tiny@256/32:auto-tiles,lite@512/32 --rounds 5  # in turn
    python bench/bench_infer.py --sizes 480x320,1080p --backends mindspore \
        --configs old.ckpt@512/32,weights/lite.ckpt@512/32 --rounds 3      # two checkpoints, same run

A network of the chosen preset with random weights (speed does not depend on the weights), or the
network a checkpoint describes when the config names a ``.ckpt`` file, is saved as a checkpoint
and exported to ONNX at the tile size (``src/infer/export.py``). Each
(backend, size) runs in its own subprocess, which restores one synthetic image with the shared
engine (``--task auto`` unless a config names ``:rain`` or ``:snow``: then only that head runs,
and the ONNX model is exported with that task; ``:auto-tiles`` is blind mode as the engine ran it
before the recognition view, both image heads and the recognition head on every tile; tiles of
``--tile`` with ``--tile_overlap``) after one warm-up run on the same image (graph compilation and
session start are excluded from the timing), times ``--repeats`` runs (the median is reported),
and reports its own peak RSS
(``VmHWM`` of ``/proc/self/status``: model, runtime and image buffers included; ``ru_maxrss`` would
carry over the parent's peak through fork and exec). ``--rounds N`` measures the configs in
turn N times and reports each ratio's median over the rounds: on a shared machine a slow spell
then slows every config of a round, not only the one running in it. Targets: 1920x1080 with peak RSS
<= 3 GiB; 3840x2160 completes.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SIZES = {"480x320": (480, 320), "512": (512, 512), "1080p": (1920, 1080), "4k": (3840, 2160)}
RSS_TARGET_GIB = 3.0


def peak_rss_gib():
    """This process's own peak RSS: ``VmHWM`` starts afresh at exec, unlike ``ru_maxrss``, which a
    child started by a large parent inherits."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def synthetic(width, height):
    import numpy as np

    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([0.5 + 0.3 * np.sin(xx / (37 + 11 * c) + yy / (53 + 7 * c)) for c in range(3)], -1)
    rng = np.random.default_rng(0)
    img += rng.normal(0, 0.05, img.shape).astype(np.float32)
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)


def worker(args):
    """Child process: restore one image, print a JSON line."""
    import src  # noqa: F401
    from src.infer.engine import RECOGNITION_VIEW, Restorer

    if args.backend == "mindspore":
        from src.device import setup_device
        from src.infer.backends import MindSporeBackend

        setup_device("CPU", mode="graph")
        backend = MindSporeBackend.from_checkpoint(args.ckpt)
    else:
        from src.infer.backends import OnnxBackend

        backend = OnnxBackend(args.onnx, threads=args.threads)
    task, view = args.task, RECOGNITION_VIEW
    if task == "auto-tiles":  # the engine before the recognition view: both heads + recognition on every tile
        task, view = "auto", 1 << 30
    restorer = Restorer(backend, tile=args.tile, overlap=args.tile_overlap, view=view)
    width, height = (int(v) for v in args.size.split("x"))
    image = synthetic(width, height)
    t0 = time.perf_counter()
    restorer.restore(image, task=task)  # compile / warm up every graph and shape the timed run uses
    warm = time.perf_counter() - t0
    times = []
    for _ in range(args.repeats):  # the median: single runs varied by up to 40% on this machine
        t0 = time.perf_counter()
        result = restorer.restore(image, task=task)
        times.append(time.perf_counter() - t0)
    seconds = sorted(times)[len(times) // 2]
    rss_gib = peak_rss_gib()
    print(
        "RESULT "
        + json.dumps(
            {
                "backend": args.backend,
                "size": args.size,
                "tiles": result.tiles,
                "warmup_s": warm,
                "seconds": seconds,
                "runs_s": times,
                "s_per_mp": seconds / (width * height / 1e6),
                "peak_rss_gib": rss_gib,
            }
        )
    )


def prepare(preset, tile, folder, task="auto"):
    """Random-weight checkpoint of a preset (or a given ``.ckpt`` file as it is) and its ONNX export
    at the tile size (all outputs for ``auto``, else only ``task``'s image, as ``export.py --task
    rain`` writes it)."""
    import src  # noqa: F401
    import mindspore as ms
    from src.models import build_network
    from src.train import checkpoint
    from src.infer.export import export_network

    ms.set_device("CPU")
    ms.set_context(mode=ms.GRAPH_MODE)
    if preset.endswith(".ckpt"):
        ckpt = os.path.abspath(preset)
        net, cfg, _ = checkpoint.load_model(ckpt)
        name = os.path.splitext(os.path.basename(preset))[0]
    else:
        cfg, name = {"preset": preset}, preset
        net = build_network(cfg, seed=0)
        ckpt = checkpoint.save(net, os.path.join(folder, f"{preset}.ckpt"), cfg)
    export_task = task if task in ("rain", "snow") else "all"
    onnx, _ = export_network(
        net, "ONNX", os.path.join(folder, f"{name}_{tile}_{export_task}"), tile, tile, task=export_task, model_cfg=cfg
    )
    return ckpt, onnx


def parse_configs(text, preset, tile, overlap):
    """``preset@tile/overlap[:task],...`` → [(preset, tile, overlap, task)] (task ``auto`` unless
    given; a ``.ckpt`` path in place of the preset benches that checkpoint); empty → the single
    --preset/--tile."""
    if not text:
        return [(preset, tile, overlap, "auto")]
    out = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        try:
            head, _, task = item.partition(":")
            name, rest = head.split("@")
            t, o = rest.split("/")
            task = task or "auto"
            if task not in ("auto", "auto-tiles", "rain", "snow"):
                raise ValueError(task)
            out.append((name, int(t), int(o), task))
        except ValueError:
            raise SystemExit(
                f"bench_infer.py: --configs item {item!r} is not preset@tile/overlap[:auto|auto-tiles|rain|snow] "
                "(preset: a name or a .ckpt file)"
            ) from None
    return out


def label(preset, tile, overlap, task):
    return f"{preset}@{tile}/{overlap}" + ("" if task == "auto" else f":{task}")


def prepare_config(preset, tile, overlap, task, folder):
    """(checkpoint, ONNX) of one configuration, timed."""
    t0 = time.perf_counter()
    models = prepare(preset, tile, folder, task)
    print(
        f"preset {preset}: checkpoint + ONNX export at {tile}x{tile} in {time.perf_counter() - t0:.1f} s ({folder})",
        flush=True,
    )
    return models


def run_config(preset, tile, overlap, task, backends, sizes, threads, models, repeats=3, round_=0):
    """Rows of one (preset, tile, overlap, task) configuration, each (backend, size) in its own process;
    ``models``: its (checkpoint, ONNX) pair from ``prepare_config``."""
    ckpt, onnx = models
    print(f"{label(preset, tile, overlap, task)}" + (f", round {round_ + 1}" if round_ else ""), flush=True)
    print(
        f"{'backend':12} {'size':>10} {'tiles':>5} {'warm-up s':>9} {'seconds':>8} {'s/MP':>7} "
        f"{'peak RSS GiB':>12}",
        flush=True,
    )
    rows = []
    for backend in backends:
        for name in sizes:
            w, h = SIZES[name]
            cmd = [
                sys.executable,
                os.path.abspath(__file__),
                "--_worker",
                "--backend",
                backend,
                "--size",
                f"{w}x{h}",
                "--ckpt",
                ckpt,
                "--onnx",
                onnx,
                "--tile",
                str(tile),
                "--tile_overlap",
                str(overlap),
                "--task",
                task,
                "--repeats",
                str(repeats),
            ]
            if threads:
                cmd += ["--threads", str(threads)]
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode or not lines:
                tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                print(f"{backend:12} {w}x{h:>5}  FAILED (exit {proc.returncode}): {tail}", flush=True)
                rows.append(
                    {
                        "backend": backend,
                        "size": f"{w}x{h}",
                        "failed": tail,
                        "preset": preset,
                        "tile": tile,
                        "tile_overlap": overlap,
                        "task": task,
                        "round": round_,
                    }
                )
                continue
            r = json.loads(lines[-1][len("RESULT ") :])
            rows.append(dict(r, name=name, preset=preset, tile=tile, tile_overlap=overlap, task=task, round=round_))
            note = ""
            if name == "1080p":
                note = "  ok (<= 3 GiB)" if r["peak_rss_gib"] <= RSS_TARGET_GIB else "  OVER 3 GiB"
            print(
                f"{backend:12} {w:>5}x{h:<4} {r['tiles']:>5} {r['warmup_s']:>9.1f} "
                f"{r['seconds']:>8.1f} {r['s_per_mp']:>7.1f} {r['peak_rss_gib']:>12.2f}{note}",
                flush=True,
            )
    return rows


def _key(r):
    return (r["preset"], r["tile"], r["tile_overlap"], r["task"])


def print_ratios(rows, configs):
    """Speed-up of every configuration over the first, per backend, size and round (same run); with
    several rounds also each one's median and range over the rounds."""
    base = configs[0]
    ok = [r for r in rows if "failed" not in r]
    print(f"speed-up over {label(*base)} (same run):")
    for r in ok:
        ref = [
            b
            for b in ok
            if _key(b) == base and (b["backend"], b["size"], b["round"]) == (r["backend"], r["size"], r["round"])
        ]
        if ref and _key(r) != base:
            r["speedup"] = ref[0]["seconds"] / r["seconds"]
            print(
                f"  {label(*_key(r))} {r['backend']} {r['size']} round {r['round'] + 1}: "
                f"{r['speedup']:.2f}x ({ref[0]['seconds']:.2f} s -> {r['seconds']:.2f} s)"
            )
    groups = {}
    for r in ok:
        if "speedup" in r:
            groups.setdefault((_key(r), r["backend"], r["size"]), []).append(r["speedup"])
    summary = []
    for (key, backend, size), ups in groups.items():
        if len(ups) > 1:
            ups, med = sorted(ups), statistics.median(ups)
            summary.append({"config": label(*key), "backend": backend, "size": size, "median": med, "runs": ups})
            print(
                f"  {label(*key)} {backend} {size}: median {med:.2f}x over {len(ups)} rounds "
                f"({ups[0]:.2f}-{ups[-1]:.2f}x)"
            )
    return summary


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="512,1080p,4k", help=f"comma list of {', '.join(SIZES)}")
    p.add_argument("--backends", default="mindspore,onnxruntime")
    p.add_argument("--preset", default="default")
    p.add_argument("--tile", type=int, default=256, help="tile size (the engine default)")
    p.add_argument("--tile_overlap", type=int, default=32)
    p.add_argument(
        "--configs",
        default="",
        help="compare preset@tile/overlap[:rain|snow|auto-tiles],... in one run (ratios over the first; "
        "the task defaults to auto); overrides --preset/--tile",
    )
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per (backend, size); the median is reported")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every config this many times, in turn (config 1, 2, ..., then again), so a "
        "slow spell of a shared machine hits all of them; ratios per round and their median",
    )
    p.add_argument("--workdir", default=None, help="keep the checkpoint/ONNX here (default: temp)")
    p.add_argument("--json", help="also write the results as JSON to this path")
    p.add_argument("--_worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--backend", help=argparse.SUPPRESS)
    p.add_argument("--size", help=argparse.SUPPRESS)
    p.add_argument("--ckpt", help=argparse.SUPPRESS)
    p.add_argument("--onnx", help=argparse.SUPPRESS)
    p.add_argument("--task", default="auto", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._worker:
        worker(args)
        return 0
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        p.error(f"--sizes: unknown {unknown}; choose from {', '.join(SIZES)}")
    folder = args.workdir or tempfile.mkdtemp(prefix="bench_infer_")
    os.makedirs(folder, exist_ok=True)
    configs = parse_configs(args.configs, args.preset, args.tile, args.tile_overlap)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if args.rounds < 1:
        p.error(f"--rounds must be at least 1, got {args.rounds}")
    rows, models, summary = [], {}, []
    for round_ in range(args.rounds):
        for config in configs:
            if config not in models:
                models[config] = prepare_config(*config, folder)
            rows += run_config(*config, backends, sizes, args.threads, models[config], args.repeats, round_)
    failed = sum(1 for r in rows if "failed" in r)
    if len(configs) > 1:
        summary = print_ratios(rows, configs)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "preset": args.preset,
                    "tile": args.tile,
                    "tile_overlap": args.tile_overlap,
                    "threads": args.threads,
                    "cpus": os.cpu_count(),
                    "rounds": args.rounds,
                    "rows": rows,
                    "speedups": summary,
                },
                fh,
                indent=2,
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
