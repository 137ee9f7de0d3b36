"""Check configured sets before use: every pair found, decodable and of equal size.

Bad pairs (unpaired, undecodable, size mismatch) are reported with names and counts. Unless
``data.skip_bad`` is true, :func:`check_sets` then raises :class:`DataCheckError`; with it, the bad
pairs are left out of ``report.pairs(set)`` and still reported. Conversions to 8-bit RGB
(grayscale, alpha dropped, 16-bit, palette) are counted, not errors.

Training checks its sets again whenever it builds an epoch's dataset (decoding them again only with
``skip_bad``); a set whose outcome (pairs found, good, the bad files) this process has already printed
is logged at DEBUG only, so a run prints its data check once, and again only if the files change.
"""

import logging
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from src.data.image_io import ImageReadError
from src.data.readers import (
    DECODE_KINDS,
    KIND_TEXT,
    UNPAIRED_KINDS,
    PairMismatchError,
    Problem,
    _get,
    list_set,
    load_pair,
)
from ..errors import UsageError
from ..logs import get_logger

logger = get_logger(__name__)

MAX_NAMES = 20  # problems listed per kind and set (the counts are always complete)
_reported = set()  # outcomes this process has printed (SetReport.outcome, skip_bad lines)


class DataCheckError(UsageError):
    """Bad files were found and ``data.skip_bad`` is false."""


@dataclass
class SetReport:
    """The outcome of checking one set."""

    set_name: str
    task: str
    root: str
    reader: str
    found: int
    good: list
    problems: list = field(default_factory=list)
    ignored: list = field(default_factory=list)
    conversions: Counter = field(default_factory=Counter)
    decoded: bool = False

    def counts(self):
        return Counter(p.kind for p in self.problems)

    def outcome(self):
        """What the check found, whether or not it decoded: a later check of an unchanged set
        (names matched only) has the same outcome as the first, full one."""
        bad = tuple(sorted((p.kind, p.path) for p in self.problems))
        return self.set_name, self.root, self.found, len(self.good), bad


@dataclass
class CheckReport:
    """Per-set reports, in the order checked."""

    sets: dict
    skip_bad: bool

    @property
    def bad_count(self):
        return sum(len(r.problems) for r in self.sets.values())

    def pairs(self, set_name):
        """The good pairs of a set (bad ones left out)."""
        return self.sets[set_name].good

    def format(self):
        return "\n".join(format_set(r) for r in self.sets.values())

    def summary(self):
        parts = []
        for r in self.sets.values():
            c = r.counts()
            if c:
                parts.append(f"{r.set_name}: " + ", ".join(f"{n} {KIND_TEXT[k]}" for k, n in sorted(c.items())))
        return "; ".join(parts)


def _decode_one(pair):
    try:
        _, _, notes = load_pair(pair, with_notes=True)
        return None, notes
    except ImageReadError as exc:
        return Problem("undecodable", exc.path, exc.reason), []
    except PairMismatchError as exc:
        return Problem("size_mismatch", exc.path, exc.reason), []


def check_set(data_cfg, set_name, decode=True, workers=2):
    """List one set and (with ``decode``) decode every pair; returns a :class:`SetReport`."""
    listing = list_set(data_cfg, set_name)
    report = SetReport(
        set_name,
        listing.task,
        listing.root,
        listing.reader,
        found=len(listing.pairs) + sum(p.kind in UNPAIRED_KINDS for p in listing.problems),
        good=list(listing.pairs),
        problems=list(listing.problems),
        ignored=list(listing.ignored),
        decoded=decode,
    )
    if decode and listing.pairs:
        with ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
            results = list(pool.map(_decode_one, listing.pairs))
        report.good = []
        for pair, (problem, notes) in zip(listing.pairs, results):
            if problem:
                report.problems.append(problem)
            else:
                report.good.append(pair)
                report.conversions.update(notes)
    return report


def format_set(r):
    """A human-readable block for one set's report: counts, then every bad file (up to MAX_NAMES a kind)."""
    c = r.counts()
    kinds = UNPAIRED_KINDS + (DECODE_KINDS if r.decoded else ())
    lines = [
        f"{r.set_name} [{r.task}, {r.reader}] {r.root}",
        f"  pairs found {r.found}, good {len(r.good)}, bad {len(r.problems)}"
        + ("" if r.decoded else " (names matched only; not decoded)"),
        "  " + ", ".join(f"{KIND_TEXT[k]} {c.get(k, 0)}" for k in kinds),
    ]
    for kind in kinds:
        shown = [p for p in r.problems if p.kind == kind]
        for p in shown[:MAX_NAMES]:
            lines.append(f"    {KIND_TEXT[kind]}: {p.path}: {p.detail}")
        if len(shown) > MAX_NAMES:
            lines.append(f"    ... and {len(shown) - MAX_NAMES} more {KIND_TEXT[kind]}")
    if r.conversions:
        lines.append("  converted to 8-bit RGB: " + ", ".join(f"{k} {n}" for k, n in sorted(r.conversions.items())))
    if r.ignored:
        ex = ", ".join(os.path.basename(p) for p in r.ignored[:5])
        lines.append(f"  ignored non-image or unmatched files: {len(r.ignored)} (e.g. {ex})")
    return "\n".join(lines)


def _log_once(key, text):
    """Log ``text`` at INFO the first time this process reports ``key``, at DEBUG after that."""
    logger.log(logging.DEBUG if key in _reported else logging.INFO, text)
    _reported.add(key)


def check_sets(data_cfg, sets=None, decode=True, workers=None):
    """Check ``sets`` (default: train_sets + test_sets); log the report.

    Raises :class:`DataCheckError` when any pair is bad and ``data.skip_bad`` is false; with
    ``skip_bad`` the bad pairs are excluded from ``report.pairs(set)``. Returns a :class:`CheckReport`.
    """
    if sets is None:
        sets = list(_get(data_cfg, "train_sets") or []) + list(_get(data_cfg, "test_sets") or [])
    sets = list(dict.fromkeys(sets))
    workers = workers or _get(data_cfg, "num_workers", 2) or 2
    skip_bad = bool(_get(data_cfg, "skip_bad", False))
    report = CheckReport({}, skip_bad)
    for name in sets:
        r = check_set(data_cfg, name, decode=decode, workers=workers)
        report.sets[name] = r
        _log_once(r.outcome(), format_set(r))
    bad = report.bad_count
    if bad and not skip_bad:
        raise DataCheckError(
            f"data check failed: {bad} bad pair(s) ({report.summary()}); fix or remove "
            "the files listed above, or set --data.skip_bad=true to leave them out"
        )
    if bad:
        text = f"data.skip_bad=true: leaving out {bad} bad pair(s) ({report.summary()})"
        _log_once(text, text)
    empty = [n for n, r in report.sets.items() if not r.good]
    if empty:
        raise DataCheckError("no usable pairs in " + ", ".join(empty) + "; check data.roots and the folder layout")
    return report
