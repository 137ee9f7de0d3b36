"""Logging, set up in one place: every module logs to ``logging.getLogger(__name__)`` under ``src``.

The ``src`` logger writes plain messages to the current ``sys.stdout`` (what ``print`` did), so
console output is unchanged. ``setup_rank`` silences ranks other than 0 in distributed training
(or, with ``train.log_all_ranks``, prefixes their lines with the rank); ``log_to_file`` also
appends every message to a file for as long as a ``with`` block lasts (a run folder's train.log),
optionally without the console (``echo=False``).
"""

import contextlib
import logging
import os
import sys

ROOT = "src"


class _Stdout(logging.StreamHandler):
    """A console handler that writes to whatever ``sys.stdout`` is at the time (pytest's capture,
    a redirected stream), flushing every line."""

    def __init__(self):
        super().__init__(sys.stdout)

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value):
        pass


class _RankFilter(logging.Filter):
    def __init__(self):
        super().__init__()
        self.rank, self.all_ranks = 0, False

    def filter(self, record):
        if self.rank == 0:
            return True
        return self.all_ranks or record.levelno >= logging.WARNING


_root = logging.getLogger(ROOT)
_console = _Stdout()
_console.setFormatter(logging.Formatter("%(message)s"))
_rank = _RankFilter()
_console.addFilter(_rank)
if not any(isinstance(h, _Stdout) for h in _root.handlers):
    _root.addHandler(_console)
_root.setLevel(logging.INFO)
_root.propagate = False


def get_logger(name):
    """The logger of a module (``__name__``) or a name under ``src``."""
    return logging.getLogger(name if name.startswith(ROOT) else f"{ROOT}.{name}")


def setup_rank(rank, all_ranks=False):
    """Rank 0 logs everything; other ranks only warnings and errors unless ``all_ranks`` (their
    lines then start with ``[rank k]``)."""
    _rank.rank, _rank.all_ranks = int(rank), bool(all_ranks)
    _console.setFormatter(logging.Formatter("%(message)s" if not rank else f"[rank {int(rank)}] %(message)s"))


@contextlib.contextmanager
def log_to_file(path, echo=True):
    """Inside the block, every message of the ``src`` loggers is also appended to ``path``; with
    ``echo=False`` it goes only there."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    _root.addHandler(handler)
    level = _console.level
    if not echo:
        _console.setLevel(logging.WARNING)
    try:
        yield handler
    finally:
        _console.setLevel(level)
        _root.removeHandler(handler)
        handler.close()


@contextlib.contextmanager
def quiet():
    """Inside the block, only warnings and errors reach the console (e.g. an evaluation whose
    progress lines a report does not want)."""
    level = _console.level
    _console.setLevel(logging.WARNING)
    try:
        yield
    finally:
        _console.setLevel(level)


class _ListHandler(logging.Handler):
    def __init__(self, lines):
        super().__init__()
        self.lines = lines

    def emit(self, record):
        self.lines.append(record.getMessage())


@contextlib.contextmanager
def capture():
    """Inside the block, the messages of the ``src`` loggers are also collected into the list it
    yields (tests, reports)."""
    lines = []
    handler = _ListHandler(lines)
    _root.addHandler(handler)
    try:
        yield lines
    finally:
        _root.removeHandler(handler)
