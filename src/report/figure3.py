"""Figure 3 from a checkpoint: t-SNE of F_rk, F_ck, F_sk and the GKFM gate values, rain vs snow.

t-SNE (paper Fig. 3): for one rainy and one snowy image, each channel ("knowledge atom") of each
token feature F_rk, F_ck, F_sk is one point (its h×w map flattened); points are coloured by kind.
Output ``figure3_tsne.png``: (a) the rainy image, (b) its t-SNE, (c) the snowy image, (d) its t-SNE.

Gates: for ``gate_images`` test inputs of each task, the per-channel gate values
Gate(FC₂(Pool(F_wk))) of GKFM_rk, GKFM_ck and GKFM_sk (``net.gkfm_*.gate_values``), averaged over
the images of each task. ``figure3_gates.png`` shows one heatmap per GKFM (rows rain, snow;
columns channels) and a last one of rain − snow for the three GKFMs (diverging colours: which atoms
each task keeps more), ``figure3_gates.json`` the values and the images used.

Images are centre-cropped to ``size`` (a multiple of the network stride; 0 = whole image) so
that one compiled graph serves them all.
"""

import glob
import os

import numpy as np

from .common import ReportError, pyplot, require, save_figure, write_json

KINDS = ("rk", "ck", "sk")
KIND_LABELS = {"rk": "F_rk (rain-only)", "ck": "F_ck (common)", "sk": "F_sk (snow-only)"}
KIND_COLORS = {"rk": "tab:blue", "ck": "tab:green", "sk": "tab:red"}


def demo_inputs(data_root, task, count):
    """The first ``count`` test inputs of ``task`` in a demo-layout tree (sorted by name)."""
    folder = os.path.join(data_root, task, "test", "input")
    files = sorted(f for f in glob.glob(os.path.join(folder, "*")) if os.path.isfile(f))
    if not files:
        raise ReportError(f"no {task} test images in {folder} (python prepare_data.py demo --dst {data_root})")
    return files[: max(1, int(count))]


def load_image(path, size=0):
    """RGB float32 1×3×H×W in [0, 1], centre-cropped to size×size (0 = whole image)."""
    from ..data.image_io import read_rgb

    rgb = read_rgb(path)
    if size:
        h, w = rgb.shape[:2]
        th, tw = min(size, h), min(size, w)
        y, x = (h - th) // 2, (w - tw) // 2
        rgb = rgb[y : y + th, x : x + tw]
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], np.float32) / np.float32(255.0)


def make_probe(net):
    """A cell returning (F_rk, F_ck, F_sk, gate_rk, gate_ck, gate_sk) for an image; one graph."""
    from mindspore import nn
    from ..models.layers import pad_to_multiple

    class KnowledgeProbe(nn.Cell):
        def __init__(self, net):
            super().__init__(auto_prefix=False)
            self.net = net
            self.smart = net.smart

        def construct(self, image):
            x = pad_to_multiple(image, self.net.multiple)
            f_wk, f_rk, f_ck, f_sk = self.net.knowledge(x)
            if self.smart:
                return (
                    f_rk,
                    f_ck,
                    f_sk,
                    self.net.gkfm_rk.gate_values(f_wk),
                    self.net.gkfm_ck.gate_values(f_wk),
                    self.net.gkfm_sk.gate_values(f_wk),
                )
            return f_rk, f_ck, f_sk

    probe = KnowledgeProbe(net)
    probe.set_train(False)
    return probe


def run_probe(probe, image):
    import mindspore as ms

    return [o.asnumpy() for o in probe(ms.Tensor(image))]


def tsne_points(features, seed=0):
    """t-SNE of per-channel maps. ``features``: {kind: 1×C×h×w}; returns (points n×2, kinds list)."""
    manifold = require("sklearn.manifold", "the t-SNE of figure3")
    rows, kinds = [], []
    for kind in KINDS:
        f = features[kind][0]
        rows.append(f.reshape(f.shape[0], -1))
        kinds += [kind] * f.shape[0]
    x = np.concatenate(rows).astype(np.float64)
    perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3.0)))
    tsne = manifold.TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    return tsne.fit_transform(x), kinds


def gate_means(probe, paths, size):
    """{kind: C} mean gate values over the images in ``paths``."""
    acc = {k: [] for k in KINDS}
    for p in paths:
        out = run_probe(probe, load_image(p, size))
        for k, g in zip(KINDS, out[3:6]):
            acc[k].append(g.reshape(-1))
    return {k: np.mean(v, axis=0) for k, v in acc.items()}


def _show_image(ax, image, title):
    ax.imshow(np.clip(image[0].transpose(1, 2, 0), 0, 1))
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def _scatter(ax, points, kinds, title):
    kinds = np.asarray(kinds)
    for kind in KINDS:
        sel = kinds == kind
        ax.scatter(points[sel, 0], points[sel, 1], s=10, c=KIND_COLORS[kind], label=KIND_LABELS[kind])
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, loc="best")


def plot_tsne(images, tsne, path):
    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
    _show_image(axes[0], images["rain"], "(a) rainy image")
    _scatter(axes[1], *tsne["rain"], "(b) t-SNE of F_rk, F_ck, F_sk for (a)")
    _show_image(axes[2], images["snow"], "(c) snowy image")
    _scatter(axes[3], *tsne["snow"], "(d) t-SNE of F_rk, F_ck, F_sk for (c)")
    fig.tight_layout()
    return save_figure(fig, path, dpi=64)  # photos make big PNGs: keep docs/ small


def plot_gates(gates, counts, path):
    plt = pyplot()
    fig, axes = plt.subplots(len(KINDS) + 1, 1, figsize=(10, 1.3 + 1.2 * (len(KINDS) + 1)), squeeze=False)
    vmin = min(float(min(gates[k]["rain"].min(), gates[k]["snow"].min())) for k in KINDS)
    vmax = max(float(max(gates[k]["rain"].max(), gates[k]["snow"].max())) for k in KINDS)
    for ax, kind in zip(axes[:, 0], KINDS):
        g = np.stack([gates[kind]["rain"], gates[kind]["snow"]])
        im = ax.imshow(g, aspect="auto", cmap="viridis", vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_yticks([0, 1])
        ax.set_yticklabels([f"rain (n={counts['rain']})", f"snow (n={counts['snow']})"], fontsize=8)
        ax.set_title(
            f"GKFM_{kind} gate per channel: mean rain {g[0].mean():.3f}, snow {g[1].mean():.3f}, "
            f"mean |rain - snow| {np.abs(g[0] - g[1]).mean():.3f}",
            fontsize=9,
        )
        fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01)
    diff = np.stack([gates[k]["rain"] - gates[k]["snow"] for k in KINDS])
    lim = max(float(np.abs(diff).max()), 1e-6)
    ax = axes[-1, 0]
    im = ax.imshow(diff, aspect="auto", cmap="coolwarm", vmin=-lim, vmax=lim, interpolation="nearest")
    ax.set_yticks(range(len(KINDS)))
    ax.set_yticklabels([f"GKFM_{k}" for k in KINDS], fontsize=8)
    ax.set_title("rain − snow gate (red: kept more for rain, blue: kept more for snow)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01)
    axes[-1, 0].set_xlabel("channel (knowledge atom) of F_wk")
    fig.tight_layout()
    return save_figure(fig, path)


def make_figure3(
    ckpt_file,
    out_dir,
    data_root=os.path.join("data", "demo"),
    rain_image=None,
    snow_image=None,
    gate_images=4,
    size=128,
    seed=0,
):
    """Write figure3_tsne.png, figure3_gates.png, figure3_gates.json into ``out_dir``; returns the paths."""
    pyplot()
    require("sklearn.manifold", "the t-SNE of figure3")
    from ..train.checkpoint import load_model

    net, model_cfg, meta = load_model(ckpt_file)
    multiple = int(net.multiple)
    if size and size % multiple:
        raise ReportError(f"--size {size} must be a multiple of the network stride {multiple} (or 0)")
    probe = make_probe(net)
    picked = {
        "rain": rain_image or demo_inputs(data_root, "rain", 1)[0],
        "snow": snow_image or demo_inputs(data_root, "snow", 1)[0],
    }
    images, tsne, record = (
        {},
        {},
        {
            "ckpt": os.path.relpath(ckpt_file),
            "ckpt_step": meta.get("step"),
            "size": size,
            "model": model_cfg,
            "tsne": {},
        },
    )
    for task, path in picked.items():
        images[task] = load_image(path, size)
        out = run_probe(probe, images[task])
        pts, kinds = tsne_points(dict(zip(KINDS, out[:3])), seed)
        tsne[task] = (pts, kinds)
        record["tsne"][task] = {"image": os.path.relpath(path), "points": pts.tolist(), "kinds": kinds}
    os.makedirs(out_dir, exist_ok=True)
    files = [plot_tsne(images, tsne, os.path.join(out_dir, "figure3_tsne.png"))]
    if not net.smart:
        record["gates"] = None
        record["note"] = "model.assignment=hard (V2) has no GKFM: no gate heatmap"
        files.append(write_json(os.path.join(out_dir, "figure3_gates.json"), record))
        return files
    paths = {t: demo_inputs(data_root, t, gate_images) for t in ("rain", "snow")}
    per_task = {t: gate_means(probe, ps, size) for t, ps in paths.items()}
    gates = {k: {t: per_task[t][k] for t in ("rain", "snow")} for k in KINDS}
    record["gate_images"] = {t: [os.path.relpath(p) for p in ps] for t, ps in paths.items()}
    record["gates"] = {k: {t: v.tolist() for t, v in d.items()} for k, d in gates.items()}
    from ..data.image_io import read_rgb
    from .testset import drm_distances

    # the contrast's knowledge atoms on the same images: same-kind vs cross-kind cosine distances
    record["drm_distances"] = drm_distances(ckpt_file, [read_rgb(p) for ps in paths.values() for p in ps], size or 256)
    files.append(plot_gates(gates, {t: len(ps) for t, ps in paths.items()}, os.path.join(out_dir, "figure3_gates.png")))
    files.append(write_json(os.path.join(out_dir, "figure3_gates.json"), record))
    return files
