"""Benchmark the training input pipeline: crops per second from folders and from MindRecord.

Builds a benchmark-like set in a temporary folder (Rain1200-style side-by-side JPEGs, 1024x512,
and CSD-style 640x480 TIFF pairs, rendered from scikit-image photos), converts it to MindRecord,
and times ``create_train_dataset`` with the default data config (workers, crop size).

    python bench/bench_data.py [--pairs 48] [--batches 60] [--batch_size 4] [--json PATH] [--data.num_workers=2]
    python bench/bench_data.py --corpus [DIR] [--steps 40]   # data.format=corpus: share of a training step

``--corpus``: the clean-photo pipeline of ``configs/photos.yaml`` (fresh rendering per crop, crop
128, batch 8, 2 workers) over DIR (default: the scikit-image photos, written to a temporary folder),
timed as that recipe's training step (its preset, lite) fed by it against the same step on a fixed batch; the
difference is the data loading's share of the step on this machine (target: under 10%).
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import src  # noqa: E402,F401
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from src.config import load_config  # noqa: E402
from src.data.image_io import write_rgb  # noqa: E402
from src.data.synth import DEMO_TEST, DEMO_TRAIN, demo_photos, render  # noqa: E402


def build_set(root, pairs):
    """Rain1200-like and CSD-like pairs under ``root``."""
    photos = demo_photos(DEMO_TRAIN + DEMO_TEST)
    for i in range(pairs):
        name, rgb = photos[i % len(photos)]
        sq = cv2.resize(rgb, (512, 512), interpolation=cv2.INTER_AREA)
        side = np.concatenate([render(sq, "rain", 0, name, i), sq], axis=1)
        write_rgb(os.path.join(root, "Rain1200", "train", f"{i}.jpg"), side, quality=90)
        im = cv2.resize(rgb, (640, 480), interpolation=cv2.INTER_AREA)
        write_rgb(os.path.join(root, "CSD", "Train", "Snow", f"{i}.tif"), render(im, "snow", 0, name, i))
        write_rgb(os.path.join(root, "CSD", "Train", "Gt", f"{i}.tif"), im)


def time_pipeline(cfg, batch_size, batches, warmup=5):
    """(crops per second, CPU milliseconds per crop summed over all threads of this process)."""
    from src.data.pipeline import create_train_dataset

    d = create_train_dataset(cfg.data, batch_size, seed=0)
    d = d.repeat(-(-(batches + warmup) // d.get_dataset_size()))
    it = d.create_tuple_iterator(output_numpy=True, num_epochs=1)
    for _ in range(warmup):
        next(it)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(batches):
        next(it)
    n = batches * batch_size
    return n / (time.perf_counter() - t0), (time.process_time() - c0) / n * 1000


def corpus_share(photo_dir, steps, workers):
    """(fixed-batch s/step, pipeline-fed s/step, corpus crops/s alone) for the clean-photo recipe."""
    import statistics
    import mindspore as ms

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_train import make_step
    from src.data.pipeline import create_train_dataset

    root, sub = os.path.split(os.path.abspath(photo_dir))
    cfg = load_config(
        os.path.join(ROOT, "configs", "photos.yaml"),
        [
            f"--data.roots.clean={root}",
            f"--data.corpus.dirs=[{sub}]",
            "--data.corpus.exclude_like=[]",
            f"--data.num_workers={workers}",
            "--data.corpus.crops_per_photo=64",
        ],
    )
    batch = int(cfg.train.batch_size)
    rate, _ = time_pipeline(cfg, batch, steps)
    ms.set_context(mode=ms.GRAPH_MODE)
    step = make_step(cfg.model.preset)
    data = create_train_dataset(cfg.data, batch, seed=0)
    it = data.create_tuple_iterator(num_epochs=1)
    first = next(it)
    step(*first)[0].asnumpy()  # compile
    fixed = []
    for _ in range(steps):
        t = time.perf_counter()
        step(*first)[0].asnumpy()
        fixed.append(time.perf_counter() - t)
    fed = []
    t = time.perf_counter()
    for _ in range(steps):
        step(*next(it))[0].asnumpy()
        fed.append(time.perf_counter() - t)
        t = time.perf_counter()
    return statistics.median(fixed), statistics.median(fed), rate


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pairs", type=int, default=48, help="pairs per task")
    p.add_argument("--batches", type=int, default=60)
    p.add_argument("--batch_size", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds (the median is reported)")
    p.add_argument("--keep", default="", help="keep the generated data in this folder")
    p.add_argument("--json", help="also write the results (medians over rounds) as JSON to this path")
    p.add_argument("--corpus", nargs="?", const="", default=None, help="time the clean-photo pipeline instead")
    p.add_argument("--steps", type=int, default=40, help="--corpus: training steps per measurement")
    args, overrides = p.parse_known_args(argv)
    if args.corpus is not None:
        tmp = tempfile.mkdtemp(prefix="bench_corpus_")
        try:
            photo_dir = args.corpus
            if not photo_dir:
                photo_dir = os.path.join(tmp, "photos")
                for name, rgb in demo_photos(DEMO_TRAIN + DEMO_TEST):
                    write_rgb(os.path.join(photo_dir, name + ".png"), rgb)
            fixed, fed, rate = corpus_share(photo_dir, args.steps, 2)
            share = max(fed - fixed, 0.0) / fed
            print(
                f"corpus pipeline (configs/photos.yaml: crop 128, batch 8, 2 workers), {os.cpu_count()} CPUs, load "
                f"average {os.getloadavg()[0]:.1f}: {rate:.1f} crops/s alone; its training step "
                f"{fixed:.3f} s on a fixed batch, {fed:.3f} s fed by the pipeline: data loading "
                f"{100 * share:.1f}% of the step"
            )
            if args.json:
                with open(args.json, "w", encoding="utf-8") as fh:
                    json.dump(
                        {
                            "source": "corpus",
                            "crops_per_s": rate,
                            "fixed_s_per_step": fixed,
                            "fed_s_per_step": fed,
                            "loading_share": share,
                            "cpus": os.cpu_count(),
                            "load_average": os.getloadavg()[0],
                        },
                        fh,
                        indent=2,
                    )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return 0
    tmp = args.keep or tempfile.mkdtemp(prefix="bench_data_")
    try:
        if not os.path.isdir(os.path.join(tmp, "CSD")):
            build_set(tmp, args.pairs)
        base = [
            "--data.roots.rain1200=" + os.path.join(tmp, "Rain1200"),
            "--data.roots.csd=" + os.path.join(tmp, "CSD"),
            "--data.train_sets=[rain1200/train, csd/train]",
            "--data.check=pairs",
            "--data.benchmarks.rain1200.holdout.val=0",
            "--data.benchmarks.csd.holdout.val=0",  # all pairs train
            "--data.mindrecord_path=" + os.path.join(tmp, "mr", "train.mindrecord"),
        ]
        cfg = load_config(os.path.join(ROOT, "configs", "data_defaults.yaml"), base + overrides)
        from src.data.mindrecord import write_mindrecord

        records = {}
        for enc in ("auto", "raw"):
            records[enc] = os.path.join(tmp, "mr_" + enc, "train.mindrecord")
            if not os.path.isfile(records[enc] + ".json"):
                write_mindrecord(cfg.data, records[enc], overwrite=True, encoding=enc)
        d = cfg.data
        print(
            f"set: {args.pairs} Rain1200-style pairs (1024x512 JPEG) + {args.pairs} CSD-style pairs "
            f"(640x480 LZW TIFF); crop {d.crop_size}, batch {args.batch_size}, num_workers {d.num_workers}, "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
        )
        runs = [("folder", None), ("mindrecord", "auto"), ("mindrecord", "raw")] * args.rounds
        results = {}
        for fmt, enc in runs:
            cfg.data.format = fmt
            if enc:
                cfg.data.mindrecord_path = records[enc]
            label = fmt + (f" ({enc})" if enc else "")
            rate, cpu = time_pipeline(cfg, args.batch_size, args.batches)
            results.setdefault(label, []).append((rate, cpu))
            print(f"  {label:18} {rate:7.1f} crops/s   {cpu:5.2f} CPU-ms per crop")
        print("median over rounds:")
        medians = []
        for label, vals in results.items():
            print(
                f"  {label:18} {np.median([v[0] for v in vals]):7.1f} crops/s   "
                f"{np.median([v[1] for v in vals]):5.2f} CPU-ms per crop"
            )
            medians.append(
                {
                    "source": label,
                    "crops_per_s": float(np.median([v[0] for v in vals])),
                    "cpu_ms_per_crop": float(np.median([v[1] for v in vals])),
                }
            )
        if args.json:
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(
                    {
                        "pairs": args.pairs,
                        "batches": args.batches,
                        "batch_size": args.batch_size,
                        "rounds": args.rounds,
                        "crop_size": int(d.crop_size),
                        "num_workers": int(d.num_workers),
                        "cpus": os.cpu_count(),
                        "load_average": os.getloadavg()[0],
                        "rows": medians,
                    },
                    fh,
                    indent=2,
                )
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
