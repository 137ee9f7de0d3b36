"""Small building blocks shared by the boxes of Fig. 2."""

import numpy as np
import mindspore as ms
from mindspore import nn, ops


def conv3x3(cin, cout):
    return nn.Conv2d(cin, cout, 3, pad_mode="same", has_bias=True)


def conv1x1(cin, cout):
    return nn.Conv2d(cin, cout, 1, pad_mode="valid", has_bias=True)


def global_pool(x):
    """Average pooling over H, W (NCHW -> N,C,1,1) as a product with a constant 1/(HW) vector in x's
    dtype (fp16 under mixed precision): export-safe, unlike AdaptiveAvgPool2d, and far faster than
    ReduceMean on MindSpore's CPU backend (bench/bench_ops.py)."""
    b, c, h, w = x.shape
    mean = ms.Tensor(np.full((h * w, 1), 1.0 / (h * w), np.float32)).astype(x.dtype)
    return ops.matmul(x.reshape(b * c, h * w), mean).reshape(b, c, 1, 1)


class ChannelGate(nn.Cell):
    """x ⊙ Gate(FC₂(Pool(x))): the per-channel SiLU gate of eq. (9) and eq. (11).

    FC₂ is FC → ReLU → FC with a channel reduction; Gate is SiLU, as the paper states.
    """

    def __init__(self, channels, reduction=4):
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.fc1 = conv1x1(channels, hidden)
        self.fc2 = conv1x1(hidden, channels)
        self.relu = nn.ReLU()
        self.gate = nn.SiLU()

    def gate_values(self, x):
        """Gate(FC₂(Pool(x))): one value per channel (N,C,1,1)."""
        return self.gate(self.fc2(self.relu(self.fc1(global_pool(x)))))

    def construct(self, x):
        return x * self.gate_values(x)


def crop_to(x, h, w):
    """The top-left h×w of an NCHW map (what ``pad_to_multiple`` added is cut off); no copy when
    nothing was padded (a slice costs a full copy on MindSpore's CPU backend)."""
    if x.shape[2] == h and x.shape[3] == w:
        return x
    return x[:, :, :h, :w]


def _pad_index(length, pad, mode):
    """Source rows for ``length + pad`` positions: identity, then reflect (no edge repeat) or edge."""
    tail = [length - 2 - k for k in range(pad)] if mode == "reflect" else [length - 1] * pad
    return ms.Tensor(np.array(list(range(length)) + tail, np.int32))


def pad_to_multiple(x, multiple):
    """Pad NCHW bottom/right to a multiple (reflect where possible, else edge). Shapes are static.

    Implemented as a gather with constant indices, which exports to ONNX (``ops.pad``'s PadV3
    does not)."""
    h, w = x.shape[2], x.shape[3]
    ph = (multiple - h % multiple) % multiple
    pw = (multiple - w % multiple) % multiple
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if (ph < h and pw < w) else "replicate"
    if ph:
        x = ops.gather(x, _pad_index(h, ph, mode), 2)
    if pw:
        x = ops.gather(x, _pad_index(w, pw, mode), 3)
    return x
