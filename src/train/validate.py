"""Validation during training: PSNR-Y of each sample's own head and the recognition score on a held-out split."""

import numpy as np
from scipy.special import softmax
import mindspore.dataset as ds
from mindspore import nn, ops
from mindspore.train import Metric

from ..config import ConfigError
from ..data.pipeline import iterate_test_set
from ..data.labels import LABELS, RAIN
from ..losses import charbonnier, core_network
from ..metrics import psnr_y, to_uint8


class ValidationNet(nn.Cell):
    """(image, target, label) → (Charbonnier loss, (restored by the sample's own head[, R_re]),
    (target, label, image)). Use with
    ``Model(..., eval_indexes=[0, 1, 2])`` and ``validation_metrics``."""

    def __init__(self, net):
        super().__init__(auto_prefix=False)
        self.net = net
        self.recognition = bool(core_network(net).recognition)

    def construct(self, image, target, label):
        out = self.net(image)
        is_rain = ops.broadcast_to((label == RAIN).reshape(-1, 1, 1, 1), out[0].shape)
        restored = ops.select(is_rain, out[0], out[1])
        if self.recognition:
            return charbonnier(restored, target), (restored, out[2]), (target, label, image)
        return charbonnier(restored, target), (restored,), (target, label, image)


def validation_metrics(net):
    """The metrics of ``ValidationNet(net)``: ``psnr`` and, when the network recognises, ``recognition``."""
    metrics = {"psnr": ValPSNR()}
    if core_network(net).recognition:
        metrics["recognition"] = ValRecognition()
    return metrics


class _MeanMetric(Metric):
    """The mean of per-image values that ``update`` appends to ``self.values`` (NaN when empty)."""

    def __init__(self):
        super().__init__()
        self.clear()

    def clear(self):
        self.values = []

    def eval(self):
        return float(np.mean(self.values)) if self.values else float("nan")


class ValPSNR(_MeanMetric):
    """Mean PSNR on the Y channel (MATLAB protocol) of the 8-bit outputs, as eval.py measures it."""

    def update(self, outputs, truths):
        pred, target = self._convert_data(outputs[0]), self._convert_data(truths[0])
        for p, t in zip(pred, target):
            self.values.append(psnr_y(to_uint8(p, "CHW"), to_uint8(t, "CHW")))


class ValRecognition(_MeanMetric):
    """Mean softmax probability of the true task under R_re's two scores (rain, snow), the score
    ``--task auto`` decides by: 0.5 = undecided, sigmoid(1) ≈ 0.731 = the one-hot targets of eq. (16)
    met exactly. Unlike the share of right answers it moves with every sample, so it can pick
    ``best.ckpt`` on a small split."""

    def update(self, outputs, truths):
        probs = softmax(self._convert_data(outputs[1]).astype(np.float64).reshape(-1, 2), axis=1)
        label = self._convert_data(truths[1]).astype(np.int64).reshape(-1)
        self.values.extend(probs[np.arange(len(label)), label].tolist())


def _center_crop(img, size):
    if not size:
        return img
    h, w = img.shape[:2]
    th, tw = min(size, h), min(size, w)
    y, x = (h - th) // 2, (w - tw) // 2
    return img[y : y + th, x : x + tw]


def validation_samples(data_cfg, sets, crop=0, max_images=0):
    """The held-out pairs as (input uint8 HWC, target uint8 HWC, label, name), full size or
    centre-cropped to ``crop``: with ``data.format: corpus`` the held-out clean photos rendered with
    a fixed seed, then up to ``max_images`` (0 = all) pairs of each set in ``sets``."""
    samples = []
    if (data_cfg.get("format") if hasattr(data_cfg, "get") else None) == "corpus":
        from ..data.corpus import corpus_val_samples
        from ..data.pipeline import active_tasks

        samples.extend(corpus_val_samples(data_cfg, active_tasks(data_cfg), crop, max_images))
    for name in sets:
        per_set = 0
        for s in iterate_test_set(data_cfg, name):
            if max_images and per_set >= max_images:
                break
            samples.append((_center_crop(s.input, crop), _center_crop(s.target, crop), LABELS[s.task], s.name))
            per_set += 1
    if not samples:
        raise ConfigError(f"no validation images in {sets}; set data.val_sets")
    return samples


def create_val_dataset(data_cfg, sets, crop=0, max_images=0):
    """Batch-1 dataset (image, target, label) of ``validation_samples`` (CHW float in [0, 1])."""
    samples = [
        (
            np.ascontiguousarray(inp.transpose(2, 0, 1), np.float32) / 255.0,
            np.ascontiguousarray(tgt.transpose(2, 0, 1), np.float32) / 255.0,
            np.int32(label),
        )
        for inp, tgt, label, _ in validation_samples(data_cfg, sets, crop, max_images)
    ]

    def gen():
        yield from samples

    return ds.GeneratorDataset(gen, ["image", "target", "label"], shuffle=False).batch(1)
