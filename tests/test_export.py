"""export.py / src/infer/export.py: MINDIR and ONNX reproduce the checkpoint network.

One tiny-preset checkpoint (random weights; the recognition bias is shifted so that the two
samples of the auto batch take different branches) is exported once per module in each needed
form; the tests share the files.
"""

import datetime
import json
import os

import numpy as np
import pytest

import mindspore as ms
from mindspore import nn

import export as export_cli
from src.infer.export import ExportError, InferenceWrapper, export_network
from src.models import build_network
from src.train.checkpoint import load_model, save

TILE = 64
ODD_H, ODD_W = 40, 72  # not multiples of 32: exercises the wrapper's own padding
MINDIR_TOL, ONNX_TOL = 1e-5, 1e-4


def _graph_outputs(path, x):
    out = nn.GraphCell(ms.load(str(path)))(ms.Tensor(x))
    return [o.asnumpy() for o in (out if isinstance(out, (tuple, list)) else (out,))]


def _max_diff(got, ref):
    assert len(got) == len(ref), f"{len(got)} outputs, expected {len(ref)}"
    for g, r in zip(got, ref):
        assert g.shape == r.shape, f"shape {g.shape} != {r.shape}"
    return max(float(np.abs(g - r).max()) for g, r in zip(got, ref))


def _auto_reference(ref):
    """Per-sample choice: derained image where score[rain] >= score[snow], else desnowed."""
    is_rain = ref[2][:, 0] >= ref[2][:, 1]
    return [np.where(is_rain[:, None, None, None], ref[0], ref[1])], is_rain


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(11)
    one = rng.random((1, 3, TILE, TILE), dtype=np.float32)
    two = np.concatenate([one, 0.2 + 0.1 * rng.random((1, 3, TILE, TILE), dtype=np.float32)])
    odd = rng.random((1, 3, ODD_H, ODD_W), dtype=np.float32)
    return {"one": one, "two": two, "odd": odd}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, inputs):
    """A tiny checkpoint whose recognition head sends inputs['two'][0] and [1] to different tasks."""
    net = build_network({"preset": "tiny"}, seed=3)
    net.set_train(False)
    scores = net(ms.Tensor(inputs["two"]))[2].asnumpy()
    d = scores[:, 0] - scores[:, 1]
    assert d[0] != d[1]
    bias = net.tkff.head_re.fc.bias
    value = bias.asnumpy().copy()
    value[0] -= (d[0] + d[1]) / 2  # threshold halfway between the two samples
    bias.set_data(ms.Tensor(value))
    path = tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"
    save(net, str(path), {"preset": "tiny"}, {"step": 0})
    return path


@pytest.fixture(scope="module")
def ref_net(ckpt):
    net, cfg, _ = load_model(str(ckpt))
    net.set_train(False)
    return net


@pytest.fixture(scope="module")
def reference(ref_net, inputs):
    """The checkpoint network's eager outputs for every test input."""
    return {k: [o.asnumpy() for o in ref_net(ms.Tensor(v))] for k, v in inputs.items()}


@pytest.fixture(scope="module")
def exported(ckpt, ref_net, tmp_path_factory):
    """Models exported once: MINDIR all through the CLI; the rest through export_network."""
    d = tmp_path_factory.mktemp("export")
    rc = export_cli.main(
        [
            "--ckpt_file",
            str(ckpt),
            "--file_format",
            "MINDIR",
            "--file_name",
            str(d / "sa_all"),
            "--height",
            str(TILE),
            "--width",
            str(TILE),
        ]
    )
    assert rc == 0
    files = {"mindir_all": (str(d / "sa_all.mindir"), str(d / "sa_all.mindir.json"))}
    files["mindir_auto"] = export_network(
        ref_net,
        "MINDIR",
        str(d / "sa_auto.mindir"),
        TILE,
        TILE,
        task="auto",
        model_cfg={"preset": "tiny"},
        batch_size=2,
    )
    files["onnx_all_odd"] = export_network(
        ref_net, "ONNX", str(d / "sa_all_odd"), ODD_H, ODD_W, task="all", model_cfg={"preset": "tiny"}
    )
    files["onnx_auto"] = export_network(
        ref_net, "ONNX", str(d / "sa_auto"), TILE, TILE, task="auto", model_cfg={"preset": "tiny"}, batch_size=2
    )
    files["onnx_snow"] = export_network(
        ref_net, "ONNX", str(d / "sa_snow"), TILE, TILE, task="snow", model_cfg={"preset": "tiny"}
    )
    for model, sidecar in files.values():
        assert os.path.isfile(model) and os.path.isfile(sidecar), (model, sidecar)
    return files


# --------------------------------------------------------------------------- MINDIR parity
@pytest.mark.slow
def test_mindir_parity_task_all(exported, inputs, reference):
    got = _graph_outputs(exported["mindir_all"][0], inputs["one"])
    diff = _max_diff(got, reference["one"])
    print(f"MINDIR all: max abs diff {diff:.3g}")
    assert diff <= MINDIR_TOL


@pytest.mark.slow
def test_mindir_parity_task_auto(exported, inputs, reference):
    expected, is_rain = _auto_reference(reference["two"])
    assert sorted(is_rain) == [False, True], "fixture must make the two samples pick different heads"
    got = _graph_outputs(exported["mindir_auto"][0], inputs["two"])
    diff = _max_diff(got, expected)
    print(f"MINDIR auto: max abs diff {diff:.3g}")
    assert diff <= MINDIR_TOL
    # and it really picked per sample: each image differs from the head it did not pick
    for i, rain in enumerate(is_rain):
        other = reference["two"][1 if rain else 0][i]
        assert np.abs(got[0][i] - other).max() > 1e-3


# --------------------------------------------------------------------------- ONNX parity
def _onnx_run(path, x):
    ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime (optional: requirements-dev.txt)")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess, sess.run(None, {sess.get_inputs()[0].name: x})


@pytest.mark.slow
def test_onnx_parity_task_all_odd_size(exported, inputs, reference):
    model, sidecar = exported["onnx_all_odd"]
    sess, got = _onnx_run(model, inputs["odd"])
    diff = _max_diff(got, reference["odd"])
    print(f"ONNX all {ODD_H}x{ODD_W}: max abs diff {diff:.3g}")
    assert diff <= ONNX_TOL
    info = json.load(open(sidecar))
    assert [i.name for i in sess.get_inputs()] == [info["input"]["name"]] == ["input"]
    assert (
        [o.name for o in sess.get_outputs()]
        == [o["name"] for o in info["outputs"]]
        == ["derain", "desnow", "recognition"]
    )
    assert [list(o.shape) for o in got] == [o["shape"] for o in info["outputs"]]
    # one graph per output beside it, each computing exactly that output
    assert info["parts"] == {n: f"sa_all_odd.{n}.onnx" for n in ("derain", "desnow", "recognition")}
    for k, name in enumerate(("derain", "desnow", "recognition")):
        part, out = _onnx_run(os.path.join(os.path.dirname(model), info["parts"][name]), inputs["odd"])
        assert [o.name for o in part.get_outputs()] == [name]
        assert _max_diff(out, [reference["odd"][k]]) <= ONNX_TOL


@pytest.mark.slow
def test_onnx_parity_task_auto(exported, inputs, reference):
    expected, _ = _auto_reference(reference["two"])
    sess, got = _onnx_run(exported["onnx_auto"][0], inputs["two"])
    diff = _max_diff(got, expected)
    print(f"ONNX auto: max abs diff {diff:.3g}")
    assert diff <= ONNX_TOL
    assert [o.name for o in sess.get_outputs()] == ["restored"]


@pytest.mark.slow
def test_onnx_task_snow_is_the_desnow_head(exported, inputs, reference):
    sess, got = _onnx_run(exported["onnx_snow"][0], inputs["one"])
    assert [o.name for o in sess.get_outputs()] == ["desnow"]
    assert "parts" not in json.load(open(exported["onnx_snow"][1]))  # one output: no parts
    assert _max_diff(got, [reference["one"][1]]) <= ONNX_TOL


# --------------------------------------------------------------------------- wrapper rules
def test_wrapper_tasks_and_no_recognition():
    v5 = build_network({"preset": "tiny", "recognition": False}, seed=0)
    assert InferenceWrapper(v5, "all").output_names() == ("derain", "desnow")
    with pytest.raises(ExportError, match="no recognition head"):
        InferenceWrapper(v5, "auto")
    with pytest.raises(ExportError, match="task='both' is not valid"):
        InferenceWrapper(v5, "both")
    full = build_network({"preset": "tiny"}, seed=0)
    assert InferenceWrapper(full, "all").output_names() == ("derain", "desnow", "recognition")
    assert InferenceWrapper(full, "rain").output_names() == ("derain",)
    assert InferenceWrapper(full, "recognition").output_names() == ("recognition",)
    with pytest.raises(ExportError, match="does not have"):
        InferenceWrapper(v5, "recognition")


def test_recognition_graph_is_the_full_graphs_scores(ref_net, inputs, reference):
    got = InferenceWrapper(ref_net, "recognition")(ms.Tensor(inputs["one"])).asnumpy()
    np.testing.assert_allclose(got, reference["one"][2], atol=1e-5)


def test_wrapper_clip_option(ref_net, inputs, reference):
    raw = reference["one"][0]
    assert raw.min() < 0 or raw.max() > 1, "random net should leave [0, 1] somewhere"
    clipped = InferenceWrapper(ref_net, "rain", clip=True)(ms.Tensor(inputs["one"])).asnumpy()
    np.testing.assert_allclose(clipped, np.clip(raw, 0, 1), atol=1e-6)


# --------------------------------------------------------------------------- CLI and sidecar
def test_air_on_cpu_fails_with_message(ckpt, tmp_path, monkeypatch, capsys):
    """export.py's own entry (in process: the exit code is main's return value)."""
    monkeypatch.chdir(tmp_path)
    rc = export_cli.main(["--ckpt_file", str(ckpt), "--file_format", "AIR", "--file_name", str(tmp_path / "m")])
    assert rc != 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("export.py: error:")]
    assert len(lines) == 1 and "AIR export needs MindSpore on an Ascend device" in lines[0], err
    assert not list(tmp_path.glob("m*")), "nothing may be written"


def test_export_network_air_on_cpu(ref_net, tmp_path):
    with pytest.raises(ExportError, match="Ascend"):
        export_network(ref_net, "AIR", str(tmp_path / "m"), TILE, TILE)


@pytest.mark.slow
def test_sidecar_json(exported, ckpt, inputs):
    model, sidecar = exported["mindir_all"]
    assert sidecar == model + ".json"
    info = json.load(open(sidecar))
    assert info["format"] == "MINDIR" and info["model_file"] == "sa_all.mindir"
    assert info["task"] == "all" and info["clip"] is False
    assert info["tile"] == {"height": TILE, "width": TILE} and info["batch_size"] == 1
    assert info["multiple"] == 32
    assert info["input"] == {
        "name": "input",
        "shape": [1, 3, TILE, TILE],
        "dtype": "float32",
        "layout": "NCHW",
        "range": [0.0, 1.0],
        "channels": "RGB",
    }
    got = _graph_outputs(model, inputs["one"])
    assert [o["name"] for o in info["outputs"]] == ["derain", "desnow", "recognition"]
    assert [o["shape"] for o in info["outputs"]] == [list(g.shape) for g in got]
    assert info["preset"] == "tiny" and info["model_config"]["preset"] == "tiny"
    assert info["mindspore_version"] == ms.__version__
    assert info["checkpoint"] == str(ckpt)
    when = datetime.datetime.fromisoformat(info["export_date"])
    assert abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) < 3600
    auto = json.load(open(exported["mindir_auto"][1]))
    assert auto["task"] == "auto" and auto["batch_size"] == 2
    assert auto["outputs"] == [{"name": "restored", "shape": [2, 3, TILE, TILE], "dtype": "float32"}]
