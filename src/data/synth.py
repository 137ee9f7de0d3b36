"""Synthetic rain and snow, folder synthesis, and the demo-set builder.

Rain (additive-streak model, screen blend): 1-2 layers of sparse drops, motion-blurred along a
common direction into streaks, blended as ``O = 1 - (1 - B)(1 - S)``; optionally a haze veil
``I = O*T + A(1 - T)`` with ``T = exp(-beta*d)`` over a smooth depth proxy ``d``.
Snow (mask model): 2-3 layers of round flakes (small, middle, large), Gaussian- and motion-blurred,
composited as ``K = B(1 - Z) + C*Z`` with a near-white colour C, then a light veil as above.
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

DEMO_VERSION = 1
DEMO_MARKER = "demo.json"
SYNTH_MARKER = "synth.json"
# scikit-image photos that ship with the wheel (no download). chelsea == cat, so only one is used.
DEMO_TRAIN = ("astronaut", "coffee", "motorcycle_left", "motorcycle_right")
DEMO_TEST = ("chelsea", "rocket")
DEMO_TRAIN_COPIES = 4
DEMO_TEST_COPIES = 2


def _line_kernel(length, angle_deg):
    """A normalised motion-blur kernel: a line of ``length`` px, ``angle`` degrees from vertical."""
    length = max(int(length) | 1, 3)
    k = np.zeros((length, length), np.float32)
    c = length // 2
    a = np.deg2rad(angle_deg)
    dx, dy = np.sin(a) * c, np.cos(a) * c
    cv2.line(k, (int(round(c - dx)), int(round(c - dy))), (int(round(c + dx)), int(round(c + dy))), 1.0, 1,
             cv2.LINE_AA)
    return k / max(k.sum(), 1e-6)


def _veil(img, rng, beta, light):
    """Blend towards atmospheric light ``light`` with a smooth depth proxy (top = far)."""
    h, w = img.shape[:2]
    ramp = np.linspace(1.0, 0.3, h, dtype=np.float32)[:, None] * np.ones((1, w), np.float32)
    noise = cv2.resize(rng.random((4, 4)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    depth = np.clip(0.75 * ramp + 0.25 * noise, 0, 1)
    t = np.exp(-beta * depth)[:, :, None]
    return img * t + light * (1.0 - t)


def add_rain(clean, rng, haze=False):
    """Render rain streaks (and a haze veil if ``haze``) over a uint8 RGB image; returns uint8."""
    img = clean.astype(np.float32) / 255.0
    h, w = img.shape[:2]
    scale = max(h, w) / 512.0
    base_angle = rng.uniform(-30, 30)
    streaks = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(1, 3))):
        density = rng.uniform(0.002, 0.008)
        drops = (rng.random((h, w)) < density) * rng.uniform(0.6, 1.0, (h, w))
        drops = drops.astype(np.float32)
        if rng.random() < 0.5:  # thicker drops
            drops = cv2.dilate(drops, np.ones((2, 1), np.uint8))
        length = rng.uniform(15, 45) * scale
        layer = cv2.filter2D(drops, -1, _line_kernel(length, base_angle + rng.uniform(-5, 5)))
        layer = np.clip(layer * length * rng.uniform(0.25, 0.5), 0, 1)
        layer = cv2.GaussianBlur(layer, (0, 0), 0.6)
        streaks = 1 - (1 - streaks) * (1 - layer)
    tint = rng.uniform(0.9, 1.0, 3).astype(np.float32)
    out = 1 - (1 - img) * (1 - streaks[:, :, None] * tint)
    if haze:
        out = _veil(out, rng, rng.uniform(0.6, 1.4), rng.uniform(0.75, 0.95))
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)


def add_snow(clean, rng, veil=True):
    """Render 2-3 layers of snowflakes (and a light veil) over a uint8 RGB image; returns uint8."""
    img = clean.astype(np.float32) / 255.0
    h, w = img.shape[:2]
    scale = max(h, w) / 512.0
    layers = [(0.6, 1.5, rng.uniform(150, 600)), (1.5, 3.0, rng.uniform(800, 2500))]
    if rng.random() < 0.7:
        layers.append((3.0, 6.0, rng.uniform(4000, 12000)))
    angle = rng.uniform(-30, 30)
    mask = np.zeros((h, w), np.float32)
    for r_lo, r_hi, area_per_flake in layers:
        layer = np.zeros((h, w), np.float32)
        n = max(int(h * w / (area_per_flake * scale * scale)), 1)
        ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
        radii = rng.uniform(r_lo, r_hi, n) * scale
        alphas = rng.uniform(0.5, 1.0, n)
        for y, x, r, a in zip(ys, xs, radii, alphas):
            cv2.circle(layer, (int(x), int(y)), max(int(round(r)), 1), float(a), -1, cv2.LINE_AA)
        layer = cv2.GaussianBlur(layer, (0, 0), max(0.3 * (r_lo + r_hi) / 2 * scale, 0.5))
        blur_len = rng.uniform(0, 10) * scale
        if blur_len >= 3:
            layer = cv2.filter2D(layer, -1, _line_kernel(blur_len, angle))
        mask = 1 - (1 - mask) * (1 - np.clip(layer, 0, 1))
    colour = rng.uniform(0.88, 1.0) * rng.uniform(0.97, 1.0, 3).astype(np.float32)
    out = img * (1 - mask[:, :, None]) + colour * mask[:, :, None]
    if veil:
        out = _veil(out, rng, rng.uniform(0.2, 0.6), rng.uniform(0.8, 1.0))
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)


def render(clean, task, seed, name, copy=0, haze=0.3):
    """Deterministic rain/snow rendering of ``clean`` for (seed, name, copy)."""
    code = {"rain": 0, "snow": 1}[task]
    rng = np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8")), int(copy), code])
    if task == "rain":
        return add_rain(clean, rng, haze=rng.random() < haze)
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


def _write_pairs(out_dir, photos, task, seed, copies, haze):
    """Render ``copies`` degraded versions of each (name, rgb) into out_dir/{input,target}."""
    n = 0
    for name, rgb in photos:
        for k in range(copies):
            fname = f"{name}.png" if copies == 1 else f"{name}_{k}.png"
            write_rgb(os.path.join(out_dir, "input", fname), render(rgb, task, seed, name, k, haze))
            write_rgb(os.path.join(out_dir, "target", fname), rgb)
            n += 1
    return n


def synthesize_folder(src, dst, task, seed=0, copies=1, haze=0.3, overwrite=False, skip_bad=False, log=print):
    """Turn a folder of clean images into a paired set ``dst/{input,target}`` (PNG). Returns the count.

    Built in a temporary folder and renamed into place; refuses an existing ``dst`` unless
    ``overwrite``. Unreadable sources stop the run unless ``skip_bad`` (then they are listed).
    """
    if task not in ("rain", "snow"):
        raise ValueError(f"--task {task!r} is not valid; use rain or snow")
    if int(copies) < 1:
        raise ValueError(f"--copies must be at least 1 (got {copies})")
    if not os.path.isdir(src):
        raise FileNotFoundError(f"--src {src} is not a folder of clean images")
    files = sorted(f for f in os.listdir(src) if not f.startswith("."))
    images = [f for f in files if is_image_file(f)]
    if not images:
        raise ValueError(f"--src {src} holds no images ({', '.join(f for f in files[:3]) or 'empty'})")
    stems = {}
    for f in images:
        stems.setdefault(os.path.splitext(f)[0], []).append(f)
    clashes = [v for v in stems.values() if len(v) > 1]
    if clashes:
        raise ValueError(f"--src {src}: several files share a name: {', '.join('/'.join(c) for c in clashes[:3])}; "
                         "rename them")
    if len(files) > len(images) and log:
        log(f"  ignored {len(files) - len(images)} non-image file(s) in {src}")
    bad = []

    def photos():  # streamed, so a large folder is never held in memory
        for f in images:
            try:
                yield os.path.splitext(f)[0], read_rgb(os.path.join(src, f))
            except ImageReadError as exc:
                bad.append(str(exc))
                if log:
                    log(f"  unreadable source: {exc}")

    dst, tmp = _prepare_dst(dst, overwrite)
    try:
        n = _write_pairs(tmp, photos(), task, seed, int(copies), haze)
        if bad and not skip_bad:
            raise ValueError(f"{len(bad)} unreadable image(s) in --src {src} (listed above); fix them or "
                             "pass --skip_bad to leave them out")
        meta = {"task": task, "seed": int(seed), "copies": int(copies), "haze": float(haze),
                "src": os.path.abspath(src), "pairs": n, "left_out": bad}
        with open(os.path.join(tmp, SYNTH_MARKER), "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=1)
        _publish(tmp, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if log:
        log(f"wrote {n} {task} pairs to {dst}/{{input,target}} (seed {seed}, {copies} per image)"
            + (f"; left out {len(bad)} unreadable source(s)" if bad else ""))
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


def build_demo(dst="data/demo", seed=0, overwrite=False, log=print):
    """Build the demo set (rain and snow, train and test from different photos); returns its path.

    Idempotent: a complete demo (its ``demo.json`` marker, same seed and version) is left as is.
    Built in a temporary folder and renamed, so a half-built folder never looks complete.
    """
    dst = os.path.abspath(dst)
    marker = os.path.join(dst, DEMO_MARKER)
    if os.path.isfile(marker) and not overwrite:
        with open(marker, encoding="utf-8") as fh:
            meta = json.load(fh)
        if meta.get("version") == DEMO_VERSION and meta.get("seed") == int(seed):
            if log:
                log(f"demo set already complete at {dst}")
            return dst
        raise FileExistsError(f"{dst} holds a demo built with seed {meta.get('seed')} (version "
                              f"{meta.get('version')}); pass --overwrite to rebuild it with seed {seed}")
    if os.path.exists(dst) and not overwrite:
        raise FileExistsError(f"{dst} exists but is not a complete demo set (no {DEMO_MARKER}); remove it "
                              "or pass --overwrite")
    dst, tmp = _prepare_dst(dst, True)
    counts = {}
    try:
        for split, names, copies in (("train", DEMO_TRAIN, DEMO_TRAIN_COPIES), ("test", DEMO_TEST, DEMO_TEST_COPIES)):
            photos = demo_photos(names)
            for task in ("rain", "snow"):
                counts[f"{task}/{split}"] = _write_pairs(os.path.join(tmp, task, split), photos, task, seed,
                                                         copies, haze=0.3)
        meta = {"version": DEMO_VERSION, "seed": int(seed), "train_photos": list(DEMO_TRAIN),
                "test_photos": list(DEMO_TEST), "pairs": counts}
        with open(os.path.join(tmp, DEMO_MARKER), "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=1)
        _publish(tmp, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if log:
        log(f"built demo set at {dst}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return dst
