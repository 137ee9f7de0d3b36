"""Training curves of a run: every loss term of log.csv (raw and smoothed), the learning rate,
the overflow count, and the validation PSNR-Y per epoch (val.csv written by train.py, or
parsed from a console log such as train.log / the tee'd output of train.py)."""

import os

import numpy as np

from .common import ReportError, pyplot, save_figure
from .runlog import read_log_csv, read_val

TERMS = ("total", "char", "grad", "sparsity", "recog", "contra")


def smooth(values, window):
    v = np.asarray(values, np.float64)
    if window <= 1 or len(v) < window:
        return v
    kernel = np.ones(window) / window
    padded = np.concatenate([np.full(window - 1, v[0]), v])
    return np.convolve(padded, kernel, mode="valid")


def plot_curves(run_dir, out=None, console=None, window=0):
    """Write the curves PNG (default <run>/curves.png); returns its path."""
    log_csv = os.path.join(run_dir, "log.csv")
    if not os.path.isfile(log_csv):
        raise ReportError(f"{run_dir}: no log.csv (give a run folder written by train.py)")
    cols = read_log_csv(log_csv)
    steps = np.asarray(cols.get("step", []))
    if not len(steps):
        raise ReportError(f"{log_csv}: no rows")
    val = read_val(run_dir, console)
    window = window or max(1, len(steps) // 50)
    plt = pyplot()
    fig, axes = plt.subplots(2, 4, figsize=(13, 5.5))
    for ax, term in zip(axes.flat, TERMS):
        y = np.asarray(cols.get(term, [np.nan] * len(steps)), np.float64)
        ok = np.isfinite(y)
        ax.plot(steps[ok], y[ok], color="0.75", lw=0.7, label="per step")
        if ok.any():
            ax.plot(steps[ok], smooth(y[ok], window), color="tab:blue", lw=1.2, label=f"mean of {window}")
            if (y[ok] > 0).all() and y[ok].max() / max(y[ok].min(), 1e-12) > 20:
                ax.set_yscale("log")
        ax.set_title(f"L_{term}" if term != "total" else "total loss (eq. 19)", fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    ax = axes.flat[6]
    if val:
        xs = [v["step"] if v["step"] is not None else v["epoch"] for v in val]
        ax.plot(xs, [v["psnr_y"] for v in val], "o-", color="tab:green", ms=3)
        best = max(val, key=lambda v: v["psnr_y"])
        ax.set_title(f"validation PSNR-Y (best {best['psnr_y']:.2f} dB, epoch {best['epoch']})", fontsize=9)
        ax.set_xlabel("step" if val[0]["step"] is not None else "epoch", fontsize=8)
    else:
        ax.text(
            0.5,
            0.5,
            "no validation record\n(val.csv or console log)",
            ha="center",
            va="center",
            transform=ax.transAxes,
            fontsize=8,
        )
        ax.set_title("validation PSNR-Y", fontsize=9)
    ax.tick_params(labelsize=7)
    ax = axes.flat[7]
    ax.plot(steps, cols.get("lr", [np.nan] * len(steps)), color="tab:orange", lw=1.2, label="lr")
    ax.set_title(
        "learning rate" + (f", {int(np.nansum(cols['overflow']))} overflow steps" if "overflow" in cols else ""),
        fontsize=9,
    )
    ax.set_xlabel("step", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.suptitle(f"{os.path.basename(os.path.abspath(run_dir))}: {int(steps[-1])} steps", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out or os.path.join(run_dir, "curves.png"))
