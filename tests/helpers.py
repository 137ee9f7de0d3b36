"""Small fixtures shared by tests: a deterministic mixed rain/snow batch."""

import numpy as np


def smooth_image(rng, h, w):
    """A smooth colour image in [0.1, 0.8] (sum of low-frequency waves)."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.zeros((3, h, w), np.float32)
    for c in range(3):
        a, b, p = rng.uniform(1, 4), rng.uniform(1, 4), rng.uniform(0, 6)
        img[c] = 0.45 + 0.3 * np.sin(2 * np.pi * (a * xx + b * yy) + p)
    return img


def add_rain(rng, img):
    """Thin slanted bright streaks."""
    out = img.copy()
    _, h, w = img.shape
    for _ in range(max(h * w // 300, 4)):
        y, x, length = rng.integers(0, h), rng.integers(0, w), rng.integers(h // 6, h // 3)
        for t in range(length):
            yy, xx = y + t, x + t // 4
            if yy < h and xx < w:
                out[:, yy, xx] = np.minimum(out[:, yy, xx] + 0.35, 1.0)
    return out


def add_snow(rng, img):
    """Round opaque flakes of a few sizes."""
    out = img.copy()
    _, h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(max(h * w // 400, 4)):
        cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.uniform(1.0, 3.0)
        mask = ((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r
        out[:, mask] = 0.95
    return out


def mixed_batch(n=4, h=64, w=64, seed=0):
    """(inputs, targets, labels) with labels alternating rain (0) / snow (1)."""
    rng = np.random.default_rng(seed)
    targets = np.stack([smooth_image(rng, h, w) for _ in range(n)])
    labels = np.array([i % 2 for i in range(n)], np.int32)
    inputs = np.stack([add_rain(rng, t) if lab == 0 else add_snow(rng, t) for t, lab in zip(targets, labels)])
    return inputs.astype(np.float32), targets.astype(np.float32), labels


def write_demo_tree(root, train=8, test=2, h=64, w=72, seed=0, val=2):
    """A demo-layout tree under ``root``: (rain|snow)/(train|test|val)/(input|target)/*.png + demo.json
    (val: other images than train and test, as configs/demo.yaml validates on demo_*/val)."""
    import os
    import cv2

    rng = np.random.default_rng(seed)
    for task, degrade in (("rain", add_rain), ("snow", add_snow)):
        for split, n in (("train", train), ("test", test), ("val", val)):
            for sub in ("input", "target"):
                os.makedirs(os.path.join(root, task, split, sub), exist_ok=True)
            for i in range(n):
                clean = smooth_image(rng, h, w)
                for sub, img in (("input", degrade(rng, clean)), ("target", clean)):
                    bgr = (np.clip(img.transpose(1, 2, 0), 0, 1) * 255).round().astype(np.uint8)[:, :, ::-1]
                    cv2.imwrite(os.path.join(root, task, split, sub, f"{task}{i:02d}.png"), bgr)
    with open(os.path.join(root, "demo.json"), "w", encoding="utf-8") as fh:
        fh.write("{}")
    return str(root)


def network_reachable(hosts=("pypi.org", "files.pythonhosted.org")):
    """True when PyPI answers on port 443 (the Lite wheel fetch needs it)."""
    import socket

    for host in hosts:
        try:
            socket.create_connection((host, 443), timeout=10).close()
            return True
        except OSError:
            continue
    return False


def tiny_demo_overrides(demo):
    """--key=value overrides for a few-step CPU run on a ``write_demo_tree`` folder ``demo``."""
    return [
        f"--data.roots.demo={demo}",
        "--data.crop_size=64",
        "--data.auto_demo=false",
        "--data.num_workers=1",
        "--train.epoch_repeat=1",
        "--train.val_max_images=1",
        "--train.val_crop=0",
        "--train.save_every=0",
        "--train.device_target=CPU",
    ]
