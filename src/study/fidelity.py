"""The fidelity study: where does the network lose detail? (``python study.py fidelity ...``)

Every variant is the ``configs/fidelity.yaml`` recipe with a few model keys changed, trained from
scratch for the same steps on the same data, once per seed (``train.seed = data.seed = seed``), in
its own folder ``<out>/<variant>/seed<k>`` (resumed with ``--train.resume=auto`` when interrupted).

``train``     trains every (variant, seed) that has not reached ``train.max_steps``, seed by seed;
``evaluate``  scores each run's ``best.ckpt`` (chosen on validation) with ``fidelity_eval`` and
              writes ``results/fidelity/<variant>/seed<k>.json``;
``report``    writes the study page, its CSV and its figure under ``docs/`` from
              the JSONs alone.
"""

import glob
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "configs", "fidelity.yaml")
OUT = os.path.join("runs", "fidelity")
RESULTS = os.path.join("results", "fidelity")
SEEDS = (0, 1, 2)

# name: (what it tests, model overrides). The first is the reference every other is paired with.
VARIANTS = {
    "p4": ("today: 4×4 patch tokens, heads decode the 1/4-resolution knowledge", {}),
    "p2": ("finer tokens: 2×2 patches, embed_dim 16 (the same GFLOPs as p4)", {"patch_size": 2, "embed_dim": 16}),
    "p4_fullres": ("p4 + each image head's own full-resolution path", {"head_fullres": True}),
}


def overrides(variant):
    return [f"--model.{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in VARIANTS[variant][1].items()]


def run_dir(out, variant, seed):
    return os.path.join(out, variant, f"seed{int(seed)}")


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


def train_all(variants, seeds, out, max_steps, config=CONFIG, extra=()):
    """Train every unfinished (variant, seed), seed-major so that partial results stay balanced."""
    for seed in seeds:
        for variant in variants:
            rdir = run_dir(out, variant, seed)
            if trained_steps(rdir) >= max_steps:
                continue
            os.makedirs(rdir, exist_ok=True)
            with open(os.path.join(rdir, "console.log"), "a") as log:
                code = subprocess.call(
                    train_command(variant, seed, out, config, extra), stdout=log, stderr=subprocess.STDOUT
                )
            if code:
                raise RuntimeError(f"{rdir}: train.py exited with {code}; see {rdir}/console.log")
