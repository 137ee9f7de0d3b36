"""Training-step benchmark: seconds per step at batch 4, 256×256, GRAPH vs PYNATIVE on CPU, and the
data pipeline's share of step time.

Usage: python bench/bench_train.py [--presets tiny,default] [--steps 5] [--demo data/demo] [--json PATH]

For each preset and mode: the median time of a training step (TrainStep: forward, backward, loss
scaling, Adam) on a fixed in-memory batch. Then, for the tiny preset in GRAPH mode, the same step
fed by the real pipeline (demo data, 256 crops, default workers): the extra time per step is the
time the step waited for data, reported as a share of the step.
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

from src.config import load_config  # noqa: E402
from src.data.pipeline import create_train_dataset  # noqa: E402
from src.losses import SmartAssignLoss  # noqa: E402
from src.models import build_network  # noqa: E402
from src.train.step import TrainStep, build_optimizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_step(preset):
    net = build_network({"preset": preset}, seed=0)
    return TrainStep(SmartAssignLoss(net), build_optimizer(net.trainable_params(), 4e-4))


def step_time(preset, mode, steps, batch):
    ms.set_context(mode=mode)
    step = make_step(preset)
    rng = np.random.default_rng(0)
    x = ms.Tensor(rng.random((batch, 3, 256, 256), dtype=np.float32))
    y = ms.Tensor(rng.random((batch, 3, 256, 256), dtype=np.float32))
    lab = ms.Tensor(np.arange(batch, dtype=np.int32) % 2)  # rain, snow, rain, snow, ...
    step(x, y, lab)[0].asnumpy()  # compile / warm up
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step(x, y, lab)[0].asnumpy()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def pipeline_step_time(demo, steps, batch):
    """Median wall time per step of the tiny preset fed by the real pipeline (GRAPH)."""
    ms.set_context(mode=ms.GRAPH_MODE)
    cfg = load_config(os.path.join(ROOT, "configs", "demo.yaml"), [f"data.roots.demo={demo}", "data.crop_size=256"])
    data = create_train_dataset(cfg.data, batch, seed=0).repeat(100)
    step = make_step("tiny")
    it = data.create_tuple_iterator(num_epochs=1)
    first = next(it)
    step(*first)[0].asnumpy()  # compile / warm up
    times = []
    t = time.perf_counter()
    for i, batch_ in enumerate(it):
        step(*batch_)[0].asnumpy()
        now = time.perf_counter()
        times.append(now - t)
        t = now
        if i + 1 >= steps:
            break
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="tiny,default")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--demo", default=os.path.join(ROOT, "data", "demo"))
    parser.add_argument("--json", help="also write the results as JSON to this path")
    args = parser.parse_args(argv)
    if args.batch < 2 or args.batch % 2:
        parser.error(f"--batch {args.batch}: must be even (every batch is half rain, half snow)")
    ms.set_device("CPU")
    print(
        f"MindSpore {ms.__version__}, CPU, {os.cpu_count()} cores, batch {args.batch}, 256x256, "
        f"median of {args.steps} steps"
    )
    print("| preset | GRAPH s/step | PYNATIVE s/step | GRAPH speed-up |")
    print("|---|---|---|---|")
    rows = []
    for preset in [p.strip() for p in args.presets.split(",") if p.strip()]:
        g = step_time(preset, ms.GRAPH_MODE, args.steps, args.batch)
        p = step_time(preset, ms.PYNATIVE_MODE, args.steps, args.batch)
        rows.append({"preset": preset, "graph_s": g, "pynative_s": p, "speedup": p / g})
        print(f"| {preset} | {g:.3f} | {p:.3f} | {p / g:.2f}x |", flush=True)
    result = {"mindspore": ms.__version__, "batch": args.batch, "rows": rows}
    if not os.path.exists(os.path.join(args.demo, "demo.json")):
        from src.data.synth import build_demo

        build_demo(args.demo, seed=0)
    fixed = next((r["graph_s"] for r in rows if r["preset"] == "tiny"), None)
    if fixed is None:
        fixed = step_time("tiny", ms.GRAPH_MODE, args.steps, args.batch)
    fed = pipeline_step_time(args.demo, max(args.steps, 10), args.batch)
    share = max(0.0, fed - fixed) / fed
    result.update(pipeline_step_s=fed, fixed_batch_step_s=fixed, data_share=share)
    print(
        f"tiny, GRAPH, fed by the pipeline (demo data, 256 crops): {fed:.3f} s/step vs {fixed:.3f} s/step "
        f"on a fixed batch -> data loading {100 * share:.1f}% of step time"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
