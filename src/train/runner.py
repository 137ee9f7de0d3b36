"""The training run behind train.py: device, data, model, Model.fit with callbacks, resume."""

import os
import platform
import time

import numpy as np
import mindspore as ms
from mindspore import amp, nn
from mindspore.train import Model

from . import checkpoint
from .callbacks import (
    CheckpointSaver,
    PersistentPlateau,
    ReplicaProbe,
    StepLogger,
    TrainState,
    WarmUp,
    list_checkpoints,
)
from .step import TrainStep, build_optimizer
from .validate import ValidationNet, create_val_dataset, validation_metrics
from ..config import ConfigError, dump, whole_number
from ..data.pipeline import create_train_dataset
from ..data.readers import resolve_val_sets
from ..device import setup_device
from ..errors import RunFailure
from ..losses import SmartAssignLoss
from ..models import build_network, resolved_model_config
from ..logs import get_logger, setup_rank

logger = get_logger(__name__)

EPOCH_SEED_STRIDE = 1_000_003


def init_distributed():
    """(rank, group size). Data parallel when launched by msrun/mpirun/a rank table (RANK_SIZE > 1)."""
    launched = int(os.environ.get("RANK_SIZE", os.environ.get("MS_WORKER_NUM", "1")) or 1) > 1
    if not launched:
        return 0, 1
    from mindspore.communication import get_group_size, get_rank, init

    init()
    ms.reset_auto_parallel_context()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True)
    return get_rank(), get_group_size()


def resolve_resume(resume, ckpt_dir):
    """'' → None; 'auto' → newest checkpoint in the run folder (None if there is none); else the path."""
    if not resume:
        return None
    if resume == "auto":
        found = list_checkpoints(ckpt_dir)
        return found[-1] if found else None
    if not os.path.isfile(resume):
        raise ConfigError(f"--train.resume={resume}: no such checkpoint (use auto or a .ckpt path)")
    return resume


def truncate_log(path, step):
    """Keep the header and the rows of ``path`` (a CSV whose first column is the step) up to ``step``;
    a run killed after its last checkpoint logged steps that the resumed run repeats."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    keep = lines[:1] + [ln for ln in lines[1:] if ln.split(",", 1)[0].isdigit() and int(ln.split(",", 1)[0]) <= step]
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("\n".join(keep) + "\n")
    os.replace(tmp, path)


def apply_amp(net, level, target):
    """Mixed precision per device: Ascend fp16 compute with LayerNorm/Softmax/Sigmoid kept in fp32;
    CPU and GPU stay fp32 unless amp_level is set explicitly."""
    if level == "auto":
        level = "O2" if target == "Ascend" else "O0"
    if level == "O0":
        return net, False
    if level != "O2":
        raise ConfigError(f"train.amp_level={level!r} is not valid; choose auto, O0 or O2")
    keep_fp32 = amp.get_black_list() + [nn.LayerNorm, nn.Softmax, nn.Sigmoid]
    return amp.custom_mixed_precision(net, black_list=keep_fp32), True


TRAINABLE = {"all": "", "recognition": "the recognition head D_re"}


def check_train_config(cfg):
    """Refuse or adjust option combinations that cannot train what they claim; returns the notes to
    log. The caller's ``cfg`` is changed in place (the run folder's config.yaml shows the result)."""
    m, t = cfg.model, cfg.train
    notes = []
    if m.get("freeze_encoder", False):
        if not t.get("pretrained"):
            raise ConfigError(
                "model.freeze_encoder=true (K1/K2) trains only the heads of a trained model: "
                "pass --train.pretrained=<V6 best.ckpt> (e.g. runs/smartassign/ckpt/best.ckpt)"
            )
        if m.get("contrast", True):
            m["contrast"] = False
            notes.append(
                "model.freeze_encoder=true: model.contrast set to false (with everything before TKFF "
                "frozen the knowledge contrast would train only the DRM, which feeds nothing)"
            )
    trainable = t.get("trainable", "all")
    if trainable not in TRAINABLE:
        raise ConfigError(f"train.trainable={trainable!r} is not valid; choose {' or '.join(TRAINABLE)}")
    if trainable == "recognition" and not m.get("recognition", True):
        raise ConfigError("train.trainable=recognition: this model has no recognition head (model.recognition=false)")
    if trainable != "all" and not t.get("pretrained") and not t.get("resume"):
        raise ConfigError(
            f"train.trainable={trainable} trains only {TRAINABLE[trainable]} of a trained model: "
            "pass --train.pretrained=<best.ckpt> (e.g. weights/lite.ckpt)"
        )
    return notes


def monitored_metric(cfg):
    """The validation metric that picks ``best.ckpt`` and drives the LR plateau: the restored images'
    PSNR-Y, or with ``train.trainable: recognition`` (the images cannot change) the recognition score."""
    return "recognition" if cfg.train.get("trainable", "all") == "recognition" else "psnr"


def build_train_cell(cfg, target):
    """The training cell of ``run`` for device ``target``: (net, loss cell, optimizer, TrainStep, fp16).
    ``net`` is the network as trained (under mixed precision, the AMP wrapper around it). The loss
    scale is dynamic only when computing in fp16; in fp32 it stays 1."""
    t = cfg.train
    net = build_network(cfg.model, seed=int(t.seed))
    if t.get("pretrained"):
        params, _, _ = checkpoint.read(t.pretrained)
        ignored = []
        missing = checkpoint.load_weights(net, params, strict=False, source=t.pretrained, ignored=ignored)
        logger.info(f"loaded {t.pretrained}; {len(missing)} parameters left at their initial values")
        if ignored:
            modules = sorted({k.split(".")[0] for k in ignored})
            logger.info(
                f"{t.pretrained}: ignored {len(ignored)} weights the network does not have "
                f"(modules {', '.join(modules)})"
            )
    trainable = t.get("trainable", "all")
    if trainable != "all":
        keep = {id(p) for p in getattr(net, f"{trainable}_parameters")()}
        if not keep:
            raise ConfigError(f"train.trainable={trainable}: this network has no separate {trainable} head")
        for p in net.get_parameters():
            p.requires_grad = id(p) in keep
        logger.info(f"train.trainable={trainable}: training only {TRAINABLE[trainable]} ({len(keep)} tensors)")
    net, fp16 = apply_amp(net, t.amp_level, target)
    if fp16:
        loss_scale = float(t.loss_scale) or 65536.0
    else:
        loss_scale = 1.0
        if float(t.loss_scale) not in (0.0, 1.0):
            logger.info(f"train.loss_scale={t.loss_scale:g} ignored: fp32 training uses a fixed loss scale of 1")
    loss = SmartAssignLoss(
        net,
        cfg.loss.char_eps,
        cfg.loss.lambda_sparsity,
        cfg.loss.lambda_contra,
        cfg.loss.get("lambda_fused", 1.0),
        cfg.loss.get("contrast_margin", 0.1),
    )
    optimizer = build_optimizer(net.trainable_params(), t.lr)
    step = TrainStep(loss, optimizer, loss_scale, 2, t.loss_scale_window, t.clip_norm, dynamic=fp16)
    return net, loss, optimizer, step, fp16


def check_resume_config(path, stored, model_cfg, config_path, stored_config=""):
    """Refuse to resume from a checkpoint whose stored model config differs from the run's.
    ``stored_config``: the config file that wrote the checkpoint (its meta), when known."""
    if stored is None:
        return

    def resolved(m):  # preset sizes filled in: null == the preset's value
        try:
            return resolved_model_config(m)
        except (ValueError, TypeError, KeyError):
            return dict(m)

    stored, run_cfg = resolved(stored), resolved(model_cfg)
    # Keys of one side only (options added or removed since the checkpoint) are not compared.
    diff = [k for k in sorted(set(stored) & set(run_cfg)) if stored[k] != run_cfg[k]]
    if diff:
        detail = ", ".join(
            f"model.{k}: {stored[k]!r} in the checkpoint, {run_cfg[k]!r} in the run" for k in diff[:4]
        ) + (", ..." if len(diff) > 4 else "")
        written_by = f" (written with {stored_config})" if stored_config else ""
        raise ConfigError(
            f"--train.resume={path}: the checkpoint's model config{written_by} differs from this "
            f"run's ({os.path.basename(config_path or '?')}): {detail}; resume with the config that "
            "wrote it, or start a new run (another --train.output_dir, or --train.resume='')"
        )


def _maybe_build_demo(cfg, rank):
    """configs/demo.yaml: build the synthetic demo set when it is missing or of an older version
    (rank 0; others wait)."""
    data = cfg.data
    if not data.get("auto_demo", False):
        return
    from ..data.synth import build_demo, demo_is_current

    root = data.roots.demo
    if rank == 0 and not demo_is_current(root):
        logger.info(f"demo data missing or outdated at {root}: building it from scikit-image photos")
        build_demo(root, seed=int(data.get("seed", 0)))
    deadline = time.time() + 600
    while not demo_is_current(root):
        if time.time() > deadline:
            raise RunFailure(f"rank {rank}: demo data at {root} did not appear within 10 minutes")
        time.sleep(1)


def header(cfg, target, rank, group):
    import cv2
    import yaml

    return "\n".join(
        [
            f"SmartAssign training | MindSpore {ms.__version__} | numpy {np.__version__} | OpenCV {cv2.__version__} "
            f"| PyYAML {yaml.__version__} | Python {platform.python_version()}",
            f"device {target} (id {os.environ.get('DEVICE_ID', cfg.train.device_id)}), mode {cfg.train.mode}, "
            f"rank {rank} of {group}, ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', 'unset')}",
            "resolved config:",
            dump(cfg),
        ]
    )


def prepare_run(cfg):
    """Check the config, set up the device and (when launched so) data parallelism, write the run
    folder's config.yaml, set up logging for this rank and build the demo data if asked for.
    Returns (device target, rank, group size, run folder)."""
    t = cfg.train
    notes = check_train_config(cfg)
    target = setup_device(t.device_target, t.device_id, t.mode)
    rank, group = init_distributed()
    out_dir = os.path.abspath(t.output_dir)
    if rank == 0:
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "config.yaml"), "w", encoding="utf-8") as fh:
            fh.write(dump(cfg))
    setup_rank(rank, t.get("log_all_ranks", False))  # other ranks: warnings only, unless log_all_ranks
    logger.info(header(cfg, target, rank, group))
    for note in notes:
        logger.info(note)
    _maybe_build_demo(cfg, rank)
    return target, rank, group, out_dir


def train_dataset_factory(cfg, rank, group):
    """``factory(epoch)``: this rank's shard of the training data of an epoch (seeded by the epoch,
    so a resumed run sees the same batches). Only the first epoch decodes every pair to check it
    (``data.check``); later epochs check pairs only."""
    t, data_cfg = cfg.train, cfg.data
    checked = []

    def factory(epoch):
        dcfg = data_cfg if not checked or data_cfg.get("skip_bad") else dict(data_cfg, check="pairs")
        checked.append(epoch)
        seed = int(data_cfg.get("seed", 0)) + EPOCH_SEED_STRIDE * epoch
        data = create_train_dataset(dcfg, t.batch_size, rank, group, seed=seed)
        repeat = int(t.get("epoch_repeat", 1) or 1)
        return data.repeat(repeat) if repeat > 1 else data

    return factory


def resume_training(cfg, state, step, optimizer, fp16, ckpt_dir):
    """Load ``train.resume`` (a checkpoint, or ``auto`` = the newest in the run folder) into the train
    step and ``state``; returns the checkpoint path or None (a fresh start)."""
    t = cfg.train
    resume = resolve_resume(t.get("resume", ""), ckpt_dir)
    if not resume:
        if t.get("resume") == "auto":
            logger.info(f"--resume auto: no checkpoint in {ckpt_dir}, starting from scratch")
        return None
    params, stored_model, meta = checkpoint.read(resume)
    check_resume_config(resume, stored_model, cfg.model.to_dict(), cfg.get("config_path"), meta.get("config", ""))
    stored = meta.get("monitor", "psnr")
    if stored != state.monitor:  # also a different train.trainable: the optimizer holds other parameters
        raise ConfigError(
            f"{resume}: its best.ckpt was chosen by validation {stored}, this run chooses by {state.monitor} "
            f"(train.trainable); start a new run with --train.pretrained={resume} instead"
        )
    trained = meta.get("trainable", "recognition" if stored == "recognition" else "all")  # older runs
    if trained != state.trainable:
        raise ConfigError(
            f"{resume}: its run trained train.trainable={trained}, this run trains {state.trainable}; "
            f"start a new run with --train.pretrained={resume} instead"
        )
    not_loaded, _ = ms.load_param_into_net(step, params, strict_load=False)
    if not_loaded:
        raise checkpoint.CheckpointError(
            f"{resume}: {len(not_loaded)} training parameters missing "
            f"(e.g. {', '.join(not_loaded[:3])}); was it saved by train.py?"
        )
    state.step, state.epoch = int(meta.get("step", 0)), int(meta.get("epoch", 0))
    best = meta.get("best_score", meta.get("best_psnr"))  # runs before the monitor choice wrote best_psnr
    if best is not None:
        state.best_score = float(best)
    state.plateau, state.last_ckpt = meta.get("plateau") or {}, resume
    if not fp16:
        step.loss_scale.set_data(ms.Tensor(1.0, ms.float32))  # fp32: fixed (older runs let it grow)
    logger.info(
        f"resumed from {resume}: step {state.step}, epoch {state.epoch}, lr "
        f"{float(optimizer.learning_rate.asnumpy()):.3g}, loss scale {float(step.loss_scale.asnumpy()):g}"
    )
    return resume


def start_logs(out_dir, step, resumed):
    """A resumed run drops the log.csv/val.csv rows written after its checkpoint; a fresh run moves
    old logs aside to ``*.previous``."""
    for name in ("log.csv", "val.csv"):
        path = os.path.join(out_dir, name)
        if resumed:
            truncate_log(path, step)
        elif os.path.exists(path):
            os.replace(path, path + ".previous")


def validation_sets(cfg):
    """``data.val_sets`` resolved (``[auto]`` = each training set's <benchmark>/val; never a test set)."""
    val_sets = resolve_val_sets(cfg.data)
    corpus_val = cfg.data.get("format") == "corpus"
    no_val = "none (no best.ckpt, no LR on plateau)"
    logger.info("validation sets: " + (", ".join(val_sets) or ("data.corpus.val_dirs" if corpus_val else no_val)))
    return val_sets


def create_validation(cfg, val_sets):
    """The validation dataset (held-out pairs of ``val_sets``, or for ``data.format: corpus`` the
    held-out clean photos rendered with a fixed seed), or None when there is none."""
    t = cfg.train
    if not (val_sets or cfg.data.get("format") == "corpus"):
        return None
    return create_val_dataset(cfg.data, val_sets, int(t.val_crop), int(t.val_max_images))


def warmup_steps(train_cfg, steps_per_epoch):
    """``train.warmup_steps`` as a whole number below one epoch's steps; else a one-line error."""
    value = train_cfg.get("warmup_steps", 0) or 0
    steps = whole_number(value)
    if steps is None or steps < 0 or (steps and steps >= steps_per_epoch):
        raise ConfigError(
            f"train.warmup_steps={value!r}: give a whole number of steps below one epoch's "
            f"{steps_per_epoch} (0 = no warm-up)"
        )
    return steps


def create_callbacks(cfg, state, net, loss, optimizer, step, val_ds, rank, out_dir):
    """LR warm-up (``train.warmup_steps``), step logger (+ the non-finite stop), LR on plateau (with
    validation), checkpoints (rank 0) and the replica probe (``train.check_replicas``), in the order
    they must run."""
    t = cfg.train
    log_csv = os.path.join(out_dir, "log.csv") if rank == 0 else None
    callbacks = [StepLogger(state, optimizer, log_csv, t.log_every, t.max_nonfinite, t.max_steps, loss.terms)]
    warmup = warmup_steps(t, state.steps_per_epoch)
    if warmup:
        callbacks.insert(0, WarmUp(state, optimizer, float(t.lr), warmup))
    if val_ds:
        plateau = PersistentPlateau(
            state,
            optimizer,
            monitor=state.monitor,
            mode="max",
            factor=float(t.plateau_factor),
            patience=int(t.plateau_patience),
            min_lr=float(t.min_lr),
            verbose=rank == 0,
        )
        callbacks.append(plateau)
    if rank == 0:
        ckpt_dir = os.path.join(out_dir, "ckpt")
        callbacks.append(
            CheckpointSaver(
                state,
                step,
                net,
                cfg.model.to_dict(),
                ckpt_dir,
                t.save_every,
                t.keep_checkpoints,
            )
        )
    if t.get("check_replicas", False):
        callbacks.append(ReplicaProbe(net, os.path.join(out_dir, "replicas"), rank))
    return callbacks


def train_epochs(cfg, model, callbacks, factory, first, state, val_ds):
    """The epoch loop from ``state`` (a resumed epoch skips the batches it has already trained on)
    until ``train.epochs`` or ``train.max_steps``."""
    t = cfg.train
    for epoch in range(state.epoch, int(t.epochs)):
        if t.max_steps and state.step >= t.max_steps:
            break
        data = first if epoch == 0 else factory(epoch)
        first = None
        done_in_epoch = state.step - epoch * state.steps_per_epoch
        if done_in_epoch > 0:
            data = data.skip(done_in_epoch)
        model.fit(
            epoch + 1,
            data,
            valid_dataset=val_ds,
            valid_frequency=1,
            callbacks=callbacks,
            initial_epoch=epoch,
            dataset_sink_mode=False,
        )


def run(cfg, dataset_factory=None):
    """Train according to ``cfg``; returns the final TrainState. ``dataset_factory(epoch)`` replaces
    the configured data (tests). The steps, in order: prepare the run, build the data and the train
    cell, resume, start the logs, build validation and callbacks, train the epochs."""
    t = cfg.train
    target, rank, group, out_dir = prepare_run(cfg)
    val_sets = validation_sets(cfg)
    ms.set_seed(int(t.seed))
    factory = dataset_factory or train_dataset_factory(cfg, rank, group)
    net, loss, optimizer, step, fp16 = build_train_cell(cfg, target)
    first = factory(0)
    state = TrainState(first.get_dataset_size(), monitor=monitored_metric(cfg), trainable=t.get("trainable", "all"))
    state.config = os.path.basename(cfg.get("config_path") or "")
    ckpt_dir = os.path.join(out_dir, "ckpt")
    resumed = resume_training(cfg, state, step, optimizer, fp16, ckpt_dir)
    if rank == 0:
        start_logs(out_dir, state.step, resumed)
    val_ds = create_validation(cfg, val_sets)
    model = Model(
        step,
        eval_network=ValidationNet(net) if val_ds else None,
        metrics=validation_metrics(net) if val_ds else None,
        eval_indexes=[0, 1, 2] if val_ds else None,
    )
    callbacks = create_callbacks(cfg, state, net, loss, optimizer, step, val_ds, rank, out_dir)
    logger.info(f"{state.steps_per_epoch} steps per epoch x {t.epochs} epochs, global batch {t.batch_size * group}")
    train_epochs(cfg, model, callbacks, factory, first, state, val_ds)
    logger.info(f"finished at step {state.step}; checkpoints in {ckpt_dir}")
    return state
