"""Elementwise activations and softmax."""

from __future__ import annotations

from numbers import Real

import numpy as np

from engine.backend import to_numpy
from engine.functional.activation import leaky_relu, relu, sigmoid, softmax, softmax_dim, tanh
from engine.grad.activation import (leaky_relu_backward, relu_backward, sigmoid_backward, softmax_backward,
                                    tanh_backward)
from engine.layers.base import Explanation, Layer, Param, check_inplace


class _Elementwise(Layer):
    """An activation applied to every element on its own; the shape does not change."""

    input_ndim = (2, 3, 4)

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def explain(self, x, index):
        """The one input value this output reads, and the value the activation makes of it."""
        index = self._output_index(x, index)
        value = to_numpy(x)[tuple(index)]
        output = float(to_numpy(self.forward(x))[tuple(index)])
        return Explanation(self.kind, tuple(index), np.asarray([value], np.float32), [tuple(index)], output=output,
                           total=float(value))


class ReLU(_Elementwise):
    kind = "ReLU"
    summary = ("The rectified linear unit keeps positive values and turns negative ones into zero. This simple "
               "bend is what lets a stack of layers compute more than one big linear map.")
    formula = "y = max(0, x)"
    shape_rule = "same shape as the input"

    def __init__(self, inplace=False):
        """As torch.nn.ReLU; `inplace` is accepted and changes nothing (see `check_inplace`)."""
        super().__init__()
        check_inplace(self.kind, inplace)

    def forward(self, x):
        return relu(x)

    def forward_saved(self, x, training=True):
        return self.forward(x), x

    def backward(self, grad_output, saved, need_input_grad=True):
        return relu_backward(grad_output, saved), {}


class LeakyReLU(_Elementwise):
    kind = "LeakyReLU"
    summary = ("Like ReLU, but negative values are scaled by a small slope instead of zeroed, so a unit never "
               "goes completely silent.")
    formula = "y = x if x ≥ 0 else negative_slope · x"
    shape_rule = "same shape as the input"
    params = (Param("negative_slope", "float", 0.01, "slope for negative inputs (0 to 1 here; torch takes any number)",
                    minimum=0.0, maximum=1.0),)

    def __init__(self, negative_slope=0.01, inplace=False):
        """As torch.nn.LeakyReLU; `inplace` is accepted and changes nothing (see `check_inplace`)."""
        super().__init__()
        check_inplace(self.kind, inplace)
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, Real):
            raise ValueError(f"LeakyReLU: negative_slope must be a number, got {negative_slope!r}")
        self.negative_slope = negative_slope

    def forward(self, x):
        return leaky_relu(x, self.negative_slope)

    def forward_saved(self, x, training=True):
        return self.forward(x), x

    def backward(self, grad_output, saved, need_input_grad=True):
        return leaky_relu_backward(grad_output, saved, self.negative_slope), {}


class Sigmoid(_Elementwise):
    kind = "Sigmoid"
    summary = "The sigmoid squashes any number into (0, 1): large negatives near 0, large positives near 1."
    formula = "y = 1 / (1 + e^(−x))"
    shape_rule = "same shape as the input"

    def forward(self, x):
        return sigmoid(x)

    def forward_saved(self, x, training=True):
        """The output is saved: the derivative is y * (1 - y)."""
        y = self.forward(x)
        return y, y

    def backward(self, grad_output, saved, need_input_grad=True):
        return sigmoid_backward(grad_output, saved), {}


class Tanh(_Elementwise):
    kind = "Tanh"
    summary = "The hyperbolic tangent squashes any number into (−1, 1), centred on zero."
    formula = "y = (e^x − e^(−x)) / (e^x + e^(−x))"
    shape_rule = "same shape as the input"

    def forward(self, x):
        return tanh(x)

    def forward_saved(self, x, training=True):
        """The output is saved: the derivative is 1 - y^2."""
        y = self.forward(x)
        return y, y

    def backward(self, grad_output, saved, need_input_grad=True):
        return tanh_backward(grad_output, saved), {}


class Softmax(Layer):
    kind = "Softmax"
    summary = ("Softmax turns a vector of scores into probabilities: every value becomes positive and they add "
               "up to one, with the largest score getting the largest share.")
    formula = "y_i = e^(x_i) / Σ_j e^(x_j)   (i and j run along the axis dim)"
    shape_rule = "same shape as the input"
    # -1 by default: a picture's rows, a time step's features, a vector's classes (over the channels of a gray
    # picture, dim 1, every value would be 1)
    params = (Param("dim", "int", -1, "the axis that sums to one (-1: the last; torch's Softmax() without dim takes "
                                      "1, the channels, for a 4-D input)", minimum=-4, maximum=3),)
    input_ndim = (2, 3, 4)

    def __init__(self, dim=None):
        """As torch.nn.Softmax; dim=None takes PyTorch's implicit axis (see `softmax_dim`): name the axis."""
        super().__init__()
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, (int, np.integer))):
            raise ValueError(f"Softmax: dim must be an int or None, got {dim!r}")
        self.dim = None if dim is None else int(dim)

    def _torch_only_changed(self):
        return {"dim": None} if self.dim is None else {}

    def output_shape(self, input_shape):
        softmax_dim(self.dim, len(input_shape))
        return tuple(input_shape)

    def forward(self, x):
        return softmax(x, self.dim)

    def forward_saved(self, x, training=True):
        """The output is saved: the Jacobian is diag(y) - y y^T."""
        y = self.forward(x)
        return y, y

    def backward(self, grad_output, saved, need_input_grad=True):
        return softmax_backward(grad_output, saved, softmax_dim(self.dim, saved.ndim)), {}

    def explain_reads(self, input_shape):
        return input_shape[softmax_dim(self.dim, len(input_shape))]

    def explain(self, x, index):
        """The scores along `dim` this output shares, their exponentials (shifted by the max) and their sum."""
        index = self._output_index(x, index)
        host = to_numpy(x).astype(np.float64)
        dim = softmax_dim(self.dim, host.ndim)
        line_index = list(index)
        line_index[dim] = slice(None)
        scores = host[tuple(line_index)]
        exps = np.exp(scores - scores.max())
        output = float(to_numpy(self.forward(x))[tuple(index)])
        coordinates = [tuple(index[:dim]) + (k,) + tuple(index[dim + 1:]) for k in range(scores.shape[0])]
        return Explanation(self.kind, tuple(index), scores.astype(np.float32), coordinates, output=output,
                           sum=float(exps.sum()), extra={"exponentials": exps.astype(np.float32)},
                           note="exponentials are of (score − max score), which leaves the ratio unchanged")
