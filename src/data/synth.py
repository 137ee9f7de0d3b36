"""Synthetic rain and snow, folder synthesis, and the demo-set builder.

Rain (additive-streak model, screen blend): 1-3 layers of drops, widened and motion-blurred along
a common direction into streaks, blended as ``O = 1 - (1 - B)(1 - S)``; optionally a haze veil
``I = O*T + A(1 - T)`` with ``T = exp(-beta*d)`` over a smooth depth proxy ``d``.
Snow (mask model): 2-3 layers of round flakes (small, middle, large), Gaussian- and motion-blurred,
composited as ``K = B(1 - Z) + C*Z`` with a near-white colour C, then a veil as above.
An intensity level per rendering spans light to heavy weather (``RAIN_RANGES``, ``SNOW_RANGES``).
All parameters are drawn from a generator seeded by (seed, file name, copy, task), so a file's
rendering does not depend on which other files are in the folder.
"""

import json
import os
import shutil
import zlib

import cv2
import numpy as np

from src.data.image_io import ImageReadError, is_image_file, read_rgb, write_rgb
from src.data.labels import LABELS, TASKS
from src.errors import UsageError
from src.logs import get_logger

logger = get_logger(__name__)

# What the renderers draw; results made with another version are not comparable (the study checks
# it). 1: the first corpus ranges; 2: the rain veil has its own density and a grey-to-bright light;
# 3: rain adds far-rain mist and ground splashes (heavy real downpours show both); 4: the veil's
# far-to-near ramp spans the photo (a crop sees a window of it) and light rain is seldom veiled;
# 5: far rain also as short, brighter grain (a downpour's fine drops); 6: the rain veil is never thin
# (optical depth from 0.5, was 0.3): a thinner veil is indistinguishable from a scene's own haze.
SYNTH_VERSION = 6
DEMO_VERSION = 7  # 2: val renderings; 3: rendered by SYNTH_VERSION 2; 4: by 3; 5: by 4; 6: by 5; 7: by 6
# (older demos are rebuilt in place, see build_demo)
DEMO_MARKER = "demo.json"
SYNTH_MARKER = "synth.json"
# scikit-image photos that ship with the wheel (no download). chelsea == cat, so only one is used.
DEMO_TRAIN = ("astronaut", "coffee", "motorcycle_left", "motorcycle_right")
DEMO_TEST = ("chelsea", "rocket")
DEMO_TRAIN_COPIES = 4
DEMO_TEST_COPIES = 2
# Validation (best.ckpt, LR schedule): further renderings of the TRAINING photos, copy numbers
# DEMO_TRAIN_COPIES.. (so other rain/snow than any training copy), never trained on; the test photos
# are only used for the reported numbers.
DEMO_VAL_COPIES = 1
DEMO_SPLITS = ("train", "val", "test")


def _line_kernel(length, angle_deg):
    """A normalised motion-blur kernel: a line of ``length`` px, ``angle`` degrees from vertical."""
    length = max(int(length) | 1, 3)
    k = np.zeros((length, length), np.float32)
    c = length // 2
    a = np.deg2rad(angle_deg)
    dx, dy = np.sin(a) * c, np.cos(a) * c
    cv2.line(k, (int(round(c - dx)), int(round(c - dy))), (int(round(c + dx)), int(round(c + dy))), 1.0, 1, cv2.LINE_AA)
    return k / max(k.sum(), 1e-6)


def _veil(img, rng, beta, light, scale):
    """Blend towards atmospheric light ``light`` with a smooth depth proxy (top = far)."""
    t = np.exp(-beta * _depth(img.shape[0], img.shape[1], rng, scale))[:, :, None]
    return img * t + light * (1.0 - t)


# Ranges of the degradations (docs/synthesis.md explains how they were chosen against real pairs).
# Rain: an intensity level u ~ U(0, 1) sets density, length, width and brightness together, from
# thin sparse short streaks (u ≈ 0: light-rain benchmarks, input PSNR-Y ≈ 26-34 dB) to dense, long,
# bright streaks (u ≈ 1: heavy-rain benchmarks, 10-20 dB); a veil of its own density at any level
# (rain + fog benchmarks of the Outdoor-Rain kind pair fine streaks with a dense grey veil). Lengths are in pixels of a
# ~500 px photo (``scale`` = 1).
RAIN_RANGES = dict(
    layers=(1, 3),  # streak layers, each with its own density/length around the level
    density=(0.0008, 0.0030),  # drops per pixel, light → heavy (log-interpolated by u)
    length=(20.0, 62.0),  # streak length (px)
    width=(1.0, 2.6),  # streak width (px, by dilating drops; rounded, 1-3)
    brightness=(0.3, 0.72),  # peak streak intensity
    angle=(-25.0, 25.0),  # common direction, degrees from vertical (±4° per layer)
    blur=(0.3, 1.2),  # Gaussian blur of the streaks (σ, px)
    veil_prob=(0.05, 0.5),  # chance of a haze veil, light → heavy streaks (v3: 0.2 at light)
    veil_beta=(0.5, 1.6),  # veil optical depth (transmission exp(-β d)), its own level (v5: from 0.3)
    veil_light=(0.45, 0.98),  # atmospheric light: grey (Outdoor-Rain kind) to bright
    mist_prob=(0.0, 0.6),  # chance of far rain (a textured, directional white haze), light → heavy
    mist_density=(0.02, 0.05),  # its drops per pixel (any level)
    mist_length=(8.0, 70.0),  # its streak length (px; short = the grain of a downpour's fine drops)
    mist_brightness=(0.06, 0.16),  # its per-drop brightness (dim: it shows as haze, not as streaks)
    mist_grain=(0.12, 0.35),  # per-drop brightness of far streaks shorter than GRAIN_LENGTH (visible grain)
    mist_grain_blur=(0.5, 1.2),  # and their Gaussian blur σ (px)
    mist_blur=(1.2, 3.0),  # its Gaussian blur σ (px)
    splash_prob=(0.05, 0.6),  # chance of splashes on the ground, light → heavy
    splash_density=(0.0004, 0.003),  # splashes per pixel where the ground is (log-interpolated by u)
    splash_radius=(0.6, 2.2),  # splash half-height × 1/0.6 (flat ellipses 1.6r × 0.6r, px)
    splash_brightness=(0.3, 0.8),
)
GRAIN_LENGTH = 25.0  # far rain shorter than this (px) is drawn as a downpour's grain, longer as a haze

# Snow: a level u sets flake counts and sizes, from small dense flakes (Snow100K-S kind) to large
# flakes with a strong veil (Snow100K-L, CSD kind).
SNOW_RANGES = dict(
    small_area=(600.0, 120.0),  # px² per small flake (r 0.6-1.5 px), sparse → dense
    mid_area=(6000.0, 700.0),  # px² per middle flake (r 1.5-3.5 px)
    large_area=(40000.0, 2500.0),  # px² per large flake (r 3.5-8 px); drawn with probability u
    opacity=(0.45, 1.0),
    motion=(0.0, 12.0),  # motion-blur length (px) of each layer
    angle=(-30.0, 30.0),
    veil_beta=(0.0, 0.9),  # veil optical depth, light → heavy
    veil_light=(0.8, 1.0),
)


def _lerp(lo_hi, u):
    lo, hi = lo_hi
    return lo + (hi - lo) * u


def _loglerp(lo_hi, u):
    lo, hi = lo_hi
    return float(np.exp(np.log(lo) + (np.log(hi) - np.log(lo)) * u))


def _streak_layer(rng, shape, density, width, length, angle, brightness, blur):
    """One layer of streaks: drops at ``density`` per pixel, ``width`` px wide, motion-blurred
    ``length`` px along ``angle``, peak ``brightness``, softened by a Gaussian of σ ``blur``."""
    drops = (rng.random(shape) < density).astype(np.float32) * rng.uniform(0.5, 1.0, shape).astype(np.float32)
    if width > 1:
        drops = cv2.dilate(drops, np.ones((1, width), np.uint8))
    layer = cv2.filter2D(drops, -1, _line_kernel(length, angle))
    layer = np.clip(layer * max(length, 3.0) * brightness, 0, 1)
    return cv2.GaussianBlur(layer, (0, 0), blur)


def _depth(h, w, rng, scale):
    """A smooth depth proxy in [0, 1] (top = far), with low-frequency noise. The far-to-near ramp
    and the noise span a photo of 512·``scale`` px: a smaller crop sees a random window of them,
    so a training crop is veiled about as evenly as the same region of a whole photo."""
    frame = 512.0 * scale
    span_y, span_x = min(h / frame, 1.0), min(w / frame, 1.0)
    top, left = rng.uniform(0.0, 1.0 - span_y), rng.uniform(0.0, 1.0 - span_x)
    ys = (top + span_y * (np.arange(h, dtype=np.float32) + 0.5) / h)[:, None] * np.ones((1, w), np.float32)
    xs = (left + span_x * (np.arange(w, dtype=np.float32) + 0.5) / w)[None, :] * np.ones((h, 1), np.float32)
    grid = rng.random((4, 4)).astype(np.float32)  # the photo's noise, sampled where the window lies
    noise = cv2.remap(grid, xs * 4 - 0.5, ys * 4 - 0.5, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    return np.clip(0.75 * (1.0 - 0.7 * ys) + 0.25 * noise, 0, 1)


def _splash_layer(rng, h, w, u, scale):
    """Splashes: small flat bright ellipses whose density rises towards the bottom of the frame
    from a random row (the ground; a crop may show only ground, so the row can lie above it)."""
    R = RAIN_RANGES
    start = rng.uniform(-0.5, 0.7)
    rows = np.clip((np.linspace(0, 1, h, dtype=np.float32) - start) / (1 - start), 0, 1)
    n = int(h * w * _loglerp(R["splash_density"], u) * float(rows.mean()) / (scale * scale))
    layer = np.zeros((h, w), np.float32)
    if n < 1:
        return layer
    ys = rng.choice(h, size=n, p=rows / rows.sum())
    xs = rng.integers(0, w, n)
    radii = rng.uniform(*R["splash_radius"], n) * scale
    alphas = rng.uniform(*R["splash_brightness"], n)
    for y, x, r, a in zip(ys, xs, radii, alphas):
        axes = (max(int(round(1.6 * r)), 1), max(int(round(0.6 * r)), 1))
        cv2.ellipse(layer, (int(x), int(y)), axes, 0.0, 0.0, 360.0, float(a), -1, cv2.LINE_AA)
    return cv2.GaussianBlur(layer, (0, 0), 0.6)


def add_rain(clean, rng, haze=None, level=None, scale=None, mist=None, splash=None):
    """Render rain streaks over a uint8 RGB image; returns uint8 (screen blend O = 1-(1-B)(1-S),
    then optionally the veil I = O·T + A(1-T)). ``level`` in [0, 1] (drawn when None) sets the
    intensity; ``haze`` True/False forces the veil, None draws it with a level-dependent chance;
    ``mist`` (far rain) and ``splash`` (ground splashes) likewise;
    ``scale`` multiplies every length (default: image size / 512, so a photo renders alike at any
    resolution)."""
    R = RAIN_RANGES
    img = clean.astype(np.float32) / 255.0
    h, w = img.shape[:2]
    scale = max(h, w) / 512.0 if scale is None else float(scale)
    u = float(rng.random()) if level is None else float(level)
    base_angle = rng.uniform(*R["angle"])
    streaks = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(R["layers"][0], R["layers"][1] + 1))):
        v = float(np.clip(u + rng.uniform(-0.15, 0.15), 0, 1))
        width = int(np.clip(round(_lerp(R["width"], v) + rng.uniform(-0.5, 0.5)), 1, 3))
        length = _lerp(R["length"], v) * rng.uniform(0.6, 1.3) * scale
        layer = _streak_layer(
            rng,
            (h, w),
            _loglerp(R["density"], v) / scale,
            width,
            length,
            base_angle + rng.uniform(-4, 4),
            _lerp(R["brightness"], v) * rng.uniform(0.8, 1.1),
            rng.uniform(*R["blur"]),
        )
        streaks = 1 - (1 - streaks) * (1 - layer)
    draw = rng.random() < _lerp(R["mist_prob"], u)
    if draw if mist is None else mist:  # far rain: dense, dim, soft streaks, denser far away
        length = rng.uniform(*R["mist_length"])
        grain = length < GRAIN_LENGTH  # short far streaks: the grain of a downpour's fine drops, not a haze
        light = rng.uniform(*R["mist_grain" if grain else "mist_brightness"])
        blur = rng.uniform(*R["mist_grain_blur" if grain else "mist_blur"]) * max(scale, 0.5)
        far = _streak_layer(
            rng,
            (h, w),
            rng.uniform(*R["mist_density"]) / scale,
            1,
            length * scale,
            base_angle + rng.uniform(-4, 4),
            light,
            blur,
        )
        streaks = 1 - (1 - streaks) * (1 - far * _depth(h, w, rng, scale))
    draw = rng.random() < _lerp(R["splash_prob"], u)
    if draw if splash is None else splash:  # drops bursting on the ground: flat bright blobs, near = low
        streaks = 1 - (1 - streaks) * (1 - _splash_layer(rng, h, w, u, scale))
    tint = rng.uniform(0.9, 1.0, 3).astype(np.float32)
    out = 1 - (1 - img) * (1 - streaks[:, :, None] * tint)
    if haze is None:
        haze = rng.random() < _lerp(R["veil_prob"], u)
    if haze:  # the veil's density is drawn apart from the streak level: fine streaks in dense fog occur
        out = _veil(out, rng, rng.uniform(*R["veil_beta"]), rng.uniform(*R["veil_light"]), scale)
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)


def add_veil(clean, rng, scale, beta):
    """A hazy photo without weather (the corpus's ``scene_haze``): the veil of :func:`add_rain`
    (its ``veil_light`` range) at an optical depth drawn in ``beta`` alone over a uint8 RGB image;
    returns uint8."""
    img = clean.astype(np.float32) / 255.0
    out = _veil(img, rng, rng.uniform(*beta), rng.uniform(*RAIN_RANGES["veil_light"]), float(scale))
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)


def _flake_layer(h, w, rng, n, radius, opacity, scale):
    layer = np.zeros((h, w), np.float32)
    ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
    radii = rng.uniform(radius[0], radius[1], n) * scale
    alphas = rng.uniform(opacity[0], opacity[1], n)
    for y, x, r, a in zip(ys, xs, radii, alphas):
        cv2.circle(layer, (int(x), int(y)), max(int(round(r)), 1), float(a), -1, cv2.LINE_AA)
    return cv2.GaussianBlur(layer, (0, 0), max(0.3 * (radius[0] + radius[1]) / 2 * scale, 0.5))


def add_snow(clean, rng, veil=True, level=None, scale=None):
    """Render 2-3 layers of snowflakes (small, middle, large) and a veil over a uint8 RGB image;
    returns uint8 (mask model K = B(1-Z) + C·Z). ``level`` in [0, 1] (drawn when None) sets the
    flake counts, the chance of large flakes and the veil; ``scale`` as in :func:`add_rain`."""
    R = SNOW_RANGES
    img = clean.astype(np.float32) / 255.0
    h, w = img.shape[:2]
    scale = max(h, w) / 512.0 if scale is None else float(scale)
    u = float(rng.random()) if level is None else float(level)
    layers = [(0.6, 1.5, R["small_area"]), (1.5, 3.5, R["mid_area"])]
    if rng.random() < 0.2 + 0.8 * u:
        layers.append((3.5, 8.0, R["large_area"]))
    angle = rng.uniform(*R["angle"])
    mask = np.zeros((h, w), np.float32)
    for r_lo, r_hi, area in layers:
        v = float(np.clip(u + rng.uniform(-0.2, 0.2), 0, 1))
        n = max(int(h * w / (_loglerp(area, v) * scale * scale)), 1)
        layer = _flake_layer(h, w, rng, n, (r_lo, r_hi), R["opacity"], scale)
        blur_len = rng.uniform(*R["motion"]) * scale
        if blur_len >= 3:
            layer = cv2.filter2D(layer, -1, _line_kernel(blur_len, angle))
        mask = 1 - (1 - mask) * (1 - np.clip(layer, 0, 1))
    colour = rng.uniform(0.88, 1.0) * rng.uniform(0.97, 1.0, 3).astype(np.float32)
    out = img * (1 - mask[:, :, None]) + colour * mask[:, :, None]
    if veil:
        out = _veil(out, rng, _lerp(R["veil_beta"], u) * rng.uniform(0.5, 1.2), rng.uniform(*R["veil_light"]), scale)
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)


def degrade(clean, task, rng, scale=1.0):
    """One fresh rain or snow rendering of ``clean`` (a training crop) from ``rng``: the corpus
    pipeline's degradation, lengths in pixels of a ~500 px photo."""
    if task == "rain":
        return add_rain(clean, rng, scale=scale)
    return add_snow(clean, rng, scale=scale)


def render(clean, task, seed, name, copy=0, haze=None):
    """Deterministic rain/snow rendering of ``clean`` for (seed, name, copy). ``haze``: None = the
    level-dependent veil chance, a number in [0, 1] = that chance, True/False = always/never."""
    rng = np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8")), int(copy), LABELS[task]])
    if task == "rain":
        if haze is not None and not isinstance(haze, bool):
            haze = bool(rng.random() < float(haze))
        return add_rain(clean, rng, haze=haze)
    return add_snow(clean, rng)


def _prepare_dst(dst, overwrite):
    dst = os.path.abspath(dst)
    if os.path.exists(dst) and not overwrite:
        raise FileExistsError(f"{dst} already exists; pass --overwrite to replace it or choose another --dst")
    tmp = f"{dst}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    return dst, tmp


def _publish(tmp, dst):
    """Move a finished temporary folder into place (replacing an old one)."""
    if os.path.exists(dst):
        old = f"{dst}.old-{os.getpid()}"
        os.rename(dst, old)
        os.rename(tmp, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, dst)


def _write_pairs(out_dir, photos, task, seed, copies, haze, first_copy=0):
    """Render ``copies`` degraded versions (copy numbers ``first_copy``..) of each (name, rgb) into
    out_dir/{input,target}."""
    n = 0
    for name, rgb in photos:
        for k in range(first_copy, first_copy + copies):
            fname = f"{name}.png" if copies == 1 and first_copy == 0 else f"{name}_{k}.png"
            write_rgb(os.path.join(out_dir, "input", fname), render(rgb, task, seed, name, k, haze))
            write_rgb(os.path.join(out_dir, "target", fname), rgb)
            n += 1
    return n


def synthesize_folder(src, dst, task, seed=0, copies=1, haze=0.3, overwrite=False, skip_bad=False):
    """Turn a folder of clean images into a paired set ``dst/{input,target}`` (PNG). Returns the count.

    Built in a temporary folder and renamed into place; refuses an existing ``dst`` unless
    ``overwrite``. Unreadable sources stop the run unless ``skip_bad`` (then they are listed).
    """
    if task not in TASKS:
        raise UsageError(f"--task {task!r} is not valid; use rain or snow")
    if int(copies) < 1:
        raise UsageError(f"--copies must be at least 1 (got {copies})")
    if not os.path.isdir(src):
        raise UsageError(f"--src {src} is not a folder of clean images")
    files = sorted(f for f in os.listdir(src) if not f.startswith("."))
    images = [f for f in files if is_image_file(f)]
    if not images:
        raise UsageError(f"--src {src} holds no images ({', '.join(f for f in files[:3]) or 'empty'})")
    stems = {}
    for f in images:
        stems.setdefault(os.path.splitext(f)[0], []).append(f)
    clashes = [v for v in stems.values() if len(v) > 1]
    if clashes:
        raise UsageError(
            f"--src {src}: several files share a name: {', '.join('/'.join(c) for c in clashes[:3])}; " "rename them"
        )
    if len(files) > len(images):
        logger.info(f"  ignored {len(files) - len(images)} non-image file(s) in {src}")
    bad = []

    def photos():  # streamed, so a large folder is never held in memory
        for f in images:
            try:
                yield os.path.splitext(f)[0], read_rgb(os.path.join(src, f))
            except ImageReadError as exc:
                bad.append(str(exc))
                logger.info(f"  unreadable source: {exc}")

    dst, tmp = _prepare_dst(dst, overwrite)
    try:
        n = _write_pairs(tmp, photos(), task, seed, int(copies), haze)
        if bad and not skip_bad:
            raise UsageError(
                f"{len(bad)} unreadable image(s) in --src {src} (listed above); fix them or "
                "pass --skip_bad to leave them out"
            )
        meta = {
            "task": task,
            "seed": int(seed),
            "copies": int(copies),
            "haze": float(haze),
            "src": os.path.abspath(src),
            "pairs": n,
            "left_out": bad,
        }
        with open(os.path.join(tmp, SYNTH_MARKER), "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=1)
        _publish(tmp, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info(
        f"wrote {n} {task} pairs to {dst}/{{input,target}} (seed {seed}, {copies} per image)"
        + (f"; left out {len(bad)} unreadable source(s)" if bad else "")
    )
    return n


def demo_photos(names):
    """The named scikit-image photos as uint8 RGB (all ship with the wheel; no download)."""
    from skimage import data as skd

    out = []
    for name in names:
        if name.startswith("motorcycle_"):
            left, right, _ = skd.stereo_motorcycle()
            img = left if name.endswith("left") else right
        else:
            img = getattr(skd, name)()
        out.append((name, np.ascontiguousarray(img[:, :, :3].astype(np.uint8))))
    return out


def demo_version(dst):
    """The version in ``dst``'s demo marker, or None when there is no readable marker."""
    try:
        with open(os.path.join(dst, DEMO_MARKER), encoding="utf-8") as fh:
            return json.load(fh).get("version")
    except (OSError, ValueError, AttributeError):
        return None


def demo_is_current(dst):
    """True when ``dst`` holds a complete demo set built by this code's DEMO_VERSION."""
    return demo_version(dst) == DEMO_VERSION


def _only_demo_files(dst):
    """True when ``dst`` holds nothing but what build_demo writes (so rebuilding it loses nothing)."""
    for entry in os.listdir(dst):
        path = os.path.join(dst, entry)
        if entry == DEMO_MARKER:
            continue
        if entry not in TASKS or not os.path.isdir(path):
            return False
        for split in os.listdir(path):
            if split not in DEMO_SPLITS or not os.path.isdir(os.path.join(path, split)):
                return False
            if set(os.listdir(os.path.join(path, split))) - {"input", "target"}:
                return False
    return True


def build_demo(dst="data/demo", seed=0, overwrite=False):
    """Build the demo set (rain and snow; train and test from different photos, val = other
    renderings of the training photos); returns its path.

    Idempotent: a complete demo (its ``demo.json`` marker, same seed and version) is left as is.
    A demo of an older version (e.g. version 1, without val) holding only the demo's own files is
    rebuilt in place from the photos; anything else is refused with what to do.
    Built in a temporary folder and renamed, so a half-built folder never looks complete.
    """
    dst = os.path.abspath(dst)
    marker = os.path.join(dst, DEMO_MARKER)
    if os.path.isfile(marker) and not overwrite:
        with open(marker, encoding="utf-8") as fh:
            meta = json.load(fh)
        version = meta.get("version")
        if version == DEMO_VERSION:
            if meta.get("seed") == int(seed):
                logger.info(f"demo set already complete at {dst}")
                return dst
            raise FileExistsError(
                f"{dst} holds a demo built with seed {meta.get('seed')} (version "
                f"{version}); pass --overwrite to rebuild it with seed {seed}"
            )
        older = isinstance(version, int) and version < DEMO_VERSION
        if not (older and _only_demo_files(dst)):
            raise FileExistsError(
                f"{dst} holds a demo of version {version} (this code builds version {DEMO_VERSION}, "
                "with validation renderings under */val, rendered by synthesis version "
                f"{SYNTH_VERSION})"
                + ("" if older else ", or files the demo builder did not write")
                + "; rebuild it with `python prepare_data.py demo --dst "
                + dst
                + " --overwrite` "
                "or remove it"
            )
        logger.info(
            f"{dst} holds a version {version} demo (older renderings): rebuilding it as version " f"{DEMO_VERSION}"
        )
    elif os.path.exists(dst) and not overwrite:
        raise FileExistsError(
            f"{dst} exists but is not a complete demo set (no {DEMO_MARKER}); remove it " "or pass --overwrite"
        )
    dst, tmp = _prepare_dst(dst, True)
    counts = {}
    plan = (
        ("train", DEMO_TRAIN, DEMO_TRAIN_COPIES, 0),
        ("val", DEMO_TRAIN, DEMO_VAL_COPIES, DEMO_TRAIN_COPIES),  # held out: never trained on
        ("test", DEMO_TEST, DEMO_TEST_COPIES, 0),
    )
    loaded = {}
    try:
        for split, names, copies, first in plan:
            if names not in loaded:
                loaded[names] = demo_photos(names)
            photos = loaded[names]
            for task in TASKS:
                counts[f"{task}/{split}"] = _write_pairs(
                    os.path.join(tmp, task, split), photos, task, seed, copies, haze=0.3, first_copy=first
                )
        meta = {
            "version": DEMO_VERSION,
            "seed": int(seed),
            "train_photos": list(DEMO_TRAIN),
            "val": f"the training photos, copies {DEMO_TRAIN_COPIES}..{DEMO_TRAIN_COPIES + DEMO_VAL_COPIES - 1}",
            "test_photos": list(DEMO_TEST),
            "pairs": counts,
        }
        with open(os.path.join(tmp, DEMO_MARKER), "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=1)
        _publish(tmp, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info(f"built demo set at {dst}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return dst
