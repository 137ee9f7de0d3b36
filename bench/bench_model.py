"""Model benchmark: parameters, FLOPs, forward / forward+backward time in GRAPH and PYNATIVE on CPU.

Usage: python bench/bench_model.py [--presets tiny,default] [--size 256] [--repeat 10] [--json PATH]

Prints, per preset: parameters, FLOPs of one 256×256 forward (multiply-add = 2 FLOPs), forward and
forward+backward (one training step, batch 1) time in both modes, achieved GFLOP/s, and, measured
in the same run, MindSpore's own GFLOP/s on a large 3×3 convolution and a large matmul, so the
efficiency of the network relative to the backend's ceiling is visible.

Every time is taken after two warm-up calls; the table shows the median of ``--repeat`` calls, and
the efficiency compares the best call of the network with the best call of the ceiling conv (on a
shared machine, interference only ever adds time, so best-of-N is the stable statistic for both).
The ceiling ops return a single element, so their 64 MB / 16 MB results are not copied to the host.
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import src  # noqa: E402,F401  (oneDNN ISA cap before mindspore)
import mindspore as ms  # noqa: E402
import numpy as np  # noqa: E402
from mindspore import nn, ops  # noqa: E402

from src.flops import count_flops, count_params  # noqa: E402
from src.losses import SmartAssignLoss  # noqa: E402
from src.models import build_network  # noqa: E402
from src.train.step import TrainStep, build_optimizer  # noqa: E402


def timed(fn, repeat, best=False):
    """Median (or best) seconds of ``repeat`` calls after two warm-up calls (the first compiles)."""
    fn()
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return (statistics.median(times), min(times)) if best else statistics.median(times)


class _Conv(nn.Cell):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(64, 64, 3, pad_mode="same")

    def construct(self, x):
        return self.conv(x)[:1, :1, :1, :1]


class _MatMul(nn.Cell):
    def construct(self, a, b):
        return ops.matmul(a, b)[:1, :1]


def ceiling(repeat):
    """(median, best) GFLOP/s of a 3×3 conv (64→64, 4×256×256) and of a 2048² fp32 matmul, GRAPH."""
    conv, mm = _Conv(), _MatMul()
    x = ms.Tensor(np.random.rand(4, 64, 256, 256).astype(np.float32))
    a = ms.Tensor(np.random.rand(2048, 2048).astype(np.float32))
    conv_flops, mm_flops = 2 * 9 * 64 * 64 * 4 * 256 * 256, 2 * 2048**3
    t_conv = timed(lambda: conv(x).asnumpy(), repeat, best=True)
    t_mm = timed(lambda: mm(a, a).asnumpy(), repeat, best=True)
    return tuple(conv_flops / t / 1e9 for t in t_conv), tuple(mm_flops / t / 1e9 for t in t_mm)


def bench_preset(preset, size, repeat):
    net = build_network({"preset": preset}, seed=0)
    params, flops = count_params(net), count_flops(net, (1, 3, size, size))
    rng = np.random.default_rng(0)
    x = ms.Tensor(rng.random((1, 3, size, size), dtype=np.float32))
    label = ms.Tensor(np.array([0], np.int32))
    row = {"preset": preset, "params_M": params / 1e6, "gflops": flops / 1e9}
    for mode_name, mode in (("graph", ms.GRAPH_MODE), ("pynative", ms.PYNATIVE_MODE)):
        ms.set_context(mode=mode)
        infer = build_network({"preset": preset}, seed=0)
        infer.set_train(False)
        if mode == ms.GRAPH_MODE:
            row["fwd_graph_s"], row["fwd_graph_best_s"] = timed(lambda: infer(x)[0].asnumpy(), repeat, best=True)
        else:
            row[f"fwd_{mode_name}_s"] = timed(lambda: infer(x)[0].asnumpy(), repeat)
        train_net = build_network({"preset": preset}, seed=0)
        step = TrainStep(SmartAssignLoss(train_net), build_optimizer(train_net.trainable_params(), 4e-4))
        row[f"train_{mode_name}_s"] = timed(lambda: step(x, x, label)[0].asnumpy(), repeat)
    ms.set_context(mode=ms.GRAPH_MODE)
    row["fwd_graph_gflops_per_s"] = row["gflops"] / row["fwd_graph_s"]
    row["fwd_graph_best_gflops_per_s"] = row["gflops"] / row["fwd_graph_best_s"]
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="tiny,default")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--json", help="also write the results as JSON to this path")
    args = parser.parse_args(argv)
    ms.set_device("CPU")
    ms.set_context(mode=ms.GRAPH_MODE)
    (conv_gfs, conv_best), (mm_gfs, mm_best) = ceiling(args.repeat)
    print(
        f"MindSpore {ms.__version__}, CPU, {os.cpu_count()} cores, input {args.size}x{args.size}, batch 1; "
        f"median (best) of {args.repeat} calls"
    )
    print(
        f"ceiling (GRAPH): 3x3 conv 64->64 {conv_gfs:.1f} ({conv_best:.1f}) GFLOP/s; "
        f"matmul 2048^2 {mm_gfs:.1f} ({mm_best:.1f}) GFLOP/s"
    )
    header = (
        "| preset | params (M) | GFLOPs | fwd GRAPH (s) | fwd PYNATIVE (s) | train step GRAPH (s) "
        "| train step PYNATIVE (s) | fwd GFLOP/s | best fwd / best conv |"
    )
    print(header)
    print("|---" * 9 + "|")
    rows = []
    for preset in args.presets.split(","):
        r = bench_preset(preset.strip(), args.size, args.repeat)
        r["pct_of_conv_ceiling"] = 100 * r["fwd_graph_best_gflops_per_s"] / conv_best
        r["pct_of_conv_ceiling_median"] = 100 * r["fwd_graph_gflops_per_s"] / conv_gfs
        rows.append(r)
        print(
            f"| {r['preset']} | {r['params_M']:.2f} | {r['gflops']:.1f} | {r['fwd_graph_s']:.3f} | "
            f"{r['fwd_pynative_s']:.3f} | {r['train_graph_s']:.3f} | {r['train_pynative_s']:.3f} | "
            f"{r['fwd_graph_gflops_per_s']:.1f} ({r['fwd_graph_best_gflops_per_s']:.1f}) | "
            f"{r['pct_of_conv_ceiling']:.0f}% |",
            flush=True,
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "mindspore": ms.__version__,
                    "cpus": os.cpu_count(),
                    "size": args.size,
                    "repeat": args.repeat,
                    "ceiling_conv_gflops_per_s": conv_gfs,
                    "ceiling_conv_best_gflops_per_s": conv_best,
                    "ceiling_matmul_gflops_per_s": mm_gfs,
                    "ceiling_matmul_best_gflops_per_s": mm_best,
                    "rows": rows,
                },
                fh,
                indent=2,
            )


if __name__ == "__main__":
    main()
