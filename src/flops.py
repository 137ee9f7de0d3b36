"""Count the FLOPs of one forward pass (a multiply-add = 2 FLOPs) with PyNative forward hooks.

Counted: convolutions (including the task-parameterised per-sample ones), dense layers (including
the meta-network FCs) and the two attention matmuls (QKᵀ and AV; top-k attention counts as dense). Elementwise ops,
normalisation, softmax and pooling are not counted (they are < 2% of the total here), which is
the usual convention of FLOP tables for restoration networks.
"""

import numpy as np
import mindspore as ms
from mindspore import nn

from .models.glsf_vit import WindowAttention
from .models.task_param import DynamicConv2d


def _conv_flops(cell, inputs, output):
    k = cell.kernel_size[0] * cell.kernel_size[1]
    return 2 * k * (cell.in_channels // cell.group) * int(np.prod(output.shape))


def _dense_flops(cell, inputs, output):
    return 2 * cell.in_channels * int(np.prod(output.shape))


def _attention_flops(cell, inputs, output):
    b, h, w, c = inputs[0].shape
    keys = h * w if cell.mode == "global" else cell.window * cell.window
    return 2 * 2 * b * h * w * keys * c  # QKᵀ and AV


def _dynamic_conv_flops(cell, inputs, output):
    k = cell.kernel_size[0] * cell.kernel_size[1]
    return 2 * k * cell.in_channels * int(np.prod(output.shape))


COUNTERS = (
    (nn.Conv2d, _conv_flops),
    (nn.Dense, _dense_flops),
    (WindowAttention, _attention_flops),
    (DynamicConv2d, _dynamic_conv_flops),
)


def count_flops(net, shape=(1, 3, 256, 256)):
    """FLOPs of ``net`` on one input of ``shape`` in inference mode (runs once in PyNative)."""
    total = [0]
    handles = []

    def make_hook(fn):
        def hook(cell, inputs, output):
            total[0] += fn(cell, inputs, output)

        return hook

    for _, cell in net.cells_and_names():
        for kind, fn in COUNTERS:
            if isinstance(cell, kind):
                handles.append(cell.register_forward_hook(make_hook(fn)))
    mode = ms.get_context("mode")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    was_training = net.training
    try:
        net.set_train(False)
        net(ms.Tensor(np.zeros(shape, np.float32)))
    finally:
        for h in handles:
            h.remove()
        net.set_train(was_training)
        ms.set_context(mode=mode)
    return total[0]


def count_params(net):
    return int(sum(p.size for p in net.get_parameters()))
