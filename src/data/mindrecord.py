"""MindRecord conversion of training sets, and reading it back.

Each row holds the input and target as encoded image bytes, the task label, the set and the pair's
name. ``encoding="auto"`` (default) keeps JPEG files as they are (compact, ~1 ms to decode) and
stores every other image (PNG, TIFF, converted images) as uncompressed BMP, which decodes ~50x
faster than PNG or LZW-TIFF; a side-by-side JPEG (Rain1200) is stored once, with ``layout`` 1
(input left) or 2 (input right). ``encoding="raw"`` stores everything as BMP (fastest, largest).
Rows decode with the same :mod:`image_io` rules as the folder readers: identical pixels.

Files: ``<dst>`` (one shard) or ``<dst>0 .. <dst>N-1``, each with MindSpore's ``.db`` index, plus
``<dst>.json`` (sets, counts, files). They are written into a temporary folder, the record count
is verified on read-back, then they are moved into place; ``<dst>.json`` is written last, so a
conversion that did not finish is never taken for a complete one. The .json also keeps every
row's label in reader order (read back once at conversion), so training needs no scan of the files.
"""

import json
import os
import shutil
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from src.data.check import check_sets
from src.data.image_io import decode_rgb, encode, read_bytes, sniff_format, write_bytes_atomic
from src.data.readers import DataConfigError, _get, load_pair, split_halves
from src.errors import RunFailure
from src.logs import get_logger

logger = get_logger(__name__)

SCHEMA = {
    "name": {"type": "string"},
    "set": {"type": "string"},
    "label": {"type": "int32"},
    "layout": {"type": "int32"},  # 0 input and target files, 1 side by side input left, 2 input right
    "image": {"type": "bytes"},
    "target": {"type": "bytes"},
}
LAYOUTS = {("paired", "left"): 0, ("paired", "right"): 0, ("side_by_side", "left"): 1, ("side_by_side", "right"): 2}
FORMAT_VERSION = 1
WRITE_BLOCK = 64


def shard_files(dst, shards):
    """The file names FileWriter gives ``dst`` with ``shards`` shards."""
    return [dst] if shards == 1 else [f"{dst}{i}" for i in range(shards)]


def meta_path(dst):
    return f"{dst}.json"


ENCODINGS = ("auto", "raw")


def _row(pair, set_name, encoding):
    """One MindRecord row for a pair (see the module docstring for the encodings)."""
    row = {"name": pair.name, "set": set_name, "label": pair.label, "layout": 0}
    raw_in = read_bytes(pair.input)
    keep_in = encoding == "auto" and sniff_format(raw_in) == "jpeg"
    if pair.layout == "side_by_side":
        if keep_in:
            row.update(layout=LAYOUTS[(pair.layout, pair.input_side)], image=raw_in, target=b"\x00")
            return row
        inp, tgt = load_pair(pair)
        row.update(image=encode(inp, ".bmp"), target=encode(tgt, ".bmp"))
        return row
    raw_tgt = read_bytes(pair.target)
    keep_tgt = encoding == "auto" and sniff_format(raw_tgt) == "jpeg"
    row["image"] = raw_in if keep_in else encode(decode_rgb(raw_in, pair.input), ".bmp")
    row["target"] = raw_tgt if keep_tgt else encode(decode_rgb(raw_tgt, pair.target), ".bmp")
    return row


def _existing(dst):
    """Files of an earlier conversion at ``dst`` (from its .json, else by the usual names)."""
    found = []
    mp = meta_path(dst)
    if os.path.isfile(mp):
        try:
            with open(mp, encoding="utf-8") as fh:
                found = [os.path.join(os.path.dirname(dst), f) for f in json.load(fh).get("files", [])]
        except (OSError, ValueError):
            found = []
        found.append(mp)
    folder, base = os.path.split(dst)
    if os.path.isdir(folder or "."):
        for f in os.listdir(folder or "."):
            rest = f[len(base) :]
            if f.startswith(base) and (rest in ("", ".db", ".json") or rest.rstrip(".db").isdigit()):
                found.append(os.path.join(folder, f))
    out = []
    for f in found:
        for g in (f, f + ".db"):
            if os.path.exists(g) and g not in out:
                out.append(g)
    return out


def read_labels_from(first_file):
    """The label of every row, in the reader's global row order."""
    import mindspore.dataset as ds

    d = ds.MindDataset(first_file, columns_list=["label"], shuffle=False, num_parallel_workers=1)
    return np.array([int(r[0]) for r in d.create_tuple_iterator(output_numpy=True, num_epochs=1)], np.int64)


def write_mindrecord(data_cfg, dst, shards=1, sets=None, overwrite=False, encoding="auto", workers=None):
    """Convert ``sets`` (default ``data.train_sets``) to MindRecord at ``dst``; returns the metadata dict.

    The sets are checked first (:func:`check_sets`; stops on bad pairs unless ``data.skip_bad``).
    Refuses to replace an existing conversion unless ``overwrite``.
    """
    from mindspore.mindrecord import FileWriter

    sets = list(sets or _get(data_cfg, "train_sets") or [])
    if not sets:
        raise DataConfigError("no sets to convert; set data.train_sets or pass --set NAME")
    shards = int(shards)
    if encoding not in ENCODINGS:
        raise DataConfigError(f"--encoding {encoding!r} is not valid; use " + " or ".join(ENCODINGS))
    workers = max(1, int(workers or _get(data_cfg, "num_workers", 2) or 1))
    if not 1 <= shards <= 1000:
        raise DataConfigError(f"--shards {shards} is not valid; use 1 to 1000")
    dst = os.path.abspath(dst)
    old = _existing(dst)
    if old and not overwrite:
        raise FileExistsError(f"{dst} already exists ({len(old)} files); pass --overwrite to replace it")
    report = check_sets(data_cfg, sets, decode=True)
    pairs = [(s, p) for s in sets for p in report.pairs(s)]
    if len(pairs) < shards:
        raise DataConfigError(f"--shards {shards} is more than the {len(pairs)} pairs to write; use fewer shards")
    folder, base = os.path.split(dst)
    tmp = os.path.join(folder, f".{base}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        writer = FileWriter(os.path.join(tmp, base), shard_num=shards, overwrite=True)
        writer.add_schema(SCHEMA, "SmartAssign rain/snow pairs")
        writer.add_index(["label", "set"])
        labels = Counter(p.label for _, p in pairs)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for start in range(0, len(pairs), WRITE_BLOCK):
                chunk = pairs[start : start + WRITE_BLOCK]
                writer.write_raw_data(list(pool.map(lambda sp: _row(sp[1], sp[0], encoding), chunk)))
        writer.commit()
        files = [os.path.basename(f) for f in shard_files(os.path.join(tmp, base), shards)]
        order = read_labels_from(os.path.join(tmp, files[0]))  # the reader's global row order
        n, read_labels = len(order), Counter(order.tolist())
        if n != len(pairs) or read_labels != labels:
            raise RunFailure(
                f"MindRecord read-back found {n} rows ({dict(read_labels)}) but {len(pairs)} were "
                f"written ({dict(labels)}); the disk may be full; nothing was replaced"
            )
        for f in old:
            os.remove(f)
        for f in files:
            for g in (f, f + ".db"):
                os.replace(os.path.join(tmp, g), os.path.join(folder, g))
        meta = {
            "format_version": FORMAT_VERSION,
            "files": files,
            "shards": shards,
            "count": n,
            "encoding": encoding,
            "sets": {s: len(report.pairs(s)) for s in sets},
            "tasks": {"rain": labels.get(0, 0), "snow": labels.get(1, 0)},
            "left_out": report.bad_count,
            "labels": "".join(str(int(v)) for v in order),
        }
        write_bytes_atomic(meta_path(dst), json.dumps(meta, indent=1).encode("utf-8"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info(
        f"wrote {n} pairs ({meta['tasks']['rain']} rain, {meta['tasks']['snow']} snow) to {dst} "
        f"in {shards} shard(s); verified {n} rows on read-back"
    )
    return meta


def open_mindrecord(path, expect_sets=None):
    """Metadata and absolute file list of a finished conversion; errors say how to build it."""
    path = os.path.abspath(str(path))
    mp = meta_path(path)
    if not os.path.isfile(mp):
        raise DataConfigError(
            f"data.mindrecord_path={path} is not a finished MindRecord conversion (no {mp}); "
            "build it with: python prepare_data.py mindrecord --config_path <config> --dst " + path
        )
    with open(mp, encoding="utf-8") as fh:
        meta = json.load(fh)
    files = [os.path.join(os.path.dirname(path), f) for f in meta["files"]]
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise DataConfigError(f"MindRecord file {missing[0]} is missing; rebuild with prepare_data.py mindrecord")
    if expect_sets is not None and sorted(meta["sets"]) != sorted(expect_sets):
        raise DataConfigError(
            f"{path} was built from {sorted(meta['sets'])} but data.train_sets is "
            f"{sorted(expect_sets)}; rebuild it (prepare_data.py mindrecord --overwrite) or "
            "set data.train_sets to match"
        )
    meta["paths"] = files
    return meta


def record_labels(meta):
    """Row labels in reader order, as stored by the conversion (no scan of the files)."""
    import mindspore.dataset as ds

    labels = np.frombuffer(meta["labels"].encode("ascii"), np.uint8) - ord("0")
    rows = ds.MindDataset(meta["paths"][0], columns_list=["label"], shuffle=False).get_dataset_size()
    if rows != len(labels) or rows != meta["count"]:
        raise DataConfigError(
            f"{meta['paths'][0]} holds {rows} rows but its .json lists {len(labels)}; rebuild it "
            "with prepare_data.py mindrecord --overwrite"
        )
    return labels.astype(np.int64)


def decode_record(image, target, layout):
    """Decode one row's bytes to uint8 RGB (input, target), as the folder readers would."""
    layout = int(np.asarray(layout))
    img = decode_rgb(np.asarray(image), strict=False)
    if layout == 0:
        return img, decode_rgb(np.asarray(target), strict=False)
    inp, tgt = split_halves(img, "left" if layout == 1 else "right")
    return np.ascontiguousarray(inp), np.ascontiguousarray(tgt)


def iterate_records(path):
    """Yield ``(name, set, label, input_rgb, target_rgb)`` for every row, in file order."""
    import mindspore.dataset as ds

    meta = open_mindrecord(path)
    d = ds.MindDataset(
        meta["paths"][0],
        columns_list=["name", "set", "label", "layout", "image", "target"],
        shuffle=False,
        num_parallel_workers=1,
    )
    for r in d.create_dict_iterator(output_numpy=True, num_epochs=1):
        inp, tgt = decode_record(r["image"], r["target"], r["layout"])
        yield str(r["name"]), str(r["set"]), int(r["label"]), inp, tgt
