"""The 310 pipeline around the C++ program: preprocess -> tiles -> model -> postprocess.

The exported MINDIR runs through ``nn.GraphCell`` over every .bin tile (standing in for
ascend310_infer/out/main, which the PyPI Lite 2.0.0 runtime cannot use on a MindSpore 2.8
MINDIR), writing ``<stem>_<i>.bin`` like it. The result must equal what infer.py/eval.py's engine
(``Restorer``) gives with the checkpoint network at the same fixed tile, and infer.py itself with
the ONNX export. scripts/run_infer_310.sh is run for real with the PyPI Lite: it must stop at the
first failing step (infer: Lite refuses the MINDIR version; build: no MS_LITE_HOME).
"""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mindspore as ms
from mindspore import nn

import postprocess as post_cli
import preprocess as pre_cli
from helpers import add_rain, add_snow, network_reachable, smooth_image
from src.data.image_io import read_rgb, write_rgb
from src.infer.backends import MindSporeBackend
from src.infer.engine import Restorer, pad_image_to_multiple, recognition_view
from src.infer.export import export_network
from src.infer.pipeline310 import run_tiles, to_float
from src.infer.tiling import split_tiles
from src.metrics import MetricAccumulator, to_uint8
from src.models import build_network
from src.train.checkpoint import load_model, save

REPO = Path(__file__).resolve().parents[1]
FETCH = REPO / "scripts" / "fetch_mindspore_lite.sh"
SCRIPT = REPO / "scripts" / "run_infer_310.sh"
TILE, OVERLAP = 64, 16
# d_snow is wider than the recognition view (512): blind mode recognises its shrunk view's tiles
SIZES = {
    "a_rain": (100, 90, "rain"),
    "b_snow": (50, 70, "snow"),
    "c_rain": (64, 64, "rain"),
    "d_snow": (40, 600, "snow"),
}
LITE_VERSION_MESSAGE = "can only support the maximum mind ir version"


class FixedTile:
    """A MindSpore backend that, like an exported model, only takes TILE x TILE tiles."""

    def __init__(self, inner, tile):
        self.inner, self.fixed_tile, self.fixed_batch = inner, tile, 1
        self.name, self.outputs, self.multiple = "mindspore-fixed", inner.outputs, inner.multiple

    def __call__(self, tiles, names=None):
        assert tiles.shape[1:] == (3, self.fixed_tile, self.fixed_tile)
        return self.inner(tiles, names)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("p310")
    rng = np.random.default_rng(0)
    for sub in ("input", "target"):
        (d / "data" / sub).mkdir(parents=True)
    for name, (h, w, task) in SIZES.items():
        clean = smooth_image(rng, h, w)
        noisy = add_rain(rng, clean) if task == "rain" else add_snow(rng, clean)
        write_rgb(str(d / "data" / "input" / f"{name}.png"), to_uint8(noisy, layout="CHW"))
        write_rgb(str(d / "data" / "target" / f"{name}.png"), to_uint8(clean, layout="CHW"))
    net = build_network({"preset": "tiny"}, seed=5)
    # Shift the recognition bias so that "auto" picks different heads for different images.
    probe = Restorer(FixedTile(MindSporeBackend(net), TILE), overlap=OVERLAP)
    margins = sorted(
        {
            float(np.subtract(*probe.restore(read_rgb(str(d / "data" / "input" / f"{n}.png")), task="auto").scores))
            for n in SIZES
        }
    )
    assert len(margins) > 1
    bias = net.tkff.head_re.fc.bias
    value = bias.asnumpy().copy()
    value[0] -= (margins[0] + margins[1]) / 2
    bias.set_data(ms.Tensor(value))
    ckpt = d / "tiny.ckpt"
    save(net, str(ckpt), {"preset": "tiny"}, {"step": 0})
    ref_net, cfg, _ = load_model(str(ckpt))
    mindir, mindir_json = export_network(ref_net, "MINDIR", str(d / "sa"), TILE, TILE, task="all", model_cfg=cfg)
    onnx, _ = export_network(ref_net, "ONNX", str(d / "sa"), TILE, TILE, task="all", model_cfg=cfg)
    return dict(dir=d, ckpt=ckpt, net=ref_net, mindir=mindir, mindir_json=mindir_json, onnx=onnx, data=d / "data")


@pytest.fixture(scope="module")
def pipeline(setup):
    """preprocess.py -> GraphCell over every tile -> postprocess.py (task auto, then rain)."""
    d = setup["dir"]
    assert (
        pre_cli.main(
            [
                "--data_path",
                str(setup["data"]),
                "--output_path",
                str(d / "pre"),
                "--mindir_json",
                setup["mindir_json"],
                "--overlap",
                str(OVERLAP),
            ]
        )
        == 0
    )
    manifest = json.loads((d / "pre" / "manifest.json").read_text())
    graph = nn.GraphCell(ms.load(setup["mindir"]))
    n = run_tiles(lambda x: graph(ms.Tensor(x)), manifest["bin_dir"], str(d / "results"), manifest["input_shape"])
    assert n == sum(len(e["tiles"]) + len((e["view"] or {}).get("tiles", [])) for e in manifest["images"])
    for task in ("auto", "rain"):
        assert (
            post_cli.main(
                [
                    "--manifest",
                    str(d / "pre" / "manifest.json"),
                    "--result_dir",
                    str(d / "results"),
                    "--output_dir",
                    str(d / f"out_{task}"),
                    "--task",
                    task,
                ]
            )
            == 0
        )
    return dict(manifest=manifest, out={t: d / f"out_{t}" for t in ("auto", "rain")})


@pytest.fixture(scope="module")
def restorer(setup):
    return Restorer(FixedTile(MindSporeBackend(setup["net"]), TILE), overlap=OVERLAP)


def test_tiles_are_split_tiles_of_the_padded_image(setup, pipeline):
    m = pipeline["manifest"]
    assert m["tile"] == TILE and m["overlap"] == OVERLAP and m["multiple"] == 32
    assert m["export"]["task"] == "all" and m["input_shape"] == [1, 3, TILE, TILE]
    assert [e["name"] for e in m["images"]] == sorted(SIZES)
    for e in m["images"]:
        rgb = read_rgb(e["input"])
        tiles, tiling = split_tiles(pad_image_to_multiple(to_float(rgb), 32), TILE, OVERLAP)
        assert (e["height"], e["width"]) == rgb.shape[:2]
        assert e["tiling"] == json.loads(json.dumps(tiling)) and e["positions"] == tiling["positions"]
        assert e["target"].endswith(os.path.join("target", e["name"] + ".png"))
        assert len(e["tiles"]) == len(tiles) > 0
        for fname, tile in zip(e["tiles"], tiles):
            got = np.fromfile(os.path.join(m["bin_dir"], fname), np.float32).reshape(1, 3, TILE, TILE)
            np.testing.assert_array_equal(got[0], tile)
    views = {e["name"]: e["view"] for e in m["images"]}
    assert [n for n, v in views.items() if v] == ["d_snow"]  # only the photo larger than the view
    shrunk = recognition_view(to_float(read_rgb(str(setup["data"] / "input" / "d_snow.png"))))
    assert shrunk.shape == (34, 512, 3) and (views["d_snow"]["height"], views["d_snow"]["width"]) == (34, 512)
    vtiles, vtiling = split_tiles(pad_image_to_multiple(shrunk, 32), TILE, OVERLAP)
    assert views["d_snow"]["tiling"] == json.loads(json.dumps(vtiling)) and len(views["d_snow"]["tiles"]) == len(vtiles)
    for fname, tile in zip(views["d_snow"]["tiles"], vtiles):
        got = np.fromfile(os.path.join(m["bin_dir"], fname), np.float32).reshape(1, 3, TILE, TILE)
        np.testing.assert_array_equal(got[0], tile)
    pad = {e["name"]: e["padding"] for e in m["images"]}
    assert pad["a_rain"] == {"bottom": 28, "right": 6, "mode": "reflect"}
    assert pad["c_rain"] == {"bottom": 0, "right": 0, "mode": "none"}


def _read_csv(path):
    with open(path, newline="") as fh:
        return {r["name"]: r for r in csv.DictReader(fh)}


@pytest.mark.parametrize("task", ["auto", "rain"])
def test_pipeline_matches_engine(setup, pipeline, restorer, task):
    """Same images (bit-identical) and metrics as eval.py/infer.py's engine in process."""
    out = pipeline["out"][task]
    acc = MetricAccumulator()
    worst = 0
    heads = set()
    for name in SIZES:
        src_img = read_rgb(str(setup["data"] / "input" / f"{name}.png"))
        r = restorer.restore(src_img, task=task)
        expected = to_uint8(r.image)
        got = read_rgb(str(out / f"{name}.png"))
        assert got.shape == expected.shape == src_img.shape
        worst = max(worst, int(np.abs(got.astype(int) - expected.astype(int)).max()))
        acc.add(name, expected, read_rgb(str(setup["data"] / "target" / f"{name}.png")), task=r.task)
        heads.add(r.task)
    print(f"310 pipeline vs Restorer (task {task}): max diff {worst} grey levels")
    assert heads == ({"rain", "snow"} if task == "auto" else {task})
    assert worst == 0
    rows = _read_csv(out / "metrics.csv")
    for ref in acc.rows:
        row = rows[ref["name"]]
        assert row["task"] == ref["task"]
        for k in ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"):
            assert float(row[k]) == pytest.approx(ref[k], abs=1e-6)
    summary = (out / "summary.txt").read_text()
    assert summary.splitlines()[0].endswith(acc.protocol)


def test_pipeline_matches_infer_py_onnx(setup, pipeline, tmp_path):
    """infer.py (ONNX backend, the same tile) gives the same images within one grey level."""
    pytest.importorskip("onnxruntime", reason="needs onnxruntime (optional: requirements-dev.txt)")
    import infer as infer_cli

    rc = infer_cli.main(
        [
            "--backend",
            "onnxruntime",
            "--onnx_file",
            setup["onnx"],
            "--input",
            str(setup["data"] / "input"),
            "--output",
            str(tmp_path),
            "--tile_overlap",
            str(OVERLAP),
        ]
    )
    assert rc == 0
    worst = 0
    for name in SIZES:
        a = read_rgb(str(tmp_path / f"{name}.png")).astype(int)
        b = read_rgb(str(pipeline["out"]["auto"] / f"{name}.png")).astype(int)
        worst = max(worst, int(np.abs(a - b).max()))
    print(f"310 pipeline vs infer.py ONNX: max diff {worst} grey levels")
    assert worst <= 1


def test_preprocess_for_a_given_task_skips_the_view(setup, pipeline, tmp_path, capsys):
    """preprocess --task rain writes no recognition-view tiles (nothing would read them); its
    manifest restores as the full one does, and blind mode on it is refused in one line."""
    d = setup["dir"]
    args = ["--data_path", str(setup["data"]), "--output_path", str(tmp_path / "pre"), "--overlap", str(OVERLAP)]
    assert pre_cli.main([*args, "--mindir_json", setup["mindir_json"], "--task", "rain"]) == 0
    manifest = json.loads((tmp_path / "pre" / "manifest.json").read_text())
    assert manifest["task"] == "rain" and not any(e["view"] for e in manifest["images"])
    assert not [f for f in os.listdir(manifest["bin_dir"]) if "_v" in f]
    post = ["--manifest", str(tmp_path / "pre" / "manifest.json"), "--result_dir", str(d / "results")]
    assert post_cli.main([*post, "--output_dir", str(tmp_path / "o"), "--task", "rain"]) == 0
    for name in SIZES:
        assert np.array_equal(
            read_rgb(str(tmp_path / "o" / f"{name}.png")), read_rgb(str(pipeline["out"]["rain"] / f"{name}.png"))
        )
    capsys.readouterr()
    assert post_cli.main([*post, "--output_dir", str(tmp_path / "o2"), "--task", "auto"]) == 2
    err = capsys.readouterr().err.strip()
    assert "preprocessed for --task rain" in err and "--task auto" in err and "\n" not in err


def test_postprocess_reports_missing_results(setup, pipeline, tmp_path, capsys):
    rc = post_cli.main(
        [
            "--manifest",
            str(setup["dir"] / "pre" / "manifest.json"),
            "--result_dir",
            str(tmp_path),
            "--output_dir",
            str(tmp_path / "o"),
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "postprocess.py: error:" in err and "a_rain_t0000_0.bin: result missing" in err


# --------------------------------------------------------------------------- run_infer_310.sh


@pytest.fixture(scope="module")
def lite_home():
    proc = subprocess.run(
        ["bash", str(FETCH)],
        capture_output=True,
        text=True,
        timeout=1800,
        env=dict(os.environ, PYTHON=os.environ.get("PYTHON", sys.executable)),
    )
    if proc.returncode != 0:
        if not os.environ.get("SMARTASSIGN_REQUIRE_LITE") and not network_reachable():
            pytest.skip(
                "cannot fetch mindspore-lite 2.0.0 (network unreachable) and " "SMARTASSIGN_REQUIRE_LITE is not set"
            )
        pytest.fail(f"scripts/fetch_mindspore_lite.sh failed:\n{proc.stderr[-3000:]}")
    return proc.stdout.strip().splitlines()[-1]


def _run_script(args, env, cwd):
    return subprocess.run(
        ["bash", str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=900, env=env, cwd=str(cwd)
    )


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "MS_LITE_HOME"}
    env["PYTHON"] = sys.executable
    env.update(extra)
    return env


def test_script_usage(tmp_path):
    proc = _run_script([], _env(), tmp_path)
    assert proc.returncode == 2 and "Usage: bash run_infer_310.sh [MINDIR_PATH]" in proc.stderr


@pytest.mark.slow
@pytest.mark.network  # fetches PyPI's mindspore-lite wheel (first run)
@pytest.mark.cpp  # run_infer_310.sh builds ascend310_infer/ first
def test_script_stops_at_infer_with_pypi_lite(setup, lite_home, tmp_path):
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    out = tmp_path / "run"
    # relative MINDIR and data paths, from an unrelated directory
    rel = os.path.relpath(setup["mindir"], cwd)
    proc = _run_script(
        [rel, os.path.relpath(setup["data"], cwd), "CPU", "0"], _env(MS_LITE_HOME=lite_home, OUTPUT_DIR=str(out)), cwd
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, log
    assert f"(tile {TILE}x{TILE})" in proc.stdout, log
    for step in ("build", "preprocess"):
        assert f"[{step}] done" in proc.stdout, log
    assert "[infer] FAILED" in proc.stderr and "stopped at step 'infer'" in proc.stderr, log
    assert LITE_VERSION_MESSAGE in proc.stderr, "the infer log's tail must be shown:\n" + log
    assert LITE_VERSION_MESSAGE in (out / "infer.log").read_text()
    assert len(list((out / "preprocess" / "tiles").glob("*.bin"))) > 0
    assert not (out / "postprocess.log").exists() and "[postprocess]" not in log


def test_script_stops_at_build_without_lite(setup, tmp_path):
    out = tmp_path / "run"
    proc = _run_script([setup["mindir"], setup["data"], "CPU", "0"], _env(OUTPUT_DIR=str(out)), tmp_path)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, log
    assert "[build] FAILED" in proc.stderr and "stopped at step 'build'" in proc.stderr, log
    assert "build.sh: error: no MindSpore Lite location given: set MS_LITE_HOME" in proc.stderr, log
    assert not (out / "preprocess.log").exists()


def test_script_checks_arguments(setup, tmp_path):
    proc = _run_script([setup["mindir"], setup["data"], "GPU", "0"], _env(), tmp_path)
    assert proc.returncode != 0 and "DEVICE_TYPE must be Ascend or CPU" in proc.stderr
    bare = tmp_path / "bare.mindir"
    bare.write_bytes(Path(setup["mindir"]).read_bytes())
    proc = _run_script([bare, setup["data"], "CPU", "0"], _env(), tmp_path)
    assert proc.returncode != 0 and f"{bare}.json not found" in proc.stderr
