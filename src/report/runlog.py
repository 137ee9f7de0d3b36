"""Run records read by the report and the studies: log.csv (every step), val.csv (the trainer's
validation record: step, epoch, psnr_y, eval_loss, lr) and the console log.

The ablation study writes a run's console to ``run_dir/train.log`` with ``src.logs.log_to_file``.
``read_val`` reads val.csv or, for runs made before the trainer wrote it, recovers the validation
rows from a console log (train.log or a tee'd train.py output: "validation after epoch E: PSNR-Y
X dB"), taking the step from log.csv (last step of epoch E).
"""

import csv
import math
import os
import re

VAL_RE = re.compile(r"validation after epoch (\d+): PSNR-Y ([-+0-9.eE]+|nan|inf) dB")


def read_log_csv(path):
    """log.csv as a dict of float columns (rows with a repeated step keep the last one)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such log (a run folder holds log.csv)")
    rows = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            try:
                rows[int(float(r["step"]))] = r
            except (KeyError, ValueError):
                continue
    cols = {}
    for step in sorted(rows):
        for k, v in rows[step].items():
            try:
                cols.setdefault(k, []).append(float(v))
            except (TypeError, ValueError):
                cols.setdefault(k, []).append(math.nan)
    return cols


def last_step_of_epoch(log_csv, epoch):
    """The last step logged with this epoch number in log.csv (None if there is none)."""
    if not os.path.isfile(log_csv):
        return None
    cols = read_log_csv(log_csv)
    steps = [int(s) for s, e in zip(cols.get("step", []), cols.get("epoch", [])) if int(e) == int(epoch)]
    return max(steps) if steps else None


def parse_console(lines, log_csv=None):
    """Validation rows from console log lines ('validation after epoch E: PSNR-Y X dB')."""
    out = []
    for line in lines:
        m = VAL_RE.search(line)
        if m:
            epoch = int(m.group(1))
            step = last_step_of_epoch(log_csv, epoch) if log_csv else None
            out.append({"epoch": epoch, "step": step, "psnr_y": float(m.group(2))})
    return out


def read_val(run_dir, console=None):
    """Validation rows of a run: val.csv if present, else parsed from ``console`` (default
    run_dir/train.log). Empty list when neither exists."""
    path = os.path.join(run_dir, "val.csv")
    log_csv = os.path.join(run_dir, "log.csv")
    if console is None and os.path.isfile(path):
        rows = {}
        with open(path, newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                try:
                    row = {
                        "epoch": int(float(r["epoch"])),
                        "psnr_y": float(r["psnr_y"]),
                        "step": int(float(r["step"])) if r.get("step") not in (None, "") else None,
                    }
                except (KeyError, TypeError, ValueError):
                    continue
                rows[(row["step"], row["epoch"])] = row  # a resumed run may repeat a row
        return [rows[k] for k in sorted(rows, key=lambda k: (k[0] or 0, k[1]))]
    console = console or os.path.join(run_dir, "train.log")
    if not os.path.isfile(console):
        return []
    with open(console, encoding="utf-8", errors="replace") as fh:
        rows = {r["epoch"]: r for r in parse_console(fh, log_csv)}
    return [rows[e] for e in sorted(rows)]
