"""Config files, overlays and --key=value overrides, with errors that name the key."""

import glob
import os

import pytest

from src.config import ConfigError, load_config
from src.models import build_network, network_config

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
MAIN = os.path.join(CONFIGS, "smartassign.yaml")


def test_paper_recipe():
    cfg = load_config(MAIN)
    assert cfg.train.lr == 4e-4 and cfg.train.batch_size == 4
    assert cfg.loss.lambda_sparsity == 0.01 and cfg.loss.lambda_contra == 0.001
    assert cfg.model.preset == "default"


def test_overrides_dotted_and_unique_leaf():
    cfg = load_config(
        MAIN, ["--train.lr=2e-4", "--batch_size=8", "--model.preset=tiny", "--contrast=false", "--embed_dim=32"]
    )
    assert cfg.train.lr == 2e-4 and cfg.train.batch_size == 8
    assert cfg.model.preset == "tiny" and cfg.model.contrast is False and cfg.model.embed_dim == 32
    assert network_config(cfg.model)[1]["encoder"]["embed_dim"] == 32


@pytest.mark.parametrize(
    "arg,message",
    [
        ("--train.lrr=1", "train.lrr: unknown config key"),
        ("--train.batch_size=four", "train.batch_size: expected int"),
        ("--model.contrast=maybe", "model.contrast: expected true or false"),
        ("--train=3", "train: unknown config key"),
        ("--lr", "overrides are written --key=value"),
    ],
)
def test_override_errors_name_the_key(arg, message):
    with pytest.raises(ConfigError, match=message):
        load_config(MAIN, [arg])


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        load_config(str(tmp_path / "nope.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(str(bad))


EXPECT = {
    "v1_no_contrast": {"contrast": False},
    "v2_hard_sharing": {"assignment": "hard"},
    "v3_no_gated_conv": {"gated_conv": False},
    "v5_no_recognition": {"recognition": False},
    "k1_common_only": {"head_input": "common", "freeze_encoder": True, "contrast": False},
    "k2_unique_only": {"head_input": "unique", "freeze_encoder": True, "contrast": False},
}


def _train_but_run_folder(cfg):
    return {k: v for k, v in cfg.train.items() if k != "output_dir"}


def test_ablation_overlays():
    found = {
        os.path.splitext(os.path.basename(p))[0]: p for p in glob.glob(os.path.join(CONFIGS, "ablations", "*.yaml"))
    }
    assert set(EXPECT) <= set(found)
    base = load_config(MAIN)
    for name, changes in EXPECT.items():
        cfg = load_config(found[name], ["--model.preset=tiny"])
        for key, value in changes.items():
            assert cfg.model[key] == value, (name, key)
        others = {k: v for k, v in cfg.model.items() if k not in changes and k != "preset"}
        assert others == {k: v for k, v in base.model.items() if k not in changes and k != "preset"}
        assert _train_but_run_folder(cfg) == _train_but_run_folder(base) and cfg.loss == base.loss
        assert cfg.train.output_dir == os.path.join("runs", name)
        build_network(cfg.model)  # every overlay builds
    for task in ("rain", "snow"):  # V4: a data switch, the model is unchanged
        cfg = load_config(found[f"v4_{task}_only"])
        assert cfg.data.single_task == task and cfg.model == base.model
        assert _train_but_run_folder(cfg) == _train_but_run_folder(base)


def test_every_config_gets_its_own_run_folder(tmp_path):
    """train.output_dir left empty → runs/<config file name>; set by the file or the command line → kept."""
    v1 = load_config(os.path.join(CONFIGS, "ablations", "v1_no_contrast.yaml"))
    v3 = load_config(os.path.join(CONFIGS, "ablations", "v3_no_gated_conv.yaml"))
    assert v1.train.output_dir == os.path.join("runs", "v1_no_contrast")
    assert v3.train.output_dir == os.path.join("runs", "v3_no_gated_conv")
    assert load_config(MAIN).train.output_dir == os.path.join("runs", "smartassign")  # as before
    assert load_config(os.path.join(CONFIGS, "demo.yaml")).train.output_dir == "runs/demo"  # set by the file
    assert load_config(os.path.join(CONFIGS, "strategies", "hard.yaml")).train.output_dir == "runs/strategy_hard"
    named = load_config(os.path.join(CONFIGS, "ablations", "v1_no_contrast.yaml"), ["--train.output_dir=runs/x"])
    assert named.train.output_dir == "runs/x"
    folders = [
        load_config(p).train.output_dir
        for p in glob.glob(os.path.join(CONFIGS, "*", "*.yaml")) + [MAIN, os.path.join(CONFIGS, "demo.yaml")]
    ]
    assert len(set(folders)) == len(folders)  # no two training configs share a run folder
    child = tmp_path / "my_run.yaml"  # a user's overlay of an ablation
    child.write_text(f"_base_: {os.path.join(CONFIGS, 'ablations', 'v5_no_recognition.yaml')}\n")
    assert load_config(str(child)).train.output_dir == os.path.join("runs", "my_run")


def test_every_shipped_config_loads():
    paths = glob.glob(os.path.join(CONFIGS, "**", "*.yaml"), recursive=True)
    assert len(paths) >= 15
    for path in paths:
        load_config(path)


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_a_misspelt_key_in_any_file_of_the_chain_names_that_file(tmp_path):
    """A typo in a base file stops the run naming the base file, not the one given on the command line."""
    base = _write(tmp_path / "base.yaml", f"_base_: {os.path.join(CONFIGS, 'demo.yaml')}\ntrain:\n  lrr: 0.1\n")
    child = _write(tmp_path / "child.yaml", "_base_: base.yaml\nmodel:\n  preset: tiny\n")
    with pytest.raises(ConfigError) as err:
        load_config(child)
    message = str(err.value)
    where, _, rest = message.partition(": ")
    assert where in (base, os.path.relpath(base)) and rest.startswith("unknown key train.lrr; valid keys of train: ")
    assert ", lr, " in message and "\n" not in message
    top = _write(tmp_path / "top.yaml", f"_base_: {MAIN}\nmodle:\n  preset: tiny\n")
    with pytest.raises(ConfigError, match=r"top.yaml: unknown key modle; valid top-level keys: _base_, data, loss"):
        load_config(top)
    corpus = _write(tmp_path / "corpus.yaml", f"_base_: {os.path.join(CONFIGS, 'photos.yaml')}\n"
                    "data:\n  corpus:\n    crops_per_foto: 2\n")  # fmt: skip
    with pytest.raises(ConfigError, match=r"corpus.yaml: unknown key data.corpus.crops_per_foto; valid keys of "
                       r"data.corpus: clean_fraction, crops_per_photo, dirs"):  # fmt: skip
        load_config(corpus)


def test_user_named_roots_and_benchmarks_are_open_their_fields_are_not(tmp_path):
    bench = (
        "data:\n  roots: {mine: /data/mine}\n  benchmarks:\n    mine:\n      task: rain\n      root: mine\n"
        "      splits:\n        train: {reader: paired, input: a, target: b, input_glob: '*.png'}\n"
        "  train_sets: [mine/train]\n"
    )
    cfg = load_config(_write(tmp_path / "mine.yaml", f"_base_: {MAIN}\n{bench}"))
    assert cfg.data.roots.mine == "/data/mine" and cfg.data.roots.csd == "data/CSD"
    assert cfg.data.benchmarks.mine.splits.train.input_glob == "*.png"
    typo = _write(tmp_path / "typo.yaml", f"_base_: {MAIN}\n" + bench.replace("task: rain", "tsak: rain"))
    with pytest.raises(ConfigError, match=r"typo.yaml: unknown key data.benchmarks.mine.tsak; valid keys of "
                       r"data.benchmarks.mine: holdout, root, splits, task$"):  # fmt: skip
        load_config(typo)


@pytest.mark.parametrize(
    "text,message",
    [
        ("train:\n# lr: 0.1\n", r"train is a section; write its keys under it \(train.<key>: value\)"),
        ("train:\n  lr: {value: 0.1}\n", r"train.lr takes a value, not a section of keys"),
        ("- train\n", r"a config file must be a mapping"),
    ],
)
def test_a_file_of_the_wrong_shape_is_named(tmp_path, text, message):
    path = _write(tmp_path / "shape.yaml", text)
    with pytest.raises(ConfigError, match=r"shape.yaml: " + message):
        load_config(path)


def test_an_unknown_override_lists_the_valid_keys_of_its_section():
    with pytest.raises(ConfigError, match=r"--loss.lambda_sparse: unknown config key; valid keys of loss: char_eps"):
        load_config(MAIN, ["--loss.lambda_sparse=0.1"])
