"""BatchNorm2d at inference."""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from engine.backend import to_numpy
from engine.functional.norm import batch_norm
from engine.grad.norm import batch_norm_backward, batch_norm_eval_backward, batch_norm_train
from engine.layers.base import Explanation, Layer, Param, check_flag
from engine.layers.init import constant
from engine.shapes import check_channels, positive_int


class BatchNorm2d(Layer):
    kind = "BatchNorm2d"
    summary = ("Batch normalisation rescales each channel with statistics gathered during training: subtract "
               "the channel's running mean, divide by its running standard deviation, then apply a learned "
               "scale and shift. It keeps activations in a steady range from layer to layer.")
    formula = "y = (x − running_mean[c]) / √(running_var[c] + eps) · γ[c] + β[c]"
    shape_rule = "same shape as the input"
    params = (
        Param("num_features", "int", 1, "channels of the input", minimum=1, maximum=4096),
        Param("eps", "float", 1e-5, "added to the variance for stability", minimum=1e-12, maximum=1.0),
        Param("momentum", "float", 0.1, "update rate of the running statistics in training", minimum=0.0,
              maximum=1.0),
        Param("affine", "bool", True, "learn a scale γ and a shift β"),
    )

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, *, bias=True):
        """As torch.nn.BatchNorm2d. momentum=None keeps a plain average of every batch's statistics;
        track_running_stats=False keeps no running statistics and always normalises with the batch's
        own; bias=False (with affine) learns the scale γ only."""
        super().__init__()
        num_features = positive_int(num_features, "num_features")
        if isinstance(eps, bool) or not isinstance(eps, Real) or not 0 <= eps < math.inf:
            raise ValueError(f"{self.kind}: eps must be a finite number >= 0, got {eps!r}")
        if momentum is not None and (isinstance(momentum, bool) or not isinstance(momentum, Real)
                                     or not math.isfinite(momentum)):
            raise ValueError(f"{self.kind}: momentum must be a finite number or None, got {momentum!r}")
        affine, bias = check_flag(self.kind, "affine", affine), check_flag(self.kind, "bias", bias)
        self.track_running_stats = check_flag(self.kind, "track_running_stats", track_running_stats)
        self.num_features, self.eps, self.momentum, self.affine = num_features, eps, momentum, affine
        self._register("weight", constant((num_features,), 1.0) if affine else None)
        self._register("bias", constant((num_features,), 0.0) if affine and bias else None)
        if track_running_stats:
            self._register("running_mean", constant((num_features,), 0.0), buffer=True)
            self._register("running_var", constant((num_features,), 1.0), buffer=True)
            self._register("num_batches_tracked", constant((), 0.0), buffer=True)  # kept so PyTorch's state loads
        else:
            self.running_mean = self.running_var = None

    def _torch_only_changed(self):
        changed = {} if self.track_running_stats else {"track_running_stats": False}
        if self.affine and self.bias is None:
            changed["bias"] = False
        return changed

    @classmethod
    def parameter_count(cls, hyperparameters):
        return hyperparameters["num_features"] * (4 if hyperparameters["affine"] else 2) + 1  # + num_batches_tracked

    def output_shape(self, input_shape):
        check_channels(input_shape[1], self.num_features,
                       f"{self.kind} field 'num_features' is {self.num_features}, input")
        return tuple(input_shape)

    def forward(self, x):
        if not self.track_running_stats:
            self.output_shape(tuple(x.shape))
            return batch_norm_train(x, self.weight, self.bias, self.eps)[0]
        return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.eps)

    def forward_saved(self, x, training=True):
        """training=True normalises with the batch's statistics and updates the running ones, as PyTorch:

            running_mean = (1 − momentum) · running_mean + momentum · batch mean
            running_var  = (1 − momentum) · running_var  + momentum · unbiased batch variance
            (momentum None: 1 / num_batches_tracked, counting this batch)

        (in place, the only state a forward pass changes); training=False is `forward(x)`.
        """
        self.output_shape(tuple(x.shape))
        if not training and self.track_running_stats:
            return self.forward(x), (False, x)
        y, saved = batch_norm_train(x, self.weight, self.bias, self.eps)
        if not self.track_running_stats:
            return y, (True, saved)
        self.num_batches_tracked += 1
        # momentum None: the cumulative average, each batch weighing 1 / (batches so far), as in PyTorch
        momentum = np.float32(1 / float(self.num_batches_tracked) if self.momentum is None else self.momentum)
        self.running_mean *= 1 - momentum
        self.running_mean += momentum * saved.mean.astype(np.float32)
        self.running_var *= 1 - momentum
        self.running_var += momentum * saved.unbiased_var.astype(np.float32)
        return y, (True, saved)

    def backward(self, grad_output, saved, need_input_grad=True):
        training, values = saved
        if training:
            grad_x, grad_weight, grad_bias = batch_norm_backward(grad_output, values)
        else:
            grad_x, grad_weight, grad_bias = batch_norm_eval_backward(
                grad_output, values, self.running_mean, self.running_var, self.weight, self.bias, self.eps)
        grads = {"weight": grad_weight, "bias": grad_bias} if self.affine else {}
        return grad_x, {name: grad for name, grad in grads.items() if grad is not None}

    def explain(self, x, index):
        """One value through the normalisation: its channel's mean, deviation, scale and shift."""
        index = self._output_index(x, index)
        c = index[1]
        value = float(to_numpy(x)[tuple(index)])
        if self.track_running_stats:
            mean, var = float(to_numpy(self.running_mean)[c]), float(to_numpy(self.running_var)[c])
        else:  # the batch's own statistics: mean and biased variance of the channel
            channel = to_numpy(x)[:, c].astype(np.float64)
            mean, var = float(channel.mean()), float(channel.var())
        scale = float(to_numpy(self.weight)[c]) if self.weight is not None else 1.0
        shift = float(to_numpy(self.bias)[c]) if self.bias is not None else 0.0
        output = float(to_numpy(self.forward(x))[tuple(index)])
        return Explanation(self.kind, tuple(index), np.asarray([value], np.float32), [tuple(index)], output=output,
                           bias=shift, extra={"mean": mean, "var": var, "eps": self.eps, "scale": scale,
                                              "normalised": (value - mean) / np.sqrt(var + self.eps)})
