"""Per-op costs behind the GLSF-ViT implementation choices, on the default preset's token map.

Each row times one op (or one way of doing a step) in GRAPH mode on the token map of a 256×256
image in the ``default`` preset (``src/models/registry.py``: 128×128×64 at 2×2 patches); the
alternative the network uses is marked. One graph applies the op to ``K`` shifted copies of the
input (so launch overhead is amortised and nothing is deduplicated); the time per op is the best
of ``--repeat`` calls, minus the same graph with an identity op, divided by ``K``, in milliseconds.

    python bench/bench_ops.py [--repeat 15] [--json PATH]
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import src  # noqa: E402,F401  (oneDNN ISA cap before mindspore)
import mindspore as ms  # noqa: E402
import numpy as np  # noqa: E402
from mindspore import nn, ops  # noqa: E402

from src.models.glsf_vit import window_gathers  # noqa: E402
from src.models.layers import global_pool  # noqa: E402
from src.models.registry import PRESETS  # noqa: E402

_DEFAULT = PRESETS["default"]
H = W = 256 // _DEFAULT["patch_size"]  # tokens of a 256×256 image
C = _DEFAULT["embed_dim"]
HEADS, WIN = _DEFAULT["num_heads"], _DEFAULT["window_size"]
SHIFT = WIN // 2
HIDDEN = int(C * _DEFAULT["mlp_ratio"])  # the MLP's hidden width


K = 8


class Probe(nn.Cell):
    """Applies ``body`` to x + 0, …, x + K−1 and returns one element of each result (summed), so
    no large host copy is timed and no two calls can be merged."""

    def __init__(self, body):
        super().__init__()
        self.body = body

    def construct(self, x):
        out = None
        for i in range(K):
            y = self.body(x + float(i)).reshape(-1)[:1]
            out = y if out is None else out + y
        return out


class Identity(nn.Cell):
    def construct(self, x):
        return x


class QKVSlice(nn.Cell):
    """q, k, v = qkv[0], qkv[1], qkv[2] of the (3, B', heads, n, d) tensor (then q + k + v)."""

    def construct(self, x):
        qkv = x.reshape(H * W // WIN**2, WIN**2, 3, HEADS, C // HEADS).transpose(2, 0, 3, 1, 4)
        return qkv[0] + qkv[1] + qkv[2]


class QKVSplit(nn.Cell):
    """q, k, v = split(qkv) (then q + k + v): what WindowAttention does."""

    def construct(self, x):
        qkv = x.reshape(H * W // WIN**2, WIN**2, 3, HEADS, C // HEADS).transpose(2, 0, 3, 1, 4)
        q, k, v = ops.split(qkv, 1, 0)
        return q + k + v


class RollPartition(nn.Cell):
    """Cyclic shift with slices + concat, 6-D transpose into windows, and back."""

    def construct(self, x):
        x = ops.cat((x[:, SHIFT:], x[:, :SHIFT]), 1)
        x = ops.cat((x[:, :, SHIFT:], x[:, :, :SHIFT]), 2)
        nh, nw = H // WIN, W // WIN
        win = x.reshape(1, nh, WIN, nw, WIN, C).transpose(0, 1, 3, 2, 4, 5).reshape(-1, WIN * WIN, C)
        x = win.reshape(1, nh, nw, WIN, WIN, C).transpose(0, 1, 3, 2, 4, 5).reshape(1, H, W, C)
        x = ops.cat((x[:, H - SHIFT :], x[:, : H - SHIFT]), 1)
        return ops.cat((x[:, :, W - SHIFT :], x[:, :, : W - SHIFT]), 2)


class GatherPartition(nn.Cell):
    """Shift + partition as one gather, undone by the inverse gather: what WindowAttention does."""

    def __init__(self):
        super().__init__()
        self.order, self.inverse = window_gathers(H, W, WIN, WIN, SHIFT)

    def construct(self, x):
        win = ops.gather(x.reshape(1, H * W, C), self.order, 1)
        return ops.gather(win, self.inverse, 1).reshape(1, H, W, C)


class MatmulLayerNorm(nn.Cell):
    """LN with μ and σ² as products with a 1/C vector: faster than the kernel in inference, but it
    raised the default preset's inference peak memory from 3.1 to 6.1 GiB at 4 tiles of 256²
    (and its backward a training step's by 6 GiB), so the network keeps nn.LayerNorm."""

    def __init__(self):
        super().__init__()
        self.gamma = ms.Parameter(ms.Tensor(np.ones(C, np.float32)), name="gamma")
        self.beta = ms.Parameter(ms.Tensor(np.zeros(C, np.float32)), name="beta")
        self.mean = ms.Tensor(np.full((C, 1), 1.0 / C, np.float32))

    def construct(self, x):
        x2 = x.reshape(-1, C)
        centred = x2 - ops.matmul(x2, self.mean)
        std = ops.sqrt(ops.matmul(centred * centred, self.mean) + 1e-7)
        return (centred / std * self.gamma + self.beta).reshape(x.shape)


class MeanPool(nn.Cell):
    def construct(self, x):
        return x.mean(axis=(2, 3), keep_dims=True)


class MatmulPool(nn.Cell):
    def construct(self, x):
        return global_pool(x)


def best_ms(cell, x, repeat):
    probe = Probe(cell)
    probe(x).asnumpy()
    probe(x).asnumpy()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        probe(x).asnumpy()
        best = min(best, time.perf_counter() - t)
    return 1000 * best


def cases():
    """(step, variant, cell, input shape, used by the network?, FLOPs or None)."""
    tokens, hidden, nchw = (1, H, W, C), (1, H, W, HIDDEN), (1, C, H, W)
    return [
        (
            f"LayerNorm over {C} channels",
            "nn.LayerNorm (MindSpore kernel)",
            nn.LayerNorm((C,), begin_norm_axis=-1, begin_params_axis=-1),
            tokens,
            True,
            None,
        ),
        (
            f"LayerNorm over {C} channels",
            "means as matmuls with 1/C (2× inference memory)",
            MatmulLayerNorm(),
            tokens,
            False,
            None,
        ),
        (
            "q, k, v from the fused projection",
            "slicing qkv[0], qkv[1], qkv[2]",
            QKVSlice(),
            (1, H, W, 3 * C),
            False,
            None,
        ),
        ("q, k, v from the fused projection", "ops.split", QKVSplit(), (1, H, W, 3 * C), True, None),
        (
            "shifted window partition and back",
            "slice/concat roll + 6-D transpose",
            RollPartition(),
            tokens,
            False,
            None,
        ),
        ("shifted window partition and back", "one gather each way", GatherPartition(), tokens, True, None),
        (f"MLP activation ({H * W}×{HIDDEN})", "GELU, tanh approximation", nn.GELU(), hidden, False, None),
        (
            f"MLP activation ({H * W}×{HIDDEN})",
            "GELU, exact erf (not ONNX-exportable)",
            nn.GELU(approximate=False),
            hidden,
            False,
            None,
        ),
        (f"MLP activation ({H * W}×{HIDDEN})", "SiLU", nn.SiLU(), hidden, True, None),
        ("global average pool (gates)", "ReduceMean over H, W", MeanPool(), nchw, False, None),
        ("global average pool (gates)", "matmul with a 1/HW vector", MatmulPool(), nchw, True, None),
        ("reference", f"3×3 conv {C}→{C}", nn.Conv2d(C, C, 3, pad_mode="same"), nchw, True, 2 * 9 * C * C * H * W),
        ("reference", f"Dense {C}→{3 * C} (qkv)", nn.Dense(C, 3 * C), tokens, True, 2 * C * 3 * C * H * W),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--json", help="also write the results as JSON to this path")
    args = parser.parse_args(argv)
    ms.set_device("CPU")
    ms.set_context(mode=ms.GRAPH_MODE)
    rng = np.random.default_rng(0)
    inputs = {}

    def tensor(shape):
        if shape not in inputs:
            inputs[shape] = ms.Tensor(rng.standard_normal(shape, dtype=np.float32))
        return inputs[shape]

    empty = {}
    print(
        f"MindSpore {ms.__version__}, CPU, {os.cpu_count()} cores; token map {H}x{W}x{C}; "
        f"best of {args.repeat} calls of {K} ops each, minus an identity graph"
    )
    print("| step | variant | ms | GFLOP/s | used |")
    print("|---|---|---|---|---|")
    rows = []
    for step, variant, cell, shape, used, flops in cases():
        if shape not in empty:
            empty[shape] = best_ms(Identity(), tensor(shape), args.repeat)
        t = max((best_ms(cell, tensor(shape), args.repeat) - empty[shape]) / K, 1e-3)
        row = {
            "step": step,
            "variant": variant,
            "ms": t,
            "used": used,
            "gflops_per_s": flops / t / 1e6 if flops else None,
        }
        rows.append(row)
        rate = f"{row['gflops_per_s']:.0f}" if flops else "–"
        print(f"| {step} | {variant} | {t:.2f} | {rate} | {'yes' if used else ''} |", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "mindspore": ms.__version__,
                    "cpus": os.cpu_count(),
                    "repeat": args.repeat,
                    "token_map": [H, W, C],
                    "ops_per_call": K,
                    "identity_call_ms": {"x".join(map(str, k)): v for k, v in empty.items()},
                    "rows": rows,
                },
                fh,
                indent=2,
            )


if __name__ == "__main__":
    main()
