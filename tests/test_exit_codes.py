"""One error policy for every entry point (docs/cli.md): a one-line ``<prog>: error: <message>``
on stderr, exit code 2 when nothing was done, 1 when work started and failed, 0 when all went well."""

import importlib
import inspect
import os
import pkgutil

import pytest

import src
from src.errors import EXIT_FAILURE, EXIT_USAGE, RunFailure, SmartAssignError, UsageError, run_entry

DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "demo.yaml")


def _error_lines(err, prog):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    return [ln for ln in lines if ln.startswith(f"{prog}: error: ")], lines


def test_every_project_error_derives_from_the_base():
    found = []
    for mod in pkgutil.walk_packages(src.__path__, "src."):
        module = importlib.import_module(mod.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and issubclass(cls, Exception):
                found.append(cls)
                assert issubclass(
                    cls, SmartAssignError
                ), f"{cls.__module__}.{name} does not derive from SmartAssignError"
    assert len(found) >= 12


def test_run_entry_maps_errors_to_codes(capsys):
    def raise_(exc):
        def body(argv):
            raise exc

        return body

    assert run_entry("x.py", lambda argv: None) == 0
    assert run_entry("x.py", lambda argv: 1) == 1
    assert run_entry("x.py", raise_(UsageError("--a: bad\n  value"))) == EXIT_USAGE
    assert capsys.readouterr().err == "x.py: error: --a: bad value\n"
    assert run_entry("x.py", raise_(RunFailure("diverged"))) == EXIT_FAILURE
    assert run_entry("x.py", raise_(FileNotFoundError(2, "No such file or directory", "/no/such"))) == EXIT_USAGE
    assert capsys.readouterr().err.splitlines()[-1] == "x.py: error: /no/such: No such file or directory"
    with pytest.raises(KeyError):  # a bug keeps its traceback
        run_entry("x.py", raise_(KeyError("bug")))


CASES = {
    "train.py": lambda t: (__import__("train").main, ["--config_path", DEMO, "--train.lrr=1"]),
    "eval.py": lambda t: (__import__("eval").main, ["--input_dir", str(t), "--task", "rain"]),
    "infer.py": lambda t: (__import__("infer").main, ["--input", str(t / "none.png"), "--output", str(t / "o")]),
    "export.py": lambda t: (__import__("export").main, ["--file_format", "AIR", "--file_name", str(t / "m")]),
    "preprocess.py": lambda t: (
        __import__("preprocess").main,
        ["--data_path", str(t / "none"), "--output_path", str(t / "o"), "--tile", "64"],
    ),
    "postprocess.py": lambda t: (
        __import__("postprocess").main,
        ["--manifest", str(t / "none.json"), "--result_dir", str(t), "--output_dir", str(t / "o")],
    ),
    "prepare_data.py": lambda t: (
        __import__("prepare_data").main,
        ["synth", "--task", "rain", "--src", str(t / "none"), "--dst", str(t / "d")],
    ),
    "report.py": lambda t: (__import__("report").main, ["curves", "--run", str(t / "none")]),
    "study.py": lambda t: (
        __import__("study").main,
        ["ablations", "--variants", "V99", "--no_train", "--results", str(t / "r"), "--table", str(t / "t.md")],
    ),
}


@pytest.mark.parametrize("prog", sorted(CASES))
def test_usage_errors_exit_2_with_one_line(prog, tmp_path, capsys):
    main, argv = CASES[prog](tmp_path)
    assert main(argv) == EXIT_USAGE
    errors, lines = _error_lines(capsys.readouterr().err, prog)
    assert len(errors) == 1 and len(errors[0]) > len(prog) + 12, lines


def test_training_that_diverges_exits_1(monkeypatch, capsys):
    import train
    from src.train import runner
    from src.train.callbacks import NonFiniteLossError

    def diverge(cfg):
        raise NonFiniteLossError("stopped at step 3: the loss was not finite for 3 steps in a row")

    monkeypatch.setattr(runner, "run", diverge)
    assert train.main(["--config_path", DEMO]) == EXIT_FAILURE
    errors, _ = _error_lines(capsys.readouterr().err, "train.py")
    assert errors == ["train.py: error: stopped at step 3: the loss was not finite for 3 steps in a row"]


CONFIGS = os.path.dirname(DEMO)
TYPO = {  # entry points that read a config: the argv that loads it
    "train.py": lambda cfg, t: (__import__("train").main, ["--config_path", cfg]),
    "eval.py": lambda cfg, t: (__import__("eval").main, ["--config_path", cfg, "--output_dir", str(t / "o")]),
    "prepare_data.py": lambda cfg, t: (__import__("prepare_data").main, ["check", "--config_path", cfg]),
    "report.py": lambda cfg, t: (
        __import__("report").main,
        ["validate", "--ckpt_file", str(t / "none.ckpt"), "--config", cfg, "--out", str(t / "v.md")],
    ),
}


@pytest.mark.parametrize("prog", sorted(TYPO))
def test_a_misspelt_yaml_key_stops_every_entry_point(prog, tmp_path, capsys):
    """A typo in a YAML file (here in the file given, over a shipped config) exits 2 before any work,
    with one line naming the file and the key."""
    cfg = tmp_path / "mine.yaml"
    cfg.write_text(f"_base_: {os.path.join(CONFIGS, 'demo.yaml')}\ndata:\n  crop_sise: 64\n")
    main, argv = TYPO[prog](str(cfg), tmp_path)
    assert main(argv) == EXIT_USAGE
    errors, lines = _error_lines(capsys.readouterr().err, prog)
    assert len(errors) == 1, lines
    assert errors[0].startswith(f"{prog}: error: {cfg}: unknown key data.crop_sise; valid keys of data: ")
    assert "crop_size" in errors[0]
