"""src.metrics against an independent re-implementation of the MATLAB protocol (Restormer .m)."""

import csv
import math

import numpy as np
import pytest
from scipy.signal import convolve2d
from skimage.color import rgb2ycbcr
from skimage.data import astronaut

from src import metrics as M


# --------------------------------------------------------------------------- reference protocol
def ref_y(img):
    """MATLAB rgb2ycbcr(uint8) channel 1, written from the formula: round half away from zero."""
    rgb = img.astype(np.float64)
    y = 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0
    return np.floor(y + 0.5)


def ref_psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 20.0 * np.log10(255.0 / np.sqrt(mse))


def ref_ssim(a, b):
    """Zhou Wang's ssim_index.m: fspecial('gaussian', 11, 1.5), filter2(..., 'valid')."""
    r = np.arange(-5, 6, dtype=np.float64)
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 1.5**2))
    w = g / g.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    a, b = a.astype(np.float64), b.astype(np.float64)

    def filt(x):
        return convolve2d(x, w, mode="valid")  # w is symmetric: convolution = correlation

    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a**2
    var_b = filt(b * b) - mu_b**2
    cov = filt(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    smap = num / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return smap.mean()


def degrade(gt, seed, sigma=6.0, stripe=8.0):
    """gt + Gaussian noise + horizontal stripes, quantised to uint8."""
    rng = np.random.default_rng(seed)
    stripes = stripe * np.sin(np.arange(gt.shape[0]) / 3.0)[:, None, None]
    return np.clip(np.round(gt + rng.normal(0, sigma, gt.shape) + stripes), 0, 255).astype(np.uint8)


FIXTURES = [
    ("astronaut_480x512", (slice(0, 480), slice(0, 512)), 0),
    ("odd_37x53", (slice(100, 137), slice(200, 253)), 1),
    ("odd_121x77", (slice(7, 128), slice(300, 377)), 2),
    ("min_11x11", (slice(250, 261), slice(250, 261)), 3),
]


@pytest.fixture(scope="module")
def astro():
    return astronaut()


@pytest.mark.parametrize("name,crop,seed", FIXTURES, ids=[f[0] for f in FIXTURES])
def test_matches_independent_matlab_protocol(astro, name, crop, seed):
    gt = np.ascontiguousarray(astro[crop])
    pred = degrade(gt, seed)
    got = M.score_pair(pred, gt)
    y_p, y_g = ref_y(pred), ref_y(gt)
    assert got["psnr_y"] == pytest.approx(ref_psnr(y_p, y_g), abs=1e-4)
    assert got["ssim_y"] == pytest.approx(ref_ssim(y_p, y_g), abs=1e-5)
    assert got["psnr_rgb"] == pytest.approx(ref_psnr(pred, gt), abs=1e-4)
    ref_rgb = np.mean([ref_ssim(pred[..., c], gt[..., c]) for c in range(3)])
    assert got["ssim_rgb"] == pytest.approx(ref_rgb, abs=1e-5)
    # the single-metric functions agree with score_pair
    assert M.psnr_y(pred, gt) == got["psnr_y"] and M.ssim_y(pred, gt) == got["ssim_y"]
    assert M.psnr_rgb(pred, gt) == got["psnr_rgb"] and M.ssim_rgb(pred, gt) == got["ssim_rgb"]


def test_rounded_y_differs_from_float_y(astro):
    """The protocol rounds Y: an unrounded (BasicSR-style) Y would give a different PSNR."""
    gt = astro[:480, :512]
    pred = degrade(gt, 0)

    def unrounded(im):
        return 16.0 + (im.astype(np.float64) @ np.array([65.481, 128.553, 24.966])) / 255.0

    float_psnr = ref_psnr(unrounded(pred), unrounded(gt))
    assert abs(M.psnr_y(pred, gt) - float_psnr) > 1e-3


def test_rgb_to_y_matches_formula_and_skimage():
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, size=(97, 89, 3), dtype=np.uint8)
    img[0, :4] = [[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 0, 255]]
    y = M.rgb_to_y(img)
    assert y.dtype == np.uint8 and y.shape == img.shape[:2]
    assert y[0, 0] == 16 and y[0, 1] == 235
    exact = ref_y(img)
    sk = np.floor(rgb2ycbcr(img)[..., 0] + 0.5)  # skimage: float Y with the same BT.601 matrix
    # exact .5 ties may round either way in float formulations (tested separately): leave them out
    num = img.astype(np.int64) @ np.array([65481, 128553, 24966]) + 16 * 255000
    ok = (2 * num) % 510000 != 255000
    assert ok.sum() > 0.99 * ok.size
    assert np.array_equal(y[ok], exact[ok]) and np.array_equal(y[ok], sk[ok])


def test_rgb_to_y_rounds_exact_ties_up():
    """Colours whose Y is exactly k + 0.5 (found with integer arithmetic) round to k + 1."""
    r, g, b = np.meshgrid(np.arange(256), np.arange(256), np.arange(0, 256, 5), indexing="ij")
    num = 65481 * r + 128553 * g + 24966 * b + 16 * 255000  # = 255000 * Y
    tie = (2 * num) % 510000 == 255000
    assert tie.any()
    img = np.stack([r[tie], g[tie], b[tie]], -1).astype(np.uint8)[None]
    expect = (num[tie] // 255000) + 1  # floor(k + 0.5) + 1 = k + 1
    assert np.array_equal(M.rgb_to_y(img)[0], expect)


def test_identical_images_inf_psnr_ssim_one(astro):
    img = np.ascontiguousarray(astro[:64, :80])
    s = M.score_pair(img, img.copy())
    assert s["psnr_y"] == math.inf and s["psnr_rgb"] == math.inf
    assert s["ssim_y"] == pytest.approx(1.0, abs=1e-12)
    assert s["ssim_rgb"] == pytest.approx(1.0, abs=1e-12)


def test_crop_border_equals_scoring_the_crop(astro):
    gt = np.ascontiguousarray(astro[:60, :70])
    pred = degrade(gt, 9)
    got = M.score_pair(pred, gt, crop_border=4)
    ref = M.score_pair(pred[4:-4, 4:-4].copy(), gt[4:-4, 4:-4].copy())
    assert got == ref and got != M.score_pair(pred, gt)
    assert "crop 4 px" in M.describe_protocol(4) and "no crop" in M.PROTOCOL


@pytest.mark.parametrize(
    "pred,target,err,msg",
    [
        (np.zeros((32, 32, 3), np.float32), np.zeros((32, 32, 3), np.uint8), TypeError, "uint8"),
        (np.zeros((32, 32, 3), np.uint8), np.zeros((32, 32, 3), np.uint16), TypeError, "uint8"),
        (np.zeros((32, 32, 3), np.uint8), np.zeros((64, 64, 3), np.uint8), ValueError, "resized"),
        (np.zeros((32, 32), np.uint8), np.zeros((32, 32), np.uint8), ValueError, "HxWx3"),
        (np.zeros((32, 32, 4), np.uint8), np.zeros((32, 32, 4), np.uint8), ValueError, "HxWx3"),
        (np.zeros((0, 32, 3), np.uint8), np.zeros((0, 32, 3), np.uint8), ValueError, "empty"),
        ([[[0, 0, 0]]], np.zeros((1, 1, 3), np.uint8), TypeError, "numpy"),
        (np.zeros((10, 32, 3), np.uint8), np.zeros((10, 32, 3), np.uint8), ValueError, "11x11"),
    ],
)
def test_bad_inputs_raise(pred, target, err, msg):
    with pytest.raises(err, match=msg):
        M.score_pair(pred, target)


def test_bad_crop_border_raises():
    img = np.zeros((20, 20, 3), np.uint8)
    with pytest.raises(ValueError, match="crop_border"):
        M.psnr_y(img, img, crop_border=10)
    with pytest.raises(ValueError, match="crop_border"):
        M.psnr_y(img, img, crop_border=-1)


def test_to_uint8_rounding_layouts_and_errors():
    k = np.arange(255, dtype=np.float64)
    half = (k + 0.5) / 255.0  # in float64, half * 255 == k + 0.5 exactly for every k
    assert np.all(half * 255.0 == k + 0.5)
    below = (k + 0.49) / 255.0
    hwc = np.stack([half, below, half], -1)[None]  # 1 x 255 x 3, HWC
    out = M.to_uint8(hwc)
    assert out.dtype == np.uint8 and out.shape == (1, 255, 3)
    assert np.array_equal(out[0, :, 1], k.astype(np.uint8))  # below the half: k
    assert np.array_equal(out[0, :, 0], (k + 1).astype(np.uint8))  # half rounds up (np.round: even)
    x32 = np.random.default_rng(0).random((20, 30, 3), dtype=np.float32)
    assert np.array_equal(M.to_uint8(x32), np.floor(x32.astype(np.float64) * 255 + 0.5))
    clip = M.to_uint8(np.array([[[-0.2, 1.7, 0.999]]], np.float32))
    assert clip.tolist() == [[[0, 255, 255]]]
    chw = np.ascontiguousarray(hwc.transpose(2, 0, 1))
    assert np.array_equal(M.to_uint8(chw), out)
    assert np.array_equal(M.to_uint8(chw[None]), out)
    with pytest.raises(ValueError, match="ambiguous"):
        M.to_uint8(np.zeros((3, 5, 3), np.float32))
    assert M.to_uint8(np.zeros((3, 5, 3), np.float32), layout="CHW").shape == (5, 3, 3)
    with pytest.raises(TypeError, match="float"):
        M.to_uint8(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="NaN"):
        M.to_uint8(np.full((4, 4, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match="shape"):
        M.to_uint8(np.zeros((4, 4), np.float32))


def test_accumulator_means_and_csv(tmp_path, astro):
    gt1 = np.ascontiguousarray(astro[:40, :50])
    gt2 = np.ascontiguousarray(astro[100:140, 100:150])
    p1, p2, p3 = degrade(gt1, 1), degrade(gt2, 2), degrade(gt1, 3, sigma=12)
    acc = M.MetricAccumulator("Rain100H")
    acc.add("a.png", p1, gt1, task="rain")
    acc.add("b.png", p2, gt2, task="snow")
    row = acc.add("c.png", p3, gt1, task="rain")
    assert len(acc) == 3 and row == {"name": "c.png", "task": "rain", **M.score_pair(p3, gt1)}
    means = acc.means()
    assert list(means) == ["all", "rain", "snow"]
    rain = [M.score_pair(p1, gt1), M.score_pair(p3, gt1)]
    for key in M.METRICS:
        assert means["rain"][key] == pytest.approx((rain[0][key] + rain[1][key]) / 2, abs=1e-12)
        assert means["all"][key] == pytest.approx(np.mean([r[key] for r in acc.rows]), abs=1e-12)
    assert means["all"]["count"] == 3 and means["snow"]["count"] == 1
    lines = acc.summary_lines()
    assert M.PROTOCOL in lines[0] and "Rain100H" in lines[0] and len(lines) == 4

    path = acc.write_csv(str(tmp_path / "sub" / "scores.csv"))
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == M.COLUMNS
    assert M.COLUMNS == ("name", "task", "psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")
    assert [r[:2] for r in rows[1:]] == [["a.png", "rain"], ["b.png", "snow"], ["c.png", "rain"]]
    assert float(rows[1][2]) == pytest.approx(acc.rows[0]["psnr_y"], abs=1e-6)
    assert float(rows[3][5]) == pytest.approx(acc.rows[2]["ssim_rgb"], abs=1e-8)

    acc.write_csv(str(tmp_path / "with_means.csv"), include_means=True)
    with open(tmp_path / "with_means.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    tail = [(r["name"], r["task"]) for r in rows[3:]]
    assert tail == [("<mean>", "all"), ("<mean>", "rain"), ("<mean>", "snow")]
    assert float(rows[3]["psnr_y"]) == pytest.approx(means["all"]["psnr_y"], abs=1e-6)


def test_accumulator_edge_cases(tmp_path):
    acc = M.MetricAccumulator()
    with pytest.raises(ValueError, match="no images"):
        acc.means()
    with pytest.raises(ValueError, match="reserved"):
        acc.add_row("x", "all", 30, 0.9, 29, 0.8)
    img = np.full((16, 16, 3), 7, np.uint8)
    acc.add("same", img, img)
    acc.add_row("other", "", 30.0, 0.5, 28.0, 0.4)
    assert acc.means()["all"]["psnr_y"] == math.inf  # inf is not silently dropped
    acc.write_csv(str(tmp_path / "x.csv"))
    assert "inf" in (tmp_path / "x.csv").read_text()
