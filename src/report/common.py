"""Shared pieces of the report commands: errors, optional imports, small file writers."""

import csv
import json
import os
from ..errors import UsageError

EXTRAS = "pip install -r requirements-report.txt"


class ReportError(UsageError):
    """A report command cannot go on (missing input, missing optional package); one-line message."""


def require(module, purpose):
    """Import an optional extra or raise a one-line ReportError saying how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pkg = {"sklearn": "scikit-learn"}.get(module.split(".")[0], module.split(".")[0])
        raise ReportError(f"{purpose} needs {pkg}, which is not installed ({exc}); run: {EXTRAS}") from exc


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend."""
    mpl = require("matplotlib", "plotting")
    mpl.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def write_json(path, obj):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, default=float)
        fh.write("\n")
    os.replace(tmp, path)
    return path


def write_text(path, text):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


def write_csv(path, rows, fields):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(fields), extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    return path


def md_table(header, rows):
    """Markdown table lines."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def save_figure(fig, path, dpi=80):
    """Save a matplotlib figure as a small PNG and close it."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=dpi)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
