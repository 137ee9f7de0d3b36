"""Training callbacks: per-term logging with a non-finite guard, atomic checkpoints, LR on plateau."""

import csv
import math
import os
import re
import time

import numpy as np
import mindspore as ms
from mindspore import ops
from mindspore.train import Callback, ReduceLROnPlateau

from . import checkpoint
from ..losses import SmartAssignLoss
from ..errors import RunFailure
from ..logs import get_logger

logger = get_logger(__name__)

TERM_NAMES = SmartAssignLoss.TERMS  # total, char, grad, sparsity, recog, contra (+ fused)


class NonFiniteLossError(RunFailure):
    """Raised when the loss stays non-finite for too many steps in a row."""


class TrainState:
    """Progress shared by the callbacks and saved in every checkpoint's meta."""

    def __init__(
        self, steps_per_epoch, step=0, epoch=0, best_score=-math.inf, last_ckpt="", monitor="psnr", trainable="all"
    ):
        self.steps_per_epoch = steps_per_epoch
        self.step, self.epoch = step, epoch
        self.monitor = monitor  # the validation metric (higher is better) that picks best.ckpt
        self.trainable = trainable  # train.trainable: the weights the optimizer holds
        self.best_score, self.last_ckpt = best_score, last_ckpt
        self.plateau = {}
        self.config = ""  # the config file of the run (named by resume refusals)
        self.epoch_complete = False  # set at each epoch end (False after a max_steps stop)

    def meta(self):
        return {
            "step": self.step,
            "epoch": self.epoch,
            "steps_per_epoch": self.steps_per_epoch,
            "monitor": self.monitor,
            "trainable": self.trainable,
            "best_score": None if self.best_score == -math.inf else self.best_score,
            "plateau": self.plateau,
            "config": self.config,
        }


class StepLogger(Callback):
    """Logs every loss term, overflow, loss scale, LR and step time to the console and a CSV file;
    stops the run when the loss is non-finite ``max_nonfinite`` steps in a row."""

    def __init__(self, state, optimizer, csv_path=None, every=10, max_nonfinite=5, max_steps=0, terms=TERM_NAMES):
        super().__init__()
        self.state, self.optimizer = state, optimizer
        self.terms = tuple(terms)  # the loss cell's ``terms`` (cross_stitch adds "fused")
        self.fields = ("step", "epoch") + self.terms + ("overflow", "loss_scale", "lr", "step_time")
        self.csv_path, self.every = csv_path, max(1, int(every))
        self.max_nonfinite, self.max_steps = int(max_nonfinite), int(max_steps)
        self.bad_streak = 0
        self.t0 = None
        self.epoch_losses = []

    def on_train_step_begin(self, run_context):
        self.t0 = time.perf_counter()

    def on_train_step_end(self, run_context):
        cb = run_context.original_args()
        dt = time.perf_counter() - (self.t0 or time.perf_counter())
        out = [float(np.asarray(o.asnumpy()).reshape(-1)[0]) for o in cb.net_outputs]
        self.state.step += 1
        row = dict(zip(self.terms, out[: len(self.terms)]))
        row.update(
            step=self.state.step,
            epoch=self.state.epoch + 1,
            overflow=int(out[-2] > 0),
            loss_scale=out[-1],
            lr=float(self.optimizer.learning_rate.asnumpy()),
            step_time=dt,
        )
        self._write(row)
        if self.state.step % self.every == 0 or self.state.step == 1:
            terms = " ".join(f"{k}={row[k]:.5f}" for k in self.terms)
            logger.info(
                f"step {row['step']} epoch {row['epoch']}: {terms} scale={row['loss_scale']:g} "
                f"lr={row['lr']:.3g} {dt * 1000:.0f} ms/step" + (" OVERFLOW(skipped)" if row["overflow"] else "")
            )
        if math.isfinite(row["total"]):
            self.bad_streak = 0
            self.epoch_losses.append(row["total"])
        else:
            self.bad_streak += 1
            if self.bad_streak >= self.max_nonfinite:
                last = self.state.last_ckpt or "none saved yet"
                raise NonFiniteLossError(
                    f"stopped at step {self.state.step}: the loss was not finite for {self.bad_streak} steps in a "
                    f"row; last good checkpoint: {last} (resume from it with a lower --train.lr, or --train.clip_norm)"
                )
        if self.max_steps and self.state.step >= self.max_steps:
            run_context.request_stop()

    def on_train_epoch_end(self, run_context):
        self.state.epoch_complete = (
            self.state.step - self.state.epoch * self.state.steps_per_epoch >= self.state.steps_per_epoch
        )
        if self.state.epoch_complete:  # not a max_steps stop in the middle of an epoch
            self.state.epoch += 1
        if self.epoch_losses:
            logger.info(
                f"epoch {self.state.epoch} done: mean loss {np.mean(self.epoch_losses):.5f} "
                f"over {len(self.epoch_losses)} steps"
            )
        self.epoch_losses = []

    def _write(self, row):
        if not self.csv_path:
            return
        new = not os.path.exists(self.csv_path)
        with open(self.csv_path, "a", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.fields)
            if new:
                writer.writeheader()
            writer.writerow({k: row[k] for k in self.fields})


class WarmUp(Callback):
    """Linear LR warm-up over the run's first ``steps`` steps (``train.warmup_steps``): step n
    (from 1) trains at ``lr * n / steps``, then at ``lr``. A run started from ``--train.pretrained``
    has a fresh Adam state, whose first updates move every weight by about ``lr``; the warm-up
    lets the moment estimates settle first. It follows the global step, so a resumed run goes on
    where it stopped; it must end within the first epoch, before the plateau schedule can act."""

    def __init__(self, state, optimizer, lr, steps):
        super().__init__()
        self.state, self.optimizer, self.lr, self.steps = state, optimizer, float(lr), int(steps)

    def on_train_step_begin(self, run_context):
        if self.state.step <= self.steps:  # step `steps` (counted from 0 here) sets the full lr back
            value = self.lr * min(self.state.step + 1, self.steps) / self.steps
            ops.assign(self.optimizer.learning_rate, ms.Tensor(value, ms.float32))


class PersistentPlateau(ReduceLROnPlateau):
    """MindSpore's ReduceLROnPlateau whose state survives repeated ``fit`` calls and checkpoints.

    The trainer calls ``Model.fit`` once per epoch (each epoch has its own seeded dataset, so a resumed
    run sees the same batches); the base class resets its counters at every ``on_train_begin``.
    """

    def __init__(self, state, optimizer, **kwargs):
        super().__init__(**kwargs)
        self.state, self.optimizer = state, optimizer  # Model(train_step) leaves cb_params.optimizer None
        self._started = False

    def on_train_begin(self, run_context):
        if not self._started:
            super().on_train_begin(run_context)
            saved = self.state.plateau
            if saved:
                self.best, self.wait, self.cooldown_counter = saved["best"], saved["wait"], saved["cooldown"]
            self._started = True

    def on_train_epoch_end(self, run_context):
        cb = run_context.original_args()
        if not cb.get("eval_results") or not self.state.epoch_complete:
            return  # only whole epochs count towards a plateau
        cb.optimizer = cb.optimizer or self.optimizer
        super().on_train_epoch_end(run_context)
        self.state.plateau = {"best": float(self.best), "wait": int(self.wait), "cooldown": int(self.cooldown_counter)}


VAL_FIELDS = ("step", "epoch", "psnr_y", "eval_loss", "lr", "recognition")
VAL_FORMAT = {"psnr": "PSNR-Y {:.3f} dB", "recognition": "recognition {:.4f}"}


class CheckpointSaver(Callback):
    """Rank-0 checkpoints of the whole train step (weights, optimizer, LR, loss scale; register it
    after PersistentPlateau) every ``every`` steps and at each epoch end, written atomically; keeps the newest ``keep``.
    After each validation, the network's weights go to ``best.ckpt`` when the monitored metric
    (``TrainState.monitor``) improved and the result is appended to ``val.csv`` in the run folder."""

    PATTERN = re.compile(r"step_(\d+)\.ckpt$")

    def __init__(self, state, train_step, net, model_cfg, ckpt_dir, every=0, keep=3):
        super().__init__()
        self.state, self.train_step, self.net, self.model_cfg = state, train_step, net, model_cfg
        self.dir, self.every, self.keep = ckpt_dir, int(every), max(1, int(keep))
        os.makedirs(ckpt_dir, exist_ok=True)

    def save_now(self):
        path = os.path.join(self.dir, f"step_{self.state.step:08d}.ckpt")
        self.state.last_ckpt = path
        checkpoint.save(self.train_step, path, self.model_cfg, self.state.meta())
        for old in list_checkpoints(self.dir)[: -self.keep]:
            os.remove(old)
        return path

    def on_train_step_end(self, run_context):
        if self.every and self.state.step % self.every == 0:
            self.save_now()

    def _record_validation(self, results):
        """Append (step, epoch, psnr_y, eval_loss, lr, recognition) to val.csv beside the ckpt folder.
        A file from before a column was added keeps its columns (a column no longer written stays
        empty) until a row fills one it lacks; then it is rewritten (atomically) with that column,
        empty in older rows."""
        path = os.path.join(os.path.dirname(os.path.abspath(self.dir)), "val.csv")
        row = {
            "step": self.state.step,
            "epoch": self.state.epoch,
            "psnr_y": results.get("psnr"),
            "eval_loss": results.get("eval_loss", ""),
            "lr": float(self.train_step.optimizer.learning_rate.asnumpy()),
            "recognition": results.get("recognition", ""),
        }
        fields = VAL_FIELDS
        if os.path.exists(path):
            with open(path, newline="", encoding="utf-8") as fh:
                fields = tuple(next(csv.reader(fh), ())) or VAL_FIELDS
        missing = tuple(k for k in VAL_FIELDS if k not in fields and row[k] != "")
        if os.path.exists(path) and not missing:  # the usual case: one more row
            with open(path, "a", newline="", encoding="utf-8") as fh:
                csv.DictWriter(fh, fields, extrasaction="ignore").writerow(row)
            return
        rows = []
        if os.path.exists(path):
            with open(path, newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fields + missing, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows + [row])
        os.replace(tmp, path)

    def on_train_epoch_end(self, run_context):
        cb = run_context.original_args()
        results = cb.get("eval_results") or {}
        score = results.get(self.state.monitor)
        if score is not None:
            improved = score > self.state.best_score
            shown = {k: results[k] for k in VAL_FORMAT if k in results}
            logger.info(
                f"validation after epoch {self.state.epoch}: "
                + ", ".join(VAL_FORMAT[k].format(v) for k, v in shown.items())
                + f" (best {self.state.monitor} {score if improved else self.state.best_score:.4f})"
            )
            self._record_validation(results)
            if improved:
                self.state.best_score = float(score)
                meta = {"step": self.state.step, "monitor": self.state.monitor, "score": float(score)}
                if "psnr" in results:
                    meta["psnr_y"] = float(results["psnr"])
                checkpoint.save(self.net, os.path.join(self.dir, "best.ckpt"), self.model_cfg, meta)
            cb.eval_results = {}  # consumed (Model.fit keeps stale results otherwise)
        self.save_now()


def list_checkpoints(ckpt_dir):
    """Training checkpoints in ``ckpt_dir``, oldest first (by step number)."""
    if not os.path.isdir(ckpt_dir):
        return []
    found = [
        (int(m.group(1)), os.path.join(ckpt_dir, f))
        for f in os.listdir(ckpt_dir)
        if (m := CheckpointSaver.PATTERN.search(f))
    ]
    return [p for _, p in sorted(found)]


class ReplicaProbe(Callback):
    """Data-parallel diagnostics (``train.check_replicas``): each rank records a fingerprint of
    every batch it trained on and, at the end, its own weights, so replicas can be compared."""

    def __init__(self, net, out_dir, rank):
        super().__init__()
        self.net, self.out_dir, self.rank = net, out_dir, rank
        self.fingerprints = []

    def on_train_step_begin(self, run_context):
        import hashlib

        batch = run_context.original_args().train_dataset_element
        if batch is not None:
            self.fingerprints.append(hashlib.sha256(np.ascontiguousarray(batch[0].asnumpy()).tobytes()).hexdigest())

    def on_train_end(self, run_context):
        import json

        os.makedirs(self.out_dir, exist_ok=True)
        checkpoint.save(self.net, os.path.join(self.out_dir, f"rank_{self.rank}.ckpt"))
        with open(os.path.join(self.out_dir, f"rank_{self.rank}.json"), "w", encoding="utf-8") as fh:
            json.dump({"rank": self.rank, "batches": self.fingerprints}, fh)
