"""Logging (src/logs.py): the console as print gave it, a run's train.log, ranks other than 0 quiet,
MindSpore's device-plugin warnings only when asked for."""

import os
import subprocess
import sys

import pytest

from src.errors import run_entry
from src.logs import VERBOSE_ENV, capture, get_logger, log_to_file, setup_rank

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLUGIN_NOISE = ("Load dynamic library", "cannot open shared object file", "is not available")


def test_log_to_file_tees_into_a_new_folder(tmp_path, capsys):
    log = get_logger("src.test")
    path = tmp_path / "new" / "run" / "train.log"
    with log_to_file(str(path)):
        log.info("both")
    with log_to_file(str(path), echo=False):
        log.info("file only")
    log.info("console only")
    assert path.read_text().splitlines() == ["both", "file only"]
    assert capsys.readouterr().out.splitlines() == ["both", "console only"]


def test_other_ranks_log_only_warnings_unless_asked(capsys):
    log = get_logger("src.test")
    try:
        setup_rank(1)
        with capture() as lines:
            log.info("hidden")
            log.warning("shown")
        assert capsys.readouterr().out.splitlines() == ["[rank 1] shown"] and lines == ["hidden", "shown"]
        setup_rank(1, all_ranks=True)
        log.info("all")
        assert capsys.readouterr().out.splitlines() == ["[rank 1] all"]
    finally:
        setup_rank(0)
    log.info("rank 0")
    assert capsys.readouterr().out.splitlines() == ["rank 0"]


def _infer_stderr(tmp_path, env_extra, *flags):
    """stderr of infer.py choosing its device (auto) and then failing on a file that is no checkpoint:
    the fastest run that asks MindSpore for Ascend and GPU (this CPU build has neither plugin)."""
    import cv2
    import numpy as np

    assert cv2.imwrite(str(tmp_path / "photo.png"), np.zeros((8, 8, 3), np.uint8))
    bad = tmp_path / "bad.ckpt"
    bad.write_text("not a checkpoint")
    env = {k: v for k, v in os.environ.items() if k not in ("GLOG_v", VERBOSE_ENV)}
    env.update(env_extra)
    argv = [sys.executable, "infer.py", "--input", str(tmp_path / "photo.png"), "--output", str(tmp_path / "o")]
    argv += ["--ckpt_file", str(bad), *flags]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert f"infer.py: error: {bad}: not a readable MindSpore checkpoint" in done.stderr  # real errors stay
    return done.stderr


@pytest.mark.parametrize(
    "env,flags,noisy",
    [
        ({}, (), False),
        ({}, ("--verbose",), True),  # SMARTASSIGN_VERBOSE=1 works the same way (the flag sets it)
        ({"GLOG_v": "2"}, (), True),  # the user's MindSpore log level wins (2 = warnings)
    ],
)
def test_device_plugin_warnings_only_when_asked(tmp_path, env, flags, noisy):
    err = _infer_stderr(tmp_path, env, *flags)
    assert all((text in err) == noisy for text in PLUGIN_NOISE), err


def test_verbose_flag_is_taken_out_of_argv_and_inherited(monkeypatch):
    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    seen = []
    assert run_entry("x.py", seen.append, ["--a=1"]) == 0 and VERBOSE_ENV not in os.environ
    assert run_entry("x.py", seen.append, ["--verbose", "--a=1"]) == 0
    assert seen == [["--a=1"], ["--a=1"]] and os.environ[VERBOSE_ENV] == "1"  # child processes see it too


@pytest.mark.parametrize("asked", [False, True])
def test_optimizer_deprecation_warning_only_when_asked(caplog, monkeypatch, asked):
    """nn.Adam builds a sparse kernel it never uses and MindSpore warns that it is deprecated, once
    per process: training starts show it only with --verbose."""
    import mindspore as ms
    import numpy as np
    from mindspore import log as ms_log
    from mindspore.common import _decorator

    from src.train.step import build_optimizer

    monkeypatch.delenv("GLOG_v", raising=False)
    monkeypatch.setenv(VERBOSE_ENV, "1" if asked else "0")
    monkeypatch.setattr(_decorator, "DEPRECATE_SET", set())  # as in a fresh process
    ms_logger = ms_log._get_logger()  # does not propagate to the root logger caplog listens on
    ms_logger.addHandler(caplog.handler)
    try:
        build_optimizer([ms.Parameter(ms.Tensor(np.zeros(2, np.float32)), name=f"w{asked}")], 1e-3)
    finally:
        ms_logger.removeHandler(caplog.handler)
    assert any("'FusedSparseAdam' is deprecated" in r.getMessage() for r in caplog.records) == asked
