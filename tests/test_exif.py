"""EXIF orientation: infer.py (and preprocess.py for photos without targets) turn phone photos the
way viewers show them; training/evaluation data keep the stored pixels. HEIC photos always come
out as displayed."""

import io
import json
import os
import sys

import cv2
import numpy as np
import pytest

PIL = pytest.importorskip("PIL", reason="needs pillow (requirements.txt)")
from PIL import Image, ImageOps  # noqa: E402

from helpers import smooth_image  # noqa: E402
from src.data.image_io import ImageReadError, apply_orientation, decode_rgb, read_rgb, write_rgb  # noqa: E402
from src.infer.backends import MindSporeBackend  # noqa: E402
from src.infer.engine import Restorer  # noqa: E402
from src.infer.pipeline310 import preprocess  # noqa: E402
from src.metrics import to_uint8  # noqa: E402
from src.models import build_network  # noqa: E402
from src.train import checkpoint  # noqa: E402

import eval as eval_py  # noqa: E402
import infer  # noqa: E402

MODEL_CFG = {"preset": "tiny"}
H, W = 40, 72  # stored landscape; orientations 5-8 show it as 72 x 40 portrait


def stored_pixels(seed=0):
    """A smooth picture with a bright block in the stored top-left corner (so any turn shows)."""
    img = to_uint8(smooth_image(np.random.default_rng(seed), H, W), layout="CHW")
    img[:12, :20] = (250, 30, 30)
    return img


def encoded(rgb, fmt, orientation, **kw):
    """``rgb`` encoded by Pillow as ``fmt`` with an EXIF Orientation tag."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt, exif=exif.tobytes(), **kw)
    return buf.getvalue()


def encoded_heic(rgb, orientation):
    """``rgb`` as a HEIC file (pillow-heif, lossless 4:4:4) with an EXIF Orientation tag."""
    pillow_heif = pytest.importorskip("pillow_heif", reason="HEIC decoding needs pillow-heif (requirements.txt)")

    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    pillow_heif.from_pillow(Image.fromarray(rgb)).save(buf, quality=-1, chroma=444, exif=exif.tobytes())
    return buf.getvalue()


def displayed(data):
    """What a viewer shows: Pillow's exif_transpose of the decoded file."""
    return np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))


@pytest.mark.parametrize("fmt,kw", [("PNG", {}), ("WEBP", {"lossless": True}), ("JPEG", {"quality": 95})])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_decode_applies_exif_only_when_asked(fmt, kw, orientation):
    rgb = stored_pixels()
    data = encoded(rgb, fmt, orientation, **kw)
    stored = decode_rgb(data)  # default: the stored pixels (training, eval)
    shown = decode_rgb(data, apply_exif=True)  # users' photos
    want = displayed(data)
    assert stored.shape == (H, W, 3)
    assert shown.shape == want.shape == ((W, H, 3) if orientation >= 5 else (H, W, 3))
    tol = 0 if fmt != "JPEG" else 2  # JPEG: OpenCV's and Pillow's IDCT may differ by 1
    assert np.abs(shown.astype(int) - want).max() <= tol
    assert np.array_equal(shown, apply_orientation(stored, orientation))
    if fmt != "JPEG":
        assert np.array_equal(stored, rgb)


def test_tiff_is_always_oriented_by_opencv():
    """The documented exception: OpenCV's TIFF decoder applies the tag even for stored pixels."""
    data = encoded(stored_pixels(), "TIFF", 6)
    assert np.array_equal(decode_rgb(data), displayed(data))
    assert np.array_equal(decode_rgb(data, apply_exif=True), displayed(data))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_heic_is_decoded_as_displayed(orientation):
    """Phones' default format: pillow-heif applies the turn, with or without ``apply_exif``."""
    rgb = stored_pixels()
    data = encoded_heic(rgb, orientation)
    want = apply_orientation(rgb, orientation)
    for apply_exif in (False, True):
        got = decode_rgb(data, apply_exif=apply_exif)
        assert got.shape == want.shape == ((W, H, 3) if orientation >= 5 else (H, W, 3))
        assert np.abs(got.astype(int) - want).max() <= 2  # lossless up to the YCbCr rounding


def test_heic_alpha_bad_data_and_a_missing_decoder(monkeypatch):
    pillow_heif = pytest.importorskip("pillow_heif", reason="HEIC decoding needs pillow-heif (requirements.txt)")

    rgba = np.dstack([stored_pixels(), np.full((H, W), 90, np.uint8)])
    buf = io.BytesIO()
    pillow_heif.from_pillow(Image.fromarray(rgba)).save(buf, quality=-1, chroma=444)
    rgb, notes = decode_rgb(buf.getvalue(), with_notes=True)
    assert notes == ["alpha dropped"] and np.abs(rgb.astype(int) - rgba[:, :, :3]).max() <= 2
    data = encoded_heic(stored_pixels(), 1)
    with pytest.raises(ImageReadError, match=r"^x\.heic: cannot decode \(HEIF data"):
        decode_rgb(data[: len(data) // 2], name="x.heic")
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # as if not installed
    with pytest.raises(ImageReadError, match=r"^x\.heic: .*pip install pillow-heif"):
        decode_rgb(data, name="x.heic")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    net = build_network(MODEL_CFG, seed=0)
    path = checkpoint.save(net, str(tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"), MODEL_CFG)
    return Restorer(MindSporeBackend(net, MODEL_CFG)), path


@pytest.mark.slow
def test_infer_outputs_phone_photos_as_displayed(tiny, tmp_path, capsys):
    restorer, ckpt = tiny
    rgb = stored_pixels(seed=1)
    folder = tmp_path / "phone"
    folder.mkdir()
    shown = {}  # file name -> the photo as displayed
    for o in (3, 6, 8):
        data = encoded(rgb, "JPEG", o, quality=95)
        (folder / f"o{o}.jpg").write_bytes(data)
        shown[f"o{o}.jpg"] = decode_rgb(data, apply_exif=True)
        assert np.abs(shown[f"o{o}.jpg"].astype(int) - displayed(data)).max() <= 2
    heic = encoded_heic(rgb, 6)
    (folder / "iphone.heic").write_bytes(heic)
    shown["iphone.heic"] = decode_rgb(heic)
    rc = infer.main(
        ["--ckpt_file", ckpt, "--input", str(folder), "--output", str(tmp_path / "out"), "--task", "rain", "--compare"]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    sizes = {"o3.jpg": (H, W), "o6.jpg": (W, H), "o8.jpg": (W, H), "iphone.heic": (W, H)}
    for name, size in sizes.items():
        png = os.path.splitext(name)[0] + ".png"
        got = cv2.imread(str(tmp_path / "out" / png))[:, :, ::-1]
        assert got.shape[:2] == size
        assert f"{name} -> " in out and f"| {size[1]}x{size[0]}, " in out
        want = to_uint8(restorer.restore(shown[name], task="rain").image)
        assert np.abs(got.astype(int) - want).max() <= 1, name  # the network saw the turned photo
        side = cv2.imread(str(tmp_path / "out" / "compare" / png))[:, :, ::-1]
        assert np.array_equal(side[:, : size[1]], shown[name])  # left half = the photo as displayed


def test_eval_keeps_the_stored_pixels(tiny, tmp_path, capsys):
    """A pair whose input carries Orientation 6 and whose target does not stays aligned."""
    _, ckpt = tiny
    rgb = stored_pixels(seed=2)
    (tmp_path / "rainy").mkdir()
    (tmp_path / "rainy" / "p.png").write_bytes(encoded(rgb, "PNG", 6))
    write_rgb(str(tmp_path / "clean" / "p.png"), rgb)
    rc = eval_py.main(
        [
            "--ckpt_file",
            ckpt,
            "--input_dir",
            str(tmp_path / "rainy"),
            "--target_dir",
            str(tmp_path / "clean"),
            "--task",
            "rain",
            "--output_dir",
            str(tmp_path / "res"),
            "--save_images",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    saved = cv2.imread(str(tmp_path / "res" / "folder_rainy" / "images" / "p.png"))
    assert saved.shape[:2] == (H, W)
    with open(tmp_path / "res" / "summary.json", encoding="utf-8") as fh:
        assert json.load(fh)["sets"]["folder/rainy"]["input"]["psnr_y"] == float("inf")


def test_preprocess_orients_photos_without_targets_only(tmp_path):
    rgb = stored_pixels(seed=3)
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "p.jpg").write_bytes(encoded(rgb, "JPEG", 6, quality=95))
    paired = tmp_path / "paired"
    for sub in ("input", "target"):
        (paired / sub).mkdir(parents=True)
    (paired / "input" / "p.png").write_bytes(encoded(rgb, "PNG", 6))
    write_rgb(str(paired / "target" / "p.png"), rgb)
    sizes = {}
    for name, src in (("photos", photos), ("paired", paired)):
        with open(preprocess(str(src), str(tmp_path / f"pre_{name}"), tile=64), encoding="utf-8") as fh:
            entry = json.load(fh)["images"][0]
        sizes[name] = (entry["height"], entry["width"], entry["exif"])
    assert sizes == {"photos": (W, H, True), "paired": (H, W, False)}
    assert read_rgb(str(photos / "p.jpg"), apply_exif=True).shape[:2] == (W, H)
    assert os.path.isfile(tmp_path / "pre_photos" / "tiles" / "p_t0000.bin")
