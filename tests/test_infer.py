"""infer.py and the engine: tiled = whole image, odd sizes, input formats, corrupt files, task
choice by the recognition head, the ONNX Runtime backend (tiny preset, random weights)."""

import os
import sys

import cv2
import mindspore as ms
import numpy as np
import pytest

from helpers import add_rain, smooth_image
from src.data.image_io import read_rgb, write_rgb
from src.infer.backends import BackendError, MindSporeBackend, OnnxBackend
from src.infer.engine import EngineError, Restorer, softmax
from src.metrics import to_uint8
from src.models import build_network
from src.train import checkpoint

import infer

MODEL_CFG = {"preset": "tiny"}


def photo(h, w, seed=0):
    """A smooth H x W x 3 float image with rain streaks."""
    rng = np.random.default_rng(seed)
    return add_rain(rng, smooth_image(rng, h, w)).transpose(1, 2, 0)


def set_recognition(net, rain_score, snow_score):
    """Make the recognition head output exactly (rain_score, snow_score) for any input."""
    fc = net.tkff.head_re.fc
    fc.weight.set_data(ms.Tensor(np.zeros(fc.weight.shape, np.float32)))
    fc.bias.set_data(ms.Tensor(np.array([rain_score, snow_score], np.float32)))


@pytest.fixture(scope="module")
def net():
    return build_network(MODEL_CFG, seed=0)


@pytest.fixture(scope="module")
def backend(net):
    return MindSporeBackend(net, MODEL_CFG)


@pytest.fixture(scope="module")
def ckpt(net, tmp_path_factory):
    return checkpoint.save(net, str(tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"), MODEL_CFG, {"step": 0})


@pytest.fixture(scope="module")
def image_300x500():
    return photo(300, 500)


@pytest.fixture(scope="module")
def whole_300x500(backend, image_300x500):
    whole = Restorer(backend, tile=0)
    return {t: whole.restore(image_300x500, task=t, recognize=True) for t in ("rain", "snow")}


def test_tiled_equals_whole_image(backend, image_300x500, whole_300x500):
    tiled = Restorer(backend, tile=128, overlap=32, tile_batch=4)
    for task in ("rain", "snow"):
        ref, got = whole_300x500[task], tiled.restore(image_300x500, task=task, recognize=True)
        assert ref.tiles == 1 and got.tiles == 15
        assert got.image.shape == (300, 500, 3)
        # measured 2.8e-4 (global channel pooling in the gates sees per-tile statistics)
        assert np.abs(got.image - ref.image).max() <= 1e-3
        assert np.abs(got.scores - ref.scores).max() <= 1e-3
    # the tolerance is meaningful: butting tiles together without overlap leaves seams
    seams = Restorer(backend, tile=128, overlap=0).restore(image_300x500, task="rain")
    assert np.abs(seams.image - whole_300x500["rain"].image).max() > 1e-2


def test_a_known_task_runs_only_its_head(backend, image_300x500, whole_300x500):
    """--task rain/snow computes one image output (no recognition unless asked for), and the
    graph that computes only it gives the same image as the full graph."""
    calls = []

    def spy(tiles, names=None):
        calls.append(tuple(names or ()))
        return backend(tiles, names)

    spy.outputs, spy.multiple, spy.preset = backend.outputs, backend.multiple, None
    r = Restorer(spy, tile=0).restore(image_300x500, task="snow")
    assert calls == [("desnow",)] and r.scores is None and r.confidence is None
    assert np.abs(r.image - whole_300x500["snow"].image).max() <= 1e-5
    full = backend(image_300x500.transpose(2, 0, 1)[None].astype(np.float32), None)
    assert len(full) == len(backend.outputs)
    calls.clear()
    auto = Restorer(spy, tile=0).restore(image_300x500, task="auto")
    assert calls == [("derain", "desnow", "recognition")] and auto.scores is not None
    with pytest.raises(BackendError, match="no output 'blind'"):
        backend(image_300x500.transpose(2, 0, 1)[None].astype(np.float32), ("blind",))


@pytest.mark.slow
def test_blind_mode_recognises_a_shrunk_view_then_runs_one_head(backend, image_300x500):
    """A photo larger than the recognition view: recognition alone on the view (area-shrunk to
    the view's long side), then only the chosen head on the photo's tiles; the same image as the
    forced head, the same scores as recognising the view directly. A photo within the view keeps
    one pass with both heads."""
    calls = []

    def spy(tiles, names=None):
        calls.append((tuple(names or ()), tiles.shape[2:]))
        return backend(tiles, names)

    spy.outputs, spy.multiple, spy.preset = backend.outputs, backend.multiple, None
    engine = Restorer(spy, tile=128, overlap=32, view=128)
    r = engine.restore(image_300x500, task="auto")
    view = cv2.resize(image_300x500, (128, 77), interpolation=cv2.INTER_AREA)
    assert calls[0] == (("recognition",), (77, 128)) and r.tiles == 15
    head = "derain" if r.task == "rain" else "desnow"
    assert [c[0] for c in calls[1:]] == [(head,)] * 15
    direct = backend(np.ascontiguousarray(view.transpose(2, 0, 1)[None]), ("recognition",))[0][0]
    assert np.allclose(r.scores, direct, atol=1e-6)
    calls.clear()  # recognize(): the same decision from the recognition pass alone
    task, probs = engine.recognize(image_300x500)
    assert calls == [(("recognition",), (77, 128))] and task == r.task
    assert np.allclose(probs, softmax(direct), atol=1e-6)
    forced = Restorer(backend, tile=128, overlap=32, view=128).restore(image_300x500, task=r.task)
    assert np.array_equal(r.image, forced.image) and forced.scores is None
    calls.clear()  # a known task with its recognition scores asked for (evaluation): the same two passes
    k = engine.restore(image_300x500, task="snow", recognize=True)
    assert [c[0] for c in calls] == [("recognition",)] + [("desnow",)] * 15 and np.allclose(k.scores, direct, atol=1e-6)
    calls.clear()
    Restorer(spy, tile=128, overlap=32, view=500).restore(image_300x500, task="auto")
    assert [c[0] for c in calls] == [("derain", "desnow", "recognition")] * 15
    with pytest.raises(EngineError, match="recognition view"):
        Restorer(backend, view=0)


@pytest.mark.slow
def test_flip_ensemble_averages_the_photo_and_its_mirror(backend, ckpt, image_300x500, whole_300x500, tmp_path):
    """--flip_ensemble: every restoring pass also runs the image heads on the mirror and averages
    the images (mirrored back); recognition sees only the photo; the progress counts both passes."""
    ref = whole_300x500["rain"]
    mirror = Restorer(backend, tile=0).restore(np.ascontiguousarray(image_300x500[:, ::-1]), "rain", recognize=True)
    seen = []
    r = Restorer(backend, tile=0, flip=True).restore(
        image_300x500, "rain", progress=lambda done, total: seen.append((done, total)), recognize=True
    )
    assert np.abs(r.image - (ref.image + mirror.image[:, ::-1]) / 2).max() <= 1e-5
    assert np.array_equal(r.scores, ref.scores) and np.abs(mirror.scores - ref.scores).max() > 1e-5
    assert r.tiles == 1 and seen == [(1, 2), (2, 2)]
    assert np.abs(r.image - ref.image).max() > 1e-2  # the network is not mirror-symmetric
    tiled = Restorer(backend, tile=128, overlap=32, flip=True).restore(image_300x500, "rain")
    assert tiled.tiles == 15 and np.abs(tiled.image - r.image).max() <= 1e-3
    calls = []

    def spy(tiles, names=None):
        calls.append(tuple(names))
        return backend(tiles, names)

    spy.outputs, spy.multiple, spy.preset = backend.outputs, backend.multiple, None
    blind = Restorer(spy, tile=128, overlap=32, view=128, flip=True).restore(image_300x500, "auto")
    head = "derain" if blind.task == "rain" else "desnow"
    assert calls == [("recognition",)] + [(head,)] * 30  # the view once, the photo's tiles twice
    write_rgb(str(tmp_path / "p.png"), to_uint8(image_300x500))
    x = read_rgb(str(tmp_path / "p.png"))
    args = ["--ckpt_file", ckpt, "--input", str(tmp_path / "p.png"), "--task", "rain", "--tile", "0"]
    assert infer.main(args + ["--output", str(tmp_path / "out"), "--flip_ensemble"]) == 0
    got = read_rgb(str(tmp_path / "out" / "p.png"))
    want = to_uint8(Restorer(backend, tile=0, flip=True).restore(x, "rain").image)
    assert np.abs(got.astype(int) - want).max() <= 1


@pytest.mark.slow
def test_blind_mode_picks_by_the_scores_with_and_without_a_view():
    """With the recognition head's output fixed, a photo larger than the view (two passes) and
    one within it (one pass) both get the head the scores pick, with the same confidence."""
    net = build_network(MODEL_CFG, seed=0)  # its own: the scores are overwritten
    be = MindSporeBackend(net, MODEL_CFG)
    x = photo(96, 200, seed=4)
    for scores, expected in (((2.0, -1.0), "rain"), ((-0.5, 1.5), "snow")):
        set_recognition(net, *scores)
        for view in (64, 512):
            r = Restorer(be, tile=64, overlap=16, view=view).restore(x, task="auto")
            assert r.task == expected and r.auto
            assert r.confidence == pytest.approx(softmax(scores).max(), abs=1e-5)


@pytest.mark.parametrize("h,w,tile,overlap", [(67, 101, 64, 32), (5, 7, 32, 8), (33, 130, 64, 32)])
def test_odd_sizes(backend, h, w, tile, overlap):
    x = photo(h, w, seed=1)
    ref = Restorer(backend, tile=0).restore(x, task="snow")
    got = Restorer(backend, tile=tile, overlap=overlap, tile_batch=2).restore(x, task="snow")
    assert ref.image.shape == got.image.shape == (h, w, 3)
    assert np.abs(got.image - ref.image).max() <= 1e-3


def test_bad_engine_options(backend, net):
    with pytest.raises(EngineError, match="multiple of the network stride"):
        Restorer(backend, tile=100)
    with pytest.raises(EngineError, match="tile_overlap"):
        Restorer(backend, tile=64, overlap=64)
    with pytest.raises(EngineError, match="--task"):
        Restorer(backend).restore(photo(8, 8), task="fog")
    no_recog = MindSporeBackend(build_network(dict(MODEL_CFG, recognition=False), seed=0))
    with pytest.raises(EngineError, match="recognition head"):
        Restorer(no_recog).check_task("auto")
    with pytest.raises(EngineError, match="no recognition output"):
        Restorer(no_recog).recognize(photo(8, 8))


@pytest.mark.slow
def test_task_auto_picks_the_larger_recognition_score(tmp_path, capsys):
    net = build_network(MODEL_CFG, seed=0)
    be = MindSporeBackend(net, MODEL_CFG)
    x = photo(64, 96, seed=2)
    for scores, expected in (((3.0, -3.0), "rain"), ((-1.0, 2.0), "snow")):
        set_recognition(net, *scores)
        for tile in (0, 32):  # whole image and tiles (tile scores averaged)
            r = Restorer(be, tile=tile, overlap=8).restore(x, task="auto")
            forced = Restorer(be, tile=tile, overlap=8).restore(x, task=expected)
            assert r.task == expected and r.auto
            assert r.confidence == pytest.approx(softmax(scores).max(), abs=1e-5)
            assert np.array_equal(r.image, forced.image)
    # through infer.py: the snow head is chosen and reported with its confidence
    ckpt = checkpoint.save(net, str(tmp_path / "snowy.ckpt"), MODEL_CFG)
    write_rgb(str(tmp_path / "in" / "p.jpg"), to_uint8(x))
    assert (
        infer.main(["--ckpt_file", ckpt, "--input", str(tmp_path / "in" / "p.jpg"), "--output", str(tmp_path / "out")])
        == 0
    )
    line = [ln for ln in capsys.readouterr().out.splitlines() if "p.jpg -> " in ln]
    assert len(line) == 1 and "| snow (auto, p=0.953) |" in line[0]  # softmax(-1, 2)[1] = 0.9526


def _write_formats(folder, rgb):
    """The same picture as JPEG, PNG, TIFF, BMP, grayscale, RGBA and 16-bit; returns
    {relative input name: (relative output name, the uint8 RGB the network should see)}."""
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    low = (np.arange(rgb.size) % 256).astype(np.uint16).reshape(rgb.shape)
    deep = (rgb.astype(np.uint16) << 8) | low  # 16-bit values whose low byte matters for rounding
    deep8 = ((deep.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)  # round(v*255/65535)
    os.makedirs(os.path.join(folder, "sub", "deeper"), exist_ok=True)
    files = {
        "a.png": (bgr, rgb, "a.png.png"),
        "a.bmp": (bgr, rgb, "a.bmp.png"),  # same stem as a.png: both keep their extension
        "sub/b.tif": (bgr, rgb, "sub/b.png"),
        "sub/deeper/gray.png": (gray, np.repeat(gray[:, :, None], 3, axis=2), "sub/deeper/gray.png"),
        "rgba.png": (np.dstack([bgr, np.full(gray.shape, 90, np.uint8)]), rgb, "rgba.png"),
        "deep16.png": (deep[:, :, ::-1], deep8, "deep16.png.png"),
        "deep16.tiff": (deep[:, :, ::-1], deep8, "deep16.tiff.png"),
    }
    out = {}
    for rel, (stored, expect, out_rel) in files.items():
        assert cv2.imwrite(os.path.join(folder, rel), np.ascontiguousarray(stored))
        out[rel] = (out_rel, expect)
    # JPEG is lossy: the network sees whatever the decoder gives
    cv2.imwrite(os.path.join(folder, "sub", "c.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
    out["sub/c.jpg"] = ("sub/c.png", cv2.imread(os.path.join(folder, "sub", "c.jpg"))[:, :, ::-1])
    return out


def test_input_formats_and_mirrored_names(backend, ckpt, tmp_path, capsys):
    rgb = to_uint8(photo(40, 56, seed=3))
    expected = _write_formats(str(tmp_path / "in"), rgb)
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    rc = infer.main(
        [
            "--ckpt_file",
            ckpt,
            "--input",
            str(tmp_path / "in"),
            "--output",
            str(tmp_path / "out"),
            "--task",
            "rain",
            "--compare",
        ]
    )
    cap = capsys.readouterr()
    out = cap.out
    assert rc == 0, out
    assert "(1 other entry skipped, listed at the end)" in out
    assert f"infer.py: skipped {tmp_path / 'in' / 'notes.txt'}: not an image file (.txt;" in cap.err
    ref = Restorer(backend)
    for rel, (out_rel, seen) in expected.items():
        path = tmp_path / "out" / out_rel
        assert path.is_file(), f"{rel} -> {out_rel} missing; got {sorted(os.listdir(tmp_path / 'out'))}"
        got = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[:, :, ::-1]
        assert got.dtype == np.uint8 and got.shape == (40, 56, 3)
        want = to_uint8(ref.restore(seen, task="rain").image)
        assert np.abs(got.astype(int) - want).max() <= 1, rel
        side = cv2.imread(str(tmp_path / "out" / "compare" / out_rel))
        assert side.shape == (40, 2 * 56 + 8, 3)
        assert f"{rel} -> " in out
    assert out.count("rain (forced) |") == len(expected)


def test_corrupt_files_are_reported_and_skipped(ckpt, tmp_path, capsys):
    folder = tmp_path / "in"
    good = to_uint8(photo(40, 56, seed=4))
    write_rgb(str(folder / "good1.png"), good)
    write_rgb(str(folder / "z_good2.jpg"), good)
    data = (folder / "z_good2.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(data[: len(data) // 2])  # truncated JPEG
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.bmp").write_bytes(b"this is not a bitmap")
    rc = infer.main(["--ckpt_file", ckpt, "--input", str(folder), "--output", str(tmp_path / "out"), "--task", "snow"])
    cap = capsys.readouterr()
    assert rc == 1
    assert sorted(os.listdir(tmp_path / "out")) == ["good1.png", "z_good2.png"]
    assert "3 of 5 file(s) failed" in cap.err
    for name in ("cut.jpg", "empty.png", "text.bmp"):
        assert name in cap.err and f"{name}: FAILED" in cap.out


def test_every_file_not_restored_is_named_with_its_reason(ckpt, tmp_path, capsys):
    """Skipped entries (not image files) and failed image files each get their own line; only
    failures make the exit code 1."""
    folder = tmp_path / "in"
    good = to_uint8(photo(32, 40, seed=6))
    for rel in ("a.png", "sub/b.jpg", "fake.jpg/inside.png"):  # fake.jpg/ is a folder
        write_rgb(str(folder / rel), good)
    os.makedirs(folder / "empty.png")  # an empty folder named like an image
    pytest.importorskip("PIL", reason="needs pillow (requirements.txt)")
    from PIL import Image

    Image.fromarray(good).save(str(folder / "anim.gif"))
    (folder / "text.png").write_text("a text file named .png")
    (folder / "notes.txt").write_text("hello")
    (folder / ".hidden.jpg").write_bytes(b"")
    os.makedirs(folder / ".cache")
    write_rgb(str(folder / ".cache" / "x.png"), good)
    out_dir = tmp_path / "out"
    rc = infer.main(["--ckpt_file", ckpt, "--input", str(folder), "--output", str(out_dir), "--task", "rain"])
    cap = capsys.readouterr()
    assert rc == 1, cap.err
    restored = sorted(os.path.relpath(os.path.join(d, f), out_dir) for d, _, fs in os.walk(out_dir) for f in fs)
    assert restored == sorted(["a.png", os.path.join("sub", "b.png"), os.path.join("fake.jpg", "inside.png")])
    sep = os.sep
    expect = {  # each entry that was not restored: its own line, with the reason
        f"skipped {folder / 'anim.gif'}: GIF images are not supported",
        f"skipped {folder / 'fake.jpg'}{sep}: a folder named like an image, not an image",
        f"skipped {folder / 'empty.png'}{sep}: a folder named like an image, not an image",
        f"skipped {folder / 'notes.txt'}: not an image file (.txt;",
        f"skipped {folder / '.hidden.jpg'}: hidden file",
        f"skipped {folder / '.cache'}{sep}: hidden folder, not searched",
        f"failed {folder / 'text.png'}: cannot decode",
    }
    lines = [ln for ln in cap.err.splitlines() if ln.startswith(("infer.py: skipped", "infer.py: failed"))]
    assert len(lines) == len(expect), cap.err
    for want in expect:
        assert sum(ln.startswith("infer.py: " + want) for ln in lines) == 1, (want, cap.err)
    assert cap.err.splitlines()[-1] == (
        f"infer.py: 1 of 4 file(s) failed; restored 3 image(s) into " f"{out_dir}; 6 non-image entries skipped"
    )
    assert "4 image(s) from" in cap.out and "(6 other entries skipped, listed at the end)" in cap.out
    # without the failing file: skipped entries are listed, the exit code is 0
    (folder / "text.png").unlink()
    rc = infer.main(["--ckpt_file", ckpt, "--input", str(folder), "--output", str(tmp_path / "o2"), "--task", "rain"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert cap.err.count("infer.py: skipped ") == 6 and "failed" not in cap.err
    assert cap.out.splitlines()[-1] == (
        f"infer.py: restored 3 image(s) into {tmp_path / 'o2'}; " "6 non-image entries skipped"
    )
    # a folder with no image at all: exit 2, the entries listed, then a one-line error
    only = tmp_path / "only"
    os.makedirs(only / "dir.jpg")
    (only / "a.gif").write_bytes((folder / "anim.gif").read_bytes())
    rc = infer.main(["--ckpt_file", ckpt, "--input", str(only), "--output", str(tmp_path / "o3")])
    err = capsys.readouterr().err.splitlines()
    assert rc == 2 and len(err) == 3
    assert err[0].startswith(f"infer.py: skipped {only / 'a.gif'}: GIF images")
    assert err[1].startswith(f"infer.py: skipped {only / 'dir.jpg'}{sep}: a folder")
    assert err[2].startswith("infer.py: error: --input") and "2 other entries skipped" in err[2]
    # a GIF given as the input file is tried, and fails with the reason
    rc = infer.main(["--ckpt_file", ckpt, "--input", str(only / "a.gif"), "--output", str(tmp_path / "o4")])
    assert rc == 1 and "GIF images are not supported" in capsys.readouterr().err


def test_fatal_errors_exit_2(ckpt, tmp_path, capsys):
    assert infer.main(["--ckpt_file", ckpt, "--input", str(tmp_path / "nope"), "--output", str(tmp_path / "o")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    write_rgb(str(tmp_path / "x.png"), np.zeros((8, 8, 3), np.uint8))
    assert (
        infer.main(
            [
                "--ckpt_file",
                str(tmp_path / "missing.ckpt"),
                "--input",
                str(tmp_path / "x.png"),
                "--output",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "checkpoint not found" in capsys.readouterr().err


def test_onnxruntime_missing_gives_a_clear_message(tmp_path, monkeypatch):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(BackendError, match="pip install onnxruntime"):
        OnnxBackend(str(model))


@pytest.fixture(scope="module")
def onnx_model(net, tmp_path_factory):
    pytest.importorskip("onnxruntime", reason="needs onnxruntime (optional: requirements-dev.txt)")
    from src.infer import export

    path, _ = export.export_network(
        net, "ONNX", str(tmp_path_factory.mktemp("onnx") / "tiny"), 128, 128, task="all", model_cfg=MODEL_CFG
    )
    return path


def test_onnx_backend_equals_mindspore(net, onnx_model, image_300x500, tmp_path, capsys):
    onnx = Restorer(OnnxBackend(onnx_model), overlap=32)
    assert onnx.tile == 128
    ms_tiles = Restorer(MindSporeBackend(net, MODEL_CFG, fixed_tile=128), overlap=32)
    for x in (image_300x500, photo(67, 101, seed=5)):  # many tiles; one padded tile
        for task in ("rain", "snow", "auto"):
            a, b = ms_tiles.restore(x, task=task, recognize=True), onnx.restore(x, task=task, recognize=True)
            assert a.task == b.task and a.tiles == b.tiles
            assert np.abs(a.image - b.image).max() <= 1e-4
            assert np.abs(a.scores - b.scores).max() <= 1e-4
    # one output = the part graph computing only it (ONNX Runtime runs every output of a graph)
    be = OnnxBackend(onnx_model)
    assert sorted(be.parts) == ["derain", "desnow", "recognition"]
    tile = np.ascontiguousarray(image_300x500[:128, :128].transpose(2, 0, 1)[None], dtype=np.float32)
    full = be.session.run(None, {be.input_name: tile})
    for k, name in enumerate(("derain", "desnow", "recognition")):
        assert np.abs(be(tile, (name,))[0] - full[k]).max() <= 1e-5
    # a photo larger than the view: both backends recognise the same view, then run one head
    a = Restorer(MindSporeBackend(net, MODEL_CFG, fixed_tile=128), overlap=32, view=192).restore(image_300x500)
    b = Restorer(be, overlap=32, view=192).restore(image_300x500)
    assert a.task == b.task and np.abs(a.scores - b.scores).max() <= 1e-4 and np.abs(a.image - b.image).max() <= 1e-4
    with pytest.raises(EngineError, match="takes 128x128 tiles only"):
        Restorer(OnnxBackend(onnx_model), tile=256)
    import shutil  # an export whose part file went missing is refused with what to do

    for f in ("tiny.onnx", "tiny.onnx.json", "tiny.derain.onnx", "tiny.desnow.onnx"):
        shutil.copy(os.path.join(os.path.dirname(onnx_model), f), tmp_path / f)
    with pytest.raises(BackendError, match="tiny.recognition.onnx is missing; re-export"):
        OnnxBackend(str(tmp_path / "tiny.onnx"))
    write_rgb(str(tmp_path / "p.png"), to_uint8(photo(67, 101, seed=5)))
    assert (
        infer.main(
            [
                "--backend",
                "onnxruntime",
                "--onnx_file",
                onnx_model,
                "--input",
                str(tmp_path / "p.png"),
                "--output",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    assert "backend onnxruntime, tiles 128x128" in capsys.readouterr().out
    assert (tmp_path / "out" / "p.png").is_file()
