"""Training dataset (balanced rain+snow batches) and the full-size test-set iterator.

Training samples are ``image``/``target`` float32 CHW in [0, 1] and ``label`` int32 (0 rain,
1 snow; a corpus clean crop its task + ``NO_WEATHER``, src/data/labels.py), cropped at the same
random place (``data.crop_size``; smaller images are reflect-padded) and flipped together. Joint
training draws every batch half from the rain pool and half from the snow pool (rain rows first);
one epoch shows every pair of the larger pool once and repeats the smaller one. ``data.single_task``
(rain|snow) trains on one pool (ablation V4).

Data parallel: each pool is permuted with ``seed`` (the same on every rank) and dealt out
round-robin, so ranks get disjoint shards covering the pool; every rank runs the same number of
steps. ``mindspore.dataset.config`` is seeded with ``seed + rank``.
"""

from collections import namedtuple

import numpy as np

from src.data.check import DataCheckError, check_sets
from src.data.image_io import ImageReadError
from src.data.labels import LABELS, TASKS
from src.data.readers import DataConfigError, PairMismatchError, _get, list_set, load_pair, set_task
from src.logs import get_logger

logger = get_logger(__name__)

COLUMNS = ["image", "target", "label"]
EvalSample = namedtuple("EvalSample", "name task input target")


def shard_indices(n, rank, group_size, seed):
    """Indices of a pool of ``n`` for ``rank``: a seeded permutation dealt out round-robin."""
    if not 0 <= rank < group_size:
        raise ValueError(f"rank {rank} is not in 0..{group_size - 1}")
    return np.random.default_rng(seed).permutation(n)[rank::group_size]


def active_tasks(data_cfg):
    single = _get(data_cfg, "single_task", "") or ""
    if single not in ("",) + TASKS:
        raise DataConfigError(f"data.single_task={single!r} is not valid; use '' (joint), rain or snow")
    return (single,) if single else TASKS


class _PairSource:
    """Random-access source for GeneratorDataset: decoded uint8 (input, target, label)."""

    def __init__(self, pairs):
        self.pairs = list(pairs)

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, i):
        pair = self.pairs[int(i)]
        inp, tgt = load_pair(pair, strict=False)
        return inp, tgt, np.array(pair.label, np.int32)


def _folder_pools(data_cfg, tasks):
    """Good training pairs grouped by task (after the configured check)."""
    sets = list(_get(data_cfg, "train_sets") or [])
    if not sets:
        raise DataConfigError("data.train_sets is empty; list sets such as [rain1200/train, csd/train]")
    mode = _get(data_cfg, "check", "full")
    if mode not in ("full", "pairs"):
        raise DataConfigError(f"data.check={mode!r} is not valid; use full or pairs")
    other = [s for s in sets if set_task(data_cfg, s) not in tasks]
    if other:
        logger.info(f"data.single_task={tasks[0]}: not using " + ", ".join(other))
    sets = [s for s in sets if s not in other]
    pools = {t: [] for t in tasks}
    if not sets:
        return pools
    report = check_sets(data_cfg, sets, decode=(mode == "full"))
    for s in sets:
        for p in report.pairs(s):
            if p.task in pools:
                pools[p.task].append(p)
    return pools


def _mindrecord_pools(data_cfg, tasks):
    """Row indices grouped by task, and the first file of the conversion."""
    from src.data.mindrecord import open_mindrecord, record_labels

    meta = open_mindrecord(_get(data_cfg, "mindrecord_path"), expect_sets=list(_get(data_cfg, "train_sets") or []))
    labels = record_labels(meta)
    return {t: np.flatnonzero(labels == LABELS[t]) for t in tasks}, meta["paths"][0]


def _augment(dset, crop, flip, workers):
    import mindspore.dataset.vision as vision

    ops = [vision.RandomCrop(crop, pad_if_needed=True, padding_mode=vision.Border.REFLECT)]
    if flip:
        ops += [vision.RandomHorizontalFlip(), vision.RandomVerticalFlip()]
    dset = dset.map(ops, input_columns=["image", "target"], num_parallel_workers=workers)
    for col in ("image", "target"):
        dset = dset.map(
            [vision.Rescale(1.0 / 255.0, 0.0), vision.HWC2CHW()], input_columns=[col], num_parallel_workers=workers
        )
    return dset


def _task_dataset(fmt, pool, shard, workers, record_file):
    """Unbatched (image, target, label) uint8 HWC rows of one task's shard, reshuffled each pass."""
    import mindspore.dataset as ds

    if fmt == "folder":
        return ds.GeneratorDataset(
            _PairSource([pool[i] for i in shard]),
            COLUMNS,
            shuffle=True,
            num_parallel_workers=workers,
            python_multiprocessing=False,
        )
    from src.data.mindrecord import decode_record

    rows = ds.MindDataset(
        record_file,
        columns_list=["image", "target", "layout", "label"],
        sampler=ds.SubsetRandomSampler(pool[shard].tolist()),
        num_parallel_workers=workers,
    )
    return rows.map(
        decode_record,
        input_columns=["image", "target", "layout"],
        output_columns=["image", "target"],
        num_parallel_workers=workers,
    )


def _merge(img_r, tgt_r, lab_r, img_s, tgt_s, lab_s):
    return (
        np.concatenate([img_r, img_s]),
        np.concatenate([tgt_r, tgt_s]),
        np.concatenate([lab_r, lab_s]).astype(np.int32),
    )


def create_train_dataset(data_cfg, batch_size, rank=0, group_size=1, seed=0):
    """Batched training dataset (columns image, target, label; drop_remainder).

    Steps per epoch: ``get_dataset_size()``. Joint training needs an even ``batch_size`` (half rain,
    half snow). Raises ConfigError/DataCheckError subclasses with one-line messages.
    """
    import mindspore.dataset as ds

    batch_size, group_size, rank = int(batch_size), int(group_size), int(rank)
    tasks = active_tasks(data_cfg)
    if len(tasks) == 2 and (batch_size < 2 or batch_size % 2):
        raise DataConfigError(
            f"batch size {batch_size} is not even; joint training puts half rain and half snow "
            "in every batch (or set data.single_task=rain|snow)"
        )
    per_task = batch_size // len(tasks)
    fmt = _get(data_cfg, "format", "folder")
    if fmt not in ("folder", "mindrecord", "corpus"):
        raise DataConfigError(f"data.format={fmt!r} is not valid; use folder, mindrecord or corpus")
    crop = int(_get(data_cfg, "crop_size", 256))
    workers = max(1, int(_get(data_cfg, "num_workers", 2) or 1))
    flip = bool(_get(data_cfg, "flip", True))
    ds.config.set_seed(int(seed) + rank)
    if fmt == "corpus":
        return _corpus_dataset(data_cfg, tasks, per_task, crop, workers, rank, group_size, seed)
    if fmt == "folder":
        pools, record_file = _folder_pools(data_cfg, tasks), None
    else:
        pools, record_file = _mindrecord_pools(data_cfg, tasks)
    batches = {}
    for t in tasks:
        n_min = len(pools[t]) // group_size  # the smallest shard: every rank agrees on the step count
        batches[t] = n_min // per_task
        if batches[t] < 1:
            raise DataConfigError(
                f"the {t} pool has {len(pools[t])} pairs: too few for {group_size} rank(s) x "
                f"{per_task} {t} samples per batch; add {t} sets to data.train_sets"
                + (" or set data.single_task" if len(tasks) == 2 else "")
            )
    steps = max(batches.values())
    parts = []
    for t in tasks:
        shard = shard_indices(len(pools[t]), rank, group_size, seed)
        d = _task_dataset(fmt, pools[t], shard, workers, record_file)
        d = _augment(d, crop, flip, workers).batch(per_task, drop_remainder=True)
        d = d.repeat(-(-steps // batches[t])) if batches[t] < steps else d
        parts.append(d)
    return _join_tasks(parts).take(steps)


def _join_tasks(parts):
    """One task's batches as they are; two tasks zipped into batches of rain rows, then snow rows."""
    import mindspore.dataset as ds

    if len(parts) == 1:
        return parts[0]
    snow = parts[1].rename(COLUMNS, [c + "_s" for c in COLUMNS])
    both = ds.zip((parts[0], snow)).map(
        _merge, input_columns=COLUMNS + [c + "_s" for c in COLUMNS], output_columns=COLUMNS
    )
    return both.project(COLUMNS)


def _corpus_dataset(data_cfg, tasks, per_task, crop, workers, rank, group_size, seed):
    """data.format=corpus: fresh renderings of clean-photo crops (src/data/corpus.py); every task
    draws from the same photos, each rank from its own shard of them."""
    from src.data.corpus import corpus_photos, corpus_task_dataset

    photos = corpus_photos(data_cfg, "train")
    shard = shard_indices(len(photos), rank, group_size, seed)
    n_min = len(photos) // group_size
    per_photo = int((_get(data_cfg, "corpus") or {}).get("crops_per_photo", 1) or 1)
    steps = n_min * per_photo // per_task
    if steps < 1:
        raise DataConfigError(
            f"the corpus has {len(photos)} photos: too few for {group_size} rank(s) x "
            f"{per_task} samples per task and batch; add folders to data.corpus.dirs"
        )
    paths = [photos[i] for i in shard[:n_min]]
    parts = []
    for t in tasks:
        d = corpus_task_dataset(data_cfg, paths, t, steps * per_task, crop, seed, rank, workers)
        for col in ("image", "target"):
            d = d.map(_to_chw(), input_columns=[col], num_parallel_workers=workers)
        parts.append(d.batch(per_task, drop_remainder=True))
    return _join_tasks(parts)


def _to_chw():
    import mindspore.dataset.vision as vision

    return [vision.Rescale(1.0 / 255.0, 0.0), vision.HWC2CHW()]


class EvalSet:
    """Full-size pairs of one test set: ``len()`` and iteration over :data:`EvalSample` tuples."""

    def __init__(self, data_cfg, set_name):
        self.set_name = set_name
        self.skip_bad = bool(_get(data_cfg, "skip_bad", False))
        listing = list_set(data_cfg, set_name)
        if listing.problems:
            head = "; ".join(f"{p.path}: {p.detail}" for p in listing.problems[:3])
            if not self.skip_bad:
                raise DataCheckError(
                    f"{set_name}: {len(listing.problems)} unpaired file(s) (e.g. {head}); run "
                    "prepare_data.py check, fix them, or set --data.skip_bad=true"
                )
            logger.info(f"{set_name}: leaving out {len(listing.problems)} unpaired file(s) (e.g. {head})")
        if not listing.pairs:
            raise DataCheckError(f"{set_name}: no pairs found under {listing.root}; check data.roots")
        self.pairs = listing.pairs
        self.skipped = []

    def __len__(self):
        return len(self.pairs)

    def __iter__(self):
        for pair in self.pairs:
            try:
                inp, tgt = load_pair(pair)
            except (ImageReadError, PairMismatchError) as exc:
                if not self.skip_bad:
                    raise DataCheckError(f"{self.set_name}: {exc}; fix the file or set --data.skip_bad=true") from exc
                self.skipped.append(str(exc))
                logger.info(f"{self.set_name}: skipping bad pair {exc}")
                continue
            yield EvalSample(pair.name, pair.task, inp, tgt)


def iterate_test_set(data_cfg, set_name):
    """Iterate ``(name, task, input_rgb_uint8, target_rgb_uint8)`` of a test set at full size.

    Returns a :class:`EvalSet` (supports ``len()``). Bad pairs raise DataCheckError unless
    ``data.skip_bad`` (then they are logged and skipped).
    """
    return EvalSet(data_cfg, set_name)
