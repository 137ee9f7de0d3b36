"""Generic readers that list (input, target) pairs of a benchmark split in its native layout.

A set is named ``<benchmark>/<split>`` (e.g. ``csd/test``); ``data.benchmarks`` (configs/datasets.yaml)
describes each benchmark: its task, the key of its root folder in ``data.roots`` and its splits.
A split uses one of three readers:

- ``paired``: an ``input`` folder and a ``target`` folder; ``target_name`` is a template over the
  input file's ``{stem}``, ``{ext}`` (with the dot) and ``{name}`` (default ``{name}``: same file
  name); a trailing ``.*`` means "any image extension" (e.g. ``{stem}gt{ext}`` for SPA,
  ``{stem}.jpg`` for SRRS). Optional ``input_glob`` (e.g. ``*.tif``) and ``recursive``.
- ``side_by_side``: every image in the folders ``dirs`` holds a pair; ``input_side`` (left|right)
  says which half is the degraded input (Rain1200: left).
- ``list``: a ``list`` file with ``input target`` per line; paths are relative to the list's
  folder (a leading ``/`` as in SPA's lists is read relative to it too).

Any split may carry ``holdout: {count, seed, val, val_seed, part}`` to cut one listing into
disjoint parts: a seeded choice (``seed``) of ``count`` pairs of the sorted list is ``part: test``;
of the remaining pairs, a seeded choice (``val_seed``, default ``seed``) of ``val`` pairs is
``part: val``; what is left is ``part: train``. ``count`` or ``val`` may be 0 (e.g. a validation
part carved from a train folder whose test set lives elsewhere; both 0: ``part: train`` is every
pair). A benchmark-level ``holdout`` mapping supplies defaults for its splits' ``holdout`` (so the
splits share count and seeds and only set ``part``); splits with a holdout that read the same pairs
must use the same numbers (checked when listing), or their parts would overlap. A split may say
``like: <split>`` to start from another split's keys (``val: {like: train, holdout: {part: val}}``
reads the train split's files, also when those are overridden).

``data.val_sets`` (validation during training) may contain ``auto``: the ``val`` split of the
benchmark of every training set (:func:`resolve_val_sets`); validation sets must not be test
or training sets.

Listing never decodes images; problems (unpaired files, bad list lines) are returned, not dropped.
"""

import fnmatch
import os
from collections import namedtuple
from dataclasses import dataclass, field

import numpy as np

from src.config import ConfigError
from src.data.image_io import is_image_file, read_rgb
from src.data.labels import LABELS, TASKS
from ..errors import UsageError

READERS = ("paired", "side_by_side", "list")

# Problem kinds. "Unpaired" kinds are found by listing; the others by decoding (check.py).
UNPAIRED_KINDS = ("no_target", "no_input", "ambiguous", "bad_line")
DECODE_KINDS = ("undecodable", "size_mismatch")
KIND_TEXT = {
    "no_target": "input without target",
    "no_input": "target without input",
    "ambiguous": "several targets match",
    "bad_line": "bad list line",
    "undecodable": "undecodable",
    "size_mismatch": "size mismatch",
}

Problem = namedtuple("Problem", "kind path detail")


class DataConfigError(ConfigError):
    """A data configuration problem (unknown set, missing root); the message says what to set."""


class PairMismatchError(UsageError):
    """Input and target of a pair do not have the same size."""

    def __init__(self, path, detail):
        super().__init__(f"{path}: {detail}")
        self.path = str(path)
        self.reason = detail


@dataclass(frozen=True)
class Pair:
    """One training or test sample: file paths, task and a name unique within its set."""

    name: str
    task: str
    input: str
    target: str
    layout: str = "paired"  # paired | side_by_side
    input_side: str = "left"

    @property
    def label(self):
        return LABELS[self.task]


@dataclass
class Listing:
    """The pairs of one set, plus the problems and ignored files found while listing."""

    set_name: str
    task: str
    root: str
    reader: str
    pairs: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    ignored: list = field(default_factory=list)


def _get(cfg, key, default=None):
    return cfg.get(key, default) if isinstance(cfg, dict) else getattr(cfg, key, default)


def split_set_name(set_name):
    """``'csd/test'`` -> ``('csd', 'test')`` with a clear error for other shapes."""
    parts = str(set_name).split("/")
    if len(parts) != 2 or not all(parts):
        raise DataConfigError(
            f"set name {set_name!r} is not valid; sets are named <benchmark>/<split>, " "e.g. csd/test"
        )
    return parts[0], parts[1]


def _split_spec(bench_name, splits, split, seen=()):
    """A split's spec; ``like: <other split>`` starts from that split's keys (its own keys win)."""
    spec = dict(splits[split])
    base = spec.pop("like", None)
    if base is None:
        return spec
    if base not in splits or base in seen + (split,):
        raise DataConfigError(
            f"data.benchmarks.{bench_name}.splits.{split}.like={base!r} must name another split "
            f"of {bench_name} (no loops): " + ", ".join(splits)
        )
    out = _split_spec(bench_name, splits, base, seen + (split,))
    out.update(spec)
    return out


def _lookup(data_cfg, set_name):
    """``(benchmark name, split, benchmark entry, split spec, task)`` of a set; no file-system access."""
    bench_name, split = split_set_name(set_name)
    benchmarks = _get(data_cfg, "benchmarks") or {}
    if bench_name not in benchmarks:
        raise DataConfigError(
            f"unknown benchmark {bench_name!r} in set {set_name!r}; known: "
            + ", ".join(sorted(benchmarks))
            + " (data.benchmarks, configs/datasets.yaml)"
        )
    bench = benchmarks[bench_name]
    splits = _get(bench, "splits") or {}
    if split not in splits:
        raise DataConfigError(
            f"benchmark {bench_name!r} has no split {split!r}; choose one of "
            + ", ".join(f"{bench_name}/{s}" for s in splits)
        )
    spec = _split_spec(bench_name, splits, split)
    shared = _get(bench, "holdout")
    if shared and spec.get("holdout"):
        spec["holdout"] = {**dict(shared), **dict(spec["holdout"])}
    task = spec.get("task") or _get(bench, "task")
    if task not in TASKS:
        raise DataConfigError(f"data.benchmarks.{bench_name}.task={task!r} is not valid; use rain or snow")
    return bench_name, split, bench, spec, task


def set_task(data_cfg, set_name):
    """The task ('rain' or 'snow') of a set, without touching its files."""
    return _lookup(data_cfg, set_name)[4]


def set_spec(data_cfg, set_name):
    """Resolve a set name to ``(task, root_dir, split_spec)``; errors name the key to fix."""
    bench_name, split, bench, spec, task = _lookup(data_cfg, set_name)
    root_key = _get(bench, "root") or bench_name
    roots = _get(data_cfg, "roots") or {}
    if root_key not in roots or roots[root_key] in (None, ""):
        raise DataConfigError(
            f"data.roots.{root_key} is not set; point it at your download "
            f"(--data.roots.{root_key}=/path/to/{bench_name})"
        )
    root = os.path.abspath(os.path.expanduser(str(roots[root_key])))
    if not os.path.isdir(root):
        raise DataConfigError(
            f"data.roots.{root_key}={roots[root_key]} is not a folder; point it at your "
            f"{bench_name} download (--data.roots.{root_key}=/path/to/{bench_name})"
        )
    reader = spec.get("reader", "paired")
    if reader not in READERS:
        raise DataConfigError(
            f"data.benchmarks.{bench_name}.splits.{split}.reader={reader!r} is not valid; " "use " + ", ".join(READERS)
        )
    spec["reader"] = reader
    spec["_key"] = f"data.benchmarks.{bench_name}.splits.{split}"
    spec["_root_key"] = root_key
    return task, root, spec


def _folder(root, rel, spec, what):
    path = os.path.join(root, str(rel))
    if not os.path.isdir(path):
        raise DataConfigError(
            f"{path} not found ({spec['_key']}.{what} under data.roots.{spec['_root_key']}); "
            "check the root and the benchmark's folder layout"
        )
    return path


def _walk(folder, recursive):
    """Relative paths of all files in ``folder`` (sorted), skipping hidden files."""
    out = []
    if recursive:
        for dirpath, dirnames, files in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel = os.path.relpath(dirpath, folder)
            out += [os.path.normpath(os.path.join(rel, f)) for f in files if not f.startswith(".")]
    else:
        out = [f for f in os.listdir(folder) if not f.startswith(".") and os.path.isfile(os.path.join(folder, f))]
    return sorted(out)


def _read_paired(root, spec, listing):
    in_dir = _folder(root, spec.get("input", "input"), spec, "input")
    tgt_dir = _folder(root, spec.get("target", "target"), spec, "target")
    recursive = bool(spec.get("recursive", False))
    template = str(spec.get("target_name", "{name}"))
    pattern = str(spec.get("input_glob", "*"))
    inputs = _walk(in_dir, recursive)
    targets = [t for t in _walk(tgt_dir, recursive) if is_image_file(t)]
    listing.ignored += [os.path.join(in_dir, f) for f in inputs if not is_image_file(f)]
    by_stem = {}
    for t in targets:
        by_stem.setdefault(os.path.splitext(t)[0], []).append(t)
    target_set, claimed = set(targets), set()
    for rel in inputs:
        if not is_image_file(rel) or not fnmatch.fnmatch(os.path.basename(rel), pattern):
            if is_image_file(rel):
                listing.ignored.append(os.path.join(in_dir, rel))
            continue
        base = os.path.basename(rel)
        stem, ext = os.path.splitext(base)
        try:
            tname = os.path.join(os.path.dirname(rel), template.format(stem=stem, ext=ext, name=base))
        except (KeyError, IndexError, ValueError) as exc:
            raise DataConfigError(
                f"{spec['_key']}.target_name={template!r} is not valid ({exc}); use the fields "
                "{stem}, {ext} and {name}"
            ) from exc
        if tname.endswith(".*"):
            found = by_stem.get(tname[:-2], [])
        else:
            found = [tname] if tname in target_set else []
        src = os.path.join(in_dir, rel)
        if not found:
            listing.problems.append(Problem("no_target", src, f"expected {os.path.join(tgt_dir, tname)}"))
        elif len(found) > 1:
            listing.problems.append(Problem("ambiguous", src, "targets " + ", ".join(found)))
        else:
            claimed.add(found[0])
            listing.pairs.append(Pair(rel, listing.task, src, os.path.join(tgt_dir, found[0])))
    for t in targets:
        if t not in claimed:
            listing.problems.append(Problem("no_input", os.path.join(tgt_dir, t), f"no input in {in_dir}"))


def _read_side_by_side(root, spec, listing):
    dirs = spec.get("dirs", ["."])
    dirs = [dirs] if isinstance(dirs, str) else list(dirs)
    side = spec.get("input_side", "left")
    if side not in ("left", "right"):
        raise DataConfigError(f"{spec['_key']}.input_side={side!r} is not valid; use left or right")
    for d in dirs:
        folder = _folder(root, d, spec, "dirs")
        for rel in _walk(folder, bool(spec.get("recursive", False))):
            path = os.path.join(folder, rel)
            if not is_image_file(rel):
                listing.ignored.append(path)
                continue
            name = os.path.normpath(os.path.join(d, rel)) if len(dirs) > 1 else rel
            listing.pairs.append(Pair(name, listing.task, path, path, "side_by_side", side))


def _list_path(base, text):
    """Resolve a list entry: relative to the list's folder; a leading '/' is tried there first."""
    if os.path.isabs(text):
        inside = os.path.join(base, text.lstrip("/\\"))
        return inside if os.path.exists(inside) or not os.path.exists(text) else text
    return os.path.normpath(os.path.join(base, text))


def _read_list(root, spec, listing):
    list_file = os.path.join(root, str(spec.get("list", "")))
    if not os.path.isfile(list_file):
        raise DataConfigError(
            f"list file {list_file} not found ({spec['_key']}.list under " f"data.roots.{spec['_root_key']})"
        )
    base = os.path.dirname(list_file)
    with open(list_file, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    for num, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = text.split()
        if len(fields) != 2:
            listing.problems.append(
                Problem("bad_line", f"{list_file}:{num}", f"expected 'input target', got {len(fields)} fields")
            )
            continue
        src, tgt = (_list_path(base, f) for f in fields)
        if not os.path.isfile(src):
            listing.problems.append(Problem("no_input", src, f"listed at {list_file}:{num}, file missing"))
        elif not os.path.isfile(tgt):
            listing.problems.append(Problem("no_target", src, f"target {tgt} (line {num}) missing"))
        else:
            name = os.path.relpath(src, base)
            listing.pairs.append(Pair(name, listing.task, src, tgt))


HOLDOUT_PARTS = ("train", "val", "test")
_HOLDOUT_KEYS = ("count", "seed", "val", "val_seed")


def _holdout_params(hold, key, check_part=True):
    """``(count, seed, val, val_seed, part)`` of a holdout mapping, with errors naming ``key``."""
    unknown = sorted(set(hold) - set(_HOLDOUT_KEYS) - {"part"})
    if unknown:
        raise DataConfigError(
            f"{key}.holdout has unknown key(s) {', '.join(unknown)}; use count, seed, val, " "val_seed and part"
        )
    try:
        count, seed = int(hold.get("count", 0) or 0), int(hold.get("seed", 0) or 0)
        val = int(hold.get("val", 0) or 0)
        val_seed = seed if hold.get("val_seed") is None else int(hold["val_seed"])
    except (TypeError, ValueError) as exc:
        raise DataConfigError(f"{key}.holdout: count, seed, val and val_seed must be integers ({exc})") from exc
    part = hold.get("part", "test")
    if part not in HOLDOUT_PARTS:
        raise DataConfigError(f"{key}.holdout.part={part!r} is not valid; use train, val or test")
    if count < 0 or val < 0:
        raise DataConfigError(f"{key}.holdout: count={count} and val={val} must not be negative")
    if check_part and ((part == "test" and not count) or (part == "val" and not val)):
        what = "count" if part == "test" else "val"
        raise DataConfigError(f"{key}.holdout.part={part} needs holdout.{what} > 0")
    return count, seed, val, val_seed, part


def _source(spec):
    """What a split reads, without its holdout: splits with the same source list the same pairs."""
    spec = dict(spec, reader=spec.get("reader", "paired"))
    return tuple(sorted((k, repr(v)) for k, v in spec.items() if k != "holdout" and not k.startswith("_")))


def _check_holdout_siblings(data_cfg, set_name, spec):
    """Splits of one benchmark that read the same pairs must cut them with the same holdout."""
    bench_name, split, bench, _, _ = _lookup(data_cfg, set_name)
    mine = spec.get("holdout")
    mine_key = tuple(_holdout_params(mine, spec["_key"], False)[:4]) if mine else None
    for other in _get(bench, "splits") or {}:
        if other == split:
            continue
        ospec = _lookup(data_cfg, f"{bench_name}/{other}")[3]
        theirs = ospec.get("holdout")
        if not (mine and theirs) or _source(ospec) != _source(spec):
            continue
        theirs_key = tuple(_holdout_params(theirs, f"data.benchmarks.{bench_name}.splits.{other}", False)[:4])
        if mine_key != theirs_key:
            fmt = "count={}, seed={}, val={}, val_seed={}".format
            raise DataConfigError(
                f"{set_name} ({fmt(*mine_key)}) and {bench_name}/{other} ({fmt(*theirs_key)}) read the same pairs but "
                f"hold out differently, so their pairs would overlap; give both the same holdout count, seed, val "
                f"and val_seed (set them once in data.benchmarks.{bench_name}.holdout), only part differs"
            )


def holdout_parts(n, count, seed, val=0, val_seed=None):
    """Index sets ``{"test", "val", "train"}`` of a holdout over ``n`` sorted pairs (disjoint, cover 0..n-1)."""
    if (count or val) and count + val >= n:
        raise DataConfigError(f"{count} test + {val} validation pairs leave no training pairs of {n}")
    test = set(np.random.default_rng(seed).permutation(n)[:count].tolist()) if count else set()
    rest = [i for i in range(n) if i not in test]
    vseed = seed if val_seed is None else val_seed
    chosen = np.random.default_rng(vseed).permutation(len(rest))[:val].tolist() if val else []
    valid = {rest[j] for j in chosen}
    return {"test": test, "val": valid, "train": set(rest) - valid}


def _apply_holdout(spec, listing):
    hold = spec.get("holdout")
    if not hold:
        return
    count, seed, val, val_seed, part = _holdout_params(hold, spec["_key"])
    pairs = sorted(listing.pairs, key=lambda p: p.name)
    if (count or val) and count + val >= len(pairs):
        bench = spec["_key"].split(".")[2]
        raise DataConfigError(
            f"{spec['_key']}.holdout: count={count} test + val={val} validation pairs must be "
            f"fewer than the {len(pairs)} pairs found (at least one is left for training); "
            f"lower data.benchmarks.{bench}.holdout.count / .val (val=0: no validation part)"
        )
    keep = holdout_parts(len(pairs), count, seed, val, val_seed)[part]
    listing.pairs = [p for i, p in enumerate(pairs) if i in keep]


def resolve_val_sets(data_cfg):
    """``data.val_sets`` with ``auto`` expanded (the ``val`` split of each training set's benchmark,
    of the active tasks); refuses a validation set that is also a test or a training set."""
    train = [str(s) for s in (_get(data_cfg, "train_sets") or [])]
    test = [str(s) for s in (_get(data_cfg, "test_sets") or [])]
    single = _get(data_cfg, "single_task", "") or ""
    out = []
    for name in [str(s) for s in (_get(data_cfg, "val_sets") or [])]:
        if name != "auto":
            out.append(name)
            continue
        for t in train:
            if single and set_task(data_cfg, t) != single:
                continue
            bench_name, _ = split_set_name(t)
            splits = _get((_get(data_cfg, "benchmarks") or {}).get(bench_name) or {}, "splits") or {}
            if "val" not in splits:
                raise DataConfigError(
                    f"data.val_sets=[auto] needs a validation split {bench_name}/val for the training "
                    f"set {t}; add data.benchmarks.{bench_name}.splits.val (a holdout of its "
                    "training data, see configs/datasets.yaml) or list data.val_sets explicitly"
                )
            out.append(f"{bench_name}/val")
    out = list(dict.fromkeys(out))
    for name in out:
        set_task(data_cfg, name)  # unknown benchmark / split: a clear error now
        if name in test:
            raise DataConfigError(
                f"data.val_sets lists {name}, which is also in data.test_sets: best.ckpt and the "
                "learning-rate schedule would be chosen on the reported test set; validate on a "
                "held-out part of the training data (e.g. <benchmark>/val, or data.val_sets=[auto])"
            )
        if name in train:
            raise DataConfigError(
                f"data.val_sets lists {name}, which is also in data.train_sets; validate on pairs "
                "the model is not trained on (e.g. <benchmark>/val, or data.val_sets=[auto])"
            )
    return out


def list_set(data_cfg, set_name):
    """List the pairs of one set (no decoding). Returns a :class:`Listing`."""
    task, root, spec = set_spec(data_cfg, set_name)
    _check_holdout_siblings(data_cfg, set_name, spec)
    listing = Listing(set_name, task, root, spec["reader"])
    {"paired": _read_paired, "side_by_side": _read_side_by_side, "list": _read_list}[spec["reader"]](
        root, spec, listing
    )
    _apply_holdout(spec, listing)
    listing.pairs.sort(key=lambda p: p.name)
    return listing


def split_halves(img, input_side, path="<image>"):
    """Split a side-by-side image into (input, target) halves; odd widths are a mismatch."""
    w = img.shape[1]
    if w % 2:
        raise PairMismatchError(path, f"side-by-side image width {w} is odd; the halves differ in size")
    left, right = img[:, : w // 2], img[:, w // 2 :]
    return (left, right) if input_side == "left" else (right, left)


def load_pair(pair, strict=True, with_notes=False):
    """Decode a pair to uint8 RGB ``(input, target)``; raises ImageReadError or PairMismatchError."""
    if pair.layout == "side_by_side":
        img, notes = read_rgb(pair.input, strict=strict, with_notes=True)
        inp, tgt = split_halves(img, pair.input_side, pair.input)
        inp, tgt = np.ascontiguousarray(inp), np.ascontiguousarray(tgt)
    else:
        inp, notes = read_rgb(pair.input, strict=strict, with_notes=True)
        tgt, tnotes = read_rgb(pair.target, strict=strict, with_notes=True)
        notes = notes + [n for n in tnotes if n not in notes]
        if inp.shape != tgt.shape:
            raise PairMismatchError(
                pair.input,
                f"input is {inp.shape[1]}x{inp.shape[0]} but target "
                f"{pair.target} is {tgt.shape[1]}x{tgt.shape[0]} (WxH)",
            )
    return (inp, tgt, notes) if with_notes else (inp, tgt)
