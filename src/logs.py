"""Logging, set up in one place: every module logs to ``logging.getLogger(__name__)`` under ``src``.

The ``src`` logger writes plain messages to the current ``sys.stdout`` (what ``print`` did), so
console output is unchanged. ``setup_rank`` silences ranks other than 0 in distributed training
(or, with ``train.log_all_ranks``, prefixes their lines with the rank); ``log_to_file`` also
appends every message to a file for as long as a ``with`` block lasts (a run folder's train.log),
optionally without the console (``echo=False``).

MindSpore's own messages go to stderr through its logger. Asking it whether Ascend or GPU is there
(``device.available_target``) warns about every device plugin this build lacks ("Load dynamic
library: libmindspore_ops_ascend.so failed ... cannot open shared object file"), which reads like a
failure on a CPU machine, and building ``nn.Adam`` warns that the sparse kernel it creates and never
uses on dense parameters (``FusedSparseAdam``) is deprecated. :func:`quiet_mindspore_warnings` hides
those warnings unless ``--verbose`` (any entry point) or ``SMARTASSIGN_VERBOSE=1`` asks for them, or
the user set MindSpore's ``GLOG_v``.
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
def _level(target, level):
    """Inside the block, ``target`` (a logger or handler) passes records of ``level`` and above."""
    old = target.level
    target.setLevel(level)
    try:
        yield
    finally:
        target.setLevel(old)


def quiet():
    """Inside the block, only warnings and errors reach the console (e.g. an evaluation whose
    progress lines a report does not want)."""
    return _level(_console, logging.WARNING)


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


VERBOSE_ENV = "SMARTASSIGN_VERBOSE"


def verbose():
    """True when ``SMARTASSIGN_VERBOSE`` is set to anything but '', 0, false or no."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def take_verbose(argv):
    """``argv`` without ``--verbose``; the flag sets ``SMARTASSIGN_VERBOSE=1``, so processes the run
    starts (a study's trainings) are verbose too."""
    argv = list(argv)
    if "--verbose" in argv:
        os.environ[VERBOSE_ENV] = "1"
        argv = [a for a in argv if a != "--verbose"]
    return argv


@contextlib.contextmanager
def quiet_mindspore_warnings():
    """Inside the block, MindSpore logs errors only (wrap only calls whose warnings are known noise:
    the device probe, the optimizer). Nothing changes when verbose or when the user set ``GLOG_v``
    (their level wins)."""
    from mindspore import log as ms_log

    get = getattr(ms_log, "_get_logger", None)  # MindSpore's logger, set up from GLOG_* on first use
    if verbose() or "GLOG_v" in os.environ or get is None:
        yield
        return
    with _level(get(), logging.ERROR):
        yield
