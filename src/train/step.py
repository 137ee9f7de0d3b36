"""One training step: loss terms, dynamic loss scaling, overflow skip, clipping, gradient reduction."""

import mindspore as ms
from mindspore import amp, nn, ops

from ..logs import quiet_mindspore_warnings


class _ScaledLoss(nn.Cell):
    """(total · scale, other terms…): the first output is differentiated, the rest ride along."""

    def __init__(self, network):
        super().__init__(auto_prefix=False)
        self.network = network

    def construct(self, scale, *inputs):
        out = self.network(*inputs)
        return (out[0] * scale.astype(out[0].dtype),) + out[1:]


class TrainStep(nn.TrainOneStepCell):
    """``nn.TrainOneStepCell`` for a loss cell returning (total, term1, …).

    Returns (total, term1, …, overflow, loss_scale). The loss is multiplied by a dynamic loss scale
    (``mindspore.amp.DynamicLossScaler``) before differentiation; gradients are reduced across
    devices (data parallel), unscaled and checked with ``amp.all_finite``. A step with non-finite
    gradients leaves the weights untouched and lowers the scale; ``scale_window`` finite steps in a
    row raise it. ``dynamic=False`` (fp32 training: nothing to protect from fp16 underflow) fixes the
    scale at 1 and never adjusts it, so it cannot grow without bound; non-finite steps are still
    skipped. ``clip_norm > 0`` clips gradients to that global norm. Runs in GRAPH_MODE on CPU
    (the built-in loss-scale cell needs Ascend/GPU overflow ops).
    The scale and its counter are Parameters of this cell, so checkpoints of it carry them.
    """

    def __init__(
        self, network, optimizer, loss_scale=1.0, scale_factor=2, scale_window=1000, clip_norm=0.0, dynamic=True
    ):
        super().__init__(network, optimizer)
        self.dynamic = bool(dynamic)
        loss_scale = float(loss_scale) if self.dynamic else 1.0
        self.scaler = amp.DynamicLossScaler(loss_scale, int(scale_factor), int(scale_window))
        self.scaler.scale_value.name = "loss_scale"
        self.scaler.counter.name = "loss_scale_counter"
        self.loss_scale = self.scaler.scale_value
        self.loss_scale_counter = self.scaler.counter
        self.one = ms.Tensor(1.0, ms.float32)
        self.clip_norm = float(clip_norm)
        self.grad_fn = ops.value_and_grad(_ScaledLoss(network), None, self.weights, has_aux=True)
        self.set_train(True)  # the network must emit its training outputs (DRM matrices)

    def construct(self, *inputs):
        if self.dynamic:
            scale = self.loss_scale.value()
        else:
            scale = self.one
        out, grads = self.grad_fn(scale, *inputs)
        grads = self.grad_reducer(grads)
        if self.dynamic:
            grads = self.scaler.unscale(grads)
        finite = amp.all_finite(grads)
        if self.clip_norm > 0:
            grads = ops.clip_by_global_norm(grads, self.clip_norm)
        total = out[0] / scale.astype(out[0].dtype)
        if finite:
            total = ops.depend(total, self.optimizer(grads))
        if self.dynamic:
            self.scaler.adjust(finite)
        return (total,) + tuple(out[1:]) + (ops.logical_not(finite), scale)


def build_optimizer(params, lr, weight_decay=0.0, beta1=0.9, beta2=0.999):
    """Adam (paper §4.1) with a constant float learning rate, which ``ReduceLROnPlateau`` adjusts
    (MindSpore's deprecation warning about the unused sparse kernel only with --verbose)."""
    with quiet_mindspore_warnings():
        return nn.Adam(params, learning_rate=float(lr), beta1=beta1, beta2=beta2, weight_decay=weight_decay)
