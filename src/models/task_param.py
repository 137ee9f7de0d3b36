"""Task-parameterised decoder weights (Decouple Learning, seed 002) as a knowledge-assignment strategy.

One base network: our encoder → one image decoder (the ImageHead layout: 3×3 fuse, 1×1 up +
pixel shuffle + F_sam skip, 3×3 to RGB, residual) whose three convolutions take their weights and
biases from a meta-network, one FC per conv layer, fed with the task parameter γ ∈ R² (rain, snow):

* training: γ = the one-hot task label (``construct(image, task=label)``; ``SmartAssignLoss``
  passes the label because ``needs_task`` is true);
* inference: R_dr = decoder(γ = [1, 0]), R_ds = decoder(γ = [0, 1]) (forced tasks) and, with the
  recognition head, the blind output decoder(γ = softmax(R_re)).

Outputs: training with ``task``: (R, R[, R_re]) where R is the decoder at each sample's own γ, so
the loss's per-sample selection of R_dr/R_ds reads the right image; inference (``task=None``):
(R_dr, R_ds[, R_re, R_blind]). ``task`` may also be a float N×2 γ (R is then decoded at that γ).
Per-sample kernels run as one grouped convolution (the batch folded into channels).
"""

import numpy as np
import mindspore as ms
from mindspore import nn, ops
from mindspore.common.initializer import Uniform

from .encoder import Encoder
from .heads import RecognitionHead
from .layers import crop_to, pad_to_multiple
from .registry import RestorationNet, register_network

NUM_TASKS = 2


class DynamicConv2d(nn.Cell):
    """A k×k convolution (stride 1, 'same') whose weight and bias are FC(γ), one set per sample.

    The FC's columns start like an ordinary conv init (uniform ±1/√(cin·k²)), bias zero, so a
    one-hot γ gives each task an independently initialised kernel."""

    def __init__(self, in_channels, out_channels, kernel_size, task_dim=NUM_TASKS):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = (kernel_size, kernel_size)
        self.n_weight = out_channels * in_channels * kernel_size * kernel_size
        bound = float(1.0 / np.sqrt(in_channels * kernel_size * kernel_size))
        self.meta = nn.Dense(task_dim, self.n_weight + out_channels, weight_init=Uniform(bound), bias_init="zeros")

    def kernels(self, gamma):
        """(weights N×Cout×Cin×k×k, biases N×Cout) for γ (N×2)."""
        p = self.meta(gamma)
        k = self.kernel_size[0]
        n = gamma.shape[0]
        return (p[:, : self.n_weight].reshape(n, self.out_channels, self.in_channels, k, k), p[:, self.n_weight :])

    def construct(self, x, gamma):
        b, c, h, w = x.shape
        k = self.kernel_size[0]
        weight, bias = self.kernels(gamma)
        y = ops.conv2d(
            x.reshape(1, b * c, h, w),
            weight.reshape(b * self.out_channels, self.in_channels, k, k),
            pad_mode="same",
            groups=b,
        )
        return y.reshape(b, self.out_channels, h, w) + bias.reshape(b, self.out_channels, 1, 1)


class TaskParamHead(nn.Cell):
    """The ImageHead with task-generated convolutions: R = I + out(shuffle(up(SiLU(fuse(F)))) + F_sam)."""

    def __init__(self, embed_dim, shallow_dim, patch_size):
        super().__init__()
        self.fuse = DynamicConv2d(embed_dim, embed_dim, 3)
        self.act = nn.SiLU()
        self.up = DynamicConv2d(embed_dim, shallow_dim * patch_size * patch_size, 1)
        self.shuffle = nn.PixelShuffle(patch_size)
        self.out = DynamicConv2d(shallow_dim, 3, 3)

    def construct(self, feats, f_sam, image, gamma):
        y = self.shuffle(self.up(self.act(self.fuse(feats, gamma)), gamma)) + f_sam
        return image + self.out(y, gamma)


@register_network("task_param")
class TaskParamNet(RestorationNet):
    """Encoder → task-parameterised decoder (γ) and, optionally, the recognition head on F_wk.
    Takes the label in training (``needs_task``); no GKFM, so no knowledge contrast; the blind
    output needs γ from the recognition head."""

    def __init__(self, encoder, recognition=True):
        """``encoder``: the keyword arguments of :class:`Encoder`."""
        shallow_dim, embed_dim, patch_size = encoder["shallow_dim"], encoder["embed_dim"], encoder["patch_size"]
        super().__init__(patch_size * encoder["window_size"], recognition, blind=recognition, needs_task=True)
        self.encoder = Encoder(**encoder)
        self.encoder_cells = ("encoder",)
        self.decoder = TaskParamHead(embed_dim, shallow_dim, patch_size)
        if recognition:
            self.head_re = RecognitionHead(embed_dim, embed_dim)
        self.gamma_rain = ms.Tensor(np.array([[1.0, 0.0]], np.float32))
        self.gamma_snow = ms.Tensor(np.array([[0.0, 1.0]], np.float32))
        self.softmax = nn.Softmax(-1)

    def task_gamma(self, task):
        """γ for a label vector (N,) int (one-hot) or an N×2 float γ (returned as is)."""
        if task.ndim == 2:
            return task.astype(ms.float32)
        return ops.one_hot(task.astype(ms.int32), NUM_TASKS, ops.ones((), ms.float32), ops.zeros((), ms.float32))

    def construct(self, image, task=None):
        h, w = image.shape[2], image.shape[3]
        x = pad_to_multiple(image, self.multiple)
        f_wk, f_sam = self.encoder(x)
        n = x.shape[0]
        r_re = self.head_re(f_wk) if self.recognition else None
        if task is not None:
            r = crop_to(self.decoder(f_wk, f_sam, x, self.task_gamma(task)), h, w)
            out = (r, r)
            if self.recognition:
                out = out + (r_re,)
            return out
        r_dr = self.decoder(f_wk, f_sam, x, ops.broadcast_to(self.gamma_rain, (n, NUM_TASKS)))
        r_ds = self.decoder(f_wk, f_sam, x, ops.broadcast_to(self.gamma_snow, (n, NUM_TASKS)))
        out = (crop_to(r_dr, h, w), crop_to(r_ds, h, w))
        if self.recognition:
            r_bl = self.decoder(f_wk, f_sam, x, self.softmax(r_re))
            # "* 1.0" (exact) gives the recognition output its own node: MindSpore 2.8's ONNX
            # exporter renames a node that is both a named graph output and consumed inside the
            # graph (here by the softmax) and leaves the consumer dangling.
            out = out + (r_re * 1.0, crop_to(r_bl, h, w))
        return out
